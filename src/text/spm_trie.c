/* spm_trie.c — the byte trie the tokenizer looks pieces up in.
 *
 * Plays the role of the darts-clone double array sentencepiece builds over its
 * pieces (unigram_model.cc BuildTrie): Viterbi walks it one byte at a time from
 * every character position, and piece -> id lookups walk it for a whole string.
 * Nodes are numbered densely; edges are stored in one open-addressing hash table
 * keyed by (parent node, byte), so each step is O(1) and building is linear in the
 * total length of the pieces. It does not store the piece strings themselves.
 */
#include "text/spm_internal.h"

#include <stdlib.h>
#include <string.h>

static uint64_t edge_key(int32_t node, uint8_t byte) { return ((uint64_t)(uint32_t)node << 8 | byte) + 1; }

static size_t edge_hash(uint64_t key, size_t mask) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & mask;
}

mg_status spm_trie_init(spm_trie *t) {
    memset(t, 0, sizeof *t);
    t->edge_cap = 1024;
    t->edge_key = calloc(t->edge_cap, sizeof *t->edge_key);
    t->edge_child = malloc(t->edge_cap * sizeof *t->edge_child);
    t->cap_nodes = 512;
    t->id = malloc((size_t)t->cap_nodes * sizeof *t->id);
    t->reserved = malloc((size_t)t->cap_nodes * sizeof *t->reserved);
    if (!t->edge_key || !t->edge_child || !t->id || !t->reserved) {
        spm_trie_free(t);
        return mg_fail(MG_ERR_NOMEM, "out of memory building the tokenizer's piece trie");
    }
    t->n_nodes = 1;
    t->id[0] = t->reserved[0] = -1;
    return MG_OK;
}

void spm_trie_free(spm_trie *t) {
    free(t->edge_key);
    free(t->edge_child);
    free(t->id);
    free(t->reserved);
    memset(t, 0, sizeof *t);
}

static int grow_edges(spm_trie *t) {
    size_t cap = t->edge_cap * 2;
    uint64_t *keys = calloc(cap, sizeof *keys);
    int32_t *child = malloc(cap * sizeof *child);
    if (!keys || !child) {
        free(keys);
        free(child);
        return 0;
    }
    for (size_t i = 0; i < t->edge_cap; i++) {
        if (!t->edge_key[i])
            continue;
        size_t j = edge_hash(t->edge_key[i], cap - 1);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = t->edge_key[i];
        child[j] = t->edge_child[i];
    }
    free(t->edge_key);
    free(t->edge_child);
    t->edge_key = keys;
    t->edge_child = child;
    t->edge_cap = cap;
    return 1;
}

static int32_t new_node(spm_trie *t) {
    if (t->n_nodes == t->cap_nodes) {
        if (t->cap_nodes > INT32_MAX / 2)
            return -1;
        int32_t cap = t->cap_nodes * 2;
        int32_t *id = realloc(t->id, (size_t)cap * sizeof *id);
        if (!id)
            return -1;
        t->id = id;
        int32_t *res = realloc(t->reserved, (size_t)cap * sizeof *res);
        if (!res)
            return -1;
        t->reserved = res;
        t->cap_nodes = cap;
    }
    int32_t n = t->n_nodes++;
    t->id[n] = t->reserved[n] = -1;
    return n;
}

int32_t spm_trie_step(const spm_trie *t, int32_t node, uint8_t byte) {
    uint64_t key = edge_key(node, byte);
    size_t mask = t->edge_cap - 1;
    for (size_t i = edge_hash(key, mask);; i = (i + 1) & mask) {
        if (t->edge_key[i] == key)
            return t->edge_child[i];
        if (!t->edge_key[i])
            return -1;
    }
}

int32_t spm_trie_insert(spm_trie *t, const uint8_t *key, size_t len) {
    int32_t node = 0;
    for (size_t k = 0; k < len; k++) {
        int32_t next = spm_trie_step(t, node, key[k]);
        if (next < 0) {
            if ((t->n_edges + 1) * 2 > t->edge_cap && !grow_edges(t))
                goto nomem;
            next = new_node(t);
            if (next < 0)
                goto nomem;
            uint64_t ek = edge_key(node, key[k]);
            size_t mask = t->edge_cap - 1;
            size_t i = edge_hash(ek, mask);
            while (t->edge_key[i])
                i = (i + 1) & mask;
            t->edge_key[i] = ek;
            t->edge_child[i] = next;
            t->n_edges++;
        }
        node = next;
    }
    return node;
nomem:
    mg_fail(MG_ERR_NOMEM, "out of memory building the tokenizer's piece trie");
    return -1;
}

int32_t spm_trie_find(const spm_trie *t, const uint8_t *key, size_t len) {
    int32_t node = 0;
    for (size_t k = 0; k < len && node >= 0; k++)
        node = spm_trie_step(t, node, key[k]);
    return node;
}
