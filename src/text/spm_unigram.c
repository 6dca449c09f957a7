/* spm_unigram.c — unigram segmentation: the best-scoring split of a normalized
 * string into pieces (sentencepiece unigram_model.cc, Model::EncodeOptimized).
 *
 * best[e] holds the best path ending at byte e. From every character start s the
 * piece trie is walked byte by byte; each piece s..e found proposes
 * best[s].score + score(piece) for best[e] (USER_DEFINED pieces score
 * length * max_score - 0.1 so they always win, UNUSED pieces are skipped). If no
 * piece covers exactly the one character at s, an <unk> of that character is
 * proposed with min_score - 10. Ties keep the first proposal. The arithmetic uses
 * the same float/double mix as sentencepiece (piece candidates in double, path
 * scores stored as float, <unk> candidates in float) so near-ties resolve
 * identically.
 * Cost: O(n * longest piece). It does not merge unknowns or map ids (spm.c does).
 */
#include "text/spm_internal.h"

#include <stdlib.h>

typedef struct best_node {
    float score;
    int32_t id;
    int64_t starts_at; /* -1: no path ends here yet */
} best_node;

static const float kUnkPenalty = 10.0f;

static void propose(best_node *target, double candidate, int64_t starts_at, int32_t id) {
    if (target->starts_at == -1 || candidate > (double)target->score) {
        target->score = (float)candidate;
        target->starts_at = starts_at;
        target->id = id;
    }
}

/* Same as propose() for float candidates (float comparison, as in sentencepiece). */
static void propose_f(best_node *target, float candidate, int64_t starts_at, int32_t id) {
    if (target->starts_at == -1 || candidate > target->score) {
        target->score = candidate;
        target->starts_at = starts_at;
        target->id = id;
    }
}

mg_status spm_viterbi(const mg_tokenizer *t, const uint8_t *s, size_t size, spm_ids *out) {
    if (!size)
        return MG_OK;
    if (size > (size_t)INT32_MAX)
        return mg_fail(MG_ERR_INVALID_ARG, "text too long to tokenize (%zu bytes after normalization)", size);
    best_node *best = malloc((size + 1) * sizeof *best);
    if (!best)
        return mg_fail(MG_ERR_NOMEM, "out of memory tokenizing %zu bytes", size);
    for (size_t i = 0; i <= size; i++) {
        best[i].score = 0;
        best[i].id = -1;
        best[i].starts_at = -1;
    }
    const float unk_score = t->min_score - kUnkPenalty;
    size_t start = 0;
    while (start < size) {
        const float till_here = best[start].score;
        size_t mblen = spm_one_char_len(s[start]);
        if (mblen > size - start)
            mblen = size - start;
        int has_single_node = 0;
        int32_t node = 0;
        for (size_t pos = start; pos < size;) {
            node = spm_trie_step(&t->trie, node, s[pos]);
            if (node < 0)
                break;
            pos++;
            int32_t id = t->trie.id[node];
            if (id < 0 || t->type[id] == SPM_UNUSED)
                continue;
            size_t length = pos - start;
            /* sentencepiece's `cond ? length * max_score - 0.1 : score` is a double
             * expression, so piece candidates are summed and compared in double. */
            double score = t->type[id] == SPM_USER_DEFINED ? (double)((float)length * t->max_score) - 0.1
                                                           : (double)t->score[id];
            propose(&best[pos], score + (double)till_here, (int64_t)start, id);
            if (length == mblen)
                has_single_node = 1;
        }
        if (!has_single_node)
            propose_f(&best[start + mblen], unk_score + till_here, (int64_t)start, t->unk_id);
        start += mblen;
    }
    /* Backtrack, then reverse into (start, length, id) triples. */
    size_t first = out->len;
    mg_status st = MG_OK;
    for (int64_t end = (int64_t)size; end > 0 && st == MG_OK;) {
        const best_node *b = &best[end];
        if (b->starts_at < 0 || b->starts_at >= end) {
            st = mg_fail(MG_ERR_INTERNAL, "tokenizer: no segmentation reaches byte %lld", (long long)end);
            break;
        }
        st = spm_ids_push(out, b->id);
        if (st == MG_OK)
            st = spm_ids_push(out, (int32_t)(end - b->starts_at));
        if (st == MG_OK)
            st = spm_ids_push(out, (int32_t)b->starts_at);
        end = b->starts_at;
    }
    free(best);
    if (st != MG_OK)
        return st;
    for (size_t i = first, j = out->len - 1; i < j; i++, j--) {
        int32_t tmp = out->data[i];
        out->data[i] = out->data[j];
        out->data[j] = tmp;
    }
    return MG_OK;
}
