/*
 * tui.h: the full-screen terminal view (ncursesw), an output sink that also
 * receives the workers' periodic snapshots (core/view_feed.h).  It never
 * reads a flow table: it keeps its own copy of each flow, built from the
 * records and snapshots the output thread hands it, and draws from that.
 *
 * Only the output thread calls it.  The terminal is restored by the sink's
 * close, and by an atexit handler on any other way out; SIGINT/SIGTERM only
 * set the stop flag (core/signals.h), so no curses call runs in a handler.
 */
#ifndef NETMOON_OUTPUT_TUI_H
#define NETMOON_OUTPUT_TUI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "output/record.h"

struct tui_options {
    const char *source;        /* "interface eth0" or "file x.pcap, replay 1x" */
    uint64_t refresh_us;       /* redraw interval (-d) */
};

/* Takes over the terminal; returns 0, or -1 with a message in err. */
int tui_sink_open(struct output_sink *sink, const struct tui_options *opt, char *err,
                  size_t errlen);

/* For -r: the input has ended; keeps showing the final state until the user
 * presses q or a signal asks to stop. */
void tui_sink_wait(struct output_sink *sink);

#endif
