/*
 * fastpath.c: the common frame decoded in one pass.
 *
 * Nearly every frame a monitor sees is Ethernet II (IEEE 802.3 type field),
 * with at most one 802.1Q/802.1ad tag, carrying IPv4 without options or
 * fragmentation (RFC 791) or IPv6 without extension headers (RFC 8200),
 * and TCP (RFC 9293) whose header was captured whole, or UDP (RFC 768) on
 * a port that is no tunnel's.  The general decoders (ethernet.c, ipv4.c,
 * ipv6.c, tcp.c, udp.c) pass such a frame through five calls, a dispatch
 * table and three cursors; here each header is one bounds check
 * (cursor_window) and straight reads within it.  TCP options go through
 * tcp.c's own parser.
 *
 * Anything else, and anything unusual about these (a second tag, a length
 * of 0, a length that disagrees with the capture, a truncated header),
 * returns false, and decode_packet clears what was written and takes the
 * general path.  So this file decides nothing of its own: what it fills
 * must be exactly what the general decoders fill, and
 * tests/unit/test_decode_fastpath.c checks that on every frame of the test
 * corpora and on mutated frames.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define FAST_ETH_LEN 14
#define FAST_VLAN_LEN 4
#define FAST_IPV4_LEN 20
#define FAST_IPV6_LEN 40
#define FAST_TCP_LEN 20
#define FAST_UDP_LEN 8

/* The network layer as read, before anything is stored. */
struct fast_net {
    size_t l3;              /* offset of the IP header in the frame */
    size_t l4;              /* offset of the transport header */
    uint32_t l4_wire_len;   /* transport bytes per the IP length */
    uint32_t l4_captured;   /* of those, captured */
    uint32_t ip_len, l3_len;
    uint8_t version, proto, ttl;
};

/* Ethernet with at most one tag; returns the IP header's offset, 0 when
 * the frame is not one of ours. */
static size_t fast_link(const struct nm_cursor *cur, struct nm_packet *pkt, uint16_t *type)
{
    const uint8_t *e = cursor_window(cur, 0, FAST_ETH_LEN + FAST_VLAN_LEN);

    /* Every frame taken here is longer than a tag and an IPv4 header. */
    if (!e)
        return 0;
    *type = bytes_be16(e + 12);
    if (!decode_is_vlan_tpid(*type))
        return *type == NM_ETH_IPV4 || *type == NM_ETH_IPV6 ? FAST_ETH_LEN : 0;
    pkt->vlan_id = bytes_be16(e + 14) & 0x0FFF;
    pkt->vlan_count = 1;
    *type = bytes_be16(e + 16);
    return *type == NM_ETH_IPV4 || *type == NM_ETH_IPV6 ? FAST_ETH_LEN + FAST_VLAN_LEN : 0;
}

/* The network layer's lengths, shared by both versions: hdr_len bytes of
 * IP header, l4_wire_len transport bytes by the header's length field, of
 * which `available` follow the header in the capture (never more than the
 * length field says). */
static void fast_net_set(struct fast_net *n, uint8_t version, uint8_t ttl, uint8_t proto,
                         uint32_t hdr_len, uint32_t l4_wire_len, uint32_t available)
{
    n->version = version;
    n->ttl = ttl;
    n->proto = proto;
    n->ip_len = hdr_len + l4_wire_len;
    n->l4_captured = available < l4_wire_len ? available : l4_wire_len;
    n->l3_len = hdr_len + n->l4_captured;
    n->l4 = n->l3 + hdr_len;
    n->l4_wire_len = l4_wire_len;
}

static bool fast_ipv4(const struct nm_cursor *cur, struct fast_net *n, struct nm_packet *pkt)
{
    const uint8_t *h = cursor_window(cur, n->l3, FAST_IPV4_LEN);

    if (!h || h[0] != 0x45)
        return false;
    uint32_t total = bytes_be16(h + 2);
    /* Length 0 (TSO), fragments and short lengths take the general path. */
    if (total < FAST_IPV4_LEN || (bytes_be16(h + 6) & 0x3FFF) != 0)
        return false;
    fast_net_set(n, 4, h[8], h[9], FAST_IPV4_LEN, total - FAST_IPV4_LEN,
                 (uint32_t)(cursor_remaining(cur) - n->l3 - FAST_IPV4_LEN));
    decode_addr_from_v4(&pkt->src, h + 12);
    decode_addr_from_v4(&pkt->dst, h + 16);
    return true;
}

