/* gemm.c — the blocked f32 matrix product of gemm.h: B packing, the threaded tile
 * driver, the portable 4 x 8 micro-kernel (GCC/Clang vector extensions, so it is
 * vectorized for whatever the baseline ISA is: SSE2, NEON, ...; plain C otherwise),
 * the narrow-N path and the row-dot gemv. The AVX2 / AVX-512 micro-kernels live in
 * gemm_avx2.c / gemm_avx512.c and are picked at pack time.
 *
 * Blocking (the usual Goto/BLIS scheme):
 *   task = (MC rows) x (group of NR-wide panels), all of K;
 *   for each KC block of K: for each panel: for each MR-row sliver: micro-kernel.
 * The KC x NR micro-panel stays in L1 across the slivers, the MC x KC block of A in
 * L2 across panels. The kernels broadcast A values from MR rows in place; the block
 * is copied to a compact buffer (row stride KC + 16) when many panels reuse it or
 * when its rows are 4 KB apart (cache-set conflicts), and the last partial sliver is
 * copied with zero rows. Element (m, n) is always summed as: per KC block an
 * in-register sum over k in increasing order, blocks added to C in increasing order;
 * edge tiles run the same kernel (zero-padded rows, scratch columns), so a value never
 * depends on where its row or column falls in a tile, on the thread count or on how
 * the caller splits M.
 */
#include "tensor/gemm.h"
#include "tensor/matmul.h"

#include <stdlib.h>
#include <string.h>

#define GEMM_KC 256         /* K block: KC x NR micro-panel in L1 */
#define GEMM_LDP (GEMM_KC + 16) /* row stride of copied A blocks: rows never 4 KB apart */
#define GEMM_MC_MAX 192     /* rows per task: MC x KC block of A in L2 */
#define GEMM_MIN_TASKS 16   /* split columns when there are fewer row blocks than this */
#define GEMM_NARROW_N 4     /* N <= this: dot products instead of panels */
#define GEMM_MAX_MR 16
#define GEMM_MAX_NR 32

/* ---- portable kernels -------------------------------------------------------------- */

#define P_MR 4
#define P_NR 8

#if defined(__GNUC__)
/* GCC/Clang vector extension: 4 floats, mapped to SSE / NEON / whatever the target
 * has, so the accumulators stay in registers (a plain float array does not at -O2). */
typedef float v4f __attribute__((vector_size(16)));

