/*
 * l7.c: runs netmoon's own application parsers (l7_parsers.h) on flows:
 * datagrams directly, TCP through reassembly (analyze/reassembly.h), so a
 * message split over segments, or whose segments came out of order, is
 * parsed whole.  Pools and what is counted are described in l7.h.
 *
 * Which parser: the first one that claims the first bytes (TLS record,
 * HTTP method or status line, "SSH-"), or the port for DNS (53) and QUIC
 * (UDP 443, long header), the way Zeek's dynamic protocol detection tries
 * content first and Suricata falls back to ports.
 *
 * --streams: each direction's in-order bytes also go to a file named as
 * tcpflow names it, written at their stream offset (pwrite), so a hole the
 * capture missed stays a hole of zeros at the right place, as in tcpflow.
 * The files are written by the worker that owns the flow, as it goes.
 */
#include "analyze/l7.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "analyze/l7_parsers.h"
#include "analyze/reassembly.h"
#include "common/hugemem.h"

enum { L7_DIR_DONE0 = 1u << 0, L7_FLOW_DONE = 1u << 2, L7_CLAIMED = 1u << 3 };
#define L7_STREAM_NAME_MAX 128

struct l7_stream {
    struct reasm_dir dir[2];       /* canonical sides */
    int fd[2];                     /* --streams files, -1: not open */
    uint64_t file_off[2];          /* stream offset of the next byte */
    struct nm_addr addr[2];        /* for file names, by canonical side */
    uint8_t ip_version;
    bool file_failed[2];
    uint16_t head_len[2];
    uint32_t next_free;
    uint8_t head[2][L7_HEAD_MAX];
};

struct l7_flow {
    struct flow_l7_summary sum;
    uint32_t stream;               /* handle in streams, 0: none */
    uint32_t next_free;
    uint8_t done;                  /* L7_DIR_DONE0 << side, L7_FLOW_DONE */
    uint8_t src_side;
    uint16_t segments;             /* seen while parsing, against L7_SEGMENT_BUDGET */
    uint16_t port[2];              /* by canonical side */
};

struct l7_pool {
    struct l7_flow *flows;
    uint32_t flow_cap, flow_fresh, flow_free;
    struct l7_stream *streams;
    uint32_t stream_fresh, stream_free;
    struct reasm_pool *reasm;
    int streams_dir;               /* --streams directory, -1: not asked for */
    struct nm_l7_stats stats;
};

/* What a delivery callback needs: the flow and which direction. */
struct l7_delivery {
    struct l7_pool *pool;
    struct l7_flow *flow;
    unsigned side;
};

/* ---- pools --------------------------------------------------------------- */

