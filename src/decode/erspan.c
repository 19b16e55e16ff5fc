/*
 * erspan.c: Encapsulated Remote SPAN headers carried by GRE
 * (draft-foschiano-erspan-03, the Linux ip_gre/erspan implementation).
 *
 * - Type I (GRE protocol 0x88BE, GRE sequence number absent): no ERSPAN
 *   header at all, the mirrored Ethernet frame follows GRE directly.  gre.c
 *   handles it by calling decode_ethernet.
 * - Type II (0x88BE with the GRE S bit): an 8-byte header (version 1,
 *   VLAN, COS, encapsulation type, truncation bit, session ID, index).
 * - Type III (0x22EB): a 12-byte header (version 2, VLAN, COS, BSO, T,
 *   session ID, timestamp, SGT, P, frame type FT, hardware ID, D, Gra, O)
 *   followed by an 8-byte platform-specific subheader when O is set.
 *   FT 0 is an Ethernet frame; other frame types are left to the outer
 *   packet (not IP, no reason), as tshark does.
 *
 * The mirrored frame is what the monitored network carried, so its inner
 * IP packet names the flow.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define ERSPAN2_HEADER_LEN 8
#define ERSPAN3_HEADER_LEN 12
#define ERSPAN3_PLATFORM_LEN 8
#define ERSPAN3_FLAGS_OFF 10   /* P(1) FT(5) HW ID(6) D(1) Gra(2) O(1) */
#define ERSPAN3_FT_SHIFT 10
#define ERSPAN3_FT_MASK 0x1F
#define ERSPAN3_O_BIT 0x0001
#define ERSPAN3_FT_ETHERNET 0

enum decode_result decode_erspan2(struct decode_ctx *ctx, struct nm_packet *pkt,
                                  struct nm_cursor *cur)
{
    if (!cursor_skip(cur, ERSPAN2_HEADER_LEN))
        return decode_fail(ctx, DECODE_R_erspan_truncated);
    return decode_ethernet(ctx, pkt, cur);
}

enum decode_result decode_erspan3(struct decode_ctx *ctx, struct nm_packet *pkt,
                                  struct nm_cursor *cur)
{
    uint16_t flags;
    if (!cursor_peek_be16(cur, ERSPAN3_FLAGS_OFF, &flags) || !cursor_skip(cur, ERSPAN3_HEADER_LEN))
        return decode_fail(ctx, DECODE_R_erspan_truncated);
    if ((flags & ERSPAN3_O_BIT) && !cursor_skip(cur, ERSPAN3_PLATFORM_LEN))
        return decode_fail(ctx, DECODE_R_erspan_truncated);
    if (((flags >> ERSPAN3_FT_SHIFT) & ERSPAN3_FT_MASK) != ERSPAN3_FT_ETHERNET)
        return DECODE_STOP; /* not an Ethernet frame: the outer GRE packet */
    return decode_ethernet(ctx, pkt, cur);
}
