/* t5.c — T5 encoder forward pass + enc_to_dec_proj (see t5.h). Reads like the model:
 *   h = shared[ids]
 *   for each block:  h += O(attn(RMS(h)) with relative bias + pad mask)
 *                    h += Wo(relu(Wi(RMS(h))))
 *   out = RMS_final(h);  states = (proj(out) + b) * mask
 * Attention scores are q.k without the 1/sqrt(d_kv) scale (T5 folds it into init). */
#include "text/t5.h"
#include "tensor/matmul.h"
#include "tensor/ops.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mg_t5_bucket(int rel, int num_buckets, int max_distance) {
    int bucket = 0;
    int nb = num_buckets / 2;
    if (rel > 0)
        bucket += nb;
    int n = rel < 0 ? -rel : rel;
    int max_exact = nb / 2;
    if (max_exact < 1)
        return -1; /* the reference divides by max_exact: ZeroDivisionError */
    if (n < max_exact)
        return bucket + n;
    /* float32 arithmetic and truncation, as torch computes it */
    float f = logf((float)n / (float)max_exact) / (float)log((double)max_distance / max_exact) * (float)(nb - max_exact);
    if (!isfinite(f))
        return -1; /* max_distance == max_exact: the reference's index is garbage */
    if (f > (float)nb)
        f = (float)nb; /* clamped below anyway; keeps the int conversion defined */
    int large = max_exact + (int)f;
    if (large > nb - 1)
        large = nb - 1;
    /* max_distance below max_exact makes `large` fall with distance; the reference
     * uses the index while it stays >= 0 and fails (IndexError) below. */
    return bucket + large >= 0 ? bucket + large : -1;
}

int mg_t5_first_unbucketed(int num_buckets, int max_distance, int limit) {
    for (int d = 1; d < limit; d++)
        if (mg_t5_bucket(d, num_buckets, max_distance) < 0 || mg_t5_bucket(-d, num_buckets, max_distance) < 0)
            return d;
    return 0;
}

/* A matrix in the format mg_text_matrix_format gives for `want` (the model's weight
 * format; MG_DT_COUNT keeps the stored one). */
static mg_status get_matrix(mg_store *s, const char *name, int64_t rows, int64_t cols, mg_dtype want, mg_matrix *out) {
    return mg_store_get_matrix(s, name, rows, cols, mg_text_matrix_format(want, rows, cols, s->quantize_small), out);
}

static mg_status load_layer(mg_t5 *t, mg_store *s, int i, mg_dtype want) {
    const mg_t5_config *c = &t->cfg;
    mg_t5_layer *L = &t->layers[i];
    int64_t inner = (int64_t)c->n_heads * c->d_kv, d = c->d_model;
    char n[256];
#define T5_NAME(fmt) (snprintf(n, sizeof n, "text_encoder.encoder.block.%d." fmt, i), n)
    int64_t shape_d[1] = {d};
    MG_TRY(mg_store_get_f32(s, T5_NAME("layer.0.layer_norm.weight"), 1, shape_d, &L->ln_attn));
    MG_TRY(get_matrix(s, T5_NAME("layer.0.SelfAttention.q.weight"), inner, d, want, &L->q));
    MG_TRY(get_matrix(s, T5_NAME("layer.0.SelfAttention.k.weight"), inner, d, want, &L->k));
    MG_TRY(get_matrix(s, T5_NAME("layer.0.SelfAttention.v.weight"), inner, d, want, &L->v));
    MG_TRY(get_matrix(s, T5_NAME("layer.0.SelfAttention.o.weight"), d, inner, want, &L->o));
    MG_TRY(mg_store_get_f32(s, T5_NAME("layer.1.layer_norm.weight"), 1, shape_d, &L->ln_ff));
    if (c->gated) { /* T5DenseGatedActDense */
        MG_TRY(get_matrix(s, T5_NAME("layer.1.DenseReluDense.wi_0.weight"), c->d_ff, d, want, &L->wi));
        MG_TRY(get_matrix(s, T5_NAME("layer.1.DenseReluDense.wi_1.weight"), c->d_ff, d, want, &L->wi_1));
    } else {
        MG_TRY(get_matrix(s, T5_NAME("layer.1.DenseReluDense.wi.weight"), c->d_ff, d, want, &L->wi));
    }
    MG_TRY(get_matrix(s, T5_NAME("layer.1.DenseReluDense.wo.weight"), d, c->d_ff, want, &L->wo));
#undef T5_NAME
    return MG_OK;
}

