/* generate.c — the generation loop (see generate.h).
 *
 *   seq = start column (+ audio prompt) laid out by the delay pattern
 *   step 0 feeds every column before the first free one (prefill); later steps feed
 *   the newest column only (KV cache). Each step: logits for all rows in one pass,
 *   scores = uncond + (cond - uncond) * g, sample per (item, codebook), and write the
 *   new column where the pattern allows, its forced value elsewhere.
 */
#include "lm/generate.h"
#include "base/status.h"
#include "tensor/finite.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void mg_lm_output_free(mg_lm_output *o) {
    free(o->seq);
    free(o->codes);
    memset(o, 0, sizeof *o);
}

mg_status mg_lm_generate(const mg_decoder *d, mg_pool *pool, const mg_lm_job *job, mg_lm_output *out) {
    memset(out, 0, sizeof *out);
    const mg_decoder_config *c = &d->cfg;
    int B = job->B, K = c->n_codebooks, V = c->vocab_size, stereo = c->audio_channels == 2;
    int R = job->use_cfg ? 2 * B : B;
    int P = job->prompt ? job->P : 0;
    if (B < 1 || job->steps < 1)
        return mg_fail(MG_ERR_INVALID_ARG, "nothing to generate (%d items, %d steps)", B, job->steps);
    /* Columns: the start token, the prompt, the steps. The last column is never fed
     * back, so the decoder sees positions 0 .. P + steps - 1 (as in the reference, whose
     * position table has max_position_embeddings rows). */
    int max_length = 1 + P + job->steps, positions = max_length - 1;
    if (positions > c->max_position_embeddings)
        return mg_fail(MG_ERR_INVALID_ARG, "%d steps%s need %d positions but the model has %d; ask for fewer steps",
                       job->steps, P ? " after the audio prompt" : "", positions, c->max_position_embeddings);

    mg_pattern *pat = calloc((size_t)B, sizeof *pat);
    int32_t *seq = malloc(sizeof(int32_t) * (size_t)B * K * max_length);
    float *logits = malloc(sizeof(float) * (size_t)R * K * V);
    float *scores = malloc(sizeof(float) * (size_t)B * K * V);
    int32_t *input = malloc(sizeof(int32_t) * (size_t)R * K * max_length);
    mg_rng *rng = malloc(sizeof(mg_rng) * (size_t)B);
    void *scratch = malloc(mg_sample_scratch_bytes(V));
    mg_dec_state *state = NULL;
    mg_status st = MG_OK;
    if (!pat || !seq || !logits || !scores || !input || !rng || !scratch) {
        st = mg_fail(MG_ERR_NOMEM, "out of memory for generation");
        goto done;
    }
    for (int b = 0; b < B && st == MG_OK; b++)
        st = mg_pattern_build(&pat[b], K, stereo, max_length, V, P ? job->prompt + (size_t)b * K * P : NULL, P);
    if (st != MG_OK)
        goto done;
    for (int b = 0; b < B; b++) {
        if (job->rng)
            rng[b] = job->rng[b];
        else
            mg_rng_seed(&rng[b], job->seed + (uint64_t)b);
        /* Columns before the start are all forced (pads, start token, prompt). */
        for (int k = 0; k < K; k++)
            for (int t = 0; t < max_length; t++)
                seq[((size_t)b * K + k) * max_length + t] = pat[b].mask[(size_t)k * max_length + t];
    }
    int start = pat[0].start;
    st = mg_dec_state_new(d, pool, R, positions, job->kv, job->enc, job->enc_mask, job->S, &state);
    if (st != MG_OK)
        goto done;

    for (int step = 0; step < job->steps; step++) {
        int col = start + step;
        int t0 = step == 0 ? 0 : col - 1, n = step == 0 ? start : 1;
        /* Decoder input: the same token columns for the conditional and unconditional rows. */
        for (int r = 0; r < R; r++)
            for (int k = 0; k < K; k++)
                memcpy(input + ((size_t)r * K + k) * n, seq + ((size_t)(r % B) * K + k) * max_length + t0,
                       sizeof(int32_t) * (size_t)n);
        st = mg_dec_forward(state, pool, input, n, logits, 0, NULL, NULL);
        if (st != MG_OK)
            goto done;
        /* NaN/Inf logits mean corrupt weights (or an overflow); sampling them would emit garbage. */
        if (mg_any_nonfinite(logits, (int64_t)R * K * V)) {
            st = mg_fail(MG_ERR_FORMAT, "the decoder produced non-finite values at step %d: the model weights are corrupt "
                         "(check them with musicgen info)", step + 1);
            goto done;
        }
        for (int b = 0; b < B; b++)
            for (int k = 0; k < K; k++) {
                float *sc = scores + ((size_t)b * K + k) * V;
                const float *cond = logits + ((size_t)b * K + k) * V;
                if (job->use_cfg)
                    mg_cfg_mix(cond, logits + ((size_t)(B + b) * K + k) * V, job->guidance, sc, V);
                else
                    memcpy(sc, cond, sizeof(float) * (size_t)V);
            }
        if (job->on_step) {
            /* Report the scores before sampling modifies them. */
            int total = job->total_steps > 0 ? job->total_steps : job->steps;
            if (job->on_step(job->user, job->step_offset + step, total, col, logits, scores, seq)) {
                /* Counted over the whole piece, as the progress callback saw it (long-form
                 * runs several windows, each a job of its own). */
                st = mg_fail(MG_ERR_CANCELLED, "generation cancelled at step %d of %d", job->step_offset + step + 1,
                             total);
                goto done;
            }
        }
        for (int b = 0; b < B; b++)
            for (int k = 0; k < K; k++) {
                int tok = mg_sample(&job->sampler, scores + ((size_t)b * K + k) * V, V, &rng[b], scratch);
                int32_t forced = pat[b].mask[(size_t)k * max_length + col];
                seq[((size_t)b * K + k) * max_length + col] = forced == -1 ? tok : forced;
            }
    }

    out->B = B;
    out->K = K;
    out->max_length = max_length;
    out->frames = mg_pattern_frames(&pat[0]);
    out->codes = malloc(sizeof(int64_t) * (size_t)B * K * (size_t)out->frames);
    if (!out->codes) {
        st = mg_fail(MG_ERR_NOMEM, "out of memory for the codes");
        goto done;
    }
    for (int b = 0; b < B; b++)
        mg_pattern_undo(&pat[b], seq + (size_t)b * K * max_length, out->codes + (size_t)b * K * out->frames);
    out->seq = seq;
    seq = NULL;
    if (job->rng)
        for (int b = 0; b < B; b++)
            job->rng[b] = rng[b];
done:
    if (st != MG_OK)
        mg_lm_output_free(out);
    else
        mg_dec_state_add_times(state, &out->times);
    mg_dec_state_free(state);
    if (pat)
        for (int b = 0; b < B; b++)
            mg_pattern_free(&pat[b]);
    free(pat);
    free(seq);
    free(logits);
    free(scores);
    free(input);
    free(rng);
    free(scratch);
    return st;
}
