/* matmul.c — the threaded matrix product (see matmul.h): kernel dispatch, activation
 * quantization for the integer kernels, and the scalar reference kernels for every
 * weight format. SIMD kernels live in matmul_<isa>.c; docs/kernels.md explains the
 * formats, tiles and numbers. Follows ggml's split: a scalar path per format, SIMD
 * paths tested against it. Does not pack or reorder weights at run time: kernels read
 * the mg_matrix as stored (ggml block layouts, or the 16-row groups of q8_0x16 /
 * q4_0x16, which `musicgen quantize` writes; chunks of their products are whole
 * groups). */
#include "tensor/matmul.h"
#include "tensor/finite.h"
#include "tensor/ops.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
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

/* One weight row against M activation rows; formats other than f32 are expanded to
 * f32 in pieces first. */
#define MG_EXPAND_CHUNK 1024
static void rowdot_scalar(mg_dtype t, const uint8_t *w, const float *X, int64_t M, size_t ldx, int64_t n,
                          float *y, int64_t ldy) {
    if (t == MG_DT_F32) {
        for (int64_t m = 0; m < M; m++)
            y[m * ldy] = dot_f32((const float *)w, X + (size_t)m * ldx, n);
        return;
    }
    float buf[MG_EXPAND_CHUNK];
    for (int64_t m = 0; m < M; m++)
        y[m * ldy] = 0;
    size_t stride = mg_dtype_row_bytes(t, MG_EXPAND_CHUNK);
    for (int64_t c0 = 0; c0 < n; c0 += MG_EXPAND_CHUNK) {
        int64_t len = n - c0 < MG_EXPAND_CHUNK ? n - c0 : MG_EXPAND_CHUNK;
        mg_row_to_f32(t, w + (size_t)(c0 / MG_EXPAND_CHUNK) * stride, buf, len);
        for (int64_t m = 0; m < M; m++)
            y[m * ldy] += dot_f32(buf, X + (size_t)m * ldx + c0, len);
    }
}

#define MG_SCALAR_GEMM(name, dtype)                                                                 \
    static void name(const uint8_t *w, size_t w_stride, int64_t rows, const void *x, size_t x_stride, \
                     int64_t M, int64_t n, float *y, int64_t ldy) {                                 \
        for (int64_t r = 0; r < rows; r++)                                                          \
            rowdot_scalar(dtype, w + (size_t)r * w_stride, x, M, x_stride / sizeof(float), n, y + r, ldy); \
    }
MG_SCALAR_GEMM(gemm_f32_scalar, MG_DT_F32)
MG_SCALAR_GEMM(gemm_f16_scalar, MG_DT_F16)
MG_SCALAR_GEMM(gemm_bf16_scalar, MG_DT_BF16)
MG_SCALAR_GEMM(gemm_q8_0_scalar, MG_DT_Q8_0)
MG_SCALAR_GEMM(gemm_q4_0_scalar, MG_DT_Q4_0)

/* q8_0x16 / q4_0x16: each row's blocks are gathered back into their block format's
 * order and go through that format's path above, so the reference gives the same bits
 * for both layouts. `w` starts a 16-row group (rows % 16 == 0). */
static void gemm_x16_scalar(mg_dtype t, const uint8_t *w, size_t w_stride, int64_t rows, const void *x,
                            size_t x_stride, int64_t M, int64_t n, float *y, int64_t ldy) {
    mg_block_q8_0 row[MG_EXPAND_CHUNK / MG_QK]; /* room for either block format */
    float buf[MG_EXPAND_CHUNK];
    const float *X = x;
    size_t ldx = x_stride / sizeof(float);
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *group = w + (size_t)(r / MG_X16_ROWS) * MG_X16_ROWS * w_stride;
        float *yr = y + r;
        for (int64_t m = 0; m < M; m++)
            yr[m * ldy] = 0;
        for (int64_t c0 = 0; c0 < n; c0 += MG_EXPAND_CHUNK) {
            int64_t len = n - c0 < MG_EXPAND_CHUNK ? n - c0 : MG_EXPAND_CHUNK;
            mg_x16_unpack(t, group, (int)(r % MG_X16_ROWS), c0 / MG_QK, len / MG_QK, row);
            mg_row_to_f32(mg_dtype_x16_base(t), row, buf, len);
            for (int64_t m = 0; m < M; m++)
                yr[m * ldy] += dot_f32(buf, X + (size_t)m * ldx + c0, len);
        }
    }
}

