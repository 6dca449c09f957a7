/* matmul_avx2.c — AVX2 + FMA + F16C matmul kernels for x86-64 CPUs without AVX-512.
 *
 * Same structure as matmul_avx512.c at 256 bits (16 registers, so smaller tiles):
 * float formats keep one 8-lane f32 accumulator per (weight row, activation row),
 * with a scalar tail for n % 8; q8_0 / q4_0 use activations quantized to 8-bit blocks
 * (mg_act_q8_bytes) and vpmaddubsw + vpmaddwd, one 32-value block per step. vpmaddubsw
 * multiplies unsigned by signed bytes with 16-bit saturation, so q8_0 uses the sign
 * trick (|w| times x with w's sign; at most 2*128*127 per pair, no saturation) and
 * q4_0 feeds the nibble 0..15 directly with the per-lane correction c = -sum(q).
 * Every output's operations depend only on its own rows: results do not depend on
 * the tile or thread count. Reads ggml block layouts as stored; q8_0x16 (16-row
 * groups) uses 16-bit activations and vpmaddwd, 8 rows per instruction; q4_0x16
 * vpmaddubsw on 8 rows x 4 columns of nibbles. matmul_avxvnni.c compiles this file
 * again with AVX-VNNI (vpdpbusd / vpdpwssd: dot_u8s8, dot_s16), same results.
 */
#include "tensor/matmul.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>
#include <string.h>
#include "tensor/simd_avx2.h"

#define INLINE static inline __attribute__((always_inline))
/* Keeps a loaded vector in a register (GCC would otherwise re-load it as a memory
 * operand of every instruction that uses it, doubling the load traffic). */
#define MG_IN_REG(v) __asm__("" : "+x"(v))
/* Prefetch the tile after next (see matmul_avx512.c: rows are consecutive). */
#define mg_prefetch(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)

enum { FMT_F32, FMT_F16, FMT_BF16, FMT_Q8, FMT_Q4 };

/* acc + the sums of 4 unsigned x signed byte products per 32-bit lane, and acc + the
 * sums of 2 16-bit products. AVX-VNNI (matmul_avxvnni.c builds this file again with
 * it) does each in one instruction; plain AVX2 takes vpmaddubsw + vpmaddwd with ones
 * + vpaddd, and vpmaddwd + vpaddd. The operands here never saturate vpmaddubsw's
 * 16-bit pair sums, so both builds compute the same integers: the same bits. */
INLINE __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) {
#ifdef __AVXVNNI__
    return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

INLINE __m256i dot_s16(__m256i acc, __m256i a, __m256i b) {
#ifdef __AVXVNNI__
    return _mm256_dpwssd_avx_epi32(acc, a, b);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
}

#ifndef MG_MATMUL_AVX2_ENTRY
#define MG_MATMUL_AVX2_ENTRY mg_matmul_kernel_avx2
#endif

/* ---- float formats ------------------------------------------------------------- */

INLINE __m256 load_w8(int fmt, const uint8_t *row, int64_t k) {
    if (fmt == FMT_F32)
        return _mm256_loadu_ps((const float *)row + k);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)row + k));
    if (fmt == FMT_F16)
        return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

INLINE float load_w1(int fmt, const uint8_t *row, int64_t k) {
    if (fmt == FMT_F32)
        return ((const float *)row)[k];
    uint16_t h;
    memcpy(&h, row + 2 * k, 2);
    return fmt == FMT_F16 ? _cvtsh_ss(h) : mg_bf16_to_f32(h);
}

INLINE void tile_float(int fmt, const uint8_t *w, size_t ws, const float *x, size_t xs, int64_t n, float *y,
                       int64_t ldy, const int R, const int MB) {
    __m256 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int m = 0; m < MB; m++)
            acc[r][m] = _mm256_setzero_ps();
    const size_t esize = fmt == FMT_F32 ? 4 : 2, ahead = 2 * (size_t)R * ws;
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            if (fmt == FMT_F32 || (k & 15) == 0) /* one prefetch per 64 bytes */
                mg_prefetch(w + (size_t)r * ws + (size_t)k * esize + ahead);
            wv[r] = load_w8(fmt, w + (size_t)r * ws, k);
        }
