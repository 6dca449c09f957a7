/* matmul_tiling.h — the part of every ISA's matmul kernels that is the same: walking
 * the weight rows and activation rows in tiles, instantiating the ISA's tile() with
 * compile-time tile shapes, and the per-format entry points (mg_gemm_fn).
 *
 * Included once, at the end of the kernels, by matmul_<isa>.c, which first defines
 *   INLINE void tile(int fmt, const uint8_t *w, size_t ws, const void *x, size_t xs,
 *                    int64_t n, float *y, int64_t ldy, const int R, const int MB);
 *   MG_TILE_MAX_MB       activation rows per tile: 4 or 8
 *   MG_TILE_MAX_R        the most weight rows any tile takes: 2 or 4
 *   MG_TILE_ROWS(fmt, M) weight rows per tile for a format and M activation rows
 *                        (1, 2 or 4, at most MAX_R)
 * and the FMT_* format enum. The last rows of a matrix take smaller tiles. Every
 * output is computed by the same operations in any tile shape, so none of this changes
 * results. */
#ifndef MG_TENSOR_MATMUL_TILING_H
#define MG_TENSOR_MATMUL_TILING_H

#if MG_TILE_MAX_R >= 4
#define MG_TILE_R4(mb)                                  \
    if (R == 4) {                                       \
        tile(fmt, w, ws, x, xs, n, y, ldy, 4, mb);      \
        break;                                          \
    }
#else
#define MG_TILE_R4(mb)
#endif

/* One tile of R (4, 2 or 1) weight rows x MB activation rows. */
INLINE void tile_rmb(int fmt, const uint8_t *w, size_t ws, int R, const uint8_t *x, size_t xs, int MB, int64_t n,
                     float *y, int64_t ldy) {
#define MG_TILE_CASE(mb)                                \
    case mb:                                            \
        MG_TILE_R4(mb)                                  \
        if (R == 2)                                     \
            tile(fmt, w, ws, x, xs, n, y, ldy, 2, mb);  \
        else                                            \
            tile(fmt, w, ws, x, xs, n, y, ldy, 1, mb);  \
        break;
    switch (MB) {
        MG_TILE_CASE(1)
        MG_TILE_CASE(2)
        MG_TILE_CASE(3)
        MG_TILE_CASE(4)
#if MG_TILE_MAX_MB > 4
        MG_TILE_CASE(5)
        MG_TILE_CASE(6)
        MG_TILE_CASE(7)
        MG_TILE_CASE(8)
#endif
    default: break;
    }
#undef MG_TILE_CASE
}
#undef MG_TILE_R4

INLINE void gemm_fmt(int fmt, const uint8_t *w, size_t ws, int64_t rows, const void *xv, size_t xs, int64_t M,
                     int64_t n, float *y, int64_t ldy) {
    const uint8_t *x = xv;
    const int tile_rows = MG_TILE_ROWS(fmt, M);
    int64_t r = 0;
    while (r < rows) {
        int R = rows - r >= tile_rows ? tile_rows : rows - r >= 2 ? 2 : 1;
        for (int64_t m0 = 0; m0 < M; m0 += MG_TILE_MAX_MB) {
            int MB = M - m0 < MG_TILE_MAX_MB ? (int)(M - m0) : MG_TILE_MAX_MB;
            tile_rmb(fmt, w + (size_t)r * ws, ws, R, x + (size_t)m0 * xs, xs, MB, n, y + m0 * ldy + r, ldy);
        }
        r += R;
    }
}

#define MG_GEMM(name, fmt)                                                                                   \
    static void name(const uint8_t *w, size_t ws, int64_t rows, const void *x, size_t xs, int64_t M, int64_t n, \
                     float *y, int64_t ldy) {                                                                \
        gemm_fmt(fmt, w, ws, rows, x, xs, M, n, y, ldy);                                                     \
    }
MG_GEMM(gemm_f32, FMT_F32)
MG_GEMM(gemm_f16, FMT_F16)
MG_GEMM(gemm_bf16, FMT_BF16)
MG_GEMM(gemm_q8_0, FMT_Q8)
MG_GEMM(gemm_q4_0, FMT_Q4)
#undef MG_GEMM

/* The x16 formats (tensor.h): every 16-row group against the activation rows in chunks
 * of at most MG_TILE_MAX_MB. The ISA file defines, after its group kernel, a chunk
 * function per format
 *   INLINE void chunk(const uint8_t *g, const uint8_t *x, size_t xs, int64_t nb,
 *                     float *y, int64_t ldy, int mb);
 * (y[m * ldy + i] = row i of group g . activation row m, i < 16, m < mb), either by
 * hand or with MG_X16_CHUNK from a group kernel taking the row count as its last
 * argument, and then writes MG_GEMM_X16(entry point name, chunk). */
#define MG_GEMM_X16(name, chunk)                                                                                  \
    static void name(const uint8_t *w, size_t ws, int64_t rows, const void *xv, size_t xs, int64_t M, int64_t n, \
                     float *y, int64_t ldy) {                                                                    \
        const uint8_t *x = xv;                                                                                   \
        for (int64_t r = 0; r + MG_X16_ROWS <= rows; r += MG_X16_ROWS)                                           \
            for (int64_t m0 = 0; m0 < M; m0 += MG_TILE_MAX_MB)                                                   \
                chunk(w + (size_t)r * ws, x + (size_t)m0 * xs, xs, n / MG_QK, y + m0 * ldy + r, ldy,             \
                      M - m0 < MG_TILE_MAX_MB ? (int)(M - m0) : MG_TILE_MAX_MB);                                  \
    }

/* chunk(...) calling group(..., mb) with mb a compile-time constant (1..MG_TILE_MAX_MB;
 * larger counts never arrive, they only keep every instantiation within bounds). */
#define MG_X16_MB(k) ((k) <= MG_TILE_MAX_MB ? (k) : MG_TILE_MAX_MB)
#define MG_X16_CHUNK(chunk, group)                                                                              \
    INLINE void chunk(const uint8_t *g, const uint8_t *x, size_t xs, int64_t nb, float *y, int64_t ldy, int mb) { \
        switch (mb) {                                                                                           \
        case 1: group(g, x, xs, nb, y, ldy, 1); break;                                                          \
        case 2: group(g, x, xs, nb, y, ldy, MG_X16_MB(2)); break;                                               \
        case 3: group(g, x, xs, nb, y, ldy, MG_X16_MB(3)); break;                                               \
        case 4: group(g, x, xs, nb, y, ldy, MG_X16_MB(4)); break;                                               \
        case 5: group(g, x, xs, nb, y, ldy, MG_X16_MB(5)); break;                                               \
        case 6: group(g, x, xs, nb, y, ldy, MG_X16_MB(6)); break;                                               \
        case 7: group(g, x, xs, nb, y, ldy, MG_X16_MB(7)); break;                                               \
        default: group(g, x, xs, nb, y, ldy, MG_X16_MB(8)); break;                                              \
        }                                                                                                       \
    }

#endif
