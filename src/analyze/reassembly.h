/*
 * reassembly.h: TCP stream reassembly, one direction at a time.
 *
 * Follows RFC 9293 §3.4 (sequence numbers, modulo-2^32 comparison) and
 * §3.10.7.4 (a receiver queues segments that are in the window but not yet
 * in order).  Bytes are handed to a callback strictly in sequence order;
 * segments that arrive early wait in fixed-size chunks taken from a pool
 * that one worker owns (no locks, no malloc per packet).
 *
 * Caps: a direction holds at most REASM_DIR_MAX_CHUNKS chunks (the per-flow
 * cap) and the pool has a fixed number of chunks for all its directions (the
 * global cap).  A segment that does not fit is refused and counted; the
 * hole in front of the buffered data is then given up as a gap, so a stream
 * always makes progress.
 *
 * Overlap policy: first wins.  Bytes already delivered or already buffered
 * are kept and the overlapping part of a later segment is dropped (counted
 * as overlap_bytes).  Delivered bytes cannot be taken back from a parser,
 * so "first" is the only policy that treats buffered and delivered data
 * alike; Wireshark's desegmentation and Suricata's "first" policy (BSD-like
 * stacks differ) keep the first copy too.
 *
 * Gaps: bytes the stream skips over (acknowledged by the peer but never
 * captured, refused for lack of room, or missing at the end) are reported
 * to the callback with the next data and counted.
 */
#ifndef NETMOON_ANALYZE_REASSEMBLY_H
#define NETMOON_ANALYZE_REASSEMBLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REASM_CHUNK_DATA 1456u        /* one chunk: a typical Ethernet MSS */
#define REASM_DIR_MAX_CHUNKS 48u      /* per direction: about 68 KiB waiting */
#define REASM_MAX_AHEAD (1u << 24)    /* a segment further ahead is not believed */

struct reasm_stats {
    uint64_t buffered_segments; /* segments (or parts) that had to wait */
    uint64_t overlap_bytes;   /* dropped because an earlier copy won */
    uint64_t refused_bytes;   /* not buffered: direction or pool cap reached */
    uint64_t out_of_window;   /* segments more than REASM_MAX_AHEAD ahead */
    uint64_t gaps;            /* holes given up */
    uint64_t gap_bytes;       /* bytes in those holes */
    uint64_t chunks_in_use, chunks_peak;
};

/* One direction of a connection. */
struct reasm_dir {
    uint32_t next_seq;        /* sequence number of the next byte to deliver */
    uint32_t ooo_head;        /* first waiting chunk (pool index + 1), sorted by seq */
    uint32_t fin_seq;         /* sequence number of the FIN, when has_fin */
    uint16_t ooo_chunks;
    bool started, has_fin;
    uint64_t gap_bytes;       /* holes in this direction so far */
};

struct reasm_pool;

/* data/len: bytes in order; gap: bytes skipped just before them (0 if none).
 * A call with len 0 and gap > 0 reports a hole at the end of the stream. */
typedef void reasm_deliver_fn(void *user, const uint8_t *data, size_t len, uint32_t gap);

/* capacity chunks, allocated once (untouched pages stay virtual). */
struct reasm_pool *reasm_pool_create(uint32_t capacity);
void reasm_pool_destroy(struct reasm_pool *p);
const struct reasm_stats *reasm_pool_stats(const struct reasm_pool *p);

void reasm_dir_init(struct reasm_dir *d);
/* The first byte of the stream is seq (the SYN's sequence number + 1). */
void reasm_dir_start(struct reasm_dir *d, uint32_t seq);
/* One segment's payload.  An unstarted direction starts at seq. */
void reasm_dir_segment(struct reasm_pool *p, struct reasm_dir *d, uint32_t seq,
                       const uint8_t *data, size_t len, reasm_deliver_fn *fn, void *user);
/* This direction sent a FIN at seq: an ACK of it is not a missing byte. */
void reasm_dir_fin(struct reasm_dir *d, uint32_t seq);
/* The peer acknowledged everything before ack: what is still missing below
 * it was never captured, so it becomes a gap and waiting data is delivered. */
void reasm_dir_ack(struct reasm_pool *p, struct reasm_dir *d, uint32_t ack,
                   reasm_deliver_fn *fn, void *user);
/* End of stream: delivers what waits, holes included, and frees it. */
void reasm_dir_flush(struct reasm_pool *p, struct reasm_dir *d, reasm_deliver_fn *fn, void *user);
/* Frees what waits without delivering it (the consumer lost interest). */
void reasm_dir_release(struct reasm_pool *p, struct reasm_dir *d);

#endif
