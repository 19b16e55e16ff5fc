/*
 * test_reassembly.c: TCP reassembly (src/analyze/reassembly.h): segments in
 * every order, overlaps resolved first-wins, duplicates, sequence number
 * wrap-around, the per-direction and pool caps, gaps from ACKs and at the
 * end, and a randomised stream cut, shuffled and duplicated many ways that
 * must come out byte for byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/reassembly.h"
#include "testlib.h"

#define SINK_MAX (1u << 18)

/* What the callback saw: bytes placed at their stream offset, gaps
 * counted, and whether anything ever came out of order. */
struct sink {
    uint8_t buf[SINK_MAX];
    uint8_t seen[SINK_MAX];
    size_t pos;
    uint64_t gap_total;
    unsigned gap_calls;
    unsigned calls;
};

static void sink_deliver(void *user, const uint8_t *data, size_t len, uint32_t gap)
{
    struct sink *s = user;

    s->calls++;
    if (gap) {
        s->gap_total += gap;
        s->gap_calls++;
    }
    s->pos += gap;
    for (size_t i = 0; i < len && s->pos + i < SINK_MAX; i++) {
        s->buf[s->pos + i] = data[i];
        s->seen[s->pos + i]++;
    }
    s->pos += len;
}

static struct sink *sink_new(void)
{
    return calloc(1, sizeof(struct sink));
}

static void fill_pattern(uint8_t *p, size_t n, unsigned salt)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i * 131u + salt * 7u + (i >> 8)) & 0xff);
}

static void test_in_order(void)
{
    struct reasm_pool *p = reasm_pool_create(64);
    struct reasm_dir d;
    struct sink *s = sink_new();
    uint8_t data[3000];

    fill_pattern(data, sizeof(data), 1);
    reasm_dir_init(&d);
    reasm_dir_start(&d, 1001);
    for (size_t off = 0; off < sizeof(data); off += 1000)
        reasm_dir_segment(p, &d, 1001 + (uint32_t)off, data + off, 1000, sink_deliver, s);
    CHECK_EQ_U(s->pos, sizeof(data));
    CHECK(memcmp(s->buf, data, sizeof(data)) == 0);
    CHECK_EQ_U(reasm_pool_stats(p)->buffered_segments, 0);
    CHECK_EQ_U(reasm_pool_stats(p)->chunks_peak, 0);
    CHECK_EQ_U(d.next_seq, 1001 + 3000);
    free(s);
    reasm_pool_destroy(p);
}

/* Four segments of different sizes in all 24 orders. */
static void test_every_order(void)
{
    static const unsigned cut[5] = { 0, 7, 1500, 1501, 4000 };
    uint8_t data[4000];
    unsigned perm[4] = { 0, 1, 2, 3 };
    unsigned orders = 0, bad = 0;

    fill_pattern(data, sizeof(data), 2);
    /* Heap's algorithm, iteratively. */
    unsigned c[4] = { 0 };
    for (unsigned i = 0;;) {
        struct reasm_pool *p = reasm_pool_create(64);
        struct reasm_dir d;
        struct sink *s = sink_new();
        reasm_dir_init(&d);
        reasm_dir_start(&d, 0xfffff000u); /* wraps inside the stream */
        for (unsigned k = 0; k < 4; k++) {
            unsigned g = perm[k];
            reasm_dir_segment(p, &d, 0xfffff000u + cut[g], data + cut[g], cut[g + 1] - cut[g],
                              sink_deliver, s);
        }
        if (s->pos != sizeof(data) || memcmp(s->buf, data, sizeof(data)) != 0 ||
            reasm_pool_stats(p)->chunks_in_use != 0 || s->gap_calls != 0)
            bad++;
        orders++;
        free(s);
        reasm_pool_destroy(p);
        while (i < 4 && c[i] >= i) {
            c[i] = 0;
            i++;
        }
        if (i >= 4)
            break;
        unsigned a = (i % 2) ? c[i] : 0, t = perm[a];
        perm[a] = perm[i];
        perm[i] = t;
        c[i]++;
        i = 1;
    }
    CHECK_EQ_U(orders, 24);
    CHECK_EQ_U(bad, 0);
}

