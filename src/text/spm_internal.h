/* spm_internal.h — what the tokenizer's files share (internal to src/text/spm*.c):
 * the parsed ModelProto, the byte trie of pieces, the normalizer, the growable
 * buffers, sentencepiece's UTF-8 rules and the mg_tokenizer struct itself.
 *
 * Module map:
 *   spm_proto.c      protobuf wire format -> spm_proto (bounds-checked)
 *   spm_trie.c       byte trie of pieces (hash of edges)
 *   spm_normalize.c  precompiled charsmap (darts-clone double array) + whitespace rules
 *   spm_unigram.c    Viterbi segmentation of a normalized string
 *   spm_specials.c   T5 added tokens (</s> <pad> <unk> <extra_id_N>) and their lstrip/rstrip
 *   spm.c            loading, validation, the encode pipeline, piece names
 */
#ifndef MG_TEXT_SPM_INTERNAL_H
#define MG_TEXT_SPM_INTERNAL_H

#include "text/spm.h"

#include <stddef.h>
#include <stdint.h>

/* ---- ModelProto ------------------------------------------------------------------ */

/* ModelProto.SentencePiece.Type */
enum {
    SPM_NORMAL = 1,
    SPM_UNKNOWN = 2,
    SPM_CONTROL = 3,
    SPM_USER_DEFINED = 4,
    SPM_UNUSED = 5,
    SPM_BYTE = 6
};
/* TrainerSpec.ModelType */
enum { SPM_MODEL_UNIGRAM = 1, SPM_MODEL_BPE = 2, SPM_MODEL_WORD = 3, SPM_MODEL_CHAR = 4 };

typedef struct spm_proto_piece {
    const uint8_t *text; /* points into the parsed buffer */
    size_t len;
    float score;
    int type;
} spm_proto_piece;

typedef struct spm_proto {
    spm_proto_piece *pieces;
    int n_pieces;
    int cap_pieces;
    /* TrainerSpec */
    int model_type;
    int byte_fallback;
    int treat_whitespace_as_suffix;
    /* NormalizerSpec */
    const uint8_t *charsmap; /* points into the parsed buffer, NULL if none */
    size_t charsmap_size;
    int add_dummy_prefix;
    int remove_extra_whitespaces;
    int escape_whitespaces;
} spm_proto;

/* Parse a serialized ModelProto. Every length is checked against the buffer; on
 * failure returns MG_ERR_FORMAT naming `where` and the byte offset. */
mg_status spm_proto_parse(const uint8_t *data, size_t size, const char *where, spm_proto *out);
void spm_proto_free(spm_proto *p);

/* ---- byte trie --------------------------------------------------------------------- */

/* A trie over bytes; node 0 is the root. Edges live in an open-addressing hash keyed
 * by (node, byte), so a step costs O(1) whatever the fan-out. Each node carries two
 * values (-1 = none), mirroring sentencepiece's two maps: `id` for pieces that take
 * part in segmentation (NORMAL, USER_DEFINED, UNUSED) and `reserved` for CONTROL,
 * UNKNOWN and BYTE pieces (looked up first by piece -> id). */
typedef struct spm_trie {
    uint64_t *edge_key; /* (parent << 8 | byte) + 1; 0 = empty slot */
    int32_t *edge_child;
    size_t edge_cap; /* power of two */
    size_t n_edges;
    int32_t *id;
    int32_t *reserved;
    int32_t n_nodes, cap_nodes;
} spm_trie;

mg_status spm_trie_init(spm_trie *t);
void spm_trie_free(spm_trie *t);
/* The node of `key` (created with its path when missing), or -1 (MG_ERR_NOMEM set). */
int32_t spm_trie_insert(spm_trie *t, const uint8_t *key, size_t len);
/* Child of `node` along `byte`, or -1. */
int32_t spm_trie_step(const spm_trie *t, int32_t node, uint8_t byte);
/* The node spelling exactly `key`, or -1. */
int32_t spm_trie_find(const spm_trie *t, const uint8_t *key, size_t len);

/* ---- growable buffers -------------------------------------------------------------- */

typedef struct spm_bytes {
    uint8_t *data;
    size_t len, cap;
} spm_bytes;

