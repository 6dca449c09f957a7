/* gguf.c — GGUF reader (see gguf.h) and mg_gguf_open: a MusicGen model in one
 * mmapped .gguf file (written by `musicgen quantize`, src/io/gguf_write.c).
 *
 * Follows the GGUF v3 layout of ggml (gguf.h there). Parsing is a bounds-checked
 * cursor over the file: every length, count, dimension, type id and offset is
 * validated before use, nothing is read past the end, and each error names the
 * file and the key or tensor at fault. Not handled: GGUF versions 1 and 2,
 * big-endian files, nested arrays, tensor types other than F32, F16, BF16, Q8_0
 * and Q4_0 (all rejected with a clear message).
 */
#include "io/gguf.h"

#include <stdlib.h>
#include <string.h>

/* ---- bounds-checked cursor --------------------------------------------------------- */

typedef struct cursor {
    const uint8_t *base;
    size_t size, pos;
    const char *where;
    mg_status st;
} cursor;

static int need(cursor *c, uint64_t n, const char *what) {
    if (c->st != MG_OK)
        return 0;
    if (n > (uint64_t)(c->size - c->pos)) {
        c->st = mg_fail(MG_ERR_FORMAT, "%s is truncated or corrupt: %s at byte %zu needs %llu bytes but only %zu remain",
                        c->where, what, c->pos, (unsigned long long)n, c->size - c->pos);
        return 0;
    }
    return 1;
}

static uint64_t load_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t rd_uint(cursor *c, int n, const char *what) {
    if (!need(c, (uint64_t)n, what))
        return 0;
    uint64_t v = load_le(c->base + c->pos, n);
    c->pos += (size_t)n;
    return v;
}

/* A GGUF string: u64 length + bytes. Returns a pointer into the file. */
static const uint8_t *rd_str(cursor *c, uint64_t *len, const char *what) {
    *len = rd_uint(c, 8, what);
    if (!need(c, *len, what))
        return NULL;
    const uint8_t *p = c->base + c->pos;
    c->pos += (size_t)*len;
    return p;
}

/* NUL-terminated copy of a key or tensor name; rejects empty, overlong and
 * NUL-containing names. */
static char *copy_name(cursor *c, const uint8_t *p, uint64_t len, uint64_t max, const char *what, int64_t index) {
    if (c->st != MG_OK)
        return NULL;
    if (len == 0 || len > max || memchr(p, 0, (size_t)len)) {
        c->st = mg_fail(MG_ERR_FORMAT, "%s: %s %lld has an invalid name (%llu bytes%s); the file is corrupt", c->where,
                        what, (long long)index, (unsigned long long)len,
                        len && len <= max ? ", contains a NUL byte" : len ? ", too long" : ", empty");
        return NULL;
    }
    char *s = malloc((size_t)len + 1);
    if (!s) {
        c->st = mg_fail(MG_ERR_NOMEM, "out of memory reading %s", c->where);
        return NULL;
    }
    memcpy(s, p, (size_t)len);
    s[len] = 0;
    return s;
}

/* ---- key-value section ----------------------------------------------------------- */

static size_t value_size(mg_gguf_type t) {
    switch (t) {
    case MG_GGUF_U8: case MG_GGUF_I8: case MG_GGUF_BOOL: return 1;
    case MG_GGUF_U16: case MG_GGUF_I16: return 2;
    case MG_GGUF_U32: case MG_GGUF_I32: case MG_GGUF_F32: return 4;
    case MG_GGUF_U64: case MG_GGUF_I64: case MG_GGUF_F64: return 8;
    default: return 0; /* strings and arrays have variable size */
    }
}

