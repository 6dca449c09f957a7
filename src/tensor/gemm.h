/* gemm.h — cache-blocked, register-tiled f32 matrix product for large M (many
 * activation rows), as the convolutions and LSTM input projections of EnCodec need:
 *
 *   C[m, n] (+)= sum_k A[m, k] * B[k, n]  (+ bias[n])      m < M, n < N, k < K
 *
 * B is a weight, packed once at load time into column panels the micro-kernels read
 * linearly (mg_gemm_pack_b). A is given with any row stride `lda` — rows may overlap,
 * which is how a stride-s convolution over a time-major [T][C] signal passes its
 * im2col matrix without building it (row t starts at x + t*s*C).
 *
 * Work is split across the pool in fixed tiles of rows x columns; every C element is
 * summed over K in blocks of a fixed size, in a fixed order, so results do not depend
 * on the thread count (nor on how M is chunked by the caller). Which micro-kernel runs
 * (portable C, AVX2, AVX-512) is chosen at pack time from mg_isa_active().
 *
 * Not here: other number formats (weights are f32), transposed A, alpha/beta scaling.
 */
#ifndef MG_TENSOR_GEMM_H
#define MG_TENSOR_GEMM_H

#include "base/pool.h"
#include "base/status.h"

#include <stdint.h>

typedef struct mg_gemm_b {
    int64_t K, N;
    int nr;      /* panel width (columns per panel); 0 = narrow layout: B^T rows [N][K] */
    int isa;     /* mg_isa whose kernels the layout was packed for */
    float *data; /* owned, 64-byte aligned, zero padded to whole panels */
} mg_gemm_b;

/* Pack B[k][n] = src[k * rs + n * cs] (rs/cs: strides in floats). So a row-major [K][N]
 * matrix is (rs = N, cs = 1) and an nn.Linear weight [N][K] is (rs = 1, cs = K). */
mg_status mg_gemm_pack_b(mg_gemm_b *b, int64_t K, int64_t N, const float *src, int64_t rs, int64_t cs);
/* Same, for the kernels of a given mg_isa (tests; an ISA this build lacks falls back). */
mg_status mg_gemm_pack_b_isa(mg_gemm_b *b, int isa, int64_t K, int64_t N, const float *src, int64_t rs, int64_t cs);
void mg_gemm_b_free(mg_gemm_b *b);
/* Bytes held by a packed matrix. */
int64_t mg_gemm_b_bytes(const mg_gemm_b *b);

/* C = A*B (+bias), or C += A*B (+bias) when `accumulate`. bias may be NULL. */
void mg_gemm(mg_pool *pool, int64_t M, const float *A, int64_t lda, const mg_gemm_b *B, float *C, int64_t ldc,
             const float *bias, int accumulate);

/* Plain triple loop (double accumulation) over an unpacked B (same src/rs/cs convention);
 * the reference the kernels are tested against. */
void mg_gemm_ref(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *src, int64_t rs,
                 int64_t cs, float *C, int64_t ldc, const float *bias, int accumulate);

/* y[r] = W[r, :] . x for r < rows (W row-major with row stride ldw), single-threaded,
 * with the best kernel of the active ISA. The recurrent matrix-vector products of the
 * LSTM are built from this. */
void mg_gemv_rows(const float *W, int64_t ldw, int64_t rows, const float *x, int64_t n, float *y);

/* ---- kernel contract (gemm.c <-> gemm_<isa>.c) ------------------------------------ */

/* acc = A[0..MR) x Bp, row i of A at A + i * lda (kc values), Bp kc rows of a packed
 * panel [kc][NR]; then C[i][j] = (load ? C[i][j] : 0) + (acc[i][j] + (bias ? bias[j] : 0))
 * for the full MR x NR tile. acc sums over k in increasing order. */
typedef void (*mg_gemm_kernel_fn)(int64_t kc, const float *A, int64_t lda, const float *Bp, float *C, int64_t ldc,
                                  int load, const float *bias);
typedef struct mg_gemm_kernel {
    int mr, nr;
    mg_gemm_kernel_fn tile;
    /* dot product of n floats (used by the narrow path and gemv); NULL = portable */
    float (*dot)(const float *a, const float *b, int64_t n);
    /* 4 dot products of rows W, W+ldw, W+2ldw, W+3ldw with x; NULL = use dot */
    void (*dot4)(const float *W, int64_t ldw, const float *x, int64_t n, float *y);
} mg_gemm_kernel;

/* Kernels of one ISA (mr = 0 if this build/CPU has none). */
mg_gemm_kernel mg_gemm_kernel_for(int isa);

#endif
