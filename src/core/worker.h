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

struct worker {
    struct decode_ctx decode;
    struct flow_table *flows;
    struct l7_ndpi *l7;        /* nDPI classifier for this worker's flows; NULL with --no-l7 */
    struct nm_packet pkt;      /* scratch, reused for every frame */
    /* Process attribution (procs/procs.h): where new TCP/UDP flows are
     * announced, NULL when off. */
    struct spsc_ring *procs_ring;
};

/* One of nworkers: its flow table takes an even share of --max-flows. */
int worker_init(struct worker *w, const struct nm_config *cfg, uint8_t id, unsigned nworkers,
                flow_emit_fn *emit, void *emit_user, char *err, size_t errlen);
void worker_fini(struct worker *w);

/* Announces the flow w->pkt just created (TCP/UDP only). */
void worker_announce_new_flow(struct worker *w);

/* Decodes one frame and accounts it. */
static inline void worker_process(struct worker *w, const struct nm_frame *frame)
{
    if (decode_packet(&w->decode, frame, &w->pkt)) {
        if (flow_table_update(w->flows, &w->pkt) && w->procs_ring && w->pkt.has_ports &&
            (w->pkt.proto == 6 || w->pkt.proto == 17))
            worker_announce_new_flow(w);
    } else
        flow_table_advance(w->flows, frame->ts_us);
}

/* Adds this worker's counters into st. */
void worker_collect_stats(const struct worker *w, struct nm_stats *st);

#endif
