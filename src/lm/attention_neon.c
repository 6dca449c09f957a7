/* attention_neon.c — AArch64 NEON attention kernels for f32, f16 and q8_0 caches
 * (compiled only on ARM64; see attention.h). Scores are a dot product of the query
 * with each cache row, the weighted sum adds p[i] times each row to the output; rows
 * are taken 4 values at a time (f16 through vcvt_f32_f16, q8_0 blocks widened to f32
 * and scaled by their f16 scale), with a scalar tail for head_dim % 4. For the released
 * models' head_dim of 64 the weighted sum keeps the output row in 16 registers instead
 * of loading and storing it for every cache row. Same sums as the scalar reference up to
 * f32 rounding; stored rows are bit-identical (vcvt rounds to nearest even, as the
 * reference conversion does). */
#include "lm/attention.h"
#include "tensor/tensor.h"

#if defined(__aarch64__) && defined(__ARM_NEON)

#include <arm_neon.h>
#include <string.h>

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

/* Always inlined with constant loaders, so each format gets its own straight code. */
INLINE void scores_float(const float *q, const uint8_t *k, size_t rb, int n, int hd, float *out, load4_fn load4,
                         load1_fn load1) {
    for (int i = 0; i < n; i++, k += rb) {
        mg_kv_prefetch(k, rb);
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
        out[i] = s;
    }
}

INLINE void accum_float(float *o, const float *p, const uint8_t *v, size_t rb, int n, int hd, load4_fn load4,
                        load1_fn load1) {
    if (hd == 64) {
        float32x4_t ov[16];
        for (int j = 0; j < 16; j++)
            ov[j] = vld1q_f32(o + 4 * j);
        for (int i = 0; i < n; i++, v += rb) {
            mg_kv_prefetch(v, rb);
            float32x4_t a = vdupq_n_f32(p[i]);
            for (int j = 0; j < 16; j++)
                ov[j] = vfmaq_f32(ov[j], a, load4(v, 4 * j));
        }
        for (int j = 0; j < 16; j++)
            vst1q_f32(o + 4 * j, ov[j]);
        return;
    }
    for (int i = 0; i < n; i++, v += rb) {
        mg_kv_prefetch(v, rb);
        float32x4_t a = vdupq_n_f32(p[i]);
        int e = 0;
        for (; e + 4 <= hd; e += 4)
            vst1q_f32(o + e, vfmaq_f32(vld1q_f32(o + e), a, load4(v, e)));
        for (; e < hd; e++)
            o[e] += p[i] * load1(v, e);
    }
}

static size_t rb_f32(int hd) { return (size_t)hd * 4; }
static void store_f32(void *dst, const float *src, int hd) { memcpy(dst, src, (size_t)hd * 4); }
static void scores_f32(const float *q, const void *K, int n, int hd, float *out) {
    scores_float(q, K, rb_f32(hd), n, hd, out, f32_load4, f32_load1);
}
static void accum_f32(float *o, const float *p, const void *V, int n, int hd) {
    accum_float(o, p, V, rb_f32(hd), n, hd, f32_load4, f32_load1);
}

static size_t rb_f16(int hd) { return (size_t)hd * 2; }
static void store_f16(void *dst, const float *src, int hd) {
    uint16_t *d = dst;
    int e = 0;
    for (; e + 4 <= hd; e += 4)
        vst1_u16(d + e, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + e))));
    for (; e < hd; e++)
        d[e] = mg_f32_to_f16(src[e]);
}
static void scores_f16(const float *q, const void *K, int n, int hd, float *out) {
    scores_float(q, K, rb_f16(hd), n, hd, out, f16_load4, f16_load1);
}
static void accum_f16(float *o, const float *p, const void *V, int n, int hd) {
    accum_float(o, p, V, rb_f16(hd), n, hd, f16_load4, f16_load1);
}

