/*
 * hugemem.h: transparent huge pages for the large, lazily touched arrays
 * (flow table, its index, TCP analyses), and faulting them in ahead of use
 * from another thread.  madvise(2) MADV_HUGEPAGE, Linux 2.6.38; with /sys/kernel/mm/transparent_hugepage/enabled at "madvise"
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

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HUGEMEM_PAGE_BYTES (2u << 20)
#define HUGEMEM_SMALL_BYTES (4u << 20)

/* Advises huge pages for [p + HUGEMEM_SMALL_BYTES, p + len) rounded inward
 * to 2 MiB boundaries.  Returns the bytes advised (0 when the array is too
 * small or the kernel refused: a hint, never an error). */
size_t hugemem_advise(void *p, size_t len);

/* calloc(n, size) of an array that may grow large, then hugemem_advise on
 * it; freed with free(). */
void *hugemem_calloc(size_t n, size_t size);

/*
 * Faulting an array in ahead of its use, from a thread other than its
 * owner.  The owner hands out the array's slots in order and publishes how
 * many it has (hugemem_ahead_note, a relaxed store: only a hint); another
 * thread with time to spare (the -r reader while it waits for ring room)
 * populates the pages the next slots will take with madvise(2)
 * MADV_POPULATE_WRITE (Linux 5.14), so that the kernel zeroes them there
 * rather than in the middle of the owner's work (on bench workload 1 page
 * zeroing was 17 % of the flow thread's time).  Populating changes no byte:
 * it maps the zeroed pages the owner's first write would fault in.
 */
#define HUGEMEM_AHEAD_MIN_BYTES (256u << 10)   /* the smallest populate call */

struct hugemem_ahead {
    uint8_t *base;            /* NULL: nothing to populate (small array) */
    size_t elem_size, count;
    size_t populated;         /* bytes from base done: the populating thread's */
    /* Slots the owner has handed out.  A cache line of its own, so that
     * the other thread's reads do not pull the owner's hot fields away:
     * padded rather than _Alignas(64), since the structs that embed this
     * are calloc'ed (16-byte alignment only). */
    char pad_before[64];
    _Atomic size_t used;
    char pad_after[64 - sizeof(size_t)];
};

/* For an array of count elements of elem_size at base (from
 * hugemem_calloc); arrays under HUGEMEM_SMALL_BYTES are left alone. */
void hugemem_ahead_init(struct hugemem_ahead *a, void *base, size_t elem_size, size_t count);

static inline void hugemem_ahead_note(struct hugemem_ahead *a, size_t used)
{
    /* Relaxed: a hint for the populating thread, which orders nothing by it. */
    atomic_store_explicit(&a->used, used, memory_order_relaxed);
}

/* Populates the pages of the slots just past those handed out: a quarter
 * of those handed out so far plus 256, at most `ahead`.
 * False when the kernel lacks MADV_POPULATE_WRITE: then stop calling. */
bool hugemem_ahead_populate(struct hugemem_ahead *a, size_t ahead);

#endif
