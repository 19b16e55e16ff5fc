/*
 * l7_quic.c: QUIC v1 Initial packets (RFC 9000 §17.2.2).  Placeholder until
 * Initial decryption (RFC 9001 §5) is in: a long-header packet is
 * recognised and nothing is read from it.
 */
#include "analyze/l7_parsers.h"

enum l7_verdict l7_parse_quic(const struct l7_input *in, struct flow_l7_summary *out,
                              struct nm_l7_stats *st)
{
    (void)out;
    (void)st;
    if (in->is_stream || in->len < 7 || (in->data[0] & 0xc0) != 0xc0)
        return L7_NOT_MINE;
    return L7_NOT_MINE;
}
