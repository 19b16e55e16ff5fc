/*
 * icmpv6.c: ICMPv6, RFC 4443.  Echo request (128) and reply (129) carry an
 * identifier (§4.1, §4.2) that pairs them; every other type (errors,
 * neighbour discovery, MLD) is accounted by type and code only.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define ICMPV6_MIN_HEADER 4
#define ICMPV6_HEADER 8
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129

enum decode_result decode_icmpv6(struct decode_ctx *ctx, struct nm_packet *pkt,
                                 struct nm_cursor *cur)
{
    if (!cursor_peek_u8(cur, 0, &pkt->icmp_type) || !cursor_peek_u8(cur, 1, &pkt->icmp_code) ||
        !cursor_has(cur, ICMPV6_MIN_HEADER))
        return decode_fail(ctx, DECODE_R_icmpv6_truncated);
    pkt->has_icmp = true;
    bool echo = pkt->icmp_type == ICMPV6_ECHO_REQUEST || pkt->icmp_type == ICMPV6_ECHO_REPLY;
    if (!echo) {
        /* Non-echo messages have a 4-byte fixed part; the rest is body. */
        cursor_skip(cur, ICMPV6_MIN_HEADER);
        decode_set_payload(pkt, cur, decode_wire_sub(pkt->l4_wire_len, ICMPV6_MIN_HEADER));
        return DECODE_OK;
    }
    if (!cursor_peek_be16(cur, 4, &pkt->icmp_id) || !cursor_skip(cur, ICMPV6_HEADER))
        return decode_fail(ctx, DECODE_R_icmpv6_truncated);
    pkt->icmp_is_echo = true;
    pkt->icmp_is_request = pkt->icmp_type == ICMPV6_ECHO_REQUEST;
    decode_set_payload(pkt, cur, decode_wire_sub(pkt->l4_wire_len, ICMPV6_HEADER));
    return DECODE_OK;
}