static void decode_scalar(mg_gguf_kv *kv, const uint8_t *p) {
    size_t n = value_size(kv->type);
    uint64_t raw = load_le(p, (int)n);
    switch (kv->type) {
    case MG_GGUF_I8: kv->num.i = (int8_t)raw; break;
    case MG_GGUF_I16: kv->num.i = (int16_t)raw; break;
    case MG_GGUF_I32: kv->num.i = (int32_t)raw; break;
    case MG_GGUF_I64: memcpy(&kv->num.i, &raw, 8); break;
    case MG_GGUF_F32: {
        uint32_t b = (uint32_t)raw;
        float f;
        memcpy(&f, &b, 4);
        kv->num.f = f;
        break;
    }
    case MG_GGUF_F64: memcpy(&kv->num.f, &raw, 8); break;
    default: kv->num.u = raw; break;
    }
}

static void read_kv(cursor *c, mg_gguf_kv *kv, int64_t index) {
    uint64_t klen;
    const uint8_t *k = rd_str(c, &klen, "a metadata key");
    kv->key = copy_name(c, k, klen, 65535, "metadata entry", index);
    uint32_t type = (uint32_t)rd_uint(c, 4, "a metadata value type");
    if (c->st != MG_OK)
        return;
    if (type >= MG_GGUF_TYPE_COUNT) {
        c->st = mg_fail(MG_ERR_FORMAT, "%s: metadata key %s has an unknown value type %u; the file is corrupt", c->where,
                        kv->key, type);
        return;
    }
    kv->type = (mg_gguf_type)type;
    if (kv->type == MG_GGUF_STRING) {
        kv->data = rd_str(c, &kv->n, kv->key);
        return;
    }
    if (kv->type != MG_GGUF_ARRAY) {
        if (need(c, value_size(kv->type), kv->key)) {
            decode_scalar(kv, c->base + c->pos);
            c->pos += value_size(kv->type);
        }
        return;
    }
    uint32_t at = (uint32_t)rd_uint(c, 4, "an array element type");
    kv->n = rd_uint(c, 8, "an array length");
    if (c->st != MG_OK)
        return;
    if (at >= MG_GGUF_TYPE_COUNT || at == MG_GGUF_ARRAY) {
        c->st = mg_fail(MG_ERR_FORMAT, "%s: metadata array %s has %s element type %u; the file is corrupt or not supported",
                        c->where, kv->key, at == MG_GGUF_ARRAY ? "the nested-array" : "an unknown", at);
        return;
    }
    kv->arr_type = (mg_gguf_type)at;
    kv->data = c->base + c->pos;
    if (kv->arr_type == MG_GGUF_STRING) {
        /* Each string needs at least its 8-byte length, so this loop ends within the file. */
        for (uint64_t i = 0; i < kv->n && c->st == MG_OK; i++) {
            uint64_t l;
            rd_str(c, &l, kv->key);
        }
        return;
    }
    size_t es = value_size(kv->arr_type);
    if (kv->n > (uint64_t)(c->size - c->pos) / es) {
        c->st = mg_fail(MG_ERR_FORMAT, "%s is truncated or corrupt: metadata array %s claims %llu elements, more than the file holds",
                        c->where, kv->key, (unsigned long long)kv->n);
        return;
    }
    c->pos += (size_t)(kv->n * es);
}

static int cmp_kv_ptr(const void *a, const void *b) {
    const mg_gguf_kv *x = *(const mg_gguf_kv *const *)a, *y = *(const mg_gguf_kv *const *)b;
    return strcmp(x->key, y->key);
}

static mg_status check_duplicate_keys(const mg_gguf *g, const char *where) {
    if (g->n_kv < 2)
        return MG_OK;
    const mg_gguf_kv **p = malloc((size_t)g->n_kv * sizeof *p);
    if (!p)
        return mg_fail(MG_ERR_NOMEM, "out of memory reading %s", where);
    for (int64_t i = 0; i < g->n_kv; i++)
        p[i] = &g->kv[i];
    qsort(p, (size_t)g->n_kv, sizeof *p, cmp_kv_ptr);
    mg_status st = MG_OK;
    for (int64_t i = 1; i < g->n_kv && st == MG_OK; i++)
        if (!strcmp(p[i]->key, p[i - 1]->key))
            st = mg_fail(MG_ERR_FORMAT, "%s: metadata key %s appears twice; the file is corrupt", where, p[i]->key);
    free(p);
    return st;
}

