/*
 * procs_sockfd.h: the addresses of another process's socket, read through
 * a duplicate of its fd (pidfd_open(2), pidfd_getfd(2), then
 * getsockname(2), getpeername(2), SO_PROTOCOL from socket(7)).
 *
 * Why: a short-lived client's connected socket lives about a millisecond,
 * less than one sock_diag dump takes on a host whose socket hash tables
 * are large.  Reading the fd that a young process was just seen holding
 * takes a few microseconds.  The duplicate is closed at once; the only
 * effect on the owner is that a close() racing with this read releases the
 * socket a few microseconds later.  Needs ptrace attach rights over the
 * process (root, or CAP_SYS_PTRACE); without them the dump path still
 * works for longer-lived sockets.
 */
#ifndef NETMOON_PROCS_PROCS_SOCKFD_H
#define NETMOON_PROCS_PROCS_SOCKFD_H

#include <stdint.h>

#include "procs/procs_diag.h"

enum procs_sockfd_status {
    PROCS_SOCKFD_OK = 0,        /* *out filled: a bound TCP/UDP socket */
    PROCS_SOCKFD_LATER = 1,     /* not bound or connected yet: try again */
    PROCS_SOCKFD_IGNORE = 2,    /* not TCP/UDP over IP, a listener, or another inode now */
    PROCS_SOCKFD_ERROR = -1,    /* gone, or not allowed */
};

/* Reads fd of pid, checking that it still is socket `inode`. */
enum procs_sockfd_status procs_sockfd_read(int32_t pid, int fd, uint64_t inode,
                                           struct procs_diag_sock *out);

#endif
