/*
 * mpls.c: an MPLS label stack, RFC 3032 §2.1: 4-byte entries (label, TC,
 * bottom-of-stack bit S, TTL) until S is set.  The stack does not say what
 * follows it; like most monitors we take the first nibble after the bottom
 * (RFC 4928 keeps pseudowires from starting with 4 or 6 for this very
 * reason).  Anything else (an Ethernet pseudowire's control word ...) is
 * not IP.  MPLS is a link-level shim here, not a tunnel: the labels do not
 * change which flow the packet belongs to.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define MPLS_MAX_LABELS 8
#define MPLS_BOTTOM_OF_STACK 0x00000100u

enum decode_result decode_mpls(struct decode_ctx *ctx, struct nm_packet *pkt,
                               struct nm_cursor *cur)
{
    for (int i = 0; i < MPLS_MAX_LABELS; i++) {
        uint32_t entry;
        if (!cursor_get_be32(cur, &entry))
            return decode_fail(ctx, DECODE_R_mpls_truncated);
        if (!(entry & MPLS_BOTTOM_OF_STACK))
            continue;
        uint8_t first;
        if (!cursor_peek_u8(cur, 0, &first))
            return decode_fail(ctx, DECODE_R_mpls_truncated);
        switch (first >> 4) {
        case 4: return decode_ipv4(ctx, pkt, cur);
        case 6: return decode_ipv6(ctx, pkt, cur);
        default: return DECODE_STOP; /* counted as non-IP */
        }
    }
    return decode_fail(ctx, DECODE_R_mpls_too_deep);
}
