/*
 * udp.c: the UDP header, RFC 768, and the hand-off to UDP tunnels: VXLAN
 * (RFC 7348, destination port 4789), VXLAN-GPE (port 4790), Geneve
 * (RFC 8926, port 6081), MPLS in UDP (RFC 7510, port 6635) and Teredo
 * (RFC 4380, port 3544 either way, when the payload looks like IPv6).
 *
 * A length field below 8 or beyond the IP payload is counted (udp_bad_len)
 * but the ports are kept, since they still name the flow; such a datagram
 * is never decapsulated because its payload boundary is unknown.  In a
 * first fragment the length covers the whole datagram, so only its lower
 * bound can be checked.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define UDP_HEADER_LEN 8

static enum decode_result udp_maybe_decap(struct decode_ctx *ctx, struct nm_packet *pkt,
                                          struct nm_cursor *payload)
{
    /* One list of tunnel ports, shared with the fast path (fastpath.c). */
    if (!decode_udp_port_may_tunnel(pkt->sport, pkt->dport))
        return DECODE_OK;
    if (pkt->dport == NM_UDP_PORT_VXLAN)
        return decode_tunnel(ctx, pkt, payload, NM_TUNNEL_VXLAN, decode_vxlan);
    if (pkt->dport == NM_UDP_PORT_GENEVE)
        return decode_tunnel(ctx, pkt, payload, NM_TUNNEL_GENEVE, decode_geneve);
    if (pkt->dport == NM_UDP_PORT_VXLAN_GPE)
        return decode_tunnel(ctx, pkt, payload, NM_TUNNEL_VXLAN_GPE, decode_vxlan_gpe);
    if (pkt->dport == NM_UDP_PORT_MPLS)
        return decode_tunnel(ctx, pkt, payload, NM_TUNNEL_MPLS_UDP, decode_mpls);
    /* Teredo servers and relays answer from 3544 too. */
    size_t off;
    if ((pkt->dport == NM_UDP_PORT_TEREDO || pkt->sport == NM_UDP_PORT_TEREDO) &&
        teredo_inner_offset(payload, &off))
        return decode_tunnel(ctx, pkt, payload, NM_TUNNEL_TEREDO, decode_teredo);
    return DECODE_OK;
}

/* cur is past the header; udp_len is the datagram length to trust. */
static enum decode_result udp_accept(struct decode_ctx *ctx, struct nm_packet *pkt,
                                     struct nm_cursor *cur, uint32_t udp_len)
{
    uint32_t data_len = udp_len - UDP_HEADER_LEN;
    if (data_len > decode_wire_sub(pkt->l4_wire_len, UDP_HEADER_LEN))
        data_len = decode_wire_sub(pkt->l4_wire_len, UDP_HEADER_LEN);
    size_t captured = data_len < cursor_remaining(cur) ? data_len : cursor_remaining(cur);
    struct nm_cursor payload = cursor_make(cursor_ptr(cur), captured);
    decode_set_payload(pkt, &payload, data_len);
    return udp_maybe_decap(ctx, pkt, &payload);
}

enum decode_result decode_udp(struct decode_ctx *ctx, struct nm_packet *pkt,
                              struct nm_cursor *cur)
{
    uint16_t udp_len;
    if (!cursor_peek_be16(cur, 0, &pkt->sport) || !cursor_peek_be16(cur, 2, &pkt->dport))
        return decode_fail(ctx, DECODE_R_udp_truncated);
    pkt->has_ports = true;
    if (!cursor_peek_be16(cur, 4, &udp_len) || !cursor_skip(cur, UDP_HEADER_LEN))
        return decode_fail(ctx, DECODE_R_udp_truncated);

    /* RFC 2675 §4 (and Linux BIG TCP over UDP tunnels): a datagram too big
     * for 16 bits says 0 and lets the IP length speak. */
    if (udp_len == 0 && pkt->l4_wire_len > UINT16_MAX)
        return udp_accept(ctx, pkt, cur, pkt->l4_wire_len);
    /* A first fragment's length field covers the whole datagram. */
    uint32_t limit = pkt->is_first_fragment ? UINT32_MAX : pkt->l4_wire_len;
    if (udp_len < UDP_HEADER_LEN || udp_len > limit) {
        decode_set_payload(pkt, cur, decode_wire_sub(pkt->l4_wire_len, UDP_HEADER_LEN));
        return decode_fail(ctx, DECODE_R_udp_bad_len);
    }
    return udp_accept(ctx, pkt, cur, udp_len);
}
