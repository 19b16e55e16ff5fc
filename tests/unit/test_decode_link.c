/*
 * test_decode_link.c: link layers: Ethernet II, 802.1Q/802.1ad/QinQ, 802.3
 * LLC, 802.1BR E-Tag, 802.1AE MACsec, Linux SLL and SLL2, BSD NULL in both byte orders, OpenBSD LOOP, raw
 * IP under every DLT alias, plus the names and counters decode.c exports.
 * Frames are written out byte by byte from the header definitions.
 */
#include "decode/decode.h"
#include "testlib.h"
#include "decode_build.h"

static struct decode_ctx ctx;

/* 192.0.2.1:1234 -> 198.51.100.2:53 UDP, 8 payload bytes (RFC 791, RFC 768). */
#define IPV4_UDP_BYTES                                                    \
    0x45, 0x00, 0x00, 0x24, 0xab, 0xcd, 0x40, 0x00, 0x40, 0x11, 0, 0,     \
    192, 0, 2, 1, 198, 51, 100, 2,                                        \
    0x04, 0xd2, 0x00, 0x35, 0x00, 0x10, 0, 0,                             \
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'

/* 2001:db8::1 -> 2001:db8::2, next header TCP, hop limit 64, 20-byte TCP
 * SYN 40000 -> 443 (RFC 8200, RFC 9293). */
#define IPV6_TCP_BYTES                                                    \
    0x60, 0, 0, 0, 0x00, 0x14, 0x06, 0x40,                                \
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,           \
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,           \
    0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0

#define MACS 0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2

static void check_v4_udp(const struct nm_packet *p)
{
    CHECK(p->has_ip);
    CHECK_EQ_U(p->ip_version, 4);
    CHECK_EQ_U(p->proto, 17);
    CHECK(addr_is_v4(&p->src, V4_A));
    CHECK(addr_is_v4(&p->dst, V4_B));
    CHECK(p->has_ports);
    CHECK_EQ_U(p->sport, 1234);
    CHECK_EQ_U(p->dport, 53);
    CHECK_EQ_U(p->ip_len, 36);
    CHECK_EQ_U(p->payload_len, 8);
    CHECK_EQ_U(p->payload_wire_len, 8);
    CHECK(p->payload && p->payload[0] == 'a');
}

static void check_v6_tcp(const struct nm_packet *p)
{
    CHECK(p->has_ip);
    CHECK_EQ_U(p->ip_version, 6);
    CHECK_EQ_U(p->proto, 6);
    CHECK_EQ_U(p->ttl, 64);
    CHECK(addr_is_v6(&p->src, V6_A));
    CHECK(addr_is_v6(&p->dst, V6_B));
    CHECK_EQ_U(p->sport, 40000);
    CHECK_EQ_U(p->dport, 443);
    CHECK(p->has_tcp);
    CHECK_EQ_U(p->tcp_flags, NM_TCP_SYN);
    CHECK_EQ_U(p->ip_len, 60);
}

static void test_ethernet_ipv4(void)
{
    /* Ethernet padding to 60 bytes must not count as UDP payload. */
    static const uint8_t f[64] = { MACS, 0x08, 0x00, IPV4_UDP_BYTES };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, f, 60, &p));
    check_v4_udp(&p);
    CHECK_EQ_U(p.vlan_count, 0);
    CHECK_EQ_U(p.wirelen, 60);
    CHECK_EQ_U(ctx.stats.frames, 1);
    CHECK_EQ_U(ctx.stats.decoded, 1);
    CHECK_EQ_U(ctx.stats.bytes, 60);
    CHECK_EQ_U(decode_stats_errors(&ctx.stats), 0);
}

static void test_ethernet_ipv6(void)
{
    static const uint8_t f[] = { MACS, 0x86, 0xdd, IPV6_TCP_BYTES };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, f, sizeof f, &p));
    check_v6_tcp(&p);
}

static void test_vlan_8021q(void)
{
    /* TCI 0x2064: PCP 1, DEI 0, VID 100. */
    static const uint8_t f[] = { MACS, 0x81, 0x00, 0x20, 0x64, 0x08, 0x00, IPV4_UDP_BYTES };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, f, sizeof f, &p));
    check_v4_udp(&p);
    CHECK_EQ_U(p.vlan_id, 100);
    CHECK_EQ_U(p.vlan_count, 1);
}

