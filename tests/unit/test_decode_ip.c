/*
 * test_decode_ip.c: IPv4 (RFC 791: IHL, total length, options, source
 * routes, fragments),
 * IPv6 (RFC 8200: every extension header, chain limits, fragments) and the
 * fragment table that carries ports from first to later fragments.
 */
#include <stdlib.h>

#include "decode/decode.h"
#include "testlib.h"
#include "decode_build.h"

static struct decode_ctx ctx;

static bool run_raw(const struct pb *b, struct nm_packet *p)
{
    return decode_bytes(&ctx, NM_LINKTYPE_RAW, b->b, b->n, p);
}

/* An IPv4 UDP datagram 192.0.2.1:1111 -> 198.51.100.2:2222, 4 data bytes. */
static void build_v4_udp_opts(struct pb *b, const uint8_t *opts, size_t optlen)
{
    b->n = 0;
    size_t ip = pb_ipv4_opts(b, 17, V4_A, V4_B, 1, 0, opts, optlen);
    size_t udp = pb_udp(b, 1111, 2222);
    pb_bytes(b, "data", 4);
    pb_udp_finish(b, udp);
    pb_ipv4_finish(b, ip);
}

static void test_ipv4_fields(void)
{
    static const uint8_t literal[] = { 0x45, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x40, 0x00, 0x7f, 0x11, 0, 0,
                                       192, 0, 2, 1, 198, 51, 100, 2,
                                       0x04, 0x57, 0x08, 0xae, 0x00, 0x08, 0, 0 };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_RAW, literal, sizeof literal, &p));
    CHECK_EQ_U(p.ttl, 127);
    CHECK_EQ_U(p.ip_len, 28);
    CHECK(!p.is_fragment); /* DF alone is not fragmentation */
    CHECK_EQ_U(p.sport, 1111);
    CHECK_EQ_U(p.dport, 2222);
    CHECK_EQ_U(p.payload_len, 0);
    CHECK_EQ_U(p.payload_wire_len, 0);
}

static void test_ipv4_valid_options(void)
{
    /* NOP, NOP, then Router Alert (RFC 2113: type 148, length 4), then EOL
     * padding to a 4-byte boundary: IHL 7. */
    static const uint8_t opts[8] = { 1, 1, 148, 4, 0, 0, 0, 0 };
    struct pb b;
    struct nm_packet p;
    build_v4_udp_opts(&b, opts, sizeof opts);
    decode_ctx_init(&ctx, NULL);
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(p.sport, 1111);
    CHECK_EQ_U(p.ip_len, 28 + 4 + 8);
    CHECK_EQ_U(p.payload_len, 4);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_ipv4_bad_options], 0);
}

static void test_ipv4_bad_options_still_used(void)
{
    /* Record Route (7) with length 1: below the 2 every TLV needs. */
    static const uint8_t short_len[4] = { 7, 1, 0, 0 };
    /* Timestamp (68) claiming 12 bytes inside a 4-byte option area. */
    static const uint8_t too_long[4] = { 68, 12, 5, 0 };
    /* A TLV whose length octet is past the header. */
    static const uint8_t no_len[4] = { 1, 1, 1, 7 };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_v4_udp_opts(&b, short_len, 4);
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(p.dport, 2222);
    build_v4_udp_opts(&b, too_long, 4);
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(p.dport, 2222);
    build_v4_udp_opts(&b, no_len, 4);
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(p.dport, 2222);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_ipv4_bad_options], 3);
    CHECK_EQ_U(ctx.stats.decoded, 3);
}

