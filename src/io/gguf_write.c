/* gguf_write.c — GGUF writer (see gguf.h) and the checkpoint converter behind
 * `musicgen quantize`: every tensor of a Hugging Face folder or GGUF into one
 * GGUF v3 file, the big matrices in the requested format.
 *
 * The file layout follows ggml's gguf.h: tensors are laid out contiguously in
 * declaration order, each padded to the alignment, exactly where ggml's own
 * reader expects them. Tensor data is streamed (one row at a time when
 * converting), so memory use does not grow with the model. Not done here: any
 * ggml format other than f32, f16, bf16, q8_0, q4_0; printing (progress goes
 * through a callback).
 */
#include "io/gguf.h"
#include "io/json.h"
#include "base/pool.h"
#include "base/resources.h"
#include "tensor/convert.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

/* ---- writer ----------------------------------------------------------------------- */

typedef struct wtensor {
    char name[MG_GGUF_MAX_NAME + 1];
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
    uint64_t nbytes, offset;
} wtensor;

struct mg_gguf_writer {
    uint8_t *meta; /* serialized key-value pairs */
    size_t meta_len, meta_cap;
    char **keys;
    int64_t n_kv;
    wtensor *t;
    int64_t n_t, cap_t;
    uint32_t alignment;
    mg_atomic_file af;
    int begun, finished, overwrite;
    int64_t cur;       /* tensor being written */
    uint64_t cur_done; /* its bytes written so far */
    uint64_t pos;      /* bytes written to the file */
};

mg_gguf_writer *mg_gguf_writer_new(void) {
    mg_gguf_writer *w = mg_calloc(1, sizeof *w, "a GGUF writer");
    if (w) {
        w->alignment = MG_GGUF_DEFAULT_ALIGNMENT;
        w->af.fd = -1;
    }
    return w;
}

void mg_gguf_writer_free(mg_gguf_writer *w) {
    if (!w)
        return;
    if (w->begun && !w->finished)
        mg_atomic_abort(&w->af);
    for (int64_t i = 0; i < w->n_kv; i++)
        free(w->keys[i]);
    free(w->keys);
    free(w->meta);
    free(w->t);
    free(w);
}

static mg_status meta_put(mg_gguf_writer *w, const void *p, size_t n) {
    if (w->meta_len + n > w->meta_cap) {
        size_t cap = w->meta_cap ? w->meta_cap : 4096;
        while (cap < w->meta_len + n)
            cap *= 2;
        uint8_t *m = realloc(w->meta, cap);
        if (!m)
            return mg_fail(MG_ERR_NOMEM, "out of memory building GGUF metadata");
        w->meta = m;
        w->meta_cap = cap;
    }
    memcpy(w->meta + w->meta_len, p, n);
    w->meta_len += n;
    return MG_OK;
}

static mg_status meta_put_le(mg_gguf_writer *w, uint64_t v, int n) {
    uint8_t b[8];
    for (int i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return meta_put(w, b, (size_t)n);
}

static mg_status meta_put_str(mg_gguf_writer *w, const void *s, size_t len) {
    MG_TRY(meta_put_le(w, len, 8));
    return meta_put(w, s, len);
}

/* Key string + value type; refuses duplicates and metadata added after begin. */
static mg_status meta_key(mg_gguf_writer *w, const char *key, mg_gguf_type type) {
    if (w->begun)
        return mg_fail(MG_ERR_INTERNAL, "GGUF metadata %s added after the header was written", key);
    if (!key || !key[0])
        return mg_fail(MG_ERR_INVALID_ARG, "empty GGUF metadata key");
    for (int64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->keys[i], key))
            return mg_fail(MG_ERR_INVALID_ARG, "GGUF metadata key %s set twice", key);
    char **k = realloc(w->keys, (size_t)(w->n_kv + 1) * sizeof *k);
    if (!k)
        return mg_fail(MG_ERR_NOMEM, "out of memory building GGUF metadata");
    w->keys = k;
    if (!(w->keys[w->n_kv] = mg_strdup(key)))
        return MG_ERR_NOMEM;
    w->n_kv++;
    MG_TRY(meta_put_str(w, key, strlen(key)));
    return meta_put_le(w, (uint64_t)type, 4);
}

