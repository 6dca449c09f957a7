/* decoder.c — MusicGen decoder forward pass with KV cache (see decoder.h).
 *
 * One call processes n new columns for every row, in chunks of MG_DEC_CHUNK columns
 * (prefill of an audio prompt, teacher forcing) or one column (generation):
 *   h = sum_k embed_k[tokens_k] + pos[t]
 *   per layer:  h += out(SelfAttn(LN(h)))          causal, keys = cache + new columns
 *               h += out(CrossAttn(LN(h), text))   text K/V cached at state creation
 *               h += fc2(gelu(fc1(LN(h))))   (or the config's activation_function)
 *   logits_k = lm_head_k(LN_final(h))
 * All buffers are allocated when the state is created: no malloc per step.
 */
#include "lm/decoder.h"
#include "base/bigbuf.h"
#include "base/resources.h"
#include "base/status.h"
#include "base/timing.h"
#include "lm/attention.h"
#include "tensor/matmul.h"
#include "tensor/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MG_DEC_CHUNK 32
#define LN_EPS 1e-5f

/* ---- loading ------------------------------------------------------------------------ */

void mg_decoder_sinusoids(float *table, int n_pos, int dim) {
    int half = dim / 2;
    float step = (float)(log(10000.0) / (double)(half - 1));
    for (int p = 0; p < n_pos; p++) {
        float *row = table + (size_t)p * dim;
        for (int i = 0; i < half; i++) {
            float f = expf((float)i * -step);
            float a = (float)p * f;
            row[i] = cosf(a);
            row[half + i] = sinf(a);
        }
        if (dim % 2)
            row[dim - 1] = 0.0f;
    }
}

static mg_status load_layer(mg_decoder *d, mg_store *s, int i, mg_dtype want) {
    mg_dec_layer *L = &d->layers[i];
    int64_t D = d->cfg.hidden_size, F = d->cfg.ffn_dim;
    int64_t vec[1] = {D};
    char n[256];
#define DEC_NAME(fmt) (snprintf(n, sizeof n, "decoder.model.decoder.layers.%d." fmt, i), n)
    MG_TRY(mg_store_get_f32(s, DEC_NAME("self_attn_layer_norm.weight"), 1, vec, &L->ln_self_w));
    MG_TRY(mg_store_get_f32(s, DEC_NAME("self_attn_layer_norm.bias"), 1, vec, &L->ln_self_b));
    MG_TRY(mg_store_get_matrix(s, DEC_NAME("self_attn.q_proj.weight"), D, D, want, &L->sq));
    MG_TRY(mg_store_get_matrix(s, DEC_NAME("self_attn.k_proj.weight"), D, D, want, &L->sk));
    MG_TRY(mg_store_get_matrix(s, DEC_NAME("self_attn.v_proj.weight"), D, D, want, &L->sv));
    MG_TRY(mg_store_get_matrix(s, DEC_NAME("self_attn.out_proj.weight"), D, D, want, &L->so));
    MG_TRY(mg_store_get_f32(s, DEC_NAME("encoder_attn_layer_norm.weight"), 1, vec, &L->ln_cross_w));
    MG_TRY(mg_store_get_f32(s, DEC_NAME("encoder_attn_layer_norm.bias"), 1, vec, &L->ln_cross_b));
    MG_TRY(mg_store_get_matrix(s, DEC_NAME("encoder_attn.q_proj.weight"), D, D, want, &L->cq));
    MG_TRY(mg_store_get_matrix(s, DEC_NAME("encoder_attn.k_proj.weight"), D, D, want, &L->ck));
    MG_TRY(mg_store_get_matrix(s, DEC_NAME("encoder_attn.v_proj.weight"), D, D, want, &L->cv));
    MG_TRY(mg_store_get_matrix(s, DEC_NAME("encoder_attn.out_proj.weight"), D, D, want, &L->co));
    MG_TRY(mg_store_get_f32(s, DEC_NAME("final_layer_norm.weight"), 1, vec, &L->ln_ff_w));
    MG_TRY(mg_store_get_f32(s, DEC_NAME("final_layer_norm.bias"), 1, vec, &L->ln_ff_b));
    MG_TRY(mg_store_get_matrix(s, DEC_NAME("fc1.weight"), F, D, want, &L->fc1));
    MG_TRY(mg_store_get_matrix(s, DEC_NAME("fc2.weight"), D, F, want, &L->fc2));
#undef DEC_NAME
    return MG_OK;
}

