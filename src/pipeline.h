/* pipeline.h — internal pieces of mg_generate shared by its files: text
 * conditioning (tokenize + T5 for a batch, plus the unconditional / negative rows),
 * the generation plan (steps, frames, samples from duration or steps), and the
 * audio stage (audio prompt -> codes, codes -> audio). */
#ifndef MG_PIPELINE_H
#define MG_PIPELINE_H

#include "model.h"

/* Decoder cross-attention inputs for B items: rows [cond; uncond] when use_cfg. */
typedef struct mg_conditioning {
    int B, rows, S, use_cfg;
    float guidance;
    float *states; /* [rows][S][D] */
    int32_t *mask; /* [rows][S] */
} mg_conditioning;

mg_status mg_condition_text(mg_context *ctx, const char *const *prompts, int B, const char *negative, float guidance,
                            mg_conditioning *out);
void mg_conditioning_free(mg_conditioning *c);

/* How much to generate. */
typedef struct mg_plan {
    int P;              /* audio-prompt frames */
    int steps;          /* decoder steps N */
    int frames;         /* output frames = 1 + P + N - D */
    int64_t n_samples;  /* output samples per channel after trimming */
} mg_plan;

mg_status mg_plan_make(const mg_model *m, const mg_generate_params *gp, int64_t prompt_samples, int P, mg_plan *out);

/* Audio prompt -> codes [K][*P] in the decoder's order (stereo interleaved). */
mg_status mg_audio_prompt_codes(mg_context *ctx, const mg_generate_params *gp, int64_t **codes, int *P,
                                int64_t *prompt_samples);
/* codes [K][F] of one item -> interleaved PCM [F*hop][channels] (malloc'ed). */
mg_status mg_codes_to_audio(mg_context *ctx, const int64_t *codes, int F, float **pcm);

#endif
