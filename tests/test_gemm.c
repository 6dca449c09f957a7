/* test_gemm.c — the blocked f32 GEMM (tensor/gemm.h) against its double-precision
 * reference on random data, for every kernel set this CPU can run (portable, AVX2,
 * AVX-512): ragged M / K / N around the tile and block sizes, overlapping A rows
 * (lda < K, as convolutions read them), bias and accumulate; then the properties the
 * codec relies on: bit-identical results for 1 and 2 threads and when M is split
 * into pieces, and the dot / 4-row dot kernels behind mg_gemv_rows. */
#include "test.h"

#include "base/pool.h"
#include "base/rng.h"
#include "tensor/gemm.h"
#include "tensor/matmul.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void fill(mg_rng *r, float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(mg_rng_uniform(r) * 2 - 1);
}

/* Max |got - want| relative to the f32 summation error bound of its element:
 * (K + 3) * 2^-24 * (|c| + |bias| + sum_k |a||b|). Below 1 = within the bound. */
static double check_case(int isa, mg_pool *pool, mg_rng *r, int64_t M, int64_t K, int64_t N, int64_t lda, int use_bias,
                         int accumulate, int transposed_src) {
    int64_t a_len = (M - 1) * lda + K;
    float *A = malloc((size_t)a_len * sizeof(float)), *B = malloc((size_t)(K * N) * sizeof(float));
    float *C = malloc((size_t)(M * (N + 3)) * sizeof(float)), *R = malloc((size_t)(M * (N + 3)) * sizeof(float));
    float *bias = malloc((size_t)N * sizeof(float));
    fill(r, A, a_len);
    fill(r, B, K * N);
    fill(r, bias, N);
    int64_t ldc = N + 3; /* a C wider than N: the kernels must not touch the gap */
    fill(r, C, M * ldc);
    memcpy(R, C, (size_t)(M * ldc) * sizeof(float));
    float *C0 = malloc((size_t)(M * ldc) * sizeof(float));
    memcpy(C0, C, (size_t)(M * ldc) * sizeof(float));
    int64_t rs = transposed_src ? 1 : N, cs = transposed_src ? K : 1;
    mg_gemm_b b;
    CHECK_OK(mg_gemm_pack_b_isa(&b, isa, K, N, B, rs, cs));
    mg_gemm(pool, M, A, lda, &b, C, ldc, use_bias ? bias : NULL, accumulate);
    mg_gemm_ref(M, N, K, A, lda, B, rs, cs, R, ldc, use_bias ? bias : NULL, accumulate);
    double worst = 0;
    int gap_ok = 1;
    for (int64_t m = 0; m < M; m++) {
        for (int64_t n = 0; n < N; n++) {
            double scale = 1e-30 + (use_bias ? fabs(bias[n]) : 0) + (accumulate ? fabs(C0[m * ldc + n]) : 0);
            for (int64_t k = 0; k < K; k++)
                scale += fabs((double)A[m * lda + k] * B[k * rs + n * cs]);
            double e = fabs((double)C[m * ldc + n] - R[m * ldc + n]) / (scale * (double)(K + 3) * 0x1p-24);
            if (e > worst || e != e)
                worst = e != e ? INFINITY : e;
        }
        for (int64_t n = N; n < ldc; n++)
            gap_ok &= C[m * ldc + n] == R[m * ldc + n];
    }
    CHECK(gap_ok, "isa %s M %lld K %lld N %lld: wrote outside C's columns", mg_isa_name((mg_isa)isa), (long long)M,
          (long long)K, (long long)N);
    mg_gemm_b_free(&b);
    free(A);
    free(B);
    free(C);
    free(C0);
    free(R);
    free(bias);
    return worst;
}

