/*
 * hugemem.c: see hugemem.h (mmap(2), madvise(2) MADV_HUGEPAGE, MADV_POPULATE_WRITE).
 */
#include "common/hugemem.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

/* In the block's first cache line: how hugemem_free gives it back. */
#define HUGEMEM_HEADER_BYTES 64u
struct hugemem_header {
    size_t map_len;   /* bytes mapped, guard page included; 0: a malloc block */
};

static size_t hugemem_page_bytes(void)
{
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (size_t)page : 4096;
}

/* A mapping of header + bytes rounded up to pages, then a guard page.  A
 * failed mprotect only loses the guard. */
static uint8_t *hugemem_map(size_t bytes, size_t *map_len)
{
    size_t page = hugemem_page_bytes();
    size_t data_len = (HUGEMEM_HEADER_BYTES + bytes + page - 1) & ~(page - 1);
    uint8_t *base = mmap(NULL, data_len + page, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (base == MAP_FAILED)
        return NULL;
    (void)mprotect(base + data_len, page, PROT_NONE);
    *map_len = data_len + page;
    return base;
}

static void *hugemem_alloc(size_t n, size_t size, bool advise)
{
    size_t map_len = 0;
    uint8_t *base;

    if (size && n > (SIZE_MAX / 2 - HUGEMEM_HEADER_BYTES) / size) {
        errno = ENOMEM;
        return NULL;
    }
    size_t bytes = n * size;
    if (bytes >= HUGEMEM_MAP_MIN_BYTES) {
        base = hugemem_map(bytes, &map_len);
    } else {
        /* aligned_alloc wants a multiple of the alignment (C11 7.22.3.1). */
        size_t len = (HUGEMEM_HEADER_BYTES + bytes + 63) & ~(size_t)63;
        base = aligned_alloc(64, len);
        if (base)
            memset(base, 0, len);
    }
    if (!base)
        return NULL;
    ((struct hugemem_header *)(void *)base)->map_len = map_len;
    if (advise)
        hugemem_advise(base + HUGEMEM_HEADER_BYTES, bytes);
    return base + HUGEMEM_HEADER_BYTES;
}

void *hugemem_calloc(size_t n, size_t size)
{
    return hugemem_alloc(n, size, true);
}

void *hugemem_calloc_plain(size_t n, size_t size)
{
    return hugemem_alloc(n, size, false);
}

void hugemem_free(void *p)
{
    if (!p)
        return;
    uint8_t *base = (uint8_t *)p - HUGEMEM_HEADER_BYTES;
    size_t map_len = ((const struct hugemem_header *)(void *)base)->map_len;
    if (map_len)
        munmap(base, map_len);
    else
        free(base);
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
    uintptr_t page = hugemem_page_bytes();
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
