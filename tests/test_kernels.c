/* test_kernels.c — matmul kernels of every ISA this CPU has, for every weight format,
 * against the scalar reference on random data with ragged sizes; the activation
 * quantizers against the reference quantizer (bit-identical); mg_matmul bit-identical
 * for 1..4 threads and for any split of the activation rows; mg_matmul_group (with its
 * fused GELU and bias) bit-identical to mg_matmul per product; the $MG_ISA=scalar
 * override (checked in a child process, since the ISA is chosen once per process); a
 * NaN / inf activation reaches the outputs in every format; the bandwidth probe runs.
 * On a CPU with AVX-VNNI the AVX2 level is tested with its VNNI build and the plain
 * one, and the two compared bit for bit.
 *
 * Error bounds: float formats must match the reference to f32 rounding (relative to
 * sum |w||x|). Integer kernels quantize activations to 8 (q8_0x16: 16) bits per
 * 32-block, so they are checked twice: against the reference within the provable bound
 * of that quantization (sum over blocks of max|x|/254 (/65534) * sum|w|), and against an
 * exact double-precision product of the dequantized weights and dequantized activations
 * to f32 rounding. x16 matrices (q8_0x16, q4_0x16) have 16-row groups, so their row counts are
 * multiples of 16. */
#include "test.h"
#include "base/pool.h"
#include "base/rng.h"
#include "tensor/bandwidth.h"
#include "tensor/matmul.h"
#include "tensor/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const mg_dtype k_formats[] = {MG_DT_F32,  MG_DT_F16,     MG_DT_BF16,
                                     MG_DT_Q8_0, MG_DT_Q4_0,    MG_DT_Q8_0X16, MG_DT_Q4_0X16};

/* A row count the format allows: q8_0x16 matrices come in 16-row groups. */
static int64_t rows_for(mg_dtype t, int64_t rows) {
    return mg_dtype_is_x16(t) ? (rows + MG_X16_ROWS - 1) / MG_X16_ROWS * MG_X16_ROWS : rows;
}

static void fill_random(mg_rng *rng, float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(mg_rng_uniform(rng) * 2.0 - 1.0) * scale;
    /* A few outliers, like real activations have. */
    for (int64_t i = 0; i < n / 50; i++)
        x[(int64_t)(mg_rng_uniform(rng) * (double)n)] *= 8.0f;
}

typedef struct {
    mg_dtype t;
    int64_t rows, n;
    size_t row_bytes;
    uint8_t *data;
    float *deq; /* dequantized weights, rows x n */
} test_matrix;

static void matrix_make(test_matrix *w, mg_rng *rng, mg_dtype t, int64_t rows, int64_t n) {
    w->t = t;
    w->rows = rows;
    w->n = n;
    w->row_bytes = mg_dtype_row_bytes(t, n);
    w->data = malloc(w->row_bytes * (size_t)rows); /* no slack: ASan sees any over-read */
    w->deq = malloc(sizeof(float) * (size_t)(rows * n));
    float *vals = malloc(sizeof(float) * (size_t)(rows * n));
    for (int64_t r = 0; r < rows; r++)
        fill_random(rng, vals + r * n, n, 0.5f);
    mg_matrix_from_f32(t, vals, w->data, rows, n);
    for (int64_t r = 0; r < rows; r++)
        mg_matrix_row_to_f32(t, w->data, r, w->deq + r * n, n);
    free(vals);
}

static void matrix_free(test_matrix *w) {
    free(w->data);
    free(w->deq);
}

static mg_matrix matrix_view(const test_matrix *w) {
    mg_matrix m = {w->t, w->rows, w->n, w->row_bytes, w->data};
    return m;
}

/* Runs kernel k (quantizing X first when it wants that) on the whole matrix. */
static void run_kernel(mg_kernel k, const test_matrix *w, const float *X, int64_t M, int64_t ldx, float *Y,
                       int64_t ldy) {
    if (!k.quantize) {
        k.gemm(w->data, w->row_bytes, w->rows, X, (size_t)ldx * sizeof(float), M, w->n, Y, ldy);
        return;
    }
    size_t xs = mg_kernel_act_bytes(&k, w->n);
    void *xq = NULL;
    if (posix_memalign(&xq, 64, xs * (size_t)M) != 0)
        return;
    for (int64_t m = 0; m < M; m++)
        k.quantize(X + m * ldx, w->n, (uint8_t *)xq + (size_t)m * xs, k.corr_mult);
    k.gemm(w->data, w->row_bytes, w->rows, xq, xs, M, w->n, Y, ldy);
    free(xq);
}

