/*
 * names.h: an address -> name map learned from the DNS answers netmoon
 * itself saw (the dns_qname / dns_answers of flow records), so the view can
 * name peers without a single lookup of its own.  An entry lives for the
 * smallest TTL of the answer's address records (RFC 1035 §3.2.1, RFC 2181
 * §8), measured in the view's time (packet time for files), and the map is
 * a fixed size: when a probe window is full, the entry expiring soonest
 * makes room (counted).  Owned by the output thread; no locks.
 */
#ifndef NETMOON_OUTPUT_NAMES_H
#define NETMOON_OUTPUT_NAMES_H

#include <stdint.h>

#include "output/record.h"

#define NAME_MAP_NAME_MAX 96          /* longer names are cut (counted) */

struct name_map_stats {
    uint64_t learned;                 /* address entries written */
    uint64_t replaced;                /* live entries pushed out for room */
    uint64_t truncated;               /* names cut to NAME_MAP_NAME_MAX - 1 */
};

struct name_map;

/* capacity: entries (rounded up to a power of two). NULL when out of memory. */
struct name_map *name_map_create(uint32_t capacity);
void name_map_destroy(struct name_map *m);

/* Learns every A/AAAA answer of a record carrying a DNS response, at time
 * now_us (the record's end for files, wall clock live). */
void name_map_learn(struct name_map *m, const struct flow_record *r, uint64_t now_us);

/* The name of an address, or NULL if unknown or expired at now_us. */
const char *name_map_lookup(const struct name_map *m, const struct nm_addr *a, uint8_t ip_version,
                            uint64_t now_us);

const struct name_map_stats *name_map_stats(const struct name_map *m);

/* What the view's name column shows for a flow: its SNI, else its HTTP
 * Host, else the learned name of dst, else of src, copied into buf with
 * bytes outside printable ASCII as '.'; NULL when none. */
const char *name_map_flow_label(const struct name_map *m, const struct flow_record *r,
                                uint64_t now_us, char *buf, size_t buflen);

#endif
