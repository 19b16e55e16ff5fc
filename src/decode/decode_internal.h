/*
 * decode_internal.h: helpers shared by the decoders in src/decode/ and by
 * nothing else.  The public contract stays in decode.h; what is here may
 * change without notice to the flow table.
 */
#ifndef NETMOON_DECODE_INTERNAL_H
#define NETMOON_DECODE_INTERNAL_H

#include <string.h>

#include "decode/decode.h"

/* RFC 8200 does not bound the chain; real stacks rarely exceed 3, and a
 * bound keeps a crafted chain from costing more than a few reads. */
#define NM_IPV6_MAX_EXT 8
/* A deeper nest is more likely an attack than a network design. */
#define NM_MAX_TUNNEL_DEPTH 4

enum {
    NM_ETH_IPV4 = 0x0800,
    NM_ETH_ARP = 0x0806,
    NM_ETH_VLAN = 0x8100,
    NM_ETH_IPV6 = 0x86DD,
    NM_ETH_QINQ = 0x88A8,
    NM_ETH_QINQ_OLD = 0x9100,
    NM_ETH_TEB = 0x6558,             /* transparent Ethernet bridging (GRE, Geneve) */
    NM_ETH_MPLS_UC = 0x8847,
    NM_ETH_MPLS_MC = 0x8848,
    NM_ETH_PPPOE_SESSION = 0x8864,
    NM_ETH_MACSEC = 0x88E5,          /* IEEE 802.1AE */
    NM_ETH_ETAG = 0x893F,            /* IEEE 802.1BR */
    NM_ETH_NSH = 0x894F,             /* RFC 8300 */
    NM_ETH_MIN_TYPE = 0x0600,
};

enum {
    NM_IPPROTO_ICMP = 1, NM_IPPROTO_IPIP = 4, NM_IPPROTO_TCP = 6,
    NM_IPPROTO_DCCP = 33, NM_IPPROTO_UDP = 17, NM_IPPROTO_IPV6 = 41,
    NM_IPPROTO_GRE = 47, NM_IPPROTO_ICMPV6 = 58, NM_IPPROTO_SCTP = 132,
    NM_IPPROTO_UDPLITE = 136, NM_IPPROTO_PIM = 103,
};

enum {
    NM_UDP_PORT_VXLAN = 4789, NM_UDP_PORT_VXLAN_GPE = 4790, NM_UDP_PORT_GENEVE = 6081,
    NM_UDP_PORT_TEREDO = 3544, NM_UDP_PORT_MPLS = 6635,
};

/* The TPIDs decode_vlan takes (802.1Q, 802.1ad, pre-standard QinQ). */
static inline bool decode_is_vlan_tpid(uint16_t type)
{
    return type == NM_ETH_VLAN || type == NM_ETH_QINQ || type == NM_ETH_QINQ_OLD;
}

/* The UDP ports udp.c hands to a tunnel decoder (Teredo only when the
 * payload also looks like it): the fast path leaves these to udp.c. */
static inline bool decode_udp_port_may_tunnel(uint16_t sport, uint16_t dport)
{
    return dport == NM_UDP_PORT_VXLAN || dport == NM_UDP_PORT_GENEVE ||
           dport == NM_UDP_PORT_VXLAN_GPE || dport == NM_UDP_PORT_MPLS ||
           dport == NM_UDP_PORT_TEREDO || sport == NM_UDP_PORT_TEREDO;
}

/* Records the captured remainder of cur as the transport payload, with
 * wire_len bytes according to the headers. */
static inline void decode_set_payload(struct nm_packet *pkt, const struct nm_cursor *cur,
                                      uint32_t wire_len)
{
    pkt->payload = cursor_ptr(cur);
    pkt->payload_len = (uint32_t)cursor_remaining(cur);
    pkt->payload_wire_len = wire_len;
}

/* Header lengths subtracted from wire lengths; a standalone call of a
 * transport decoder (tests) may have no wire length at all. */
static inline uint32_t decode_wire_sub(uint32_t wire, uint32_t header)
{
    return wire > header ? wire - header : 0;
}

/* IPv4-mapped form (RFC 4291 §2.5.5.2), as decode.h promises.  Stored as
 * two 8-byte words: the flow key reads the last eight bytes as one word
 * right after decoding (flow_key.h), and a read that spans several smaller
 * stores cannot be forwarded from them but waits for them to retire, which
 * made that read the costliest instruction of the reader thread in perf. */
static inline void decode_addr_from_v4(struct nm_addr *a, const uint8_t v4[4])
{
    uint32_t v;
    uint64_t w[2] = { 0, 0 };

    memcpy(&v, v4, 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    w[1] = 0xFFFF0000ull | (uint64_t)v << 32;    /* bytes 8..15: 00 00 FF FF v4 */
#else
    w[1] = 0x0000FFFF00000000ull | v;
#endif
    memcpy(a->b, w, sizeof(w));
}

/* Continues after a network header: fragment bookkeeping, then the
 * transport decoder unless this is a non-first fragment.  frag_end is the
 * byte offset just past this fragment's data in the original datagram. */
enum decode_result decode_ip_continue(struct decode_ctx *ctx, struct nm_packet *pkt,
                                      struct nm_cursor *cur, uint8_t proto, uint32_t frag_end);

/* Tries the tunnel decoder `inner` on cur.  The inner packet replaces the
 * network/transport fields when it decodes as IP; otherwise pkt is left
 * exactly as the outer packet had it (the reason already counted). */
enum decode_result decode_tunnel(struct decode_ctx *ctx, struct nm_packet *pkt,
                                 struct nm_cursor *cur, enum nm_tunnel type, decode_fn *inner);

/* The tunnel name a GRE packet at cur gets: "erspan" for mirrored
 * traffic, "gre" otherwise. */
enum nm_tunnel gre_tunnel_kind(const struct nm_cursor *cur);

/* Whether the PIM message at cur is a Register carrying a data packet
 * (not a Null-Register, not another PIM type). */
bool pim_carries_data(const struct nm_cursor *cur);

/* Dispatches on an NSH / VXLAN-GPE next-protocol value (IPv4, IPv6,
 * Ethernet, NSH, MPLS); anything else is not IP. */
enum decode_result decode_nsh_next(struct decode_ctx *ctx, struct nm_packet *pkt,
                                   struct nm_cursor *cur, uint8_t next);

/* Whether the UDP payload at cur is Teredo (RFC 4380): optional
 * indicators, then something shaped like an IPv6 header at *off. */
bool teredo_inner_offset(const struct nm_cursor *cur, size_t *off);

/* TCP options (RFC 9293 §3.2): captured_len option bytes at opts were
 * captured, wire_len is how many the data offset announces; an option cut
 * by the capture is not an error.  Bytes and lengths, not a cursor by
 * value: a cursor the caller builds with 8-byte stores would be copied
 * with a 16-byte load, which the store buffer cannot forward (on workload
 * 1, 43 % of decode_packet's perf samples waited there). */
void decode_tcp_options(struct decode_ctx *ctx, struct nm_packet *pkt, const uint8_t *opts,
                        size_t captured_len, size_t wire_len);

/* The common frame (Ethernet, IPv4/IPv6, TCP/UDP) in one pass; false when
 * the frame needs the general decoders (pkt then holds partial fields). */
bool decode_fast_frame(struct decode_ctx *ctx, const struct nm_frame *frame,
                       struct nm_packet *pkt);

/* Ports-only transports (SCTP RFC 9260, DCCP RFC 4340, UDP-Lite RFC 3828)
 * share the first four bytes of UDP's layout. */
decode_fn decode_ports_only;

#endif
