/* spm_normalize.c — sentencepiece's text normalizer (normalizer.cc), driven by the
 * model's NormalizerSpec.
 *
 * The precompiled charsmap is <uint32 trie size><darts-clone double array><strings>:
 * the double array maps byte strings (NFKC sources such as "ｆ", "ﬁ", "\t") to an
 * offset in the NUL-separated replacement strings. At each position the longest
 * match wins (user-defined pieces first, passed through unchanged); without a
 * match one UTF-8 character is copied, and a byte that does not start a valid
 * character becomes U+FFFD. Then the whitespace rules: leading spaces dropped,
 * runs of spaces collapsed, trailing spaces dropped (remove_extra_whitespaces),
 * a space prepended (add_dummy_prefix; appended with treat_whitespace_as_suffix),
 * spaces written as U+2581 (escape_whitespaces).
 *
 * Every access to the double array and the strings is bounds-checked, so a
 * corrupt charsmap cannot make it read outside the blob. It does not keep the
 * normalized -> original offsets (T5Tokenizer never needs the surface strings).
 */
#include "text/spm_internal.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t kSpaceSymbol[3] = {0xE2, 0x96, 0x81}; /* U+2581 */
static const uint8_t kReplacement[3] = {0xEF, 0xBF, 0xBD}; /* U+FFFD */

mg_status spm_normalizer_init(spm_normalizer *n, const spm_proto *proto, const char *where) {
    memset(n, 0, sizeof *n);
    n->add_dummy_prefix = proto->add_dummy_prefix;
    n->remove_extra_whitespaces = proto->remove_extra_whitespaces;
    n->escape_whitespaces = proto->escape_whitespaces;
    n->treat_whitespace_as_suffix = proto->treat_whitespace_as_suffix;
    if (!proto->charsmap || proto->charsmap_size == 0)
        return MG_OK; /* identity normalization */
    const uint8_t *blob = proto->charsmap;
    size_t size = proto->charsmap_size;
    if (size <= 4)
        return mg_fail(MG_ERR_FORMAT, "%s: the normalizer's precompiled charsmap is broken (%zu bytes)", where, size);
    uint32_t trie_size = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 24;
    if ((size_t)trie_size > size - 4)
        return mg_fail(MG_ERR_FORMAT,
                       "%s: the normalizer's charsmap trie (%u bytes) exceeds its blob (%zu bytes)", where,
                       trie_size, size);
    n->n_units = trie_size / 4;
    n->strings_size = size - 4 - trie_size;
    n->units = malloc(n->n_units ? n->n_units * sizeof *n->units : 1);
    n->strings = malloc(n->strings_size ? n->strings_size : 1);
    if (!n->units || !n->strings) {
        spm_normalizer_free(n);
        return mg_fail(MG_ERR_NOMEM, "out of memory loading the normalizer of %s", where);
    }
    const uint8_t *u = blob + 4;
    for (size_t i = 0; i < n->n_units; i++, u += 4) /* little-endian on every host */
        n->units[i] = (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
    if (n->strings_size)
        memcpy(n->strings, blob + 4 + trie_size, n->strings_size);
    return MG_OK;
}

void spm_normalizer_free(spm_normalizer *n) {
    free(n->units);
    free(n->strings);
    n->units = NULL;
    n->strings = NULL;
    n->n_units = n->strings_size = 0;
}

/* darts-clone unit fields */
static int unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static uint32_t unit_value(uint32_t u) { return u & 0x7FFFFFFFu; }
static uint32_t unit_label(uint32_t u) { return u & (0x80000000u | 0xFFu); }
static size_t unit_offset(uint32_t u) { return (size_t)(u >> 10) << ((u & (1u << 9)) >> 6); }

/* Longest key of the charsmap that prefixes s[0..len) (darts commonPrefixSearch).
 * Returns its length (0: none) and the offset of its replacement in *value. */
static size_t charsmap_longest(const spm_normalizer *n, const uint8_t *s, size_t len, uint32_t *value) {
    if (!n->n_units)
        return 0;
    size_t best = 0;
    size_t node = unit_offset(n->units[0]);
    for (size_t i = 0; i < len; i++) {
        node ^= s[i];
        if (node >= n->n_units)
            break;
        uint32_t unit = n->units[node];
        if (unit_label(unit) != s[i])
            break;
        node ^= unit_offset(unit);
        if (unit_has_leaf(unit)) {
            if (node >= n->n_units)
                break;
            best = i + 1;
            *value = unit_value(n->units[node]);
        }
    }
    return best;
}

/* Longest USER_DEFINED piece prefixing s[0..len), 0 if none. */
static size_t user_symbol_longest(const spm_trie *t, const uint8_t *s, size_t len) {
    size_t best = 0;
    int32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        node = spm_trie_step(t, node, s[i]);
        if (node < 0)
            break;
        if (t->id[node] >= 0)
            best = i + 1;
    }
    return best;
}

