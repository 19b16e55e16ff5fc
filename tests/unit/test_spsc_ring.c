/*
 * test_spsc_ring.c: the SPSC ring (src/common/spsc_ring.h): argument checks,
 * wrap-around, partial bursts and failure counts, then two threads passing
 * millions of sequenced records, checking order and completeness.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/spsc_ring.h"
#include "testlib.h"

struct rec {
    uint64_t seq;
    uint64_t check;   /* derived from seq: catches torn or stale slots */
};

static uint64_t rec_check(uint64_t seq)
{
    return seq * 0x9e3779b97f4a7c15ull ^ 0xa5a5a5a5a5a5a5a5ull;
}

static void test_create_rejects_bad_arguments(void)
{
    errno = 0;
    CHECK(spsc_ring_create(0, 8) == NULL && errno == EINVAL);
    CHECK(spsc_ring_create(1, 8) == NULL);
    CHECK(spsc_ring_create(12, 8) == NULL);
    CHECK(spsc_ring_create(16, 0) == NULL);
    CHECK(spsc_ring_create(SPSC_RING_MAX_CAPACITY * 2u, 1) == NULL);
    struct spsc_ring *r = spsc_ring_create(16, 8);
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ_U(spsc_ring_capacity(r), 16);
        CHECK_EQ_U((uintptr_t)&r->tail % SPSC_RING_CACHE_LINE, 0);
        CHECK_EQ_U((uintptr_t)&r->head % SPSC_RING_CACHE_LINE, 0);
        CHECK((uintptr_t)&r->head - (uintptr_t)&r->tail >= SPSC_RING_CACHE_LINE);
    }
    spsc_ring_destroy(r);
}

static void test_full_ring_counts_failures(void)
{
    struct spsc_ring *r = spsc_ring_create(8, sizeof(struct rec));
    CHECK(r != NULL);
    if (!r)
        return;
    struct rec in[12], out[12];
    for (uint64_t i = 0; i < 12; i++)
        in[i] = (struct rec){ i, rec_check(i) };
    CHECK_EQ_U(spsc_ring_enqueue_burst(r, in, 12), 8);
    CHECK_EQ_U(spsc_ring_enqueue_failures(r), 4);
    CHECK(!spsc_ring_enqueue(r, &in[8]));
    CHECK_EQ_U(spsc_ring_enqueue_failures(r), 5);
    CHECK_EQ_U(spsc_ring_count(r), 8);
    CHECK_EQ_U(spsc_ring_dequeue_burst(r, out, 12), 8);
    for (uint64_t i = 0; i < 8; i++)
        CHECK_EQ_U(out[i].seq, i);
    CHECK_EQ_U(spsc_ring_dequeue_burst(r, out, 12), 0);
    CHECK(!spsc_ring_dequeue(r, out));
    spsc_ring_destroy(r);
}

static void test_wraparound_keeps_order(void)
{
    struct spsc_ring *r = spsc_ring_create(8, sizeof(struct rec));
    CHECK(r != NULL);
    if (!r)
        return;
    uint64_t next_in = 0, next_out = 0;
    /* Odd burst sizes so that copies split at the ring's end many times;
     * indices are free-running and only their differences matter. */
    for (int round = 0; round < 1000; round++) {
        struct rec buf[5];
        uint32_t n = (uint32_t)(round % 5) + 1;
        for (uint32_t i = 0; i < n; i++, next_in++)
            buf[i] = (struct rec){ next_in, rec_check(next_in) };
        uint32_t got = spsc_ring_enqueue_burst(r, buf, n);
        next_in -= n - got;
        uint32_t m = spsc_ring_dequeue_burst(r, buf, (uint32_t)(round % 3) + 1);
        for (uint32_t i = 0; i < m; i++, next_out++)
            CHECK(buf[i].seq == next_out && buf[i].check == rec_check(next_out));
    }
    struct rec one;
    while (spsc_ring_dequeue(r, &one)) {
        CHECK(one.seq == next_out);
        next_out++;
    }
    CHECK_EQ_U(next_out, next_in);
    spsc_ring_destroy(r);
}

