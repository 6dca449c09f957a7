/* generate.h — the token generation loop of MusicGen (the reference's
 * MusicgenForConditionalGeneration.generate from the decoder's point of view):
 * delay pattern, one batched decoder pass per step for the conditional and
 * unconditional rows together, classifier-free guidance, sampling, pattern applied
 * to every new column, and the pattern undone at the end.
 */
#ifndef MG_LM_GENERATE_H
#define MG_LM_GENERATE_H

#include "lm/decoder.h"
#include "lm/pattern.h"
#include "lm/sampler.h"

/* Called after every step with the decoder's raw logits [rows][K][V], the guided
 * scores [B][K][V] and the token matrix so far ([B][K][max_length], columns up to
 * `column` valid). Return non-zero to cancel. */
typedef int (*mg_lm_step_cb)(void *user, int step, int total_steps, int column, const float *raw_logits,
                             const float *scores, const int32_t *seq);

typedef struct mg_lm_job {
    int B;                   /* batch items */
    int use_cfg;             /* rows = 2B: [cond items; uncond items] */
    float guidance;          /* CFG scale (used when use_cfg) */
    const float *enc;        /* [rows][S][D] projected, masked text states */
    const int32_t *enc_mask; /* [rows][S] */
    int S;
    const int64_t *prompt;   /* [B][K][P] audio-prompt codes, or NULL */
    int P;
    int steps;               /* decoder steps N (max_new_tokens) */
    mg_sampler sampler;
    uint64_t seed;           /* item b samples with seed + b ... */
    mg_rng *rng;             /* ... unless this is set: B generator states, used and advanced
                                (long-form windows continue one sequence of draws) */
    int step_offset;         /* added to `step` in on_step (progress across windows) */
    int total_steps;         /* reported as total in on_step (0: this job's steps) */
    mg_kv_type kv;
    mg_lm_step_cb on_step;
    void *user;
} mg_lm_job;

typedef struct mg_lm_output {
    int B, K, max_length, frames;
    int32_t *seq;   /* [B][K][max_length], pattern applied */
    int64_t *codes; /* [B][K][frames], pattern undone */
    mg_dec_times times; /* where the decoder's passes spent their time */
} mg_lm_output;

mg_status mg_lm_generate(const mg_decoder *d, mg_pool *pool, const mg_lm_job *job, mg_lm_output *out);
void mg_lm_output_free(mg_lm_output *o);

#endif
