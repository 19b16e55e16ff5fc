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
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "decode/decode.h"

/* What a flow keeps of its key: 16 bytes, the whole key of an IPv4 flow.
 * Most flows are IPv4, and the key was 40 bytes of every flow (two 16-byte
 * addresses).  An IPv6 flow keeps its 32 address bytes in the table's
 * address pool instead (flow_table.c), and its handle there in addr4[0]. */
struct flow_key_short {
    uint8_t addr4[2][4];  /* IPv4: canonical addresses; IPv6: zero in a packet's key */
    uint16_t port[2];     /* canonical order: addr[0]:port[0] <= addr[1]:port[1] */
    uint16_t vlan;
    uint8_t proto;
    uint8_t ip_version;   /* 4: addr4 is the address; anything else: addr6 */
};

/* A packet's key, as built for the lookup.  addr6 is written only when
 * ip_version is not 4 (and read only then): an IPv4 packet's key is its
 * 16 bytes.  Decode stores IPv4 addresses IPv4-mapped (decode.h), so the
 * four bytes are the whole address and its order. */
struct flow_key {
    struct flow_key_short s;
    struct nm_addr addr6[2];
};

/* The short key's two words: w[0] the IPv4 addresses (or the IPv6 handle),
 * w[1] ports, VLAN, protocol and version.  The version in w[1] keeps an
 * IPv4 key and an IPv6 one apart whatever their other bytes. */
static inline void flow_key_short_words(const struct flow_key_short *k, uint64_t w[2])
{
    _Static_assert(sizeof(struct flow_key_short) == 16, "flow_key_short must be 2 words, no padding");
    memcpy(w, k, 16);
}

static inline bool flow_key_addr6_equal(const struct nm_addr *a, const struct nm_addr *b)
{
    uint64_t x[4], y[4];

    memcpy(x, a, sizeof(x));
    memcpy(y, b, sizeof(y));
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) == 0;
}

/* Whether two packets' keys are the same flow's.  Inline word compares: a
 * libc memcmp call per lookup was a visible share of the flow thread. */
static inline bool flow_key_equal(const struct flow_key *a, const struct flow_key *b)
{
    uint64_t x[2], y[2];

    flow_key_short_words(&a->s, x);
    flow_key_short_words(&b->s, y);
    if (((x[0] ^ y[0]) | (x[1] ^ y[1])) != 0)
        return false;
    return a->s.ip_version == 4 || flow_key_addr6_equal(a->addr6, b->addr6);
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

/* Two words stored as one: see flow_key_short_set. */
typedef uint64_t flow_key_v2u64 __attribute__((vector_size(16)));

/* The short key of a packet whose sender is canonical side s.  Written as
 * the two words flow_key_short_words reads back: written field by field,
 * each 8-byte read of them waited for the small stores to retire (a
 * failed store-to-load forward, the costliest instruction of the flow
 * thread's key building in perf).  And as one 16-byte store: the offline
 * reader copies the whole short key into its ring message right after,
 * with one 16-byte read, which two 8-byte stores cannot forward either
 * (perf put 95 % of the reader's own samples in main on that copy). */
static inline void flow_key_short_set(struct flow_key_short *k, const struct nm_packet *pkt,
                                      unsigned s, uint16_t sport, uint16_t dport)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t src4 = 0, dst4 = 0;

    if (pkt->ip_version == 4) {
        memcpy(&src4, pkt->src.b + 12, 4);
        memcpy(&dst4, pkt->dst.b + 12, 4);
    }
    uint32_t a0 = s ? dst4 : src4, a1 = s ? src4 : dst4;
    uint16_t p0 = s ? dport : sport, p1 = s ? sport : dport;
    flow_key_v2u64 v = {
        (uint64_t)a0 | (uint64_t)a1 << 32,
        (uint64_t)p0 | (uint64_t)p1 << 16 | (uint64_t)pkt->vlan_id << 32 |
            (uint64_t)pkt->proto << 48 | (uint64_t)pkt->ip_version << 56,
    };
    _Static_assert(offsetof(struct flow_key_short, port) == 8 &&
                   offsetof(struct flow_key_short, vlan) == 12 &&
                   offsetof(struct flow_key_short, proto) == 14 &&
                   offsetof(struct flow_key_short, ip_version) == 15,
                   "flow_key_short_set composes the words in this layout");
    memcpy(k, &v, sizeof(v));
#else
    memset(k->addr4, 0, sizeof(k->addr4));
    if (pkt->ip_version == 4) {
        memcpy(k->addr4[s], pkt->src.b + 12, 4);
        memcpy(k->addr4[s ^ 1], pkt->dst.b + 12, 4);
    }
    k->port[s] = sport;
    k->port[s ^ 1] = dport;
    k->vlan = pkt->vlan_id;
    k->proto = pkt->proto;
    k->ip_version = pkt->ip_version;
#endif
}

