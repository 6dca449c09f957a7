/* spm_util.c — small helpers of the tokenizer: growable byte / id buffers and
 * UTF-8 decoding with exactly sentencepiece's validity rules (util.cc DecodeUTF8:
 * no overlongs, no surrogates, nothing above U+10FFFF; a bad sequence counts as
 * one invalid byte). Nothing Unicode-table related lives here.
 */
#include "text/spm_internal.h"

#include <stdlib.h>
#include <string.h>

static int grow(void **data, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return 1;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need) {
        if (cap2 > SIZE_MAX / 2 / elem)
            return 0;
        cap2 *= 2;
    }
    void *p = realloc(*data, cap2 * elem);
    if (!p)
        return 0;
    *data = p;
    *cap = cap2;
    return 1;
}

mg_status spm_bytes_append(spm_bytes *b, const void *p, size_t n) {
    if (n > SIZE_MAX - b->len || !grow((void **)&b->data, &b->cap, b->len + n, 1))
        return mg_fail(MG_ERR_NOMEM, "out of memory while tokenizing (%zu bytes)", b->len + n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return MG_OK;
}

mg_status spm_ids_push(spm_ids *v, int32_t id) {
    if (!grow((void **)&v->data, &v->cap, v->len + 1, sizeof *v->data))
        return mg_fail(MG_ERR_NOMEM, "out of memory while tokenizing (%zu ids)", v->len + 1);
    v->data[v->len++] = id;
    return MG_OK;
}

static int is_trail(uint8_t b) { return (b & 0xC0) == 0x80; }

static int valid_codepoint(int32_t c) { return (c >= 0 && c < 0xD800) || (c >= 0xE000 && c <= 0x10FFFF); }

int32_t spm_utf8_decode(const uint8_t *s, size_t n, size_t *len) {
    *len = 1;
    if (s[0] < 0x80)
        return s[0];
    if (n >= 2 && (s[0] & 0xE0) == 0xC0) {
        int32_t c = (s[0] & 0x1F) << 6 | (s[1] & 0x3F);
        if (is_trail(s[1]) && c >= 0x80 && valid_codepoint(c)) {
            *len = 2;
            return c;
        }
    } else if (n >= 3 && (s[0] & 0xF0) == 0xE0) {
        int32_t c = (s[0] & 0x0F) << 12 | (s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        if (is_trail(s[1]) && is_trail(s[2]) && c >= 0x800 && valid_codepoint(c)) {
            *len = 3;
            return c;
        }
    } else if (n >= 4 && (s[0] & 0xF8) == 0xF0) {
        int32_t c = (s[0] & 0x07) << 18 | (s[1] & 0x3F) << 12 | (s[2] & 0x3F) << 6 | (s[3] & 0x3F);
        if (is_trail(s[1]) && is_trail(s[2]) && is_trail(s[3]) && c >= 0x10000 && valid_codepoint(c)) {
            *len = 4;
            return c;
        }
    }
    return -1;
}
