/*
 * community_id.c: Community ID v1.
 *
 * sha1(seed . saddr . daddr . proto . 0 . sport . dport), all in network
 * byte order, with the endpoints ordered so that the smaller address:port
 * comes first, base64-encoded and prefixed "1:".  ICMP and ICMPv6 use the
 * message type as the source "port" and, for messages that have a
 * counterpart (echo/reply, solicitation/advertisement…), the counterpart's
 * type as the destination "port", so both halves hash alike; one-way
 * messages use the code and are not reordered.  Protocols without ports
 * hash the addresses and protocol only.
 */
#include "output/community_id.h"

#include <string.h>

/* Every flow record is hashed.  OpenSSL 3's one-shot SHA1() and the EVP
 * interface allocate a digest context per call (and take locks to fetch
 * the algorithm), which made a malloc per record; the low-level SHA1_*
 * functions work on a context on our stack.  They are deprecated in
 * OpenSSL 3 but still part of its API, so their warnings are silenced for
 * this file only. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/sha.h>

/* Counterpart message types; -1 means one-way. */
static int community_id_icmp4_peer(uint8_t type)
{
    switch (type) {
    case 8: return 0;     /* echo → echo reply */
    case 0: return 8;
    case 13: return 14;   /* timestamp */
    case 14: return 13;
    case 15: return 16;   /* information */
    case 16: return 15;
    case 10: return 9;    /* router solicitation / advertisement */
    case 9: return 10;
    case 17: return 18;   /* address mask */
    case 18: return 17;
    default: return -1;
    }
}

static int community_id_icmp6_peer(uint8_t type)
{
    switch (type) {
    case 128: return 129; /* echo request / reply */
    case 129: return 128;
    case 130: return 131; /* MLD query / report */
    case 131: return 130;
    case 133: return 134; /* router solicitation / advertisement */
    case 134: return 133;
    case 135: return 136; /* neighbour solicitation / advertisement */
    case 136: return 135;
    case 139: return 140; /* node information query / reply */
    case 140: return 139;
    case 144: return 145; /* home agent address discovery */
    case 145: return 144;
    default: return -1;
    }
}

struct community_id_tuple {
    const uint8_t *saddr, *daddr;
    size_t alen;
    uint16_t sport, dport;
    bool has_ports;
    bool one_way;
};

static void community_id_order(struct community_id_tuple *t)
{
    int c = memcmp(t->saddr, t->daddr, t->alen);

    if (t->one_way || c < 0 || (c == 0 && t->sport <= t->dport))
        return;
    const uint8_t *a = t->saddr;
    t->saddr = t->daddr;
    t->daddr = a;
    uint16_t p = t->sport;
    t->sport = t->dport;
    t->dport = p;
}

static void community_id_tuple_of(const struct flow_record *r, struct community_id_tuple *t)
{
    unsigned s = NM_DIR_SRC, d = NM_DIR_DST;
    size_t off = r->ip_version == 4 ? 12 : 0;

    memset(t, 0, sizeof(*t));
    if (r->has_icmp && r->icmp_first_from_dst) {
        s = NM_DIR_DST;
        d = NM_DIR_SRC;
    }
    t->saddr = r->addr[s].b + off;
    t->daddr = r->addr[d].b + off;
    t->alen = 16 - off;
    if (r->proto == 6 || r->proto == 17 || r->proto == 132) {
        t->has_ports = true;
        t->sport = r->port[s];
        t->dport = r->port[d];
    } else if (r->has_icmp) {
        int peer = r->proto == 1 ? community_id_icmp4_peer(r->icmp_type)
                                 : community_id_icmp6_peer(r->icmp_type);
        t->has_ports = true;
        t->sport = r->icmp_type;
        t->dport = peer >= 0 ? (uint16_t)peer : r->icmp_code;
        t->one_way = peer < 0;
    }
}

void community_id_of_record(const struct flow_record *r, uint16_t seed, char out[COMMUNITY_ID_LEN])
{
    struct community_id_tuple t;
    uint8_t buf[2 + 16 + 16 + 2 + 4], digest[SHA_DIGEST_LENGTH];
    size_t n = 0;

    community_id_tuple_of(r, &t);
    community_id_order(&t);
    buf[n++] = (uint8_t)(seed >> 8);
    buf[n++] = (uint8_t)seed;
    memcpy(buf + n, t.saddr, t.alen);
    n += t.alen;
    memcpy(buf + n, t.daddr, t.alen);
    n += t.alen;
    buf[n++] = r->proto;
    buf[n++] = 0;
    if (t.has_ports) {
        buf[n++] = (uint8_t)(t.sport >> 8);
        buf[n++] = (uint8_t)t.sport;
        buf[n++] = (uint8_t)(t.dport >> 8);
        buf[n++] = (uint8_t)t.dport;
    }
    SHA_CTX sha;
    SHA1_Init(&sha);
    SHA1_Update(&sha, buf, n);
    SHA1_Final(digest, &sha);
    out[0] = '1';
    out[1] = ':';
    EVP_EncodeBlock((unsigned char *)out + 2, digest, SHA_DIGEST_LENGTH);
}
