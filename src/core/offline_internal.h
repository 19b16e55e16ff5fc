/*
 * offline_internal.h: what the single-threaded -r path (offline.c) and the
 * pipelined one (offline_pipeline.c) share: checking the link type and the
 * per-link-type filter programs.
 */
#ifndef NETMOON_CORE_OFFLINE_INTERNAL_H
#define NETMOON_CORE_OFFLINE_INTERNAL_H

#include <stdbool.h>

#include "capture/filter.h"
#include "capture/pcap_file.h"
#include "core/config.h"
#include "core/outputs.h"

/* pcapng files may mix link types, and a BPF program is tied to one, so
 * the expression is compiled once per link type met (a handful at most). */
#define OFFLINE_FILTER_TYPES 8


struct offline_filters {
    const char *expr;
    struct nm_filter progs[OFFLINE_FILTER_TYPES];
    unsigned n;
    bool broken;               /* a link type libpcap cannot compile for */
    uint64_t filtered, filtered_bytes;  /* frames the filter rejected */
};

/* True when the frame passes the filter (or there is none); counts the
 * others. */
bool offline_filter_pass(struct offline_filters *fl, const struct nm_frame *frame);
void offline_filters_free(struct offline_filters *fl);
/* Frames the filter rejected were read though not decoded: they count in
 * the frames and bytes read, and as filtered_out. */
void offline_filters_add_stats(const struct offline_filters *fl, struct nm_stats *st);

/* Opens cfg->read_file, checks its link type and compiles the filter for
 * it; prints why and returns an enum nm_exit status on failure. */
int offline_open(const struct nm_config *cfg, struct pcap_file **f,
                 struct offline_filters *filters);

/* The pipelined -r path: the calling thread (read, filter, decode, the
 * outputs) and a flow thread, through SPSC rings.  Takes f and filters,
 * opened by offline_open, and closes them; f must be mapped (decoded
 * packets point into it while they wait in the ring). */
int offline_pipeline_run(const struct nm_config *cfg, struct output_set *outs,
                         struct nm_stats *stats, bool *ran, struct pcap_file *f,
                         struct offline_filters *filters);

#endif
