/*
 * tui.c: the terminal view (see tui.h), ncursesw (curs_initscr(3X),
 * curs_getch(3X); KEY_RESIZE from ncurses' own SIGWINCH handling).
 *
 * Data: a table of the flows the view knows, keyed by flow_id, filled from
 * snapshot records (active flows, end_reason NONE) and ended records.  Each
 * snapshot of a worker is one rate sample per flow: rates are exponentially
 * weighted moving averages with time constants of 2, 10 and 40 s (iftop's
 * three windows, as EWMAs so no per-flow history is kept); `t` picks the one
 * shown, sorted and drawn as bars.  A flow missing from three snapshots of
 * its worker (ended, or left out of a capped snapshot) leaves the view.
 *
 * Drawing: once per refresh the rows are rebuilt (filtered, sorted) into a
 * display list of copies; `p` freezes that list while snapshots keep being
 * taken in.  Sorting is stable between refreshes: rates compare by 15 %
 * buckets and every tie keeps the previous order, so rows move only when
 * the sort key really changed.
 */
#include "output/tui.h"

#include <curses.h>
#include <errno.h>
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "analyze/l7_ndpi.h"
#include "core/signals.h"
#include "output/community_id.h"
#include "output/names.h"
#include "output/tui_format.h"

#define TUI_TAUS 3
#define TUI_MAX_SOURCES 256
#define TUI_MAX_MISSES 3
/* Ended flows that were never in a snapshot are not added past this. */
#define TUI_MAX_FLOWS (4u << 20)
#define TUI_NAME_MAP_ENTRIES 16384u  /* addresses named at once (about 2 MiB) */
#define TUI_KEY_POLL_US 10000u

static const double tui_taus[TUI_TAUS] = { 2.0, 10.0, 40.0 };

enum tui_sort { TUI_SORT_RATE, TUI_SORT_TOTAL, TUI_SORT_PKTS, TUI_SORT_RTT, TUI_SORT_AGE,
                TUI_SORT_N };
static const char *const tui_sort_names[TUI_SORT_N] = { "rate", "total", "packets", "RTT",
                                                        "age" };

enum { TUI_PAIR_WARN = 1, TUI_PAIR_OK = 2, TUI_PAIR_BAR = 3 };

struct tui_flow {
    struct flow_record rec;
    uint64_t sample_ts;             /* time of the last rate sample */
    uint64_t sample_bytes[2], sample_pkts[2];
    double avg[TUI_TAUS][2];        /* bytes/s per window and direction */
    double pps[2];                  /* packets/s, 2 s window */
    uint64_t gen;                   /* its worker's snapshot generation last seen in */
    uint32_t rank;                  /* position in the previous display order */
    bool ended;
    uint64_t ended_mono;            /* when its end record arrived (wall clock) */
};

struct tui_disp {
    struct flow_record rec;
    double avg[TUI_TAUS][2];
    char state[24];
    uint64_t age_us;
    bool ended;
    uint32_t slot;                  /* in flows[], valid until the next rebuild */
};

struct tui_source {
    struct nm_stats stats;
    uint64_t active, sent, gen, ts;
    bool seen;
};

struct tui {
    SCREEN *scr;
    FILE *tty_in;
    bool utf8, colors, active;
    int saved_stderr;
    FILE *errlog;                   /* stderr while the screen is ours */
    char source[256];
    uint64_t refresh_us;

    struct tui_flow *flows;
    uint32_t nflows, capflows;
    uint32_t *index;                /* slot + 1; 0 = empty */
    uint32_t index_mask;

    struct tui_source src[TUI_MAX_SOURCES];
    uint64_t now_us;                /* view time: packet time for files */
    struct nm_stats final;          /* from write_stats */
    bool have_final;
    double hdr_rate[2], hdr_pps[2];
    uint64_t hdr_active;
    bool hdr_capped;

    struct tui_disp *rows;
    uint32_t nrows, caprows;
    double bar_max;

    enum tui_sort sort;
    bool reverse, names, paused, help, detail, editing, input_done, quit;
    struct name_map *name_map;      /* learned from DNS answers in records */
    unsigned tau;
    char filter[128], filter_before[128];
    uint64_t sel_id;
    uint32_t sel, top;
    uint64_t next_draw, next_keys;
    bool dirty, rebuild;
    bool to_top;                    /* the order changed meaning: select the first row */
    bool group;                     /* key g: one row per process */
    uint32_t group_top;             /* first group shown */
    struct tui_group *groups;       /* TUI_GROUPS_MAX, allocated on first use */
};

static struct tui *tui_global;      /* for the atexit handler */

static uint64_t tui_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- the flow table of the view ------------------------------------------ */

static uint32_t tui_hash(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return (uint32_t)x;
}

static bool tui_index_rebuild(struct tui *t, uint32_t want)
{
    uint32_t size = 1024;

    while (size < want * 2)
        size *= 2;
    uint32_t *idx = calloc(size, sizeof(*idx));
    if (!idx)
        return false;
    free(t->index);
    t->index = idx;
    t->index_mask = size - 1;
    for (uint32_t i = 0; i < t->nflows; i++) {
        uint32_t h = tui_hash(t->flows[i].rec.flow_id) & t->index_mask;
        while (idx[h])
            h = (h + 1) & t->index_mask;
        idx[h] = i + 1;
    }
    return true;
}

static struct tui_flow *tui_find(struct tui *t, uint64_t id)
{
    if (!t->index)
        return NULL;
    for (uint32_t h = tui_hash(id) & t->index_mask; t->index[h]; h = (h + 1) & t->index_mask)
        if (t->flows[t->index[h] - 1].rec.flow_id == id)
            return &t->flows[t->index[h] - 1];
    return NULL;
}

static struct tui_flow *tui_insert(struct tui *t, const struct flow_record *r)
{
    if (t->nflows == t->capflows) {
        uint32_t cap = t->capflows ? t->capflows * 2 : 1024;
        struct tui_flow *f = realloc(t->flows, (size_t)cap * sizeof(*f));
        if (!f)
            return NULL;
        t->flows = f;
        t->capflows = cap;
    }
    if (!t->index || (t->nflows + 1) * 2 > t->index_mask + 1) {
        if (!tui_index_rebuild(t, t->nflows + 1))
            return NULL;
    }
    struct tui_flow *f = &t->flows[t->nflows];
    memset(f, 0, sizeof(*f));
    f->rec = *r;
    f->rank = UINT32_MAX;
    uint32_t h = tui_hash(r->flow_id) & t->index_mask;
    while (t->index[h])
        h = (h + 1) & t->index_mask;
    t->index[h] = ++t->nflows;
    return f;
}

