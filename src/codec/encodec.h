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
 * Not here: resampling / channel mixing (io/audio.h), chunked (overlap-add) EnCodec,
 * causal convolutions, time_group_norm, input normalization (rejected by config.c).
 */
#ifndef MG_CODEC_ENCODEC_H
#define MG_CODEC_ENCODEC_H

#include "base/pool.h"
#include "base/status.h"
#include "io/config.h"
#include "io/store.h"

#include <stdint.h>

typedef struct mg_encodec mg_encodec;

mg_status mg_encodec_load(const mg_encodec_config *cfg, mg_store *s, mg_encodec **out);
void mg_encodec_free(mg_encodec *c);

/* codes [n_q][n_frames] -> audio [n_frames * hop]. n_q may be 1..num_quantizers
 * (levels beyond n_q are not added); every code must lie in [0, codebook_size). */
mg_status mg_encodec_decode(const mg_encodec *c, mg_pool *pool, const int64_t *codes, int n_q, int n_frames,
                            float *audio);

/* audio [n_samples] -> *codes [n_q][*n_frames] (malloc'ed, free()). n_q <= 0 uses the
 * config's default (mg_encodec_config.n_codes, what MusicGen uses). */
mg_status mg_encodec_encode(const mg_encodec *c, mg_pool *pool, const float *audio, int64_t n_samples, int n_q,
                            int64_t **codes, int *n_frames);

/* ---- sizes ------------------------------------------------------------------------ */

const mg_encodec_config *mg_encodec_get_config(const mg_encodec *c);
int mg_encodec_hop(const mg_encodec *c);
/* Frames produced by encoding n_samples (ceil(n_samples / hop)). */
int64_t mg_encodec_frames_for(const mg_encodec *c, int64_t n_samples);
/* Bytes of weights the codec holds beyond the mapped checkpoint (packed copies). */
int64_t mg_encodec_packed_bytes(const mg_encodec *c);
/* Frames per chunk of the audio-rate convolution stacks (0 = automatic: ~16 MB per
 * activation buffer). Results do not depend on it; tests use it to prove that. */
void mg_encodec_set_chunk_frames(mg_encodec *c, int frames);

/* Add to `s` every tensor mg_encodec_load needs for `cfg`, with seeded random values
 * (benchmarks and tests; encodec_random.c). conv_shortcut: also add the 1x1 shortcut
 * convs of use_conv_shortcut. *n_params (may be NULL) receives the values added. */
mg_status mg_encodec_random_store(const mg_encodec_config *cfg, mg_store *s, uint64_t seed, int conv_shortcut,
                                  int64_t *n_params);

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

#endif
