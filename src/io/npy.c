/* npy.c — NumPy .npy files for codes (see npy.h).
 *
 * Follows the format NumPy documents in numpy/lib/format.py: the magic "\x93NUMPY",
 * a version byte pair (1.0: 2-byte header length; 2.0 and 3.0: 4-byte), then an ASCII
 * Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...), } padded
 * with spaces and a final '\n' so the data starts at a multiple of 64 bytes.
 *
 * Writing produces byte for byte what numpy.save writes for an int64 array (version
 * 1.0, '<i8', C order, the same extra spaces numpy reserves for growing the first
 * axis). Reading accepts every integer dtype in either byte order and either memory
 * order and returns int64 in C order. The parser is written for hostile input: every
 * length is checked against the bytes we have, shape products are overflow-checked
 * and capped, and nothing is allocated before the data is known to be present.
 * Not handled: float/bool/object/structured dtypes (rejected with a message), pickles.
 */
#include "io/npy.h"

#include "base/file.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64
#define NPY_MAX_HEADER 100000          /* bytes of the dict literal we are willing to parse */
#define NPY_MAX_ELEMENTS (1LL << 28)   /* 268M codes: far beyond any real codes file */
#define NPY_GROWTH_AXIS_DIGITS 21      /* numpy's spare room after the dict */

void mg_npy_free(mg_npy *a) {
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- writing ------------------------------------------------------------------ */

/* The dict literal numpy.save writes for a C-order '<i8' array, including the
 * padding and the final newline. Returns the total header size (prefix included). */
static size_t build_header(char *out, size_t cap, int ndim, const int64_t *shape) {
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '<i8', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, i ? ", %lld" : "%lld", (long long)shape[i]);
    n += snprintf(dict + n, sizeof dict - (size_t)n, ndim == 1 ? ",), }" : "), }");
    if (ndim > 0) {
        /* numpy adds spaces so the first axis can grow in place up to 21 digits. */
        char digits[32];
        int len0 = snprintf(digits, sizeof digits, "%lld", (long long)shape[0]);
        for (int i = len0; i < NPY_GROWTH_AXIS_DIGITS && (size_t)n + 1 < sizeof dict; i++)
            dict[n++] = ' ';
        dict[n] = 0;
    }
    size_t hlen = (size_t)n + 1; /* + '\n' */
    size_t pad = NPY_ALIGN - ((NPY_MAGIC_LEN + 2 + 2 + hlen) % NPY_ALIGN);
    size_t total = NPY_MAGIC_LEN + 2 + 2 + hlen + pad;
    if (total > cap)
        return 0;
    size_t field = hlen + pad;
    memcpy(out, NPY_MAGIC, NPY_MAGIC_LEN);
    out[6] = 1; /* version 1.0 */
    out[7] = 0;
    out[8] = (char)(field & 0xFF);
    out[9] = (char)(field >> 8);
    memcpy(out + 10, dict, (size_t)n);
    memset(out + 10 + n, ' ', pad);
    out[total - 1] = '\n';
    return total;
}

static void put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

mg_status mg_npy_write_i64(const char *path, const int64_t *data, int ndim, const int64_t *shape, int overwrite) {
    if (!path)
        return mg_fail(MG_ERR_INVALID_ARG, "npy write: no output path");
    if (ndim < 0 || ndim > MG_NPY_MAX_DIMS)
        return mg_fail(MG_ERR_INVALID_ARG, "cannot write %s: %d dimensions (0 to %d supported)", path, ndim,
                       MG_NPY_MAX_DIMS);
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return mg_fail(MG_ERR_INVALID_ARG, "cannot write %s: negative size %lld in dimension %d", path,
                           (long long)shape[i], i);
        if (shape[i] > 0 && count > NPY_MAX_ELEMENTS / shape[i])
            return mg_fail(MG_ERR_INVALID_ARG, "cannot write %s: too many elements (limit %lld)", path,
                           (long long)NPY_MAX_ELEMENTS);
        count *= shape[i];
    }
    if (count > 0 && !data)
        return mg_fail(MG_ERR_INVALID_ARG, "cannot write %s: no data", path);

    char header[1024];
    size_t hsize = build_header(header, sizeof header, ndim, shape);
    if (!hsize)
        return mg_fail(MG_ERR_INTERNAL, "cannot write %s: header too long", path);

    mg_atomic_file af;
    MG_TRY(mg_atomic_open(&af, path, overwrite));
    int ok = fwrite(header, 1, hsize, af.fp) == hsize;
    uint8_t buf[8 * 1024];
    int64_t done = 0;
    while (ok && done < count) {
        int64_t n = count - done;
        if (n > (int64_t)(sizeof buf / 8))
            n = (int64_t)(sizeof buf / 8);
        for (int64_t i = 0; i < n; i++)
            put_le64(buf + 8 * i, (uint64_t)data[done + i]);
        ok = fwrite(buf, 8, (size_t)n, af.fp) == (size_t)n;
        done += n;
    }
    if (!ok) {
        mg_status st = mg_fail(MG_ERR_IO, "cannot write %s: %s", path, strerror(errno ? errno : EIO));
        mg_atomic_abort(&af);
        return st;
    }
    return mg_atomic_commit(&af, overwrite);
}

