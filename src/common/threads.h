/*
 * threads.h: starting a helper thread that takes no signals (POSIX
 * pthread_create(3), pthread_sigmask(3): a new thread inherits its
 * creator's signal mask).  netmoon's SIGINT/SIGTERM/SIGHUP handlers only
 * set flags; a signal that lands on a thread which never looks at them
 * does not interrupt the poll or read of a thread that does.
 */
#ifndef NETMOON_COMMON_THREADS_H
#define NETMOON_COMMON_THREADS_H

#include <pthread.h>

/* pthread_create with every signal blocked in the new thread; returns its
 * error number (0: started).  The caller's own mask is unchanged. */
int threads_start_quiet(pthread_t *thread, void *(*fn)(void *), void *arg);

#endif
