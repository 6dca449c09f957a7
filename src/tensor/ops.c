/* ops.c — scalar reference implementations of the small ops in ops.h, written to
 * follow PyTorch's float32 arithmetic closely (two-pass mean/variance, erf GELU). */
#include "tensor/ops.h"
#include "tensor/clones.h"
#include "tensor/isa.h"

#include <math.h>

void mg_gelu_avx2(float *x, int64_t n);
void mg_gelu_avx512(float *x, int64_t n);
void mg_softmax_avx2(float *x, int64_t n);
void mg_softmax_avx512(float *x, int64_t n);

/* Sums of x and of (x - c)^2 over 16 interleaved f32 partial sums: a fixed order
 * the compiler vectorizes (a decoder step runs 73 layer norms one after the other;
 * one serial double chain took ~3 us per 1024 values). Two passes (mean, then the
 * deviations) keep f32 as accurate as the reference's own f32 reductions. */
static float sum_f32(const float *x, int64_t n) {
    float p[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++)
            p[j] += x[i + j];
    float t = 0;
    for (int j = 0; j < 16; j++)
        t += p[j];
    for (; i < n; i++)
        t += x[i];
    return t;
}

static float sum_sq_dev_f32(const float *x, int64_t n, float c) {
    float p[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++)
            p[j] += (x[i + j] - c) * (x[i + j] - c);
    float t = 0;
    for (int j = 0; j < 16; j++)
        t += p[j];
    for (; i < n; i++)
        t += (x[i] - c) * (x[i] - c);
    return t;
}

MG_CPU_CLONES void mg_layer_norm(const float *x, float *y, int64_t n, const float *w, const float *b, float eps) {
    float mean = sum_f32(x, n) / (float)n;
    float var = sum_sq_dev_f32(x, n, mean) / (float)n;
    float inv = 1.0f / sqrtf(var + eps);
    for (int64_t i = 0; i < n; i++)
        y[i] = (x[i] - mean) * inv * w[i] + (b ? b[i] : 0.0f);
}

void mg_rms_norm(const float *x, float *y, int64_t n, const float *w, float eps) {
    double ss = 0;
    for (int64_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float inv = (float)(1.0 / sqrt(ss / (double)n + eps));
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] * inv * w[i];
}

void mg_gelu(float *x, int64_t n) {
#if defined(__x86_64__)
    mg_isa isa = mg_isa_active();
    if (isa == MG_ISA_AVX512) {
        mg_gelu_avx512(x, n);
        return;
    }
    if (isa == MG_ISA_AVX2) {
        mg_gelu_avx2(x, n);
        return;
    }
#endif
    mg_gelu_ref(x, n);
}

void mg_gelu_ref(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void mg_relu(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        x[i] = x[i] > 0 ? x[i] : 0;
}

void mg_elu(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        x[i] = x[i] > 0 ? x[i] : expm1f(x[i]);
}

void mg_softmax(float *x, int64_t n) {
#if defined(__x86_64__)
    mg_isa isa = mg_isa_active();
    if (isa == MG_ISA_AVX512) {
        mg_softmax_avx512(x, n);
        return;
    }
    if (isa == MG_ISA_AVX2) {
        mg_softmax_avx2(x, n);
        return;
    }
#endif
    mg_softmax_ref(x, n);
}

void mg_softmax_ref(float *x, int64_t n) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

MG_CPU_CLONES void mg_add(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}