/* Normalizer::NormalizePrefix: what the next bytes of the input become
 * (*out, *out_len) and how many input bytes that consumes. */
static size_t normalize_prefix(const spm_normalizer *n, const uint8_t *s, size_t len, const uint8_t **out,
                               size_t *out_len) {
    if (n->user_symbols) {
        size_t m = user_symbol_longest(n->user_symbols, s, len);
        if (m) {
            *out = s;
            *out_len = m;
            return m;
        }
    }
    uint32_t value = 0;
    size_t m = charsmap_longest(n, s, len, &value);
    if (m) {
        if (value < n->strings_size) {
            const char *str = n->strings + value;
            const char *nul = memchr(str, 0, n->strings_size - value);
            *out = (const uint8_t *)str;
            *out_len = nul ? (size_t)(nul - str) : n->strings_size - value;
        } else {
            *out = s;
            *out_len = 0; /* corrupt offset: the key maps to nothing */
        }
        return m;
    }
    size_t clen;
    if (spm_utf8_decode(s, len, &clen) < 0) {
        *out = kReplacement;
        *out_len = sizeof kReplacement;
        return 1;
    }
    *out = s;
    *out_len = clen;
    return clen;
}

static mg_status add_space(const spm_normalizer *n, spm_bytes *out) {
    if (n->escape_whitespaces)
        return spm_bytes_append(out, kSpaceSymbol, sizeof kSpaceSymbol);
    return spm_bytes_append(out, " ", 1);
}

static int ends_with(const spm_bytes *b, const uint8_t *suffix, size_t n) {
    return b->len >= n && !memcmp(b->data + b->len - n, suffix, n);
}

mg_status spm_normalize(const spm_normalizer *n, const uint8_t *in, size_t len, spm_bytes *out) {
    out->len = 0;
    const uint8_t *rep;
    size_t rep_len;
    /* Leading whitespace. */
    if (n->remove_extra_whitespaces) {
        while (len) {
            size_t used = normalize_prefix(n, in, len, &rep, &rep_len);
            if (!(rep_len == 1 && rep[0] == ' '))
                break;
            in += used;
            len -= used;
        }
    }
    if (!len)
        return MG_OK;
    if (!n->treat_whitespace_as_suffix && n->add_dummy_prefix)
        MG_TRY(add_space(n, out));
    int prev_space = n->remove_extra_whitespaces;
    while (len) {
        size_t used = normalize_prefix(n, in, len, &rep, &rep_len);
        /* Drop leading spaces of this piece after a space. */
        while (prev_space && rep_len && rep[0] == ' ') {
            rep++;
            rep_len--;
        }
        if (rep_len) {
            size_t run = 0; /* copy runs without spaces in one go */
            for (size_t k = 0; k <= rep_len; k++) {
                if (k < rep_len && !(n->escape_whitespaces && rep[k] == ' '))
                    continue;
                MG_TRY(spm_bytes_append(out, rep + run, k - run));
                if (k < rep_len)
                    MG_TRY(spm_bytes_append(out, kSpaceSymbol, sizeof kSpaceSymbol));
                run = k + 1;
            }
            prev_space = rep[rep_len - 1] == ' ';
        }
        in += used;
        len -= used;
        if (!n->remove_extra_whitespaces)
            prev_space = 0;
    }
    /* Trailing whitespace. */
    if (n->remove_extra_whitespaces) {
        const uint8_t *space = n->escape_whitespaces ? kSpaceSymbol : (const uint8_t *)" ";
        size_t space_len = n->escape_whitespaces ? sizeof kSpaceSymbol : 1;
        while (ends_with(out, space, space_len))
            out->len -= space_len;
    }
    if (n->treat_whitespace_as_suffix && n->add_dummy_prefix)
        MG_TRY(add_space(n, out));
    return MG_OK;
}