static void test_qinq_8021ad(void)
{
    /* Outer S-tag VID 200 (0x88a8), inner C-tag VID 7 (0x8100). */
    static const uint8_t f[] = { MACS, 0x88, 0xa8, 0x00, 0xc8, 0x81, 0x00, 0x00, 0x07,
                                 0x86, 0xdd, IPV6_TCP_BYTES };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, f, sizeof f, &p));
    check_v6_tcp(&p);
    CHECK_EQ_U(p.vlan_id, 200);
    CHECK_EQ_U(p.vlan_count, 2);
}

static void test_qinq_9100(void)
{
    static const uint8_t f[] = { MACS, 0x91, 0x00, 0x0f, 0xff, 0x81, 0x00, 0x00, 0x01,
                                 0x08, 0x00, IPV4_UDP_BYTES };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, f, sizeof f, &p));
    check_v4_udp(&p);
    CHECK_EQ_U(p.vlan_id, 4095);
}

static void test_vlan_too_deep(void)
{
    static const uint8_t f[] = { MACS, 0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x81, 0x00, 0, 3,
                                 0x08, 0x00, IPV4_UDP_BYTES };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, f, sizeof f, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_vlan_too_deep], 1);
    CHECK_EQ_U(ctx.stats.non_ip, 0);
}

static void test_vlan_truncated(void)
{
    static const uint8_t f[] = { MACS, 0x81, 0x00, 0x00 };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, f, sizeof f, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_vlan_truncated], 1);
}

static void test_eth_truncated(void)
{
    static const uint8_t f[] = { MACS, 0x08 };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, f, sizeof f, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_eth_truncated], 1);
    CHECK_EQ_U(ctx.stats.non_ip, 0);
}

static void test_non_ip_frames(void)
{
    /* ARP request (RFC 826), STP BPDU over 802.3/LLC (length 0x0026),
     * LLDP (0x88cc): all well formed, none IP. */
    static const uint8_t arp[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x08, 0x06,
                                   0, 1, 0x08, 0x00, 6, 4, 0, 1, 0x02, 0, 0, 0, 0, 1, 192, 0, 2, 1,
                                   0, 0, 0, 0, 0, 0, 192, 0, 2, 2 };
    static const uint8_t stp[] = { 0x01, 0x80, 0xc2, 0, 0, 0, 0x02, 0, 0, 0, 0, 1, 0x00, 0x26,
                                   0x42, 0x42, 0x03, 0, 0, 0, 0 };
    static const uint8_t lldp[] = { 0x01, 0x80, 0xc2, 0, 0, 0x0e, 0x02, 0, 0, 0, 0, 1, 0x88, 0xcc,
                                    0x02, 0x07, 0x04, 0x02, 0, 0, 0, 0, 1 };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, arp, sizeof arp, &p));
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, stp, sizeof stp, &p));
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, lldp, sizeof lldp, &p));
    CHECK_EQ_U(ctx.stats.non_ip, 3);
    CHECK_EQ_U(ctx.stats.decoded, 0);
    CHECK_EQ_U(decode_stats_errors(&ctx.stats), 0);
}

static void test_mpls(void)
{
    /* Two label stack entries (RFC 3032): label 100 TTL 64, then label 200
     * with the bottom-of-stack bit, then IPv4. */
    static const uint8_t f[] = { MACS, 0x88, 0x47, 0x00, 0x06, 0x40, 0x40, 0x00, 0x0c, 0x81, 0x40,
                                 IPV4_UDP_BYTES };
    /* Bottom label followed by a pseudowire control word: not IP. */
    static const uint8_t pw[] = { MACS, 0x88, 0x47, 0x00, 0x06, 0x41, 0x40, 0, 0, 0, 0, MACS };
    uint8_t deep[14 + 9 * 4 + 20] = { MACS, 0x88, 0x47 };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, f, sizeof f, &p));
    check_v4_udp(&p);
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, pw, sizeof pw, &p));
    CHECK_EQ_U(ctx.stats.non_ip, 1);
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, deep, sizeof deep, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_mpls_too_deep], 1);
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, f, 20, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_mpls_truncated], 1);
}