static mg_status read_alignment(mg_gguf *g, const char *where) {
    g->alignment = MG_GGUF_DEFAULT_ALIGNMENT;
    const mg_gguf_kv *a = mg_gguf_find(g, "general.alignment");
    if (!a)
        return MG_OK;
    if (a->type != MG_GGUF_U32)
        return mg_fail(MG_ERR_FORMAT, "%s: general.alignment must be a u32 (it has GGUF value type %d); the file is corrupt",
                       where, (int)a->type);
    if (a->num.u == 0 || (a->num.u & (a->num.u - 1)) || a->num.u > (1u << 30))
        return mg_fail(MG_ERR_FORMAT, "%s: general.alignment must be a power of two up to 2^30 (got %llu); the file is "
                       "corrupt", where, (unsigned long long)a->num.u);
    g->alignment = (uint32_t)a->num.u;
    return MG_OK;
}

/* ---- tensor infos ----------------------------------------------------------------- */

static const char *ggml_type_name(uint32_t t) {
    static const char *names[] = {"f32",  "f16",  "q4_0",    "q4_1",   NULL,      NULL,     "q5_0",  "q5_1",
                                  "q8_0", "q8_1", "q2_K",    "q3_K",   "q4_K",    "q5_K",   "q6_K",  "q8_K",
                                  "iq2_xxs", "iq2_xs", "iq3_xxs", "iq1_s", "iq4_nl", "iq3_s", "iq2_s", "iq4_xs",
                                  "i8",   "i16",  "i32",     "i64",    "f64",     "iq1_m",  "bf16"};
    return t < sizeof names / sizeof names[0] ? names[t] : NULL;
}

int mg_gguf_dtype_from_ggml(uint32_t ggml_type, mg_dtype *out) {
    switch (ggml_type) {
    case MG_GGML_TYPE_F32: *out = MG_DT_F32; return 1;
    case MG_GGML_TYPE_F16: *out = MG_DT_F16; return 1;
    case MG_GGML_TYPE_BF16: *out = MG_DT_BF16; return 1;
    case MG_GGML_TYPE_Q8_0: *out = MG_DT_Q8_0; return 1;
    case MG_GGML_TYPE_Q4_0: *out = MG_DT_Q4_0; return 1;
    case MG_GGML_TYPE_Q8_0X16: *out = MG_DT_Q8_0X16; return 1;
    case MG_GGML_TYPE_Q4_0X16: *out = MG_DT_Q4_0X16; return 1;
    default: return 0;
    }
}

int mg_gguf_ggml_from_dtype(mg_dtype t, uint32_t *out) {
    switch (t) {
    case MG_DT_F32: *out = MG_GGML_TYPE_F32; return 1;
    case MG_DT_F16: *out = MG_GGML_TYPE_F16; return 1;
    case MG_DT_BF16: *out = MG_GGML_TYPE_BF16; return 1;
    case MG_DT_Q8_0: *out = MG_GGML_TYPE_Q8_0; return 1;
    case MG_DT_Q4_0: *out = MG_GGML_TYPE_Q4_0; return 1;
    case MG_DT_Q8_0X16: *out = MG_GGML_TYPE_Q8_0X16; return 1;
    case MG_DT_Q4_0X16: *out = MG_GGML_TYPE_Q4_0X16; return 1;
    default: return 0;
    }
}

/* Byte size from dims and type, with overflow checks (limit 2^62 bytes). */
static int tensor_nbytes(const mg_gguf_tensor_info *t, mg_dtype dt, uint64_t *out) {
    const uint64_t limit = (uint64_t)1 << 62;
    uint64_t numel = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        if ((uint64_t)t->ne[d] > limit / numel)
            return 0;
        numel *= (uint64_t)t->ne[d];
    }
    if (mg_dtype_is_block(dt)) {
        *out = numel / MG_QK * mg_dtype_row_bytes(dt, MG_QK);
    } else {
        uint64_t es = mg_dtype_row_bytes(dt, 1);
        if (numel > limit / es)
            return 0;
        *out = numel * es;
    }
    return 1;
}

