/*
 * live_ebpf.c: the live pipeline of --engine ebpf (capture/ebpf_flows.h).
 *
 * The kernel program keys and counts every packet, and ends flows itself:
 * a packet that comes after its flow's quiet limit or starts a new
 * connection on the tuple ends the old flow, and a sweep on a BPF timer
 * ends, once a second, the flows that are due without a packet
 * (--idle-timeout, --close-timeout after FIN both ways or a RST; an
 * interim record at --active-timeout); it runs every quarter of the
 * shortest timeout, between 0.1 and 1 s.  Either puts the flow, counts and
 * all, in a ring buffer (an end also takes it out of the map).  Nothing per packet happens here:
 * this one thread writes those records as they come (every 20 ms), the
 * counters once a second, and, for the view, a snapshot read of the whole
 * map each refresh.  On stop the sweep is stopped and the sockets closed
 * first, so the last read is complete and every open flow is written with
 * end_reason "shutdown".
 *
 * What the records cannot carry, because no packet reaches user space: TCP
 * analysis, labels, L7 fields, process owners (see README, "Capture engines").
 * Which side initiated follows src/flow/flow_table.c's rules as far as a
 * flow's summary allows: the sender of a SYN without ACK, the receiver of
 * a SYN-ACK, the client port, the echo requester, else the first sender.
 */
#include "core/live_ebpf.h"

#include <net/if.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture/ebpf_flows.h"
#include "capture/iface.h"
#include "common/privs.h"
#include "core/signals.h"
#include "core/view_feed.h"

#define LIVE_EBPF_TICK_NS 1000000000ull
/* The wall clock's offset from the monotonic one, sampled at most every
 * 50 ms for the last two minutes (struct live_ebpf_clock). */
#define LIVE_EBPF_CLOCK_STEP_NS 50000000ull
#define LIVE_EBPF_CLOCK_SAMPLES 2400u
#define LIVE_EBPF_STATS_INTERVAL_NS (10ull * 1000000000ull)
#define LIVE_EBPF_NAP_NS 20000000ull        /* keys, signals, ended flows: this often */
#define LIVE_EBPF_FLUSH_NS 100000000ull     /* records are flushed at most this often */
#define LIVE_EBPF_SWEEP_MIN_NS 100000000ull

struct live_ebpf {
    const struct nm_config *cfg;
    struct output_set *outs;
    struct ebpf_flows *src;
    char default_iface[IFNAMSIZ];
    unsigned nifaces;
    unsigned link_hlen;
    /* Packet times are CLOCK_MONOTONIC; records want CLOCK_REALTIME, whose
     * offset from it changes as the wall clock is slewed or stepped (NTP
     * slews by up to 500 ppm; this project's VMs were seen at 5,000).  A
     * time is converted with the offset sampled nearest before it, not
     * the offset at the record's writing: a flow's start a minute back
     * would otherwise be off by the minute's slew.  A ring, oldest at
     * clock_head once full. */
    struct live_ebpf_clock {
        uint64_t mono_ns;
        int64_t real_minus_mono_ns;
    } clock[LIVE_EBPF_CLOCK_SAMPLES];
    unsigned clock_n, clock_head;
    uint64_t flows_ended;
    uint64_t final_flows;           /* written at the end, still open */
    bool unflushed;                 /* records written since the last flush */
    uint64_t next_flush;            /* monotonic ns: not before */
    uint64_t counters[NM_EBPF_COUNTERS];
    struct flow_record rec;         /* the record being written */
    struct ebpf_flow ended;         /* a flow the kernel ended */
    const struct ebpf_flow **rank;  /* snapshot candidates, busiest first */
    size_t rank_cap;
};

static uint64_t live_ebpf_clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct live_ebpf_clock *live_ebpf_clock_at(struct live_ebpf *le, unsigned i)
{
    return &le->clock[(le->clock_head + i) % LIVE_EBPF_CLOCK_SAMPLES];
}

