/*
 * procs_diag.h: a sock_diag(7) client, the way ss(8) lists sockets: one
 * NETLINK_SOCK_DIAG socket, SOCK_DIAG_BY_FAMILY dump requests
 * (struct inet_diag_req_v2 of linux/inet_diag.h) for TCP and UDP over
 * AF_INET and AF_INET6, each answer (struct inet_diag_msg) checked against
 * the message length before it is read.
 *
 * The socket needs no privilege for these dumps; it is opened before -Z
 * drops root anyway, like the capture sockets.
 */
#ifndef NETMOON_PROCS_PROCS_DIAG_H
#define NETMOON_PROCS_PROCS_DIAG_H

#include <stddef.h>
#include <stdint.h>

#include "decode/decode.h"

/* One socket as the kernel reported it.  Addresses are IPv4-mapped for
 * AF_INET (and stay mapped for an AF_INET6 socket on ::ffff:a.b.c.d);
 * INADDR_ANY, :: and ::ffff:0.0.0.0 all become zeros (the wildcard). */
struct procs_diag_sock {
    uint8_t proto;              /* 6 or 17 */
    struct nm_addr local, remote;
    uint16_t local_port, remote_port;
    uint64_t inode;             /* 0 once no process holds it (TIME_WAIT, orphans) */
};

/* raw is 4 (AF_INET) or 16 (AF_INET6) bytes in network order; the result
 * is normalised as above. */
void procs_addr_from_raw(struct nm_addr *out, int family, const void *raw);

typedef void procs_diag_fn(void *user, const struct procs_diag_sock *s);

struct procs_diag {
    int fd;
    uint32_t seq;
    uint64_t malformed;         /* answers too short to read: skipped, counted */
    uint8_t buf[32768];
};

/* Returns 0, or -1 with a message in err. */
int procs_diag_open(struct procs_diag *d, char *err, size_t errlen);
void procs_diag_close(struct procs_diag *d);

/* Dumps every TCP and UDP socket of both families of this network
 * namespace with an owner (TIME_WAIT and request sockets are left out by
 * the state mask: they have no inode); calls fn for each.  Returns the
 * number of sockets, or -1 when a request failed. */
int procs_diag_dump_all(struct procs_diag *d, procs_diag_fn *fn, void *user);

#endif
