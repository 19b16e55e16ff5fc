/*
 * procs_diag.c: sock_diag(7) dumps of TCP and UDP sockets
 * (linux/sock_diag.h, linux/inet_diag.h; netlink(7) message walking with
 * NLMSG_OK / NLMSG_NEXT, every payload length checked before reading).
 */
#include "procs/procs_diag.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* TCP states whose sockets still belong to a process; TIME_WAIT (6),
 * SYN_RECV (3) and NEW_SYN_RECV (12) are mini-sockets with inode 0. */
#define PROCS_DIAG_TCP_STATES (0xfffu & ~((1u << 6) | (1u << 3) | (1u << 12)))

int procs_diag_open(struct procs_diag *d, char *err, size_t errlen)
{
    d->seq = 0;
    d->malformed = 0;
    d->fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (d->fd < 0) {
        snprintf(err, errlen, "cannot open a sock_diag netlink socket for process attribution: "
                 "%s (run with --no-procs to go without)", strerror(errno));
        return -1;
    }
    return 0;
}

void procs_diag_close(struct procs_diag *d)
{
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
}

void procs_addr_from_raw(struct nm_addr *out, int family, const void *raw)
{
    static const uint8_t mapped_any[16] = { [10] = 0xff, [11] = 0xff };
    static const uint8_t v4_any[4];

    memset(out, 0, sizeof(*out));
    if (family == AF_INET) {
        if (memcmp(raw, v4_any, 4) == 0)
            return;                           /* INADDR_ANY: the wildcard */
        out->b[10] = 0xff;
        out->b[11] = 0xff;
        memcpy(out->b + 12, raw, 4);
        return;
    }
    memcpy(out->b, raw, 16);
    if (memcmp(out->b, mapped_any, 16) == 0)
        memset(out, 0, sizeof(*out));         /* ::ffff:0.0.0.0 is a wildcard too */
}

static int procs_diag_request(struct procs_diag *d, uint8_t family, uint8_t proto)
{
    struct {
        struct nlmsghdr nh;
        struct inet_diag_req_v2 req;
    } msg;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

    memset(&msg, 0, sizeof(msg));
    msg.nh.nlmsg_len = sizeof(msg);
    msg.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.nh.nlmsg_seq = ++d->seq;
    msg.req.sdiag_family = family;
    msg.req.sdiag_protocol = proto;
    msg.req.idiag_states = proto == IPPROTO_TCP ? PROCS_DIAG_TCP_STATES : 0xffffffffu;
    if (sendto(d->fd, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
        return -1;
    return 0;
}

/* Reads answers until NLMSG_DONE; returns sockets seen or -1. */
static int procs_diag_read(struct procs_diag *d, uint8_t proto, procs_diag_fn *fn, void *user)
{
    int count = 0;

    for (;;) {
        ssize_t len = recv(d->fd, d->buf, sizeof(d->buf), 0);
        if (len < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        size_t left = (size_t)len;
        for (struct nlmsghdr *nh = (struct nlmsghdr *)d->buf; NLMSG_OK(nh, left);
             nh = NLMSG_NEXT(nh, left)) {
            if (nh->nlmsg_seq != d->seq)
                continue;                     /* a stale answer to an abandoned dump */
            if (nh->nlmsg_type == NLMSG_DONE)
                return count;
            if (nh->nlmsg_type == NLMSG_ERROR)
                return -1;
            if (nh->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
                nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
                d->malformed++;
                continue;
            }
            struct inet_diag_msg m;
            struct procs_diag_sock s;
            memcpy(&m, NLMSG_DATA(nh), sizeof(m));
            s.proto = proto;
            procs_addr_from_raw(&s.local, m.idiag_family, m.id.idiag_src);
            procs_addr_from_raw(&s.remote, m.idiag_family, m.id.idiag_dst);
            s.local_port = ntohs(m.id.idiag_sport);
            s.remote_port = ntohs(m.id.idiag_dport);
            s.inode = m.idiag_inode;
            fn(user, &s);
            count++;
        }
    }
}

int procs_diag_dump_all(struct procs_diag *d, procs_diag_fn *fn, void *user)
{
    static const uint8_t families[2] = { AF_INET, AF_INET6 };
    static const uint8_t protos[2] = { IPPROTO_TCP, IPPROTO_UDP };
    int total = 0;

    for (unsigned f = 0; f < 2; f++)
        for (unsigned p = 0; p < 2; p++) {
            if (procs_diag_request(d, families[f], protos[p]) != 0)
                return -1;
            int n = procs_diag_read(d, protos[p], fn, user);
            if (n < 0)
                return -1;
            total += n;
        }
    return total;
}