/* Two threads: the producer pushes SEQ_TOTAL records in bursts of varying
 * size, retrying what did not fit; the consumer checks every record arrives
 * exactly once and in order. */
#define SEQ_TOTAL 4000000ull

struct thread_args {
    struct spsc_ring *ring;
    bool peek;               /* consume in place (peek/release) */
    bool reserve;            /* produce in place (reserve/commit) */
    uint64_t received;
    uint64_t bad;
};

static void *producer_main(void *arg)
{
    struct thread_args *a = arg;
    struct rec buf[32];
    uint64_t seq = 0;
    unsigned burst = 1;
    while (seq < SEQ_TOTAL) {
        uint32_t n = 0;
        if (a->reserve) {
            void *first;
            uint32_t want = SEQ_TOTAL - seq < burst ? (uint32_t)(SEQ_TOTAL - seq) : burst;
            n = spsc_ring_reserve(a->ring, &first, want);
            struct rec *out = first;
            for (uint32_t i = 0; i < n; i++)
                out[i] = (struct rec){ seq + i, rec_check(seq + i) };
            if (n == 0)
                sched_yield();
            spsc_ring_commit(a->ring, n);
            seq += n;
            burst = burst % 32 + 1;
            continue;
        }
        for (; n < burst && seq + n < SEQ_TOTAL; n++)
            buf[n] = (struct rec){ seq + n, rec_check(seq + n) };
        uint32_t done = 0;
        while (done < n) {
            uint32_t got = spsc_ring_enqueue_burst(a->ring, buf + done, n - done);
            done += got;
            if (got == 0)
                sched_yield();
        }
        seq += n;
        burst = burst % 32 + 1;
    }
    return NULL;
}

static void *consumer_main(void *arg)
{
    struct thread_args *a = arg;
    struct rec buf[24];
    uint64_t expect = 0;
    unsigned want = 1;
    while (expect < SEQ_TOTAL) {
        void *first = buf;
        uint32_t got = a->peek ? spsc_ring_peek(a->ring, &first, want)
                               : spsc_ring_dequeue_burst(a->ring, buf, want);
        const struct rec *in = first;
        if (got == 0) {
            sched_yield();
            continue;
        }
        for (uint32_t i = 0; i < got; i++, expect++)
            if (in[i].seq != expect || in[i].check != rec_check(expect))
                a->bad++;
        if (a->peek)
            spsc_ring_release(a->ring, got);
        want = want % 24 + 1;
    }
    a->received = expect;
    return NULL;
}

static void two_threads_in_order(bool peek, bool reserve)
{
    struct spsc_ring *r = spsc_ring_create(1024, sizeof(struct rec));
    CHECK(r != NULL);
    if (!r)
        return;
    struct thread_args a = { .ring = r, .peek = peek, .reserve = reserve };
    pthread_t p, c;
    CHECK(pthread_create(&c, NULL, consumer_main, &a) == 0);
    CHECK(pthread_create(&p, NULL, producer_main, &a) == 0);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    CHECK_EQ_U(a.received, SEQ_TOTAL);
    CHECK_EQ_U(a.bad, 0);
    CHECK_EQ_U(spsc_ring_count(r), 0);
    printf("# %llu records, %llu enqueue attempts refused while full\n",
           SEQ_TOTAL, (unsigned long long)spsc_ring_enqueue_failures(r));
    spsc_ring_destroy(r);
}

static void test_two_threads_millions_in_order(void)
{
    two_threads_in_order(false, false);
}

static void test_two_threads_peek_in_place(void)
{
    two_threads_in_order(true, false);
}

/* The small ring the in-place tests walk around (NULL: already failed). */
static struct spsc_ring *ring_of_8(void)
{
    struct spsc_ring *r = spsc_ring_create(8, sizeof(struct rec));
    CHECK(r != NULL);
    return r;
}

