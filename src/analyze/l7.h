/*
 * l7.h: application metadata for flows, from netmoon's own parsers.
 *
 * The flow table keeps one 32-bit handle per flow (0: not looked at yet,
 * L7_HANDLE_NONE: nothing to parse).  A flow gets an L7 slot (its summary,
 * a few hundred bytes) when its first payload belongs to a protocol a
 * parser recognises; a TCP flow also borrows a reassembly stream (the two
 * directions' first L7_HEAD_MAX bytes, in order) only until its parsers
 * are done, e.g. once the ClientHello or the request and response were
 * read.  Both pools are allocated once per worker and bounded; a flow that
 * finds them full is counted and left unparsed.
 */
#ifndef NETMOON_ANALYZE_L7_H
#define NETMOON_ANALYZE_L7_H

#include <stdint.h>

#include "analyze/tcp_analysis.h"
#include "decode/decode.h"
#include "output/record.h"

#define L7_HANDLE_NONE UINT32_MAX
#define L7_HEAD_MAX 8192u          /* bytes of each direction a parser may see */
_Static_assert(L7_HEAD_MAX >= 8192u, "QUIC keeps its CRYPTO bytes in a stream head");
#define L7_STREAMS_MAX 2048u       /* TCP flows being parsed at once, per worker */
#define L7_REASM_CHUNKS 4096u      /* out-of-order chunks, per worker */
#define L7_SEGMENT_BUDGET 64u      /* TCP segments a flow may take to finish parsing */
#define L7_DATAGRAM_TRIES 4u       /* UDP datagrams on port 53/443 that may fail to parse */

struct l7_pool;

/* max_flows L7 slots at most (untouched pages stay virtual).  streams_dir:
 * also write every TCP direction's reassembled payload to a file there,
 * named as tcpflow names it; a flow then keeps its stream to the end.
 * NULL when out of memory or the directory cannot be opened. */
struct l7_pool *l7_pool_create(uint32_t max_flows, const char *streams_dir);
void l7_pool_destroy(struct l7_pool *p);

/* One packet of a flow whose handle is *handle, sent by canonical side
 * `side`; src_side is the initiator's canonical side; tcp the flow's TCP
 * analysis (NULL for other protocols), which knows where each direction's
 * sequence space starts. */
void l7_packet(struct l7_pool *p, uint32_t *handle, const struct nm_packet *pkt, unsigned side,
               unsigned src_side, const struct tcp_analysis *tcp);
void l7_fill(const struct l7_pool *p, uint32_t handle, struct flow_l7_summary *out);
void l7_release(struct l7_pool *p, uint32_t handle);
void l7_collect_stats(const struct l7_pool *p, struct nm_l7_stats *into);

#endif
