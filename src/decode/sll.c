/*
 * sll.c: Linux "cooked" capture headers, LINKTYPE_LINUX_SLL (16 bytes) and
 * LINKTYPE_LINUX_SLL2 (20 bytes), as written by the kernel's packet socket
 * for `-i any` (https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html
 * and LINKTYPE_LINUX_SLL2.html).  Both carry an EtherType-like protocol;
 * values below 0x0600 are the kernel's pseudo-protocols (ETH_P_802_3,
 * ETH_P_802_2, CAN ...) and never IP.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define SLL_HEADER_LEN 16
#define SLL_PROTOCOL_OFF 14
#define SLL_HATYPE_OFF 2
#define SLL2_HEADER_LEN 20
#define SLL2_PROTOCOL_OFF 0
#define SLL2_HATYPE_OFF 8

/* ARPHRD_NETLINK: the protocol field is a netlink family, not an EtherType. */
#define ARPHRD_NETLINK_VALUE 824

static enum decode_result sll_dispatch(struct decode_ctx *ctx, struct nm_packet *pkt,
                                       struct nm_cursor *cur, uint16_t hatype, uint16_t proto)
{
    if (hatype == ARPHRD_NETLINK_VALUE || proto < NM_ETH_MIN_TYPE)
        return DECODE_STOP; /* counted as non-IP */
    return decode_ethertype(ctx, pkt, cur, proto);
}

enum decode_result decode_sll(struct decode_ctx *ctx, struct nm_packet *pkt,
                              struct nm_cursor *cur)
{
    uint16_t hatype, proto;
    if (!cursor_peek_be16(cur, SLL_HATYPE_OFF, &hatype) ||
        !cursor_peek_be16(cur, SLL_PROTOCOL_OFF, &proto) || !cursor_skip(cur, SLL_HEADER_LEN))
        return decode_fail(ctx, DECODE_R_sll_truncated);
    return sll_dispatch(ctx, pkt, cur, hatype, proto);
}

enum decode_result decode_sll2(struct decode_ctx *ctx, struct nm_packet *pkt,
                               struct nm_cursor *cur)
{
    uint16_t hatype, proto;
    if (!cursor_peek_be16(cur, SLL2_HATYPE_OFF, &hatype) ||
        !cursor_peek_be16(cur, SLL2_PROTOCOL_OFF, &proto) || !cursor_skip(cur, SLL2_HEADER_LEN))
        return decode_fail(ctx, DECODE_R_sll2_truncated);
    return sll_dispatch(ctx, pkt, cur, hatype, proto);
}
