/* test_tokenizer.c — the T5 tokenizer (src/text/spm*.c, mg_tokenize).
 *
 * 1. Golden: every prompt of ../shared/reference/tokenizer_golden.json through the
 *    public mg_tokenize() of each fixture model must give exactly `hf_ids` (the ids
 *    of transformers' T5Tokenizer); the batch padding example and the fixtures'
 *    golden text.input_ids / attention_mask must be reproduced.
 * 2. Conventions on small hand-built models (ids derivable by hand from the scores):
 *    unigram choice, merged unknowns, user-defined pieces, byte fallback, invalid
 *    UTF-8, added tokens, extra_ids, T5Tokenizer's piece -> id mapping.
 * 3. The protobuf reader on malformed input: crafted errors, truncations, bit flips
 *    and random bytes must fail cleanly (or load a model that still encodes).
 * 4. A 100 KB prompt (printed time; never asserted).
 */
#include "test.h"
#include "text/spm.h"
#include "base/file.h"
#include "base/timing.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>

static const char *kFixtures[] = {"tiny-mono", "tiny-stereo"};

/* ---- helpers ----------------------------------------------------------------------- */

static int ids_equal_json(const int32_t *ids, int n, const cJSON *want) {
    if (n != cJSON_GetArraySize(want))
        return 0;
    for (int i = 0; i < n; i++)
        if (ids[i] != cJSON_GetArrayItem(want, i)->valueint)
            return 0;
    return 1;
}

static void print_ids(const char *label, const int32_t *ids, int n) {
    fprintf(stderr, "    %s:", label);
    for (int i = 0; i < n; i++)
        fprintf(stderr, " %d", ids[i]);
    fputc('\n', stderr);
}

/* Encode and compare with an expected list (terminated by -1). */
#define EXPECT(t, lit, flags, what, ...) \
    expect_ids(t, lit, sizeof(lit) - 1, flags, (const int[]){__VA_ARGS__, -1}, what)
static void expect_ids(const mg_tokenizer *t, const char *text, size_t len, int flags, const int *want,
                       const char *what) {
    int32_t *ids = NULL;
    int n = 0;
    mg_status st = mg_tokenizer_encode_ex(t, text, len, flags, &ids, &n);
    CHECK(st == MG_OK, "%s: encode failed: %s", what, mg_last_error());
    int nw = 0;
    while (want[nw] >= 0)
        nw++;
    int same = st == MG_OK && n == nw;
    for (int i = 0; same && i < n; i++)
        same = ids[i] == want[i];
    CHECK(same, "%s: ids differ", what);
    if (!same) {
        print_ids("got ", ids, n);
        fprintf(stderr, "    want:");
        for (int i = 0; i < nw; i++)
            fprintf(stderr, " %d", want[i]);
        fputc('\n', stderr);
    }
    free(ids);
}

/* ---- 1. golden ---------------------------------------------------------------------- */

static cJSON *load_golden_json(void) {
    char *text = NULL;
    size_t size = 0;
    if (mg_file_read_all(test_ref_path("tokenizer_golden.json"), &text, &size) != MG_OK) {
        CHECK(0, "cannot read tokenizer_golden.json: %s", mg_last_error());
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(text, size);
    free(text);
    CHECK(root != NULL, "tokenizer_golden.json is not valid JSON");
    return root;
}

static void test_golden_prompts(const mg_model *m, const char *fixture, const cJSON *golden) {
    const cJSON *prompts = cJSON_GetObjectItemCaseSensitive(golden, "prompts");
    int n_ok = 0, n = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, prompts) {
        const char *text = cJSON_GetObjectItemCaseSensitive(p, "text")->valuestring;
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(p, "hf_ids");
        int32_t *ids = NULL;
        int nids = 0;
        CHECK_OK(mg_tokenize(m, text, &ids, &nids));
        int ok = ids_equal_json(ids, nids, want);
        CHECK(ok, "%s: prompt %d (\"%.60s\") differs from hf_ids", fixture, n, text);
        if (!ok)
            print_ids("got", ids, nids);
        n_ok += ok;
        n++;
        mg_free(ids);
    }
    printf("  golden prompts %-12s %d/%d match hf_ids\n", fixture, n_ok, n);
    CHECK(n == 60, "expected 60 golden prompts, found %d", n);
}