/* One rate sample: the counts in r at time ts. */
static void tui_sample(struct tui *t, struct tui_flow *f, const struct flow_record *r, uint64_t ts)
{
    if (!f->sample_ts) {
        /* First sight: the flow's average so far, over at least one refresh. */
        double span = (double)(r->ts_end_us - r->ts_start_us) / 1e6;
        double min = (double)t->refresh_us / 1e6;
        if (span < min)
            span = min;
        for (int d = 0; d < 2; d++) {
            for (int k = 0; k < TUI_TAUS; k++)
                f->avg[k][d] = (double)r->bytes[d] / span;
            f->pps[d] = (double)r->pkts[d] / span;
            f->sample_bytes[d] = r->bytes[d];
            f->sample_pkts[d] = r->pkts[d];
        }
        f->sample_ts = ts ? ts : 1;
    } else if (ts > f->sample_ts) {
        double dt = (double)(ts - f->sample_ts) / 1e6;
        for (int d = 0; d < 2; d++) {
            double db = (double)(r->bytes[d] - (r->bytes[d] >= f->sample_bytes[d] ? f->sample_bytes[d] : r->bytes[d]));
            double dp = (double)(r->pkts[d] - (r->pkts[d] >= f->sample_pkts[d] ? f->sample_pkts[d] : r->pkts[d]));
            for (int k = 0; k < TUI_TAUS; k++)
                f->avg[k][d] = tui_ema(f->avg[k][d], db / dt, dt, tui_taus[k]);
            f->pps[d] = tui_ema(f->pps[d], dp / dt, dt, tui_taus[0]);
            f->sample_bytes[d] = r->bytes[d];
            f->sample_pkts[d] = r->pkts[d];
        }
        f->sample_ts = ts;
    }
    /* ts not later (an ended record at the snapshot's time): the bytes join
     * the next sample, which starts from sample_bytes. */
    f->rec = *r;
}

static void tui_take(struct tui *t, const struct flow_record *r, uint64_t ts, uint64_t gen)
{
    struct tui_flow *f = tui_find(t, r->flow_id);

    if (!f) {
        if (t->nflows >= TUI_MAX_FLOWS || !(f = tui_insert(t, r)))
            return;
        f->gen = gen;
    }
    tui_sample(t, f, r, ts);
    name_map_learn(t->name_map, r, ts);
    if (r->end_reason == FLOW_END_NONE) {
        f->gen = gen;
    } else if (!f->ended) {
        f->ended = true;
        f->ended_mono = tui_mono_us();
    }
    if (ts > t->now_us)
        t->now_us = ts;
}

/* ---- sink callbacks ------------------------------------------------------- */

static int tui_write_flow(struct output_sink *s, const struct flow_record *r)
{
    struct tui *t = s->state;
    unsigned w = (unsigned)(r->flow_id >> 56);
    uint64_t ts = r->ts_end_us > t->now_us ? r->ts_end_us : t->now_us;

    if (r->end_reason == FLOW_END_ACTIVE) {
        /* An interim record: the flow goes on. */
        struct flow_record copy = *r;
        copy.end_reason = FLOW_END_NONE;
        tui_take(t, &copy, ts, t->src[w].gen);
    } else {
        tui_take(t, r, ts, t->src[w].gen);
    }
    return 0;
}

static int tui_write_stats(struct output_sink *s, const struct nm_stats *st)
{
    struct tui *t = s->state;

    t->final = *st;
    t->have_final = true;
    return 0;
}

static void tui_snapshot_begin(struct output_sink *s, unsigned source, uint64_t ts_us)
{
    struct tui *t = s->state;
    struct tui_source *src = &t->src[source % TUI_MAX_SOURCES];

    src->gen++;
    src->ts = ts_us;
}

static void tui_snapshot_flow(struct output_sink *s, const struct flow_record *r)
{
    struct tui *t = s->state;
    struct tui_source *src = &t->src[(r->flow_id >> 56) % TUI_MAX_SOURCES];

    tui_take(t, r, src->ts, src->gen);
}

static void tui_snapshot_end(struct output_sink *s, const struct nm_snapshot_end *e)
{
    struct tui *t = s->state;
    struct tui_source *src = &t->src[e->source % TUI_MAX_SOURCES];

    src->stats = e->stats;
    src->active = e->active;
    src->sent = e->sent;
    src->seen = true;
    if (e->ts_us > t->now_us)
        t->now_us = e->ts_us;
}

/* ---- rebuilding the rows ---------------------------------------------------- */

/* Ended flows stay TUI_MAX_MISSES refreshes of wall-clock time (a file
 * read at full speed shows every flow at its end); a flow missing from its
 * worker's latest snapshot gets a zero sample, and leaves after
 * TUI_MAX_MISSES of them.  Also sums the header. */
static void tui_age_flows(struct tui *t)
{
    uint32_t keep = 0;
    bool removed = false;
    uint64_t now = tui_mono_us(), linger = TUI_MAX_MISSES * t->refresh_us;

    memset(t->hdr_rate, 0, sizeof(t->hdr_rate));
    memset(t->hdr_pps, 0, sizeof(t->hdr_pps));
    for (uint32_t i = 0; i < t->nflows; i++) {
        struct tui_flow *f = &t->flows[i];
        struct tui_source *src = &t->src[(f->rec.flow_id >> 56) % TUI_MAX_SOURCES];
        /* After the end of a file everything stays: it is the summary. */
        if (!t->input_done &&
            (f->ended ? now - f->ended_mono > linger : src->gen - f->gen >= TUI_MAX_MISSES)) {
            removed = true;
            continue;
        }
        if (src->gen > f->gen)
            tui_sample(t, f, &f->rec, src->ts);
        for (int d = 0; d < 2; d++) {
            t->hdr_rate[d] += f->avg[t->tau][d];
            t->hdr_pps[d] += f->pps[d];
        }
        if (keep != i)
            t->flows[keep] = *f;
        keep++;
    }
    t->nflows = keep;
    if (removed)
        tui_index_rebuild(t, keep);
}

