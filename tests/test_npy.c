/* test_npy.c — tests of the .npy reader/writer (src/io/npy.c): write -> read round trips,
 * the exact header numpy.save writes, every integer dtype in both byte orders, Fortran
 * order, format versions 1.0 / 2.0 / 3.0, and malformed input (every truncation of a
 * valid file, bad magic / version / dict, negative and overflowing shapes, float and
 * other non-integer dtypes, values beyond int64) failing cleanly with a message that
 * names the file.
 *
 * Helper modes for tests/cli/test_npy_python.sh:
 *   test_npy --write PATH   write the reference array (see ref_value) as int64
 *   test_npy --read PATH    print "shape=A,B,C" then the values, one per line */
#include "test.h"
#include "base/file.h"
#include "io/npy.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[64];

static const char *tmp_path(const char *name) {
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

/* The reference array [2][4][7] used with python: negative, small and huge values. */
static int64_t ref_value(int64_t i) {
    if (i == 0)
        return INT64_MIN;
    if (i == 1)
        return INT64_MAX;
    return (i * 7919) % 4096 - 2048;
}

/* ---- building .npy bytes by hand ------------------------------------------------------ */

typedef struct buf {
    uint8_t d[4096];
    size_t n;
} buf;

/* magic + version + length + dict (padded to 64 with '\n'), then nothing. */
static void npy_header(buf *b, int major, const char *dict) {
    size_t len_bytes = major == 1 ? 2 : 4;
    size_t dl = strlen(dict);
    size_t total = 6 + 2 + len_bytes + dl + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = dl + pad + 1;
    memcpy(b->d, "\x93NUMPY", 6);
    b->d[6] = (uint8_t)major;
    b->d[7] = 0;
    for (size_t i = 0; i < len_bytes; i++)
        b->d[8 + i] = (uint8_t)(hlen >> (8 * i));
    b->n = 8 + len_bytes;
    memcpy(b->d + b->n, dict, dl);
    b->n += dl;
    memset(b->d + b->n, ' ', pad);
    b->n += pad;
    b->d[b->n++] = '\n';
}

static void put_int(buf *b, uint64_t v, int size, int big) {
    for (int i = 0; i < size; i++)
        b->d[b->n++] = (uint8_t)(v >> (8 * (big ? size - 1 - i : i)));
}

static mg_status parse(const buf *b, mg_npy *out) { return mg_npy_parse(b->d, b->n, "crafted.npy", out); }

/* ---- tests ------------------------------------------------------------------------------ */

static void test_roundtrip(void) {
    int64_t shape[3] = {2, 4, 7};
    int64_t data[56];
    for (int i = 0; i < 56; i++)
        data[i] = ref_value(i);
    char p[256];
    snprintf(p, sizeof p, "%s", tmp_path("codes.npy"));
    CHECK_OK(mg_npy_write_i64(p, data, 3, shape, 0));
    mg_npy a;
    CHECK_OK(mg_npy_read_int(p, &a));
    CHECK(a.ndim == 3 && a.shape[0] == 2 && a.shape[1] == 4 && a.shape[2] == 7, "shape");
    CHECK(a.data && memcmp(a.data, data, sizeof data) == 0, "values");
    mg_npy_free(&a);

    /* The exact numpy.save bytes: dict, 21-digit growth room, padding to 64, '\n'. */
    char *bytes;
    size_t n;
    CHECK_OK(mg_file_read_all(p, &bytes, &n));
    const char *dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 4, 7), }";
    size_t hdr = 10 + (size_t)((unsigned char)bytes[8] | (unsigned char)bytes[9] << 8);
    CHECK(!memcmp(bytes, "\x93NUMPY\x01\x00", 8), "magic + version 1.0");
    CHECK(hdr % 64 == 0 && hdr == 128, "header is %zu bytes (numpy writes 128 here)", hdr);
    CHECK(!memcmp(bytes + 10, dict, strlen(dict)), "dict text");
    int spaces = 1;
    for (size_t i = 10 + strlen(dict); i < hdr - 1; i++)
        spaces &= bytes[i] == ' ';
    CHECK(spaces && bytes[hdr - 1] == '\n', "space padding and newline");
    CHECK(n == hdr + 56 * 8, "data size");
    free(bytes);

    /* No overwrite unless asked; nothing left behind. */
    CHECK(mg_npy_write_i64(p, data, 3, shape, 0) == MG_ERR_EXISTS, "no overwrite");
    int64_t shape1[1] = {3};
    CHECK_OK(mg_npy_write_i64(p, data, 1, shape1, 1));
    CHECK_OK(mg_npy_read_int(p, &a));
    CHECK(a.ndim == 1 && a.shape[0] == 3 && a.data[2] == data[2], "overwritten with a 1-d array");
    mg_npy_free(&a);

    /* 0-d and empty arrays. */
    CHECK_OK(mg_npy_write_i64(p, data + 5, 0, NULL, 1));
    CHECK_OK(mg_npy_read_int(p, &a));
    CHECK(a.ndim == 0 && a.data && a.data[0] == data[5], "0-d array");
    mg_npy_free(&a);
    int64_t shape0[2] = {4, 0};
    CHECK_OK(mg_npy_write_i64(p, NULL, 2, shape0, 1));
    CHECK_OK(mg_npy_read_int(p, &a));
    CHECK(a.ndim == 2 && a.shape[0] == 4 && a.shape[1] == 0, "empty array");
    mg_npy_free(&a);
    int64_t bad[2] = {2, -1};
    CHECK(mg_npy_write_i64(p, data, 2, bad, 1) == MG_ERR_INVALID_ARG, "negative shape refused");
    CHECK(mg_npy_write_i64(p, data, 9, shape, 1) == MG_ERR_INVALID_ARG, "9 dims refused");
    CHECK(mg_npy_write_i64(tmp_path("missing/x.npy"), data, 1, shape1, 0) == MG_ERR_IO, "missing folder");
    unlink(p);
    DIR *d = opendir(g_dir);
    int entries = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    CHECK(entries == 0, "no temporary files left (%d entries)", entries);
}

