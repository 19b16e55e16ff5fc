/*
 * worker.h: one packet-processing worker: a decode context and the flow
 * table it owns.  Offline there is one worker, run on the main thread; live,
 * each capture thread owns one, so no state is shared on the packet path.
 */
#ifndef NETMOON_CORE_WORKER_H
#define NETMOON_CORE_WORKER_H

#include "core/config.h"
#include "decode/decode.h"
#include "flow/flow_table.h"

struct l7_ndpi;
struct spsc_ring;

/* A burst's flow keys and hashes, computed ahead of the table updates so
 * that the index slots and then the flows of the whole burst load in
 * parallel instead of one cache miss after another (the dominant cost of
 * a lookup in a table larger than the cache). */
#define WORKER_BURST 32u
struct worker_keys {
    struct flow_key key[WORKER_BURST];
    uint64_t hash[WORKER_BURST];
    unsigned side[WORKER_BURST];
};

struct worker {
    struct decode_ctx decode;
    struct flow_table *flows;
    struct l7_ndpi *l7;        /* nDPI classifier for this worker's flows; NULL with --no-l7 */
    struct nm_packet pkt;      /* scratch, reused for every frame */
    /* Process attribution (procs/procs.h): where new TCP/UDP flows are
     * announced, NULL when off. */
    struct spsc_ring *procs_ring;
    /* worker_stage's burst: decoded packets waiting for worker_flush (a
     * non-IP frame is a tick: has_ip false, ts_us only). */
    struct nm_packet burst[WORKER_BURST];
    struct worker_keys keys;
    unsigned burst_n;
};

/* One of nworkers: its flow table takes an even share of --max-flows. */
int worker_init(struct worker *w, const struct nm_config *cfg, uint8_t id, unsigned nworkers,
                flow_emit_fn *emit, void *emit_user, char *err, size_t errlen);
void worker_fini(struct worker *w);

/* Announces the flow pkt just created (TCP/UDP only). */
void worker_announce_new_flow(struct worker *w, const struct nm_packet *pkt);

/* After a table update: a TCP/UDP flow the packet created is announced
 * to process attribution. */
static inline void worker_note_update(struct worker *w, const struct nm_packet *pkt, bool created)
{
    if (created && w->procs_ring && pkt->has_ports && (pkt->proto == 6 || pkt->proto == 17))
        worker_announce_new_flow(w, pkt);
}

/* Decodes one frame and accounts it. */
static inline void worker_process(struct worker *w, const struct nm_frame *frame)
{
    if (decode_packet(&w->decode, frame, &w->pkt))
        worker_note_update(w, &w->pkt, flow_table_update(w->flows, &w->pkt));
    else
        flow_table_advance(w->flows, frame->ts_us);
}

/* Key, hash and index-slot prefetch of burst entry i (a decoded packet). */
static inline void worker_keys_add(struct flow_table *t, struct worker_keys *k, uint32_t i,
                                   const struct nm_packet *pkt)
{
    k->hash[i] = flow_table_key(t, pkt, &k->key[i], &k->side[i]);
    flow_table_prefetch(t, k->hash[i]);
}

/* Decodes one frame into the burst; the burst is accounted when full or
 * at worker_flush.  The frame's bytes must stay where they are until then
 * (decoded packets point into them). */
void worker_stage(struct worker *w, const struct nm_frame *frame);
/* Accounts the staged burst, in arrival order: the records are those of
 * worker_process, frame by frame. */
void worker_flush(struct worker *w);

/* Adds this worker's counters into st. */
void worker_collect_stats(const struct worker *w, struct nm_stats *st);

#endif
