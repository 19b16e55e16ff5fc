/*
 * flow_table.h: the per-worker flow table.
 *
 * One table belongs to one worker thread, so nothing here locks.  Flows live
 * in a preallocated array (bounded by --max-flows); an open-addressing index
 * with linear probing and backward-shift deletion finds them.  Its slots
 * are 4 bytes, the flow's index and a tag from the key hash (1.5 slots a
 * flow of --max-flows at most, so 6 bytes a flow), so a probe past another
 * key rarely loads that flow; removal and doubling, which need entries'
 * homes, hash their flows' keys again.  Two
 * intrusive lists give O(1) time keeping without scans, the way Redis's
 * ae.c keeps its timers cheap:
 *   - the LRU list (most recently touched first) is also the idle timer,
 *     since the least recently touched flow is the first to go idle, and it
 *     names the victim when the table is full;
 *   - the active list, in start (or last interim record) order, for
 *     --active-timeout; its links live beside the flows, in an array that
 *     only exists when the option is on.
 *
 * Closed TCP flows (FIN acknowledged both ways, or RST) move to a third
 * list and stay until they have been quiet for the close timeout, so late
 * packets stay in their record; a new SYN on the tuple ends them at once
 * (port reuse).
 *
 * Time is whatever the caller says it is: packet time offline, the kernel's
 * packet timestamps (plus a wall-clock tick) live.
 */
#ifndef NETMOON_FLOW_TABLE_H
#define NETMOON_FLOW_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analyze/tcp_analysis.h"
#include "decode/decode.h"
#include "flow/flow_key.h"
#include "output/record.h"

#define FLOW_TABLE_DEFAULT_MAX_FLOWS 1000000u
/* The most flows a table holds: every TCP flow needs a TCP analysis, and
 * a pool holds at most TCP_ANALYSIS_POOL_MAX (2^30 - 1). */
#define FLOW_TABLE_MAX_FLOWS TCP_ANALYSIS_POOL_MAX
#define FLOW_TABLE_DEFAULT_IDLE_US (60ull * 1000000ull)

struct flow_table_config {
    uint32_t max_flows;          /* 1 to FLOW_TABLE_MAX_FLOWS */
    uint64_t idle_timeout_us;    /* > 0 */
    uint64_t active_timeout_us;  /* 0: no interim records */
    uint64_t close_timeout_us;   /* closed TCP flows' wait; 0: the idle timeout */
    uint8_t worker_id;           /* goes into flow_id's top byte */
    struct l7_ndpi *ndpi;         /* the worker's nDPI classifier; NULL: no L7 labels */
    bool no_l7;                  /* no application parsers (analyze/l7.h) */
    const char *streams_dir;     /* --streams: reassembled payload files, NULL: none */
    uint64_t hash_seed;          /* 0: a random secret; else its seed (tests: known collisions) */
    uint64_t id_start;           /* the sequence number before the first flow's: 0 (tests) */
    /* Bits of an index slot for the flow, the rest being the tag (flow_table.c):
     * 0 or fewer than max_flows needs: as many as it needs.  Tests widen it
     * to what the largest tables take, up to 32, which leaves no tag. */
    uint8_t index_flow_bits;
};

/* The most memory one tracked flow can take: its slot, its wide entry
 * (only once a counter wraps, the sequence numbers' low halves wrap,
 * or a packet's time is far from table time), its IPv6 addresses (IPv6
 * only), its active-list entry (only with --active-timeout), its L7
 * handles (only with `l7`: the table has nDPI or L7 parsers, that is
 * without --no-l7 or with --streams), its TCP analysis and its share of
 * the index at its largest (1.5 slots a flow of --max-flows, under three
 * during the doubling that reaches it).  --max-memory divides by this. */
size_t flow_table_bytes_per_flow(bool l7);

/* Whether a table made with these settings runs L7 parsers (its L7 pool
 * and the per-flow handles): without --no-l7, or with --streams, which
 * needs the parsers' stream starts. */
static inline bool flow_table_wants_l7(bool no_l7, const char *streams_dir)
{
    return !no_l7 || streams_dir;
}