#pragma GCC unroll 4
        for (int m = 0; m < MB; m++) {
            __m256 xv = _mm256_loadu_ps(x + (size_t)m * xs + k);
            if (R > 1)
                MG_IN_REG(xv);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                acc[r][m] = _mm256_fmadd_ps(wv[r], xv, acc[r][m]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int m = 0; m < MB; m++) {
            float t = hsum8(acc[r][m]);
            for (int64_t j = k; j < n; j++)
                t += load_w1(fmt, w + (size_t)r * ws, j) * x[(size_t)m * xs + j];
            y[(int64_t)m * ldy + r] = t;
        }
}

/* ---- quantized formats --------------------------------------------------------- */

INLINE const uint8_t *block_at(int fmt, const uint8_t *row, int64_t b) {
    return row + (size_t)b * (fmt == FMT_Q8 ? sizeof(mg_block_q8_0) : sizeof(mg_block_q4_0));
}

INLINE float block_scale(const uint8_t *block) {
    uint16_t h;
    memcpy(&h, block, 2);
    return _cvtsh_ss(h);
}

INLINE void tile_quant(int fmt, const uint8_t *w, size_t ws, const uint8_t *x, size_t xs, int64_t n, float *y,
                       int64_t ldy, const int R, const int MB) {
    int64_t nb = n / MG_QK, nbp = (nb + 1) & ~(int64_t)1;
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    __m256 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int m = 0; m < MB; m++)
            acc[r][m] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i wv[4], wsign[4];
        __m256 wd[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const uint8_t *blk = block_at(fmt, w + (size_t)r * ws, b);
            mg_prefetch(blk + 2 * (size_t)R * ws);
            wd[r] = _mm256_set1_ps(block_scale(blk));
            if (fmt == FMT_Q8) {
                wsign[r] = _mm256_loadu_si256((const __m256i *)(blk + 2));
                wv[r] = _mm256_sign_epi8(wsign[r], wsign[r]); /* |q| (as unsigned: -128 -> 128) */
            } else {
                __m128i q = _mm_loadu_si128((const __m128i *)(blk + 2));
                wv[r] = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), low4);
            }
        }
#pragma GCC unroll 4
        for (int m = 0; m < MB; m++) {
            const uint8_t *p = x + (size_t)m * xs;
            __m256i xq = _mm256_load_si256((const __m256i *)(p + b * MG_QK));
            __m256 xd = _mm256_load_ps((const float *)(p + nbp * MG_QK) + b * 8);
            __m256i xc = fmt == FMT_Q4 ? _mm256_load_si256((const __m256i *)(p + nbp * (MG_QK + 32)) + b)
                                       : _mm256_setzero_si256();
            if (R > 1) {
                MG_IN_REG(xq);
                MG_IN_REG(xd);
                MG_IN_REG(xc);
            }
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                __m256i s;
                if (fmt == FMT_Q8)
                    s = dot_u8s8(_mm256_setzero_si256(), wv[r], _mm256_sign_epi8(xq, wsign[r]));
                else
                    s = dot_u8s8(xc, wv[r], xq);
                acc[r][m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(wd[r], xd), acc[r][m]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int m = 0; m < MB; m++)
            y[(int64_t)m * ldy + r] = hsum8(acc[r][m]);
}

/* ---- tiling --------------------------------------------------------------------- */

INLINE void tile(int fmt, const uint8_t *w, size_t ws, const void *x, size_t xs, int64_t n, float *y, int64_t ldy,
                 const int R, const int MB) {
    if (fmt == FMT_Q8 || fmt == FMT_Q4)
        tile_quant(fmt, w, ws, x, xs, n, y, ldy, R, MB);
    else
        tile_float(fmt, w, ws, x, xs / sizeof(float), n, y, ldy, R, MB);
}

/* Tiles (see matmul_tiling.h): up to 4 activation rows, 2 weight rows: as in
 * matmul_avx512.c, two weight streams per core stream faster than four (f32 step
 * 74-83 -> 63-65 ms on this VM; f16 / bf16 unchanged), and for a decoder step (M <= 2)
 * one stream faster than two (bench_matmul, step against the measured bandwidth: f32
 * 82-87 -> 103-107 %, q8_0 67-70 -> 78-82 %, q4_0 39-40 -> 45-48 %). Not f16 / bf16:
 * with one weight row, an 8-lane FMA chain per output converts too few values per
 * cycle to keep up (84-87 -> 50-54 %). */
