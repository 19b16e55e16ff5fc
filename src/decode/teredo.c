/*
 * teredo.c: Teredo, RFC 4380 §5.1.1: IPv6 carried in UDP to or from port
 * 3544, optionally preceded by an authentication indicator (0x0001, client
 * ID length, authentication value length, client ID, authentication value,
 * 8-byte nonce, confirmation byte) and then an origin indication (0x0000,
 * obfuscated port, obfuscated IPv4 address).
 *
 * Port 3544 alone does not make a Teredo packet, so, like tshark, the
 * payload is taken as Teredo only when what follows the indicators looks
 * like an IPv6 header (version 6, 40 bytes present); anything else stays
 * the outer UDP datagram without a reason.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define TEREDO_AUTH_TYPE 0x0001
#define TEREDO_ORIGIN_TYPE 0x0000
#define TEREDO_AUTH_FIXED_LEN 4     /* type, ID-len, AU-len */
#define TEREDO_AUTH_TRAILER_LEN 9   /* nonce, confirmation */
#define TEREDO_ORIGIN_LEN 8
#define IPV6_HEADER_LEN 40

bool teredo_inner_offset(const struct nm_cursor *cur, size_t *off)
{
    size_t at = 0;
    uint16_t type;
    if (cursor_peek_be16(cur, at, &type) && type == TEREDO_AUTH_TYPE) {
        uint8_t id_len, au_len;
        if (!cursor_peek_u8(cur, 2, &id_len) || !cursor_peek_u8(cur, 3, &au_len))
            return false;
        at += TEREDO_AUTH_FIXED_LEN + (size_t)id_len + au_len + TEREDO_AUTH_TRAILER_LEN;
    }
    if (cursor_peek_be16(cur, at, &type) && type == TEREDO_ORIGIN_TYPE)
        at += TEREDO_ORIGIN_LEN;
    uint8_t first;
    if (!cursor_peek_u8(cur, at, &first) || (first >> 4) != 6 ||
        cursor_remaining(cur) - at < IPV6_HEADER_LEN)
        return false;
    *off = at;
    return true;
}

enum decode_result decode_teredo(struct decode_ctx *ctx, struct nm_packet *pkt,
                                 struct nm_cursor *cur)
{
    size_t off;
    if (!teredo_inner_offset(cur, &off) || !cursor_skip(cur, off))
        return DECODE_STOP; /* not Teredo after all: the outer datagram */
    return decode_ipv6(ctx, pkt, cur);
}
