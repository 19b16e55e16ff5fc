/*
 * test_decode_fastpath.c: the one-pass decoder for the common frame
 * (src/decode/fastpath.c) against the layer-by-layer decoders.
 *
 * fastpath.c may decide nothing of its own: for every frame, decode_packet
 * (which tries it first) must leave exactly the packet and the counters
 * that decode_packet_general leaves.  The frames are every frame of the
 * shared corpora and the lab captures, then mutations of the frames the
 * fast path took: bytes of their headers overwritten with random and
 * boundary values and captures cut short, so that each of its conditions
 * is crossed both ways.
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/pcap_file.h"
#include "decode/decode.h"
#include "decode/decode_internal.h"
#include "testlib.h"

#define POOL_MAX 4096
#define POOL_BYTES 160
#define MUTATIONS 400000

struct pool_frame {
    uint8_t data[POOL_BYTES];
    uint32_t caplen, wirelen;
};

static struct pool_frame pool[POOL_MAX];
static unsigned pool_n;

struct tally {
    unsigned long frames, fast, mismatches, files;
};

static struct tally corpus, lab_http;

static struct decode_ctx ctx_fast, ctx_general;

static bool same_counters(void)
{
    return memcmp(&ctx_fast.stats, &ctx_general.stats, sizeof ctx_fast.stats) == 0 &&
           ctx_fast.problems == ctx_general.problems;
}

/* Decodes frame both ways; true when they agree. */
static bool decode_both_agree(const struct nm_frame *frame)
{
    struct nm_packet a, b;
    bool ra = decode_packet(&ctx_fast, frame, &a);
    bool rb = decode_packet_general(&ctx_general, frame, &b);
    return ra == rb && memcmp(&a, &b, sizeof a) == 0 && same_counters();
}

static bool fast_takes(const struct nm_frame *frame)
{
    struct decode_ctx scratch;
    struct nm_packet p;

    decode_ctx_init(&scratch, NULL);
    memset(&p, 0, sizeof p);
    return decode_fast_frame(&scratch, frame, &p);
}

static void pool_keep(const struct nm_frame *frame)
{
    if (pool_n >= POOL_MAX || frame->caplen > POOL_BYTES)
        return;
    memcpy(pool[pool_n].data, frame->data, frame->caplen);
    pool[pool_n].caplen = frame->caplen;
    pool[pool_n].wirelen = frame->wirelen;
    pool_n++;
}

static void compare_file(const char *path, struct tally *t)
{
    char err[256];
    struct pcap_file *f = pcap_file_open(path, err, sizeof err);
    struct nm_frame frame;

    if (!f)
        return;
    t->files++;
    while (pcap_file_next(f, &frame) == PCAP_FILE_FRAME) {
        t->frames++;
        bool fast = fast_takes(&frame);
        t->fast += fast;
        if (fast && t->frames % 3 == 0)
            pool_keep(&frame);
        if (!decode_both_agree(&frame)) {
            if (t->mismatches++ < 5)
                printf("  mismatch: %s frame %lu\n", path, t->frames);
        }
    }
    pcap_file_close(f);
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    size_t n = strlen(path);
    if (type == FTW_F && ((n > 5 && strcmp(path + n - 5, ".pcap") == 0) ||
                          (n > 7 && strcmp(path + n - 7, ".pcapng") == 0) ||
                          (n > 4 && strcmp(path + n - 4, ".cap") == 0)))
        compare_file(path, &corpus);
    return 0;
}

static void test_corpora_agree(void)
{
    const char *shared = getenv("SHARED_PCAPS");

    decode_ctx_init(&ctx_fast, NULL);
    decode_ctx_init(&ctx_general, NULL);
    nftw(shared && *shared ? shared : "../shared/pcaps", visit, 16, FTW_PHYS);
    nftw("tests/data/lab", visit, 16, FTW_PHYS);
    printf("  %lu files, %lu frames, %lu by the fast path, %lu mismatches\n", corpus.files,
           corpus.frames, corpus.fast, corpus.mismatches);
    CHECK(corpus.files > 10);
    CHECK(corpus.fast > 1000);
    CHECK_EQ_U(corpus.mismatches, 0);
}

/* Real client/server traffic (curl against nginx): nearly all of it is
 * the shape the fast path exists for, so nearly all must take it. */
static void test_lab_http_mostly_fast(void)
{
    compare_file("tests/data/lab/http.pcap", &lab_http);
    CHECK(lab_http.frames > 20);
    CHECK(lab_http.fast * 10 >= lab_http.frames * 9);
    CHECK_EQ_U(lab_http.mismatches, 0);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* Values that sit on the fast path's conditions: versions, header
 * lengths, option kinds, tunnel and Teredo ports, zero and all ones. */
static uint8_t boundary_byte(void)
{
    static const uint8_t v[] = { 0x00, 0xFF, 0x45, 0x46, 0x44, 0x60, 0x50, 0x80, 0x81, 0x86,
                                 0xDD, 0x08, 0x0A, 0x01, 0x02, 0x05, 0x06, 0x11, 0x12, 0x14,
                                 0x20, 0x28, 0x2C, 0x3B, 0x12, 0xB5, 0x17, 0xC1, 0x0D, 0xD8 };
    return v[rng() % sizeof v];
}

static void mutate(uint8_t *d, uint32_t *caplen)
{
    unsigned edits = 1 + rng() % 3;
    for (unsigned e = 0; e < edits && *caplen > 0; e++) {
        uint32_t at = rng() % (*caplen < 100 ? *caplen : 100);
        switch (rng() % 5) {
        case 0: d[at] = (uint8_t)rng(); break;
        case 1: d[at] = boundary_byte(); break;
        case 2: d[at] ^= (uint8_t)(1u << (rng() % 8)); break;
        /* Lengths one or two off: the edges of every length check. */
        case 3: d[at] = (uint8_t)(d[at] + rng() % 5 - 2); break;
        default: *caplen = rng() % (*caplen + 1); break;
        }
    }
}

static void test_mutations_agree(void)
{
    unsigned long mismatches = 0, still_fast = 0;

    CHECK(pool_n > 100);
    for (unsigned long i = 0; pool_n && i < MUTATIONS; i++) {
        uint8_t buf[POOL_BYTES];
        const struct pool_frame *src = &pool[rng() % pool_n];
        struct nm_frame frame = { 0 };
        memcpy(buf, src->data, src->caplen);
        frame.caplen = src->caplen;
        mutate(buf, &frame.caplen);
        frame.data = buf;
        frame.wirelen = src->wirelen;
        frame.linktype = NM_LINKTYPE_ETHERNET;
        frame.ts_us = i;
        still_fast += fast_takes(&frame);
        if (!decode_both_agree(&frame) && mismatches++ < 5)
            printf("  mutation %lu differs\n", i);
    }
    printf("  %d mutations, %lu still on the fast path, %lu mismatches\n", MUTATIONS, still_fast,
           mismatches);
    /* Both outcomes must be common, or the conditions were not crossed. */
    CHECK(still_fast > MUTATIONS / 10);
    CHECK(still_fast < MUTATIONS * 9 / 10);
    CHECK_EQ_U(mismatches, 0);
}

int main(void)
{
    RUN(test_corpora_agree);
    RUN(test_lab_http_mostly_fast);
    RUN(test_mutations_agree);
    TESTLIB_EXIT();
}
