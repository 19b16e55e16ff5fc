/*
 * decode.c: the frame entry point and the dispatch tables between layers.
 *
 * Link types are the tcpdump/libpcap LINKTYPE_ values
 * (https://www.tcpdump.org/linktypes.html), EtherTypes the IEEE registry,
 * IP protocol numbers the IANA registry (RFC 5237).  Tunnels are handled
 * here once, in decode_tunnel(), so that every encapsulation (RFC 2003
 * IP-in-IP, RFC 4213 6in4, RFC 2473 IPv6 tunnels, GRE, ERSPAN, VXLAN,
 * VXLAN-GPE, Geneve, NSH, PIM Register, Teredo, MPLS over UDP) falls
 * back to the outer packet in the same way when the inner one is unusable.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#include <string.h>

static const char *const reason_names[] = {
#define X(name, desc) #name,
    DECODE_REASONS(X)
#undef X
};

static const char *const reason_descriptions[] = {
#define X(name, desc) desc,
    DECODE_REASONS(X)
#undef X
};

const char *decode_reason_name(enum decode_reason r)
{
    if ((unsigned)r >= DECODE_REASON_COUNT)
        return "unknown";
    return reason_names[r];
}

const char *decode_reason_description(enum decode_reason r)
{
    if ((unsigned)r >= DECODE_REASON_COUNT)
        return "unknown decode reason";
    return reason_descriptions[r];
}

uint64_t decode_stats_errors(const struct decode_stats *s)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < DECODE_REASON_COUNT; i++)
        sum += s->reasons[i];
    return sum;
}

void decode_stats_add(struct decode_stats *into, const struct decode_stats *from)
{
    into->frames += from->frames;
    into->bytes += from->bytes;
    into->non_ip += from->non_ip;
    into->decoded += from->decoded;
    into->fragments += from->fragments;
    into->decapsulated += from->decapsulated;
    for (size_t i = 0; i < DECODE_REASON_COUNT; i++)
        into->reasons[i] += from->reasons[i];
}

const char *nm_tunnel_name(enum nm_tunnel t)
{
    switch (t) {
    case NM_TUNNEL_GRE: return "gre";
    case NM_TUNNEL_VXLAN: return "vxlan";
    case NM_TUNNEL_GENEVE: return "geneve";
    case NM_TUNNEL_IPIP: return "ipip";
    case NM_TUNNEL_6IN4: return "6in4";
    case NM_TUNNEL_4IN6: return "4in6";
    case NM_TUNNEL_6IN6: return "6in6";
    case NM_TUNNEL_ERSPAN: return "erspan";
    case NM_TUNNEL_PIM: return "pim";
    case NM_TUNNEL_NSH: return "nsh";
    case NM_TUNNEL_TEREDO: return "teredo";
    case NM_TUNNEL_MPLS_UDP: return "mpls-udp";
    case NM_TUNNEL_VXLAN_GPE: return "vxlan-gpe";
    case NM_TUNNEL_NONE: break;
    }
    return NULL;
}

static decode_fn *link_decoder(int linktype)
{
    switch (linktype) {
    case NM_LINKTYPE_NULL: return decode_loopback;
    case NM_LINKTYPE_ETHERNET: return decode_ethernet;
    case NM_LINKTYPE_RAW:
    case NM_DLT_RAW_ALT1:
    case NM_DLT_RAW_ALT2: return decode_ip;
    case NM_LINKTYPE_LOOP: return decode_loop;
    case NM_LINKTYPE_LINUX_SLL: return decode_sll;
    /* The version nibble outranks the link type: a capture writer that
     * labels an IPv6 packet LINKTYPE_IPV4 still captured IPv6, and we would
     * rather account it than drop it.  Tools disagree here: tshark 4.0
     * decodes IPv6 under LINKTYPE_IPV4 but rejects IPv4 under LINKTYPE_IPV6,
     * and tcpdump since 2025 rejects both (tcpdump's LINKTYPE_*_invalid
     * tests); the golden test shows the one flow where tshark differs. */
    case NM_LINKTYPE_IPV4:
    case NM_LINKTYPE_IPV6: return decode_ip;
    case NM_LINKTYPE_LINUX_SLL2: return decode_sll2;
    default: return NULL;
    }
}

