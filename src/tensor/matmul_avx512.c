/* matmul_avx512.c — AVX-512 (F/BW/VL/DQ + VNNI) matmul kernels for x86-64.
 *
 * Float formats (f32, f16 via F16C, bf16 by shifting into the f32 high half) keep one
 * 16-lane f32 accumulator per (weight row, activation row) and do one FMA per 16
 * values; a tile of R weight rows x MB activation rows shares every load. q8_0 widens
 * each block to f32 and scales it once per tile row, then works like the float
 * formats (exact f32 activations). q4_0 takes activations quantized to 8-bit blocks
 * (mg_act_q8_bytes) and uses VNNI vpdpbusd: the nibbles 0..15 enter as unsigned bytes
 * and the per-lane correction c = -sum(q) preloaded into the accumulator removes the
 * offset. Each 512-bit step covers two 32-value blocks; the int32 lane sums are
 * converted and scaled by d_w * d_x per block into f32 lanes.
 * q8_0x16 (16-row groups) multiplies 16-bit activations with vpdpwssd, 16 rows per
 * instruction (see group_q8x16); q4_0x16 8-bit activations with vpdpbusd, 16 rows x 4
 * columns per instruction (group_q4x16).
 * Weights of the tile after next are prefetched (rows are consecutive in memory).
 * Every output's operations depend only on its own weight and activation rows, so
 * tile shapes, batch size and thread counts never change results. Reads ggml block
 * layouts as stored and does not repack weights (plain q8_0 / q4_0 files at M = 8 stay
 * compute-bound; the x16 layouts that musicgen quantize writes do not).
 */
#include "tensor/matmul.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512VNNI__) && defined(__F16C__) && defined(__FMA__)

#include <immintrin.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))
/* Keeps a loaded vector in a register (GCC would otherwise re-load it as a memory
 * operand of every instruction that uses it, doubling the load traffic). */
#define MG_IN_REG(v) __asm__("" : "+v"(v))
/* Weights stream from memory once: while computing a tile, ask for the tile after next
 * (rows are consecutive, so that is the same offset 2R rows further). Without it the
 * hardware prefetcher stalls at every 4 KiB page and the quantized kernels stream at
 * half the memory bandwidth (measured: q8_0 M=2 on 2 cores 5.6 -> 18 GB/s). A prefetch
 * never faults, so running past the matrix end is harmless. */
#define mg_prefetch(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)

enum { FMT_F32, FMT_F16, FMT_BF16, FMT_Q8, FMT_Q4 };

/* The R x MB accumulators of a tile: cleared, and summed into y[m * ldy + r]. */
INLINE void acc_zero(__m512 acc[2][8], const int R, const int MB) {
#pragma GCC unroll 2
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int m = 0; m < MB; m++)
            acc[r][m] = _mm512_setzero_ps();
}

INLINE void acc_store(__m512 acc[2][8], float *y, int64_t ldy, const int R, const int MB) {
#pragma GCC unroll 2
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int m = 0; m < MB; m++)
            y[(int64_t)m * ldy + r] = _mm512_reduce_add_ps(acc[r][m]);
}

/* ---- float formats ------------------------------------------------------------- */

