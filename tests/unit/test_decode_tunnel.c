/*
 * test_decode_tunnel.c: decapsulation of GRE (RFC 2784/2890, TEB), ERSPAN
 * I/II/III, VXLAN (RFC 7348), VXLAN-GPE, NSH (RFC 8300), Geneve (RFC 8926),
 * PIM Register (RFC 7761), MPLS in UDP (RFC 7510), Teredo (RFC 4380), IP-in-IP (RFC 2003), 6in4 (RFC 4213),
 * 4in6/6in6 (RFC 2473); --no-decap; fallback to the outer packet when the
 * inner one is unusable; the nesting limit.
 */
#include "decode/decode.h"
#include "testlib.h"
#include "decode_build.h"

static struct decode_ctx ctx;

static bool run_eth(const struct pb *b, struct nm_packet *p)
{
    return decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, b->b, b->n, p);
}

static void init(bool no_decap)
{
    struct decode_options o = { .no_decap = no_decap };
    decode_ctx_init(&ctx, &o);
}

/* Inner IPv4 C -> D, TCP 1234 -> 80, 3 data bytes. */
static void put_inner_v4_tcp(struct pb *b)
{
    size_t ip = pb_ipv4(b, 6, V4_C, V4_D);
    pb_tcp(b, 1234, 80, 1, 0, NM_TCP_SYN, 1000, NULL, 0);
    pb_bytes(b, "abc", 3);
    pb_ipv4_finish(b, ip);
}

/* Inner IPv6 C -> B, UDP 5353 -> 5353, 2 data bytes. */
static void put_inner_v6_udp(struct pb *b)
{
    size_t ip = pb_ipv6(b, 17, V6_C, V6_B);
    size_t udp = pb_udp(b, 5353, 5353);
    pb_bytes(b, "hi", 2);
    pb_udp_finish(b, udp);
    pb_ipv6_finish(b, ip);
}

static void check_inner_v4_tcp(const struct nm_packet *p)
{
    CHECK(p->has_ip);
    CHECK_EQ_U(p->ip_version, 4);
    CHECK(addr_is_v4(&p->src, V4_C));
    CHECK(addr_is_v4(&p->dst, V4_D));
    CHECK_EQ_U(p->proto, 6);
    CHECK_EQ_U(p->sport, 1234);
    CHECK_EQ_U(p->dport, 80);
    CHECK(p->has_tcp);
    CHECK_EQ_U(p->ip_len, 43);
    CHECK_EQ_U(p->payload_len, 3);
}

static void check_inner_v6_udp(const struct nm_packet *p)
{
    CHECK(p->has_ip);
    CHECK_EQ_U(p->ip_version, 6);
    CHECK(addr_is_v6(&p->src, V6_C));
    CHECK(addr_is_v6(&p->dst, V6_B));
    CHECK_EQ_U(p->proto, 17);
    CHECK_EQ_U(p->sport, 5353);
    CHECK_EQ_U(p->dport, 5353);
    CHECK_EQ_U(p->payload_len, 2);
}

static void check_outer_v4(const struct nm_packet *p, uint8_t proto)
{
    CHECK(p->has_ip);
    CHECK(addr_is_v4(&p->src, V4_A));
    CHECK(addr_is_v4(&p->dst, V4_B));
    CHECK_EQ_U(p->proto, proto);
    CHECK_EQ_U(p->tunnel, NM_TUNNEL_NONE);
    CHECK_EQ_U(p->tunnel_depth, 0);
}

/* Ethernet (802.1Q VID 10) / IPv4 A -> B / GRE header words / inner. */
static size_t start_gre(struct pb *b, uint16_t flags, uint16_t proto, const uint8_t *opt, size_t optlen)
{
    b->n = 0;
    pb_eth(b, 0x8100);
    pb_vlan(b, 10, 0x0800);
    size_t ip = pb_ipv4(b, 47, V4_A, V4_B);
    pb_be16(b, flags);
    pb_be16(b, proto);
    pb_bytes(b, opt, optlen);
    return ip;
}