/* Receives every record the table writes (ended, evicted, interim). */
typedef void flow_emit_fn(void *user, const struct flow_record *rec);
/* Where to build the record of a flow that ends, for a consumer that
 * queues records: a record is over a kilobyte, and built in the queue's
 * own slot it is written once instead of built and copied.  The table
 * asks for the slot, fills it, then has it published, with the emit
 * function's user pointer and nothing emitted in between; it goes to
 * emit only without a slot function (and for interim records). */
typedef struct flow_record *flow_record_slot_fn(void *user);
typedef void flow_record_commit_fn(void *user);

struct flow_table_stats {
    uint64_t created;
    uint64_t ended;       /* records written for flows that are gone */
    uint64_t interim;     /* --active-timeout records */
    uint64_t evicted;
    uint64_t active;      /* flows in the table now */
    uint64_t peak_active;
    struct nm_l7_stats l7;
};

struct flow_table;
struct l7_ndpi;

/* Returns NULL with a message in err when memory cannot be had. */
struct flow_table *flow_table_create(const struct flow_table_config *cfg, flow_emit_fn *emit,
                                     void *emit_user, char *err, size_t errlen);
void flow_table_destroy(struct flow_table *t);
/* Optional: ended flows' records are built where slot says and published
 * by commit (see above). */
void flow_table_set_record_slot(struct flow_table *t, flow_record_slot_fn *slot,
                                flow_record_commit_fn *commit);

/* Accounts one decoded packet (pkt->has_ip must be set); true when the
 * packet started a new flow. */
bool flow_table_update(struct flow_table *t, const struct nm_packet *pkt);

/* flow_table_update in two steps, for callers that find the key on one
 * thread and account on another (the offline pipeline): the packet's key,
 * sender side and keyed hash (some bits of its high half cleared: what is
 * left there is the index's tag).  It only reads what flow_table_create set,
 * so any thread may call it while the owner updates the table. */
uint64_t flow_table_key(const struct flow_table *t, const struct nm_packet *pkt,
                        struct flow_key *key, unsigned *side);
/* Faults in the pages the next new flows (and their TCP analyses) will
 * take, so the kernel zeroes them on the calling thread rather than in the
 * owner's update (common/hugemem.h).  Unlike everything else here it is
 * meant for another thread: it reads only what flow_table_create set and
 * hints the owner publishes, and only one thread may call it. */
void flow_table_prefault(struct flow_table *t);

/* Starts loading the index slot of a hash from flow_table_key, so that a
 * caller holding a batch of packets overlaps their cache misses.  Unlike
 * flow_table_key it reads the index, which grows: only the table's owner
 * may call it. */
void flow_table_prefetch(const struct flow_table *t, uint64_t hash);
/* Prefetches the flow that hash's first index slot names (call after
 * flow_table_prefetch, owner only). */
void flow_table_prefetch_flow(const struct flow_table *t, uint64_t hash);
/* flow_table_update with the key and hash from flow_table_key. */
bool flow_table_update_keyed(struct flow_table *t, const struct nm_packet *pkt,
                             const struct flow_key *key, unsigned side, uint64_t hash);

/* Moves time forward without a packet (live capture ticks) and expires what
 * is due.  Time never goes backwards: an older now_us is ignored. */
void flow_table_advance(struct flow_table *t, uint64_t now_us);

/* Writes a record for every flow still in the table and empties it.  Closed
 * TCP flows keep their fin/rst end reason; the others get `why`. */
void flow_table_flush(struct flow_table *t, enum flow_end_reason why);

/* Calls fn with a record (end_reason NONE) for each active flow, for
 * periodic snapshots; the table is not changed. */
void flow_table_snapshot(const struct flow_table *t, flow_emit_fn *fn, void *user);

void flow_table_get_stats(const struct flow_table *t, struct flow_table_stats *out);

/* The index's slot count now: tests that build a probe cluster need it. */
uint32_t flow_table_index_slots(const struct flow_table *t);

#endif
