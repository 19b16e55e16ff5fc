/*
 * live.h: live capture: N worker threads, each owning one AF_PACKET
 * TPACKET_V3 socket per interface (joined in a PACKET_FANOUT group per
 * interface) and its own flow table; the calling thread is the output
 * thread, draining each worker's single-producer/single-consumer ring.
 */
#ifndef NETMOON_CORE_LIVE_H
#define NETMOON_CORE_LIVE_H

#include "core/config.h"
#include "core/outputs.h"

/* Returns an enum nm_exit status; *stats gets the final counters and *ran
 * whether capture started (false: nothing to report). */
int live_run(const struct nm_config *cfg, struct output_set *outs, struct nm_stats *stats,
             bool *ran);

#endif