static mg_status load_all(mg_decoder *d, mg_store *s, mg_dtype want) {
    const mg_decoder_config *c = &d->cfg;
    int K = c->n_codebooks;
    int64_t D = c->hidden_size, V = c->vocab_size;
    char n[256];
    d->embed = mg_calloc((size_t)K, sizeof *d->embed, "decoder embeddings");
    d->lm_heads = mg_calloc((size_t)K, sizeof *d->lm_heads, "decoder heads");
    d->layers = mg_calloc((size_t)c->n_layers, sizeof *d->layers, "decoder layers");
    if (!d->embed || !d->lm_heads || !d->layers)
        return MG_ERR_NOMEM;
    /* Rows read as `musicgen quantize` stores them (f16 for the block formats unless
     * small), so that a conversion on load gives the quantized file's codes. */
    for (int k = 0; k < K; k++) {
        snprintf(n, sizeof n, "decoder.model.decoder.embed_tokens.%d.weight", k);
        MG_TRY(mg_store_get_embedding(s, n, V + 1, D, want, 0, &d->embed[k], &d->embed_round));
    }
    /* The stored sinusoidal table is authoritative (recomputing differs by ~1e-5). */
    const char *pos_name = "decoder.model.decoder.embed_positions.weights";
    if (mg_store_has(s, pos_name)) {
        int64_t pos_shape[2] = {c->max_position_embeddings, D};
        MG_TRY(mg_store_get_f32(s, pos_name, 2, pos_shape, &d->pos));
    } else {
        d->pos_owned = mg_malloc(sizeof(float) * (size_t)c->max_position_embeddings * (size_t)D, "position table");
        if (!d->pos_owned)
            return MG_ERR_NOMEM;
        mg_decoder_sinusoids(d->pos_owned, c->max_position_embeddings, (int)D);
        d->pos = d->pos_owned;
    }
    for (int i = 0; i < c->n_layers; i++)
        MG_TRY(load_layer(d, s, i, want));
    int64_t vec[1] = {D};
    MG_TRY(mg_store_get_f32(s, "decoder.model.decoder.layer_norm.weight", 1, vec, &d->ln_w));
    MG_TRY(mg_store_get_f32(s, "decoder.model.decoder.layer_norm.bias", 1, vec, &d->ln_b));
    for (int k = 0; k < K; k++) {
        snprintf(n, sizeof n, "decoder.lm_heads.%d.weight", k);
        MG_TRY(mg_store_get_matrix(s, n, V, D, want, &d->lm_heads[k]));
    }
    return MG_OK;
}

mg_status mg_decoder_load(const mg_config *cfg, mg_store *s, mg_dtype want, mg_decoder **out) {
    *out = NULL;
    mg_decoder *d = mg_calloc(1, sizeof *d, "the decoder");
    if (!d)
        return MG_ERR_NOMEM;
    d->cfg = cfg->dec;
    d->head_dim = d->cfg.hidden_size / d->cfg.n_heads;
    d->store = s;
    mg_status st = load_all(d, s, want);
    if (st != MG_OK) {
        mg_decoder_free(d);
        return st;
    }
    *out = d;
    return MG_OK;
}

void mg_decoder_free(mg_decoder *d) {
    if (!d)
        return;
    free(d->embed);
    free(d->lm_heads);
    free(d->layers);
    free(d->pos_owned);
    free(d->step_copy);
    free(d);
}

static size_t matrix_bytes(const mg_matrix *m) { return m->row_bytes * (size_t)m->rows; }

/* Matrix i of those a step reads, in the order it reads them (cross K/V excluded:
 * they run once per generation); there are step_matrix_count(d). */
static int step_matrix_count(const mg_decoder *d) { return 8 * d->cfg.n_layers + d->cfg.n_codebooks; }

static mg_matrix *step_matrix(const mg_decoder *d, int i) {
    if (i >= 8 * d->cfg.n_layers)
        return &d->lm_heads[i - 8 * d->cfg.n_layers];
    mg_dec_layer *L = &d->layers[i / 8];
    mg_matrix *in_layer[8] = {&L->sq, &L->sk, &L->sv, &L->so, &L->cq, &L->co, &L->fc1, &L->fc2};
    return in_layer[i % 8];
}

int64_t mg_decoder_step_weight_bytes(const mg_decoder *d) {
    int64_t b = 0;
    for (int i = 0; i < step_matrix_count(d); i++)
        b += (int64_t)matrix_bytes(step_matrix(d, i));
    return b;
}

