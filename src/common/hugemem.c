/*
 * hugemem.c: see hugemem.h (madvise(2) MADV_HUGEPAGE).
 */
#include "common/hugemem.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

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
