/* matmul_neon.c — AArch64 NEON matmul kernels (compiled only on ARM64).
 *
 * Same structure as matmul_avx512.c at 128 bits: float formats keep one 4-lane f32
 * accumulator per (weight row, activation row) (f16 through vcvt_f32_f16, bf16 by
 * shifting into the f32 high half) with a scalar tail for n % 4; q8_0 / q4_0 use
 * activations quantized to 8-bit blocks (mg_act_q8_bytes) and signed 8-bit dot
 * products: SDOT when the compiler targets ARMv8.2 dotprod (-march=armv8.2-a+dotprod
 * or newer), otherwise widening multiplies (vmull_s8 + vpadalq_s16). Both are exact
 * integer sums, so they give identical results. Signed x signed needs no offset
 * correction (corr_mult 0). Every output's operations depend only on its own rows:
 * results do not depend on the tile or thread count. Reads ggml layouts as stored;
 * q8_0x16 (16-row groups) uses 16-bit activations and widening multiply-adds;
 * q4_0x16 8-bit activations and per-row dot products of 4 columns.
 */
#include "tensor/matmul.h"

#if defined(__aarch64__) && defined(__ARM_NEON)

#include <arm_neon.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))
/* Prefetch the tile after next (see matmul_avx512.c: rows are consecutive). */
#define mg_prefetch(p) __builtin_prefetch((const void *)(p), 0, 3)

enum { FMT_F32, FMT_F16, FMT_BF16, FMT_Q8, FMT_Q4 };

INLINE float f16_scalar(uint16_t h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* ---- float formats ------------------------------------------------------------- */

INLINE float32x4_t load_w4(int fmt, const uint8_t *row, int64_t k) {
    if (fmt == FMT_F32)
        return vld1q_f32((const float *)row + k);
    uint16x4_t h = vld1_u16((const uint16_t *)row + k);
    if (fmt == FMT_F16)
        return vcvt_f32_f16(vreinterpret_f16_u16(h));
    return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}

INLINE float load_w1(int fmt, const uint8_t *row, int64_t k) {
    if (fmt == FMT_F32)
        return ((const float *)row)[k];
    uint16_t h;
    memcpy(&h, row + 2 * k, 2);
    return fmt == FMT_F16 ? f16_scalar(h) : mg_bf16_to_f32(h);
}

INLINE void tile_float(int fmt, const uint8_t *w, size_t ws, const float *x, size_t xs, int64_t n, float *y,
                       int64_t ldy, const int R, const int MB) {
    float32x4_t acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int m = 0; m < MB; m++)
            acc[r][m] = vdupq_n_f32(0.0f);
    const size_t esize = fmt == FMT_F32 ? 4 : 2, ahead = 2 * (size_t)R * ws;
    int64_t k = 0;
    for (; k + 4 <= n; k += 4) {
        float32x4_t wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            if ((k & 15) == 0) /* one prefetch per 64 bytes of f32, 32 of f16 */
                mg_prefetch(w + (size_t)r * ws + (size_t)k * esize + ahead);
            wv[r] = load_w4(fmt, w + (size_t)r * ws, k);
        }
#pragma GCC unroll 4
        for (int m = 0; m < MB; m++) {
            float32x4_t xv = vld1q_f32(x + (size_t)m * xs + k);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                acc[r][m] = vfmaq_f32(acc[r][m], wv[r], xv);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int m = 0; m < MB; m++) {
            float t = vaddvq_f32(acc[r][m]);
            for (int64_t j = k; j < n; j++)
                t += load_w1(fmt, w + (size_t)r * ws, j) * x[(size_t)m * xs + j];
            y[(int64_t)m * ldy + r] = t;
        }
}

/* ---- quantized formats --------------------------------------------------------- */

INLINE const uint8_t *block_at(int fmt, const uint8_t *row, int64_t b) {
    return row + (size_t)b * (fmt == FMT_Q8 ? sizeof(mg_block_q8_0) : sizeof(mg_block_q4_0));
}

/* sum over 16 byte pairs, added into acc (4 int32 lanes). */
INLINE int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    /* |a|, |b| <= 128 / 127: two products per int16 lane stay below 32767. */
    int16x8_t p = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    p = vmlal_high_s8(p, a, b);
    return vpadalq_s16(acc, p);
#endif
}

