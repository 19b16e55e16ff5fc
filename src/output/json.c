/*
 * json.c: the JSON-lines output.
 *
 * Timestamps are epoch seconds with microsecond precision, printed from
 * integers so no floating-point rounding can change them.  Optional fields
 * (vlan, tunnel, TCP flags, ICMP type/code/id) appear only when they apply,
 * so a consumer can test for presence.
 */
#include "output/json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/l7_ndpi.h"
#include "analyze/tcp_state.h"
#include "output/community_id.h"
#include "output/writer.h"

/* Escaped cmdline bytes kept in a record, so it stays below JSON_RECORD_MAX. */
#define JSON_CMDLINE_MAX 640

struct json_state {
    struct writer w;
};

/* snprintf that never runs past the buffer and returns what it wrote. */
static size_t json_put(char *out, size_t outlen, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static size_t json_put(char *out, size_t outlen, size_t at, const char *fmt, ...)
{
    va_list ap;

    if (at >= outlen)
        return at;
    va_start(ap, fmt);
    int n = vsnprintf(out + at, outlen - at, fmt, ap);
    va_end(ap);
    if (n < 0)
        return at;
    return (size_t)n >= outlen - at ? outlen - 1 : at + (size_t)n;
}

static size_t json_put_time(char *out, size_t outlen, size_t at, const char *name, uint64_t us)
{
    return json_put(out, outlen, at, ",\"%s\":%" PRIu64 ".%06" PRIu64, name, us / 1000000,
                    us % 1000000);
}

/* ---- flow records -------------------------------------------------------
 *
 * One record per flow is the output's hot path (a third of the time of an
 * offline run went to vsnprintf), so flow records are built with plain
 * copies and a hand-rolled integer conversion instead of format strings.
 * The text is the same as printf would make; a full buffer stops writing
 * (records are far below JSON_RECORD_MAX).
 */
struct jbuf {
    char *out;
    size_t cap, n;      /* n < cap always: room for the terminating NUL */
};

static void jb_mem(struct jbuf *b, const char *s, size_t len)
{
    if (len >= b->cap - b->n)
        len = b->cap - b->n - 1;
    memcpy(b->out + b->n, s, len);
    b->n += len;
}

#define JB_LIT(b, lit) jb_mem((b), (lit), sizeof(lit) - 1)

static void jb_str(struct jbuf *b, const char *s)
{
    jb_mem(b, s, strlen(s));
}

/* Two digits per division: half the dependent multiply chains. */
static void jb_u64(struct jbuf *b, uint64_t v)
{
    static const char pairs[201] =
        "0001020304050607080910111213141516171819202122232425262728293031323334353637383940"
        "4142434445464748495051525354555657585960616263646566676869707172737475767778798081"
        "8283848586878889909192939495969798" "99";
    char tmp[20];
    size_t i = sizeof(tmp);

    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        tmp[--i] = pairs[d + 1];
        tmp[--i] = pairs[d];
    }
    if (v >= 10) {
        tmp[--i] = pairs[v * 2 + 1];
        tmp[--i] = pairs[v * 2];
    } else {
        tmp[--i] = (char)('0' + v);
    }
    jb_mem(b, tmp + i, sizeof(tmp) - i);
}

/* ,"key":value  (key given as a literal without quotes) */
#define JB_KEY_U64(b, key, v) do { JB_LIT((b), ",\"" key "\":"); jb_u64((b), (v)); } while (0)
#define JB_KEY_STR(b, key, s) \
    do { JB_LIT((b), ",\"" key "\":\""); jb_str((b), (s)); JB_LIT((b), "\""); } while (0)

/* Bytes from the wire or from a process (SNI, Host, comm, cmdline) as the
 * inside of a JSON string: quotes, backslashes, control bytes and bytes
 * above 0x7e are escaped (\u00XX, bytes read as Latin-1), so the line is
 * valid JSON whatever a peer or a process chose.  The escaped text stops
 * before `room` bytes; returns false when it was cut. */