static bool fast_ipv6(const struct nm_cursor *cur, struct fast_net *n, struct nm_packet *pkt)
{
    const uint8_t *h = cursor_window(cur, n->l3, FAST_IPV6_LEN);

    if (!h || (h[0] >> 4) != 6)
        return false;
    uint32_t plen = bytes_be16(h + 4);
    /* Extension headers and jumbograms take the general path. */
    if (plen == 0 || (h[6] != NM_IPPROTO_TCP && h[6] != NM_IPPROTO_UDP))
        return false;
    fast_net_set(n, 6, h[7], h[6], FAST_IPV6_LEN, plen,
                 (uint32_t)(cursor_remaining(cur) - n->l3 - FAST_IPV6_LEN));
    memcpy(pkt->src.b, h + 8, 16);
    memcpy(pkt->dst.b, h + 24, 16);
    return true;
}

/* TCP whose whole header (options too) was captured. */
static bool fast_tcp(struct decode_ctx *ctx, const struct nm_cursor *cur,
                     const struct fast_net *n, struct nm_packet *pkt)
{
    const uint8_t *t = cursor_window(cur, n->l4, FAST_TCP_LEN);

    if (!t)
        return false;
    /* The window may reach into link-layer padding past the IP length; a
     * header longer than what the IP length left is refused here, and
     * l4_captured <= l4_wire_len. */
    uint32_t hlen = (uint32_t)(t[12] >> 4) * 4;
    if (hlen < FAST_TCP_LEN || hlen > n->l4_captured)
        return false;
    pkt->has_ports = true;
    pkt->sport = bytes_be16(t);
    pkt->dport = bytes_be16(t + 2);
    pkt->has_tcp = true;
    pkt->tcp_seq = bytes_be32(t + 4);
    pkt->tcp_ack = bytes_be32(t + 8);
    pkt->tcp_flags = t[13];
    pkt->tcp_win = bytes_be16(t + 14);
    if (hlen > FAST_TCP_LEN)
        decode_tcp_options(ctx, pkt, t + FAST_TCP_LEN, hlen - FAST_TCP_LEN, hlen - FAST_TCP_LEN);
    pkt->payload_len = n->l4_captured - hlen;
    pkt->payload_wire_len = n->l4_wire_len - hlen;
    pkt->payload = t + hlen;
    return true;
}

/* UDP whose length agrees with the IP length's bound, on no tunnel port. */
static bool fast_udp(const struct nm_cursor *cur, const struct fast_net *n, struct nm_packet *pkt)
{
    const uint8_t *u = cursor_window(cur, n->l4, FAST_UDP_LEN);

    if (!u)
        return false;
    uint16_t sport = bytes_be16(u), dport = bytes_be16(u + 2);
    uint32_t udp_len = bytes_be16(u + 4);
    /* As for TCP, the window may reach into padding: then the IP length
     * left fewer than 8 bytes and no UDP length passes this. */
    if (udp_len < FAST_UDP_LEN || udp_len > n->l4_wire_len)
        return false;
    if (decode_udp_port_may_tunnel(sport, dport))
        return false;
    uint32_t data_len = udp_len - FAST_UDP_LEN;
    uint32_t captured = n->l4_captured - FAST_UDP_LEN;
    pkt->has_ports = true;
    pkt->sport = sport;
    pkt->dport = dport;
    pkt->payload_len = captured < data_len ? captured : data_len;
    pkt->payload_wire_len = data_len;
    pkt->payload = u + FAST_UDP_LEN;
    return true;
}

static void fast_store_net(const struct fast_net *n, const struct nm_cursor *cur,
                           struct nm_packet *pkt)
{
    pkt->has_ip = true;
    pkt->ip_version = n->version;
    pkt->proto = n->proto;
    pkt->ttl = n->ttl;
    pkt->ip_len = n->ip_len;
    pkt->l3 = cursor_ptr(cur) + n->l3;
    pkt->l3_len = n->l3_len;
    pkt->l3_complete = n->l3_len == n->ip_len;
    pkt->l4_wire_len = n->l4_wire_len;
}

bool decode_fast_frame(struct decode_ctx *ctx, const struct nm_frame *frame, struct nm_packet *pkt)
{
    struct fast_net n;
    uint16_t type;

    if (frame->linktype != NM_LINKTYPE_ETHERNET || !frame->data)
        return false;
    struct nm_cursor cur = cursor_make(frame->data, frame->caplen);
    n.l3 = fast_link(&cur, pkt, &type);
    if (n.l3 == 0)
        return false;
    bool ok = type == NM_ETH_IPV4 ? fast_ipv4(&cur, &n, pkt) : fast_ipv6(&cur, &n, pkt);
    if (ok && n.proto == NM_IPPROTO_TCP)
        ok = fast_tcp(ctx, &cur, &n, pkt);
    else if (ok)
        ok = n.proto == NM_IPPROTO_UDP && fast_udp(&cur, &n, pkt);
    if (!ok)
        return false;
    fast_store_net(&n, &cur, pkt);
    ctx->stats.decoded++;
    return true;
}