mg_status mg_gguf_writer_set_str(mg_gguf_writer *w, const char *key, const char *value, size_t len) {
    MG_TRY(meta_key(w, key, MG_GGUF_STRING));
    return meta_put_str(w, value, len);
}

mg_status mg_gguf_writer_set_u32(mg_gguf_writer *w, const char *key, uint32_t value) {
    if (!strcmp(key, "general.alignment")) {
        if (!value || (value & (value - 1)) || value > (1u << 30))
            return mg_fail(MG_ERR_INVALID_ARG, "GGUF alignment %u is not a power of two", value);
        w->alignment = value;
    }
    MG_TRY(meta_key(w, key, MG_GGUF_U32));
    return meta_put_le(w, value, 4);
}

mg_status mg_gguf_writer_set_bytes(mg_gguf_writer *w, const char *key, const uint8_t *data, size_t n) {
    MG_TRY(meta_key(w, key, MG_GGUF_ARRAY));
    MG_TRY(meta_put_le(w, MG_GGUF_U8, 4));
    MG_TRY(meta_put_le(w, n, 8));
    return meta_put(w, data, n);
}

mg_status mg_gguf_writer_add_tensor(mg_gguf_writer *w, const char *name, mg_dtype dtype, int ndim,
                                    const int64_t *shape) {
    if (w->begun)
        return mg_fail(MG_ERR_INTERNAL, "GGUF tensor %s added after the header was written", name);
    wtensor t;
    memset(&t, 0, sizeof t);
    if (!mg_gguf_name_from_hf(name, t.name, sizeof t.name))
        return mg_fail(MG_ERR_UNSUPPORTED, "tensor name %s cannot be stored in GGUF (longer than %d bytes even abbreviated)",
                       name, MG_GGUF_MAX_NAME);
    if (!mg_gguf_ggml_from_dtype(dtype, &t.type))
        return mg_fail(MG_ERR_UNSUPPORTED, "tensor %s: dtype %s cannot be stored in GGUF", name, mg_dtype_name(dtype));
    if (ndim < 1 || ndim > 4)
        return mg_fail(MG_ERR_INVALID_ARG, "tensor %s has %d dimensions (GGUF allows 1..4)", name, ndim);
    int64_t rows = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 1)
            return mg_fail(MG_ERR_INVALID_ARG, "tensor %s has an empty dimension", name);
        t.ne[ndim - 1 - d] = shape[d];
        if (d < ndim - 1)
            rows *= shape[d];
    }
    t.n_dims = (uint32_t)ndim;
    if (mg_dtype_is_block(dtype) && t.ne[0] % MG_QK)
        return mg_fail(MG_ERR_INVALID_ARG, "tensor %s: rows of %lld values cannot be stored as %s (need a multiple of %d)",
                       name, (long long)t.ne[0], mg_dtype_name(dtype), MG_QK);
    if (mg_dtype_is_x16(dtype) && (ndim != 2 || shape[0] % MG_X16_ROWS))
        return mg_fail(MG_ERR_INVALID_ARG, "tensor %s: only matrices of whole %d-row groups can be stored as %s", name,
                       MG_X16_ROWS, mg_dtype_name(dtype));
    t.nbytes = (uint64_t)mg_dtype_row_bytes(dtype, t.ne[0]) * (uint64_t)rows;
    for (int64_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, t.name))
            return mg_fail(MG_ERR_INVALID_ARG, "GGUF tensor %s declared twice", name);
    if (w->n_t == w->cap_t) {
        int64_t cap = w->cap_t ? w->cap_t * 2 : 256;
        wtensor *nt = realloc(w->t, (size_t)cap * sizeof *nt);
        if (!nt)
            return mg_fail(MG_ERR_NOMEM, "out of memory declaring GGUF tensors");
        w->t = nt;
        w->cap_t = cap;
    }
    w->t[w->n_t++] = t;
    return MG_OK;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static mg_status file_put(mg_gguf_writer *w, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, w->af.fp) != n)
        return mg_fail(MG_ERR_IO, "cannot write %s: %s", w->af.path, strerror(errno ? errno : EIO));
    w->pos += n;
    return MG_OK;
}

