/*
 * icmp.c: ICMP for IPv4, RFC 792 (and RFC 950 for address mask).
 *
 * Queries that carry an identifier (echo 8/0, timestamp 13/14, information
 * 15/16, address mask 17/18) are reported as echo-like: icmp_id is set,
 * icmp_is_echo true, icmp_is_request for the request half, so the flow
 * table can pair request and reply.  Error messages (unreachable, time
 * exceeded ...) quote an inner header; that header is not decoded, the
 * packet is accounted by its own addresses and type/code.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define ICMP_MIN_HEADER 4
#define ICMP_QUERY_HEADER 8

/* Returns 1 for a request, 0 for a reply, -1 for a non-query type. */
static int icmp_query_kind(uint8_t type)
{
    switch (type) {
    case 8: case 13: case 15: case 17: return 1;
    case 0: case 14: case 16: case 18: return 0;
    default: return -1;
    }
}

enum decode_result decode_icmp(struct decode_ctx *ctx, struct nm_packet *pkt,
                               struct nm_cursor *cur)
{
    if (!cursor_peek_u8(cur, 0, &pkt->icmp_type) || !cursor_peek_u8(cur, 1, &pkt->icmp_code) ||
        !cursor_has(cur, ICMP_MIN_HEADER))
        return decode_fail(ctx, DECODE_R_icmp_truncated);
    pkt->has_icmp = true;
    /* Every ICMP message has an 8-byte header; only queries give bytes
     * 4-5 a meaning we use. */
    if (!cursor_has(cur, ICMP_QUERY_HEADER))
        return decode_fail(ctx, DECODE_R_icmp_truncated);
    int kind = icmp_query_kind(pkt->icmp_type);
    if (kind >= 0) {
        cursor_peek_be16(cur, 4, &pkt->icmp_id);
        pkt->icmp_is_echo = true;
        pkt->icmp_is_request = kind == 1;
    }
    cursor_skip(cur, ICMP_QUERY_HEADER);
    decode_set_payload(pkt, cur, decode_wire_sub(pkt->l4_wire_len, ICMP_QUERY_HEADER));
    return DECODE_OK;
}
