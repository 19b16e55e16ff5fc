/*
 * ipv6.c: the IPv6 header and extension-header chain, RFC 8200 (§4 for the
 * extension headers, §4.5 fragments), RFC 4302 §2.2 for AH's length unit,
 * RFC 6946 for atomic fragments, RFC 2675 for jumbograms.
 *
 * The chain is walked up to NM_IPV6_MAX_EXT headers.  When it is too long
 * or truncated, the packet is still accounted by addresses with proto set
 * to the header that could not be passed (the transport is unknown).
 * A payload length of 0 (jumbogram, or Linux TSO on the sender) is taken as
 * the captured length.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define IPV6_HEADER_LEN 40
#define IPV6_FRAG_HEADER_LEN 8
#define IPV6_FRAG_OFFSET_MASK 0xFFF8
#define IPV6_FRAG_MORE 0x0001

enum {
    NH_HOP_BY_HOP = 0, NH_ROUTING = 43, NH_FRAGMENT = 44, NH_AH = 51,
    NH_NONE = 59, NH_DEST_OPTS = 60, NH_MOBILITY = 135, NH_HIP = 139, NH_SHIM6 = 140,
};

/* Headers that share the RFC 8200 §4 layout (next header, length in
 * 8-octet units not counting the first) and can be stepped over. */
static bool ipv6_is_generic_ext(uint8_t nh)
{
    return nh == NH_HOP_BY_HOP || nh == NH_ROUTING || nh == NH_DEST_OPTS ||
           nh == NH_MOBILITY || nh == NH_HIP || nh == NH_SHIM6;
}

struct ipv6_walk {
    uint8_t nh;          /* the header the cursor is positioned at */
    uint16_t frag_units; /* fragment offset in 8-octet units */
};

/* Reads a Fragment header (RFC 8200 §4.5).  An atomic fragment (offset 0,
 * M clear, RFC 6946) is not a fragment for accounting purposes. */
static bool ipv6_read_fragment(struct nm_cursor *cur, struct nm_packet *pkt,
                               struct ipv6_walk *w)
{
    uint8_t next;
    uint16_t offset_flags;
    uint32_t id;
    if (!cursor_peek_u8(cur, 0, &next) || !cursor_peek_be16(cur, 2, &offset_flags) ||
        !cursor_peek_be32(cur, 4, &id) || !cursor_skip(cur, IPV6_FRAG_HEADER_LEN))
        return false;
    uint16_t units = (uint16_t)((offset_flags & IPV6_FRAG_OFFSET_MASK) >> 3);
    if (units != 0 || (offset_flags & IPV6_FRAG_MORE)) {
        pkt->is_fragment = true;
        pkt->is_first_fragment = units == 0;
        pkt->frag_id = id;
        w->frag_units = units;
    }
    w->nh = next;
    return true;
}

static bool ipv6_skip_ext(struct nm_cursor *cur, struct ipv6_walk *w)
{
    uint8_t next, len;
    if (!cursor_peek_u8(cur, 0, &next) || !cursor_peek_u8(cur, 1, &len))
        return false;
    size_t bytes = w->nh == NH_AH ? ((size_t)len + 2) * 4 : ((size_t)len + 1) * 8;
    if (!cursor_skip(cur, bytes))
        return false;
    w->nh = next;
    return true;
}

/* Walks extension headers until a transport (or unknown) header, a
 * non-first fragment's data, or No Next Header. */
static enum decode_result ipv6_walk_chain(struct decode_ctx *ctx, struct nm_packet *pkt,
                                          struct nm_cursor *cur, struct ipv6_walk *w)
{
    for (int seen = 0;; seen++) {
        bool is_ext = ipv6_is_generic_ext(w->nh) || w->nh == NH_AH || w->nh == NH_FRAGMENT;
        if (!is_ext)
            return DECODE_OK;
        if (seen >= NM_IPV6_MAX_EXT)
            return decode_fail(ctx, DECODE_R_ipv6_ext_too_many);
        bool ok = w->nh == NH_FRAGMENT ? ipv6_read_fragment(cur, pkt, w) : ipv6_skip_ext(cur, w);
        if (!ok)
            return decode_fail(ctx, DECODE_R_ipv6_ext_truncated);
        if (pkt->is_fragment && !pkt->is_first_fragment)
            return DECODE_OK; /* later headers are fragment data */
    }
}

enum decode_result decode_ipv6(struct decode_ctx *ctx, struct nm_packet *pkt,
                               struct nm_cursor *cur)
{
    uint8_t first, nh, hlim;
    uint16_t plen;
    if (cursor_peek_u8(cur, 0, &first) && (first >> 4) != 6)
        return decode_fail(ctx, DECODE_R_ip_bad_version);
    if (!cursor_has(cur, IPV6_HEADER_LEN))
        return decode_fail(ctx, DECODE_R_ipv6_truncated);
    cursor_peek_be16(cur, 4, &plen);
    cursor_peek_u8(cur, 6, &nh);
    cursor_peek_u8(cur, 7, &hlim);
    cursor_peek_bytes(cur, 8, pkt->src.b, 16);
    cursor_peek_bytes(cur, 24, pkt->dst.b, 16);
    const uint8_t *l3 = cursor_ptr(cur);
    cursor_skip(cur, IPV6_HEADER_LEN);

    size_t payload_len = plen ? plen : cursor_remaining(cur);
    size_t captured = payload_len < cursor_remaining(cur) ? payload_len : cursor_remaining(cur);
    pkt->l3 = l3;
    pkt->l3_len = (uint32_t)(IPV6_HEADER_LEN + captured);
    pkt->l3_complete = plen != 0 && captured == payload_len;
    struct nm_cursor payload = cursor_make(cursor_ptr(cur), captured);
    pkt->has_ip = true;
    pkt->ip_version = 6;
    pkt->ttl = hlim;
    pkt->ip_len = (uint32_t)(IPV6_HEADER_LEN + payload_len);

    struct ipv6_walk w = { nh, 0 };
    enum decode_result r = ipv6_walk_chain(ctx, pkt, &payload, &w);
    pkt->proto = w.nh;
    pkt->l4_wire_len = (uint32_t)(payload_len - payload.off);
    if (r != DECODE_OK) {
        decode_set_payload(pkt, &payload, pkt->l4_wire_len);
        return r;
    }
    if (w.nh == NH_NONE) {
        decode_set_payload(pkt, &payload, pkt->l4_wire_len);
        return DECODE_OK;
    }
    uint32_t frag_end = (uint32_t)w.frag_units * 8u + pkt->l4_wire_len;
    return decode_ip_continue(ctx, pkt, &payload, w.nh, frag_end);
}