static void read_tensor_info(cursor *c, mg_gguf_tensor_info *t, int64_t index) {
    uint64_t nlen;
    const uint8_t *n = rd_str(c, &nlen, "a tensor name");
    t->name = copy_name(c, n, nlen, 1023, "tensor", index);
    t->n_dims = (uint32_t)rd_uint(c, 4, "a tensor's dimension count");
    if (c->st != MG_OK)
        return;
    if (t->n_dims < 1 || t->n_dims > 4) {
        c->st = mg_fail(MG_ERR_FORMAT, "%s: tensor %s has %u dimensions (1..4 allowed); the file is corrupt", c->where,
                        t->name, t->n_dims);
        return;
    }
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t v = rd_uint(c, 8, "a tensor dimension");
        if (c->st != MG_OK)
            return;
        if (v == 0 || v > ((uint64_t)1 << 62)) {
            c->st = mg_fail(MG_ERR_FORMAT, "%s: tensor %s has an invalid size %lld in dimension %u; the file is corrupt",
                            c->where, t->name, (long long)(int64_t)v, d);
            return;
        }
        t->ne[d] = (int64_t)v;
    }
    t->ggml_type = (uint32_t)rd_uint(c, 4, "a tensor type");
    t->offset = rd_uint(c, 8, "a tensor offset");
    if (c->st != MG_OK)
        return;
    mg_dtype dt;
    if (!mg_gguf_dtype_from_ggml(t->ggml_type, &dt)) {
        const char *tn = ggml_type_name(t->ggml_type);
        if (tn)
            c->st = mg_fail(MG_ERR_UNSUPPORTED, "%s: tensor %s is stored as ggml type %s, which musicgen.c does not read "
                            "(f32, f16, bf16, q8_0, q4_0); convert the model with musicgen quantize", c->where, t->name, tn);
        else
            c->st = mg_fail(MG_ERR_FORMAT, "%s: tensor %s has an invalid ggml type id %u; the file is corrupt", c->where,
                            t->name, t->ggml_type);
        return;
    }
    if (mg_dtype_is_block(dt) && t->ne[0] % MG_QK) {
        c->st = mg_fail(MG_ERR_FORMAT, "%s: tensor %s is %s but its rows of %lld values are not a multiple of %d; the file is corrupt",
                        c->where, t->name, mg_dtype_name(dt), (long long)t->ne[0], MG_QK);
        return;
    }
    if (mg_dtype_is_x16(dt) && (t->n_dims != 2 || t->ne[1] % MG_X16_ROWS)) {
        c->st = mg_fail(MG_ERR_FORMAT, "%s: tensor %s is %s but is not a matrix of whole %d-row groups; the file is corrupt",
                        c->where, t->name, mg_dtype_name(dt), MG_X16_ROWS);
        return;
    }
    if (!tensor_nbytes(t, dt, &t->nbytes))
        c->st = mg_fail(MG_ERR_FORMAT, "%s: tensor %s is impossibly large; the file is corrupt", c->where, t->name);
}

typedef struct span {
    uint64_t begin, end;
    const char *name;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Offsets: aligned, inside the data section, not overlapping, and without holes: GGUF
 * writers place tensors back to back with at most alignment - 1 bytes of padding, so
 * a larger hole means a tensor's type or shape was changed to one of fewer bytes (its
 * data would be misread without any other sign). Bytes after the last tensor are
 * ignored, as ggml ignores them. */
