/*
 * fuzz_flow_sequence.c: libFuzzer target for a short capture, so that the
 * flow table and the TCP analysis (src/analyze/tcp_analysis.c: state
 * machine, RTT, retransmission, Zeek history) see conversations, not lone
 * packets.  fuzz_decode_flow.c covers single frames; this one the state
 * that builds up across them: direction learning, port reuse, idle and
 * active timeouts, LRU eviction with only HARNESS_MAX_FLOWS slots.
 *
 * Input: byte 0 selects the link type as in fuzz_decode_flow.c, then
 * records of
 *     u16 frame length (big-endian), u8 time step, frame bytes
 * where the step advances packet time by step * 20 ms (up to 5.1 s, past
 * the harness's 2 s idle timeout) before the frame.  A length beyond the
 * input takes what is left, so mutations that break the framing still
 * feed frames.  Seeds: the first frames of each ../shared/pcaps file,
 * with their real time gaps, written by make-seeds.py.
 */
#include "flow_harness.h"

#define SEQ_STEP_US 20000ull
#define SEQ_RECORD_HEADER 3u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int linktype = harness_begin(data[0]);
    uint64_t now = HARNESS_T0_US;
    size_t at = 1;

    while (size - at >= SEQ_RECORD_HEADER) {
        size_t len = (size_t)data[at] << 8 | data[at + 1];
        now += data[at + 2] * SEQ_STEP_US;
        at += SEQ_RECORD_HEADER;
        if (len > size - at)
            len = size - at;
        harness_frame(data + at, len, linktype, now);
        at += len;
    }
    harness_end();
    return 0;
}
