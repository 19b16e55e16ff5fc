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
/* The same from a seed (derives the secret each call: for tests). */
uint64_t flow_key_hash(const struct flow_key *key, uint64_t seed);

/* Building a key and hashing it are inline: as two calls behind
 * flow_table_key they cost about 100 instructions a packet of the flow
 * thread, inline about 75. */

/* Ports used in the key for ICMP: the echo identifier when there is one, so
 * that a request and its reply share a key; else type and code. */
static inline uint16_t flow_key_icmp_port(const struct nm_packet *pkt)
{
    if (pkt->icmp_is_echo)
        return pkt->icmp_id;
    return (uint16_t)(pkt->icmp_type << 8 | pkt->icmp_code);
}

static inline uint64_t flow_key_load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* memcmp's order of two addresses (<0, 0, >0) from two big-endian word
 * compares: the libc call was most of building a key. */
static inline int flow_key_addr_cmp(const struct nm_addr *a, const struct nm_addr *b)
{
    uint64_t a0 = flow_key_load_be64(a->b), b0 = flow_key_load_be64(b->b);

    if (a0 != b0)
        return a0 < b0 ? -1 : 1;
    uint64_t a1 = flow_key_load_be64(a->b + 8), b1 = flow_key_load_be64(b->b + 8);
    return (a1 > b1) - (a1 < b1);
}

/* Builds the key for pkt.  *side is the canonical index (0 or 1) of the
 * packet's sender. */
static inline void flow_key_from_packet(const struct nm_packet *pkt, struct flow_key *key,
                                        unsigned *side)
{
    uint16_t sport = 0, dport = 0;

    /* Every field is written below, and the key has no padding
     * (flow_key_equal asserts it), so no memset. */
    if (pkt->has_ports) {
        sport = pkt->sport;
        dport = pkt->dport;
    } else if (pkt->has_icmp) {
        sport = dport = flow_key_icmp_port(pkt);
    }
    key->vlan = pkt->vlan_id;
    key->proto = pkt->proto;
    key->ip_version = pkt->ip_version;

    int c = flow_key_addr_cmp(&pkt->src, &pkt->dst);
    bool sender_first = c < 0 || (c == 0 && sport <= dport);
    unsigned s = sender_first ? 0 : 1;
    key->addr[s] = pkt->src;
    key->port[s] = sport;
    key->addr[s ^ 1] = pkt->dst;
    key->port[s ^ 1] = dport;
    *side = s;
}

static inline uint64_t flow_key_load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

__extension__ typedef unsigned __int128 flow_hash_u128;

/* NH, the keyed hash of UMAC (RFC 4418 §5): the sum of products of
 * key-offset word pairs, with the secret drawn at random per table, so
 * colliding keys cannot be chosen from outside (hash flooding).  Three
 * independent multiplies instead of five dependent mixing rounds: the key
 * hash was a visible share of decoding a packet.  A final multiply-xorshift
 * spreads every bit into the low bits the index uses.  The words are loaded
 * one by one, not into an array: with an array the compiler moved the key
 * through the stack. */
static inline uint64_t flow_key_hash_with(const struct flow_key *key,
                                          const struct flow_hash_secret *s)
{
    const uint8_t *p = (const uint8_t *)key;

    _Static_assert(sizeof(struct flow_key) == 40, "flow_key must be 5 words, no padding");
    flow_hash_u128 nh =
        (flow_hash_u128)(flow_key_load64(p) + s->k[0]) * (flow_key_load64(p + 8) + s->k[1]) +
        (flow_hash_u128)(flow_key_load64(p + 16) + s->k[2]) * (flow_key_load64(p + 24) + s->k[3]) +
        (flow_hash_u128)(flow_key_load64(p + 32) + s->k[4]) * (s->k[5] | 1);
    uint64_t h = (uint64_t)nh ^ (uint64_t)(nh >> 64);

    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    return h ^ (h >> 32);
}

#endif
