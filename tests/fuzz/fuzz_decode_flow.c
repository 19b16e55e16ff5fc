/*
 * fuzz_decode_flow.c: libFuzzer target for one captured frame through the
 * whole decode → flow table → TCP analysis → JSON record path.
 *
 * Input: byte 0 selects the link type (index into harness_linktypes in
 * flow_harness.h, modulo its size; the top bit turns on --no-decap); the
 * remaining bytes are the frame as a capture would hold it.  The frame is
 * decoded and accounted as src/core/worker.h does, then the table is
 * flushed so that a record is built, TCP-analysed and formatted as JSON.
 * Seeds: frames cut out of ../shared/pcaps by make-seeds.py.
 */
#include "flow_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int linktype = harness_begin(data[0]);
    harness_frame(data + 1, size - 1, linktype, HARNESS_T0_US);
    harness_end();
    return 0;
}
