/* test_t5.c — golden test of the T5 text encoder and enc_to_dec_proj on both
 * fixtures: relative position buckets/bias, block 0 output, last hidden state (pads
 * included) and the masked projected states the decoder attends to (target <= 1e-4). */
#include "test.h"
#include "io/checkpoint.h"
#include "tensor/matmul.h"
#include "text/t5.h"

#include <stdlib.h>
#include <string.h>

static void check_buckets(void) {
    /* Values from the T5 formula worked by hand for num_buckets 32, max_distance 128:
     * |rel| < 8 exact; beyond, 8 + floor(log(n/8)/log(16)*8), capped at 15; +16 if rel > 0. */
    CHECK(mg_t5_bucket(0, 32, 128) == 0, "bucket(0)");
    CHECK(mg_t5_bucket(-3, 32, 128) == 3, "bucket(-3)");
    CHECK(mg_t5_bucket(3, 32, 128) == 19, "bucket(3)");
    CHECK(mg_t5_bucket(-8, 32, 128) == 8, "bucket(-8)");
    CHECK(mg_t5_bucket(-32, 32, 128) == 12, "bucket(-32) = %d", mg_t5_bucket(-32, 32, 128));
    CHECK(mg_t5_bucket(-127, 32, 128) == 15, "bucket(-127)");
    CHECK(mg_t5_bucket(1000, 32, 128) == 31, "bucket(1000)");

    /* Degenerate settings, where the reference fails (division by zero, NaN or a
     * negative embedding index): -1, never an index outside the table. */
    CHECK(mg_t5_bucket(0, 2, 2) == -1 && mg_t5_bucket(5, 3, 128) == -1, "num_buckets < 4: no bucket");
    /* max_distance == max_exact (num_buckets 8 -> max_exact 2): exact below 2, none from 2 on */
    CHECK(mg_t5_bucket(-1, 8, 2) == 1 && mg_t5_bucket(1, 8, 2) == 5, "exact buckets of a degenerate table");
    CHECK(mg_t5_bucket(2, 8, 2) == -1 && mg_t5_bucket(-3, 8, 2) == -1, "max_distance == max_exact: no bucket");
    /* Any setting: the answer is -1 or a row of the table, and -1 only beyond max_exact. */
    const int settings[][2] = {{4, 2}, {8, 2}, {8, 3}, {32, 4}, {32, 8}, {33, 128}, {64, 4}, {32, 128}, {6, 1000}};
    int bad = 0, any_fail = 0;
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        int nb = settings[i][0], md = settings[i][1];
        for (int rel = -3000; rel <= 3000; rel++) {
            int b = mg_t5_bucket(rel, nb, md);
            int n = rel < 0 ? -rel : rel;
            bad += b < -1 || b >= nb || (b == -1 && n < nb / 4);
            any_fail += b == -1;
        }
    }
    CHECK(bad == 0, "%d buckets outside [-1, num_buckets) or missing inside the exact range", bad);
    CHECK(any_fail > 0, "the degenerate settings above do fail somewhere");
}

static void run_fixture(const char *fixture) {
    test_golden g;
    mg_checkpoint ck;
    if (!test_fixture_open(fixture, &g, &ck))
        return;
    mg_t5 *t5;
    CHECK_OK(mg_t5_load(&ck.cfg, &ck.store, MG_DT_F32, &t5));
    const mg_tensor *ids_t = test_golden_get(&g, "text.input_ids");
    const mg_tensor *mask_t = test_golden_get(&g, "text.attention_mask");
    int B = (int)ids_t->shape[0], T = (int)ids_t->shape[1];
    int d = ck.cfg.t5.d_model, H = ck.cfg.t5.n_heads, out = ck.cfg.dec.hidden_size;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(B * T)), *mask = malloc(sizeof(int32_t) * (size_t)(B * T));
    for (int i = 0; i < B * T; i++) {
        ids[i] = (int32_t)((const int64_t *)ids_t->data)[i];
        mask[i] = (int32_t)((const int64_t *)mask_t->data)[i];
    }
    float *hidden = malloc(sizeof(float) * (size_t)(B * T * d));
    float *states = malloc(sizeof(float) * (size_t)(B * T * out));
    float *layer0 = malloc(sizeof(float) * (size_t)(B * T * d));
    float *bias = malloc(sizeof(float) * (size_t)(H * T * T));
    float *proj = malloc(sizeof(float) * (size_t)(B * T * out));
    mg_t5_debug dbg = {layer0, bias};
    mg_pool *pool = mg_pool_new(2);
    CHECK_OK(mg_t5_encode_debug(t5, pool, ids, mask, B, T, hidden, states, &dbg));
    test_compare_f32("t5.position_bias", bias, test_golden_get(&g, "t5.position_bias")->data, (int64_t)H * T * T, 1e-6);
    test_compare_f32("t5.layer0_out", layer0, test_golden_get(&g, "t5.layer0_out")->data, (int64_t)B * T * d, 1e-4);
    test_compare_f32("t5.last_hidden_state", hidden, test_golden_get(&g, "t5.last_hidden_state")->data,
                     (int64_t)B * T * d, 1e-4);
    /* The unmasked projection, from our hidden state, against the reference's. */
    if (t5->has_proj)
        mg_matmul(pool, &t5->proj, hidden, (int64_t)B * T, d, proj, out, t5->proj_bias);
    else
        memcpy(proj, hidden, sizeof(float) * (size_t)(B * T * d));
    test_compare_f32("enc_to_dec_proj.out", proj, test_golden_get(&g, "enc_to_dec_proj.out")->data,
                     (int64_t)B * T * out, 1e-4);
    test_compare_f32("enc_to_dec_proj.out_masked", states, test_golden_get(&g, "enc_to_dec_proj.out_masked")->data,
                     (int64_t)B * T * out, 1e-4);
    /* Same result with one thread (determinism). */
    mg_pool *one = mg_pool_new(1);
    float *states1 = malloc(sizeof(float) * (size_t)(B * T * out));
    CHECK_OK(mg_t5_encode(t5, one, ids, mask, B, T, NULL, states1));
    CHECK(!memcmp(states, states1, sizeof(float) * (size_t)(B * T * out)), "1 and 2 threads give identical states");
    /* Encoding each prompt alone (no padding) gives the same states on its real tokens. */
    for (int b = 0; b < B; b++) {
        int len = 0;
        while (len < T && mask[b * T + len])
            len++;
        CHECK_OK(mg_t5_encode(t5, pool, ids + b * T, mask + b * T, 1, len, NULL, states1));
        char name[64];
        snprintf(name, sizeof name, "prompt %d alone vs padded batch", b);
        test_compare_f32(name, states1, states + (size_t)b * T * out, (int64_t)len * out, 1e-5);
    }
    mg_pool_free(one);
    mg_pool_free(pool);
    free(states1);
    free(ids);
    free(mask);
    free(hidden);
    free(states);
    free(layer0);
    free(bias);
    free(proj);
    mg_t5_free(t5);
    test_fixture_close(&g, &ck);
}

int main(void) {
    check_buckets();
    run_fixture("tiny-mono");
    run_fixture("tiny-stereo");
    return test_finish("test_t5");
}
