/*
 * worker.c: wiring of decode context and flow table for one worker.
 */
#include "core/worker.h"

#include <stdlib.h>
#include <string.h>

#include "common/spsc_ring.h"
#include "procs/procs.h"

int worker_init(struct worker *w, const struct nm_config *cfg, uint8_t id, flow_emit_fn *emit,
                void *emit_user, char *err, size_t errlen)
{
    struct decode_options dopt = { .no_decap = cfg->no_decap };
    struct flow_table_config fcfg = {
        .max_flows = cfg->max_flows,
        .idle_timeout_us = cfg->idle_timeout_us,
        .active_timeout_us = cfg->active_timeout_us,
        .worker_id = id,
    };

    memset(w, 0, sizeof(*w));
    decode_ctx_init(&w->decode, &dopt);
    w->flows = flow_table_create(&fcfg, emit, emit_user, err, errlen);
    return w->flows ? 0 : -1;
}

void worker_fini(struct worker *w)
{
    flow_table_destroy(w->flows);
    w->flows = NULL;
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
}

/* The table's creation counter tells whether this packet started a flow,
 * so the flow table needs no hook of its own. */
void worker_announce_new_flow(struct worker *w)
{
    struct flow_table_stats fs;
    struct procs_query q;

    flow_table_get_stats(w->flows, &fs);
    if (fs.created == w->procs_created_seen)
        return;
    w->procs_created_seen = fs.created;
    q.addr[0] = w->pkt.src;
    q.addr[1] = w->pkt.dst;
    q.port[0] = w->pkt.sport;
    q.port[1] = w->pkt.dport;
    q.proto = w->pkt.proto;
    /* Never waits: a full ring refuses the query and counts it. */
    (void)spsc_ring_enqueue(w->procs_ring, &q);
}