#define MG_SCALAR_GEMM_X16(name, dtype)                                                             \
    static void name(const uint8_t *w, size_t w_stride, int64_t rows, const void *x, size_t x_stride, \
                     int64_t M, int64_t n, float *y, int64_t ldy) {                                 \
        gemm_x16_scalar(dtype, w, w_stride, rows, x, x_stride, M, n, y, ldy);                       \
    }
MG_SCALAR_GEMM_X16(gemm_q8_0x16_scalar, MG_DT_Q8_0X16)
MG_SCALAR_GEMM_X16(gemm_q4_0x16_scalar, MG_DT_Q4_0X16)

/* ---- activation quantization (reference) --------------------------------------- */

size_t mg_act_q8_bytes(int64_t n) {
    int64_t nbp = ((n / MG_QK) + 1) & ~(int64_t)1;
    return (size_t)nbp * (MG_QK + 8 * sizeof(float) + 8 * sizeof(int32_t));
}

/* The reference rounding of one 32-value block (x NULL: a padding block of zeros) to
 * integers of magnitude <= qmax: q[j] = round-half-even(x[j] / dd), the SIMD
 * quantizers' cvtps2dq. Blocks of (near) zeros quantize to zero: no inf scales. */
static void ref_block_round(const float *x, float qmax, int32_t q[MG_QK], float *dd) {
    float amax = 0, id = 0;
    if (x)
        for (int j = 0; j < MG_QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
    *dd = 0;
    if (amax >= 1e-30f) {
        *dd = amax / qmax;
        id = qmax / amax;
    }
    for (int j = 0; j < MG_QK; j++) {
        float v = x ? x[j] * id : 0.0f;
        v = v != v ? 0.0f : v > qmax ? qmax : v < -qmax ? -qmax : v;
        q[j] = (int32_t)nearbyintf(v);
    }
}

void mg_act_q8_quantize_ref(const float *x, int64_t n, void *dst, int corr_mult) {
    int64_t nb = n / MG_QK, nbp = (nb + 1) & ~(int64_t)1;
    int8_t *q = dst;
    float *d = (float *)(q + nbp * MG_QK);
    int32_t *c = (int32_t *)(d + nbp * 8);
    for (int64_t b = 0; b < nbp; b++) {
        int32_t qi[MG_QK], sum = 0;
        float dd;
        ref_block_round(b < nb ? x + b * MG_QK : NULL, 127.0f, qi, &dd);
        for (int j = 0; j < MG_QK; j++) {
            q[b * MG_QK + j] = (int8_t)qi[j];
            sum += qi[j];
        }
        for (int j = 0; j < 8; j++) {
            d[b * 8 + j] = dd;
            c[b * 8 + j] = corr_mult * sum;
        }
    }
}

size_t mg_act_q16_bytes(int64_t n) {
    int64_t nb = n / MG_QK;
    return (size_t)nb * MG_QK * sizeof(int16_t) + (size_t)((nb + 15) & ~(int64_t)15) * sizeof(float);
}

void mg_act_q16_quantize_ref(const float *x, int64_t n, void *dst, int corr_mult) {
    (void)corr_mult;
    int64_t nb = n / MG_QK;
    int16_t *q = dst;
    float *d = mg_act_q16_scales(dst, n);
    for (int64_t b = 0; b < nb; b++) {
        int32_t qi[MG_QK];
        ref_block_round(x + b * MG_QK, 32767.0f, qi, &d[b]);
        for (int j = 0; j < MG_QK; j++)
            q[b * MG_QK + j] = (int16_t)qi[j];
    }
    mg_act_q16_pad(d, nb);
}

size_t mg_kernel_act_bytes(const mg_kernel *k, int64_t n) {
    if (!k->quantize)
        return (size_t)n * sizeof(float);
    return k->act16 ? mg_act_q16_bytes(n) : mg_act_q8_bytes(n);
}

/* ---- dispatch ---------------------------------------------------------------------- */

static mg_kernel scalar_kernel(mg_dtype t) {
    mg_kernel k = {0};
    switch (t) {
    case MG_DT_F32: k.gemm = gemm_f32_scalar; break;
    case MG_DT_F16: k.gemm = gemm_f16_scalar; break;
    case MG_DT_BF16: k.gemm = gemm_bf16_scalar; break;
    case MG_DT_Q8_0: k.gemm = gemm_q8_0_scalar; break;
    case MG_DT_Q4_0: k.gemm = gemm_q4_0_scalar; break;
    case MG_DT_Q8_0X16: k.gemm = gemm_q8_0x16_scalar; break;
    case MG_DT_Q4_0X16: k.gemm = gemm_q4_0x16_scalar; break;
    default: break;
    }
    return k;
}

mg_kernel mg_matmul_kernel(mg_isa isa, mg_dtype t) {
    mg_kernel k = {0};
    switch (isa) {
    case MG_ISA_SCALAR: return scalar_kernel(t);
#if defined(__x86_64__)
    case MG_ISA_AVX2:
        if (!mg_isa_avxvnni() || !mg_matmul_kernel_avxvnni(t, &k))
            mg_matmul_kernel_avx2(t, &k);
        break;
    case MG_ISA_AVX512: mg_matmul_kernel_avx512(t, &k); break;
#endif
#if defined(__aarch64__)
    case MG_ISA_NEON: mg_matmul_kernel_neon(t, &k); break;
#endif
    default: break;
    }
    return k;
}

/* The kernel for W on the active ISA; the reference one where that ISA has none, or
 * where W's rows are shorter than one block (degenerate: nothing to quantize). */
static mg_kernel active_kernel(const mg_matrix *W) {
    mg_kernel k = mg_matmul_kernel(mg_isa_active(), W->dtype);
    return k.gemm && !(k.quantize && W->cols < MG_QK) ? k : scalar_kernel(W->dtype);
}

/* ---- per-thread scratch for quantized activations ----------------------------------
 * Grown on demand and kept, so a decoder step does not allocate; freed when the
 * calling thread exits. */

typedef struct {
    void *p;
    size_t cap;
} act_scratch;

static pthread_key_t g_scratch_key;
static pthread_once_t g_scratch_once = PTHREAD_ONCE_INIT;
static int g_scratch_key_ok;

static void scratch_free(void *v) {
    act_scratch *s = v;
    if (s)
        free(s->p);
    free(s);
}

static void scratch_key_init(void) { g_scratch_key_ok = pthread_key_create(&g_scratch_key, scratch_free) == 0; }

/* A 64-byte aligned buffer of at least `bytes`, or NULL when out of memory. */
static void *scratch_get(size_t bytes) {
    pthread_once(&g_scratch_once, scratch_key_init);
    if (!g_scratch_key_ok)
        return NULL;
    act_scratch *s = pthread_getspecific(g_scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || pthread_setspecific(g_scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (s->cap < bytes) {
        void *p = NULL;
        size_t cap = bytes + bytes / 4;
        cap = (cap + 63) & ~(size_t)63;
        if (posix_memalign(&p, 64, cap) != 0)
            return NULL;
        free(s->p);
        s->p = p;
        s->cap = cap;
    }
    return s->p;
}

/* ---- the threaded product ------------------------------------------------------------ */

typedef struct {
    const mg_matrix *W;
    mg_kernel k;
    const uint8_t *X; /* f32 rows or quantized rows */
    size_t x_stride;
    int64_t M, ldy;
    float *Y;
    const float *bias;
    mg_act act;      /* activation of the outputs (mg_matmul_group) */
    int first_task;  /* this product's first task in its group's task list */
    int64_t rows_per_task, m_block;
    /* quantization job */
    const float *Xf;
    int64_t ldx;
    uint8_t *Xq;
} matmul_job;

/* Output rows r0 .. r1-1 of one product. */
static void matmul_row_range(const matmul_job *j, int64_t r0, int64_t r1) {
    const uint8_t *w = (const uint8_t *)j->W->data + (size_t)r0 * j->W->row_bytes;
    for (int64_t m0 = 0; m0 < j->M; m0 += j->m_block) {
        int64_t mb = j->M - m0 < j->m_block ? j->M - m0 : j->m_block;
        j->k.gemm(w, j->W->row_bytes, r1 - r0, j->X + (size_t)m0 * j->x_stride, j->x_stride, mb, j->W->cols,
                  j->Y + m0 * j->ldy + r0, j->ldy);
    }
    if (j->bias)
        for (int64_t m = 0; m < j->M; m++)
            for (int64_t r = r0; r < r1; r++)
                j->Y[m * j->ldy + r] += j->bias[r];
    if (j->act) /* elementwise, so the same values as one mg_activate over whole rows */
        for (int64_t m = 0; m < j->M; m++)
            mg_activate(j->act, j->Y + m * j->ldy + r0, r1 - r0);
}

static void matmul_rows(const matmul_job *j, int task) {
    int64_t r0 = (int64_t)task * j->rows_per_task;
    int64_t r1 = r0 + j->rows_per_task;
    matmul_row_range(j, r0, r1 < j->W->rows ? r1 : j->W->rows);
}

static void matmul_task(void *arg, int task) { matmul_rows(arg, task); }

/* ---- few activation rows: one range per thread, the rest stolen ---------------------- */

/* A decoder step reads every weight once, so each thread should stream one long run.
 * The products' rows (all products of a group, one after another) are cut into units
 * (a tile: 4 rows, or an x16 matrix's 16-row group) and handed out by
 * mg_pool_run_ranges: a contiguous range per thread, claimed from its front in
 * shrinking pieces of at least ~16 KiB of weights, the rest stolen from the back by a
 * thread that is done. Against two slices per thread claimed in turn (split_rows), on
 * musicgen-small q8_0 with 2 threads (paired `musicgen bench` runs, 2026-11-27): the
 * time the caller waited for the other thread at the end of jobs fell 25-40 %, the other
 * thread's idle time between jobs 15-30 %, and the step ~1-2 % (docs/kernels.md). */
#define MG_STEAL_MIN_BYTES 16384

typedef struct {
    const matmul_job *jobs;
    int n;
    int64_t first_unit[MG_MATMUL_GROUP_MAX + 1]; /* product i has units first_unit[i] .. [i+1]-1 */
    int64_t unit_rows[MG_MATMUL_GROUP_MAX];
    int64_t min_claim[MG_MATMUL_GROUP_MAX]; /* units of at least MG_STEAL_MIN_BYTES */
} unit_plan;

static int product_of_unit(const unit_plan *p, int64_t u) {
    int i = 0;
    while (i + 1 < p->n && u >= p->first_unit[i + 1])
        i++;
    return i;
}

static int64_t least_units(void *arg, int64_t u) {
    const unit_plan *p = arg;
    return p->min_claim[product_of_unit(p, u)];
}

static void run_units(void *arg, int64_t u0, int64_t u1) {
    const unit_plan *p = arg;
    for (int i = product_of_unit(p, u0); i < p->n && p->first_unit[i] < u1; i++) {
        int64_t a = u0 > p->first_unit[i] ? u0 : p->first_unit[i];
        int64_t b = u1 < p->first_unit[i + 1] ? u1 : p->first_unit[i + 1];
        const matmul_job *j = &p->jobs[i];
        int64_t r1 = (b - p->first_unit[i]) * p->unit_rows[i];
        matmul_row_range(j, (a - p->first_unit[i]) * p->unit_rows[i], r1 < j->W->rows ? r1 : j->W->rows);
    }
}

/* Runs the products of jobs[0..n) (M within one activation block) this way; returns 0,
 * doing nothing, when mg_pool_run_ranges does not take them (one thread, very wide
 * pools). */
static int run_stealing(mg_pool *pool, const matmul_job *jobs, int n) {
    unit_plan p;
    p.jobs = jobs;
    p.n = n;
    p.first_unit[0] = 0;
    for (int i = 0; i < n; i++) {
        const mg_matrix *W = jobs[i].W;
        p.unit_rows[i] = mg_dtype_is_x16(W->dtype) ? MG_X16_ROWS : 4;
        size_t unit_bytes = (size_t)p.unit_rows[i] * W->row_bytes;
        if (unit_bytes == 0)
            unit_bytes = 1;
        p.min_claim[i] = unit_bytes >= MG_STEAL_MIN_BYTES ? 1 : (int64_t)(MG_STEAL_MIN_BYTES / unit_bytes);
        p.first_unit[i + 1] = p.first_unit[i] + (W->rows + p.unit_rows[i] - 1) / p.unit_rows[i];
    }
    return mg_pool_run_ranges(pool, p.first_unit[n], least_units, run_units, &p);
}

#define MG_QUANT_ROWS_PER_TASK 4
/* Activations of fewer values than this are quantized by the calling thread alone. */
#define MG_QUANT_SERIAL_VALUES 65536
static void quantize_task(void *arg, int task) {
    const matmul_job *j = arg;
    int64_t m0 = (int64_t)task * MG_QUANT_ROWS_PER_TASK;
    for (int64_t m = m0; m < j->M && m < m0 + MG_QUANT_ROWS_PER_TASK; m++)
        j->k.quantize(j->Xf + (size_t)m * j->ldx, j->W->cols, j->Xq + (size_t)m * j->x_stride, j->k.corr_mult);
}

/* Activation rows per kernel call: about 256 KiB of X stays hot while a chunk of
 * weight rows passes over it. */
static int64_t m_block_for(size_t x_stride) {
    int64_t mb = (int64_t)(262144 / (x_stride + 1));
    return mb < 4 ? 4 : mb;
}

/* Sets j->m_block and j->rows_per_task; returns the number of tasks. Chunks are whole
 * tiles: 4 rows, or an x16 matrix's 16-row groups. */
static int split_rows(mg_pool *pool, matmul_job *j) {
    j->m_block = m_block_for(j->x_stride);
    const int64_t align = mg_dtype_is_x16(j->W->dtype) ? MG_X16_ROWS : 4;
    int64_t rows;
    if (j->M <= j->m_block) {
        /* Few activation rows (decoder steps), when run_stealing does not take them
         * (pools of more than MG_POOL_RANGES_MAX threads): weights are read once, so
         * give each thread two contiguous slices and let every core stream long runs.
         * Small interleaved chunks streamed ~15% slower (musicgen-small q8_0 step
         * 26-28 -> 22-23 ms); two slices per thread still let a core that finishes
         * early (the other was descheduled) take over a slice. */
        int64_t n_slices = 2 * (int64_t)mg_pool_threads(pool);
        rows = (j->W->rows + n_slices - 1) / n_slices;
        rows = (rows + align - 1) / align * align;
        if (rows < 8)
            rows = 8;
    } else {
        /* Many activation rows: chunks of about 64 KiB of weights stay in cache while
         * every activation block passes over them; at least 8 rows, and enough chunks
         * to balance small matrices. */
        rows = (int64_t)(65536 / (j->W->row_bytes ? j->W->row_bytes : 1));
        if (rows < 8)
            rows = 8;
        if (rows > 256)
            rows = 256;
        while (rows > 8 && (j->W->rows + rows - 1) / rows < 32)
            rows /= 2;
        rows = rows / align * align;
        if (rows < align)
            rows = align;
    }
    /* Results never depend on the split: every output row is computed the same way in
     * any chunk, so thread counts do not change them. */
    j->rows_per_task = rows;
    return (int)((j->W->rows + rows - 1) / rows);
}

static void run_rows(mg_pool *pool, matmul_job *j) {
    int n_tasks = split_rows(pool, j); /* also sets j->m_block, which run_stealing's rows use */
    if (j->M <= j->m_block && run_stealing(pool, j, 1))
        return;
    mg_pool_run(pool, matmul_task, j, n_tasks);
}

/* Quantized activations cannot carry NaN or inf (a block's scale comes from a max that
 * skips NaN; inf scales the block to zeros): the rows of X that hold one get NaN
 * outputs instead, so a non-finite value propagates as it does through the float
 * kernels and the caller's finiteness checks still see it. The rows are scanned right
 * after they are quantized, while they are in cache (a decoder step's, in L1; the
 * product's weights pass through the caches after that), once per input (Q, K and V share theirs), and only a row that
 * held a non-finite value is scanned again, to set its outputs, after the product. */
static int any_row_nonfinite(const float *X, int64_t ldx, int64_t cols, int64_t M) {
    for (int64_t m = 0; m < M; m++)
        if (mg_any_nonfinite(X + (size_t)m * (size_t)ldx, cols))
            return 1;
    return 0;
}

static void nan_rows_of_nonfinite(const float *X, int64_t ldx, int64_t cols, int64_t M, float *Y, int64_t ldy,
                                  int64_t rows) {
    for (int64_t m = 0; m < M; m++)
        if (mg_any_nonfinite(X + (size_t)m * (size_t)ldx, cols))
            for (int64_t r = 0; r < rows; r++)
                Y[(size_t)m * (size_t)ldy + (size_t)r] = NAN;
}

/* Quantized activations are made in slabs of at most this many bytes (large M only). */
#define MG_ACT_SLAB_BYTES ((size_t)8 << 20)

void mg_matmul(mg_pool *pool, const mg_matrix *W, const float *X, int64_t M, int64_t ldx, float *Y,
               int64_t ldy, const float *bias) {
    if (M <= 0 || W->rows <= 0)
        return;
    matmul_job j = {0};
    j.W = W;
    j.k = active_kernel(W);
    j.ldy = ldy;
    j.bias = bias;
    if (j.k.quantize) {
        size_t row_bytes = mg_kernel_act_bytes(&j.k, W->cols);
        int64_t slab = (int64_t)(MG_ACT_SLAB_BYTES / row_bytes);
        slab = slab < 1 ? 1 : slab > M ? M : slab;
        uint8_t *buf = scratch_get((size_t)slab * row_bytes);
        if (buf) {
            j.x_stride = row_bytes;
            for (int64_t m0 = 0; m0 < M; m0 += slab) {
                j.M = M - m0 < slab ? M - m0 : slab;
                j.Xf = X + (size_t)m0 * (size_t)ldx;
                j.ldx = ldx;
                j.Xq = buf;
                int n_quant = (int)((j.M + MG_QUANT_ROWS_PER_TASK - 1) / MG_QUANT_ROWS_PER_TASK);
                if (j.M * W->cols >= MG_QUANT_SERIAL_VALUES) /* the product, not this, takes a hint */
                    mg_pool_run_keep_hint(pool, quantize_task, &j, n_quant);
                else
                    for (int t = 0; t < n_quant; t++)
                        quantize_task(&j, t);
                int nonfinite = any_row_nonfinite(j.Xf, ldx, W->cols, j.M);
                j.X = buf;
                j.Y = Y + m0 * ldy;
                run_rows(pool, &j);
                if (nonfinite)
                    nan_rows_of_nonfinite(j.Xf, ldx, W->cols, j.M, j.Y, ldy, W->rows);
            }
            return;
        }
        /* Out of memory for the scratch: fall back to the reference kernel. */
        j.k = scalar_kernel(W->dtype);
    }
    j.X = (const uint8_t *)X;
    j.x_stride = (size_t)ldx * sizeof(float);
    j.M = M;
    j.Y = Y;
    run_rows(pool, &j);
}

void mg_matmul_prefetch_after(mg_pool *pool, const mg_matrix *const *W, int n) {
    mg_pool_region r[MG_POOL_HINT_MAX];
    int k = 0;
    for (int i = 0; i < n && k < MG_POOL_HINT_MAX; i++)
        if (W[i]->rows > 0)
            r[k++] = (mg_pool_region){W[i]->data, W[i]->row_bytes * (size_t)W[i]->rows};
    mg_pool_prefetch_after(pool, r, k);
}

/* ---- several products in one pool job ------------------------------------------------ */

typedef struct {
    matmul_job *jobs;
    int n;
} group_job;

static void group_task(void *arg, int task) {
    const group_job *g = arg;
    int i = g->n - 1;
    while (i > 0 && task < g->jobs[i].first_task)
        i--;
    matmul_rows(&g->jobs[i], task - g->jobs[i].first_task);
}

/* The products one at a time (many activation rows, or no scratch memory). */
static void group_one_by_one(mg_pool *pool, const mg_matmul_op *ops, int n, int64_t M) {
    for (int i = 0; i < n; i++) {
        mg_matmul(pool, ops[i].W, ops[i].X, M, ops[i].ldx, ops[i].Y, ops[i].ldy, ops[i].bias);
        if (ops[i].act)
            for (int64_t m = 0; m < M; m++)
                mg_activate(ops[i].act, ops[i].Y + m * ops[i].ldy, ops[i].W->rows);
    }
}

/* Do two products of a group take the same quantized activations? */
static int same_activations(const matmul_job *a, const mg_matmul_op *oa, const matmul_job *b, const mg_matmul_op *ob) {
    return oa->X == ob->X && oa->ldx == ob->ldx && a->W->cols == b->W->cols && a->k.quantize == b->k.quantize &&
           a->k.corr_mult == b->k.corr_mult;
}

void mg_matmul_group(mg_pool *pool, const mg_matmul_op *ops, int n, int64_t M) {
    if (M <= 0 || n <= 0)
        return;
    if (n > MG_MATMUL_GROUP_MAX) {
        mg_matmul_group(pool, ops, MG_MATMUL_GROUP_MAX, M);
        mg_matmul_group(pool, ops + MG_MATMUL_GROUP_MAX, n - MG_MATMUL_GROUP_MAX, M);
        return;
    }
    matmul_job jobs[MG_MATMUL_GROUP_MAX];
    size_t q_bytes = 0;
    for (int i = 0; i < n; i++) {
        matmul_job *j = &jobs[i];
        memset(j, 0, sizeof *j);
        j->W = ops[i].W;
        j->k = active_kernel(j->W);
        j->x_stride = j->k.quantize ? mg_kernel_act_bytes(&j->k, j->W->cols) : (size_t)ops[i].ldx * sizeof(float);
        /* Grouping is for decoder steps: few rows, cheap activation quantization. */
        if (j->W->rows <= 0 || M > m_block_for(j->x_stride) || (j->k.quantize && M * j->W->cols >= MG_QUANT_SERIAL_VALUES)) {
            group_one_by_one(pool, ops, n, M);
            return;
        }
        if (j->k.quantize)
            q_bytes += (size_t)M * j->x_stride;
    }
    uint8_t *q = q_bytes ? scratch_get(q_bytes) : NULL;
    if (q_bytes && !q) {
        group_one_by_one(pool, ops, n, M);
        return;
    }
    int n_tasks = 0;
    int nonfinite[MG_MATMUL_GROUP_MAX] = {0}; /* a quantized input held NaN / inf */
    for (int i = 0; i < n; i++) {
        matmul_job *j = &jobs[i];
        j->M = M;
        j->Y = ops[i].Y;
        j->ldy = ops[i].ldy;
        j->bias = ops[i].bias;
        j->act = ops[i].act;
        if (j->k.quantize && i > 0 && same_activations(&jobs[i - 1], &ops[i - 1], j, &ops[i])) {
            j->X = jobs[i - 1].X; /* Q, K and V of one input: quantized and scanned once */
            nonfinite[i] = nonfinite[i - 1];
        } else if (j->k.quantize) {
            for (int64_t m = 0; m < M; m++)
                j->k.quantize(ops[i].X + (size_t)m * (size_t)ops[i].ldx, j->W->cols, q + (size_t)m * j->x_stride,
                              j->k.corr_mult);
            nonfinite[i] = any_row_nonfinite(ops[i].X, ops[i].ldx, j->W->cols, M);
            j->X = q;
            q += (size_t)M * j->x_stride;
        } else {
            j->X = (const uint8_t *)ops[i].X;
        }
        j->first_task = n_tasks;
        n_tasks += split_rows(pool, j);
    }
    group_job g = {jobs, n};
    if (!run_stealing(pool, jobs, n))
        mg_pool_run(pool, group_task, &g, n_tasks);
    for (int i = 0; i < n; i++)
        if (nonfinite[i])
            nan_rows_of_nonfinite(ops[i].X, ops[i].ldx, jobs[i].W->cols, M, jobs[i].Y, jobs[i].ldy, jobs[i].W->rows);
}
