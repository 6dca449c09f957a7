/* codec_api.c — the public codec functions of musicgen.h: mg_encode_audio (any PCM ->
 * the model's codes) and mg_decode_codes (codes -> PCM), on top of the mono EnCodec
 * in encodec.c, as MusicGen's generate() uses it:
 *   - mono models: codes [K][T] are the K RVQ levels of one channel;
 *   - stereo models (decoder audio_channels 2): left and right are coded separately
 *     and interleaved per level, codebook 2j = left level j, 2j+1 = right level j;
 *     decoding splits them the same way and returns interleaved PCM.
 * Input audio is converted first (io/audio.h): resampled to the codec rate, several
 * channels averaged for a mono model (with a warning), mono duplicated for a stereo
 * model. Not here: file I/O (the CLI and the pipeline read and write files). */
#include "model.h"
#include "base/log.h"
#include "codec/encodec.h"
#include "io/audio.h"

#include <stdlib.h>
#include <string.h>

static mg_status check_ctx(const mg_context *ctx, const char *fn) {
    if (!ctx || !ctx->model)
        return mg_fail(MG_ERR_INVALID_ARG, "%s: no context", fn);
    if (!ctx->model->codec)
        return mg_fail(MG_ERR_INVALID_ARG, "%s: the model has no EnCodec loaded", fn);
    return MG_OK;
}

/* Codebooks per channel and channels of the model's code layout. */
static void code_layout(const mg_model *m, int *channels, int *per_channel) {
    const mg_config *cfg = &m->ck.cfg;
    *channels = cfg->dec.audio_channels == 2 ? 2 : 1;
    *per_channel = cfg->dec.n_codebooks / *channels;
}

/* Copy of the caller's PCM converted to `channels` at `rate` (mg_audio owns it). */
static mg_status prepare_audio(const float *pcm, int64_t n_frames, int in_ch, int in_rate, int channels, int rate,
                               mg_audio *a) {
    memset(a, 0, sizeof *a);
    a->pcm = mg_malloc((size_t)(n_frames * in_ch) * sizeof(float), "the audio to encode");
    if (!a->pcm)
        return MG_ERR_NOMEM;
    memcpy(a->pcm, pcm, (size_t)(n_frames * in_ch) * sizeof(float));
    a->n_frames = n_frames;
    a->channels = in_ch;
    a->sample_rate = in_rate;
    if (in_ch > 1 && channels == 1)
        mg_log_warn("%d-channel audio averaged to mono for this mono model", in_ch);
    else if (in_ch > 2 && channels == 2)
        mg_log_warn("%d-channel audio: only the first two channels are used", in_ch);
    else if (in_ch == 1 && channels == 2)
        mg_log_warn("mono audio copied to both channels for this stereo model");
    mg_status st = mg_audio_convert_channels(a, channels);
    if (st == MG_OK)
        st = mg_audio_resample(a, rate);
    if (st != MG_OK)
        mg_audio_free(a);
    return st;
}

MG_API mg_status mg_encode_audio(mg_context *ctx, const float *pcm, int64_t n_frames, int channels, int rate,
                                 int64_t **codes, int *n_codebooks, int *n_codes_frames) {
    if (!codes || !n_codebooks || !n_codes_frames)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_encode_audio: NULL output pointer");
    *codes = NULL;
    *n_codebooks = 0;
    *n_codes_frames = 0;
    MG_TRY(check_ctx(ctx, "mg_encode_audio"));
    if (!pcm || n_frames < 1)
        return mg_fail(MG_ERR_INVALID_ARG, n_frames < 0 ? "mg_encode_audio: %lld frames (a count of frames cannot be "
                       "negative)" : "mg_encode_audio: no audio given (%lld frames%s)", (long long)n_frames,
                       pcm ? "" : ", NULL samples");
    if (channels < 1 || channels > MG_AUDIO_MAX_CHANNELS)
        return mg_fail(MG_ERR_INVALID_ARG, "%d channels (expected 1..%d)", channels,
                       MG_AUDIO_MAX_CHANNELS);
    if (rate < MG_AUDIO_MIN_RATE || rate > MG_AUDIO_MAX_RATE)
        return mg_fail(MG_ERR_INVALID_ARG, "sample rate %d Hz (expected %d..%d)", rate,
                       MG_AUDIO_MIN_RATE, MG_AUDIO_MAX_RATE);
    if (n_frames > MG_AUDIO_MAX_SAMPLES / channels)
        return mg_fail(MG_ERR_INVALID_ARG, "%lld audio frames is too long to encode at once", (long long)n_frames);
    int64_t bad = mg_audio_first_non_finite(pcm, n_frames * channels);
    if (bad >= 0)
        return mg_fail(MG_ERR_INVALID_ARG, "the audio holds a non-finite sample (%g) at frame %lld", (double)pcm[bad],
                       (long long)(bad / channels));
    const mg_encodec *codec = ctx->model->codec;
    int ch, nq;
    code_layout(ctx->model, &ch, &nq);
    mg_audio a;
    MG_TRY(prepare_audio(pcm, n_frames, channels, rate, ch, mg_encodec_get_config(codec)->sample_rate, &a));
    if (a.n_frames < 1) {
        mg_audio_free(&a);
        return mg_fail(MG_ERR_INVALID_ARG, "the audio is too short to encode: %lld sample%s at %d Hz %s less than one "
                       "sample at the model's %d Hz", (long long)n_frames, n_frames == 1 ? "" : "s", rate,
                       n_frames == 1 ? "is" : "are", mg_encodec_get_config(codec)->sample_rate);
    }
    float *mono = mg_malloc((size_t)a.n_frames * sizeof(float), "one channel of audio");
    int64_t *out = NULL;
    int T = 0;
    mg_status st = mono ? MG_OK : MG_ERR_NOMEM;
    for (int c = 0; c < ch && st == MG_OK; c++) {
        for (int64_t i = 0; i < a.n_frames; i++)
            mono[i] = a.pcm[i * ch + c];
        int64_t *cc;
        int frames;
        st = mg_encodec_encode(codec, ctx->pool, mono, a.n_frames, nq, &cc, &frames);
        if (st != MG_OK)
            break;
        if (!out) {
            T = frames;
            out = mg_malloc((size_t)(ch * nq) * (size_t)T * sizeof(int64_t), "codes");
            if (!out) {
                free(cc);
                st = MG_ERR_NOMEM;
                break;
            }
        }
        for (int j = 0; j < nq; j++)
            memcpy(out + (int64_t)(j * ch + c) * T, cc + (int64_t)j * T, (size_t)T * sizeof(int64_t));
        free(cc);
    }
    free(mono);
    mg_audio_free(&a);
    if (st != MG_OK) {
        free(out);
        return st;
    }
    *codes = out;
    *n_codebooks = ch * nq;
    *n_codes_frames = T;
    return MG_OK;
}

