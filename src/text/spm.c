/* spm.c — the T5 tokenizer: load a SentencePiece unigram model from the bytes of
 * spiece.model and encode text the way transformers' slow T5Tokenizer
 * (legacy=True) does for MusicgenProcessor.
 *
 * Loading follows sentencepiece's ModelInterface::InitializePieces and unigram
 * Model (same validation: non-empty unique pieces, exactly one <unk>, BYTE pieces
 * only with byte_fallback and then all 256 of them; min/max score over NORMAL
 * pieces). Encoding (PopulateSentencePieceText + T5Tokenizer):
 *   added tokens split out (spm_specials.c) -> per text span: normalize
 *   (spm_normalize.c) -> Viterbi (spm_unigram.c) -> consecutive unknowns merged
 *   into one <unk> (or split into <0xXX> byte pieces with byte_fallback) -> the
 *   piece strings mapped to ids as T5Tokenizer does (added tokens, then
 *   sentencepiece's PieceToId) -> </s> appended unless the ids already end with it.
 * It does not decode ids to text and does not sample segmentations.
 */
#include "text/spm_internal.h"
#include "io/json.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"

/* ---- loading ------------------------------------------------------------------------ */

static mg_status copy_names(mg_tokenizer *t, const spm_proto *p, const char *where) {
    int total = t->n_pieces + t->extra_ids;
    size_t bytes = 0;
    for (int i = 0; i < p->n_pieces; i++)
        bytes += p->pieces[i].len + 1;
    bytes += (size_t)t->extra_ids * 24;
    t->names = malloc(bytes ? bytes : 1);
    t->piece = malloc((size_t)total * sizeof *t->piece);
    t->piece_len = malloc((size_t)total * sizeof *t->piece_len);
    t->score = malloc((size_t)p->n_pieces * sizeof *t->score);
    t->type = malloc((size_t)p->n_pieces);
    if (!t->names || !t->piece || !t->piece_len || !t->score || !t->type)
        return mg_fail(MG_ERR_NOMEM, "out of memory loading the tokenizer %s", where);
    char *w = t->names;
    for (int i = 0; i < p->n_pieces; i++) {
        const spm_proto_piece *pc = &p->pieces[i];
        if (pc->len)
            memcpy(w, pc->text, pc->len);
        w[pc->len] = 0;
        t->piece[i] = w;
        t->piece_len[i] = pc->len;
        t->score[i] = pc->score;
        t->type[i] = (uint8_t)pc->type;
        w += pc->len + 1;
    }
    for (int id = p->n_pieces; id < total; id++) {
        int n = snprintf(w, 24, "<extra_id_%d>", t->n_pieces + t->extra_ids - 1 - id);
        t->piece[id] = w;
        t->piece_len[id] = (size_t)n;
        w += n + 1;
    }
    return MG_OK;
}

/* "<0x41>" -> 0x41, or -1 (sentencepiece's PieceToByte). */
static int piece_to_byte(const char *s, size_t len) {
    static const char hex[] = "0123456789ABCDEF";
    if (len != 6 || memcmp(s, "<0x", 3) || s[5] != '>')
        return -1;
    const char *hi = memchr(hex, s[3], 16), *lo = memchr(hex, s[4], 16);
    if (!hi || !lo || !s[3] || !s[4])
        return -1;
    return (int)(hi - hex) * 16 + (int)(lo - hex);
}

static int is_segmentable(int type) { return type == SPM_NORMAL || type == SPM_USER_DEFINED || type == SPM_UNUSED; }

