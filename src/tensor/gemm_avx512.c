/* gemm_avx512.c — AVX-512 micro-kernels for gemm.c: a 12 x 32 f32 tile (24 zmm
 * accumulators, B rows loaded as two zmm, A values broadcast from 12 rows), a 16-wide
 * dot product and a 4-row dot for the LSTM's matrix-vector products. Compiled with -mavx512*
 * flags by CMake; only called when the CPU has AVX-512 (mg_isa_active()). */
#include "tensor/gemm.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

#define MR 12
#define NR 32

static inline void store_tile(__m512 c[MR][2], float *C, int64_t ldc, int load, const float *bias) {
    __m512 bias0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
    __m512 bias1 = bias ? _mm512_loadu_ps(bias + 16) : _mm512_setzero_ps();
    for (int i = 0; i < MR; i++) {
        float *cp = C + i * ldc;
        __m512 v0 = c[i][0], v1 = c[i][1];
        if (bias) {
            v0 = _mm512_add_ps(v0, bias0);
            v1 = _mm512_add_ps(v1, bias1);
        }
        if (load) {
            v0 = _mm512_add_ps(_mm512_loadu_ps(cp), v0);
            v1 = _mm512_add_ps(_mm512_loadu_ps(cp + 16), v1);
        }
        _mm512_storeu_ps(cp, v0);
        _mm512_storeu_ps(cp + 16, v1);
    }
}

static void tile_12x32(int64_t kc, const float *A, int64_t lda, const float *Bp, float *C, int64_t ldc, int load,
                       const float *bias) {
    __m512 c[MR][2];
    for (int i = 0; i < MR; i++)
        c[i][0] = c[i][1] = _mm512_setzero_ps();
    const float *a0 = A, *a3 = A + 3 * lda, *a6 = A + 6 * lda, *a9 = A + 9 * lda;
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(Bp + k * NR);
        __m512 b1 = _mm512_load_ps(Bp + k * NR + 16);
#define ROW(i, p, off)                                        \
    do {                                                      \
        __m512 av = _mm512_set1_ps((p)[(off) + k]);           \
        c[i][0] = _mm512_fmadd_ps(av, b0, c[i][0]);           \
        c[i][1] = _mm512_fmadd_ps(av, b1, c[i][1]);           \
    } while (0)
        ROW(0, a0, 0);
        ROW(1, a0, lda);
        ROW(2, a0, 2 * lda);
        ROW(3, a3, 0);
        ROW(4, a3, lda);
        ROW(5, a3, 2 * lda);
        ROW(6, a6, 0);
        ROW(7, a6, lda);
        ROW(8, a6, 2 * lda);
        ROW(9, a9, 0);
        ROW(10, a9, lda);
        ROW(11, a9, 2 * lda);
#undef ROW
    }
    store_tile(c, C, ldc, load, bias);
}

static float dot_avx512(const float *a, const float *b, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static void dot4_avx512(const float *W, int64_t ldw, const float *x, int64_t n, float *y) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    const float *w0 = W, *w1 = W + ldw, *w2 = W + 2 * ldw, *w3 = W + 3 * ldw;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 xv = _mm512_loadu_ps(x + i);
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(w0 + i), xv, s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(w1 + i), xv, s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(w2 + i), xv, s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(w3 + i), xv, s3);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w0 + i), xv, s0);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w1 + i), xv, s1);
        s2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w2 + i), xv, s2);
        s3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w3 + i), xv, s3);
    }
    y[0] = _mm512_reduce_add_ps(s0);
    y[1] = _mm512_reduce_add_ps(s1);
    y[2] = _mm512_reduce_add_ps(s2);
    y[3] = _mm512_reduce_add_ps(s3);
}

mg_gemm_kernel mg_gemm_kernel_avx512(void) {
    mg_gemm_kernel k = {MR, NR, tile_12x32, dot_avx512, dot4_avx512};
    return k;
}

#else
mg_gemm_kernel mg_gemm_kernel_avx512(void) {
    mg_gemm_kernel k = {0, 0, 0, 0, 0};
    return k;
}
#endif