/* 16 weights starting at element k of a row, as f32 (mask: which lanes to load). */
INLINE __m512 load_w16(int fmt, const uint8_t *row, int64_t k, __mmask16 mask, int full) {
    if (fmt == FMT_F32) {
        const float *p = (const float *)row + k;
        return full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(mask, p);
    }
    const uint16_t *p = (const uint16_t *)row + k;
    __m256i h = full ? _mm256_loadu_si256((const __m256i *)p) : _mm256_maskz_loadu_epi16(mask, p);
    if (fmt == FMT_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* R weight rows x MB activation rows; R and MB are compile-time constants after inlining. */
INLINE void tile_float(int fmt, const uint8_t *w, size_t ws, const float *x, size_t xs, int64_t n, float *y,
                       int64_t ldy, const int R, const int MB) {
    __m512 acc[2][8];
    acc_zero(acc, R, MB);
    const size_t esize = fmt == FMT_F32 ? 4 : 2, ahead = 2 * (size_t)R * ws; /* two tiles ahead */
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512 wv[2];
#pragma GCC unroll 2
        for (int r = 0; r < R; r++) {
            mg_prefetch(w + (size_t)r * ws + (size_t)k * esize + ahead);
            wv[r] = load_w16(fmt, w + (size_t)r * ws, k, 0xFFFF, 1);
        }
#pragma GCC unroll 8
        for (int m = 0; m < MB; m++) {
            __m512 xv = _mm512_loadu_ps(x + (size_t)m * xs + k);
            if (R > 1)
                MG_IN_REG(xv);
#pragma GCC unroll 2
            for (int r = 0; r < R; r++)
                acc[r][m] = _mm512_fmadd_ps(wv[r], xv, acc[r][m]);
        }
    }
    if (k < n) {
        __mmask16 mask = (__mmask16)((1u << (n - k)) - 1);
        __m512 wv[2];
#pragma GCC unroll 2
        for (int r = 0; r < R; r++)
            wv[r] = load_w16(fmt, w + (size_t)r * ws, k, mask, 0);
#pragma GCC unroll 8
        for (int m = 0; m < MB; m++) {
            __m512 xv = _mm512_maskz_loadu_ps(mask, x + (size_t)m * xs + k);
#pragma GCC unroll 2
            for (int r = 0; r < R; r++)
                acc[r][m] = _mm512_fmadd_ps(wv[r], xv, acc[r][m]);
        }
    }
    acc_store(acc, y, ldy, R, MB);
}

/* ---- q8_0 weights, f32 activations ------------------------------------------------ */

/* q8_0 against exact f32 activations: each 32-value block is widened to f32 and
 * scaled by its f16 scale once per tile row, then FMAs as for the float formats. The
 * only error left is the weights' own rounding; quantizing the activations too (as
 * q4_0 does) doubled the logit error and made greedy codes drift from f32 far more
 * often (docs/kernels.md). Costs ~50% more arithmetic per weight than the integer
 * path, which the memory-bound M = 2 decoder step hides. */
INLINE void tile_q8f(const uint8_t *w, size_t ws, const float *x, size_t xs, int64_t n, float *y, int64_t ldy,
                     const int R, const int MB) {
    __m512 acc[2][8];
    acc_zero(acc, R, MB);
    const int64_t nb = n / MG_QK;
    const size_t ahead = 2 * (size_t)R * ws; /* two tiles ahead */
    for (int64_t b = 0; b < nb; b++) {
        __m512 w0[2], w1[2];
#pragma GCC unroll 2
        for (int r = 0; r < R; r++) {
            const uint8_t *blk = w + (size_t)r * ws + (size_t)b * sizeof(mg_block_q8_0);
            mg_prefetch(blk + ahead);
            uint16_t h;
            memcpy(&h, blk, sizeof h);
            __m512 d = _mm512_cvtph_ps(_mm256_set1_epi16((short)h));
            w0[r] = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 2)))));
            w1[r] = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 18)))));
        }
#pragma GCC unroll 8
        for (int m = 0; m < MB; m++) {
            __m512 x0 = _mm512_loadu_ps(x + (size_t)m * xs + b * MG_QK);
            __m512 x1 = _mm512_loadu_ps(x + (size_t)m * xs + b * MG_QK + 16);
            if (R > 1) {
                MG_IN_REG(x0);
                MG_IN_REG(x1);
            }
#pragma GCC unroll 2
            for (int r = 0; r < R; r++)
                acc[r][m] = _mm512_fmadd_ps(w1[r], x1, _mm512_fmadd_ps(w0[r], x0, acc[r][m]));
        }
    }
    acc_store(acc, y, ldy, R, MB);
}

/* ---- q4_0: 8-bit activations ------------------------------------------------------ */