static void test_dtypes(void) {
    static const struct {
        const char *descr;
        int size, big, is_signed;
    } types[] = {{"<i8", 8, 0, 1}, {">i8", 8, 1, 1}, {"<i4", 4, 0, 1}, {">i4", 4, 1, 1}, {"<i2", 2, 0, 1},
                 {">i2", 2, 1, 1}, {"|i1", 1, 0, 1}, {"|u1", 1, 0, 0}, {"<u2", 2, 0, 0}, {">u2", 2, 1, 0},
                 {"<u4", 4, 0, 0}, {">u4", 4, 1, 0}, {"<u8", 8, 0, 0}, {">u8", 8, 1, 0}, {"<i1", 1, 0, 1}};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        for (int fortran = 0; fortran <= 1; fortran++) {
            for (int major = 1; major <= 3; major++) {
                char dict[160];
                snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': (2, 3), }", types[t].descr,
                         fortran ? "True" : "False");
                buf b;
                npy_header(&b, major, dict);
                int64_t want[6];
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 3; j++) {
                        int64_t v = (int64_t)(i * 3 + j) * 17 + 1;
                        if (types[t].is_signed && (i + j) % 2)
                            v = -v;
                        if (types[t].size == 8 && i == 1 && j == 2)
                            v = types[t].is_signed ? INT64_MIN + 5 : INT64_MAX - 5;
                        want[i * 3 + j] = v;
                    }
                for (int k = 0; k < 6; k++) { /* storage order */
                    int i = fortran ? k % 2 : k / 3, j = fortran ? k / 2 : k % 3;
                    put_int(&b, (uint64_t)want[i * 3 + j], types[t].size, types[t].big);
                }
                mg_npy a;
                mg_status st = parse(&b, &a);
                CHECK(st == MG_OK, "%s fortran=%d v%d: %s", types[t].descr, fortran, major, mg_last_error());
                CHECK(a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 && a.data &&
                          memcmp(a.data, want, sizeof want) == 0,
                      "%s fortran=%d v%d values", types[t].descr, fortran, major);
                mg_npy_free(&a);
            }
        }
    }
    /* Fortran order in three dimensions, against the index formula. */
    buf b;
    npy_header(&b, 1, "{'descr': '<i2', 'fortran_order': True, 'shape': (2, 3, 4), }");
    for (int k = 0; k < 24; k++) { /* F order: i fastest */
        int i = k % 2, j = (k / 2) % 3, l = k / 6;
        put_int(&b, (uint64_t)(100 * i + 10 * j + l), 2, 0);
    }
    mg_npy a;
    CHECK_OK(parse(&b, &a));
    int ok = a.data != NULL;
    for (int i = 0; i < 2 && ok; i++)
        for (int j = 0; j < 3; j++)
            for (int l = 0; l < 4; l++)
                ok &= a.data[(i * 3 + j) * 4 + l] == 100 * i + 10 * j + l;
    CHECK(ok, "3-d Fortran order converted to C order");
    mg_npy_free(&a);
    /* Python 2 style, double quotes, other key order, no trailing comma. */
    npy_header(&b, 1, "{\"shape\": (3L,), \"fortran_order\": False, \"descr\": \"<i4\"}");
    put_int(&b, 1, 4, 0), put_int(&b, 2, 4, 0), put_int(&b, 3, 4, 0);
    CHECK_OK(parse(&b, &a));
    CHECK(a.ndim == 1 && a.shape[0] == 3 && a.data && a.data[2] == 3, "relaxed dict");
    mg_npy_free(&a);
}

