/* elu_avx2.c — ELU (alpha 1) with AVX2/FMA: x > 0 ? x : expm1(x), same method as the
 * portable version in seanet.c. Compiled with -mavx2 -mfma; called only when the CPU
 * has them (see ec_elu). */
#include "codec/seanet.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

static inline __m256 expm1_nonpos(__m256 x) {
    const __m256 shifter = _mm256_set1_ps(12582912.0f);
    x = _mm256_max_ps(x, _mm256_set1_ps(-88.0f));
    __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), shifter);
    __m256 n = _mm256_sub_ps(t, shifter);
    __m256i ni = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4B400000));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    __m256 em1 = _mm256_fmadd_ps(_mm256_mul_ps(r, r), p, r);
    __m256 s = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(ni, _mm256_set1_epi32(127)), 23));
    return _mm256_fmadd_ps(s, em1, _mm256_sub_ps(s, _mm256_set1_ps(1.0f)));
}

static inline __m256 elu8(__m256 v) {
    __m256 neg = expm1_nonpos(_mm256_min_ps(v, _mm256_setzero_ps()));
    __m256 pos = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ);
    return _mm256_blendv_ps(neg, v, pos);
}

void ec_elu_avx2(float *dst, const float *src, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, elu8(_mm256_loadu_ps(src + i)));
    if (i < n) {
        float buf[8] = {0};
        for (int64_t j = i; j < n; j++)
            buf[j - i] = src[j];
        _mm256_storeu_ps(buf, elu8(_mm256_loadu_ps(buf)));
        for (int64_t j = i; j < n; j++)
            dst[j] = buf[j - i];
    }
}
#else
#include <math.h>
void ec_elu_avx2(float *dst, const float *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) /* not built for this ISA: never chosen at run time */
        dst[i] = src[i] > 0 ? src[i] : expm1f(src[i]);
}
#endif
