/* test_negative_prompt.c — negative prompts on both fixtures:
 *  - an empty negative prompt gives exactly plain CFG;
 *  - with a text, mg_generate equals a reference assembled here from the project's own
 *    stages: tokenizer + T5 for the prompt and for the negative text, decoder rows
 *    [conditional = prompt; unconditional = negative text], greedy CFG loop;
 *  - the negative prompt changes the result;
 *  - in a batch [prompt, ""] each item is what it is alone (an unconditional item keeps
 *    the empty condition, as an all-empty batch runs without guidance). */
#include "test.h"
#include "lm/generate.h"
#include "model.h"
#include "text/spm.h"
#include "text/t5.h"

#include <stdlib.h>
#include <string.h>

/* Greedy codes of n prompts (no audio). */
static mg_result *gen_batch(mg_context *ctx, const char *const *prompts, int n, const char *neg, int steps) {
    mg_generate_params gp = mg_generate_default_params();
    gp.greedy = 1;
    gp.steps = steps;
    gp.negative_prompt = neg;
    gp.decode_audio = 0;
    mg_result *r = NULL;
    CHECK_OK(mg_generate(ctx, prompts, n, &gp, &r));
    return r;
}

static mg_result *gen(mg_context *ctx, const char *prompt, const char *neg, int steps) {
    return gen_batch(ctx, &prompt, 1, neg, steps);
}

/* T5 states of `text` alone: [len][D], mask all ones. */
static float *encode(mg_model *m, mg_pool *pool, const char *text, int *len) {
    int32_t *ids;
    CHECK_OK(mg_tokenizer_encode(m->tok, text, strlen(text), &ids, len));
    int32_t *mask = malloc(sizeof(int32_t) * (size_t)*len);
    for (int i = 0; i < *len; i++)
        mask[i] = 1;
    float *st = malloc(sizeof(float) * (size_t)*len * m->dec->cfg.hidden_size);
    CHECK_OK(mg_t5_encode(m->t5, pool, ids, mask, 1, *len, NULL, st));
    free(ids);
    free(mask);
    return st;
}

static void run_fixture(const char *fixture) {
    printf("%s:\n", fixture);
    mg_model *m;
    CHECK_OK(mg_model_load(test_ref_path(fixture), NULL, &m));
    mg_context_params cp = mg_context_default_params();
    cp.kv_type = MG_KV_F32;
    mg_context *ctx;
    CHECK_OK(mg_context_new(m, &cp, &ctx));
    const char *prompt = "lo-fi hip hop, mellow piano", *neg = "loud distorted drums";
    int steps = 24, K = m->dec->cfg.n_codebooks, D = m->dec->cfg.hidden_size;
    mg_result *plain = gen(ctx, prompt, NULL, steps);
    mg_result *empty = gen(ctx, prompt, "", steps);
    mg_result *with = gen(ctx, prompt, neg, steps);
    if (!plain || !empty || !with)
        return;
    int64_t n = (int64_t)K * plain->n_frames;
    test_compare_i64("empty negative prompt == plain CFG", empty->codes, plain->codes, n);

    /* Reference from the stages: rows [prompt; negative], padded to a common length. */
    mg_pool *pool = mg_pool_new(2);
    int lp, ln;
    float *sp = encode(m, pool, prompt, &lp), *sn = encode(m, pool, neg, &ln);
    int S = lp > ln ? lp : ln;
    float *enc = calloc((size_t)2 * S * D, sizeof(float));
    int32_t *mask = calloc((size_t)2 * S, sizeof(int32_t));
    memcpy(enc, sp, sizeof(float) * (size_t)lp * D);
    memcpy(enc + (size_t)S * D, sn, sizeof(float) * (size_t)ln * D);
    for (int i = 0; i < lp; i++)
        mask[i] = 1;
    for (int i = 0; i < ln; i++)
        mask[S + i] = 1;
    mg_lm_job job = {.B = 1, .use_cfg = 1, .guidance = m->ck.cfg.gen.guidance_scale, .enc = enc, .enc_mask = mask,
                     .S = S, .steps = steps, .sampler = {.greedy = 1}, .kv = MG_KV_F32};
    mg_lm_output ref;
    CHECK_OK(mg_lm_generate(m->dec, pool, &job, &ref));
    test_compare_i64("negative prompt == stage-built reference", with->codes, ref.codes, n);
    int64_t diff = 0;
    for (int64_t i = 0; i < n; i++)
        diff += with->codes[i] != plain->codes[i];
    printf("  negative prompt changed %lld of %lld codes\n", (long long)diff, (long long)n);
    CHECK(diff > 0, "the negative prompt had no effect");

    /* A batch [prompt, ""] with the negative prompt: each item as it is alone (the ""
     * item was steered by the negative prompt in a batch, and not alone). */
    const char *batch[2] = {prompt, ""};
    mg_result *both = gen_batch(ctx, batch, 2, neg, steps);
    mg_result *uncond = gen(ctx, "", neg, steps);
    if (both && uncond && both->n_frames == plain->n_frames && uncond->n_frames == plain->n_frames) {
        test_compare_i64("batch item 1 (prompt, negative) == alone", both->codes, with->codes, n);
        test_compare_i64("batch item 2 (\"\", negative) == alone", both->codes + n, uncond->codes, n);
    } else {
        CHECK(0, "batch with an unconditional item: no result or other lengths");
    }
    mg_result_free(both);
    mg_result_free(uncond);
    mg_lm_output_free(&ref);
    free(sp);
    free(sn);
    free(enc);
    free(mask);
    mg_pool_free(pool);
    mg_result_free(plain);
    mg_result_free(empty);
    mg_result_free(with);
    mg_context_free(ctx);
    mg_model_free(m);
}

int main(void) {
    run_fixture("tiny-mono");
    run_fixture("tiny-stereo");
    return test_finish("test_negative_prompt");
}