INLINE void tile_quant(int fmt, const uint8_t *w, size_t ws, const uint8_t *x, size_t xs, int64_t n, float *y,
                       int64_t ldy, const int R, const int MB) {
    int64_t nb = n / MG_QK, nbp = (nb + 1) & ~(int64_t)1;
    float32x4_t acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int m = 0; m < MB; m++)
            acc[r][m] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t w0[4], w1[4];
        float32x4_t wd[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const uint8_t *blk = block_at(fmt, w + (size_t)r * ws, b);
            mg_prefetch(blk + 2 * (size_t)R * ws);
            uint16_t h;
            memcpy(&h, blk, 2);
            wd[r] = vdupq_n_f32(f16_scalar(h));
            if (fmt == FMT_Q8) {
                w0[r] = vld1q_s8((const int8_t *)(blk + 2));
                w1[r] = vld1q_s8((const int8_t *)(blk + 18));
            } else {
                uint8x16_t q = vld1q_u8(blk + 2);
                const int8x16_t eight = vdupq_n_s8(8);
                w0[r] = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F))), eight);
                w1[r] = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
            }
        }
#pragma GCC unroll 4
        for (int m = 0; m < MB; m++) {
            const uint8_t *p = x + (size_t)m * xs;
            int8x16_t x0 = vld1q_s8((const int8_t *)p + b * MG_QK);
            int8x16_t x1 = vld1q_s8((const int8_t *)p + b * MG_QK + 16);
            float32x4_t xd = vld1q_f32((const float *)(p + nbp * MG_QK) + b * 8);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                int32x4_t s = dot16(dot16(vdupq_n_s32(0), w0[r], x0), w1[r], x1);
                acc[r][m] = vfmaq_f32(acc[r][m], vcvtq_f32_s32(s), vmulq_f32(wd[r], xd));
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int m = 0; m < MB; m++)
            y[(int64_t)m * ldy + r] = vaddvq_f32(acc[r][m]);
}

/* ---- tiling --------------------------------------------------------------------- */

INLINE void tile(int fmt, const uint8_t *w, size_t ws, const void *x, size_t xs, int64_t n, float *y, int64_t ldy,
                 const int R, const int MB) {
    if (fmt == FMT_Q8 || fmt == FMT_Q4)
        tile_quant(fmt, w, ws, x, xs, n, y, ldy, R, MB);
    else
        tile_float(fmt, w, ws, x, xs / sizeof(float), n, y, ldy, R, MB);
}

/* Tiles (see matmul_tiling.h): up to 4 activation rows; float formats 4 weight rows
 * (16 accumulators), quantized 2. */
#define MG_TILE_MAX_MB 4
#define MG_TILE_MAX_R 4
#define MG_TILE_ROWS(fmt, M) ((fmt) == FMT_Q8 || (fmt) == FMT_Q4 ? 2 : 4)
#include "tensor/matmul_tiling.h"

/* ---- activation quantizers (bit-identical to the reference ones) ---------------- */

/* One block of 32 activations (zeros when x is NULL) into v, and its scale as the
 * reference computes it: *dd = amax / qmax, returned id = qmax / amax (both 0 for a
 * block of zeros). Only non-finite inputs differ from the reference (vmaxq keeps a
 * NaN where fmaxf drops it): garbage in, garbage out. */
static inline float block_scale(const float *x, float qmax, float32x4_t v[8], float *dd) {
    float32x4_t mx = vdupq_n_f32(0.0f);
    for (int i = 0; i < 8; i++) {
        v[i] = x ? vld1q_f32(x + 4 * i) : vdupq_n_f32(0.0f);
        mx = vmaxq_f32(mx, vabsq_f32(v[i]));
    }
    float amax = vmaxvq_f32(mx);
    *dd = 0;
    if (amax >= 1e-30f) {
        *dd = amax / qmax;
        return qmax / amax;
    }
    return 0;
}

/* v * id clamped to +-qmax and rounded to nearest, ties to even (vcvtnq), as the
 * reference does. */
static inline int32x4_t round_clamped(float32x4_t v, float id, float qmax) {
    return vcvtnq_s32_f32(vminq_f32(vmaxq_f32(vmulq_n_f32(v, id), vdupq_n_f32(-qmax)), vdupq_n_f32(qmax)));
}

static void quantize_act(const float *x, int64_t n, void *dst, int corr_mult) {
    int64_t nb = n / MG_QK, nbp = (nb + 1) & ~(int64_t)1;
    int8_t *q = dst;
    float *d = (float *)(q + nbp * MG_QK);
    int32_t *c = (int32_t *)(d + nbp * 8);
    for (int64_t b = 0; b < nbp; b++) {
        float32x4_t v[8];
        float dd;
        float id = block_scale(b < nb ? x + b * MG_QK : NULL, 127.0f, v, &dd);
        int32x4_t sum = vdupq_n_s32(0);
        for (int i = 0; i < 8; i += 2) {
            int32x4_t a = round_clamped(v[i], id, 127.0f), e = round_clamped(v[i + 1], id, 127.0f);
            sum = vaddq_s32(sum, vaddq_s32(a, e));
            int16x8_t h = vcombine_s16(vqmovn_s32(a), vqmovn_s32(e));
            vst1_s8(q + b * MG_QK + 4 * i, vqmovn_s16(h));
        }
        int32_t s = vaddvq_s32(sum);
        for (int j = 0; j < 8; j++) {
            d[b * 8 + j] = dd;
            c[b * 8 + j] = corr_mult * s;
        }
    }
}

