/* safetensors_stream.c — streaming .safetensors writer (see safetensors_stream.h).
 * Builds the JSON header by hand (in save_pretrained's byte layout: compact,
 * "__metadata__" first, tensors in name order), then passes tensor bytes straight
 * to the file. Reading is in safetensors.c; this file only writes. */
#include "io/safetensors_stream.h"
#include "io/safetensors.h"
#include "base/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

typedef struct st_entry {
    char *name;
    mg_dtype dtype;
    int ndim;
    int64_t shape[MG_MAX_DIMS];
    uint64_t nbytes;
} st_entry;

struct mg_st_writer {
    st_entry *t;
    int n, cap;
    char **meta; /* key, value, key, value, ... */
    int n_meta;
    uint64_t data_bytes;
    mg_atomic_file af;
    int begun, finished, overwrite;
    int cur;
    uint64_t cur_done;
};

/* A growing text buffer for the header. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* JSON string literal (escapes quotes, backslashes and control characters). */
static void sb_json_str(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            sb_put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)&c, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static void sb_u64(sbuf *b, uint64_t v) {
    char num[32];
    snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    sb_str(b, num);
}

mg_st_writer *mg_st_writer_new(void) {
    mg_st_writer *w = mg_calloc(1, sizeof *w, "a safetensors writer");
    if (w)
        w->af.fd = -1;
    return w;
}

void mg_st_writer_free(mg_st_writer *w) {
    if (!w)
        return;
    if (w->begun && !w->finished)
        mg_atomic_abort(&w->af);
    for (int i = 0; i < w->n; i++)
        free(w->t[i].name);
    free(w->t);
    for (int i = 0; i < w->n_meta; i++)
        free(w->meta[i]);
    free(w->meta);
    free(w);
}

mg_status mg_st_writer_set_metadata(mg_st_writer *w, const char *key, const char *value) {
    char **m = realloc(w->meta, (size_t)(w->n_meta + 2) * sizeof *m);
    if (!m)
        return mg_fail(MG_ERR_NOMEM, "out of memory");
    w->meta = m;
    w->meta[w->n_meta] = mg_strdup(key);
    w->meta[w->n_meta + 1] = mg_strdup(value);
    w->n_meta += 2;
    return w->meta[w->n_meta - 2] && w->meta[w->n_meta - 1] ? MG_OK : MG_ERR_NOMEM;
}

mg_status mg_st_writer_add(mg_st_writer *w, const char *name, mg_dtype dtype, int ndim, const int64_t *shape) {
    if (w->begun)
        return mg_fail(MG_ERR_INTERNAL, "safetensors tensor %s declared after the header was written", name);
    if (!mg_safetensors_dtype_name(dtype))
        return mg_fail(MG_ERR_INVALID_ARG, "tensor %s: dtype %s cannot be stored in safetensors", name, mg_dtype_name(dtype));
    if (ndim < 0 || ndim > MG_MAX_DIMS)
        return mg_fail(MG_ERR_INVALID_ARG, "tensor %s has %d dimensions", name, ndim);
    if (w->n && strcmp(w->t[w->n - 1].name, name) >= 0)
        return mg_fail(MG_ERR_INVALID_ARG, "safetensors tensor %s declared after %s: names must be unique and sorted", name,
                       w->t[w->n - 1].name);
    if (w->n == w->cap) {
        int cap = w->cap ? w->cap * 2 : 256;
        st_entry *nt = realloc(w->t, (size_t)cap * sizeof *nt);
        if (!nt)
            return mg_fail(MG_ERR_NOMEM, "out of memory");
        w->t = nt;
        w->cap = cap;
    }
    st_entry *e = &w->t[w->n];
    memset(e, 0, sizeof *e);
    e->name = mg_strdup(name);
    if (!e->name)
        return MG_ERR_NOMEM;
    e->dtype = dtype;
    e->ndim = ndim;
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) {
            free(e->name);
            return mg_fail(MG_ERR_INVALID_ARG, "tensor %s has a negative dimension", name);
        }
        e->shape[d] = shape[d];
        numel *= (uint64_t)shape[d];
    }
    e->nbytes = numel * mg_dtype_row_bytes(dtype, 1);
    w->data_bytes += e->nbytes;
    w->n++;
    return MG_OK;
}