#define MG_TILE_MAX_MB 4
#define MG_TILE_MAX_R 2
#define MG_TILE_ROWS(fmt, M) ((M) <= 2 && (fmt) != FMT_F16 && (fmt) != FMT_BF16 ? 1 : 2)
#include "tensor/matmul_tiling.h"

/* ---- activation quantizer (bit-identical to mg_act_q8_quantize_ref) ------------ */

INLINE int32_t hsum8_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* One block of 32 activations (zeros when x is NULL) scaled so its largest magnitude is
 * qmax and rounded: the 32 integers in iv, the scale in *dd. */
INLINE void block_to_int(const float *x, float qmax, __m256i iv[4], float *dd) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 v[4];
    for (int i = 0; i < 4; i++)
        v[i] = x ? _mm256_loadu_ps(x + 8 * i) : _mm256_setzero_ps();
    __m256 mx = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], absmask), _mm256_and_ps(v[1], absmask)),
                              _mm256_max_ps(_mm256_and_ps(v[2], absmask), _mm256_and_ps(v[3], absmask)));
    float amax = hmax8(mx), id = 0;
    *dd = 0;
    if (amax >= 1e-30f) {
        *dd = amax / qmax;
        id = qmax / amax;
    }
    const __m256 idv = _mm256_set1_ps(id), hi = _mm256_set1_ps(qmax), lo = _mm256_set1_ps(-qmax);
    for (int i = 0; i < 4; i++)
        iv[i] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v[i], idv), lo), hi));
}

static void quantize_act(const float *x, int64_t n, void *dst, int corr_mult) {
    int64_t nb = n / MG_QK, nbp = (nb + 1) & ~(int64_t)1;
    int8_t *q = dst;
    float *d = (float *)(q + nbp * MG_QK);
    int32_t *c = (int32_t *)(d + nbp * 8);
    for (int64_t b = 0; b < nbp; b++) {
        __m256i iv[4];
        float dd;
        block_to_int(b < nb ? x + b * MG_QK : NULL, 127.0f, iv, &dd);
        /* packs work per 128-bit lane: fix the dword order afterwards. */
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(iv[0], iv[1]), _mm256_packs_epi32(iv[2], iv[3]));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(q + b * MG_QK), p);
        int32_t sum = hsum8_epi32(_mm256_add_epi32(_mm256_add_epi32(iv[0], iv[1]), _mm256_add_epi32(iv[2], iv[3])));
        _mm256_storeu_ps(d + b * 8, _mm256_set1_ps(dd));
        _mm256_storeu_si256((__m256i *)(c + b * 8), _mm256_set1_epi32(corr_mult * sum));
    }
}

/* 16-bit activations for q8_0x16 (bit-identical to mg_act_q16_quantize_ref). */
static void quantize_act16(const float *x, int64_t n, void *dst, int corr_mult) {
    (void)corr_mult;
    const int64_t nb = n / MG_QK;
    int16_t *q = dst;
    float *d = mg_act_q16_scales(dst, n);
    for (int64_t b = 0; b < nb; b++) {
        __m256i iv[4];
        block_to_int(x + b * MG_QK, 32767.0f, iv, &d[b]);
        /* packs interleave the 128-bit lanes: restore the order with one 64-bit permute. */
        _mm256_storeu_si256((__m256i *)(q + b * MG_QK), _mm256_permute4x64_epi64(_mm256_packs_epi32(iv[0], iv[1]), 0xD8));
        _mm256_storeu_si256((__m256i *)(q + b * MG_QK + 16), _mm256_permute4x64_epi64(_mm256_packs_epi32(iv[2], iv[3]), 0xD8));
    }
    mg_act_q16_pad(d, nb);
}

/* ---- x16 formats: 16-row groups (tensor.h; see matmul_avx512.c) ------------------- */

/* q8_0x16 x 16-bit activations, MB (<= 4) activation rows against one 16-row group:
 * per 32-byte load, rows 0-7 and 8-15 widened to 16-bit and multiplied pairwise
 * (vpmaddwd) with the broadcast activation column pair. Writes y[m * ldy + i], i < 16. */
