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

#include "analyze/tcp_state.h"
#include "output/community_id.h"
#include "output/writer.h"

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

static size_t json_put_endpoints(const struct flow_record *r, char *out, size_t outlen, size_t n)
{
    char a[64], b[64];

    record_format_addr(&r->addr[NM_DIR_SRC], r->ip_version, a, sizeof(a));
    record_format_addr(&r->addr[NM_DIR_DST], r->ip_version, b, sizeof(b));
    return json_put(out, outlen, n,
                    ",\"src_ip\":\"%s\",\"src_port\":%u,\"dst_ip\":\"%s\",\"dst_port\":%u"
                    ",\"src_pkts\":%" PRIu64 ",\"src_bytes\":%" PRIu64
                    ",\"dst_pkts\":%" PRIu64 ",\"dst_bytes\":%" PRIu64,
                    a, r->port[NM_DIR_SRC], b, r->port[NM_DIR_DST], r->pkts[NM_DIR_SRC],
                    r->bytes[NM_DIR_SRC], r->pkts[NM_DIR_DST], r->bytes[NM_DIR_DST]);
}

static size_t json_put_l4(const struct flow_record *r, char *out, size_t outlen, size_t n)
{
    char fs[9], fd[9];

    if (r->proto == 6) {
        record_format_tcp_flags(r->tcp_flags[NM_DIR_SRC], fs);
        record_format_tcp_flags(r->tcp_flags[NM_DIR_DST], fd);
        n = json_put(out, outlen, n, ",\"tcp_flags_src\":\"%s\",\"tcp_flags_dst\":\"%s\"", fs, fd);
    }
    if (r->ports_unknown)
        n = json_put(out, outlen, n, ",\"ports_unknown\":true");
    if (r->has_icmp) {
        n = json_put(out, outlen, n, ",\"icmp_type\":%u,\"icmp_code\":%u", r->icmp_type,
                     r->icmp_code);
        if (r->icmp_is_echo)
            n = json_put(out, outlen, n, ",\"icmp_id\":%u", r->icmp_id);
    }
    return n;
}

/* "name":{"src":x,"dst":y} with only the legs that have samples. */
static size_t json_put_rtt_legs(const struct flow_tcp_summary *t, const char *name,
                                const uint32_t v[2], char *out, size_t outlen, size_t n)
{
    if (!t->rtt_samples[NM_DIR_SRC] && !t->rtt_samples[NM_DIR_DST])
        return n;
    n = json_put(out, outlen, n, ",\"%s\":{", name);
    if (t->rtt_samples[NM_DIR_SRC])
        n = json_put(out, outlen, n, "\"src\":%u%s", v[NM_DIR_SRC],
                     t->rtt_samples[NM_DIR_DST] ? "," : "");
    if (t->rtt_samples[NM_DIR_DST])
        n = json_put(out, outlen, n, "\"dst\":%u", v[NM_DIR_DST]);
    return json_put(out, outlen, n, "}");
}

#define JSON_PAIR(name) ",\"src_" name "\":%u,\"dst_" name "\":%u"

/* TCP analysis: state, Zeek summary, RTTs, anomaly counters (analyze/). */
static size_t json_put_tcp(const struct flow_record *r, char *out, size_t outlen, size_t n)
{
    const struct flow_tcp_summary *t = &r->tcp;

    if (!t->valid)
        return n;
    n = json_put(out, outlen, n,
                 ",\"tcp_state\":\"%s\",\"conn_state\":\"%s\",\"history\":\"%s\"",
                 tcp_state_name((enum tcp_state)t->tcp_state), t->conn_state, t->history);
    if (t->has_handshake_rtt)
        n = json_put(out, outlen, n,
                     ",\"rtt_server_us\":%u,\"rtt_client_us\":%u,\"rtt_handshake_us\":%u",
                     t->rtt_server_us, t->rtt_client_us, t->rtt_handshake_us);
    n = json_put_rtt_legs(t, "rtt_min_us", t->rtt_min_us, out, outlen, n);
    n = json_put_rtt_legs(t, "rtt_avg_us", t->rtt_avg_us, out, outlen, n);
    n = json_put_rtt_legs(t, "rtt_max_us", t->rtt_max_us, out, outlen, n);
    n = json_put_rtt_legs(t, "rtt_last_us", t->rtt_last_us, out, outlen, n);
    n = json_put(out, outlen, n,
                 JSON_PAIR("retrans") JSON_PAIR("out_of_order") JSON_PAIR("dup_acks")
                 JSON_PAIR("zero_window") JSON_PAIR("keepalives") JSON_PAIR("rsts"),
                 t->retrans[0], t->retrans[1], t->out_of_order[0], t->out_of_order[1],
                 t->dup_acks[0], t->dup_acks[1], t->zero_window[0], t->zero_window[1],
                 t->keepalives[0], t->keepalives[1], t->rsts[0], t->rsts[1]);
    if (t->wscale_unknown)
        n = json_put(out, outlen, n, ",\"wscale_unknown\":true");
    else
        n = json_put(out, outlen, n, ",\"wscale_unknown\":false,\"src_wscale\":%u,\"dst_wscale\":%u",
                     t->wscale[NM_DIR_SRC], t->wscale[NM_DIR_DST]);
    return json_put(out, outlen, n,
                    ",\"src_payload_bytes\":%" PRIu64 ",\"dst_payload_bytes\":%" PRIu64
                    ",\"missed_bytes\":%" PRIu64,
                    t->payload_bytes[NM_DIR_SRC], t->payload_bytes[NM_DIR_DST], t->missed_bytes);
}

