/* encodec.h — EnCodec as MusicGen uses it (internal API): the SEANet encoder and
 * decoder (convolutions, resnet blocks, LSTM) and the residual vector quantizer,
 * following transformers' models/encodec/modeling_encodec.py with chunk_length_s null
 * (one chunk for the whole signal) and normalize false.
 *
 * One channel per call (the codec of every released MusicGen is mono; stereo models
 * encode/decode left and right separately, see codec_api.c). Audio is float PCM at
 * the codec's sample rate; codes are [n_q][n_frames] row-major (level-major).
 * Lengths: n_frames = ceil(n_samples / hop) when encoding; decoding n_frames gives
 * exactly n_frames * hop samples (the reference trims nothing without a padding mask).
 *
 * Long decodes (and mg_encodec_stream, for audio while codes are generated) go
 * through the streaming decoder of encodec_stream.c: same result, bounded memory.
 *
 * Causal convolutions (use_causal_conv, trim_right_ratio), conv shortcuts and the
 * reflect / constant / replicate pad modes follow the reference too.
 *
 * Not here: resampling / channel mixing (io/audio.h), chunked (overlap-add) EnCodec,
 * time_group_norm, input normalization (rejected by config.c).
 */
#ifndef MG_CODEC_ENCODEC_H
#define MG_CODEC_ENCODEC_H

#include "base/pool.h"
#include "base/status.h"
#include "io/config.h"
#include "io/store.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct mg_encodec mg_encodec;

/* The store must outlive the codec: the encoder's weights are read from it at their
 * first use (mg_encodec_prepare_encoder). */
mg_status mg_encodec_load(const mg_encodec_config *cfg, mg_store *s, mg_encodec **out);
void mg_encodec_free(mg_encodec *c);

/* codes [n_q][n_frames] -> audio [n_frames * hop]. n_q may be 1..num_quantizers
 * (levels beyond n_q are not added); every code must lie in [0, codebook_size). */
mg_status mg_encodec_decode(const mg_encodec *c, mg_pool *pool, const int64_t *codes, int n_q, int n_frames,
                            float *audio);
/* The same, returning MG_ERR_CANCELLED between two blocks of a long input's frames
 * (ec_decode_streamed) once *cancel is non-zero (mg_cancel). */
mg_status mg_encodec_decode_cancellable(const mg_encodec *c, mg_pool *pool, const int64_t *codes, int n_q,
                                        int n_frames, float *audio, const atomic_int *cancel);

/* audio [n_samples] -> *codes [n_q][*n_frames] (malloc'ed, free()). n_q <= 0 uses the
 * config's default (mg_encodec_config.n_codes, what MusicGen uses). The first encode
 * of a codec folds and packs the encoder's weights (see mg_encodec_prepare_encoder). */
mg_status mg_encodec_encode(const mg_encodec *c, mg_pool *pool, const float *audio, int64_t n_samples, int n_q,
                            int64_t **codes, int *n_frames);

/* Fold and pack the encoder's weights now if no encode has yet (mg_encodec_load only
 * checks them: text-to-music never runs the encoder). Thread-safe; a no-op after the
 * first success. Errors name the tensor (a non-finite value, say) or memory; a failure
 * gives back what it had converted and is remembered (the weights cannot change), so
 * later calls fail at once with the same message. */
mg_status mg_encodec_prepare_encoder(const mg_encodec *c);

/* ---- streaming decode (encodec_stream.c) ------------------------------------------ */

/* Codes in, audio out while a sequence is still being generated: the samples each
 * push returns are final, and everything returned (pushes + finish) is bit for bit
 * what mg_encodec_decode gives for all the frames at once. Memory stays bounded (a few
 * frames of history) whatever the length. Typical use:
 *
 *   mg_encodec_stream *s;  mg_encodec_stream_new(codec, n_q, &s);
 *   for each new frame(s):  mg_encodec_stream_push(s, pool, codes, n, &pcm, &n_pcm);  play pcm
 *   mg_encodec_stream_finish(s, pool, &pcm, &n_pcm);  play pcm;  mg_encodec_stream_free(s);
 */
