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

void flow_key_from_packet(const struct nm_packet *pkt, struct flow_key *key, unsigned *side)
{
    uint16_t sport = 0, dport = 0;

    memset(key, 0, sizeof(*key));
    if (pkt->has_ports) {
        sport = pkt->sport;
        dport = pkt->dport;
    } else if (pkt->has_icmp) {
        sport = dport = flow_key_icmp_port(pkt);
    }
    key->vlan = pkt->vlan_id;
    key->proto = pkt->proto;
    key->ip_version = pkt->ip_version;

    int c = memcmp(pkt->src.b, pkt->dst.b, sizeof(pkt->src.b));
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

/* A multiply-xorshift mix per 8-byte word (the finaliser of MurmurHash3 /
 * splitmix64 family): fast, and every input bit reaches every output bit. */
static inline uint64_t flow_key_mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    return h;
}

uint64_t flow_key_hash(const struct flow_key *key, uint64_t seed)
{
    const uint8_t *p = (const uint8_t *)key;
    uint64_t h = seed;

    _Static_assert(sizeof(struct flow_key) == 40, "flow_key must be 5 words, no padding");
    for (size_t i = 0; i < sizeof(*key); i += 8)
        h = flow_key_mix(h, flow_key_load64(p + i));
    h ^= h >> 32;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 29);
}
