/* pipeline_codec.c — the audio stage of mg_generate: an audio prompt becomes codes in
 * the decoder's order (mg_encode_audio: resampled, mixed or duplicated to the model's
 * channels, stereo levels interleaved), and generated codes become audio
 * (mg_decode_codes). Both live in codec/codec_api.c; this file adapts them. */
#include "pipeline.h"

#include <stdlib.h>

mg_status mg_audio_prompt_codes(mg_context *ctx, const mg_generate_params *gp, int64_t **codes, int *P,
                                int64_t *prompt_samples) {
    *codes = NULL;
    *P = 0;
    *prompt_samples = 0;
    int K = 0, T = 0;
    mg_status st = mg_encode_audio(ctx, gp->audio_prompt, gp->audio_prompt_frames, gp->audio_prompt_channels,
                                   gp->audio_prompt_rate, codes, &K, &T);
    if (st != MG_OK)
        return mg_fail_context(st, "audio prompt");
    const mg_model *m = ctx->model;
    if (K != m->ck.cfg.dec.n_codebooks) {
        free(*codes);
        *codes = NULL;
        return mg_fail(MG_ERR_INTERNAL, "audio prompt: %d codebooks encoded, the decoder expects %d", K,
                       m->ck.cfg.dec.n_codebooks);
    }
    /* A decoder with fewer tokens than the codec has codes cannot read the rest. */
    int V = m->ck.cfg.dec.vocab_size;
    for (int64_t i = 0; i < (int64_t)K * T; i++)
        if ((*codes)[i] >= V) {
            int64_t code = (*codes)[i];
            free(*codes);
            *codes = NULL;
            return mg_fail(MG_ERR_UNSUPPORTED, "audio prompt: EnCodec coded it with code %lld but this model's decoder "
                           "only has tokens 0..%d (decoder.vocab_size %d < audio_encoder.codebook_size %d), so it "
                           "cannot continue this audio", (long long)code, V - 1, V, m->ck.cfg.codec.codebook_size);
        }
    *P = T;
    /* Length at the model's rate (what the output will contain of it). */
    *prompt_samples = (int64_t)((double)gp->audio_prompt_frames * m->ck.cfg.codec.sample_rate / gp->audio_prompt_rate + 0.5);
    return MG_OK;
}

mg_status mg_codes_to_audio(mg_context *ctx, const int64_t *codes, int F, float **pcm) {
    int64_t n = 0;
    int ch = 0;
    return mg_decode_codes_uncleared(ctx, codes, ctx->model->ck.cfg.dec.n_codebooks, F, pcm, &n, &ch);
}
