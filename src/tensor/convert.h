/* convert.h — a weight matrix from its stored format into another, on all threads.
 *
 * Loading a float checkpoint as q8_0 / q4_0 / f16 (`--weight-type`) and `musicgen
 * quantize` both turn every matrix row into f32, check it is finite, and write it in
 * the wanted format (x16 formats 16 rows at a time). Rows are split into fixed chunks
 * across the pool, so the bytes are the same for any thread count.
 */
#ifndef MG_TENSOR_CONVERT_H
#define MG_TENSOR_CONVERT_H

#include "base/pool.h"
#include "tensor/tensor.h"

/* Where a non-finite value was found (the first one in row-major order). */
typedef struct mg_nonfinite {
    int64_t row, col;
    float value;
} mg_nonfinite;

typedef enum mg_convert_result { MG_CONVERT_OK = 0, MG_CONVERT_NONFINITE, MG_CONVERT_NOMEM } mg_convert_result;

/* Rows [r0, r0 + n) of `src` into dst (n rows of mg_dtype_row_bytes(want, cols) bytes;
 * x16 formats: r0 and n multiples of 16). pool may be NULL. On MG_CONVERT_NONFINITE,
 * *bad says where (rows counted from 0 of src) and dst holds garbage. */
mg_convert_result mg_convert_rows(mg_pool *pool, const mg_matrix *src, int64_t r0, int64_t n, mg_dtype want,
                                  void *dst, mg_nonfinite *bad);

#endif
