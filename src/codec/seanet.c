/* seanet.c — EnCodec's convolution layers evaluated on windows of a time-major signal
 * (see seanet.h), following EncodecConv1d / EncodecConvTranspose1d /
 * EncodecResnetBlock of transformers' modeling_encodec.py:
 *
 *  - Conv1d: k_eff = (k-1)*dilation + 1, pad_total = k_eff - stride, extra padding so
 *    the last window is complete, pad (pad_total - pad_total/2, pad_total/2 + extra), or
 *    (pad_total, extra) when causal, by reflection, zeros or replication; in reflect
 *    mode, when the signal is not longer than the largest pad, zeros are appended first
 *    and cut from the end after reflecting (the reference's _pad1d).
 *  - ConvTranspose1d: full transposed convolution, then trim pad_total = k - stride
 *    (right = pad_total/2, or ceil(pad_total * trim_right_ratio) when causal; left = the
 *    rest): exactly L * stride rows.
 *  - Resnet block: x + conv1x1(ELU(conv_k(ELU(x)))) (or a 1x1 conv shortcut).
 * Each conv is one GEMM over an im2col matrix read in place from a gathered (padded,
 * ELU'd) copy of the input rows; weights are folded and packed at load, and neither
 * the folded copy nor the file's pages of the weight are kept. The stack runner evaluates layer after layer on a
 * chunk of output rows, having first worked out which rows each layer needs.
 *
 * Not here: time_group_norm, circular padding (rejected when the config is parsed).
 */
#include "codec/seanet.h"
#include "io/config.h"
#include "tensor/matmul.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- ELU -------------------------------------------------------------------------------- */

/* expm1(x) for x <= 0 without libm calls, so the loop vectorizes: x = n ln2 + r,
 * |r| <= ln2/2, expm1(x) = 2^n expm1(r) + (2^n - 1), expm1(r) by its Taylor series to
 * r^7 (truncation < 2e-8 relative). Absolute error ~1e-7. */