/* One activation row quantized by the reference quantizer of kernel k, dequantized. */
static void act_quant_dequant(const mg_kernel *k, const float *x, int64_t n, void *xq, float *out) {
    if (k->act16) {
        mg_act_q16_quantize_ref(x, n, xq, k->corr_mult);
        const int16_t *q = xq;
        const float *d = (const float *)(q + n);
        for (int64_t i = 0; i < n; i++)
            out[i] = (float)q[i] * d[i / MG_QK];
        return;
    }
    mg_act_q8_quantize_ref(x, n, xq, k->corr_mult);
    int64_t nbp = ((n / MG_QK) + 1) & ~(int64_t)1;
    const int8_t *q = xq;
    const float *d = (const float *)(q + nbp * MG_QK);
    for (int64_t i = 0; i < n; i++)
        out[i] = (float)q[i] * d[(i / MG_QK) * 8];
}

typedef struct {
    double worst_ref;    /* max of err / bound against the reference */
    double worst_exact;  /* max of err / (sum |w||x|) against the exact quantized product */
    double rms_err, rms_val; /* accumulated for the typical relative error */
} err_stats;

static void check_case(mg_isa isa, mg_dtype t, int64_t rows, int64_t n, int64_t M, mg_rng *rng, err_stats *st) {
    mg_kernel kr = mg_matmul_kernel(MG_ISA_SCALAR, t), ki = mg_matmul_kernel(isa, t);
    if (!ki.gemm)
        return;
    test_matrix w;
    matrix_make(&w, rng, t, rows, n);
    int64_t ldx = n + 3, ldy = rows + 5;
    float *X = malloc(sizeof(float) * (size_t)(M * ldx));
    fill_random(rng, X, M * ldx, 1.0f);
    float *Yr = calloc((size_t)(M * ldy), sizeof(float));
    float *Yi = calloc((size_t)(M * ldy), sizeof(float));
    for (int64_t i = 0; i < M * ldy; i++)
        Yi[i] = Yr[i] = 12345.0f; /* gaps between rows must stay untouched */
    run_kernel(kr, &w, X, M, ldx, Yr, ldy);
    run_kernel(ki, &w, X, M, ldx, Yi, ldy);

    float *xdq = malloc(sizeof(float) * (size_t)n);
    void *xq = NULL;
    if (ki.quantize && posix_memalign(&xq, 64, mg_kernel_act_bytes(&ki, n)) != 0)
        xq = NULL;
    int gaps_ok = 1;
    for (int64_t m = 0; m < M; m++) {
        const float *x = X + m * ldx;
        if (ki.quantize && xq)
            act_quant_dequant(&ki, x, n, xq, xdq);
        for (int64_t r = rows; r < ldy; r++)
            gaps_ok &= Yi[m * ldy + r] == 12345.0f;
        for (int64_t r = 0; r < rows; r++) {
            const float *wr = w.deq + r * n;
            double sum_abs = 0, quant_bound = 0, exact = 0, sum_abs_q = 0;
            for (int64_t b0 = 0; b0 < n; b0 += MG_QK) {
                double amax = 0, wsum = 0;
                for (int64_t i = b0; i < n && i < b0 + MG_QK; i++) {
                    sum_abs += fabs((double)wr[i] * x[i]);
                    amax = fmax(amax, fabs(x[i]));
                    wsum += fabs(wr[i]);
                }
                quant_bound += amax / (ki.act16 ? 65534.0 : 254.0) * wsum;
            }
            if (ki.quantize)
                for (int64_t i = 0; i < n; i++) {
                    exact += (double)wr[i] * xdq[i];
                    sum_abs_q += fabs((double)wr[i] * xdq[i]);
                }
            double got = Yi[m * ldy + r], ref = Yr[m * ldy + r];
            double f32_tol = 2e-6 * sum_abs + 1e-30;
            double bound = ki.quantize ? 1.001 * quant_bound + f32_tol : f32_tol;
            double e = fabs(got - ref) / bound;
            if (!(e <= st->worst_ref))
                st->worst_ref = e;
            if (ki.quantize) {
                double ee = fabs(got - exact) / (sum_abs_q + 1e-30);
                if (!(ee <= st->worst_exact))
                    st->worst_exact = ee;
            }
            st->rms_err += (got - ref) * (got - ref);
            st->rms_val += ref * ref;
        }
    }
    CHECK(gaps_ok, "%s %s: kernel wrote outside its outputs (rows %lld, M %lld)", mg_isa_name(isa),
          mg_dtype_name(t), (long long)rows, (long long)M);
    free(xq);
    free(xdq);
    free(X);
    free(Yr);
    free(Yi);
    matrix_free(&w);
}

