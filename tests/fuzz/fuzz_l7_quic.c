/*
 * fuzz_l7_quic.c: libFuzzer target for netmoon's own QUIC Initial parser
 * (src/analyze/l7_quic.c): header, header protection, AEAD, frames, the
 * ClientHello inside.  Inputs that do not authenticate stop at the AEAD,
 * so the committed seed is a real client Initial (from suricata-verify's
 * quic-ietf.pcap); how it is driven and what is checked is in l7_harness.h.
 */
#include "l7_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return l7_harness_run(l7_parse_quic, NM_L7_QUIC, data, size);
}
