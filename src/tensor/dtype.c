/* dtype.c — number-format names, sizes and scalar conversions between f32, f16,
 * bf16, q8_0 and q4_0 (the ggml block formats). These are the reference
 * implementations that SIMD kernels are tested against. */
#include "tensor/tensor.h"

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
    default: return "?";
    }
}

int mg_dtype_is_block(mg_dtype t) { return t == MG_DT_Q8_0 || t == MG_DT_Q4_0; }

size_t mg_dtype_row_bytes(mg_dtype t, int64_t n) {
    switch (t) {
    case MG_DT_F32: return (size_t)n * 4;
    case MG_DT_F16:
    case MG_DT_BF16: return (size_t)n * 2;
    case MG_DT_Q8_0: return (size_t)(n / MG_QK) * sizeof(mg_block_q8_0);
    case MG_DT_Q4_0: return (size_t)(n / MG_QK) * sizeof(mg_block_q4_0);
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

static void quantize_q8_0(const float *x, mg_block_q8_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / MG_QK; i++) {
        float amax = 0;
        for (int j = 0; j < MG_QK; j++)
            amax = fmaxf(amax, fabsf(x[i * MG_QK + j]));
        float d = amax / 127.0f;
        float id = d ? 1.0f / d : 0.0f;
        y[i].d = mg_f32_to_f16(d);
        for (int j = 0; j < MG_QK; j++)
            y[i].qs[j] = (int8_t)roundf(x[i * MG_QK + j] * id);
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

void mg_row_from_f32(mg_dtype t, const float *src, void *dst, int64_t n) {
    switch (t) {
    case MG_DT_F32:
        memcpy(dst, src, (size_t)n * 4);
        break;
    case MG_DT_F16: {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++)
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