static inline float expm1_nonpos(float x) {
    x = x > -88.0f ? x : -88.0f;
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float t = x * 1.44269504088896341f + shifter;
    float n = t - shifter;
    int32_t ti;
    memcpy(&ti, &t, sizeof ti);
    int32_t ni = ti - 0x4B400000; /* the integer n, from the bits of t */
    float r = x - n * 0.693145751953125f;
    r = r - n * 1.428606765330187045e-06f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    float em1 = r + r * r * p;
    uint32_t bits = (uint32_t)(ni + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return s * em1 + (s - 1.0f);
}

static inline float elu1(float x) {
    float neg = expm1_nonpos(x < 0.0f ? x : 0.0f);
    return x > 0.0f ? x : neg;
}

void ec_elu(float *dst, const float *src, int64_t n) {
#if defined(__x86_64__)
    mg_isa isa = mg_isa_active();
    if (isa == MG_ISA_AVX512) {
        ec_elu_avx512(dst, src, n);
        return;
    }
    if (isa == MG_ISA_AVX2) {
        ec_elu_avx2(dst, src, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        dst[i] = elu1(src[i]);
}

/* ---- small helpers ---------------------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

typedef struct ec_buf {
    float *p;
    size_t cap; /* floats */
} ec_buf;

static mg_status buf_ensure(ec_buf *b, int64_t n) {
    if (n <= 0)
        n = 1;
    if ((size_t)n <= b->cap)
        return MG_OK;
    free(b->p);
    b->p = malloc((size_t)n * sizeof(float));
    b->cap = b->p ? (size_t)n : 0;
    if (!b->p)
        return mg_fail(MG_ERR_NOMEM, "out of memory allocating %lld bytes of EnCodec activations",
                       (long long)n * 4);
    return MG_OK;
}

static void buf_free(ec_buf *b) {
    free(b->p);
    b->p = NULL;
    b->cap = 0;
}

static const float *view_row(const ec_view *v, int64_t t) { return v->data + (t - v->t0) * v->ch; }

/* Guard against a range-propagation bug reading outside the computed window. */
static mg_status view_check(const ec_view *v, int64_t a, int64_t b, const char *what) {
    if (a >= b || (a >= v->t0 && b <= v->t1))
        return MG_OK;
    return mg_fail(MG_ERR_INTERNAL, "EnCodec %s: rows [%lld, %lld) needed but only [%lld, %lld) computed", what,
                   (long long)a, (long long)b, (long long)v->t0, (long long)v->t1);
}

/* ---- loading ---------------------------------------------------------------------------- */

/* Weights are folded into a temporary, packed, and the temporary freed; the pages of
 * the file they came from (prefix.weight, or weight_g / weight_v) are then dropped
 * from memory: nothing reads them again. */
static void release_weight(const mg_store *s, const char *prefix) {
    static const char *const suffix[3] = {"weight", "weight_g", "weight_v"};
    char name[300];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s.%s", prefix, suffix[i]);
        const mg_store_entry *e = mg_store_find(s, name);
        if (e)
            mg_store_release(s, e->t.data, e->t.nbytes);
    }
}

mg_status ec_conv_load(ec_conv *c, mg_store *s, const char *prefix, const ec_conv_spec *sp, ec_load_mode mode) {
    memset(c, 0, sizeof *c);
    c->cin = sp->cin;
    c->cout = sp->cout;
    c->k = sp->k;
    c->stride = sp->stride;
    c->dilation = sp->dilation;
    c->pad_mode = sp->pad_mode;
    c->elu_in = sp->elu_in;
    c->k_eff = (sp->k - 1) * sp->dilation + 1;
    c->pad_total = c->k_eff - sp->stride;
    if (c->pad_total < 0)
        return mg_fail(MG_ERR_UNSUPPORTED, "%s: stride %d larger than the kernel (%d) is not supported", prefix,
                       sp->stride, c->k_eff);
    c->pad_right = sp->causal ? 0 : c->pad_total / 2;
    c->pad_left = c->pad_total - c->pad_right;
    char name[256];
    int64_t wshape[3] = {sp->cout, sp->cin, sp->k};
    snprintf(name, sizeof name, "%s.bias", prefix);
    int64_t bshape[1] = {sp->cout};
    if (mode == EC_CHECK_ONLY) {
        mg_tensor bias;
        MG_TRY(mg_store_get(s, name, 1, bshape, &bias));
        return mg_store_fold_weight_norm(s, prefix, 3, wshape, NULL);
    }
    MG_TRY(mg_store_get_f32(s, name, 1, bshape, &c->bias));
    /* Fold into a temporary, reorder [co][ci][i] -> [(i * cin + ci)][co], pack. */
    int64_t K = (int64_t)sp->k * sp->cin;
    float *w = mg_malloc((size_t)(K * sp->cout) * sizeof(float), "a convolution weight");
    float *tmp = mg_malloc((size_t)(K * sp->cout) * sizeof(float), "a convolution weight");
    mg_status st = (w && tmp) ? mg_store_fold_weight_norm(s, prefix, 3, wshape, w) : MG_ERR_NOMEM;
    if (st == MG_OK) {
        /* 16 output channels at a time: 16 sequential read streams and 64-byte writes
         * (one channel at a time wrote 4 bytes every cout floats: a quarter of load time). */
        for (int co0 = 0; co0 < sp->cout; co0 += 16) {
            int co1 = co0 + 16 < sp->cout ? co0 + 16 : sp->cout;
            for (int ci = 0; ci < sp->cin; ci++)
                for (int i = 0; i < sp->k; i++) {
                    float *dst = tmp + ((int64_t)i * sp->cin + ci) * sp->cout;
                    for (int co = co0; co < co1; co++)
                        dst[co] = w[((int64_t)co * sp->cin + ci) * sp->k + i];
                }
        }
        st = mg_gemm_pack_b(&c->w, K, sp->cout, tmp, sp->cout, 1);
    }
    free(w);
    free(tmp);
    if (st == MG_OK)
        release_weight(s, prefix);
    return st;
}

mg_status ec_convt_load(ec_convt *c, mg_store *s, const char *prefix, int cin, int cout, int k, int stride,
                        int elu_in, const ec_trim_spec *trim) {
    memset(c, 0, sizeof *c);
    c->cin = cin;
    c->cout = cout;
    c->k = k;
    c->stride = stride;
    c->elu_in = elu_in;
    if (k < stride)
        return mg_fail(MG_ERR_UNSUPPORTED, "%s: transposed conv with kernel %d < stride %d is not supported", prefix, k,
                       stride);
    c->taps = (k + stride - 1) / stride;
    int pad_total = k - stride;
    c->trim_right = trim->causal ? (int)ceil(pad_total * trim->trim_right_ratio) : pad_total / 2;
    c->trim_left = pad_total - c->trim_right;
    char name[256];
    int64_t wshape[3] = {cin, cout, k}; /* ConvTranspose1d weight [in, out, k]; weight_norm over dim 0 */
    const float *bias;
    snprintf(name, sizeof name, "%s.bias", prefix);
    int64_t bshape[1] = {cout};
    MG_TRY(mg_store_get_f32(s, name, 1, bshape, &bias));
    int64_t K = (int64_t)c->taps * cin, N = (int64_t)stride * cout;
    c->bias_rep = mg_malloc((size_t)N * sizeof(float), "a transposed-conv bias");
    float *tmp = mg_calloc((size_t)(K * N), sizeof(float), "a transposed-conv weight");
    float *w = mg_malloc((size_t)cin * (size_t)cout * (size_t)k * sizeof(float), "a transposed-conv weight");
    mg_status st = (c->bias_rep && tmp && w) ? mg_store_fold_weight_norm(s, prefix, 3, wshape, w) : MG_ERR_NOMEM;
    if (st != MG_OK) {
        free(tmp);
        free(w);
        return st;
    }
    for (int p = 0; p < stride; p++)
        memcpy(c->bias_rep + (int64_t)p * cout, bias, (size_t)cout * sizeof(float));
    /* Window row w of block q is x[q - taps + 1 + w], i.e. tap m = taps - 1 - w. */
    for (int wi = 0; wi < c->taps; wi++) {
        int m = c->taps - 1 - wi;
        for (int ci = 0; ci < cin; ci++)
            for (int p = 0; p < stride; p++) {
                int i = p + m * stride;
                if (i >= k)
                    continue;
                for (int co = 0; co < cout; co++)
                    tmp[((int64_t)wi * cin + ci) * N + (int64_t)p * cout + co] = w[((int64_t)ci * cout + co) * k + i];
            }
    }
    st = mg_gemm_pack_b(&c->w, K, N, tmp, N, 1);
    free(tmp);
    free(w);
    if (st == MG_OK)
        release_weight(s, prefix);
    return st;
}

void ec_layer_free(ec_layer *l) {
    mg_gemm_b_free(&l->conv.w);
    mg_gemm_b_free(&l->convt.w);
    free(l->convt.bias_rep);
    l->convt.bias_rep = NULL;
    mg_gemm_b_free(&l->res.a.w);
    mg_gemm_b_free(&l->res.b.w);
    mg_gemm_b_free(&l->res.shortcut.w);
}

int64_t ec_layer_packed_bytes(const ec_layer *l) {
    return mg_gemm_b_bytes(&l->conv.w) + mg_gemm_b_bytes(&l->convt.w) + mg_gemm_b_bytes(&l->res.a.w) +
           mg_gemm_b_bytes(&l->res.b.w) + mg_gemm_b_bytes(&l->res.shortcut.w);
}

/* ---- Conv1d geometry ---------------------------------------------------------------------- */

typedef struct conv_geom {
    int64_t L;     /* input length */
    int64_t extra; /* extra right padding (last window complete) */
    int64_t Lz;    /* length after the small-input zero append (reflect mode; else L) */
    int64_t out;   /* output length */
} conv_geom;

static conv_geom conv_geometry(const ec_conv *c, int64_t L) {
    conv_geom g;
    g.L = L;
    /* n = ceil((L - k_eff + pad_total) / stride + 1) - 1 */
    int64_t n = ceil_div(L - c->k_eff + c->pad_total + c->stride, c->stride) - 1;
    g.extra = n * c->stride + c->k_eff - c->pad_total - L;
    if (g.extra < 0)
        g.extra = 0;
    int64_t padded = L + c->pad_total + g.extra;
    g.out = padded >= c->k_eff ? (padded - c->k_eff) / c->stride + 1 : 0;
    int64_t max_pad = max64(c->pad_left, c->pad_right + g.extra);
    g.Lz = (c->pad_mode == MG_PAD_REFLECT && L <= max_pad) ? max_pad + 1 : L;
    return g;
}

/* Source row of padded position p, or -1 for a zero. */
static int64_t conv_src(const ec_conv *c, const conv_geom *g, int64_t p) {
    int64_t j = p - c->pad_left;
    switch (c->pad_mode) {
    case MG_PAD_REFLECT:
        if (j < 0)
            j = -j;
        else if (j >= g->Lz)
            j = 2 * (g->Lz - 1) - j;
        return j < g->L ? j : -1;
    case MG_PAD_REPLICATE: return j < 0 ? 0 : j >= g->L ? g->L - 1 : j;
    default: return (j >= 0 && j < g->L) ? j : -1;
    }
}

/* Hull of the source rows of padded positions [pa, pb]; empty (lo > hi) if all zero. */
static void conv_src_hull(const ec_conv *c, const conv_geom *g, int64_t pa, int64_t pb, int64_t *lo, int64_t *hi) {
    int64_t ja = pa - c->pad_left, jb = pb - c->pad_left;
    int reflect = c->pad_mode == MG_PAD_REFLECT, replicate = c->pad_mode == MG_PAD_REPLICATE;
    int64_t Lz = reflect ? g->Lz : g->L;
    int64_t l = INT64_MAX, h = INT64_MIN;
    /* piece 1 (j < 0) reflects to -j (replicates row 0); piece 2 is the identity; piece 3
     * (j >= Lz) reflects to 2(Lz-1)-j (replicates row L-1); zeros read nothing */
    int64_t seg[3][2];
    int ns = 0;
    if (reflect && ja <= -1) {
        seg[ns][0] = -min64(jb, -1);
        seg[ns][1] = -ja;
        ns++;
    }
    if (replicate && ja <= -1) {
        seg[ns][0] = seg[ns][1] = 0;
        ns++;
    }
    if (max64(ja, 0) <= min64(jb, Lz - 1)) {
        seg[ns][0] = max64(ja, 0);
        seg[ns][1] = min64(jb, Lz - 1);
        ns++;
    }
    if (reflect && jb >= Lz) {
        seg[ns][0] = 2 * (Lz - 1) - jb;
        seg[ns][1] = 2 * (Lz - 1) - max64(ja, Lz);
        ns++;
    }
    if (replicate && jb >= Lz) {
        seg[ns][0] = seg[ns][1] = g->L - 1;
        ns++;
    }
    for (int i = 0; i < ns; i++) {
        int64_t a = max64(seg[i][0], 0), b = min64(seg[i][1], g->L - 1);
        if (a > b)
            continue;
        l = min64(l, a);
        h = max64(h, b);
    }
    *lo = l;
    *hi = h;
}

/* Input rows [*i0, *i1) a conv needs for its output rows [o0, o1). */
static void conv_needed(const ec_conv *c, int64_t L, int64_t o0, int64_t o1, int64_t *i0, int64_t *i1) {
    conv_geom g = conv_geometry(c, L);
    int64_t lo, hi;
    conv_src_hull(c, &g, o0 * c->stride, (o1 - 1) * c->stride + c->k_eff - 1, &lo, &hi);
    if (lo > hi) {
        *i0 = *i1 = 0;
        return;
    }
    *i0 = lo;
    *i1 = hi + 1;
}

/* ---- Conv1d forward ------------------------------------------------------------------------- */

typedef struct ec_work {
    ec_buf io[2]; /* layer outputs, alternating */
    ec_buf gather, hidden, col;
} ec_work;

static void copy_rows(float *dst, const float *src, int64_t n, int elu) {
    if (elu)
        ec_elu(dst, src, n);
    else
        memcpy(dst, src, (size_t)n * sizeof(float));
}

/* Output rows [o0, o1) of conv c applied to view x, written to out (row o0 first, cout
 * wide); accumulate adds to what out holds. */
static mg_status conv_forward(const ec_conv *c, mg_pool *pool, const ec_view *x, int64_t o0, int64_t o1, float *out,
                              int accumulate, ec_work *w) {
    if (o1 <= o0)
        return MG_OK;
    conv_geom g = conv_geometry(c, x->len);
    const int cin = c->cin;
    int64_t pa = o0 * c->stride, pb = (o1 - 1) * c->stride + c->k_eff - 1;
    int64_t rows = pb - pa + 1;
    MG_TRY(buf_ensure(&w->gather, rows * cin));
    float *G = w->gather.p;
    int64_t lo, hi;
    conv_src_hull(c, &g, pa, pb, &lo, &hi);
    MG_TRY(view_check(x, lo, hi + 1, "conv"));
    for (int64_t p = pa; p <= pb;) {
        int64_t j = p - c->pad_left;
        if (j >= 0 && j < g.L) {
            int64_t run = min64(pb - p + 1, g.L - j);
            copy_rows(G + (p - pa) * cin, view_row(x, j), run * cin, c->elu_in);
            p += run;
            continue;
        }
        int64_t src = conv_src(c, &g, p);
        if (src < 0)
            memset(G + (p - pa) * cin, 0, (size_t)cin * sizeof(float));
        else
            copy_rows(G + (p - pa) * cin, view_row(x, src), cin, c->elu_in);
        p++;
    }
    int64_t M = o1 - o0;
    if (c->dilation == 1) {
        mg_gemm(pool, M, G, (int64_t)c->stride * cin, &c->w, out, c->cout, c->bias, accumulate);
        return MG_OK;
    }
    /* Dilated taps are not contiguous: build the im2col rows. */
    int64_t K = (int64_t)c->k * cin;
    MG_TRY(buf_ensure(&w->col, M * K));
    for (int64_t m = 0; m < M; m++)
        for (int i = 0; i < c->k; i++)
            memcpy(w->col.p + m * K + (int64_t)i * cin, G + (m * c->stride + (int64_t)i * c->dilation) * cin,
                   (size_t)cin * sizeof(float));
    mg_gemm(pool, M, w->col.p, K, &c->w, out, c->cout, c->bias, accumulate);
    return MG_OK;
}

/* ---- ConvTranspose1d ------------------------------------------------------------------------- */

static void convt_blocks(const ec_convt *c, int64_t u0, int64_t u1, int64_t *qa, int64_t *qb) {
    *qa = (u0 + c->trim_left) / c->stride;
    *qb = (u1 - 1 + c->trim_left) / c->stride;
}

static void convt_needed(const ec_convt *c, int64_t L, int64_t u0, int64_t u1, int64_t *i0, int64_t *i1) {
    int64_t qa, qb;
    convt_blocks(c, u0, u1, &qa, &qb);
    *i0 = max64(qa - c->taps + 1, 0);
    *i1 = min64(qb, L - 1) + 1;
    if (*i1 < *i0)
        *i1 = *i0;
}

/* Output rows covering [u0, u1): whole blocks qa..qb into `out`, described by *ov. */
static mg_status convt_forward(const ec_convt *c, mg_pool *pool, const ec_view *x, int64_t u0, int64_t u1,
                               ec_buf *out, ec_view *ov, ec_work *w) {
    int64_t qa, qb;
    convt_blocks(c, u0, u1, &qa, &qb);
    const int cin = c->cin;
    int64_t first = qa - c->taps + 1, rows = qb - first + 1;
    MG_TRY(buf_ensure(&w->gather, rows * cin));
    float *G = w->gather.p;
    MG_TRY(view_check(x, max64(first, 0), min64(qb, x->len - 1) + 1, "transposed conv"));
    for (int64_t r = 0; r < rows; r++) {
        int64_t t = first + r;
        if (t < 0 || t >= x->len)
            memset(G + r * cin, 0, (size_t)cin * sizeof(float));
        else
            copy_rows(G + r * cin, view_row(x, t), cin, c->elu_in);
    }
    int64_t M = qb - qa + 1, N = (int64_t)c->stride * c->cout;
    MG_TRY(buf_ensure(out, M * N));
    mg_gemm(pool, M, G, cin, &c->w, out->p, N, c->bias_rep, 0);
    ov->data = out->p;
    ov->t0 = qa * c->stride - c->trim_left;
    ov->t1 = (qb + 1) * c->stride - c->trim_left;
    ov->len = x->len * c->stride;
    ov->ch = c->cout;
    return MG_OK;
}

/* ---- resnet block ------------------------------------------------------------------------------ */

static void res_hidden_range(const ec_resblock *r, int64_t L, int64_t o0, int64_t o1, int64_t *h0, int64_t *h1) {
    conv_needed(&r->b, L, o0, o1, h0, h1);
}

static void res_needed(const ec_resblock *r, int64_t L, int64_t o0, int64_t o1, int64_t *i0, int64_t *i1) {
    int64_t h0, h1, a0, a1;
    res_hidden_range(r, L, o0, o1, &h0, &h1);
    conv_needed(&r->a, L, h0, h1, &a0, &a1);
    if (a1 <= a0) {
        a0 = o0;
        a1 = o1;
    }
    *i0 = min64(a0, o0);
    *i1 = max64(a1, o1);
    if (r->has_shortcut) {
        int64_t s0, s1;
        conv_needed(&r->shortcut, L, o0, o1, &s0, &s1);
        if (s1 > s0) {
            *i0 = min64(*i0, s0);
            *i1 = max64(*i1, s1);
        }
    }
}

static mg_status res_forward(const ec_resblock *r, mg_pool *pool, const ec_view *x, int64_t o0, int64_t o1,
                             ec_buf *out, ec_view *ov, ec_work *w) {
    int64_t L = x->len, h0, h1;
    res_hidden_range(r, L, o0, o1, &h0, &h1);
    MG_TRY(buf_ensure(&w->hidden, (h1 - h0) * r->a.cout));
    MG_TRY(conv_forward(&r->a, pool, x, h0, h1, w->hidden.p, 0, w));
    ec_view hv = {w->hidden.p, h0, h1, L, r->a.cout};
    int ch = r->b.cout;
    MG_TRY(buf_ensure(out, (o1 - o0) * ch));
    MG_TRY(view_check(x, o0, o1, "resnet block"));
    if (r->has_shortcut)
        MG_TRY(conv_forward(&r->shortcut, pool, x, o0, o1, out->p, 0, w));
    else
        memcpy(out->p, view_row(x, o0), (size_t)((o1 - o0) * ch) * sizeof(float));
    MG_TRY(conv_forward(&r->b, pool, &hv, o0, o1, out->p, 1, w));
    ov->data = out->p;
    ov->t0 = o0;
    ov->t1 = o1;
    ov->len = L;
    ov->ch = ch;
    return MG_OK;
}

/* ---- generic layer interface ----------------------------------------------------------------------- */

int64_t ec_layer_out_len(const ec_layer *l, int64_t len_in) {
    switch (l->kind) {
    case EC_CONV: return conv_geometry(&l->conv, len_in).out;
    case EC_CONVT: return len_in * l->convt.stride;
    case EC_RES: return len_in;
    }
    return 0;
}

int ec_layer_out_ch(const ec_layer *l) {
    switch (l->kind) {
    case EC_CONV: return l->conv.cout;
    case EC_CONVT: return l->convt.cout;
    case EC_RES: return l->res.b.cout;
    }
    return 0;
}

int ec_layer_in_ch(const ec_layer *l) {
    switch (l->kind) {
    case EC_CONV: return l->conv.cin;
    case EC_CONVT: return l->convt.cin;
    case EC_RES: return l->res.a.cin;
    }
    return 0;
}

static void layer_needed(const ec_layer *l, int64_t L, int64_t o0, int64_t o1, int64_t *i0, int64_t *i1) {
    switch (l->kind) {
    case EC_CONV: conv_needed(&l->conv, L, o0, o1, i0, i1); return;
    case EC_CONVT: convt_needed(&l->convt, L, o0, o1, i0, i1); return;
    case EC_RES: res_needed(&l->res, L, o0, o1, i0, i1); return;
    }
}

static mg_status layer_forward(const ec_layer *l, mg_pool *pool, const ec_view *x, int64_t o0, int64_t o1,
                               ec_buf *out, ec_view *ov, ec_work *w) {
    switch (l->kind) {
    case EC_CONV:
        MG_TRY(buf_ensure(out, (o1 - o0) * l->conv.cout));
        MG_TRY(conv_forward(&l->conv, pool, x, o0, o1, out->p, 0, w));
        ov->data = out->p;
        ov->t0 = o0;
        ov->t1 = o1;
        ov->len = conv_geometry(&l->conv, x->len).out;
        ov->ch = l->conv.cout;
        return MG_OK;
    case EC_CONVT: return convt_forward(&l->convt, pool, x, o0, o1, out, ov, w);
    case EC_RES: return res_forward(&l->res, pool, x, o0, o1, out, ov, w);
    }
    return mg_fail(MG_ERR_INTERNAL, "unknown EnCodec layer kind");
}

/* ---- the stack runner ------------------------------------------------------------------------------- */

#define EC_MAX_STACK 256

/* len[i] = rows of the input of layer i (len[n] = the stack's output), for len_in rows
 * in; 0 if the input is too short for layer *bad. */
static int64_t stack_lengths(const ec_stack *st, int64_t len_in, int64_t *len, int *bad) {
    len[0] = len_in;
    for (int i = 0; i < st->n; i++) {
        len[i + 1] = ec_layer_out_len(&st->layers[i], len[i]);
        if (len[i + 1] < 1) {
            *bad = i;
            return 0;
        }
    }
    return len[st->n];
}

/* Which rows [r0[i], r1[i]) each layer's input must hold for output rows [a, b). */
static void stack_rows(const ec_stack *st, const int64_t *len, int64_t a, int64_t b, int64_t *r0, int64_t *r1) {
    r0[st->n] = a;
    r1[st->n] = b;
    for (int i = st->n - 1; i >= 0; i--)
        layer_needed(&st->layers[i], len[i], r0[i + 1], r1[i + 1], &r0[i], &r1[i]);
}

int64_t ec_stack_out_len(const ec_stack *st, int64_t len_in) {
    int64_t len[EC_MAX_STACK + 1];
    int bad;
    if (st->n < 1 || st->n > EC_MAX_STACK)
        return 0;
    return stack_lengths(st, len_in, len, &bad);
}

void ec_stack_needed(const ec_stack *st, int64_t len_in, int64_t o0, int64_t o1, int64_t *i0, int64_t *i1) {
    int64_t len[EC_MAX_STACK + 1], r0[EC_MAX_STACK + 1], r1[EC_MAX_STACK + 1];
    int bad;
    *i0 = *i1 = 0;
    if (st->n < 1 || st->n > EC_MAX_STACK || o1 <= o0 || !stack_lengths(st, len_in, len, &bad))
        return;
    stack_rows(st, len, o0, o1, r0, r1);
    *i0 = r0[0];
    *i1 = r1[0];
}

mg_status ec_stack_run_range(const ec_stack *st, mg_pool *pool, const ec_view *in, int64_t o0, int64_t o1,
                             int64_t chunk_rows, ec_sink_fn sink, void *user, const ec_tap *tap) {
    if (st->n < 1 || st->n > EC_MAX_STACK)
        return mg_fail(MG_ERR_INTERNAL, "EnCodec layer stack of %d layers", st->n);
    int64_t len[EC_MAX_STACK + 1];
    int bad = 0;
    int64_t out_len = stack_lengths(st, in->len, len, &bad);
    if (out_len < 1)
        return mg_fail(MG_ERR_INVALID_ARG, "EnCodec: input of %lld rows is too short for layer %d",
                       (long long)in->len, bad);
    if (o0 < 0 || o1 > out_len)
        return mg_fail(MG_ERR_INTERNAL, "EnCodec: output rows [%lld, %lld) requested of %lld", (long long)o0,
                       (long long)o1, (long long)out_len);
    if (chunk_rows < 1)
        chunk_rows = o1 - o0;
    ec_work w;
    memset(&w, 0, sizeof w);
    mg_status status = MG_OK;
    int64_t r0[EC_MAX_STACK + 1], r1[EC_MAX_STACK + 1];
    for (int64_t a = o0; a < o1 && status == MG_OK; a += chunk_rows) {
        int64_t b = min64(a + chunk_rows, o1);
        stack_rows(st, len, a, b, r0, r1);
        ec_view cur = *in;
        for (int i = 0; i < st->n && status == MG_OK; i++) {
            ec_view next;
            status = layer_forward(&st->layers[i], pool, &cur, r0[i + 1], r1[i + 1], &w.io[i & 1], &next, &w);
            cur = next;
            if (status == MG_OK && tap && tap->layer == i)
                status = tap->fn(tap->user, view_row(&cur, r0[i + 1]), r0[i + 1], r1[i + 1], cur.ch);
        }
        if (status == MG_OK)
            status = sink(user, view_row(&cur, a), a, b, cur.ch);
    }
    buf_free(&w.io[0]);
    buf_free(&w.io[1]);
    buf_free(&w.gather);
    buf_free(&w.hidden);
    buf_free(&w.col);
    return status;
}

mg_status ec_stack_run(const ec_stack *st, mg_pool *pool, const ec_view *in, int64_t chunk_rows, ec_sink_fn sink,
                       void *user, const ec_tap *tap) {
    /* An input too short for the stack: out_len 0, and the range run says why. */
    int64_t out_len = ec_stack_out_len(st, in->len);
    return ec_stack_run_range(st, pool, in, 0, out_len > 0 ? out_len : 1, chunk_rows, sink, user, tap);
}