static void test_isa_format(mg_isa isa, mg_dtype t, mg_rng *rng) {
    static const int64_t float_n[] = {1, 7, 15, 16, 17, 31, 33, 100, 257, 1000};
    static const int64_t block_n[] = {32, 64, 96, 160, 224, 1056};
    static const int64_t rows_list[] = {1, 2, 3, 5, 6, 13};
    int block = mg_dtype_is_block(t);
    const int64_t *ns = block ? block_n : float_n;
    int n_ns = block ? (int)(sizeof block_n / sizeof *block_n) : (int)(sizeof float_n / sizeof *float_n);
    err_stats st = {0, 0, 0, 0};
    for (int i = 0; i < n_ns; i++)
        for (int64_t M = 1; M <= 9; M++)
            check_case(isa, t, rows_list[(i + M) % 6] * (mg_dtype_is_x16(t) ? MG_X16_ROWS : 1), ns[i], M, rng, &st);
    printf("  %-6s %-5s: max err/bound vs reference %.3g", mg_isa_name(isa), mg_dtype_name(t), st.worst_ref);
    if (mg_matmul_kernel(isa, t).quantize)
        printf(", max rel err vs exact quantized product %.3g", st.worst_exact);
    printf(", rms rel err %.3g\n", sqrt(st.rms_err / (st.rms_val + 1e-300)));
    CHECK(st.worst_ref <= 1.0, "%s %s: error %.3g times the bound", mg_isa_name(isa), mg_dtype_name(t),
          st.worst_ref);
    CHECK(st.worst_exact <= 2e-6, "%s %s: integer kernel off the exact quantized product by %.3g",
          mg_isa_name(isa), mg_dtype_name(t), st.worst_exact);
}

/* The ISA's activation quantizer must write exactly the reference bytes. */
static void test_quantizer(mg_isa isa, mg_dtype t, mg_rng *rng) {
    mg_kernel k = mg_matmul_kernel(isa, t);
    if (!k.quantize)
        return;
    static const int64_t ns[] = {32, 64, 96, 4096 + 32};
    for (int i = 0; i < 4; i++) {
        int64_t n = ns[i];
        size_t bytes = mg_kernel_act_bytes(&k, n);
        float *x = malloc(sizeof(float) * (size_t)n);
        fill_random(rng, x, n, 3.0f);
        for (int j = 0; j < 32 && j < n; j++) /* an all-zero block, and a tie-rounding candidate */
            x[j] = 0;
        if (n > 40)
            x[40] = 0.5f;
        void *a = NULL, *b = NULL;
        CHECK(posix_memalign(&a, 64, bytes) == 0 && posix_memalign(&b, 64, bytes) == 0, "alloc");
        memset(a, 0x55, bytes);
        memset(b, 0xAA, bytes);
        (k.act16 ? mg_act_q16_quantize_ref : mg_act_q8_quantize_ref)(x, n, a, k.corr_mult);
        k.quantize(x, n, b, k.corr_mult);
        CHECK(memcmp(a, b, bytes) == 0, "%s %s quantizer differs from the reference (n %lld)", mg_isa_name(isa),
              mg_dtype_name(t), (long long)n);
        free(a);
        free(b);
        free(x);
    }
}

