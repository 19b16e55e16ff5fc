/*
 * tui_format.c: see tui_format.h.
 */
#include "output/tui_format.h"

#include "analyze/tcp_state.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* snprintf that clamps, so lengths can be chained safely. */
static size_t tui_put(char *out, size_t outlen, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static size_t tui_put(char *out, size_t outlen, size_t at, const char *fmt, ...)
{
    va_list ap;

    if (outlen == 0 || at >= outlen)
        return at;
    va_start(ap, fmt);
    int n = vsnprintf(out + at, outlen - at, fmt, ap);
    va_end(ap);
    if (n < 0)
        return at;
    return (size_t)n >= outlen - at ? outlen - 1 : at + (size_t)n;
}

/* value scaled by 1000s with the unit prefix; 3 significant digits. */
static size_t tui_fmt_si(double v, const char *suffix, bool integral_small, char *out,
                         size_t outlen)
{
    static const char *const prefix[] = { "", "k", "M", "G", "T", "P", "E" };
    unsigned p = 0;

    if (!(v > 0))
        return tui_put(out, outlen, 0, "0 %s", suffix);
    while (v >= 999.5 && p < 6) {
        v /= 1000.0;
        p++;
    }
    if (p == 0 && integral_small)
        return tui_put(out, outlen, 0, "%.0f %s", v, suffix);
    if (v < 9.995)
        return tui_put(out, outlen, 0, "%.2f %s%s", v, prefix[p], suffix);
    if (v < 99.95)
        return tui_put(out, outlen, 0, "%.1f %s%s", v, prefix[p], suffix);
    return tui_put(out, outlen, 0, "%.0f %s%s", v, prefix[p], suffix);
}

size_t tui_fmt_bytes(uint64_t bytes, char *out, size_t outlen)
{
    if (bytes < 1000)
        return tui_put(out, outlen, 0, "%u B", (unsigned)bytes);
    /* Two significant digits below 10 units, like the seed's "1.2 MB". */
    double v = (double)bytes;
    static const char *const prefix[] = { "k", "M", "G", "T", "P", "E" };
    unsigned p = 0;
    v /= 1000.0;
    while (v >= 999.5 && p < 5) {
        v /= 1000.0;
        p++;
    }
    if (v < 9.95)
        return tui_put(out, outlen, 0, "%.1f %sB", v, prefix[p]);
    return tui_put(out, outlen, 0, "%.0f %sB", v, prefix[p]);
}

size_t tui_fmt_bits(double bits_per_s, char *out, size_t outlen)
{
    return tui_fmt_si(bits_per_s, "b/s", true, out, outlen);
}

size_t tui_fmt_count(uint64_t n, char *out, size_t outlen)
{
    static const char *const suffix[] = { "k", "M", "G", "T", "P", "E" };
    double v = (double)n;
    unsigned p = 0;

    if (n < 1000)
        return tui_put(out, outlen, 0, "%u", (unsigned)n);
    v /= 1000.0;
    while (v >= 999.5 && p < 5) {
        v /= 1000.0;
        p++;
    }
    if (v < 9.95)
        return tui_put(out, outlen, 0, "%.1f%s", v, suffix[p]);
    return tui_put(out, outlen, 0, "%.0f%s", v, suffix[p]);
}

size_t tui_fmt_age(uint64_t us, char *out, size_t outlen)
{
    uint64_t s = us / 1000000u;

    if (s < 60)
        return tui_put(out, outlen, 0, "%us", (unsigned)s);
    if (s < 3600)
        return tui_put(out, outlen, 0, "%um%02us", (unsigned)(s / 60), (unsigned)(s % 60));
    if (s < 86400)
        return tui_put(out, outlen, 0, "%uh%02um", (unsigned)(s / 3600),
                       (unsigned)(s % 3600 / 60));
    return tui_put(out, outlen, 0, "%llud%02uh", (unsigned long long)(s / 86400),
                   (unsigned)(s % 86400 / 3600));
}

size_t tui_fmt_rtt(uint32_t us, char *out, size_t outlen)
{
    if (us == 0)
        return tui_put(out, outlen, 0, "-");
    if (us < 1000)
        return tui_put(out, outlen, 0, "%uus", (unsigned)us);
    if (us < 9950)
        return tui_put(out, outlen, 0, "%.1fms", us / 1000.0);
    if (us < 999500)
        return tui_put(out, outlen, 0, "%.0fms", us / 1000.0);
    return tui_put(out, outlen, 0, "%.1fs", us / 1e6);
}

uint32_t tui_flow_rtt_us(const struct flow_record *r)
{
    const struct flow_tcp_summary *t = &r->tcp;

    if (!t->valid)
        return 0;
    if (t->rtt_samples[NM_DIR_SRC] && t->rtt_samples[NM_DIR_DST])
        return t->rtt_last_us[NM_DIR_SRC] + t->rtt_last_us[NM_DIR_DST];
    return t->has_handshake_rtt ? t->rtt_handshake_us : 0;
}

size_t tui_fmt_bar(double value, double max, unsigned width, bool utf8, char *out,
                   size_t outlen)
{
    const char *full = utf8 ? "\u2588" : "#", *empty = utf8 ? "\u2591" : ".";
    unsigned filled = 0;
    size_t n = 0;

    if (value > 0 && max > 0) {
        double frac = value >= max ? 1.0 : value / max;
        filled = (unsigned)lround(frac * width);
        if (filled == 0)
            filled = 1;
    }
    if (outlen)
        out[0] = '\0';
    for (unsigned i = 0; i < width; i++)
        n = tui_put(out, outlen, n, "%s", i < filled ? full : empty);
    return n;
}

size_t tui_fmt_endpoint(const struct nm_addr *a, uint8_t ip_version, uint16_t port,
                        bool with_port, char *out, size_t outlen)
{
    char addr[64];

    record_format_addr(a, ip_version, addr, sizeof(addr));
    if (!with_port)
        return tui_put(out, outlen, 0, "%s", addr);
    if (ip_version == 6)
        return tui_put(out, outlen, 0, "[%s]:%u", addr, port);
    return tui_put(out, outlen, 0, "%s:%u", addr, port);
}

/* TCP flag bits as the header has them (RFC 9293 §3.1). */
enum { TUI_FIN = 0x01, TUI_SYN = 0x02, TUI_RST = 0x04, TUI_ACK = 0x10 };

/*
 * The tracker's state (src/analyze/tcp_state.c) when the flow was
 * analysed.  Otherwise (a record built without the analyzer) a guess from
 * the OR of the flags each side sent, which cannot know their order.
 */
static const char *tui_tcp_state(const struct flow_record *r)
{
    uint8_t s = r->tcp_flags[NM_DIR_SRC], d = r->tcp_flags[NM_DIR_DST];

    if (r->tcp.valid)
        return tcp_state_name((enum tcp_state)r->tcp.tcp_state);

    if (r->end_reason == FLOW_END_RST || ((s | d) & TUI_RST))
        return "RESET";
    if (r->end_reason == FLOW_END_FIN)
        return "CLOSED";
    if ((s & TUI_FIN) && (d & TUI_FIN))
        return "CLOSING";
    if ((s | d) & TUI_FIN)
        return "FIN_WAIT";
    if ((s & TUI_SYN) && !(d & TUI_SYN))
        return "SYN_SENT";
    if ((s & TUI_SYN) && (d & TUI_SYN) && !(s & TUI_ACK))
        return "SYN_RECV";
    if ((s | d) & TUI_ACK)
        return "ESTABLISHED";       /* also a connection picked up mid-stream */
    return "UNKNOWN";
}

const char *tui_flow_state(const struct flow_record *r, char *buf, size_t buflen)
{
    switch (r->proto) {
    case 6: return tui_tcp_state(r);
    case 17: return "UDP";
    case 1: return "ICMP";
    case 58: return "ICMPv6";
    case 132: return "SCTP";
    default:
        tui_put(buf, buflen, 0, "proto %u", r->proto);
        return buf;
    }
}

size_t tui_utf8_cols(const char *s)
{
    size_t cols = 0;

    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            cols++;
    return cols;
}

double tui_ema(double avg, double inst, double dt_s, double tau_s)
{
    if (!(dt_s > 0))
        return avg;
    double alpha = 1.0 - exp(-dt_s / tau_s);
    return avg + alpha * (inst - avg);
}

unsigned tui_endpoint_cols(unsigned cols, bool with_process)
{
    unsigned fixed = TUI_FIXED_COLS + (with_process ? TUI_PROCESS_COLS : 0);

    if (cols <= fixed + TUI_MIN_ENDPOINT_COLS)
        return TUI_MIN_ENDPOINT_COLS;
    unsigned ep = cols - fixed;
    /* Wider than the longest IPv6 pair needs only adds a gap. */
    return ep > 110 ? 110 : ep;
}

/* Copies s, cut or padded to exactly `cols` display columns. */
static size_t tui_put_cols(char *out, size_t outlen, size_t at, const char *s, unsigned cols,
                           bool utf8)
{
    size_t have = tui_utf8_cols(s);

    if (have <= cols) {
        at = tui_put(out, outlen, at, "%s", s);
        for (size_t i = have; i < cols; i++)
            at = tui_put(out, outlen, at, " ");
        return at;
    }
    /* Cut at a character boundary, one column short, then the ellipsis. */
    size_t used = 0, bytes = 0;
    while (s[bytes] && used < (size_t)cols - 1) {
        bytes++;
        while (((unsigned char)s[bytes] & 0xC0) == 0x80)
            bytes++;
        used++;
    }
    at = tui_put(out, outlen, at, "%.*s", (int)bytes, s);
    return tui_put(out, outlen, at, "%s", utf8 ? "\u2026" : "~");
}

/* Right-aligns s in cols columns after one space. */
static size_t tui_put_right(char *out, size_t outlen, size_t at, const char *s, unsigned cols)
{
    size_t have = tui_utf8_cols(s);

    at = tui_put(out, outlen, at, " ");
    for (size_t i = have; i < cols; i++)
        at = tui_put(out, outlen, at, " ");
    return tui_put(out, outlen, at, "%s", s);
}

/* Column widths right of the endpoints; they add up to TUI_FIXED_COLS
 * (each has one leading space). */
enum {
    TUI_W_TOTAL = 8, TUI_W_RATE = 10, TUI_W_PKTS = 7, TUI_W_RTT = 6, TUI_W_RETR = 7,
    TUI_W_PROC = 16, TUI_W_APP = 10, TUI_W_AGE = 6,
};

size_t tui_fmt_process(const struct flow_owner *o, char *out, size_t outlen)
{
    if (o->pid <= 0) {
        if (outlen)
            out[0] = '\0';
        return 0;
    }
    return tui_put(out, outlen, 0, "%s/%d", o->comm, (int)o->pid);
}

size_t tui_fmt_row(const struct tui_row *row, unsigned endpoint_cols, bool utf8, char *out,
                   size_t outlen)
{
    const struct flow_record *r = row->rec;
    bool ports = r->proto == 6 || r->proto == 17 || r->proto == 132;
    char a[80], b[80], ep[256], t[32], bar[64], up[32], down[32], pk[32], age[32];
    char rtt[16], retr[16] = "-";
    size_t n = 0;

    tui_fmt_endpoint(&r->addr[NM_DIR_SRC], r->ip_version, r->port[NM_DIR_SRC], ports, a,
                     sizeof(a));
    tui_fmt_endpoint(&r->addr[NM_DIR_DST], r->ip_version, r->port[NM_DIR_DST], ports, b,
                     sizeof(b));
    snprintf(ep, sizeof(ep), "%s %s %s (%s)", a, utf8 ? "\u2192" : "->", b, row->state);
    tui_fmt_bytes(r->bytes[NM_DIR_SRC] + r->bytes[NM_DIR_DST], t, sizeof(t));
    tui_fmt_bar(row->rate_up + row->rate_down, row->bar_max, TUI_BAR_WIDTH, utf8, bar,
                sizeof(bar));
    tui_fmt_bits(row->rate_up * 8.0, up, sizeof(up));
    tui_fmt_bits(row->rate_down * 8.0, down, sizeof(down));
    tui_fmt_count(r->pkts[NM_DIR_SRC] + r->pkts[NM_DIR_DST], pk, sizeof(pk));
    tui_fmt_age(row->age_us, age, sizeof(age));
    tui_fmt_rtt(tui_flow_rtt_us(r), rtt, sizeof(rtt));
    if (r->tcp.valid)
        tui_fmt_count((uint64_t)r->tcp.retrans[NM_DIR_SRC] + r->tcp.retrans[NM_DIR_DST], retr,
                      sizeof(retr));

    if (outlen)
        out[0] = '\0';
    n = tui_put_cols(out, outlen, n, ep, endpoint_cols, utf8);
    n = tui_put_right(out, outlen, n, t, TUI_W_TOTAL);
    n = tui_put(out, outlen, n, " %s", bar);
    n = tui_put_right(out, outlen, n, up, TUI_W_RATE);
    n = tui_put_right(out, outlen, n, down, TUI_W_RATE);
    n = tui_put_right(out, outlen, n, pk, TUI_W_PKTS);
    n = tui_put_right(out, outlen, n, rtt, TUI_W_RTT);
    n = tui_put_right(out, outlen, n, retr, TUI_W_RETR);
    if (row->process) {
        n = tui_put(out, outlen, n, " ");
        n = tui_put_cols(out, outlen, n, row->process[0] ? row->process : "-", TUI_W_PROC, utf8);
    }
    n = tui_put(out, outlen, n, " ");
    n = tui_put_cols(out, outlen, n, row->name ? row->name : "-", TUI_W_APP, utf8);
    return tui_put_right(out, outlen, n, age, TUI_W_AGE);
}

size_t tui_fmt_titles(unsigned endpoint_cols, bool utf8, bool with_process, char *out,
                      size_t outlen)
{
    char ep[96];
    size_t n = 0;

    snprintf(ep, sizeof(ep), "SRC:PORT %s DST:PORT (STATE)", utf8 ? "\u2192" : "->");
    if (outlen)
        out[0] = '\0';
    n = tui_put_cols(out, outlen, n, ep, endpoint_cols, utf8);
    n = tui_put_right(out, outlen, n, "TOTAL", TUI_W_TOTAL);
    n = tui_put(out, outlen, n, " %-*s", TUI_BAR_WIDTH, "RATE");
    n = tui_put_right(out, outlen, n, utf8 ? "RATE\u2191" : "RATE^", TUI_W_RATE);
    n = tui_put_right(out, outlen, n, utf8 ? "RATE\u2193" : "RATEv", TUI_W_RATE);
    n = tui_put_right(out, outlen, n, "PKTS", TUI_W_PKTS);
    n = tui_put_right(out, outlen, n, "RTT", TUI_W_RTT);
    n = tui_put_right(out, outlen, n, "RETRANS", TUI_W_RETR);
    if (with_process)
        n = tui_put(out, outlen, n, " %-*s", TUI_W_PROC, "PROCESS");
    n = tui_put(out, outlen, n, " %-*s", TUI_W_APP, "APP/NAME");
    return tui_put_right(out, outlen, n, "AGE", TUI_W_AGE);
}

/* ---- group by process ------------------------------------------------------ */

enum { TUI_W_GROUP = 24, TUI_W_FLOWS = 6 };

void tui_group_add(struct tui_group *groups, uint32_t *n, const struct flow_record *r,
                   double rate_up, double rate_down)
{
    int32_t pid = r->owner.pid > 0 ? r->owner.pid : 0;
    struct tui_group *g = NULL;

    for (uint32_t i = 0; i < *n && !g; i++)
        if (groups[i].pid == pid)
            g = &groups[i];
    if (!g && *n < TUI_GROUPS_MAX - 1) {
        g = &groups[(*n)++];
        memset(g, 0, sizeof(*g));
        g->pid = pid;
        snprintf(g->comm, sizeof(g->comm), "%s", pid ? r->owner.comm : "");
    }
    for (uint32_t i = 0; i < *n && !g; i++)
        if (groups[i].pid == -1)
            g = &groups[i];
    if (!g) {
        /* The last slot is kept for this. */
        g = &groups[(*n)++];
        memset(g, 0, sizeof(*g));
        g->pid = -1;
    }
    g->flows++;
    g->bytes += r->bytes[NM_DIR_SRC] + r->bytes[NM_DIR_DST];
    g->pkts += r->pkts[NM_DIR_SRC] + r->pkts[NM_DIR_DST];
    g->rate_up += rate_up;
    g->rate_down += rate_down;
}

static int tui_group_cmp(const void *pa, const void *pb)
{
    const struct tui_group *a = pa, *b = pb;
    double ra = a->rate_up + a->rate_down, rb = b->rate_up + b->rate_down;

    if (ra != rb)
        return ra < rb ? 1 : -1;
    if (a->bytes != b->bytes)
        return a->bytes < b->bytes ? 1 : -1;
    return (a->pid > b->pid) - (a->pid < b->pid);
}

void tui_group_sort(struct tui_group *groups, uint32_t n)
{
    if (n > 1)
        qsort(groups, n, sizeof(*groups), tui_group_cmp);
}

size_t tui_fmt_group_row(const struct tui_group *g, double bar_max, bool utf8, char *out,
                         size_t outlen)
{
    char name[40], flows[16], t[32], bar[64], up[32], down[32], pk[32];
    size_t n = 0;

    if (g->pid > 0)
        snprintf(name, sizeof(name), "%s/%d", g->comm, (int)g->pid);
    else
        snprintf(name, sizeof(name), "%s", g->pid == 0 ? "- (no owner)" : "(more)");
    snprintf(flows, sizeof(flows), "%u", g->flows);
    tui_fmt_bytes(g->bytes, t, sizeof(t));
    tui_fmt_bar(g->rate_up + g->rate_down, bar_max, TUI_BAR_WIDTH, utf8, bar, sizeof(bar));
    tui_fmt_bits(g->rate_up * 8.0, up, sizeof(up));
    tui_fmt_bits(g->rate_down * 8.0, down, sizeof(down));
    tui_fmt_count(g->pkts, pk, sizeof(pk));
    if (outlen)
        out[0] = '\0';
    n = tui_put_cols(out, outlen, n, name, TUI_W_GROUP, utf8);
    n = tui_put_right(out, outlen, n, flows, TUI_W_FLOWS);
    n = tui_put_right(out, outlen, n, t, TUI_W_TOTAL);
    n = tui_put(out, outlen, n, " %s", bar);
    n = tui_put_right(out, outlen, n, up, TUI_W_RATE);
    n = tui_put_right(out, outlen, n, down, TUI_W_RATE);
    return tui_put_right(out, outlen, n, pk, TUI_W_PKTS);
}

size_t tui_fmt_group_titles(bool utf8, char *out, size_t outlen)
{
    size_t n = 0;

    if (outlen)
        out[0] = '\0';
    n = tui_put_cols(out, outlen, n, "PROCESS/PID", TUI_W_GROUP, utf8);
    n = tui_put_right(out, outlen, n, "FLOWS", TUI_W_FLOWS);
    n = tui_put_right(out, outlen, n, "TOTAL", TUI_W_TOTAL);
    n = tui_put(out, outlen, n, " %-*s", TUI_BAR_WIDTH, "RATE");
    n = tui_put_right(out, outlen, n, utf8 ? "RATE\u2191" : "RATE^", TUI_W_RATE);
    n = tui_put_right(out, outlen, n, utf8 ? "RATE\u2193" : "RATEv", TUI_W_RATE);
    return tui_put_right(out, outlen, n, "PKTS", TUI_W_PKTS);
}
