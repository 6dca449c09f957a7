/* attention.c — scalar reference attention kernels, the row helpers the SIMD kernels
 * share, and mg_attn_heads (one query position's heads over the position-major
 * self-attention cache; see attention.h). The choice of kernels per ISA is in
 * attention_dispatch.c. */
#include "lm/attention.h"
#include "tensor/matmul.h"
#include "tensor/ops.h"
#include "tensor/tensor.h"

#include <stdint.h>
#include <string.h>

mg_kv_type mg_kv_effective(mg_kv_type kv, int hd) {
    if (kv == MG_KV_Q8_0 && hd % MG_QK != 0)
        return MG_KV_F16;
    return kv;
}

/* The per-head rows (reference order: one sequential sum per dot product). */
static float dot_f32(const float *q, const void *k, int hd) {
    const float *w = k;
    float s = 0;
    for (int e = 0; e < hd; e++)
        s += q[e] * w[e];
    return s;
}
static void axpy_f32(float *o, float a, const void *v, int hd) {
    const float *w = v;
    for (int e = 0; e < hd; e++)
        o[e] += a * w[e];
}
static float dot_f16(const float *q, const void *k, int hd) {
    const uint16_t *w = k;
    float s = 0;
    for (int e = 0; e < hd; e++)
        s += q[e] * mg_f16_to_f32(w[e]);
    return s;
}
static void axpy_f16(float *o, float a, const void *v, int hd) {
    const uint16_t *w = v;
    for (int e = 0; e < hd; e++)
        o[e] += a * mg_f16_to_f32(w[e]);
}
/* q8_0: hd/32 blocks per head, each summed first and then scaled */
static float dot_q8(const float *q, const void *k, int hd) {
    const mg_block_q8_0 *w = k;
    float s = 0;
    for (int b = 0; b < hd / MG_QK; b++) {
        float bs = 0;
        for (int e = 0; e < MG_QK; e++)
            bs += q[b * MG_QK + e] * (float)w[b].qs[e];
        s += mg_f16_to_f32(w[b].d) * bs;
    }
    return s;
}
static void axpy_q8(float *o, float a, const void *v, int hd) {
    const mg_block_q8_0 *w = v;
    for (int b = 0; b < hd / MG_QK; b++) {
        float ab = a * mg_f16_to_f32(w[b].d);
        for (int e = 0; e < MG_QK; e++)
            o[b * MG_QK + e] += ab * (float)w[b].qs[e];
    }
}

size_t mg_kv_row_bytes_f32(int hd) { return (size_t)hd * 4; }
size_t mg_kv_row_bytes_f16(int hd) { return (size_t)hd * 2; }
size_t mg_kv_row_bytes_q8(int hd) { return (size_t)(hd / MG_QK) * sizeof(mg_block_q8_0); }
void mg_kv_store_f32(void *dst, const float *src, int hd) { memcpy(dst, src, (size_t)hd * 4); }
void mg_kv_store_q8(void *dst, const float *src, int hd) { mg_row_from_f32(MG_DT_Q8_0, src, dst, hd); }
static void store_f16(void *dst, const float *src, int hd) { mg_row_from_f32(MG_DT_F16, src, dst, hd); }

MG_KV_KERNELS(f32)
MG_KV_KERNELS(f16)
MG_KV_KERNELS(q8)

static const mg_kv_ops scalar_ops[3] = {
    [MG_KV_F16] = {mg_kv_row_bytes_f16, store_f16, scores_f16, accum_f16},
    [MG_KV_F32] = {mg_kv_row_bytes_f32, mg_kv_store_f32, scores_f32, accum_f32},
    [MG_KV_Q8_0] = {mg_kv_row_bytes_q8, mg_kv_store_q8, scores_q8, accum_q8},
};

const mg_kv_ops *mg_kv_ops_scalar(mg_kv_type kv) {
    if ((int)kv < 0 || kv > MG_KV_Q8_0)
        kv = MG_KV_F16;
    return &scalar_ops[kv];
}

/* ---- several heads over the position-major cache ---------------------------------- */

void mg_attn_heads(const mg_kv_ops *ops, int G, int hd, const float *q, const void *K, const void *V, size_t ld,
                   int n, float *p, float *o) {
    ops->scores(q, G, K, ld, n, hd, p, (size_t)n);
    /* V's first rows, which the weighted sum's own prefetches never ask for: they
     * arrive during the softmax instead of stalling its first rows. */
    size_t used = (size_t)G * ops->row_bytes(hd);
    for (int i = 0, ahead = mg_kv_ahead_rows(used); i < n && i < ahead; i++)
        mg_kv_prefetch_span((const char *)V + (size_t)i * ld, used);
    for (int g = 0; g < G; g++)
        mg_softmax(p + (size_t)g * n, n);
    memset(o, 0, sizeof(float) * (size_t)G * (size_t)hd);
    ops->accum(o, G, p, (size_t)n, V, ld, n, hd);
}