static size_t tui_endpoints_text(const struct flow_record *r, const char *state, char *out,
                                 size_t outlen)
{
    char a[80], b[80];
    bool ports = r->proto == 6 || r->proto == 17 || r->proto == 132;
    const char *proto = record_proto_name(r->proto);

    tui_fmt_endpoint(&r->addr[0], r->ip_version, r->port[0], ports, a, sizeof(a));
    tui_fmt_endpoint(&r->addr[1], r->ip_version, r->port[1], ports, b, sizeof(b));
    return (size_t)snprintf(out, outlen, "%s -> %s (%s) %s %s", a, b, state, proto ? proto : "",
                            r->owner.pid > 0 ? r->owner.comm : "");
}

/* Substring of the row's text (addresses, ports, state, protocol, process
 * name, nDPI's app) or of its name, any case. */
static bool tui_matches(const struct tui *t, const struct flow_record *r, const char *state)
{
    char text[256], label[128];
    const char *name;

    if (!t->filter[0])
        return true;
    size_t n = tui_endpoints_text(r, state, text, sizeof(text));
    if (r->app.state == FLOW_L7_DONE && n + 2 < sizeof(text)) {
        text[n++] = ' ';
        l7_ndpi_app_name(&r->app, text + n, sizeof(text) - n);
    }
    if (strcasestr(text, t->filter))
        return true;
    name = t->names ? name_map_flow_label(t->name_map, r, t->now_us, label, sizeof(label)) : NULL;
    return name && strcasestr(name, t->filter);
}

static double tui_disp_rate(const struct tui *t, const struct tui_disp *d)
{
    return d->avg[t->tau][0] + d->avg[t->tau][1];
}

/* Rates compare by 15 % buckets so that noise does not reorder rows. */
static int64_t tui_rate_bucket(double r)
{
    return r <= 1.0 ? -1 : (int64_t)floor(log(r) / log(1.15));
}

static const struct tui *tui_sorting;   /* qsort has no user pointer in C11 */

static int tui_cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

static int tui_cmp_rows(const void *pa, const void *pb)
{
    const struct tui *t = tui_sorting;
    const struct tui_disp *a = pa, *b = pb;
    int c = 0;

    switch (t->sort) {
    case TUI_SORT_RATE: {
        int64_t x = tui_rate_bucket(tui_disp_rate(t, a)), y = tui_rate_bucket(tui_disp_rate(t, b));
        c = x < y ? -1 : x > y;
        break;
    }
    case TUI_SORT_TOTAL:
        c = tui_cmp_u64(a->rec.bytes[0] + a->rec.bytes[1], b->rec.bytes[0] + b->rec.bytes[1]);
        break;
    case TUI_SORT_PKTS:
        c = tui_cmp_u64(a->rec.pkts[0] + a->rec.pkts[1], b->rec.pkts[0] + b->rec.pkts[1]);
        break;
    case TUI_SORT_RTT:
        c = tui_cmp_u64(tui_flow_rtt_us(&a->rec), tui_flow_rtt_us(&b->rec));
        break;
    case TUI_SORT_AGE:
        c = tui_cmp_u64(a->age_us, b->age_us);
        break;
    default:
        break;
    }
    if (c)
        return t->reverse ? c : -c;   /* largest first unless reversed */
    uint32_t ra = t->flows[a->slot].rank, rb = t->flows[b->slot].rank;
    if (ra != rb)
        return ra < rb ? -1 : 1;
    return tui_cmp_u64(a->rec.flow_id, b->rec.flow_id);
}

static void tui_clamp_selection(struct tui *t)
{
    bool found = false;

    for (uint32_t i = 0; i < t->nrows; i++)
        if (t->rows[i].rec.flow_id == t->sel_id) {
            t->sel = i;
            found = true;
            break;
        }
    if (!found && t->sel >= t->nrows)
        t->sel = t->nrows ? t->nrows - 1 : 0;
    if (t->nrows)
        t->sel_id = t->rows[t->sel].rec.flow_id;
}

static void tui_rebuild(struct tui *t)
{
    tui_age_flows(t);
    if (t->caprows < t->nflows) {
        uint32_t cap = t->nflows + 1024;
        struct tui_disp *r = realloc(t->rows, (size_t)cap * sizeof(*r));
        if (!r)
            return;
        t->rows = r;
        t->caprows = cap;
    }
    t->nrows = 0;
    t->bar_max = 0;
    for (uint32_t i = 0; i < t->nflows; i++) {
        const struct tui_flow *f = &t->flows[i];
        struct tui_disp *d = &t->rows[t->nrows];
        char buf[24];
        const char *st = tui_flow_state(&f->rec, buf, sizeof(buf));
        if (!tui_matches(t, &f->rec, st))
            continue;
        d->rec = f->rec;
        memcpy(d->avg, f->avg, sizeof(d->avg));
        snprintf(d->state, sizeof(d->state), "%s", st);
        uint64_t end = f->ended ? f->rec.ts_end_us : t->now_us;
        d->age_us = end > f->rec.ts_start_us ? end - f->rec.ts_start_us : 0;
        d->ended = f->ended;
        d->slot = i;
        if (tui_disp_rate(t, d) > t->bar_max)
            t->bar_max = tui_disp_rate(t, d);
        t->nrows++;
    }
    tui_sorting = t;
    if (t->nrows > 1)
        qsort(t->rows, t->nrows, sizeof(*t->rows), tui_cmp_rows);
    for (uint32_t i = 0; i < t->nrows; i++)
        t->flows[t->rows[i].slot].rank = i;
    if (t->to_top) {
        t->sel = t->top = 0;
        t->sel_id = t->nrows ? t->rows[0].rec.flow_id : 0;
        t->to_top = false;
    }
    tui_clamp_selection(t);

    t->hdr_active = 0;
    t->hdr_capped = false;
    bool any = false;
    for (unsigned i = 0; i < TUI_MAX_SOURCES; i++) {
        if (!t->src[i].seen)
            continue;
        any = true;
        t->hdr_active += t->src[i].active;
        t->hdr_capped |= t->src[i].sent < t->src[i].active;
    }
    if (!any || t->input_done) {
        t->hdr_active = 0;
        for (uint32_t i = 0; i < t->nflows; i++)
            t->hdr_active += !t->flows[i].ended;
    }
}

/* ---- drawing ---------------------------------------------------------------- */