static mg_status check_tensor_placement(const mg_gguf *g, const char *where) {
    uint64_t data_size = (uint64_t)g->file_size - g->data_offset;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const mg_gguf_tensor_info *t = &g->tensors[i];
        if (t->offset % g->alignment)
            return mg_fail(MG_ERR_FORMAT, "%s: tensor %s starts at offset %llu, not a multiple of the alignment %u; the file is corrupt",
                           where, t->name, (unsigned long long)t->offset, g->alignment);
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            return mg_fail(MG_ERR_FORMAT, "%s is truncated: tensor %s needs bytes %llu..%llu of the data section, which has %llu; "
                           "download or convert the model again", where, t->name, (unsigned long long)t->offset,
                           (unsigned long long)(t->offset + t->nbytes), (unsigned long long)data_size);
    }
    if (g->n_tensors < 1)
        return MG_OK;
    span *s = malloc((size_t)g->n_tensors * sizeof *s);
    if (!s)
        return mg_fail(MG_ERR_NOMEM, "out of memory reading %s", where);
    for (int64_t i = 0; i < g->n_tensors; i++) {
        s[i].begin = g->tensors[i].offset;
        s[i].end = g->tensors[i].offset + g->tensors[i].nbytes;
        s[i].name = g->tensors[i].name;
    }
    qsort(s, (size_t)g->n_tensors, sizeof *s, cmp_span);
    mg_status st = MG_OK;
    for (int64_t i = 0; i < g->n_tensors && st == MG_OK; i++) {
        uint64_t from = i ? s[i - 1].end : 0, to = s[i].begin;
        if (to < from)
            st = mg_fail(MG_ERR_FORMAT, "%s: tensors %s and %s overlap in the data section; the file is corrupt", where,
                         s[i - 1].name, s[i].name);
        else if (to - from >= g->alignment)
            st = mg_fail(MG_ERR_FORMAT, "%s: %llu bytes %s%s belong to no tensor (a tensor's type or shape does not "
                         "match its data?); the file is corrupt", where, (unsigned long long)(to - from),
                         i ? "after tensor " : "before the first tensor", i ? s[i - 1].name : "");
    }
    free(s);
    return st;
}

/* ---- whole file ------------------------------------------------------------------- */

void mg_gguf_free(mg_gguf *g) {
    for (int64_t i = 0; i < g->n_kv; i++)
        free(g->kv[i].key);
    free(g->kv);
    for (int64_t i = 0; i < g->n_tensors; i++)
        free(g->tensors[i].name);
    free(g->tensors);
    memset(g, 0, sizeof *g);
}

static mg_status read_header(mg_gguf *g, cursor *c, uint64_t *n_tensors, uint64_t *n_kv) {
    if (c->size < 4 || memcmp(c->base, "GGUF", 4))
        return mg_fail(MG_ERR_FORMAT, "%s is not a GGUF file (it does not start with \"GGUF\"); give a .gguf file made by "
                       "musicgen quantize or a Hugging Face checkpoint folder", c->where);
    c->pos = 4;
    g->version = (uint32_t)rd_uint(c, 4, "the version");
    *n_tensors = rd_uint(c, 8, "the tensor count");
    *n_kv = rd_uint(c, 8, "the metadata count");
    if (c->st != MG_OK)
        return c->st;
    if (g->version != MG_GGUF_VERSION)
        return mg_fail(g->version == 1 || g->version == 2 ? MG_ERR_UNSUPPORTED : MG_ERR_FORMAT,
                       "%s has GGUF version %u; only version %d is supported (convert the model again with musicgen quantize)",
                       c->where, g->version, MG_GGUF_VERSION);
    /* Smallest possible entries: key-value 8 + 1 + 4 + 1 bytes, tensor info 8 + 1 + 4 + 8 + 4 + 8. */
    uint64_t left = (uint64_t)(c->size - c->pos);
    if (*n_kv > left / 14 || *n_tensors > left / 33 || (*n_kv * 14 + *n_tensors * 33) > left)
        return mg_fail(MG_ERR_FORMAT, "%s claims %llu metadata entries and %llu tensors, more than its %zu bytes can hold; "
                       "the file is truncated or corrupt", c->where, (unsigned long long)*n_kv,
                       (unsigned long long)*n_tensors, c->size);
    return MG_OK;
}

