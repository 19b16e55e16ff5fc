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

/*
 * The large arrays sized by --max-flows (flows, their index, TCP analyses,
 * L7 state: over a gigabyte of address space at the default million flows)
 * are zeroed, lazily backed memory that follows the flows actually used.
 *
 * From HUGEMEM_MAP_MIN_BYTES on, each is an anonymous mmap(2) of its own,
 * with a PROT_NONE guard page after it, not a malloc block.  For the
 * release build that is what glibc's calloc did anyway.  The sanitizer
 * build is why: ASan's allocator writes the shadow of every large block
 * when it is made and again when it is freed (an eighth of its size, here
 * about 320 MB of shadow pages per run), which made each run of
 * build/san/netmoon on a small capture take 1.8 s instead of 0.1 s, and
 * `make check` run it thousands of times.  The guard page gives back part
 * of the redzone ASan no longer puts after these arrays.  Smaller arrays
 * (tests with a small --max-flows) stay malloc blocks, under ASan's
 * checks.
 *
 * Either way the array starts one cache line past its block, behind a
 * header saying how it was made, so hugemem_free needs only the pointer;
 * the array itself is 64-byte aligned.
 */
#define HUGEMEM_MAP_MIN_BYTES (1u << 20)

/* A zeroed array of n elements of size, huge pages advised on it
 * (hugemem_advise): arrays every new flow writes.  NULL on overflow or
 * when memory cannot be had.  Freed with hugemem_free. */
void *hugemem_calloc(size_t n, size_t size);

/* The same without the huge page advice: arrays only some flows write
 * (a flow that needs its entry should make 4 KiB resident, not 2 MiB). */
void *hugemem_calloc_plain(size_t n, size_t size);

/* Frees an array from hugemem_calloc or hugemem_calloc_plain; NULL is
 * a no-op. */
void hugemem_free(void *p);

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
