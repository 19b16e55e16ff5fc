/*
 * ipfix.c: the IPFIX exporter (RFC 7011 message format, RFC 7012 / IANA
 * information elements), over UDP.
 *
 * Each flow record becomes up to two unidirectional data records, one per
 * direction that carried packets, rather than one RFC 5103 biflow record.
 * Tested against Debian's nfcapd/nfdump 1.7.1: it reads reverse (PEN
 * 29305) counters and adds them into its overall summary, but its
 * per-record packet/byte fields, its per-protocol totals (nfdump -I) and
 * every statistic built on them (nfdump -s) count only the forward
 * direction, so biflows would halve what most reports show.  Two records
 * are what nfdump, softflowd and every NetFlow-era collector account
 * correctly.
 *
 * Octets are IP-layer bytes (octetDeltaCount, RFC 7012 5.10.1).  Counts
 * are deltas: an interim (--active-timeout) record covers what came since
 * the previous one.  Both directions carry the flow's start and end times.
 * ICMP type and code go in destinationTransportPort as type * 256 + code,
 * where NetFlow collectors look for them.
 *
 * Over UDP the templates go first in the first message and again every
 * IPFIX_TEMPLATE_EVERY_S seconds and every IPFIX_TEMPLATE_EVERY_MSGS
 * messages, so a collector started (or restarted) later learns them
 * (RFC 7011 8.4).  The sequence number counts data records, including
 * those of messages that could not be sent, so the collector sees the gap.
 */
#include "output/ipfix.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/hostport.h"

#define IPFIX_VERSION 10
#define IPFIX_SET_TEMPLATE 2
#define IPFIX_TEMPLATE_EVERY_S 30
#define IPFIX_TEMPLATE_EVERY_MSGS 256u

/* IANA information element ids (https://www.iana.org/assignments/ipfix). */
enum {
    IE_OCTET_DELTA = 1, IE_PACKET_DELTA = 2, IE_PROTOCOL = 4, IE_TCP_FLAGS = 6,
    IE_SRC_PORT = 7, IE_SRC_V4 = 8, IE_DST_PORT = 11, IE_DST_V4 = 12, IE_SRC_V6 = 27,
    IE_DST_V6 = 28, IE_FLOW_END_REASON = 136, IE_START_MS = 152, IE_END_MS = 153,
};

struct ipfix_field { uint16_t id, len; };

#define IPFIX_COMMON_FIELDS                                                    \
    { IE_SRC_PORT, 2 }, { IE_DST_PORT, 2 }, { IE_PROTOCOL, 1 },              \
    { IE_TCP_FLAGS, 2 }, { IE_PACKET_DELTA, 8 }, { IE_OCTET_DELTA, 8 },       \
    { IE_START_MS, 8 }, { IE_END_MS, 8 }, { IE_FLOW_END_REASON, 1 }

static const struct ipfix_field ipfix_fields_v4[] = {
    { IE_SRC_V4, 4 }, { IE_DST_V4, 4 }, IPFIX_COMMON_FIELDS,
};
static const struct ipfix_field ipfix_fields_v6[] = {
    { IE_SRC_V6, 16 }, { IE_DST_V6, 16 }, IPFIX_COMMON_FIELDS,
};
#define IPFIX_NFIELDS (sizeof(ipfix_fields_v4) / sizeof(ipfix_fields_v4[0]))
/* Fixed part after the addresses: ports, protocol, flags, counts, times, reason. */
#define IPFIX_RECORD_TAIL (2 + 2 + 1 + 2 + 8 + 8 + 8 + 8 + 1)

static void ipfix_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void ipfix_put32(uint8_t *p, uint32_t v)
{
    ipfix_put16(p, (uint16_t)(v >> 16));
    ipfix_put16(p + 2, (uint16_t)v);
}
static void ipfix_put64(uint8_t *p, uint64_t v)
{
    ipfix_put32(p, (uint32_t)(v >> 32));
    ipfix_put32(p + 4, (uint32_t)v);
}

static void ipfix_put_template(struct ipfix_encoder *e, uint16_t id, const struct ipfix_field *f)
{
    ipfix_put16(e->buf + e->len, id);
    ipfix_put16(e->buf + e->len + 2, (uint16_t)IPFIX_NFIELDS);
    e->len += 4;
    for (size_t i = 0; i < IPFIX_NFIELDS; i++, e->len += 4) {
        ipfix_put16(e->buf + e->len, f[i].id);
        ipfix_put16(e->buf + e->len + 2, f[i].len);
    }
}

void ipfix_encoder_begin(struct ipfix_encoder *e, bool with_templates)
{
    e->len = 16;               /* the message header, written by finish */
    e->set_at = 0;
    e->records = 0;
    if (!with_templates)
        return;
    size_t set = e->len;
    e->len += 4;
    ipfix_put_template(e, IPFIX_TEMPLATE_V4, ipfix_fields_v4);
    ipfix_put_template(e, IPFIX_TEMPLATE_V6, ipfix_fields_v6);
    ipfix_put16(e->buf + set, IPFIX_SET_TEMPLATE);
    ipfix_put16(e->buf + set + 2, (uint16_t)(e->len - set));
}

