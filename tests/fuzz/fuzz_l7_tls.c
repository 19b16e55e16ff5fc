/*
 * fuzz_l7_tls.c: libFuzzer target for netmoon's own TLS parser
 * (src/analyze/l7_tls.c); how it is driven and what is checked is in
 * l7_harness.h.  Input: the first bytes of a stream, or one datagram.
 */
#include "l7_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return l7_harness_run(l7_parse_tls, NM_L7_TLS, data, size);
}
