/*
 * threads.c: helper threads that take no signals (see threads.h).
 */
#include "common/threads.h"

#include <signal.h>

int threads_start_quiet(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(thread, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return e;
}
