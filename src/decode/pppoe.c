/*
 * pppoe.c: the PPPoE session stage, RFC 2516 §4/§6 (EtherType 0x8864): a
 * 6-byte header (version/type 0x11, code 0, session id, length) then a PPP
 * frame whose 2-byte protocol (RFC 1661 §2) is 0x0021 for IPv4 and 0x0057
 * for IPv6 (RFC 5072).  LCP, IPCP and other control traffic is not IP.
 * The length field bounds the frame, dropping Ethernet padding.  A
 * protocol field compressed to one byte (RFC 1661 §6.5, recognisable by
 * its odd first byte) is accepted.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define PPPOE_HEADER_LEN 6
#define PPPOE_VER_TYPE 0x11
#define PPP_PROTO_IPV4 0x0021
#define PPP_PROTO_IPV6 0x0057

static bool ppp_read_protocol(struct nm_cursor *ppp, uint16_t *proto)
{
    uint8_t first;
    if (!cursor_peek_u8(ppp, 0, &first))
        return false;
    if (first & 1) {
        *proto = first;
        return cursor_skip(ppp, 1);
    }
    return cursor_get_be16(ppp, proto);
}

enum decode_result decode_pppoe(struct decode_ctx *ctx, struct nm_packet *pkt,
                                struct nm_cursor *cur)
{
    uint8_t ver_type;
    uint16_t length, ppp_proto;
    if (!cursor_peek_u8(cur, 0, &ver_type) || !cursor_peek_be16(cur, 4, &length) ||
        !cursor_skip(cur, PPPOE_HEADER_LEN))
        return decode_fail(ctx, DECODE_R_pppoe_truncated);
    if (ver_type != PPPOE_VER_TYPE)
        return DECODE_STOP; /* a future version: not something we can read */
    size_t captured = length < cursor_remaining(cur) ? length : cursor_remaining(cur);
    struct nm_cursor ppp = cursor_make(cursor_ptr(cur), captured);
    if (!ppp_read_protocol(&ppp, &ppp_proto))
        return decode_fail(ctx, DECODE_R_pppoe_truncated);
    if (ppp_proto == PPP_PROTO_IPV4)
        return decode_ipv4(ctx, pkt, &ppp);
    if (ppp_proto == PPP_PROTO_IPV6)
        return decode_ipv6(ctx, pkt, &ppp);
    return DECODE_STOP; /* LCP, IPCP, CHAP ...: counted as non-IP */
}
