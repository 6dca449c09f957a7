/* validate.c — mg_model_validate: the deep check behind `musicgen info`.
 *
 * mg_model_load already refuses a checkpoint whose files, tensor names, dtypes,
 * shapes or byte ranges do not fit the config (every stage looks its tensors up
 * with the expected shape). This adds what loading leaves out to stay fast:
 *   - every weight value is read: NaN / Inf anywhere (f32, f16, bf16 values, the
 *     f16 block scales of q8_0 / q4_0 and their 16-row groupings) is an error naming
 *     the tensor and index;
 *   - tensors no stage looked up are reported as warnings (a different
 *     architecture, a melody model, a stray file), except EnCodec's training
 *     buffers (embed_avg, cluster_size, inited), which every checkpoint carries;
 *   - config consistency the parser cannot see alone: the tokenizer's id range
 *     against the T5 vocabulary, the generation window against the position table;
 *   - the tokenizer encodes a test sentence into ids that end with </s>, lie in the
 *     T5 vocabulary and are not all <unk>.
 * Pages of the mapped files are handed back after scanning, so memory does not grow
 * with the model. It does not run the networks. */
#include "model.h"
#include "tensor/finite.h"
#include "text/spm.h"
#include "text/t5.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct checker {
    mg_validate_cb cb;
    void *user;
    mg_validate_report *r;
    char first_error[900];
} checker;

static void finding(checker *c, mg_finding kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void finding(checker *c, mg_finding kind, const char *fmt, ...) {
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (kind == MG_FINDING_ERROR) {
        if (!c->r->n_errors)
            snprintf(c->first_error, sizeof c->first_error, "%s", msg);
        c->r->n_errors++;
    } else {
        c->r->n_warnings++;
    }
    if (c->cb)
        c->cb(kind, msg, c->user);
}

/* ---- non-finite values ------------------------------------------------------------- */

static uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint16_t load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* Index of the first non-finite value (-1: none), how many there are, and its value. */
typedef struct scan_result {
    int64_t first, count;
    float value;
} scan_result;

static void note(scan_result *s, int64_t i, float v) {
    if (s->first < 0) {
        s->first = i;
        s->value = v;
    }
    s->count++;
}

static scan_result scan_values(const mg_tensor *t) {
    scan_result s = {-1, 0, 0};
    const uint8_t *p = t->data;
    int64_t n = mg_tensor_numel(t);
    switch (t->dtype) {
    case MG_DT_F32:
        /* The vectorized check first (aligned data): the loop below only finds where. */
        if ((uintptr_t)p % sizeof(float) == 0 && !mg_any_nonfinite((const float *)p, n))
            break;
        for (int64_t i = 0; i < n; i++) {
            uint32_t u = load_u32(p + 4 * i);
            if ((u & 0x7f800000u) == 0x7f800000u) {
                float v;
                memcpy(&v, &u, 4);
                note(&s, i, v);
            }
        }
        break;
    case MG_DT_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = load_u16(p + 2 * i);
            if ((h & 0x7c00u) == 0x7c00u)
                note(&s, i, mg_f16_to_f32(h));
        }
        break;
    case MG_DT_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = load_u16(p + 2 * i);
            if ((h & 0x7f80u) == 0x7f80u)
                note(&s, i, mg_bf16_to_f32(h));
        }
        break;
    case MG_DT_Q8_0:
    case MG_DT_Q4_0: {
        size_t block = t->dtype == MG_DT_Q8_0 ? sizeof(mg_block_q8_0) : sizeof(mg_block_q4_0);
        int64_t blocks = (int64_t)(t->nbytes / block);
        for (int64_t b = 0; b < blocks; b++) {
            uint16_t d = load_u16(p + (size_t)b * block); /* the block's f16 scale */
            if ((d & 0x7c00u) == 0x7c00u)
                note(&s, b * MG_QK, mg_f16_to_f32(d));
        }
        break;
    }
    case MG_DT_Q8_0X16:
    case MG_DT_Q4_0X16: { /* per block of a 16-row group, the 16 rows' f16 scales first */
        size_t block = mg_x16_block_bytes(t->dtype);
        int64_t cols = t->ndim == 2 ? t->shape[1] : 0, per_row = cols / MG_QK;
        int64_t blocks = (int64_t)(t->nbytes / block);
        for (int64_t b = 0; b < blocks && per_row > 0; b++)
            for (int i = 0; i < MG_X16_ROWS; i++) {
                uint16_t d = load_u16(p + (size_t)b * block + 2 * (size_t)i);
                int64_t row = b / per_row * MG_X16_ROWS + i, col = b % per_row * MG_QK;
                if ((d & 0x7c00u) == 0x7c00u)
                    note(&s, row * cols + col, mg_f16_to_f32(d));
            }
        break;
    }
    default: /* integer buffers: nothing to check */
        break;
    }
    return s;
}