/* mg_matmul with 1..4 threads, and row by row, must give identical bits. */
static void test_threads(mg_dtype t, mg_rng *rng) {
    const int64_t rows = rows_for(t, 301), n = mg_dtype_is_block(t) ? 288 : 291, M = 9;
    test_matrix w;
    matrix_make(&w, rng, t, rows, n);
    mg_matrix W = matrix_view(&w);
    float *X = malloc(sizeof(float) * (size_t)(M * n));
    float *bias = malloc(sizeof(float) * (size_t)rows);
    fill_random(rng, X, M * n, 1.0f);
    fill_random(rng, bias, rows, 1.0f);
    size_t ybytes = sizeof(float) * (size_t)(M * rows);
    float *Y1 = malloc(ybytes), *Y = malloc(ybytes), *Yrow = malloc(ybytes);
    mg_matmul(NULL, &W, X, M, n, Y1, rows, bias);
    for (int threads = 1; threads <= 4; threads++) {
        mg_pool *pool = mg_pool_new(threads);
        for (int rep = 0; rep < 3; rep++) {
            memset(Y, 0, ybytes);
            mg_matmul(pool, &W, X, M, n, Y, rows, bias);
            CHECK(memcmp(Y, Y1, ybytes) == 0, "%s: %d threads differ from 1", mg_dtype_name(t), threads);
        }
        mg_pool_free(pool);
    }
    /* Each activation row alone, and a 1-row weight matrix per output, give the same bits. */
    for (int64_t m = 0; m < M; m++)
        mg_matmul(NULL, &W, X + m * n, 1, n, Yrow + m * rows, rows, bias);
    CHECK(memcmp(Yrow, Y1, ybytes) == 0, "%s: M = 1 calls differ from one M = %lld call", mg_dtype_name(t),
          (long long)M);
    const int64_t unit = rows_for(t, 1); /* the smallest matrix: one row, or one 16-row group */
    for (int64_t r = 0; r < rows; r += 37 * unit) {
        mg_matrix one = {t, unit, n, w.row_bytes, w.data + (size_t)r * w.row_bytes};
        float yr[9 * MG_X16_ROWS];
        mg_matmul(NULL, &one, X, M, n, yr, unit, bias + r);
        int same = 1;
        for (int64_t m = 0; m < M; m++)
            same &= memcmp(&yr[m * unit], &Y1[m * rows + r], sizeof(float) * (size_t)unit) == 0;
        CHECK(same, "%s: row %lld alone differs", mg_dtype_name(t), (long long)r);
    }
    free(Y1);
    free(Y);
    free(Yrow);
    free(X);
    free(bias);
    matrix_free(&w);
}

/* mg_matmul_group (products 1 and 2 share X like Q/K/V, product 0 has its own; one with
 * GELU, one with a bias) gives the same bits as mg_matmul per product then mg_gelu, for
 * 1-3 threads and for M in the grouped (few rows) and the one-by-one (many rows)
 * regimes. */
static void test_group(mg_dtype t, mg_rng *rng) {
    const int64_t n = 320, rows[3] = {96, rows_for(t, 200), rows_for(t, 8)};
    test_matrix w[3];
    mg_matrix W[3];
    for (int i = 0; i < 3; i++) {
        matrix_make(&w[i], rng, t, rows[i], n);
        W[i] = matrix_view(&w[i]);
    }
    const int64_t Ms[2] = {2, 700};
    float *X = malloc(sizeof(float) * (size_t)(1400 * n)), *bias = malloc(sizeof(float) * (size_t)rows[2]);
    fill_random(rng, X, 1400 * n, 1.0f);
    const float *Xs[3] = {X + 700 * n, X, X};
    fill_random(rng, bias, rows[2], 1.0f);
    for (int mi = 0; mi < 2; mi++) {
        int64_t M = Ms[mi];
        float *ref[3], *got[3];
        for (int i = 0; i < 3; i++) {
            ref[i] = malloc(sizeof(float) * (size_t)(M * rows[i]));
            got[i] = malloc(sizeof(float) * (size_t)(M * rows[i]));
            mg_matmul(NULL, &W[i], Xs[i], M, n, ref[i], rows[i], i == 2 ? bias : NULL);
        }
        for (int64_t m = 0; m < M; m++)
            mg_gelu(ref[1] + m * rows[1], rows[1]);
        for (int threads = 1; threads <= 3; threads++) {
            mg_pool *pool = mg_pool_new(threads);
            mg_matmul_op ops[3];
            for (int i = 0; i < 3; i++) {
                mg_matmul_op op = {&W[i], Xs[i], n, got[i], rows[i], i == 2 ? bias : NULL,
                                   i == 1 ? MG_ACT_GELU : MG_ACT_NONE};
                ops[i] = op;
                memset(got[i], 0, sizeof(float) * (size_t)(M * rows[i]));
            }
            mg_matmul_group(pool, ops, 3, M);
            for (int i = 0; i < 3; i++)
                CHECK(memcmp(got[i], ref[i], sizeof(float) * (size_t)(M * rows[i])) == 0,
                      "%s: group product %d (M = %lld, %d threads) differs from mg_matmul", mg_dtype_name(t), i,
                      (long long)M, threads);
            mg_pool_free(pool);
        }
        for (int i = 0; i < 3; i++) {
            free(ref[i]);
            free(got[i]);
        }
    }
    free(X);
    free(bias);
    for (int i = 0; i < 3; i++)
        matrix_free(&w[i]);
}

