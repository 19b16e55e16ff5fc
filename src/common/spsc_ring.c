/*
 * spsc_ring.c: the single-producer / single-consumer record ring of
 * spsc_ring.h (C11 atomics, acquire/release; see the header for the design).
 */
#include "common/spsc_ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

struct spsc_ring *spsc_ring_create(uint32_t capacity, uint32_t record_size)
{
    if (capacity < 2 || capacity > SPSC_RING_MAX_CAPACITY ||
        (capacity & (capacity - 1)) != 0 || record_size == 0 ||
        (uint64_t)capacity * record_size > (uint64_t)SIZE_MAX / 2) {
        errno = EINVAL;
        return NULL;
    }
    size_t header = round_up(sizeof(struct spsc_ring), SPSC_RING_CACHE_LINE);
    size_t total = round_up(header + (size_t)capacity * record_size, SPSC_RING_CACHE_LINE);
    struct spsc_ring *r = aligned_alloc(SPSC_RING_CACHE_LINE, total);
    if (!r) {
        errno = ENOMEM;
        return NULL;
    }
    memset(r, 0, header);
    r->mask = capacity - 1;
    r->record_size = record_size;
    r->slots = (uint8_t *)r + header;
    atomic_init(&r->tail, 0);
    atomic_init(&r->head, 0);
    atomic_init(&r->enqueue_failures, 0);
    return r;
}

void spsc_ring_destroy(struct spsc_ring *r)
{
    free(r);
}

/* Copies n records between the ring slots starting at index idx and a flat
 * buffer, splitting the copy where the ring wraps. */
static void copy_in(struct spsc_ring *r, uint32_t idx, const uint8_t *src, uint32_t n)
{
    uint32_t cap = r->mask + 1, first = idx & r->mask;
    uint32_t run = n < cap - first ? n : cap - first;
    memcpy(r->slots + (size_t)first * r->record_size, src, (size_t)run * r->record_size);
    if (run < n)
        memcpy(r->slots, src + (size_t)run * r->record_size, (size_t)(n - run) * r->record_size);
}

static void copy_out(const struct spsc_ring *r, uint32_t idx, uint8_t *dst, uint32_t n)
{
    uint32_t cap = r->mask + 1, first = idx & r->mask;
    uint32_t run = n < cap - first ? n : cap - first;
    memcpy(dst, r->slots + (size_t)first * r->record_size, (size_t)run * r->record_size);
    if (run < n)
        memcpy(dst + (size_t)run * r->record_size, r->slots, (size_t)(n - run) * r->record_size);
}

/* Producer: free slots from tail on (the producer's own index), at least
 * `want` if the consumer has released that many.  The consumer's index is
 * read only when the cached view says there is too little room. */
static uint32_t ring_free(struct spsc_ring *r, uint32_t tail, uint32_t want)
{
    uint32_t cap = r->mask + 1;

    if (cap - (tail - r->head_cache) < want) {
        /* Acquire, pairs with the consumer's release store of head in
         * ring_release: the consumer is done reading the slots it handed
         * back (copied out or read in place) before we overwrite them. */
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
    }
    return cap - (tail - r->head_cache);
}

/* Producer: makes the n slots written from tail on visible. */
static void ring_publish(struct spsc_ring *r, uint32_t tail, uint32_t n)
{
    /* Release, pairs with the consumer's acquire load of tail in
     * ring_avail: the record bytes written before become visible before
     * the consumer can see the new tail. */
    atomic_store_explicit(&r->tail, tail + n, memory_order_release);
}

/* Consumer: records readable from head on (the consumer's own index), at
 * least `want` if the producer has published that many. */
static uint32_t ring_avail(struct spsc_ring *r, uint32_t head, uint32_t want)
{
    if (r->tail_cache - head < want) {
        /* Acquire, pairs with the producer's release store of tail in
         * ring_publish: the record bytes of every slot below the tail we
         * read are visible to what we read next. */
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
    }
    return r->tail_cache - head;
}

/* Consumer: hands the n slots read from head on back to the producer. */
static void ring_release(struct spsc_ring *r, uint32_t head, uint32_t n)
{
    /* Release, pairs with the producer's acquire load of head in
     * ring_free: our reads of these slots complete before the producer
     * may reuse them. */
    atomic_store_explicit(&r->head, head + n, memory_order_release);
}

/* Relaxed loads of a side's own index: only that side ever writes it. */
static uint32_t ring_tail(const struct spsc_ring *r)
{
    return atomic_load_explicit(&((struct spsc_ring *)r)->tail, memory_order_relaxed);
}

static uint32_t ring_head(const struct spsc_ring *r)
{
    return atomic_load_explicit(&((struct spsc_ring *)r)->head, memory_order_relaxed);
}

uint32_t spsc_ring_enqueue_burst(struct spsc_ring *r, const void *recs, uint32_t n)
{
    uint32_t tail = ring_tail(r);
    uint32_t free_slots = ring_free(r, tail, n);
    uint32_t todo = n < free_slots ? n : free_slots;

    if (todo < n) {
        /* Relaxed: a statistic with a single writer (this thread). */
        atomic_fetch_add_explicit(&r->enqueue_failures, n - todo, memory_order_relaxed);
    }
    if (todo == 0)
        return 0;
    copy_in(r, tail, recs, todo);
    ring_publish(r, tail, todo);
    return todo;
}

bool spsc_ring_enqueue_all(struct spsc_ring *r, const void *recs, uint32_t n)
{
    uint32_t tail = ring_tail(r);

    if (ring_free(r, tail, n) < n)
        return false;
    copy_in(r, tail, recs, n);
    ring_publish(r, tail, n);
    return true;
}

uint32_t spsc_ring_dequeue_burst(struct spsc_ring *r, void *out, uint32_t max)
{
    uint32_t head = ring_head(r);
    uint32_t avail = ring_avail(r, head, max);
    uint32_t todo = max < avail ? max : avail;

    if (todo == 0)
        return 0;
    copy_out(r, head, out, todo);
    ring_release(r, head, todo);
    return todo;
}

/* The contiguous part of [idx, idx + n): a run stops at the ring's end. */
static uint32_t ring_run(const struct spsc_ring *r, uint32_t idx, uint32_t n, void **first)
{
    uint32_t slot = idx & r->mask, run = r->mask + 1 - slot;

    *first = r->slots + (size_t)slot * r->record_size;
    return n < run ? n : run;
}

uint32_t spsc_ring_peek(struct spsc_ring *r, void **first, uint32_t max)
{
    uint32_t head = ring_head(r);
    uint32_t avail = ring_avail(r, head, max);

    return ring_run(r, head, max < avail ? max : avail, first);
}

void spsc_ring_release(struct spsc_ring *r, uint32_t n)
{
    ring_release(r, ring_head(r), n);
}

uint32_t spsc_ring_reserve(struct spsc_ring *r, void **first, uint32_t max)
{
    uint32_t tail = ring_tail(r);
    uint32_t free_slots = ring_free(r, tail, max);

    return ring_run(r, tail, max < free_slots ? max : free_slots, first);
}

void spsc_ring_commit(struct spsc_ring *r, uint32_t n)
{
    ring_publish(r, ring_tail(r), n);
}

uint32_t spsc_ring_count(const struct spsc_ring *r)
{
    struct spsc_ring *m = (struct spsc_ring *)r;
    /* Acquire on both: a monitoring snapshot; read head first so that the
     * difference never goes negative (tail only grows past head). */
    uint32_t head = atomic_load_explicit(&m->head, memory_order_acquire);
    uint32_t tail = atomic_load_explicit(&m->tail, memory_order_acquire);
    return tail - head;
}