/* Block b of a q4_0 row: 18 bytes, f16 scale first. */
INLINE const uint8_t *block_at(const uint8_t *row, int64_t b) {
    return row + (size_t)b * sizeof(mg_block_q4_0);
}

/* Nibbles of blocks b, b+1 as 64 unsigned bytes 0..15 in value order (second block
 * zero when !two): [q0 | q0 | q1 | q1], then low nibbles of the even 128-bit lanes,
 * high of the odd. */
INLINE __m512i load_wq(const uint8_t *row, int64_t b, int two) {
    const uint8_t *p0 = block_at(row, b) + 2;
    const uint8_t *p1 = block_at(row, b + 1) + 2;
    __m256i a = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p0));
    __m256i c = two ? _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p1)) : _mm256_setzero_si256();
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(a), c, 1);
    v = _mm512_srlv_epi64(v, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0));
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
}

/* Weight scales of blocks b, b+1 spread over lanes 0-7 and 8-15 (zero for a missing
 * b+1): a masked load of just the two f16 words (both within 64 bytes of block b; masked
 * lanes are never touched, so nothing past the row is read), one word permute, one
 * conversion. */
INLINE __m512 load_wscale(const uint8_t *row, int64_t b, int two) {
    const int second = (int)sizeof(mg_block_q4_0) / 2; /* word index */
    __mmask32 mask = two ? (__mmask32)(1u | 1u << second) : (__mmask32)1u;
    __m512i raw = _mm512_maskz_loadu_epi16(mask, block_at(row, b));
    const __m512i idx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, second, second, second,
                                         second, second, second, second, second, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(idx, raw)));
}

typedef struct {
    const int8_t *q;
    const float *d;
    const int32_t *c;
} act_row;

INLINE act_row act_at(const uint8_t *x, size_t xs, int m, int64_t nbp) {
    const uint8_t *p = x + (size_t)m * xs;
    act_row a = {(const int8_t *)p, (const float *)(p + nbp * MG_QK), (const int32_t *)(p + nbp * (MG_QK + 32))};
    return a;
}

/* One step over blocks b, b+1 for the whole tile. */
INLINE void q_step(const uint8_t *w, size_t ws, const uint8_t *x, size_t xs, int64_t nbp, int64_t b,
                   int two, __m512 acc[2][8], const int R, const int MB) {
    __m512i wv[2];
    __m512 wd[2];
#pragma GCC unroll 2
    for (int r = 0; r < R; r++) {
        mg_prefetch(block_at(w + (size_t)r * ws, b) + 2 * (size_t)R * ws);
        wv[r] = load_wq(w + (size_t)r * ws, b, two);
        wd[r] = load_wscale(w + (size_t)r * ws, b, two);
    }
#pragma GCC unroll 8
    for (int m = 0; m < MB; m++) {
        act_row a = act_at(x, xs, m, nbp);
        __m512i xq = _mm512_load_si512((const void *)(a.q + b * MG_QK));
        __m512 xd = _mm512_load_ps(a.d + b * 8);
        __m512i xc = _mm512_load_si512((const void *)(a.c + b * 8));
        if (R > 1) {
            MG_IN_REG(xq);
            MG_IN_REG(xd);
        }
#pragma GCC unroll 2
        for (int r = 0; r < R; r++) {
            __m512i s = _mm512_dpbusd_epi32(xc, wv[r], xq);
            acc[r][m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(wd[r], xd), acc[r][m]);
        }
    }
}

INLINE void tile_quant(const uint8_t *w, size_t ws, const uint8_t *x, size_t xs, int64_t n, float *y,
                       int64_t ldy, const int R, const int MB) {
    int64_t nb = n / MG_QK, nbp = (nb + 1) & ~(int64_t)1;
    __m512 acc[2][8];
    acc_zero(acc, R, MB);
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2)
        q_step(w, ws, x, xs, nbp, b, 1, acc, R, MB);
    if (b < nb)
        q_step(w, ws, x, xs, nbp, b, 0, acc, R, MB);
    acc_store(acc, y, ldy, R, MB);
}

