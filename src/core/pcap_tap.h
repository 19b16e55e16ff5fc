/*
 * pcap_tap.h: how live workers hand packets to the one -w writer on the
 * output thread.  Each worker copies a packet it accepted (after the
 * kernel filter, truncated to -s) into its own single-producer /
 * single-consumer ring (common/spsc_ring.h) of fixed 2 KiB chunks; a
 * packet takes consecutive chunks, published in one burst so the reader
 * never sees part of one.  A packet that does not fit is counted as a
 * pcap drop, never waited for: -w must not slow capture.
 */
#ifndef NETMOON_CORE_PCAP_TAP_H
#define NETMOON_CORE_PCAP_TAP_H

#include <stdint.h>

#include "decode/decode.h"
#include "output/pcap_writer.h"

struct pcap_tap;

/* snaplen: the -s length packets are cut to before queueing. */
struct pcap_tap *pcap_tap_create(uint32_t snaplen);
void pcap_tap_destroy(struct pcap_tap *t);
/* Worker side: queues a copy of frame, or counts it as dropped. */
void pcap_tap_push(struct pcap_tap *t, const struct nm_frame *frame);
/* Worker side: packets dropped so far because the ring was full. */
uint64_t pcap_tap_dropped(const struct pcap_tap *t);
/* Output side: writes up to max queued packets; returns how many. */
unsigned pcap_tap_drain(struct pcap_tap *t, struct pcap_writer *pw, unsigned max);

#endif
