/* gemm_avx2.c — AVX2/FMA micro-kernels for gemm.c: a 6 x 16 f32 tile (12 ymm
 * accumulators), an 8-wide dot product and a 4-row dot for matrix-vector products.
 * Compiled with -mavx2 -mfma by CMake; only called when the CPU has them. */
#include "tensor/gemm.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#define MR 6
#define NR 16

static inline void store_tile(__m256 c[MR][2], float *C, int64_t ldc, int load, const float *bias) {
    __m256 bias0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    __m256 bias1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
    for (int i = 0; i < MR; i++) {
        float *cp = C + i * ldc;
        __m256 v0 = c[i][0], v1 = c[i][1];
        if (bias) {
            v0 = _mm256_add_ps(v0, bias0);
            v1 = _mm256_add_ps(v1, bias1);
        }
        if (load) {
            v0 = _mm256_add_ps(_mm256_loadu_ps(cp), v0);
            v1 = _mm256_add_ps(_mm256_loadu_ps(cp + 8), v1);
        }
        _mm256_storeu_ps(cp, v0);
        _mm256_storeu_ps(cp + 8, v1);
    }
}

/* The twelve accumulators are named variables, not an array: GCC 12 kept an array's
 * registers but also stored every one of them to the stack on each k (one store per
 * FMA pair, 4x slower than the FMAs alone on Zen 3). */
static void tile_6x16(int64_t kc, const float *A, int64_t lda, const float *Bp, float *C, int64_t ldc, int load,
                      const float *bias) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *a0 = A, *a3 = A + 3 * lda;
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(Bp + k * NR);
        __m256 b1 = _mm256_load_ps(Bp + k * NR + 8);
#define ROW(i, p, off)                                     \
    do {                                                   \
        __m256 av = _mm256_broadcast_ss((p) + (off) + k);  \
        c##i##0 = _mm256_fmadd_ps(av, b0, c##i##0);        \
        c##i##1 = _mm256_fmadd_ps(av, b1, c##i##1);        \
    } while (0)
        ROW(0, a0, 0);
        ROW(1, a0, lda);
        ROW(2, a0, 2 * lda);
        ROW(3, a3, 0);
        ROW(4, a3, lda);
        ROW(5, a3, 2 * lda);
#undef ROW
    }
    __m256 c[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    store_tile(c, C, ldc, load, bias);
}

static float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static float dot_avx2(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float t = hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        t += a[i] * b[i];
    return t;
}

static void dot4_avx2(const float *W, int64_t ldw, const float *x, int64_t n, float *y) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    const float *w0 = W, *w1 = W + ldw, *w2 = W + 2 * ldw, *w3 = W + 3 * ldw;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xv = _mm256_loadu_ps(x + i);
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + i), xv, s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + i), xv, s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + i), xv, s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + i), xv, s3);
    }
    float t0 = hsum256(s0), t1 = hsum256(s1), t2 = hsum256(s2), t3 = hsum256(s3);
    for (; i < n; i++) {
        t0 += w0[i] * x[i];
        t1 += w1[i] * x[i];
        t2 += w2[i] * x[i];
        t3 += w3[i] * x[i];
    }
    y[0] = t0;
    y[1] = t1;
    y[2] = t2;
    y[3] = t3;
}

mg_gemm_kernel mg_gemm_kernel_avx2(void) {
    mg_gemm_kernel k = {MR, NR, tile_6x16, dot_avx2, dot4_avx2};
    return k;
}

#else
mg_gemm_kernel mg_gemm_kernel_avx2(void) {
    mg_gemm_kernel k = {0, 0, 0, 0, 0};
    return k;
}
#endif
