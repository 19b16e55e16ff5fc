/*
 * hugemem.c: see hugemem.h (madvise(2) MADV_HUGEPAGE, MADV_POPULATE_WRITE).
 */
#include "common/hugemem.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Linux 5.14 uapi value, for C libraries that predate it. */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

size_t hugemem_advise(void *p, size_t len)
{
    if (!p || len <= HUGEMEM_SMALL_BYTES)
        return 0;
    uintptr_t start = (uintptr_t)p + HUGEMEM_SMALL_BYTES;
    uintptr_t end = (uintptr_t)p + len;
    start = (start + HUGEMEM_PAGE_BYTES - 1) & ~(uintptr_t)(HUGEMEM_PAGE_BYTES - 1);
    end &= ~(uintptr_t)(HUGEMEM_PAGE_BYTES - 1);
    if (end <= start)
        return 0;
#ifdef MADV_HUGEPAGE
    if (madvise((void *)start, end - start, MADV_HUGEPAGE) == 0)
        return end - start;
#endif
    return 0;
}

void *hugemem_calloc(size_t n, size_t size)
{
    void *p = calloc(n, size);

    hugemem_advise(p, n * size);   /* calloc checked n * size */
    return p;
}

void hugemem_ahead_init(struct hugemem_ahead *a, void *base, size_t elem_size, size_t count)
{
    a->base = base && elem_size * count > HUGEMEM_SMALL_BYTES ? base : NULL;
    a->elem_size = elem_size;
    a->count = count;
    atomic_init(&a->used, 0);
    a->populated = 0;
}

bool hugemem_ahead_populate(struct hugemem_ahead *a, size_t ahead)
{
    if (!a->base)
        return true;
    size_t used = atomic_load_explicit(&a->used, memory_order_relaxed);
    /* The lead grows with use, up to `ahead`: an array barely used (the
     * full TCP analyses of handshake-only traffic) gets no memory it
     * would not have taken anyway. */
    size_t lead = used / 4 + 256 < ahead ? used / 4 + 256 : ahead;
    size_t want = used + lead < a->count ? used + lead : a->count;
    size_t end = want * a->elem_size;
    /* Nothing new, or too little to be worth a call short of the end. */
    if (end <= a->populated || (end < a->populated + HUGEMEM_AHEAD_MIN_BYTES && want < a->count))
        return true;
    /* Rounded out to whole pages at both ends: the page holding base's
     * first bytes also holds the allocator's header (already present),
     * and the array's last page belongs to its allocation. */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t from = ((uintptr_t)a->base + a->populated) & ~(page - 1);
    uintptr_t to = ((uintptr_t)a->base + end + page - 1) & ~(page - 1);
    if (madvise((void *)from, to - from, MADV_POPULATE_WRITE) != 0 && errno == EINVAL) {
        a->base = NULL;
        return false;
    }
    /* Other failures (ENOMEM, EINTR) leave the pages to the owner's own
     * faults, as without this. */
    a->populated = end;
    return true;
}