size_t json_format_flow(const struct flow_record *r, char *out, size_t outlen)
{
    const char *proto = record_proto_name(r->proto);
    const char *tunnel = nm_tunnel_name((enum nm_tunnel)r->tunnel);
    uint64_t dur = r->ts_end_us >= r->ts_start_us ? r->ts_end_us - r->ts_start_us : 0;
    char cid[COMMUNITY_ID_LEN];
    size_t n = 0;

    n = json_put(out, outlen, n, "{\"type\":\"flow\",\"flow_id\":%" PRIu64, r->flow_id);
    n = json_put_time(out, outlen, n, "ts_start", r->ts_start_us);
    n = json_put_time(out, outlen, n, "ts_end", r->ts_end_us);
    n = json_put_time(out, outlen, n, "duration", dur);
    if (proto)
        n = json_put(out, outlen, n, ",\"proto\":\"%s\"", proto);
    else
        n = json_put(out, outlen, n, ",\"proto\":%u", r->proto);
    n = json_put(out, outlen, n, ",\"ip_version\":%u", r->ip_version);
    if (r->vlan_id)
        n = json_put(out, outlen, n, ",\"vlan\":%u", r->vlan_id);
    if (tunnel)
        n = json_put(out, outlen, n, ",\"tunnel\":\"%s\"", tunnel);
    n = json_put_endpoints(r, out, outlen, n);
    n = json_put_l4(r, out, outlen, n);
    if (r->kernel_drops_seen)
        n = json_put(out, outlen, n, ",\"kernel_drops_seen\":%" PRIu64, r->kernel_drops_seen);
    n = json_put_tcp(r, out, outlen, n);
    community_id_of_record(r, 0, cid);
    n = json_put(out, outlen, n, ",\"end_reason\":\"%s\",\"community_id\":\"%s\"}\n",
                 flow_end_reason_name((enum flow_end_reason)r->end_reason), cid);
    return n;
}

static int json_write_flow(struct output_sink *s, const struct flow_record *r)
{
    struct json_state *st = s->state;
    char *p = writer_reserve(&st->w, JSON_RECORD_MAX);

    writer_commit(&st->w, json_format_flow(r, p, JSON_RECORD_MAX));
    return writer_ok(&st->w) ? 0 : -1;
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
                 ",\"kernel_freezes\":%" PRIu64 ",\"output_stalls\":%" PRIu64
                 ",\"ring_blocks_used\":%" PRIu64 ",\"ring_blocks_total\":%" PRIu64 ",\"decode\":{",
                 d->frames, d->bytes, d->decoded, d->non_ip, d->fragments, d->decapsulated,
                 decode_stats_errors(d), s->filtered_out, s->flows_created, s->flows_ended,
                 s->flows_active, s->evictions, s->kernel_packets, s->kernel_drops,
                 s->kernel_freezes, s->output_stalls, s->ring_blocks_used, s->ring_blocks_total);
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
    return writer_ok(&st->w) ? 0 : -1;
}

static int json_flush(struct output_sink *s)
{
    struct json_state *st = s->state;
    return writer_flush(&st->w);
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
    return 0;
}
