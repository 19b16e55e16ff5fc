/*
 * procs_bpf.h: process attribution's eBPF source, who sent or received on
 * each socket of this network namespace, as recorded by the tracepoint
 * programs of procs_owner.bpf.c (bpf(2) through libbpf; BTF-enabled raw
 * tracepoints, Linux 6.3+ for sock_send_length / sock_recv_length).
 *
 * Why, next to sock_diag and /proc: the kernel writes the owner while the
 * owner runs, so a client that exits a millisecond after its last packet
 * is still attributed; the scanners must see it alive.  Loading needs
 * CAP_BPF and CAP_PERFMON (root) and a kernel with BTF; when anything is
 * missing procs_bpf_open fails and attribution goes on without it.
 *
 * Built without libbpf (NETMOON_NO_BPF), procs_bpf_open always fails.
 */
#ifndef NETMOON_PROCS_PROCS_BPF_H
#define NETMOON_PROCS_PROCS_BPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "output/record.h"

struct procs_bpf;

/* Whether this binary has the eBPF source (built with libbpf and clang). */
bool procs_bpf_built(void);

/* Loads and attaches the programs, filtered to the caller's network
 * namespace.  Returns NULL with the reason in err. */
struct procs_bpf *procs_bpf_open(char *err, size_t errlen);
/* Detaches and frees; NULL is fine. */
void procs_bpf_close(struct procs_bpf *b);

/* What the map says about one socket. */
enum procs_bpf_answer {
    PROCS_BPF_NONE,         /* no entry, or too old: ask the other sources */
    PROCS_BPF_UNKNOWN,      /* the tuple's socket has no owner to name (a
                             * kernel thread, another pid namespace), or its
                             * entry is a closed earlier socket's: the
                             * other sources' answers about it are suspect */
    PROCS_BPF_OWNER,        /* pid and comm are filled */
};

/* A closed socket's entry still names packets seen up to this long after
 * it closed: the capture hands packets over late (--ring-timeout), and
 * the helper takes queries a cycle later still. */
#define PROCS_BPF_CLOSED_GRACE_US 1000000ull

struct procs_bpf_ask {
    uint8_t proto;
    const struct nm_addr *laddr;    /* NULL: bound to the wildcard */
    uint16_t lport;
    const struct nm_addr *raddr;    /* NULL: an unconnected socket */
    uint16_t rport;
    uint64_t max_age_us;            /* 0: any age since the last write */
    uint64_t asked_us;              /* CLOCK_MONOTONIC µs the packet was seen */
    uint64_t now_us;                /* CLOCK_MONOTONIC µs now (the helper's cycle time) */
};

/* The process that last used the socket with this local and remote end.
 * An entry older than max_age_us is NONE: an unconnected socket's port may
 * have changed hands since. */
enum procs_bpf_answer procs_bpf_find(struct procs_bpf *b, const struct procs_bpf_ask *ask,
                                     int32_t *pid, char comm[NM_OWNER_COMM_MAX]);
/* One lookup, to learn whether this process may still read the map: after
 * -Z on Linux 6.3 and 6.4 with kernel.unprivileged_bpf_disabled set, every
 * map lookup fails with EPERM.  Returns 0 or the errno. */
int procs_bpf_probe(struct procs_bpf *b);

#endif