static bool jb_escaped(struct jbuf *b, const char *s, size_t len, size_t room)
{
    static const char hex[] = "0123456789abcdef";
    size_t used = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
        size_t n = 1;
        if (c == '"' || c == '\\') {
            e[1] = (char)c;
            n = 2;
        } else if (c < 0x20 || c > 0x7e) {
            n = 6;
        } else {
            e[0] = (char)c;
        }
        if (used + n > room)
            return false;
        jb_mem(b, e, n);
        used += n;
    }
    return true;
}

/* The owning process (procs/), when attribution found one. */
static void jb_owner(struct jbuf *b, const struct flow_owner *o)
{
    if (o->pid <= 0)
        return;
    JB_KEY_U64(b, "pid", (uint64_t)o->pid);
    JB_LIT(b, ",\"process\":\"");
    (void)jb_escaped(b, o->comm, strlen(o->comm), 6 * NM_OWNER_COMM_MAX);
    JB_LIT(b, "\",\"cmdline\":\"");
    bool whole = jb_escaped(b, o->cmdline, strlen(o->cmdline), JSON_CMDLINE_MAX) &&
                 !o->cmdline_cut;
    JB_LIT(b, "\"");
    if (!whole)
        JB_LIT(b, ",\"cmdline_cut\":true");
}

/* Seconds with exactly six decimals, from integers. */
static void jb_time(struct jbuf *b, uint64_t us)
{
    char frac[7];
    uint64_t f = us % 1000000;

    jb_u64(b, us / 1000000);
    for (int i = 5; i >= 0; i--, f /= 10)
        frac[i + 1] = (char)('0' + f % 10);
    frac[0] = '.';
    jb_mem(b, frac, sizeof(frac));
}

static void jb_endpoints(struct jbuf *b, const struct flow_record *r)
{
    char a[64], z[64];

    record_format_addr(&r->addr[NM_DIR_SRC], r->ip_version, a, sizeof(a));
    record_format_addr(&r->addr[NM_DIR_DST], r->ip_version, z, sizeof(z));
    JB_KEY_STR(b, "src_ip", a);
    JB_KEY_U64(b, "src_port", r->port[NM_DIR_SRC]);
    JB_KEY_STR(b, "dst_ip", z);
    JB_KEY_U64(b, "dst_port", r->port[NM_DIR_DST]);
    JB_KEY_U64(b, "src_pkts", r->pkts[NM_DIR_SRC]);
    JB_KEY_U64(b, "src_bytes", r->bytes[NM_DIR_SRC]);
    JB_KEY_U64(b, "dst_pkts", r->pkts[NM_DIR_DST]);
    JB_KEY_U64(b, "dst_bytes", r->bytes[NM_DIR_DST]);
}

static void jb_l4(struct jbuf *b, const struct flow_record *r)
{
    char fs[9], fd[9];

    if (r->proto == 6) {
        record_format_tcp_flags(r->tcp_flags[NM_DIR_SRC], fs);
        record_format_tcp_flags(r->tcp_flags[NM_DIR_DST], fd);
        JB_KEY_STR(b, "tcp_flags_src", fs);
        JB_KEY_STR(b, "tcp_flags_dst", fd);
    }
    if (r->ports_unknown)
        JB_LIT(b, ",\"ports_unknown\":true");
    if (r->has_icmp) {
        JB_KEY_U64(b, "icmp_type", r->icmp_type);
        JB_KEY_U64(b, "icmp_code", r->icmp_code);
        if (r->icmp_is_echo)
            JB_KEY_U64(b, "icmp_id", r->icmp_id);
    }
}

