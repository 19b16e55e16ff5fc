/*
 * vxlan_gpe.c: VXLAN Generic Protocol Extension,
 * draft-ietf-nvo3-vxlan-gpe-12 §3.1, UDP destination port 4790: an 8-byte
 * header (flags with the P bit, reserved, next protocol, 24-bit VNI,
 * reserved) in front of an IPv4, IPv6, Ethernet, NSH or MPLS payload, as
 * the next-protocol byte says (the NSH registry values, see nsh.c).
 * Without the P bit the payload is Ethernet, as in plain VXLAN.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define VXLAN_GPE_HEADER_LEN 8
#define VXLAN_GPE_FLAG_P 0x04
#define VXLAN_GPE_NEXT_OFF 3
#define VXLAN_GPE_NEXT_ETHERNET 3

enum decode_result decode_vxlan_gpe(struct decode_ctx *ctx, struct nm_packet *pkt,
                                    struct nm_cursor *cur)
{
    uint8_t flags, next;
    if (!cursor_peek_u8(cur, 0, &flags) || !cursor_peek_u8(cur, VXLAN_GPE_NEXT_OFF, &next) ||
        !cursor_skip(cur, VXLAN_GPE_HEADER_LEN))
        return decode_fail(ctx, DECODE_R_vxlan_gpe_truncated);
    if (!(flags & VXLAN_GPE_FLAG_P))
        next = VXLAN_GPE_NEXT_ETHERNET;
    return decode_nsh_next(ctx, pkt, cur, next);
}
