/* matmul.c — threaded matrix product over weight rows (see matmul.h) and the scalar
 * reference row-dot kernels for every weight format. SIMD kernels live in
 * matmul_<isa>.c and register through mg_rowdot_kernel(). */
#include "tensor/matmul.h"

#include <stdlib.h>
#include <string.h>

/* ---- scalar reference kernels ---------------------------------------------------- */

static float dot_f32(const float *a, const float *b, int64_t n) {
    /* Eight partial sums: fixed order, same on every call. */
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            s[j] += a[i + j] * b[i + j];
    float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++)
        t += a[i] * b[i];
    return t;
}

static void rowdot_f32_scalar(const void *w, const float *X, int64_t M, int64_t ldx, int64_t n, float *y,
                              int64_t ldy) {
    for (int64_t m = 0; m < M; m++)
        y[m * ldy] = dot_f32(w, X + m * ldx, n);
}

/* Formats other than f32: expand the row to f32 in pieces, then dot. */
#define MG_EXPAND_CHUNK 1024
static void rowdot_expand(mg_dtype t, const void *w, const float *X, int64_t M, int64_t ldx, int64_t n,
                          float *y, int64_t ldy) {
    float buf[MG_EXPAND_CHUNK];
    for (int64_t m = 0; m < M; m++)
        y[m * ldy] = 0;
    size_t stride = mg_dtype_row_bytes(t, MG_EXPAND_CHUNK);
    for (int64_t c0 = 0; c0 < n; c0 += MG_EXPAND_CHUNK) {
        int64_t len = n - c0 < MG_EXPAND_CHUNK ? n - c0 : MG_EXPAND_CHUNK;
        mg_row_to_f32(t, (const uint8_t *)w + (size_t)(c0 / MG_EXPAND_CHUNK) * stride, buf, len);
        for (int64_t m = 0; m < M; m++)
            y[m * ldy] += dot_f32(buf, X + m * ldx + c0, len);
    }
}

static void rowdot_f16_scalar(const void *w, const float *X, int64_t M, int64_t ldx, int64_t n, float *y,
                              int64_t ldy) {
    rowdot_expand(MG_DT_F16, w, X, M, ldx, n, y, ldy);
}
static void rowdot_bf16_scalar(const void *w, const float *X, int64_t M, int64_t ldx, int64_t n, float *y,
                               int64_t ldy) {
    rowdot_expand(MG_DT_BF16, w, X, M, ldx, n, y, ldy);
}
static void rowdot_q8_0_scalar(const void *w, const float *X, int64_t M, int64_t ldx, int64_t n, float *y,
                               int64_t ldy) {
    rowdot_expand(MG_DT_Q8_0, w, X, M, ldx, n, y, ldy);
}
static void rowdot_q4_0_scalar(const void *w, const float *X, int64_t M, int64_t ldx, int64_t n, float *y,
                               int64_t ldy) {
    rowdot_expand(MG_DT_Q4_0, w, X, M, ldx, n, y, ldy);
}

/* ---- dispatch ---------------------------------------------------------------------- */

mg_rowdot_fn mg_rowdot_kernel_avx2(mg_dtype t);
mg_rowdot_fn mg_rowdot_kernel_avx512(mg_dtype t);
mg_rowdot_fn mg_rowdot_kernel_neon(mg_dtype t);

const char *mg_isa_name(mg_isa isa) {
    switch (isa) {
    case MG_ISA_AVX2: return "avx2";
    case MG_ISA_AVX512: return "avx512";
    case MG_ISA_NEON: return "neon";
    default: return "scalar";
    }
}

mg_isa mg_isa_detect(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vnni"))
        return MG_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return MG_ISA_AVX2;
    return MG_ISA_SCALAR;
#elif defined(__aarch64__)
    return MG_ISA_NEON;
#else
    return MG_ISA_SCALAR;
#endif
}

static mg_rowdot_fn scalar_kernel(mg_dtype t) {
    switch (t) {
    case MG_DT_F32: return rowdot_f32_scalar;
    case MG_DT_F16: return rowdot_f16_scalar;
    case MG_DT_BF16: return rowdot_bf16_scalar;
    case MG_DT_Q8_0: return rowdot_q8_0_scalar;
    case MG_DT_Q4_0: return rowdot_q4_0_scalar;
    default: return NULL;
    }
}