static size_t padded(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

mg_status mg_decoder_copy_step_weights(mg_decoder *d) {
    size_t total = 0;
    for (int i = 0; i < step_matrix_count(d); i++) {
        const mg_matrix *m = step_matrix(d, i);
        if (mg_store_is_mapped(d->store, m->data, matrix_bytes(m)))
            total += padded(matrix_bytes(m));
    }
    if (total && !(d->step_copy = mg_bigbuf_alloc(total)))
        return mg_fail(MG_ERR_NOMEM, "out of memory reading %.0f MB of decoder weights into memory (load them mapped instead)",
                       (double)total * 1e-6);
    mg_bigbuf_prefault(d->store->pool, d->step_copy, total); /* all threads, not read(2)'s one */
    uint8_t *dst = d->step_copy;
    for (int i = 0; i < step_matrix_count(d); i++) {
        mg_matrix *m = step_matrix(d, i);
        size_t bytes = matrix_bytes(m);
        if (!mg_store_is_mapped(d->store, m->data, bytes))
            continue; /* already a converted copy */
        mg_store_copy_out(d->store, m->data, bytes, dst);
        mg_store_release(d->store, m->data, bytes);
        m->data = dst;
        dst += padded(bytes);
    }
    return MG_OK;
}

typedef struct {
    const uint8_t *start, *end;
} byte_range;

static int by_start(const void *a, const void *b) {
    const uint8_t *x = ((const byte_range *)a)->start, *y = ((const byte_range *)b)->start;
    return (x > y) - (x < y);
}

void mg_decoder_map_step_weights_huge(mg_decoder *d) {
    /* Matrices at most this far apart are taken together: the gap holds only layer
     * norms and biases (read every step anyway), never a released matrix such as a
     * 1 MiB cross-attention K/V projection, which a 2 MiB page would bring back. */
    const size_t max_gap = (size_t)64 << 10;
    int n = 0, count = step_matrix_count(d);
    byte_range *r = malloc(sizeof *r * (size_t)count);
    if (!r)
        return; /* an optimization only */
    for (int i = 0; i < count; i++) {
        const mg_matrix *m = step_matrix(d, i);
        size_t bytes = matrix_bytes(m);
        if (bytes && mg_store_is_mapped(d->store, m->data, bytes)) {
            r[n].start = m->data;
            r[n].end = (const uint8_t *)m->data + bytes;
            n++;
        }
    }
    /* Neighbouring matrices become one range: fewer madvise calls and splits of the
     * mapping. Ranges never span two files (the check below). */
    qsort(r, (size_t)n, sizeof *r, by_start);
    for (int i = 0; i < n;) {
        byte_range cur = r[i++];
        while (i < n && r[i].start <= cur.end + max_gap &&
               mg_store_is_mapped(d->store, cur.start, (size_t)(r[i].end - cur.start))) {
            if (r[i].end > cur.end)
                cur.end = r[i].end;
            i++;
        }
        mg_store_map_huge(d->store, cur.start, (size_t)(cur.end - cur.start));
    }
    free(r);
}

/* ---- state ---------------------------------------------------------------------------- */

struct mg_dec_state {
    const mg_decoder *d;
    int rows, max_len, len, S;
    const mg_kv_ops *ops;     /* attention kernels of the cache format */
    const mg_kv_ops *f32_ops; /* for the cross-attention K/V (f32) */
    size_t kv_row;            /* bytes of one cached head row (head_dim values) */
    uint8_t *kcache, *vcache; /* [layer][row][max_len][head]: heads of kv_row bytes */
    float *ck, *cv;           /* cross K/V [layer][row][head][S][head_dim] */
    int32_t *cmask;           /* [row][S] */
    uint8_t *row_has_text;    /* [row] */
    /* scratch for one chunk of columns */
    float *h, *x, *q, *k, *v, *att, *ff, *scores, *logit_tmp;
    mg_dec_times times;
};

int mg_dec_state_len(const mg_dec_state *s) { return s->len; }

void mg_dec_times_add(mg_dec_times *acc, const mg_dec_times *t) {
    acc->matmul_s += t->matmul_s;
    acc->self_attn_s += t->self_attn_s;
    acc->cross_attn_s += t->cross_attn_s;
}

void mg_dec_state_add_times(const mg_dec_state *s, mg_dec_times *acc) { mg_dec_times_add(acc, &s->times); }

/* Adds the time since *last to *into and moves *last to now (five clock reads per
 * layer: ~3 us of a step). */
static void lap(double *last, double *into) {
    double now = mg_time_now();
    *into += now - *last;
    *last = now;
}

void mg_dec_state_free(mg_dec_state *s) {
    if (!s)
        return;
    free(s->kcache);
    free(s->vcache);
    free(s->ck);
    free(s->cv);
    free(s->cmask);
    free(s->row_has_text);
    free(s->h);
    free(s->x);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->att);
    free(s->ff);
    free(s->scores);
    free(s->logit_tmp);
    free(s);
}