typedef struct mg_encodec_stream mg_encodec_stream;
/* n_q: codebooks per frame (1..num_quantizers). The total length need not be known. */
mg_status mg_encodec_stream_new(const mg_encodec *c, int n_q, mg_encodec_stream **out);
/* Append n frames of codes ([n_q][n], level-major like mg_encodec_decode) and return
 * the samples that became final: *pcm points into the stream's buffer (valid until
 * the next call), *n_samples of them, continuing right after the previous call's.
 * n = 0 is allowed (returns nothing new). Invalid codes leave the stream unchanged. */
mg_status mg_encodec_stream_push(mg_encodec_stream *s, mg_pool *pool, const int64_t *codes, int n,
                                 const float **pcm, int64_t *n_samples);
/* No more frames: return the remaining samples (the right edge, with the reference's
 * end padding). After this, total samples returned == frames * hop. Further pushes
 * or finishes are errors. */
mg_status mg_encodec_stream_finish(mg_encodec_stream *s, mg_pool *pool, const float **pcm, int64_t *n_samples);
void mg_encodec_stream_free(mg_encodec_stream *s);
/* Frames of look-ahead the stream needs before a frame's samples are final: after
 * pushing frames 0..f, all samples of frames 0..f-lookahead have been returned. */
int mg_encodec_stream_lookahead(const mg_encodec_stream *s);
/* Work in groups of `frames` frames (1..256, default 1): the LSTM and the upsampling stack
 * then run once per group instead of once per push. Per run the codec streams all its
 * weights through the cache and its matrix products work on tiles of up to 12 rows,
 * so tiny runs cost several times their share (musicgen-small on one core: one frame
 * per run ~5x the one-shot decode, groups of 8 ~1.4x, of 16 ~1.1x). Adds up to
 * frames - 1 frames of latency (included in mg_encodec_stream_lookahead); the
 * results are the same. */
mg_status mg_encodec_stream_set_batch(mg_encodec_stream *s, int frames);
/* Groups that grow: the first of `first` frames, each next one twice the last, up to
 * `max` (1 <= first <= max <= 256). A stream being played keeps the first audio as
 * early as groups of `first` give it, and later runs stream the codec's weights through
 * the cache fewer times (in a generation the decoder's weights evict them between
 * runs). Same results; the latency bound is that of groups of `max`. Both calls must
 * come before the first push. */
mg_status mg_encodec_stream_set_batch_growth(mg_encodec_stream *s, int first, int max);
/* Frames pushed and samples returned so far. */
int64_t mg_encodec_stream_frames(const mg_encodec_stream *s);
int64_t mg_encodec_stream_samples(const mg_encodec_stream *s);
/* Bytes the stream holds (history, scratch, state): bounded by the largest push, not
 * by the length of the stream. */
int64_t mg_encodec_stream_bytes(const mg_encodec_stream *s);

/* ---- sizes ------------------------------------------------------------------------ */

const mg_encodec_config *mg_encodec_get_config(const mg_encodec *c);
int mg_encodec_hop(const mg_encodec *c);
/* Frames produced by encoding n_samples (ceil(n_samples / hop)). */
int64_t mg_encodec_frames_for(const mg_encodec *c, int64_t n_samples);
/* Bytes of weights the codec holds beyond the mapped checkpoint (packed copies). */
int64_t mg_encodec_packed_bytes(const mg_encodec *c);
/* Frames per chunk of the audio-rate convolution stacks (0 = automatic: ~16 MB per
 * activation buffer); when set, also the block in which mg_encodec_decode runs inputs
 * longer than it through the streaming decoder (automatic: ~16 MB of frame-rate
 * buffers). Results do not depend on it; tests use it to prove that. */
void mg_encodec_set_chunk_frames(mg_encodec *c, int frames);

/* Add to `s` every tensor mg_encodec_load needs for `cfg` (with the 1x1 shortcut convs
 * when cfg->use_conv_shortcut), with seeded random values (benchmarks and tests;
 * encodec_random.c). *n_params (may be NULL) receives the values added. */