/* Expect failure with `code` and a message containing `needle` and the file name. */
static void expect_fail(const buf *b, mg_status code, const char *needle, const char *what) {
    mg_npy a;
    mg_status st = parse(b, &a);
    CHECK(st == code, "%s: status %d (want %d): %s", what, st, code, mg_last_error());
    CHECK(strstr(mg_last_error(), needle) && strstr(mg_last_error(), "crafted.npy"), "%s: message: %s", what,
          mg_last_error());
    CHECK(a.data == NULL, "%s: no data returned", what);
    mg_npy_free(&a);
}

static void test_malformed(void) {
    buf good;
    npy_header(&good, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }");
    for (int i = 0; i < 6; i++)
        put_int(&good, (uint64_t)i, 8, 0);
    mg_npy a;
    CHECK_OK(parse(&good, &a));
    mg_npy_free(&a);

    /* Every truncation fails (and never reads past the end: ASan build). */
    int all_fail = 1;
    for (size_t n = 0; n < good.n; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact-size heap copy so overreads are caught */
        memcpy(copy, good.d, n);
        mg_status st = mg_npy_parse(copy, n, "crafted.npy", &a);
        all_fail &= st != MG_OK && a.data == NULL;
        mg_npy_free(&a);
        free(copy);
    }
    CHECK(all_fail, "every truncation fails");
    buf b = good;
    b.n = good.n - 1;
    expect_fail(&b, MG_ERR_FORMAT, "truncated", "short data");

    b = good;
    b.d[0] = 'X';
    expect_fail(&b, MG_ERR_FORMAT, "not a .npy file", "bad magic");
    b = good;
    b.d[6] = 4;
    expect_fail(&b, MG_ERR_UNSUPPORTED, "version 4.0", "version 4");
    b = good;
    b.d[8] = 0xFF, b.d[9] = 0xFF;
    expect_fail(&b, MG_ERR_FORMAT, "truncated", "header length beyond the file");

    static const struct {
        const char *dict;
        mg_status code;
        const char *needle;
    } cases[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", MG_ERR_FORMAT,
         "dtype float32 ('<f4') is not an integer type: codes must be integers"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", MG_ERR_FORMAT, "float64"},
        {"{'descr': '|b1', 'fortran_order': False, 'shape': (2, 3), }", MG_ERR_FORMAT, "bool"},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (2, 3), }", MG_ERR_FORMAT, "object"},
        {"{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (2, 3), }", MG_ERR_FORMAT, "structured"},
        {"{'descr': '<i3', 'fortran_order': False, 'shape': (2, 3), }", MG_ERR_FORMAT, "integer size"},
        {"{'descr': '|i4', 'fortran_order': False, 'shape': (2, 3), }", MG_ERR_FORMAT, "byte order"},
        {"{'descr': 'zz', 'fortran_order': False, 'shape': (2, 3), }", MG_ERR_FORMAT, "unknown dtype"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (2, -3), }", MG_ERR_FORMAT, "negative"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (268435456, 268435456), }", MG_ERR_UNSUPPORTED,
         "elements"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (0, 99999999999999999), }", MG_ERR_UNSUPPORTED,
         "too large"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (99999999999999999999, 1), }", MG_ERR_FORMAT, "shape"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", MG_ERR_UNSUPPORTED,
         "dimensions"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (6), }", MG_ERR_FORMAT, "not a tuple"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': 6, }", MG_ERR_FORMAT, "tuple"},
        {"{'descr': '<i8', 'fortran_order': Maybe, 'shape': (2, 3), }", MG_ERR_FORMAT, "True or False"},
        {"{'descr': '<i8', 'shape': (2, 3), }", MG_ERR_FORMAT, "missing 'fortran_order'"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", MG_ERR_FORMAT, "'x'"},
        {"{'descr': '<i8', 'descr': '<i8', 'fortran_order': False, 'shape': (2, 3)}", MG_ERR_FORMAT, "repeated"},
        {"{'descr': '<i8' 'fortran_order': False, 'shape': (2, 3)}", MG_ERR_FORMAT, "malformed"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3)} trailing", MG_ERR_FORMAT, "after the dict"},
        {"['descr', '<i8']", MG_ERR_FORMAT, "expected a dict"},
        {"{'descr: '<i8'}", MG_ERR_FORMAT, "malformed"},
        {"{'descr': '<i8\\x', 'fortran_order': False, 'shape': (2, 3)}", MG_ERR_FORMAT, "not a string"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3", MG_ERR_FORMAT, "shape"},
        {"", MG_ERR_FORMAT, "dict"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        npy_header(&b, 1, cases[i].dict);
        for (int k = 0; k < 6; k++)
            put_int(&b, (uint64_t)k, 8, 0);
        expect_fail(&b, cases[i].code, cases[i].needle, cases[i].dict);
    }
    /* Unsigned 64-bit values beyond int64. */
    npy_header(&b, 1, "{'descr': '<u8', 'fortran_order': False, 'shape': (2,), }");
    put_int(&b, 5, 8, 0), put_int(&b, UINT64_MAX, 8, 0);
    expect_fail(&b, MG_ERR_FORMAT, "element 1", "u8 overflow");
    /* A header longer than the cap. */
    b = good;
    b.d[6] = 2;
    b.d[8] = 0, b.d[9] = 0, b.d[10] = 0x10, b.d[11] = 0;
    expect_fail(&b, MG_ERR_FORMAT, "implausibly long", "1 MB header");
    /* Empty arrays whose other sizes multiply past int64 (each within the cap): no
     * data, so nothing to reorder; found by fuzz_npy as a signed overflow in the strides. */
    for (int fortran = 0; fortran <= 1; fortran++) {
        npy_header(&b, 1,
                   fortran ? "{'descr': '<i8', 'fortran_order': True, 'shape': (0, 268435456, 268435456, 268435456), }"
                           : "{'descr': '<i8', 'fortran_order': False, 'shape': (268435456, 268435456, 268435456, 0), }");
        CHECK_OK(parse(&b, &a));
        CHECK(a.ndim == 4 && a.shape[1] == 268435456 && a.data, "empty array with huge sizes (fortran %d)", fortran);
        mg_npy_free(&a);
    }
    /* Trailing bytes after the data are ignored, as numpy does. */
    b = good;
    put_int(&b, 99, 8, 0);
    CHECK_OK(parse(&b, &a));
    CHECK(a.data && a.data[5] == 5, "trailing bytes ignored");
    mg_npy_free(&a);
    /* Files: missing, empty, not npy. */
    CHECK(mg_npy_read_int(tmp_path("none.npy"), &a) == MG_ERR_NOT_FOUND, "missing file");
    FILE *f = fopen(tmp_path("empty.npy"), "wb");
    fclose(f);
    CHECK(mg_npy_read_int(tmp_path("empty.npy"), &a) == MG_ERR_FORMAT, "empty file");
    CHECK(strstr(mg_last_error(), "empty.npy") && strstr(mg_last_error(), "not a .npy file"), "msg: %s",
          mg_last_error());
    unlink(tmp_path("empty.npy"));
}

