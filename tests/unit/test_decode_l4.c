/*
 * test_decode_l4.c: transports: TCP (RFC 9293 header, RFC 7323/2018
 * options, data offset problems, snaplen cuts), UDP (RFC 768 length
 * checks), ICMP (RFC 792 queries and errors), ICMPv6 (RFC 4443 echo) and
 * the ports-only transports (SCTP).
 */
#include "decode/decode.h"
#include "testlib.h"
#include "decode_build.h"

static struct decode_ctx ctx;

static bool run_raw(const struct pb *b, struct nm_packet *p)
{
    return decode_bytes(&ctx, NM_LINKTYPE_RAW, b->b, b->n, p);
}

/* IPv4 A -> B carrying TCP 40000 -> 443 with the given options and data. */
static void build_tcp(struct pb *b, uint8_t flags, const uint8_t *opts, size_t optlen,
                      const char *data)
{
    b->n = 0;
    size_t ip = pb_ipv4(b, 6, V4_A, V4_B);
    pb_tcp(b, 40000, 443, 0x01020304u, 0xa0b0c0d0u, flags, 29200, opts, optlen);
    pb_bytes(b, data, strlen(data));
    pb_ipv4_finish(b, ip);
}

static void test_tcp_syn_options(void)
{
    /* A Linux SYN: MSS 1460, SACK permitted, timestamps 0x11223344/0,
     * NOP, window scale 7; ECE+CWR for ECN negotiation (RFC 3168 §6.1.1). */
    static const uint8_t opts[20] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x11, 0x22, 0x33, 0x44,
                                      0, 0, 0, 0, 1, 3, 3, 7 };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_tcp(&b, NM_TCP_SYN | NM_TCP_ECE | NM_TCP_CWR, opts, sizeof opts, "");
    CHECK(run_raw(&b, &p));
    CHECK(p.has_tcp);
    CHECK(p.has_ports);
    CHECK_EQ_U(p.sport, 40000);
    CHECK_EQ_U(p.dport, 443);
    CHECK_EQ_U(p.tcp_seq, 0x01020304u);
    CHECK_EQ_U(p.tcp_ack, 0xa0b0c0d0u);
    CHECK_EQ_U(p.tcp_flags, 0xc2);
    CHECK_EQ_U(p.tcp_win, 29200);
    CHECK(p.tcp_has_mss);
    CHECK_EQ_U(p.tcp_mss, 1460);
    CHECK(p.tcp_sack_permitted);
    CHECK(p.tcp_has_ts);
    CHECK_EQ_U(p.tcp_ts_val, 0x11223344u);
    CHECK_EQ_U(p.tcp_ts_ecr, 0);
    CHECK(p.tcp_has_wscale);
    CHECK_EQ_U(p.tcp_wscale, 7);
    CHECK_EQ_U(p.payload_len, 0);
    CHECK_EQ_U(decode_stats_errors(&ctx.stats), 0);
}

static void test_tcp_payload_and_flags(void)
{
    /* NOP NOP timestamps (the usual 12-byte data-segment options). */
    static const uint8_t opts[12] = { 1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 8 };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_tcp(&b, NM_TCP_PSH | NM_TCP_ACK | NM_TCP_FIN, opts, sizeof opts, "GET / HTTP/1.0\r\n");
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(p.tcp_flags, 0x19);
    CHECK_EQ_U(p.tcp_ts_val, 9);
    CHECK_EQ_U(p.tcp_ts_ecr, 8);
    CHECK(!p.tcp_has_mss);
    CHECK_EQ_U(p.payload_len, 16);
    CHECK_EQ_U(p.payload_wire_len, 16);
    CHECK(memcmp(p.payload, "GET ", 4) == 0);
}

static void test_tcp_sack_unknown_and_clamp(void)
{
    /* SACK with one block (kind 5, len 10), an unknown kind 30 of 4 bytes
     * (skipped by length), window scale 15 (used as 14, RFC 7323 §2.3),
     * then EOL. */
    static const uint8_t opts[20] = { 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 30, 4, 0, 0, 3, 3, 15, 0,
                                      0, 0 };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_tcp(&b, NM_TCP_ACK, opts, sizeof opts, "");
    CHECK(run_raw(&b, &p));
    CHECK(p.tcp_has_wscale);
    CHECK_EQ_U(p.tcp_wscale, 14);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_tcp_bad_option], 0);
}

