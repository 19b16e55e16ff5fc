/*
 * tcp_analysis.h: per-connection TCP analysis for one flow.
 *
 * Sources it follows:
 *   - RFC 9293 (sequence space, SYN/FIN occupying one sequence number);
 *   - RFC 6298 (RTT samples; Karn's rule: never time a retransmitted
 *     segment) and RFC 7323 §3/§4 (RTT from TSval/TSecr echoes);
 *   - Wireshark's tcp.analysis.* definitions (packet-tcp.c,
 *     tcp_analyze_sequence_number): retransmission, fast retransmission,
 *     spurious retransmission, out-of-order, duplicate ACK, zero window,
 *     keep-alive, and tcp.analysis.initial_rtt;
 *   - Zeek's conn.log (base/protocols/conn/main.zeek and the TCP analyzer's
 *     endpoint states): conn_state, history, orig_bytes/resp_bytes,
 *     missed_bytes.
 *
 * It also keeps, for the flow table's close and port-reuse tests, the
 * first SYN's sequence number and each side's last FIN's.
 *
 * State is kept per canonical side (0/1 of the flow key), so it survives the
 * flow table learning the initiator late; the record is oriented src/dst
 * when filled.  The analysis lives in a preallocated pool that the flow
 * table sizes once for --max-flows; only TCP flows take a slot, and nothing
 * is allocated per packet.
 */
#ifndef NETMOON_ANALYZE_TCP_ANALYSIS_H
#define NETMOON_ANALYZE_TCP_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analyze/tcp_state.h"
#include "decode/decode.h"
#include "output/record.h"

/* Data seen beyond a hole, per direction: as many islands as SACK has
 * blocks with timestamps on (RFC 2018 §3); past that the two closest merge
 * and the hole between them is taken as seen (missed_bytes undercounts
 * rather than invents). */
#define TCP_GAP_ISLANDS 4

/* RTT statistics of one leg (capture point -> one side -> capture point). */
struct tcp_rtt_stats {
    uint64_t sum_us;
    uint32_t n, min_us, max_us, last_us;
};

/* What is kept per side.  Times are the low 32 bits of packet time in µs:
 * only differences below ~71 minutes are ever taken. */
struct tcp_side {
    /* Wireshark's per-direction analysis state. */
    uint32_t nextseq;        /* highest seq + len (+SYN/FIN) seen */
    uint32_t lastack;        /* ack field of this side's last segment */
    uint32_t nextseq_t, lastack_t;
    uint16_t win;            /* raw window of the last segment */
    uint16_t dupack_run;     /* consecutive duplicate ACKs */
    /* Zeek's endpoint. */
    uint32_t z_start, z_last, z_ack;  /* start_seq, last_seq, ack_seq */
    uint32_t hist_syn, hist_fin, hist_rst;
    uint32_t z_rxmt, z_win0, z_gap;   /* counters behind t/w/g letters */
    /* Content gaps: everything below gap_edge was seen or given up as a
     * gap; islands are data seen above it, sorted, disjoint. */
    uint32_t gap_edge;
    uint32_t island[TCP_GAP_ISLANDS][2]; /* [start, end) */
    /* RTT timing of this side's data / TSval, answered by the peer. */
    uint32_t rtt_seq, rtt_t;
    uint32_t ts_val, ts_t;
    /* Counters (Wireshark definitions). */
    uint32_t retrans, ooo, dup_acks, zero_win, keepalives, rsts;
    struct tcp_rtt_stats rtt;         /* leg to this side */
    uint16_t flags;                   /* TCP_SF_* */
    uint8_t wscale;
    uint8_t z_state, z_prev;          /* Zeek endpoint state and the one before */
    uint8_t hist_seen;                /* Zeek's once-per-direction letters */
    uint8_t z_exp[3];                 /* log10 thresholds of t, w, g */
    uint8_t islands;                  /* used entries of island */
};

struct tcp_analysis {
    struct tcp_side side[2];
    struct tcp_tracker trk;
    uint64_t syn_ts, synack_ts;       /* most recent SYN; first SYN-ACK after it */
    uint64_t missed_bytes;
    uint32_t first_rtt_us;            /* Wireshark ts_first_rtt (out-of-order threshold) */
    uint32_t rtt_server_us, rtt_client_us;
    uint32_t next_free;               /* pool free list */
    /* For the flow table's connection tracking (tcp_analysis_first_syn,
     * tcp_analysis_fin): only TCP flows need them, and the compact form
     * already codes the segments they come from. */
    uint32_t first_syn_seq;           /* ISN of the first SYN without ACK */
    uint32_t fin_seq[2];              /* by side: the sequence number of its last FIN */
    uint8_t conn_seen;                /* TCP_CONN_* */
    uint8_t syn_side;
    uint8_t aflags;                   /* TCP_AF_* */
    uint8_t hist_len;
    char history[NM_TCP_HISTORY_MAX]; /* letters, uppercase = canonical side 0 */
};

void tcp_analysis_init(struct tcp_analysis *a);
/* One TCP segment (pkt->has_tcp) sent by canonical side `side`;
 * `src_side` is the initiator's canonical side as the flow table sees it now. */
void tcp_analysis_packet(struct tcp_analysis *a, const struct nm_packet *pkt, unsigned side,
                         unsigned src_side);
/* tcp_analysis_packet without its fast path for the common segment: every
 * pass in full.  For tests, which check that both give the same analysis. */