static void test_gre_ipv4(void)
{
    struct pb b;
    struct nm_packet p;
    init(false);
    size_t ip = start_gre(&b, 0x0000, 0x0800, NULL, 0);
    put_inner_v4_tcp(&b);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v4_tcp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_GRE);
    CHECK_EQ_U(p.tunnel_depth, 1);
    CHECK_EQ_U(p.vlan_id, 10);
    CHECK_EQ_U(p.vlan_count, 1);
    CHECK_EQ_U(p.wirelen, b.n);
    CHECK_EQ_U(ctx.stats.decapsulated, 1);
    CHECK_EQ_U(ctx.stats.decoded, 1);
}

static void test_gre_key_seq_csum_ipv6(void)
{
    /* C, K and S set: checksum + reserved1, key 0x0000abcd, sequence 1. */
    static const uint8_t opt[12] = { 0, 0, 0, 0, 0, 0, 0xab, 0xcd, 0, 0, 0, 1 };
    struct pb b;
    struct nm_packet p;
    init(false);
    size_t ip = start_gre(&b, 0xb000, 0x86dd, opt, sizeof opt);
    put_inner_v6_udp(&b);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v6_udp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_GRE);
}

static void test_gre_teb(void)
{
    struct pb b;
    struct nm_packet p;
    init(false);
    size_t ip = start_gre(&b, 0x2000, 0x6558, (const uint8_t[4]){ 0, 0, 0, 5 }, 4);
    /* The bridged frame carries its own tag (VID 99): the wire VLAN stays 10. */
    pb_eth(&b, 0x8100);
    pb_vlan(&b, 99, 0x0800);
    put_inner_v4_tcp(&b);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v4_tcp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_GRE);
    CHECK_EQ_U(p.vlan_id, 10);
    CHECK_EQ_U(p.vlan_count, 1);
}

static void test_gre_versions_and_truncation(void)
{
    struct pb b;
    struct nm_packet p;
    init(false);
    /* PPTP enhanced GRE: K set, version 1, protocol PPP 0x880b, payload
     * length, call id: accounted as the outer GRE packet, no error. */
    size_t ip = start_gre(&b, 0x3001, 0x880b, (const uint8_t[8]){ 0, 4, 0, 1, 0, 0, 0, 1 }, 8);
    pb_bytes(&b, "\xff\x03\x00\x21", 4);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 47);
    CHECK_EQ_U(decode_stats_errors(&ctx.stats), 0);
    /* Version 2 is undefined. */
    ip = start_gre(&b, 0x0002, 0x0800, NULL, 0);
    put_inner_v4_tcp(&b);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 47);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_gre_bad_version], 1);
    /* Key flag set but the key is not there. */
    ip = start_gre(&b, 0x2000, 0x0800, NULL, 0);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 47);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_gre_truncated], 1);
    CHECK_EQ_U(ctx.stats.decoded, 3);
    CHECK_EQ_U(ctx.stats.decapsulated, 0);
}

/* ERSPAN (draft-foschiano-erspan): type I has no header and no GRE
 * sequence number; type II has the S bit and an 8-byte header (version 1);
 * type III (0x22EB) a 12-byte header, 8 more bytes when O is set. */
