/*
 * pim.c: PIM-SM Register messages, RFC 7761 §4.9.3 (and §4.4.1 for the
 * Null-Register).  A designated router tunnels a multicast source's data
 * packets to the rendezvous point inside unicast PIM (IP protocol 103):
 * the 4-byte PIM header (version 2, type 1, reserved, checksum), a 4-byte
 * word with the Border (B) and Null-Register (N) bits, then the source's
 * IP packet, whose version nibble says IPv4 or IPv6.
 *
 * The encapsulated packet is the multicast traffic the network carries,
 * so it names the flow (as tshark shows it).  A Null-Register carries only
 * a dummy header probing the RP, not data: it stays the outer PIM packet,
 * like every other PIM message type.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define PIM_VERSION_TYPE_REGISTER 0x21   /* version 2, type 1 */
#define PIM_REGISTER_HEADER_LEN 8        /* PIM header + register flags word */
#define PIM_REGISTER_FLAGS_OFF 4
#define PIM_REGISTER_NULL 0x40000000u

bool pim_carries_data(const struct nm_cursor *cur)
{
    uint8_t version_type;
    uint32_t flags;
    if (!cursor_peek_u8(cur, 0, &version_type) || version_type != PIM_VERSION_TYPE_REGISTER)
        return false;
    /* A truncated flags word is left for decode_pim to count. */
    return !cursor_peek_be32(cur, PIM_REGISTER_FLAGS_OFF, &flags) || !(flags & PIM_REGISTER_NULL);
}

enum decode_result decode_pim(struct decode_ctx *ctx, struct nm_packet *pkt,
                              struct nm_cursor *cur)
{
    if (!cursor_skip(cur, PIM_REGISTER_HEADER_LEN))
        return decode_fail(ctx, DECODE_R_pim_truncated);
    return decode_ip(ctx, pkt, cur);
}
