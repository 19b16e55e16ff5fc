/*
 * wake.h: one thread sleeping until another has published something, for
 * the two threads of an SPSC ring pair (common/spsc_ring.h).  Linux
 * futex(2) (FUTEX_WAIT_PRIVATE / FUTEX_WAKE_PRIVATE) behind a "someone is
 * asleep" flag, the shape of an eventcount: the publisher pays a fence and
 * one load when nobody sleeps, and a system call only when somebody does.
 *
 * Why not a timed sleep: a thread that found its ring empty (or full) and
 * slept 50 µs woke to a ring its partner had long since filled (or
 * drained), and on a busy machine a timed sleep lasts far longer than
 * asked.  A futex wake hands the CPU back as soon as there is work.
 *
 * The sleeper:                       The publisher, after publishing:
 *     seq = wake_prepare(ev);            wake_signal(ev);
 *     if (condition already holds)
 *         wake_cancel(ev);
 *     else
 *         wake_sleep(ev, seq);
 * (the last four lines are wake_sleep_unless(ev, seq, condition, ...)).
 * One thread sleeps on an event; any thread may signal it.
 */
#ifndef NETMOON_COMMON_WAKE_H
#define NETMOON_COMMON_WAKE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Padded on both sides rather than _Alignas(64): the structs that embed
 * it are calloc'ed, which promises 16-byte alignment only.  Either way the
 * two words share no cache line with their neighbours' hot fields. */
struct wake_event {
    char pad_before[64];
    _Atomic uint32_t seq;                /* bumped by each wake of a sleeper */
    _Atomic uint32_t asleep;             /* the owner is (about to be) asleep */
    char pad_after[64 - 2 * sizeof(uint32_t)];
};

/* Announces the owner's intention to sleep; returns the value to pass to
 * wake_sleep.  The owner must check its condition again after this. */
static inline uint32_t wake_prepare(struct wake_event *ev)
{
    /* Acquire: the load of seq may not move after the store of asleep
     * below, or a publisher that saw asleep == 1 could bump seq before we
     * read it, and the futex would wait for a wake that has come. */
    uint32_t seq = atomic_load_explicit(&ev->seq, memory_order_acquire);

    atomic_store_explicit(&ev->asleep, 1, memory_order_relaxed);
    /* Sequentially consistent fence, pairs with the one in wake_signal
     * (Dekker's pattern): either the publisher's load sees asleep == 1, or
     * the owner's re-check after this fence sees what was published. */
    atomic_thread_fence(memory_order_seq_cst);
    return seq;
}

/* The condition held after all: nobody needs to wake the owner. */
static inline void wake_cancel(struct wake_event *ev)
{
    atomic_store_explicit(&ev->asleep, 0, memory_order_relaxed);
}

/* Sleeps until signalled after wake_prepare returned seq, or until
 * timeout_ns pass (a safety net: a wake is never lost, but the owner
 * also looks at signal flags).  False when the time ran out. */
bool wake_sleep(struct wake_event *ev, uint32_t seq, long timeout_ns);

/* The sleeper's step after wake_prepare: `ready` is its condition,
 * evaluated after wake_prepare returned seq. */
static inline void wake_sleep_unless(struct wake_event *ev, uint32_t seq, bool ready,
                                     long timeout_ns)
{
    if (ready)
        wake_cancel(ev);
    else
        (void)wake_sleep(ev, seq, timeout_ns);
}

void wake_signal_sleeper(struct wake_event *ev);

/* Called after publishing: wakes the owner if it sleeps or is about to. */
static inline void wake_signal(struct wake_event *ev)
{
    /* Sequentially consistent fence, pairs with wake_prepare's: orders the
     * caller's publication (a ring index store) before the load below. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&ev->asleep, memory_order_relaxed))
        wake_signal_sleeper(ev);
}

#endif