/* Insert every piece into the trie(s), checking what sentencepiece checks. */
static mg_status index_pieces(mg_tokenizer *t, const char *where, int byte_fallback) {
    int n_segmentable = 0;
    for (int i = 0; i < 256; i++)
        t->byte_id[i] = -1;
    for (int i = 0; i < t->n_pieces; i++) {
        const uint8_t *s = (const uint8_t *)t->piece[i];
        size_t len = t->piece_len[i];
        int type = t->type[i];
        if (!len)
            return mg_fail(MG_ERR_FORMAT, "%s: piece %d is empty (not a valid SentencePiece model)", where, i);
        if (memchr(s, 0, len))
            return mg_fail(MG_ERR_UNSUPPORTED, "%s: piece %d contains a NUL byte (not supported)", where, i);
        int32_t node = spm_trie_insert(&t->trie, s, len);
        if (node < 0)
            return MG_ERR_NOMEM;
        int32_t *slot = is_segmentable(type) ? &t->trie.id[node] : &t->trie.reserved[node];
        if (*slot >= 0)
            return mg_fail(MG_ERR_FORMAT, "%s: piece \"%s\" is defined twice (ids %d and %d)", where, t->piece[i],
                           *slot, i);
        *slot = i;
        n_segmentable += is_segmentable(type);
        if (type == SPM_USER_DEFINED) {
            int32_t un = spm_trie_insert(&t->user, s, len);
            if (un < 0)
                return MG_ERR_NOMEM;
            t->user.id[un] = i;
            t->has_user_symbols = 1;
        } else if (type == SPM_UNKNOWN) {
            if (t->unk_id >= 0)
                return mg_fail(MG_ERR_FORMAT, "%s: two <unk> pieces (ids %d and %d)", where, t->unk_id, i);
            t->unk_id = i;
        } else if (type == SPM_BYTE) {
            if (!byte_fallback)
                return mg_fail(MG_ERR_FORMAT, "%s: byte piece \"%s\" found although byte_fallback is false", where,
                               t->piece[i]);
            int b = piece_to_byte(t->piece[i], len);
            if (b < 0)
                return mg_fail(MG_ERR_FORMAT, "%s: invalid byte piece \"%s\"", where, t->piece[i]);
            t->byte_id[b] = i;
        }
    }
    if (t->unk_id < 0)
        return mg_fail(MG_ERR_FORMAT, "%s: the model defines no <unk> piece", where);
    if (!n_segmentable)
        return mg_fail(MG_ERR_FORMAT, "%s: the model has no normal pieces", where);
    if (byte_fallback) {
        for (int b = 0; b < 256; b++)
            if (t->byte_id[b] < 0)
                return mg_fail(MG_ERR_FORMAT, "%s: byte_fallback is set but piece <0x%02X> is missing", where, b);
        t->byte_fallback = 1;
    }
    return MG_OK;
}

/* sentencepiece's PieceToId: reserved pieces first, then the others, else <unk>.
 * Returns -1 instead of <unk> when `strict`. */
static int32_t piece_to_id(const mg_tokenizer *t, const uint8_t *s, size_t len, int strict) {
    int32_t node = spm_trie_find(&t->trie, s, len);
    if (node >= 0 && t->trie.reserved[node] >= 0)
        return t->trie.reserved[node];
    if (node >= 0 && t->trie.id[node] >= 0)
        return t->trie.id[node];
    return strict ? -1 : t->unk_id;
}

static void compute_scores(mg_tokenizer *t) {
    t->min_score = FLT_MAX;
    t->max_score = FLT_MIN; /* sic: sentencepiece starts from the smallest positive float */
    for (int i = 0; i < t->n_pieces; i++) {
        if (t->type[i] != SPM_NORMAL)
            continue;
        if (t->score[i] < t->min_score)
            t->min_score = t->score[i];
        if (t->score[i] > t->max_score)
            t->max_score = t->score[i];
    }
}

static mg_status check_model_type(const spm_proto *p, const char *where) {
    static const char *names[] = {"?", "unigram", "BPE", "word", "char"};
    if (p->model_type != SPM_MODEL_UNIGRAM)
        return mg_fail(MG_ERR_UNSUPPORTED,
                       "%s: a SentencePiece %s model; only unigram models (as T5 uses) are supported", where,
                       names[p->model_type]);
    if (p->n_pieces <= 0)
        return mg_fail(MG_ERR_FORMAT, "%s: no pieces (empty or not a SentencePiece model)", where);
    return MG_OK;
}

static mg_status load_into(mg_tokenizer *t, const uint8_t *data, size_t size, const char *where, int extra_ids) {
    spm_proto p;
    MG_TRY(spm_proto_parse(data, size, where, &p));
    mg_status st = check_model_type(&p, where);
    if (st == MG_OK && p.n_pieces > INT32_MAX - extra_ids)
        st = mg_fail(MG_ERR_FORMAT, "%s: too many pieces", where);
    t->n_pieces = p.n_pieces;
    t->extra_ids = extra_ids;
    t->unk_id = -1;
    if (st == MG_OK)
        st = copy_names(t, &p, where);
    if (st == MG_OK)
        st = spm_trie_init(&t->trie);
    if (st == MG_OK)
        st = spm_trie_init(&t->user);
    if (st == MG_OK)
        st = index_pieces(t, where, p.byte_fallback);
    if (st == MG_OK)
        st = spm_normalizer_init(&t->norm, &p, where);
    spm_proto_free(&p);
    MG_TRY(st);
    t->norm.user_symbols = t->has_user_symbols ? &t->user : NULL;
    compute_scores(t);
    /* T5Tokenizer's special tokens are the pieces with these names. */
    t->eos_id = piece_to_id(t, (const uint8_t *)"</s>", 4, 1);
    t->pad_id = piece_to_id(t, (const uint8_t *)"<pad>", 5, 1);
    t->unk_token_id = piece_to_id(t, (const uint8_t *)"<unk>", 5, 1);
    if (t->eos_id < 0)
        return mg_fail(MG_ERR_UNSUPPORTED, "%s: the model has no \"</s>\" piece, so it is not a T5 tokenizer", where);
    return MG_OK;
}

