/* matmul.h — the one matrix product every model stage uses.
 *
 *   Y[m, r] = sum_c X[m, c] * W[r, c]  (+ bias[r])       m < M, r < W->rows
 *
 * W is a weight matrix in any compute format (f32/f16/bf16/q8_0/q4_0/q8_0x16/q4_0x16), X and Y are
 * f32 with leading dimensions ldx / ldy (Y must not overlap X). Work is split across
 * the pool in fixed chunks of output rows, and each Y element is one dot product whose
 * operations depend only on its weight row and activation row (never on the chunk,
 * the tile or the thread count), so results are identical for any thread count.
 * Which kernels run (scalar, AVX2, AVX-512, NEON) is decided once from the CPU's
 * features (tensor/isa.h); $MG_ISA=scalar|avx2|avx512|neon steps down for tests and comparisons.
 *
 * Kernels (see docs/kernels.md): a kernel computes a block of outputs
 *   y[m * ldy + r] = W_r . x_m      r < rows, m < M
 * for consecutive weight rows at once, so each weight byte is loaded once per call
 * and reused for all M activation rows while it sits in registers. Float formats read
 * the f32 activations directly. The SIMD kernels for q8_0 / q4_0 instead take
 * activations quantized once per matmul to 8-bit blocks (the ggml way; see
 * mg_act_q8_bytes) and use integer dot products, which is what lets a memory-bound
 * decoder step stream quantized weights near memory bandwidth; q8_0x16 (q8_0 in
 * 16-row groups, tensor.h) takes 16-bit activations (mg_act_q16_bytes), as precise as
 * f32 for this purpose, and needs a third of q8_0's arithmetic per weight; q4_0x16
 * takes 8-bit activations like q4_0, four columns of 16 rows per VNNI step. The scalar
 * kernels are the reference: they expand weights to f32 and use f32 activations.
 */
#ifndef MG_TENSOR_MATMUL_H
#define MG_TENSOR_MATMUL_H

#include "base/pool.h"
#include "tensor/activation.h"
#include "tensor/isa.h"
#include "tensor/tensor.h"

void mg_matmul(mg_pool *pool, const mg_matrix *W, const float *X, int64_t M, int64_t ldx,
               float *Y, int64_t ldy, const float *bias);

/* One product of a group: Y = X W^T (+ bias), then the activation `act` on Y (0 =
 * MG_ACT_NONE: none). */
typedef struct mg_matmul_op {
    const mg_matrix *W;
    const float *X;
    int64_t ldx;
    float *Y;
    int64_t ldy;
    const float *bias;
    mg_act act;
} mg_matmul_op;

#define MG_MATMUL_GROUP_MAX 8

/* n products over the same number M of activation rows, as one job of the pool: a
 * decoder step's Q/K/V projections or its lm heads pay for one fork-join instead of
 * one each, and the threads' finishing times even out over the whole group. Results
 * are bit-identical to mg_matmul for each product (then mg_activate over its rows); many
 * activation rows simply run the products one after the other. */
void mg_matmul_group(mg_pool *pool, const mg_matmul_op *ops, int n, int64_t M);

/* The job posted next on `pool` is followed by products of these matrices: threads
 * that finish it early start streaming their weights (mg_pool_prefetch_after). */
void mg_matmul_prefetch_after(mg_pool *pool, const mg_matrix *const *W, int n);


/* ---- kernel contract (for the ISA files, tests and benchmarks) ------------------ */

/* y[m * ldy + r] = W_r . x_m for r < rows, m < M. `w` is the first weight row and
 * w_stride the bytes between rows; `x` the first activation row (f32 values, or a
 * quantized activation row, see below) and x_stride the bytes between rows; n the
 * values per row. */
typedef void (*mg_gemm_fn)(const uint8_t *w, size_t w_stride, int64_t rows, const void *x,
                           size_t x_stride, int64_t M, int64_t n, float *y, int64_t ldy);