/* Bytes of s that fit in cols columns. */
static int tui_fit(const char *s, int cols)
{
    int used = 0, i = 0;

    while (s[i] && used < cols) {
        i++;
        while (((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        used++;
    }
    return i;
}

static void tui_text(int y, int x, const char *s)
{
    if (y < 0 || y >= LINES || x >= COLS)
        return;
    mvaddnstr(y, x, s, tui_fit(s, COLS - x));
}

static int tui_printf(int y, int x, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int tui_printf(int y, int x, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    tui_text(y, x, buf);
    return x + (int)tui_utf8_cols(buf);
}

static struct nm_stats tui_header_stats(const struct tui *t)
{
    struct nm_stats sum;

    memset(&sum, 0, sizeof(sum));
    for (unsigned i = 0; i < TUI_MAX_SOURCES; i++)
        if (t->src[i].seen)
            nm_stats_add(&sum, &t->src[i].stats);
    if (t->have_final && t->final.ts_us >= sum.ts_us)
        return t->final;
    return sum;
}

/* A counter that must stay visible; warning colour when non-zero. */
static int tui_counter(const struct tui *t, int y, int x, const char *label, uint64_t v)
{
    char n[32];

    tui_fmt_count(v, n, sizeof(n));
    x = tui_printf(y, x, "  %s ", label);
    attr_t a = v ? (A_BOLD | (t->colors ? COLOR_PAIR(TUI_PAIR_WARN) : A_REVERSE))
                 : (t->colors ? COLOR_PAIR(TUI_PAIR_OK) : A_NORMAL);
    attron(a);
    x = tui_printf(y, x, "%s", n);
    attroff(a);
    return x;
}

/* The share of local flows whose process was not found, since start. */
static void tui_draw_unattributed(const struct tui *t, int x, const struct nm_stats *st)
{
    uint64_t local = st->flows_attributed + st->flows_unattributed;
    char pct[16];

    x = tui_counter(t, 1, x, "unattributed", st->flows_unattributed);
    snprintf(pct, sizeof(pct), "%.0f", local ? 100.0 * (double)st->flows_unattributed /
                                                   (double)local : 0.0);
    tui_printf(1, x, " (%s %% of %" PRIu64 " local)", pct, local);
}

static void tui_draw_header(struct tui *t)
{
    char up[32], down[32], pu[32], pd[32];
    struct nm_stats st = tui_header_stats(t);
    int x;

    attron(A_BOLD);
    x = tui_printf(0, 0, "netmoon  %s%s", t->source, t->input_done ? " (end of input)" : "");
    attroff(A_BOLD);
    if (t->paused) {
        attron(A_REVERSE | A_BOLD);
        x = tui_printf(0, x + 2, " PAUSED ");
        attroff(A_REVERSE | A_BOLD);
    }
    x = tui_printf(0, x, "   sort: %s %s   rates: %.0f s avg", tui_sort_names[t->sort],
                   t->reverse ? (t->utf8 ? "\u2191" : "^") : (t->utf8 ? "\u2193" : "v"),
                   tui_taus[t->tau]);
    if (t->filter[0] || t->editing)
        x = tui_printf(0, x, "   filter: %s", t->filter);
    if (t->names)
        tui_printf(0, x, "   names: on (%" PRIu64 " learned)",
                   t->name_map ? name_map_stats(t->name_map)->learned : 0);

    tui_fmt_bits(t->hdr_rate[0] * 8, up, sizeof(up));
    tui_fmt_bits(t->hdr_rate[1] * 8, down, sizeof(down));
    tui_fmt_count((uint64_t)llround(t->hdr_pps[0]), pu, sizeof(pu));
    tui_fmt_count((uint64_t)llround(t->hdr_pps[1]), pd, sizeof(pd));
    x = tui_printf(1, 0, "%s %s %s p/s  %s %s %s p/s  active flows %" PRIu64,
                   t->utf8 ? "\u2191" : "up", up, pu, t->utf8 ? "\u2193" : "down", down, pd,
                   t->hdr_active);
    if (t->hdr_capped)
        x = tui_printf(1, x, " (showing the busiest %u per worker)", 20000u);
    x = tui_counter(t, 1, x, "kernel drops", st.kernel_drops);
    x = tui_counter(t, 1, x, "evictions", st.evictions);
    x = tui_counter(t, 1, x, "decode errors", decode_stats_errors(&st.decode));
    /* Only when it happened: a loss like the others, but rare by design. */
    if (st.l7_no_slot)
        tui_counter(t, 1, x, "unlabelled (L7 pool full)", st.l7_no_slot);
    if (st.procs_enabled)
        tui_draw_unattributed(t, x, &st);
}

static void tui_draw_rows(struct tui *t, int y0, int y1)
{
    char line[1024];
    bool with_process = tui_header_stats(t).procs_enabled;
    unsigned ep = tui_endpoint_cols((unsigned)COLS, with_process);
    int height = y1 - y0;

    tui_fmt_titles(ep, t->utf8, with_process, line, sizeof(line));
    attron(A_REVERSE);
    mvhline(y0 - 1, 0, ' ', COLS);
    tui_text(y0 - 1, 0, line);
    attroff(A_REVERSE);
    if (height <= 0)
        return;
    if (t->sel < t->top)
        t->top = t->sel;
    if (t->sel >= t->top + (uint32_t)height)
        t->top = t->sel - (uint32_t)height + 1;
    if (t->top > 0 && t->top + (uint32_t)height > t->nrows)
        t->top = t->nrows > (uint32_t)height ? t->nrows - (uint32_t)height : 0;
    for (int i = 0; i < height && t->top + (uint32_t)i < t->nrows; i++) {
        const struct tui_disp *d = &t->rows[t->top + (uint32_t)i];
        char proc[NM_OWNER_COMM_MAX + 16];
        tui_fmt_process(&d->rec.owner, proc, sizeof(proc));
        char app[96];
        char label[128];
        struct tui_row row = {
            .rec = &d->rec, .state = d->state, .rate_up = d->avg[t->tau][0],
            .rate_down = d->avg[t->tau][1], .bar_max = t->bar_max, .age_us = d->age_us,
            .name = t->names ? name_map_flow_label(t->name_map, &d->rec, t->now_us, label,
                                                   sizeof(label)) : NULL,
            .process = with_process ? proc : NULL,
        };
        /* A name (SNI, Host, DNS-learnt) says more than the label. */
        if (!row.name && d->rec.app.state == FLOW_L7_DONE &&
            l7_ndpi_app_name(&d->rec.app, app, sizeof(app)))
            row.name = app;
        tui_fmt_row(&row, ep, t->utf8, line, sizeof(line));
        attr_t a = (t->top + (uint32_t)i == t->sel) ? A_REVERSE : (d->ended ? A_DIM : A_NORMAL);
        attron(a);
        tui_text(y0 + i, 0, line);
        attroff(a);
    }
    if (t->nrows == 0)
        tui_text(y0, 0, t->filter[0] ? "(no flow matches the filter)" : "(no flows yet)");
}

/* Key g: the shown (filtered) flows summed per owning process, like
 * nethogs; built from the rows at each draw, so it is never stale. */
static void tui_draw_groups(struct tui *t, int y0, int y1)
{
    char line[512];
    uint32_t n = 0;
    double bar_max = 0;

    if (!t->groups && !(t->groups = malloc(TUI_GROUPS_MAX * sizeof(*t->groups))))
        return;
    for (uint32_t i = 0; i < t->nrows; i++)
        tui_group_add(t->groups, &n, &t->rows[i].rec, t->rows[i].avg[t->tau][0],
                      t->rows[i].avg[t->tau][1]);
    tui_group_sort(t->groups, n);
    for (uint32_t i = 0; i < n; i++)
        if (t->groups[i].rate_up + t->groups[i].rate_down > bar_max)
            bar_max = t->groups[i].rate_up + t->groups[i].rate_down;
    tui_fmt_group_titles(t->utf8, line, sizeof(line));
    attron(A_REVERSE);
    mvhline(y0 - 1, 0, ' ', COLS);
    tui_text(y0 - 1, 0, line);
    attroff(A_REVERSE);
    if (t->group_top >= n)
        t->group_top = n ? n - 1 : 0;
    for (int y = y0; y < y1 && t->group_top + (uint32_t)(y - y0) < n; y++) {
        tui_fmt_group_row(&t->groups[t->group_top + (uint32_t)(y - y0)], bar_max, t->utf8, line,
                          sizeof(line));
        tui_text(y, 0, line);
    }
    if (n == 0)
        tui_text(y0, 0, t->filter[0] ? "(no flow matches the filter)" : "(no flows yet)");
}

static void tui_fmt_time(uint64_t us, char *out, size_t outlen)
{
    time_t s = (time_t)(us / 1000000);
    struct tm tm;

    gmtime_r(&s, &tm);
    size_t n = strftime(out, outlen, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(out + n, outlen - n, ".%06uZ", (unsigned)(us % 1000000));
}

static void tui_draw_side(int y, const char *name, const struct flow_record *r,
                          int d)
{
    char ep[96], flags[9], b[32];
    bool ports = r->proto == 6 || r->proto == 17 || r->proto == 132;

    tui_fmt_endpoint(&r->addr[d], r->ip_version, r->port[d], ports, ep, sizeof(ep));
    record_format_tcp_flags(r->tcp_flags[d], flags);
    tui_fmt_bytes(r->bytes[d], b, sizeof(b));
    tui_printf(y, 2, "%-16s %s  packets %" PRIu64 "  bytes %" PRIu64 " (%s)  IP bytes %" PRIu64
               "%s%s", name, ep, r->pkts[d], r->bytes[d], b, r->ip_bytes[d],
               r->proto == 6 ? "  TCP flags " : "", r->proto == 6 ? flags : "");
}

/* One leg's ongoing RTT samples, or "-". */
static void tui_fmt_rtt_leg(const struct flow_tcp_summary *tcp, unsigned leg, char *out,
                            size_t outlen)
{
    char mn[16], av[16], mx[16], last[16];

    if (!tcp->rtt_samples[leg]) {
        snprintf(out, outlen, "-");
        return;
    }
    tui_fmt_rtt(tcp->rtt_min_us[leg], mn, sizeof(mn));
    tui_fmt_rtt(tcp->rtt_avg_us[leg], av, sizeof(av));
    tui_fmt_rtt(tcp->rtt_max_us[leg], mx, sizeof(mx));
    tui_fmt_rtt(tcp->rtt_last_us[leg], last, sizeof(last));
    snprintf(out, outlen, "%s/%s/%s last %s (%u samples)", mn, av, mx, last,
             (unsigned)tcp->rtt_samples[leg]);
}

/* The TCP analysis lines of the detail pane; returns the next row. */
static int tui_draw_detail_tcp(const struct flow_record *r, int y)
{
    const struct flow_tcp_summary *tcp = &r->tcp;
    char s1[32], s2[32], s3[32], leg[96];

    if (!tcp->valid) {
        tui_printf(y++, 2, "%-13s -", "RTT");
        tui_printf(y++, 2, "%-13s -", "retrans");
        return y;
    }
    if (tcp->has_handshake_rtt) {
        tui_fmt_rtt(tcp->rtt_handshake_us, s1, sizeof(s1));
        tui_fmt_rtt(tcp->rtt_server_us, s2, sizeof(s2));
        tui_fmt_rtt(tcp->rtt_client_us, s3, sizeof(s3));
        tui_printf(y++, 2, "%-13s %s (to server %s, to client %s)", "RTT handshake", s1, s2, s3);
    } else {
        tui_printf(y++, 2, "%-13s - (no handshake seen)", "RTT handshake");
    }
    tui_fmt_rtt_leg(tcp, NM_DIR_DST, leg, sizeof(leg));
    tui_printf(y++, 2, "%-13s %s", "RTT to dst", leg);
    tui_fmt_rtt_leg(tcp, NM_DIR_SRC, leg, sizeof(leg));
    tui_printf(y++, 2, "%-13s %s", "RTT to src", leg);
    tui_printf(y++, 2, "%-13s src %u dst %u  (dup ACKs %u/%u, out of order %u/%u, "
               "zero window %u/%u)", "retrans", tcp->retrans[0], tcp->retrans[1],
               tcp->dup_acks[0], tcp->dup_acks[1], tcp->out_of_order[0], tcp->out_of_order[1],
               tcp->zero_window[0], tcp->zero_window[1]);
    return y;
}

/* nDPI's label (JSON app, category, app_confidence), or why there is none. */
static void tui_draw_detail_app(const struct flow_record *r, bool ebpf, int y)
{
    char app[96];

    if (ebpf) {
        tui_printf(y, 2, "%-13s %s", "app", "- (eBPF engine: no payload reaches netmoon)");
    } else if (r->app.state == FLOW_L7_DONE) {
        l7_ndpi_app_name(&r->app, app, sizeof(app));
        tui_printf(y, 2, "%-13s %s  category %s  (nDPI, %s)", "app", app,
                   l7_ndpi_category_name(&r->app), l7_ndpi_confidence_name(&r->app));
    } else {
        tui_printf(y, 2, "%-13s %s", "app", r->app.state == FLOW_L7_CLASSIFYING ? "- (nDPI still looking)"
                   : r->app.state == FLOW_L7_NO_SLOT ? "- (nDPI's pool was full: --l7-max-flows)"
                   : "- (--no-l7)");
    }
}

/* One application field as "name  value" (values from the wire are shown
 * with non-printable bytes as '.'), when present. */
static int tui_draw_l7_field(const struct flow_record *r, enum nm_l7_field f, const char *name,
                             int y)
{
    size_t len;
    const char *v = flow_l7_field(&r->l7, f, &len);
    char text[NM_L7_TEXT_MAX + 1];

    if (!v)
        return y;
    for (size_t i = 0; i < len; i++)
        text[i] = v[i] == NM_L7_LIST_SEP ? ',' : (v[i] < 0x20 || v[i] > 0x7e) ? '.' : v[i];
    text[len] = '\0';
    tui_printf(y, 2, "%-13s %s", name, text);
    return y + 1;
}

static int tui_draw_detail_l7(const struct tui *t, const struct flow_record *r, int y)
{
    char label[128];
    const char *name = name_map_flow_label(t->name_map, r, t->now_us, label, sizeof(label));

    tui_printf(y++, 2, "%-13s %s", "app/name", name ? name : "-");
    y = tui_draw_l7_field(r, NM_L7_SNI, "tls sni", y);
    y = tui_draw_l7_field(r, NM_L7_ALPN, "tls alpn", y);
    y = tui_draw_l7_field(r, NM_L7_HTTP_METHOD, "http method", y);
    y = tui_draw_l7_field(r, NM_L7_HTTP_HOST, "http host", y);
    y = tui_draw_l7_field(r, NM_L7_HTTP_PATH, "http path", y);
    if (r->l7.http_status)
        tui_printf(y++, 2, "%-13s %u", "http status", r->l7.http_status);
    y = tui_draw_l7_field(r, NM_L7_DNS_QNAME, "dns qname", y);
    if (r->l7.has_dns_rcode)
        tui_printf(y++, 2, "%-13s type %u rcode %u", "dns", r->l7.dns_qtype, r->l7.dns_rcode);
    y = tui_draw_l7_field(r, NM_L7_DNS_ANSWERS, "dns answers", y);
    y = tui_draw_l7_field(r, NM_L7_SSH_CLIENT, "ssh client", y);
    return tui_draw_l7_field(r, NM_L7_SSH_SERVER, "ssh server", y);
}

static void tui_draw_detail(struct tui *t, int y0, int y1)
{
    if (t->nrows == 0) {
        t->detail = false;
        return;
    }
    const struct tui_disp *d = &t->rows[t->sel];
    const struct flow_record *r = &d->rec;
    char a[48], b[48], cid[COMMUNITY_ID_LEN], r0[32], r1[32];
    const char *proto = record_proto_name(r->proto);
    int y = y0;

    for (int i = y0; i < y1; i++)
        mvhline(i, 0, ' ', COLS);
    attron(A_BOLD);
    tui_printf(y++, 0, "Flow details (Enter or Esc closes)");
    attroff(A_BOLD);
    /* The eBPF engine's flows have no worker: the kernel counted them. */
    bool ebpf = tui_header_stats(t).ebpf_engine;
    if (ebpf)
        tui_printf(y++, 2, "%-13s %" PRIu64 " (eBPF engine)", "flow_id", r->flow_id);
    else
        tui_printf(y++, 2, "%-13s %" PRIu64 " (worker %u)", "flow_id", r->flow_id,
                   (unsigned)(r->flow_id >> 56));
    if (proto)
        tui_printf(y++, 2, "%-13s %s, IPv%u", "protocol", proto, r->ip_version);
    else
        tui_printf(y++, 2, "%-13s %u, IPv%u", "protocol", r->proto, r->ip_version);
    if (r->tcp.valid)
        tui_printf(y++, 2, "%-13s %s  conn_state %s  history %s", "state", d->state,
                   r->tcp.conn_state, r->tcp.history);
    else
        tui_printf(y++, 2, "%-13s %s", "state", d->state);
    tui_draw_side(y++, "src (initiator)", r, 0);
    tui_draw_side(y++, "dst (responder)", r, 1);
    tui_fmt_time(r->ts_start_us, a, sizeof(a));
    tui_fmt_time(r->ts_end_us, b, sizeof(b));
    tui_printf(y++, 2, "%-13s %s", "ts_start", a);
    tui_printf(y++, 2, "%-13s %s", "ts_end", b);
    tui_printf(y++, 2, "%-13s %.6f s", "duration", (double)(r->ts_end_us - r->ts_start_us) / 1e6);
    tui_printf(y++, 2, "%-13s %s", "end_reason", flow_end_reason_name(r->end_reason));
    if (r->vlan_id)
        tui_printf(y++, 2, "%-13s %u", "vlan", r->vlan_id);
    if (r->tunnel)
        tui_printf(y++, 2, "%-13s %u (decapsulated)", "tunnel", r->tunnel);
    if (r->has_icmp)
        tui_printf(y++, 2, "%-13s type %u code %u%s id %u", "icmp", r->icmp_type, r->icmp_code,
                   r->icmp_is_echo ? " echo," : "", r->icmp_is_echo ? r->icmp_id : 0);
    community_id_of_record(r, 0, cid);
    tui_printf(y++, 2, "%-13s %s", "community_id", cid);
    for (int k = 0; k < TUI_TAUS; k++) {
        tui_fmt_bits(d->avg[k][0] * 8, r0, sizeof(r0));
        tui_fmt_bits(d->avg[k][1] * 8, r1, sizeof(r1));
        tui_printf(y++, 2, "%-13s %s %s  %s %s", k == 0 ? "rate 2 s" : k == 1 ? "rate 10 s" : "rate 40 s",
                   t->utf8 ? "\u2191" : "up", r0, t->utf8 ? "\u2193" : "down", r1);
    }
    y = tui_draw_detail_tcp(r, y);
    tui_draw_detail_app(r, ebpf, y++);
    y = tui_draw_detail_l7(t, r, y);
    if (r->owner.pid <= 0) {
        tui_printf(y, 2, "%-13s -", "process");
        return;
    }
    tui_printf(y++, 2, "%-13s %s (pid %d)", "process", r->owner.comm, (int)r->owner.pid);
    tui_printf(y, 2, "%-13s %s%s", "cmdline", r->owner.cmdline, r->owner.cmdline_cut ? " ..." : "");
}

static const char *const tui_help_lines[] = {
    "netmoon: keys",
    "",
    "  s          cycle the sort column: rate, total, packets, RTT, age",
    "  < >        previous / next sort column;  r  reverse the order",
    "  t          rate window: 2 s, 10 s or 40 s",
    "  /          filter: rows whose addresses, ports, state, protocol, process, app",
    "             or name contain the text (any case); Enter keeps it, Esc restores",
    "  p          pause the display (capture and accounting go on)",
    "  Up Down PgUp PgDn Home End   select a row;  Enter  details of the flow",
    "  n          names on/off: TLS SNI, else HTTP Host, else a name learned from",
    "             DNS answers seen in the traffic (kept for their TTL); no lookups",
    "  g          group rows by process: flows, totals and rates summed (again: back)",
    "  ?          this help;  q  quit",
    "",
    "Rates are exponentially weighted moving averages of each refresh's bytes,",
    "with time constants of 2, 10 and 40 s (iftop's three windows); rate\u2191 is",
    "initiator to responder, rate\u2193 the reverse.  The bar is the row's share of",
    "the largest rate shown.  Rows keep their order unless the sort key changed",
    "(rates by more than 15 %).  Dim rows have ended.  STATE for TCP is the",
    "connection tracker's.  RTT: the latest data/ACK or timestamp samples of",
    "both legs added up, else the handshake's (SYN to ACK); retrans counts both",
    "directions.  app/name is the SNI, HTTP Host or a name learnt from DNS",
    "answers (n toggles names), else nDPI's label once it has decided (Enter",
    "shows its category).  PROCESS is the local program owning the socket",
    "(comm/pid), '-' when the flow has no local endpoint or its owner was not found.",
    "",
    "Any key closes this help.",
};

static void tui_draw_help(struct tui *t, int y0, int y1)
{
    for (int i = y0; i < y1; i++)
        mvhline(i, 0, ' ', COLS);
    for (size_t i = 0; i < sizeof(tui_help_lines) / sizeof(tui_help_lines[0]); i++) {
        const char *s = tui_help_lines[i];
        char ascii[160];
        if (!t->utf8) {             /* the arrows in the text */
            size_t n = 0;
            for (const char *p = s; *p && n + 2 < sizeof(ascii); p++) {
                if ((unsigned char)*p == 0xE2 && p[1] && p[2]) {
                    ascii[n++] = (unsigned char)p[2] == 0x91 ? '^' : 'v';
                    p += 2;
                } else {
                    ascii[n++] = *p;
                }
            }
            ascii[n] = '\0';
            s = ascii;
        }
        tui_text(y0 + (int)i, 1, s);
    }
}

static void tui_draw_footer(struct tui *t)
{
    int y = LINES - 1;

    mvhline(y, 0, ' ', COLS);
    if (t->editing) {
        tui_printf(y, 0, "/%s", t->filter);
        curs_set(1);
        return;
    }
    curs_set(0);
    attron(A_REVERSE);
    tui_text(y, 0, t->input_done
                       ? " q quit  s sort  </> column  r reverse  / filter  Enter details  ? help"
                         "  (input ended)"
                       : " q quit  s sort  </> column  r reverse  t window  / filter  p pause"
                         "  arrows select  Enter details  g by process  n names  ? help");
    attroff(A_REVERSE);
}

static void tui_draw(struct tui *t)
{
    erase();
    if (LINES < 6 || COLS < 20) {
        tui_text(0, 0, "netmoon: terminal too small");
        refresh();
        return;
    }
    tui_draw_header(t);
    if (t->group)
        tui_draw_groups(t, 3, LINES - 1);
    else
        tui_draw_rows(t, 3, LINES - 1);
    if (t->help)
        tui_draw_help(t, 3, LINES - 1);
    else if (t->detail && !t->group)
        tui_draw_detail(t, 3, LINES - 1);
    tui_draw_footer(t);
    refresh();
}

/* ---- keys --------------------------------------------------------------------- */

static void tui_move(struct tui *t, int64_t by)
{
    int64_t s = (int64_t)t->sel + by;

    if (s >= (int64_t)t->nrows)
        s = (int64_t)t->nrows - 1;
    if (s < 0)
        s = 0;
    t->sel = (uint32_t)s;
    if (t->nrows)
        t->sel_id = t->rows[t->sel].rec.flow_id;
}

static void tui_key_edit(struct tui *t, int ch)
{
    size_t n = strlen(t->filter);

    if (ch == 27) {
        memcpy(t->filter, t->filter_before, sizeof(t->filter));
        t->editing = false;
    } else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
        t->editing = false;
    } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
        if (n)
            t->filter[n - 1] = '\0';
    } else if (ch >= 0x20 && ch < 0x7f && n + 1 < sizeof(t->filter)) {
        t->filter[n] = (char)ch;
        t->filter[n + 1] = '\0';
    } else {
        return;
    }
    t->rebuild = t->to_top = true;
}

static void tui_key(struct tui *t, int ch)
{
    int page = LINES > 5 ? LINES - 4 : 1;   /* the rows between titles and footer */

    if (ch == KEY_RESIZE)
        return;
    if (t->editing) {
        tui_key_edit(t, ch);
        return;
    }
    if (t->help) {
        t->help = false;
        if (ch != 'q' && ch != 'Q')
            return;
    }
    switch (ch) {
    case 'q': case 'Q':
        t->quit = true;
        signals_request_stop();
        break;
    case 's': case '>':
        t->sort = (t->sort + 1) % TUI_SORT_N;
        t->rebuild = t->to_top = true;
        break;
    case '<':
        t->sort = (t->sort + TUI_SORT_N - 1) % TUI_SORT_N;
        t->rebuild = t->to_top = true;
        break;
    case 'r': t->reverse = !t->reverse; t->rebuild = t->to_top = true; break;
    case 't': t->tau = (t->tau + 1) % TUI_TAUS; t->rebuild = true; break;
    case 'n': t->names = !t->names; break;
    case 'g': t->group = !t->group; t->group_top = 0; t->detail = false; break;
    case 'p': t->paused = !t->paused; t->rebuild = !t->paused; break;
    case '?': case 'h': t->help = true; break;
    case '/':
        memcpy(t->filter_before, t->filter, sizeof(t->filter));
        t->editing = true;
        break;
    case KEY_UP: case 'k': tui_move(t, -1); break;
    case KEY_DOWN: case 'j': tui_move(t, 1); break;
    case KEY_PPAGE:
        t->group_top = t->group_top > (uint32_t)page ? t->group_top - (uint32_t)page : 0;
        t->top = t->top > (uint32_t)page ? t->top - (uint32_t)page : 0;
        tui_move(t, -page);
        break;
    case KEY_NPAGE:
        t->group_top += (uint32_t)page;
        t->top += (uint32_t)page;
        tui_move(t, page);
        break;
    case KEY_HOME: tui_move(t, -(int64_t)t->nrows); break;
    case KEY_END: tui_move(t, t->nrows); break;
    case '\n': case '\r': case KEY_ENTER: t->detail = !t->detail && t->nrows; break;
    case 27: case KEY_LEFT: t->detail = false; break;
    default: return;
    }
}

static void tui_tick(struct output_sink *s)
{
    struct tui *t = s->state;
    uint64_t now = tui_mono_us();
    int ch;

    if (!t->active || now < t->next_keys)
        return;
    t->next_keys = now + TUI_KEY_POLL_US;
    while ((ch = getch()) != ERR) {
        tui_key(t, ch);
        t->dirty = true;
    }
    if (now >= t->next_draw) {
        t->next_draw = now + t->refresh_us;
        t->rebuild |= !t->paused;
        t->dirty = true;
    }
    if (t->rebuild) {
        tui_rebuild(t);
        t->rebuild = false;
    }
    if (t->dirty) {
        tui_draw(t);
        t->dirty = false;
    }
}

/* ---- terminal ownership ------------------------------------------------------------ */

static void tui_restore(struct tui *t)
{
    if (t->active) {
        endwin();
        t->active = false;
    }
    if (t->scr) {
        delscreen(t->scr);
        t->scr = NULL;
    }
    if (t->tty_in) {
        fclose(t->tty_in);
        t->tty_in = NULL;
    }
    if (t->errlog) {
        /* What was said on stderr meanwhile is shown now. */
        char buf[4096];
        size_t n;
        fflush(stderr);
        dup2(t->saved_stderr, STDERR_FILENO);
        close(t->saved_stderr);
        rewind(t->errlog);
        while ((n = fread(buf, 1, sizeof(buf), t->errlog)) > 0)
            fwrite(buf, 1, n, stderr);
        fclose(t->errlog);
        t->errlog = NULL;
    }
}

static void tui_atexit(void)
{
    if (tui_global)
        tui_restore(tui_global);
}

/* While the screen is ours, stderr goes to a temporary file (shown at exit)
 * so messages do not scribble over the view. */
static void tui_hold_stderr(struct tui *t)
{
    if (!isatty(STDERR_FILENO) || !(t->errlog = tmpfile()))
        return;
    fflush(stderr);
    t->saved_stderr = dup(STDERR_FILENO);
    if (t->saved_stderr < 0 || dup2(fileno(t->errlog), STDERR_FILENO) < 0) {
        if (t->saved_stderr >= 0)
            close(t->saved_stderr);
        fclose(t->errlog);
        t->errlog = NULL;
    }
}

static void tui_close(struct output_sink *s)
{
    struct tui *t = s->state;

    tui_restore(t);
    tui_global = NULL;
    free(t->flows);
    free(t->index);
    free(t->rows);
    name_map_destroy(t->name_map);
    free(t->groups);
    free(t);
    s->state = NULL;
}

void tui_sink_wait(struct output_sink *s)
{
    struct tui *t = s->state;
    const struct timespec step = { 0, 20000000 };

    t->input_done = true;
    t->rebuild = true;
    t->next_keys = 0;
    t->next_draw = 0;
    tui_tick(s);
    while (t->active && !t->quit && !signals_stop_requested()) {
        nanosleep(&step, NULL);
        tui_tick(s);
    }
}

static void tui_start_colors(struct tui *t)
{
    if (!has_colors() || start_color() == ERR)
        return;
    use_default_colors();
    init_pair(TUI_PAIR_WARN, COLOR_RED, -1);
    init_pair(TUI_PAIR_OK, COLOR_GREEN, -1);
    init_pair(TUI_PAIR_BAR, COLOR_CYAN, -1);
    t->colors = true;
}

int tui_sink_open(struct output_sink *sink, const struct tui_options *opt, char *err,
                  size_t errlen)
{
    static bool registered;
    struct tui *t = calloc(1, sizeof(*t));

    if (!t) {
        snprintf(err, errlen, "out of memory for the terminal view");
        return -1;
    }
    /* Wide characters need the user's locale; numbers stay in C format. */
    setlocale(LC_ALL, "");
    setlocale(LC_NUMERIC, "C");
    t->utf8 = strcasecmp(nl_langinfo(CODESET), "UTF-8") == 0;
    snprintf(t->source, sizeof(t->source), "%s", opt->source ? opt->source : "");
    t->refresh_us = opt->refresh_us ? opt->refresh_us : 1000000;
    /* Without memory for the map, flows are still shown, only unnamed. */
    t->name_map = name_map_create(TUI_NAME_MAP_ENTRIES);
    t->names = true;
    /* Keys come from the terminal even when standard input is a capture. */
    t->tty_in = fopen("/dev/tty", "r");
    t->scr = newterm(NULL, stdout, t->tty_in ? t->tty_in : stdin);
    if (!t->scr) {
        const char *term = getenv("TERM");
        snprintf(err, errlen, "cannot start the terminal view (TERM=%s); use --no-tui or --json",
                 term ? term : "unset");
        if (t->tty_in)
            fclose(t->tty_in);
        free(t);
        return -1;
    }
    set_term(t->scr);
    t->active = true;
    tui_global = t;
    if (!registered) {
        atexit(tui_atexit);
        registered = true;
    }
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    tui_start_colors(t);
    tui_hold_stderr(t);
    t->next_draw = 0;

    sink->name = "tui";
    sink->state = t;
    sink->write_flow = tui_write_flow;
    sink->write_stats = tui_write_stats;
    sink->flush = NULL;
    sink->close = tui_close;
    sink->snapshot_begin = tui_snapshot_begin;
    sink->snapshot_flow = tui_snapshot_flow;
    sink->snapshot_end = tui_snapshot_end;
    sink->tick = tui_tick;
    tui_tick(sink);
    return 0;
}
