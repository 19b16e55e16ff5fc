/*
 * flow_key.c: canonical bidirectional flow keys and their hash.
 * See flow_key.h for why the key is ordered instead of hashed symmetrically.
 */
#include "flow/flow_key.h"

#include <string.h>

/* Ports used in the key for ICMP: the echo identifier when there is one, so
 * that a request and its reply share a key; else type and code. */
static uint16_t flow_key_icmp_port(const struct nm_packet *pkt)
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

void flow_key_from_packet(const struct nm_packet *pkt, struct flow_key *key, unsigned *side)
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

/* splitmix64's step: spreads one seed over the secret's six words. */
static uint64_t flow_hash_splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void flow_hash_secret_init(struct flow_hash_secret *s, uint64_t seed)
{
    for (unsigned i = 0; i < 6; i++)
        s->k[i] = flow_hash_splitmix(&seed);
}

__extension__ typedef unsigned __int128 flow_hash_u128;

static inline flow_hash_u128 flow_hash_nh(uint64_t a, uint64_t b)
{
    return (flow_hash_u128)a * b;
}

/* NH, the keyed hash of UMAC (RFC 4418 §5): the sum of products of
 * key-offset word pairs, with the secret drawn at random per table, so
 * colliding keys cannot be chosen from outside (hash flooding).  Three
 * independent multiplies instead of five dependent mixing rounds: the key
 * hash was a visible share of decoding a packet.  A final multiply-xorshift
 * spreads every bit into the low bits the index uses. */
uint64_t flow_key_hash_with(const struct flow_key *key, const struct flow_hash_secret *s)
{
    const uint8_t *p = (const uint8_t *)key;
    uint64_t w[5];

    _Static_assert(sizeof(struct flow_key) == sizeof(w), "flow_key must be 5 words, no padding");
    for (unsigned i = 0; i < 5; i++)
        w[i] = flow_key_load64(p + 8 * i);
    flow_hash_u128 nh = flow_hash_nh(w[0] + s->k[0], w[1] + s->k[1]) +
                        flow_hash_nh(w[2] + s->k[2], w[3] + s->k[3]) +
                        flow_hash_nh(w[4] + s->k[4], s->k[5] | 1);
    uint64_t h = (uint64_t)nh ^ (uint64_t)(nh >> 64);
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    return h ^ (h >> 32);
}

uint64_t flow_key_hash(const struct flow_key *key, uint64_t seed)
{
    struct flow_hash_secret s;

    flow_hash_secret_init(&s, seed);
    return flow_key_hash_with(key, &s);
}
