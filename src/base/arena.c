/* arena.c — bump allocator (see arena.h). Blocks are 64-byte aligned; a block of 2 MiB
 * or more (a converted weight matrix, say) is huge-page memory (base/bigbuf.h), since
 * the decoder streams such blocks every step. */
#include "base/arena.h"
#include "base/bigbuf.h"
#include "base/status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MG_ARENA_ALIGN 64

struct mg_arena_block {
    mg_arena_block *prev;
    size_t size, used;
    unsigned char *data;
};

void mg_arena_init(mg_arena *a, size_t block_size) {
    a->head = NULL;
    a->block_size = block_size ? block_size : (1u << 20);
    a->used_total = 0;
}

static mg_arena_block *new_block(size_t size) {
    mg_arena_block *b = malloc(sizeof *b);
    if (!b)
        return NULL;
    size = (size + MG_ARENA_ALIGN - 1) & ~(size_t)(MG_ARENA_ALIGN - 1);
    b->data = mg_bigbuf_alloc(size);
    if (!b->data) {
        free(b);
        return NULL;
    }
    b->size = size;
    b->used = 0;
    b->prev = NULL;
    return b;
}

void *mg_arena_alloc(mg_arena *a, size_t n) {
    if (n > SIZE_MAX - 2 * MG_ARENA_ALIGN) {
        mg_fail(MG_ERR_NOMEM, "arena allocation of %zu bytes is too large", n);
        return NULL;
    }
    size_t need = (n + MG_ARENA_ALIGN - 1) & ~(size_t)(MG_ARENA_ALIGN - 1);
    if (need == 0)
        need = MG_ARENA_ALIGN;
    mg_arena_block *b = a->head;
    if (!b || b->size - b->used < need) {
        size_t size = need > a->block_size ? need : a->block_size;
        mg_arena_block *nb = new_block(size);
        if (!nb) {
            mg_fail(MG_ERR_NOMEM, "out of memory allocating a %zu-byte arena block", size);
            return NULL;
        }
        nb->prev = b;
        a->head = b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->used_total += need;
    memset(p, 0, need);
    return p;
}

mg_arena_mark mg_arena_save(const mg_arena *a) {
    mg_arena_mark m = {a->head, a->head ? a->head->used : 0, a->used_total};
    return m;
}

void mg_arena_restore(mg_arena *a, mg_arena_mark m) {
    while (a->head && a->head != m.block) {
        mg_arena_block *p = a->head->prev;
        free(a->head->data);
        free(a->head);
        a->head = p;
    }
    if (a->head)
        a->head->used = m.used;
    a->used_total = m.used_total;
}

void mg_arena_reset(mg_arena *a) {
    while (a->head && a->head->prev) {
        mg_arena_block *p = a->head->prev;
        free(a->head->data);
        free(a->head);
        a->head = p;
    }
    if (a->head)
        a->head->used = 0;
    a->used_total = 0;
}

void mg_arena_free(mg_arena *a) {
    while (a->head) {
        mg_arena_block *p = a->head->prev;
        free(a->head->data);
        free(a->head);
        a->head = p;
    }
    a->used_total = 0;
}
