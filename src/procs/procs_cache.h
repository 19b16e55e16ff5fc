/*
 * procs_cache.h: a bounded map from a socket's tuple to its owning process,
 * used twice in process attribution (src/procs/procs.h): by the helper
 * thread for every socket sock_diag(7) has shown it, and by the output
 * thread for the answers the helper sent.  Each instance belongs to one
 * thread, so nothing here locks.
 *
 * Set-associative (4 ways a set, oldest way replaced) rather than LRU lists:
 * memory is fixed at creation and a lookup touches one cache line run.
 * Replacing an entry nobody has used yet is counted (nothing is lost
 * silently).
 *
 * Tuples are canonical: the two endpoints are stored in address order, so
 * a flow's (src, dst) and its socket's (local, remote) give the same key.
 * A wildcard endpoint (an unconnected UDP socket's remote, INADDR_ANY) is
 * all zeros; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d) as everywhere in
 * netmoon, so an AF_INET6 socket talking to ::ffff:198.18.0.2 and the IPv4
 * packets on the wire meet on one key.
 */
#ifndef NETMOON_PROCS_PROCS_CACHE_H
#define NETMOON_PROCS_PROCS_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "output/record.h"

struct procs_tuple {
    struct nm_addr addr[2];     /* canonical order */
    uint16_t port[2];
    uint8_t proto;
    uint8_t pad[3];             /* zero: tuples are compared as bytes */
};

enum procs_status {
    PROCS_ATTRIBUTED = 1,       /* owner is valid */
    PROCS_UNATTRIBUTED = 2,     /* a local flow whose socket owner was not found */
};

struct procs_entry {
    struct procs_tuple tuple;
    uint8_t status;             /* enum procs_status; 0 = empty way */
    bool used;                  /* looked up since stored */
    uint64_t inode;             /* helper: the socket's inode (0: not a socket entry) */
    uint64_t stamp;             /* insertion order, for replacement */
    uint64_t seen_us;           /* helper: when the socket was last seen open */
    struct flow_owner owner;
};

struct procs_cache;

/* Builds a canonical tuple; a NULL address is the wildcard. */
void procs_tuple_make(struct procs_tuple *t, uint8_t proto, const struct nm_addr *a,
                      uint16_t aport, const struct nm_addr *b, uint16_t bport);

/* capacity is rounded up to a multiple of the ways; NULL when out of memory. */
struct procs_cache *procs_cache_create(uint32_t capacity);
void procs_cache_destroy(struct procs_cache *c);

/* The entry for t, or NULL.  Marks it used. */
struct procs_entry *procs_cache_find(struct procs_cache *c, const struct procs_tuple *t);

/* The entry for t, created (zeroed but for the tuple) when absent, possibly
 * replacing the oldest entry of its set. */
struct procs_entry *procs_cache_put(struct procs_cache *c, const struct procs_tuple *t);

/* Entries replaced before anyone looked them up. */
uint64_t procs_cache_evictions(const struct procs_cache *c);

#endif