INLINE void group_q8x16(const uint8_t *g, const uint8_t *x, size_t xs, int64_t nb, float *y, int64_t ldy,
                      const int MB) {
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int m = 0; m < MB; m++)
        acc[m][0] = acc[m][1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = g + (size_t)b * MG_Q8X16_BLOCK_BYTES;
#pragma GCC unroll 9
        for (int l = 0; l < 9; l++) /* ~4 KiB ahead (8 blocks; AVX-512's 12 gained nothing here at ~52 GB/s) */
            mg_prefetch(blk + 8 * MG_Q8X16_BLOCK_BYTES + (size_t)l * 64);
        __m256i s[4][2];
#pragma GCC unroll 4
        for (int m = 0; m < MB; m++)
            s[m][0] = s[m][1] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int kp = 0; kp < MG_QK / 2; kp++) {
            const uint8_t *p = blk + 32 + kp * 32;
            __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
            __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p + 16)));
#pragma GCC unroll 4
            for (int m = 0; m < MB; m++) {
                int32_t pair;
                memcpy(&pair, x + (size_t)m * xs + (size_t)(b * MG_QK + 2 * kp) * sizeof(int16_t), sizeof pair);
                __m256i xv = _mm256_set1_epi32(pair);
                s[m][0] = dot_s16(s[m][0], w0, xv);
                s[m][1] = dot_s16(s[m][1], w1, xv);
            }
        }
        __m256 dw0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));
        __m256 dw1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 16)));
#pragma GCC unroll 4
        for (int m = 0; m < MB; m++) {
            const float *dx = (const float *)(x + (size_t)m * xs + (size_t)nb * MG_QK * sizeof(int16_t));
            __m256 dxv = _mm256_set1_ps(dx[b]);
            acc[m][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[m][0]), _mm256_mul_ps(dw0, dxv), acc[m][0]);
            acc[m][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[m][1]), _mm256_mul_ps(dw1, dxv), acc[m][1]);
        }
    }
#pragma GCC unroll 4
    for (int m = 0; m < MB; m++) {
        _mm256_storeu_ps(y + (size_t)m * (size_t)ldy, acc[m][0]);
        _mm256_storeu_ps(y + (size_t)m * (size_t)ldy + 8, acc[m][1]);
    }
}

/* q4_0x16 x 8-bit activations (mg_act_q8_bytes, corr_mult -8), MB (<= 4) activation
 * rows against one 16-row group: each 32-byte half of a 64-byte piece is rows 0-7 or
 * 8-15 x 4 columns; masked and shifted, its nibbles (unsigned) meet the 4 broadcast
 * activation bytes in vpmaddubsw. A block's 16-bit pair sums stay exact (at most
 * 16 x 15 x 127 per lane) and are added up before one vpmaddwd per row half turns them
 * into the rows' int32 sums, plus c = -8 * sum(q) for the nibbles' offset. */
INLINE void group_q4x16(const uint8_t *g, const uint8_t *x, size_t xs, int64_t nb, float *y, int64_t ldy,
                        const int MB) {
    const int64_t nbp = (nb + 1) & ~(int64_t)1;
    const __m256i low4 = _mm256_set1_epi8(0x0F);
#ifndef __AVXVNNI__
    const __m256i ones = _mm256_set1_epi16(1);
#endif
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int m = 0; m < MB; m++)
        acc[m][0] = acc[m][1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = g + (size_t)b * MG_Q4X16_BLOCK_BYTES;
        /* ~7 KiB ahead, as matmul_avx512.c: these kernels, timed on the AVX-512 VM at
         * ~52 GB/s, ran 1-2.5 % faster than with 16 blocks (2026-11-27). */
#pragma GCC unroll 5
        for (int l = 0; l < 5; l++)
            mg_prefetch(blk + 24 * MG_Q4X16_BLOCK_BYTES + (size_t)l * 64);
        __m256 dw[2] = {_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)),
                        _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 16)))};
