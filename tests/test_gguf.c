/* test_gguf.c — tests of GGUF model files (src/io/gguf.c, src/io/gguf_write.c):
 *
 *  - every fixture converted to each type (f32, f16, bf16, q8_0, q4_0; with small
 *    matrices quantized too, as --pure does, so the block formats meet them), reopened
 *    through mg_checkpoint_open, and compared tensor by tensor with the source:
 *    the format each tensor got (mg_gguf_pick_type), its shape, its bytes (exactly
 *    what mg_row_from_f32 makes of the source), its values within the format's
 *    tolerance (printed), zero-copy alignment inside the mapping; EnCodec weight
 *    norms folded (checked against the golden encodec.enc_conv0_weight_folded);
 *    config, generation config and tokenizer bytes carried over;
 *  - GGUF -> GGUF conversion (same type: identical tensors; q8_0 -> f32);
 *  - the small-matrix rule (mg_matrix_format, mg_text_matrix_format) and the
 *    embedding rule: without --pure every tensor of a fixture (all small, all f32)
 *    stays f32 in a q8_0 / q4_0 file, bytes identical to the source's;
 *  - tensor-name abbreviation round trips;
 *  - malformed files fail cleanly with a message naming the file: a hand-built
 *    GGUF with one defect at a time (bad magic / version, absurd counts, oversized
 *    strings and arrays, nested arrays, duplicate keys, bad alignment, n_dims, zero
 *    dims, unknown and unsupported type ids, ragged block rows, misaligned /
 *    overlapping / out-of-range offsets, a hole left by a tensor retyped to a smaller
 *    type, NUL in names, truncation at every byte),
 *    truncations and random byte flips of a real converted model (run under ASan in
 *    the sanitizer build), and missing MusicGen keys;
 *  - the writer refuses to overwrite and leaves no partial file.
 */
#include "test.h"
#include "base/file.h"
#include "base/rng.h"
#include "io/checkpoint.h"
#include "io/gguf.h"

#include <dirent.h>
#include <sys/stat.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[64];