/* ---- tiling --------------------------------------------------------------------- */

INLINE void tile(int fmt, const uint8_t *w, size_t ws, const void *x, size_t xs, int64_t n, float *y, int64_t ldy,
                 const int R, const int MB) {
    if (fmt == FMT_Q8)
        tile_q8f(w, ws, x, xs / sizeof(float), n, y, ldy, R, MB);
    else if (fmt == FMT_Q4)
        tile_quant(w, ws, x, xs, n, y, ldy, R, MB);
    else
        tile_float(fmt, w, ws, x, xs / sizeof(float), n, y, ldy, R, MB);
}

/* Tiles (see matmul_tiling.h): up to 8 activation rows, 2 weight rows (up to 16
 * accumulators). Tiles of 4 rows share each activation load between more rows, but
 * four concurrent weight streams per core stream slower than two on this kind of
 * machine (measured, decoder step of musicgen-small: f32 91 -> 80 ms, bf16 50 -> 45,
 * q8_0 kernel 15 -> 18 GB/s). A decoder step (M <= 2 activation rows) reads each
 * weight once and is pure streaming: there one weight row per tile, a single sequential
 * stream per core, beats two (bench_matmul, step against the measured bandwidth, 2
 * threads, 44-48 GB/s: f32 80-84 -> 94-104 %, f16 75-89 -> 94-111 %, plain q8_0 83-91
 * -> 89-98 %, plain q4_0 49-69 -> 58-99 %). From M = 3 on, the kernels are compute-bound
 * and sharing each activation load between two rows wins (f16 at M = 4: 76-83 % with
 * two rows, 57-92 % with one; M = 8: 52-70 % against 29-49 %). */
#define MG_TILE_MAX_MB 8
#define MG_TILE_MAX_R 2
#define MG_TILE_ROWS(fmt, M) ((M) <= 2 ? 1 : 2)
#include "tensor/matmul_tiling.h"

/* ---- x16 formats: 16-row groups (tensor.h) ------------------------------------------ */

/* q8_0x16 x 16-bit activations, MB activation rows against one 16-row group: each
 * 32-byte load is 16 rows x 2 columns, widened to 16-bit and multiplied with the
 * activations' column pair broadcast to every row (vpdpwssd); a block's int32 sums are
 * then scaled by the 16 rows' d_w times the activation block's d_x. Writes
 * y[m * ldy + i], i < 16. */
INLINE void group_q8x16(const uint8_t *g, const uint8_t *x, size_t xs, int64_t nb, float *y, int64_t ldy,
                        const int MB) {
    __m512 acc[8];
#pragma GCC unroll 8
    for (int m = 0; m < MB; m++)
        acc[m] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = g + (size_t)b * MG_Q8X16_BLOCK_BYTES;
        /* ~6.5 KiB ahead (12 blocks): the group is one sequential stream. Two KiB (four
         * blocks) was less than a memory latency's worth of streaming; 4 KiB gave q8_0 /
         * q4_0 steps 2-5 % faster in paired runs. How far is enough depends on how fast
         * the memory is: on this VM, whose read bandwidth swings between ~50 and ~70
         * GB/s, a bench_matmul step alternating 8 and 12 blocks ran 5-6 % faster with
         * 12 at ~70 GB/s and 1 % slower at ~52 (2026-11-27); 16 was no faster than 12
         * at ~70 and 2-3 % slower at ~48; also prefetching into L2 (T1) 32 or 64 blocks
         * ahead, 7 % slower. */
#pragma GCC unroll 9
        for (int l = 0; l < 9; l++)
            mg_prefetch(blk + 12 * MG_Q8X16_BLOCK_BYTES + (size_t)l * 64);
        __m512i s[8];
#pragma GCC unroll 8
        for (int m = 0; m < MB; m++)
            s[m] = _mm512_setzero_si512();
#pragma GCC unroll 16
        for (int kp = 0; kp < MG_QK / 2; kp++) {
            __m512i wv = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(blk + 32 + kp * 32)));