#pragma GCC unroll 1
        for (int h = 0; h < 2; h++) {
            __m256i s[4];
#pragma GCC unroll 4
            for (int m = 0; m < MB; m++)
                s[m] = _mm256_setzero_si256();
#pragma GCC unroll 1
            for (int p = 0; p < 4; p++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(blk + 32 + p * 64 + h * 32));
                __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
#pragma GCC unroll 4
                for (int m = 0; m < MB; m++) {
                    int32_t q0, q1;
                    const int8_t *q = (const int8_t *)(x + (size_t)m * xs) + b * MG_QK + 8 * p;
                    memcpy(&q0, q, sizeof q0);
                    memcpy(&q1, q + 4, sizeof q1);
#ifdef __AVXVNNI__ /* straight into 32-bit sums */
                    s[m] = _mm256_dpbusd_avx_epi32(s[m], lo, _mm256_set1_epi32(q0));
                    s[m] = _mm256_dpbusd_avx_epi32(s[m], hi, _mm256_set1_epi32(q1));
#else /* 16-bit sums, widened once per block */
                    s[m] = _mm256_add_epi16(s[m], _mm256_maddubs_epi16(lo, _mm256_set1_epi32(q0)));
                    s[m] = _mm256_add_epi16(s[m], _mm256_maddubs_epi16(hi, _mm256_set1_epi32(q1)));
#endif
                }
            }
#pragma GCC unroll 4
            for (int m = 0; m < MB; m++) {
                const uint8_t *p = x + (size_t)m * xs;
                const float *dx = (const float *)(p + nbp * MG_QK);
                const int32_t *cx = (const int32_t *)(p + nbp * (MG_QK + 32));
#ifdef __AVXVNNI__
                __m256i si = _mm256_add_epi32(s[m], _mm256_set1_epi32(cx[b * 8]));
#else
                __m256i si = _mm256_add_epi32(_mm256_madd_epi16(s[m], ones), _mm256_set1_epi32(cx[b * 8]));
#endif
                acc[m][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(si), _mm256_mul_ps(dw[h], _mm256_set1_ps(dx[b * 8])),
                                            acc[m][h]);
            }
        }
    }
#pragma GCC unroll 4
    for (int m = 0; m < MB; m++) {
        _mm256_storeu_ps(y + (size_t)m * (size_t)ldy, acc[m][0]);
        _mm256_storeu_ps(y + (size_t)m * (size_t)ldy + 8, acc[m][1]);
    }
}

MG_X16_CHUNK(chunk_q8x16, group_q8x16)
MG_X16_CHUNK(chunk_q4x16, group_q4x16)
MG_GEMM_X16(gemm_q8_0x16, chunk_q8x16)
MG_GEMM_X16(gemm_q4_0x16, chunk_q4x16)

int MG_MATMUL_AVX2_ENTRY(mg_dtype t, mg_kernel *k) {
    mg_kernel z = {0};
    *k = z;
    switch (t) {
    case MG_DT_F32: k->gemm = gemm_f32; break;
    case MG_DT_F16: k->gemm = gemm_f16; break;
    case MG_DT_BF16: k->gemm = gemm_bf16; break;
    case MG_DT_Q8_0:
        k->gemm = gemm_q8_0;
        k->quantize = quantize_act;
        k->corr_mult = 0; /* sign trick: no offset to correct */
        break;
    case MG_DT_Q4_0:
        k->gemm = gemm_q4_0;
        k->quantize = quantize_act;
        k->corr_mult = -1; /* 8 lanes per block x 1 = 8: the nibble offset */
        break;
    case MG_DT_Q8_0X16:
        k->gemm = gemm_q8_0x16;
        k->quantize = quantize_act16;
        k->act16 = 1;
        break;
    case MG_DT_Q4_0X16:
        k->gemm = gemm_q4_0x16;
        k->quantize = quantize_act;
        k->corr_mult = -8; /* one lane per row holds a whole block: the nibble offset */
        break;
    default: return 0;
    }
    return 1;
}

#else /* compiled without the AVX2 flags: no kernels */

#ifndef MG_MATMUL_AVX2_ENTRY
#define MG_MATMUL_AVX2_ENTRY mg_matmul_kernel_avx2
#endif
int MG_MATMUL_AVX2_ENTRY(mg_dtype t, mg_kernel *k) {
    (void)t;
    mg_kernel z = {0};
    *k = z;
    return 0;
}

#endif
