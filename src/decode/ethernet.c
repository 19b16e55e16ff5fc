/*
 * ethernet.c: Ethernet II frames (IEEE 802.3 clause 3.2.6 type field) with
 * up to two VLAN tags: 802.1Q (TPID 0x8100), 802.1ad (0x88a8) and the
 * pre-standard QinQ TPID 0x9100.  A type/length value below 0x0600 is an
 * 802.3 length, so the frame carries LLC (STP, CDP, NetBIOS ...), not IP.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define ETH_HEADER_LEN 14
#define ETH_ADDRS_LEN 12
#define VLAN_TAG_LEN 4
#define VLAN_MAX_TAGS 2
#define VLAN_VID_MASK 0x0FFF

enum decode_result decode_ethernet(struct decode_ctx *ctx, struct nm_packet *pkt,
                                   struct nm_cursor *cur)
{
    uint16_t type;
    if (!cursor_skip(cur, ETH_ADDRS_LEN) || !cursor_get_be16(cur, &type))
        return decode_fail(ctx, DECODE_R_eth_truncated);
    if (type < NM_ETH_MIN_TYPE)
        return DECODE_STOP; /* 802.3 length field: LLC, counted as non-IP */
    return decode_ethertype(ctx, pkt, cur, type);
}

/* The cursor sits just after the TPID; a tag is TCI then the next type. */
enum decode_result decode_vlan(struct decode_ctx *ctx, struct nm_packet *pkt,
                               struct nm_cursor *cur, uint16_t tpid)
{
    uint16_t tci, type;
    (void)tpid; /* every supported TPID has the same 4-byte layout */
    if (pkt->vlan_count >= VLAN_MAX_TAGS)
        return decode_fail(ctx, DECODE_R_vlan_too_deep);
    if (!cursor_get_be16(cur, &tci) || !cursor_get_be16(cur, &type))
        return decode_fail(ctx, DECODE_R_vlan_truncated);
    if (pkt->vlan_count == 0)
        pkt->vlan_id = tci & VLAN_VID_MASK;
    pkt->vlan_count++;
    if (type < NM_ETH_MIN_TYPE)
        return DECODE_STOP;
    return decode_ethertype(ctx, pkt, cur, type);
}
