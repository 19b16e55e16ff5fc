/*
 * macsec.c: IEEE 802.1AE MAC security.  After the MACsec EtherType
 * (0x88E5) the SecTAG continues with the TCI/AN octet (V, ES, SC, SCB, E,
 * C, AN), the short length SL, the 4-byte packet number and, when SC is
 * set, the 8-byte secure channel identifier.  The secure data follow and
 * the ICV (16 bytes with the default GCM-AES cipher suites) ends the frame.
 *
 * Only integrity-protected frames (E and C clear) are readable: their
 * secure data start with the protected frame's EtherType.  Encrypted or
 * modified frames, and SecTAG version 1, are well formed but opaque, so
 * they are counted as non-IP.  MACsec protects one hop: a link-level shim
 * like a VLAN tag, not a tunnel.
 */
#include "decode/decode.h"
#include "decode/decode_internal.h"

#define MACSEC_TCI_V 0x80
#define MACSEC_TCI_SC 0x20
#define MACSEC_TCI_E 0x08
#define MACSEC_TCI_C 0x04
#define MACSEC_SL_MASK 0x3F
#define MACSEC_PN_LEN 4
#define MACSEC_SCI_LEN 8
#define MACSEC_ICV_LEN 16

/* The secure data: SL bytes when the sender said (frames shorter than 64
 * bytes), otherwise everything but the ICV.  The ICV ends the frame, so a
 * snaplen cut removed (wirelen - caplen) bytes of it first. */
static size_t macsec_secure_len(const struct nm_packet *pkt, const struct nm_cursor *cur, uint8_t sl)
{
    size_t left = cursor_remaining(cur);
    if (sl != 0)
        return sl < left ? sl : left;
    size_t cut = pkt->wirelen > pkt->caplen ? pkt->wirelen - pkt->caplen : 0;
    size_t icv_captured = cut >= MACSEC_ICV_LEN ? 0 : MACSEC_ICV_LEN - cut;
    return left >= icv_captured ? left - icv_captured : 0;
}

enum decode_result decode_macsec(struct decode_ctx *ctx, struct nm_packet *pkt,
                                 struct nm_cursor *cur)
{
    uint8_t tci, sl;
    uint16_t type;
    if (!cursor_get_u8(cur, &tci) || !cursor_get_u8(cur, &sl) || !cursor_skip(cur, MACSEC_PN_LEN))
        return decode_fail(ctx, DECODE_R_macsec_truncated);
    if ((tci & MACSEC_TCI_SC) && !cursor_skip(cur, MACSEC_SCI_LEN))
        return decode_fail(ctx, DECODE_R_macsec_truncated);
    if (tci & (MACSEC_TCI_V | MACSEC_TCI_E | MACSEC_TCI_C))
        return DECODE_STOP; /* confidentiality or unknown version: opaque */
    struct nm_cursor secure = cursor_make(cursor_ptr(cur), macsec_secure_len(pkt, cur, sl & MACSEC_SL_MASK));
    if (!cursor_get_be16(&secure, &type))
        return decode_fail(ctx, DECODE_R_macsec_truncated);
    if (type < NM_ETH_MIN_TYPE)
        return DECODE_STOP;
    return decode_ethertype(ctx, pkt, &secure, type);
}
