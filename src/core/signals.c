/*
 * signals.c: see signals.h.  sigaction(2) without SA_RESTART, so a blocking
 * read or poll returns EINTR and the loop sees the flag promptly.
 */
#include "core/signals.h"

#include <string.h>

static volatile sig_atomic_t signals_stop;
/* Counts SIGHUPs; only the handler writes it, so nothing is lost between
 * the consumer's read and its own note of what it has seen. */
static volatile sig_atomic_t signals_hups;
static sig_atomic_t signals_hups_seen;

static void signals_on_hup(int sig)
{
    (void)sig;
    signals_hups++;
}

static void signals_on_stop(int sig)
{
    signals_stop = sig;
}

void signals_install(bool hup_stops)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = signals_on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = hup_stops ? signals_on_stop : signals_on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

bool signals_stop_requested(void)
{
    return signals_stop != 0;
}

void signals_request_stop(void)
{
    if (!signals_stop)
        signals_stop = -1;
}

int signals_stop_signal(void)
{
    return signals_stop > 0 ? signals_stop : 0;
}

bool signals_take_reopen(void)
{
    sig_atomic_t now = signals_hups;

    if (now == signals_hups_seen)
        return false;
    signals_hups_seen = now;
    return true;
}