static void ipfix_close_set(struct ipfix_encoder *e)
{
    if (e->set_at)
        ipfix_put16(e->buf + e->set_at + 2, (uint16_t)(e->len - e->set_at));
    e->set_at = 0;
}

/* RFC 7011 flowEndReason: 1 idle, 2 active, 3 end detected, 4 forced, 5 lack of resources. */
static uint8_t ipfix_end_reason(uint8_t why)
{
    switch (why) {
    case FLOW_END_IDLE: return 1;
    case FLOW_END_ACTIVE: return 2;
    case FLOW_END_FIN: case FLOW_END_RST: return 3;
    case FLOW_END_EVICTED: return 5;
    default: return 4;
    }
}

static void ipfix_put_direction(struct ipfix_encoder *e, const struct flow_record *r, int d)
{
    size_t alen = r->ip_version == 4 ? 4 : 16, off = r->ip_version == 4 ? 12 : 0;
    uint8_t *p = e->buf + e->len;
    uint16_t sport = r->port[d], dport = r->port[!d];

    if (r->has_icmp) {
        int sender = r->icmp_first_from_dst ? NM_DIR_DST : NM_DIR_SRC;
        sport = 0;
        dport = d == sender ? (uint16_t)(r->icmp_type << 8 | r->icmp_code) : 0;
    }
    memcpy(p, r->addr[d].b + off, alen);
    memcpy(p + alen, r->addr[!d].b + off, alen);
    p += 2 * alen;
    ipfix_put16(p, sport);
    ipfix_put16(p + 2, dport);
    p[4] = r->proto;
    ipfix_put16(p + 5, r->tcp_flags[d]);
    ipfix_put64(p + 7, r->pkts[d]);
    ipfix_put64(p + 15, r->ip_bytes[d]);
    ipfix_put64(p + 23, r->ts_start_us / 1000);
    ipfix_put64(p + 31, r->ts_end_us / 1000);
    p[39] = ipfix_end_reason(r->end_reason);
    e->len += 2 * alen + IPFIX_RECORD_TAIL;
    e->records++;
}

bool ipfix_encoder_add_flow(struct ipfix_encoder *e, const struct flow_record *r)
{
    uint16_t tid = r->ip_version == 4 ? IPFIX_TEMPLATE_V4 : IPFIX_TEMPLATE_V6;
    size_t rec_len = (r->ip_version == 4 ? 8 : 32) + IPFIX_RECORD_TAIL;
    size_t need = 2 * rec_len + (e->set_at && e->set_id == tid ? 0 : 4);

    if (e->len + need > sizeof(e->buf))
        return false;
    if (!e->set_at || e->set_id != tid) {
        ipfix_close_set(e);
        e->set_at = e->len;
        e->set_id = tid;
        ipfix_put16(e->buf + e->len, tid);
        e->len += 4;
    }
    for (int d = NM_DIR_SRC; d <= NM_DIR_DST; d++)
        if (r->pkts[d])
            ipfix_put_direction(e, r, d);
    return true;
}

size_t ipfix_encoder_finish(struct ipfix_encoder *e, uint32_t export_time_s)
{
    ipfix_close_set(e);
    ipfix_put16(e->buf, IPFIX_VERSION);
    ipfix_put16(e->buf + 2, (uint16_t)e->len);
    ipfix_put32(e->buf + 4, export_time_s);
    ipfix_put32(e->buf + 8, e->sequence);
    ipfix_put32(e->buf + 12, e->domain);
    e->sequence += e->records;
    return e->len;
}

/* ---- the sink ------------------------------------------------------------ */

struct ipfix_state {
    int fd;
    char dest[300];
    struct ipfix_encoder enc;
    uint64_t messages, records, send_errors, records_lost;
    uint64_t last_templates_s;
    uint32_t msgs_since_templates;
    bool reported;
    uint32_t per_window;       /* --ipfix-rate / 100; 0 = unpaced */
    uint64_t window_start_us;
    uint32_t window_sent;
};

static uint64_t ipfix_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec;
}

/* UDP has no flow control: a file read at full speed sends faster than a
 * collector drains its socket buffer, and the datagrams are lost there.
 * Messages are paced in 10 ms windows; the wait falls on the output thread
 * (live, workers wait for it only once their record rings fill, counted
 * as output_stalls). */
#define IPFIX_WINDOW_US 10000u