static void test_pppoe_session(void)
{
    /* RFC 2516: ver/type 0x11, code 0, session 0x002d, length 38 (PPP
     * protocol 0x0021 + 36 bytes of IPv4), then Ethernet padding. */
    static const uint8_t f[] = { MACS, 0x88, 0x64, 0x11, 0x00, 0x00, 0x2d, 0x00, 38, 0x00, 0x21,
                                 IPV4_UDP_BYTES, 0, 0, 0, 0 };
    /* Protocol field compressed to one byte (RFC 1661 §6.5), IPv6. */
    static const uint8_t pfc[] = { MACS, 0x88, 0x64, 0x11, 0x00, 0x00, 0x01, 0x00, 61, 0x57,
                                   IPV6_TCP_BYTES };
    /* LCP echo request (0xc021): control traffic, not IP. */
    static const uint8_t lcp[] = { MACS, 0x88, 0x64, 0x11, 0x00, 0x00, 0x01, 0x00, 10, 0xc0, 0x21,
                                   9, 1, 0, 8, 0, 0, 0, 0 };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, f, sizeof f, &p));
    check_v4_udp(&p);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, pfc, sizeof pfc, &p));
    check_v6_tcp(&p);
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, lcp, sizeof lcp, &p));
    CHECK_EQ_U(ctx.stats.non_ip, 1);
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, f, 18, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_pppoe_truncated], 1);
}

static void test_etag(void)
{
    /* IEEE 802.1BR: TPID 0x893F, E-PCP 3 / ingress E-CID base 0x012,
     * GRP 1 / E-CID base 0x034, the two extension octets, then IPv4. */
    static const uint8_t f[] = { MACS, 0x89, 0x3f, 0x60, 0x12, 0x10, 0x34, 0x00, 0x00, 0x08, 0x00,
                                 IPV4_UDP_BYTES };
    /* E-Tag then an 802.1Q tag (VID 7), then IPv6. */
    static const uint8_t vlan[] = { MACS, 0x89, 0x3f, 0, 0, 0, 1, 0, 0, 0x81, 0x00, 0x00, 0x07,
                                    0x86, 0xdd, IPV6_TCP_BYTES };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, f, sizeof f, &p));
    check_v4_udp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_NONE);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, vlan, sizeof vlan, &p));
    check_v6_tcp(&p);
    CHECK_EQ_U(p.vlan_id, 7);
    /* Cut inside the tag. */
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, f, 20, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_etag_truncated], 1);
}

#define MACSEC_ICV 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, \
                   0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0
#define MACSEC_SCI 0x02, 0, 0, 0, 0, 2, 0x00, 0x01

static void test_macsec(void)
{
    /* IEEE 802.1AE SecTAG: TCI SC (0x20) AN 0, SL 0, PN 1, SCI; the
     * protected EtherType and packet; the 16-byte ICV. */
    static const uint8_t sc[] = { MACS, 0x88, 0xe5, 0x20, 0x00, 0, 0, 0, 1, MACSEC_SCI,
                                  0x08, 0x00, IPV4_UDP_BYTES, MACSEC_ICV };
    /* No SCI (SC clear, ES set), SL 0: 2 + 60 secure bytes are not below
     * 48; then a short frame whose SL says 38 (2 + 36). */
    static const uint8_t nosci[] = { MACS, 0x88, 0xe5, 0x40, 0x00, 0, 0, 0, 2, 0x86, 0xdd,
                                     IPV6_TCP_BYTES, MACSEC_ICV };
    static const uint8_t shortlen[] = { MACS, 0x88, 0xe5, 0x20, 38, 0, 0, 0, 3, MACSEC_SCI,
                                        0x08, 0x00, IPV4_UDP_BYTES, MACSEC_ICV };
    /* E and C set: encrypted, opaque. */
    static const uint8_t enc[] = { MACS, 0x88, 0xe5, 0x2c, 0x00, 0, 0, 0, 4, MACSEC_SCI,
                                   0x08, 0x00, IPV4_UDP_BYTES, MACSEC_ICV };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, sc, sizeof sc, &p));
    check_v4_udp(&p);
    CHECK_EQ_U(p.tunnel, NM_TUNNEL_NONE);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, nosci, sizeof nosci, &p));
    check_v6_tcp(&p);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, shortlen, sizeof shortlen, &p));
    check_v4_udp(&p);
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, enc, sizeof enc, &p));
    CHECK_EQ_U(ctx.stats.non_ip, 1);
    CHECK_EQ_U(decode_stats_errors(&ctx.stats), 0);
    /* The SCI announced but cut off. */
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, sc, 14 + 6 + 4, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_macsec_truncated], 1);
    /* A snaplen cut that took the ICV and part of the packet: what was
     * captured is all secure data. */
    struct nm_frame cut = { sc, 14 + 14 + 2 + 28, sizeof sc, 1, NM_LINKTYPE_ETHERNET, false, NULL };
    CHECK(decode_packet(&ctx, &cut, &p));
    CHECK_EQ_U(p.dport, 53);
    CHECK_EQ_U(p.ip_len, 36);
    CHECK_EQ_U(decode_stats_errors(&ctx.stats), 1);
}

