/*
 * flow_harness.h: the decode → flow table → TCP analysis → JSON path, as
 * src/core/worker.h wires it, for the fuzz targets that feed it frames
 * (fuzz_decode_flow.c: one frame; fuzz_flow_sequence.c: a short capture).
 *
 * Besides the sanitizers, it checks what the rest of netmoon relies on:
 *   - decode.h's contract for every frame (payload inside the captured
 *     bytes, tunnel and VLAN depths bounded, every frame accounted);
 *   - nothing is lost: after the final flush every flow created has been
 *     written, and the packets and bytes of all records (interim ones
 *     included, since they restart the counts) add up to what was fed;
 *   - every record formats as one complete JSON line.
 *
 * Everything is reset per input so that a saved input replays the same way.
 */
#ifndef NETMOON_TEST_FLOW_HARNESS_H
#define NETMOON_TEST_FLOW_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/config.h"
#include "core/worker.h"
#include "decode/decode.h"
#include "decode/decode_internal.h"
#include "output/json.h"
#include "flow/flow_table.h"
#include "fuzz.h"

/* Every link type decode_packet() supports; an input's selector byte picks
 * one modulo the count.  tests/fuzz/make-seeds.py writes the same indexes:
 * keep the two in the same order. */
static const int harness_linktypes[] = {
    NM_LINKTYPE_NULL,  NM_LINKTYPE_ETHERNET, NM_LINKTYPE_RAW,  NM_DLT_RAW_ALT1,
    NM_DLT_RAW_ALT2,   NM_LINKTYPE_LOOP,     NM_LINKTYPE_LINUX_SLL,
    NM_LINKTYPE_IPV4,  NM_LINKTYPE_IPV6,     NM_LINKTYPE_LINUX_SLL2,
};
#define HARNESS_N_LINKTYPES (sizeof harness_linktypes / sizeof harness_linktypes[0])
/* The selector's top bit sets --no-decap, so both tunnel paths are reached. */
#define HARNESS_NO_DECAP_BIT 0x80u

/* A handful of slots makes eviction (an LRU victim written as a record)
 * part of every sequence with more than a few flows. */
#define HARNESS_MAX_FLOWS 4u
#define HARNESS_IDLE_US (2ull * 1000000ull)
#define HARNESS_ACTIVE_US (5ull * 1000000ull)
/* Packet time starts at a plausible date rather than 0, as in real files. */
#define HARNESS_T0_US (1700000000ull * 1000000ull)

struct harness {
    struct worker w;         /* holds the fragment table: too big for the stack */
    uint64_t fed_pkts, fed_bytes;      /* handed to flow_table_update */
    uint64_t rec_pkts, rec_bytes;      /* summed over every record written */
    uint64_t records, final_records;   /* all; all but interim */
};

static struct harness harness;

/* The emit callback: format like the JSON sink does and check the line. */
static void harness_emit(void *user, const struct flow_record *rec)
{
    struct harness *h = user;
    char line[JSON_RECORD_MAX];

    size_t n = json_format_flow(rec, line, sizeof line);
    /* json_format_flow clamps to outlen - 1 when the record does not fit,
     * which would be a cut JSON line in the output. */
    FUZZ_ASSERT(n > 0 && n < sizeof line - 1, "JSON record of %zu bytes (limit %zu)", n,
                sizeof line - 1);
    FUZZ_ASSERT(line[0] == '{' && line[n - 1] == '\n' && line[n - 2] == '}',
                "JSON record is not one object and a newline: %.*s", (int)n, line);
    FUZZ_ASSERT(strlen(line) == n, "JSON record has a NUL inside: %.*s", (int)n, line);
    FUZZ_ASSERT(memchr(line, '\n', n - 1) == NULL, "JSON record spans lines: %.*s", (int)n,
                line);

    h->records++;
    if (rec->end_reason != FLOW_END_ACTIVE)
        h->final_records++;
    h->rec_pkts += rec->pkts[NM_DIR_SRC] + rec->pkts[NM_DIR_DST];
    h->rec_bytes += rec->bytes[NM_DIR_SRC] + rec->bytes[NM_DIR_DST];
}

/* Starts an input.  selector: index into harness_linktypes (modulo), plus
 * HARNESS_NO_DECAP_BIT.  Returns the link type frames will carry. */