static void test_isa(int isa, mg_pool *pool) {
    mg_rng r;
    mg_rng_seed(&r, 42 + (uint64_t)isa);
    const int64_t Ms[] = {1, 5, 12, 13, 37, 200, 250};
    const int64_t Ks[] = {1, 3, 7, 64, 255, 256, 257, 600};
    const int64_t Ns[] = {1, 2, 4, 5, 16, 17, 31, 32, 33, 100};
    double worst = 0;
    int cases = 0;
    for (size_t i = 0; i < sizeof Ms / sizeof *Ms; i++)
        for (size_t j = 0; j < sizeof Ks / sizeof *Ks; j++)
            for (size_t k = 0; k < sizeof Ns / sizeof *Ns; k++) {
                int64_t M = Ms[i], K = Ks[j], N = Ns[k];
                int variant = (int)((i + j + k) % 4);
                /* lda: dense, padded, or overlapping rows (a conv with stride 1..3) */
                int64_t lda = variant == 0 ? K : variant == 1 ? K + 5 : (K > 3 ? (int64_t)(variant - 1) * 2 : K);
                double e = check_case(isa, pool, &r, M, K, N, lda, variant != 2, variant == 3, (i + k) % 2);
                if (e > worst)
                    worst = e;
                cases++;
            }
    printf("  gemm %-8s %d cases, max error / f32 error bound = %.3f\n", mg_isa_name((mg_isa)isa), cases, worst);
    CHECK(worst < 1.0, "gemm %s: relative error %.3e", mg_isa_name((mg_isa)isa), worst);

    mg_gemm_kernel kern = mg_gemm_kernel_for(isa);
    float x[1031], W[4 * 1031], y[4];
    fill(&r, x, 1031);
    fill(&r, W, 4 * 1031);
    const int64_t ns[] = {1, 7, 15, 16, 17, 31, 33, 100, 1024, 1031};
    double dworst = 0;
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
        int64_t n = ns[i];
        if (kern.dot4)
            kern.dot4(W, 1031, x, n, y);
        for (int row = 0; row < 4; row++) {
            double ref = 0, scale = 1e-30;
            for (int64_t c = 0; c < n; c++) {
                ref += (double)W[row * 1031 + c] * x[c];
                scale += fabs((double)W[row * 1031 + c] * x[c]);
            }
            if (kern.dot4)
                dworst = fmax(dworst, fabs(y[row] - ref) / (scale * (double)(n + 2) * 0x1p-24));
            if (kern.dot)
                dworst = fmax(dworst, fabs(kern.dot(W + row * 1031, x, n) - ref) / (scale * (double)(n + 2) * 0x1p-24));
        }
    }
    printf("  dot  %-8s max error / f32 error bound = %.3f\n", mg_isa_name((mg_isa)isa), dworst);
    CHECK(dworst < 1.0, "dot kernels %s: relative error %.3e", mg_isa_name((mg_isa)isa), dworst);
}

/* Same bits for 1 or 2 threads and for M computed in pieces. */
static void test_determinism(mg_pool *p1, mg_pool *p2) {
    mg_rng r;
    mg_rng_seed(&r, 7);
    const int64_t M = 1000, K = 700, N = 300, lda = 64;
    int64_t a_len = (M - 1) * lda + K;
    float *A = malloc((size_t)a_len * 4), *B = malloc((size_t)(K * N) * 4), *bias = malloc((size_t)N * 4);
    float *C1 = malloc((size_t)(M * N) * 4), *C2 = malloc((size_t)(M * N) * 4), *C3 = malloc((size_t)(M * N) * 4);
    fill(&r, A, a_len);
    fill(&r, B, K * N);
    fill(&r, bias, N);
    mg_gemm_b b;
    CHECK_OK(mg_gemm_pack_b(&b, K, N, B, N, 1));
    mg_gemm(p2, M, A, lda, &b, C1, N, bias, 0);
    mg_gemm(p1, M, A, lda, &b, C2, N, bias, 0);
    const int64_t cuts[] = {0, 1, 14, 333, 334, 999, 1000};
    for (int i = 0; i + 1 < 7; i++)
        mg_gemm(p2, cuts[i + 1] - cuts[i], A + cuts[i] * lda, lda, &b, C3 + cuts[i] * N, N, bias, 0);
    CHECK(!memcmp(C1, C2, (size_t)(M * N) * 4), "gemm: 1 thread differs from 2 threads");
    CHECK(!memcmp(C1, C3, (size_t)(M * N) * 4), "gemm: M split into pieces differs from one call");
    /* narrow path */
    mg_gemm_b nb;
    CHECK_OK(mg_gemm_pack_b(&nb, K, 3, B, 3, 1));
    mg_gemm(p2, M, A, lda, &nb, C1, 3, bias, 0);
    mg_gemm(p1, M, A, lda, &nb, C2, 3, bias, 0);
    CHECK(!memcmp(C1, C2, (size_t)(M * 3) * 4), "narrow gemm: 1 thread differs from 2 threads");
    mg_gemm_b_free(&nb);
    mg_gemm_b_free(&b);
    free(A);
    free(B);
    free(bias);
    free(C1);
    free(C2);
    free(C3);
}

int main(void) {
    mg_pool *p1 = mg_pool_new(1), *p2 = mg_pool_new(2);
    mg_isa best = mg_isa_detect();
    printf("CPU: %s\n", mg_isa_name(best));
    test_isa(MG_ISA_SCALAR, p2);
    if (best >= MG_ISA_AVX2 && best <= MG_ISA_AVX512)
        test_isa(MG_ISA_AVX2, p2);
    if (best == MG_ISA_AVX512)
        test_isa(MG_ISA_AVX512, p2);
    test_determinism(p1, p2);
    mg_pool_free(p1);
    mg_pool_free(p2);
    return test_finish("test_gemm");
}
