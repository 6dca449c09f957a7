/* ops_avx512.c — AVX-512 GELU and softmax (see ops_simd.h for the math). */
#include "tensor/ops.h"

#include <immintrin.h>
#include <math.h>

#define V_SET _mm512_set1_ps
#define V_MUL _mm512_mul_ps
#define V_SUB _mm512_sub_ps
#define V_DIV _mm512_div_ps
#define V_MIN _mm512_min_ps
#define V_MAX _mm512_max_ps
#define V_FMADD _mm512_fmadd_ps
#define V_FNMADD _mm512_fnmadd_ps
#define V_ROUND(x) _mm512_roundscale_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_ABS(x) _mm512_abs_ps(x)
#define V_POW2I(k) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(k), _mm512_set1_epi32(127)), 23))
/* lanes where x > 0 take b, others a */
#define V_BLEND_POS(x, a, b) _mm512_mask_blend_ps(_mm512_cmp_ps_mask((x), _mm512_setzero_ps(), _CMP_GT_OQ), (a), (b))
#define V_ZERO_BELOW(x, lim, v) _mm512_maskz_mov_ps(_mm512_cmp_ps_mask((x), _mm512_set1_ps(lim), _CMP_GE_OQ), (v))
#include "tensor/ops_simd.h"

MG_DEFINE_VEXP(vexp, __m512)
MG_DEFINE_VGELU(vgelu, __m512, vexp)

void mg_gelu_avx512(float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, vgelu(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(x + i, m, vgelu(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

void mg_softmax_avx512(float *x, int64_t n) {
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + i));
    float mx = _mm512_reduce_max_ps(vmax);
    for (int64_t j = i; j < n; j++)
        mx = x[j] > mx ? x[j] : mx;
    __m512 vm = _mm512_set1_ps(mx), vsum = _mm512_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 e = vexp(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
        _mm512_storeu_ps(x + i, e);
        vsum = _mm512_add_ps(vsum, e);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 e = vexp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vm));
        e = _mm512_maskz_mov_ps(m, e);
        _mm512_mask_storeu_ps(x + i, m, e);
        vsum = _mm512_add_ps(vsum, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
    for (i = 0; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), inv));
    for (; i < n; i++)
        x[i] *= _mm512_cvtss_f32(inv);
}