mg_status mg_tokenizer_load(const uint8_t *data, size_t size, const char *where, int extra_ids,
                            mg_tokenizer **out) {
    *out = NULL;
    if (!where)
        where = "tokenizer model";
    if (extra_ids < 0 || extra_ids > MG_TOKENIZER_MAX_EXTRA_IDS)
        return mg_fail(MG_ERR_INVALID_ARG, "%s: extra_ids %d is out of range (0..%d; T5 uses 100)", where, extra_ids,
                       MG_TOKENIZER_MAX_EXTRA_IDS);
    if (!data || !size)
        return mg_fail(MG_ERR_FORMAT, "%s: empty tokenizer model; download spiece.model again", where);
    mg_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return mg_fail(MG_ERR_NOMEM, "out of memory loading the tokenizer %s", where);
    mg_status st = load_into(t, data, size, where, extra_ids);
    if (st != MG_OK) {
        mg_tokenizer_free(t);
        return st;
    }
    *out = t;
    return MG_OK;
}

void mg_tokenizer_free(mg_tokenizer *t) {
    if (!t)
        return;
    spm_trie_free(&t->trie);
    spm_trie_free(&t->user);
    spm_normalizer_free(&t->norm);
    free(t->names);
    free(t->piece);
    free(t->piece_len);
    free(t->score);
    free(t->type);
    free(t);
}

/* ---- encoding ------------------------------------------------------------------------ */

/* Id of a piece string as T5Tokenizer computes it (_convert_token_to_id_with_added_voc):
 * an added token's id, else sentencepiece's PieceToId. */
static int32_t hf_token_to_id(const mg_tokenizer *t, const uint8_t *s, size_t len) {
    int32_t id = spm_added_token_id(t, s, len);
    return id >= 0 ? id : piece_to_id(t, s, len, 0);
}

/* Map Viterbi's (start, length, id) triples over `norm` to output ids. */
static mg_status emit_pieces(const mg_tokenizer *t, const uint8_t *norm, const spm_ids *seg, int plain,
                             spm_ids *ids) {
    size_t unk_start = 0, unk_len = 0; /* pending run of unknowns */
    for (size_t k = 0; k + 3 <= seg->len; k += 3) {
        size_t start = (size_t)seg->data[k], len = (size_t)seg->data[k + 1];
        int32_t id = seg->data[k + 2];
        int is_unk = id == t->unk_id;
        if (is_unk && !t->byte_fallback && unk_len && unk_start + unk_len == start) {
            unk_len += len; /* merge consecutive unknowns */
            continue;
        }
        if (unk_len) {
            MG_TRY(spm_ids_push(ids, plain ? t->unk_id : hf_token_to_id(t, norm + unk_start, unk_len)));
            unk_len = 0;
        }
        if (is_unk && t->byte_fallback) {
            for (size_t b = 0; b < len; b++)
                MG_TRY(spm_ids_push(ids, t->byte_id[norm[start + b]]));
        } else if (is_unk) {
            unk_start = start;
            unk_len = len;
        } else {
            MG_TRY(spm_ids_push(ids, plain ? id : hf_token_to_id(t, norm + start, len)));
        }
    }
    if (unk_len)
        MG_TRY(spm_ids_push(ids, plain ? t->unk_id : hf_token_to_id(t, norm + unk_start, unk_len)));
    return MG_OK;
}

/* Normalize + segment one text span and append its ids. */
static mg_status encode_span(const mg_tokenizer *t, const uint8_t *text, size_t len, int plain, spm_bytes *norm,
                             spm_ids *seg, spm_ids *ids) {
    MG_TRY(spm_normalize(&t->norm, text, len, norm));
    seg->len = 0;
    MG_TRY(spm_viterbi(t, norm->data, norm->len, seg));
    return emit_pieces(t, norm->data, seg, plain, ids);
}