/* "name":{"src":x,"dst":y} with only the legs that have samples. */
static void jb_rtt_legs(struct jbuf *b, const struct flow_tcp_summary *t, const char *name,
                        const uint32_t v[2])
{
    if (!t->rtt_samples[NM_DIR_SRC] && !t->rtt_samples[NM_DIR_DST])
        return;
    JB_LIT(b, ",\"");
    jb_str(b, name);
    JB_LIT(b, "\":{");
    if (t->rtt_samples[NM_DIR_SRC]) {
        JB_LIT(b, "\"src\":");
        jb_u64(b, v[NM_DIR_SRC]);
        if (t->rtt_samples[NM_DIR_DST])
            JB_LIT(b, ",");
    }
    if (t->rtt_samples[NM_DIR_DST]) {
        JB_LIT(b, "\"dst\":");
        jb_u64(b, v[NM_DIR_DST]);
    }
    JB_LIT(b, "}");
}

#define JB_PAIR(b, name, v) \
    do { JB_KEY_U64((b), "src_" name, (v)[0]); JB_KEY_U64((b), "dst_" name, (v)[1]); } while (0)

/* TCP analysis: state, Zeek summary, RTTs, anomaly counters (analyze/). */
static void jb_tcp(struct jbuf *b, const struct flow_record *r)
{
    const struct flow_tcp_summary *t = &r->tcp;

    if (!t->valid)
        return;
    JB_KEY_STR(b, "tcp_state", tcp_state_name((enum tcp_state)t->tcp_state));
    JB_KEY_STR(b, "conn_state", t->conn_state);
    JB_KEY_STR(b, "history", t->history);
    if (t->has_handshake_rtt) {
        JB_KEY_U64(b, "rtt_server_us", t->rtt_server_us);
        JB_KEY_U64(b, "rtt_client_us", t->rtt_client_us);
        JB_KEY_U64(b, "rtt_handshake_us", t->rtt_handshake_us);
    }
    jb_rtt_legs(b, t, "rtt_min_us", t->rtt_min_us);
    jb_rtt_legs(b, t, "rtt_avg_us", t->rtt_avg_us);
    jb_rtt_legs(b, t, "rtt_max_us", t->rtt_max_us);
    jb_rtt_legs(b, t, "rtt_last_us", t->rtt_last_us);
    JB_PAIR(b, "retrans", t->retrans);
    JB_PAIR(b, "out_of_order", t->out_of_order);
    JB_PAIR(b, "dup_acks", t->dup_acks);
    JB_PAIR(b, "zero_window", t->zero_window);
    JB_PAIR(b, "keepalives", t->keepalives);
    JB_PAIR(b, "rsts", t->rsts);
    if (t->wscale_unknown) {
        JB_LIT(b, ",\"wscale_unknown\":true");
    } else {
        JB_LIT(b, ",\"wscale_unknown\":false");
        JB_PAIR(b, "wscale", t->wscale);
    }
    JB_PAIR(b, "payload_bytes", t->payload_bytes);
    JB_KEY_U64(b, "missed_bytes", t->missed_bytes);
}

/* nDPI's label (analyze/l7_ndpi.c), once it has decided; names carry no
 * character that needs escaping (l7_ndpi copies them so). */
static void jb_app(struct jbuf *b, const struct flow_record *r)
{
    char app[2 * 48];

    if (r->app.state != FLOW_L7_DONE)
        return;
    l7_ndpi_app_name(&r->app, app, sizeof(app));
    JB_KEY_STR(b, "app", app);
    JB_KEY_STR(b, "category", l7_ndpi_category_name(&r->app));
    JB_KEY_STR(b, "app_confidence", l7_ndpi_confidence_name(&r->app));
}

