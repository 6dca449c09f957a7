/* attention.c — scalar reference attention kernels and the dispatch (see attention.h). */
#include "lm/attention.h"
#include "tensor/matmul.h"
#include "tensor/tensor.h"

#include <string.h>

mg_kv_type mg_kv_effective(mg_kv_type kv, int hd) {
    if (kv == MG_KV_Q8_0 && hd % MG_QK != 0)
        return MG_KV_F16;
    return kv;
}

/* f32 */
static size_t rb_f32(int hd) { return (size_t)hd * 4; }
static void store_f32(void *dst, const float *src, int hd) { memcpy(dst, src, (size_t)hd * 4); }
static void scores_f32(const float *q, const void *K, int n, int hd, float *out) {
    const float *k = K;
    for (int i = 0; i < n; i++, k += hd) {
        float s = 0;
        for (int e = 0; e < hd; e++)
            s += q[e] * k[e];
        out[i] = s;
    }
}
static void accum_f32(float *o, const float *p, const void *V, int n, int hd) {
    const float *v = V;
    for (int i = 0; i < n; i++, v += hd)
        for (int e = 0; e < hd; e++)
            o[e] += p[i] * v[e];
}

/* f16 */
static size_t rb_f16(int hd) { return (size_t)hd * 2; }
static void store_f16(void *dst, const float *src, int hd) { mg_row_from_f32(MG_DT_F16, src, dst, hd); }
static void scores_f16(const float *q, const void *K, int n, int hd, float *out) {
    const uint16_t *k = K;
    for (int i = 0; i < n; i++, k += hd) {
        float s = 0;
        for (int e = 0; e < hd; e++)
            s += q[e] * mg_f16_to_f32(k[e]);
        out[i] = s;
    }
}
static void accum_f16(float *o, const float *p, const void *V, int n, int hd) {
    const uint16_t *v = V;
    for (int i = 0; i < n; i++, v += hd)
        for (int e = 0; e < hd; e++)
            o[e] += p[i] * mg_f16_to_f32(v[e]);
}

/* q8_0: hd/32 blocks per row */
static size_t rb_q8(int hd) { return (size_t)(hd / MG_QK) * sizeof(mg_block_q8_0); }
static void store_q8(void *dst, const float *src, int hd) { mg_row_from_f32(MG_DT_Q8_0, src, dst, hd); }
static void scores_q8(const float *q, const void *K, int n, int hd, float *out) {
    const mg_block_q8_0 *k = K;
    int nb = hd / MG_QK;
    for (int i = 0; i < n; i++, k += nb) {
        float s = 0;
        for (int b = 0; b < nb; b++) {
            float d = mg_f16_to_f32(k[b].d), bs = 0;
            for (int e = 0; e < MG_QK; e++)
                bs += q[b * MG_QK + e] * (float)k[b].qs[e];
            s += d * bs;
        }
        out[i] = s;
    }
}
static void accum_q8(float *o, const float *p, const void *V, int n, int hd) {
    const mg_block_q8_0 *v = V;
    int nb = hd / MG_QK;
    for (int i = 0; i < n; i++, v += nb)
        for (int b = 0; b < nb; b++) {
            float a = p[i] * mg_f16_to_f32(v[b].d);
            for (int e = 0; e < MG_QK; e++)
                o[b * MG_QK + e] += a * (float)v[b].qs[e];
        }
}

static const mg_kv_ops scalar_ops[3] = {
    [MG_KV_F16] = {rb_f16, store_f16, scores_f16, accum_f16},
    [MG_KV_F32] = {rb_f32, store_f32, scores_f32, accum_f32},
    [MG_KV_Q8_0] = {rb_q8, store_q8, scores_q8, accum_q8},
};

const mg_kv_ops *mg_kv_ops_avx2(mg_kv_type kv);
const mg_kv_ops *mg_kv_ops_avx512(mg_kv_type kv);
const mg_kv_ops *mg_kv_ops_neon(mg_kv_type kv);

const mg_kv_ops *mg_kv_ops_get(mg_kv_type kv, int scalar) {
    if ((int)kv < 0 || kv > MG_KV_Q8_0)
        kv = MG_KV_F16;
    const mg_kv_ops *ops = NULL;
    if (!scalar) {
#if defined(__x86_64__)
        mg_isa isa = mg_isa_active();
        if (isa == MG_ISA_AVX512)
            ops = mg_kv_ops_avx512(kv);
        if (!ops && (isa == MG_ISA_AVX512 || isa == MG_ISA_AVX2))
            ops = mg_kv_ops_avx2(kv);
#elif defined(__aarch64__)
        if (mg_isa_active() == MG_ISA_NEON)
            ops = mg_kv_ops_neon(kv);
#endif
    }
    return ops ? ops : &scalar_ops[kv];
}
