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
 * the algorithm), which made a malloc per record.  The input is at most
 * 40 bytes, so it is padded here into the one 64-byte block it takes and
 * given to SHA1_Transform, libcrypto's compression function on a context
 * on our stack: SHA1_Init/Update/Final's bookkeeping and EVP_EncodeBlock
 * were a third of the hash's cost.  These functions are deprecated in
 * OpenSSL 3 but still part of its API, so their warnings are silenced for
 * this file only. */
#define OPENSSL_SUPPRESS_DEPRECATED
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

/* The hash input of Community ID v1 (see the top) into buf;
 * returns its length, at most COMMUNITY_ID_INPUT_MAX. */
#define COMMUNITY_ID_INPUT_MAX (2 + 16 + 16 + 2 + 4)
static size_t community_id_input(const struct flow_record *r, uint16_t seed, uint8_t *buf)
{
    struct community_id_tuple t;
    size_t n = 0;

    community_id_tuple_of(r, &t);
    community_id_order(&t);
    buf[n++] = (uint8_t)(seed >> 8);
    buf[n++] = (uint8_t)seed;
    if (t.alen == 4) {          /* constant sizes: copies without calls */
        memcpy(buf + n, t.saddr, 4);
        memcpy(buf + n + 4, t.daddr, 4);
    } else {
        memcpy(buf + n, t.saddr, 16);
        memcpy(buf + n + 16, t.daddr, 16);
    }
    n += 2 * t.alen;
    buf[n++] = r->proto;
    buf[n++] = 0;
    if (t.has_ports) {
        buf[n++] = (uint8_t)(t.sport >> 8);
        buf[n++] = (uint8_t)t.sport;
        buf[n++] = (uint8_t)(t.dport >> 8);
        buf[n++] = (uint8_t)t.dport;
    }
    return n;
}

/* SHA-1 (FIPS 180-4) of a message short enough for one block: the 0x80
 * byte, zeros, and the bit length as a 64-bit big-endian number (two bytes
 * of which can be non-zero).  Leaves the digest as five big-endian words
 * in h. */
_Static_assert(COMMUNITY_ID_INPUT_MAX + 1 + 8 <= SHA_CBLOCK, "the input fits one SHA-1 block");
static void community_id_sha1(uint8_t block[SHA_CBLOCK], size_t n, uint32_t h[5])
{
    /* SHA1_Transform reads only the chaining words: set them to the
     * initial values of FIPS 180-4 §5.3.1 instead of a call to SHA1_Init. */
    SHA_CTX sha = { .h0 = 0x67452301, .h1 = 0xefcdab89, .h2 = 0x98badcfe,
                    .h3 = 0x10325476, .h4 = 0xc3d2e1f0 };

    block[n] = 0x80;
    block[SHA_CBLOCK - 2] = (uint8_t)(n * 8 >> 8);
    block[SHA_CBLOCK - 1] = (uint8_t)(n * 8);
    SHA1_Transform(&sha, block);
    h[0] = sha.h0;
    h[1] = sha.h1;
    h[2] = sha.h2;
    h[3] = sha.h3;
    h[4] = sha.h4;
}

/* Two base64 characters for each 12-bit value, [high 6 bits][low 6 bits],
 * so that a 24-bit group is two lookups. */
#define CID_B64C(x) \
    (char)((x) < 26 ? 'A' + (x) : (x) < 52 ? 'a' + (x) - 26 : (x) < 62 ? '0' + (x) - 52 \
                                                                     : (x) == 62 ? '+' : '/')
#define CID_CELL(h, l) { CID_B64C(h), CID_B64C(l) }
#define CID_COL4(h, l) CID_CELL(h, l), CID_CELL(h, (l) + 1), CID_CELL(h, (l) + 2), \
    CID_CELL(h, (l) + 3)
#define CID_COL16(h, l) CID_COL4(h, l), CID_COL4(h, (l) + 4), CID_COL4(h, (l) + 8), \
    CID_COL4(h, (l) + 12)
#define CID_ROW(h) { CID_COL16(h, 0), CID_COL16(h, 16), CID_COL16(h, 32), CID_COL16(h, 48) }
#define CID_ROW4(h) CID_ROW(h), CID_ROW((h) + 1), CID_ROW((h) + 2), CID_ROW((h) + 3)
#define CID_ROW16(h) CID_ROW4(h), CID_ROW4((h) + 4), CID_ROW4((h) + 8), CID_ROW4((h) + 12)
static const char community_id_b64[64][64][2] = {
    CID_ROW16(0), CID_ROW16(16), CID_ROW16(32), CID_ROW16(48),
};

/* Four base64 characters of a 24-bit group. */
static inline void community_id_b64_group(uint32_t v, char *out)
{
    const char *pairs = &community_id_b64[0][0][0];

    memcpy(out, pairs + 2 * (v >> 12), 2);
    memcpy(out + 2, pairs + 2 * (v & 4095), 2);
}

/* Base64 (RFC 4648 §4, padded) of the 160-bit digest, taken straight from
 * its five words: six whole 24-bit groups, then 16 bits as three
 * characters and one '='. */
static void community_id_base64(const uint32_t h[5], char out[28])
{
    community_id_b64_group(h[0] >> 8, out);
    community_id_b64_group((h[0] & 0xff) << 16 | h[1] >> 16, out + 4);
    community_id_b64_group((h[1] & 0xffff) << 8 | h[2] >> 24, out + 8);
    community_id_b64_group(h[2] & 0xffffff, out + 12);
    community_id_b64_group(h[3] >> 8, out + 16);
    community_id_b64_group((h[3] & 0xff) << 16 | h[4] >> 16, out + 20);
    community_id_b64_group((h[4] & 0xffff) << 8, out + 24);
    out[27] = '=';
}

size_t community_id_format(const struct flow_record *r, uint16_t seed, char *out)
{
    uint8_t block[SHA_CBLOCK] = { 0 };
    uint32_t h[5];

    community_id_sha1(block, community_id_input(r, seed, block), h);
    out[0] = '1';
    out[1] = ':';
    community_id_base64(h, out + 2);
    return COMMUNITY_ID_TEXT_LEN;
}

void community_id_of_record(const struct flow_record *r, uint16_t seed, char out[COMMUNITY_ID_LEN])
{
    out[community_id_format(r, seed, out)] = '\0';
}