static void test_erspan(void)
{
    /* Type II: ver 1, VLAN 0; COS 0, En 0, T 0, session 5; index 0. */
    static const uint8_t erspan2[8] = { 0x10, 0x00, 0x00, 0x05, 0, 0, 0, 0 };
    /* Type III: ver 2, session 7, timestamp, SGT 0, P 0 FT 0 ... O bit. */
    static const uint8_t erspan3_o[12] = { 0x20, 0x00, 0x00, 0x07, 1, 2, 3, 4, 0, 0, 0x00, 0x01 };
    static const uint8_t platform[8] = { 0x0c, 0, 0, 0, 0, 0, 0, 1 };
    static const uint8_t seq[4] = { 0, 0, 0, 9 };
    struct pb b;
    struct nm_packet p;
    init(false);
    /* Type I: GRE without S, the frame right after the 4-byte GRE header. */
    size_t ip = start_gre(&b, 0x0000, 0x88be, NULL, 0);
    pb_eth(&b, 0x0800);
    put_inner_v4_tcp(&b);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v4_tcp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_ERSPAN);
    CHECK_EQ_U(p.tunnel_depth, 1);
    CHECK_EQ_U(p.vlan_id, 10);

    /* Type II: S bit, sequence number, then the ERSPAN header. */
    ip = start_gre(&b, 0x1000, 0x88be, seq, sizeof seq);
    pb_bytes(&b, erspan2, sizeof erspan2);
    pb_eth(&b, 0x86dd);
    put_inner_v6_udp(&b);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v6_udp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_ERSPAN);

    /* Type III with the platform subheader. */
    ip = start_gre(&b, 0x1000, 0x22eb, seq, sizeof seq);
    pb_bytes(&b, erspan3_o, sizeof erspan3_o);
    pb_bytes(&b, platform, sizeof platform);
    pb_eth(&b, 0x0800);
    put_inner_v4_tcp(&b);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v4_tcp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_ERSPAN);

    /* Type III without O: the frame follows the 12 bytes. */
    ip = start_gre(&b, 0x0000, 0x22eb, NULL, 0);
    pb_bytes(&b, erspan3_o, 11);
    pb_u8(&b, 0x00);
    pb_eth(&b, 0x0800);
    put_inner_v4_tcp(&b);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v4_tcp(&p);
    /* Frame type 7 (FT bits 6..2 of byte 10): not Ethernet, outer packet. */
    b.b[14 + 4 + 20 + 4 + 10] = 7 << 2;
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 47);
    CHECK_EQ_U(decode_stats_errors(&ctx.stats), 0);

    /* Type II header cut short: outer packet, erspan_truncated. */
    ip = start_gre(&b, 0x1000, 0x88be, seq, sizeof seq);
    pb_bytes(&b, erspan2, 5);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 47);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_erspan_truncated], 1);
    /* Type III announcing a platform subheader that is not there. */
    ip = start_gre(&b, 0x0000, 0x22eb, NULL, 0);
    pb_bytes(&b, erspan3_o, sizeof erspan3_o);
    pb_bytes(&b, platform, 4);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 47);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_erspan_truncated], 2);
    CHECK_EQ_U(ctx.stats.decapsulated, 4);
}

static void test_gre_inner_malformed_falls_back(void)
{
    struct pb b;
    struct nm_packet p;
    init(false);
    size_t ip = start_gre(&b, 0, 0x0800, NULL, 0);
    size_t inner = b.n;
    put_inner_v4_tcp(&b);
    b.b[inner] = 0x43; /* inner IHL 3 */
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 47);
    CHECK_EQ_U(p.vlan_id, 10);
    CHECK(!p.has_ports);
    CHECK_EQ_U(p.ip_len, b.n - 18);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_ipv4_bad_ihl], 1);
    CHECK_EQ_U(ctx.stats.decoded, 1);
    CHECK_EQ_U(ctx.stats.decapsulated, 0);
    /* GRE carrying ARP: well formed, not IP: the outer packet, no error. */
    ip = start_gre(&b, 0, 0x0806, NULL, 0);
    pb_bytes(&b, "\x00\x01\x08\x00\x06\x04\x00\x01", 8);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 47);
    CHECK_EQ_U(ctx.stats.non_ip, 0);
}

/* IPv4 A -> B / UDP 49152 -> dport / tunnel header / inner. */
static void start_udp_tunnel(struct pb *b, uint16_t dport, size_t *ip, size_t *udp)
{
    b->n = 0;
    pb_eth(b, 0x0800);
    *ip = pb_ipv4(b, 17, V4_A, V4_B);
    *udp = pb_udp(b, 49152, dport);
}