/* ---- q8_0: hd / 32 blocks per row ------------------------------------------------------ */

static size_t rb_q8(int hd) { return (size_t)(hd / MG_QK) * sizeof(mg_block_q8_0); }

static void store_q8(void *dst, const float *src, int hd) { mg_row_from_f32(MG_DT_Q8_0, src, dst, hd); }

/* Per block q . w first, then times the block's scale (the reference's order). */
static void scores_q8(const float *q, const void *K, int n, int hd, float *out) {
    const mg_block_q8_0 *k = K;
    int nb = hd / MG_QK;
    for (int i = 0; i < n; i++, k += nb) {
        mg_kv_prefetch(k, sizeof *k * (size_t)nb);
        float32x4_t acc = vdupq_n_f32(0);
        for (int b = 0; b < nb; b++) {
            const float *qb = q + b * MG_QK;
            float32x4_t w[8], s0, s1;
            load_q8x16(k[b].qs, w);
            load_q8x16(k[b].qs + 16, w + 4);
            s0 = vmulq_f32(vld1q_f32(qb), w[0]);
            s1 = vmulq_f32(vld1q_f32(qb + 4), w[1]);
            for (int j = 2; j < 8; j += 2) {
                s0 = vfmaq_f32(s0, vld1q_f32(qb + 4 * j), w[j]);
                s1 = vfmaq_f32(s1, vld1q_f32(qb + 4 * j + 4), w[j + 1]);
            }
            acc = vfmaq_n_f32(acc, vaddq_f32(s0, s1), f16_value(k[b].d));
        }
        out[i] = vaddvq_f32(acc);
    }
}

static void accum_q8(float *o, const float *p, const void *V, int n, int hd) {
    const mg_block_q8_0 *v = V;
    int nb = hd / MG_QK;
    if (hd == 64) {
        float32x4_t ov[16];
        for (int j = 0; j < 16; j++)
            ov[j] = vld1q_f32(o + 4 * j);
        for (int i = 0; i < n; i++, v += 2) {
            mg_kv_prefetch(v, 2 * sizeof *v);
            for (int b = 0; b < 2; b++) {
                float32x4_t a = vdupq_n_f32(p[i] * f16_value(v[b].d)), w[8];
                load_q8x16(v[b].qs, w);
                load_q8x16(v[b].qs + 16, w + 4);
                for (int j = 0; j < 8; j++)
                    ov[8 * b + j] = vfmaq_f32(ov[8 * b + j], a, w[j]);
            }
        }
        for (int j = 0; j < 16; j++)
            vst1q_f32(o + 4 * j, ov[j]);
        return;
    }
    for (int i = 0; i < n; i++, v += nb) {
        mg_kv_prefetch(v, sizeof *v * (size_t)nb);
        for (int b = 0; b < nb; b++) {
            float32x4_t a = vdupq_n_f32(p[i] * f16_value(v[b].d)), w[8];
            load_q8x16(v[b].qs, w);
            load_q8x16(v[b].qs + 16, w + 4);
            float *ob = o + b * MG_QK;
            for (int j = 0; j < 8; j++)
                vst1q_f32(ob + 4 * j, vfmaq_f32(vld1q_f32(ob + 4 * j), a, w[j]));
        }
    }
}

static const mg_kv_ops ops[3] = {
    [MG_KV_F16] = {rb_f16, store_f16, scores_f16, accum_f16},
    [MG_KV_F32] = {rb_f32, store_f32, scores_f32, accum_f32},
    [MG_KV_Q8_0] = {rb_q8, store_q8, scores_q8, accum_q8},
};

const mg_kv_ops *mg_kv_ops_neon(mg_kv_type kv) { return &ops[kv]; }

#else /* not an AArch64 NEON build: no kernels (the scalar reference runs) */

const mg_kv_ops *mg_kv_ops_neon(mg_kv_type kv) {
    (void)kv;
    return NULL;
}

#endif
