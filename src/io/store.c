/* store.c — named tensor table with shape-checked, format-converting lookups (see store.h). */
#include "io/store.h"
#include "tensor/convert.h"
#include "tensor/finite.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mg_store_init(mg_store *s) {
    memset(s, 0, sizeof *s);
    mg_arena_init(&s->arena, 1u << 20);
}

void mg_store_free(mg_store *s) {
    for (int i = 0; i < s->n_files; i++)
        mg_file_unmap(&s->files[i]);
    free(s->files);
    for (int i = 0; i < s->n_entries; i++)
        free(s->entries[i].name);
    free(s->entries);
    free(s->hash);
    mg_arena_free(&s->arena);
    memset(s, 0, sizeof *s);
}

int mg_store_add_file(mg_store *s, mg_mapped_file *f) {
    mg_mapped_file *nf = realloc(s->files, (size_t)(s->n_files + 1) * sizeof *nf);
    if (!nf) {
        mg_fail(MG_ERR_NOMEM, "out of memory registering %s", f->path);
        return -1;
    }
    s->files = nf;
    s->files[s->n_files] = *f;
    memset(f, 0, sizeof *f);
    return s->n_files++;
}

static uint32_t hash_name(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static mg_status rehash(mg_store *s, int cap) {
    int *h = malloc((size_t)cap * sizeof *h);
    if (!h)
        return mg_fail(MG_ERR_NOMEM, "out of memory indexing tensors");
    for (int i = 0; i < cap; i++)
        h[i] = -1;
    for (int i = 0; i < s->n_entries; i++) {
        uint32_t k = hash_name(s->entries[i].name) & (uint32_t)(cap - 1);
        while (h[k] >= 0)
            k = (k + 1) & (uint32_t)(cap - 1);
        h[k] = i;
    }
    free(s->hash);
    s->hash = h;
    s->hash_cap = cap;
    return MG_OK;
}

/* Newer transformers save a weight-normed conv (torch.nn.utils.parametrizations.weight_norm)
 * as X.parametrizations.weight.original0 / original1; older checkpoints (the hub's
 * MusicGen files) as X.weight_g / X.weight_v: the same tensors. The store knows them by
 * the older names, whichever way the file spells them. Returns `name` itself, or the
 * renamed copy in buf. */
static const char *canonical_name(const char *name, char *buf, size_t cap) {
    static const char *const from[2] = {".parametrizations.weight.original0", ".parametrizations.weight.original1"};
    static const char *const to[2] = {".weight_g", ".weight_v"};
    for (int i = 0; i < 2; i++)
        if (mg_str_ends_with(name, from[i])) {
            size_t stem = strlen(name) - strlen(from[i]);
            if (stem + strlen(to[i]) + 1 > cap)
                return name;
            memcpy(buf, name, stem);
            strcpy(buf + stem, to[i]);
            return buf;
        }
    return name;
}

mg_store_entry *mg_store_find(const mg_store *s, const char *name) {
    if (!s->hash_cap)
        return NULL;
    char buf[512];
    name = canonical_name(name, buf, sizeof buf);
    uint32_t k = hash_name(name) & (uint32_t)(s->hash_cap - 1);
    while (s->hash[k] >= 0) {
        mg_store_entry *e = &s->entries[s->hash[k]];
        if (!strcmp(e->name, name))
            return e;
        k = (k + 1) & (uint32_t)(s->hash_cap - 1);
    }
    return NULL;
}

int mg_store_has(const mg_store *s, const char *name) { return mg_store_find(s, name) != NULL; }

mg_status mg_store_add(mg_store *s, const char *name, const mg_tensor *t, int file) {
    char buf[512];
    name = canonical_name(name, buf, sizeof buf);
    if (mg_store_find(s, name))
        return mg_fail(MG_ERR_FORMAT, "tensor %s appears twice (second time in %s); the weight files are corrupt or "
                       "overlap, download the model again", name,
                       file >= 0 && file < s->n_files ? s->files[file].path : "?");
    if (s->n_entries == s->cap_entries) {
        int cap = s->cap_entries ? s->cap_entries * 2 : 256;
        mg_store_entry *ne = realloc(s->entries, (size_t)cap * sizeof *ne);
        if (!ne)
            return mg_fail(MG_ERR_NOMEM, "out of memory indexing tensors");
        s->entries = ne;
        s->cap_entries = cap;
    }
    mg_store_entry *e = &s->entries[s->n_entries];
    e->name = mg_strdup(name);
    if (!e->name)
        return MG_ERR_NOMEM;
    e->t = *t;
    e->file = file;
    e->used = 0;
    s->n_entries++;
    if (s->n_entries * 2 > s->hash_cap)
        return rehash(s, s->hash_cap ? s->hash_cap * 2 : 512);
    uint32_t k = hash_name(name) & (uint32_t)(s->hash_cap - 1);
    while (s->hash[k] >= 0)
        k = (k + 1) & (uint32_t)(s->hash_cap - 1);
    s->hash[k] = s->n_entries - 1;
    return MG_OK;
}

const char *mg_store_file_of(const mg_store *s, const mg_store_entry *e) {
    return e->file >= 0 && e->file < s->n_files ? s->files[e->file].path : "the checkpoint";
}

static void format_shape(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

static const char *first_file(const mg_store *s) { return s->n_files ? s->files[0].path : "the checkpoint"; }

mg_status mg_store_get(mg_store *s, const char *name, int ndim, const int64_t *shape, mg_tensor *out) {
    mg_store_entry *e = mg_store_find(s, name);
    if (!e)
        return mg_fail(MG_ERR_FORMAT, "tensor %s is missing from %s%s; the checkpoint is incomplete or not a MusicGen model",
                       name, first_file(s), s->n_files > 1 ? " (and its other shards)" : "");
    int ok = e->t.ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = shape[i] < 0 || shape[i] == e->t.shape[i];
    if (!ok) {
        char want[96], got[96];
        format_shape(want, sizeof want, ndim, shape);
        format_shape(got, sizeof got, e->t.ndim, e->t.shape);
        return mg_fail(MG_ERR_FORMAT, "tensor %s in %s has shape %s, but config.json implies %s", name,
                       mg_store_file_of(s, e), got, want);
    }
    if (!mg_dtype_is_weight(e->t.dtype))
        return mg_fail(MG_ERR_FORMAT, "tensor %s in %s has dtype %s; weights must be f32, f16, bf16, q8_0 or q4_0", name,
                       mg_store_file_of(s, e), mg_dtype_name(e->t.dtype));
    if (!e->used) /* written once: a lazily loaded stage must not race mg_model_validate's reads */
        e->used = 1;
    *out = e->t;
    return MG_OK;
}

static mg_status check_finite(const mg_store *s, const char *name, const mg_store_entry *e, const float *p,
                              int64_t n) {
    if (!mg_any_nonfinite(p, n)) /* vectorized; the loop below only finds where */
        return MG_OK;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(p[i]))
            return mg_fail(MG_ERR_FORMAT, "tensor %s in %s holds a non-finite value (%g at index %lld); the file is corrupt",
                           name, e ? mg_store_file_of(s, e) : "the checkpoint", (double)p[i], (long long)i);
    return MG_OK;
}

/* All values of a tensor as f32 (x16 formats row by row: their rows are grouped). */
static void tensor_values(const mg_tensor *t, float *dst) {
    int64_t n = mg_tensor_numel(t), cols = t->ndim ? t->shape[t->ndim - 1] : 1;
    if (!mg_dtype_is_x16(t->dtype) || cols < 1) {
        mg_row_to_f32(t->dtype, t->data, dst, n);
        return;
    }
    for (int64_t r = 0; r < n / cols; r++)
        mg_matrix_row_to_f32(t->dtype, t->data, r, dst + r * cols, cols);
}

mg_status mg_store_get_f32(mg_store *s, const char *name, int ndim, const int64_t *shape, const float **out) {
    mg_tensor t;
    MG_TRY(mg_store_get(s, name, ndim, shape, &t));
    int64_t n = mg_tensor_numel(&t);
    if (t.dtype == MG_DT_F32) {
        *out = t.data;
    } else {
        float *p = mg_arena_alloc(&s->arena, (size_t)n * 4);
        if (!p)
            return MG_ERR_NOMEM;
        tensor_values(&t, p);
        s->converted_bytes += n * 4;
        *out = p;
    }
    return check_finite(s, name, mg_store_find(s, name), *out, n);
}

mg_status mg_store_get_matrix(mg_store *s, const char *name, int64_t rows, int64_t cols, mg_dtype want,
                              mg_matrix *out) {
    mg_tensor t;
    int64_t shape[2] = {rows, cols};
    MG_TRY(mg_store_get(s, name, 2, shape, &t));
    if (want == MG_DT_COUNT && s->f32_as_f16 && t.dtype == MG_DT_F32) /* MG_WEIGHT_AUTO_F16 */
        want = MG_DT_F16;
    /* Stored in the format asked for (a file's plain q8_0 / q4_0 or their 16-row
     * groups alike): used as it is, mapped, not copied. Otherwise converted to the
     * format mg_matrix_format gives (`musicgen quantize` follows the same rule). */
    if (want == MG_DT_COUNT || mg_dtype_x16_base(want) == mg_dtype_x16_base(t.dtype))
        want = t.dtype;
    else
        want = mg_matrix_format(want, rows, cols, s->quantize_small);
    out->dtype = want;
    out->rows = rows;
    out->cols = cols;
    out->row_bytes = mg_dtype_row_bytes(want, cols);
    if (t.dtype == want) {
        out->data = t.data;
        return MG_OK;
    }
    uint8_t *dst = mg_arena_alloc(&s->arena, out->row_bytes * (size_t)rows);
    if (!dst)
        return mg_fail(MG_ERR_NOMEM, "out of memory converting %s to %s", name, mg_dtype_name(want));
    mg_matrix src = {t.dtype, rows, cols, mg_dtype_row_bytes(t.dtype, cols), t.data};
    mg_nonfinite bad;
    mg_convert_result r = mg_convert_rows(s->pool, &src, 0, rows, want, dst, &bad);
    if (r == MG_CONVERT_NOMEM)
        return mg_fail(MG_ERR_NOMEM, "out of memory converting %s to %s", name, mg_dtype_name(want));
    if (r == MG_CONVERT_NONFINITE)
        return mg_fail(MG_ERR_FORMAT, "tensor %s in %s holds a non-finite value (%g at row %lld, column %lld); the file is "
                       "corrupt: download or convert the model again",
                       name, mg_store_file_of(s, mg_store_find(s, name)), (double)bad.value, (long long)bad.row,
                       (long long)bad.col);
    s->converted_bytes += (int64_t)(out->row_bytes * (size_t)rows);
    out->data = dst;
    /* The source pages are not read again: out of the RSS (an f32 folder loaded as q8_0
     * would otherwise keep all its f32 decoder weights resident beside the copies). */
    mg_store_release(s, t.data, t.nbytes);
    return MG_OK;
}

mg_status mg_store_get_embedding(mg_store *s, const char *name, int64_t rows, int64_t cols, mg_dtype want, int text,
                                 mg_tensor *out, mg_dtype *round) {
    int64_t shape[2] = {rows, cols};
    *round = MG_DT_F32;
    MG_TRY(mg_store_get(s, name, 2, shape, out));
    if (want == MG_DT_COUNT && s->f32_as_f16 && out->dtype == MG_DT_F32) /* MG_WEIGHT_AUTO_F16 */
        want = MG_DT_F16;
    mg_dtype fmt = mg_embedding_format(want, out->dtype, rows, cols, text, s->quantize_small);
    /* (A 16-bit table asked to be f32 already has the values the file would store.) */
    if (fmt != out->dtype && (fmt == MG_DT_F16 || fmt == MG_DT_BF16))
        *round = fmt;
    return MG_OK;
}

/* The f32 values of a tensor into dst (numel floats), checked finite. */
static mg_status tensor_to_f32(mg_store *s, const char *name, const mg_tensor *t, float *dst) {
    int64_t n = mg_tensor_numel(t);
    tensor_values(t, dst);
    return check_finite(s, name, mg_store_find(s, name), dst, n);
}

mg_status mg_store_fold_weight_norm(mg_store *s, const char *prefix, int ndim, const int64_t *shape, float *dst) {
    char name[256], gname[256], vname[256];
    mg_tensor t;
    snprintf(name, sizeof name, "%s.weight", prefix);
    if (mg_store_has(s, name)) {
        MG_TRY(mg_store_get(s, name, ndim, shape, &t));
        return dst ? tensor_to_f32(s, name, &t, dst) : MG_OK;
    }
    snprintf(gname, sizeof gname, "%s.weight_g", prefix);
    snprintf(vname, sizeof vname, "%s.weight_v", prefix);
    if (!mg_store_has(s, gname) && !mg_store_has(s, vname))
        return mg_fail(MG_ERR_FORMAT,
                       "tensor %s.weight_g / %s.weight_v (or %s.parametrizations.weight.original0 / original1, or "
                       "%s.weight) is missing from %s",
                       prefix, prefix, prefix, prefix, first_file(s));
    /* weight_norm(dim=0): g has shape [shape[0], 1, 1]; the norm of v runs over all
     * dims except dim 0. */
    int64_t gshape[MG_MAX_DIMS] = {shape[0], 1, 1, 1};
    if (!dst) {
        MG_TRY(mg_store_get(s, gname, ndim, gshape, &t));
        return mg_store_get(s, vname, ndim, shape, &t);
    }
    const float *g;
    MG_TRY(mg_store_get_f32(s, gname, ndim, gshape, &g));
    MG_TRY(mg_store_get(s, vname, ndim, shape, &t));
    MG_TRY(tensor_to_f32(s, vname, &t, dst));
    int64_t n0 = shape[0], inner = 1;
    for (int i = 1; i < ndim; i++)
        inner *= shape[i];
    for (int64_t o = 0; o < n0; o++) {
        float *w = dst + o * inner;
        double ss = 0;
        for (int64_t i = 0; i < inner; i++)
            ss += (double)w[i] * w[i];
        float norm = (float)sqrt(ss);
        float scale = norm > 0 ? g[o] / norm : 0.0f;
        for (int64_t i = 0; i < inner; i++)
            w[i] = w[i] * scale;
    }
    return MG_OK;
}

mg_status mg_store_get_weight_norm(mg_store *s, const char *prefix, int ndim, const int64_t *shape,
                                   const float **out) {
    char name[256];
    snprintf(name, sizeof name, "%s.weight", prefix);
    if (mg_store_has(s, name))
        return mg_store_get_f32(s, name, ndim, shape, out);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    float *w = mg_arena_alloc(&s->arena, (size_t)n * 4);
    if (!w)
        return MG_ERR_NOMEM;
    MG_TRY(mg_store_fold_weight_norm(s, prefix, ndim, shape, w));
    s->converted_bytes += n * 4;
    *out = w;
    return MG_OK;
}

/* The mapped file holding all of [ptr, ptr + len), or NULL. */
static const mg_mapped_file *file_holding(const mg_store *s, const void *ptr, size_t len) {
    const uint8_t *p = ptr;
    for (int i = 0; i < s->n_files; i++) {
        const mg_mapped_file *f = &s->files[i];
        if (f->data && p >= f->data && p + len <= f->data + f->size)
            return f;
    }
    return NULL;
}

int mg_store_is_mapped(const mg_store *s, const void *ptr, size_t len) { return file_holding(s, ptr, len) != NULL; }

void mg_store_copy_out(const mg_store *s, const void *ptr, size_t len, void *dst) {
    const mg_mapped_file *f = file_holding(s, ptr, len);
    if (f)
        mg_file_copy_out(f, ptr, len, dst);
    else
        memcpy(dst, ptr, len);
}

void mg_store_map_huge(const mg_store *s, const void *ptr, size_t len) {
    const mg_mapped_file *f = file_holding(s, ptr, len);
    if (f)
        mg_file_map_huge(f, ptr, len);
}

void mg_store_release(const mg_store *s, const void *ptr, size_t len) {
    const mg_mapped_file *f = file_holding(s, ptr, len);
    if (f)
        mg_file_release(f, ptr, len);
}
