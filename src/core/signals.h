/*
 * signals.h: SIGINT/SIGTERM set a stop flag that every loop polls, so the
 * program always leaves through its normal path: flows flushed, stats
 * printed, promiscuous mode restored, terminal restored.  SIGPIPE is
 * ignored so a closed output pipe is an EPIPE error, handled quietly.
 * SIGHUP asks for output files to be reopened (logrotate's postrotate),
 * unless the terminal view is open: then it is the terminal hanging up,
 * and stops netmoon like SIGTERM.
 */
#ifndef NETMOON_CORE_SIGNALS_H
#define NETMOON_CORE_SIGNALS_H

#include <signal.h>
#include <stdbool.h>

void signals_install(bool hup_stops);
bool signals_stop_requested(void);
void signals_request_stop(void);
/* The signal that asked to stop, 0 if none. */
int signals_stop_signal(void);
/* True once per batch of SIGHUPs since the previous call: reopen files. */
bool signals_take_reopen(void);

#endif
