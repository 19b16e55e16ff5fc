/*
 * test_decode_fuzz.c: robustness of decode_packet() against cut and
 * corrupted frames.  Every prefix (0..len bytes) of a set of valid frames,
 * then many copies with random bytes flipped, are decoded from a heap
 * buffer of exactly the captured size, so that the ASan build turns any
 * read past the captured data into a failure.  After each frame the
 * packet must satisfy the contract of decode.h and the frame must be
 * accounted (decoded, non-IP, or a counted reason): nothing is silent.
 */
#include <stdlib.h>

#include "decode/decode.h"
#include "testlib.h"
#include "decode_build.h"

static struct decode_ctx ctx;
static unsigned long invariant_failures;

struct seed {
    struct pb b;
    int linktype;
};

static struct seed seeds[24];
static size_t nseeds;

static struct pb *new_seed(int linktype)
{
    struct seed *s = &seeds[nseeds++];
    s->b.n = 0;
    s->linktype = linktype;
    return &s->b;
}

static void seed_eth_vlan_tcp(void)
{
    static const uint8_t opts[20] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x11, 0x22, 0x33, 0x44,
                                      0, 0, 0, 0, 1, 3, 3, 7 };
    struct pb *b = new_seed(NM_LINKTYPE_ETHERNET);
    pb_eth(b, 0x88a8);
    pb_vlan(b, 5, 0x8100);
    pb_vlan(b, 6, 0x0800);
    size_t ip = pb_ipv4_opts(b, 6, V4_A, V4_B, 9, 0, (const uint8_t[4]){ 148, 4, 0, 0 }, 4);
    pb_tcp(b, 40000, 443, 1, 2, NM_TCP_SYN, 100, opts, sizeof opts);
    pb_bytes(b, "payload", 7);
    pb_ipv4_finish(b, ip);
}

static void seed_ipv6_chain_frag(void)
{
    struct pb *b = new_seed(NM_LINKTYPE_ETHERNET);
    pb_eth(b, 0x86dd);
    size_t ip = pb_ipv6(b, 0, V6_A, V6_B);
    pb_bytes(b, (const uint8_t[8]){ 43, 0, 1, 4, 0, 0, 0, 0 }, 8);
    pb_bytes(b, (const uint8_t[8]){ 51, 0, 4, 0, 0, 0, 0, 0 }, 8);
    pb_bytes(b, (const uint8_t[16]){ 44, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0 }, 16);
    pb_bytes(b, (const uint8_t[8]){ 17, 0, 0, 1, 0, 0, 0, 42 }, 8);
    size_t udp = pb_udp(b, 1, 2);
    pb_bytes(b, "abcd", 4);
    pb_udp_finish(b, udp);
    pb_ipv6_finish(b, ip);
}

static void seed_gre_teb(void)
{
    struct pb *b = new_seed(NM_LINKTYPE_LINUX_SLL2);
    pb_be16(b, 0x0800);
    pb_zero(b, 18);
    size_t ip = pb_ipv4(b, 47, V4_A, V4_B);
    pb_be16(b, 0xb000);
    pb_be16(b, 0x6558);
    pb_zero(b, 12);
    pb_eth(b, 0x0800);
    size_t inner = pb_ipv4(b, 1, V4_C, V4_D);
    pb_bytes(b, (const uint8_t[8]){ 8, 0, 0, 0, 0, 1, 0, 1 }, 8);
    pb_ipv4_finish(b, inner);
    pb_ipv4_finish(b, ip);
}

static void seed_vxlan_geneve(void)
{
    struct pb *b = new_seed(NM_LINKTYPE_LINUX_SLL);
    pb_zero(b, 14);
    pb_be16(b, 0x86dd);
    size_t ip = pb_ipv6(b, 17, V6_A, V6_B);
    size_t udp = pb_udp(b, 999, 4789);
    pb_bytes(b, (const uint8_t[8]){ 8, 0, 0, 0, 0, 0, 1, 0 }, 8);
    pb_eth(b, 0x0800);
    size_t mid = pb_ipv4(b, 17, V4_A, V4_C);
    size_t udp2 = pb_udp(b, 998, 6081);
    pb_bytes(b, (const uint8_t[12]){ 1, 0, 0x86, 0xdd, 0, 0, 1, 0, 1, 2, 3, 0 }, 12);
    size_t in6 = pb_ipv6(b, 58, V6_C, V6_B);
    pb_bytes(b, (const uint8_t[8]){ 128, 0, 0, 0, 0, 9, 0, 1 }, 8);
    pb_ipv6_finish(b, in6);
    pb_udp_finish(b, udp2);
    pb_ipv4_finish(b, mid);
    pb_udp_finish(b, udp);
    pb_ipv6_finish(b, ip);
}

