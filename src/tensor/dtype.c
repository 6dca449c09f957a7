/* dtype.c — number-format names, sizes and scalar conversions between f32, f16,
 * bf16, q8_0 and q4_0 (the ggml block formats), and the 16-row groupings q8_0x16 /
 * q4_0x16 (tensor.h). These are the reference implementations that SIMD kernels are
 * tested against. */
#include "tensor/tensor.h"
#include "tensor/isa.h"

#include <math.h>
#include <string.h>

const char *mg_dtype_name(mg_dtype t) {
    switch (t) {
    case MG_DT_F32: return "f32";
    case MG_DT_F16: return "f16";
    case MG_DT_BF16: return "bf16";
    case MG_DT_Q8_0: return "q8_0";
    case MG_DT_Q4_0: return "q4_0";
    case MG_DT_I64: return "i64";
    case MG_DT_I32: return "i32";
    case MG_DT_Q8_0X16: return "q8_0x16";
    case MG_DT_Q4_0X16: return "q4_0x16";
    default: return "?";
    }
}

mg_dtype mg_dtype_of_weight_type(mg_weight_type w) {
    switch (w) {
    case MG_WEIGHT_F32: return MG_DT_F32;
    case MG_WEIGHT_F16: return MG_DT_F16;
    case MG_WEIGHT_BF16: return MG_DT_BF16;
    case MG_WEIGHT_Q8_0: return MG_DT_Q8_0;
    case MG_WEIGHT_Q4_0: return MG_DT_Q4_0;
    default: return MG_DT_COUNT;
    }
}

int mg_dtype_is_block(mg_dtype t) { return t == MG_DT_Q8_0 || t == MG_DT_Q4_0 || mg_dtype_is_x16(t); }

int mg_dtype_is_x16(mg_dtype t) { return t == MG_DT_Q8_0X16 || t == MG_DT_Q4_0X16; }

mg_dtype mg_dtype_x16_base(mg_dtype t) { return t == MG_DT_Q8_0X16 ? MG_DT_Q8_0 : t == MG_DT_Q4_0X16 ? MG_DT_Q4_0 : t; }

mg_dtype mg_dtype_x16_of(mg_dtype t) { return t == MG_DT_Q8_0 ? MG_DT_Q8_0X16 : t == MG_DT_Q4_0 ? MG_DT_Q4_0X16 : t; }

mg_dtype mg_matrix_format(mg_dtype want, int64_t rows, int64_t cols, int quantize_small) {
    want = mg_dtype_x16_base(want);
    if (!mg_dtype_is_block(want))
        return want;
    if (mg_matrix_stays_whole(rows, cols, quantize_small))
        return MG_DT_F32;
    if (cols % MG_QK)
        return MG_DT_F16;
    return rows % MG_X16_ROWS == 0 ? mg_dtype_x16_of(want) : want;
}

mg_dtype mg_text_matrix_format(mg_dtype want, int64_t rows, int64_t cols, int quantize_small) {
    if (want == MG_DT_COUNT || want == MG_DT_F32)
        return want;
    if (mg_dtype_is_block(want) && mg_matrix_stays_whole(rows, cols, quantize_small))
        return MG_DT_F32;
    return MG_DT_F16;
}

mg_dtype mg_embedding_format(mg_dtype want, mg_dtype stored, int64_t rows, int64_t cols, int text, int quantize_small) {
    want = mg_dtype_x16_base(want);
    if (want == MG_DT_COUNT)
        return stored;
    if (mg_dtype_is_block(want) && (text || mg_matrix_stays_whole(rows, cols, quantize_small)))
        return stored == MG_DT_F16 || stored == MG_DT_BF16 ? stored : MG_DT_F32;
    return want == MG_DT_F32 ? MG_DT_F32 : want == MG_DT_BF16 ? MG_DT_BF16 : MG_DT_F16;
}

int mg_dtype_is_weight(mg_dtype t) { return t == MG_DT_F32 || t == MG_DT_F16 || t == MG_DT_BF16 || mg_dtype_is_block(t); }

size_t mg_dtype_row_bytes(mg_dtype t, int64_t n) {
    switch (t) {
    case MG_DT_F32: return (size_t)n * 4;
    case MG_DT_F16:
    case MG_DT_BF16: return (size_t)n * 2;
    case MG_DT_Q8_0:
    case MG_DT_Q8_0X16: return (size_t)(n / MG_QK) * sizeof(mg_block_q8_0);
    case MG_DT_Q4_0:
    case MG_DT_Q4_0X16: return (size_t)(n / MG_QK) * sizeof(mg_block_q4_0);
    case MG_DT_I64: return (size_t)n * 8;
    case MG_DT_I32: return (size_t)n * 4;
    default: return 0;
    }
}