static mg_status file_put_le(mg_gguf_writer *w, uint64_t v, int n) {
    uint8_t b[8];
    for (int i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return file_put(w, b, (size_t)n);
}

static mg_status file_pad(mg_gguf_writer *w) {
    static const uint8_t zeros[64];
    uint64_t pad = align_up(w->pos, w->alignment) - w->pos;
    while (pad) {
        size_t n = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        MG_TRY(file_put(w, zeros, n));
        pad -= n;
    }
    return MG_OK;
}

static mg_status write_header(mg_gguf_writer *w) {
    MG_TRY(file_put(w, "GGUF", 4));
    MG_TRY(file_put_le(w, MG_GGUF_VERSION, 4));
    MG_TRY(file_put_le(w, (uint64_t)w->n_t, 8));
    MG_TRY(file_put_le(w, (uint64_t)w->n_kv, 8));
    MG_TRY(file_put(w, w->meta, w->meta_len));
    for (int64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        size_t nl = strlen(t->name);
        MG_TRY(file_put_le(w, nl, 8));
        MG_TRY(file_put(w, t->name, nl));
        MG_TRY(file_put_le(w, t->n_dims, 4));
        for (uint32_t d = 0; d < t->n_dims; d++)
            MG_TRY(file_put_le(w, (uint64_t)t->ne[d], 8));
        MG_TRY(file_put_le(w, t->type, 4));
        MG_TRY(file_put_le(w, t->offset, 8));
    }
    return file_pad(w);
}

mg_status mg_gguf_writer_begin(mg_gguf_writer *w, const char *path, int overwrite) {
    if (w->begun)
        return mg_fail(MG_ERR_INTERNAL, "GGUF header written twice");
    uint64_t off = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        w->t[i].offset = off;
        off += align_up(w->t[i].nbytes, w->alignment);
    }
    MG_TRY(mg_atomic_open(&w->af, path, overwrite));
    w->begun = 1;
    w->overwrite = overwrite;
    return write_header(w);
}

mg_status mg_gguf_writer_write(mg_gguf_writer *w, const void *data, size_t n) {
    if (!w->begun || w->finished)
        return mg_fail(MG_ERR_INTERNAL, "GGUF tensor data written outside begin/finish");
    const uint8_t *p = data;
    while (n) {
        if (w->cur >= w->n_t)
            return mg_fail(MG_ERR_INTERNAL, "more GGUF tensor data than declared for %s", w->af.path);
        wtensor *t = &w->t[w->cur];
        uint64_t left = t->nbytes - w->cur_done;
        size_t take = n < left ? n : (size_t)left;
        MG_TRY(file_put(w, p, take));
        p += take;
        n -= take;
        w->cur_done += take;
        if (w->cur_done == t->nbytes) {
            MG_TRY(file_pad(w));
            w->cur++;
            w->cur_done = 0;
        }
    }
    return MG_OK;
}

mg_status mg_gguf_writer_finish(mg_gguf_writer *w, int64_t *file_bytes) {
    if (!w->begun || w->finished)
        return mg_fail(MG_ERR_INTERNAL, "GGUF writer finished twice or never begun");
    if (w->cur < w->n_t)
        return mg_fail(MG_ERR_INTERNAL, "GGUF tensor %s is incomplete (%llu of %llu bytes written)", w->t[w->cur].name,
                       (unsigned long long)w->cur_done, (unsigned long long)w->t[w->cur].nbytes);
    w->finished = 1;
    mg_status st = mg_atomic_commit(&w->af, w->overwrite);
    if (st == MG_OK && file_bytes)
        *file_bytes = (int64_t)w->pos;
    return st;
}

