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

uint32_t spsc_ring_enqueue_burst(struct spsc_ring *r, const void *recs, uint32_t n)
{
    uint32_t cap = r->mask + 1;
    /* Relaxed: only this thread (the producer) ever writes tail. */
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint32_t free_slots = cap - (tail - r->head_cache);
    if (free_slots < n) {
        /* Acquire, pairs with the consumer's release store of head in
         * spsc_ring_dequeue_burst: the consumer finished copying records out
         * of the slots it released before we overwrite them below. */
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        free_slots = cap - (tail - r->head_cache);
    }
    uint32_t todo = n < free_slots ? n : free_slots;
    if (todo < n) {
        /* Relaxed: a statistic with a single writer (this thread). */
        atomic_fetch_add_explicit(&r->enqueue_failures, n - todo, memory_order_relaxed);
    }
    if (todo == 0)
        return 0;
    copy_in(r, tail, recs, todo);
    /* Release, pairs with the consumer's acquire load of tail in
     * spsc_ring_dequeue_burst: the record bytes written by copy_in above
     * become visible before the consumer can see the new tail. */
    atomic_store_explicit(&r->tail, tail + todo, memory_order_release);
    return todo;
}

bool spsc_ring_enqueue_all(struct spsc_ring *r, const void *recs, uint32_t n)
{
    uint32_t cap = r->mask + 1;
    /* Relaxed: only this thread (the producer) ever writes tail. */
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (cap - (tail - r->head_cache) < n) {
        /* Acquire, as in spsc_ring_enqueue_burst: the consumer is done
         * with the slots it released before we overwrite them. */
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        if (cap - (tail - r->head_cache) < n)
            return false;
    }
    copy_in(r, tail, recs, n);
    /* Release, as in spsc_ring_enqueue_burst: the records are written
     * before the consumer can see the new tail. */
    atomic_store_explicit(&r->tail, tail + n, memory_order_release);
    return true;
}

uint32_t spsc_ring_dequeue_burst(struct spsc_ring *r, void *out, uint32_t max)
{
    /* Relaxed: only this thread (the consumer) ever writes head. */
    uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint32_t avail = r->tail_cache - head;
    if (avail < max) {
        /* Acquire, pairs with the producer's release store of tail in
         * spsc_ring_enqueue_burst (or spsc_ring_commit): the record bytes
         * of every slot below the tail we read are visible to the copy_out
         * below. */
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        avail = r->tail_cache - head;
    }
    uint32_t todo = max < avail ? max : avail;
    if (todo == 0)
        return 0;
    copy_out(r, head, out, todo);
    /* Release, pairs with the producer's acquire load of head in
     * spsc_ring_enqueue_burst: our reads of these slots complete before the
     * producer may reuse them. */
    atomic_store_explicit(&r->head, head + todo, memory_order_release);
    return todo;
}

uint32_t spsc_ring_peek(struct spsc_ring *r, void **first, uint32_t max)
{
    /* Relaxed: only this thread (the consumer) ever writes head. */
    uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint32_t avail = r->tail_cache - head, slot = head & r->mask;
    if (avail < max) {
        /* Acquire, pairs with the producer's release store of tail in
         * spsc_ring_enqueue_burst (or spsc_ring_commit): the records below
         * that tail are completely written before we read them in place. */
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        avail = r->tail_cache - head;
    }
    uint32_t run = r->mask + 1 - slot;
    uint32_t n = max < avail ? max : avail;
    n = n < run ? n : run;
    *first = r->slots + (size_t)slot * r->record_size;
    return n;
}

void spsc_ring_release(struct spsc_ring *r, uint32_t n)
{
    uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    /* Release, pairs with the producer's acquire load of head in
     * spsc_ring_enqueue_burst: our in-place reads of these slots complete
     * before the producer may overwrite them. */
    atomic_store_explicit(&r->head, head + n, memory_order_release);
}

uint32_t spsc_ring_reserve(struct spsc_ring *r, void **first, uint32_t max)
{
    uint32_t cap = r->mask + 1;
    /* Relaxed: only this thread (the producer) ever writes tail. */
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint32_t free_slots = cap - (tail - r->head_cache), slot = tail & r->mask;
    if (free_slots < max) {
        /* Acquire, pairs with the consumer's release store of head in
         * spsc_ring_dequeue_burst and spsc_ring_release: the consumer is
         * done reading the slots it handed back before we write them in
         * place. */
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        free_slots = cap - (tail - r->head_cache);
    }
    uint32_t run = cap - slot;
    uint32_t n = max < free_slots ? max : free_slots;
    *first = r->slots + (size_t)slot * r->record_size;
    return n < run ? n : run;
}

void spsc_ring_commit(struct spsc_ring *r, uint32_t n)
{
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    /* Release, pairs with the consumer's acquire load of tail in
     * spsc_ring_dequeue_burst and spsc_ring_peek: the records written in
     * place are visible before the consumer can see the new tail. */
    atomic_store_explicit(&r->tail, tail + n, memory_order_release);
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