/* Quantized activation row, for the integer kernels (q4_0 and q4_0x16 everywhere, q8_0
 * on AVX2 and NEON; the AVX-512 q8_0 kernel multiplies exact f32 activations). n values
 * (n % 32 == 0) in blocks of 32, padded to an even number of blocks nbp, laid out for
 * aligned SIMD loads (64-byte aligned rows of mg_act_q8_bytes(n) bytes):
 *   int8_t  q[nbp * 32]   q = round-half-even(x / d), |q| <= 127
 *   float   d[nbp * 8]    the block's scale d = max|x| / 127, repeated 8 times
 *   int32_t c[nbp * 8]    the block's corr_mult * sum(q), repeated 8 times
 * The per-lane copies of d and c let a kernel use them as vector operands directly (a
 * 256-bit lane group of 8 int32 partial sums covers one block). c is the correction a
 * kernel needs when it feeds weights as unsigned bytes (q8 + 128, or a q4 nibble 0..15):
 * sum((w + o) * q) - o * sum(q); corr_mult is -o divided by the lanes one block's sum is
 * spread over (q4_0: 8 lanes, -1; q4_0x16: one lane per row, -8). Padding blocks are all
 * zero. */
size_t mg_act_q8_bytes(int64_t n);
typedef void (*mg_act_quant_fn)(const float *x, int64_t n, void *dst, int corr_mult);
/* The reference quantizer; every SIMD quantizer must produce identical bytes. */
void mg_act_q8_quantize_ref(const float *x, int64_t n, void *dst, int corr_mult);

/* 16-bit activation row, for the q8_0x16 kernels (64-byte aligned rows of
 * mg_act_q16_bytes(n) bytes; n % 32 == 0, nb = n / 32 blocks):
 *   int16_t q[nb * 32]    q = round-half-even(x / d), |q| <= 32767
 *   float   d[nb]         the block's scale d = max|x| / 32767 (then padding)
 * Its rounding error (2^-16 of the block's largest value) is ~250 times below the
 * weights' own, so these kernels agree with exact f32 activations for all practical
 * purposes, unlike 8-bit activations (docs/kernels.md). corr_mult is ignored. */
size_t mg_act_q16_bytes(int64_t n);
void mg_act_q16_quantize_ref(const float *x, int64_t n, void *dst, int corr_mult);
/* Where a 16-bit row's scales start, and their zero padding after the nb blocks (every
 * ISA's quantizer writes the values and scales, then calls this). */
static inline float *mg_act_q16_scales(void *dst, int64_t n) {
    return (float *)((int16_t *)dst + n / MG_QK * MG_QK);
}
static inline void mg_act_q16_pad(float *d, int64_t nb) {
    for (int64_t b = nb; b < ((nb + 15) & ~(int64_t)15); b++)
        d[b] = 0;
}

typedef struct mg_kernel {
    mg_gemm_fn gemm;           /* NULL: this ISA has no kernel for the format */
    mg_act_quant_fn quantize;  /* NULL: gemm reads f32 activations */
    int corr_mult;             /* passed to quantize */
    int act16;                 /* quantize writes 16-bit rows (mg_act_q16_bytes), else 8-bit */
} mg_kernel;

/* Bytes of one activation row as kernel k reads it (f32, or quantized). */
size_t mg_kernel_act_bytes(const mg_kernel *k, int64_t n);

/* Kernel of `isa` for weight format `t` (gemm NULL if that ISA lacks it or it is not
 * compiled in). */
mg_kernel mg_matmul_kernel(mg_isa isa, mg_dtype t);

/* Per-ISA tables (matmul_<isa>.c); fill *k and return 1 when the format is covered. */
int mg_matmul_kernel_avx2(mg_dtype t, mg_kernel *k);
int mg_matmul_kernel_avxvnni(mg_dtype t, mg_kernel *k); /* 0 if built without AVX-VNNI */
int mg_matmul_kernel_avx512(mg_dtype t, mg_kernel *k);
int mg_matmul_kernel_neon(mg_dtype t, mg_kernel *k);

#endif
