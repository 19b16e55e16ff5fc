/*
 * l7_ndpi.h: application labels from nDPI (Debian libndpi-dev 4.2,
 * https://github.com/ntop/nDPI), one classifier per worker.
 *
 * nDPI's detection module is not thread-safe, so each worker owns one
 * (struct l7_ndpi) next to its flow table.  A flow holds a single 32-bit
 * handle (struct flow_l7's `ndpi`, flow_table.c): while nDPI is still
 * looking, the handle names a slot of this module's bounded, preallocated
 * pool holding nDPI's per-flow state; once nDPI has decided (or given up)
 * the slot is freed and the handle itself carries the result (protocol
 * ids, category, confidence), so a classified flow costs no memory beyond
 * those 4 bytes.
 *
 * Packets fed: the first L7_NDPI_TCP_PACKETS + 1 of a TCP flow and
 * L7_NDPI_OTHER_PACKETS + 1 of any other flow at most (ndpiReader's -T/-U
 * defaults, 80 and 24, applied as ndpiReader does: the packet after the
 * limit is the last one looked at), fewer once nDPI has decided and needs
 * no further packet (ndpi_extra_dissection_possible).  At the limit, or
 * when the flow ends first, ndpi_detection_giveup() decides with nDPI's
 * port/address guess, as ndpiReader does at the end of a file.
 */
#ifndef NETMOON_ANALYZE_L7_NDPI_H
#define NETMOON_ANALYZE_L7_NDPI_H

#include <stddef.h>
#include <stdint.h>

#include "decode/decode.h"
#include "output/record.h"

#define L7_NDPI_TCP_PACKETS 80u
#define L7_NDPI_OTHER_PACKETS 24u
/* Flows classified at once per worker unless --l7-max-flows says otherwise. */
#define L7_NDPI_DEFAULT_SLOTS 65536u

/* The handle a flow keeps; 0 means no classification (L7 off). */
#define NDPI_HANDLE_NONE 0u

struct l7_ndpi;

struct l7_ndpi_stats {
    uint64_t classifying;      /* flows holding a pool slot now */
    uint64_t labelled;         /* flows nDPI decided (or gave up) on */
    uint64_t no_slot;          /* flows never classified: the pool was full */
    uint64_t packets_skipped;  /* packets not given to nDPI: cut short or non-first fragments */
};

/* Returns NULL with a message in err.  Call from one thread at a time
 * (the workers' modules are then built on threads of their own, in
 * parallel, which nDPI allows: a module shares nothing with another). */
struct l7_ndpi *l7_ndpi_create(uint32_t slots, char *err, size_t errlen);
void l7_ndpi_destroy(struct l7_ndpi *c);
/* Starts building a module now, on a thread of its own; the next
 * l7_ndpi_create() adopts it.  For a one-shot run that knows it will
 * classify, before it opens its input: nDPI's set-up is most of a short
 * run.  l7_ndpi_prestart_cancel() joins and frees a module never adopted
 * (the run failed first); it does nothing otherwise. */
void l7_ndpi_prestart(void);
void l7_ndpi_prestart_cancel(void);
/* The process exits after destroying its classifiers: they leave nDPI's
 * tables to the exit instead of freeing them one by one.  main.c decides
 * (not for a leak check: sanitizer builds, NETMOON_FULL_EXIT). */
void l7_ndpi_exit_fast(void);
/* Memory of one classifier slot (nDPI's own small allocations aside). */
size_t l7_ndpi_bytes_per_slot(void);

/* A new flow: a slot handle, or a "no slot" label when the pool is full. */
uint32_t l7_ndpi_flow_start(struct l7_ndpi *c);

/* One packet of the flow; does nothing once the flow is decided. */
void l7_ndpi_packet(struct l7_ndpi *c, uint32_t *handle, const struct nm_packet *pkt);

/* The flow ends: decides now if nDPI has not, and frees its slot. */
void l7_ndpi_flow_end(struct l7_ndpi *c, uint32_t *handle);

/* What a handle says, for records (no module needed). */
void l7_ndpi_label(uint32_t handle, struct flow_l7_label *out);

void l7_ndpi_get_stats(const struct l7_ndpi *c, struct l7_ndpi_stats *out);

/* Names, from a table filled when the first classifier is created; usable
 * from any thread once a record carrying a label exists.
 * The app name is ndpiReader's: "MASTER.APP" ("TLS.Google") when nDPI found
 * both, else the one it found ("DNS"); "Unknown" when it found none. */
size_t l7_ndpi_app_name(const struct flow_l7_label *l, char *out, size_t outlen);
const char *l7_ndpi_category_name(const struct flow_l7_label *l);
const char *l7_ndpi_confidence_name(const struct flow_l7_label *l);

#endif
