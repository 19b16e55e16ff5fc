/*
 * pcap_tap.c: packets from a live worker to the -w writer (see pcap_tap.h).
 *
 * Memory is fixed at start: 8192 chunks of 2 KiB (16 MiB) per worker, and
 * one scratch buffer of the snap length on each side.
 */
#include "core/pcap_tap.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/spsc_ring.h"

#define PCAP_TAP_CHUNK 2048u
#define PCAP_TAP_CHUNKS 8192u

/* Leads the first chunk of every packet; copied with memcpy. */
struct pcap_tap_header {
    uint64_t ts_us;
    uint32_t caplen, wirelen;
    int32_t linktype;
};

struct pcap_tap {
    struct spsc_ring *ring;
    uint32_t snaplen;
    uint8_t *push_buf;         /* worker's staging copy */
    uint8_t *pull_buf;         /* output thread's reassembly */
    /* Written by the worker, read by the output thread for stats. */
    _Atomic uint64_t dropped;
};

static uint32_t pcap_tap_chunks_for(uint32_t caplen)
{
    return (uint32_t)((sizeof(struct pcap_tap_header) + caplen + PCAP_TAP_CHUNK - 1) /
                      PCAP_TAP_CHUNK);
}

struct pcap_tap *pcap_tap_create(uint32_t snaplen)
{
    struct pcap_tap *t = calloc(1, sizeof(*t));
    size_t buf;

    if (!t)
        return NULL;
    t->snaplen = snaplen;
    buf = (size_t)pcap_tap_chunks_for(snaplen) * PCAP_TAP_CHUNK;
    t->ring = spsc_ring_create(PCAP_TAP_CHUNKS, PCAP_TAP_CHUNK);
    t->push_buf = malloc(buf);
    t->pull_buf = malloc(buf);
    if (!t->ring || !t->push_buf || !t->pull_buf || pcap_tap_chunks_for(snaplen) > PCAP_TAP_CHUNKS) {
        pcap_tap_destroy(t);
        return NULL;
    }
    return t;
}

void pcap_tap_destroy(struct pcap_tap *t)
{
    if (!t)
        return;
    spsc_ring_destroy(t->ring);
    free(t->push_buf);
    free(t->pull_buf);
    free(t);
}

void pcap_tap_push(struct pcap_tap *t, const struct nm_frame *frame)
{
    struct pcap_tap_header h = {
        .ts_us = frame->ts_us,
        .caplen = frame->caplen < t->snaplen ? frame->caplen : t->snaplen,
        .wirelen = frame->wirelen,
        .linktype = frame->linktype,
    };
    uint32_t chunks = pcap_tap_chunks_for(h.caplen);

    memcpy(t->push_buf, &h, sizeof(h));
    memcpy(t->push_buf + sizeof(h), frame->data, h.caplen);
    /* A packet's chunks go in whole or not at all. */
    if (!spsc_ring_enqueue_all(t->ring, t->push_buf, chunks))
        /* Relaxed: a counter; nothing else is published through it. */
        atomic_fetch_add_explicit(&t->dropped, 1, memory_order_relaxed);
}

uint64_t pcap_tap_dropped(const struct pcap_tap *t)
{
    /* Relaxed: a statistic. */
    return atomic_load_explicit(&((struct pcap_tap *)t)->dropped, memory_order_relaxed);
}

unsigned pcap_tap_drain(struct pcap_tap *t, struct pcap_writer *pw, unsigned max)
{
    struct pcap_tap_header h;
    struct nm_frame frame;
    unsigned n = 0;

    /* The producer publishes a packet's chunks in one release store, so
     * once its first chunk is visible the rest are too. */
    while (n < max && spsc_ring_dequeue(t->ring, t->pull_buf)) {
        memcpy(&h, t->pull_buf, sizeof(h));
        uint32_t rest = pcap_tap_chunks_for(h.caplen) - 1;
        if (rest)
            spsc_ring_dequeue_burst(t->ring, t->pull_buf + PCAP_TAP_CHUNK, rest);
        memset(&frame, 0, sizeof(frame));
        frame.data = t->pull_buf + sizeof(h);
        frame.caplen = h.caplen;
        frame.wirelen = h.wirelen;
        frame.ts_us = h.ts_us;
        frame.linktype = h.linktype;
        pcap_writer_write(pw, &frame);
        n++;
    }
    return n;
}
