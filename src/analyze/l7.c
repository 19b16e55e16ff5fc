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
 */
#include "analyze/l7.h"

#include <stdlib.h>
#include <string.h>

#include "analyze/l7_parsers.h"
#include "analyze/reassembly.h"

enum { L7_DIR_DONE0 = 1u << 0, L7_FLOW_DONE = 1u << 2, L7_CLAIMED = 1u << 3 };

struct l7_stream {
    struct reasm_dir dir[2];       /* canonical sides */
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
    uint16_t port[2];              /* by canonical side */
};

struct l7_pool {
    struct l7_flow *flows;
    uint32_t flow_cap, flow_fresh, flow_free;
    struct l7_stream *streams;
    uint32_t stream_fresh, stream_free;
    struct reasm_pool *reasm;
    struct nm_l7_stats stats;
};

/* What a delivery callback needs: the flow and which direction. */
struct l7_delivery {
    struct l7_pool *pool;
    struct l7_flow *flow;
    unsigned side;
};

/* ---- pools --------------------------------------------------------------- */

struct l7_pool *l7_pool_create(uint32_t max_flows)
{
    struct l7_pool *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->flow_cap = max_flows ? max_flows : 1;
    /* calloc maps zero pages lazily: memory follows the flows parsed. */
    p->flows = calloc(p->flow_cap, sizeof(*p->flows));
    p->streams = calloc(L7_STREAMS_MAX, sizeof(*p->streams));
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
    free(p->flows);
    free(p->streams);
    reasm_pool_destroy(p->reasm);
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
    return h;
}

static void l7_stream_release(struct l7_pool *p, struct l7_flow *f)
{
    if (!f->stream)
        return;
    struct l7_stream *s = &p->streams[f->stream - 1];
    reasm_dir_release(p->reasm, &s->dir[0]);
    reasm_dir_release(p->reasm, &s->dir[1]);
    s->next_free = p->stream_free;
    p->stream_free = f->stream;
    f->stream = 0;
}

void l7_release(struct l7_pool *p, uint32_t handle)
{
    if (!handle || handle == L7_HANDLE_NONE || handle > p->flow_cap)
        return;
    struct l7_flow *f = &p->flows[handle - 1];
    l7_stream_release(p, f);
    f->next_free = p->flow_free;
    p->flow_free = handle;
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

/* Reassembly callback: in-order bytes of one direction. */
static void l7_deliver(void *user, const uint8_t *data, size_t len, uint32_t gap)
{
    struct l7_delivery *dv = user;
    struct l7_flow *f = dv->flow;
    unsigned side = dv->side;

    if (f->done & (L7_DIR_DONE0 << side))
        return;
    struct l7_stream *s = &dv->pool->streams[f->stream - 1];
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
    if (l7_run(dv->pool, f, &in))
        l7_mark_done(f, side);
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
        /* The port promised more than the payload holds. */
        f->sum.proto = NM_L7_NONE;
        f->done |= L7_FLOW_DONE;
        return;
    }
    if (!(f->done & L7_CLAIMED) && v != L7_NOT_MINE) {
        f->done |= L7_CLAIMED;
        p->stats.flows++;
    }
    if (v == L7_MALFORMED || f->sum.has_dns_rcode || (f->sum.proto == NM_L7_QUIC && v == L7_DONE))
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
    if (f->done & L7_FLOW_DONE)
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
    f->src_side = (uint8_t)src_side;
    if (f->done & L7_FLOW_DONE)
        return;
    if (pkt->proto == 17 && pkt->payload_len) {
        l7_datagram(p, f, pkt, side);
        if (f->done & L7_FLOW_DONE)
            l7_stream_release(p, f);
    }
    else if (pkt->has_tcp && f->stream)
        l7_segment(p, f, pkt, side);
    if ((f->done & L7_FLOW_DONE) && f->sum.proto == NM_L7_NONE) {
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