static void seed_loopback_ipip(void)
{
    struct pb *b = new_seed(NM_LINKTYPE_NULL);
    pb_bytes(b, (const uint8_t[4]){ 30, 0, 0, 0 }, 4);
    size_t ip = pb_ipv6(b, 4, V6_A, V6_B);
    size_t in4 = pb_ipv4(b, 41, V4_A, V4_B);
    size_t in6 = pb_ipv6(b, 6, V6_C, V6_A);
    pb_tcp(b, 1, 2, 3, 4, NM_TCP_ACK, 5, (const uint8_t[8]){ 5, 10, 0, 0, 0, 1, 0, 0 }, 8);
    pb_ipv6_finish(b, in6);
    pb_ipv4_finish(b, in4);
    pb_ipv6_finish(b, ip);
}

static void seed_raw_fragments(void)
{
    struct pb *b = new_seed(NM_LINKTYPE_RAW);
    size_t ip = pb_ipv4_opts(b, 17, V4_A, V4_B, 5, 0x2000, NULL, 0);
    size_t udp = pb_udp(b, 7, 8);
    pb_bytes(b, "0123456789abcdef", 16);
    pb_udp_finish(b, udp);
    pb_ipv4_finish(b, ip);
    b = new_seed(NM_LINKTYPE_LOOP);
    pb_be32(b, 2);
    ip = pb_ipv4_opts(b, 17, V4_A, V4_B, 5, 3, NULL, 0);
    pb_bytes(b, "tail-of-datagram", 16);
    pb_ipv4_finish(b, ip);
}

static void seed_mpls_pppoe(void)
{
    struct pb *b = new_seed(NM_LINKTYPE_ETHERNET);
    pb_eth(b, 0x8847);
    pb_be32(b, (100u << 12) | 64);
    pb_be32(b, (200u << 12) | 0x100 | 64);
    size_t ip = pb_ipv4(b, 6, V4_A, V4_B);
    pb_tcp(b, 1, 2, 3, 4, NM_TCP_ACK, 5, NULL, 0);
    pb_ipv4_finish(b, ip);
    b = new_seed(NM_LINKTYPE_ETHERNET);
    pb_eth(b, 0x8864);
    pb_bytes(b, (const uint8_t[6]){ 0x11, 0, 0, 1, 0, 0 }, 6);
    size_t len_at = b->n - 2;
    pb_be16(b, 0x0057);
    size_t ip6 = pb_ipv6(b, 17, V6_A, V6_B);
    size_t udp = pb_udp(b, 3, 4);
    pb_udp_finish(b, udp);
    pb_ipv6_finish(b, ip6);
    pb_put16(b, len_at, (uint16_t)(b->n - len_at - 2));
}

/* The encapsulations added for the shared corpus: ERSPAN III with its
 * platform subheader, PIM Register, E-Tag + MACsec, NSH in VXLAN-GPE,
 * Teredo with both indicators, MPLS in UDP, an IPv4 loose source route. */