#pragma GCC unroll 8
            for (int m = 0; m < MB; m++) {
                int32_t pair;
                memcpy(&pair, x + (size_t)m * xs + (size_t)(b * MG_QK + 2 * kp) * sizeof(int16_t), sizeof pair);
                s[m] = _mm512_dpwssd_epi32(s[m], wv, _mm512_set1_epi32(pair));
            }
        }
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)blk));
#pragma GCC unroll 8
        for (int m = 0; m < MB; m++) {
            const float *dx = (const float *)(x + (size_t)m * xs + (size_t)nb * MG_QK * sizeof(int16_t));
            acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[m]), _mm512_mul_ps(dw, _mm512_set1_ps(dx[b])), acc[m]);
        }
    }
#pragma GCC unroll 8
    for (int m = 0; m < MB; m++)
        _mm512_storeu_ps(y + (size_t)m * (size_t)ldy, acc[m]);
}

/* q4_0x16 x 8-bit activations (mg_act_q8_bytes, corr_mult -8), MB activation rows
 * against one 16-row group: each 64-byte load, masked and shifted, gives 16 rows x 4
 * columns twice (low and high nibbles, 0..15 as unsigned bytes); vpdpbusd multiplies
 * each with the 4 activation bytes of those columns broadcast to every row. The
 * accumulator starts at c = -8 * sum(q) per block, which removes the nibbles' offset of
 * 8, and the block's int32 sums are scaled by d_w (16 rows) times d_x. */
INLINE void group_q4x16(const uint8_t *g, const uint8_t *x, size_t xs, int64_t nb, float *y, int64_t ldy,
                        const int MB) {
    const int64_t nbp = (nb + 1) & ~(int64_t)1;
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    __m512 acc[8];
#pragma GCC unroll 8
    for (int m = 0; m < MB; m++)
        acc[m] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = g + (size_t)b * MG_Q4X16_BLOCK_BYTES;
        /* ~7 KiB ahead (24 blocks), as above: against 16 blocks, 6-7 % faster at ~70
         * GB/s and 1-2 % slower at ~52; 32 blocks 8-9 % faster at ~70 but 4-5 % slower
         * at ~52 (bench_matmul, alternating steps, 2026-11-27). In real generations
         * (musicgen-small, 8-step blocks alternating inside each, 31 generations at
         * probes of 37-65 GB/s) 32 blocks made the mean step 0.4 % longer (median of
         * the generations; 0.3 % for the 10 at 60+ GB/s) and q8_0x16's 16 blocks 0.9 %
         * (0.1 %) against 12: no distance worth switching to as the memory speed
         * changes. */
#pragma GCC unroll 5
        for (int l = 0; l < 5; l++)
            mg_prefetch(blk + 24 * MG_Q4X16_BLOCK_BYTES + (size_t)l * 64);
        __m512i s[8];
#pragma GCC unroll 8
        for (int m = 0; m < MB; m++)
            s[m] = _mm512_set1_epi32(act_at(x, xs, m, nbp).c[b * 8]);
#pragma GCC unroll 4
        for (int p = 0; p < 4; p++) {
            __m512i v = _mm512_loadu_si512((const void *)(blk + 32 + p * 64));
            __m512i lo = _mm512_and_si512(v, low4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
#pragma GCC unroll 8
            for (int m = 0; m < MB; m++) {
                int32_t q0, q1;
                const int8_t *q = act_at(x, xs, m, nbp).q + b * MG_QK + 8 * p;
                memcpy(&q0, q, sizeof q0);
                memcpy(&q1, q + 4, sizeof q1);
                s[m] = _mm512_dpbusd_epi32(s[m], lo, _mm512_set1_epi32(q0));
                s[m] = _mm512_dpbusd_epi32(s[m], hi, _mm512_set1_epi32(q1));
            }
        }
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)blk));
#pragma GCC unroll 8
        for (int m = 0; m < MB; m++) {
            __m512 dx = _mm512_set1_ps(act_at(x, xs, m, nbp).d[b * 8]);
            acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[m]), _mm512_mul_ps(dw, dx), acc[m]);
        }
    }