/* Right-pad a batch with 0 as MusicgenProcessor(padding=True) does. */
static void pad_batch(const mg_model *m, const char *const *texts, int b, int64_t **ids_out, int64_t **mask_out,
                      int *len_out) {
    int32_t *ids[8] = {0};
    int n[8] = {0}, len = 0;
    for (int i = 0; i < b; i++) {
        CHECK_OK(mg_tokenize(m, texts[i], &ids[i], &n[i]));
        if (n[i] > len)
            len = n[i];
    }
    int64_t *pid = calloc((size_t)(b * len) + 1, sizeof *pid), *pmask = calloc((size_t)(b * len) + 1, sizeof *pmask);
    for (int i = 0; i < b; i++) {
        for (int j = 0; j < n[i]; j++) {
            pid[i * len + j] = ids[i][j];
            pmask[i * len + j] = 1;
        }
        mg_free(ids[i]);
    }
    *ids_out = pid;
    *mask_out = pmask;
    *len_out = len;
}

static void test_batch_padding(const mg_model *m, const cJSON *golden) {
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(golden, "batch_padding_example");
    const cJSON *texts = cJSON_GetObjectItemCaseSensitive(ex, "texts");
    const cJSON *want_ids = cJSON_GetObjectItemCaseSensitive(ex, "input_ids");
    const cJSON *want_mask = cJSON_GetObjectItemCaseSensitive(ex, "attention_mask");
    int b = cJSON_GetArraySize(texts);
    CHECK(b == 2, "batch example has %d texts", b);
    if (b != 2)
        return;
    const char *tx[2] = {cJSON_GetArrayItem(texts, 0)->valuestring, cJSON_GetArrayItem(texts, 1)->valuestring};
    int64_t *ids, *mask;
    int len;
    pad_batch(m, tx, 2, &ids, &mask, &len);
    int64_t wi[64] = {0}, wm[64] = {0};
    int wlen = cJSON_GetArraySize(cJSON_GetArrayItem(want_ids, 0));
    CHECK(wlen == len && wlen <= 32, "padded length %d, want %d", len, wlen);
    for (int i = 0; i < 2 && wlen <= 32; i++)
        for (int j = 0; j < wlen; j++) {
            wi[i * wlen + j] = cJSON_GetArrayItem(cJSON_GetArrayItem(want_ids, i), j)->valueint;
            wm[i * wlen + j] = cJSON_GetArrayItem(cJSON_GetArrayItem(want_mask, i), j)->valueint;
        }
    if (wlen == len && wlen <= 32) {
        test_compare_i64("batch_padding_example.input_ids", ids, wi, 2 * len);
        test_compare_i64("batch_padding_example.attention_mask", mask, wm, 2 * len);
    }
    free(ids);
    free(mask);
}

/* The fixture's golden text.input_ids come from its metadata prompts. */
static void test_fixture_text_ids(const mg_model *m, const char *fixture) {
    char *meta = test_golden_metadata(fixture, "prompts");
    CHECK(meta != NULL, "%s: golden metadata 'prompts' missing", fixture);
    cJSON *prompts = meta ? cJSON_Parse(meta) : NULL;
    free(meta);
    int b = cJSON_GetArraySize(prompts);
    test_golden g;
    if (!prompts || b < 1 || b > 8 || !test_golden_open(&g, fixture)) {
        CHECK(0, "%s: cannot read golden prompts", fixture);
        cJSON_Delete(prompts);
        return;
    }
    const char *tx[8];
    for (int i = 0; i < b; i++)
        tx[i] = cJSON_GetArrayItem(prompts, i)->valuestring;
    int64_t *ids, *mask;
    int len;
    pad_batch(m, tx, b, &ids, &mask, &len);
    const mg_tensor *want_ids = test_golden_get(&g, "text.input_ids");
    const mg_tensor *want_mask = test_golden_get(&g, "text.attention_mask");
    CHECK(want_ids->shape[0] == b && want_ids->shape[1] == len, "%s: text.input_ids is [%lld, %lld], we made [%d, %d]",
          fixture, (long long)want_ids->shape[0], (long long)want_ids->shape[1], b, len);
    if (want_ids->shape[0] == b && want_ids->shape[1] == len) {
        char name[96];
        snprintf(name, sizeof name, "%s text.input_ids", fixture);
        test_compare_i64(name, ids, want_ids->data, (int64_t)b * len);
        snprintf(name, sizeof name, "%s text.attention_mask", fixture);
        test_compare_i64(name, mask, want_mask->data, (int64_t)b * len);
    }
    free(ids);
    free(mask);
    test_golden_close(&g);
    cJSON_Delete(prompts);
}

