/* tensor.h — number formats, tensor views and weight matrices.
 *
 * A mg_tensor is a non-owning view: dtype, PyTorch-order shape, pointer (usually into
 * an mmapped weight file). A mg_matrix is a 2-D weight ready for the matmul kernels
 * ([rows = out features, cols = in features], row-major like nn.Linear), in one of
 * the compute formats: f32, f16, bf16, q8_0 or q4_0 (ggml block layouts: 32 values
 * per block with one f16 scale), or q8_0x16 / q4_0x16 (the same blocks with 16 rows
 * stored together for the integer kernels; see below).
 */
#ifndef MG_TENSOR_TENSOR_H
#define MG_TENSOR_TENSOR_H

#include "musicgen.h" /* mg_weight_type */

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
    MG_DT_Q8_0X16, /* q8_0 stored in groups of 16 rows (below) */
    MG_DT_Q4_0X16, /* q4_0 stored in groups of 16 rows (below) */
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

/* The 16-row groups ("x16"): the same blocks and bytes as q8_0 / q4_0 (a row still
 * "is" row_bytes long, so group g starts at row 16g), but each group of 16 rows is
 * stored block by block. Block b of a group starts with the 16 rows' f16 scales
 * (32 bytes), then holds the 16 rows' values of columns 32b .. 32b+31:
 *   q8_0x16: 16 pairs of columns (32b + 2j, +1), each pair holding row 0's two values,
 *            row 1's, ... row 15's (32 bytes per pair, 544 bytes per block). One 32-byte
 *            load is a 16-row x 2-column tile that SIMD kernels widen to 16-bit and
 *            multiply with a broadcast pair of activations (vpdpwssd).
 *   q4_0x16: four 64-byte pieces, piece p for columns 32b + 8p .. +7: byte 4i + j
 *            (row i, j < 4) holds column 8p + j in its low nibble and 8p + 4 + j in its
 *            high nibble (288 bytes per block). One 64-byte load, masked and shifted, is
 *            two 16-row x 4-column tiles of unsigned bytes in 32-bit lanes: the operand
 *            of a VNNI dot product with 4 broadcast 8-bit activations (vpdpbusd).
 * Both need a fraction of the arithmetic per weight of a row-by-row kernel, so a
 * memory-bound step streams at the machine's bandwidth. Matrices in these formats have
 * rows % 16 == 0; `musicgen quantize` writes them wherever a matrix allows. */
#define MG_X16_ROWS 16
#define MG_Q8X16_BLOCK_BYTES (MG_X16_ROWS * sizeof(mg_block_q8_0)) /* one block of 16 rows */
#define MG_Q4X16_BLOCK_BYTES (MG_X16_ROWS * sizeof(mg_block_q4_0))

const char *mg_dtype_name(mg_dtype t);
/* The format a public mg_weight_type names; MG_DT_COUNT (keep what is stored) for
 * MG_WEIGHT_AUTO, MG_WEIGHT_AUTO_F16 (whose f32 -> f16 is the store's f32_as_f16) and
 * anything else. */
mg_dtype mg_dtype_of_weight_type(mg_weight_type w);
/* Bytes of one row of `n` values (n must be a multiple of MG_QK for block formats). */
size_t mg_dtype_row_bytes(mg_dtype t, int64_t n);
int mg_dtype_is_block(mg_dtype t);
/* A format weights can be stored in: f32, f16, bf16, q8_0, q4_0, q8_0x16, q4_0x16. */
int mg_dtype_is_weight(mg_dtype t);
/* The 16-row grouped formats: is t one, its block format (q8_0x16 -> q8_0; any other
 * t -> t), and the grouped format of a block format (q8_0 -> q8_0x16; others -> t). */
int mg_dtype_is_x16(mg_dtype t);
mg_dtype mg_dtype_x16_base(mg_dtype t);
mg_dtype mg_dtype_x16_of(mg_dtype t);
/* Bytes of one block of a 16-row group of x16 format t (16 blocks of its block format). */
size_t mg_x16_block_bytes(mg_dtype t);

