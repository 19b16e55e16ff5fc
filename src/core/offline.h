/*
 * offline.h: processing a capture file (-r) on the calling thread.
 */
#ifndef NETMOON_CORE_OFFLINE_H
#define NETMOON_CORE_OFFLINE_H

#include "core/config.h"
#include "core/outputs.h"

/* Returns an enum nm_exit status; *stats receives the final counters and
 * *ran says whether any input was processed (false: nothing to report). */
int offline_run(const struct nm_config *cfg, struct output_set *outs, struct nm_stats *stats,
                bool *ran);

#endif