static void seed_more_encapsulations(void)
{
    struct pb *b = new_seed(NM_LINKTYPE_ETHERNET);
    pb_eth(b, 0x0800);
    size_t ip = pb_ipv4(b, 47, V4_A, V4_B);
    pb_be32(b, 0x100022ebu);
    pb_be32(b, 7);
    pb_bytes(b, (const uint8_t[12]){ 0x20, 0, 0, 1, 1, 2, 3, 4, 0, 0, 0, 1 }, 12);
    pb_zero(b, 8);
    pb_eth(b, 0x0800);
    size_t in = pb_ipv4(b, 6, V4_C, V4_D);
    pb_tcp(b, 5, 6, 7, 8, NM_TCP_SYN, 9, NULL, 0);
    pb_ipv4_finish(b, in);
    pb_ipv4_finish(b, ip);

    b = new_seed(NM_LINKTYPE_RAW);
    ip = pb_ipv6(b, 103, V6_A, V6_B);
    pb_be32(b, 0x21000000u);
    pb_be32(b, 0);
    size_t in6 = pb_ipv6(b, 17, V6_C, V6_B);
    size_t udp = pb_udp(b, 7, 8);
    pb_udp_finish(b, udp);
    pb_ipv6_finish(b, in6);
    pb_ipv6_finish(b, ip);

    b = new_seed(NM_LINKTYPE_ETHERNET);
    pb_eth(b, 0x893f);
    pb_zero(b, 6);
    pb_be16(b, 0x88e5);
    pb_bytes(b, (const uint8_t[6]){ 0x20, 0, 0, 0, 0, 1 }, 6);
    pb_zero(b, 8);
    pb_be16(b, 0x0800);
    in = pb_ipv4(b, 17, V4_A, V4_C);
    udp = pb_udp(b, 9, 10);
    pb_udp_finish(b, udp);
    pb_ipv4_finish(b, in);
    pb_zero(b, 16);

    b = new_seed(NM_LINKTYPE_ETHERNET);
    pb_eth(b, 0x0800);
    ip = pb_ipv4(b, 17, V4_A, V4_B);
    udp = pb_udp(b, 11, 4790);
    pb_be32(b, 0x0c000004u);
    pb_be32(b, 0x00000700u);
    pb_be32(b, 0x0fc40201u); /* NSH: TTL 63, length 4, MD type 2, IPv4 */
    pb_be32(b, 0x00002aff);
    pb_bytes(b, (const uint8_t[8]){ 0, 1, 2, 1, 9, 9, 9, 9 }, 8);
    in = pb_ipv4(b, 6, V4_C, V4_D);
    pb_tcp(b, 12, 13, 14, 15, NM_TCP_ACK, 16, NULL, 0);
    pb_ipv4_finish(b, in);
    pb_udp_finish(b, udp);
    pb_ipv4_finish(b, ip);

    b = new_seed(NM_LINKTYPE_ETHERNET);
    pb_eth(b, 0x0800);
    ip = pb_ipv4(b, 17, V4_A, V4_B);
    udp = pb_udp(b, 3544, 17);
    pb_bytes(b, (const uint8_t[15]){ 0, 1, 1, 1, 'i', 'a', 1, 2, 3, 4, 5, 6, 7, 8, 0 }, 15);
    pb_bytes(b, (const uint8_t[8]){ 0, 0, 1, 2, 3, 4, 5, 6 }, 8);
    in6 = pb_ipv6(b, 59, V6_C, V6_A);
    pb_ipv6_finish(b, in6);
    pb_udp_finish(b, udp);
    pb_ipv4_finish(b, ip);

    b = new_seed(NM_LINKTYPE_RAW);
    ip = pb_ipv4(b, 17, V4_A, V4_B);
    udp = pb_udp(b, 18, 6635);
    pb_be32(b, (16u << 12) | 0x100 | 64);
    in = pb_ipv4_opts(b, 17, V4_C, V4_D, 3, 0,
                      (const uint8_t[12]){ 131, 11, 4, 1, 2, 3, 4, 5, 6, 7, 8, 0 }, 12);
    size_t udp2 = pb_udp(b, 19, 20);
    pb_udp_finish(b, udp2);
    pb_ipv4_finish(b, in);
    pb_udp_finish(b, udp);
    pb_ipv4_finish(b, ip);
}

static void check_invariants(const uint8_t *data, size_t len, const struct nm_packet *p,
                             uint64_t accounted_before, bool ok)
{
    bool good = ok == p->has_ip;
    if (p->has_ip)
        good = good && (p->ip_version == 4 || p->ip_version == 6);
    if (p->payload) {
        good = good && p->payload >= data && p->payload_len <= len &&
               (size_t)(p->payload - data) <= len - p->payload_len;
    } else {
        good = good && p->payload_len == 0;
    }
    good = good && p->tunnel_depth <= 4 && p->vlan_count <= 2;
    good = good && (p->tunnel == NM_TUNNEL_NONE) == (p->tunnel_depth == 0);
    uint64_t accounted = ctx.stats.decoded + ctx.stats.non_ip + decode_stats_errors(&ctx.stats);
    good = good && accounted > accounted_before;
    if (!good)
        invariant_failures++;
}