/* 16-bit activations for q8_0x16 (mg_act_q16_quantize_ref's layout: the int16 values,
 * then one scale per block, padded with zeros to a multiple of 16 blocks). */
static void quantize_act16(const float *x, int64_t n, void *dst, int corr_mult) {
    (void)corr_mult;
    const int64_t nb = n / MG_QK;
    int16_t *q = dst;
    float *d = mg_act_q16_scales(dst, n);
    for (int64_t b = 0; b < nb; b++) {
        float32x4_t v[8];
        float id = block_scale(x + b * MG_QK, 32767.0f, v, &d[b]);
        for (int i = 0; i < 8; i += 2)
            vst1q_s16(q + b * MG_QK + 4 * i,
                      vcombine_s16(vqmovn_s32(round_clamped(v[i], id, 32767.0f)),
                                   vqmovn_s32(round_clamped(v[i + 1], id, 32767.0f))));
    }
    mg_act_q16_pad(d, nb);
}

/* ---- x16 formats: 16-row groups (tensor.h; see matmul_avx512.c) ------------------- */

/* q8_0x16, one activation row against one 16-row group: a de-interleaving load splits
 * each 32-byte tile into the even and odd column of 16 rows, widened to 16-bit and
 * multiply-accumulated by the activation values (vmlal_n_s16). Writes y[i], i < 16. */
static void group_q8x16(const uint8_t *g, const uint8_t *x, int64_t nb, float *y) {
    const int16_t *xq = (const int16_t *)x;
    const float *dx = (const float *)(x + (size_t)nb * MG_QK * sizeof(int16_t));
    float32x4_t acc[4];
    for (int i = 0; i < 4; i++)
        acc[i] = vdupq_n_f32(0);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = g + (size_t)b * MG_Q8X16_BLOCK_BYTES;
        mg_prefetch(blk + 4 * MG_Q8X16_BLOCK_BYTES);
        mg_prefetch(blk + 4 * MG_Q8X16_BLOCK_BYTES + 256);
        int32x4_t s[4];
        for (int i = 0; i < 4; i++)
            s[i] = vdupq_n_s32(0);
        for (int kp = 0; kp < MG_QK / 2; kp++) {
            int8x16x2_t v = vld2q_s8((const int8_t *)(blk + 32 + kp * 32)); /* even, odd column */
            int16_t x0 = xq[b * MG_QK + 2 * kp], x1 = xq[b * MG_QK + 2 * kp + 1];
            int16x8_t e0 = vmovl_s8(vget_low_s8(v.val[0])), e1 = vmovl_high_s8(v.val[0]);
            int16x8_t o0 = vmovl_s8(vget_low_s8(v.val[1])), o1 = vmovl_high_s8(v.val[1]);
            s[0] = vmlal_n_s16(vmlal_n_s16(s[0], vget_low_s16(e0), x0), vget_low_s16(o0), x1);
            s[1] = vmlal_high_n_s16(vmlal_high_n_s16(s[1], e0, x0), o0, x1);
            s[2] = vmlal_n_s16(vmlal_n_s16(s[2], vget_low_s16(e1), x0), vget_low_s16(o1), x1);
            s[3] = vmlal_high_n_s16(vmlal_high_n_s16(s[3], e1, x0), o1, x1);
        }
        for (int i = 0; i < 4; i++) {
            uint16_t h[4];
            memcpy(h, blk + 8 * i, sizeof h);
            float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
            acc[i] = vfmaq_f32(acc[i], vcvtq_f32_s32(s[i]), vmulq_n_f32(dw, dx[b]));
        }
    }
    for (int i = 0; i < 4; i++)
        vst1q_f32(y + 4 * i, acc[i]);
}

/* Four int32 lanes, each the sum of 4 consecutive byte products (what SDOT computes;
 * the widening fallback gives the same exact sums). */
INLINE int32x4_t dot4x4(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    int16x8_t p = vpaddq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b)), vmull_high_s8(a, b));
    return vpadalq_s16(acc, p);