static void test_ipv4_source_route(void)
{
    /* RFC 791 §3.1 loose source route (131): length 11, pointer 4 (first
     * address next), route C then D, EOL: D is the final destination. */
    static const uint8_t lsrr[12] = { 131, 11, 4, 203, 0, 113, 7, 198, 18, 0, 9, 0 };
    /* Strict source route (137), pointer 8: one hop done, D still ahead. */
    static const uint8_t ssrr[12] = { 1, 137, 11, 8, 203, 0, 113, 7, 198, 18, 0, 9 };
    /* Pointer 12 > length 11: the route is used up and the header's
     * destination is the final one. */
    static const uint8_t done[12] = { 131, 11, 12, 203, 0, 113, 7, 198, 18, 0, 9, 0 };
    /* Length 10 is no whole number of addresses: not followed (and the
     * option list stays well formed, so no reason). */
    static const uint8_t odd[12] = { 131, 10, 4, 203, 0, 113, 7, 198, 18, 0, 0, 0 };
    /* Record route (7) has the same shape but does not route. */
    static const uint8_t rr[8] = { 7, 7, 4, 203, 0, 113, 7, 0 };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_v4_udp_opts(&b, lsrr, sizeof lsrr);
    CHECK(run_raw(&b, &p));
    CHECK(addr_is_v4(&p.src, V4_A));
    CHECK(addr_is_v4(&p.dst, V4_D));
    CHECK_EQ_U(p.dport, 2222);
    CHECK_EQ_U(p.payload_len, 4);
    build_v4_udp_opts(&b, ssrr, sizeof ssrr);
    CHECK(run_raw(&b, &p));
    CHECK(addr_is_v4(&p.dst, V4_D));
    build_v4_udp_opts(&b, done, sizeof done);
    CHECK(run_raw(&b, &p));
    CHECK(addr_is_v4(&p.dst, V4_B));
    build_v4_udp_opts(&b, odd, sizeof odd);
    CHECK(run_raw(&b, &p));
    CHECK(addr_is_v4(&p.dst, V4_B));
    build_v4_udp_opts(&b, rr, sizeof rr);
    CHECK(run_raw(&b, &p));
    CHECK(addr_is_v4(&p.dst, V4_B));
    CHECK_EQ_U(decode_stats_errors(&ctx.stats), 0);
}

static void test_ipv4_bad_ihl(void)
{
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_v4_udp_opts(&b, NULL, 0);
    b.b[0] = 0x44; /* IHL 4: 16 bytes, below the fixed 20 */
    CHECK(!run_raw(&b, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_ipv4_bad_ihl], 1);
    build_v4_udp_opts(&b, NULL, 0);
    b.b[0] = 0x4f; /* IHL 15: 60 bytes, more than the 32 captured */
    CHECK(!run_raw(&b, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_ipv4_bad_ihl], 2);
    CHECK_EQ_U(ctx.stats.non_ip, 0);
}

static void test_ipv4_truncated(void)
{
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_v4_udp_opts(&b, NULL, 0);
    b.n = 19;
    CHECK(!run_raw(&b, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_ipv4_truncated], 1);
}

static void test_ipv4_total_length(void)
{
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    /* Total length 10 is below the 20-byte header. */
    build_v4_udp_opts(&b, NULL, 0);
    pb_put16(&b, 2, 10);
    CHECK(!run_raw(&b, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_ipv4_bad_total_len], 1);

    /* Snaplen cut: 1000 bytes on the wire, 30 captured.  Still accounted
     * with ports; the header lengths are kept for payload_wire_len. */
    build_v4_udp_opts(&b, NULL, 0);
    pb_put16(&b, 2, 1000);
    pb_put16(&b, 24, 980);
    b.n = 30;
    struct nm_frame f = { b.b, 30, 1014, 5, NM_LINKTYPE_RAW, false, NULL };
    CHECK(decode_packet(&ctx, &f, &p));
    CHECK_EQ_U(p.ip_len, 1000);
    CHECK_EQ_U(p.wirelen, 1014);
    CHECK_EQ_U(p.caplen, 30);
    CHECK_EQ_U(p.sport, 1111);
    CHECK_EQ_U(p.payload_len, 2);
    CHECK_EQ_U(p.payload_wire_len, 972);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_udp_bad_len], 0);

    /* Total length 0 (TCP segmentation offload): the captured packet. */
    build_v4_udp_opts(&b, NULL, 0);
    pb_put16(&b, 2, 0);
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(p.ip_len, 32);
    CHECK_EQ_U(p.dport, 2222);
}

/* A fragment of datagram `id` from A to B: offset in 8-byte units. */
static void build_v4_frag(struct pb *b, uint16_t id, uint16_t offset_units, bool more,
                          const uint8_t *data, size_t len)
{
    b->n = 0;
    size_t ip = pb_ipv4_opts(b, 17, V4_A, V4_B, id, (uint16_t)((more ? 0x2000 : 0) | offset_units),
                             NULL, 0);
    pb_bytes(b, data, len);
    pb_ipv4_finish(b, ip);
}