int64_t mg_tensor_numel(const mg_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

float mg_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t mant = h & 0x3FF;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: normalize */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                exp--;
            }
            mant &= 0x3FF;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t mg_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7FFFFFFF;
    if (absx >= 0x7F800000) /* inf or nan */
        return (uint16_t)(sign | 0x7C00 | (absx > 0x7F800000 ? 0x200 : 0));
    if (absx >= 0x477FF000) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7C00);
    if (absx < 0x38800000) { /* below the smallest normal half: subnormal or zero */
        if (absx < 0x33000000)
            return (uint16_t)sign;
        uint32_t e = absx >> 23;
        uint32_t m = (absx & 0x7FFFFF) | 0x800000;
        int shift = 126 - (int)e; /* 14..24 */
        uint32_t half_m = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (half_m & 1)))
            half_m++;
        return (uint16_t)(sign | half_m);
    }
    uint32_t h = ((absx - 0x38000000) >> 13);
    uint32_t rem = absx & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

float mg_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t mg_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFF) > 0x7F800000) /* nan: keep it a quiet nan */
        return (uint16_t)((x >> 16) | 0x40);
    x += 0x7FFF + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

void mg_row_to_f32(mg_dtype t, const void *src, float *dst, int64_t n) {
    switch (t) {
    case MG_DT_F32:
        memcpy(dst, src, (size_t)n * 4);
        break;
    case MG_DT_F16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++)
            dst[i] = mg_f16_to_f32(s[i]);
        break;
    }
    case MG_DT_BF16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++)
            dst[i] = mg_bf16_to_f32(s[i]);
        break;
    }
    case MG_DT_Q8_0: {
        const mg_block_q8_0 *b = src;
        for (int64_t i = 0; i < n / MG_QK; i++) {
            float d = mg_f16_to_f32(b[i].d);
            for (int j = 0; j < MG_QK; j++)
                dst[i * MG_QK + j] = d * (float)b[i].qs[j];
        }
        break;
    }
    case MG_DT_Q4_0: {
        const mg_block_q4_0 *b = src;
        for (int64_t i = 0; i < n / MG_QK; i++) {
            float d = mg_f16_to_f32(b[i].d);
            for (int j = 0; j < MG_QK / 2; j++) {
                dst[i * MG_QK + j] = d * (float)((b[i].qs[j] & 0x0F) - 8);
                dst[i * MG_QK + j + MG_QK / 2] = d * (float)((b[i].qs[j] >> 4) - 8);
            }
        }
        break;
    }
    default:
        memset(dst, 0, (size_t)n * 4);
    }
}

/* roundf (halves away from zero) for |v| < 2^31, without the libm call GCC makes for
 * it (a third of the time of converting a checkpoint to q8_0): v minus its truncation is
 * exact, so comparing it with +-0.5 decides exactly as roundf does. */
static inline int round_half_away(float v) {
    int t = (int)v;
    float frac = v - (float)t;
    return t + (frac >= 0.5f) - (frac <= -0.5f);
}

static void quantize_q8_0(const float *x, mg_block_q8_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / MG_QK; i++) {
        float amax = 0;
        for (int j = 0; j < MG_QK; j++) {
            float a = fabsf(x[i * MG_QK + j]);
            amax = a > amax ? a : amax;
        }
        float d = amax / 127.0f;
        float id = d ? 1.0f / d : 0.0f;
        y[i].d = mg_f32_to_f16(d);
        for (int j = 0; j < MG_QK; j++)
            y[i].qs[j] = (int8_t)round_half_away(x[i * MG_QK + j] * id);
    }
}