static void test_vxlan(void)
{
    /* Flags 0x08 (I), VNI 100. */
    static const uint8_t vxlan[8] = { 0x08, 0, 0, 0, 0, 0, 100, 0 };
    struct pb b;
    struct nm_packet p;
    size_t ip, udp;
    init(false);
    start_udp_tunnel(&b, 4789, &ip, &udp);
    pb_bytes(&b, vxlan, sizeof vxlan);
    pb_eth(&b, 0x86dd);
    put_inner_v6_udp(&b);
    pb_udp_finish(&b, udp);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v6_udp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_VXLAN);
    CHECK_EQ_U(p.tunnel_depth, 1);
    CHECK_EQ_U(ctx.stats.decapsulated, 1);

    /* --no-decap: the outer UDP datagram. */
    init(true);
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 17);
    CHECK_EQ_U(p.sport, 49152);
    CHECK_EQ_U(p.dport, 4789);
    CHECK_EQ_U(ctx.stats.decapsulated, 0);

    /* Truncated VXLAN header: outer datagram, reason counted. */
    init(false);
    start_udp_tunnel(&b, 4789, &ip, &udp);
    pb_bytes(&b, vxlan, 5);
    pb_udp_finish(&b, udp);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 17);
    CHECK_EQ_U(p.dport, 4789);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_vxlan_truncated], 1);
}

static void test_geneve(void)
{
    /* Version 0, option length 2 (8 bytes), protocol 0x6558, VNI 0x000a0b;
     * one option: class 0x0102, type 3, length 1 (4 bytes of data). */
    static const uint8_t geneve_eth[16] = { 0x02, 0x00, 0x65, 0x58, 0x00, 0x0a, 0x0b, 0x00,
                                            0x01, 0x02, 0x03, 0x01, 0xde, 0xad, 0xbe, 0xef };
    /* No options, protocol IPv4 directly. */
    static const uint8_t geneve_ip[8] = { 0x00, 0x00, 0x08, 0x00, 0, 0, 1, 0 };
    struct pb b;
    struct nm_packet p;
    size_t ip, udp;
    init(false);
    start_udp_tunnel(&b, 6081, &ip, &udp);
    pb_bytes(&b, geneve_eth, sizeof geneve_eth);
    pb_eth(&b, 0x0800);
    put_inner_v4_tcp(&b);
    pb_udp_finish(&b, udp);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v4_tcp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_GENEVE);

    start_udp_tunnel(&b, 6081, &ip, &udp);
    pb_bytes(&b, geneve_ip, sizeof geneve_ip);
    put_inner_v4_tcp(&b);
    pb_udp_finish(&b, udp);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v4_tcp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_GENEVE);

    /* Version 1 is not defined. */
    b.b[14 + 20 + 8] = 0x40;
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 17);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_geneve_bad_version], 1);
    /* Options claiming more than is there. */
    b.b[14 + 20 + 8] = 0x3f;
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 17);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_geneve_truncated], 1);
    CHECK_EQ_U(ctx.stats.decapsulated, 2);
}

/* NSH base header (RFC 8300 §2.2): version 0, O/U 0, TTL 63, length in
 * words, MD type, next protocol; then the service path header (SPI 42,
 * SI 255). */
static void pb_nsh(struct pb *b, uint8_t len_words, uint8_t md_type, uint8_t next)
{
    pb_be16(b, (uint16_t)((63u << 6) | len_words));
    pb_u8(b, md_type);
    pb_u8(b, next);
    pb_be32(b, (42u << 8) | 255u);
}