static void test_sll(void)
{
    /* packet type 0 (to us), ARPHRD_ETHER 1, address length 6, address
     * padded to 8, protocol 0x0800. */
    static const uint8_t f[] = { 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x02, 0, 0, 0, 0, 1, 0, 0,
                                 0x08, 0x00, IPV4_UDP_BYTES };
    static const uint8_t llc[] = { 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x02, 0, 0, 0, 0, 1, 0, 0,
                                   0x00, 0x04, 0x42, 0x42, 0x03 };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_LINUX_SLL, f, sizeof f, &p));
    check_v4_udp(&p);
    /* Protocol 0x0004 is ETH_P_802_2: LLC, not IP. */
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_LINUX_SLL, llc, sizeof llc, &p));
    CHECK_EQ_U(ctx.stats.non_ip, 1);
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_LINUX_SLL, f, 15, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_sll_truncated], 1);
}

static void test_sll2(void)
{
    /* protocol 0x86dd, reserved, ifindex 3, ARPHRD_ETHER, packet type 4
     * (outgoing), address length 6, address padded to 8. */
    static const uint8_t f[] = { 0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0x00, 0x01, 4, 6,
                                 0x02, 0, 0, 0, 0, 1, 0, 0, IPV6_TCP_BYTES };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_LINUX_SLL2, f, sizeof f, &p));
    check_v6_tcp(&p);
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_LINUX_SLL2, f, 19, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_sll2_truncated], 1);
}

static void test_sll_vlan(void)
{
    /* An in-band 802.1Q tag after an SLL header (protocol 0x8100). */
    static const uint8_t f[] = { 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x02, 0, 0, 0, 0, 1, 0, 0,
                                 0x81, 0x00, 0x00, 0x2a, 0x08, 0x00, IPV4_UDP_BYTES };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_LINUX_SLL, f, sizeof f, &p));
    check_v4_udp(&p);
    CHECK_EQ_U(p.vlan_id, 42);
}

static void test_null_both_orders(void)
{
    static const uint8_t le_v4[] = { 2, 0, 0, 0, IPV4_UDP_BYTES };
    static const uint8_t be_v4[] = { 0, 0, 0, 2, IPV4_UDP_BYTES };
    static const uint8_t le_v6_linux[] = { 10, 0, 0, 0, IPV6_TCP_BYTES };
    static const uint8_t le_v6_bsd[] = { 24, 0, 0, 0, IPV6_TCP_BYTES };
    static const uint8_t be_v6_freebsd[] = { 0, 0, 0, 28, IPV6_TCP_BYTES };
    static const uint8_t le_v6_macos[] = { 30, 0, 0, 0, IPV6_TCP_BYTES };
    static const uint8_t bad_af[] = { 7, 0, 0, 0, IPV4_UDP_BYTES };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_NULL, le_v4, sizeof le_v4, &p));
    check_v4_udp(&p);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_NULL, be_v4, sizeof be_v4, &p));
    check_v4_udp(&p);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_NULL, le_v6_linux, sizeof le_v6_linux, &p));
    check_v6_tcp(&p);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_NULL, le_v6_bsd, sizeof le_v6_bsd, &p));
    check_v6_tcp(&p);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_NULL, be_v6_freebsd, sizeof be_v6_freebsd, &p));
    check_v6_tcp(&p);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_NULL, le_v6_macos, sizeof le_v6_macos, &p));
    check_v6_tcp(&p);
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_NULL, bad_af, sizeof bad_af, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_loop_bad_family], 1);
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_NULL, le_v4, 3, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_loop_truncated], 1);
}