/* ,"key":"text"  or, for list fields, ,"key":["a","b"] */
static void jb_l7_field(struct jbuf *b, const struct flow_l7_summary *l, enum nm_l7_field f,
                        const char *key, bool list)
{
    size_t len;
    const char *v = flow_l7_field(l, f, &len);

    if (!v)
        return;
    JB_LIT(b, ",\"");
    jb_str(b, key);
    jb_str(b, list ? "\":[\"" : "\":\"");
    for (size_t i = 0, start = 0; i <= len; i++) {
        if (i < len && !(list && v[i] == NM_L7_LIST_SEP))
            continue;
        (void)jb_escaped(b, v + start, i - start, SIZE_MAX);
        if (i < len)
            JB_LIT(b, "\",\"");
        start = i + 1;
    }
    jb_str(b, list ? "\"]" : "\"");
}

static const char *json_tls_version_name(uint16_t v)
{
    switch (v) {
    case 0x0300: return "SSLv3";
    case 0x0301: return "TLSv1.0";
    case 0x0302: return "TLSv1.1";
    case 0x0303: return "TLSv1.2";
    case 0x0304: return "TLSv1.3";
    default: return NULL;
    }
}

/* Application metadata from netmoon's own parsers (analyze/l7*.c). */
static void jb_l7(struct jbuf *b, const struct flow_l7_summary *l)
{
    const char *tls = json_tls_version_name(l->tls_version);

    if (l->proto == NM_L7_NONE)
        return;
    jb_l7_field(b, l, NM_L7_SNI, "sni", false);
    jb_l7_field(b, l, NM_L7_ALPN, "alpn", true);
    if (tls)
        JB_KEY_STR(b, "tls_version", tls);
    if (l->has_ja4) {
        JB_LIT(b, ",\"ja4\":\"");
        jb_mem(b, l->ja4, sizeof(l->ja4));
        JB_LIT(b, "\"");
    }
    jb_l7_field(b, l, NM_L7_HTTP_HOST, "http_host", false);
    jb_l7_field(b, l, NM_L7_HTTP_METHOD, "http_method", false);
    jb_l7_field(b, l, NM_L7_HTTP_PATH, "http_path", false);
    if (l->http_status)
        JB_KEY_U64(b, "http_status", l->http_status);
    jb_l7_field(b, l, NM_L7_DNS_QNAME, "dns_qname", false);
    if (l->has_dns_qtype)
        JB_KEY_U64(b, "dns_qtype", l->dns_qtype);
    if (l->has_dns_rcode)
        JB_KEY_U64(b, "dns_rcode", l->dns_rcode);
    jb_l7_field(b, l, NM_L7_DNS_ANSWERS, "dns_answers", true);
    jb_l7_field(b, l, NM_L7_SSH_CLIENT, "ssh_client", false);
    jb_l7_field(b, l, NM_L7_SSH_SERVER, "ssh_server", false);
}

size_t json_format_flow(const struct flow_record *r, char *out, size_t outlen)
{
    const char *proto = record_proto_name(r->proto);
    const char *tunnel = nm_tunnel_name((enum nm_tunnel)r->tunnel);
    uint64_t dur = r->ts_end_us >= r->ts_start_us ? r->ts_end_us - r->ts_start_us : 0;
    char cid[COMMUNITY_ID_LEN];
    struct jbuf b = { out, outlen, 0 };

    if (outlen == 0)
        return 0;
    JB_LIT(&b, "{\"type\":\"flow\",\"flow_id\":");
    jb_u64(&b, r->flow_id);
    JB_LIT(&b, ",\"ts_start\":");
    jb_time(&b, r->ts_start_us);
    JB_LIT(&b, ",\"ts_end\":");
    jb_time(&b, r->ts_end_us);
    JB_LIT(&b, ",\"duration\":");
    jb_time(&b, dur);
    if (proto)
        JB_KEY_STR(&b, "proto", proto);
    else
        JB_KEY_U64(&b, "proto", r->proto);
    JB_KEY_U64(&b, "ip_version", r->ip_version);
    if (r->vlan_id)
        JB_KEY_U64(&b, "vlan", r->vlan_id);
    if (tunnel)
        JB_KEY_STR(&b, "tunnel", tunnel);
    jb_endpoints(&b, r);
    jb_l4(&b, r);
    if (r->kernel_drops_seen)
        JB_KEY_U64(&b, "kernel_drops_seen", r->kernel_drops_seen);
    jb_tcp(&b, r);
    jb_app(&b, r);
    jb_l7(&b, &r->l7);
    jb_owner(&b, &r->owner);
    community_id_of_record(r, 0, cid);
    JB_KEY_STR(&b, "end_reason", flow_end_reason_name((enum flow_end_reason)r->end_reason));
    JB_KEY_STR(&b, "community_id", cid);
    JB_LIT(&b, "}\n");
    out[b.n] = '\0';
    return b.n;
}

