/* test_quant_quality.c — what each weight format costs, on both fixtures: the
 * decoder and T5 matrices converted to f16 / bf16 / q8_0 / q4_0 (as `--weight-type`
 * and `musicgen quantize` do; matrices whose rows are not a multiple of 32 fall back
 * to f16 for the block formats, and small matrices, i.e. every matrix of a fixture,
 * stay f32 unless --pure: the q8_0 / q4_0 rows are measured both ways, and without
 * --pure must give the f32 model's logits exactly), then
 *   - teacher-forced logits vs the f32 model (max abs error),
 *   - greedy CFG codes vs the f32 model over the golden run (agreement, %),
 *   - the same for the attention cache formats (f16, q8_0) with f32 weights.
 * Reports the table; fails only if f32 itself drifts or a format is wildly off
 * (greedy agreement is chaotic: one flipped argmax changes every later step). */
#include "test.h"
#include "io/checkpoint.h"
#include "lm/decoder.h"
#include "lm/generate.h"
#include "text/t5.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    mg_t5 *t5;
    mg_decoder *dec;
} stages;

static float *tf_logits(const stages *st, test_golden *g, mg_pool *pool, mg_kv_type kv) {
    const mg_decoder_config *c = &st->dec->cfg;
    int K = c->n_codebooks, V = c->vocab_size, D = c->hidden_size;
    const mg_tensor *ids_t = test_golden_get(g, "text.input_ids"), *mask_t = test_golden_get(g, "text.attention_mask");
    const mg_tensor *in_t = test_golden_get(g, "tf.decoder_input_ids");
    int B = (int)ids_t->shape[0], S = (int)ids_t->shape[1], T = (int)in_t->shape[1];
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)B * S), *mask = malloc(sizeof(int32_t) * (size_t)B * S);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)B * K * T);
    for (int i = 0; i < B * S; i++) {
        ids[i] = (int32_t)((const int64_t *)ids_t->data)[i];
        mask[i] = (int32_t)((const int64_t *)mask_t->data)[i];
    }
    for (int i = 0; i < B * K * T; i++)
        tok[i] = (int32_t)((const int64_t *)in_t->data)[i];
    float *enc = malloc(sizeof(float) * (size_t)B * S * D), *logits = malloc(sizeof(float) * (size_t)B * T * K * V);
    mg_dec_state *s;
    CHECK_OK(mg_t5_encode(st->t5, pool, ids, mask, B, S, NULL, enc));
    CHECK_OK(mg_dec_state_new(st->dec, pool, B, T, kv, enc, mask, S, &s));
    CHECK_OK(mg_dec_forward(s, pool, tok, T, logits, 1, NULL, NULL));
    mg_dec_state_free(s);
    free(ids);
    free(mask);
    free(tok);
    free(enc);
    return logits;
}

static int64_t *greedy(const stages *st, test_golden *g, mg_pool *pool, mg_kv_type kv, int *n) {
    const mg_decoder_config *c = &st->dec->cfg;
    int D = c->hidden_size;
    const mg_tensor *ids_t = test_golden_get(g, "text.input_ids"), *mask_t = test_golden_get(g, "text.attention_mask");
    int B = (int)ids_t->shape[0], S = (int)ids_t->shape[1];
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)B * S), *mask = calloc((size_t)2 * B * S, sizeof(int32_t));
    for (int i = 0; i < B * S; i++) {
        ids[i] = (int32_t)((const int64_t *)ids_t->data)[i];
        mask[i] = (int32_t)((const int64_t *)mask_t->data)[i];
    }
    float *enc = calloc((size_t)2 * B * S * D, sizeof(float));
    CHECK_OK(mg_t5_encode(st->t5, pool, ids, mask, B, S, NULL, enc));
    mg_lm_job job = {.B = B, .use_cfg = 1, .guidance = 3.0f, .enc = enc, .enc_mask = mask, .S = S,
                     .steps = (int)test_golden_get(g, "gen.logits_raw")->shape[0], .sampler = {.greedy = 1}, .kv = kv};
    mg_lm_output out;
    CHECK_OK(mg_lm_generate(st->dec, pool, &job, &out));
    int64_t *codes = out.codes;
    *n = B * out.K * out.frames;
    out.codes = NULL;
    mg_lm_output_free(&out);
    free(ids);
    free(mask);
    free(enc);
    return codes;
}