static void test_loop(void)
{
    static const uint8_t v4[] = { 0, 0, 0, 2, IPV4_UDP_BYTES };
    static const uint8_t v6[] = { 0, 0, 0, 24, IPV6_TCP_BYTES };
    /* LOOP is always network order: a little-endian 2 is family 0x02000000. */
    static const uint8_t le[] = { 2, 0, 0, 0, IPV4_UDP_BYTES };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_LOOP, v4, sizeof v4, &p));
    check_v4_udp(&p);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_LOOP, v6, sizeof v6, &p));
    check_v6_tcp(&p);
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_LOOP, le, sizeof le, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_loop_bad_family], 1);
}

static void test_raw_ip_all_aliases(void)
{
    static const uint8_t v4[] = { IPV4_UDP_BYTES };
    static const uint8_t v6[] = { IPV6_TCP_BYTES };
    static const int types[] = { NM_LINKTYPE_RAW, NM_DLT_RAW_ALT1, NM_DLT_RAW_ALT2 };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    for (size_t i = 0; i < 3; i++) {
        CHECK(decode_bytes(&ctx, types[i], v4, sizeof v4, &p));
        check_v4_udp(&p);
        CHECK(decode_bytes(&ctx, types[i], v6, sizeof v6, &p));
        check_v6_tcp(&p);
    }
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_IPV4, v4, sizeof v4, &p));
    check_v4_udp(&p);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_IPV6, v6, sizeof v6, &p));
    check_v6_tcp(&p);
    /* A packet whose version nibble contradicts LINKTYPE_IPV4/IPV6 is
     * decoded by its nibble, as tcpdump and tshark do. */
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_IPV4, v6, sizeof v6, &p));
    check_v6_tcp(&p);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_IPV6, v4, sizeof v4, &p));
    check_v4_udp(&p);
    static const uint8_t v5[] = { 0x55, 0, 0, 20 };
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_RAW, v5, sizeof v5, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_ip_bad_version], 1);
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_IPV4, v5, sizeof v5, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_ip_bad_version], 2);
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_RAW, v5, 0, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_ip_truncated], 1);
    CHECK_EQ_U(ctx.stats.decoded, 10);
}

static void test_unsupported_link(void)
{
    static const uint8_t f[] = { IPV4_UDP_BYTES };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(!decode_bytes(&ctx, 127 /* radiotap */, f, sizeof f, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_link_unsupported], 1);
    CHECK_EQ_U(ctx.stats.non_ip, 0);
    CHECK_EQ_U(ctx.stats.frames, 1);
    struct nm_frame empty = { NULL, 0, 0, 0, NM_LINKTYPE_ETHERNET, false, NULL };
    CHECK(!decode_packet(&ctx, &empty, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_eth_truncated], 1);
}

static void test_packet_is_reset(void)
{
    static const uint8_t v6[] = { IPV6_TCP_BYTES };
    static const uint8_t arp[] = { MACS, 0x08, 0x06, 0, 1 };
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    CHECK(decode_bytes(&ctx, NM_LINKTYPE_RAW, v6, sizeof v6, &p));
    CHECK(!decode_bytes(&ctx, NM_LINKTYPE_ETHERNET, arp, sizeof arp, &p));
    CHECK(!p.has_ip);
    CHECK(!p.has_ports);
    CHECK(!p.has_tcp);
    CHECK_EQ_U(p.sport, 0);
}