mg_status mg_gguf_read(mg_gguf *g, const char *where, const uint8_t *file, size_t size) {
    memset(g, 0, sizeof *g);
    g->file = file;
    g->file_size = size;
    cursor c = {file, size, 0, where, MG_OK};
    uint64_t n_tensors = 0, n_kv = 0;
    mg_status st = read_header(g, &c, &n_tensors, &n_kv);
    if (st != MG_OK)
        return st;
    g->kv = calloc((size_t)(n_kv ? n_kv : 1), sizeof *g->kv);
    g->tensors = calloc((size_t)(n_tensors ? n_tensors : 1), sizeof *g->tensors);
    if (!g->kv || !g->tensors) {
        mg_gguf_free(g);
        return mg_fail(MG_ERR_NOMEM, "out of memory reading %s", where);
    }
    for (uint64_t i = 0; i < n_kv && c.st == MG_OK; i++) {
        g->n_kv = (int64_t)i + 1;
        read_kv(&c, &g->kv[i], (int64_t)i);
    }
    st = c.st;
    if (st == MG_OK)
        st = check_duplicate_keys(g, where);
    if (st == MG_OK)
        st = read_alignment(g, where);
    for (uint64_t i = 0; i < n_tensors && st == MG_OK; i++) {
        g->n_tensors = (int64_t)i + 1;
        read_tensor_info(&c, &g->tensors[i], (int64_t)i);
        st = c.st;
    }
    if (st == MG_OK) {
        g->data_offset = ((uint64_t)c.pos + g->alignment - 1) / g->alignment * g->alignment;
        if (g->data_offset > size)
            st = mg_fail(MG_ERR_FORMAT, "%s is truncated: its data section would start at byte %llu of %zu", where,
                         (unsigned long long)g->data_offset, size);
    }
    if (st == MG_OK)
        st = check_tensor_placement(g, where);
    if (st != MG_OK)
        mg_gguf_free(g);
    return st;
}

static const struct {
    mg_dtype t;
    uint32_t id;
} file_types[] = {{MG_DT_F32, 0}, {MG_DT_F16, 1}, {MG_DT_Q4_0, 2}, {MG_DT_Q8_0, 7}, {MG_DT_BF16, 32}};

uint32_t mg_gguf_file_type_id(mg_dtype t) {
    for (size_t i = 0; i < sizeof file_types / sizeof file_types[0]; i++)
        if (file_types[i].t == mg_dtype_x16_base(t))
            return file_types[i].id;
    return 0;
}

mg_dtype mg_gguf_file_type_dtype(uint32_t id) {
    for (size_t i = 0; i < sizeof file_types / sizeof file_types[0]; i++)
        if (file_types[i].id == id)
            return file_types[i].t;
    return MG_DT_COUNT;
}

const mg_gguf_kv *mg_gguf_find(const mg_gguf *g, const char *key) {
    for (int64_t i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key))
            return &g->kv[i];
    return NULL;
}

const char *mg_gguf_get_str(const mg_gguf *g, const char *key, size_t *len) {
    const mg_gguf_kv *kv = mg_gguf_find(g, key);
    if (!kv || kv->type != MG_GGUF_STRING)
        return NULL;
    *len = (size_t)kv->n;
    return (const char *)kv->data;
}

const uint8_t *mg_gguf_tensor_data(const mg_gguf *g, const mg_gguf_tensor_info *t) {
    return g->file + g->data_offset + t->offset;
}

/* ---- tensor names ---------------------------------------------------------------- */

/* Whole name components replaced only in names longer than MG_GGUF_MAX_NAME. The
 * short forms never occur in Hugging Face MusicGen names, so expansion is exact. */
static const char *const name_abbrev[][2] = {
    {"relative_attention_bias", "rel_bias"},
    {"SelfAttention", "SelfAttn"},
    {"DenseReluDense", "DRD"},
    {"encoder_attn_layer_norm", "xattn_norm"},
};
enum { N_ABBREV = sizeof name_abbrev / sizeof name_abbrev[0] };

/* Copy `in` to `out`, replacing components equal to name_abbrev[i][from] by [to]. */
static int map_components(const char *in, char *out, size_t n, int from, int *found) {
    size_t o = 0;
    *found = 0;
    const char *p = in;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        const char *rep = NULL;
        for (int i = 0; i < N_ABBREV && !rep; i++)
            if (strlen(name_abbrev[i][from]) == len && !memcmp(p, name_abbrev[i][from], len))
                rep = name_abbrev[i][1 - from];
        const char *src = rep ? rep : p;
        size_t sl = rep ? strlen(rep) : len;
        *found |= rep != NULL;
        if (o + sl + 1 > n)
            return 0;
        memcpy(out + o, src, sl);
        o += sl;
        if (!dot)
            break;
        out[o++] = '.';
        p = dot + 1;
    }
    out[o] = 0;
    return 1;
}

