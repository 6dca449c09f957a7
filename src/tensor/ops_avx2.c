/* ops_avx2.c — AVX2 + FMA GELU and softmax (see ops_simd.h for the math). */
#include "tensor/ops.h"

#include <immintrin.h>
#include <math.h>
#include "tensor/simd_avx2.h"

#define V_SET _mm256_set1_ps
#define V_MUL _mm256_mul_ps
#define V_SUB _mm256_sub_ps
#define V_DIV _mm256_div_ps
#define V_MIN _mm256_min_ps
#define V_MAX _mm256_max_ps
#define V_FMADD _mm256_fmadd_ps
#define V_FNMADD _mm256_fnmadd_ps
#define V_ROUND(x) _mm256_round_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_ABS(x) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), (x))
#define V_POW2I(k) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23))
#define V_BLEND_POS(x, a, b) _mm256_blendv_ps((a), (b), _mm256_cmp_ps((x), _mm256_setzero_ps(), _CMP_GT_OQ))
#define V_ZERO_BELOW(x, lim, v) _mm256_and_ps(_mm256_cmp_ps((x), _mm256_set1_ps(lim), _CMP_GE_OQ), (v))
#include "tensor/ops_simd.h"

MG_DEFINE_VEXP(vexp, __m256)
MG_DEFINE_VGELU(vgelu, __m256, vexp)

void mg_gelu_avx2(float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, vgelu(_mm256_loadu_ps(x + i)));
    if (i < n) {
        float tmp[8] = {0};
        for (int64_t j = i; j < n; j++)
            tmp[j - i] = x[j];
        _mm256_storeu_ps(tmp, vgelu(_mm256_loadu_ps(tmp)));
        for (int64_t j = i; j < n; j++)
            x[j] = tmp[j - i];
    }
}

void mg_softmax_avx2(float *x, int64_t n) {
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
    float mx = hmax8(vmax);
    for (int64_t j = i; j < n; j++)
        mx = x[j] > mx ? x[j] : mx;
    __m256 vm = _mm256_set1_ps(mx), vsum = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = vexp(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    float sum = hsum8(vsum);
    for (; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(inv)));
    for (; i < n; i++)
        x[i] *= inv;
}