#endif
}

/* q4_0x16, one activation row (8-bit, corr_mult 0) against one 16-row group: each
 * 16-byte quarter of a 64-byte piece is 4 rows x 4 columns; its nibbles, re-centered to
 * -8..7, meet the 4 activation bytes of those columns replicated per row (dot4x4).
 * Writes y[i], i < 16. */
static void group_q4x16(const uint8_t *g, const uint8_t *x, int64_t nb, float *y) {
    const int64_t nbp = (nb + 1) & ~(int64_t)1;
    const int8_t *xq = (const int8_t *)x;
    const float *dx = (const float *)(x + nbp * MG_QK);
    const int8x16_t eight = vdupq_n_s8(8);
    float32x4_t acc[4];
    for (int i = 0; i < 4; i++)
        acc[i] = vdupq_n_f32(0);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = g + (size_t)b * MG_Q4X16_BLOCK_BYTES;
        mg_prefetch(blk + 4 * MG_Q4X16_BLOCK_BYTES);
        mg_prefetch(blk + 4 * MG_Q4X16_BLOCK_BYTES + 256);
        int32x4_t s[4];
        for (int i = 0; i < 4; i++)
            s[i] = vdupq_n_s32(0);
        for (int p = 0; p < 4; p++) {
            int32_t q0, q1;
            memcpy(&q0, xq + b * MG_QK + 8 * p, sizeof q0);
            memcpy(&q1, xq + b * MG_QK + 8 * p + 4, sizeof q1);
            int8x16_t a0 = vreinterpretq_s8_s32(vdupq_n_s32(q0)), a1 = vreinterpretq_s8_s32(vdupq_n_s32(q1));
            for (int i = 0; i < 4; i++) {
                uint8x16_t v = vld1q_u8(blk + 32 + p * 64 + i * 16);
                int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F))), eight);
                int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight);
                s[i] = dot4x4(dot4x4(s[i], lo, a0), hi, a1);
            }
        }
        for (int i = 0; i < 4; i++) {
            uint16_t h[4];
            memcpy(h, blk + 8 * i, sizeof h);
            float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
            acc[i] = vfmaq_f32(acc[i], vcvtq_f32_s32(s[i]), vmulq_n_f32(dw, dx[b * 8]));
        }
    }
    for (int i = 0; i < 4; i++)
        vst1q_f32(y + 4 * i, acc[i]);
}

/* The group's 16 rows stay in L1 while the chunk's activation rows pass one by one. */
INLINE void chunk_q8x16(const uint8_t *g, const uint8_t *x, size_t xs, int64_t nb, float *y, int64_t ldy, int mb) {
    for (int m = 0; m < mb; m++)
        group_q8x16(g, x + (size_t)m * xs, nb, y + m * ldy);
}

INLINE void chunk_q4x16(const uint8_t *g, const uint8_t *x, size_t xs, int64_t nb, float *y, int64_t ldy, int mb) {
    for (int m = 0; m < mb; m++)
        group_q4x16(g, x + (size_t)m * xs, nb, y + m * ldy);
}
MG_GEMM_X16(gemm_q8_0x16, chunk_q8x16)
MG_GEMM_X16(gemm_q4_0x16, chunk_q4x16)

int mg_matmul_kernel_neon(mg_dtype t, mg_kernel *k) {
    mg_kernel z = {0};
    *k = z;
    switch (t) {
    case MG_DT_F32: k->gemm = gemm_f32; break;
    case MG_DT_F16: k->gemm = gemm_f16; break;
    case MG_DT_BF16: k->gemm = gemm_bf16; break;
    case MG_DT_Q8_0:
        k->gemm = gemm_q8_0;
        k->quantize = quantize_act;
        k->corr_mult = 0; /* signed x signed: no offset */
        break;
    case MG_DT_Q4_0:
        k->gemm = gemm_q4_0;
        k->quantize = quantize_act;
        k->corr_mult = 0; /* nibbles are re-centered to -8..7 before the dot product */
        break;
    case MG_DT_Q8_0X16:
        k->gemm = gemm_q8_0x16;
        k->quantize = quantize_act16;
        k->act16 = 1;
        break;
    case MG_DT_Q4_0X16:
        k->gemm = gemm_q4_0x16;
        k->quantize = quantize_act;
        k->corr_mult = 0; /* nibbles are re-centered to -8..7 before the dot product */
        break;
    default: return 0;
    }
    return 1;
}

#else

int mg_matmul_kernel_neon(mg_dtype t, mg_kernel *k) {
    (void)t;
    mg_kernel z = {0};
    *k = z;
    return 0;
}

#endif