mg_status mg_t5_load(const mg_config *cfg, mg_store *s, mg_dtype want, mg_t5 **out) {
    *out = NULL;
    mg_t5 *t = mg_calloc(1, sizeof *t, "the T5 encoder");
    if (!t)
        return MG_ERR_NOMEM;
    t->cfg = cfg->t5;
    t->store = s;
    t->out_dim = cfg->dec.hidden_size;
    const mg_t5_config *c = &t->cfg;
    mg_status st = MG_OK;
    t->layers = mg_calloc((size_t)c->n_layers, sizeof *t->layers, "T5 layers");
    if (!t->layers)
        st = MG_ERR_NOMEM;
    int64_t emb_shape[2] = {c->vocab_size, c->d_model};
    if (st == MG_OK)
        st = mg_store_get_embedding(s, "text_encoder.shared.weight", emb_shape[0], emb_shape[1], want, 1, &t->embed,
                                    &t->embed_round);
    int64_t rb_shape[2] = {c->num_buckets, c->n_heads};
    if (st == MG_OK)
        st = mg_store_get_f32(s, "text_encoder.encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", 2,
                              rb_shape, &t->rel_bias);
    for (int i = 0; i < c->n_layers && st == MG_OK; i++)
        st = load_layer(t, s, i, want);
    int64_t shape_d[1] = {c->d_model};
    if (st == MG_OK)
        st = mg_store_get_f32(s, "text_encoder.encoder.final_layer_norm.weight", 1, shape_d, &t->final_ln);
    /* enc_to_dec_proj exists iff the widths differ (HF creates it only then). */
    t->has_proj = mg_store_has(s, "enc_to_dec_proj.weight");
    if (st == MG_OK && !t->has_proj && c->d_model != t->out_dim)
        st = mg_fail(MG_ERR_FORMAT, "tensor enc_to_dec_proj.weight is missing: the text encoder width %d differs from "
                     "the decoder width %d, so the checkpoint must have the projection", c->d_model, t->out_dim);
    if (st == MG_OK && t->has_proj) {
        int64_t b_shape[1] = {t->out_dim};
        st = get_matrix(s, "enc_to_dec_proj.weight", t->out_dim, c->d_model, want, &t->proj);
        if (st == MG_OK)
            st = mg_store_get_f32(s, "enc_to_dec_proj.bias", 1, b_shape, &t->proj_bias);
    }
    if (st != MG_OK) {
        mg_t5_free(t);
        return st;
    }
    *out = t;
    return MG_OK;
}

static void release_matrix(const mg_store *s, const mg_matrix *m) {
    mg_store_release(s, m->data, m->row_bytes * (size_t)m->rows);
}

void mg_t5_release_pages(const mg_t5 *t) {
    const mg_store *s = t->store;
    mg_store_release(s, t->embed.data, t->embed.nbytes);
    for (int i = 0; i < t->cfg.n_layers; i++) {
        const mg_t5_layer *L = &t->layers[i];
        release_matrix(s, &L->q);
        release_matrix(s, &L->k);
        release_matrix(s, &L->v);
        release_matrix(s, &L->o);
        release_matrix(s, &L->wi);
        if (t->cfg.gated)
            release_matrix(s, &L->wi_1);
        release_matrix(s, &L->wo);
    }
    if (t->has_proj)
        release_matrix(s, &t->proj);
}

void mg_t5_free(mg_t5 *t) {
    if (!t)
        return;
    free(t->layers);
    free(t);
}

/* Self-attention of one batch item, one head: out[q] = sum_k softmax(q.k + bias + mask) v[k]. */
typedef struct {
    const mg_t5 *t;
    int B, T;
    const float *q, *k, *v; /* [B*T, inner] */
    float *out;             /* [B*T, inner] */
    const float *bias;      /* [heads, T, T] */
    const int32_t *mask;    /* [B, T] */
    float *scratch;         /* [B*heads, T] */
} t5_attn_job;