static void decode_copy(const uint8_t *src, size_t len, int linktype)
{
    /* Exactly len bytes on the heap: ASan sees any over-read. */
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    memcpy(buf, src, len);
    struct nm_frame f = { buf, (uint32_t)len, (uint32_t)len + 7, len * 10, linktype, false, NULL };
    struct nm_packet p;
    uint64_t before = ctx.stats.decoded + ctx.stats.non_ip + decode_stats_errors(&ctx.stats);
    bool ok = decode_packet(&ctx, &f, &p);
    check_invariants(buf, len, &p, before, ok);
    free(buf);
}

static void test_seeds_decode(void)
{
    decode_ctx_init(&ctx, NULL);
    for (size_t i = 0; i < nseeds; i++) {
        struct nm_packet p;
        struct nm_frame f = { seeds[i].b.b, (uint32_t)seeds[i].b.n, (uint32_t)seeds[i].b.n, 1,
                              seeds[i].linktype, false, NULL };
        CHECK(decode_packet(&ctx, &f, &p));
    }
    CHECK_EQ_U(ctx.stats.decoded, nseeds);
    CHECK(ctx.stats.decapsulated >= 8);
}

static void test_every_prefix(void)
{
    invariant_failures = 0;
    for (int no_decap = 0; no_decap < 2; no_decap++) {
        struct decode_options o = { .no_decap = no_decap };
        decode_ctx_init(&ctx, &o);
        for (size_t i = 0; i < nseeds; i++)
            for (size_t len = 0; len <= seeds[i].b.n; len++)
                decode_copy(seeds[i].b.b, len, seeds[i].linktype);
    }
    CHECK_EQ_U(invariant_failures, 0);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)rng_state;
}

static void test_random_flips(void)
{
    static const int linktypes[] = { NM_LINKTYPE_ETHERNET, NM_LINKTYPE_RAW, NM_LINKTYPE_NULL,
                                     NM_LINKTYPE_LINUX_SLL, NM_LINKTYPE_LINUX_SLL2 };
    uint8_t buf[4096];
    invariant_failures = 0;
    decode_ctx_init(&ctx, NULL);
    for (int round = 0; round < 40000; round++) {
        const struct seed *s = &seeds[rng() % nseeds];
        size_t len = s->b.n;
        memcpy(buf, s->b.b, len);
        int flips = 1 + (int)(rng() % 4);
        for (int k = 0; k < flips; k++)
            buf[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
        if (rng() % 4 == 0)
            buf[rng() % len] = (uint8_t)rng();
        if (rng() % 3 == 0)
            len = rng() % (len + 1);
        int lt = rng() % 16 == 0 ? linktypes[rng() % 5] : s->linktype;
        decode_copy(buf, len, lt);
    }
    CHECK_EQ_U(invariant_failures, 0);
    CHECK_EQ_U(ctx.stats.frames, 40000);
}

static void test_random_garbage(void)
{
    uint8_t buf[256];
    invariant_failures = 0;
    decode_ctx_init(&ctx, NULL);
    for (int round = 0; round < 20000; round++) {
        size_t len = rng() % sizeof buf;
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rng();
        /* Steer some frames past the link layer so deeper code is hit. */
        if (len > 20 && round % 2)
            buf[0] = (uint8_t)(round % 4 ? 0x45 : 0x60);
        decode_copy(buf, len, round % 2 ? NM_LINKTYPE_RAW : NM_LINKTYPE_ETHERNET);
    }
    CHECK_EQ_U(invariant_failures, 0);
}

int main(void)
{
    seed_eth_vlan_tcp();
    seed_ipv6_chain_frag();
    seed_gre_teb();
    seed_vxlan_geneve();
    seed_loopback_ipip();
    seed_raw_fragments();
    seed_mpls_pppoe();
    seed_more_encapsulations();
    RUN(test_seeds_decode);
    RUN(test_every_prefix);
    RUN(test_random_flips);
    RUN(test_random_garbage);
    TESTLIB_EXIT();
}