static void test_fixtures(void) {
    cJSON *golden = load_golden_json();
    if (!golden)
        return;
    for (size_t f = 0; f < sizeof kFixtures / sizeof kFixtures[0]; f++) {
        mg_model *m = NULL;
        mg_model_params mp = mg_model_default_params();
        mp.offline = 1;
        CHECK_OK(mg_model_load(test_ref_path(kFixtures[f]), &mp, &m));
        if (!m)
            continue;
        test_golden_prompts(m, kFixtures[f], golden);
        if (f == 0)
            test_batch_padding(m, golden);
        test_fixture_text_ids(m, kFixtures[f]);
        /* Public API argument checks. */
        int32_t *ids = NULL;
        int n = 0;
        CHECK(mg_tokenize(m, NULL, &ids, &n) == MG_ERR_INVALID_ARG, "NULL text accepted");
        CHECK(mg_tokenize(NULL, "x", &ids, &n) == MG_ERR_INVALID_ARG, "NULL model accepted");
        mg_model_free(m);
    }
    cJSON_Delete(golden);
}

/* ---- 2. crafted models --------------------------------------------------------------- */

typedef struct pbuf {
    uint8_t *d;
    size_t n, cap;
} pbuf;

static void pb_raw(pbuf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->d = realloc(b->d, b->cap);
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void pb_varint(pbuf *b, uint64_t v) {
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            c |= 0x80;
        pb_raw(b, &c, 1);
    } while (v);
}
static void pb_tag(pbuf *b, int field, int wire) { pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire); }
static void pb_len(pbuf *b, int field, const void *p, size_t n) {
    pb_tag(b, field, 2);
    pb_varint(b, n);
    pb_raw(b, p, n);
}
static void pb_uint(pbuf *b, int field, uint64_t v) {
    pb_tag(b, field, 0);
    pb_varint(b, v);
}
static void pb_piece(pbuf *model, const char *s, float score, int type) {
    pbuf p = {0};
    pb_len(&p, 1, s, strlen(s));
    uint32_t bits;
    memcpy(&bits, &score, 4);
    uint8_t le[4] = {(uint8_t)bits, (uint8_t)(bits >> 8), (uint8_t)(bits >> 16), (uint8_t)(bits >> 24)};
    pb_tag(&p, 2, 5);
    pb_raw(&p, le, 4);
    if (type != 1)
        pb_uint(&p, 3, (uint64_t)type);
    pb_len(model, 1, p.d, p.n);
    free(p.d);
}

enum { NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER = 4, UNUSED = 5, BYTE = 6 };

/* <pad> </s> <unk> ▁ a b ▁ab ab @@(user) q(unused) c d cd */
static pbuf small_model(void) {
    pbuf m = {0};
    pb_piece(&m, "<pad>", 0, CONTROL);
    pb_piece(&m, "</s>", 0, CONTROL);
    pb_piece(&m, "<unk>", 0, UNKNOWN);
    pb_piece(&m, "\xe2\x96\x81", -1, NORMAL);
    pb_piece(&m, "a", -2, NORMAL);
    pb_piece(&m, "b", -2, NORMAL);
    pb_piece(&m, "\xe2\x96\x81" "ab", -1.5f, NORMAL);
    pb_piece(&m, "ab", -3, NORMAL);
    pb_piece(&m, "@@", 0, USER);
    pb_piece(&m, "q", -1, UNUSED);
    pb_piece(&m, "c", -1, NORMAL);
    pb_piece(&m, "d", -1, NORMAL);
    pb_piece(&m, "cd", -2, NORMAL);
    return m;
}

