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

/* opts covers the option bytes that were captured; wire_len is how many
 * the data offset announces.  An option cut by the capture is not an error. */
static void tcp_parse_options(struct decode_ctx *ctx, struct nm_packet *pkt,
                              struct nm_cursor opts, size_t wire_len)
{
    while (cursor_remaining(&opts) > 0) {
        uint8_t kind = 0, len;
        cursor_peek_u8(&opts, 0, &kind);
        if (kind == TCPOPT_EOL)
            return;
        if (kind == TCPOPT_NOP) {
            cursor_skip(&opts, 1);
            continue;
        }
        bool cut = opts.len < wire_len;
        if (!cursor_peek_u8(&opts, 1, &len)) {
            if (!cut)
                decode_count(ctx, DECODE_R_tcp_bad_option);
            return;
        }
        if (len < 2 || (!cut && len > cursor_remaining(&opts))) {
            decode_count(ctx, DECODE_R_tcp_bad_option);
            return;
        }
        struct nm_cursor one;
        if (!cursor_sub(&opts, len, &one))
            return; /* cut by the capture */
        if (!tcp_apply_option(pkt, &one, kind, len))
            decode_count(ctx, DECODE_R_tcp_bad_option);
        cursor_skip(&opts, len);
    }
}

static void tcp_read_fixed(struct nm_packet *pkt, const struct nm_cursor *cur)
{
    uint8_t flags = 0;
    cursor_peek_be32(cur, 4, &pkt->tcp_seq);
    cursor_peek_be32(cur, 8, &pkt->tcp_ack);
    cursor_peek_u8(cur, 13, &flags);
    cursor_peek_be16(cur, 14, &pkt->tcp_win);
    pkt->tcp_flags = flags;
    pkt->has_tcp = true;
}

enum decode_result decode_tcp(struct decode_ctx *ctx, struct nm_packet *pkt,
                              struct nm_cursor *cur)
{
    uint8_t offset_byte;
    if (!cursor_peek_be16(cur, 0, &pkt->sport) || !cursor_peek_be16(cur, 2, &pkt->dport))
        return decode_fail(ctx, DECODE_R_tcp_truncated);
    pkt->has_ports = true;
    if (!cursor_peek_u8(cur, 12, &offset_byte) || !cursor_has(cur, TCP_MIN_HEADER))
        return decode_fail(ctx, DECODE_R_tcp_truncated);

    size_t header_len = (size_t)(offset_byte >> 4) * 4;
    if (header_len < TCP_MIN_HEADER)
        return decode_fail(ctx, DECODE_R_tcp_bad_offset);
    /* A first fragment may legally split the header (RFC 791 only
     * guarantees 8 bytes); then the rest is simply not here. */
    if (header_len > pkt->l4_wire_len && !pkt->is_first_fragment)
        return decode_fail(ctx, DECODE_R_tcp_bad_offset);
    tcp_read_fixed(pkt, cur);

    size_t captured_hdr = header_len < cursor_remaining(cur) ? header_len : cursor_remaining(cur);
    struct nm_cursor opts = cursor_make(cursor_ptr(cur) + TCP_MIN_HEADER,
                                        captured_hdr - TCP_MIN_HEADER);
    tcp_parse_options(ctx, pkt, opts, header_len - TCP_MIN_HEADER);
    cursor_skip(cur, captured_hdr);
    decode_set_payload(pkt, cur, decode_wire_sub(pkt->l4_wire_len, (uint32_t)header_len));
    if (captured_hdr < header_len)
        return decode_fail(ctx, DECODE_R_tcp_truncated);
    return DECODE_OK;
}