static void test_ipv4_fragments_joined(void)
{
    /* First fragment: UDP header 5000 -> 6000 claiming 8 + 24 bytes, and
     * 16 data bytes; the second fragment (offset 24 bytes = 3 units) holds
     * the last 8. */
    uint8_t first[24] = { 0x13, 0x88, 0x17, 0x70, 0x00, 0x20, 0, 0 };
    uint8_t rest[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_v4_frag(&b, 0x4242, 0, true, first, sizeof first);
    CHECK(run_raw(&b, &p));
    CHECK(p.is_fragment);
    CHECK(p.is_first_fragment);
    CHECK_EQ_U(p.frag_id, 0x4242);
    CHECK_EQ_U(p.sport, 5000);
    CHECK_EQ_U(p.dport, 6000);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_udp_bad_len], 0);

    build_v4_frag(&b, 0x4242, 3, false, rest, sizeof rest);
    CHECK(run_raw(&b, &p));
    CHECK(p.is_fragment);
    CHECK(!p.is_first_fragment);
    CHECK(p.has_ports);
    CHECK_EQ_U(p.sport, 5000);
    CHECK_EQ_U(p.dport, 6000);
    CHECK(!p.has_tcp);
    CHECK_EQ_U(p.proto, 17);
    CHECK_EQ_U(p.payload_len, 8);
    CHECK_EQ_U(ctx.stats.fragments, 2);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_frag_orphan], 0);
    CHECK_EQ_U(ctx.frags.matched, 1);
}

static void test_ipv4_fragment_orphan(void)
{
    uint8_t rest[8] = { 0 };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_v4_frag(&b, 0x9999, 3, false, rest, sizeof rest);
    CHECK(run_raw(&b, &p)); /* still accounted by addresses */
    CHECK(!p.has_ports);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_frag_orphan], 1);
}

static void test_ipv4_fragment_expiry(void)
{
    uint8_t first[16] = { 0x13, 0x88, 0x17, 0x70, 0x00, 0x20, 0, 0 };
    uint8_t rest[8] = { 0 };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_v4_frag(&b, 7, 0, true, first, sizeof first);
    struct nm_frame f1 = { b.b, (uint32_t)b.n, (uint32_t)b.n, 1000000, NM_LINKTYPE_RAW, false, NULL };
    CHECK(decode_packet(&ctx, &f1, &p));
    build_v4_frag(&b, 7, 2, false, rest, sizeof rest);
    struct nm_frame f2 = { b.b, (uint32_t)b.n, (uint32_t)b.n, 1000000 + NM_FRAG_TIMEOUT_US + 1,
                           NM_LINKTYPE_RAW, false, NULL };
    CHECK(decode_packet(&ctx, &f2, &p));
    CHECK(!p.has_ports);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_frag_orphan], 1);
    CHECK_EQ_U(ctx.frags.expired, 1);
}

static void test_ipv4_fragment_oversized(void)
{
    /* Offset 8189 units = 65512 bytes, plus 40 bytes of data > 65535. */
    uint8_t data[40] = { 0 };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_v4_frag(&b, 1, 8189, false, data, sizeof data);
    CHECK(run_raw(&b, &p));
    CHECK(!p.has_ports);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_frag_oversized], 1);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_frag_orphan], 0);
    /* 8189 units + 16 bytes = 65528: fine, merely an orphan. */
    build_v4_frag(&b, 1, 8189, false, data, 16);
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_frag_oversized], 1);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_frag_orphan], 1);
}

static void test_ipv4_fragmented_ping(void)
{
    /* ICMP echo request (type 8) id 0x0077 seq 1, split after 16 bytes. */
    uint8_t first[16] = { 8, 0, 0, 0, 0x00, 0x77, 0x00, 0x01 };
    uint8_t rest[8] = { 0 };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    b.n = 0;
    size_t ip = pb_ipv4_opts(&b, 1, V4_A, V4_B, 55, 0x2000, NULL, 0);
    pb_bytes(&b, first, sizeof first);
    pb_ipv4_finish(&b, ip);
    CHECK(run_raw(&b, &p));
    CHECK(p.icmp_is_echo);
    b.n = 0;
    ip = pb_ipv4_opts(&b, 1, V4_A, V4_B, 55, 2, NULL, 0);
    pb_bytes(&b, rest, sizeof rest);
    pb_ipv4_finish(&b, ip);
    CHECK(run_raw(&b, &p));
    CHECK(!p.has_ports);
    CHECK(p.has_icmp);
    CHECK(p.icmp_is_echo);
    CHECK(p.icmp_is_request);
    CHECK_EQ_U(p.icmp_type, 8);
    CHECK_EQ_U(p.icmp_id, 0x77);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_frag_orphan], 0);
}

static void test_frag_conflict(void)
{
    uint8_t first_a[16] = { 0x13, 0x88, 0x17, 0x70, 0x00, 0x20, 0, 0 };
    uint8_t first_b[16] = { 0x00, 0x50, 0x17, 0x70, 0x00, 0x20, 0, 0 };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_v4_frag(&b, 3, 0, true, first_a, sizeof first_a);
    CHECK(run_raw(&b, &p));
    build_v4_frag(&b, 3, 0, true, first_a, sizeof first_a);
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_frag_overlap], 0);
    build_v4_frag(&b, 3, 0, true, first_b, sizeof first_b);
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_frag_overlap], 1);
}