/* A later copy never replaces bytes already delivered or buffered. */
static void test_overlap_first_wins(void)
{
    struct reasm_pool *p = reasm_pool_create(64);
    struct reasm_dir d;
    struct sink *s = sink_new();

    reasm_dir_init(&d);
    reasm_dir_start(&d, 100);
    reasm_dir_segment(p, &d, 100, (const uint8_t *)"abcd", 4, sink_deliver, s);  /* 0..4 */
    reasm_dir_segment(p, &d, 108, (const uint8_t *)"IJKL", 4, sink_deliver, s);  /* 8..12 waits */
    /* Covers 2..14: "cd" delivered and "IJKL" buffered must win. */
    reasm_dir_segment(p, &d, 102, (const uint8_t *)"xxEFGHyyyyMN", 12, sink_deliver, s);
    CHECK_EQ_U(s->pos, 14);
    CHECK(memcmp(s->buf, "abcdEFGHIJKLMN", 14) == 0);
    CHECK_EQ_U(reasm_pool_stats(p)->overlap_bytes, 6);
    /* A full retransmission of old data changes nothing. */
    reasm_dir_segment(p, &d, 100, (const uint8_t *)"zzzzzzzzzzzzzz", 14, sink_deliver, s);
    CHECK_EQ_U(s->pos, 14);
    CHECK_EQ_U(reasm_pool_stats(p)->overlap_bytes, 20);
    /* Two waiting copies of one range: the first stays. */
    reasm_dir_segment(p, &d, 120, (const uint8_t *)"1111", 4, sink_deliver, s);
    reasm_dir_segment(p, &d, 118, (const uint8_t *)"22222222", 8, sink_deliver, s);
    reasm_dir_segment(p, &d, 114, (const uint8_t *)"3333", 4, sink_deliver, s);
    CHECK_EQ_U(s->pos, 26);
    CHECK(memcmp(s->buf + 14, "333322111122", 12) == 0);
    CHECK_EQ_U(reasm_pool_stats(p)->chunks_in_use, 0);
    free(s);
    reasm_pool_destroy(p);
}

/* The peer acknowledging bytes the capture never held makes gaps. */
static void test_ack_gap_and_fin(void)
{
    struct reasm_pool *p = reasm_pool_create(64);
    struct reasm_dir d;
    struct sink *s = sink_new();
    uint8_t data[40];

    fill_pattern(data, sizeof(data), 3);
    reasm_dir_init(&d);
    reasm_dir_start(&d, 1);
    reasm_dir_segment(p, &d, 1, data, 10, sink_deliver, s);
    reasm_dir_segment(p, &d, 21, data + 20, 10, sink_deliver, s);
    CHECK_EQ_U(s->pos, 10);
    reasm_dir_fin(&d, 41);
    reasm_dir_ack(p, &d, 42, sink_deliver, s);  /* the FIN's ack: 41 is not a byte */
    CHECK_EQ_U(s->pos, 40);
    CHECK_EQ_U(s->gap_total, 20);
    CHECK_EQ_U(s->gap_calls, 2);
    CHECK(memcmp(s->buf + 20, data + 20, 10) == 0);
    CHECK_EQ_U(d.gap_bytes, 20);
    CHECK_EQ_U(reasm_pool_stats(p)->gaps, 2);
    /* An old or absurd ACK does nothing. */
    reasm_dir_ack(p, &d, 5, sink_deliver, s);
    reasm_dir_ack(p, &d, 41 + (1u << 30), sink_deliver, s);
    CHECK_EQ_U(s->pos, 40);
    free(s);
    reasm_pool_destroy(p);
}

/* More waiting data than a direction may hold: refused bytes are counted
 * and the hole in front is given up, so the stream goes on. */
