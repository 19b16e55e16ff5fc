/*
 * gre.c: Generic Routing Encapsulation version 0, RFC 2784 with the key and
 * sequence number extensions of RFC 2890, and the RFC 1701 routing field so
 * that old senders do not break the walk.  The protocol type is an
 * EtherType; 0x6558 (transparent Ethernet bridging) carries a whole frame.
 *
 * Version 1 is PPTP's enhanced GRE (RFC 2637) carrying PPP: not
 * decapsulated, and not an error either, so it is accounted as the outer
 * GRE packet without a reason.  Versions 2-7 are undefined: gre_bad_version.
 * ERSPAN (0x88BE type I/II, 0x22EB type III, see erspan.c) is decapsulated
 * and recorded as tunnel "erspan".  Other payloads (PPP ...) are left to
 * the outer packet.  The checksum is not verified: a monitor accounts what it sees.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define GRE_BASE_LEN 4
#define GRE_FLAG_CSUM 0x8000
#define GRE_FLAG_ROUTING 0x4000
#define GRE_FLAG_KEY 0x2000
#define GRE_FLAG_SEQ 0x1000
#define GRE_VERSION_MASK 0x0007
#define GRE_VERSION_PPTP 1
/* RFC 1701 source route entries; a long list is not a real deployment. */
#define GRE_MAX_SRE 16
/* WCCPv2 redirection (draft-param-wccp-v2rev1 §4.12): a 4-byte redirect
 * header, then the client's IPv4 packet. */
#define GRE_PROTO_WCCP 0x883E
#define WCCP_REDIRECT_LEN 4
#define GRE_PROTO_ERSPAN_I_II 0x88BE
#define GRE_PROTO_ERSPAN_III 0x22EB

/* RFC 1701 §2.1: SREs end with address family 0 and length 0. */
static bool gre_skip_routing(struct nm_cursor *cur)
{
    for (int i = 0; i < GRE_MAX_SRE; i++) {
        uint16_t af;
        uint8_t sre_len;
        if (!cursor_get_be16(cur, &af) || !cursor_skip(cur, 1) || !cursor_get_u8(cur, &sre_len))
            return false;
        if (af == 0 && sre_len == 0)
            return true;
        if (!cursor_skip(cur, sre_len))
            return false;
    }
    return false;
}

static bool gre_skip_optional(struct nm_cursor *cur, uint16_t flags)
{
    size_t len = 0;
    if (flags & (GRE_FLAG_CSUM | GRE_FLAG_ROUTING))
        len += 4; /* checksum + reserved1 (or RFC 1701 offset) */
    if (flags & GRE_FLAG_KEY)
        len += 4;
    if (flags & GRE_FLAG_SEQ)
        len += 4;
    if (!cursor_skip(cur, len))
        return false;
    return !(flags & GRE_FLAG_ROUTING) || gre_skip_routing(cur);
}

enum decode_result decode_gre(struct decode_ctx *ctx, struct nm_packet *pkt,
                              struct nm_cursor *cur)
{
    uint16_t flags, proto;
    if (!cursor_get_be16(cur, &flags) || !cursor_get_be16(cur, &proto))
        return decode_fail(ctx, DECODE_R_gre_truncated);
    uint16_t version = flags & GRE_VERSION_MASK;
    if (version == GRE_VERSION_PPTP)
        return DECODE_STOP;
    if (version != 0)
        return decode_fail(ctx, DECODE_R_gre_bad_version);
    if (!gre_skip_optional(cur, flags))
        return decode_fail(ctx, DECODE_R_gre_truncated);
    if (proto == NM_ETH_TEB)
        return decode_ethernet(ctx, pkt, cur);
    /* Type I has no ERSPAN header and no GRE sequence number; type II
     * always carries the sequence number (draft-foschiano-erspan §4.1). */
    if (proto == GRE_PROTO_ERSPAN_I_II)
        return (flags & GRE_FLAG_SEQ) ? decode_erspan2(ctx, pkt, cur)
                                      : decode_ethernet(ctx, pkt, cur);
    if (proto == GRE_PROTO_ERSPAN_III)
        return decode_erspan3(ctx, pkt, cur);
    if (proto == GRE_PROTO_WCCP)
        return cursor_skip(cur, WCCP_REDIRECT_LEN) ? decode_ipv4(ctx, pkt, cur)
                                                   : decode_fail(ctx, DECODE_R_gre_truncated);
    return decode_ethertype(ctx, pkt, cur, proto);
}

enum nm_tunnel gre_tunnel_kind(const struct nm_cursor *cur)
{
    uint16_t proto;
    if (cursor_peek_be16(cur, 2, &proto) &&
        (proto == GRE_PROTO_ERSPAN_I_II || proto == GRE_PROTO_ERSPAN_III))
        return NM_TUNNEL_ERSPAN;
    return NM_TUNNEL_GRE;
}
