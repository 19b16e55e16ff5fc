/*
 * tui_format.h: the terminal view's pure formatting: units, bars, the
 * approximate TCP state, smoothed rates and the row layout.  No curses here,
 * so tests/unit/test_tui_format.c checks every function on plain strings.
 *
 * Units are SI (kB = 1000 B), like the seed's "1.2 MB"; rates are bits per
 * second ("12.3 Mb/s"), as iftop and link speeds count them.
 */
#ifndef NETMOON_OUTPUT_TUI_FORMAT_H
#define NETMOON_OUTPUT_TUI_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "output/record.h"

#define TUI_BAR_WIDTH 10

/* "0 B", "999 B", "1.2 kB", "340 kB", "1.2 MB", "12 GB"; returns length. */
size_t tui_fmt_bytes(uint64_t bytes, char *out, size_t outlen);
/* bits_per_s: "0 b/s", "800 b/s", "1.23 kb/s", "45.6 Mb/s", "1.00 Gb/s". */
size_t tui_fmt_bits(double bits_per_s, char *out, size_t outlen);
/* Counts: "999", "1.2k", "12k", "1.2M", "3.4G". */
size_t tui_fmt_count(uint64_t n, char *out, size_t outlen);
/* Durations: "5s", "1m05s", "2h03m", "3d04h". */
size_t tui_fmt_age(uint64_t us, char *out, size_t outlen);
/* Round-trip times: "850us", "1.2ms", "45ms", "1.2s", "-" for 0 (unknown). */
size_t tui_fmt_rtt(uint32_t us, char *out, size_t outlen);

/* The RTT a row shows, in µs (0: not measured): the latest samples of both
 * legs added up when each leg has one (the whole path as seen from the
 * capture point, like the handshake's), else the handshake RTT. */
uint32_t tui_flow_rtt_us(const struct flow_record *r);

/* A bar of `width` cells showing value/max: full cells '█' (ASCII '#')
 * then empty cells '░' (ASCII '.'); any non-zero value shows at least one
 * full cell.  Returns the byte length (3 bytes a cell in UTF-8). */
size_t tui_fmt_bar(double value, double max, unsigned width, bool utf8, char *out,
                   size_t outlen);

/* "198.18.0.1:443", "[2001:db8::1]:443", or the bare address when
 * with_port is false (ICMP).  Returns length. */
size_t tui_fmt_endpoint(const struct nm_addr *a, uint8_t ip_version, uint16_t port,
                        bool with_port, char *out, size_t outlen);

/* The state shown in the row: for TCP an approximate connection state,
 * otherwise the protocol ("UDP", "ICMP", "ICMPv6", "proto 47"). */
const char *tui_flow_state(const struct flow_record *r, char *buf, size_t buflen);

/* Display columns of a UTF-8 string (every character netmoon prints is one
 * column wide). */
size_t tui_utf8_cols(const char *s);

/* Exponentially weighted moving average: the new average after a sample
 * `inst` measured over dt_s seconds, with time constant tau_s. */
double tui_ema(double avg, double inst, double dt_s, double tau_s);

/* One connection row, already reduced to numbers. */
struct tui_row {
    const struct flow_record *rec;
    const char *state;
    double rate_up, rate_down;     /* bytes/s, src→dst and dst→src */
    double bar_max;                /* the largest rate_up + rate_down shown */
    uint64_t age_us;
    const char *name;              /* app/name column; NULL: "-" */
    const char *process;           /* process column ("curl/1234", "" for "-"); NULL: no column */
};

/* Fixed-width columns right of the endpoints; see tui_fmt_row. */
#define TUI_FIXED_COLS 83
/* The process column, shown while attribution is on (live, no --no-procs). */
#define TUI_PROCESS_COLS 17
/* Endpoints and state keep room for an IPv4 pair; on narrower screens the
 * columns on the right go off the edge first. */
#define TUI_MIN_ENDPOINT_COLS 48

/* Columns left for "src:port → dst:port (STATE)" on a screen `cols` wide. */
unsigned tui_endpoint_cols(unsigned cols, bool with_process);

/* The row: `src:port → dst:port (STATE)` padded or cut (with '…' or '~')
 * to endpoint_cols, then total, bar, rate↑, rate↓, pkts, RTT, retrans,
 * process, app/name, age.  Returns the byte length. */
size_t tui_fmt_row(const struct tui_row *row, unsigned endpoint_cols, bool utf8, char *out,
                   size_t outlen);
/* The process column's text, "comm/pid" (cut to fit the column by
 * tui_fmt_row), or "" when the flow has no known owner. */
size_t tui_fmt_process(const struct flow_owner *o, char *out, size_t outlen);
/* The column titles in the same layout. */
size_t tui_fmt_titles(unsigned endpoint_cols, bool utf8, bool with_process, char *out,
                      size_t outlen);

/* The group-by-process view (key g), nethogs-style: one row per owning
 * process, its flows' rates and totals summed.  Flows without a known
 * owner share one group (pid 0, shown "-").  A fixed number of groups
 * keeps a refresh bounded; flows of processes beyond it join group
 * "(more)" (pid -1) so nothing shown is lost from the sums. */
#define TUI_GROUPS_MAX 512
struct tui_group {
    char comm[NM_OWNER_COMM_MAX];
    int32_t pid;                   /* 0: no known owner; -1: "(more)" */
    uint32_t flows;
    uint64_t bytes, pkts;
    double rate_up, rate_down;     /* bytes/s, summed */
};

/* Adds one flow to groups[0..*n) (room for TUI_GROUPS_MAX). */
void tui_group_add(struct tui_group *groups, uint32_t *n, const struct flow_record *r,
                   double rate_up, double rate_down);
/* Busiest first (summed rates, then bytes). */
void tui_group_sort(struct tui_group *groups, uint32_t n);
/* "curl/4242  3 flows  total bar rate↑ rate↓ pkts" in fixed columns, and
 * the titles above them; return byte lengths. */
size_t tui_fmt_group_row(const struct tui_group *g, double bar_max, bool utf8, char *out,
                         size_t outlen);
size_t tui_fmt_group_titles(bool utf8, char *out, size_t outlen);

#endif
