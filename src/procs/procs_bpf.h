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

/* Loads and attaches the programs, filtered to the caller's network
 * namespace.  Returns NULL with the reason in err. */
struct procs_bpf *procs_bpf_open(char *err, size_t errlen);
/* Detaches and frees; NULL is fine. */
void procs_bpf_close(struct procs_bpf *b);

/* The process that last used the socket with this local and remote end
 * (remote NULL: an unconnected socket; local address NULL: bound to the
 * wildcard), unless that was more than max_age_us ago (0: any age): an
 * unconnected socket's port may have changed hands since.  Returns true
 * and fills pid and comm when known. */
bool procs_bpf_find(struct procs_bpf *b, uint8_t proto, const struct nm_addr *laddr,
                    uint16_t lport, const struct nm_addr *raddr, uint16_t rport,
                    uint64_t max_age_us, int32_t *pid, char comm[NM_OWNER_COMM_MAX]);

#endif
