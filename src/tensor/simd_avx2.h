/* simd_avx2.h — horizontal reductions of one 8-lane f32 vector, shared by the AVX2
 * kernels (matmul_avx2.c, ops_avx2.c, attention_avx2.c). Include it only from files
 * compiled with -mavx2 (it needs <immintrin.h> with AVX enabled). The pairing is fixed
 * (high half onto low, then 2 + 2, then 1 + 1), so every kernel sums in the same order. */
#ifndef MG_TENSOR_SIMD_AVX2_H
#define MG_TENSOR_SIMD_AVX2_H

#include <immintrin.h>

static inline __attribute__((always_inline)) float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __attribute__((always_inline)) float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

#endif