/* Samples the wall clock's offset, at every read: the newest sample is
 * always current (a clock step shows in the next record), and one is kept
 * every LIVE_EBPF_CLOCK_STEP_NS. */
static void live_ebpf_set_clock(struct live_ebpf *le)
{
    uint64_t mono = live_ebpf_clock_ns(CLOCK_MONOTONIC);
    struct live_ebpf_clock now = {
        mono, (int64_t)(live_ebpf_clock_ns(CLOCK_REALTIME) - mono) };

    if (le->clock_n >= 2 && mono < live_ebpf_clock_at(le, le->clock_n - 2)->mono_ns +
                                          LIVE_EBPF_CLOCK_STEP_NS) {
        *live_ebpf_clock_at(le, le->clock_n - 1) = now;   /* too soon: the newest moves */
    } else if (le->clock_n < LIVE_EBPF_CLOCK_SAMPLES) {
        *live_ebpf_clock_at(le, le->clock_n++) = now;
    } else {
        le->clock[le->clock_head] = now;                 /* the oldest goes */
        le->clock_head = (le->clock_head + 1) % LIVE_EBPF_CLOCK_SAMPLES;
    }
}

/* The offset sampled last at or before mono_ns (the oldest for times
 * before the history). */
static uint64_t live_ebpf_us(struct live_ebpf *le, uint64_t mono_ns)
{
    unsigned lo = 0, hi = le->clock_n;   /* the answer is in [lo, hi) */

    if (le->clock_n == 0)
        return 0;
    while (hi - lo > 1) {
        unsigned mid = lo + (hi - lo) / 2;
        if (live_ebpf_clock_at(le, mid)->mono_ns <= mono_ns)
            lo = mid;
        else
            hi = mid;
    }
    return (uint64_t)((int64_t)mono_ns + live_ebpf_clock_at(le, lo)->real_minus_mono_ns) / 1000u;
}

static bool live_ebpf_is_icmp(uint8_t proto)
{
    return proto == 1 || proto == 58;
}

static bool live_ebpf_echo_reply(uint8_t proto, uint8_t type)
{
    return (proto == 1 && type == 0) || (proto == 58 && type == 129);
}

static uint8_t live_ebpf_tcp_flags(const struct nm_ebpf_val *v, unsigned side)
{
    return (uint8_t)(v->flags >> NM_EBPF_FLAGS_SHIFT(side));
}

/* The canonical side (0: addr[0]) that initiated; see the file comment. */
static unsigned live_ebpf_initiator(const struct ebpf_flow *f)
{
    const struct nm_ebpf_key *k = &f->key;
    const struct nm_ebpf_val *v = &f->val;
    unsigned first = v->first_side & 1;
    bool syn[2] = { v->flags & NM_EBPF_FLAGS_SYN(0), v->flags & NM_EBPF_FLAGS_SYN(1) };

    if (k->proto == 6) {
        if (syn[0] != syn[1])
            return syn[1];
        if (syn[0])
            return first;             /* both sent one: simultaneous open */
        for (unsigned s = 0; s < 2; s++)
            if ((live_ebpf_tcp_flags(v, s) & 0x12) == 0x12)
                return s ^ 1;         /* it answered a SYN we did not see */
        if (k->port[0] != k->port[1])
            return k->port[0] < k->port[1] ? 1 : 0;   /* the lower port serves */
        return first;
    }
    if (k->proto == 17 && k->port[first] < 1024 && k->port[first ^ 1] >= 1024)
        return first ^ 1;             /* a server's answer to a request not seen */
    if (live_ebpf_is_icmp(k->proto) && k->echo && live_ebpf_echo_reply(k->proto, v->icmp_type))
        return first ^ 1;
    return first;
}

/* Stable for as long as the flow is in the map, interim records included
 * (the view matches snapshots by it) and unique in practice: a mix of the
 * key and the time of its first packet, in the 56 bits below the source
 * byte (0). */