static void test_nsh_over_ethernet(void)
{
    struct pb b;
    struct nm_packet p;
    init(false);
    /* MD type 1: length 6 words, 16 bytes of fixed context, IPv4. */
    b.n = 0;
    pb_eth(&b, 0x894f);
    pb_nsh(&b, 6, 1, 1);
    pb_zero(&b, 16);
    put_inner_v4_tcp(&b);
    CHECK(run_eth(&b, &p));
    check_inner_v4_tcp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_NSH);
    CHECK_EQ_U(p.tunnel_depth, 1);

    /* MD type 2 with one 8-byte context TLV (length 4 words), Ethernet
     * carrying IPv6. */
    b.n = 0;
    pb_eth(&b, 0x894f);
    pb_nsh(&b, 4, 2, 3);
    pb_bytes(&b, "\x00\x01\x02\x01\xde\xad\xbe\xef", 8);
    pb_eth(&b, 0x86dd);
    put_inner_v6_udp(&b);
    CHECK(run_eth(&b, &p));
    check_inner_v6_udp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_NSH);

    /* NSH in NSH (next protocol 4), MD type 2 without context, IPv6. */
    b.n = 0;
    pb_eth(&b, 0x894f);
    pb_nsh(&b, 2, 2, 4);
    pb_nsh(&b, 2, 2, 2);
    put_inner_v6_udp(&b);
    CHECK(run_eth(&b, &p));
    check_inner_v6_udp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_NSH);
    CHECK_EQ_U(p.tunnel_depth, 2);
    CHECK_EQ_U(decode_stats_errors(&ctx.stats), 0);

    /* Length 1 word: below the 8 fixed bytes. */
    b.n = 0;
    pb_eth(&b, 0x894f);
    pb_nsh(&b, 1, 2, 1);
    put_inner_v4_tcp(&b);
    CHECK(!run_eth(&b, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_nsh_bad_length], 1);
    /* Length 20 words: more context than the frame holds. */
    b.n = 0;
    pb_eth(&b, 0x894f);
    pb_nsh(&b, 20, 2, 1);
    pb_zero(&b, 8);
    CHECK(!run_eth(&b, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_nsh_truncated], 1);
    /* Version 1 is not parsed; next protocol 0x41 (experimental): non-IP. */
    b.n = 0;
    pb_eth(&b, 0x894f);
    pb_nsh(&b, 2, 2, 1);
    b.b[14] |= 0x40;
    put_inner_v4_tcp(&b);
    CHECK(!run_eth(&b, &p));
    b.b[14] &= 0x3f;
    b.b[17] = 0x41;
    CHECK(!run_eth(&b, &p));
    CHECK_EQ_U(ctx.stats.non_ip, 2);
}

static void test_vxlan_gpe(void)
{
    /* Flags I|P (0x0c), next protocol at byte 3, VNI 7. */
    static const uint8_t gpe_nsh[8] = { 0x0c, 0, 0, 4, 0, 0, 7, 0 };
    static const uint8_t gpe_v6[8] = { 0x0c, 0, 0, 2, 0, 0, 7, 0 };
    static const uint8_t gpe_nop[8] = { 0x08, 0, 0, 0, 0, 0, 7, 0 };
    struct pb b;
    struct nm_packet p;
    size_t ip, udp;
    init(false);
    start_udp_tunnel(&b, 4790, &ip, &udp);
    pb_bytes(&b, gpe_nsh, sizeof gpe_nsh);
    pb_nsh(&b, 2, 2, 1);
    put_inner_v4_tcp(&b);
    pb_udp_finish(&b, udp);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v4_tcp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_VXLAN_GPE);
    CHECK_EQ_U(p.tunnel_depth, 2); /* NSH counts as a level wherever it sits */

    start_udp_tunnel(&b, 4790, &ip, &udp);
    pb_bytes(&b, gpe_v6, sizeof gpe_v6);
    put_inner_v6_udp(&b);
    pb_udp_finish(&b, udp);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v6_udp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_VXLAN_GPE);
    CHECK_EQ_U(p.tunnel_depth, 1);

    /* P clear: an Ethernet frame, as in VXLAN. */
    start_udp_tunnel(&b, 4790, &ip, &udp);
    pb_bytes(&b, gpe_nop, sizeof gpe_nop);
    pb_eth(&b, 0x0800);
    put_inner_v4_tcp(&b);
    pb_udp_finish(&b, udp);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v4_tcp(&p);

    /* Truncated header: the outer datagram. */
    start_udp_tunnel(&b, 4790, &ip, &udp);
    pb_bytes(&b, gpe_v6, 6);
    pb_udp_finish(&b, udp);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 17);
    CHECK_EQ_U(p.dport, 4790);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_vxlan_gpe_truncated], 1);
}