static mg_tokenizer *load_pbuf(const pbuf *m, int extra_ids) {
    mg_tokenizer *t = NULL;
    CHECK_OK(mg_tokenizer_load(m->d, m->n, "crafted model", extra_ids, &t));
    return t;
}

static void test_small_model(void) {
    pbuf m = small_model();
    mg_tokenizer *t = load_pbuf(&m, 2);
    if (!t) {
        free(m.d);
        return;
    }
    CHECK(mg_tokenizer_n_pieces(t) == 13 && mg_tokenizer_vocab_size(t) == 15, "sizes %d %d",
          mg_tokenizer_n_pieces(t), mg_tokenizer_vocab_size(t));
    CHECK(!strcmp(mg_tokenizer_piece(t, 14), "<extra_id_0>") && !strcmp(mg_tokenizer_piece(t, 13), "<extra_id_1>"),
          "extra id names");
    CHECK(mg_tokenizer_piece(t, 15) == NULL && mg_tokenizer_piece(t, -1) == NULL, "out-of-range piece names");
    /* "▁ab" (-1.5) beats "▁"+"ab" (-4) and "▁"+"a"+"b" (-5). */
    EXPECT(t, "ab", 0, "best unigram path", 6, 1);
    /* Exact ties (▁+cd = ▁+c+d = -3) keep the path proposed first (libsentencepiece
     * gives the same). */
    EXPECT(t, "cd", 0, "tie", 3, 12, 1);
    EXPECT(t, "ccd", 0, "tie after a piece", 3, 10, 12, 1);
    /* Spaces collapse; each word gets its own ▁. Without a charsmap, tab and
     * newline are ordinary (here unknown) characters. */
    EXPECT(t, "  a    b  ", 0, "whitespace", 3, 4, 3, 5, 1);
    EXPECT(t, "a \t\n b", 0, "tab/newline without charsmap", 3, 4, 3, 2, 3, 5, 1);
    /* User-defined pieces always win and pass the normalizer unchanged. */
    EXPECT(t, "a@@b", 0, "user-defined piece", 3, 4, 8, 5, 1);
    /* Unknown characters: one <unk> per run. */
    EXPECT(t, "xyz", 0, "merged unknowns", 3, 2, 1);
    EXPECT(t, "xaz", 0, "unknowns split by a known char", 3, 2, 4, 2, 1);
    /* Invalid UTF-8 becomes U+FFFD, which this vocab does not know. */
    EXPECT(t, "a\xff\xc3(b", 0, "invalid UTF-8", 3, 4, 2, 5, 1);
    /* An UNUSED piece never segments; T5Tokenizer maps the <unk> text back to it,
     * plain sentencepiece keeps <unk>. */
    EXPECT(t, "q", 0, "unused piece (T5Tokenizer)", 3, 9, 1);
    EXPECT(t, "q", MG_TOK_PLAIN_SPM, "unused piece (plain)", 3, 2);
    /* Added tokens, split before sentencepiece; sentinels eat the spaces around them. */
    EXPECT(t, "a</s>b", 0, "</s> inside", 3, 4, 1, 3, 5, 1);
    EXPECT(t, "a</s>", 0, "no second </s>", 3, 4, 1);
    EXPECT(t, "<pad><unk>", 0, "<pad><unk>", 0, 2, 1);
    EXPECT(t, "a <extra_id_0>  b", 0, "sentinel strips", 3, 4, 14, 3, 5, 1);
    EXPECT(t, "a\xe3\x80\x80<extra_id_1>\xc2\xa0", 0, "sentinel strips Unicode spaces", 3, 4, 13, 1);
    EXPECT(t, "a </s> b", 0, "</s> does not strip", 3, 4, 1, 3, 5, 1);
    /* <extra_id_2> does not exist with extra_ids = 2: plain text (only a, d known). */
    EXPECT(t, "<extra_id_2>", 0, "no such sentinel", 3, 2, 4, 2, 11, 2, 1);
    EXPECT(t, "<extra_id_01>", 0, "leading zero is not a sentinel", 3, 2, 4, 2, 11, 2, 1);
    EXPECT(t, "", 0, "empty text", 1);
    expect_ids(t, "", 0, MG_TOK_PLAIN_SPM, (const int[]){-1}, "empty text (plain)");
    EXPECT(t, "a\0b", 0, "NUL byte (no charsmap: unknown)", 3, 4, 2, 5, 1);
    mg_tokenizer_free(t);

    /* extra_ids = 0: no sentinels at all. */
    t = load_pbuf(&m, 0);
    if (t) {
        CHECK(mg_tokenizer_vocab_size(t) == 13, "vocab without extra ids");
        EXPECT(t, "<extra_id_0>", 0, "extra_ids = 0", 3, 2, 4, 2, 11, 2, 1);
        mg_tokenizer_free(t);
    }
    free(m.d);
}