/* Scatter projected rows [rows*n][D] (row-major, row r*n+t) into a per-head layout
 * [row][head][cap] of cache rows (row_bytes each) at position pos0 + t. */
static void store_heads(uint8_t *dst, const mg_kv_ops *ops, size_t row_bytes, const float *src, int rows, int n,
                        int H, int hd, int cap, int pos0) {
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < n; t++)
            for (int h = 0; h < H; h++) {
                const float *in = src + ((size_t)r * n + t) * (size_t)(H * hd) + (size_t)h * hd;
                size_t row = (((size_t)r * H + h) * (size_t)cap) + (size_t)(pos0 + t);
                ops->store(dst + row * row_bytes, in, hd);
            }
}

mg_status mg_dec_state_check_memory(const mg_decoder *d, int rows, int max_len, mg_kv_type kv, int S,
                                    const char *what) {
    const mg_decoder_config *c = &d->cfg;
    int hd = d->head_dim;
    double row_bytes = (double)mg_kv_ops_get(mg_kv_effective(kv, hd), hd, 0)->row_bytes(hd);
    double per_layer_row = (double)c->n_heads * ((double)max_len * row_bytes + (double)S * hd * sizeof(float));
    double need = 2.0 * c->n_layers * (double)rows * per_layer_row; /* K and V: self, then cross */
    char own[160];
    snprintf(own, sizeof own, "the attention cache for %d rows (2 per prompt with guidance) x %d positions", rows,
             max_len);
    return mg_memory_check(need, what ? what : own, "generate fewer prompts at once or a shorter piece, or use the "
                                                    "q8_0 cache (MG_KV_Q8_0; --kv-type q8_0), half of f16");
}