/* ---- parsing the header dict ----------------------------------------------------- */

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_space(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int eat(cursor *c, char ch) {
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string without escapes, copied into out (NUL-terminated). */
static int parse_string(cursor *c, char *out, size_t cap) {
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return 0;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || *c->p < 32 || *c->p > 126 || n + 1 >= cap) /* plain ASCII only */
            return 0;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return 0;
    c->p++;
    out[n] = 0;
    return 1;
}

static int parse_word(cursor *c, const char *word) {
    skip_space(c);
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

/* A non-negative decimal integer (Python 2 files may append 'L'). */
static int parse_dim(cursor *c, int64_t *out) {
    skip_space(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return 0;
    int64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        int d = *c->p++ - '0';
        if (v > (INT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (c->p < c->end && *c->p == 'L')
        c->p++;
    *out = v;
    return 1;
}

/* '(' [dim {',' dim}] [','] ')' */
static mg_status parse_shape(cursor *c, int64_t *shape, int *ndim, const char *where) {
    if (!eat(c, '('))
        return mg_fail(MG_ERR_FORMAT, "%s: bad .npy header: 'shape' must be a tuple", where);
    *ndim = 0;
    if (eat(c, ')'))
        return MG_OK;
    for (;;) {
        int64_t d;
        skip_space(c);
        if (c->p < c->end && *c->p == '-')
            return mg_fail(MG_ERR_FORMAT, "%s: bad .npy header: negative size in 'shape'", where);
        if (!parse_dim(c, &d))
            return mg_fail(MG_ERR_FORMAT, "%s: bad .npy header: 'shape' holds something other than sizes", where);
        if (*ndim >= MG_NPY_MAX_DIMS)
            return mg_fail(MG_ERR_UNSUPPORTED, "%s: more than %d dimensions", where, MG_NPY_MAX_DIMS);
        shape[(*ndim)++] = d;
        int comma = eat(c, ',');
        if (eat(c, ')')) {
            if (*ndim == 1 && !comma) /* "(5)" is an int in Python, not a tuple */
                return mg_fail(MG_ERR_FORMAT, "%s: bad .npy header: 'shape' is not a tuple", where);
            return MG_OK;
        }
        if (!comma)
            return mg_fail(MG_ERR_FORMAT, "%s: bad .npy header: malformed 'shape'", where);
    }
}

typedef struct npy_dtype {
    int size;       /* bytes per element: 1, 2, 4, 8 */
    int is_signed;
    int big_endian;
} npy_dtype;

static const char *float_name(char kind, int size) {
    if (kind == 'f')
        return size == 2 ? "float16" : size == 4 ? "float32" : size == 8 ? "float64" : "float";
    if (kind == 'c')
        return size == 8 ? "complex64" : size == 16 ? "complex128" : "complex";
    if (kind == 'b')
        return "bool";
    if (kind == 'O')
        return "object";
    if (kind == 'U' || kind == 'S' || kind == 'a')
        return "string";
    if (kind == 'M' || kind == 'm')
        return "datetime";
    if (kind == 'V')
        return "void";
    return NULL;
}

static mg_status parse_descr(const char *descr, const char *where, npy_dtype *dt) {
    const char *s = descr;
    char order = '=';
    if (*s == '<' || *s == '>' || *s == '|' || *s == '=')
        order = *s++;
    char kind = *s ? *s++ : 0;
    int size = 0;
    while (*s >= '0' && *s <= '9' && size < 1000)
        size = size * 10 + (*s++ - '0');
    if (*s || !kind)
        return mg_fail(MG_ERR_FORMAT, "%s: unknown dtype '%s'", where, descr);
    if (kind != 'i' && kind != 'u') {
        const char *name = float_name(kind, size);
        if (name)
            return mg_fail(MG_ERR_FORMAT, "%s: dtype %s ('%s') is not an integer type: codes must be integers", where,
                           name, descr);
        return mg_fail(MG_ERR_FORMAT, "%s: unknown dtype '%s'", where, descr);
    }
    if (size != 1 && size != 2 && size != 4 && size != 8)
        return mg_fail(MG_ERR_FORMAT, "%s: unsupported integer size in dtype '%s'", where, descr);
    if (order == '|' && size != 1)
        return mg_fail(MG_ERR_FORMAT, "%s: dtype '%s' has no byte order", where, descr);
    dt->size = size;
    dt->is_signed = kind == 'i';
    dt->big_endian = order == '>';
    return MG_OK;
}

typedef struct npy_header {
    npy_dtype dtype;
    int fortran;
    int ndim;
    int64_t shape[MG_NPY_MAX_DIMS];
} npy_header;

/* The first bytes of the header as printable text, for error messages. */
static void snippet(const char *text, size_t len, char out[24]) {
    size_t n = 0;
    for (size_t i = 0; i < len && n < 20; i++)
        out[n++] = text[i] >= 32 && text[i] < 127 ? text[i] : '?';
    out[n] = 0;
}

static mg_status parse_dict(const char *text, size_t len, const char *where, npy_header *h) {
    cursor c = {text, text + len};
    int have_descr = 0, have_order = 0, have_shape = 0;
    if (!eat(&c, '{')) {
        char start[24];
        snippet(text, len, start);
        return mg_fail(MG_ERR_FORMAT, "%s: bad .npy header: expected a dict, got \"%s\"", where, start);
    }
    while (!eat(&c, '}')) {
        char key[32], descr[64];
        if (!parse_string(&c, key, sizeof key) || !eat(&c, ':'))
            return mg_fail(MG_ERR_FORMAT, "%s: bad .npy header: malformed dict", where);
        if (!strcmp(key, "descr") && !have_descr) {
            skip_space(&c);
            if (c.p < c.end && *c.p == '[')
                return mg_fail(MG_ERR_FORMAT, "%s: structured dtype is not an integer type: codes must be integers",
                               where);
            if (!parse_string(&c, descr, sizeof descr))
                return mg_fail(MG_ERR_FORMAT, "%s: bad .npy header: 'descr' is not a string", where);
            MG_TRY(parse_descr(descr, where, &h->dtype));
            have_descr = 1;
        } else if (!strcmp(key, "fortran_order") && !have_order) {
            if (parse_word(&c, "True"))
                h->fortran = 1;
            else if (parse_word(&c, "False"))
                h->fortran = 0;
            else
                return mg_fail(MG_ERR_FORMAT, "%s: bad .npy header: 'fortran_order' must be True or False", where);
            have_order = 1;
        } else if (!strcmp(key, "shape") && !have_shape) {
            MG_TRY(parse_shape(&c, h->shape, &h->ndim, where));
            have_shape = 1;
        } else {
            return mg_fail(MG_ERR_FORMAT, "%s: bad .npy header: unexpected or repeated key '%s'", where, key);
        }
        if (!eat(&c, ',')) {
            if (!eat(&c, '}'))
                return mg_fail(MG_ERR_FORMAT, "%s: bad .npy header: malformed dict", where);
            break;
        }
    }
    skip_space(&c);
    if (c.p != c.end)
        return mg_fail(MG_ERR_FORMAT, "%s: bad .npy header: text after the dict", where);
    if (!have_descr || !have_order || !have_shape)
        return mg_fail(MG_ERR_FORMAT, "%s: bad .npy header: missing '%s'", where,
                       !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    return MG_OK;
}

/* ---- data --------------------------------------------------------------------------- */

static mg_status load_element(const uint8_t *p, const npy_dtype *dt, const char *where, int64_t index,
                              int64_t *out) {
    uint64_t u = 0;
    for (int i = 0; i < dt->size; i++) {
        int shift = dt->big_endian ? 8 * (dt->size - 1 - i) : 8 * i;
        u |= (uint64_t)p[i] << shift;
    }
    if (dt->is_signed) {
        if (dt->size < 8 && (u >> (8 * dt->size - 1)) & 1) /* sign-extend */
            u |= ~0ULL << (8 * dt->size);
        memcpy(out, &u, sizeof u);
        return MG_OK;
    }
    if (u > (uint64_t)INT64_MAX)
        return mg_fail(MG_ERR_FORMAT, "%s: element %lld (%llu) does not fit a signed 64-bit integer", where,
                       (long long)index, (unsigned long long)u);
    *out = (int64_t)u;
    return MG_OK;
}

/* Convert `count` elements to int64, reordering Fortran (column-major) data to C order. */
static mg_status load_data(const uint8_t *src, const npy_header *h, int64_t count, const char *where,
                           int64_t *dst) {
    int64_t strides[MG_NPY_MAX_DIMS] = {0}; /* C-order strides in elements */
    int64_t idx[MG_NPY_MAX_DIMS] = {0};
    int64_t s = 1;
    /* Only when there is data: with a zero in the shape the other sizes may be huge
     * (each is capped, their product is not) and the strides would overflow. */
    for (int d = h->ndim - 1; d >= 0 && count > 0; d--) {
        strides[d] = s;
        s *= h->shape[d];
    }
    for (int64_t k = 0; k < count; k++) {
        int64_t to = k;
        if (h->fortran) {
            to = 0;
            for (int d = 0; d < h->ndim; d++)
                to += idx[d] * strides[d];
            for (int d = 0; d < h->ndim; d++) { /* first index varies fastest */
                if (++idx[d] < h->shape[d])
                    break;
                idx[d] = 0;
            }
        }
        MG_TRY(load_element(src + (size_t)k * (size_t)h->dtype.size, &h->dtype, where, k, &dst[to]));
    }
    return MG_OK;
}

mg_status mg_npy_parse(const uint8_t *buf, size_t n, const char *where, mg_npy *out) {
    memset(out, 0, sizeof *out);
    if (!where)
        where = "npy data";
    if (!buf || n < NPY_MAGIC_LEN + 2 || memcmp(buf, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return mg_fail(MG_ERR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", where);
    int major = buf[6], minor = buf[7];
    size_t len_bytes = major == 1 ? 2 : (major == 2 || major == 3) ? 4 : 0;
    if (!len_bytes || minor != 0)
        return mg_fail(MG_ERR_UNSUPPORTED, "%s: .npy format version %d.%d is not supported (1.0, 2.0, 3.0 are)",
                       where, major, minor);
    size_t pos = NPY_MAGIC_LEN + 2;
    if (n - pos < len_bytes)
        return mg_fail(MG_ERR_FORMAT, "%s: truncated .npy header", where);
    size_t hlen = 0;
    for (size_t i = 0; i < len_bytes; i++)
        hlen |= (size_t)buf[pos + i] << (8 * i);
    pos += len_bytes;
    if (hlen > NPY_MAX_HEADER)
        return mg_fail(MG_ERR_FORMAT, "%s: .npy header of %zu bytes is implausibly long (limit %d)", where, hlen,
                       NPY_MAX_HEADER);
    if (n - pos < hlen)
        return mg_fail(MG_ERR_FORMAT, "%s: truncated .npy header (%zu bytes announced, %zu present)", where, hlen,
                       n - pos);
    npy_header h;
    memset(&h, 0, sizeof h);
    MG_TRY(parse_dict((const char *)buf + pos, hlen, where, &h));
    pos += hlen;

    int has_zero = 0;
    for (int i = 0; i < h.ndim; i++) {
        if (h.shape[i] > NPY_MAX_ELEMENTS)
            return mg_fail(MG_ERR_UNSUPPORTED, "%s: dimension %d of size %lld is too large", where, i,
                           (long long)h.shape[i]);
        has_zero |= h.shape[i] == 0;
    }
    /* An empty array is empty whatever its other sizes (as in numpy), wherever the zero is. */
    int64_t count = has_zero ? 0 : 1;
    for (int i = 0; i < h.ndim && count > 0; i++) {
        if (count > NPY_MAX_ELEMENTS / h.shape[i])
            return mg_fail(MG_ERR_UNSUPPORTED, "%s: shape holds more than %lld elements", where,
                           (long long)NPY_MAX_ELEMENTS);
        count *= h.shape[i];
    }
    size_t need = (size_t)count * (size_t)h.dtype.size;
    if (n - pos < need)
        return mg_fail(MG_ERR_FORMAT, "%s: truncated .npy data (%zu bytes expected, %zu present)", where, need,
                       n - pos);
    int64_t *data = mg_malloc((size_t)(count ? count : 1) * sizeof *data, where);
    if (!data)
        return MG_ERR_NOMEM;
    mg_status st = load_data(buf + pos, &h, count, where, data);
    if (st != MG_OK) {
        free(data);
        return st;
    }
    out->data = data;
    out->ndim = h.ndim;
    memcpy(out->shape, h.shape, sizeof h.shape);
    return MG_OK;
}

mg_status mg_npy_read_int(const char *path, mg_npy *out) {
    memset(out, 0, sizeof *out);
    if (!mg_path_is_file_or_absent(path)) { /* a pipe (`<(...)`, /dev/stdin): read it through */
        char *data;
        size_t size;
        MG_TRY(mg_file_read_all(path, &data, &size));
        mg_status st = mg_npy_parse((const uint8_t *)data, size, path, out);
        free(data);
        return st;
    }
    mg_mapped_file f;
    MG_TRY(mg_file_map(path, &f));
    mg_status st = mg_npy_parse(f.data, f.size, path, out);
    mg_file_unmap(&f);
    return st;
}
