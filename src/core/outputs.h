/*
 * outputs.h: the set of sinks every record goes to (JSON, later the view,
 * IPFIX, Prometheus).  Only the output thread calls these.
 */
#ifndef NETMOON_CORE_OUTPUTS_H
#define NETMOON_CORE_OUTPUTS_H

#include "output/pcap_writer.h"
#include "output/record.h"

#define OUTPUTS_MAX 8

struct output_set {
    struct output_sink sinks[OUTPUTS_MAX];
    unsigned n;
    uint64_t records;
    struct pcap_writer *packets;   /* -w, or NULL: packets rather than records */
    bool write_failed;             /* a sink reported a write error: exit status 1 */
};

/* Adds a sink; returns the slot to fill, or NULL when full. */
struct output_sink *output_set_add(struct output_set *o);
void output_set_flow(struct output_set *o, const struct flow_record *r);
void output_set_stats(struct output_set *o, const struct nm_stats *st);
void output_set_flush(struct output_set *o);
void output_set_close(struct output_set *o);
/* Snapshots and idle ticks for views; no-ops for sinks without them. */
void output_set_snapshot_begin(struct output_set *o, unsigned source, uint64_t ts_us);
void output_set_snapshot_flow(struct output_set *o, const struct flow_record *r);
void output_set_snapshot_end(struct output_set *o, const struct nm_snapshot_end *e);
/* Also where files are reopened after a SIGHUP (--json=PATH, logrotate):
 * every loop that runs the outputs ticks them often. */
void output_set_tick(struct output_set *o);
/* Whether a sink needs ticks every few milliseconds (the view: keys). */
bool output_set_wants_ticks(const struct output_set *o);
void output_set_update_stats(struct output_set *o, const struct nm_stats *st);
/* Adds every sink's own counters (IPFIX records sent and lost, -w packets
 * written and dropped) into st. */
void output_set_collect_stats(struct output_set *o, struct nm_stats *st);

/* A flow_emit_fn that forwards to an output_set (single-threaded use). */
void output_set_emit(void *output_set, const struct flow_record *r);

#endif