mg_status mg_dec_state_new(const mg_decoder *d, mg_pool *pool, int rows, int max_len, mg_kv_type kv,
                           const float *enc, const int32_t *enc_mask, int S, mg_dec_state **out) {
    *out = NULL;
    const mg_decoder_config *c = &d->cfg;
    if (rows < 1 || max_len < 1 || S < 1)
        return mg_fail(MG_ERR_INVALID_ARG, "decoder state: invalid sizes (rows %d, length %d, text %d)", rows, max_len, S);
    if (max_len > c->max_position_embeddings)
        return mg_fail(MG_ERR_INVALID_ARG, "%d decoder positions requested but the model has only %d "
                       "(max_position_embeddings); generate less at once", max_len, c->max_position_embeddings);
    mg_dec_state *s = mg_calloc(1, sizeof *s, "decoder state");
    if (!s)
        return MG_ERR_NOMEM;
    s->d = d;
    s->rows = rows;
    s->max_len = max_len;
    s->S = S;
    int L = c->n_layers, H = c->n_heads, hd = d->head_dim, D = c->hidden_size, F = c->ffn_dim;
    s->ops = mg_kv_ops_get(mg_kv_effective(kv, hd), hd, 0);
    s->f32_ops = mg_kv_ops_get(MG_KV_F32, hd, 0);
    s->kv_row = s->ops->row_bytes(hd);
    int K = c->n_codebooks, V = c->vocab_size;
    size_t cache_bytes = (size_t)L * rows * (size_t)H * (size_t)max_len * s->kv_row; /* K, and V alike */
    size_t cross_vals = (size_t)L * rows * (size_t)H * (size_t)S * (size_t)hd;
    size_t chunk_rows = (size_t)rows * MG_DEC_CHUNK;
    size_t score_len = (size_t)(max_len > S ? max_len : S);
    /* The caches are faulted in below: refuse one that cannot fit rather than be killed
     * for it (the host program with us) when memory runs out. */
    mg_status fits = mg_dec_state_check_memory(d, rows, max_len, kv, S, NULL);
    if (fits != MG_OK) {
        mg_dec_state_free(s);
        return fits;
    }
    s->kcache = mg_bigbuf_alloc(cache_bytes);
    s->vcache = mg_bigbuf_alloc(cache_bytes);
    s->ck = mg_bigbuf_alloc(cross_vals * sizeof(float));
    s->cv = mg_bigbuf_alloc(cross_vals * sizeof(float));
    s->cmask = malloc(sizeof(int32_t) * (size_t)rows * (size_t)S);
    s->row_has_text = calloc((size_t)rows, 1);
    s->h = malloc(sizeof(float) * chunk_rows * (size_t)D);
    s->x = malloc(sizeof(float) * chunk_rows * (size_t)D);
    s->q = malloc(sizeof(float) * chunk_rows * (size_t)D);
    s->k = malloc(sizeof(float) * chunk_rows * (size_t)D);
    s->v = malloc(sizeof(float) * chunk_rows * (size_t)D);
    s->att = malloc(sizeof(float) * chunk_rows * (size_t)D);
    s->ff = malloc(sizeof(float) * chunk_rows * (size_t)F);
    s->scores = malloc(sizeof(float) * (size_t)rows * (size_t)H * score_len);
    s->logit_tmp = malloc(sizeof(float) * chunk_rows * (size_t)K * (size_t)V);
    /* Cross-attention K/V over the text: computed once here, in chunks of text rows. */
    float *tmp = malloc(sizeof(float) * (size_t)S * (size_t)D);
    if (!s->kcache || !s->vcache || !s->ck || !s->cv || !s->cmask || !s->row_has_text || !s->h || !s->x || !s->q ||
        !s->k || !s->v || !s->att || !s->ff || !s->scores || !s->logit_tmp || !tmp) {
        free(tmp);
        mg_dec_state_free(s);
        return mg_fail(MG_ERR_NOMEM, "out of memory for the decoder state (%d rows x %d positions)", rows, max_len);
    }
    /* Both threads fault the caches in now rather than one page at a time inside the
     * attention of the first steps (docs/kernels.md, "First touch"). */
    mg_bigbuf_prefault(pool, s->kcache, cache_bytes);
    mg_bigbuf_prefault(pool, s->vcache, cache_bytes);
    memcpy(s->cmask, enc_mask, sizeof(int32_t) * (size_t)rows * (size_t)S);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < S; j++)
            s->row_has_text[r] |= enc_mask[(size_t)r * S + j] != 0;
    for (int l = 0; l < L; l++) {
        const mg_dec_layer *Ly = &d->layers[l];
        for (int r = 0; r < rows; r++) {
            size_t base = (((size_t)l * rows + r) * (size_t)H) * (size_t)S * (size_t)hd;
            if (!s->row_has_text[r]) {
                memset(s->ck + base, 0, sizeof(float) * (size_t)H * S * hd);
                memset(s->cv + base, 0, sizeof(float) * (size_t)H * S * hd);
                continue;
            }
            const float *e = enc + (size_t)r * S * D;
            mg_matmul(pool, &Ly->ck, e, S, D, tmp, D, NULL);
            store_heads((uint8_t *)(s->ck + base), s->f32_ops, (size_t)hd * 4, tmp, 1, S, H, hd, S, 0);
            mg_matmul(pool, &Ly->cv, e, S, D, tmp, D, NULL);
            store_heads((uint8_t *)(s->cv + base), s->f32_ops, (size_t)hd * 4, tmp, 1, S, H, hd, S, 0);
        }
    }
    free(tmp);
    /* The cross-attention K/V projections are not read again until the next
     * generation: hand their mapped pages back (53 MB for musicgen-small q8_0, 200 MB
     * f32). The page cache keeps them, so the next generation maps them back cheaply;
     * converted (non-mapped) weights are left alone. */
    for (int l = 0; l < L; l++) {
        const mg_dec_layer *Ly = &d->layers[l];
        mg_store_release(d->store, Ly->ck.data, Ly->ck.row_bytes * (size_t)Ly->ck.rows);
        mg_store_release(d->store, Ly->cv.data, Ly->cv.row_bytes * (size_t)Ly->cv.rows);
    }
    *out = s;
    return MG_OK;
}

/* ---- attention ------------------------------------------------------------------------ */

typedef struct {
    mg_dec_state *s;
    int layer, n, pos0;
    const float *q; /* [rows*n][D], already scaled */
    float *out;     /* [rows*n][D] */
    int n_pairs, pairs_per_task; /* (row, head) pairs; cross-attention takes runs of them */
    int groups;                  /* self-attention: head groups (tasks) per row */
} attn_job;

/* Self-attention tasks per row: one (a CFG pair on two cores: one row each), so each
 * thread reads a single stream through its cache rows. Splitting a row's heads between
 * threads makes interleaved strided streams, slower on two cores (docs/kernels.md); it
 * is done only to give more threads than rows something to do. */
