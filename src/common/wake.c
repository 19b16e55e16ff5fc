/*
 * wake.c: the system-call half of wake.h, on Linux futex(2)
 * (FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE: the word is private to this
 * process's threads).
 */
#include "common/wake.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

bool wake_sleep(struct wake_event *ev, uint32_t seq, long timeout_ns)
{
    struct timespec ts = { timeout_ns / 1000000000L, timeout_ns % 1000000000L };

    /* Returns at once (EAGAIN) if a wake bumped seq since wake_prepare;
     * EINTR returns too: the caller re-checks either way. */
    long rc = syscall(SYS_futex, &ev->seq, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
    bool timed_out = rc != 0 && errno == ETIMEDOUT;
    atomic_store_explicit(&ev->asleep, 0, memory_order_relaxed);
    return !timed_out;
}

void wake_signal_sleeper(struct wake_event *ev)
{
    /* Only the publisher that clears the flag wakes: one system call per
     * sleep, however many publications there are meanwhile. */
    if (!atomic_exchange_explicit(&ev->asleep, 0, memory_order_relaxed))
        return;
    /* Release, pairs with the futex's own read of seq in the kernel (and
     * the owner's next wake_prepare): the bump is what the sleeper waits
     * on. */
    atomic_fetch_add_explicit(&ev->seq, 1, memory_order_release);
    (void)syscall(SYS_futex, &ev->seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
