/*
 * procs_sockfd.c: another process's socket addresses through a duplicate
 * of its fd (pidfd_open(2), pidfd_getfd(2), getsockname(2), getpeername(2),
 * socket(7) SO_PROTOCOL / SO_ACCEPTCONN).
 */
#include "procs/procs_sockfd.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void procs_sockfd_addr(const struct sockaddr_storage *ss, struct nm_addr *a, uint16_t *port)
{
    memset(a, 0, sizeof(*a));
    *port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        *port = ntohs(sin->sin_port);
        procs_addr_from_raw(a, AF_INET, &sin->sin_addr);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        *port = ntohs(sin6->sin6_port);
        procs_addr_from_raw(a, AF_INET6, &sin6->sin6_addr);
    }
}

static enum procs_sockfd_status procs_sockfd_describe(int sfd, uint64_t inode,
                                                      struct procs_diag_sock *out)
{
    struct sockaddr_storage local, remote;
    socklen_t llen = sizeof(local), rlen = sizeof(remote), olen = sizeof(int);
    int proto = 0, listening = 0;
    struct stat st;

    if (fstat(sfd, &st) != 0 || !S_ISSOCK(st.st_mode) || (uint64_t)st.st_ino != inode)
        return PROCS_SOCKFD_IGNORE;           /* the fd number was reused */
    if (getsockopt(sfd, SOL_SOCKET, SO_PROTOCOL, &proto, &olen) != 0 ||
        (proto != IPPROTO_TCP && proto != IPPROTO_UDP))
        return PROCS_SOCKFD_IGNORE;
    olen = sizeof(int);
    if (getsockopt(sfd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) == 0 && listening)
        return PROCS_SOCKFD_IGNORE;           /* accepted sockets are their own */
    memset(&local, 0, sizeof(local));
    memset(&remote, 0, sizeof(remote));
    if (getsockname(sfd, (struct sockaddr *)&local, &llen) != 0 ||
        (local.ss_family != AF_INET && local.ss_family != AF_INET6))
        return PROCS_SOCKFD_IGNORE;
    bool connected = getpeername(sfd, (struct sockaddr *)&remote, &rlen) == 0;
    memset(out, 0, sizeof(*out));
    out->proto = (uint8_t)proto;
    out->inode = inode;
    procs_sockfd_addr(&local, &out->local, &out->local_port);
    if (connected)
        procs_sockfd_addr(&remote, &out->remote, &out->remote_port);
    /* Before connect(), bind() or a first send there is no port yet.  A TCP
     * socket still in SYN_SENT has its port but no peer for getpeername():
     * looked at again too, since an entry without its remote could name
     * a later process that reuses the port. */
    if (out->local_port == 0 || (proto == IPPROTO_TCP && !connected))
        return PROCS_SOCKFD_LATER;
    return PROCS_SOCKFD_OK;
}

enum procs_sockfd_status procs_sockfd_read(int32_t pid, int fd, uint64_t inode,
                                           struct procs_diag_sock *out)
{
    enum procs_sockfd_status rc;
    int pidfd, sfd;

    if (fd < 0)
        return PROCS_SOCKFD_IGNORE;
    pidfd = (int)syscall(SYS_pidfd_open, (int)pid, 0);
    if (pidfd < 0)
        return PROCS_SOCKFD_ERROR;
    sfd = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    close(pidfd);
    if (sfd < 0)
        return PROCS_SOCKFD_ERROR;
    rc = procs_sockfd_describe(sfd, inode, out);
    close(sfd);
    return rc;
}