static int self_attn_groups(int rows, int heads, int threads) {
    if (rows >= threads)
        return 1;
    int groups = (threads + rows - 1) / rows;
    return groups < heads ? groups : heads;
}

/* Causal self-attention of one row's head group for the n new columns. */
static void self_attn_task(void *arg, int task) {
    const attn_job *j = arg;
    mg_dec_state *s = j->s;
    const mg_decoder *d = s->d;
    int H = d->cfg.n_heads, hd = d->head_dim, D = d->cfg.hidden_size;
    int r = task / j->groups, grp = task % j->groups;
    int h0 = grp * H / j->groups, G = (grp + 1) * H / j->groups - h0;
    size_t ld = (size_t)H * s->kv_row, first = ((size_t)j->layer * s->rows + r) * (size_t)s->max_len * ld;
    uint8_t *kc = s->kcache + first + (size_t)h0 * s->kv_row;
    uint8_t *vc = s->vcache + first + (size_t)h0 * s->kv_row;
    /* The group's new keys and values into their cache rows (here rather than before
     * the job: the writes miss the cache, and both threads then wait on them at once). */
    for (int t = 0; t < j->n; t++) {
        size_t src = ((size_t)r * j->n + t) * D + (size_t)h0 * hd, row = (size_t)(j->pos0 + t) * ld;
        s->ops->store(kc + row, s->k + src, G * hd);
        s->ops->store(vc + row, s->v + src, G * hd);
    }
    float *p = s->scores + ((size_t)r * H + (size_t)h0) * (size_t)(s->max_len > s->S ? s->max_len : s->S);
    for (int t = 0; t < j->n; t++) {
        size_t at = ((size_t)r * j->n + t) * D + (size_t)h0 * hd;
        mg_attn_heads(s->ops, G, hd, j->q + at, kc, vc, ld, j->pos0 + t + 1, p, j->out + at); /* keys 0 .. t */
    }
}

/* Cross-attention of one (row, head) over the cached text K/V; pad keys get
 * probability 0 (the reference adds finfo.min to their scores). */
static void cross_attn_pair(const attn_job *j, int task) {
    mg_dec_state *s = j->s;
    const mg_decoder *d = s->d;
    int H = d->cfg.n_heads, hd = d->head_dim, D = d->cfg.hidden_size, S = s->S;
    int r = task / H, h = task % H;
    size_t base = ((((size_t)j->layer * s->rows + r) * (size_t)H) + (size_t)h) * (size_t)S * (size_t)hd;
    const float *kc = s->ck + base, *vc = s->cv + base;
    const int32_t *mask = s->cmask + (size_t)r * S;
    float *p = s->scores + (size_t)task * (size_t)(s->max_len > S ? s->max_len : S);
    for (int t = 0; t < j->n; t++) {
        float *o = j->out + ((size_t)r * j->n + t) * D + (size_t)h * hd;
        memset(o, 0, sizeof(float) * (size_t)hd);
        /* No text (unconditional row): keys all masked, values zero -> output zero. */
        if (!s->row_has_text[r])
            continue;
        const float *q = j->q + ((size_t)r * j->n + t) * D + (size_t)h * hd;
        s->f32_ops->scores(q, 1, kc, sizeof(float) * (size_t)hd, S, hd, p, (size_t)S);
        for (int i = 0; i < S; i++)
            if (!mask[i])
                p[i] = -INFINITY;
        mg_softmax(p, S);
        s->f32_ops->accum(o, 1, p, (size_t)S, vc, sizeof(float) * (size_t)hd, S, hd);
    }
}

/* A run of pairs_per_task pairs: a pair is ~3 KB of keys and values for a short
 * prompt, less work than claiming it from the pool costs when every pair is a task. */
static void cross_attn_task(void *arg, int task) {
    const attn_job *j = arg;
    int first = task * j->pairs_per_task, end = first + j->pairs_per_task;
    for (int pair = first; pair < end && pair < j->n_pairs; pair++)
        cross_attn_pair(j, pair);
}

/* ---- forward -------------------------------------------------------------------------- */

static void layer_norm_rows(const float *in, float *out, int64_t n_rows, int64_t D, const float *w, const float *b) {
    for (int64_t i = 0; i < n_rows; i++)
        mg_layer_norm(in + i * D, out + i * D, D, w, b, LN_EPS);
}

static void scale(float *x, int64_t n, float a) {
    for (int64_t i = 0; i < n; i++)
        x[i] *= a;
}