static mg_status encode_all(const mg_tokenizer *t, const uint8_t *text, size_t len, int plain, spm_ids *ids) {
    spm_bytes norm = {0};
    spm_ids seg = {0};
    spm_span *spans = NULL;
    int n_spans = 0;
    mg_status st = MG_OK;
    if (plain) {
        st = encode_span(t, text, len, 1, &norm, &seg, ids);
    } else {
        st = spm_split_added_tokens(t, text, len, &spans, &n_spans);
        for (int i = 0; i < n_spans && st == MG_OK; i++) {
            if (spans[i].special >= 0)
                st = spm_ids_push(ids, spans[i].special);
            else
                st = encode_span(t, text + spans[i].start, spans[i].len, 0, &norm, &seg, ids);
        }
        /* T5Tokenizer._add_eos_if_not_present */
        if (st == MG_OK && (ids->len == 0 || ids->data[ids->len - 1] != t->eos_id))
            st = spm_ids_push(ids, t->eos_id);
    }
    free(norm.data);
    free(seg.data);
    free(spans);
    return st;
}

mg_status mg_tokenizer_encode_ex(const mg_tokenizer *t, const char *text, size_t len, int flags, int32_t **ids,
                                 int *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    if (!t)
        return mg_fail(MG_ERR_INVALID_ARG, "tokenize: no tokenizer loaded");
    if (!text && len)
        return mg_fail(MG_ERR_INVALID_ARG, "tokenize: no text given");
    if (len > (size_t)INT32_MAX / 4)
        return mg_fail(MG_ERR_INVALID_ARG, "tokenize: text of %zu bytes is too long (at most %d)", len,
                       INT32_MAX / 4);
    spm_ids out = {0};
    mg_status st = encode_all(t, (const uint8_t *)(text ? text : ""), len, flags & MG_TOK_PLAIN_SPM, &out);
    if (st != MG_OK) {
        free(out.data);
        return st;
    }
    if (!out.data) { /* plain mode on an empty text: an empty, still freeable array */
        out.data = malloc(sizeof *out.data);
        if (!out.data)
            return mg_fail(MG_ERR_NOMEM, "out of memory while tokenizing");
    }
    *ids = out.data;
    *n_ids = (int)out.len;
    return MG_OK;
}

mg_status mg_tokenizer_encode(const mg_tokenizer *t, const char *text, size_t len, int32_t **ids, int *n_ids) {
    return mg_tokenizer_encode_ex(t, text, len, 0, ids, n_ids);
}

/* ---- accessors ----------------------------------------------------------------------- */

const char *mg_tokenizer_piece(const mg_tokenizer *t, int id) {
    if (!t || id < 0 || id >= t->n_pieces + t->extra_ids)
        return NULL;
    return t->piece[id];
}

int mg_tokenizer_vocab_size(const mg_tokenizer *t) { return t ? t->n_pieces + t->extra_ids : 0; }
int mg_tokenizer_n_pieces(const mg_tokenizer *t) { return t ? t->n_pieces : 0; }
int mg_tokenizer_eos_id(const mg_tokenizer *t) { return t ? t->eos_id : -1; }
int mg_tokenizer_pad_id(const mg_tokenizer *t) { return t ? t->pad_id : -1; }
int mg_tokenizer_unk_id(const mg_tokenizer *t) { return t ? t->unk_id : -1; }

/* ---- tokenizer_config.json ------------------------------------------------------------ */

mg_status mg_tokenizer_read_extra_ids(const char *folder, int *extra_ids) {
    *extra_ids = MG_TOKENIZER_DEFAULT_EXTRA_IDS;
    char *path = mg_path_join(folder, "tokenizer_config.json");
    if (!path)
        return MG_ERR_NOMEM;
    if (!mg_path_exists(path)) {
        free(path);
        return MG_OK;
    }
    char *text = NULL;
    size_t size = 0;
    mg_status st = mg_file_read_regular(path, &text, &size);
    if (st != MG_OK) {
        free(path);
        return st;
    }
    cJSON *root = mg_json_parse(text, size, NULL);
    free(text);
    if (!root) {
        st = mg_fail(MG_ERR_FORMAT, "%s is not valid JSON; fix or delete it (the tokenizer then uses 100 extra ids)",
                     path);
        free(path);
        return st;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "extra_ids");
    if (v && !cJSON_IsNull(v)) {
        double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
        if (d < 0 || d > MG_TOKENIZER_MAX_EXTRA_IDS || d != (double)(int)d)
            st = mg_fail(MG_ERR_FORMAT, "%s: \"extra_ids\" must be an integer in 0..%d", path,
                         MG_TOKENIZER_MAX_EXTRA_IDS);
        else
            *extra_ids = (int)d;
    }
    cJSON_Delete(root);
    free(path);
    return st;
}
