/*
 * worker.c: wiring of decode context and flow table for one worker.
 */
#include "core/worker.h"

#include <stdlib.h>
#include <string.h>

int worker_init(struct worker *w, const struct nm_config *cfg, uint8_t id, flow_emit_fn *emit,
                void *emit_user, char *err, size_t errlen)
{
    struct decode_options dopt = { .no_decap = cfg->no_decap };
    struct flow_table_config fcfg = {
        .max_flows = cfg->max_flows,
        .idle_timeout_us = cfg->idle_timeout_us,
        .active_timeout_us = cfg->active_timeout_us,
        .worker_id = id,
        .streams_dir = cfg->streams_dir,
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
    nm_l7_stats_add(&st->l7, &fs.l7);
}