static void ipfix_pace(struct ipfix_state *st)
{
    struct timespec ts;
    uint64_t now;

    if (!st->per_window)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    if (now - st->window_start_us >= IPFIX_WINDOW_US) {
        st->window_start_us = now;
        st->window_sent = 0;
    } else if (st->window_sent >= st->per_window) {
        uint64_t wait_us = st->window_start_us + IPFIX_WINDOW_US - now;
        struct timespec pause = { 0, (long)(wait_us * 1000u) };
        while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
            ;
        st->window_start_us += IPFIX_WINDOW_US;
        st->window_sent = 0;
    }
    st->window_sent++;
}

static bool ipfix_templates_due(const struct ipfix_state *st)
{
    return st->messages == 0 || st->msgs_since_templates >= IPFIX_TEMPLATE_EVERY_MSGS ||
           ipfix_mono_s() - st->last_templates_s >= IPFIX_TEMPLATE_EVERY_S;
}

static void ipfix_begin(struct ipfix_state *st)
{
    bool t = ipfix_templates_due(st);

    ipfix_encoder_begin(&st->enc, t);
    if (t) {
        st->last_templates_s = ipfix_mono_s();
        st->msgs_since_templates = 0;
    }
}

/* Sends the message being built (if it holds records) and starts the next. */
static int ipfix_send(struct ipfix_state *st)
{
    int rc = 0;

    if (st->enc.records == 0)
        return 0;
    uint32_t n = st->enc.records;
    size_t len = ipfix_encoder_finish(&st->enc, (uint32_t)time(NULL));
    ssize_t sent;

    ipfix_pace(st);
    do
        sent = send(st->fd, st->enc.buf, len, 0);
    while (sent < 0 && errno == EINTR);
    if (sent != (ssize_t)len) {
        if (!st->reported)
            fprintf(stderr, "netmoon: sending IPFIX to %s failed: %s; the records of failed "
                    "messages are counted and the collector sees the gap in sequence numbers\n",
                    st->dest, sent < 0 ? strerror(errno) : "short send");
        st->reported = true;
        st->send_errors++;
        st->records_lost += n;
        rc = -1;
    } else {
        st->records += n;
    }
    st->messages++;
    st->msgs_since_templates++;
    ipfix_begin(st);
    return rc;
}

static int ipfix_write_flow(struct output_sink *s, const struct flow_record *r)
{
    struct ipfix_state *st = s->state;
    int rc = 0;

    if (ipfix_encoder_add_flow(&st->enc, r))
        return 0;
    rc = ipfix_send(st);
    ipfix_encoder_add_flow(&st->enc, r);   /* always fits an empty message */
    return rc;
}

static void ipfix_collect_stats(struct output_sink *s, struct nm_stats *stats)
{
    struct ipfix_state *st = s->state;

    stats->ipfix_sent += st->records;
    stats->ipfix_lost += st->records_lost;
}

static int ipfix_flush(struct output_sink *s)
{
    return ipfix_send(s->state);
}

static void ipfix_close(struct output_sink *s)
{
    struct ipfix_state *st = s->state;

    if (!st)
        return;
    ipfix_send(st);
    if (st->records_lost)
        fprintf(stderr, "netmoon: IPFIX to %s: %llu of %llu records could not be sent "
                "(%llu messages failed)\n", st->dest, (unsigned long long)st->records_lost,
                (unsigned long long)(st->records + st->records_lost),
                (unsigned long long)st->send_errors);
    close(st->fd);
    free(st);
    s->state = NULL;
}

static int ipfix_connect(const char *spec, char *err, size_t errlen)
{
    char buf[300];
    const char *host, *port;
    struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res = NULL;
    int fd = -1, e;

    snprintf(buf, sizeof(buf), "%s", spec);
    if (hostport_split(buf, NULL, &host, &port) != 0) {
        snprintf(err, errlen, "--ipfix needs HOST:PORT (or [IPV6]:PORT), not '%s'", spec);
        return -1;
    }
    if ((e = getaddrinfo(host, port, &hints, &res)) != 0) {
        snprintf(err, errlen, "--ipfix %s: %s", spec, gai_strerror(e));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        snprintf(err, errlen, "--ipfix %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

int ipfix_sink_open(struct output_sink *sink, const char *spec, uint32_t rate, char *err,
                    size_t errlen)
{
    struct ipfix_state *st = calloc(1, sizeof(*st));

    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if ((st->fd = ipfix_connect(spec, err, errlen)) < 0) {
        free(st);
        return -1;
    }
    snprintf(st->dest, sizeof(st->dest), "%s", spec);
    st->per_window = rate ? (rate < 100 ? 1 : rate / 100) : 0;
    /* Each run is its own sequence stream: a restarted netmoon starting
     * again at 0 is not a loss to the collector. */
    st->enc.domain = (uint32_t)getpid();
    ipfix_begin(st);
    memset(sink, 0, sizeof(*sink));
    sink->name = "ipfix";
    sink->state = st;
    sink->write_flow = ipfix_write_flow;
    sink->flush = ipfix_flush;
    sink->collect_stats = ipfix_collect_stats;
    sink->close = ipfix_close;
    return 0;
}
