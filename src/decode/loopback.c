/*
 * loopback.c: BSD loopback encapsulations and raw IP.
 *
 * LINKTYPE_NULL carries the sender's AF_ value as a 4-byte integer in the
 * capturing host's byte order, so a file may hold either order; like
 * libpcap we take a value with bits in the upper half as byte-swapped.
 * LINKTYPE_LOOP is the same in network order.  AF_INET is 2 everywhere;
 * AF_INET6 differs by OS: 10 Linux, 24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS
 * (https://www.tcpdump.org/linktypes/LINKTYPE_NULL.html).
 * Raw IP (LINKTYPE_RAW) has no link header: the version nibble decides.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define LOOP_HEADER_LEN 4
#define LOOP_AF_INET 2

static bool loop_af_is_inet6(uint32_t af)
{
    return af == 10 || af == 24 || af == 28 || af == 30;
}

static uint32_t swap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xFF00u) | ((v << 8) & 0xFF0000u) | (v << 24);
}

static enum decode_result loop_dispatch(struct decode_ctx *ctx, struct nm_packet *pkt,
                                        struct nm_cursor *cur, uint32_t af)
{
    if (af == LOOP_AF_INET)
        return decode_ipv4(ctx, pkt, cur);
    if (loop_af_is_inet6(af))
        return decode_ipv6(ctx, pkt, cur);
    return decode_fail(ctx, DECODE_R_loop_bad_family);
}

enum decode_result decode_loopback(struct decode_ctx *ctx, struct nm_packet *pkt,
                                   struct nm_cursor *cur)
{
    uint32_t af;
    if (!cursor_get_be32(cur, &af))
        return decode_fail(ctx, DECODE_R_loop_truncated);
    /* Families are small numbers: a value in the upper half means the
     * writer was little-endian. */
    if (af & 0xFFFF0000u)
        af = swap32(af);
    return loop_dispatch(ctx, pkt, cur, af);
}

enum decode_result decode_loop(struct decode_ctx *ctx, struct nm_packet *pkt,
                               struct nm_cursor *cur)
{
    uint32_t af;
    if (!cursor_get_be32(cur, &af))
        return decode_fail(ctx, DECODE_R_loop_truncated);
    return loop_dispatch(ctx, pkt, cur, af);
}

enum decode_result decode_ip(struct decode_ctx *ctx, struct nm_packet *pkt,
                             struct nm_cursor *cur)
{
    uint8_t first;
    if (!cursor_peek_u8(cur, 0, &first))
        return decode_fail(ctx, DECODE_R_ip_truncated);
    switch (first >> 4) {
    case 4: return decode_ipv4(ctx, pkt, cur);
    case 6: return decode_ipv6(ctx, pkt, cur);
    default: return decode_fail(ctx, DECODE_R_ip_bad_version);
    }
}