bool decode_linktype_supported(int linktype)
{
    return link_decoder(linktype) != NULL;
}

const char *decode_linktype_name(int linktype)
{
    switch (linktype) {
    case NM_LINKTYPE_NULL: return "NULL";
    case NM_LINKTYPE_ETHERNET: return "EN10MB";
    case NM_LINKTYPE_RAW:
    case NM_DLT_RAW_ALT1:
    case NM_DLT_RAW_ALT2: return "RAW";
    case NM_LINKTYPE_LOOP: return "LOOP";
    case NM_LINKTYPE_LINUX_SLL: return "LINUX_SLL";
    case NM_LINKTYPE_IPV4: return "IPV4";
    case NM_LINKTYPE_IPV6: return "IPV6";
    case NM_LINKTYPE_LINUX_SLL2: return "LINUX_SLL2";
    default: return "unknown";
    }
}

void decode_ctx_init(struct decode_ctx *ctx, const struct decode_options *opt)
{
    memset(&ctx->stats, 0, sizeof ctx->stats);
    ctx->problems = 0;
    memset(&ctx->opt, 0, sizeof ctx->opt);
    if (opt)
        ctx->opt = *opt;
    frag_table_init(&ctx->frags);
}

enum decode_result decode_ethertype(struct decode_ctx *ctx, struct nm_packet *pkt,
                                    struct nm_cursor *cur, uint16_t ethertype)
{
    /* The TPID list is shared with the fast path (fastpath.c). */
    if (decode_is_vlan_tpid(ethertype))
        return decode_vlan(ctx, pkt, cur, ethertype);
    switch (ethertype) {
    case NM_ETH_IPV4: return decode_ipv4(ctx, pkt, cur);
    case NM_ETH_IPV6: return decode_ipv6(ctx, pkt, cur);
    case NM_ETH_MPLS_UC:
    case NM_ETH_MPLS_MC: return decode_mpls(ctx, pkt, cur);
    case NM_ETH_PPPOE_SESSION: return decode_pppoe(ctx, pkt, cur);
    case NM_ETH_ETAG: return decode_etag(ctx, pkt, cur);
    case NM_ETH_MACSEC: return decode_macsec(ctx, pkt, cur);
    case NM_ETH_NSH: return decode_tunnel(ctx, pkt, cur, NM_TUNNEL_NSH, decode_nsh);
    default:
        /* ARP, LLDP, STP, PPPoE discovery ...: well formed but not IP.  No
         * reason is counted, so decode_packet() counts non_ip. */
        return DECODE_STOP;
    }
}

/* The tunnel type an IP-in-IP payload gets depends on the outer version. */
static enum nm_tunnel ip_in_ip_type(uint8_t outer_version, uint8_t proto)
{
    if (proto == NM_IPPROTO_IPIP)
        return outer_version == 4 ? NM_TUNNEL_IPIP : NM_TUNNEL_4IN6;
    return outer_version == 4 ? NM_TUNNEL_6IN4 : NM_TUNNEL_6IN6;
}