/* ---- helper modes for the python test -------------------------------------------------------- */

static int helper_write(const char *path) {
    int64_t shape[3] = {2, 4, 7}, data[56];
    for (int i = 0; i < 56; i++)
        data[i] = ref_value(i);
    if (mg_npy_write_i64(path, data, 3, shape, 1) != MG_OK) {
        fprintf(stderr, "test_npy: %s\n", mg_last_error());
        return 1;
    }
    return 0;
}

static int helper_read(const char *path) {
    mg_npy a;
    if (mg_npy_read_int(path, &a) != MG_OK) {
        fprintf(stderr, "test_npy: %s\n", mg_last_error());
        return 1;
    }
    printf("shape=");
    int64_t count = 1;
    for (int i = 0; i < a.ndim; i++) {
        printf(i ? ",%" PRId64 : "%" PRId64, a.shape[i]);
        count *= a.shape[i];
    }
    printf("\n");
    for (int64_t i = 0; i < count; i++)
        printf("%" PRId64 "\n", a.data[i]);
    mg_npy_free(&a);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write"))
        return helper_write(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "--read"))
        return helper_read(argv[2]);
    snprintf(g_dir, sizeof g_dir, "/tmp/mg_npy_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_roundtrip();
    test_dtypes();
    test_malformed();
    rmdir(g_dir);
    return test_finish("test_npy");
}
