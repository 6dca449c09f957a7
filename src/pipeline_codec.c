/* pipeline_codec.c — the audio stage of the pipeline: audio prompt -> codes and
 * codes -> audio, through EnCodec. (Codec not wired in yet: both report that.) */
#include "pipeline.h"

mg_status mg_audio_prompt_codes(mg_context *ctx, const mg_generate_params *gp, int64_t **codes, int *P,
                                int64_t *prompt_samples) {
    (void)ctx;
    (void)gp;
    *codes = NULL;
    *P = 0;
    *prompt_samples = 0;
    return mg_fail(MG_ERR_UNSUPPORTED, "audio prompts need the EnCodec stage, which this build does not have yet");
}

mg_status mg_codes_to_audio(mg_context *ctx, const int64_t *codes, int F, float **pcm) {
    (void)ctx;
    (void)codes;
    (void)F;
    *pcm = NULL;
    return mg_fail(MG_ERR_UNSUPPORTED, "audio output needs the EnCodec stage, which this build does not have yet; "
                   "use --codes-out");
}