#pragma GCC unroll 8
    for (int m = 0; m < MB; m++)
        _mm512_storeu_ps(y + (size_t)m * (size_t)ldy, acc[m]);
}

MG_X16_CHUNK(chunk_q8x16, group_q8x16)
MG_X16_CHUNK(chunk_q4x16, group_q4x16)
MG_GEMM_X16(gemm_q8_0x16, chunk_q8x16)
MG_GEMM_X16(gemm_q4_0x16, chunk_q4x16)

/* ---- activation quantizers (bit-identical to the reference ones) ------------------ */

/* One block of 32 activations (zeros when x is NULL) scaled so its largest magnitude is
 * qmax and rounded: the integers in i[0], i[1], the scale in *dd. The same clamp as
 * the reference quantizers (only non-finite inputs differ: garbage in, garbage out). */
INLINE void block_to_int(const float *x, float qmax, __m512i i[2], float *dd) {
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
    __m512 v0 = x ? _mm512_loadu_ps(x) : _mm512_setzero_ps(), v1 = x ? _mm512_loadu_ps(x + 16) : _mm512_setzero_ps();
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(v0, absmask), _mm512_and_ps(v1, absmask))), id = 0;
    *dd = 0;
    if (amax >= 1e-30f) {
        *dd = amax / qmax;
        id = qmax / amax;
    }
    const __m512 hi = _mm512_set1_ps(qmax), lo = _mm512_set1_ps(-qmax), idv = _mm512_set1_ps(id);
    i[0] = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v0, idv), lo), hi));
    i[1] = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v1, idv), lo), hi));
}

static void quantize_act(const float *x, int64_t n, void *dst, int corr_mult) {
    int64_t nb = n / MG_QK, nbp = (nb + 1) & ~(int64_t)1;
    int8_t *q = dst;
    float *d = (float *)(q + nbp * MG_QK);
    int32_t *c = (int32_t *)(d + nbp * 8);
    for (int64_t b = 0; b < nbp; b++) {
        __m512i i[2];
        float dd;
        block_to_int(b < nb ? x + b * MG_QK : NULL, 127.0f, i, &dd);
        _mm_storeu_si128((__m128i *)(q + b * MG_QK), _mm512_cvtepi32_epi8(i[0]));
        _mm_storeu_si128((__m128i *)(q + b * MG_QK + 16), _mm512_cvtepi32_epi8(i[1]));
        int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(i[0], i[1]));
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
        __m512i i[2];
        block_to_int(x + b * MG_QK, 32767.0f, i, &d[b]);
        _mm256_storeu_si256((__m256i *)(q + b * MG_QK), _mm512_cvtepi32_epi16(i[0]));
        _mm256_storeu_si256((__m256i *)(q + b * MG_QK + 16), _mm512_cvtepi32_epi16(i[1]));
    }
    mg_act_q16_pad(d, nb);
}

int mg_matmul_kernel_avx512(mg_dtype t, mg_kernel *k) {
    mg_kernel z = {0};
    *k = z;
    switch (t) {
    case MG_DT_F32: k->gemm = gemm_f32; break;
    case MG_DT_F16: k->gemm = gemm_f16; break;
    case MG_DT_BF16: k->gemm = gemm_bf16; break;
    case MG_DT_Q8_0:
        k->gemm = gemm_q8_0; /* f32 activations: no quantizer */
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

#else /* compiled without the AVX-512 flags (e.g. -DMG_NATIVE=OFF toolchains): no kernels */

int mg_matmul_kernel_avx512(mg_dtype t, mg_kernel *k) {
    (void)t;
    mg_kernel z = {0};
    *k = z;
    return 0;
}

#endif