typedef struct spm_ids {
    int32_t *data;
    size_t len, cap;
} spm_ids;

mg_status spm_bytes_append(spm_bytes *b, const void *p, size_t n);
mg_status spm_ids_push(spm_ids *v, int32_t id);

/* ---- UTF-8, sentencepiece's rules (util.h / util.cc) --------------------------------- */

/* Bytes of the character starting with `lead` as judged by the lead byte alone
 * (sentencepiece's OneCharLen: 0x00-0xBF -> 1, 0xC0-0xDF -> 2, 0xE0-0xEF -> 3, else 4). */
static inline size_t spm_one_char_len(uint8_t lead) {
    static const uint8_t table[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return table[lead >> 4];
}

/* Decode one character of s[0..n) (n > 0). Returns the code point and its length;
 * an invalid sequence (bad lead/trail byte, overlong, surrogate, > U+10FFFF,
 * truncated) returns -1 with length 1. */
int32_t spm_utf8_decode(const uint8_t *s, size_t n, size_t *len);

/* ---- normalizer ---------------------------------------------------------------------- */

typedef struct spm_normalizer {
    uint32_t *units; /* darts-clone double array, NULL when the model has no charsmap */
    size_t n_units;
    char *strings; /* replacement strings, each NUL-terminated */
    size_t strings_size;
    int add_dummy_prefix;
    int remove_extra_whitespaces;
    int escape_whitespaces;
    int treat_whitespace_as_suffix;
    const spm_trie *user_symbols; /* USER_DEFINED pieces pass through unnormalized; may be NULL */
} spm_normalizer;

/* Decode the precompiled charsmap of `proto` (copied). `where` for messages. */
mg_status spm_normalizer_init(spm_normalizer *n, const spm_proto *proto, const char *where);
void spm_normalizer_free(spm_normalizer *n);
/* sentencepiece's Normalizer::Normalize: `out` receives the normalized bytes
 * (appended; out->len is reset first). */
mg_status spm_normalize(const spm_normalizer *n, const uint8_t *in, size_t len, spm_bytes *out);

/* ---- the tokenizer ------------------------------------------------------------------- */

struct mg_tokenizer {
    int n_pieces;
    char **piece;    /* n_pieces + extra_ids NUL-terminated names (into `names`) */
    size_t *piece_len;
    float *score;
    uint8_t *type;
    char *names; /* storage of all names */
    spm_trie trie;   /* every piece; see spm_trie */
    spm_trie user;   /* USER_DEFINED pieces only (normalizer pass-through) */
    int has_user_symbols;
    spm_normalizer norm;
    float min_score, max_score; /* over NORMAL pieces, as sentencepiece computes them */
    int unk_id;                 /* the UNKNOWN piece */
    int byte_fallback;
    int32_t byte_id[256];       /* <0xXX> pieces when byte_fallback */
    /* T5Tokenizer conventions */
    int extra_ids;
    int eos_id, pad_id, unk_token_id; /* ids of "</s>", "<pad>", "<unk>" (-1 if absent) */
};

/* Viterbi segmentation (sentencepiece's unigram Model::EncodeOptimized) of the
 * normalized string `s`: appends (start, length, id) triples to `out`; id is the
 * unk id for unknown spans (not yet merged). */
mg_status spm_viterbi(const mg_tokenizer *t, const uint8_t *s, size_t len, spm_ids *out);

/* A span of the text after splitting out the added tokens: text (special = -1)
 * or an added token (special = its id). */
typedef struct spm_span {
    size_t start, len;
    int32_t special;
} spm_span;

/* Split `text` on the added tokens like transformers' Trie.split, then apply the
 * added tokens' lstrip/rstrip (extra ids strip Python whitespace around them) and
 * drop empty spans, as PreTrainedTokenizer.tokenize does. *spans is malloc'ed. */
mg_status spm_split_added_tokens(const mg_tokenizer *t, const uint8_t *text, size_t len, spm_span **spans,
                                 int *n_spans);
/* Id of the added token spelled exactly s[0..len), or -1. */
int32_t spm_added_token_id(const mg_tokenizer *t, const uint8_t *s, size_t len);

#endif