static void test_frag_table_bounded(void)
{
    struct nm_packet p;
    memset(&p, 0, sizeof p);
    p.proto = 17;
    p.has_ports = true;
    p.is_fragment = p.is_first_fragment = true;
    decode_ctx_init(&ctx, NULL);
    unsigned evicted = 0;
    for (uint32_t i = 0; i < 2 * NM_FRAG_TABLE_SIZE; i++) {
        p.frag_id = i;
        p.sport = (uint16_t)i;
        p.ts_us = i;
        if (!frag_table_insert(&ctx.frags, &p))
            evicted++;
    }
    /* Twice the slots cannot fit: at least half were pushed out. */
    CHECK(evicted >= NM_FRAG_TABLE_SIZE);
    CHECK_EQ_U(ctx.frags.evicted, evicted);
    /* The most recent entry is always findable. */
    p.frag_id = 2 * NM_FRAG_TABLE_SIZE - 1;
    p.sport = 0;
    CHECK(frag_table_lookup(&ctx.frags, &p));
    CHECK_EQ_U(p.sport, (uint16_t)(2 * NM_FRAG_TABLE_SIZE - 1));
    /* Counting through decode: a full table counts frag_table_full. */
    uint8_t first[16] = { 0x13, 0x88, 0x17, 0x70, 0x00, 0x20, 0, 0 };
    struct pb b;
    for (uint32_t i = 0; i < 2 * NM_FRAG_TABLE_SIZE; i++) {
        build_v4_frag(&b, (uint16_t)i, 0, true, first, sizeof first);
        run_raw(&b, &p);
    }
    CHECK(ctx.stats.reasons[DECODE_R_frag_table_full] > 0);
}

/* IPv6: A -> B carrying UDP 7000 -> 8000 with 4 data bytes behind `ext`. */
static size_t build_v6(struct pb *b, uint8_t first_nh, const uint8_t *ext, size_t ext_len)
{
    b->n = 0;
    size_t ip = pb_ipv6(b, first_nh, V6_A, V6_B);
    pb_bytes(b, ext, ext_len);
    size_t udp = pb_udp(b, 7000, 8000);
    pb_bytes(b, "v6v6", 4);
    pb_udp_finish(b, udp);
    pb_ipv6_finish(b, ip);
    return ip;
}

static void test_ipv6_every_ext_header(void)
{
    /* Hop-by-hop (0): next 43, len 0, PadN(1) 4 bytes.
     * Routing (43): next 60, len 0, type 4 (SRH-like), segments left 0.
     * Destination options (60): next 51, len 0, PadN 4.
     * AH (51): next 17, payload len 4 → (4 + 2) * 4 = 24 bytes (RFC 4302). */
    static const uint8_t ext[] = {
        43, 0, 1, 4, 0, 0, 0, 0,
        60, 0, 4, 0, 0, 0, 0, 0,
        51, 0, 1, 4, 0, 0, 0, 0,
        17, 4, 0, 0, 0, 0, 0x10, 0x01, 0, 0, 0, 1, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
        0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
    };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_v6(&b, 0, ext, sizeof ext);
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(p.proto, 17);
    CHECK_EQ_U(p.sport, 7000);
    CHECK_EQ_U(p.dport, 8000);
    CHECK_EQ_U(p.ip_len, 40 + 48 + 12);
    CHECK_EQ_U(p.payload_len, 4);
    CHECK_EQ_U(decode_stats_errors(&ctx.stats), 0);
}

static void test_ipv6_no_next_header(void)
{
    static const uint8_t ext[] = { 59, 0, 1, 4, 0, 0, 0, 0 };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_v6(&b, 60, ext, sizeof ext);
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(p.proto, 59);
    CHECK(!p.has_ports);
    CHECK_EQ_U(decode_stats_errors(&ctx.stats), 0);
}

static void test_ipv6_chain_limits(void)
{
    /* Eight destination-options headers pass; nine are too many. */
    uint8_t ext[9 * 8];
    for (size_t i = 0; i < 9; i++) {
        static const uint8_t dopt[8] = { 60, 0, 1, 4, 0, 0, 0, 0 };
        memcpy(ext + i * 8, dopt, 8);
    }
    ext[7 * 8] = 17;
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_v6(&b, 60, ext, 8 * 8);
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(p.proto, 17);
    CHECK_EQ_U(p.dport, 8000);
    ext[7 * 8] = 60;
    ext[8 * 8] = 17;
    build_v6(&b, 60, ext, 9 * 8);
    CHECK(run_raw(&b, &p)); /* accounted by addresses */
    CHECK(!p.has_ports);
    CHECK_EQ_U(p.proto, 60);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_ipv6_ext_too_many], 1);
}