static const char *tmp_path(const char *name) {
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

static const mg_dtype all_types[] = {MG_DT_F32, MG_DT_F16, MG_DT_BF16, MG_DT_Q8_0, MG_DT_Q4_0};

/* Largest error a format may add, relative to the largest |value| of a row. */
static double format_tolerance(mg_dtype t) {
    switch (t) {
    case MG_DT_F32: return 0.0;
    case MG_DT_F16: return 1.0e-3;
    case MG_DT_BF16: return 8.0e-3;
    case MG_DT_Q8_0:
    case MG_DT_Q8_0X16: return 1.0e-2;
    case MG_DT_Q4_0:
    case MG_DT_Q4_0X16: return 1.6e-1;
    default: return 0.0;
    }
}

static float *to_f32(const mg_tensor *t) {
    int64_t n = mg_tensor_numel(t);
    float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
    int64_t cols = t->ndim ? t->shape[t->ndim - 1] : 1;
    for (int64_t r = 0; r < n / cols; r++)
        mg_matrix_row_to_f32(t->dtype, t->data, r, f + r * cols, cols);
    return f;
}

/* The bytes the converter must have produced: source rows -> f32 -> dtype. */
static uint8_t *expected_bytes(const mg_tensor *src, mg_dtype dt, size_t *n) {
    int64_t cols = src->ndim ? src->shape[src->ndim - 1] : 1, rows = mg_tensor_numel(src) / cols;
    size_t rb = mg_dtype_row_bytes(dt, cols);
    uint8_t *out = malloc(rb * (size_t)rows);
    float *f = to_f32(src);
    mg_matrix_from_f32(dt, f, out, rows, cols);
    free(f);
    *n = rb * (size_t)rows;
    return out;
}

static int shape_equal(const mg_tensor *a, const mg_tensor *b) {
    if (a->ndim != b->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return 0;
    return 1;
}

static int inside_mapping(const mg_store *s, const void *p, size_t n) {
    for (int i = 0; i < s->n_files; i++) {
        const uint8_t *b = s->files[i].data;
        if ((const uint8_t *)p >= b && (const uint8_t *)p + n <= b + s->files[i].size)
            return 1;
    }
    return 0;
}

/* Compare one plain (not weight-norm) source tensor with its GGUF counterpart. */
static void compare_plain(mg_checkpoint *src, mg_checkpoint *gg, const mg_store_entry *e, mg_dtype want, int verbose) {
    mg_store_entry *g = mg_store_find(&gg->store, e->name);
    CHECK(g != NULL, "tensor %s missing from the GGUF", e->name);
    if (!g)
        return;
    mg_dtype dt = mg_gguf_pick_type(e->name, e->t.ndim, e->t.shape, e->t.dtype, want, 1);
    CHECK(g->t.dtype == dt, "%s: stored as %s, expected %s", e->name, mg_dtype_name(g->t.dtype), mg_dtype_name(dt));
    CHECK(shape_equal(&g->t, &e->t), "%s: shape differs", e->name);
    CHECK(inside_mapping(&gg->store, g->t.data, g->t.nbytes) && ((uintptr_t)g->t.data % 32) == 0,
          "%s: not a 32-byte aligned view into the mapped GGUF", e->name);
    if (g->t.dtype != dt || !shape_equal(&g->t, &e->t))
        return;
    size_t n;
    uint8_t *want_bytes = expected_bytes(&e->t, dt, &n);
    CHECK(n == g->t.nbytes && !memcmp(want_bytes, g->t.data, n), "%s: bytes differ from mg_matrix_from_f32(%s)", e->name,
          mg_dtype_name(dt));
    free(want_bytes);
    float *a = to_f32(&g->t), *b = to_f32(&e->t);
    int64_t cnt = mg_tensor_numel(&e->t);
    double amax = 0;
    for (int64_t i = 0; i < cnt; i++)
        amax = fmax(amax, fabs(b[i]));
    double tol = format_tolerance(dt) * amax;
    if (verbose || dt != MG_DT_F32) {
        char label[128];
        snprintf(label, sizeof label, "%s [%s]", e->name + (strlen(e->name) > 34 ? strlen(e->name) - 34 : 0),
                 mg_dtype_name(dt));
        test_compare_f32(label, a, b, cnt, tol);
    } else {
        CHECK(!memcmp(a, b, (size_t)cnt * 4), "%s: f32 values differ", e->name);
    }
    free(a);
    free(b);
    (void)src;
}

/* weight_g / weight_v pairs become one folded .weight (f32). */
static void compare_folded(mg_checkpoint *src, mg_checkpoint *gg, const mg_store_entry *v) {
    char prefix[512], name[540];
    size_t plen = strlen(v->name) - strlen(".weight_v");
    memcpy(prefix, v->name, plen);
    prefix[plen] = 0;
    snprintf(name, sizeof name, "%s.weight", prefix);
    mg_store_entry *g = mg_store_find(&gg->store, name);
    CHECK(g && g->t.dtype == MG_DT_F32 && shape_equal(&g->t, &v->t), "folded %s missing or wrong", name);
    snprintf(name, sizeof name, "%s.weight_g", prefix);
    CHECK(!mg_store_has(&gg->store, name), "%s should not be in the GGUF", name);
    CHECK(!mg_store_has(&gg->store, v->name), "%s should not be in the GGUF", v->name);
    if (!g)
        return;
    const float *w;
    mg_arena_mark m = mg_arena_save(&src->store.arena);
    CHECK_OK(mg_store_get_weight_norm(&src->store, prefix, v->t.ndim, v->t.shape, &w));
    CHECK(!memcmp(w, g->t.data, g->t.nbytes), "%s: folded weight differs", prefix);
    mg_arena_restore(&src->store.arena, m);
}

static mg_status convert_threads(mg_checkpoint *ck, const char *out, mg_dtype t, int overwrite, int threads) {
    mg_gguf_convert_params p = {t, overwrite, NULL, NULL, threads, .quantize_small = 1};
    int64_t bytes = 0;
    mg_status st = mg_gguf_write_checkpoint(ck, out, &p, &bytes);
    if (st == MG_OK)
        CHECK(bytes > 0, "reported size");
    return st;
}

static mg_status convert(mg_checkpoint *ck, const char *out, mg_dtype t, int overwrite) {
    return convert_threads(ck, out, t, overwrite, 3);
}

/* The same file whatever the number of threads converting (rows are split in fixed
 * chunks: the embeddings and lm heads span several). The other file was written with
 * 3 threads asked for: all cores, at most 3 (the writer caps at the core count). */
static void check_thread_count_invariance(mg_checkpoint *src, const char *path, const char *fixture, mg_dtype t) {
    char name[96];
    snprintf(name, sizeof name, "%s-%s-1thread.gguf", fixture, mg_dtype_name(t));
    CHECK_OK(convert_threads(src, tmp_path(name), t, 0, 1));
    mg_mapped_file a, b;
    if (mg_file_map(path, &a) == MG_OK && mg_file_map(tmp_path(name), &b) == MG_OK) {
        CHECK(a.size == b.size && !memcmp(a.data, b.data, a.size), "%s: 1 thread and all cores wrote different files",
              mg_dtype_name(t));
        mg_file_unmap(&a);
        mg_file_unmap(&b);
    } else {
        CHECK(0, "map %s outputs", mg_dtype_name(t));
    }
    unlink(tmp_path(name));
}

/* Without --pure, matrices under MG_SMALL_MATRIX_VALUES and the embedding tables stay
 * f32 in a q8_0 / q4_0 file: on a fixture that is every tensor, so its default q8_0
 * file holds its f32 model (the rules' own cases are checked first, so a change of
 * the threshold shows here). */
static void check_small_matrix_rule(mg_checkpoint *src, const char *fixture) {
    CHECK(mg_matrix_format(MG_DT_Q8_0, 1024, 1024, 0) == MG_DT_Q8_0X16, "musicgen-small's smallest matrix is quantized");
    CHECK(mg_matrix_format(MG_DT_Q4_0, 2048, 1536, 0) == MG_DT_Q4_0X16, "a medium lm_head is quantized");
    CHECK(mg_matrix_format(MG_DT_Q8_0, 256, 1024, 0) == MG_DT_Q8_0X16, "2^18 values: quantized");
    CHECK(mg_matrix_format(MG_DT_Q8_0, 255, 1024, 0) == MG_DT_F32, "under 2^18 values: f32");
    CHECK(mg_matrix_format(MG_DT_Q8_0, 255, 1024, 1) == MG_DT_Q8_0, "--pure: quantized (255 rows: no 16-row groups)");
    CHECK(mg_matrix_format(MG_DT_Q4_0, 64, 64, 1) == MG_DT_Q4_0X16, "--pure: small q4_0 in groups");
    CHECK(mg_matrix_format(MG_DT_Q8_0, 4096, 48, 1) == MG_DT_F16, "rows of 48: f16 even with --pure");
    CHECK(mg_matrix_format(MG_DT_Q8_0, 48, 48, 0) == MG_DT_F32, "small rows of 48: f32");
    CHECK(mg_matrix_format(MG_DT_Q8_0X16, 64, 64, 0) == MG_DT_F32, "a grouped format asked for: same rule");
    CHECK(mg_matrix_format(MG_DT_BF16, 8, 8, 0) == MG_DT_BF16 && mg_matrix_format(MG_DT_F32, 8, 8, 0) == MG_DT_F32,
          "float formats are kept");
    CHECK(mg_text_matrix_format(MG_DT_Q8_0, 768, 768, 0) == MG_DT_F16, "T5-base's matrices: f16 in q8_0");
    CHECK(mg_text_matrix_format(MG_DT_Q4_0, 32, 64, 0) == MG_DT_F32, "small T5 matrices: f32 in q4_0");
    CHECK(mg_text_matrix_format(MG_DT_Q4_0, 32, 64, 1) == MG_DT_F16, "small T5 matrices, --pure: f16");
    CHECK(mg_text_matrix_format(MG_DT_F16, 32, 64, 0) == MG_DT_F16 &&
              mg_text_matrix_format(MG_DT_BF16, 768, 768, 0) == MG_DT_F16 &&
              mg_text_matrix_format(MG_DT_F32, 768, 768, 0) == MG_DT_F32 &&
              mg_text_matrix_format(MG_DT_COUNT, 8, 8, 0) == MG_DT_COUNT,
          "T5 in float formats: f32 for f32, else f16; 'as stored' passes");
    int64_t emb[2] = {32128, 768}, dec_emb[2] = {2049, 1024}, small_emb[2] = {65, 48};
    const char *dec_name = "decoder.model.decoder.embed_tokens.0.weight";
    CHECK(mg_gguf_pick_type("text_encoder.shared.weight", 2, emb, MG_DT_F32, MG_DT_Q8_0, 0) == MG_DT_F32 &&
              mg_gguf_pick_type("text_encoder.shared.weight", 2, emb, MG_DT_BF16, MG_DT_Q4_0, 1) == MG_DT_BF16 &&
              mg_gguf_pick_type("text_encoder.shared.weight", 2, emb, MG_DT_F32, MG_DT_F16, 0) == MG_DT_F16,
          "T5's embeddings: stored float format in block formats, the format asked for otherwise");
    CHECK(mg_gguf_pick_type(dec_name, 2, dec_emb, MG_DT_F32, MG_DT_Q8_0, 0) == MG_DT_F16 &&
              mg_gguf_pick_type(dec_name, 2, small_emb, MG_DT_F32, MG_DT_Q8_0, 0) == MG_DT_F32 &&
              mg_gguf_pick_type(dec_name, 2, small_emb, MG_DT_F32, MG_DT_Q8_0, 1) == MG_DT_F16 &&
              mg_gguf_pick_type(dec_name, 2, small_emb, MG_DT_F32, MG_DT_BF16, 0) == MG_DT_BF16,
          "decoder embeddings: f16 in block formats unless small");
    const mg_dtype types[] = {MG_DT_Q8_0, MG_DT_Q4_0};
    for (int ti = 0; ti < 2; ti++) {
        char name[96];
        snprintf(name, sizeof name, "%s-%s-default.gguf", fixture, mg_dtype_name(types[ti]));
        mg_gguf_convert_params p = {types[ti], 0, NULL, NULL, 2, .quantize_small = 0};
        int64_t bytes;
        CHECK_OK(mg_gguf_write_checkpoint(src, tmp_path(name), &p, &bytes));
        mg_checkpoint gg;
        if (mg_checkpoint_open(tmp_path(name), &gg) != MG_OK) {
            CHECK(0, "reopen %s: %s", name, mg_last_error());
            continue;
        }
        int n_dec = 0, n_same = 0, n_ok = 0, n_found = 0;
        for (int i = 0; i < src->store.n_entries; i++) {
            const mg_store_entry *e = &src->store.entries[i];
            mg_store_entry *g = mg_store_find(&gg.store, e->name);
            if (!g) /* weight_g / weight_v: folded (checked above) */
                continue;
            n_found++;
            mg_dtype dt = mg_gguf_pick_type(e->name, e->t.ndim, e->t.shape, e->t.dtype, types[ti], 0);
            n_ok += g->t.dtype == dt;
            n_dec += mg_gguf_is_weight_matrix(e->name) && !strncmp(e->name, "decoder.", 8);
            n_same += e->t.dtype == MG_DT_F32 && g->t.dtype == MG_DT_F32 && g->t.nbytes == e->t.nbytes &&
                      !memcmp(g->t.data, e->t.data, e->t.nbytes);
            CHECK(g->t.dtype == MG_DT_F32, "%s: %s in a fixture's default %s file, expected f32", e->name,
                  mg_dtype_name(g->t.dtype), mg_dtype_name(types[ti]));
        }
        CHECK(n_found > 0 && n_ok == n_found, "%s: %d of %d tensors in mg_gguf_pick_type's format", name, n_ok, n_found);
        CHECK(n_dec > 0 && n_same == n_found, "%s: %d of %d tensors f32 and identical to the source", name, n_same,
              n_found);
        mg_checkpoint_close(&gg);
        unlink(tmp_path(name));
    }
}

static void check_fixture(const char *fixture) {
    printf("%s\n", fixture);
    mg_checkpoint src;
    mg_status open_st = mg_checkpoint_open(test_ref_path(fixture), &src);
    CHECK_OK(open_st);
    if (open_st != MG_OK)
        return;
    test_golden gold;
    int have_gold = test_golden_open(&gold, fixture);
    for (size_t ti = 0; ti < sizeof all_types / sizeof all_types[0]; ti++) {
        mg_dtype t = all_types[ti];
        char fname[64];
        snprintf(fname, sizeof fname, "%s-%s.gguf", fixture, mg_dtype_name(t));
        char path[256];
        snprintf(path, sizeof path, "%s", tmp_path(fname));
        CHECK_OK(convert(&src, path, t, 0));
        check_thread_count_invariance(&src, path, fixture, t);
        mg_checkpoint gg;
        mg_status st = mg_checkpoint_open(path, &gg);
        CHECK_OK(st);
        if (st != MG_OK)
            continue;
        CHECK(gg.is_gguf == 1 && gg.n_weight_files == 1, "opened as GGUF");
        CHECK(!memcmp(&gg.cfg, &src.cfg, sizeof gg.cfg), "config (incl. generation config) carried over");
        CHECK(gg.spiece_size == src.spiece_size && !memcmp(gg.spiece, src.spiece, src.spiece_size),
              "tokenizer bytes carried over");
        int n_g = 0;
        for (int i = 0; i < src.store.n_entries; i++) {
            const mg_store_entry *e = &src.store.entries[i];
            if (mg_str_ends_with(e->name, ".weight_g"))
                n_g++;
            else if (mg_str_ends_with(e->name, ".weight_v"))
                compare_folded(&src, &gg, e);
            else
                compare_plain(&src, &gg, e, t, 0);
        }
        CHECK(gg.store.n_entries == src.store.n_entries - n_g, "%d tensors in the GGUF, expected %d", gg.store.n_entries,
              src.store.n_entries - n_g);
        if (have_gold && t == MG_DT_F32) {
            /* The folded first encoder conv against the reference's folding. */
            mg_store_entry *w = mg_store_find(&gg.store, "audio_encoder.encoder.layers.0.conv.weight");
            const mg_tensor *want = test_golden_get(&gold, "encodec.enc_conv0_weight_folded");
            CHECK(w && mg_tensor_numel(&w->t) == mg_tensor_numel(want), "folded conv0 present");
            if (w && mg_tensor_numel(&w->t) == mg_tensor_numel(want))
                test_compare_f32("encodec.enc_conv0_weight_folded", w->t.data, want->data, mg_tensor_numel(want), 1e-6);
        }
        /* GGUF -> GGUF in the same type keeps every tensor's bytes. */
        char again[80];
        snprintf(again, sizeof again, "%s-%s-again.gguf", fixture, mg_dtype_name(t));
        CHECK_OK(convert(&gg, tmp_path(again), t, 0));
        mg_checkpoint g2;
        if (mg_checkpoint_open(tmp_path(again), &g2) == MG_OK) {
            int same = g2.store.n_entries == gg.store.n_entries;
            for (int i = 0; i < gg.store.n_entries && same; i++) {
                mg_store_entry *a = &gg.store.entries[i], *b = mg_store_find(&g2.store, a->name);
                same = b && b->t.dtype == a->t.dtype && b->t.nbytes == a->t.nbytes &&
                       !memcmp(a->t.data, b->t.data, a->t.nbytes) && shape_equal(&a->t, &b->t);
            }
            CHECK(same, "GGUF -> GGUF (%s) changed a tensor", mg_dtype_name(t));
            CHECK(!memcmp(&g2.cfg, &src.cfg, sizeof g2.cfg) && g2.spiece_size == src.spiece_size,
                  "metadata survives GGUF -> GGUF");
            mg_checkpoint_close(&g2);
        } else {
            CHECK(0, "reopen %s: %s", again, mg_last_error());
        }
        unlink(tmp_path(again));
        /* q8_0 GGUF -> f32: values are the dequantized q8_0 values. */
        if (t == MG_DT_Q8_0) {
            snprintf(again, sizeof again, "%s-q8_0-to-f32.gguf", fixture);
            CHECK_OK(convert(&gg, tmp_path(again), MG_DT_F32, 0));
            if (mg_checkpoint_open(tmp_path(again), &g2) == MG_OK) {
                int ok = 1;
                for (int i = 0; i < gg.store.n_entries && ok; i++) {
                    mg_store_entry *a = &gg.store.entries[i], *b = mg_store_find(&g2.store, a->name);
                    ok = b && b->t.dtype == MG_DT_F32;
                    if (ok) {
                        float *fa = to_f32(&a->t);
                        ok = !memcmp(fa, b->t.data, b->t.nbytes);
                        free(fa);
                    }
                }
                CHECK(ok, "q8_0 GGUF -> f32 GGUF holds the dequantized values");
                mg_checkpoint_close(&g2);
            }
            unlink(tmp_path(again));
        }
        mg_checkpoint_close(&gg);
        /* No overwrite without permission, and the file stays as it was. */
        mg_mapped_file before;
        CHECK_OK(mg_file_map(path, &before));
        st = convert(&src, path, t == MG_DT_F32 ? MG_DT_Q4_0 : MG_DT_F32, 0);
        CHECK(st == MG_ERR_EXISTS, "existing output refused (got %s)", mg_status_string(st));
        mg_mapped_file after;
        CHECK_OK(mg_file_map(path, &after));
        CHECK(before.size == after.size && !memcmp(before.data, after.data, before.size), "existing output untouched");
        mg_file_unmap(&before);
        mg_file_unmap(&after);
        unlink(path);
    }
    check_small_matrix_rule(&src, fixture);
    if (have_gold)
        test_golden_close(&gold);
    mg_checkpoint_close(&src);
}

/* ---- names ---------------------------------------------------------------------------- */

static void check_names(void) {
    static const char *names[] = {
        "text_encoder.encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
        "text_encoder.encoder.block.1023.layer.1.DenseReluDense.wo.weight",
        "decoder.model.decoder.layers.1023.encoder_attn_layer_norm.weight",
        "decoder.model.decoder.layers.1023.encoder_attn.out_proj.weight",
        "text_encoder.encoder.block.11.layer.0.SelfAttention.q.weight",
        "audio_encoder.quantizer.layers.3.codebook.embed_avg",
        "x",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char stored[128], back[256];
        int ok = mg_gguf_name_from_hf(names[i], stored, sizeof stored);
        CHECK(ok && strlen(stored) <= MG_GGUF_MAX_NAME, "%s stores within 63 bytes", names[i]);
        CHECK(ok && mg_gguf_name_to_hf(stored, back, sizeof back) && !strcmp(back, names[i]), "%s round trips", names[i]);
        if (strlen(names[i]) <= MG_GGUF_MAX_NAME)
            CHECK(ok && !strcmp(stored, names[i]), "short name %s is stored unchanged", names[i]);
    }
    char stored[128];
    CHECK(!mg_gguf_name_from_hf("a.rel_bias.weight", stored, sizeof stored), "a short form in a HF name is refused");
    CHECK(!mg_gguf_name_from_hf("a_very_long_component_name_that_cannot_be_abbreviated_at_all.weight", stored,
                                sizeof stored),
          "an unabbreviatable long name is refused");
}

/* ---- hand-built GGUF files -------------------------------------------------------------- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void put_le(buf *b, uint64_t v, int n) {
    uint8_t x[8];
    for (int i = 0; i < n; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    put(b, x, (size_t)n);
}
static void put_str(buf *b, const char *s) {
    put_le(b, strlen(s), 8);
    put(b, s, strlen(s));
}

/* One defect at a time; zero fields mean "valid". */
typedef struct spec {
    const char *magic;
    uint32_t version;
    uint64_t n_tensors, n_kv;       /* override the counts */
    uint32_t align_type, align_val; /* general.alignment */
    int dup_key, nested_array, huge_string, huge_array, bad_value_type;
    uint32_t n_dims_a;
    int64_t dim_a;
    uint32_t type_a, type_b;
    int b_ragged;       /* q8_0 row of 48 values */
    uint64_t off_b;     /* override offset of b */
    int nul_in_name, dup_tensor_name, zero_dim;
} spec;

/* tensors: "a" f32 [2, 32] at 0 (256 bytes), "b" q8_0 [1, 64] at 256 (68 bytes) */
static buf build(const spec *s) {
    buf b = {0};
    put(&b, s->magic ? s->magic : "GGUF", 4);
    put_le(&b, s->version ? s->version : 3, 4);
    put_le(&b, s->n_tensors ? s->n_tensors : 2, 8);
    uint64_t nkv = 3 + (s->dup_key ? 1 : 0) + (s->nested_array ? 1 : 0);
    put_le(&b, s->n_kv ? s->n_kv : nkv, 8);
    put_str(&b, "general.architecture");
    put_le(&b, MG_GGUF_STRING, 4);
    if (s->huge_string)
        put_le(&b, (uint64_t)1 << 62, 8), put(&b, "musicgen", 8);
    else
        put_str(&b, "musicgen");
    put_str(&b, "general.alignment");
    put_le(&b, s->bad_value_type ? 77 : s->align_type ? s->align_type : MG_GGUF_U32, 4);
    put_le(&b, s->align_val ? s->align_val : 32, 4);
    put_str(&b, "test.array");
    put_le(&b, MG_GGUF_ARRAY, 4);
    put_le(&b, MG_GGUF_U16, 4);
    put_le(&b, s->huge_array ? (uint64_t)1 << 61 : 3, 8);
    put_le(&b, 0x0102030405060708ull, 6);
    if (s->dup_key) {
        put_str(&b, "general.architecture");
        put_le(&b, MG_GGUF_STRING, 4);
        put_str(&b, "other");
    }
    if (s->nested_array) {
        put_str(&b, "test.nested");
        put_le(&b, MG_GGUF_ARRAY, 4);
        put_le(&b, MG_GGUF_ARRAY, 4);
        put_le(&b, 0, 8);
    }
    /* tensor a */
    if (s->nul_in_name) {
        put_le(&b, 3, 8);
        put(&b, "a\0a", 3);
    } else {
        put_str(&b, "a");
    }
    uint32_t nd = s->n_dims_a ? s->n_dims_a : 2;
    put_le(&b, nd, 4);
    for (uint32_t d = 0; d < nd && d < 8; d++) /* the reader must reject absurd counts before reading dims */
        put_le(&b, (uint64_t)(d == 0 ? (s->dim_a ? s->dim_a : 32) : d == 1 ? (s->zero_dim ? 0 : 2) : 1), 8);
    put_le(&b, s->type_a ? s->type_a : MG_GGML_TYPE_F32, 4); /* f16: half its bytes, a hole after it */
    put_le(&b, 0, 8);
    /* tensor b */
    put_str(&b, s->dup_tensor_name ? "a" : "b");
    put_le(&b, 2, 4);
    put_le(&b, s->b_ragged ? 48 : 64, 8);
    put_le(&b, 1, 8);
    put_le(&b, s->type_b ? s->type_b : MG_GGML_TYPE_Q8_0, 4);
    put_le(&b, s->off_b ? s->off_b : 256, 8);
    while (b.n % 32)
        put_le(&b, 0, 1);
    for (int i = 0; i < 256 + 68; i++)
        put_le(&b, (uint64_t)(i * 7) & 0x3F, 1);
    while (b.n % 32)
        put_le(&b, 0, 1);
    return b;
}

static mg_status read_copy(const uint8_t *p, size_t n, mg_gguf *g) {
    /* an exact-size heap copy, so ASan sees any read past the end */
    uint8_t *c = malloc(n ? n : 1);
    if (n)
        memcpy(c, p, n);
    mg_status st = mg_gguf_read(g, "synthetic.gguf", c, n);
    if (st == MG_OK)
        mg_gguf_free(g);
    free(c);
    return st;
}

static void expect_fail(const char *what, const spec *s) {
    buf b = build(s);
    mg_gguf g;
    mg_status st = read_copy(b.p, b.n, &g);
    CHECK(st != MG_OK, "%s: accepted", what);
    CHECK(st == MG_OK || strstr(mg_last_error(), "synthetic.gguf"), "%s: message does not name the file: %s", what,
          mg_last_error());
    if (st != MG_OK)
        printf("  rejected %-26s %s\n", what, mg_last_error());
    free(b.p);
}

static void check_synthetic(void) {
    spec ok = {0};
    buf b = build(&ok);
    mg_gguf g;
    uint8_t *c = malloc(b.n);
    memcpy(c, b.p, b.n);
    CHECK_OK(mg_gguf_read(&g, "synthetic.gguf", c, b.n));
    if (g.n_tensors == 2) {
        CHECK(g.alignment == 32 && g.n_kv == 3, "alignment %u, %lld keys", g.alignment, (long long)g.n_kv);
        CHECK(g.tensors[1].nbytes == 68 && g.tensors[1].ne[0] == 64 && g.tensors[0].ne[1] == 2, "tensor sizes");
        const mg_gguf_kv *arr = mg_gguf_find(&g, "test.array");
        CHECK(arr && arr->type == MG_GGUF_ARRAY && arr->arr_type == MG_GGUF_U16 && arr->n == 3, "array read");
        mg_gguf_free(&g);
    }
    free(c);
    /* every truncation fails (the last 28 bytes are padding after the last tensor) */
    size_t need_len = b.n - 28;
    int all_fail = 1;
    for (size_t n = 0; n < need_len; n++)
        all_fail &= read_copy(b.p, n, &g) != MG_OK;
    CHECK(all_fail, "every truncation below %zu bytes fails", need_len);
    free(b.p);

    spec s;
#define FAULT(label, field, value) \
    s = ok;                        \
    s.field = value;               \
    expect_fail(label, &s)
    FAULT("bad magic", magic, "GGUG");
    FAULT("version 2", version, 2);
    FAULT("version 0xffffffff", version, 0xFFFFFFFFu);
    FAULT("absurd tensor count", n_tensors, (uint64_t)1 << 62);
    FAULT("absurd kv count", n_kv, (uint64_t)1 << 40);
    FAULT("too few kv", n_kv, 2);
    FAULT("huge string", huge_string, 1);
    FAULT("huge array", huge_array, 1);
    FAULT("nested array", nested_array, 1);
    FAULT("unknown value type", bad_value_type, 1);
    FAULT("duplicate key", dup_key, 1);
    FAULT("alignment 3", align_val, 3);
    FAULT("alignment as u64", align_type, MG_GGUF_U64);
    FAULT("alignment as string", align_type, MG_GGUF_STRING);
    FAULT("5 dims", n_dims_a, 5);
    FAULT("4 billion dims", n_dims_a, 0xFFFFFFFFu);
    FAULT("negative dimension", dim_a, -1);
    FAULT("zero dimension", zero_dim, 1);
    FAULT("dimension product overflow", dim_a, (int64_t)1 << 61);
    FAULT("unknown type id", type_b, 99);
    FAULT("unsupported q4_1", type_b, 3);
    FAULT("removed type id 4", type_b, 4);
    FAULT("ragged q8_0 rows", b_ragged, 1);
    FAULT("misaligned offset", off_b, 257);
    FAULT("overlapping offsets", off_b, 224);
    FAULT("offset past the end", off_b, 4096);
    FAULT("offset overflow", off_b, 0xFFFFFFFFFFFFFFE0ull);
    FAULT("NUL in a name", nul_in_name, 1);
    FAULT("hole after a tensor (f32 -> f16)", type_a, MG_GGML_TYPE_F16);
#undef FAULT
    /* alignment 0 needs an explicit spec (0 means "default" in the builder) */
    buf z = build(&ok);
    /* patch general.alignment's value: find the key and overwrite the u32 after its type */
    for (size_t i = 0; i + 17 < z.n; i++)
        if (!memcmp(z.p + i, "general.alignment", 17)) {
            memset(z.p + i + 17 + 4, 0, 4);
            break;
        }
    CHECK(read_copy(z.p, z.n, &g) != MG_OK, "alignment 0 rejected");
    free(z.p);
    /* a duplicate tensor name passes the reader but not the checkpoint loader */
    s = ok;
    s.dup_tensor_name = 1;
    b = build(&s);
    mg_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    mg_store_init(&ck.store);
    CHECK(mg_gguf_parse_checkpoint(&ck, "synthetic.gguf", b.p, b.n, -1) != MG_OK, "duplicate tensor name / no config rejected");
    mg_checkpoint_close(&ck);
    free(b.p);
}

/* ---- a real converted model, damaged ---------------------------------------------------- */

static mg_status parse_model_copy(const uint8_t *p, size_t n) {
    uint8_t *c = malloc(n ? n : 1);
    if (n)
        memcpy(c, p, n);
    mg_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    mg_store_init(&ck.store);
    mg_status st = mg_gguf_parse_checkpoint(&ck, "damaged.gguf", c, n, -1);
    mg_checkpoint_close(&ck);
    free(c);
    return st;
}

/* Rewrite a valid model with one metadata key removed or replaced. */
static void check_model_keys(mg_checkpoint *src) {
    struct {
        const char *what, *key, *value;
        size_t len;           /* of value (0: strlen) */
        const char *message; /* what the error must show, or NULL */
    } cases[] = {{"no architecture", "general.architecture", NULL, 0, NULL},
                 {"other architecture", "general.architecture", "llama", 0, "\"llama\""},
                 {"architecture with a NUL byte", "general.architecture", "musicgen\0x", 10, "\"musicgen\\x00x\""},
                 {"no config", "musicgen.config_json", NULL, 0, NULL},
                 {"broken config", "musicgen.config_json", "{\"model_type\": \"musicgen\"", 0, NULL},
                 {"config of another model", "musicgen.config_json", "{\"model_type\": \"bert\"}", 0, NULL},
                 {"broken generation config", "musicgen.generation_config_json", "[1, 2", 0, NULL},
                 {"no tokenizer", "tokenizer.spm.model", NULL, 0, NULL}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mg_gguf_writer *w = mg_gguf_writer_new();
        const char *keys[] = {"general.architecture", "musicgen.config_json", "musicgen.generation_config_json"};
        char *cfg = mg_config_to_json(&src->cfg), *gen = mg_generation_config_to_json(&src->cfg);
        const char *vals[] = {"musicgen", cfg, gen};
        for (int k = 0; k < 3; k++) {
            int replaced = !strcmp(keys[k], cases[c].key);
            const char *v = replaced ? cases[c].value : vals[k];
            if (v)
                CHECK_OK(mg_gguf_writer_set_str(w, keys[k], v, replaced && cases[c].len ? cases[c].len : strlen(v)));
        }
        if (strcmp(cases[c].key, "tokenizer.spm.model"))
            CHECK_OK(mg_gguf_writer_set_bytes(w, "tokenizer.spm.model", src->spiece, src->spiece_size));
        int64_t shape[2] = {2, 32};
        float zeros[64] = {0};
        CHECK_OK(mg_gguf_writer_add_tensor(w, "x.weight", MG_DT_F32, 2, shape));
        CHECK_OK(mg_gguf_writer_begin(w, tmp_path("keys.gguf"), 1));
        CHECK_OK(mg_gguf_writer_write(w, zeros, sizeof zeros));
        CHECK_OK(mg_gguf_writer_finish(w, NULL));
        mg_gguf_writer_free(w);
        free(cfg);
        free(gen);
        mg_checkpoint ck;
        mg_status st = mg_checkpoint_open(tmp_path("keys.gguf"), &ck);
        CHECK(st != MG_OK && strstr(mg_last_error(), "keys.gguf"), "%s: %s", cases[c].what,
              st == MG_OK ? "accepted" : mg_last_error());
        CHECK(st == MG_OK || !cases[c].message || strstr(mg_last_error(), cases[c].message), "%s: %s lacks %s",
              cases[c].what, mg_last_error(), cases[c].message);
        if (st == MG_OK)
            mg_checkpoint_close(&ck);
        else
            printf("  rejected %-26s %s\n", cases[c].what, mg_last_error());
    }
    unlink(tmp_path("keys.gguf"));
}

static void check_damaged_model(void) {
    mg_checkpoint src;
    mg_status open_st = mg_checkpoint_open(test_ref_path("tiny-mono"), &src);
    CHECK_OK(open_st);
    if (open_st != MG_OK)
        return;
    /* A small stand-in tokenizer keeps the header short, so every byte of it can be tried. */
    static const uint8_t fake_spm[64] = {1, 2, 3};
    const uint8_t *real_spm = src.spiece;
    size_t real_size = src.spiece_size;
    src.spiece = fake_spm;
    src.spiece_size = sizeof fake_spm;
    char path[256];
    snprintf(path, sizeof path, "%s", tmp_path("damage.gguf"));
    CHECK_OK(convert(&src, path, MG_DT_Q8_0, 1));
    src.spiece = real_spm;
    src.spiece_size = real_size;
    mg_mapped_file f;
    CHECK_OK(mg_file_map(path, &f));
    CHECK(parse_model_copy(f.data, f.size) == MG_OK, "undamaged copy parses: %s", mg_last_error());
    mg_gguf g;
    CHECK_OK(mg_gguf_read(&g, path, f.data, f.size));
    size_t header = (size_t)g.data_offset, end = 0;
    uint64_t last_step = 0, first_other = UINT64_MAX;
    for (int64_t i = 0; i < g.n_tensors; i++) {
        const mg_gguf_tensor_info *ti = &g.tensors[i];
        if (ti->offset + ti->nbytes > end)
            end = (size_t)(ti->offset + ti->nbytes);
        /* What a decoder step reads whole: the decoder's layers and heads, without the
         * cross-attention K/V projections (read once, then released) and embeddings. */
        int step = !strncmp(ti->name, "decoder.", 8) && !strstr(ti->name, "embed_") &&
                   !strstr(ti->name, "encoder_attn.k_proj.") && !strstr(ti->name, "encoder_attn.v_proj.");
        if (step && ti->offset + ti->nbytes > last_step)
            last_step = ti->offset + ti->nbytes;
        if (!step && ti->offset < first_other)
            first_other = ti->offset;
    }
    CHECK(last_step > 0 && last_step <= first_other,
          "a decoder step's tensors come first, contiguous (they end at %llu, the others start at %llu)",
          (unsigned long long)last_step, (unsigned long long)first_other);
    end += header;
    mg_gguf_free(&g);
    /* truncations: every length within the header, strides through the data */
    int all_fail = 1, n_tried = 0;
    for (size_t n = 0; n < end; n += n < header ? 1 : 40009) {
        all_fail &= parse_model_copy(f.data, n) != MG_OK;
        n_tried++;
    }
    all_fail &= parse_model_copy(f.data, end - 1) != MG_OK;
    CHECK(all_fail, "all %d truncations of a converted model (header %zu bytes) fail", n_tried + 1, header);
    /* random byte flips in the header: never crash, mostly detected */
    mg_rng r;
    mg_rng_seed(&r, 1234);
    uint8_t *c = malloc(f.size);
    memcpy(c, f.data, f.size);
    int n_ok = 0, n_err = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(c, f.data, header);
        int flips = 1 + (int)(mg_rng_next(&r) % 4);
        for (int k = 0; k < flips; k++)
            c[mg_rng_next(&r) % header] = (uint8_t)mg_rng_next(&r);
        mg_checkpoint ck;
        memset(&ck, 0, sizeof ck);
        mg_store_init(&ck.store);
        if (mg_gguf_parse_checkpoint(&ck, "damaged.gguf", c, f.size, -1) == MG_OK)
            n_ok++;
        else
            n_err++;
        mg_checkpoint_close(&ck);
    }
    printf("  3000 damaged headers: %d rejected, %d still valid (flips inside strings and numbers)\n", n_err, n_ok);
    CHECK(n_err > 1000, "most header damage is detected");
    free(c);
    mg_file_unmap(&f);
    unlink(path);
    check_model_keys(&src);
    mg_checkpoint_close(&src);
}

/* ---- writer misuse ---------------------------------------------------------------------- */

static void check_writer(void) {
    mg_gguf_writer *w = mg_gguf_writer_new();
    int64_t ragged[2] = {2, 48}, ok[2] = {2, 64};
    CHECK(mg_gguf_writer_add_tensor(w, "r", MG_DT_Q8_0, 2, ragged) != MG_OK, "ragged q8_0 rows refused");
    CHECK(mg_gguf_writer_set_u32(w, "general.alignment", 24) != MG_OK, "alignment 24 refused");
    CHECK_OK(mg_gguf_writer_set_u32(w, "general.alignment", 64));
    CHECK(mg_gguf_writer_set_u32(w, "general.alignment", 64) != MG_OK, "duplicate key refused");
    CHECK_OK(mg_gguf_writer_add_tensor(w, "t", MG_DT_F16, 2, ok));
    CHECK(mg_gguf_writer_add_tensor(w, "t", MG_DT_F16, 2, ok) != MG_OK, "duplicate tensor refused");
    CHECK_OK(mg_gguf_writer_begin(w, tmp_path("partial.gguf"), 0));
    uint16_t half[64] = {0};
    CHECK_OK(mg_gguf_writer_write(w, half, sizeof half));
    CHECK(mg_gguf_writer_finish(w, NULL) != MG_OK, "incomplete tensor data refused");
    mg_gguf_writer_free(w);
    CHECK(!mg_path_exists(tmp_path("partial.gguf")), "no partial file left");
    /* a file with alignment 64 is read back with it */
    w = mg_gguf_writer_new();
    CHECK_OK(mg_gguf_writer_set_u32(w, "general.alignment", 64));
    CHECK_OK(mg_gguf_writer_add_tensor(w, "t", MG_DT_F16, 2, ok));
    CHECK_OK(mg_gguf_writer_add_tensor(w, "u", MG_DT_F32, 1, ok + 1));
    CHECK_OK(mg_gguf_writer_begin(w, tmp_path("a64.gguf"), 0));
    uint16_t full[128] = {0};
    float f[64] = {0};
    CHECK_OK(mg_gguf_writer_write(w, full, sizeof full));
    CHECK_OK(mg_gguf_writer_write(w, f, sizeof f));
    CHECK(mg_gguf_writer_write(w, f, 4) != MG_OK, "data beyond the declared tensors refused");
    CHECK_OK(mg_gguf_writer_finish(w, NULL));
    mg_gguf_writer_free(w);
    mg_mapped_file m;
    CHECK_OK(mg_file_map(tmp_path("a64.gguf"), &m));
    mg_gguf g;
    if (mg_gguf_read(&g, "a64.gguf", m.data, m.size) == MG_OK) {
        CHECK(g.alignment == 64 && g.data_offset % 64 == 0 && g.tensors[1].offset == 256, "alignment 64 layout");
        mg_gguf_free(&g);
    } else {
        CHECK(0, "a64.gguf: %s", mg_last_error());
    }
    mg_file_unmap(&m);
    unlink(tmp_path("a64.gguf"));
}

static int cancel_at(int64_t done, int64_t total, const char *tensor, void *user) {
    (void)total;
    (void)tensor;
    int *calls = user;
    ++*calls;
    return done > 0 && *calls >= 3; /* cancel at the third tensor */
}

static int count_calls(int64_t done, int64_t total, const char *tensor, void *user) {
    (void)tensor;
    int *calls = user;
    ++*calls;
    return done > total; /* never */
}

/* The public mg_quantize: what the CLI's quantize is a client of. */
static void check_quantize_api(void) {
    char src[1024], out[1024]; /* the helpers return static buffers */
    snprintf(src, sizeof src, "%s", test_ref_path("tiny-mono"));
    snprintf(out, sizeof out, "%s", tmp_path("api.gguf"));
    mg_quantize_params p = mg_quantize_default_params();
    CHECK(p.type == MG_WEIGHT_Q8_0 && !p.pure && !p.overwrite, "mg_quantize defaults: q8_0, not pure, no overwrite");
    int calls = 0;
    p.progress = count_calls;
    p.user = &calls;
    p.pure = 1;
    mg_quantize_result r;
    CHECK_OK(mg_quantize(src, out, &p, &r));
    CHECK(calls > 10 && r.out_bytes > 0 && r.in_bytes > 0 && r.n_kept_f32 == 0 && r.n_kept_f16 == 22,
          "mg_quantize --pure: %d progress calls, %lld -> %lld bytes, %d kept f32, %d kept f16 (the fixture's 22 "
          "matrices of 48-value rows)", calls, (long long)r.in_bytes, (long long)r.out_bytes, r.n_kept_f32, r.n_kept_f16);
    mg_model *m = NULL;
    CHECK_OK(mg_model_load(out, NULL, &m));
    if (m) {
        mg_model_info info;
        mg_model_get_info(m, &info);
        CHECK(!strncmp(info.weight_type, "q8_0", 4), "the written GGUF loads as q8_0 (%s)", info.weight_type);
        mg_model_free(m);
    }
    CHECK(mg_quantize(src, out, &p, &r) == MG_ERR_EXISTS && r.out_bytes == 0, "an existing output is refused");
    p.pure = 0;
    p.overwrite = 1;
    CHECK_OK(mg_quantize(src, out, &p, &r));
    CHECK(r.n_kept_f32 == 24 && r.n_kept_f16 == 0, "default rule: the fixture's 24 small matrices kept f32 (%d, %d)",
          r.n_kept_f32, r.n_kept_f16);
    /* cancelled from the progress callback: MG_ERR_CANCELLED, the old file untouched, no temporary left */
    struct stat before, after;
    CHECK_OK(stat(out, &before) == 0 ? MG_OK : MG_ERR_IO);
    calls = 0;
    p.progress = cancel_at;
    p.type = MG_WEIGHT_F16;
    CHECK(mg_quantize(src, out, &p, &r) == MG_ERR_CANCELLED && calls == 3, "cancel at the third tensor (%d calls)",
          calls);
    CHECK(stat(out, &after) == 0 && after.st_size == before.st_size && after.st_mtime == before.st_mtime,
          "a cancelled quantize leaves the existing file as it was");
    int n_files = 0;
    DIR *d = opendir(g_dir);
    for (struct dirent *e; d && (e = readdir(d));) /* the writer's temporaries are hidden: count them */
        n_files += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    CHECK(n_files == 1, "no temporary file left (%d files)", n_files);
    p.type = (mg_weight_type)42;
    CHECK(mg_quantize(src, out, &p, NULL) == MG_ERR_INVALID_ARG, "an unknown weight type is refused");
    p.type = MG_WEIGHT_AUTO_F16; /* a way of loading, not a file format */
    CHECK(mg_quantize(src, out, &p, NULL) == MG_ERR_INVALID_ARG && strstr(mg_last_error(), "MG_WEIGHT_F16"),
          "MG_WEIGHT_AUTO_F16 is refused by quantize: %s", mg_last_error());
    CHECK(mg_quantize(NULL, out, NULL, NULL) == MG_ERR_INVALID_ARG && mg_quantize(src, "", NULL, NULL) ==
          MG_ERR_INVALID_ARG, "no model / no output refused");
    CHECK(mg_quantize(test_ref_path("no-such-model"), tmp_path("x.gguf"), NULL, NULL) != MG_OK, "a missing model fails");
    /* A repo id resolves with the params' hub settings: offline and a revision, over an
     * empty cache, fail without the network and say so. */
    char cache[1024];
    snprintf(cache, sizeof cache, "%s", tmp_path("empty-cache"));
    mkdir(cache, 0755);
    const char *saved = getenv("HF_HUB_CACHE");
    char *saved_copy = saved ? strdup(saved) : NULL;
    setenv("HF_HUB_CACHE", cache, 1);
    mg_quantize_params hp = mg_quantize_default_params();
    hp.offline = 1;
    hp.revision = "v9";
    mg_status st = mg_quantize("test-org/not-cached", tmp_path("x.gguf"), &hp, NULL);
    CHECK(st == MG_ERR_NOT_FOUND && strstr(mg_last_error(), "offline") && strstr(mg_last_error(), "revision v9"),
          "a repo id with offline / revision set: %s", mg_last_error());
    if (saved_copy)
        setenv("HF_HUB_CACHE", saved_copy, 1);
    else
        unsetenv("HF_HUB_CACHE");
    free(saved_copy);
    rmdir(cache);
    unlink(out);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/mg_test_gguf_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    check_names();
    check_synthetic();
    check_writer();
    check_fixture("tiny-mono");
    check_fixture("tiny-stereo");
    check_damaged_model();
    check_quantize_api();
    rmdir(g_dir);
    return test_finish("test_gguf");
}
