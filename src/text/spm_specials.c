/* spm_specials.c — T5Tokenizer's added tokens: "<pad>", "</s>", "<unk>" and the
 * sentinels "<extra_id_0>" .. "<extra_id_{extra_ids-1}>" (id = n_pieces + extra_ids
 * - 1 - N), matched literally in the raw text BEFORE sentencepiece sees it.
 *
 * Follows transformers' tokenization_utils.py (Trie.split + PreTrainedTokenizer.
 * tokenize) and tokenization_t5.py (legacy=True): the text is cut at every
 * occurrence of an added token, leftmost first; then, span by span in order, a
 * sentinel (lstrip=rstrip=True) strips Python whitespace (str.isspace) from the
 * end of the span before it and the start of the span after it; </s> <pad> <unk>
 * strip nothing; spans that became empty are dropped. Each remaining text span is
 * encoded separately (and gets its own dummy prefix).
 *
 * Every added token starts with '<', ends with '>' and holds no other '<' or '>',
 * so no token is a prefix of another and matches cannot overlap: the trie's
 * "longest match first" reduces to "the token starting at the leftmost '<'". It
 * does not handle user-added tokens of other shapes (none exist for T5).
 */
#include "text/spm_internal.h"

#include <stdlib.h>
#include <string.h>

static int starts_with(const uint8_t *s, size_t len, const char *lit, size_t n) {
    return len >= n && !memcmp(s, lit, n);
}

/* The added token starting at s (s[0] == '<'): its length, and its id in *id. */
static size_t match_added_token(const mg_tokenizer *t, const uint8_t *s, size_t len, int32_t *id) {
    if (t->pad_id >= 0 && starts_with(s, len, "<pad>", 5)) {
        *id = t->pad_id;
        return 5;
    }
    if (t->eos_id >= 0 && starts_with(s, len, "</s>", 4)) {
        *id = t->eos_id;
        return 4;
    }
    if (t->unk_token_id >= 0 && starts_with(s, len, "<unk>", 5)) {
        *id = t->unk_token_id;
        return 5;
    }
    static const char kExtra[] = "<extra_id_";
    const size_t n = sizeof kExtra - 1;
    if (t->extra_ids <= 0 || !starts_with(s, len, kExtra, n))
        return 0;
    /* Decimal N as Python prints it: no sign, no leading zero (except "0"). */
    size_t k = n;
    long value = 0;
    while (k < len && k - n < 7 && s[k] >= '0' && s[k] <= '9') {
        value = value * 10 + (s[k] - '0');
        k++;
    }
    size_t digits = k - n;
    if (digits == 0 || digits > 6 || (digits > 1 && s[n] == '0') || k >= len || s[k] != '>')
        return 0;
    if (value >= t->extra_ids)
        return 0;
    *id = (int32_t)(t->n_pieces + t->extra_ids - 1 - value);
    return k + 1;
}

int32_t spm_added_token_id(const mg_tokenizer *t, const uint8_t *s, size_t len) {
    int32_t id;
    if (len && s[0] == '<' && match_added_token(t, s, len, &id) == len)
        return id;
    return -1;
}

/* Python's str.isspace() (Unicode White_Space minus U+180E, plus U+001C..U+001F). */
static int py_isspace(int32_t c) {
    if (c < 0)
        return 0;
    if ((c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20))
        return 1;
    if (c < 0x85)
        return 0;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

static void lstrip_span(const uint8_t *text, spm_span *sp) {
    while (sp->len) {
        size_t clen;
        if (!py_isspace(spm_utf8_decode(text + sp->start, sp->len, &clen)))
            break;
        sp->start += clen;
        sp->len -= clen;
    }
}

static void rstrip_span(const uint8_t *text, spm_span *sp) {
    size_t keep = 0; /* end of the last non-space character */
    for (size_t k = 0; k < sp->len;) {
        size_t clen;
        int32_t c = spm_utf8_decode(text + sp->start + k, sp->len - k, &clen);
        k += clen;
        if (!py_isspace(c))
            keep = k;
    }
    sp->len = keep;
}

static int is_sentinel(const mg_tokenizer *t, int32_t id) {
    return id >= t->n_pieces && id < t->n_pieces + t->extra_ids;
}

static mg_status push_span(spm_span **spans, int *n, int *cap, size_t start, size_t len, int32_t special) {
    if (*n == *cap) {
        if (*cap > (1 << 28))
            return mg_fail(MG_ERR_NOMEM, "too many added tokens in one text");
        int cap2 = *cap ? *cap * 2 : 16;
        spm_span *p = realloc(*spans, (size_t)cap2 * sizeof *p);
        if (!p)
            return mg_fail(MG_ERR_NOMEM, "out of memory splitting added tokens");
        *spans = p;
        *cap = cap2;
    }
    (*spans)[(*n)++] = (spm_span){start, len, special};
    return MG_OK;
}

/* Cut the text at the added tokens (Trie.split). */
static mg_status cut_text(const mg_tokenizer *t, const uint8_t *text, size_t len, spm_span **spans, int *n) {
    int cap = 0;
    size_t seg = 0;
    for (size_t i = 0; i < len;) {
        int32_t id;
        size_t m = text[i] == '<' ? match_added_token(t, text + i, len - i, &id) : 0;
        if (!m) {
            i++;
            continue;
        }
        if (i > seg)
            MG_TRY(push_span(spans, n, &cap, seg, i - seg, -1));
        MG_TRY(push_span(spans, n, &cap, i, m, id));
        i += m;
        seg = i;
    }
    if (len > seg)
        MG_TRY(push_span(spans, n, &cap, seg, len - seg, -1));
    return MG_OK;
}

mg_status spm_split_added_tokens(const mg_tokenizer *t, const uint8_t *text, size_t len, spm_span **spans,
                                 int *n_spans) {
    *spans = NULL;
    *n_spans = 0;
    spm_span *sp = NULL;
    int n = 0;
    mg_status st = cut_text(t, text, len, &sp, &n);
    if (st != MG_OK) {
        free(sp);
        return st;
    }
    /* The neighbours of a sentinel lose the whitespace that faces it. */
    for (int i = 0; i < n; i++) {
        if (sp[i].special < 0 || !is_sentinel(t, sp[i].special))
            continue;
        if (i + 1 < n && sp[i + 1].special < 0 && sp[i + 1].len)
            lstrip_span(text, &sp[i + 1]);
        if (i > 0 && sp[i - 1].special < 0 && sp[i - 1].len)
            rstrip_span(text, &sp[i - 1]);
    }
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (sp[i].len)
            sp[kept++] = sp[i];
    *spans = sp;
    *n_spans = kept;
    return MG_OK;
}
