/* test_attention.c — the SIMD attention kernels (f32, f16, q8_0 caches) against the
 * scalar reference on random data, for head sizes the released models use (64) and
 * ragged ones; stored-and-read-back values must match the reference bit for bit in
 * f16/q8_0 storage, scores/accumulations within float rounding. The kernels of the
 * active ISA, and on an AVX-512 machine the AVX2 ones too (AVX2-only CPUs run them). */
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

static void run(const mg_kv_ops *fast, mg_kv_type kv, int hd, int n) {
    const mg_kv_ops *ref = mg_kv_ops_get(kv, 1);
    size_t rb = ref->row_bytes(hd);
    CHECK(rb == fast->row_bytes(hd), "row bytes agree");
    mg_rng r;
    mg_rng_seed(&r, (uint64_t)(hd * 1000 + n + kv));
    float *src = malloc(sizeof(float) * (size_t)n * hd), *q = malloc(sizeof(float) * (size_t)hd);
    uint8_t *k_ref = malloc(rb * (size_t)n), *k_fast = malloc(rb * (size_t)n);
    float *s_ref = malloc(sizeof(float) * (size_t)n), *s_fast = malloc(sizeof(float) * (size_t)n);
    float *o_ref = calloc((size_t)hd, sizeof(float)), *o_fast = calloc((size_t)hd, sizeof(float));
    for (int i = 0; i < n * hd; i++)
        src[i] = (float)mg_rng_normal(&r);
    for (int e = 0; e < hd; e++)
        q[e] = (float)mg_rng_normal(&r);
    for (int i = 0; i < n; i++) {
        ref->store(k_ref + (size_t)i * rb, src + (size_t)i * hd, hd);
        fast->store(k_fast + (size_t)i * rb, src + (size_t)i * hd, hd);
    }
    CHECK(!memcmp(k_ref, k_fast, rb * (size_t)n), "stored rows identical (kv %d, hd %d)", kv, hd);
    ref->scores(q, k_ref, n, hd, s_ref);
    fast->scores(q, k_ref, n, hd, s_fast);
    double es = 0, eo = 0;
    for (int i = 0; i < n; i++)
        es = fmax(es, fabs(s_ref[i] - s_fast[i]) / (1 + fabs(s_ref[i])));
    /* Accumulate with attention probabilities, as the decoder does. */
    double mx = -1e30, tot = 0;
    for (int i = 0; i < n; i++)
        mx = fmax(mx, s_ref[i]);
    for (int i = 0; i < n; i++)
        tot += s_ref[i] = (float)exp(s_ref[i] - mx);
    for (int i = 0; i < n; i++)
        s_ref[i] = (float)(s_ref[i] / tot);
    ref->accum(o_ref, s_ref, k_ref, n, hd);
    fast->accum(o_fast, s_ref, k_ref, n, hd);
    for (int e = 0; e < hd; e++)
        eo = fmax(eo, fabs(o_ref[e] - o_fast[e]) / (1 + fabs(o_ref[e])));
    CHECK(es < 1e-5 && eo < 1e-5, "kv %d hd %d n %d: score err %g, accum err %g", kv, hd, n, es, eo);
    free(src);
    free(q);
    free(k_ref);
    free(k_fast);
    free(s_ref);
    free(s_fast);
    free(o_ref);
    free(o_fast);
}

int main(void) {
    const int hds[] = {12, 32, 64, 72, 96, 128};
    const int ns[] = {1, 7, 64, 513};
    for (int kv = 0; kv < 3; kv++)
        for (size_t i = 0; i < sizeof hds / sizeof hds[0]; i++) {
            if (kv == MG_KV_Q8_0 && hds[i] % 32)
                continue;
            for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
                run(mg_kv_ops_get((mg_kv_type)kv, 0), (mg_kv_type)kv, hds[i], ns[j]);
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