static void test_tcp_bad_options(void)
{
    /* MSS with length 3; a zero-length option; an option overrunning the
     * header.  Each is counted; the header is still used. */
    static const uint8_t mss_len3[4] = { 2, 3, 5, 0 };
    static const uint8_t zero_len[4] = { 1, 99, 0, 0 };
    static const uint8_t overrun[4] = { 1, 8, 10, 0 };
    const uint8_t *cases[3] = { mss_len3, zero_len, overrun };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    for (int i = 0; i < 3; i++) {
        build_tcp(&b, NM_TCP_SYN, cases[i], 4, "x");
        CHECK(run_raw(&b, &p));
        CHECK(p.has_tcp);
        CHECK_EQ_U(p.tcp_flags, NM_TCP_SYN);
        CHECK(!p.tcp_has_mss);
        CHECK_EQ_U(p.payload_len, 1);
    }
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_tcp_bad_option], 3);
}

static void test_tcp_bad_offset(void)
{
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_tcp(&b, NM_TCP_SYN, NULL, 0, "");
    b.b[20 + 12] = 0x40; /* data offset 4: 16 bytes */
    CHECK(run_raw(&b, &p));
    CHECK(p.has_ports);
    CHECK(!p.has_tcp);
    CHECK_EQ_U(p.dport, 443);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_tcp_bad_offset], 1);
    build_tcp(&b, NM_TCP_SYN, NULL, 0, "");
    b.b[20 + 12] = 0xf0; /* 60 bytes in a 20-byte segment */
    CHECK(run_raw(&b, &p));
    CHECK(p.has_ports);
    CHECK(!p.has_tcp);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_tcp_bad_offset], 2);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_tcp_truncated], 0);
}

static void test_tcp_truncated_keeps_ports(void)
{
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_tcp(&b, NM_TCP_ACK, NULL, 0, "0123456789");
    /* 1500-byte snaplen-style cut: only IP + 4 bytes of TCP captured. */
    struct nm_frame f = { b.b, 24, (uint32_t)b.n, 1, NM_LINKTYPE_RAW, false, NULL };
    CHECK(decode_packet(&ctx, &f, &p));
    CHECK(p.has_ports);
    CHECK_EQ_U(p.sport, 40000);
    CHECK_EQ_U(p.dport, 443);
    CHECK(!p.has_tcp);
    CHECK_EQ_U(p.ip_len, 50);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_tcp_truncated], 1);
    /* Two bytes of TCP: no ports, still accounted by addresses. */
    f.caplen = 22;
    CHECK(decode_packet(&ctx, &f, &p));
    CHECK(!p.has_ports);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_tcp_truncated], 2);
    CHECK_EQ_U(ctx.stats.decoded, 2);
}

/* A frame read through a buffer names a stable copy of its bytes
 * (capture/pcap_file.c): the packet's payload and l3 must point there, at
 * the same bytes, so that they stay valid while the packet waits in the
 * -r pipeline's ring and the buffer is refilled; without one they stay in
 * the frame. */
static void test_payload_points_at_stable_copy(void)
{
    struct pb b;
    struct nm_packet p;
    uint8_t stable[sizeof b.b];
    decode_ctx_init(&ctx, NULL);
    build_tcp(&b, NM_TCP_ACK | NM_TCP_PSH, NULL, 0, "0123456789");
    memcpy(stable, b.b, b.n);
    struct nm_frame f = { b.b, (uint32_t)b.n, (uint32_t)b.n, 1, NM_LINKTYPE_RAW, false, stable };
    CHECK(decode_packet(&ctx, &f, &p));
    CHECK_EQ_U(p.payload_len, 10);
    CHECK(p.payload == stable + b.n - 10);
    CHECK(p.l3 == stable);
    memset(b.b, 0, b.n); /* the buffer moves on */
    CHECK(memcmp(p.payload, "0123456789", 10) == 0);
    memcpy(b.b, stable, b.n);
    CHECK(decode_packet_general(&ctx, &f, &p)); /* the per-protocol decoders too */
    CHECK(p.payload == stable + b.n - 10);
    f.stable = NULL;
    CHECK(decode_packet(&ctx, &f, &p));
    CHECK(p.payload == b.b + b.n - 10);
    CHECK(p.l3 == b.b);
}