enum decode_result decode_ip_payload(struct decode_ctx *ctx, struct nm_packet *pkt,
                                     struct nm_cursor *cur, uint8_t proto)
{
    switch (proto) {
    case NM_IPPROTO_TCP: return decode_tcp(ctx, pkt, cur);
    case NM_IPPROTO_UDP: return decode_udp(ctx, pkt, cur);
    case NM_IPPROTO_ICMP: return decode_icmp(ctx, pkt, cur);
    case NM_IPPROTO_ICMPV6: return decode_icmpv6(ctx, pkt, cur);
    case NM_IPPROTO_SCTP:
    case NM_IPPROTO_DCCP:
    case NM_IPPROTO_UDPLITE: return decode_ports_only(ctx, pkt, cur);
    case NM_IPPROTO_GRE: return decode_tunnel(ctx, pkt, cur, gre_tunnel_kind(cur), decode_gre);
    case NM_IPPROTO_IPIP:
        return decode_tunnel(ctx, pkt, cur, ip_in_ip_type(pkt->ip_version, proto), decode_ipv4);
    case NM_IPPROTO_IPV6:
        return decode_tunnel(ctx, pkt, cur, ip_in_ip_type(pkt->ip_version, proto), decode_ipv6);
    case NM_IPPROTO_PIM:
        if (pim_carries_data(cur))
            return decode_tunnel(ctx, pkt, cur, NM_TUNNEL_PIM, decode_pim);
        return DECODE_OK;
    default:
        /* ESP, OSPF, VRRP ...: accounted by addresses and protocol. */
        return DECODE_OK;
    }
}

enum decode_result decode_ports_only(struct decode_ctx *ctx, struct nm_packet *pkt,
                                     struct nm_cursor *cur)
{
    uint16_t sport, dport;
    if (!cursor_peek_be16(cur, 0, &sport) || !cursor_peek_be16(cur, 2, &dport))
        return decode_fail(ctx, DECODE_R_ports_truncated);
    pkt->has_ports = true;
    pkt->sport = sport;
    pkt->dport = dport;
    return DECODE_OK;
}

/* Remembers what a first fragment carried; the eviction of a live entry
 * and a conflicting duplicate are the two outcomes worth a reason. */
static void frag_remember(struct decode_ctx *ctx, const struct nm_packet *pkt)
{
    switch (frag_table_insert_detail(&ctx->frags, pkt)) {
    case FRAG_INSERT_EVICTED: decode_count(ctx, DECODE_R_frag_table_full); break;
    case FRAG_INSERT_CONFLICT: decode_count(ctx, DECODE_R_frag_overlap); break;
    case FRAG_INSERT_NEW:
    case FRAG_INSERT_REFRESHED: break;
    }
}

enum decode_result decode_ip_continue(struct decode_ctx *ctx, struct nm_packet *pkt,
                                      struct nm_cursor *cur, uint8_t proto, uint32_t frag_end)
{
    /* Whatever the transport decoder finds, the IP payload is a sane
     * default for protocols that have no header we read. */
    decode_set_payload(pkt, cur, pkt->l4_wire_len);
    if (!pkt->is_fragment)
        return decode_ip_payload(ctx, pkt, cur, proto);

    ctx->stats.fragments++;
    /* The "ping of death" shape: no reassembly could produce this, so the
     * packet is accounted by addresses only and the table left alone. */
    if (frag_end > 65535u)
        return decode_fail(ctx, DECODE_R_frag_oversized);
    if (!pkt->is_first_fragment) {
        if (!frag_table_lookup(&ctx->frags, pkt))
            decode_count(ctx, DECODE_R_frag_orphan);
        return DECODE_OK;
    }
    enum decode_result r = decode_ip_payload(ctx, pkt, cur, proto);
    frag_remember(ctx, pkt);
    return r;
}

/* Clears what the inner packet will rewrite; the frame's own facts
 * (time, lengths) and the tunnel bookkeeping stay. */
static void packet_clear_network(struct nm_packet *pkt)
{
    struct nm_packet keep = *pkt;
    memset(pkt, 0, sizeof *pkt);
    pkt->ts_us = keep.ts_us;
    pkt->wirelen = keep.wirelen;
    pkt->caplen = keep.caplen;
    pkt->tunnel = keep.tunnel;
    pkt->tunnel_depth = keep.tunnel_depth;
}

enum decode_result decode_tunnel(struct decode_ctx *ctx, struct nm_packet *pkt,
                                 struct nm_cursor *cur, enum nm_tunnel type, decode_fn *inner)
{
    /* A fragmented outer packet carries only part of the inner one, and
     * its later fragments can only join the outer flow: keep it whole. */
    if (ctx->opt.no_decap || pkt->is_fragment)
        return DECODE_OK;
    if (pkt->tunnel_depth >= NM_MAX_TUNNEL_DEPTH)
        return decode_fail(ctx, DECODE_R_tunnel_too_deep);

