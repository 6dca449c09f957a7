/* bigbuf.h — page size policy for big buffers.
 *
 * Streaming reads of big anonymous buffers (the KV caches, the bandwidth probe, the
 * matmul benchmark's weights) run much faster from 2 MiB pages than from 4 KiB ones:
 * fewer TLB misses, and on a VM far fewer nested page walks (measured on the 2-core
 * VM: a plain read loop 17.5 -> 24 GB/s, a musicgen-small q8_0 step of matmuls
 * 26-28 -> 17-19 ms, the self-attention over a 10 s f16 KV cache 4.6 -> 3.2 ms per
 * step). Machines whose THP setting is "madvise" (Debian's default) only give huge
 * pages to memory that asks for them. Mapped weight files are the exception (below).
 */
#ifndef MG_BASE_BIGBUF_H
#define MG_BASE_BIGBUF_H

#include <stddef.h>

/* At least `bytes` of uninitialized memory, 2 MiB aligned and advised as huge-page
 * memory when it is at least that big (64-byte aligned otherwise); NULL when out of
 * memory. Free with free(). */
void *mg_bigbuf_alloc(size_t bytes);

typedef struct mg_pool mg_pool;
/* Faults in every page of [p, p + bytes) (writes a zero byte per 4 KiB, so only for
 * memory whose contents do not matter yet), one 2 MiB piece per pool task so that all
 * threads fault at once. The first touch of fresh memory is slow on VMs whose host
 * takes back free memory (on the 2-core VM: 2 ms per MB from huge pages, one thread),
 * and faulted by one thread in the middle of a step it stalls the other thread too. */
void mg_bigbuf_prefault(mg_pool *pool, void *p, size_t bytes);

/* Small pages for a mapped file, even where the page cache holds it in 2 MiB folios
 * (Linux >= 6.x file THP): a huge-page mapping maps whole 2 MiB around every weight
 * read, so released ranges (T5, cross-attention K/V projections) and unused neighbours
 * would come back into the RSS (musicgen-small q8_0: 776 vs 728 MB peak). The one
 * exception, the whole 2 MiB pages inside the matrices every decoder step streams, is
 * made by mg_file_map_huge (base/file.h) after loading. Never fails. */
void mg_bigbuf_no_huge_pages(const void *p, size_t bytes);

#endif
