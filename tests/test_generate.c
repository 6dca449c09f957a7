/* test_generate.c — golden tests of the generation loop on both fixtures:
 *  - greedy CFG generation of the 2-prompt batch (30 steps): per-step raw logits of
 *    the doubled batch, guided scores, the delay-pattern mask, the final token matrix
 *    and the undelayed codes (identical);
 *  - unconditional generation (zero text states, no CFG, 20 steps);
 *  - continuation from audio-prompt codes (16 steps, staircase prompt);
 *  - each prompt of the batch generated alone gives the same codes (padding-proof);
 *  - 1 and 2 threads give identical codes. */
#include "test.h"
#include "io/checkpoint.h"
#include "lm/generate.h"
#include "text/t5.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    float *raw, *scores; /* [steps][rows*K*V], [steps][B*K*V] */
    int rows_kv, b_kv;
} recorder;

static int record_step(void *user, int step, int total, int column, const float *raw, const float *scores,
                       const int32_t *seq) {
    recorder *r = user;
    (void)total;
    (void)column;
    (void)seq;
    memcpy(r->raw + (size_t)step * r->rows_kv, raw, sizeof(float) * (size_t)r->rows_kv);
    memcpy(r->scores + (size_t)step * r->b_kv, scores, sizeof(float) * (size_t)r->b_kv);
    return 0;
}

static int32_t *mask_from(const mg_tensor *t) {
    int64_t n = mg_tensor_numel(t);
    int32_t *m = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        m[i] = (int32_t)((const int64_t *)t->data)[i];
    return m;
}

/* rows [cond; zeros] of text states and masks for CFG */
static void cfg_inputs(const float *enc, const int32_t *mask, int B, int S, int D, float **enc2, int32_t **mask2) {
    *enc2 = calloc((size_t)2 * B * S * D, sizeof(float));
    *mask2 = calloc((size_t)2 * B * S, sizeof(int32_t));
    memcpy(*enc2, enc, sizeof(float) * (size_t)B * S * D);
    memcpy(*mask2, mask, sizeof(int32_t) * (size_t)B * S);
}