uint64_t mg_st_writer_data_bytes(const mg_st_writer *w) { return w->data_bytes; }

static char *build_header(const mg_st_writer *w, size_t *len) {
    sbuf b = {0};
    sb_str(&b, "{");
    int first = 1;
    if (w->n_meta) {
        sb_str(&b, "\"__metadata__\":{");
        for (int i = 0; i < w->n_meta; i += 2) {
            if (i)
                sb_str(&b, ",");
            sb_json_str(&b, w->meta[i]);
            sb_str(&b, ":");
            sb_json_str(&b, w->meta[i + 1]);
        }
        sb_str(&b, "}");
        first = 0;
    }
    uint64_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const st_entry *e = &w->t[i];
        if (!first)
            sb_str(&b, ",");
        first = 0;
        sb_json_str(&b, e->name);
        sb_str(&b, ":{\"dtype\":\"");
        sb_str(&b, mg_safetensors_dtype_name(e->dtype));
        sb_str(&b, "\",\"shape\":[");
        for (int d = 0; d < e->ndim; d++) {
            if (d)
                sb_str(&b, ",");
            sb_u64(&b, (uint64_t)e->shape[d]);
        }
        sb_str(&b, "],\"data_offsets\":[");
        sb_u64(&b, off);
        sb_str(&b, ",");
        off += e->nbytes;
        sb_u64(&b, off);
        sb_str(&b, "]}");
    }
    sb_str(&b, "}");
    while (!b.oom && b.len % 8) /* data starts 8-byte aligned, as safetensors pads */
        sb_str(&b, " ");
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

static mg_status put(mg_st_writer *w, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, w->af.fp) != n)
        return mg_fail(MG_ERR_IO, "cannot write %s: %s", w->af.path, strerror(errno ? errno : EIO));
    return MG_OK;
}

mg_status mg_st_writer_begin(mg_st_writer *w, const char *path, int overwrite) {
    if (w->begun)
        return mg_fail(MG_ERR_INTERNAL, "safetensors header written twice");
    size_t hlen;
    char *h = build_header(w, &hlen);
    if (!h)
        return mg_fail(MG_ERR_NOMEM, "out of memory building the header of %s", path);
    mg_status st = mg_atomic_open(&w->af, path, overwrite);
    if (st != MG_OK) {
        free(h);
        return st;
    }
    w->begun = 1;
    w->overwrite = overwrite;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    st = put(w, len8, 8);
    if (st == MG_OK)
        st = put(w, h, hlen);
    free(h);
    while (st == MG_OK && w->cur < w->n && w->t[w->cur].nbytes == 0) /* empty tensors need no bytes */
        w->cur++;
    return st;
}

mg_status mg_st_writer_write(mg_st_writer *w, const void *data, size_t n) {
    if (!w->begun || w->finished)
        return mg_fail(MG_ERR_INTERNAL, "safetensors data written outside begin/finish");
    const uint8_t *p = data;
    while (n) {
        if (w->cur >= w->n)
            return mg_fail(MG_ERR_INTERNAL, "more tensor data than declared for %s", w->af.path);
        st_entry *e = &w->t[w->cur];
        uint64_t left = e->nbytes - w->cur_done;
        size_t take = n < left ? n : (size_t)left;
        MG_TRY(put(w, p, take));
        p += take;
        n -= take;
        w->cur_done += take;
        if (w->cur_done == e->nbytes) {
            w->cur_done = 0;
            do
                w->cur++;
            while (w->cur < w->n && w->t[w->cur].nbytes == 0);
        }
    }
    return MG_OK;
}

mg_status mg_st_writer_finish(mg_st_writer *w) {
    if (!w->begun || w->finished)
        return mg_fail(MG_ERR_INTERNAL, "safetensors writer finished twice or never begun");
    if (w->cur < w->n)
        return mg_fail(MG_ERR_INTERNAL, "tensor %s is incomplete (%llu of %llu bytes written)", w->t[w->cur].name,
                       (unsigned long long)w->cur_done, (unsigned long long)w->t[w->cur].nbytes);
    w->finished = 1;
    return mg_atomic_commit(&w->af, w->overwrite);
}
