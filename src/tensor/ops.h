/* ops.h — element-wise and row-wise neural-network operations in f32:
 * layer norms, activations, softmax. Small and memory-bound; not threaded. GELU and
 * softmax have AVX2/AVX-512 versions (ops_avx2.c, ops_avx512.c) picked at run time. */
#ifndef MG_TENSOR_OPS_H
#define MG_TENSOR_OPS_H

#include <stdint.h>

/* nn.LayerNorm over the last dim: (x - mean) / sqrt(var + eps) * w + b. In-place allowed. */
void mg_layer_norm(const float *x, float *y, int64_t n, const float *w, const float *b, float eps);
/* T5 layer norm: x * rsqrt(mean(x^2) + eps) * w (no mean, no bias). */
void mg_rms_norm(const float *x, float *y, int64_t n, const float *w, float eps);
/* Exact (erf) GELU, ReLU and ELU (alpha 1), in place. */
void mg_gelu(float *x, int64_t n);
void mg_relu(float *x, int64_t n);
void mg_elu(float *x, int64_t n);
/* Softmax in place over n values (max-subtracted, f32 accumulation). */
void mg_softmax(float *x, int64_t n);
/* Scalar reference versions (the SIMD ones are tested against them). */
void mg_gelu_ref(float *x, int64_t n);
void mg_softmax_ref(float *x, int64_t n);
/* y += x */
void mg_add(float *y, const float *x, int64_t n);

#endif
