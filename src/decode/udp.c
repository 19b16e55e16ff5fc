/*
 * udp.c: the UDP header, RFC 768, and the hand-off to UDP tunnels: VXLAN
 * (RFC 7348, destination port 4789) and Geneve (RFC 8926, port 6081).
 *
 * A length field below 8 or beyond the IP payload is counted (udp_bad_len)
 * but the ports are kept, since they still name the flow; such a datagram
 * is never decapsulated because its payload boundary is unknown.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define UDP_HEADER_LEN 8

static enum decode_result udp_maybe_decap(struct decode_ctx *ctx, struct nm_packet *pkt,
                                          struct nm_cursor *payload)
{
    if (pkt->dport == NM_UDP_PORT_VXLAN)
        return decode_tunnel(ctx, pkt, payload, NM_TUNNEL_VXLAN, decode_vxlan);
    if (pkt->dport == NM_UDP_PORT_GENEVE)
        return decode_tunnel(ctx, pkt, payload, NM_TUNNEL_GENEVE, decode_geneve);
    return DECODE_OK;
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

    if (udp_len < UDP_HEADER_LEN || udp_len > pkt->l4_wire_len) {
        decode_set_payload(pkt, cur, decode_wire_sub(pkt->l4_wire_len, UDP_HEADER_LEN));
        return decode_fail(ctx, DECODE_R_udp_bad_len);
    }
    size_t data_len = (size_t)udp_len - UDP_HEADER_LEN;
    struct nm_cursor payload = cursor_make(cursor_ptr(cur), data_len < cursor_remaining(cur)
                                                                ? data_len
                                                                : cursor_remaining(cur));
    decode_set_payload(pkt, &payload, (uint32_t)data_len);
    return udp_maybe_decap(ctx, pkt, &payload);
}