/* ---- which format each tensor gets --------------------------------------------------- */

static int starts_with(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

int mg_gguf_is_weight_matrix(const char *name) {
    if (!strcmp(name, "enc_to_dec_proj.weight"))
        return 1;
    if (starts_with(name, "decoder.lm_heads."))
        return mg_str_ends_with(name, ".weight");
    if (starts_with(name, "decoder.model.decoder.layers.")) {
        if (mg_str_ends_with(name, ".fc1.weight") || mg_str_ends_with(name, ".fc2.weight"))
            return 1;
        return (strstr(name, ".self_attn.") || strstr(name, ".encoder_attn.")) && mg_str_ends_with(name, "_proj.weight");
    }
    if (starts_with(name, "text_encoder.encoder.block.")) {
        if (strstr(name, ".DenseReluDense.") && mg_str_ends_with(name, ".weight"))
            return 1;
        return strstr(name, ".SelfAttention.") && (mg_str_ends_with(name, ".q.weight") || mg_str_ends_with(name, ".k.weight") ||
                                                   mg_str_ends_with(name, ".v.weight") || mg_str_ends_with(name, ".o.weight"));
    }
    return 0;
}

static int is_embedding(const char *name) {
    return !strcmp(name, "text_encoder.shared.weight") || !strcmp(name, "text_encoder.encoder.embed_tokens.weight") ||
           (starts_with(name, "decoder.model.decoder.embed_tokens.") && mg_str_ends_with(name, ".weight"));
}

mg_dtype mg_gguf_pick_type(const char *name, int ndim, const int64_t *shape, mg_dtype stored, mg_dtype want,
                           int quantize_small) {
    if (ndim != 2 || starts_with(name, "audio_encoder."))
        return MG_DT_F32;
    if (mg_gguf_is_weight_matrix(name)) {
        /* The text encoder runs once per generation but its error reaches every decoder
         * step through cross-attention: quantizing it multiplies the logit error ~20x
         * (tests/test_quant_quality.c), so it stays f16 in every reduced format. */
        if (starts_with(name, "text_encoder.") || starts_with(name, "enc_to_dec_proj."))
            return mg_text_matrix_format(want, shape[0], shape[1], quantize_small);
        /* Small matrices stay f32, q8_0 and q4_0 go in 16-row groups wherever the rows
         * allow (tensor.h): the same bytes, read by kernels doing less arithmetic. */
        return mg_matrix_format(want, shape[0], shape[1], quantize_small);
    }
    /* An embedding table is read one row per token, so the block formats keep T5's as
     * the checkpoint stores it (f32 for the hub's): it costs file size only, as the
     * prompt's rows are read once and released. The decoder's tables are read at every
     * step and end up resident (page fault-around), so they become f16 unless small,
     * as the matrices (f32 doubles musicgen-small's 17 MB). Any rounding of either
     * input flips a toy model's greedy codes. f16 / bf16 files reduce all of them. */
    if (is_embedding(name))
        return mg_embedding_format(want, stored, shape[0], shape[1], !strcmp(name, "text_encoder.shared.weight"),
                                   quantize_small);
    return MG_DT_F32;
}

/* ---- converting a checkpoint ------------------------------------------------------------ */

typedef struct plan_item {
    char name[512];          /* output (HF) name */
    const mg_store_entry *src; /* the tensor to copy, or weight_v of a folded pair */
    int fold;                /* 1: write weight-norm folded prefix.weight */
    mg_dtype dtype;
    int ndim;
    int64_t shape[MG_MAX_DIMS];
} plan_item;

/* 0 for the tensors a decoder step reads whole (the decoder's layers and lm heads,
 * except the cross-attention K/V projections, which run once per generation and are
 * then released), 1 for everything else. The file puts group 0 first, in one
 * contiguous run: the loader maps the step's matrices with 2 MiB pages wherever whole
 * ones fit between released tensors (mg_decoder_map_step_weights_huge), and with the
 * HF name order a released 1 MiB K/V projection sat between every layer's matrices,
 * which left ~27 % of musicgen-small's q8_0 step weights on 4 KiB pages. */
static int plan_group(const char *name) {
    int step = starts_with(name, "decoder.") && !is_embedding(name) &&
               !starts_with(name, "decoder.model.decoder.embed_positions.") && !strstr(name, "encoder_attn.k_proj.") &&
               !strstr(name, "encoder_attn.v_proj.");
    return step ? 0 : 1;
}

/* Group, then name (equal names stay neighbours, for the duplicate check). */
static int cmp_plan(const void *a, const void *b) {
    const char *x = ((const plan_item *)a)->name, *y = ((const plan_item *)b)->name;
    int gx = plan_group(x), gy = plan_group(y);
    return gx != gy ? gx - gy : strcmp(x, y);
}

static int has_sibling(const mg_store *s, const char *name, size_t prefix_len, const char *suffix) {
    char buf[600];
    if (prefix_len + strlen(suffix) + 1 > sizeof buf)
        return 0;
    memcpy(buf, name, prefix_len);
    strcpy(buf + prefix_len, suffix);
    return mg_store_has(s, buf);
}

/* One output tensor per stored tensor, except weight_g/weight_v pairs -> .weight. */
static mg_status build_plan(const mg_checkpoint *ck, mg_dtype want, int quantize_small, plan_item **out, int *n_out) {
    const mg_store *s = &ck->store;
    plan_item *p = mg_calloc((size_t)(s->n_entries ? s->n_entries : 1), sizeof *p, "the conversion plan");
    if (!p)
        return MG_ERR_NOMEM;
    int n = 0;
    mg_status st = MG_OK;
    for (int i = 0; i < s->n_entries && st == MG_OK; i++) {
        const mg_store_entry *e = &s->entries[i];
        size_t len = strlen(e->name);
        if (len + 1 > sizeof p[n].name) {
            st = mg_fail(MG_ERR_UNSUPPORTED, "tensor name %s is too long", e->name);
            break;
        }
        int is_g = mg_str_ends_with(e->name, ".weight_g"), is_v = mg_str_ends_with(e->name, ".weight_v");
        size_t plen = len - 9; /* strlen(".weight_g") */
        if ((is_g || is_v) && has_sibling(s, e->name, plen, is_g ? ".weight_v" : ".weight_g") &&
            !has_sibling(s, e->name, plen, ".weight")) {
            if (is_g)
                continue; /* folded together with its weight_v */
            memcpy(p[n].name, e->name, plen);
            strcpy(p[n].name + plen, ".weight");
            p[n].fold = 1;
            p[n].dtype = MG_DT_F32;
        } else {
            memcpy(p[n].name, e->name, len + 1);
            p[n].dtype = mg_gguf_pick_type(e->name, e->t.ndim, e->t.shape, e->t.dtype, want, quantize_small);
        }
        if (!mg_dtype_is_weight(e->t.dtype))
            st = mg_fail(MG_ERR_UNSUPPORTED, "tensor %s in %s has dtype %s; model weights must be floating point", e->name,
                         mg_store_file_of(s, e), mg_dtype_name(e->t.dtype));
        p[n].src = e;
        p[n].ndim = e->t.ndim;
        memcpy(p[n].shape, e->t.shape, sizeof p[n].shape);
        if (p[n].ndim == 0) { /* a scalar: store it as [1] */
            p[n].ndim = 1;
            p[n].shape[0] = 1;
        }
        n++;
    }
    if (st == MG_OK) {
        qsort(p, (size_t)n, sizeof *p, cmp_plan);
        for (int i = 1; i < n && st == MG_OK; i++)
            if (!strcmp(p[i].name, p[i - 1].name))
                st = mg_fail(MG_ERR_FORMAT, "tensor %s is stored both plainly and as weight_g/weight_v; the checkpoint is inconsistent",
                             p[i].name);
    }
    if (st != MG_OK) {
        free(p);
        return st;
    }
    *out = p;
    *n_out = n;
    return MG_OK;
}

/* The metadata a converted file carries over: config JSON texts and extra_ids. */
typedef struct source_meta {
    char *config;
    size_t config_len;
    char *gen;
    size_t gen_len;
    uint32_t extra_ids;
    char *name; /* a GGUF source's general.name, kept by GGUF -> GGUF conversion */
    size_t name_len;
} source_meta;

static void source_meta_free(source_meta *m) {
    free(m->name);
    free(m->config);
    free(m->gen);
    memset(m, 0, sizeof *m);
}

static char *dup_bytes(const char *p, size_t n) {
    char *s = mg_malloc(n + 1, "metadata");
    if (s) {
        memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

static mg_status meta_from_gguf(const mg_checkpoint *ck, source_meta *m) {
    if (ck->store.n_files < 1)
        return mg_fail(MG_ERR_INTERNAL, "GGUF checkpoint %s has no mapped file", ck->path);
    const mg_mapped_file *f = &ck->store.files[0];
    mg_gguf g;
    MG_TRY(mg_gguf_read(&g, f->path, f->data, f->size));
    size_t len;
    const char *s = mg_gguf_get_str(&g, "musicgen.config_json", &len);
    if (s && !(m->config = dup_bytes(s, len)))
        goto nomem;
    m->config_len = len;
    s = mg_gguf_get_str(&g, "musicgen.generation_config_json", &len);
    if (s) {
        if (!(m->gen = dup_bytes(s, len)))
            goto nomem;
        m->gen_len = len;
    }
    s = mg_gguf_get_str(&g, "general.name", &len);
    if (s && len) {
        if (!(m->name = dup_bytes(s, len)))
            goto nomem;
        m->name_len = len;
    }
    const mg_gguf_kv *e = mg_gguf_find(&g, "tokenizer.extra_ids");
    if (e && e->type == MG_GGUF_U32)
        m->extra_ids = (uint32_t)e->num.u;
    mg_gguf_free(&g);
    return m->config ? MG_OK : mg_fail(MG_ERR_FORMAT, "%s has no musicgen.config_json", f->path);
nomem:
    mg_gguf_free(&g);
    return MG_ERR_NOMEM;
}

static mg_status meta_from_folder(const mg_checkpoint *ck, source_meta *m) {
    char *p = mg_path_join(ck->path, "config.json");
    if (!p)
        return MG_ERR_NOMEM;
    mg_status st = mg_file_read_regular(p, &m->config, &m->config_len);
    free(p);
    MG_TRY(st);
    if (!(p = mg_path_join(ck->path, "generation_config.json")))
        return MG_ERR_NOMEM;
    st = mg_file_read_regular(p, &m->gen, &m->gen_len);
    free(p);
    if (st != MG_OK && st != MG_ERR_NOT_FOUND)
        return st;
    if (!(p = mg_path_join(ck->path, "tokenizer_config.json")))
        return MG_ERR_NOMEM;
    char *text = NULL;
    size_t len = 0;
    if (mg_file_read_regular(p, &text, &len) == MG_OK) {
        cJSON *root = mg_json_parse(text, len, NULL);
        cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "extra_ids");
        if (cJSON_IsNumber(e) && e->valuedouble >= 0 && e->valuedouble <= 100000)
            m->extra_ids = (uint32_t)e->valuedouble;
        cJSON_Delete(root);
        free(text);
    }
    free(p);
    mg_clear_error();
    return MG_OK;
}

static mg_status load_source_meta(const mg_checkpoint *ck, source_meta *m) {
    memset(m, 0, sizeof *m);
    m->extra_ids = 100; /* T5 convention, also transformers' default */
    mg_status st = ck->is_gguf ? meta_from_gguf(ck, m) : meta_from_folder(ck, m);
    if (st == MG_OK && !m->gen) {
        m->gen = mg_generation_config_to_json(&ck->cfg);
        m->gen_len = m->gen ? strlen(m->gen) : 0;
        if (!m->gen)
            st = mg_fail(MG_ERR_NOMEM, "out of memory");
    }
    if (st != MG_OK)
        source_meta_free(m);
    return st;
}

static const char *model_name(const mg_checkpoint *ck) {
    if (ck->cfg.name_or_path[0])
        return ck->cfg.name_or_path;
    const char *p = ck->path, *slash;
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--;
    for (slash = p + n; slash > p && slash[-1] != '/'; slash--)
        ;
    return slash;
}

static mg_status write_metadata(mg_gguf_writer *w, const mg_checkpoint *ck, const source_meta *m, mg_dtype type) {
    const char *name = m->name ? m->name : model_name(ck);
    size_t name_len = m->name ? m->name_len : strlen(name);
    while (name_len > 1 && name[name_len - 1] == '/')
        name_len--;
    const char *tn = mg_dtype_name(type);
    MG_TRY(mg_gguf_writer_set_str(w, "general.architecture", "musicgen", 8));
    MG_TRY(mg_gguf_writer_set_str(w, "general.name", name, name_len));
    MG_TRY(mg_gguf_writer_set_u32(w, "general.alignment", MG_GGUF_DEFAULT_ALIGNMENT));
    MG_TRY(mg_gguf_writer_set_u32(w, "general.file_type", mg_gguf_file_type_id(type)));
    MG_TRY(mg_gguf_writer_set_u32(w, "general.quantization_version", 2));
    MG_TRY(mg_gguf_writer_set_str(w, "musicgen.weight_type", tn, strlen(tn)));
    MG_TRY(mg_gguf_writer_set_str(w, "musicgen.config_json", m->config, m->config_len));
    MG_TRY(mg_gguf_writer_set_str(w, "musicgen.generation_config_json", m->gen, m->gen_len));
    MG_TRY(mg_gguf_writer_set_bytes(w, "tokenizer.spm.model", ck->spiece, ck->spiece_size));
    return mg_gguf_writer_set_u32(w, "tokenizer.extra_ids", m->extra_ids);
}

#define SLAB_ROWS 1024 /* rows converted (on all threads) per write; a multiple of MG_X16_ROWS */

/* Convert slab by slab (rows = all leading dims, a row = the last dim). */
static mg_status write_converted(mg_gguf_writer *w, mg_pool *pool, const plan_item *it) {
    const mg_tensor *t = &it->src->t;
    int64_t cols = it->shape[it->ndim - 1], rows = mg_tensor_numel(t) / (cols ? cols : 1);
    mg_matrix src = {t->dtype, rows, cols, mg_dtype_row_bytes(t->dtype, cols), t->data};
    size_t row_bytes = mg_dtype_row_bytes(it->dtype, cols);
    uint8_t *out = mg_malloc(row_bytes * (size_t)(rows < SLAB_ROWS ? rows : SLAB_ROWS), "a conversion buffer");
    mg_status st = out ? MG_OK : MG_ERR_NOMEM;
    for (int64_t r0 = 0; r0 < rows && st == MG_OK; r0 += SLAB_ROWS) {
        int64_t n = rows - r0 < SLAB_ROWS ? rows - r0 : SLAB_ROWS;
        mg_nonfinite bad;
        mg_convert_result r = mg_convert_rows(pool, &src, r0, n, it->dtype, out, &bad);
        if (r == MG_CONVERT_NOMEM)
            st = mg_fail(MG_ERR_NOMEM, "out of memory converting %s", it->name);
        else if (r == MG_CONVERT_NONFINITE)
            st = mg_fail(MG_ERR_FORMAT,
                         "tensor %s holds a non-finite value (%g in row %lld, column %lld); the source checkpoint is corrupt",
                         it->name, (double)bad.value, (long long)bad.row, (long long)bad.col);
        else
            st = mg_gguf_writer_write(w, out, row_bytes * (size_t)n);
    }
    free(out);
    return st;
}

static mg_status write_folded(mg_gguf_writer *w, mg_checkpoint *ck, const plan_item *it) {
    char prefix[512];
    size_t plen = strlen(it->name) - 7; /* strlen(".weight") */
    memcpy(prefix, it->name, plen);
    prefix[plen] = 0;
    mg_arena_mark mark = mg_arena_save(&ck->store.arena);
    const float *wt;
    mg_status st = mg_store_get_weight_norm(&ck->store, prefix, it->ndim, it->shape, &wt);
    if (st == MG_OK)
        st = mg_gguf_writer_write(w, wt, (size_t)mg_tensor_numel(&it->src->t) * sizeof(float));
    mg_arena_restore(&ck->store.arena, mark);
    return st;
}

static mg_status write_tensor(mg_gguf_writer *w, mg_pool *pool, mg_checkpoint *ck, const plan_item *it) {
    if (it->fold)
        return write_folded(w, ck, it);
    const mg_tensor *t = &it->src->t;
    mg_status st = t->dtype == it->dtype ? mg_gguf_writer_write(w, t->data, t->nbytes) : write_converted(w, pool, it);
    /* The source pages are not needed again: keep the resident size flat. */
    if (st == MG_OK && it->src->file >= 0 && it->src->file < ck->store.n_files)
        mg_file_release(&ck->store.files[it->src->file], t->data, t->nbytes);
    return st;
}

static int64_t output_bytes(const plan_item *it) {
    int64_t rows = 1;
    for (int d = 0; d < it->ndim - 1; d++)
        rows *= it->shape[d];
    return (int64_t)mg_dtype_row_bytes(it->dtype, it->shape[it->ndim - 1]) * rows;
}

mg_status mg_gguf_write_checkpoint(mg_checkpoint *ck, const char *path, const mg_gguf_convert_params *p,
                                   int64_t *out_bytes) {
    if (p->type != MG_DT_F32 && p->type != MG_DT_F16 && p->type != MG_DT_BF16 && p->type != MG_DT_Q8_0 &&
        p->type != MG_DT_Q4_0)
        return mg_fail(MG_ERR_INVALID_ARG, "cannot convert to %s (choose f32, f16, bf16, q8_0 or q4_0)",
                       mg_dtype_name(p->type));
    if (!ck->spiece || !ck->spiece_size)
        return mg_fail(MG_ERR_FORMAT, "%s has no tokenizer model (spiece.model); it is needed in the GGUF", ck->path);
    MG_TRY(mg_check_output_path(path, p->overwrite));
    plan_item *plan;
    int n;
    MG_TRY(build_plan(ck, p->type, p->quantize_small, &plan, &n));
    source_meta meta;
    mg_status st = load_source_meta(ck, &meta);
    if (st != MG_OK) {
        free(plan);
        return st;
    }
    mg_gguf_writer *w = mg_gguf_writer_new();
    st = w ? write_metadata(w, ck, &meta, p->type) : MG_ERR_NOMEM;
    int64_t total = 0, done = 0;
    for (int i = 0; i < n && st == MG_OK; i++) {
        st = mg_gguf_writer_add_tensor(w, plan[i].name, plan[i].dtype, plan[i].ndim, plan[i].shape);
        total += output_bytes(&plan[i]);
    }
    if (st == MG_OK)
        st = mg_gguf_writer_begin(w, path, p->overwrite);
    /* At most one thread per core, as contexts and loading (the bytes never depend on it). */
    mg_pool *pool = st == MG_OK ? mg_pool_new(mg_cpu_threads(p->n_threads)) : NULL; /* NULL: this thread */
    for (int i = 0; i < n && st == MG_OK; i++) {
        st = write_tensor(w, pool, ck, &plan[i]);
        done += output_bytes(&plan[i]);
        if (st == MG_OK && p->progress && p->progress(p->user, done, total, plan[i].name))
            st = mg_fail(MG_ERR_CANCELLED, "writing %s was cancelled; nothing was written", path);
    }
    mg_pool_free(pool);
    if (st == MG_OK)
        st = mg_gguf_writer_finish(w, out_bytes);
    mg_gguf_writer_free(w);
    source_meta_free(&meta);
    free(plan);
    return st;
}