static void test_mpls_over_udp(void)
{
    /* RFC 7510: destination port 6635, then the label stack (label 16,
     * bottom of stack, TTL 64) and the IP packet. */
    static const uint8_t label[4] = { 0x00, 0x01, 0x01, 0x40 };
    struct pb b;
    struct nm_packet p;
    size_t ip, udp;
    init(false);
    start_udp_tunnel(&b, 6635, &ip, &udp);
    pb_bytes(&b, label, sizeof label);
    put_inner_v4_tcp(&b);
    pb_udp_finish(&b, udp);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v4_tcp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_MPLS_UDP);
    /* A stack whose last entry lacks S: the outer datagram, reason. */
    start_udp_tunnel(&b, 6635, &ip, &udp);
    pb_bytes(&b, "\x00\x01\x00\x40", 4);
    pb_udp_finish(&b, udp);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 17);
    CHECK_EQ_U(p.dport, 6635);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_mpls_truncated], 1);
}

/* Teredo (RFC 4380 §5.1.1): UDP to or from 3544, optional authentication
 * and origin indicators, then IPv6. */
static void start_teredo(struct pb *b, uint16_t sport, uint16_t dport, size_t *ip, size_t *udp)
{
    b->n = 0;
    pb_eth(b, 0x0800);
    *ip = pb_ipv4(b, 17, V4_A, V4_B);
    *udp = pb_udp(b, sport, dport);
}

static void test_teredo(void)
{
    /* Authentication: ID-len 2, AU-len 3, ID, value, nonce, confirmation. */
    static const uint8_t auth[4 + 2 + 3 + 9] = { 0x00, 0x01, 2, 3, 'i', 'd', 1, 2, 3,
                                                 1, 2, 3, 4, 5, 6, 7, 8, 0 };
    /* Origin: port and address, obfuscated (complemented). */
    static const uint8_t origin[8] = { 0x00, 0x00, 0xf2, 0x27, 0x3f, 0x57, 0xfe, 0xfe };
    struct pb b;
    struct nm_packet p;
    size_t ip, udp;
    init(false);
    /* Client to server: plain IPv6. */
    start_teredo(&b, 40000, 3544, &ip, &udp);
    put_inner_v6_udp(&b);
    pb_udp_finish(&b, udp);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v6_udp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_TEREDO);
    /* Server to client: both indicators. */
    start_teredo(&b, 3544, 40000, &ip, &udp);
    pb_bytes(&b, auth, sizeof auth);
    pb_bytes(&b, origin, sizeof origin);
    put_inner_v6_udp(&b);
    pb_udp_finish(&b, udp);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v6_udp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_TEREDO);
    /* Origin indication alone; a bubble (next header 59, no payload). */
    start_teredo(&b, 3544, 40000, &ip, &udp);
    pb_bytes(&b, origin, sizeof origin);
    size_t in6 = pb_ipv6(&b, 59, V6_C, V6_B);
    pb_ipv6_finish(&b, in6);
    pb_udp_finish(&b, udp);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    CHECK(addr_is_v6(&p.src, V6_C));
    CHECK_EQ_U(p.proto, 59);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_TEREDO);
    CHECK_EQ_U(decode_stats_errors(&ctx.stats), 0);

    /* Port 3544 carrying something else (an IPv4 packet, or fewer than 40
     * bytes after the indicators): the UDP datagram, no reason. */
    start_teredo(&b, 40000, 3544, &ip, &udp);
    put_inner_v4_tcp(&b);
    pb_udp_finish(&b, udp);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 17);
    CHECK_EQ_U(p.dport, 3544);
    start_teredo(&b, 40000, 3544, &ip, &udp);
    pb_bytes(&b, origin, sizeof origin);
    pb_be32(&b, 0x60000000u);
    pb_zero(&b, 30);
    pb_udp_finish(&b, udp);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 17);
    /* An authentication indicator whose lengths run past the datagram. */
    start_teredo(&b, 40000, 3544, &ip, &udp);
    pb_bytes(&b, "\x00\x01\xff\xff", 4);
    put_inner_v6_udp(&b);
    pb_udp_finish(&b, udp);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 17);
    CHECK_EQ_U(decode_stats_errors(&ctx.stats), 0);
    CHECK_EQ_U(ctx.stats.decapsulated, 3);
}