struct l7_pool *l7_pool_create(uint32_t max_flows, const char *streams_dir)
{
    struct l7_pool *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->streams_dir = streams_dir ? open(streams_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (streams_dir && p->streams_dir < 0) {
        free(p);
        return NULL;
    }
    p->flow_cap = max_flows ? max_flows : 1;
    /* Zero pages mapped lazily (hugemem.h): memory follows the flows parsed. */
    p->flows = hugemem_calloc_plain(p->flow_cap, sizeof(*p->flows));
    p->streams = hugemem_calloc_plain(L7_STREAMS_MAX, sizeof(*p->streams));
    p->reasm = reasm_pool_create(L7_REASM_CHUNKS);
    if (!p->flows || !p->streams || !p->reasm) {
        l7_pool_destroy(p);
        return NULL;
    }
    return p;
}

void l7_pool_destroy(struct l7_pool *p)
{
    if (!p)
        return;
    hugemem_free(p->flows);
    hugemem_free(p->streams);
    reasm_pool_destroy(p->reasm);
    if (p->streams_dir >= 0)
        close(p->streams_dir);
    free(p);
}

static uint32_t l7_flow_alloc(struct l7_pool *p)
{
    uint32_t h;

    if (p->flow_free) {
        h = p->flow_free;
        p->flow_free = p->flows[h - 1].next_free;
    } else if (p->flow_fresh < p->flow_cap) {
        h = ++p->flow_fresh;
    } else {
        p->stats.flows_refused++;
        return 0;
    }
    memset(&p->flows[h - 1], 0, sizeof(p->flows[h - 1]));
    return h;
}

static uint32_t l7_stream_alloc(struct l7_pool *p)
{
    uint32_t h;

    if (p->stream_free) {
        h = p->stream_free;
        p->stream_free = p->streams[h - 1].next_free;
    } else if (p->stream_fresh < L7_STREAMS_MAX) {
        h = ++p->stream_fresh;
    } else {
        p->stats.streams_refused++;
        return 0;
    }
    /* The heads are not cleared: only head_len bytes are ever read. */
    struct l7_stream *s = &p->streams[h - 1];
    reasm_dir_init(&s->dir[0]);
    reasm_dir_init(&s->dir[1]);
    s->head_len[0] = s->head_len[1] = 0;
    s->fd[0] = s->fd[1] = -1;
    s->file_off[0] = s->file_off[1] = 0;
    s->file_failed[0] = s->file_failed[1] = false;
    return h;
}

static void l7_stream_release(struct l7_pool *p, struct l7_flow *f)
{
    if (!f->stream)
        return;
    struct l7_stream *s = &p->streams[f->stream - 1];
    reasm_dir_release(p->reasm, &s->dir[0]);
    reasm_dir_release(p->reasm, &s->dir[1]);
    for (int d = 0; d < 2; d++)
        if (s->fd[d] >= 0 && close(s->fd[d]) != 0)
            p->stats.stream_write_errors++;
    s->next_free = p->stream_free;
    p->stream_free = f->stream;
    f->stream = 0;
}

static void l7_deliver(void *user, const uint8_t *data, size_t len, uint32_t gap);

void l7_release(struct l7_pool *p, uint32_t handle)
{
    if (!handle || handle == L7_HANDLE_NONE || handle > p->flow_cap)
        return;
    struct l7_flow *f = &p->flows[handle - 1];
    if (f->stream && p->streams_dir >= 0) {
        /* What still waits behind a hole goes to the file too. */
        struct l7_stream *s = &p->streams[f->stream - 1];
        for (unsigned d = 0; d < 2; d++) {
            struct l7_delivery dv = { p, f, d };
            reasm_dir_flush(p->reasm, &s->dir[d], l7_deliver, &dv);
        }
    }
    l7_stream_release(p, f);
    f->next_free = p->flow_free;
    p->flow_free = handle;
}

/* ---- --streams files ------------------------------------------------------ */

/* tcpflow's spelling of an address: IPv4 octets as three digits, IPv6 as text. */
static void l7_file_addr(const struct nm_addr *a, uint8_t ip_version, char *out, size_t outlen)
{
    if (ip_version == 4)
        snprintf(out, outlen, "%03u.%03u.%03u.%03u", a->b[12], a->b[13], a->b[14], a->b[15]);
    else if (!inet_ntop(AF_INET6, a->b, out, (socklen_t)outlen))
        snprintf(out, outlen, "?");
}

/* The file for what `side` sends: SRC.SPORT-DST.DPORT; a name already
 * there (the same tuple earlier, or an earlier run) gets c1, c2, ... as
 * in tcpflow. */
static int l7_file_open(struct l7_pool *p, const struct l7_flow *f, const struct l7_stream *s,
                        unsigned side)
{
    char a[INET6_ADDRSTRLEN + 1], b[INET6_ADDRSTRLEN + 1], name[L7_STREAM_NAME_MAX];
    int n = 0;

    l7_file_addr(&s->addr[side], s->ip_version, a, sizeof(a));
    l7_file_addr(&s->addr[side ^ 1], s->ip_version, b, sizeof(b));
    for (unsigned copy = 1; copy < 100; copy++) {
        n = snprintf(name, sizeof(name), "%s.%05u-%s.%05u", a, f->port[side], b, f->port[side ^ 1]);
        if (copy > 1)
            snprintf(name + n, sizeof(name) - (size_t)n, "c%u", copy - 1);
        int fd = openat(p->streams_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) {
            p->stats.stream_files++;
            return fd;
        }
        if (errno != EEXIST)
            break;
    }
    p->stats.stream_write_errors++;
    return -1;
}

static void l7_file_write(struct l7_pool *p, const struct l7_flow *f, struct l7_stream *s,
                          unsigned side, const uint8_t *data, size_t len, uint32_t gap)
{
    if (p->streams_dir < 0 || s->file_failed[side])
        return;
    s->file_off[side] += gap;
    if (len == 0)
        return;
    if (s->fd[side] < 0 && (s->fd[side] = l7_file_open(p, f, s, side)) < 0) {
        s->file_failed[side] = true;
        return;
    }
    if (pwrite(s->fd[side], data, len, (off_t)s->file_off[side]) != (ssize_t)len) {
        p->stats.stream_write_errors++;
        s->file_failed[side] = true;
    }
    s->file_off[side] += len;
}

/* ---- choosing and running parsers ---------------------------------------- */

static l7_parse_fn *l7_parser_of(uint8_t proto)
{
    switch (proto) {
    case NM_L7_TLS: return l7_parse_tls;
    case NM_L7_HTTP: return l7_parse_http;
    case NM_L7_DNS: return l7_parse_dns;
    case NM_L7_SSH: return l7_parse_ssh;
    case NM_L7_QUIC: return l7_parse_quic;
    default: return NULL;
    }
}

/* Parsers tried on the first bytes of a TCP stream, in this order. */
static const uint8_t l7_stream_candidates[] = { NM_L7_TLS, NM_L7_HTTP, NM_L7_SSH };

static bool l7_port_is(const struct l7_flow *f, uint16_t port)
{
    return f->port[0] == port || f->port[1] == port;
}

/* Runs the flow's parser (choosing it first if need be) on one input;
 * returns whether that direction is done. */
static bool l7_run(struct l7_pool *p, struct l7_flow *f, const struct l7_input *in)
{
    enum l7_verdict v = L7_NOT_MINE;

    if (f->sum.proto == NM_L7_NONE) {
        for (size_t i = 0; i < sizeof(l7_stream_candidates) && in->is_stream; i++) {
            struct flow_l7_summary probe = f->sum;
            v = l7_parser_of(l7_stream_candidates[i])(in, &probe, &p->stats);
            if (v != L7_NOT_MINE) {
                f->sum = probe;
                f->sum.proto = l7_stream_candidates[i];
                p->stats.flows++;
                break;
            }
        }
        if (v == L7_NOT_MINE && in->is_stream && l7_port_is(f, 53)) {
            v = l7_parse_dns(in, &f->sum, &p->stats);
            if (v != L7_NOT_MINE) {
                f->sum.proto = NM_L7_DNS;
                p->stats.flows++;
            }
        }
    } else {
        v = l7_parser_of(f->sum.proto)(in, &f->sum, &p->stats);
    }
    if (v == L7_MALFORMED)
        p->stats.malformed++;
    if (v == L7_MORE && in->is_stream && in->len >= L7_HEAD_MAX) {
        p->stats.budget_exhausted++;
        return true;
    }
    return v != L7_MORE;
}

/* The stream itself is given back by the packet path once reassembly has
 * returned, never from inside a delivery (reassembly is still using it). */
static void l7_mark_done(struct l7_flow *f, unsigned side)
{
    f->done |= (uint8_t)(L7_DIR_DONE0 << side);
    if ((f->done & (L7_DIR_DONE0 | L7_DIR_DONE0 << 1)) == (L7_DIR_DONE0 | L7_DIR_DONE0 << 1))
        f->done |= L7_FLOW_DONE;
}

/* An HTTP CONNECT the proxy accepted (RFC 9110 §9.3.6): what follows is
 * the tunnelled connection, usually TLS. */
static bool l7_connect_accepted(const struct l7_flow *f)
{
    size_t len;
    const char *m = flow_l7_field(&f->sum, NM_L7_HTTP_METHOD, &len);

    return f->sum.proto == NM_L7_HTTP && f->sum.http_status >= 200 && f->sum.http_status < 300 &&
           m && len == 7 && memcmp(m, "CONNECT", 7) == 0;
}

/* The client waits for the proxy's answer before it speaks through the
 * tunnel, so its next bytes start the inner stream: its head starts over
 * and the TLS parser reads it (the HTTP fields stay). */
static void l7_enter_tunnel(struct l7_flow *f, struct l7_stream *s, unsigned client)
{
    f->done &= (uint8_t)~(L7_DIR_DONE0 << client);
    s->head_len[client] = 0;
    f->sum.proto = NM_L7_TLS;
}

/* Reassembly callback: in-order bytes of one direction. */
static void l7_deliver(void *user, const uint8_t *data, size_t len, uint32_t gap)
{
    struct l7_delivery *dv = user;
    struct l7_flow *f = dv->flow;
    unsigned side = dv->side;

    struct l7_stream *s = &dv->pool->streams[f->stream - 1];
    l7_file_write(dv->pool, f, s, side, data, len, gap);
    if (f->done & (L7_DIR_DONE0 << side))
        return;
    if (gap) {
        /* What follows a hole cannot be parsed as a continuation. */
        dv->pool->stats.gap_abandoned++;
        l7_mark_done(f, side);
        return;
    }
    size_t room = L7_HEAD_MAX - s->head_len[side];
    size_t n = len < room ? len : room;
    memcpy(s->head[side] + s->head_len[side], data, n);
    s->head_len[side] = (uint16_t)(s->head_len[side] + n);
    if (n == 0)
        return;
    struct l7_input in = {
        .data = s->head[side], .len = s->head_len[side], .is_stream = true,
        .from_initiator = side == f->src_side,
        .sport = f->port[side], .dport = f->port[side ^ 1],
    };
    /* A direction nobody claims is done; the other one still gets its
     * chance (a server may answer HTTP to a client's garbage). */
    if (l7_run(dv->pool, f, &in)) {
        if (side != f->src_side && l7_connect_accepted(f))
            l7_enter_tunnel(f, s, side ^ 1);
        l7_mark_done(f, side);
    }
}

/* ---- the packet path ------------------------------------------------------ */

/* Whether a flow's first payload is worth a slot. */
static bool l7_worth_a_slot(const struct nm_packet *pkt)
{
    if (pkt->proto == 6)
        return true;
    if (pkt->proto != 17)
        return false;
    if (pkt->sport == 53 || pkt->dport == 53)
        return true;
    /* QUIC long header (RFC 9000 §17.2): form and fixed bits set. */
    return (pkt->sport == 443 || pkt->dport == 443) && (pkt->payload[0] & 0xc0) == 0xc0;
}

static uint32_t l7_flow_begin(struct l7_pool *p, const struct nm_packet *pkt, unsigned side,
                              const struct tcp_analysis *tcp)
{
    uint32_t h = l7_flow_alloc(p);

    if (!h)
        return L7_HANDLE_NONE;
    struct l7_flow *f = &p->flows[h - 1];
    f->port[side] = pkt->sport;
    f->port[side ^ 1] = pkt->dport;
    if (pkt->proto == 17) {
        f->sum.proto = (pkt->sport == 53 || pkt->dport == 53) ? NM_L7_DNS : NM_L7_QUIC;
        if (f->sum.proto == NM_L7_QUIC) {
            /* A stream's heads hold the CRYPTO bytes of several Initials
             * and which of them arrived; without one, each datagram alone. */
            f->stream = l7_stream_alloc(p);
            if (f->stream)
                memset(p->streams[f->stream - 1].head[1], 0, L7_QUIC_CRYPTO_MAX / 8);
        }
        return h;
    }
    f->stream = l7_stream_alloc(p);
    if (!f->stream) {
        l7_release(p, h);
        return L7_HANDLE_NONE;
    }
    struct l7_stream *s = &p->streams[f->stream - 1];
    s->addr[side] = pkt->src;
    s->addr[side ^ 1] = pkt->dst;
    s->ip_version = pkt->ip_version;
    for (unsigned d = 0; d < 2; d++) {
        uint32_t start;
        if (tcp_analysis_stream_start(tcp, d, &start))
            reasm_dir_start(&s->dir[d], start);
    }
    return h;
}

static void l7_datagram(struct l7_pool *p, struct l7_flow *f, const struct nm_packet *pkt,
                        unsigned side)
{
    struct l7_input in = {
        .data = pkt->payload, .len = pkt->payload_len, .is_stream = false,
        .from_initiator = side == f->src_side, .sport = pkt->sport, .dport = pkt->dport,
    };
    if (f->stream) {
        in.quic_crypto = p->streams[f->stream - 1].head[0];
        in.quic_have = p->streams[f->stream - 1].head[1];
    }
    enum l7_verdict v = l7_parser_of(f->sum.proto)(&in, &f->sum, &p->stats);

    if (v == L7_MALFORMED)
        p->stats.malformed++;
    if (v == L7_NOT_MINE && !(f->done & L7_CLAIMED)) {
        /* The port promised more than the payload holds; a few datagrams
         * get the benefit of the doubt (junk before a real query). */
        if (++f->segments >= L7_DATAGRAM_TRIES) {
            f->sum.proto = NM_L7_NONE;
            f->done |= L7_FLOW_DONE;
        }
        return;
    }
    if (!(f->done & L7_CLAIMED) && v != L7_NOT_MINE) {
        f->done |= L7_CLAIMED;
        p->stats.flows++;
    }
    /* Datagrams stand alone: a broken one does not end DNS parsing, which
     * goes on until a response and a question name were both seen. */
    if ((f->sum.proto == NM_L7_DNS && f->sum.has_dns_rcode && f->sum.len[NM_L7_DNS_QNAME]) ||
        (f->sum.proto == NM_L7_QUIC && (v == L7_DONE || v == L7_MALFORMED)))
        f->done |= L7_FLOW_DONE;
}

static void l7_segment(struct l7_pool *p, struct l7_flow *f, const struct nm_packet *pkt,
                       unsigned side)
{
    struct l7_stream *s = &p->streams[f->stream - 1];
    struct l7_delivery dv = { p, f, side };
    uint32_t syn = (pkt->tcp_flags & NM_TCP_SYN) ? 1 : 0;

    reasm_dir_segment(p->reasm, &s->dir[side], pkt->tcp_seq + syn, pkt->payload,
                      pkt->payload_len, l7_deliver, &dv);
    if (pkt->tcp_flags & NM_TCP_FIN)
        reasm_dir_fin(&s->dir[side], pkt->tcp_seq + syn + pkt->payload_wire_len);
    if (pkt->tcp_flags & NM_TCP_ACK) {
        dv.side = side ^ 1;
        reasm_dir_ack(p->reasm, &s->dir[side ^ 1], pkt->tcp_ack, l7_deliver, &dv);
    }
    /* A side that never answers must not hold a stream for the flow's life. */
    if (!(f->done & L7_FLOW_DONE) && ++f->segments > L7_SEGMENT_BUDGET) {
        p->stats.budget_exhausted++;
        f->done |= L7_FLOW_DONE | L7_DIR_DONE0 | L7_DIR_DONE0 << 1;
    }
    if ((f->done & L7_FLOW_DONE) && p->streams_dir < 0)
        l7_stream_release(p, f);
}

void l7_packet(struct l7_pool *p, uint32_t *handle, const struct nm_packet *pkt, unsigned side,
               unsigned src_side, const struct tcp_analysis *tcp)
{
    if (*handle == L7_HANDLE_NONE)
        return;
    if (*handle == 0) {
        if (pkt->payload_len == 0 || !pkt->has_ports || pkt->is_fragment)
            return;
        if (pkt->proto == 6 && !pkt->has_tcp)
            return;
        *handle = l7_worth_a_slot(pkt) ? l7_flow_begin(p, pkt, side, tcp) : L7_HANDLE_NONE;
        if (*handle == L7_HANDLE_NONE)
            return;
    }
    struct l7_flow *f = &p->flows[*handle - 1];
    bool writing = p->streams_dir >= 0 && f->stream && pkt->proto == 6;
    if ((f->done & L7_FLOW_DONE) && !writing)
        return;     /* a finished flow's slot is only read, never dirtied */
    f->src_side = (uint8_t)src_side;
    if (pkt->proto == 17 && pkt->payload_len) {
        l7_datagram(p, f, pkt, side);
        if (f->done & L7_FLOW_DONE)
            l7_stream_release(p, f);
    }
    else if (pkt->has_tcp && f->stream)
        l7_segment(p, f, pkt, side);
    if ((f->done & L7_FLOW_DONE) && f->sum.proto == NM_L7_NONE && !writing) {
        /* Looked at and nobody's: give the slot back at once. */
        l7_release(p, *handle);
        *handle = L7_HANDLE_NONE;
    }
}

void l7_fill(const struct l7_pool *p, uint32_t handle, struct flow_l7_summary *out)
{
    if (!handle || handle == L7_HANDLE_NONE || handle > p->flow_cap)
        return;
    *out = p->flows[handle - 1].sum;
}

void l7_collect_stats(const struct l7_pool *p, struct nm_l7_stats *into)
{
    const struct reasm_stats *r = reasm_pool_stats(p->reasm);

    *into = p->stats;
    into->reasm_gaps = r->gaps;
    into->reasm_gap_bytes = r->gap_bytes;
    into->reasm_overlap_bytes = r->overlap_bytes;
    into->reasm_refused_bytes = r->refused_bytes;
    into->reasm_out_of_window = r->out_of_window;
}