/* A NaN or inf in an activation row makes that row's outputs non-finite in every format (the
 * quantized formats' activation scales would otherwise drop it), through mg_matmul and
 * mg_matmul_group alike; other rows are untouched. */
static void test_nonfinite(mg_dtype t, mg_rng *rng) {
    const int64_t n = 96, rows = rows_for(t, 48), M = 3;
    test_matrix w;
    matrix_make(&w, rng, t, rows, n);
    mg_matrix W = matrix_view(&w);
    float X[3 * 96], Y[3 * 64], Z[3][3 * 64];
    const float bad[2] = {NAN, INFINITY};
    for (int b = 0; b < 2; b++) {
        fill_random(rng, X, M * n, 1.0f);
        X[1 * n + 37] = bad[b];
        mg_matmul(NULL, &W, X, M, n, Y, rows, NULL);
        /* Three products of one input, as Q, K and V: its rows are scanned once. */
        mg_matmul_op ops[3];
        for (int i = 0; i < 3; i++)
            ops[i] = (mg_matmul_op){&W, X, n, Z[i], rows, NULL, MG_ACT_NONE};
        mg_matmul_group(NULL, ops, 3, M);
        int nan_row = 1, clean_rows = 1;
        for (int64_t r = 0; r < rows; r++) {
            nan_row &= !isfinite(Y[1 * rows + r]);
            clean_rows &= isfinite(Y[r]) && isfinite(Y[2 * rows + r]);
            for (int i = 0; i < 3; i++) {
                nan_row &= !isfinite(Z[i][1 * rows + r]);
                clean_rows &= isfinite(Z[i][r]) && isfinite(Z[i][2 * rows + r]);
            }
        }
        CHECK(nan_row && clean_rows, "%s: a %s activation gives non-finite outputs in its row only", mg_dtype_name(t),
              b ? "inf" : "NaN");
        /* A group whose products take different inputs: a clean one after two that share
         * the bad one, and before them (each input's flag is its own). */
        float C[3 * 96];
        fill_random(rng, C, M * n, 1.0f);
        const float *in[2][3] = {{X, X, C}, {C, X, X}};
        for (int order = 0; order < 2; order++) {
            for (int i = 0; i < 3; i++)
                ops[i] = (mg_matmul_op){&W, in[order][i], n, Z[i], rows, NULL, MG_ACT_NONE};
            mg_matmul_group(NULL, ops, 3, M);
            int ok = 1;
            for (int i = 0; i < 3; i++)
                for (int64_t r = 0; r < rows; r++)
                    ok &= isfinite(Z[i][r]) && isfinite(Z[i][2 * rows + r]) &&
                          !isfinite(Z[i][1 * rows + r]) == (in[order][i] == X);
            CHECK(ok, "%s: a group with a clean input %s: only the bad input's row is non-finite", mg_dtype_name(t),
                  order ? "first" : "last");
        }
    }
    matrix_free(&w);
}

/* Child mode: started with $MG_ISA=scalar; checks that the scalar kernels are in use. */
static int child_expect_scalar(void) {
    if (mg_isa_active() != MG_ISA_SCALAR) {
        fprintf(stderr, "MG_ISA=scalar ignored: active ISA is %s\n", mg_isa_name(mg_isa_active()));
        return 1;
    }
    mg_rng rng;
    mg_rng_seed(&rng, 7);
    int bad = 0;
    for (size_t f = 0; f < sizeof k_formats / sizeof *k_formats; f++) {
        test_matrix w;
        const int64_t rows = rows_for(k_formats[f], 20);
        matrix_make(&w, &rng, k_formats[f], rows, 64);
        mg_matrix W = matrix_view(&w);
        float X[2 * 64], Y[2 * 32], R[2 * 32];
        fill_random(&rng, X, 128, 1.0f);
        mg_matmul(NULL, &W, X, 2, 64, Y, rows, NULL);
        run_kernel(mg_matmul_kernel(MG_ISA_SCALAR, k_formats[f]), &w, X, 2, 64, R, rows);
        bad |= memcmp(Y, R, sizeof(float) * (size_t)(2 * rows)) != 0;
        matrix_free(&w);
    }
    if (bad)
        fprintf(stderr, "MG_ISA=scalar: mg_matmul differs from the scalar kernels\n");
    return bad;
}