static void quantize_q4_0(const float *x, mg_block_q4_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / MG_QK; i++) {
        /* ggml convention: the value of largest magnitude maps to -8. */
        float amax = 0, max = 0;
        for (int j = 0; j < MG_QK; j++) {
            float v = x[i * MG_QK + j];
            if (fabsf(v) > amax) {
                amax = fabsf(v);
                max = v;
            }
        }
        float d = max / -8.0f;
        float id = d ? 1.0f / d : 0.0f;
        y[i].d = mg_f32_to_f16(d);
        for (int j = 0; j < MG_QK / 2; j++) {
            float a = x[i * MG_QK + j] * id, b = x[i * MG_QK + j + MG_QK / 2] * id;
            int qa = (int)(a + 8.5f), qb = (int)(b + 8.5f);
            qa = qa < 0 ? 0 : qa > 15 ? 15 : qa;
            qb = qb < 0 ? 0 : qb > 15 ? 15 : qb;
            y[i].qs[j] = (uint8_t)(qa | (qb << 4));
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* f32 -> f16 eight at a time with F16C where the CPU has it (checkpoint conversions are
 * mostly this: T5 and embeddings become f16). Same bits as mg_f32_to_f16 (IEEE
 * round-to-nearest-even, overflow to inf, subnormal halves); a NaN ends the fast path
 * because F16C keeps NaN payload bits the scalar code drops. Returns values done. */
__attribute__((target("avx,f16c"))) static int64_t f32_to_f16_f16c(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(src + i);
        if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)))
            break;
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    }
    return i;
}

static int64_t f32_to_f16_fast(const float *src, uint16_t *dst, int64_t n) {
    mg_isa isa = mg_isa_active(); /* AVX2 and AVX-512 levels include F16C (isa.c) */
    return isa == MG_ISA_AVX2 || isa == MG_ISA_AVX512 ? f32_to_f16_f16c(src, dst, n) : 0;
}
#else
static int64_t f32_to_f16_fast(const float *src, uint16_t *dst, int64_t n) {
    (void)src;
    (void)dst;
    (void)n;
    return 0;
}
#endif

void mg_row_from_f32(mg_dtype t, const float *src, void *dst, int64_t n) {
    switch (t) {
    case MG_DT_F32:
        memcpy(dst, src, (size_t)n * 4);
        break;
    case MG_DT_F16: {
        uint16_t *d = dst;
        for (int64_t i = f32_to_f16_fast(src, d, n); i < n; i++)
            d[i] = mg_f32_to_f16(src[i]);
        break;
    }
    case MG_DT_BF16: {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++)
            d[i] = mg_f32_to_bf16(src[i]);
        break;
    }
    case MG_DT_Q8_0:
        quantize_q8_0(src, dst, n);
        break;
    case MG_DT_Q4_0:
        quantize_q4_0(src, dst, n);
        break;
    default:
        break;
    }
}

/* ---- q8_0x16 / q4_0x16 ------------------------------------------------------------- */

/* Byte offsets inside one 16-row block of a group (tensor.h): row i's scale, q8_0x16's
 * value k of row i, q4_0x16's byte j (< 4) of row i in piece p. */
static size_t x16_scale_at(int i) { return (size_t)i * 2; }
static size_t q8x16_value_at(int i, int k) {
    return 2 * MG_X16_ROWS + (size_t)(k / 2) * 2 * MG_X16_ROWS + (size_t)i * 2 + (size_t)(k & 1);
}
static size_t q4x16_byte_at(int i, int p, int j) { return 2 * MG_X16_ROWS + (size_t)p * 64 + (size_t)i * 4 + (size_t)j; }

/* Nibble k (value order, 0..31) of a q4_0 block. */
static int q4_nibble(const mg_block_q4_0 *b, int k) {
    return k < MG_QK / 2 ? b->qs[k] & 0x0F : b->qs[k - MG_QK / 2] >> 4;
}

size_t mg_x16_block_bytes(mg_dtype t) { return MG_X16_ROWS * mg_dtype_row_bytes(t, MG_QK); }

/* Row i's block (mg_block_q8_0 or mg_block_q4_0 at blk) into / out of one 16-row block
 * of a group. */
static void x16_put(mg_dtype t, uint8_t *gb, int i, const void *blk) {
    memcpy(gb + x16_scale_at(i), blk, 2); /* both block types start with the f16 scale */
    if (t == MG_DT_Q8_0X16) {
        const mg_block_q8_0 *b = blk;
        for (int k = 0; k < MG_QK; k++)
            gb[q8x16_value_at(i, k)] = (uint8_t)b->qs[k];
        return;
    }
    const mg_block_q4_0 *b = blk;
    for (int p = 0; p < 4; p++)
        for (int j = 0; j < 4; j++)
            gb[q4x16_byte_at(i, p, j)] = (uint8_t)(q4_nibble(b, 8 * p + j) | q4_nibble(b, 8 * p + 4 + j) << 4);
}