static void test_tcp_options_cut_by_snaplen(void)
{
    static const uint8_t opts[20] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x11, 0x22, 0x33, 0x44,
                                      0, 0, 0, 0, 1, 3, 3, 7 };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_tcp(&b, NM_TCP_SYN, opts, sizeof opts, "");
    /* IP 20 + TCP 20 + 10 option bytes: MSS and SACK-perm, TS cut. */
    struct nm_frame f = { b.b, 50, (uint32_t)b.n, 1, NM_LINKTYPE_RAW, false, NULL };
    CHECK(decode_packet(&ctx, &f, &p));
    CHECK(p.has_tcp);
    CHECK_EQ_U(p.tcp_flags, NM_TCP_SYN);
    CHECK(p.tcp_has_mss);
    CHECK(p.tcp_sack_permitted);
    CHECK(!p.tcp_has_ts);
    CHECK_EQ_U(p.payload_len, 0);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_tcp_truncated], 1);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_tcp_bad_option], 0);
}

static void build_udp(struct pb *b, const char *data)
{
    b->n = 0;
    size_t ip = pb_ipv4(b, 17, V4_A, V4_B);
    size_t udp = pb_udp(b, 53000, 53);
    pb_bytes(b, data, strlen(data));
    pb_udp_finish(b, udp);
    pb_ipv4_finish(b, ip);
}

static void test_udp(void)
{
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_udp(&b, "query");
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(p.proto, 17);
    CHECK_EQ_U(p.sport, 53000);
    CHECK_EQ_U(p.dport, 53);
    CHECK_EQ_U(p.payload_len, 5);
    CHECK_EQ_U(p.payload_wire_len, 5);
    CHECK(!p.has_tcp);
    CHECK(!p.has_icmp);
    /* Length 20 while the IP payload is 13 bytes: the IP header wins for
     * the payload, ports are kept. */
    build_udp(&b, "query");
    pb_put16(&b, 24, 20);
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(p.dport, 53);
    CHECK_EQ_U(p.payload_len, 5);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_udp_bad_len], 1);
    /* Length 7: below the header. */
    build_udp(&b, "query");
    pb_put16(&b, 24, 7);
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(p.sport, 53000);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_udp_bad_len], 2);
    /* Length 10 within 13 bytes: trailing bytes are not payload. */
    build_udp(&b, "query");
    pb_put16(&b, 24, 10);
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(p.payload_len, 2);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_udp_bad_len], 2);
}

static void test_udp_truncated(void)
{
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_udp(&b, "query");
    struct nm_frame f = { b.b, 26, (uint32_t)b.n, 1, NM_LINKTYPE_RAW, false, NULL };
    CHECK(decode_packet(&ctx, &f, &p));
    CHECK(p.has_ports);
    CHECK_EQ_U(p.dport, 53);
    f.caplen = 23;
    CHECK(decode_packet(&ctx, &f, &p));
    CHECK(!p.has_ports);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_udp_truncated], 2);
}

static void build_icmp(struct pb *b, const uint8_t *msg, size_t len)
{
    b->n = 0;
    size_t ip = pb_ipv4(b, 1, V4_A, V4_B);
    pb_bytes(b, msg, len);
    pb_ipv4_finish(b, ip);
}

static void test_icmp(void)
{
    static const uint8_t echo_req[] = { 8, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g' };
    static const uint8_t echo_rep[] = { 0, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g' };
    static const uint8_t tstamp[] = { 13, 0, 0, 0, 0x00, 0x42, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
                                      0, 0, 0, 0 };
    /* Port unreachable quoting a UDP header: only type/code are used. */
    static const uint8_t unreach[] = { 3, 3, 0, 0, 0, 0, 0, 0,
                                       0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0,
                                       198, 51, 100, 2, 192, 0, 2, 1, 0x13, 0x88, 0x00, 0x35, 0, 8, 0, 0 };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_icmp(&b, echo_req, sizeof echo_req);
    CHECK(run_raw(&b, &p));
    CHECK(p.has_icmp);
    CHECK(p.icmp_is_echo);
    CHECK(p.icmp_is_request);
    CHECK_EQ_U(p.icmp_type, 8);
    CHECK_EQ_U(p.icmp_id, 0x1234);
    CHECK(!p.has_ports);
    CHECK_EQ_U(p.payload_len, 4);
    build_icmp(&b, echo_rep, sizeof echo_rep);
    CHECK(run_raw(&b, &p));
    CHECK(p.icmp_is_echo);
    CHECK(!p.icmp_is_request);
    CHECK_EQ_U(p.icmp_id, 0x1234);
    build_icmp(&b, tstamp, sizeof tstamp);
    CHECK(run_raw(&b, &p));
    CHECK(p.icmp_is_echo);
    CHECK(p.icmp_is_request);
    CHECK_EQ_U(p.icmp_id, 0x42);
    build_icmp(&b, unreach, sizeof unreach);
    CHECK(run_raw(&b, &p));
    CHECK(p.has_icmp);
    CHECK(!p.icmp_is_echo);
    CHECK_EQ_U(p.icmp_type, 3);
    CHECK_EQ_U(p.icmp_code, 3);
    CHECK(!p.has_ports);
    CHECK(addr_is_v4(&p.src, V4_A)); /* not the quoted packet's */
    build_icmp(&b, echo_req, 3);
    CHECK(run_raw(&b, &p));
    CHECK(!p.has_icmp);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_icmp_truncated], 1);
    CHECK_EQ_U(ctx.stats.decoded, 5);
}