/* The K codebook heads over M rows of x: logits [M][K][V], one pool job. */
static void lm_heads(const mg_decoder *d, mg_pool *pool, const float *x, int64_t M, float *logits) {
    int K = d->cfg.n_codebooks, V = d->cfg.vocab_size, D = d->cfg.hidden_size;
    mg_matmul_op ops[MG_MATMUL_GROUP_MAX];
    for (int k0 = 0; k0 < K; k0 += MG_MATMUL_GROUP_MAX) {
        int n = K - k0 < MG_MATMUL_GROUP_MAX ? K - k0 : MG_MATMUL_GROUP_MAX;
        for (int i = 0; i < n; i++) {
            mg_matmul_op op = {&d->lm_heads[k0 + i], x, D, logits + (size_t)(k0 + i) * V, (int64_t)K * V, NULL,
                               MG_ACT_NONE};
            ops[i] = op;
        }
        mg_matmul_group(pool, ops, n, M);
    }
}

/* In a step (one column), threads done early with the job posted next start streaming
 * the weights of the products after it. */
static void prefetch_after(mg_pool *pool, int n, const mg_matrix *a, const mg_matrix *b, const mg_matrix *c) {
    if (n != 1)
        return;
    const mg_matrix *W[3] = {a, b, c};
    mg_matmul_prefetch_after(pool, W, b ? (c ? 3 : 2) : 1);
}