void tcp_analysis_packet_full(struct tcp_analysis *a, const struct nm_packet *pkt,
                              unsigned side, unsigned src_side);
/* Fills out->tcp, oriented by src_side. */
void tcp_analysis_fill(const struct tcp_analysis *a, unsigned src_side,
                       struct flow_tcp_summary *out);

/* What the flow table asks of a connection's segments (flow_table.c's
 * port-reuse and close tests): the ISN of the first segment with SYN and
 * without ACK, and the sequence number that side `side`'s last FIN
 * occupies (after its data, and after a SYN on the same segment), both
 * counted over every segment given to tcp_analysis_packet (or _full, or
 * the pool), except that a segment with RST sets no FIN.  False when there
 * was no such segment. */
bool tcp_analysis_first_syn(const struct tcp_analysis *a, uint32_t *seq);
bool tcp_analysis_fin(const struct tcp_analysis *a, unsigned side, uint32_t *seq);

/* Sequence number of the first payload byte of canonical side `side`, when
 * its SYN (or SYN-ACK) was seen: where reassembly of that direction starts. */
bool tcp_analysis_stream_start(const struct tcp_analysis *a, unsigned side, uint32_t *seq);

/* The pool: capacity flows' analyses, allocated once (untouched pages
 * stay virtual).  A flow's first few segments are kept compactly, in one
 * of two sizes, and only replayed into a full analysis if the flow goes
 * past them (see the pool in tcp_analysis.c); handles hide which form a
 * flow has.  The compact form counts times from the flow's first-packet
 * time, which it does not store: every call that takes ts_first must be
 * given the flow's current one, and before that time changes the caller
 * tells the pool (tcp_analysis_pool_rebase). */
struct tcp_analysis_pool;
/* The most analyses a pool holds: a handle names its slot's index + 1 in
 * 30 bits (the other two say which form). */
#define TCP_ANALYSIS_POOL_MAX 0x3fffffffu
struct tcp_analysis_pool *tcp_analysis_pool_create(uint32_t capacity);
void tcp_analysis_pool_destroy(struct tcp_analysis_pool *p);
/* Faults in the memory of the next `ahead` analyses of each form and
 * size; any thread may call it while the owner works (common/hugemem.h),
 * one such thread at a time. */
void tcp_analysis_pool_prefault(struct tcp_analysis_pool *p, uint32_t ahead);
/* The most one flow's analysis can keep resident. */
size_t tcp_analysis_bytes_per_flow(void);
/* Returns a handle (> 0), or 0 when full.  The flow starts in the compact
 * form, or in the full analysis while the pool's recent compact flows
 * mostly outgrew theirs (see the pool in tcp_analysis.c). */
uint32_t tcp_analysis_alloc(struct tcp_analysis_pool *p);
/* How many full analyses new flows may start in at once; 0: every flow
 * starts compact (tests of the compact form).  The default bounds what a
 * wrong guess costs to tens of megabytes. */
void tcp_analysis_pool_set_direct_budget(struct tcp_analysis_pool *p, uint32_t flows);
void tcp_analysis_release(struct tcp_analysis_pool *p, uint32_t handle);
/* tcp_analysis_packet for the flow of handle; returns the flow's handle
 * from now on (it changes when the flow's compact form changes size or
 * is outgrown). */
uint32_t tcp_analysis_pool_packet(struct tcp_analysis_pool *p, uint32_t handle, uint64_t ts_first,
                                  const struct nm_packet *pkt, unsigned side, unsigned src_side);
/* For a caller about to change the flow's first-packet time from
 * ts_first to `to`: a flow in the compact form recodes its times, moving
 * to the larger compact size or to the full analysis if they no longer
 * fit.  Returns the flow's handle from now on. */
uint32_t tcp_analysis_pool_rebase(struct tcp_analysis_pool *p, uint32_t handle, uint64_t ts_first,
                                  uint64_t to);
/* The flow's analysis to read: the full one, or its compact segments
 * replayed into *scratch.  NULL for handle 0. */
const struct tcp_analysis *tcp_analysis_pool_view(const struct tcp_analysis_pool *p,
                                                  uint32_t handle, uint64_t ts_first,
                                                  struct tcp_analysis *scratch);
/* Starts loading the flow's analysis (either form), for a caller about to
 * read it; does nothing for handle 0. */
void tcp_analysis_pool_prefetch(const struct tcp_analysis_pool *p, uint32_t handle);
/* For tests: whether the prediction state the pool keeps for a flow in
 * compact form (in its code's tail or in the cache) predicts what decoding
 * all its segments again does.  True for other handles. */
bool tcp_analysis_pool_state_consistent(struct tcp_analysis_pool *p, uint32_t handle);
/* tcp_analysis_fill for the flow of handle. */
void tcp_analysis_pool_fill(const struct tcp_analysis_pool *p, uint32_t handle,
                            uint64_t ts_first, unsigned src_side, struct flow_tcp_summary *out);
/* tcp_analysis_first_syn and tcp_analysis_fin for the flow of handle
 * (false for handle 0).  Out of line: a flow in the compact form is
 * replayed into a scratch analysis, a stack frame the flow table's packet
 * path, which asks only now and then, should not set up. */
bool tcp_analysis_pool_first_syn(const struct tcp_analysis_pool *p, uint32_t handle,
                                 uint64_t ts_first, uint32_t *seq);
bool tcp_analysis_pool_fin(const struct tcp_analysis_pool *p, uint32_t handle, uint64_t ts_first,
                           unsigned side, uint32_t *seq);

#endif