/* Matrices of fewer values than this stay f32 when a block format is asked for: the
 * bytes quantizing one would save (< 1 MiB) are not worth its rounding (the issue
 * allows "small tensors may stay f16", as llama.cpp keeps small 2-D weights f32).
 * Every matrix of the released MusicGen checkpoints has >= 1024 x 1024 values, so
 * this only concerns toy models (the test fixtures), whose greedy codes are a lottery
 * under any rounding, f16's included. `musicgen quantize --pure` turns it off. */
#define MG_SMALL_MATRIX_VALUES ((int64_t)1 << 18)
/* 1 if a [rows, cols] table stays in full precision when a block format is asked for:
 * it is small (above) and quantize_small (`quantize --pure`) is not set. */
static inline int mg_matrix_stays_whole(int64_t rows, int64_t cols, int quantize_small) {
    return !quantize_small && rows * cols < MG_SMALL_MATRIX_VALUES;
}
/* The format a decoder [rows, cols] matrix gets when it is converted and `want` is
 * asked for: a block format keeps small matrices (above, unless quantize_small) f32,
 * falls back to f16 when rows are not a multiple of MG_QK long, and is stored in
 * 16-row groups (q8_0x16 / q4_0x16) when rows % 16 == 0. Other formats: `want`. */
mg_dtype mg_matrix_format(mg_dtype want, int64_t rows, int64_t cols, int quantize_small);
/* The same for the text side (T5, enc_to_dec_proj), which is never quantized: its
 * error reaches every decoder step through cross-attention. f32 stays f32, every
 * other format gives f16, except that a block format keeps small matrices f32 as the
 * decoder's. MG_DT_COUNT (keep the stored format) passes through. */
mg_dtype mg_text_matrix_format(mg_dtype want, int64_t rows, int64_t cols, int quantize_small);
/* The format of an embedding table [rows, cols] stored as `stored` when `want` is asked
 * for (`musicgen quantize` and conversions on load alike): a block format keeps T5's
 * table (`text`) and small decoder ones as stored (f32 unless a 16-bit format),
 * and makes the decoder's others f16; f32, f16 and bf16 give themselves. MG_DT_COUNT
 * (keep the stored format) gives `stored`. */
mg_dtype mg_embedding_format(mg_dtype want, mg_dtype stored, int64_t rows, int64_t cols, int text, int quantize_small);

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
/* Convert n f32 values to `t` (block formats need n % MG_QK == 0). Neither handles
 * the x16 formats, whose rows are not contiguous: use the matrix functions below. */
void mg_row_from_f32(mg_dtype t, const float *src, void *dst, int64_t n);

/* Row r of a matrix of n-value rows stored in format t, as f32 (any format). */
void mg_matrix_row_to_f32(mg_dtype t, const void *data, int64_t r, float *dst, int64_t n);
/* x rounded to 16-bit format t (f16 or bf16) and back, in place, as mg_row_from_f32
 * rounds; any other t leaves x alone. */
void mg_round_through(mg_dtype t, float *x, int64_t n);
/* `rows` rows of n f32 values into format t (x16 formats: rows % 16 == 0). */
void mg_matrix_from_f32(mg_dtype t, const float *src, void *dst, int64_t rows, int64_t n);
/* x16 format t <-> its block format: 16 consecutive rows of n values in the block
 * format into one group, and blocks b0 .. b0+nblk-1 of row i of a group back to blocks
 * of the block format (mg_block_q8_0 / mg_block_q4_0 at dst). */
void mg_x16_pack(mg_dtype t, const void *rows16, void *group, int64_t n);
void mg_x16_unpack(mg_dtype t, const void *group, int i, int64_t b0, int64_t nblk, void *dst);

#endif
