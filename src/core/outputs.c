/*
 * outputs.c: fan-out of records to every configured sink.
 */
#include "core/outputs.h"

#include <string.h>

#include "core/signals.h"
#include "output/pcap_writer.h"

struct output_sink *output_set_add(struct output_set *o)
{
    if (o->n >= OUTPUTS_MAX)
        return NULL;
    return &o->sinks[o->n++];
}

void output_set_flow(struct output_set *o, const struct flow_record *r)
{
    o->records++;
    for (unsigned i = 0; i < o->n; i++)
        if (o->sinks[i].write_flow)
            o->write_failed |= o->sinks[i].write_flow(&o->sinks[i], r) != 0;
}

void output_set_stats(struct output_set *o, const struct nm_stats *st)
{
    for (unsigned i = 0; i < o->n; i++)
        if (o->sinks[i].write_stats)
            o->write_failed |= o->sinks[i].write_stats(&o->sinks[i], st) != 0;
}

void output_set_flush(struct output_set *o)
{
    if (o->packets)
        o->write_failed |= pcap_writer_flush(o->packets) != 0;
    for (unsigned i = 0; i < o->n; i++)
        if (o->sinks[i].flush)
            o->write_failed |= o->sinks[i].flush(&o->sinks[i]) != 0;
}

void output_set_close(struct output_set *o)
{
    for (unsigned i = 0; i < o->n; i++)
        if (o->sinks[i].close)
            o->sinks[i].close(&o->sinks[i]);
    o->n = 0;
}

void output_set_emit(void *output_set, const struct flow_record *r)
{
    output_set_flow(output_set, r);
}

void output_set_snapshot_begin(struct output_set *o, unsigned source, uint64_t ts_us)
{
    for (unsigned i = 0; i < o->n; i++)
        if (o->sinks[i].snapshot_begin)
            o->sinks[i].snapshot_begin(&o->sinks[i], source, ts_us);
}

void output_set_snapshot_flow(struct output_set *o, const struct flow_record *r)
{
    for (unsigned i = 0; i < o->n; i++)
        if (o->sinks[i].snapshot_flow)
            o->sinks[i].snapshot_flow(&o->sinks[i], r);
}

void output_set_snapshot_end(struct output_set *o, const struct nm_snapshot_end *e)
{
    for (unsigned i = 0; i < o->n; i++)
        if (o->sinks[i].snapshot_end)
            o->sinks[i].snapshot_end(&o->sinks[i], e);
}

/* Every loop that runs the outputs ticks them, so a pending SIGHUP is seen
 * here, not on each loop's own path. */
static void output_set_check_reopen(struct output_set *o)
{
    if (!signals_take_reopen())
        return;
    for (unsigned i = 0; i < o->n; i++)
        if (o->sinks[i].reopen)
            o->sinks[i].reopen(&o->sinks[i]);
}

void output_set_tick(struct output_set *o)
{
    output_set_check_reopen(o);
    for (unsigned i = 0; i < o->n; i++)
        if (o->sinks[i].tick)
            o->sinks[i].tick(&o->sinks[i]);
}

bool output_set_wants_ticks(const struct output_set *o)
{
    for (unsigned i = 0; i < o->n; i++)
        if (o->sinks[i].tick)
            return true;
    return false;
}

void output_set_update_stats(struct output_set *o, const struct nm_stats *st)
{
    for (unsigned i = 0; i < o->n; i++)
        if (o->sinks[i].update_stats)
            o->sinks[i].update_stats(&o->sinks[i], st);
}

void output_set_collect_stats(struct output_set *o, struct nm_stats *st)
{
    pcap_writer_add_stats(o->packets, st);
    for (unsigned i = 0; i < o->n; i++)
        if (o->sinks[i].collect_stats)
            o->sinks[i].collect_stats(&o->sinks[i], st);
}
