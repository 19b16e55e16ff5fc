/*
 * spsc_ring.h: a bounded single-producer / single-consumer ring of
 * fixed-size records, used to hand flow records from a capture worker to the
 * output thread without locks.
 *
 * The layout follows the idea of DPDK's rte_ring, restricted to one producer
 * and one consumer: free-running 32-bit indices (the slot is index & mask, so
 * the capacity is a power of two), the producer's and the consumer's index on
 * separate cache lines so the two threads do not false-share, and each side
 * keeping a cached copy of the other side's index so it touches the other
 * side's cache line only when its cached view says the ring looks full (or
 * empty).  Ordering uses C11 <stdatomic.h> acquire/release; each pair is
 * commented at the load and at the store.
 *
 * Nothing is lost silently: records the producer could not enqueue because
 * the ring was full are counted (spsc_ring_enqueue_failures) for the caller
 * to report.
 *
 * Thread rules: exactly one thread calls the enqueue functions and exactly
 * one thread calls the dequeue functions.  spsc_ring_count() and
 * spsc_ring_enqueue_failures() may be called from any thread (approximate).
 */
#ifndef NETMOON_COMMON_SPSC_RING_H
#define NETMOON_COMMON_SPSC_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPSC_RING_CACHE_LINE 64u
#define SPSC_RING_MAX_CAPACITY (1u << 30)

struct spsc_ring {
    /* Written once by spsc_ring_create, then read-only: shared by both sides. */
    uint32_t mask;          /* capacity - 1 */
    uint32_t record_size;
    uint8_t *slots;         /* capacity * record_size bytes, after the header */

    /* Producer's cache line: its own index, its view of the consumer. */
    _Alignas(SPSC_RING_CACHE_LINE) _Atomic uint32_t tail; /* next slot to fill */
    uint32_t head_cache;    /* producer's last-seen consumer index */
    _Atomic uint64_t enqueue_failures; /* records refused because full */

    /* Consumer's cache line: its own index, its view of the producer. */
    _Alignas(SPSC_RING_CACHE_LINE) _Atomic uint32_t head; /* next slot to read */
    uint32_t tail_cache;    /* consumer's last-seen producer index */

    _Alignas(SPSC_RING_CACHE_LINE) uint8_t pad_end;
};

/* Allocates a ring of capacity records of record_size bytes each (capacity a
 * power of two, 2..SPSC_RING_MAX_CAPACITY; record_size > 0).  Returns NULL on
 * a bad argument (errno EINVAL) or when memory is short (errno ENOMEM). */
struct spsc_ring *spsc_ring_create(uint32_t capacity, uint32_t record_size);
void spsc_ring_destroy(struct spsc_ring *r);

static inline uint32_t spsc_ring_capacity(const struct spsc_ring *r)
{
    return r->mask + 1;
}

/* Producer: copies up to n records (n * record_size bytes at recs) into the
 * ring and returns how many fit; the rest (n - returned) are counted as
 * enqueue failures.  Never blocks. */
uint32_t spsc_ring_enqueue_burst(struct spsc_ring *r, const void *recs, uint32_t n);

/* Consumer: copies up to max records into out and returns how many. */
uint32_t spsc_ring_dequeue_burst(struct spsc_ring *r, void *out, uint32_t max);

/* Enqueues all n records, or none when they do not all fit (not counted
 * as failures: the caller decides what a refusal costs). */
bool spsc_ring_enqueue_all(struct spsc_ring *r, const void *recs, uint32_t n);

static inline bool spsc_ring_enqueue(struct spsc_ring *r, const void *rec)
{
    return spsc_ring_enqueue_burst(r, rec, 1) == 1;
}

static inline bool spsc_ring_dequeue(struct spsc_ring *r, void *out)
{
    return spsc_ring_dequeue_burst(r, out, 1) == 1;
}

/* Records currently queued (a snapshot; exact only when both sides idle). */
/* Zero-copy consumer side: the number of records (at most max) readable in
 * place from *first, contiguous in memory (a run stops at the ring's end).
 * They stay the consumer's until spsc_ring_release(r, n) hands the first n
 * back to the producer; peek and dequeue must not be mixed in between. */
uint32_t spsc_ring_peek(struct spsc_ring *r, void **first, uint32_t max);
void spsc_ring_release(struct spsc_ring *r, uint32_t n);

/* Zero-copy producer side: the number of free slots (at most max) writable
 * in place from *first, contiguous in memory (a run stops at the ring's
 * end); 0 when the ring is full (not counted as a failure).  The consumer
 * sees none of them until spsc_ring_commit(r, n) publishes the first n;
 * reserve and enqueue must not be mixed in between. */
uint32_t spsc_ring_reserve(struct spsc_ring *r, void **first, uint32_t max);
void spsc_ring_commit(struct spsc_ring *r, uint32_t n);

uint32_t spsc_ring_count(const struct spsc_ring *r);

/* Total records refused because the ring was full, since creation. */
static inline uint64_t spsc_ring_enqueue_failures(const struct spsc_ring *r)
{
    /* Relaxed: a statistic; no other memory is published through it. */
    return atomic_load_explicit(&((struct spsc_ring *)r)->enqueue_failures,
                                memory_order_relaxed);
}

#endif