static void test_direction_cap(void)
{
    struct reasm_pool *p = reasm_pool_create(1024);
    struct reasm_dir d;
    struct sink *s = sink_new();
    enum { N = REASM_DIR_MAX_CHUNKS + 10 };
    static uint8_t data[(N + 1) * 100];

    fill_pattern(data, sizeof(data), 4);
    reasm_dir_init(&d);
    reasm_dir_start(&d, 0);
    /* Segment 0 is missing; 1..N arrive. */
    for (unsigned i = 1; i <= N; i++)
        reasm_dir_segment(p, &d, i * 100, data + i * 100, 100, sink_deliver, s);
    CHECK(reasm_pool_stats(p)->chunks_peak <= REASM_DIR_MAX_CHUNKS);
    CHECK_EQ_U(s->gap_total, 100);
    CHECK_EQ_U(s->pos, sizeof(data));
    CHECK(memcmp(s->buf + 100, data + 100, sizeof(data) - 100) == 0);
    CHECK_EQ_U(reasm_pool_stats(p)->refused_bytes, 0);
    /* The missing segment comes late: it is old data now. */
    reasm_dir_segment(p, &d, 0, data, 100, sink_deliver, s);
    CHECK_EQ_U(s->pos, sizeof(data));
    CHECK_EQ_U(reasm_pool_stats(p)->chunks_in_use, 0);
    free(s);
    reasm_pool_destroy(p);
}

/* Two directions share a pool of 3 chunks: the second is refused room,
 * counts it, and still makes progress. */
static void test_pool_cap(void)
{
    struct reasm_pool *p = reasm_pool_create(3);
    struct reasm_dir a, b;
    struct sink *sa = sink_new(), *sb = sink_new();
    uint8_t data[1000];

    fill_pattern(data, sizeof(data), 5);
    reasm_dir_init(&a);
    reasm_dir_init(&b);
    reasm_dir_start(&a, 0);
    reasm_dir_start(&b, 0);
    for (unsigned i = 1; i <= 3; i++)
        reasm_dir_segment(p, &a, i * 100, data + i * 100, 100, sink_deliver, sa);
    CHECK_EQ_U(reasm_pool_stats(p)->chunks_in_use, 3);
    reasm_dir_segment(p, &b, 500, data + 500, 100, sink_deliver, sb);
    CHECK_EQ_U(reasm_pool_stats(p)->refused_bytes, 100);
    CHECK_EQ_U(sb->pos, 0);
    reasm_dir_segment(p, &b, 0, data, 100, sink_deliver, sb);
    CHECK_EQ_U(sb->pos, 100);
    reasm_dir_release(p, &a);
    CHECK_EQ_U(reasm_pool_stats(p)->chunks_in_use, 0);
    reasm_dir_segment(p, &b, 200, data + 200, 100, sink_deliver, sb);
    reasm_dir_flush(p, &b, sink_deliver, sb);
    CHECK_EQ_U(sb->pos, 300);
    CHECK_EQ_U(sb->gap_total, 100);
    CHECK(memcmp(sb->buf + 200, data + 200, 100) == 0);
    CHECK_EQ_U(reasm_pool_stats(p)->chunks_in_use, 0);
    free(sa);
    free(sb);
    reasm_pool_destroy(p);
}

/* A segment larger than a chunk is split; a jumbo segment ahead of the
 * stream waits in several chunks. */
static void test_large_segment(void)
{
    struct reasm_pool *p = reasm_pool_create(64);
    struct reasm_dir d;
    struct sink *s = sink_new();
    static uint8_t data[9000 + 10];

    fill_pattern(data, sizeof(data), 6);
    reasm_dir_init(&d);
    reasm_dir_start(&d, 7);
    reasm_dir_segment(p, &d, 17, data + 10, 9000, sink_deliver, s);
    CHECK_EQ_U(reasm_pool_stats(p)->chunks_in_use, (9000 + REASM_CHUNK_DATA - 1) / REASM_CHUNK_DATA);
    reasm_dir_segment(p, &d, 7, data, 10, sink_deliver, s);
    CHECK_EQ_U(s->pos, sizeof(data));
    CHECK(memcmp(s->buf, data, sizeof(data)) == 0);
    CHECK_EQ_U(reasm_pool_stats(p)->chunks_in_use, 0);
    free(s);
    reasm_pool_destroy(p);
}