static void x16_get(mg_dtype t, const uint8_t *gb, int i, void *blk) {
    memcpy(blk, gb + x16_scale_at(i), 2);
    if (t == MG_DT_Q8_0X16) {
        mg_block_q8_0 *b = blk;
        for (int k = 0; k < MG_QK; k++)
            b->qs[k] = (int8_t)gb[q8x16_value_at(i, k)];
        return;
    }
    uint8_t nib[MG_QK];
    for (int p = 0; p < 4; p++)
        for (int j = 0; j < 4; j++) {
            uint8_t v = gb[q4x16_byte_at(i, p, j)];
            nib[8 * p + j] = v & 0x0F;
            nib[8 * p + 4 + j] = v >> 4;
        }
    mg_block_q4_0 *b = blk;
    for (int k = 0; k < MG_QK / 2; k++)
        b->qs[k] = (uint8_t)(nib[k] | nib[k + MG_QK / 2] << 4);
}

void mg_x16_pack(mg_dtype t, const void *rows16, void *group, int64_t n) {
    const int64_t nb = n / MG_QK;
    const size_t bsize = mg_dtype_row_bytes(t, MG_QK), gbytes = mg_x16_block_bytes(t);
    const uint8_t *src = rows16;
    uint8_t *g = group;
    for (int64_t b = 0; b < nb; b++, g += gbytes)
        for (int i = 0; i < MG_X16_ROWS; i++)
            x16_put(t, g, i, src + ((size_t)i * (size_t)nb + (size_t)b) * bsize);
}

void mg_x16_unpack(mg_dtype t, const void *group, int i, int64_t b0, int64_t nblk, void *dst) {
    const size_t bsize = mg_dtype_row_bytes(t, MG_QK), gbytes = mg_x16_block_bytes(t);
    const uint8_t *g = (const uint8_t *)group + (size_t)b0 * gbytes;
    for (int64_t b = 0; b < nblk; b++, g += gbytes)
        x16_get(t, g, i, (uint8_t *)dst + (size_t)b * bsize);
}

void mg_matrix_row_to_f32(mg_dtype t, const void *data, int64_t r, float *dst, int64_t n) {
    size_t row_bytes = mg_dtype_row_bytes(t, n);
    if (!mg_dtype_is_x16(t)) {
        mg_row_to_f32(t, (const uint8_t *)data + (size_t)r * row_bytes, dst, n);
        return;
    }
    const uint8_t *group = (const uint8_t *)data + (size_t)(r / MG_X16_ROWS) * MG_X16_ROWS * row_bytes;
    mg_block_q8_0 blk[8]; /* room for 8 blocks of either format */
    for (int64_t b0 = 0; b0 < n / MG_QK; b0 += 8) {
        int64_t nblk = n / MG_QK - b0 < 8 ? n / MG_QK - b0 : 8;
        mg_x16_unpack(t, group, (int)(r % MG_X16_ROWS), b0, nblk, blk);
        mg_row_to_f32(mg_dtype_x16_base(t), blk, dst + b0 * MG_QK, nblk * MG_QK);
    }
}

void mg_round_through(mg_dtype t, float *x, int64_t n) {
    if (t != MG_DT_F16 && t != MG_DT_BF16)
        return;
    uint16_t buf[256];
    for (int64_t i = 0; i < n; i += 256) {
        int64_t m = n - i < 256 ? n - i : 256;
        mg_row_from_f32(t, x + i, buf, m);
        mg_row_to_f32(t, buf, x + i, m);
    }
}

void mg_matrix_from_f32(mg_dtype t, const float *src, void *dst, int64_t rows, int64_t n) {
    size_t row_bytes = mg_dtype_row_bytes(t, n);
    if (!mg_dtype_is_x16(t)) {
        for (int64_t r = 0; r < rows; r++)
            mg_row_from_f32(t, src + r * n, (uint8_t *)dst + (size_t)r * row_bytes, n);
        return;
    }
    /* Quantize one row at a time into its place in the group (same bytes as the block
     * format). */
    const size_t bsize = mg_dtype_row_bytes(t, MG_QK), gbytes = mg_x16_block_bytes(t);
    mg_block_q8_0 blk[8];
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *g = (uint8_t *)dst + (size_t)(r / MG_X16_ROWS) * MG_X16_ROWS * row_bytes;
        int i = (int)(r % MG_X16_ROWS);
        for (int64_t b0 = 0; b0 < n / MG_QK; b0 += 8) {
            int64_t nblk = n / MG_QK - b0 < 8 ? n / MG_QK - b0 : 8;
            mg_row_from_f32(mg_dtype_x16_base(t), src + r * n + b0 * MG_QK, blk, nblk * MG_QK);
            for (int64_t b = 0; b < nblk; b++)
                x16_put(t, g + (size_t)(b0 + b) * gbytes, i, (const uint8_t *)blk + (size_t)b * bsize);
        }
    }
}