static void t5_attn_task(void *arg, int task) {
    const t5_attn_job *j = arg;
    const mg_t5_config *c = &j->t->cfg;
    int H = c->n_heads, dk = c->d_kv, T = j->T, inner = H * dk;
    int b = task / H, h = task % H;
    float *p = j->scratch + (size_t)task * T;
    for (int qi = 0; qi < T; qi++) {
        const float *qv = j->q + ((size_t)b * T + qi) * inner + h * dk;
        for (int ki = 0; ki < T; ki++) {
            const float *kv = j->k + ((size_t)b * T + ki) * inner + h * dk;
            float s = 0;
            for (int e = 0; e < dk; e++)
                s += qv[e] * kv[e];
            s += j->bias[((size_t)h * T + qi) * T + ki];
            if (!j->mask[b * T + ki])
                s += -FLT_MAX;
            p[ki] = s;
        }
        mg_softmax(p, T);
        float *o = j->out + ((size_t)b * T + qi) * inner + h * dk;
        memset(o, 0, sizeof(float) * (size_t)dk);
        for (int ki = 0; ki < T; ki++) {
            const float *vv = j->v + ((size_t)b * T + ki) * inner + h * dk;
            for (int e = 0; e < dk; e++)
                o[e] += p[ki] * vv[e];
        }
    }
}

