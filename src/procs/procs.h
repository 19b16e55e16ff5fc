/*
 * procs.h: process attribution, which local program owns each flow's
 * socket (sock_diag(7) with linux/inet_diag.h for sockets → inodes, proc(5)
 * /proc/PID/fd for inodes → processes).
 *
 * Threads and what they share (nothing but two kinds of SPSC ring and a
 * stop flag):
 *   - each capture worker sends a procs_query for the first packet of every
 *     new TCP/UDP flow through its own ring (worker → helper); a full ring
 *     refuses the query and counts it, the worker never waits;
 *   - one helper thread owns the sock_diag socket, the /proc scanner and a
 *     bounded cache of every socket it has seen with its owner.  It dumps
 *     this namespace's sockets every few milliseconds whether or not a
 *     query waits, because a packet reaches a worker only when its capture
 *     block retires (up to --ring-timeout later) and a 50 ms curl may be
 *     gone by then: its socket must have been seen while it lived.  It
 *     answers each query whose flow has a local endpoint (an address of
 *     this namespace's interfaces) with a procs_result through one ring
 *     (helper → output thread);
 *   - the output thread keeps the answers in its own bounded cache and
 *     writes the owner into each record just before the sinks see it.
 */
#ifndef NETMOON_PROCS_PROCS_H
#define NETMOON_PROCS_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/spsc_ring.h"
#include "output/record.h"

/* A new flow's first packet, as the worker saw it. */
struct procs_query {
    struct nm_addr addr[2];     /* sender, receiver */
    uint16_t port[2];
    uint8_t proto;              /* 6 or 17 */
};

struct procs;

/* Opens the sock_diag socket, loads the eBPF owner source when use_bpf and
 * the kernel allows it (procs_bpf.h), and allocates everything (call before
 * -Z).  Returns NULL with a message in err. */
struct procs *procs_create(unsigned nworkers, bool use_bpf, char *err, size_t errlen);
/* The ring worker i sends its queries into. */
struct spsc_ring *procs_worker_ring(struct procs *p, unsigned worker);
/* After -Z, before procs_start: on Linux 6.3 and 6.4 with
 * kernel.unprivileged_bpf_disabled set, an unprivileged process may not
 * read the eBPF map, and the young-process watch it replaces must run
 * instead.  Drops the eBPF source when one lookup fails. */
void procs_recheck_bpf(struct procs *p);
int procs_start(struct procs *p, char *err, size_t errlen);
/* Stops and joins the helper; NULL is fine. */
void procs_destroy(struct procs *p);

/* Output thread only. */
void procs_poll(struct procs *p);
/* Fills r->owner when known; final (not a snapshot row) records count as
 * attributed or unattributed. */
void procs_annotate(struct procs *p, struct flow_record *r, bool final);
/* Adds the attribution counters to st. */
void procs_add_stats(struct procs *p, struct nm_stats *st);

#endif
