/*
 * hugemem.h: transparent huge pages for the large, lazily touched arrays
 * (flow table, its index, TCP analyses).  madvise(2) MADV_HUGEPAGE, Linux
 * 2.6.38; with /sys/kernel/mm/transparent_hugepage/enabled at "madvise"
 * (Debian's default) nothing gets huge pages without it.
 *
 * Why: at 100 k flows those arrays are tens of megabytes touched at random.
 * With 4 KiB pages the first touch of each page is a page fault (about
 * 16,000 on bench workload 1, 8 % of netmoon's CPU in the kernel) and most
 * lookups also miss the TLB.  A 2 MiB page takes one fault and one TLB
 * entry for 512 of them.
 *
 * Only the part past the first HUGEMEM_SMALL_BYTES is advised, 2 MiB
 * aligned: a small capture keeps its small resident size, and a big one
 * pays at most one partly used huge page per array.
 */
#ifndef NETMOON_COMMON_HUGEMEM_H
#define NETMOON_COMMON_HUGEMEM_H

#include <stddef.h>

#define HUGEMEM_PAGE_BYTES (2u << 20)
#define HUGEMEM_SMALL_BYTES (4u << 20)

/* Advises huge pages for [p + HUGEMEM_SMALL_BYTES, p + len) rounded inward
 * to 2 MiB boundaries.  Returns the bytes advised (0 when the array is too
 * small or the kernel refused: a hint, never an error). */
size_t hugemem_advise(void *p, size_t len);

/* calloc(n, size) of an array that may grow large, then hugemem_advise on
 * it; freed with free(). */
void *hugemem_calloc(size_t n, size_t size);

#endif
