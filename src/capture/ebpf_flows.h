/*
 * ebpf_flows.h: the eBPF capture engine's source (--engine ebpf).  The
 * kernel program (ebpf_flows.bpf.c) keys and counts every frame of the
 * interfaces in a flow map and queues none of them; this module loads it
 * (libbpf, bpf(2)), attaches it to one SOCK_DGRAM packet(7) socket per
 * interface (SO_ATTACH_BPF, PACKET_ADD_MEMBERSHIP for promiscuous mode)
 * and reads the map back with BPF_MAP_LOOKUP_BATCH.
 *
 * What it cannot give, by design: anything from payloads (TCP analysis,
 * labels, L7 fields), a filter expression, or -w: no packet reaches user
 * space.  The default AF_PACKET engine gives all of those.
 */
#ifndef NETMOON_CAPTURE_EBPF_FLOWS_H
#define NETMOON_CAPTURE_EBPF_FLOWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture/ebpf_flows_shared.h"
#include "core/config.h"

struct ebpf_flows_config {
    const char *ifnames[NM_MAX_IFACES];
    unsigned nifaces;
    bool promisc;
    uint32_t max_flows;        /* the map's max_entries */
    uint64_t idle_timeout_ns;  /* the programs end flows quiet longer than */
    uint64_t close_timeout_ns; /* these (nm_ebpf_cfg) ... */
    uint64_t active_timeout_ns;/* ... or older than this (0: never) */
    uint64_t sweep_ns;         /* how often the kernel looks for due flows */
};

/* One flow as the map holds it. */
struct ebpf_flow {
    struct nm_ebpf_key key;
    struct nm_ebpf_val val;
};

struct ebpf_flows;

/* false when netmoon was built without libbpf or clang's BPF target. */
bool ebpf_flows_built(void);

/* Loads the program, sizes the map, opens and binds the sockets.  On
 * failure returns -1 with a message in err naming the cause and what to
 * do; NM_EXIT_USAGE's cases (an interface of a kind it cannot read) return
 * -2. */
int ebpf_flows_open(const struct ebpf_flows_config *cfg, struct ebpf_flows **out, char *err,
                    size_t errlen);
void ebpf_flows_close(struct ebpf_flows *e);

/* The link header bytes each frame had before its network header
 * (Ethernet's and loopback's 14): the map counts from the network header. */
unsigned ebpf_flows_link_header(const struct ebpf_flows *e);

/* Reads every flow of the map into a buffer the module owns (valid until
 * the next call), for the view and at the end.  Returns 0 with *flows and
 * *n set, or -1 with err. */
int ebpf_flows_read(struct ebpf_flows *e, const struct ebpf_flow **flows, size_t *n, char *err,
                    size_t errlen);

/* Flows the kernel ended (its sweep found them due, or a packet came after
 * the quiet limit or started a new connection on the tuple) wait in a ring
 * buffer: fn gets each, in order.  Returns the number handed over. */
typedef void ebpf_flows_ended_fn(void *user, const struct nm_ebpf_end *end);
size_t ebpf_flows_consume_ended(struct ebpf_flows *e, ebpf_flows_ended_fn *fn, void *user);

/* Stops the sweep and waits for one that is running to finish, then
 * closes the sockets: no program runs any more, so the ring buffer, the
 * map and the counters read after this are final. */
void ebpf_flows_detach(struct ebpf_flows *e);

/* The counters (enum nm_ebpf_counter), CPUs summed.  Returns 0, or an
 * errno when the kernel refused the read (after -Z on kernels before 6.5
 * with kernel.unprivileged_bpf_disabled set). */
int ebpf_flows_counters(struct ebpf_flows *e, uint64_t out[NM_EBPF_COUNTERS]);

/* Flows a read left out because its buffer was full (the map may hold a
 * few more than its max_entries while CPUs insert at once). */
uint64_t ebpf_flows_read_cut(const struct ebpf_flows *e);

/* The program's runs and run time so far (bpf_prog_info; the kernel counts
 * them only while sysctl kernel.bpf_stats_enabled is 1).  Returns false
 * when they cannot be read. */
bool ebpf_flows_prog_stats(struct ebpf_flows *e, uint64_t *runs, uint64_t *ns);

/* Frames the sockets' queues dropped (PACKET_STATISTICS): the program
 * queues none, so anything here means a packet reached a queue. */
uint64_t ebpf_flows_socket_drops(struct ebpf_flows *e);

/* Index of the first interface that no longer exists, or -1. */
int ebpf_flows_gone(const struct ebpf_flows *e);
const char *ebpf_flows_ifname(const struct ebpf_flows *e, unsigned i);

#endif
