/*
 * tcp.c: the TCP header, RFC 9293 §3.1, flags incl. ECE/CWR (RFC 3168),
 * options MSS (RFC 9293 §3.2), window scale and timestamps (RFC 7323),
 * SACK-permitted and SACK (RFC 2018).
 *
 * Accounting by ports must survive snaplen cuts, so the ports are taken as
 * soon as four bytes are there.  The fixed 20 bytes give flags, sequence
 * numbers and window (has_tcp); options are parsed over what was captured
 * of the header.  A malformed option is counted but never discards the
 * header: the flow still exists whatever its options say.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define TCP_MIN_HEADER 20
#define TCP_PORTS_LEN 4

enum {
    TCPOPT_EOL = 0, TCPOPT_NOP = 1, TCPOPT_MSS = 2, TCPOPT_WSCALE = 3,
    TCPOPT_SACK_PERMITTED = 4, TCPOPT_SACK = 5, TCPOPT_TIMESTAMP = 8,
};

/* RFC 7323 §2.3: a shift above 14 must be used as 14. */
#define TCP_MAX_WSCALE 14

/* Applies one option whose kind and length are sane; returns false when
 * the length does not match what the kind requires. */
static bool tcp_apply_option(struct nm_packet *pkt, const struct nm_cursor *opt,
                             uint8_t kind, uint8_t len)
{
    switch (kind) {
    case TCPOPT_MSS:
        if (len != 4)
            return false;
        pkt->tcp_has_mss = cursor_peek_be16(opt, 2, &pkt->tcp_mss);
        return true;
    case TCPOPT_WSCALE:
        if (len != 3)
            return false;
        pkt->tcp_has_wscale = cursor_peek_u8(opt, 2, &pkt->tcp_wscale);
        if (pkt->tcp_wscale > TCP_MAX_WSCALE)
            pkt->tcp_wscale = TCP_MAX_WSCALE;
        return true;
    case TCPOPT_SACK_PERMITTED:
        if (len != 2)
            return false;
        pkt->tcp_sack_permitted = true;
        return true;
    case TCPOPT_SACK:
        return len >= 10 && (len - 2) % 8 == 0;
    case TCPOPT_TIMESTAMP:
        if (len != 10)
            return false;
        pkt->tcp_has_ts = cursor_peek_be32(opt, 2, &pkt->tcp_ts_val) &&
                          cursor_peek_be32(opt, 6, &pkt->tcp_ts_ecr);
        return true;
    default:
        return true; /* unknown kinds are skipped by their length */
    }
}

/* See decode_internal.h. */
void decode_tcp_options(struct decode_ctx *ctx, struct nm_packet *pkt, const uint8_t *opts,
                        size_t captured_len, size_t wire_len)
{
    struct nm_cursor c = cursor_make(opts, captured_len);

    while (cursor_remaining(&c) > 0) {
        uint8_t kind = 0, len;
        cursor_peek_u8(&c, 0, &kind);
        if (kind == TCPOPT_EOL)
            return;
        if (kind == TCPOPT_NOP) {
            cursor_skip(&c, 1);
            continue;
        }
        bool cut = c.len < wire_len;
        if (!cursor_peek_u8(&c, 1, &len)) {
            if (!cut)
                decode_count(ctx, DECODE_R_tcp_bad_option);
            return;
        }
        if (len < 2 || (!cut && len > cursor_remaining(&c))) {
            decode_count(ctx, DECODE_R_tcp_bad_option);
            return;
        }
        struct nm_cursor one;
        if (!cursor_sub(&c, len, &one))
            return; /* cut by the capture */
        if (!tcp_apply_option(pkt, &one, kind, len))
            decode_count(ctx, DECODE_R_tcp_bad_option);
        cursor_skip(&c, len);
    }
}

/* b holds the fixed header, copied out with one bounds check. */
static void tcp_read_fixed(struct nm_packet *pkt, const uint8_t *b)
{
    pkt->tcp_seq = bytes_be32(b + 4);
    pkt->tcp_ack = bytes_be32(b + 8);
    pkt->tcp_flags = b[13];
    pkt->tcp_win = bytes_be16(b + 14);
    pkt->has_tcp = true;
}

/* Fewer than TCP_MIN_HEADER bytes: the ports still name the flow when
 * their four bytes were captured. */
static enum decode_result tcp_truncated(struct decode_ctx *ctx, struct nm_packet *pkt,
                                        const struct nm_cursor *cur)
{
    if (cursor_peek_be16(cur, 0, &pkt->sport) && cursor_peek_be16(cur, 2, &pkt->dport))
        pkt->has_ports = true;
    return decode_fail(ctx, DECODE_R_tcp_truncated);
}

enum decode_result decode_tcp(struct decode_ctx *ctx, struct nm_packet *pkt,
                              struct nm_cursor *cur)
{
    uint8_t b[TCP_MIN_HEADER];
    if (!cursor_peek_bytes(cur, 0, b, sizeof b))
        return tcp_truncated(ctx, pkt, cur);
    pkt->sport = bytes_be16(b);
    pkt->dport = bytes_be16(b + 2);
    pkt->has_ports = true;

    size_t header_len = (size_t)(b[12] >> 4) * 4;
    if (header_len < TCP_MIN_HEADER)
        return decode_fail(ctx, DECODE_R_tcp_bad_offset);
    /* A first fragment may legally split the header (RFC 791 only
     * guarantees 8 bytes); then the rest is simply not here. */
    if (header_len > pkt->l4_wire_len && !pkt->is_first_fragment)
        return decode_fail(ctx, DECODE_R_tcp_bad_offset);
    tcp_read_fixed(pkt, b);

    size_t captured_hdr = header_len < cursor_remaining(cur) ? header_len : cursor_remaining(cur);
    decode_tcp_options(ctx, pkt, cursor_ptr(cur) + TCP_MIN_HEADER, captured_hdr - TCP_MIN_HEADER,
                       header_len - TCP_MIN_HEADER);
    cursor_skip(cur, captured_hdr);
    decode_set_payload(pkt, cur, decode_wire_sub(pkt->l4_wire_len, (uint32_t)header_len));
    if (captured_hdr < header_len)
        return decode_fail(ctx, DECODE_R_tcp_truncated);
    return DECODE_OK;
}
