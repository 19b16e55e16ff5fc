/*
 * geneve.c: Generic Network Virtualization Encapsulation, RFC 8926 §3.4:
 * an 8-byte base header whose 6-bit option length (4-byte units) says how
 * many option bytes follow, and a protocol type that is an EtherType
 * (0x6558 for an inner Ethernet frame).  Options are skipped unread; the
 * O (control) bit is ignored since control packets still cross the wire.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define GENEVE_BASE_LEN 8

enum decode_result decode_geneve(struct decode_ctx *ctx, struct nm_packet *pkt,
                                 struct nm_cursor *cur)
{
    uint8_t ver_optlen;
    uint16_t proto;
    if (!cursor_peek_u8(cur, 0, &ver_optlen) || !cursor_peek_be16(cur, 2, &proto) ||
        !cursor_has(cur, GENEVE_BASE_LEN))
        return decode_fail(ctx, DECODE_R_geneve_truncated);
    if ((ver_optlen >> 6) != 0)
        return decode_fail(ctx, DECODE_R_geneve_bad_version);
    size_t options_len = (size_t)(ver_optlen & 0x3F) * 4;
    if (!cursor_skip(cur, GENEVE_BASE_LEN + options_len))
        return decode_fail(ctx, DECODE_R_geneve_truncated);
    if (proto == NM_ETH_TEB)
        return decode_ethernet(ctx, pkt, cur);
    return decode_ethertype(ctx, pkt, cur, proto);
}