static void check_values(checker *c, const mg_store *s) {
    for (int i = 0; i < s->n_entries; i++) {
        const mg_store_entry *e = &s->entries[i];
        if (!mg_dtype_is_weight(e->t.dtype) || !e->t.data)
            continue;
        scan_result r = scan_values(&e->t);
        c->r->n_checked++;
        c->r->n_values += mg_tensor_numel(&e->t);
        mg_store_release(s, e->t.data, e->t.nbytes);
        if (r.count) {
            c->r->n_nonfinite++;
            finding(c, MG_FINDING_ERROR,
                    "tensor %s in %s holds %lld non-finite value%s (first: %g at index %lld); the weights are corrupt, "
                    "download or convert the model again", e->name, mg_store_file_of(s, e), (long long)r.count,
                    r.count > 1 ? "s" : "", (double)r.value, (long long)r.first);
        }
    }
}

/* ---- tensors no stage uses ------------------------------------------------------------- */

static int is_training_buffer(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcmp(dot, ".embed_avg") || !strcmp(dot, ".cluster_size") || !strcmp(dot, ".inited"));
}

#define MAX_LISTED_UNUSED 10

static void check_unused(checker *c, const mg_store *s) {
    int listed = 0;
    for (int i = 0; i < s->n_entries; i++) {
        const mg_store_entry *e = &s->entries[i];
        if (e->used || is_training_buffer(e->name))
            continue;
        c->r->n_unused++;
        if (listed++ < MAX_LISTED_UNUSED)
            finding(c, MG_FINDING_WARNING, "tensor %s in %s is not used by any stage (not part of a MusicGen checkpoint; "
                    "it is ignored)", e->name, mg_store_file_of(s, e));
    }
    if (c->r->n_unused > MAX_LISTED_UNUSED)
        finding(c, MG_FINDING_WARNING, "%d more tensors are not used by any stage; is this a MusicGen checkpoint "
                "(melody models are not supported)?", c->r->n_unused - MAX_LISTED_UNUSED);
}

/* ---- config and tokenizer ---------------------------------------------------------------- */