mg_status mg_encodec_random_store(const mg_encodec_config *cfg, mg_store *s, uint64_t seed, int64_t *n_params);

/* ---- intermediate stages (for golden tests and debugging) ----------------------------- */

/* Set `want` to record the stages a call passes through: the *_traced functions fill
 * the matching arrays (malloc'ed, time-major [T][C]; free them with
 * mg_encodec_trace_free). T = samples for enc_conv0, frames otherwise. */
typedef struct mg_encodec_trace {
    int want;                  /* non-zero: record the stages below */
    float *enc_conv0;          /* [n_samples][num_filters]  output of encoder layer 0 */
    float *enc_lstm;           /* [T][C_lstm]               encoder LSTM block output (incl. residual) */
    float *encoder_out;        /* [T][hidden]               pre-quantizer embeddings */
    float *quantized;          /* [T][codebook_dim]         sum of the chosen codebook vectors */
    float *dec_conv0;          /* [T][C_lstm]               output of decoder layer 0 */
    float *dec_lstm;           /* [T][C_lstm]               decoder LSTM block output (incl. residual) */
    int64_t n_samples, n_frames;
    int c_lstm, hidden;
    /* Seconds spent per stage (filled whenever a trace is passed, want or not):
     * audio-rate conv stack, LSTM, frame-rate convs, quantizer. */
    double sec_convs, sec_lstm, sec_frame_convs, sec_rvq;
} mg_encodec_trace;

void mg_encodec_trace_free(mg_encodec_trace *t);

mg_status mg_encodec_encode_traced(const mg_encodec *c, mg_pool *pool, const float *audio, int64_t n_samples,
                                   int n_q, int64_t **codes, int *n_frames, mg_encodec_trace *trace);
mg_status mg_encodec_decode_traced(const mg_encodec *c, mg_pool *pool, const int64_t *codes, int n_q, int n_frames,
                                   float *audio, mg_encodec_trace *trace);

/* Stages on their own (time-major buffers the caller owns). */
/* audio -> embeddings [*n_frames][hidden] (malloc'ed). */
mg_status mg_encodec_encoder_forward(const mg_encodec *c, mg_pool *pool, const float *audio, int64_t n_samples,
                                     float **emb, int64_t *n_frames, mg_encodec_trace *trace);
/* embeddings [n_frames][dim] -> codes [n_q][n_frames]. */
mg_status mg_encodec_quantize(const mg_encodec *c, mg_pool *pool, const float *emb, int64_t n_frames, int n_q,
                              int64_t *codes);
/* codes [n_q][n_frames] -> embeddings [n_frames][dim]. */
mg_status mg_encodec_dequantize(const mg_encodec *c, const int64_t *codes, int n_q, int64_t n_frames, float *emb);
/* embeddings [n_frames][hidden] -> audio [n_frames * hop]. */
mg_status mg_encodec_decoder_forward(const mg_encodec *c, mg_pool *pool, const float *emb, int64_t n_frames,
                                     float *audio, mg_encodec_trace *trace);

/* ---- between encodec.c and encodec_stream.c ------------------------------------------ */

struct ec_layer;
struct ec_lstm;
/* The decoder's pieces: the frame-rate conv, the LSTM, the audio-rate stack. */
typedef struct ec_decoder_parts {
    const struct ec_layer *front;
    const struct ec_lstm *lstm;
    const struct ec_layer *back;
    int n_back;
    int c_lstm;           /* channels at the LSTM */
    int64_t chunk_frames; /* frames per chunk of the audio-rate stack */
} ec_decoder_parts;
void ec_decoder_parts_of(const mg_encodec *c, ec_decoder_parts *p);
/* mg_encodec_decode through a stream, pushing `block` frames at a time (peak memory
 * independent of n_frames; same result); MG_ERR_CANCELLED before a block once *cancel
 * (may be NULL) is non-zero. */
mg_status ec_decode_streamed(const mg_encodec *c, mg_pool *pool, const int64_t *codes, int n_q, int n_frames,
                             int block, float *audio, const atomic_int *cancel);

#endif