int mg_gguf_name_from_hf(const char *hf, char *out, size_t n) {
    char tmp[1024];
    int found;
    /* A name that already contains a short form could not be told apart on reading. */
    if (!map_components(hf, tmp, sizeof tmp, 1, &found) || found)
        return 0;
    if (strlen(hf) <= MG_GGUF_MAX_NAME) {
        if (strlen(hf) + 1 > n)
            return 0;
        memcpy(out, hf, strlen(hf) + 1);
        return 1;
    }
    return map_components(hf, out, n, 0, &found) && strlen(out) <= MG_GGUF_MAX_NAME;
}

int mg_gguf_name_to_hf(const char *stored, char *out, size_t n) {
    int found;
    return map_components(stored, out, n, 1, &found);
}

/* ---- MusicGen checkpoint from a GGUF ---------------------------------------------- */

/* The first bytes of a metadata string for a message: printable ASCII as it is, every
 * other byte as \xHH (so "musicgen\0x" does not print as "musicgen"). */
static void quote_bytes(const char *s, size_t len, char *out, size_t cap) {
    size_t o = 0, i = 0;
    for (; i < len && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7F && c != '\\' && c != '"')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02X", c);
    }
    if (i < len && o >= 3) /* cut short */
        memcpy(out + o - 3, "...", 3);
    out[o] = 0;
}

static mg_status load_metadata(mg_checkpoint *ck, const mg_gguf *g, const char *path) {
    size_t len;
    const char *arch = mg_gguf_get_str(g, "general.architecture", &len);
    if (!arch)
        return mg_fail(MG_ERR_FORMAT, "%s has no general.architecture string; it is not a model written by musicgen quantize",
                       path);
    if (len != 8 || memcmp(arch, "musicgen", 8)) {
        char shown[80];
        quote_bytes(arch, len, shown, sizeof shown);
        return mg_fail(MG_ERR_UNSUPPORTED, "%s is a GGUF model for architecture \"%s\", not MusicGen", path, shown);
    }
    char where[1200];
    const char *cfg = mg_gguf_get_str(g, "musicgen.config_json", &len);
    if (!cfg)
        return mg_fail(MG_ERR_FORMAT, "%s has no musicgen.config_json string; convert the model again with musicgen quantize",
                       path);
    snprintf(where, sizeof where, "%s (musicgen.config_json)", path);
    MG_TRY(mg_config_parse(cfg, len, where, &ck->cfg));
    const mg_gguf_kv *gen = mg_gguf_find(g, "musicgen.generation_config_json");
    if (gen) {
        if (gen->type != MG_GGUF_STRING)
            return mg_fail(MG_ERR_FORMAT, "%s: musicgen.generation_config_json must be a string", path);
        snprintf(where, sizeof where, "%s (musicgen.generation_config_json)", path);
        MG_TRY(mg_generation_config_parse((const char *)gen->data, (size_t)gen->n, where, &ck->cfg));
    }
    const mg_gguf_kv *tok = mg_gguf_find(g, "tokenizer.spm.model");
    if (!tok || tok->type != MG_GGUF_ARRAY || (tok->arr_type != MG_GGUF_U8 && tok->arr_type != MG_GGUF_I8) || !tok->n)
        return mg_fail(MG_ERR_FORMAT, "%s has no tokenizer (tokenizer.spm.model, a non-empty u8 array with the bytes of "
                       "spiece.model); convert the model again with musicgen quantize", path);
    const mg_gguf_kv *extra = mg_gguf_find(g, "tokenizer.extra_ids");
    if (extra && (extra->type != MG_GGUF_U32 || extra->num.u > 100000))
        return mg_fail(MG_ERR_FORMAT, "%s: tokenizer.extra_ids must be a u32 no larger than 100000", path);
    if (extra)
        ck->extra_ids = (int)extra->num.u;
    /* Informative only (other values: unknown). */
    const mg_gguf_kv *ft = mg_gguf_find(g, "general.file_type");
    if (ft && ft->type == MG_GGUF_U32)
        ck->file_type = mg_gguf_file_type_dtype((uint32_t)ft->num.u);
    ck->spiece = tok->data;
    ck->spiece_size = (size_t)tok->n;
    free(ck->spiece_path);
    size_t pl = strlen(path) + 32;
    ck->spiece_path = malloc(pl);
    if (!ck->spiece_path)
        return mg_fail(MG_ERR_NOMEM, "out of memory");
    snprintf(ck->spiece_path, pl, "%s (tokenizer.spm.model)", path);
    return MG_OK;
}