static void test_ipv6_ext_truncated(void)
{
    /* Hop-by-hop says length 2 (24 bytes); only 8 + UDP are there, and the
     * payload length bounds the walk. */
    static const uint8_t ext[] = { 17, 2, 1, 4, 0, 0, 0, 0 };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_v6(&b, 0, ext, sizeof ext);
    b.n = 40 + 8 + 4; /* also cut by the capture */
    CHECK(run_raw(&b, &p));
    CHECK(!p.has_ports);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_ipv6_ext_truncated], 1);
    /* A fragment header cut after 4 bytes. */
    static const uint8_t frag[] = { 17, 0, 0, 1, 0, 0, 0, 9 };
    build_v6(&b, 44, frag, sizeof frag);
    b.n = 44;
    pb_put16(&b, 4, 4);
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_ipv6_ext_truncated], 2);
}

static void test_ipv6_truncated(void)
{
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_v6(&b, 17, NULL, 0);
    b.n = 39;
    CHECK(!run_raw(&b, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_ipv6_truncated], 1);
}

static void test_ipv6_fragments(void)
{
    /* Fragment header: next 17, offset 0, M=1, id 0xdeadbeef; the first
     * fragment holds the UDP header. */
    static const uint8_t first_hdr[] = { 17, 0, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef };
    /* Offset 2 units (16 bytes): 2 << 3 = 0x0010, M=0. */
    static const uint8_t last_hdr[] = { 17, 0, 0x00, 0x10, 0xde, 0xad, 0xbe, 0xef };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_v6(&b, 44, first_hdr, sizeof first_hdr);
    CHECK(run_raw(&b, &p));
    CHECK(p.is_fragment);
    CHECK(p.is_first_fragment);
    CHECK_EQ_U(p.frag_id, 0xdeadbeefu);
    CHECK_EQ_U(p.sport, 7000);

    b.n = 0;
    size_t ip = pb_ipv6(&b, 44, V6_A, V6_B);
    pb_bytes(&b, last_hdr, sizeof last_hdr);
    pb_bytes(&b, "tail", 4);
    pb_ipv6_finish(&b, ip);
    CHECK(run_raw(&b, &p));
    CHECK(p.is_fragment);
    CHECK(!p.is_first_fragment);
    CHECK_EQ_U(p.proto, 17);
    CHECK(p.has_ports);
    CHECK_EQ_U(p.sport, 7000);
    CHECK_EQ_U(p.dport, 8000);
    CHECK_EQ_U(p.payload_len, 4);
    CHECK_EQ_U(ctx.stats.fragments, 2);

    /* Atomic fragment (offset 0, M=0, RFC 6946): not a fragment at all. */
    static const uint8_t atomic[] = { 17, 0, 0, 0, 0, 0, 0, 5 };
    build_v6(&b, 44, atomic, sizeof atomic);
    CHECK(run_raw(&b, &p));
    CHECK(!p.is_fragment);
    CHECK_EQ_U(p.dport, 8000);
    CHECK_EQ_U(ctx.stats.fragments, 2);
}

static void test_ipv6_zero_payload_length(void)
{
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    size_t ip = build_v6(&b, 17, NULL, 0);
    pb_put16(&b, ip + 4, 0);
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(p.ip_len, 40 + 12);
    CHECK_EQ_U(p.dport, 8000);
}

int main(void)
{
    RUN(test_ipv4_fields);
    RUN(test_ipv4_valid_options);
    RUN(test_ipv4_bad_options_still_used);
    RUN(test_ipv4_source_route);
    RUN(test_ipv4_bad_ihl);
    RUN(test_ipv4_truncated);
    RUN(test_ipv4_total_length);
    RUN(test_ipv4_fragments_joined);
    RUN(test_ipv4_fragment_orphan);
    RUN(test_ipv4_fragment_expiry);
    RUN(test_ipv4_fragment_oversized);
    RUN(test_ipv4_fragmented_ping);
    RUN(test_frag_conflict);
    RUN(test_frag_table_bounded);
    RUN(test_ipv6_every_ext_header);
    RUN(test_ipv6_no_next_header);
    RUN(test_ipv6_chain_limits);
    RUN(test_ipv6_ext_truncated);
    RUN(test_ipv6_truncated);
    RUN(test_ipv6_fragments);
    RUN(test_ipv6_zero_payload_length);
    TESTLIB_EXIT();
}