static void test_ipip_and_6in4(void)
{
    struct pb b;
    struct nm_packet p;
    init(false);
    b.n = 0;
    size_t ip = pb_ipv4(&b, 4, V4_A, V4_B);
    put_inner_v4_tcp(&b);
    pb_ipv4_finish(&b, ip);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_RAW, b.b, b.n, &p));
    check_inner_v4_tcp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_IPIP);
    init(true);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_RAW, b.b, b.n, &p));
    check_outer_v4(&p, 4);

    init(false);
    b.n = 0;
    ip = pb_ipv4(&b, 41, V4_A, V4_B);
    put_inner_v6_udp(&b);
    pb_ipv4_finish(&b, ip);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_RAW, b.b, b.n, &p));
    check_inner_v6_udp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_6IN4);
    init(true);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_RAW, b.b, b.n, &p));
    check_outer_v4(&p, 41);
}

static void test_4in6_and_6in6(void)
{
    struct pb b;
    struct nm_packet p;
    init(false);
    b.n = 0;
    size_t ip = pb_ipv6(&b, 4, V6_A, V6_B);
    put_inner_v4_tcp(&b);
    pb_ipv6_finish(&b, ip);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_RAW, b.b, b.n, &p));
    check_inner_v4_tcp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_4IN6);
    init(true);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_RAW, b.b, b.n, &p));
    CHECK(addr_is_v6(&p.src, V6_A));
    CHECK_EQ_U(p.proto, 4);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_NONE);

    init(false);
    b.n = 0;
    ip = pb_ipv6(&b, 41, V6_A, V6_B);
    put_inner_v6_udp(&b);
    pb_ipv6_finish(&b, ip);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_RAW, b.b, b.n, &p));
    check_inner_v6_udp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_6IN6);
}

/* PIM Register, RFC 7761 §4.9.3: version 2 type 1, reserved, checksum,
 * then B/N flags and reserved bits, then the data packet. */
static void start_pim(struct pb *b, uint8_t version_type, uint32_t flags, bool v6, size_t *ip)
{
    b->n = 0;
    pb_eth(b, v6 ? 0x86dd : 0x0800);
    *ip = v6 ? pb_ipv6(b, 103, V6_A, V6_B) : pb_ipv4(b, 103, V4_A, V4_B);
    pb_u8(b, version_type);
    pb_u8(b, 0);
    pb_be16(b, 0);
    pb_be32(b, flags);
}

static void test_pim_register(void)
{
    struct pb b;
    struct nm_packet p;
    size_t ip;
    init(false);
    start_pim(&b, 0x21, 0, false, &ip);
    put_inner_v4_tcp(&b);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v4_tcp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_PIM);
    CHECK_EQ_U(p.tunnel_depth, 1);

    /* IPv6 PIM carrying an IPv6 data packet, Border bit set. */
    start_pim(&b, 0x21, 0x80000000u, true, &ip);
    put_inner_v6_udp(&b);
    pb_ipv6_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v6_udp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_PIM);

    /* Null-Register: a dummy header, not data: the outer PIM packet. */
    start_pim(&b, 0x21, 0x40000000u, false, &ip);
    size_t dummy = pb_ipv4(&b, 103, V4_C, V4_D);
    pb_ipv4_finish(&b, dummy);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 103);
    /* Hello (type 0) is not decapsulated either. */
    start_pim(&b, 0x20, 0, false, &ip);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 103);
    CHECK_EQ_U(decode_stats_errors(&ctx.stats), 0);

    /* A Register cut inside its flags word: outer packet, pim_truncated. */
    b.n = 0;
    pb_eth(&b, 0x0800);
    ip = pb_ipv4(&b, 103, V4_A, V4_B);
    pb_bytes(&b, "\x21\x00\x00\x00\x00\x00", 6);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 103);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_pim_truncated], 1);

    /* --no-decap: the Register is the outer PIM packet. */
    init(true);
    start_pim(&b, 0x21, 0, false, &ip);
    put_inner_v4_tcp(&b);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_outer_v4(&p, 103);
}