static void build_icmpv6(struct pb *b, const uint8_t *msg, size_t len)
{
    b->n = 0;
    size_t ip = pb_ipv6(b, 58, V6_A, V6_B);
    pb_bytes(b, msg, len);
    pb_ipv6_finish(b, ip);
}

static void test_icmpv6(void)
{
    static const uint8_t echo_req[] = { 128, 0, 0, 0, 0xbe, 0xef, 0, 7, 'x' };
    static const uint8_t echo_rep[] = { 129, 0, 0, 0, 0xbe, 0xef, 0, 7, 'x' };
    /* Neighbour solicitation (RFC 4861 §4.3): type 135, not echo. */
    static const uint8_t ns[24] = { 135, 0, 0, 0, 0, 0, 0, 0, 0x20, 0x01, 0x0d, 0xb8 };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    build_icmpv6(&b, echo_req, sizeof echo_req);
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(p.proto, 58);
    CHECK(p.has_icmp);
    CHECK(p.icmp_is_echo);
    CHECK(p.icmp_is_request);
    CHECK_EQ_U(p.icmp_id, 0xbeef);
    CHECK_EQ_U(p.payload_len, 1);
    build_icmpv6(&b, echo_rep, sizeof echo_rep);
    CHECK(run_raw(&b, &p));
    CHECK(p.icmp_is_echo);
    CHECK(!p.icmp_is_request);
    build_icmpv6(&b, ns, sizeof ns);
    CHECK(run_raw(&b, &p));
    CHECK(p.has_icmp);
    CHECK(!p.icmp_is_echo);
    CHECK_EQ_U(p.icmp_type, 135);
    build_icmpv6(&b, echo_req, 6);
    CHECK(run_raw(&b, &p));
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_icmpv6_truncated], 1);
    build_icmpv6(&b, echo_req, 2);
    CHECK(run_raw(&b, &p));
    CHECK(!p.has_icmp);
    CHECK_EQ_U(ctx.stats.reasons[DECODE_R_icmpv6_truncated], 2);
}

static void test_sctp_ports(void)
{
    /* SCTP common header (RFC 9260 §3.1): ports, verification tag, checksum. */
    static const uint8_t sctp[12] = { 0x0b, 0x59, 0x0b, 0x59, 0, 0, 0, 1, 0, 0, 0, 0 };
    struct pb b;
    struct nm_packet p;
    decode_ctx_init(&ctx, NULL);
    b.n = 0;
    size_t ip = pb_ipv4(&b, 132, V4_A, V4_B);
    pb_bytes(&b, sctp, sizeof sctp);
    pb_ipv4_finish(&b, ip);
    CHECK(run_raw(&b, &p));
    CHECK(p.has_ports);
    CHECK_EQ_U(p.sport, 2905);
    CHECK_EQ_U(p.dport, 2905);
    /* An unknown protocol (ESP, 50) is accounted without ports. */
    b.b[9] = 50;
    CHECK(run_raw(&b, &p));
    CHECK(!p.has_ports);
    CHECK_EQ_U(p.proto, 50);
    CHECK_EQ_U(p.payload_len, 12);
}

int main(void)
{
    RUN(test_tcp_syn_options);
    RUN(test_tcp_payload_and_flags);
    RUN(test_tcp_sack_unknown_and_clamp);
    RUN(test_tcp_bad_options);
    RUN(test_tcp_bad_offset);
    RUN(test_tcp_truncated_keeps_ports);
    RUN(test_tcp_options_cut_by_snaplen);
    RUN(test_udp);
    RUN(test_udp_truncated);
    RUN(test_icmp);
    RUN(test_icmpv6);
    RUN(test_sctp_ports);
    RUN(test_payload_points_at_stable_copy);
    TESTLIB_EXIT();
}
