/*
 * test_community_id.c: Community ID v1 (corelight/community-id-spec)
 * against a second computation written here from the spec, hashed and
 * encoded by OpenSSL's one-shot SHA1() and EVP_EncodeBlock, on random IPv4
 * and IPv6 TCP/UDP/SCTP records and on protocols without ports.  netmoon
 * pads the one SHA-1 block and encodes base64 itself; this is its oracle.
 */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "output/community_id.h"
#include "testlib.h"

static uint64_t test_rand(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state ^ (*state >> 29);
}

/* The spec's hash input: seed, then the smaller address:port first. */
static void reference_id(const struct flow_record *r, uint16_t seed, char out[64])
{
    size_t off = r->ip_version == 4 ? 12 : 0, alen = 16 - off, n = 0;
    const uint8_t *a = r->addr[NM_DIR_SRC].b + off, *b = r->addr[NM_DIR_DST].b + off;
    uint16_t pa = r->port[NM_DIR_SRC], pb = r->port[NM_DIR_DST];
    bool ports = r->proto == 6 || r->proto == 17 || r->proto == 132;
    int c = memcmp(a, b, alen);
    uint8_t buf[64], digest[SHA_DIGEST_LENGTH];

    if (c > 0 || (c == 0 && ports && pa > pb)) {
        const uint8_t *t = a;
        a = b;
        b = t;
        uint16_t tp = pa;
        pa = pb;
        pb = tp;
    }
    buf[n++] = (uint8_t)(seed >> 8);
    buf[n++] = (uint8_t)seed;
    memcpy(buf + n, a, alen);
    n += alen;
    memcpy(buf + n, b, alen);
    n += alen;
    buf[n++] = r->proto;
    buf[n++] = 0;
    if (ports) {
        buf[n++] = (uint8_t)(pa >> 8);
        buf[n++] = (uint8_t)pa;
        buf[n++] = (uint8_t)(pb >> 8);
        buf[n++] = (uint8_t)pb;
    }
    SHA1(buf, n, digest);
    memcpy(out, "1:", 2);
    EVP_EncodeBlock((unsigned char *)out + 2, digest, SHA_DIGEST_LENGTH);
}

static void random_record(struct flow_record *r, uint64_t *state)
{
    static const uint8_t protos[] = { 6, 17, 132, 47, 50 };

    memset(r, 0, sizeof(*r));
    r->ip_version = test_rand(state) & 1 ? 4 : 6;
    r->proto = protos[test_rand(state) % sizeof(protos)];
    for (unsigned d = 0; d < 2; d++) {
        for (unsigned i = 0; i < 16; i++)
            r->addr[d].b[i] = (uint8_t)test_rand(state);
        r->port[d] = (uint16_t)test_rand(state);
    }
    /* Equal addresses sometimes, so the port order decides. */
    if (test_rand(state) % 8 == 0)
        r->addr[NM_DIR_DST] = r->addr[NM_DIR_SRC];
}

static void test_matches_reference(void)
{
    uint64_t state = 0x853c49e6748fea9bull;
    unsigned mismatches = 0;

    for (unsigned i = 0; i < 100000; i++) {
        struct flow_record r;
        char got[COMMUNITY_ID_LEN], want[64];
        uint16_t seed = i % 3 ? 0 : (uint16_t)test_rand(&state);
        random_record(&r, &state);
        community_id_of_record(&r, seed, got);
        reference_id(&r, seed, want);
        if (strcmp(got, want) != 0 && mismatches++ < 5)
            printf("# netmoon %s, reference %s\n", got, want);
    }
    CHECK_EQ_U(mismatches, 0);
}

/* The in-place form writes the same text, exactly COMMUNITY_ID_TEXT_LEN
 * bytes and nothing after them. */
static void test_format_in_place(void)
{
    uint64_t state = 7;
    struct flow_record r;
    char whole[COMMUNITY_ID_LEN], place[COMMUNITY_ID_TEXT_LEN + 4];

    random_record(&r, &state);
    memset(place, '#', sizeof(place));
    community_id_of_record(&r, 0, whole);
    CHECK_EQ_U(community_id_format(&r, 0, place), COMMUNITY_ID_TEXT_LEN);
    CHECK_EQ_U(strlen(whole), COMMUNITY_ID_TEXT_LEN);
    CHECK(memcmp(whole, place, COMMUNITY_ID_TEXT_LEN) == 0);
    CHECK(place[COMMUNITY_ID_TEXT_LEN] == '#');
}

int main(void)
{
    RUN(test_matches_reference);
    RUN(test_format_in_place);
    TESTLIB_EXIT();
}