static void test_byte_fallback(void) {
    pbuf m = {0};
    pb_piece(&m, "<unk>", 0, UNKNOWN);
    pb_piece(&m, "</s>", 0, CONTROL);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        pb_piece(&m, name, 0, BYTE);
    }
    pb_piece(&m, "\xe2\x96\x81", -1, NORMAL);
    pb_piece(&m, "a", -1, NORMAL);
    pbuf trainer = {0};
    pb_uint(&trainer, 35, 1);
    pb_len(&m, 2, trainer.d, trainer.n);
    mg_tokenizer *t = load_pbuf(&m, 0);
    if (t) {
        /* é = C3 A9 -> <0xC3> <0xA9>, not merged into one <unk>. */
        EXPECT(t, "a\xc3\xa9\xc3\xa9", 0, "byte fallback", 258, 259, 2 + 0xC3, 2 + 0xA9, 2 + 0xC3, 2 + 0xA9, 1);
        mg_tokenizer_free(t);
    }
    free(trainer.d);
    free(m.d);
}

/* ---- 3. malformed models ----------------------------------------------------------------- */

static void expect_load_error(const void *data, size_t n, int extra_ids, mg_status want, const char *what) {
    mg_tokenizer *t = NULL;
    mg_status st = mg_tokenizer_load(data, n, "bad.model", extra_ids, &t);
    CHECK(st == want && t == NULL, "%s: got %s (%s), want %s", what, mg_status_string(st), mg_last_error(),
          mg_status_string(want));
    CHECK(st == MG_OK || strstr(mg_last_error(), "bad.model"), "%s: message does not name the file: %s", what,
          mg_last_error());
    mg_tokenizer_free(t);
}