mg_status mg_t5_encode_debug(const mg_t5 *t, mg_pool *pool, const int32_t *ids, const int32_t *mask, int B, int T,
                             float *hidden, float *states, mg_t5_debug *dbg) {
    const mg_t5_config *c = &t->cfg;
    if (B <= 0 || T <= 0)
        return mg_fail(MG_ERR_INVALID_ARG, "T5 encode: empty batch");
    if (T > MG_T5_MAX_TOKENS)
        return mg_fail(MG_ERR_INVALID_ARG, "the prompt is %d tokens long; at most %d are supported — shorten it "
                       "(MusicGen was trained on short descriptions)", T, MG_T5_MAX_TOKENS);
    int64_t d = c->d_model, inner = (int64_t)c->n_heads * c->d_kv, N = (int64_t)B * T;
    for (int64_t i = 0; i < N; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return mg_fail(MG_ERR_INVALID_ARG, "token id %d is outside the T5 vocabulary (%d)", ids[i], c->vocab_size);
    size_t big = (size_t)(inner > c->d_ff ? inner : c->d_ff);
    float *h = malloc(sizeof(float) * (size_t)N * (size_t)d);
    float *x = malloc(sizeof(float) * (size_t)N * (size_t)d);
    float *q = malloc(sizeof(float) * (size_t)N * (size_t)inner);
    float *k = malloc(sizeof(float) * (size_t)N * (size_t)inner);
    float *v = malloc(sizeof(float) * (size_t)N * (size_t)inner);
    float *a = malloc(sizeof(float) * (size_t)N * big);
    float *gate = c->gated ? malloc(sizeof(float) * (size_t)N * (size_t)c->d_ff) : NULL;
    float *bias = malloc(sizeof(float) * (size_t)c->n_heads * (size_t)T * (size_t)T);
    float *scratch = malloc(sizeof(float) * (size_t)B * (size_t)c->n_heads * (size_t)T);
    mg_status st = MG_OK;
    if (!h || !x || !q || !k || !v || !a || !bias || !scratch || (c->gated && !gate)) {
        st = mg_fail(MG_ERR_NOMEM, "out of memory encoding a %d-token prompt", T);
        goto done;
    }

    /* Embedding: h = shared[ids] (no scaling in T5). */
    for (int64_t i = 0; i < N; i++) {
        mg_matrix_row_to_f32(t->embed.dtype, t->embed.data, ids[i], h + i * d, d);
        mg_round_through(t->embed_round, h + i * d, d);
    }

    /* Some bucket settings leave far-apart tokens without a bucket (what `musicgen info`
     * warns about): refuse the prompt, naming the distance. */
    int dist = mg_t5_first_unbucketed(c->num_buckets, c->max_distance, T);
    if (dist) {
        st = mg_fail(MG_ERR_UNSUPPORTED,
                     "text encoder: relative_attention_num_buckets %d with relative_attention_max_distance %d "
                     "give no position bucket for tokens %d or more apart, so a %d-token prompt cannot be encoded "
                     "(the reference implementation fails here too); use a prompt of at most %d tokens",
                     c->num_buckets, c->max_distance, dist, T, dist);
        goto done;
    }
    /* Relative position bias, shared by all layers: bias[h, q, k] = table[bucket(k - q), h]. */
    for (int qi = 0; qi < T; qi++)
        for (int ki = 0; ki < T; ki++) {
            int bkt = mg_t5_bucket(ki - qi, c->num_buckets, c->max_distance);
            for (int hh = 0; hh < c->n_heads; hh++)
                bias[((size_t)hh * T + qi) * T + ki] = t->rel_bias[bkt * c->n_heads + hh];
        }
    if (dbg && dbg->position_bias)
        memcpy(dbg->position_bias, bias, sizeof(float) * (size_t)c->n_heads * (size_t)T * (size_t)T);

    for (int l = 0; l < c->n_layers; l++) {
        const mg_t5_layer *L = &t->layers[l];
        /* h += O(SelfAttention(RMS(h))) */
        for (int64_t i = 0; i < N; i++)
            mg_rms_norm(h + i * d, x + i * d, d, L->ln_attn, c->eps);
        mg_matmul(pool, &L->q, x, N, d, q, inner, NULL);
        mg_matmul(pool, &L->k, x, N, d, k, inner, NULL);
        mg_matmul(pool, &L->v, x, N, d, v, inner, NULL);
        t5_attn_job job = {t, B, T, q, k, v, a, bias, mask, scratch};
        mg_pool_run(pool, t5_attn_task, &job, B * c->n_heads);
        mg_matmul(pool, &L->o, a, N, inner, x, d, NULL);
        mg_add(h, x, N * d);
        /* h += Wo(relu(Wi(RMS(h)))), or Wo(act(Wi_0 y) * Wi_1 y) with y = RMS(h) */
        for (int64_t i = 0; i < N; i++)
            mg_rms_norm(h + i * d, x + i * d, d, L->ln_ff, c->eps);
        mg_matmul(pool, &L->wi, x, N, d, a, c->d_ff, NULL);
        mg_activate(c->ff_act, a, N * c->d_ff);
        if (c->gated) {
            mg_matmul(pool, &L->wi_1, x, N, d, gate, c->d_ff, NULL);
            for (int64_t i = 0; i < N * c->d_ff; i++)
                a[i] *= gate[i];
        }
        mg_matmul(pool, &L->wo, a, N, c->d_ff, x, d, NULL);
        mg_add(h, x, N * d);
        if (l == 0 && dbg && dbg->layer0_out)
            memcpy(dbg->layer0_out, h, sizeof(float) * (size_t)(N * d));
    }
    for (int64_t i = 0; i < N; i++)
        mg_rms_norm(h + i * d, h + i * d, d, t->final_ln, c->eps);
    if (hidden)
        memcpy(hidden, h, sizeof(float) * (size_t)(N * d));

    /* states = enc_to_dec_proj(h) * mask: padded positions become exactly zero. */
    if (states) {
        if (t->has_proj)
            mg_matmul(pool, &t->proj, h, N, d, states, t->out_dim, t->proj_bias);
        else
            memcpy(states, h, sizeof(float) * (size_t)(N * d));
        for (int64_t i = 0; i < N; i++)
            if (!mask[i])
                memset(states + i * t->out_dim, 0, sizeof(float) * (size_t)t->out_dim);
    }
done:
    free(h);
    free(x);
    free(q);
    free(k);
    free(v);
    free(a);
    free(gate);
    free(bias);
    free(scratch);
    return st;
}

mg_status mg_t5_encode(const mg_t5 *t, mg_pool *pool, const int32_t *ids, const int32_t *mask, int B, int T,
                       float *hidden, float *states) {
    return mg_t5_encode_debug(t, pool, ids, mask, B, T, hidden, states, NULL);
}
