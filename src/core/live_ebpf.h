/*
 * live_ebpf.h: live capture with --engine ebpf: the kernel program of
 * capture/ebpf_flows.h counts the flows, and the calling thread reads its
 * map once a second and writes the records; see live_ebpf.c.
 */
#ifndef NETMOON_CORE_LIVE_EBPF_H
#define NETMOON_CORE_LIVE_EBPF_H

#include <stdbool.h>

#include "core/config.h"
#include "core/outputs.h"

/* As live_run: an enum nm_exit status, *stats the final counters, *ran
 * whether capture started. */
int live_ebpf_run(const struct nm_config *cfg, struct output_set *outs, struct nm_stats *stats,
                  bool *ran);

#endif