static inline v4f v4_load(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void tile_portable(int64_t kc, const float *A, int64_t lda, const float *Bp, float *C, int64_t ldc, int load,
                          const float *bias) {
    v4f c00 = {0, 0, 0, 0}, c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    const float *a0 = A, *a1 = A + lda, *a2 = A + 2 * lda, *a3 = A + 3 * lda;
    for (int64_t k = 0; k < kc; k++) {
        v4f b0 = v4_load(Bp + k * P_NR), b1 = v4_load(Bp + k * P_NR + 4);
        v4f x0 = {a0[k], a0[k], a0[k], a0[k]}, x1 = {a1[k], a1[k], a1[k], a1[k]};
        v4f x2 = {a2[k], a2[k], a2[k], a2[k]}, x3 = {a3[k], a3[k], a3[k], a3[k]};
        c00 += x0 * b0;
        c01 += x0 * b1;
        c10 += x1 * b0;
        c11 += x1 * b1;
        c20 += x2 * b0;
        c21 += x2 * b1;
        c30 += x3 * b0;
        c31 += x3 * b1;
    }
    float acc[P_MR][P_NR];
    memcpy(acc[0], &c00, 16);
    memcpy(acc[0] + 4, &c01, 16);
    memcpy(acc[1], &c10, 16);
    memcpy(acc[1] + 4, &c11, 16);
    memcpy(acc[2], &c20, 16);
    memcpy(acc[2] + 4, &c21, 16);
    memcpy(acc[3], &c30, 16);
    memcpy(acc[3] + 4, &c31, 16);
#else
static void tile_portable(int64_t kc, const float *A, int64_t lda, const float *Bp, float *C, int64_t ldc, int load,
                          const float *bias) {
    float acc[P_MR][P_NR];
    memset(acc, 0, sizeof acc);
    for (int64_t k = 0; k < kc; k++) {
        const float *b = Bp + k * P_NR;
        for (int i = 0; i < P_MR; i++) {
            float a = A[i * lda + k];
            for (int j = 0; j < P_NR; j++)
                acc[i][j] += a * b[j];
        }
    }
#endif
    for (int i = 0; i < P_MR; i++) {
        float *c = C + i * ldc;
        for (int j = 0; j < P_NR; j++) {
            float v = acc[i][j];
            if (bias)
                v += bias[j];
            c[j] = load ? c[j] + v : v;
        }
    }
}

static float dot_portable(const float *a, const float *b, int64_t n) {
    int64_t i = 0;
#if defined(__GNUC__)
    v4f s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0;
    for (; i + 16 <= n; i += 16) {
        s0 += v4_load(a + i) * v4_load(b + i);
        s1 += v4_load(a + i + 4) * v4_load(b + i + 4);
        s2 += v4_load(a + i + 8) * v4_load(b + i + 8);
        s3 += v4_load(a + i + 12) * v4_load(b + i + 12);
    }
    v4f s4 = (s0 + s1) + (s2 + s3);
    float t = (s4[0] + s4[1]) + (s4[2] + s4[3]);
#else
    float s[8] = {0};
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            s[j] += a[i + j] * b[i + j];
    float t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
#endif
    for (; i < n; i++)
        t += a[i] * b[i];
    return t;
}

mg_gemm_kernel mg_gemm_kernel_avx2(void);
mg_gemm_kernel mg_gemm_kernel_avx512(void);

mg_gemm_kernel mg_gemm_kernel_for(int isa) {
    mg_gemm_kernel k = {P_MR, P_NR, tile_portable, dot_portable, NULL};
#if defined(__x86_64__)
    if (isa == MG_ISA_AVX512) {
        mg_gemm_kernel x = mg_gemm_kernel_avx512();
        if (x.mr)
            return x;
        isa = MG_ISA_AVX2;
    }
    if (isa == MG_ISA_AVX2) {
        mg_gemm_kernel x = mg_gemm_kernel_avx2();
        if (x.mr)
            return x;
    }
#else
    (void)isa;
#endif
    return k;
}

static float kernel_dot(const mg_gemm_kernel *k, const float *a, const float *b, int64_t n) {
    return k->dot ? k->dot(a, b, n) : dot_portable(a, b, n);
}

/* ---- packing --------------------------------------------------------------------------- */

static float *alloc_aligned(size_t n_floats, const char *what) {
    size_t bytes = (n_floats * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p)
        mg_fail(MG_ERR_NOMEM, "out of memory allocating %zu bytes for %s", bytes, what);
    return p;
}

mg_status mg_gemm_pack_b(mg_gemm_b *b, int64_t K, int64_t N, const float *src, int64_t rs, int64_t cs) {
    return mg_gemm_pack_b_isa(b, (int)mg_isa_active(), K, N, src, rs, cs);
}

mg_status mg_gemm_pack_b_isa(mg_gemm_b *b, int isa, int64_t K, int64_t N, const float *src, int64_t rs, int64_t cs) {
    memset(b, 0, sizeof *b);
    if (K <= 0 || N <= 0)
        return mg_fail(MG_ERR_INVALID_ARG, "gemm: cannot pack a %lld x %lld matrix", (long long)K, (long long)N);
    mg_gemm_kernel k = mg_gemm_kernel_for(isa);
    b->K = K;
    b->N = N;
    b->isa = isa;
    if (N <= GEMM_NARROW_N) {
        b->nr = 0;
        b->data = alloc_aligned((size_t)(N * K), "a packed weight");
        if (!b->data)
            return MG_ERR_NOMEM;
        for (int64_t n = 0; n < N; n++)
            for (int64_t kk = 0; kk < K; kk++)
                b->data[n * K + kk] = src[kk * rs + n * cs];
        return MG_OK;
    }
    int nr = k.nr;
    int64_t panels = (N + nr - 1) / nr;
    b->nr = nr;
    b->data = alloc_aligned((size_t)(panels * K * nr), "a packed weight");
    if (!b->data)
        return MG_ERR_NOMEM;
    for (int64_t p = 0; p < panels; p++) {
        float *dst = b->data + p * K * nr;
        for (int64_t kk = 0; kk < K; kk++)
            for (int j = 0; j < nr; j++) {
                int64_t n = p * nr + j;
                dst[kk * nr + j] = n < N ? src[kk * rs + n * cs] : 0.0f;
            }
    }
    return MG_OK;
}

void mg_gemm_b_free(mg_gemm_b *b) {
    if (!b)
        return;
    free(b->data);
    memset(b, 0, sizeof *b);
}

int64_t mg_gemm_b_bytes(const mg_gemm_b *b) {
    if (!b->data)
        return 0;
    if (!b->nr)
        return b->N * b->K * 4;
    return (b->N + b->nr - 1) / b->nr * b->nr * b->K * 4;
}

/* ---- threaded driver ------------------------------------------------------------------- */

typedef struct gemm_job {
    const mg_gemm_b *B;
    mg_gemm_kernel kern;
    const float *A;
    int64_t lda, M;
    float *C;
    int64_t ldc;
    const float *bias;
    int accumulate;
    int64_t mc;          /* rows per task (multiple of mr) */
    int64_t panels;      /* panels of B */
    int64_t group;       /* panels per task */
    int64_t n_groups;
} gemm_job;

/* Copy rows [m0, m0 + rows) x cols [k0, k0 + kc) of A into dst with row stride
 * GEMM_LDP, zero rows up to a whole number of MR-row slivers. */
static void pack_a(const gemm_job *j, int64_t m0, int64_t rows, int64_t k0, int64_t kc, float *dst) {
    const int mr = j->kern.mr;
    int64_t padded = (rows + mr - 1) / mr * mr;
    for (int64_t i = 0; i < padded; i++) {
        if (i < rows)
            memcpy(dst + i * GEMM_LDP, j->A + (m0 + i) * j->lda + k0, (size_t)kc * sizeof(float));
        else
            memset(dst + i * GEMM_LDP, 0, (size_t)kc * sizeof(float));
    }
}

/* One MR x NR tile (A rows at A + i * lda). A tile that overhangs M or N runs the
 * same kernel into a scratch tile and merges the valid part with the kernel's own
 * epilogue arithmetic, so its values match those of full tiles. */
static void run_tile(const gemm_job *j, int64_t kc, const float *A, int64_t lda, const float *Bp, float *C, int mvalid,
                     int nvalid, int load, const float *bias) {
    const mg_gemm_kernel *k = &j->kern;
    if (mvalid == k->mr && nvalid == k->nr) {
        k->tile(kc, A, lda, Bp, C, j->ldc, load, bias);
        return;
    }
    float tmpC[GEMM_MAX_MR * GEMM_MAX_NR];
    k->tile(kc, A, lda, Bp, tmpC, k->nr, 0, NULL);
    for (int i = 0; i < mvalid; i++)
        for (int c = 0; c < nvalid; c++) {
            float v = tmpC[i * k->nr + c];
            if (bias)
                v += bias[c];
            C[i * j->ldc + c] = load ? C[i * j->ldc + c] + v : v;
        }
}

static _Thread_local float t_apack[GEMM_MC_MAX * GEMM_LDP] __attribute__((aligned(64)));

static void gemm_task(void *arg, int task) {
    const gemm_job *j = arg;
    const mg_gemm_b *B = j->B;
    const int mr = j->kern.mr, nr = B->nr;
    int64_t mb = task / j->n_groups, gb = task % j->n_groups;
    int64_t m0 = mb * j->mc, m1 = m0 + j->mc < j->M ? m0 + j->mc : j->M;
    int64_t p0 = gb * j->group, p1 = p0 + j->group < j->panels ? p0 + j->group : j->panels;
    /* Copy the A block when it is reused by many panels or its rows alias in the
     * cache (4 KB apart); else read A in place. The last, partial sliver is always
     * copied (zero rows past M). */
    int copy = p1 - p0 > 2 || j->lda % 1024 == 0;
    int64_t full_rows = (m1 - m0) / mr * mr;
    for (int64_t k0 = 0; k0 < B->K; k0 += GEMM_KC) {
        int64_t kc = B->K - k0 < GEMM_KC ? B->K - k0 : GEMM_KC;
        int first = k0 == 0;
        int load = !first || j->accumulate;
        if (copy)
            pack_a(j, m0, m1 - m0, k0, kc, t_apack);
        else if (full_rows < m1 - m0)
            pack_a(j, m0 + full_rows, m1 - m0 - full_rows, k0, kc, t_apack);
        for (int64_t p = p0; p < p1; p++) {
            const float *Bp = B->data + (p * B->K + k0) * nr;
            int64_t n0 = p * nr;
            int nvalid = B->N - n0 < nr ? (int)(B->N - n0) : nr;
            const float *bias = first && j->bias ? j->bias + n0 : NULL;
            for (int64_t m = m0; m < m1; m += mr) {
                const float *A;
                int64_t lda;
                if (copy) {
                    A = t_apack + (m - m0) * GEMM_LDP;
                    lda = GEMM_LDP;
                } else if (m - m0 >= full_rows) {
                    A = t_apack;
                    lda = GEMM_LDP;
                } else {
                    A = j->A + m * j->lda + k0;
                    lda = j->lda;
                }
                int mvalid = m1 - m < mr ? (int)(m1 - m) : mr;
                run_tile(j, kc, A, lda, Bp, j->C + m * j->ldc + n0, mvalid, nvalid, load, bias);
            }
        }
    }
}

typedef struct narrow_job {
    const mg_gemm_b *B;
    mg_gemm_kernel kern;
    const float *A;
    int64_t lda, M;
    float *C;
    int64_t ldc;
    const float *bias;
    int accumulate;
    int64_t rows;
} narrow_job;

static void narrow_task(void *arg, int task) {
    const narrow_job *j = arg;
    int64_t m0 = task * j->rows, m1 = m0 + j->rows < j->M ? m0 + j->rows : j->M;
    for (int64_t m = m0; m < m1; m++)
        for (int64_t n = 0; n < j->B->N; n++) {
            float v = kernel_dot(&j->kern, j->A + m * j->lda, j->B->data + n * j->B->K, j->B->K);
            if (j->bias)
                v += j->bias[n];
            float *c = j->C + m * j->ldc + n;
            *c = j->accumulate ? *c + v : v;
        }
}

void mg_gemm(mg_pool *pool, int64_t M, const float *A, int64_t lda, const mg_gemm_b *B, float *C, int64_t ldc,
             const float *bias, int accumulate) {
    if (M <= 0)
        return;
    mg_gemm_kernel kern = mg_gemm_kernel_for(B->isa);
    if (!B->nr) {
        narrow_job j = {B, kern, A, lda, M, C, ldc, bias, accumulate, 0};
        /* ~64k multiply-adds per task */
        int64_t rows = 65536 / (B->K * B->N) + 1;
        j.rows = rows;
        mg_pool_run(pool, narrow_task, &j, (int)((M + rows - 1) / rows));
        return;
    }
    gemm_job j = {B, kern, A, lda, M, C, ldc, bias, accumulate, 0, 0, 0, 0};
    int64_t mc = M < GEMM_MC_MAX ? M : GEMM_MC_MAX;
    j.mc = (mc + kern.mr - 1) / kern.mr * kern.mr;
    j.panels = (B->N + B->nr - 1) / B->nr;
    int64_t m_blocks = (M + j.mc - 1) / j.mc;
    int64_t want_groups = m_blocks >= GEMM_MIN_TASKS ? 1 : (GEMM_MIN_TASKS + m_blocks - 1) / m_blocks;
    if (want_groups > j.panels)
        want_groups = j.panels;
    j.group = (j.panels + want_groups - 1) / want_groups;
    j.n_groups = (j.panels + j.group - 1) / j.group;
    int64_t tasks = m_blocks * j.n_groups;
    mg_pool_run(pool, gemm_task, &j, (int)tasks);
}

void mg_gemm_ref(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *src, int64_t rs,
                 int64_t cs, float *C, int64_t ldc, const float *bias, int accumulate) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = bias ? bias[n] : 0.0;
            for (int64_t k = 0; k < K; k++)
                s += (double)A[m * lda + k] * src[k * rs + n * cs];
            C[m * ldc + n] = accumulate ? C[m * ldc + n] + (float)s : (float)s;
        }
}

void mg_gemv_rows(const float *W, int64_t ldw, int64_t rows, const float *x, int64_t n, float *y) {
    mg_gemm_kernel k = mg_gemm_kernel_for((int)mg_isa_active());
    int64_t r = 0;
    if (k.dot4)
        for (; r + 4 <= rows; r += 4)
            k.dot4(W + r * ldw, ldw, x, n, y + r);
    for (; r < rows; r++)
        y[r] = kernel_dot(&k, W + r * ldw, x, n);
}
