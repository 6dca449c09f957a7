/* spm.h — the T5 tokenizer (internal API): a SentencePiece unigram model read
 * directly from the bytes of `spiece.model`, wrapped in the conventions of
 * transformers' slow T5Tokenizer (legacy=True) as MusicgenProcessor uses it.
 *
 * encode(text) = split the added tokens (</s> <pad> <unk> <extra_id_N>) out of the
 * text, normalize every other span (precompiled charsmap, dummy prefix, whitespace
 * collapsing, U+2581 escaping), segment it with the unigram Viterbi, map pieces to
 * ids and append </s> unless the ids already end with it. See docs/tokenizer.md.
 *
 * What it does not do: BPE/WORD/CHAR models (rejected with MG_ERR_UNSUPPORTED),
 * sampling (subword regularization), decoding ids back to text.
 *
 * Invalid UTF-8 in the text is not an error: like libsentencepiece, every byte
 * that does not start a valid UTF-8 sequence becomes U+FFFD (which the T5
 * vocabulary maps to <unk>).
 */
#ifndef MG_TEXT_SPM_H
#define MG_TEXT_SPM_H

#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct mg_tokenizer mg_tokenizer;

/* T5's default number of <extra_id_N> sentinel tokens. */
#define MG_TOKENIZER_DEFAULT_EXTRA_IDS 100
/* Largest extra_ids accepted (a sanity bound, real models use 100). */
#define MG_TOKENIZER_MAX_EXTRA_IDS 100000

/* Parse a serialized SentencePiece ModelProto (`data`, `size` bytes; the bytes are
 * copied, the caller may free them afterwards). `where` names the source for error
 * messages (a path, "GGUF file x"); `extra_ids` is the number of <extra_id_N>
 * tokens (tokenizer_config.json "extra_ids"; T5 default 100). */
mg_status mg_tokenizer_load(const uint8_t *data, size_t size, const char *where, int extra_ids,
                            mg_tokenizer **out);
void mg_tokenizer_free(mg_tokenizer *t);

/* T5Tokenizer ids of `text` (`len` bytes, may contain NUL bytes): malloc'ed array
 * (free with free()/mg_free()), always ends with </s> (1 in T5). */
mg_status mg_tokenizer_encode(const mg_tokenizer *t, const char *text, size_t len, int32_t **ids, int *n_ids);

/* Flags of mg_tokenizer_encode_ex. */
enum {
    /* Plain sentencepiece: no added-token matching, no </s>, ids exactly as
     * libsentencepiece's Encode() returns them (for differential tests). */
    MG_TOK_PLAIN_SPM = 1
};
mg_status mg_tokenizer_encode_ex(const mg_tokenizer *t, const char *text, size_t len, int flags, int32_t **ids,
                                 int *n_ids);

/* The piece of `id` ("▁rock", "</s>", "<extra_id_0>"), or NULL when out of range. */
const char *mg_tokenizer_piece(const mg_tokenizer *t, int id);
/* Ids the tokenizer can produce: sentencepiece pieces + extra ids (T5: 32100). */
int mg_tokenizer_vocab_size(const mg_tokenizer *t);
/* Number of sentencepiece pieces (T5: 32000). */
int mg_tokenizer_n_pieces(const mg_tokenizer *t);
int mg_tokenizer_eos_id(const mg_tokenizer *t);
int mg_tokenizer_pad_id(const mg_tokenizer *t);
int mg_tokenizer_unk_id(const mg_tokenizer *t);

/* Read "extra_ids" from the tokenizer_config.json in `folder` (HF checkpoint
 * folder). Returns MG_TOKENIZER_DEFAULT_EXTRA_IDS when the file or key is absent;
 * fails (MG_ERR_FORMAT) only when the key is present but not a sane integer. */
mg_status mg_tokenizer_read_extra_ids(const char *folder, int *extra_ids);

#endif