static mg_status add_tensors(mg_checkpoint *ck, const mg_gguf *g, const char *path, int file_index) {
    if (g->n_tensors == 0)
        return mg_fail(MG_ERR_FORMAT, "%s holds no tensors; convert the model again with musicgen quantize", path);
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const mg_gguf_tensor_info *ti = &g->tensors[i];
        char name[1200];
        if (!mg_gguf_name_to_hf(ti->name, name, sizeof name))
            return mg_fail(MG_ERR_FORMAT, "%s: tensor name %s is too long", path, ti->name);
        mg_tensor t;
        memset(&t, 0, sizeof t);
        mg_gguf_dtype_from_ggml(ti->ggml_type, &t.dtype); /* validated by the reader */
        t.ndim = (int)ti->n_dims;
        for (int d = 0; d < t.ndim; d++)
            t.shape[d] = ti->ne[t.ndim - 1 - d];
        t.data = mg_gguf_tensor_data(g, ti);
        t.nbytes = (size_t)ti->nbytes;
        size_t align = t.dtype == MG_DT_F32 || t.dtype == MG_DT_I32 ? 4 : t.dtype == MG_DT_I64 ? 8 : 2;
        if ((uintptr_t)t.data % align) {
            /* Only a general.alignment below 8 allows this (musicgen quantize writes 32):
             * keep an aligned copy so no kernel reads a misaligned value. */
            void *copy = mg_arena_alloc(&ck->store.arena, t.nbytes);
            if (!copy)
                return mg_fail(MG_ERR_NOMEM, "out of memory reading %s", path);
            memcpy(copy, t.data, t.nbytes);
            ck->store.converted_bytes += (int64_t)t.nbytes;
            t.data = copy;
        }
        MG_TRY(mg_store_add(&ck->store, name, &t, file_index));
    }
    return MG_OK;
}

mg_status mg_gguf_parse_checkpoint(mg_checkpoint *ck, const char *path, const uint8_t *file, size_t size,
                                   int file_index) {
    mg_gguf g;
    MG_TRY(mg_gguf_read(&g, path, file, size));
    mg_status st = load_metadata(ck, &g, path);
    if (st == MG_OK)
        st = add_tensors(ck, &g, path, file_index);
    mg_gguf_free(&g);
    if (st == MG_OK) {
        ck->is_gguf = 1;
        ck->n_weight_files = 1;
    }
    return st;
}

mg_status mg_gguf_open(const char *path, mg_checkpoint *ck) {
    mg_mapped_file f;
    mg_status st = mg_file_map(path, &f);
    if (st == MG_ERR_NOT_FOUND)
        return mg_fail(MG_ERR_NOT_FOUND, "model %s not found: give a checkpoint folder or a .gguf file made by musicgen quantize",
                       path);
    if (st != MG_OK)
        return st;
    const uint8_t *data = f.data;
    size_t size = f.size;
    int idx = mg_store_add_file(&ck->store, &f);
    if (idx < 0) {
        mg_file_unmap(&f);
        return MG_ERR_NOMEM;
    }
    return mg_gguf_parse_checkpoint(ck, path, data, size, idx);
}
