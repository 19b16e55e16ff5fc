/*
 * view_feed.h: what the pipeline does for a live view (output/tui.h):
 *   - bounded periodic snapshots of a worker's table, so the view never
 *     walks a table it does not own: the owner copies its active flows into
 *     records (end_reason NONE) that travel like any other record;
 *   - for -r, snapshots at packet-time refresh boundaries, --realtime
 *     pacing on packet timestamps, and idle ticks so keys work meanwhile.
 */
#ifndef NETMOON_CORE_VIEW_FEED_H
#define NETMOON_CORE_VIEW_FEED_H

#include <stdint.h>

#include "core/config.h"
#include "core/outputs.h"
#include "core/worker.h"

/* Most records one worker sends per snapshot; beyond it the busiest flows
 * (bytes since the previous snapshot) are sent and the view says so. */
#define VIEW_SNAPSHOT_LIMIT 20000u

struct snapshot_sel;

struct snapshot_sel *snapshot_sel_create(uint32_t limit);
void snapshot_sel_destroy(struct snapshot_sel *s);

/* Walks the table (the caller owns it) and calls emit for at most `limit`
 * records: all active flows, or the ones with the most bytes since the
 * previous call.  Returns the number of active flows; *sent gets how many
 * records were emitted.  Allocates only when the table grows past what an
 * earlier call saw. */
uint64_t snapshot_sel_run(struct snapshot_sel *s, const struct flow_table *t, uint64_t now_us,
                          flow_emit_fn *emit, void *user, uint64_t *sent);

/* -r: state for snapshots, pacing and ticks on the main thread. */
struct view_feed {
    const struct nm_config *cfg;
    struct snapshot_sel *sel;
    uint64_t next_snap_us;      /* packet time of the next snapshot */
    uint64_t pace_base_ts;      /* --realtime: first packet's time … */
    uint64_t pace_base_mono;    /* … and the monotonic clock then */
    uint64_t calls;
};

/* Returns 0, or -1 when memory cannot be had. */
int view_feed_init(struct view_feed *vf, const struct nm_config *cfg);
void view_feed_fini(struct view_feed *vf);
/* Before each packet of a file: waits for its time (--realtime), sends a
 * snapshot when packet time crossed a refresh boundary, ticks the view. */
void view_feed_offline_packet(struct view_feed *vf, struct worker *w, struct output_set *outs,
                              uint64_t ts_us);

#endif
