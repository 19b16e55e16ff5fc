/*
 * ipv4.c: the IPv4 header, RFC 791 (options §3.1, fragmentation §2.3).
 *
 * Lengths: the payload cursor is bounded by the total length (dropping
 * Ethernet padding) but never beyond what was captured, so snaplen-cut
 * packets are still accounted.  A total length of 0 is what Linux shows for
 * TCP segmentation offload on the sending host; it is taken as "the whole
 * captured packet" rather than rejected.
 *
 * Options: a malformed option list is counted (ipv4_bad_options) but the
 * packet is still used, because IHL alone tells where the payload starts.
 * One option does change the flow: a loose or strict source route (§3.1,
 * types 131 and 137) whose route is not yet used up has the packet's
 * final destination as its last address, while the header's destination
 * is only the next hop.  The final destination is what the transport
 * pseudo-header uses (RFC 9293 §3.1, RFC 768) and what tshark shows as
 * ip.dst, and it stays the same at every capture point along the route,
 * so it is the flow's destination.  An exhausted route (pointer beyond the
 * length) leaves the header's destination, which is then the final one.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define IPV4_MIN_HEADER 20
#define IPV4_MF 0x2000
#define IPV4_OFFSET_MASK 0x1FFF
#define IPV4_OPT_EOL 0
#define IPV4_OPT_NOP 1
#define IPV4_OPT_LSRR 131
#define IPV4_OPT_SSRR 137
#define IPV4_ROUTE_MIN_LEN 7     /* type, length, pointer, one address */
#define IPV4_ROUTE_FIRST_PTR 4   /* the pointer is 1-based from the type */

struct ipv4_fields {
    uint8_t version, ihl_bytes_div4, ttl, proto;
    uint16_t total_len, id, frag;
    uint8_t src[4], dst[4];
};

/* The fixed header is copied out once (one bounds check) and its fields
 * read from the copy; false when fewer than IPV4_MIN_HEADER bytes are
 * there. */
static bool ipv4_read_fixed(const struct nm_cursor *cur, struct ipv4_fields *h)
{
    uint8_t b[IPV4_MIN_HEADER];
    if (!cursor_peek_bytes(cur, 0, b, sizeof b))
        return false;
    h->version = b[0] >> 4;
    h->ihl_bytes_div4 = b[0] & 0x0F;
    h->total_len = bytes_be16(b + 2);
    h->id = bytes_be16(b + 4);
    h->frag = bytes_be16(b + 6);
    h->ttl = b[8];
    h->proto = b[9];
    memcpy(h->src, b + 12, 4);
    memcpy(h->dst, b + 16, 4);
    return true;
}

/* A source route option at off (length len, already bounds-checked)
 * that still has addresses to visit replaces dst with its last one. */
static void ipv4_route_final_dst(const struct nm_cursor *cur, size_t off, uint8_t len,
                                 uint8_t dst[4])
{
    uint8_t ptr = 0;
    if (len < IPV4_ROUTE_MIN_LEN || (len - 3) % 4 != 0 || !cursor_peek_u8(cur, off + 2, &ptr))
        return;
    if (ptr < IPV4_ROUTE_FIRST_PTR || (size_t)ptr + 3 > len)
        return; /* route used up (or a pointer off the grid): dst is final */
    cursor_peek_bytes(cur, off + len - 4, dst, 4);
}

/* RFC 791 §3.1: EOL and NOP are single octets, every other option is a
 * type-length-value whose length counts the type and length octets.
 * Returns whether the list is well formed; applies a source route to h. */
static bool ipv4_options_walk(const struct nm_cursor *cur, size_t header_len, struct ipv4_fields *h)
{
    size_t off = IPV4_MIN_HEADER;
    while (off < header_len) {
        uint8_t type = 0, len = 0;
        cursor_peek_u8(cur, off, &type);
        if (type == IPV4_OPT_EOL)
            return true;
        if (type == IPV4_OPT_NOP) {
            off++;
            continue;
        }
        if (off + 1 >= header_len || !cursor_peek_u8(cur, off + 1, &len))
            return false;
        if (len < 2 || off + len > header_len)
            return false;
        if (type == IPV4_OPT_LSRR || type == IPV4_OPT_SSRR)
            ipv4_route_final_dst(cur, off, len, h->dst);
        off += len;
    }
    return true;
}

static void ipv4_fill_packet(struct nm_packet *pkt, const struct ipv4_fields *h, uint32_t ip_len)
{
    uint16_t offset_units = h->frag & IPV4_OFFSET_MASK;
    pkt->has_ip = true;
    pkt->ip_version = 4;
    pkt->proto = h->proto;
    pkt->ttl = h->ttl;
    decode_addr_from_v4(&pkt->src, h->src);
    decode_addr_from_v4(&pkt->dst, h->dst);
    pkt->ip_len = ip_len;
    pkt->is_fragment = (h->frag & IPV4_MF) || offset_units != 0;
    pkt->is_first_fragment = pkt->is_fragment && offset_units == 0;
    pkt->frag_id = pkt->is_fragment ? h->id : 0;
}

enum decode_result decode_ipv4(struct decode_ctx *ctx, struct nm_packet *pkt,
                               struct nm_cursor *cur)
{
    struct ipv4_fields h;
    if (!ipv4_read_fixed(cur, &h)) {
        uint8_t first;
        if (cursor_peek_u8(cur, 0, &first) && (first >> 4) != 4)
            return decode_fail(ctx, DECODE_R_ip_bad_version);
        return decode_fail(ctx, DECODE_R_ipv4_truncated);
    }
    if (h.version != 4)
        return decode_fail(ctx, DECODE_R_ip_bad_version);

    size_t header_len = (size_t)h.ihl_bytes_div4 * 4;
    if (header_len < IPV4_MIN_HEADER || header_len > cursor_remaining(cur))
        return decode_fail(ctx, DECODE_R_ipv4_bad_ihl);
    size_t total_len = h.total_len ? h.total_len : cursor_remaining(cur);
    if (total_len < header_len)
        return decode_fail(ctx, DECODE_R_ipv4_bad_total_len);
    if (header_len > IPV4_MIN_HEADER && !ipv4_options_walk(cur, header_len, &h))
        decode_count(ctx, DECODE_R_ipv4_bad_options);

    ipv4_fill_packet(pkt, &h, (uint32_t)total_len);
    size_t captured = total_len < cursor_remaining(cur) ? total_len : cursor_remaining(cur);
    pkt->l3 = cursor_ptr(cur);
    pkt->l3_len = (uint32_t)captured;
    pkt->l3_complete = h.total_len != 0 && captured == total_len;
    struct nm_cursor payload = cursor_make(cursor_ptr(cur) + header_len, captured - header_len);
    pkt->l4_wire_len = (uint32_t)(total_len - header_len);
    uint32_t frag_end = (uint32_t)(h.frag & IPV4_OFFSET_MASK) * 8u + pkt->l4_wire_len;
    return decode_ip_continue(ctx, pkt, &payload, h.proto, frag_end);
}