static void check_config(checker *c, const mg_model *m) {
    const mg_config *cfg = &m->ck.cfg;
    const char *where = m->ck.path;
    int tok_vocab = m->tok ? mg_tokenizer_vocab_size(m->tok) : 0;
    if (tok_vocab > cfg->t5.vocab_size)
        finding(c, MG_FINDING_ERROR, "%s: the tokenizer has %d token ids but text_encoder.vocab_size is %d: spiece.model "
                "does not belong to this model", where, tok_vocab, cfg->t5.vocab_size);
    /* A warning, not an error: the window only bounds durations, and generate --steps N
     * still runs such a model. */
    if (m->info.max_steps < 1 || m->info.max_duration_s <= 0) {
        char empty[200];
        mg_config_empty_window_text(cfg, empty, sizeof empty);
        finding(c, MG_FINDING_WARNING, "%s: %s, so no duration can be generated; fix generation_config.json's "
                "max_length, or give generate a number of steps (steps; --steps)", where, empty);
    }
    if (cfg->gen.from_defaults)
        finding(c, MG_FINDING_WARNING, "%s: %s", where, MG_NO_GENERATION_CONFIG);
    if (mg_config_window_columns(cfg) < cfg->gen.max_length)
        finding(c, MG_FINDING_WARNING, "%s: generation_config max_length %d needs %d decoder positions but "
                "decoder.max_position_embeddings is %d; one window is capped at %d steps", where, cfg->gen.max_length,
                cfg->gen.max_length - 1, cfg->dec.max_position_embeddings, m->info.max_steps);
    /* T5's position buckets may leave far-apart tokens without one. */
    int d = mg_t5_first_unbucketed(cfg->t5.num_buckets, cfg->t5.max_distance, MG_T5_MAX_TOKENS);
    if (d)
        finding(c, MG_FINDING_WARNING, "%s: text_encoder.relative_attention_num_buckets %d with "
                "relative_attention_max_distance %d gives tokens %d or more apart no position bucket "
                "(transformers fails on them too): prompts of more than %d tokens cannot be encoded",
                where, cfg->t5.num_buckets, cfg->t5.max_distance, d, d);
    if (cfg->codec.sample_rate % cfg->codec.hop_length)
        finding(c, MG_FINDING_WARNING, "%s: audio_encoder.sampling_rate %d is not a multiple of the hop length %d; "
                "durations are rounded to whole frames", where, cfg->codec.sample_rate, cfg->codec.hop_length);
}

static void check_tokenizer(checker *c, const mg_model *m) {
    static const char sentence[] = "80s pop track with bassy drums and synth";
    if (!m->tok) {
        finding(c, MG_FINDING_ERROR, "%s: no tokenizer loaded", m->ck.path);
        return;
    }
    const char *where = m->ck.spiece_path ? m->ck.spiece_path : m->ck.path;
    int32_t *ids = NULL;
    int n = 0;
    if (mg_tokenizer_encode(m->tok, sentence, sizeof sentence - 1, &ids, &n) != MG_OK) {
        finding(c, MG_FINDING_ERROR, "%s cannot encode a test sentence: %s", where, mg_last_error());
        return;
    }
    int eos = mg_tokenizer_eos_id(m->tok), unk = mg_tokenizer_unk_id(m->tok), n_unk = 0, bad = -1;
    for (int i = 0; i < n; i++) {
        n_unk += ids[i] == unk;
        if (ids[i] < 0 || ids[i] >= m->ck.cfg.t5.vocab_size)
            bad = ids[i];
    }
    if (n < 2 || ids[n - 1] != eos)
        finding(c, MG_FINDING_ERROR, "%s encodes a test sentence into %d ids without the final </s>; it is not a T5 "
                "tokenizer", where, n);
    else if (bad >= 0)
        finding(c, MG_FINDING_ERROR, "%s gives token id %d, outside the text encoder's vocabulary of %d", where, bad,
                m->ck.cfg.t5.vocab_size);
    else if (n_unk == n - 1)
        finding(c, MG_FINDING_ERROR, "%s maps every word of a plain English test sentence to <unk>; it is the wrong "
                "tokenizer for this model", where);
    else
        c->r->tokenizer_ok = 1;
    free(ids);
}

MG_API mg_status mg_model_validate(const mg_model *m, mg_validate_cb cb, void *user, mg_validate_report *report) {
    mg_validate_report local;
    checker c;
    memset(&c, 0, sizeof c);
    c.cb = cb;
    c.user = user;
    c.r = report ? report : &local;
    memset(c.r, 0, sizeof *c.r);
    if (!m)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_model_validate: no model");
    const mg_store *s = &m->ck.store;
    c.r->n_tensors = s->n_entries;
    check_config(&c, m);
    check_tokenizer(&c, m);
    check_unused(&c, s);
    check_values(&c, s);
    if (!c.r->n_errors)
        return MG_OK;
    if (c.r->n_errors > 1)
        return mg_fail(MG_ERR_FORMAT, "%s (and %d more problem%s)", c.first_error, c.r->n_errors - 1,
                       c.r->n_errors > 2 ? "s" : "");
    return mg_fail(MG_ERR_FORMAT, "%s", c.first_error);
}
