/* attention_neon.c — AArch64 NEON attention kernels for f32, f16 and q8_0 caches
 * (compiled only on ARM64; see attention.h). Scores are a dot product of the query
 * with each cache row, the weighted sum adds p[i] times each row to the output; rows
 * are taken 4 values at a time (f16 through vcvt_f32_f16, q8_0 blocks widened to f32
 * and scaled by their f16 scale), with a scalar tail for head_dim % 4; every cache row's
 * heads are taken one after the other (attention.h). Same sums as the scalar reference up to
 * f32 rounding; stored rows are bit-identical (vcvt rounds to nearest even, as the
 * reference conversion does). */
#include "lm/attention.h"
#include "tensor/tensor.h"

#if defined(__aarch64__) && defined(__ARM_NEON)

#include <arm_neon.h>

static inline float32x4_t load_f16(const uint16_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

/* One f16 value (a q8_0 block's scale) by the conversion instruction, not a call. */
static inline float f16_value(uint16_t h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* Sixteen int8 values as four f32 vectors. */
static inline void load_q8x16(const int8_t *p, float32x4_t out[4]) {
    int8x16_t b = vld1q_s8(p);
    int16x8_t lo = vmovl_s8(vget_low_s8(b)), hi = vmovl_s8(vget_high_s8(b));
    out[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
    out[1] = vcvtq_f32_s32(vmovl_s16(vget_high_s16(lo)));
    out[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
    out[3] = vcvtq_f32_s32(vmovl_s16(vget_high_s16(hi)));
}

/* ---- float caches (f32, f16): one body each for scores and the weighted sum ----------- */

#define INLINE static inline __attribute__((always_inline))

/* Four values of a float row at element e as f32, and one value (the tail). */
INLINE float32x4_t f32_load4(const void *row, int e) { return vld1q_f32((const float *)row + e); }
INLINE float f32_load1(const void *row, int e) { return ((const float *)row)[e]; }
INLINE float32x4_t f16_load4(const void *row, int e) { return load_f16((const uint16_t *)row + e); }
INLINE float f16_load1(const void *row, int e) { return mg_f16_to_f32(((const uint16_t *)row)[e]); }

typedef float32x4_t (*load4_fn)(const void *row, int e);
typedef float (*load1_fn)(const void *row, int e);

/* One head's row against q, and o += a * row; always inlined with constant loaders, so
 * each format gets its own straight code. */
INLINE float dot_float(const float *q, const void *k, int hd, load4_fn load4, load1_fn load1) {
    float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0);
    int e = 0;
    for (; e + 8 <= hd; e += 8) {
        a0 = vfmaq_f32(a0, vld1q_f32(q + e), load4(k, e));
        a1 = vfmaq_f32(a1, vld1q_f32(q + e + 4), load4(k, e + 4));
    }
    for (; e + 4 <= hd; e += 4)
        a0 = vfmaq_f32(a0, vld1q_f32(q + e), load4(k, e));
    float s = vaddvq_f32(vaddq_f32(a0, a1));
    for (; e < hd; e++)
        s += q[e] * load1(k, e);
    return s;
}

INLINE void axpy_float(float *o, float a, const void *v, int hd, load4_fn load4, load1_fn load1) {
    float32x4_t av = vdupq_n_f32(a);
    int e = 0;
    for (; e + 4 <= hd; e += 4)
        vst1q_f32(o + e, vfmaq_f32(vld1q_f32(o + e), av, load4(v, e)));
    for (; e < hd; e++)
        o[e] += a * load1(v, e);
}

static inline float dot_f32(const float *q, const void *k, int hd) { return dot_float(q, k, hd, f32_load4, f32_load1); }
static inline void axpy_f32(float *o, float a, const void *v, int hd) { axpy_float(o, a, v, hd, f32_load4, f32_load1); }

static void store_f16(void *dst, const float *src, int hd) {
    uint16_t *d = dst;
    int e = 0;
    for (; e + 4 <= hd; e += 4)
        vst1_u16(d + e, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + e))));
    for (; e < hd; e++)
        d[e] = mg_f32_to_f16(src[e]);
}
static inline float dot_f16(const float *q, const void *k, int hd) { return dot_float(q, k, hd, f16_load4, f16_load1); }
static inline void axpy_f16(float *o, float a, const void *v, int hd) { axpy_float(o, a, v, hd, f16_load4, f16_load1); }

/* ---- q8_0: hd / 32 blocks per head row ------------------------------------------------ */

/* Per block q . w first, then times the block's scale (the reference's order). */
static inline float dot_q8(const float *q, const void *k, int hd) {
    const mg_block_q8_0 *w = k;
    float32x4_t acc = vdupq_n_f32(0);
    for (int b = 0; b < hd / MG_QK; b++) {
        const float *qb = q + b * MG_QK;
        float32x4_t x[8], s0, s1;
        load_q8x16(w[b].qs, x);
        load_q8x16(w[b].qs + 16, x + 4);
        s0 = vmulq_f32(vld1q_f32(qb), x[0]);
        s1 = vmulq_f32(vld1q_f32(qb + 4), x[1]);
        for (int j = 2; j < 8; j += 2) {
            s0 = vfmaq_f32(s0, vld1q_f32(qb + 4 * j), x[j]);
            s1 = vfmaq_f32(s1, vld1q_f32(qb + 4 * j + 4), x[j + 1]);
        }
        acc = vfmaq_n_f32(acc, vaddq_f32(s0, s1), f16_value(w[b].d));
    }
    return vaddvq_f32(acc);
}

static inline void axpy_q8(float *o, float a, const void *v, int hd) {
    const mg_block_q8_0 *w = v;
    for (int b = 0; b < hd / MG_QK; b++) {
        float32x4_t ab = vdupq_n_f32(a * f16_value(w[b].d)), x[8];
        load_q8x16(w[b].qs, x);
        load_q8x16(w[b].qs + 16, x + 4);
        float *ob = o + b * MG_QK;
        for (int j = 0; j < 8; j++)
            vst1q_f32(ob + 4 * j, vfmaq_f32(vld1q_f32(ob + 4 * j), ab, x[j]));
    }
}

MG_KV_KERNELS(f32)
MG_KV_KERNELS(f16)
MG_KV_KERNELS(q8)

static const mg_kv_ops ops[3] = {
    [MG_KV_F16] = {mg_kv_row_bytes_f16, store_f16, scores_f16, accum_f16},
    [MG_KV_F32] = {mg_kv_row_bytes_f32, mg_kv_store_f32, scores_f32, accum_f32},
    [MG_KV_Q8_0] = {mg_kv_row_bytes_q8, mg_kv_store_q8, scores_q8, accum_q8},
};

const mg_kv_ops *mg_kv_ops_neon(mg_kv_type kv) { return &ops[kv]; }

#else /* not an AArch64 NEON build: no kernels (the scalar reference runs) */

const mg_kv_ops *mg_kv_ops_neon(mg_kv_type kv) {
    (void)kv;
    return NULL;
}

#endif