    struct nm_packet outer = *pkt;
    packet_clear_network(pkt);
    pkt->tunnel_depth = (uint8_t)(outer.tunnel_depth + 1);
    if (outer.tunnel == NM_TUNNEL_NONE)
        pkt->tunnel = type;

    struct nm_cursor inner_cur = *cur;
    enum decode_result r = inner(ctx, pkt, &inner_cur);
    if (!pkt->has_ip) {
        /* Malformed or non-IP inner packet: the frame is still real
         * traffic between the outer endpoints, so account that. */
        *pkt = outer;
        return DECODE_STOP;
    }
    /* VLAN tags describe the wire the frame was captured on. */
    pkt->vlan_id = outer.vlan_id;
    pkt->vlan_count = outer.vlan_count;
    return r;
}

/* What every frame starts with, whichever path decodes it. */
static void packet_reset(struct nm_packet *pkt, const struct nm_frame *frame)
{
    memset(pkt, 0, sizeof *pkt);
    pkt->ts_us = frame->ts_us;
    pkt->wirelen = frame->wirelen;
    pkt->caplen = frame->caplen;
}

static void frame_count(struct decode_ctx *ctx, const struct nm_frame *frame)
{
    ctx->stats.frames++;
    ctx->stats.bytes += frame->wirelen;
    if (frame->ts_invalid)
        decode_count(ctx, DECODE_R_timestamp_invalid);
}

/* The layer-by-layer decoders, from a reset packet. */
static bool decode_general(struct decode_ctx *ctx, const struct nm_frame *frame,
                           struct nm_packet *pkt)
{
    static const uint8_t empty[1];
    uint64_t problems_before = ctx->problems;
    decode_fn *fn = link_decoder(frame->linktype);
    if (!fn) {
        decode_count(ctx, DECODE_R_link_unsupported);
        return false;
    }
    /* A NULL pointer plus zero is still undefined behaviour in C. */
    struct nm_cursor cur = frame->data ? cursor_make(frame->data, frame->caplen)
                                       : cursor_make(empty, 0);
    fn(ctx, pkt, &cur);

    if (pkt->has_ip) {
        ctx->stats.decoded++;
        if (pkt->tunnel_depth > 0)
            ctx->stats.decapsulated++;
    } else if (ctx->problems == problems_before) {
        ctx->stats.non_ip++;
    }
    return pkt->has_ip;
}

/* Moves a pointer into the frame's bytes to the same byte of their stable
 * copy; one elsewhere (a reassembled datagram's) stays. */
static inline const uint8_t *frame_stable_ptr(const struct nm_frame *frame, const uint8_t *p)
{
    uintptr_t off = (uintptr_t)p - (uintptr_t)frame->data;

    return p && off <= frame->caplen ? frame->stable + off : p;
}

/* Returns ip, having moved the packet's pointers to the stable copy. */
static inline bool packet_keep(const struct nm_frame *frame, struct nm_packet *pkt, bool ip)
{
    if (frame->stable) {
        pkt->payload = frame_stable_ptr(frame, pkt->payload);
        pkt->l3 = frame_stable_ptr(frame, pkt->l3);
    }
    return ip;
}

bool decode_packet(struct decode_ctx *ctx, const struct nm_frame *frame, struct nm_packet *pkt)
{
    packet_reset(pkt, frame);
    frame_count(ctx, frame);
    if (decode_fast_frame(ctx, frame, pkt))
        return packet_keep(frame, pkt, true);
    packet_reset(pkt, frame);
    return packet_keep(frame, pkt, decode_general(ctx, frame, pkt));
}

bool decode_packet_general(struct decode_ctx *ctx, const struct nm_frame *frame,
                           struct nm_packet *pkt)
{
    packet_reset(pkt, frame);
    frame_count(ctx, frame);
    return packet_keep(frame, pkt, decode_general(ctx, frame, pkt));
}