static void test_names(void)
{
    CHECK_STR(decode_linktype_name(NM_LINKTYPE_ETHERNET), "EN10MB");
    CHECK_STR(decode_linktype_name(NM_LINKTYPE_LINUX_SLL), "LINUX_SLL");
    CHECK_STR(decode_linktype_name(NM_LINKTYPE_LINUX_SLL2), "LINUX_SLL2");
    CHECK_STR(decode_linktype_name(NM_LINKTYPE_RAW), "RAW");
    CHECK_STR(decode_linktype_name(NM_DLT_RAW_ALT1), "RAW");
    CHECK_STR(decode_linktype_name(NM_DLT_RAW_ALT2), "RAW");
    CHECK_STR(decode_linktype_name(NM_LINKTYPE_NULL), "NULL");
    CHECK_STR(decode_linktype_name(NM_LINKTYPE_LOOP), "LOOP");
    CHECK_STR(decode_linktype_name(NM_LINKTYPE_IPV4), "IPV4");
    CHECK_STR(decode_linktype_name(NM_LINKTYPE_IPV6), "IPV6");
    CHECK_STR(decode_linktype_name(9999), "unknown");
    CHECK(decode_linktype_supported(NM_LINKTYPE_LINUX_SLL2));
    CHECK(!decode_linktype_supported(105));
    CHECK_STR(nm_tunnel_name(NM_TUNNEL_GRE), "gre");
    CHECK_STR(nm_tunnel_name(NM_TUNNEL_VXLAN), "vxlan");
    CHECK_STR(nm_tunnel_name(NM_TUNNEL_GENEVE), "geneve");
    CHECK_STR(nm_tunnel_name(NM_TUNNEL_IPIP), "ipip");
    CHECK_STR(nm_tunnel_name(NM_TUNNEL_6IN4), "6in4");
    CHECK_STR(nm_tunnel_name(NM_TUNNEL_4IN6), "4in6");
    CHECK_STR(nm_tunnel_name(NM_TUNNEL_6IN6), "6in6");
    CHECK_STR(nm_tunnel_name(NM_TUNNEL_ERSPAN), "erspan");
    CHECK_STR(nm_tunnel_name(NM_TUNNEL_PIM), "pim");
    CHECK_STR(nm_tunnel_name(NM_TUNNEL_NSH), "nsh");
    CHECK_STR(nm_tunnel_name(NM_TUNNEL_TEREDO), "teredo");
    CHECK_STR(nm_tunnel_name(NM_TUNNEL_MPLS_UDP), "mpls-udp");
    CHECK_STR(nm_tunnel_name(NM_TUNNEL_VXLAN_GPE), "vxlan-gpe");
    /* Stored in records: the first values must never move. */
    CHECK_EQ_U(NM_TUNNEL_GRE, 1);
    CHECK_EQ_U(NM_TUNNEL_6IN6, 7);
    CHECK(nm_tunnel_name(NM_TUNNEL_NONE) == NULL);
    CHECK_STR(decode_reason_name(DECODE_R_tcp_bad_offset), "tcp_bad_offset");
    CHECK_STR(decode_reason_description(DECODE_R_vlan_too_deep), "more than 2 VLAN tags");
    CHECK_STR(decode_reason_name(DECODE_REASON_COUNT), "unknown");
    for (int r = 0; r < DECODE_REASON_COUNT; r++)
        CHECK(decode_reason_name(r)[0] != '\0' && decode_reason_description(r)[0] != '\0');
}

static void test_stats_add(void)
{
    struct decode_stats a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.frames = 2; a.bytes = 100; a.reasons[DECODE_R_udp_bad_len] = 1;
    b.frames = 3; b.bytes = 50; b.non_ip = 1; b.decoded = 2; b.fragments = 4; b.decapsulated = 5;
    b.reasons[DECODE_R_udp_bad_len] = 2; b.reasons[DECODE_R_tunnel_too_deep] = 1;
    decode_stats_add(&a, &b);
    CHECK_EQ_U(a.frames, 5);
    CHECK_EQ_U(a.bytes, 150);
    CHECK_EQ_U(a.non_ip, 1);
    CHECK_EQ_U(a.decoded, 2);
    CHECK_EQ_U(a.fragments, 4);
    CHECK_EQ_U(a.decapsulated, 5);
    CHECK_EQ_U(a.reasons[DECODE_R_udp_bad_len], 3);
    CHECK_EQ_U(decode_stats_errors(&a), 4);
}

int main(void)
{
    RUN(test_ethernet_ipv4);
    RUN(test_ethernet_ipv6);
    RUN(test_vlan_8021q);
    RUN(test_qinq_8021ad);
    RUN(test_qinq_9100);
    RUN(test_vlan_too_deep);
    RUN(test_vlan_truncated);
    RUN(test_eth_truncated);
    RUN(test_non_ip_frames);
    RUN(test_mpls);
    RUN(test_pppoe_session);
    RUN(test_etag);
    RUN(test_macsec);
    RUN(test_sll);
    RUN(test_sll2);
    RUN(test_sll_vlan);
    RUN(test_null_both_orders);
    RUN(test_loop);
    RUN(test_raw_ip_all_aliases);
    RUN(test_unsupported_link);
    RUN(test_packet_is_reset);
    RUN(test_names);
    RUN(test_stats_add);
    TESTLIB_EXIT();
}