static uint64_t live_ebpf_flow_id(const struct ebpf_flow *f)
{
    uint64_t h = f->val.born_ns ^ 0x9e3779b97f4a7c15ull, w;
    const uint8_t *p = (const uint8_t *)&f->key;

    for (size_t i = 0; i + 8 <= sizeof(f->key); i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    memcpy(&w, p + sizeof(f->key) - 8, 8);   /* the tail, overlapping */
    h = (h ^ w) * 0x94d049bb133111ebull;
    h ^= h >> 29;
    return h & ((1ull << 56) - 1);
}

static void live_ebpf_fill_sides(const struct live_ebpf *le, const struct ebpf_flow *f,
                                 unsigned src, struct flow_record *r)
{
    const struct nm_ebpf_val *v = &f->val;

    for (unsigned d = 0; d < 2; d++) {
        unsigned s = src ^ d;
        memcpy(r->addr[d].b, f->key.addr[s], sizeof(r->addr[d].b));
        r->port[d] = f->key.port[s];
        r->pkts[d] = v->packets[s];
        r->ip_bytes[d] = v->bytes[s];
        r->bytes[d] = v->bytes[s] + v->packets[s] * le->link_hlen + v->tagged[s] * 4u;
        r->tcp_flags[d] = live_ebpf_tcp_flags(v, s);
    }
}

static void live_ebpf_fill_record(struct live_ebpf *le, const struct ebpf_flow *f,
                                  enum flow_end_reason why, struct flow_record *r)
{
    unsigned src = live_ebpf_initiator(f);

    memset(r, 0, sizeof(*r));
    r->ts_start_us = live_ebpf_us(le, f->val.first_ns);
    r->ts_end_us = live_ebpf_us(le, f->val.last_ns);
    /* Nothing since an interim record: its start (that record's time)
     * would follow its end; an empty record is timed at the last packet,
     * as the default engine's. */
    if ((f->val.packets[0] | f->val.packets[1]) == 0)
        r->ts_start_us = r->ts_end_us;
    r->ip_version = f->key.ip_version;
    r->proto = f->key.proto;
    r->vlan_id = f->key.vlan;
    r->end_reason = (uint8_t)why;
    live_ebpf_fill_sides(le, f, src, r);
    if (live_ebpf_is_icmp(f->key.proto)) {
        r->has_icmp = true;
        r->icmp_type = f->val.icmp_type;
        r->icmp_code = f->val.icmp_code;
        r->icmp_is_echo = f->key.echo;
        r->icmp_id = f->key.echo ? f->key.port[0] : 0;
        /* As the default engine: type and code where ports go. */
        r->port[NM_DIR_SRC] = f->val.icmp_type;
        r->port[NM_DIR_DST] = f->val.icmp_code;
        r->icmp_first_from_dst = (f->val.first_side & 1) != src;
    }
    r->ports_unknown = f->val.ports_unknown && f->key.port[0] == 0 && f->key.port[1] == 0;
    r->flow_id = live_ebpf_flow_id(f);
    r->kernel_drops_seen = le->counters[NM_EBPF_TABLE_FULL];
}

static enum flow_end_reason live_ebpf_kernel_reason(uint8_t reason)
{
    return reason == NM_EBPF_END_RST ? FLOW_END_RST
         : reason == NM_EBPF_END_FIN ? FLOW_END_FIN
         : reason == NM_EBPF_END_ACTIVE ? FLOW_END_ACTIVE : FLOW_END_IDLE;
}

/* A flow the kernel ended: its sweep found it due, or a packet came after
 * its quiet limit or started a new connection on its tuple. */
static void live_ebpf_on_ended(void *user, const struct nm_ebpf_end *end)
{
    struct live_ebpf *le = user;

    le->ended.key = end->key;
    le->ended.val = end->val;
    live_ebpf_fill_record(le, &le->ended, live_ebpf_kernel_reason(end->reason), &le->rec);
    output_set_flow(le->outs, &le->rec);
    if (end->reason != NM_EBPF_END_ACTIVE)
        le->flows_ended++;      /* an interim record: the flow goes on */
    le->unflushed = true;
}

static void live_ebpf_consume_ended(struct live_ebpf *le)
{
    live_ebpf_set_clock(le);    /* a clock step shows in the next record */
    ebpf_flows_consume_ended(le->src, live_ebpf_on_ended, le);
}

static int live_ebpf_cmp_bytes(const void *a, const void *b)
{
    const struct ebpf_flow *x = *(const struct ebpf_flow *const *)a;
    const struct ebpf_flow *y = *(const struct ebpf_flow *const *)b;
    uint64_t bx = x->val.bytes[0] + x->val.bytes[1];
    uint64_t by = y->val.bytes[0] + y->val.bytes[1];

    return bx < by ? 1 : bx > by ? -1 : 0;
}

static void live_ebpf_fill_stats(struct live_ebpf *le, struct nm_stats *st);

/* The view's rows: every open flow, or the busiest VIEW_SNAPSHOT_LIMIT. */
static void live_ebpf_snapshot(struct live_ebpf *le, size_t nrank, uint64_t now_us)
{
    struct nm_snapshot_end e;
    size_t sent = nrank < VIEW_SNAPSHOT_LIMIT ? nrank : VIEW_SNAPSHOT_LIMIT;

    if (nrank > sent)
        qsort(le->rank, nrank, sizeof(*le->rank), live_ebpf_cmp_bytes);
    output_set_snapshot_begin(le->outs, 0, now_us);
    for (size_t i = 0; i < sent; i++) {
        live_ebpf_fill_record(le, le->rank[i], FLOW_END_NONE, &le->rec);
        output_set_snapshot_flow(le->outs, &le->rec);
    }
    memset(&e, 0, sizeof(e));
    e.ts_us = now_us;
    e.active = nrank;
    e.sent = sent;
    live_ebpf_fill_stats(le, &e.stats);
    output_set_snapshot_end(le->outs, &e);
}

static int live_ebpf_rank_room(struct live_ebpf *le, size_t n, char *err, size_t errlen)
{
    if (n <= le->rank_cap)
        return 0;
    const struct ebpf_flow **r = realloc(le->rank, n * sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory for the view's snapshot of %zu flows", n);
        return -1;
    }
    le->rank = r;
    le->rank_cap = n;
    return 0;
}

/* The view's snapshot: one read of the whole map.  Returns 0 or -1 with
 * err. */
static int live_ebpf_snapshot_pass(struct live_ebpf *le, char *err, size_t errlen)
{
    const struct ebpf_flow *flows;
    size_t n;
    uint64_t now = live_ebpf_clock_ns(CLOCK_MONOTONIC);

    live_ebpf_set_clock(le);
    live_ebpf_consume_ended(le);
    if (ebpf_flows_read(le->src, &flows, &n, err, errlen) != 0 ||
        live_ebpf_rank_room(le, n, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        le->rank[i] = &flows[i];
    live_ebpf_snapshot(le, n, live_ebpf_us(le, now));
    return 0;
}

/* Stop: the program is detached, so this read is final. */
static int live_ebpf_final(struct live_ebpf *le, char *err, size_t errlen)
{
    const struct ebpf_flow *flows;
    size_t n;

    ebpf_flows_detach(le->src);
    live_ebpf_set_clock(le);
    live_ebpf_consume_ended(le);   /* ended before the flows still open */
    ebpf_flows_counters(le->src, le->counters);
    if (ebpf_flows_read(le->src, &flows, &n, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        live_ebpf_fill_record(le, &flows[i], FLOW_END_SHUTDOWN, &le->rec);
        output_set_flow(le->outs, &le->rec);
    }
    le->flows_ended += n;
    le->final_flows = n;
    return 0;
}

static void live_ebpf_fill_decode(const struct live_ebpf *le, struct decode_stats *d)
{
    const uint64_t *c = le->counters;

    d->frames = c[NM_EBPF_PACKETS];
    d->bytes = c[NM_EBPF_BYTES] + c[NM_EBPF_PACKETS] * le->link_hlen + c[NM_EBPF_TAGGED] * 4u;
    d->non_ip = c[NM_EBPF_NOT_IP];
    d->decoded = c[NM_EBPF_ACCOUNTED];
    d->fragments = c[NM_EBPF_FRAGMENTS];
    d->reasons[DECODE_R_frag_orphan] = c[NM_EBPF_FRAG_ORPHAN];
    d->reasons[DECODE_R_vlan_truncated] = c[NM_EBPF_VLAN_TRUNCATED];
    d->reasons[DECODE_R_ip_bad_version] = c[NM_EBPF_IP_BAD_VERSION];
    d->reasons[DECODE_R_ipv4_truncated] = c[NM_EBPF_IPV4_TRUNCATED];
    d->reasons[DECODE_R_ipv4_bad_ihl] = c[NM_EBPF_IPV4_BAD_IHL];
    d->reasons[DECODE_R_ipv4_bad_total_len] = c[NM_EBPF_IPV4_BAD_TOTAL_LEN];
    d->reasons[DECODE_R_ipv6_truncated] = c[NM_EBPF_IPV6_TRUNCATED];
    d->reasons[DECODE_R_ipv6_ext_truncated] = c[NM_EBPF_IPV6_EXT_TRUNCATED];
    d->reasons[DECODE_R_ipv6_ext_too_many] = c[NM_EBPF_IPV6_EXT_TOO_MANY];
}

static void live_ebpf_fill_stats(struct live_ebpf *le, struct nm_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->ts_us = live_ebpf_clock_ns(CLOCK_REALTIME) / 1000u;
    live_ebpf_fill_decode(le, &st->decode);
    st->kernel_packets = le->counters[NM_EBPF_PACKETS];
    st->kernel_drops = ebpf_flows_socket_drops(le->src);
    st->flows_created = le->counters[NM_EBPF_FLOWS_CREATED];
    st->flows_ended = le->flows_ended;
    /* Created less ended in the kernel, less those written at the end. */
    uint64_t gone = le->counters[NM_EBPF_ENDED] + le->final_flows;
    st->flows_active = st->flows_created > gone ? st->flows_created - gone : 0;
    st->ebpf_engine = true;
    st->ebpf_table_full = le->counters[NM_EBPF_TABLE_FULL];
    st->ebpf_l4_truncated = le->counters[NM_EBPF_L4_TRUNCATED];
    st->ebpf_ends_merged = le->counters[NM_EBPF_ENDS_MERGED];
    st->ebpf_ends_deferred = le->counters[NM_EBPF_ENDS_DEFERRED];
    st->ebpf_racing = le->counters[NM_EBPF_RACING];
    st->ebpf_read_cut = ebpf_flows_read_cut(le->src);
    st->ebpf_sweeps = le->counters[NM_EBPF_SWEEPS];
    st->ebpf_sweep_ns = le->counters[NM_EBPF_SWEEP_NS];
    st->ebpf_prog_stats = ebpf_flows_prog_stats(le->src, &st->ebpf_prog_runs, &st->ebpf_prog_ns);
}

/* Sleeps until the next pass in short naps, ticking the outputs (the
 * view's keys), writing the flows the program ended and watching for a
 * stop.  Returns true to stop. */
static bool live_ebpf_wait(struct live_ebpf *le, uint64_t until_ns, uint64_t deadline_ns)
{
    for (;;) {
        uint64_t now = live_ebpf_clock_ns(CLOCK_MONOTONIC);
        output_set_tick(le->outs);
        live_ebpf_consume_ended(le);
        /* Records reach their files soon after the kernel ended them. */
        if (le->unflushed && now >= le->next_flush) {
            output_set_flush(le->outs);
            le->unflushed = false;
            le->next_flush = now + LIVE_EBPF_FLUSH_NS;
        }
        if (signals_stop_requested() || (deadline_ns && now >= deadline_ns))
            return true;
        if (now >= until_ns)
            return false;
        uint64_t nap = until_ns - now < LIVE_EBPF_NAP_NS ? until_ns - now : LIVE_EBPF_NAP_NS;
        struct timespec ts = { 0, (long)nap };
        nanosleep(&ts, NULL);
    }
}

static uint64_t live_ebpf_period_ns(const struct nm_config *cfg)
{
    uint64_t snap = cfg->snapshot_us * 1000u;

    return snap && snap < LIVE_EBPF_TICK_NS ? snap : LIVE_EBPF_TICK_NS;
}

static int live_ebpf_loop(struct live_ebpf *le, char *err, size_t errlen)
{
    const struct nm_config *cfg = le->cfg;
    uint64_t start = live_ebpf_clock_ns(CLOCK_MONOTONIC), period = live_ebpf_period_ns(cfg);
    uint64_t deadline = cfg->duration_s > 0 ? start + (uint64_t)(cfg->duration_s * 1e9) : 0;
    uint64_t next_stats = start + LIVE_EBPF_STATS_INTERVAL_NS, next = start + period;
    struct nm_stats st;

    while (!live_ebpf_wait(le, next, deadline)) {
        int gone = ebpf_flows_gone(le->src);
        if (gone >= 0) {
            snprintf(err, errlen, "capture on %s stopped: the interface is gone",
                     ebpf_flows_ifname(le->src, (unsigned)gone));
            return -1;
        }
        if (cfg->snapshot_us && live_ebpf_snapshot_pass(le, err, errlen) != 0)
            return -1;
        uint64_t now = live_ebpf_clock_ns(CLOCK_MONOTONIC);
        ebpf_flows_counters(le->src, le->counters);
        live_ebpf_fill_stats(le, &st);
        output_set_collect_stats(le->outs, &st);
        output_set_update_stats(le->outs, &st);
        if (now >= next_stats) {
            output_set_stats(le->outs, &st);
            le->unflushed = true;
            next_stats = now + LIVE_EBPF_STATS_INTERVAL_NS;
        }
        /* Records reach their files within a pass of being due. */
        if (le->unflushed) {
            output_set_flush(le->outs);
            le->unflushed = false;
        }
        next += period;
        if (next < now)
            next = now + period;
    }
    return 0;
}

/* A quarter of the shortest timeout, between 0.1 and 1 s: records come out
 * at most that late, and a sweep of 100,000 flows costs milliseconds. */
static uint64_t live_ebpf_sweep_ns(const struct nm_config *cfg)
{
    uint64_t shortest = cfg->idle_timeout_us;

    if (cfg->close_timeout_us && cfg->close_timeout_us < shortest)
        shortest = cfg->close_timeout_us;
    if (cfg->active_timeout_us && cfg->active_timeout_us < shortest)
        shortest = cfg->active_timeout_us;
    uint64_t ns = shortest * 1000u / 4;
    return ns < LIVE_EBPF_SWEEP_MIN_NS ? LIVE_EBPF_SWEEP_MIN_NS
         : ns > LIVE_EBPF_TICK_NS ? LIVE_EBPF_TICK_NS : ns;
}

static int live_ebpf_open(struct live_ebpf *le, char *err, size_t errlen)
{
    const struct nm_config *cfg = le->cfg;
    struct ebpf_flows_config ec = {
        .promisc = !cfg->no_promisc, .max_flows = cfg->max_flows,
        .idle_timeout_ns = cfg->idle_timeout_us * 1000u,
        /* At most the idle timeout, as the default engine's (flow rules). */
        .close_timeout_ns = (cfg->close_timeout_us < cfg->idle_timeout_us ? cfg->close_timeout_us
                                                                          : cfg->idle_timeout_us) * 1000u,
        .active_timeout_ns = cfg->active_timeout_us * 1000u,
        .sweep_ns = live_ebpf_sweep_ns(cfg),
    };

    if (cfg->n_ifaces == 0) {
        if (iface_default_route("/proc", le->default_iface, err, errlen) != IFACE_OK)
            return NM_EXIT_FAILURE;
        ec.ifnames[0] = le->default_iface;
        ec.nifaces = 1;
    } else {
        for (unsigned i = 0; i < cfg->n_ifaces; i++)
            ec.ifnames[i] = cfg->ifaces[i];
        ec.nifaces = cfg->n_ifaces;
    }
    le->nifaces = ec.nifaces;
    int rc = ebpf_flows_open(&ec, &le->src, err, errlen);
    if (rc != 0)
        return rc == -2 ? NM_EXIT_USAGE : NM_EXIT_FAILURE;
    le->link_hlen = ebpf_flows_link_header(le->src);
    return 0;
}

/* Before Linux 6.5, with kernel.unprivileged_bpf_disabled set (the
 * distributions' default), bpf(2) refuses every command to a process
 * without CAP_BPF, even on maps it holds: after -Z nothing could be read,
 * and every open flow would be lost at the end.  Said now instead. */
static int live_ebpf_check_access(struct live_ebpf *le, char *err, size_t errlen)
{
    int e = ebpf_flows_counters(le->src, le->counters);

    if (e == 0)
        return 0;
    snprintf(err, errlen, "-Z: after dropping privileges the eBPF maps cannot be read (%s): this "
             "kernel lets only CAP_BPF use bpf(2); run --engine ebpf without -Z, or set "
             "sysctl kernel.unprivileged_bpf_disabled=0", strerror(e));
    return -1;
}

int live_ebpf_run(const struct nm_config *cfg, struct output_set *outs, struct nm_stats *stats,
                  bool *ran)
{
    char err[512] = "";
    struct live_ebpf *le = calloc(1, sizeof(*le));
    int rc = NM_EXIT_FAILURE;

    if (!le) {
        snprintf(err, sizeof(err), "out of memory");
        goto out;
    }
    le->cfg = cfg;
    le->outs = outs;
    live_ebpf_set_clock(le);
    if ((rc = live_ebpf_open(le, err, sizeof(err))) != 0)
        goto out;
    rc = NM_EXIT_FAILURE;
    /* The sockets and the program are loaded: root is no longer needed. */
    if (cfg->drop_user && (privs_drop(cfg->drop_user, err, sizeof(err)) != 0 ||
                           live_ebpf_check_access(le, err, sizeof(err)) != 0))
        goto out;
    *ran = true;
    fprintf(stderr, "netmoon: capturing on %s%s with the ebpf engine\n", ebpf_flows_ifname(le->src, 0),
            le->nifaces > 1 ? " and more" : "");
    int loop_rc = live_ebpf_loop(le, err, sizeof(err));
    /* Even after an error, what was counted is written. */
    char final_err[256] = "";
    if (live_ebpf_final(le, final_err, sizeof(final_err)) != 0 && !err[0])
        snprintf(err, sizeof(err), "%s", final_err);
    live_ebpf_fill_stats(le, stats);
    output_set_flush(outs);
    rc = loop_rc == 0 && !err[0] ? NM_EXIT_OK : NM_EXIT_FAILURE;
out:
    if (err[0])
        fprintf(stderr, "netmoon: %s\n", err);
    if (le) {
        ebpf_flows_close(le->src);
        free(le->rank);
        free(le);
    }
    return rc;
}
