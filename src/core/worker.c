/*
 * worker.c: wiring of decode context, flow table and L7 classifier for one
 * worker.
 */
#include "core/worker.h"

#include <stdlib.h>
#include <string.h>

#include "analyze/l7_ndpi.h"
#include "common/spsc_ring.h"
#include "procs/procs.h"

int worker_init(struct worker *w, const struct nm_config *cfg, uint8_t id, unsigned nworkers,
                flow_emit_fn *emit, void *emit_user, char *err, size_t errlen)
{
    uint32_t share = nworkers > 1 ? cfg->max_flows / nworkers : cfg->max_flows;

    struct decode_options dopt = { .no_decap = cfg->no_decap };
    struct flow_table_config fcfg = {
        .max_flows = share ? share : 1,
        .idle_timeout_us = cfg->idle_timeout_us,
        .active_timeout_us = cfg->active_timeout_us,
        .close_timeout_us = cfg->close_timeout_us,
        .worker_id = id,
        .streams_dir = cfg->streams_dir,
        .no_l7 = cfg->no_l7,      /* --no-l7: neither nDPI nor the parsers */
    };

    memset(w, 0, sizeof(*w));
    decode_ctx_init(&w->decode, &dopt);
    if (!cfg->no_l7) {
        uint32_t slots = cfg->l7_max_flows ? cfg->l7_max_flows : L7_NDPI_DEFAULT_SLOTS;
        /* More slots than flows could never be used. */
        if (slots > fcfg.max_flows)
            slots = fcfg.max_flows;
        if (!(w->l7 = l7_ndpi_create(slots, err, errlen)))
            return -1;
        fcfg.ndpi = w->l7;
    }
    w->flows = flow_table_create(&fcfg, emit, emit_user, err, errlen);
    if (!w->flows) {
        worker_fini(w);
        return -1;
    }
    return 0;
}

void worker_fini(struct worker *w)
{
    /* The table first: its flows may still hold classifier slots. */
    flow_table_destroy(w->flows);
    w->flows = NULL;
    l7_ndpi_destroy(w->l7);
    w->l7 = NULL;
}

void worker_collect_stats(const struct worker *w, struct nm_stats *st)
{
    struct flow_table_stats fs;

    decode_stats_add(&st->decode, &w->decode.stats);
    flow_table_get_stats(w->flows, &fs);
    st->flows_created += fs.created;
    st->flows_ended += fs.ended;
    st->flows_active += fs.active;
    st->evictions += fs.evicted;
    if (w->l7) {
        struct l7_ndpi_stats ls;
        l7_ndpi_get_stats(w->l7, &ls);
        st->l7_classifying += ls.classifying;
        st->l7_labelled += ls.labelled;
        st->l7_no_slot += ls.no_slot;
        st->l7_packets_skipped += ls.packets_skipped;
    }
    nm_l7_stats_add(&st->l7, &fs.l7);
}

void worker_announce_new_flow(struct worker *w, const struct nm_packet *pkt)
{
    struct procs_query q;

    q.addr[0] = pkt->src;
    q.addr[1] = pkt->dst;
    q.port[0] = pkt->sport;
    q.port[1] = pkt->dport;
    q.proto = pkt->proto;
    /* Never waits: a full ring refuses the query and counts it. */
    (void)spsc_ring_enqueue(w->procs_ring, &q);
}

void worker_stage(struct worker *w, const struct nm_frame *frame)
{
    unsigned i = w->burst_n;
    struct nm_packet *pkt = &w->burst[i];

    /* A frame that is not IP stays a tick: decode_packet left has_ip
     * false and ts_us set. */
    if (decode_packet(&w->decode, frame, pkt))
        worker_keys_add(w->flows, &w->keys, i, pkt);
    if (++w->burst_n == WORKER_BURST)
        worker_flush(w);
}

void worker_flush(struct worker *w)
{
    const struct worker_keys *k = &w->keys;
    unsigned n = w->burst_n;

    w->burst_n = 0;
    for (unsigned i = 0; i < n; i++)
        if (w->burst[i].has_ip)
            flow_table_prefetch_flow(w->flows, k->hash[i]);
    for (unsigned i = 0; i < n; i++) {
        const struct nm_packet *pkt = &w->burst[i];
        if (!pkt->has_ip) {
            flow_table_advance(w->flows, pkt->ts_us);
            continue;
        }
        worker_note_update(w, pkt, flow_table_update_keyed(w->flows, pkt, &k->key[i], k->side[i],
                                                           k->hash[i]));
    }
}