static int harness_begin(uint8_t selector)
{
    struct nm_config cfg;
    char err[256];

    memset(&cfg, 0, sizeof cfg);
    cfg.max_flows = HARNESS_MAX_FLOWS;
    cfg.idle_timeout_us = HARNESS_IDLE_US;
    cfg.active_timeout_us = HARNESS_ACTIVE_US;
    cfg.no_decap = (selector & HARNESS_NO_DECAP_BIT) != 0;
    /* nDPI's module takes ~15 ms to set up, and the harness makes a worker
     * per input: with it, fuzzing would crawl.  What netmoon hands nDPI
     * (the l3 span) is checked below instead; nDPI itself is exercised on
     * real captures by tests/golden/test_ndpi_labels.sh. */
    cfg.no_l7 = true;

    memset(&harness, 0, sizeof harness);
    if (worker_init(&harness.w, &cfg, 1, 1, harness_emit, &harness, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz harness: cannot create the flow table: %s\n", err);
        abort();
    }
    return harness_linktypes[(selector & ~HARNESS_NO_DECAP_BIT) % HARNESS_N_LINKTYPES];
}

/* decode.h's promises about one decoded frame (data, len: what was captured). */
static void harness_check_packet(const struct nm_packet *p, const uint8_t *data, size_t len,
                                 uint64_t accounted_before)
{
    const struct decode_stats *st = &harness.w.decode.stats;

    if (p->has_ip)
        FUZZ_ASSERT(p->ip_version == 4 || p->ip_version == 6, "ip_version %u", p->ip_version);
    if (p->payload) {
        FUZZ_ASSERT(p->payload >= data && p->payload_len <= len &&
                        (size_t)(p->payload - data) <= len - p->payload_len,
                    "payload [%td, +%u) outside the %zu captured bytes", p->payload - data,
                    p->payload_len, len);
    } else {
        FUZZ_ASSERT(p->payload_len == 0, "payload_len %u without a payload", p->payload_len);
    }
    /* The IP packet an L7 classifier (nDPI) would be given lies inside the
     * capture, and is "complete" only if it holds what its IP header says. */
    if (p->l3) {
        FUZZ_ASSERT(p->l3 >= data && p->l3_len <= len && (size_t)(p->l3 - data) <= len - p->l3_len,
                    "l3 [%td, +%u) outside the %zu captured bytes", p->l3 - data, p->l3_len, len);
        FUZZ_ASSERT(!p->l3_complete || p->l3_len == p->ip_len,
                    "l3 complete with %u bytes but IP length %u", p->l3_len, p->ip_len);
    } else {
        FUZZ_ASSERT(!p->l3_complete && p->l3_len == 0, "l3_complete or l3_len without l3");
    }
    FUZZ_ASSERT(p->tunnel_depth <= NM_MAX_TUNNEL_DEPTH, "tunnel depth %u", p->tunnel_depth);
    FUZZ_ASSERT((p->tunnel == NM_TUNNEL_NONE) == (p->tunnel_depth == 0),
                "tunnel %d at depth %u", (int)p->tunnel, p->tunnel_depth);
    FUZZ_ASSERT(p->vlan_count <= 2, "%u VLAN tags", p->vlan_count);
    /* Every frame is decoded, counted non-IP, or counted under a reason. */
    uint64_t accounted = st->decoded + st->non_ip + decode_stats_errors(st);
    FUZZ_ASSERT(accounted > accounted_before, "a frame was neither decoded nor counted");
}

/* Feeds one frame through the worker.  The frame is copied to a heap block
 * of exactly its size so that ASan reports any read past the capture. */
static void harness_frame(const uint8_t *bytes, size_t len, int linktype, uint64_t ts_us)
{
    const struct decode_stats *st = &harness.w.decode.stats;
    uint8_t *copy = malloc(len ? len : 1);

    if (!copy)
        abort();
    if (len)
        memcpy(copy, bytes, len);
    struct nm_frame frame = {
        .data = copy,
        .caplen = (uint32_t)len,
        .wirelen = (uint32_t)len,
        .ts_us = ts_us,
        .linktype = linktype,
    };
    uint64_t before = st->decoded + st->non_ip + decode_stats_errors(st);
    worker_process(&harness.w, &frame);
    /* worker_process leaves its scratch packet behind: check what the flow
     * table was given (or, when has_ip is false, what made it skip). */
    harness_check_packet(&harness.w.pkt, copy, len, before);
    if (harness.w.pkt.has_ip) {
        harness.fed_pkts++;
        harness.fed_bytes += frame.wirelen;
    }
    free(copy);
}

/* Ends an input: flush like the end of a file, check that nothing was lost. */
static void harness_end(void)
{
    struct flow_table_stats fs;

    flow_table_flush(harness.w.flows, FLOW_END_EOF);
    flow_table_get_stats(harness.w.flows, &fs);
    FUZZ_ASSERT(fs.active == 0, "%llu flows left after the flush", (unsigned long long)fs.active);
    FUZZ_ASSERT(fs.created == fs.ended && fs.ended == harness.final_records,
                "%llu flows created, %llu ended, %llu final records written",
                (unsigned long long)fs.created, (unsigned long long)fs.ended,
                (unsigned long long)harness.final_records);
    FUZZ_ASSERT(harness.rec_pkts == harness.fed_pkts && harness.rec_bytes == harness.fed_bytes,
                "records carry %llu packets / %llu bytes, the table was given %llu / %llu",
                (unsigned long long)harness.rec_pkts, (unsigned long long)harness.rec_bytes,
                (unsigned long long)harness.fed_pkts, (unsigned long long)harness.fed_bytes);
    worker_fini(&harness.w);
}

#endif
