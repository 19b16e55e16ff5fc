/*
 * vxlan.c: Virtual eXtensible LAN, RFC 7348 §5: an 8-byte header (flags,
 * 24-bit VNI) followed by a complete inner Ethernet frame.  The I flag is
 * not insisted on: extensions such as VXLAN-GBP set other flag bits but
 * keep the inner frame where RFC 7348 puts it.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define VXLAN_HEADER_LEN 8

enum decode_result decode_vxlan(struct decode_ctx *ctx, struct nm_packet *pkt,
                                struct nm_cursor *cur)
{
    if (!cursor_skip(cur, VXLAN_HEADER_LEN))
        return decode_fail(ctx, DECODE_R_vxlan_truncated);
    return decode_ethernet(ctx, pkt, cur);
}