static int json_write_flow(struct output_sink *s, const struct flow_record *r)
{
    struct json_state *st = s->state;
    char *p = writer_reserve(&st->w, JSON_RECORD_MAX);

    writer_commit(&st->w, json_format_flow(r, p, JSON_RECORD_MAX));
    return writer_failed(&st->w) ? -1 : 0;
}

/* "l7":{...}: parser and reassembly counters, every one, zero or not. */
static size_t json_format_l7_stats(const struct nm_l7_stats *l, char *out, size_t outlen, size_t n)
{
    return json_put(out, outlen, n,
                    ",\"l7\":{\"flows\":%" PRIu64 ",\"flows_refused\":%" PRIu64
                    ",\"streams_refused\":%" PRIu64 ",\"truncated\":%" PRIu64
                    ",\"budget_exhausted\":%" PRIu64 ",\"gap_abandoned\":%" PRIu64
                    ",\"malformed\":%" PRIu64 ",\"quic_decrypt_failed\":%" PRIu64
                    ",\"stream_files\":%" PRIu64 ",\"stream_write_errors\":%" PRIu64
                    ",\"reasm_gaps\":%" PRIu64 ",\"reasm_gap_bytes\":%" PRIu64
                    ",\"reasm_overlap_bytes\":%" PRIu64 ",\"reasm_refused_bytes\":%" PRIu64
                    ",\"reasm_out_of_window\":%" PRIu64 "}",
                    l->flows, l->flows_refused, l->streams_refused, l->truncated,
                    l->budget_exhausted, l->gap_abandoned, l->malformed, l->quic_decrypt_failed,
                    l->stream_files, l->stream_write_errors,
                    l->reasm_gaps, l->reasm_gap_bytes, l->reasm_overlap_bytes,
                    l->reasm_refused_bytes, l->reasm_out_of_window);
}

