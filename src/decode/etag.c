/*
 * etag.c: the IEEE 802.1BR E-Tag (TPID 0x893F) a port extender puts
 * between the MAC addresses and the EtherType: 6 bytes (E-PCP, E-DEI,
 * ingress E-CID, GRP, E-CID and their extensions), then the next
 * EtherType.  Like a VLAN tag it only says which extended port the frame
 * used, so it is a link-level shim: the IP packet below names the flow
 * and no tunnel is recorded.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define ETAG_LEN 6

enum decode_result decode_etag(struct decode_ctx *ctx, struct nm_packet *pkt,
                               struct nm_cursor *cur)
{
    uint16_t type;
    if (!cursor_skip(cur, ETAG_LEN) || !cursor_get_be16(cur, &type))
        return decode_fail(ctx, DECODE_R_etag_truncated);
    if (type < NM_ETH_MIN_TYPE)
        return DECODE_STOP; /* 802.3 length: LLC, counted as non-IP */
    return decode_ethertype(ctx, pkt, cur, type);
}