static void test_crafted_errors(void) {
    expect_load_error("", 0, 100, MG_ERR_FORMAT, "empty");
    expect_load_error("\x0a\xff", 2, 100, MG_ERR_FORMAT, "length past the end");
    expect_load_error("\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 12, 100, MG_ERR_FORMAT, "11-byte varint");
    expect_load_error("\x02\x00", 2, 100, MG_ERR_FORMAT, "field number 0");
    expect_load_error("\x0b\x0c", 2, 100, MG_ERR_FORMAT, "group");
    expect_load_error("\x15\x01\x02", 3, 100, MG_ERR_FORMAT, "truncated fixed32");
    expect_load_error("\x19\x01\x02\x03", 4, 100, MG_ERR_FORMAT, "truncated fixed64");
    expect_load_error("\x0f", 1, 100, MG_ERR_FORMAT, "wire type 7");

    pbuf m = {0};
    pb_piece(&m, "</s>", 0, CONTROL);
    pb_piece(&m, "a", -1, NORMAL);
    expect_load_error(m.d, m.n, 100, MG_ERR_FORMAT, "no <unk>");
    pb_piece(&m, "<unk>", 0, UNKNOWN);
    pbuf ok = {0};
    pb_raw(&ok, m.d, m.n);
    {
        mg_tokenizer *t = NULL;
        CHECK_OK(mg_tokenizer_load(ok.d, ok.n, "ok.model", 100, &t));
        mg_tokenizer_free(t);
    }
    expect_load_error(ok.d, ok.n, -1, MG_ERR_INVALID_ARG, "negative extra_ids");
    expect_load_error(ok.d, ok.n, MG_TOKENIZER_MAX_EXTRA_IDS + 1, MG_ERR_INVALID_ARG, "huge extra_ids");

    pbuf v = {0};
    pb_raw(&v, ok.d, ok.n);
    pb_piece(&v, "<unk>", 0, UNKNOWN);
    expect_load_error(v.d, v.n, 100, MG_ERR_FORMAT, "two <unk>");
    v.n = 0;
    pb_raw(&v, ok.d, ok.n);
    pb_piece(&v, "a", -2, NORMAL);
    expect_load_error(v.d, v.n, 100, MG_ERR_FORMAT, "duplicate piece");
    v.n = 0;
    pb_raw(&v, ok.d, ok.n);
    pb_piece(&v, "", -2, NORMAL);
    expect_load_error(v.d, v.n, 100, MG_ERR_FORMAT, "empty piece");
    v.n = 0;
    pb_raw(&v, ok.d, ok.n);
    pb_piece(&v, "<0x41>", 0, BYTE);
    expect_load_error(v.d, v.n, 100, MG_ERR_FORMAT, "byte piece without byte_fallback");
    v.n = 0;
    pb_raw(&v, ok.d, ok.n);
    {
        pbuf tr = {0};
        pb_uint(&tr, 35, 1);
        pb_len(&v, 2, tr.d, tr.n);
        expect_load_error(v.d, v.n, 100, MG_ERR_FORMAT, "byte_fallback without byte pieces");
        tr.n = 0;
        pb_uint(&tr, 3, 2); /* BPE */
        v.n = 0;
        pb_raw(&v, ok.d, ok.n);
        pb_len(&v, 2, tr.d, tr.n);
        expect_load_error(v.d, v.n, 100, MG_ERR_UNSUPPORTED, "BPE model");
        free(tr.d);
    }
    {
        pbuf ns = {0};
        pb_len(&ns, 2, "\x01\x02\x03", 3);
        v.n = 0;
        pb_raw(&v, ok.d, ok.n);
        pb_len(&v, 3, ns.d, ns.n);
        expect_load_error(v.d, v.n, 100, MG_ERR_FORMAT, "charsmap of 3 bytes");
        ns.n = 0;
        pb_len(&ns, 2, "\xff\x00\x00\x00\x01\x02\x03\x04", 8);
        v.n = 0;
        pb_raw(&v, ok.d, ok.n);
        pb_len(&v, 3, ns.d, ns.n);
        expect_load_error(v.d, v.n, 100, MG_ERR_FORMAT, "charsmap trie larger than its blob");
        free(ns.d);
    }
    /* No </s>: not a T5 tokenizer. */
    v.n = 0;
    pb_piece(&v, "<unk>", 0, UNKNOWN);
    pb_piece(&v, "a", -1, NORMAL);
    expect_load_error(v.d, v.n, 100, MG_ERR_UNSUPPORTED, "no </s>");
    /* Only control pieces. */
    v.n = 0;
    pb_piece(&v, "<unk>", 0, UNKNOWN);
    pb_piece(&v, "</s>", 0, CONTROL);
    expect_load_error(v.d, v.n, 100, MG_ERR_FORMAT, "no normal pieces");
    free(v.d);
    free(ok.d);
    free(m.d);
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Load must fail with a message or succeed and still encode; never crash. */
static int try_load(const uint8_t *d, size_t n) {
    mg_tokenizer *t = NULL;
    mg_status st = mg_tokenizer_load(d, n, "fuzzed.model", 100, &t);
    if (st != MG_OK) {
        CHECK(t == NULL && mg_last_error()[0], "failed load left a tokenizer or no message");
        return 0;
    }
    int32_t *ids = NULL;
    int nids = 0;
    static const char text[] = "Lo-Fi <extra_id_1> caf\xc3\xa9 \xef\xbd\x86 \xf0\x9f\x8e\xb8 \xff end";
    CHECK_OK(mg_tokenizer_encode(t, text, sizeof text - 1, &ids, &nids));
    CHECK(nids >= 1 && ids[nids - 1] == mg_tokenizer_eos_id(t), "encode after fuzzed load");
    free(ids);
    mg_tokenizer_free(t);
    return 1;
}

static void test_malformed_real_model(void) {
    char *data = NULL;
    size_t size = 0;
    CHECK_OK(mg_file_read_all(test_ref_path("tiny-mono/spiece.model"), &data, &size));
    if (!data)
        return;
    const uint8_t *d = (const uint8_t *)data;
    int loaded = 0, tried = 0;
    /* Truncations: every length up to 300, then 300 spread over the file. */
    for (size_t n = 0; n < 300 && n < size; n++, tried++)
        loaded += try_load(d, n);
    for (int k = 0; k < 300; k++, tried++)
        loaded += try_load(d, size * (size_t)k / 300 + (size_t)k % 7);
    /* Bit flips and overwritten bytes. */
    uint8_t *copy = malloc(size);
    uint64_t s = 0x9E3779B97F4A7C15ULL;
    for (int k = 0; k < 300; k++, tried++) {
        memcpy(copy, d, size);
        int edits = 1 + (int)(rng_next(&s) % 4);
        for (int e = 0; e < edits; e++) {
            size_t pos = (size_t)(rng_next(&s) % size);
            if (k % 3 == 0 && pos > 200000)
                pos %= 4096; /* focus on the header and the first pieces too */
            copy[pos] = (k & 1) ? (uint8_t)(copy[pos] ^ (1u << (rng_next(&s) % 8))) : (uint8_t)rng_next(&s);
        }
        loaded += try_load(copy, size);
    }
    /* Random garbage. */
    for (int k = 0; k < 300; k++, tried++) {
        size_t n = (size_t)(rng_next(&s) % 512);
        for (size_t i = 0; i < n; i++)
            copy[i] = (uint8_t)rng_next(&s);
        loaded += try_load(copy, n);
    }
    printf("  malformed models: %d inputs tried, %d loaded (and encoded), %d rejected cleanly\n", tried, loaded,
           tried - loaded);
    free(copy);
    free(data);
}

/* ---- 4. long prompt ------------------------------------------------------------------------ */

static void test_long_prompt(void) {
    char *data = NULL;
    size_t size = 0;
    CHECK_OK(mg_file_read_all(test_ref_path("tiny-mono/spiece.model"), &data, &size));
    mg_tokenizer *t = NULL;
    CHECK_OK(mg_tokenizer_load((const uint8_t *)data, size, "spiece.model", 100, &t));
    free(data);
    if (!t)
        return;
    static const char *words[] = {"lo-fi ", "hip hop ", "caf\xc3\xa9 ", "\xef\xbd\x86\xef\xbd\x95\xef\xbd\x8c\xef\xbd\x8c ",
                                  "\xf0\x9f\x8e\xb8", "drums,  ", "\t", "xxxxxxxx", "\xe6\x97\xa5\xe6\x9c\xac "};
    size_t cap = 100 * 1024;
    char *text = malloc(cap + 64);
    size_t n = 0;
    uint64_t s = 12345;
    while (n < cap) {
        const char *w = words[rng_next(&s) % (sizeof words / sizeof words[0])];
        size_t l = strlen(w);
        memcpy(text + n, w, l);
        n += l;
    }
    int32_t *ids = NULL;
    int nids = 0;
    double t0 = mg_time_now();
    CHECK_OK(mg_tokenizer_encode(t, text, n, &ids, &nids));
    double dt = mg_time_now() - t0;
    printf("  long prompt: %zu bytes -> %d ids in %.1f ms\n", n, nids, dt * 1e3);
    CHECK(nids > 10000 && ids[nids - 1] == 1, "long prompt ids");
    free(ids);
    free(text);
    mg_tokenizer_free(t);
}

int main(void) {
    printf("tokenizer golden tests (%s)\n", test_ref_path("tokenizer_golden.json"));
    test_fixtures();
    test_small_model();
    test_byte_fallback();
    test_crafted_errors();
    test_malformed_real_model();
    test_long_prompt();
    return test_finish("test_tokenizer");
}