static void run_fixture(const char *fixture) {
    test_golden g;
    mg_checkpoint ck;
    if (!test_fixture_open(fixture, &g, &ck))
        return;
    printf("  %-22s %-16s %s\n", "weights / cache", "max logit err", "greedy agreement");
    mg_pool *pool = mg_pool_new(2);
    const mg_decoder_config *c = &ck.cfg.dec;
    int64_t n_logits = (int64_t)test_golden_get(&g, "tf.logits")->shape[0] * test_golden_get(&g, "tf.logits")->shape[1] *
                       c->vocab_size;
    stages ref = {0};
    CHECK_OK(mg_t5_load(&ck.cfg, &ck.store, MG_DT_F32, &ref.t5));
    CHECK_OK(mg_decoder_load(&ck.cfg, &ck.store, MG_DT_F32, &ref.dec));
    float *ref_logits = tf_logits(&ref, &g, pool, MG_KV_F32);
    int n_codes;
    int64_t *ref_codes = greedy(&ref, &g, pool, MG_KV_F32, &n_codes);
    test_compare_i64("f32 greedy == reference", ref_codes, test_golden_get(&g, "gen.codes_interleaved")->data, n_codes);
    const struct {
        const char *name;
        mg_dtype w;
        mg_kv_type kv;
        int pure; /* small matrices quantized too (musicgen quantize --pure) */
    } cases[] = {{"f16 weights", MG_DT_F16, MG_KV_F32, 0},
                 /* MG_WEIGHT_AUTO_F16: "as stored" (MG_DT_COUNT), f32 matrices made f16 by
                  * the store: the f16 row's logits exactly, on f32 fixtures */
                 {"f32 stored -> f16", MG_DT_COUNT, MG_KV_F32, 0},
                 {"bf16 weights", MG_DT_BF16, MG_KV_F32, 0},
                 {"q8_0 weights", MG_DT_Q8_0, MG_KV_F32, 0},
                 {"q8_0 weights, --pure", MG_DT_Q8_0, MG_KV_F32, 1},
                 {"q4_0 weights", MG_DT_Q4_0, MG_KV_F32, 0},
                 {"q4_0 weights, --pure", MG_DT_Q4_0, MG_KV_F32, 1},
                 {"f32 + f16 cache", MG_DT_F32, MG_KV_F16, 0},
                 {"f32 + q8_0 cache", MG_DT_F32, MG_KV_Q8_0, 0}};
    float *f16_logits = NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        stages q = {0};
        /* T5 as the project stores it for reduced formats: f16, or f32 where small and
         * the format is a block one (mg_text_matrix_format). */
        ck.store.quantize_small = cases[i].pure;
        ck.store.f32_as_f16 = cases[i].w == MG_DT_COUNT;
        CHECK_OK(mg_t5_load(&ck.cfg, &ck.store, cases[i].w, &q.t5));
        CHECK_OK(mg_decoder_load(&ck.cfg, &ck.store, cases[i].w, &q.dec));
        ck.store.quantize_small = 0;
        ck.store.f32_as_f16 = 0;
        int n_block = 0; /* matrices actually in a block format */
        for (int l = 0; l < q.dec->cfg.n_layers; l++)
            n_block += mg_dtype_is_block(q.dec->layers[l].fc1.dtype) + mg_dtype_is_block(q.dec->layers[l].fc2.dtype);
        if (mg_dtype_is_block(cases[i].w))
            /* Every fixture matrix is small: only --pure quantizes, and only where rows allow. */
            CHECK(cases[i].pure ? n_block > 0 : n_block == 0, "%s: %d feed-forward matrices in a block format",
                  cases[i].name, n_block);
        float *lg = tf_logits(&q, &g, pool, cases[i].kv);
        if (mg_dtype_is_block(cases[i].w) && !cases[i].pure)
            CHECK(!memcmp(lg, ref_logits, sizeof(float) * (size_t)n_logits),
                  "%s: the small-matrix rule should give the f32 model's logits", cases[i].name);
        if (cases[i].w == MG_DT_COUNT)
            CHECK(f16_logits && q.dec->layers[0].fc1.dtype == MG_DT_F16 && q.t5 &&
                      !memcmp(lg, f16_logits, sizeof(float) * (size_t)n_logits),
                  "%s: not the f16 model (fc1 %s)", cases[i].name, mg_dtype_name(q.dec->layers[0].fc1.dtype));
        double err = 0;
        for (int64_t j = 0; j < n_logits; j++)
            err = fmax(err, fabs(lg[j] - ref_logits[j]));
        int n;
        int64_t *codes = greedy(&q, &g, pool, cases[i].kv, &n);
        int same = 0;
        for (int j = 0; j < n; j++)
            same += codes[j] == ref_codes[j];
        double agree = 100.0 * same / n;
        printf("  %-22s %-16.3e %.1f%%%s\n", cases[i].name, err, agree,
               cases[i].kv == MG_KV_Q8_0 && q.dec->head_dim % 32 ? " (head_dim not a multiple of 32: f16 cache)" : "");
        /* Loose sanity bounds: an error this large means a broken kernel, not rounding. */
        CHECK(err < (cases[i].w == MG_DT_Q4_0 ? 1.0 : 0.2), "%s: logit error %g", cases[i].name, err);
        if (cases[i].w == MG_DT_F16)
            f16_logits = lg;
        else
            free(lg);
        free(codes);
        mg_t5_free(q.t5);
        mg_decoder_free(q.dec);
    }
    free(f16_logits);
    free(ref_logits);
    free(ref_codes);
    mg_t5_free(ref.t5);
    mg_decoder_free(ref.dec);
    mg_pool_free(pool);
    test_fixture_close(&g, &ck);
}

int main(void) {
    run_fixture("tiny-mono");
    run_fixture("tiny-stereo");
    return test_finish("test_quant_quality");
}