mg_rowdot_fn mg_rowdot_kernel(mg_isa isa, mg_dtype t) {
    switch (isa) {
    case MG_ISA_SCALAR: return scalar_kernel(t);
#if defined(__x86_64__)
    case MG_ISA_AVX2: return mg_rowdot_kernel_avx2(t);
    case MG_ISA_AVX512: return mg_rowdot_kernel_avx512(t);
#endif
#if defined(__aarch64__)
    case MG_ISA_NEON: return mg_rowdot_kernel_neon(t);
#endif
    default: return NULL;
    }
}

static mg_isa g_active_isa = (mg_isa)-1;

mg_isa mg_isa_active(void) {
    mg_isa isa = __atomic_load_n(&g_active_isa, __ATOMIC_RELAXED);
    if ((int)isa >= 0)
        return isa;
    isa = mg_isa_detect();
    const char *env = getenv("MG_ISA");
    if (env) {
        mg_isa want = isa;
        if (!strcmp(env, "scalar")) want = MG_ISA_SCALAR;
        else if (!strcmp(env, "avx2")) want = MG_ISA_AVX2;
        else if (!strcmp(env, "avx512")) want = MG_ISA_AVX512;
        /* Only step down: never pick an ISA the CPU lacks. */
        if (want <= isa || (want == MG_ISA_NEON && isa == MG_ISA_NEON))
            isa = want;
    }
    __atomic_store_n(&g_active_isa, isa, __ATOMIC_RELAXED);
    return isa;
}

static mg_rowdot_fn active_kernel(mg_dtype t) {
    mg_rowdot_fn f = mg_rowdot_kernel(mg_isa_active(), t);
    return f ? f : scalar_kernel(t);
}

/* ---- the threaded product ------------------------------------------------------------ */

typedef struct {
    const mg_matrix *W;
    const float *X;
    int64_t M, ldx, ldy;
    float *Y;
    const float *bias;
    mg_rowdot_fn fn;
    int64_t rows_per_task, m_block;
} matmul_job;

static void matmul_task(void *arg, int task) {
    const matmul_job *j = arg;
    int64_t r0 = (int64_t)task * j->rows_per_task;
    int64_t r1 = r0 + j->rows_per_task;
    if (r1 > j->W->rows)
        r1 = j->W->rows;
    const uint8_t *wbase = j->W->data;
    for (int64_t m0 = 0; m0 < j->M; m0 += j->m_block) {
        int64_t mb = j->M - m0 < j->m_block ? j->M - m0 : j->m_block;
        for (int64_t r = r0; r < r1; r++)
            j->fn(wbase + (size_t)r * j->W->row_bytes, j->X + m0 * j->ldx, mb, j->ldx, j->W->cols,
                  j->Y + m0 * j->ldy + r, j->ldy);
    }
    if (j->bias)
        for (int64_t m = 0; m < j->M; m++)
            for (int64_t r = r0; r < r1; r++)
                j->Y[m * j->ldy + r] += j->bias[r];
}

void mg_matmul(mg_pool *pool, const mg_matrix *W, const float *X, int64_t M, int64_t ldx, float *Y,
               int64_t ldy, const float *bias) {
    if (M <= 0 || W->rows <= 0)
        return;
    matmul_job j = {W, X, M, ldx, ldy, Y, bias, active_kernel(W->dtype), 0, 0};
    /* Chunks of rows sized so a chunk's weights (~64 KiB) stream in one go; at least
     * 8 rows so per-task overhead stays small. Fixed by the shape, not the threads. */
    int64_t rows = (int64_t)(65536 / (W->row_bytes ? W->row_bytes : 1));
    if (rows < 8)
        rows = 8;
    if (rows > 256)
        rows = 256;
    /* Keep enough tasks for load balance on small matrices. */
    while (rows > 8 && (W->rows + rows - 1) / rows < 32)
        rows /= 2;
    j.rows_per_task = rows;
    /* Activation block: keep about 256 KiB of X hot while a chunk of rows passes over it. */
    int64_t mb = (int64_t)(262144 / ((size_t)ldx * 4 + 1));
    j.m_block = mb < 4 ? 4 : mb;
    int n_tasks = (int)((W->rows + rows - 1) / rows);
    mg_pool_run(pool, matmul_task, &j, n_tasks);
}
