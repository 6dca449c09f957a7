/* matmul.h — the one matrix product every model stage uses.
 *
 *   Y[m, r] = sum_c X[m, c] * W[r, c]  (+ bias[r])       m < M, r < W->rows
 *
 * W is a weight matrix in any compute format (f32/f16/bf16/q8_0/q4_0), X and Y are
 * f32 with leading dimensions ldx / ldy. Work is split across the pool in fixed
 * chunks of output rows, and each Y element is one dot product in a fixed order, so
 * the result does not depend on the thread count. Which kernel runs (scalar, AVX2,
 * AVX-512, NEON) is decided once from the CPU's features.
 */
#ifndef MG_TENSOR_MATMUL_H
#define MG_TENSOR_MATMUL_H

#include "base/pool.h"
#include "tensor/tensor.h"

void mg_matmul(mg_pool *pool, const mg_matrix *W, const float *X, int64_t M, int64_t ldx,
               float *Y, int64_t ldy, const float *bias);

/* Dot products of one weight row against M activation rows: y[m * ldy] = W_row . x_m.
 * The per-format kernel contract; exposed for tests and benchmarks. */
typedef void (*mg_rowdot_fn)(const void *w_row, const float *X, int64_t M, int64_t ldx,
                             int64_t n, float *y, int64_t ldy);

typedef enum mg_isa { MG_ISA_SCALAR = 0, MG_ISA_AVX2, MG_ISA_AVX512, MG_ISA_NEON } mg_isa;

/* Best ISA this CPU supports, and the one in use (overridable with $MG_ISA=scalar|avx2|avx512). */
mg_isa mg_isa_detect(void);
mg_isa mg_isa_active(void);
const char *mg_isa_name(mg_isa isa);
/* Kernel of `isa` for format `t` (NULL if that ISA lacks it); used by kernel tests. */
mg_rowdot_fn mg_rowdot_kernel(mg_isa isa, mg_dtype t);

#endif