/* An IPv6 key's addresses, in canonical order, from a packet whose sender
 * is canonical side s. */
static inline void flow_key_set_addr6(struct flow_key *key, const struct nm_packet *pkt, unsigned s)
{
    key->addr6[s] = pkt->src;
    key->addr6[s ^ 1] = pkt->dst;
}

/* Builds the key for pkt.  *side is the canonical index (0 or 1) of the
 * packet's sender. */
static inline void flow_key_from_packet(const struct nm_packet *pkt, struct flow_key *key,
                                        unsigned *side)
{
    uint16_t sport = 0, dport = 0;
    unsigned s;

    /* Every field of the short key is written below, and it has no
     * padding (flow_key_short_words asserts it), so no memset. */
    if (pkt->has_ports) {
        sport = pkt->sport;
        dport = pkt->dport;
    } else if (pkt->has_icmp) {
        sport = dport = flow_key_icmp_port(pkt);
    }
    if (pkt->ip_version == 4) {
        /* IPv4-mapped: the first eight bytes are the same in both, so the
         * last eight order them as all sixteen would. */
        uint64_t a = flow_key_load_be64(pkt->src.b + 8), b = flow_key_load_be64(pkt->dst.b + 8);
        s = a < b || (a == b && sport <= dport) ? 0 : 1;
    } else {
        int c = flow_key_addr_cmp(&pkt->src, &pkt->dst);
        s = c < 0 || (c == 0 && sport <= dport) ? 0 : 1;
        flow_key_set_addr6(key, pkt, s);
    }
    flow_key_short_set(&key->s, pkt, s, sport, dport);
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
 * colliding keys cannot be chosen from outside (hash flooding).  Independent
 * multiplies instead of dependent mixing rounds: the key hash was a visible
 * share of decoding a packet.  An IPv4 key is one pair, its two words; an
 * IPv6 key the four address words and the short key's second word, which
 * holds the version, so the two kinds are different messages (and the IPv6
 * handle a flow keeps in its first word is never hashed).  A final
 * multiply-xorshift spreads every bit into both halves: the index takes a
 * key's home from the top bits of the low half and its tag from the high
 * half.
 * addr6 is read only when the version is not 4; a flow passes its pooled
 * addresses there, a packet its key's. */
static inline uint64_t flow_key_hash_parts(const struct flow_key_short *k,
                                           const struct nm_addr *addr6,
                                           const struct flow_hash_secret *s)
{
    uint64_t w[2];
    flow_hash_u128 nh;

    flow_key_short_words(k, w);
    if (k->ip_version == 4) {
        nh = (flow_hash_u128)(w[0] + s->k[0]) * (w[1] + s->k[1]);
    } else {
        const uint8_t *p = addr6[0].b, *q = addr6[1].b;
        nh = (flow_hash_u128)(flow_key_load64(p) + s->k[0]) * (flow_key_load64(p + 8) + s->k[1]) +
             (flow_hash_u128)(flow_key_load64(q) + s->k[2]) * (flow_key_load64(q + 8) + s->k[3]) +
             (flow_hash_u128)(w[1] + s->k[4]) * (s->k[5] | 1);
    }
    uint64_t h = (uint64_t)nh ^ (uint64_t)(nh >> 64);

    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    return h ^ (h >> 32);
}

static inline uint64_t flow_key_hash_with(const struct flow_key *key,
                                          const struct flow_hash_secret *s)
{
    return flow_key_hash_parts(&key->s, key->addr6, s);
}

#endif