static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return rnd_state >> 8;
}

/* Random cuts, random order, random duplicates and overlapping resends,
 * always of the same bytes: the stream must come out exactly once. */
static void test_random_streams(void)
{
    enum { LEN = 20000, SEGS = 64 };
    static uint8_t data[LEN];
    unsigned bad = 0;

    fill_pattern(data, sizeof(data), 7);
    for (unsigned round = 0; round < 200; round++) {
        struct reasm_pool *p = reasm_pool_create(4096);
        struct reasm_dir d;
        struct sink *s = sink_new();
        uint32_t isn = rnd() * 977u;
        struct { uint32_t off, len; } seg[SEGS * 2];
        unsigned n = 0;
        for (uint32_t off = 0; off < LEN && n < SEGS;) {
            uint32_t len = 1 + rnd() % 1400;
            if (off + len > LEN || n == SEGS - 1)
                len = LEN - off;
            seg[n].off = off;
            seg[n].len = len;
            n++;
            off += len;
        }
        /* Overlapping resends. */
        for (unsigned k = 0; k < SEGS / 2; k++) {
            uint32_t off = rnd() % LEN, len = 1 + rnd() % 3000;
            seg[n].off = off;
            seg[n].len = off + len > LEN ? LEN - off : len;
            n++;
        }
        for (unsigned k = n - 1; k > 0; k--) {
            unsigned j = rnd() % (k + 1);
            uint32_t o = seg[k].off, l = seg[k].len;
            seg[k] = seg[j];
            seg[j].off = o;
            seg[j].len = l;
        }
        reasm_dir_init(&d);
        reasm_dir_start(&d, isn);
        for (unsigned k = 0; k < n; k++)
            reasm_dir_segment(p, &d, isn + seg[k].off, data + seg[k].off, seg[k].len,
                              sink_deliver, s);
        bool dup = false;
        for (unsigned k = 0; k < LEN; k++)
            dup |= s->seen[k] != 1;
        if (s->pos != LEN || memcmp(s->buf, data, LEN) != 0 || dup || s->gap_calls ||
            reasm_pool_stats(p)->chunks_in_use != 0 || d.next_seq != isn + LEN)
            bad++;
        free(s);
        reasm_pool_destroy(p);
    }
    CHECK_EQ_U(bad, 0);
}

/* Mid-stream pickup: the first segment seen sets the start. */
static void test_start_at_first_segment(void)
{
    struct reasm_pool *p = reasm_pool_create(8);
    struct reasm_dir d;
    struct sink *s = sink_new();

    reasm_dir_init(&d);
    reasm_dir_segment(p, &d, 5000, (const uint8_t *)"hello", 5, sink_deliver, s);
    reasm_dir_segment(p, &d, 5005, (const uint8_t *)" you", 4, sink_deliver, s);
    CHECK_EQ_U(s->pos, 9);
    CHECK(memcmp(s->buf, "hello you", 9) == 0);
    /* Far ahead: not believed. */
    reasm_dir_segment(p, &d, 5009 + REASM_MAX_AHEAD + 1, (const uint8_t *)"x", 1, sink_deliver, s);
    CHECK_EQ_U(reasm_pool_stats(p)->out_of_window, 1);
    CHECK_EQ_U(reasm_pool_stats(p)->chunks_in_use, 0);
    free(s);
    reasm_pool_destroy(p);
}

int main(void)
{
    RUN(test_in_order);
    RUN(test_every_order);
    RUN(test_overlap_first_wins);
    RUN(test_ack_gap_and_fin);
    RUN(test_direction_cap);
    RUN(test_pool_cap);
    RUN(test_large_segment);
    RUN(test_random_streams);
    RUN(test_start_at_first_segment);
    TESTLIB_EXIT();
}