mg_status mg_decode_codes_uncleared(mg_context *ctx, const int64_t *codes, int n_codebooks, int n_frames,
                                    float **pcm, int64_t *n_samples, int *channels) {
    if (!pcm || !n_samples || !channels)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_decode_codes: NULL output pointer");
    *pcm = NULL;
    *n_samples = 0;
    *channels = 0;
    MG_TRY(check_ctx(ctx, "mg_decode_codes"));
    if (!codes || n_frames < 1)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_decode_codes: no codes given (%d frames)", n_frames);
    const mg_encodec *codec = ctx->model->codec;
    const mg_encodec_config *cc = mg_encodec_get_config(codec);
    int ch, per_channel;
    code_layout(ctx->model, &ch, &per_channel);
    /* Fewer levels than the model generates are valid (a lower bandwidth); more than
     * the codec has are not. */
    if (n_codebooks < ch || n_codebooks % ch || n_codebooks / ch > cc->num_quantizers)
        return ch == 2 ? mg_fail(MG_ERR_INVALID_ARG, "%d codebook%s given; this stereo model's codec decodes an even "
                                 "number from 2 to %d (levels interleaved left/right; the model generates %d)",
                                 n_codebooks, n_codebooks == 1 ? "" : "s", 2 * cc->num_quantizers, ch * per_channel)
                       : mg_fail(MG_ERR_INVALID_ARG, "%d codebook%s given; this mono model's codec decodes 1 to %d "
                                 "(the model generates %d)", n_codebooks, n_codebooks == 1 ? "" : "s",
                                 cc->num_quantizers, per_channel);
    for (int k = 0; k < n_codebooks; k++)
        for (int t = 0; t < n_frames; t++) {
            int64_t v = codes[(int64_t)k * n_frames + t];
            if (v < 0 || v >= cc->codebook_size)
                return mg_fail(MG_ERR_INVALID_ARG, "code %lld at codebook %d, frame %d is outside "
                               "the codebook [0, %d)", (long long)v, k, t, cc->codebook_size);
        }
    const int nq = n_codebooks / ch;
    const int64_t hop = cc->hop_length, n = (int64_t)n_frames * hop;
    if (n > MG_AUDIO_MAX_SAMPLES / ch)
        return mg_fail(MG_ERR_INVALID_ARG, "%d frames of codes is too long to decode at once", n_frames);
    int64_t *rows = mg_malloc((size_t)nq * (size_t)n_frames * sizeof(int64_t), "codes of one channel");
    float *out = mg_malloc((size_t)(n * ch) * sizeof(float), "decoded audio");
    /* mono: decoded straight into the output; stereo: per channel, then interleaved */
    float *mono = ch == 1 ? out : mg_malloc((size_t)n * sizeof(float), "decoded audio");
    mg_status st = (rows && mono && out) ? MG_OK : MG_ERR_NOMEM;
    for (int c = 0; c < ch && st == MG_OK; c++) {
        for (int j = 0; j < nq; j++)
            memcpy(rows + (int64_t)j * n_frames, codes + (int64_t)(j * ch + c) * n_frames,
                   (size_t)n_frames * sizeof(int64_t));
        st = mg_encodec_decode_cancellable(codec, ctx->pool, rows, nq, n_frames, mono, &ctx->cancel);
        for (int64_t i = 0; i < n && st == MG_OK && ch > 1; i++)
            out[i * ch + c] = mono[i];
    }
    free(rows);
    if (mono != out)
        free(mono);
    if (st != MG_OK) {
        free(out);
        return st;
    }
    *pcm = out;
    *n_samples = n;
    *channels = ch;
    return MG_OK;
}

MG_API mg_status mg_decode_codes(mg_context *ctx, const int64_t *codes, int n_codebooks, int n_frames, float **pcm,
                                 int64_t *n_samples, int *channels) {
    if (ctx)
        atomic_store_explicit(&ctx->cancel, 0, memory_order_relaxed);
    return mg_decode_codes_uncleared(ctx, codes, n_codebooks, n_frames, pcm, n_samples, channels);
}