/* Both sides in place: what the -r pipeline does with decoded packets. */
static void test_two_threads_reserve_and_peek(void)
{
    two_threads_in_order(true, true);
}

/* A reservation never runs past the ring's end or over unreleased slots,
 * and the consumer sees nothing until it is committed. */
static void test_reserve_stops_at_ring_end_and_full(void)
{
    struct spsc_ring *r = ring_of_8();
    struct rec buf[8];
    void *first;
    if (!r)
        return;
    CHECK_EQ_U(spsc_ring_reserve(r, &first, 8), 8);
    struct rec *w = first;
    for (uint64_t i = 0; i < 6; i++)
        w[i] = (struct rec){ i, rec_check(i) };
    CHECK_EQ_U(spsc_ring_dequeue_burst(r, buf, 8), 0);      /* not committed */
    spsc_ring_commit(r, 6);
    CHECK_EQ_U(spsc_ring_dequeue_burst(r, buf, 5), 5);      /* head at slot 5 */
    CHECK_EQ_U(spsc_ring_reserve(r, &first, 8), 2);         /* slots 6, 7 */
    w = first;
    w[0] = (struct rec){ 6, rec_check(6) };
    w[1] = (struct rec){ 7, rec_check(7) };
    spsc_ring_commit(r, 2);
    CHECK_EQ_U(spsc_ring_reserve(r, &first, 8), 5);         /* slots 0..4 */
    CHECK((struct rec *)first == w - 6);
    spsc_ring_commit(r, 5);
    CHECK_EQ_U(spsc_ring_reserve(r, &first, 8), 0);         /* full */
    CHECK_EQ_U(spsc_ring_count(r), 8);
    CHECK_EQ_U(spsc_ring_dequeue_burst(r, buf, 3), 3);
    CHECK_EQ_U(buf[0].seq, 5);
    CHECK_EQ_U(buf[2].seq, 7);
    spsc_ring_destroy(r);
}

/* A peek never runs past the ring's end, and only release frees slots. */
static void test_peek_stops_at_ring_end(void)
{
    struct spsc_ring *r = ring_of_8();
    struct rec buf[8];
    void *first;
    if (!r)
        return;
    for (uint64_t i = 0; i < 8; i++)
        buf[i] = (struct rec){ i, rec_check(i) };
    CHECK_EQ_U(spsc_ring_enqueue_burst(r, buf, 6), 6);
    CHECK_EQ_U(spsc_ring_dequeue_burst(r, buf, 5), 5);      /* head at slot 5 */
    CHECK_EQ_U(spsc_ring_enqueue_burst(r, buf, 6), 6);      /* 7 queued, wraps */
    CHECK_EQ_U(spsc_ring_peek(r, &first, 8), 3);            /* slots 5, 6, 7 */
    CHECK_EQ_U(((const struct rec *)first)->seq, 5);
    CHECK_EQ_U(spsc_ring_enqueue_burst(r, buf, 8), 1);      /* not freed yet */
    spsc_ring_release(r, 3);
    CHECK_EQ_U(spsc_ring_peek(r, &first, 8), 5);            /* from slot 0 */
    CHECK_EQ_U(((const struct rec *)first)->seq, 2);
    spsc_ring_release(r, 5);
    CHECK_EQ_U(spsc_ring_count(r), 0);
    spsc_ring_destroy(r);
}

int main(void)
{
    RUN(test_create_rejects_bad_arguments);
    RUN(test_full_ring_counts_failures);
    RUN(test_wraparound_keeps_order);
    RUN(test_two_threads_millions_in_order);
    RUN(test_two_threads_peek_in_place);
    RUN(test_peek_stops_at_ring_end);
    RUN(test_two_threads_reserve_and_peek);
    RUN(test_reserve_stops_at_ring_end_and_full);
    TESTLIB_EXIT();
}
