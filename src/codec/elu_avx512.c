/* elu_avx512.c — ELU (alpha 1) over a float array with AVX-512: x > 0 ? x : expm1(x),
 * expm1 by the same range reduction + Taylor polynomial as the portable version in
 * seanet.c (absolute error ~1e-7). Compiled with -mavx512* flags by CMake; called only
 * when the CPU has AVX-512 (see ec_elu). */
#include "codec/seanet.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

static inline __m512 expm1_nonpos(__m512 x) {
    const __m512 shifter = _mm512_set1_ps(12582912.0f);
    x = _mm512_max_ps(x, _mm512_set1_ps(-88.0f));
    __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), shifter);
    __m512 n = _mm512_sub_ps(t, shifter);
    __m512i ni = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(0x4B400000));
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    __m512 em1 = _mm512_fmadd_ps(_mm512_mul_ps(r, r), p, r);
    __m512 s = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(ni, _mm512_set1_epi32(127)), 23));
    return _mm512_fmadd_ps(s, em1, _mm512_sub_ps(s, _mm512_set1_ps(1.0f)));
}

static inline __m512 elu16(__m512 v) {
    __m512 neg = expm1_nonpos(_mm512_min_ps(v, _mm512_setzero_ps()));
    __mmask16 pos = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ);
    return _mm512_mask_blend_ps(pos, neg, v);
}

void ec_elu_avx512(float *dst, const float *src, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, elu16(_mm512_loadu_ps(src + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(dst + i, m, elu16(_mm512_maskz_loadu_ps(m, src + i)));
    }
}
#else
#include <math.h>
void ec_elu_avx512(float *dst, const float *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) /* not built for this ISA: never chosen at run time */
        dst[i] = src[i] > 0 ? src[i] : expm1f(src[i]);
}
#endif
