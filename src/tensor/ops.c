/* ops.c — scalar reference implementations of the small ops in ops.h, written to
 * follow PyTorch's float32 arithmetic closely (two-pass mean/variance, erf GELU). */
#include "tensor/ops.h"
#include "tensor/matmul.h"

#include <math.h>

void mg_gelu_avx2(float *x, int64_t n);
void mg_gelu_avx512(float *x, int64_t n);
void mg_softmax_avx2(float *x, int64_t n);
void mg_softmax_avx512(float *x, int64_t n);

void mg_layer_norm(const float *x, float *y, int64_t n, const float *w, const float *b, float eps) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; i++)
        mean += x[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = x[i] - mean;
        var += d * d;
    }
    var /= (double)n;
    float inv = (float)(1.0 / sqrt(var + eps));
    float fm = (float)mean;
    for (int64_t i = 0; i < n; i++)
        y[i] = (x[i] - fm) * inv * w[i] + (b ? b[i] : 0.0f);
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

void mg_add(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}
