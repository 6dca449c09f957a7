/* test_attention.c — the SIMD attention kernels (f32, f16, q8_0 caches) against the
 * scalar reference on random data, for head sizes the released models use (64) and
 * ragged ones; stored-and-read-back values must match the reference bit for bit in
 * f16/q8_0 storage, scores/accumulations within float rounding, several heads of a
 * position-major cache row bit-identical to each head alone, and mg_attn_heads against
 * the reference's scores, softmax and sum. The kernels of the active ISA, and on an
 * AVX-512 machine the AVX2 ones too (AVX2-only CPUs run them). */
#include "test.h"
#include "tensor/ops.h"
#include "base/rng.h"
#include "lm/attention.h"
#include "tensor/isa.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
const mg_kv_ops *mg_kv_ops_avx2(mg_kv_type kv);
#endif

#define MAX_ERR(err, a, b, count)                                                                                    \
    for (size_t at_ = 0; at_ < (size_t)(count); at_++)                                                               \
        err = fmax(err, fabs((a)[at_] - (b)[at_]) / (1 + fabs((a)[at_])));

/* H heads of n positions in a position-major cache whose rows are ld bytes apart (a
 * little more than the H heads, as a cache with other heads or padding would be). */
static void run(const mg_kv_ops *fast, mg_kv_type kv, int hd, int n) {
    const mg_kv_ops *ref = mg_kv_ops_get(kv, hd, 1);
    const int H = 3, h0 = 1, G = 2; /* the kernels see heads 1..2 of each row */
    size_t rb = ref->row_bytes(hd), ld = H * rb + 16;
    CHECK(rb == fast->row_bytes(hd), "row bytes agree");
    mg_rng r;
    mg_rng_seed(&r, (uint64_t)(hd * 1000 + n + kv));
    float *src = malloc(sizeof(float) * (size_t)n * H * hd), *q = malloc(sizeof(float) * (size_t)G * hd);
    uint8_t *k_ref = calloc((size_t)n, ld), *k_fast = calloc((size_t)n, ld);
    float *s_ref = malloc(sizeof(float) * (size_t)G * n), *s_fast = malloc(sizeof(float) * (size_t)G * n);
    float *s_one = malloc(sizeof(float) * (size_t)G * n);
    float *o_ref = calloc((size_t)G * hd, sizeof(float)), *o_fast = calloc((size_t)G * hd, sizeof(float));
    float *o_one = calloc((size_t)G * hd, sizeof(float)), *o_attn = calloc((size_t)G * hd, sizeof(float));
    float *p_attn = malloc(sizeof(float) * (size_t)G * n);
    for (int i = 0; i < n * H * hd; i++)
        src[i] = (float)mg_rng_normal(&r);
    for (int e = 0; e < G * hd; e++)
        q[e] = (float)mg_rng_normal(&r);
    for (int i = 0; i < n; i++)
        for (int h = 0; h < H; h++) {
            ref->store(k_ref + (size_t)i * ld + h * rb, src + ((size_t)i * H + h) * hd, hd);
            fast->store(k_fast + (size_t)i * ld + h * rb, src + ((size_t)i * H + h) * hd, hd);
        }
    CHECK(!memcmp(k_ref, k_fast, ld * (size_t)n), "stored rows identical (kv %d, hd %d)", kv, hd);
    const uint8_t *K = k_ref + h0 * rb;
    ref->scores(q, G, K, ld, n, hd, s_ref, (size_t)n);
    fast->scores(q, G, K, ld, n, hd, s_fast, (size_t)n);
    /* Each head alone (G = 1): bit-identical, so task grouping never changes results. */
    for (int g = 0; g < G; g++)
        fast->scores(q + (size_t)g * hd, 1, K + g * rb, ld, n, hd, s_one + (size_t)g * n, (size_t)n);
    CHECK(!memcmp(s_fast, s_one, sizeof(float) * (size_t)G * n), "scores of %d heads = each head alone", G);
    double es = 0, eo = 0, ea = 0;
    MAX_ERR(es, s_ref, s_fast, G * n);
    /* The whole attention of the G heads against the reference's scores, softmax, sum. */
    mg_attn_heads(fast, G, hd, q, K, K, ld, n, p_attn, o_attn);
    /* Accumulate with attention probabilities, as the decoder does. */
    for (int g = 0; g < G; g++) {
        float *sg = s_ref + (size_t)g * n;
        double mx = -1e30, tot = 0;
        for (int i = 0; i < n; i++)
            mx = fmax(mx, sg[i]);
        for (int i = 0; i < n; i++)
            tot += sg[i] = (float)exp(sg[i] - mx);
        for (int i = 0; i < n; i++)
            sg[i] = (float)(sg[i] / tot);
    }
    ref->accum(o_ref, G, s_ref, (size_t)n, K, ld, n, hd);
    fast->accum(o_fast, G, s_ref, (size_t)n, K, ld, n, hd);
    for (int g = 0; g < G; g++)
        fast->accum(o_one + (size_t)g * hd, 1, s_ref + (size_t)g * n, (size_t)n, K + g * rb, ld, n, hd);
    CHECK(!memcmp(o_fast, o_one, sizeof(float) * (size_t)G * hd), "sums of %d heads = each head alone", G);
    MAX_ERR(eo, o_ref, o_fast, G * hd);
    MAX_ERR(ea, o_ref, o_attn, G * hd);
    CHECK(es < 1e-5 && eo < 1e-5 && ea < 1e-5, "kv %d hd %d n %d: score err %g, accum err %g, attention err %g", kv,
          hd, n, es, eo, ea);
    free(src);
    free(q);
    free(k_ref);
    free(k_fast);
    free(s_ref);
    free(s_fast);
    free(s_one);
    free(o_ref);
    free(o_fast);
    free(o_one);
    free(o_attn);
    free(p_attn);
}

int main(void) {
    const int hds[] = {12, 32, 64, 72, 96, 128};
    const int ns[] = {1, 7, 64, 513};
    for (int kv = 0; kv < 3; kv++)
        for (size_t i = 0; i < sizeof hds / sizeof hds[0]; i++) {
            if (kv == MG_KV_Q8_0 && hds[i] % 32)
                continue;
            for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
                run(mg_kv_ops_get((mg_kv_type)kv, hds[i], 0), (mg_kv_type)kv, hds[i], ns[j]);
#if defined(__x86_64__)
                if (mg_isa_active() == MG_ISA_AVX512)
                    run(mg_kv_ops_avx2((mg_kv_type)kv), (mg_kv_type)kv, hds[i], ns[j]);
#endif
            }
        }
    CHECK(mg_kv_effective(MG_KV_Q8_0, 12) == MG_KV_F16, "q8_0 falls back to f16 for head_dim 12");
    CHECK(mg_kv_effective(MG_KV_Q8_0, 64) == MG_KV_Q8_0, "q8_0 for head_dim 64");
    return test_finish("test_attention");
}