static void test_outermost_tunnel_recorded(void)
{
    /* VXLAN / Ethernet / IPv4 proto 41 / IPv6 UDP: two tunnels. */
    static const uint8_t vxlan[8] = { 0x08, 0, 0, 0, 0, 0, 1, 0 };
    struct pb b;
    struct nm_packet p;
    size_t ip, udp;
    init(false);
    start_udp_tunnel(&b, 4789, &ip, &udp);
    pb_bytes(&b, vxlan, sizeof vxlan);
    pb_eth(&b, 0x0800);
    size_t mid = pb_ipv4(&b, 41, V4_C, V4_D);
    put_inner_v6_udp(&b);
    pb_ipv4_finish(&b, mid);
    pb_udp_finish(&b, udp);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    check_inner_v6_udp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_VXLAN);
    CHECK_EQ_U(p.tunnel_depth, 2);
    CHECK_EQ_U(ctx.stats.decapsulated, 1);
}

/* `layers` IPv4-in-IPv4 headers around an inner UDP datagram. */
static void build_nested_ipip(struct pb *b, int layers)
{
    size_t at[8];
    b->n = 0;
    for (int i = 0; i < layers; i++)
        at[i] = pb_ipv4(b, 4, V4_A, V4_B);
    size_t inner = pb_ipv4(b, 17, V4_C, V4_D);
    size_t udp = pb_udp(b, 1, 2);
    pb_udp_finish(b, udp);
    pb_ipv4_finish(b, inner);
    for (int i = layers - 1; i >= 0; i--)
        pb_ipv4_finish(b, at[i]);
}

static void test_tunnel_depth_limit(void)
{
    struct pb b;
    struct nm_packet p;
    init(false);
    build_nested_ipip(&b, 4);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_RAW, b.b, b.n, &p));
    CHECK_EQ_U(p.tunnel_depth, 4);
    CHECK(addr_is_v4(&p.src, V4_C));
    CHECK_EQ_U(p.dport, 2);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_tunnel_too_deep], 0);
    /* A fifth tunnel is refused: the packet at depth 4 is accounted. */
    build_nested_ipip(&b, 5);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_RAW, b.b, b.n, &p));
    CHECK_EQ_U(p.tunnel_depth, 4);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_IPIP);
    CHECK(addr_is_v4(&p.src, V4_A));
    CHECK_EQ_U(p.proto, 4);
    CHECK(!p.has_ports);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_tunnel_too_deep], 1);
}

static void test_fragmented_outer_not_decapsulated(void)
{
    struct pb b;
    struct nm_packet p;
    init(false);
    b.n = 0;
    pb_eth(&b, 0x0800);
    size_t ip = pb_ipv4_opts(&b, 47, V4_A, V4_B, 77, 0x2000, NULL, 0);
    pb_be16(&b, 0);
    pb_be16(&b, 0x0800);
    put_inner_v4_tcp(&b);
    pb_ipv4_finish(&b, ip);
    CHECK(run_eth(&b, &p));
    CHECK(addr_is_v4(&p.src, V4_A));
    CHECK_EQ_U(p.proto, 47);
    CHECK(p.is_first_fragment);
    CHECK_EQ_U(ctx.stats.decapsulated, 0);
}

int main(void)
{
    RUN(test_gre_ipv4);
    RUN(test_gre_key_seq_csum_ipv6);
    RUN(test_gre_teb);
    RUN(test_gre_versions_and_truncation);
    RUN(test_gre_inner_malformed_falls_back);
    RUN(test_erspan);
    RUN(test_vxlan);
    RUN(test_geneve);
    RUN(test_nsh_over_ethernet);
    RUN(test_vxlan_gpe);
    RUN(test_mpls_over_udp);
    RUN(test_teredo);
    RUN(test_ipip_and_6in4);
    RUN(test_4in6_and_6in6);
    RUN(test_pim_register);
    RUN(test_outermost_tunnel_recorded);
    RUN(test_tunnel_depth_limit);
    RUN(test_fragmented_outer_not_decapsulated);
    TESTLIB_EXIT();
}