/* seq [B][K][L] int32 vs golden int64 [B*K, L] */
static void compare_seq(const char *name, const int32_t *seq, const mg_tensor *want) {
    int64_t n = mg_tensor_numel(want);
    int64_t *s64 = malloc(sizeof(int64_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        s64[i] = seq[i];
    test_compare_i64(name, s64, want->data, n);
    free(s64);
}

static void greedy_batch(mg_decoder *dec, test_golden *g, int threads, int64_t **codes_out) {
    const mg_decoder_config *c = &dec->cfg;
    int K = c->n_codebooks, V = c->vocab_size, D = c->hidden_size;
    const mg_tensor *enc_t = test_golden_get(g, "enc_to_dec_proj.out_masked");
    int B = (int)enc_t->shape[0], S = (int)enc_t->shape[1];
    int32_t *mask = mask_from(test_golden_get(g, "text.attention_mask"));
    float *enc2;
    int32_t *mask2;
    cfg_inputs(enc_t->data, mask, B, S, D, &enc2, &mask2);
    int steps = (int)test_golden_get(g, "gen.logits_raw")->shape[0];
    recorder rec = {malloc(sizeof(float) * (size_t)steps * 2 * B * K * V), malloc(sizeof(float) * (size_t)steps * B * K * V),
                    2 * B * K * V, B * K * V};
    mg_lm_job job = {.B = B, .use_cfg = 1, .guidance = 3.0f, .enc = enc2, .enc_mask = mask2, .S = S, .steps = steps,
                     .sampler = {.greedy = 1}, .kv = MG_KV_F32, .on_step = record_step, .user = &rec};
    mg_pool *pool = mg_pool_new(threads);
    mg_lm_output out;
    CHECK_OK(mg_lm_generate(dec, pool, &job, &out));
    if (threads == 2) {
        test_compare_f32("gen.logits_raw", rec.raw, test_golden_get(g, "gen.logits_raw")->data,
                         (int64_t)steps * 2 * B * K * V, 1e-4);
        test_compare_f32("gen.scores", rec.scores, test_golden_get(g, "gen.scores")->data, (int64_t)steps * B * K * V,
                         3e-4);
        compare_seq("gen.sequences_delayed", out.seq, test_golden_get(g, "gen.sequences_delayed"));
        test_compare_i64("gen.codes_interleaved", out.codes, test_golden_get(g, "gen.codes_interleaved")->data,
                         (int64_t)B * K * out.frames);
        /* The pattern mask (same for every item without a prompt) vs the reference's. */
        mg_pattern p;
        CHECK_OK(mg_pattern_build(&p, K, c->audio_channels == 2, out.max_length, V, NULL, 0));
        int32_t *masks = calloc((size_t)B * K * out.max_length, sizeof(int32_t));
        for (int b = 0; b < B; b++)
            memcpy(masks + (size_t)b * K * out.max_length, p.mask, sizeof(int32_t) * (size_t)K * out.max_length);
        compare_seq("gen.delay_pattern_mask", masks, test_golden_get(g, "gen.delay_pattern_mask"));
        free(masks);
        mg_pattern_free(&p);
    }
    *codes_out = out.codes;
    out.codes = NULL;
    mg_lm_output_free(&out);
    mg_pool_free(pool);

    /* Each prompt alone (its own length, no padding) must give the same codes. */
    if (threads == 2) {
        int F = (int)test_golden_get(g, "gen.codes_interleaved")->shape[2];
        for (int b = 0; b < B; b++) {
            int len = 0;
            while (len < S && mask[b * S + len])
                len++;
            float *e1 = calloc((size_t)2 * len * D, sizeof(float));
            int32_t *m1 = calloc((size_t)2 * len, sizeof(int32_t));
            memcpy(e1, (const float *)enc_t->data + (size_t)b * S * D, sizeof(float) * (size_t)len * D);
            for (int i = 0; i < len; i++)
                m1[i] = 1;
            mg_lm_job j1 = job;
            j1.B = 1;
            j1.enc = e1;
            j1.enc_mask = m1;
            j1.S = len;
            j1.on_step = NULL;
            mg_pool *p1 = mg_pool_new(1);
            mg_lm_output o1;
            CHECK_OK(mg_lm_generate(dec, p1, &j1, &o1));
            char name[64];
            snprintf(name, sizeof name, "prompt %d alone == in batch", b);
            test_compare_i64(name, o1.codes, (*codes_out) + (size_t)b * K * F, (int64_t)K * F);
            mg_lm_output_free(&o1);
            mg_pool_free(p1);
            free(e1);
            free(m1);
        }
    }
    free(rec.raw);
    free(rec.scores);
    free(mask);
    free(enc2);
    free(mask2);
}

static void unconditional(mg_decoder *dec, test_golden *g) {
    const mg_decoder_config *c = &dec->cfg;
    int K = c->n_codebooks, V = c->vocab_size, D = c->hidden_size;
    int steps = (int)test_golden_get(g, "uncond.scores")->shape[0];
    float *enc = calloc((size_t)D, sizeof(float));
    int32_t mask = 0;
    recorder rec = {malloc(sizeof(float) * (size_t)steps * K * V), malloc(sizeof(float) * (size_t)steps * K * V), K * V,
                    K * V};
    mg_lm_job job = {.B = 1, .use_cfg = 0, .enc = enc, .enc_mask = &mask, .S = 1, .steps = steps,
                     .sampler = {.greedy = 1}, .kv = MG_KV_F32, .on_step = record_step, .user = &rec};
    mg_pool *pool = mg_pool_new(2);
    mg_lm_output out;
    CHECK_OK(mg_lm_generate(dec, pool, &job, &out));
    test_compare_f32("uncond.scores", rec.scores, test_golden_get(g, "uncond.scores")->data, (int64_t)steps * K * V,
                     1e-4);
    compare_seq("uncond.sequences_delayed", out.seq, test_golden_get(g, "uncond.sequences_delayed"));
    test_compare_i64("uncond.codes", out.codes, test_golden_get(g, "uncond.codes")->data, (int64_t)K * out.frames);
    mg_lm_output_free(&out);
    mg_pool_free(pool);
    free(rec.raw);
    free(rec.scores);
    free(enc);
}

static void continuation(mg_decoder *dec, mg_t5 *t5, test_golden *g) {
    const mg_decoder_config *c = &dec->cfg;
    int K = c->n_codebooks, V = c->vocab_size, D = c->hidden_size;
    const mg_tensor *ids_t = test_golden_get(g, "cont.input_ids");
    int S = (int)ids_t->shape[1];
    int32_t *ids = mask_from(ids_t), *mask = mask_from(test_golden_get(g, "cont.attention_mask"));
    float *states = malloc(sizeof(float) * (size_t)S * D);
    mg_pool *pool = mg_pool_new(2);
    CHECK_OK(mg_t5_encode(t5, pool, ids, mask, 1, S, NULL, states));
    float *enc2;
    int32_t *mask2;
    cfg_inputs(states, mask, 1, S, D, &enc2, &mask2);
    /* Prompt codes: the first P frames of the reference's output are the encoded prompt. */
    const mg_tensor *dip = test_golden_get(g, "cont.decoder_input_ids_prompt");
    const mg_tensor *codes_t = test_golden_get(g, "cont.codes");
    int P = (int)dip->shape[1] - 1, F = (int)codes_t->shape[2];
    int64_t *prompt = malloc(sizeof(int64_t) * (size_t)K * P);
    for (int k = 0; k < K; k++)
        memcpy(prompt + (size_t)k * P, (const int64_t *)codes_t->data + (size_t)k * F, sizeof(int64_t) * (size_t)P);
    int steps = (int)test_golden_get(g, "cont.scores")->shape[0];
    recorder rec = {malloc(sizeof(float) * (size_t)steps * 2 * K * V), malloc(sizeof(float) * (size_t)steps * K * V),
                    2 * K * V, K * V};
    mg_lm_job job = {.B = 1, .use_cfg = 1, .guidance = 3.0f, .enc = enc2, .enc_mask = mask2, .S = S, .prompt = prompt,
                     .P = P, .steps = steps, .sampler = {.greedy = 1}, .kv = MG_KV_F32, .on_step = record_step,
                     .user = &rec};
    mg_lm_output out;
    CHECK_OK(mg_lm_generate(dec, pool, &job, &out));
    test_compare_f32("cont.scores", rec.scores, test_golden_get(g, "cont.scores")->data, (int64_t)steps * K * V, 3e-4);
    compare_seq("cont.sequences_delayed", out.seq, test_golden_get(g, "cont.sequences_delayed"));
    CHECK(out.frames == F, "continuation frames %d, want %d", out.frames, F);
    test_compare_i64("cont.codes", out.codes, codes_t->data, (int64_t)K * F);
    mg_lm_output_free(&out);
    mg_pool_free(pool);
    free(rec.raw);
    free(rec.scores);
    free(ids);
    free(mask);
    free(states);
    free(enc2);
    free(mask2);
    free(prompt);
}

static void run_fixture(const char *fixture) {
    test_golden g;
    mg_checkpoint ck;
    if (!test_fixture_open(fixture, &g, &ck))
        return;
    mg_decoder *dec;
    mg_t5 *t5;
    CHECK_OK(mg_decoder_load(&ck.cfg, &ck.store, MG_DT_F32, &dec));
    CHECK_OK(mg_t5_load(&ck.cfg, &ck.store, MG_DT_F32, &t5));
    int64_t *codes2, *codes1;
    greedy_batch(dec, &g, 2, &codes2);
    greedy_batch(dec, &g, 1, &codes1);
    const mg_tensor *ci = test_golden_get(&g, "gen.codes_interleaved");
    test_compare_i64("codes, 1 thread == 2 threads", codes1, codes2, mg_tensor_numel(ci));
    free(codes1);
    free(codes2);
    unconditional(dec, &g);
    continuation(dec, t5, &g);
    mg_t5_free(t5);
    mg_decoder_free(dec);
    test_fixture_close(&g, &ck);
}

int main(void) {
    run_fixture("tiny-mono");
    run_fixture("tiny-stereo");
    return test_finish("test_generate");
}