/* One chunk of n <= MG_DEC_CHUNK columns starting at cache position s->len. */
static mg_status forward_chunk(mg_dec_state *s, mg_pool *pool, const int32_t *tokens, int n_total, int t0, int n,
                               float *logits, int all_logits, float *dbg_layer0, float *dbg_final) {
    const mg_decoder *d = s->d;
    const mg_decoder_config *c = &d->cfg;
    int R = s->rows, K = c->n_codebooks, V = c->vocab_size, D = c->hidden_size, F = c->ffn_dim;
    int H = c->n_heads, hd = d->head_dim;
    int64_t M = (int64_t)R * n;
    float qscale = 1.0f / sqrtf((float)hd);
    int pos0 = s->len;

    /* Input: sum of the K codebook embeddings of each column, plus its position. */
    for (int r = 0; r < R; r++)
        for (int t = 0; t < n; t++) {
            float *h = s->h + ((size_t)r * n + t) * D;
            memset(h, 0, sizeof(float) * (size_t)D);
            for (int k = 0; k < K; k++) {
                int id = tokens[((size_t)r * K + k) * n_total + t0 + t];
                if (id < 0 || id > V)
                    return mg_fail(MG_ERR_INVALID_ARG, "decoder input id %d of codebook %d is outside [0, %d]", id, k, V);
                const mg_tensor *E = &d->embed[k];
                mg_matrix_row_to_f32(E->dtype, E->data, id, s->x, D);
                mg_round_through(d->embed_round, s->x, D);
                mg_add(h, s->x, D);
            }
            mg_add(h, d->pos + (size_t)(pos0 + t) * D, D);
        }

    mg_dec_times *tm = &s->times;
    double t_last = mg_time_now();
    int threads = mg_pool_threads(pool), pairs_per_task = (R * H + 2 * threads - 1) / (2 * threads);
    int groups = self_attn_groups(R, H, threads);
    for (int l = 0; l < c->n_layers; l++) {
        const mg_dec_layer *Ly = &d->layers[l];
        /* Self-attention (causal, cached): h += out_proj(attn(LN(h))). */
        layer_norm_rows(s->h, s->x, M, D, Ly->ln_self_w, Ly->ln_self_b);
        const mg_matmul_op qkv[3] = {{&Ly->sq, s->x, D, s->q, D, NULL, MG_ACT_NONE},
                                     {&Ly->sk, s->x, D, s->k, D, NULL, MG_ACT_NONE},
                                     {&Ly->sv, s->x, D, s->v, D, NULL, MG_ACT_NONE}};
        mg_matmul_group(pool, qkv, 3, M);
        scale(s->q, M * D, qscale);
        lap(&t_last, &tm->matmul_s);
        attn_job job = {s, l, n, pos0, s->q, s->att, R * H, pairs_per_task, groups};
        prefetch_after(pool, n, &Ly->so, NULL, NULL);
        mg_pool_run(pool, self_attn_task, &job, R * groups);
        lap(&t_last, &tm->self_attn_s);
        prefetch_after(pool, n, &Ly->cq, NULL, NULL);
        mg_matmul(pool, &Ly->so, s->att, M, D, s->x, D, NULL);
        mg_add(s->h, s->x, M * D);

        /* Cross-attention over the text: h += out_proj(attn(LN(h), text)). */
        layer_norm_rows(s->h, s->x, M, D, Ly->ln_cross_w, Ly->ln_cross_b);
        mg_matmul(pool, &Ly->cq, s->x, M, D, s->q, D, NULL);
        scale(s->q, M * D, qscale);
        lap(&t_last, &tm->matmul_s);
        prefetch_after(pool, n, &Ly->co, NULL, NULL);
        mg_pool_run(pool, cross_attn_task, &job, (R * H + pairs_per_task - 1) / pairs_per_task);
        lap(&t_last, &tm->cross_attn_s);
        prefetch_after(pool, n, &Ly->fc1, NULL, NULL);
        mg_matmul(pool, &Ly->co, s->att, M, D, s->x, D, NULL);
        mg_add(s->h, s->x, M * D);

        /* Feed-forward: h += fc2(act(fc1(LN(h)))), act = gelu for MusicGen. */
        layer_norm_rows(s->h, s->x, M, D, Ly->ln_ff_w, Ly->ln_ff_b);
        const mg_matmul_op fc1 = {&Ly->fc1, s->x, D, s->ff, F, NULL, d->cfg.act}; /* activation fused in */
        prefetch_after(pool, n, &Ly->fc2, NULL, NULL);
        mg_matmul_group(pool, &fc1, 1, M);
        if (l + 1 < c->n_layers) {
            const mg_dec_layer *next = &d->layers[l + 1];
            prefetch_after(pool, n, &next->sq, &next->sk, &next->sv);
        } else if (n == 1) {
            const mg_matrix *heads[MG_MATMUL_GROUP_MAX];
            int nh = K < MG_MATMUL_GROUP_MAX ? K : MG_MATMUL_GROUP_MAX;
            for (int k = 0; k < nh; k++)
                heads[k] = &d->lm_heads[k];
            mg_matmul_prefetch_after(pool, heads, nh);
        }
        mg_matmul(pool, &Ly->fc2, s->ff, M, F, s->x, D, NULL);
        mg_add(s->h, s->x, M * D);
        lap(&t_last, &tm->matmul_s);

        if (l == 0 && dbg_layer0)
            for (int r = 0; r < R; r++)
                memcpy(dbg_layer0 + ((size_t)r * n_total + t0) * D, s->h + (size_t)r * n * D,
                       sizeof(float) * (size_t)n * D);
    }

    /* Final LayerNorm, then one lm_head per codebook. */
    layer_norm_rows(s->h, s->x, M, D, d->ln_w, d->ln_b);
    if (dbg_final)
        for (int r = 0; r < R; r++)
            memcpy(dbg_final + ((size_t)r * n_total + t0) * D, s->x + (size_t)r * n * D, sizeof(float) * (size_t)n * D);
    s->len += n;
    if (!logits)
        return MG_OK;
    if (all_logits) {
        lm_heads(d, pool, s->x, M, s->logit_tmp);
        for (int r = 0; r < R; r++)
            memcpy(logits + ((size_t)r * n_total + t0) * K * V, s->logit_tmp + (size_t)r * n * K * V,
                   sizeof(float) * (size_t)n * K * V);
    } else if (t0 + n == n_total) {
        /* Only the last column of each row. */
        for (int r = 0; r < R; r++)
            memcpy(s->q + (size_t)r * D, s->x + ((size_t)r * n + n - 1) * D, sizeof(float) * (size_t)D);
        /* The sampling after this step leaves the bus to the other threads. */
        prefetch_after(pool, n, &d->layers[0].sq, &d->layers[0].sk, &d->layers[0].sv);
        lm_heads(d, pool, s->q, R, logits);
    }
    lap(&t_last, &tm->matmul_s);
    return MG_OK;
}

mg_status mg_dec_forward(mg_dec_state *s, mg_pool *pool, const int32_t *tokens, int n, float *logits, int all_logits,
                         float *dbg_layer0, float *dbg_final) {
    if (n < 1)
        return mg_fail(MG_ERR_INVALID_ARG, "decoder forward: no columns");
    if (s->len + n > s->max_len)
        return mg_fail(MG_ERR_INVALID_ARG, "decoder cache full: %d + %d columns exceed %d", s->len, n, s->max_len);
    for (int t0 = 0; t0 < n; t0 += MG_DEC_CHUNK) {
        int c = n - t0 < MG_DEC_CHUNK ? n - t0 : MG_DEC_CHUNK;
        MG_TRY(forward_chunk(s, pool, tokens, n, t0, c, logits, all_logits, dbg_layer0, dbg_final));
    }
    return MG_OK;
}
