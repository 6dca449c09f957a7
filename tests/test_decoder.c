/* test_decoder.c — golden test of the MusicGen decoder, teacher forced: the
 * reference's decoder_input_ids (delay pattern applied) and its cross-attention
 * states go in; layer-0 hidden states, final-LayerNorm output and the K heads'
 * logits come out (target max abs err <= 1e-4). Also checks that feeding the same
 * columns one at a time through the KV cache gives the same logits as all at once,
 * with 1 and 2 threads, and for the f16 cache reports the drift. */
#include "test.h"
#include "io/checkpoint.h"
#include "lm/decoder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void run_fixture(const char *fixture) {
    test_golden g;
    mg_checkpoint ck;
    if (!test_fixture_open(fixture, &g, &ck))
        return;
    mg_decoder *dec;
    CHECK_OK(mg_decoder_load(&ck.cfg, &ck.store, MG_DT_F32, &dec));
    int K = ck.cfg.dec.n_codebooks, V = ck.cfg.dec.vocab_size, D = ck.cfg.dec.hidden_size;

    const mg_tensor *in_t = test_golden_get(&g, "tf.decoder_input_ids");
    const mg_tensor *enc_t = test_golden_get(&g, "enc_to_dec_proj.out_masked");
    const mg_tensor *mask_t = test_golden_get(&g, "text.attention_mask");
    int B = (int)(in_t->shape[0] / K), T = (int)in_t->shape[1], S = (int)enc_t->shape[1];
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)B * K * T);
    int32_t *mask = malloc(sizeof(int32_t) * (size_t)B * S);
    for (int i = 0; i < B * K * T; i++)
        tokens[i] = (int32_t)((const int64_t *)in_t->data)[i]; /* row b*K+k, column t: already [b][k][t] */
    for (int i = 0; i < B * S; i++)
        mask[i] = (int32_t)((const int64_t *)mask_t->data)[i];

    float *logits = malloc(sizeof(float) * (size_t)B * T * K * V);
    float *layer0 = malloc(sizeof(float) * (size_t)B * T * D);
    float *final = malloc(sizeof(float) * (size_t)B * T * D);
    mg_pool *pool = mg_pool_new(2);
    mg_dec_state *s;
    CHECK_OK(mg_dec_state_new(dec, pool, B, T, MG_KV_F32, enc_t->data, mask, S, &s));
    CHECK_OK(mg_dec_forward(s, pool, tokens, T, logits, 1, layer0, final));
    test_compare_f32("tf.dec_layer0_out", layer0, test_golden_get(&g, "tf.dec_layer0_out")->data, (int64_t)B * T * D,
                     1e-4);
    test_compare_f32("tf.dec_final_ln_out", final, test_golden_get(&g, "tf.dec_final_ln_out")->data,
                     (int64_t)B * T * D, 1e-4);
    /* ours [b][t][k][v] -> reference [b*K+k][t][v] */
    float *ref_order = malloc(sizeof(float) * (size_t)B * T * K * V);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int k = 0; k < K; k++)
                memcpy(ref_order + (((size_t)b * K + k) * T + t) * V, logits + (((size_t)b * T + t) * K + k) * V,
                       sizeof(float) * (size_t)V);
    test_compare_f32("tf.logits", ref_order, test_golden_get(&g, "tf.logits")->data, (int64_t)B * K * T * V, 1e-4);
    mg_dec_state_free(s);

    /* Incremental: one column at a time through the cache, 1 thread, f32 cache. */
    mg_pool *one = mg_pool_new(1);
    float *step_logits = malloc(sizeof(float) * (size_t)B * K * V);
    int32_t *col = malloc(sizeof(int32_t) * (size_t)B * K);
    const mg_kv_type kvs[2] = {MG_KV_F32, MG_KV_F16};
    for (int kvi = 0; kvi < 2; kvi++) {
        CHECK_OK(mg_dec_state_new(dec, one, B, T, kvs[kvi], enc_t->data, mask, S, &s));
        double max_err = 0;
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < B * K; i++)
                col[i] = tokens[(size_t)i * T + t];
            CHECK_OK(mg_dec_forward(s, one, col, 1, step_logits, 0, NULL, NULL));
            for (int b = 0; b < B; b++)
                for (int k = 0; k < K; k++)
                    for (int v = 0; v < V; v++) {
                        double e = fabs(step_logits[((size_t)b * K + k) * V + v] -
                                        logits[(((size_t)b * T + t) * K + k) * V + v]);
                        max_err = e > max_err ? e : max_err;
                    }
        }
        printf("  incremental (%s cache, 1 thread) vs batched: max abs err %.3e\n", kvi ? "f16" : "f32", max_err);
        CHECK(max_err < (kvi ? 5e-2 : 1e-5), "incremental logits differ by %g", max_err);
        mg_dec_state_free(s);
    }
    mg_pool_free(one);
    mg_pool_free(pool);
    free(step_logits);
    free(col);
    free(ref_order);
    free(tokens);
    free(mask);
    free(logits);
    free(layer0);
    free(final);
    mg_decoder_free(dec);
    test_fixture_close(&g, &ck);
}

int main(void) {
    run_fixture("tiny-mono");
    run_fixture("tiny-stereo");
    return test_finish("test_decoder");
}
