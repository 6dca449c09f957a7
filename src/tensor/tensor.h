/* tensor.h — number formats, tensor views and weight matrices.
 *
 * A mg_tensor is a non-owning view: dtype, PyTorch-order shape, pointer (usually into
 * an mmapped weight file). A mg_matrix is a 2-D weight ready for the matmul kernels
 * ([rows = out features, cols = in features], row-major like nn.Linear), in one of
 * the compute formats: f32, f16, bf16, q8_0 or q4_0 (ggml block layouts: 32 values
 * per block with one f16 scale).
 */
#ifndef MG_TENSOR_TENSOR_H
#define MG_TENSOR_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum mg_dtype {
    MG_DT_F32 = 0,
    MG_DT_F16,
    MG_DT_BF16,
    MG_DT_Q8_0,
    MG_DT_Q4_0,
    MG_DT_I64,
    MG_DT_I32,
    MG_DT_COUNT
} mg_dtype;

#define MG_QK 32 /* values per quantization block */

typedef struct {
    uint16_t d;       /* f16 scale */
    int8_t qs[MG_QK]; /* values = d * qs[i] */
} mg_block_q8_0;

typedef struct {
    uint16_t d;              /* f16 scale */
    uint8_t qs[MG_QK / 2];   /* value i (i < 16) in low nibble of qs[i], i+16 in high; (q - 8) * d */
} mg_block_q4_0;

const char *mg_dtype_name(mg_dtype t);
/* Bytes of one row of `n` values (n must be a multiple of MG_QK for block formats). */
size_t mg_dtype_row_bytes(mg_dtype t, int64_t n);
int mg_dtype_is_block(mg_dtype t);

#define MG_MAX_DIMS 4
typedef struct mg_tensor {
    mg_dtype dtype;
    int ndim;
    int64_t shape[MG_MAX_DIMS];
    const void *data;
    size_t nbytes;
} mg_tensor;

int64_t mg_tensor_numel(const mg_tensor *t);

typedef struct mg_matrix {
    mg_dtype dtype;
    int64_t rows, cols;
    size_t row_bytes;
    const void *data;
} mg_matrix;

/* Scalar conversions (IEEE half with round-to-nearest-even, bf16 by rounding). */
float mg_f16_to_f32(uint16_t h);
uint16_t mg_f32_to_f16(float f);
float mg_bf16_to_f32(uint16_t h);
uint16_t mg_f32_to_bf16(float f);

/* Convert n values of `src` (any float or block format) to f32. */
void mg_row_to_f32(mg_dtype t, const void *src, float *dst, int64_t n);
/* Convert n f32 values to `t` (block formats need n % MG_QK == 0). */
void mg_row_from_f32(mg_dtype t, const float *src, void *dst, int64_t n);

#endif
