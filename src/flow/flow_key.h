/*
 * flow_key.h: the symmetric, bidirectional flow key.
 *
 * Both directions of a conversation must land on one key, so the key stores
 * its two endpoints in a canonical order (the smaller address:port first, as
 * Community ID v1 orders them) and the packet's direction is returned beside
 * it.  Hashing the canonical key is then symmetric by construction, which is
 * cheaper than a commutative hash and leaves no room for (a,b)/(b,a)
 * collisions that a XOR-style symmetric hash would make.
 *
 * What identifies a flow: VLAN, IP version, protocol, addresses and ports.
 * ICMP/ICMPv6 echo uses its identifier in both port slots (so request and
 * reply meet); other ICMP messages use type<<8|code.
 */
#ifndef NETMOON_FLOW_KEY_H
#define NETMOON_FLOW_KEY_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "decode/decode.h"

struct flow_key {
    struct nm_addr addr[2];  /* canonical order: addr[0]:port[0] <= addr[1]:port[1] */
    uint16_t port[2];
    uint16_t vlan;
    uint8_t proto;
    uint8_t ip_version;
};

/* Builds the key for pkt.  *side is the canonical index (0 or 1) of the
 * packet's sender. */
void flow_key_from_packet(const struct nm_packet *pkt, struct flow_key *key, unsigned *side);

/* Inline word compares: a libc memcmp call per lookup was a visible share
 * of the flow thread. */
static inline bool flow_key_equal(const struct flow_key *a, const struct flow_key *b)
{
    uint64_t x[5], y[5];

    _Static_assert(sizeof(struct flow_key) == sizeof(x), "flow_key must be 5 words, no padding");
    memcpy(x, a, sizeof(x));
    memcpy(y, b, sizeof(y));
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0;
}

/* Keyed 64-bit hash of a canonical key; the secret (random per table)
 * defeats hash flooding. */
struct flow_hash_secret {
    uint64_t k[6];
};
void flow_hash_secret_init(struct flow_hash_secret *s, uint64_t seed);
uint64_t flow_key_hash_with(const struct flow_key *key, const struct flow_hash_secret *s);
/* The same from a seed (derives the secret each call: for tests). */
uint64_t flow_key_hash(const struct flow_key *key, uint64_t seed);

#endif
