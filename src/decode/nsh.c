/*
 * nsh.c: the Network Service Header, RFC 8300 §2: a 4-byte base header
 * (version 2 bits, O, U, TTL 6 bits, length 6 bits in 4-byte words, MD
 * type, next protocol), the 4-byte service path header, then context
 * headers (fixed 16 bytes for MD type 1, TLVs for MD type 2).  The length
 * field covers all of it, so the context is skipped without reading it.
 *
 * The next-protocol values (IANA "NSH Next Protocol": 1 IPv4, 2 IPv6,
 * 3 Ethernet, 4 NSH, 5 MPLS) are the ones VXLAN-GPE uses as well
 * (draft-ietf-nvo3-vxlan-gpe §3.2), hence the shared dispatcher.  NSH
 * steers a packet through service functions without changing its
 * endpoints: the inner packet names the flow.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define NSH_FIXED_LEN 8          /* base header + service path header */
#define NSH_VERSION_SHIFT 14
#define NSH_LENGTH_MASK 0x003F

enum {
    NSH_NEXT_IPV4 = 1,
    NSH_NEXT_IPV6 = 2,
    NSH_NEXT_ETHERNET = 3,
    NSH_NEXT_NSH = 4,
    NSH_NEXT_MPLS = 5,
};

enum decode_result decode_nsh_next(struct decode_ctx *ctx, struct nm_packet *pkt,
                                   struct nm_cursor *cur, uint8_t next)
{
    switch (next) {
    case NSH_NEXT_IPV4: return decode_ipv4(ctx, pkt, cur);
    case NSH_NEXT_IPV6: return decode_ipv6(ctx, pkt, cur);
    case NSH_NEXT_ETHERNET: return decode_ethernet(ctx, pkt, cur);
    /* NSH (nested, or after VXLAN-GPE) is a tunnel level: depth bounded. */
    case NSH_NEXT_NSH: return decode_tunnel(ctx, pkt, cur, NM_TUNNEL_NSH, decode_nsh);
    case NSH_NEXT_MPLS: return decode_mpls(ctx, pkt, cur);
    default: return DECODE_STOP; /* experimental or unassigned: not IP */
    }
}

enum decode_result decode_nsh(struct decode_ctx *ctx, struct nm_packet *pkt,
                              struct nm_cursor *cur)
{
    uint16_t ver_len;
    uint8_t next;
    if (!cursor_peek_be16(cur, 0, &ver_len) || !cursor_peek_u8(cur, 3, &next) ||
        !cursor_has(cur, NSH_FIXED_LEN))
        return decode_fail(ctx, DECODE_R_nsh_truncated);
    if ((ver_len >> NSH_VERSION_SHIFT) != 0)
        return DECODE_STOP; /* RFC 8300 §2.2: unknown versions are not parsed */
    size_t header_len = (size_t)(ver_len & NSH_LENGTH_MASK) * 4;
    if (header_len < NSH_FIXED_LEN)
        return decode_fail(ctx, DECODE_R_nsh_bad_length);
    if (!cursor_skip(cur, header_len))
        return decode_fail(ctx, DECODE_R_nsh_truncated);
    return decode_nsh_next(ctx, pkt, cur, next);
}
