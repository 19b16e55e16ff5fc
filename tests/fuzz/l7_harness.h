/*
 * l7_harness.h: what the L7 parser fuzz targets (fuzz_l7_<proto>.c) share.
 * A parser (src/analyze/l7_parsers.h) gets the input as a stream prefix
 * and as a datagram, from either side, then every shorter prefix as a
 * stream (as reassembly hands it over, a segment at a time).  Checked: the
 * text area stays consistent, and a second call with the same bytes
 * changes nothing (parsers are called again as more bytes arrive and must
 * not repeat or rewrite what they found).
 */
#ifndef NETMOON_TEST_L7_HARNESS_H
#define NETMOON_TEST_L7_HARNESS_H

#include <string.h>

#include "analyze/l7_parsers.h"
#include "fuzz.h"

static void l7_harness_check_text(const struct flow_l7_summary *s)
{
    FUZZ_ASSERT(s->used <= NM_L7_TEXT_MAX, "text area overrun: %u", s->used);
    for (int f = 0; f < NM_L7_FIELD_COUNT; f++)
        FUZZ_ASSERT(!s->len[f] || (size_t)s->off[f] + s->len[f] <= s->used,
                    "field %d outside the used text", f);
}

static void l7_harness_once(l7_parse_fn *parse, struct l7_input *in, struct flow_l7_summary *s)
{
    struct nm_l7_stats st;
    struct flow_l7_summary again;

    memset(&st, 0, sizeof(st));
    parse(in, s, &st);
    l7_harness_check_text(s);
    again = *s;
    parse(in, &again, &st);
    FUZZ_ASSERT(memcmp(&again, s, sizeof(again)) == 0, "a second call changed the summary");
}

static int l7_harness_run(l7_parse_fn *parse, uint8_t proto, const uint8_t *data, size_t size)
{
    struct flow_l7_summary s;
    struct l7_input in = { .data = data, .len = size, .sport = 40000, .dport = 53 };

    for (int mode = 0; mode < 4; mode++) {
        memset(&s, 0, sizeof(s));
        s.proto = proto;
        in.is_stream = mode & 1;
        in.from_initiator = mode & 2;
        l7_harness_once(parse, &in, &s);
    }
    memset(&s, 0, sizeof(s));
    s.proto = proto;
    in.is_stream = true;
    for (size_t n = 0; n <= size && n <= 4096; n += 1 + n / 8) {
        in.len = n;
        l7_harness_once(parse, &in, &s);
    }
    return 0;
}

#endif
