/* arena.h — bump allocator for activations and load-time buffers.
 *
 * An arena is one or more big blocks; allocations are 64-byte aligned and freed all
 * at once (mg_arena_reset / mg_arena_free). Used so the per-step decoder loop never
 * calls malloc: scratch buffers are carved out once when a context is created.
 */
#ifndef MG_BASE_ARENA_H
#define MG_BASE_ARENA_H

#include <stddef.h>

typedef struct mg_arena_block mg_arena_block;

typedef struct mg_arena {
    mg_arena_block *head;  /* current block (linked list of older blocks) */
    size_t block_size;     /* default size of new blocks */
    size_t used_total;     /* bytes handed out (for reporting) */
} mg_arena;

void mg_arena_init(mg_arena *a, size_t block_size);
/* Returns 64-byte aligned zeroed memory, or NULL (with mg_fail set) when out of memory. */
void *mg_arena_alloc(mg_arena *a, size_t n);
/* Frees every block except the first, rewinds it. */
void mg_arena_reset(mg_arena *a);
void mg_arena_free(mg_arena *a);

/* Save/restore points for temporary scratch (stack-like use). */
typedef struct mg_arena_mark {
    mg_arena_block *block;
    size_t used;
    size_t used_total;
} mg_arena_mark;
mg_arena_mark mg_arena_save(const mg_arena *a);
void mg_arena_restore(mg_arena *a, mg_arena_mark m);

#endif
