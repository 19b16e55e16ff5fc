/*
 * decode_build.h: a tiny packet assembler for the decode unit tests.
 *
 * It only writes the bytes a header layout prescribes (network byte order,
 * lengths filled in by the *_finish calls, innermost first), so expected
 * values in the tests come from the protocol definitions, not from the
 * decoders under test.  Checksums are left zero: the decoders do not
 * verify them.
 */
#ifndef NETMOON_TEST_DECODE_BUILD_H
#define NETMOON_TEST_DECODE_BUILD_H

#include <stdint.h>
#include <string.h>

#include "decode/decode.h"

struct pb {
    uint8_t b[4096];
    size_t n;
};

static inline void pb_u8(struct pb *p, uint8_t v) { p->b[p->n++] = v; }
static inline void pb_be16(struct pb *p, uint16_t v) { pb_u8(p, (uint8_t)(v >> 8)); pb_u8(p, (uint8_t)v); }
static inline void pb_be32(struct pb *p, uint32_t v) { pb_be16(p, (uint16_t)(v >> 16)); pb_be16(p, (uint16_t)v); }
static inline void pb_bytes(struct pb *p, const void *d, size_t n) { if (n) memcpy(p->b + p->n, d, n); p->n += n; }
static inline void pb_zero(struct pb *p, size_t n) { memset(p->b + p->n, 0, n); p->n += n; }
static inline void pb_put16(struct pb *p, size_t at, uint16_t v) { p->b[at] = (uint8_t)(v >> 8); p->b[at + 1] = (uint8_t)v; }

static const uint8_t V4_A[4] = { 192, 0, 2, 1 };
static const uint8_t V4_B[4] = { 198, 51, 100, 2 };
static const uint8_t V4_C[4] = { 203, 0, 113, 7 };
static const uint8_t V4_D[4] = { 198, 18, 0, 9 };
static const uint8_t V6_A[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t V6_B[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };
static const uint8_t V6_C[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3 };

static inline void pb_eth(struct pb *p, uint16_t type)
{
    static const uint8_t macs[12] = { 0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2 };
    pb_bytes(p, macs, sizeof macs);
    pb_be16(p, type);
}

static inline void pb_vlan(struct pb *p, uint16_t tci, uint16_t next_type)
{
    pb_be16(p, tci);
    pb_be16(p, next_type);
}

/* IPv4 header without options; returns its offset for pb_ipv4_finish. */
static inline size_t pb_ipv4_opts(struct pb *p, uint8_t proto, const uint8_t src[4],
                                  const uint8_t dst[4], uint16_t id, uint16_t frag,
                                  const uint8_t *opts, size_t optlen)
{
    size_t at = p->n;
    pb_u8(p, (uint8_t)(0x40 | (5 + optlen / 4)));
    pb_u8(p, 0);
    pb_be16(p, 0); /* total length: finish */
    pb_be16(p, id);
    pb_be16(p, frag);
    pb_u8(p, 64);
    pb_u8(p, proto);
    pb_be16(p, 0);
    pb_bytes(p, src, 4);
    pb_bytes(p, dst, 4);
    if (optlen)
        pb_bytes(p, opts, optlen);
    return at;
}

static inline size_t pb_ipv4(struct pb *p, uint8_t proto, const uint8_t src[4], const uint8_t dst[4])
{
    return pb_ipv4_opts(p, proto, src, dst, 0x1234, 0, NULL, 0);
}

static inline void pb_ipv4_finish(struct pb *p, size_t at)
{
    pb_put16(p, at + 2, (uint16_t)(p->n - at));
}

static inline size_t pb_ipv6(struct pb *p, uint8_t nh, const uint8_t src[16], const uint8_t dst[16])
{
    size_t at = p->n;
    pb_be32(p, 0x60000000u);
    pb_be16(p, 0); /* payload length: finish */
    pb_u8(p, nh);
    pb_u8(p, 64);
    pb_bytes(p, src, 16);
    pb_bytes(p, dst, 16);
    return at;
}

static inline void pb_ipv6_finish(struct pb *p, size_t at)
{
    pb_put16(p, at + 4, (uint16_t)(p->n - at - 40));
}

/* TCP header: opts must be a multiple of 4 bytes. */
static inline void pb_tcp(struct pb *p, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                          uint8_t flags, uint16_t win, const uint8_t *opts, size_t optlen)
{
    pb_be16(p, sport);
    pb_be16(p, dport);
    pb_be32(p, seq);
    pb_be32(p, ack);
    pb_u8(p, (uint8_t)((5 + optlen / 4) << 4));
    pb_u8(p, flags);
    pb_be16(p, win);
    pb_be16(p, 0);
    pb_be16(p, 0);
    if (optlen)
        pb_bytes(p, opts, optlen);
}

static inline size_t pb_udp(struct pb *p, uint16_t sport, uint16_t dport)
{
    size_t at = p->n;
    pb_be16(p, sport);
    pb_be16(p, dport);
    pb_be16(p, 0); /* length: finish */
    pb_be16(p, 0);
    return at;
}

static inline void pb_udp_finish(struct pb *p, size_t at)
{
    pb_put16(p, at + 4, (uint16_t)(p->n - at));
}

static inline bool addr_is_v4(const struct nm_addr *a, const uint8_t v4[4])
{
    static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF };
    return memcmp(a->b, prefix, 12) == 0 && memcmp(a->b + 12, v4, 4) == 0;
}

static inline bool addr_is_v6(const struct nm_addr *a, const uint8_t v6[16])
{
    return memcmp(a->b, v6, 16) == 0;
}

/* One frame through a fresh-or-given context. */
static inline bool decode_bytes(struct decode_ctx *ctx, int linktype, const uint8_t *data, size_t len,
                                struct nm_packet *pkt)
{
    struct nm_frame f = { data, (uint32_t)len, (uint32_t)len, 1000000, linktype, false, NULL };
    return decode_packet(ctx, &f, pkt);
}

#endif