static void test_isa_override(const char *self) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "MG_ISA=scalar '%s' --expect-scalar", self);
    int rc = system(cmd);
    CHECK(rc == 0, "child with MG_ISA=scalar failed (status %d)", rc);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--expect-scalar"))
        return child_expect_scalar();
    printf("CPU: best ISA %s, active %s\n", mg_isa_name(mg_isa_detect()), mg_isa_name(mg_isa_active()));
    mg_rng rng;
    mg_rng_seed(&rng, 1234);
    mg_isa best = mg_isa_detect();
    int vnni = mg_isa_avxvnni();
    printf("AVX-VNNI kernels at the AVX2 level: %s\n", vnni ? "yes (tested with and without)" : "no");
    for (int isa = MG_ISA_AVX2; isa <= MG_ISA_NEON; isa++) {
        int have = isa == MG_ISA_NEON ? best == MG_ISA_NEON : best != MG_ISA_NEON && isa <= (int)best;
        if (!have)
            continue;
        /* The AVX2 level twice on a CPU with AVX-VNNI: its VNNI build, then the plain one. */
        for (int pass = 0; pass < (isa == MG_ISA_AVX2 && vnni ? 2 : 1); pass++) {
            if (isa == MG_ISA_AVX2)
                mg_isa_use_avxvnni(pass == 0);
            if (isa == MG_ISA_AVX2 && vnni)
                printf("  avx2 %s AVX-VNNI:\n", pass == 0 ? "with" : "without");
            for (size_t f = 0; f < sizeof k_formats / sizeof *k_formats; f++) {
                CHECK(mg_matmul_kernel((mg_isa)isa, k_formats[f]).gemm != NULL, "%s has no %s kernel",
                      mg_isa_name((mg_isa)isa), mg_dtype_name(k_formats[f]));
                test_quantizer((mg_isa)isa, k_formats[f], &rng);
                test_isa_format((mg_isa)isa, k_formats[f], &rng);
            }
        }
        mg_isa_use_avxvnni(1);
    }
    /* Both AVX2 builds compute the same integers: bit-identical products. */
#if defined(__x86_64__)
    int compared = 0;
    if (vnni)
        for (size_t f = 0; f < sizeof k_formats / sizeof *k_formats; f++) {
            mg_kernel kv, kp;
            if (!mg_matmul_kernel_avxvnni(k_formats[f], &kv) || !mg_matmul_kernel_avx2(k_formats[f], &kp))
                continue;
            const int64_t rows = rows_for(k_formats[f], 67), n = 320, M = 5;
            test_matrix w;
            matrix_make(&w, &rng, k_formats[f], rows, n);
            float *X = malloc(sizeof(float) * (size_t)(M * n)), *Yv = calloc((size_t)(M * rows), sizeof(float)),
                  *Yp = calloc((size_t)(M * rows), sizeof(float));
            fill_random(&rng, X, M * n, 1.0f);
            run_kernel(kv, &w, X, M, n, Yv, rows);
            run_kernel(kp, &w, X, M, n, Yp, rows);
            CHECK(!memcmp(Yv, Yp, sizeof(float) * (size_t)(M * rows)), "%s: AVX-VNNI and AVX2 builds differ",
                  mg_dtype_name(k_formats[f]));
            compared++;
            free(X);
            free(Yv);
            free(Yp);
            matrix_free(&w);
        }
    if (vnni)
        printf("  AVX-VNNI and plain AVX2 builds compared bit for bit on %d formats\n", compared);
#endif
    for (size_t f = 0; f < sizeof k_formats / sizeof *k_formats; f++) {
        test_threads(k_formats[f], &rng);
        test_group(k_formats[f], &rng);
        test_nonfinite(k_formats[f], &rng);
    }
    /* The bandwidth probe (figures only; here just: it runs and reports something). */
    mg_pool *pool = mg_pool_new(2);
    double gbs = mg_measure_read_bandwidth(pool, (size_t)8 << 20);
    printf("read bandwidth over 8 MiB (cache-resident, 2 threads): %.1f GB/s\n", gbs);
    CHECK(gbs > 0, "bandwidth probe returned %g", gbs);
    mg_pool_free(pool);
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len > 0) {
        self[len] = 0;
        test_isa_override(self);
    } else {
        printf("skipping the MG_ISA override check: /proc/self/exe unreadable\n");
    }
    return test_finish("test_kernels");
}