static size_t json_format_stats(const struct nm_stats *s, char *out, size_t outlen)
{
    const struct decode_stats *d = &s->decode;
    size_t n = 0;

    n = json_put(out, outlen, n, "{\"type\":\"stats\"");
    n = json_put_time(out, outlen, n, "ts", s->ts_us);
    n = json_put(out, outlen, n,
                 ",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"decoded\":%" PRIu64
                 ",\"non_ip\":%" PRIu64 ",\"fragments\":%" PRIu64 ",\"decapsulated\":%" PRIu64
                 ",\"decode_errors\":%" PRIu64 ",\"filtered_out\":%" PRIu64
                 ",\"flows_created\":%" PRIu64 ",\"flows_ended\":%" PRIu64
                 ",\"flows_active\":%" PRIu64 ",\"evictions\":%" PRIu64
                 ",\"kernel_packets\":%" PRIu64 ",\"kernel_drops\":%" PRIu64
                 ",\"kernel_freezes\":%" PRIu64 ",\"ring_malformed\":%" PRIu64
                 ",\"output_stalls\":%" PRIu64
                 ",\"ring_blocks_used\":%" PRIu64 ",\"ring_blocks_total\":%" PRIu64
                 ",\"l7_classifying\":%" PRIu64 ",\"l7_labelled\":%" PRIu64
                 ",\"l7_no_slot\":%" PRIu64 ",\"l7_packets_skipped\":%" PRIu64
                 ",\"pcap_written\":%" PRIu64 ",\"pcap_dropped\":%" PRIu64
                 ",\"ipfix_sent\":%" PRIu64 ",\"ipfix_lost\":%" PRIu64,
                 d->frames, d->bytes, d->decoded, d->non_ip, d->fragments, d->decapsulated,
                 decode_stats_errors(d), s->filtered_out, s->flows_created, s->flows_ended,
                 s->flows_active, s->evictions, s->kernel_packets, s->kernel_drops,
                 s->kernel_freezes, s->ring_malformed, s->output_stalls, s->ring_blocks_used, s->ring_blocks_total,
                 s->l7_classifying, s->l7_labelled, s->l7_no_slot, s->l7_packets_skipped,
                 s->pcap_written, s->pcap_dropped, s->ipfix_sent, s->ipfix_lost);
    n = json_format_l7_stats(&s->l7, out, outlen, n);
    if (s->procs_enabled) {
        n = json_put(out, outlen, n,
                     ",\"flows_attributed\":%" PRIu64 ",\"flows_unattributed\":%" PRIu64
                     ",\"procs_queue_drops\":%" PRIu64 ",\"procs_cache_evictions\":%" PRIu64,
                     s->flows_attributed, s->flows_unattributed, s->procs_queue_drops,
                     s->procs_cache_evictions);
        n = json_put(out, outlen, n, ",\"procs_source\":\"%s\",\"procs_bpf_hits\":%" PRIu64,
                     s->procs_bpf ? "bpf" : "sock_diag", s->procs_bpf_hits);
        if (!s->procs_bpf && s->procs_bpf_error[0] && n < outlen) {
            struct jbuf b = { out, outlen, n };
            JB_LIT(&b, ",\"procs_bpf_error\":\"");
            (void)jb_escaped(&b, s->procs_bpf_error, strlen(s->procs_bpf_error),
                             6 * sizeof(s->procs_bpf_error));
            JB_LIT(&b, "\"");
            n = b.n;
        }
    }
    n = json_put(out, outlen, n, ",\"decode\":{");
    const char *sep = "";
    for (int r = 0; r < DECODE_REASON_COUNT; r++) {
        if (!d->reasons[r])
            continue;
        n = json_put(out, outlen, n, "%s\"%s\":%" PRIu64, sep,
                     decode_reason_name((enum decode_reason)r), d->reasons[r]);
        sep = ",";
    }
    return json_put(out, outlen, n, "}}\n");
}

static int json_write_stats(struct output_sink *s, const struct nm_stats *stats)
{
    struct json_state *st = s->state;
    char *p = writer_reserve(&st->w, 4096);

    writer_commit(&st->w, json_format_stats(stats, p, 4096));
    return writer_failed(&st->w) ? -1 : 0;
}

static int json_flush(struct output_sink *s)
{
    struct json_state *st = s->state;

    writer_flush(&st->w);
    return writer_failed(&st->w) ? -1 : 0;
}

static void json_reopen(struct output_sink *s)
{
    struct json_state *st = s->state;

    writer_reopen(&st->w);
}

static void json_close(struct output_sink *s)
{
    struct json_state *st = s->state;

    if (!st)
        return;
    writer_close(&st->w);
    free(st);
    s->state = NULL;
}

int json_sink_open(struct output_sink *sink, const char *path, char *err, size_t errlen)
{
    struct json_state *st = calloc(1, sizeof(*st));

    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (writer_open(&st->w, path, true, err, errlen) != 0) {
        free(st);
        return -1;
    }
    memset(sink, 0, sizeof(*sink));
    sink->name = "json";
    sink->state = st;
    sink->write_flow = json_write_flow;
    sink->write_stats = json_write_stats;
    sink->flush = json_flush;
    sink->close = json_close;
    sink->reopen = json_reopen;
    return 0;
}
