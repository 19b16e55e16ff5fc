/*
 * fuzz_reassembly.c: libFuzzer target for TCP reassembly
 * (src/analyze/reassembly.c) driven by a sequence of operations on two
 * directions that share a deliberately small pool (so both caps are hit).
 *
 * Input: records of 5 bytes
 *     u8 op, u16 offset (big-endian), u16 length
 * op & 1 picks the direction; op >> 1 modulo 4: a segment of `length`
 * (at most 4000) bytes at stream offset `offset`, an ACK up to `offset`,
 * a FIN at `offset`, or a release.  Every segment carries the stream's
 * true bytes (a function of the offset), so whatever comes out must be
 * exactly those bytes, in order, each position at most once.
 */
#include <string.h>

#include "analyze/reassembly.h"
#include "fuzz.h"

#define FZ_ISN 0xffff0000u   /* the stream wraps the sequence space */
#define FZ_POOL_CHUNKS 24u

struct fz_sink {
    uint64_t pos;            /* stream offset of the next byte delivered */
    bool released;
};

static uint8_t fz_byte(uint64_t off)
{
    return (uint8_t)(off * 7u + (off >> 9));
}

static void fz_deliver(void *user, const uint8_t *data, size_t len, uint32_t gap)
{
    struct fz_sink *s = user;

    FUZZ_ASSERT(len > 0 || gap > 0, "empty delivery");
    s->pos += gap;
    for (size_t i = 0; i < len; i++)
        FUZZ_ASSERT(data[i] == fz_byte(s->pos + i), "byte %zu of a delivery at %llu is wrong",
                    i, (unsigned long long)s->pos);
    s->pos += len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t seg[4000];
    struct reasm_pool *p = reasm_pool_create(FZ_POOL_CHUNKS);
    struct reasm_dir d[2];
    struct fz_sink s[2];

    if (!p)
        return 0;
    memset(s, 0, sizeof(s));
    for (int i = 0; i < 2; i++) {
        reasm_dir_init(&d[i]);
        reasm_dir_start(&d[i], FZ_ISN);
    }
    for (size_t at = 0; size - at >= 5; at += 5) {
        unsigned dir = data[at] & 1, op = (data[at] >> 1) & 3;
        uint32_t off = (uint32_t)data[at + 1] << 8 | data[at + 2];
        uint32_t len = ((uint32_t)data[at + 3] << 8 | data[at + 4]) % sizeof(seg);
        if (s[dir].released)
            continue;
        switch (op) {
        case 0:
            for (uint32_t i = 0; i < len; i++)
                seg[i] = fz_byte(off + i);
            reasm_dir_segment(p, &d[dir], FZ_ISN + off, seg, len, fz_deliver, &s[dir]);
            break;
        case 1:
            reasm_dir_ack(p, &d[dir], FZ_ISN + off, fz_deliver, &s[dir]);
            break;
        case 2:
            reasm_dir_fin(&d[dir], FZ_ISN + off);
            break;
        default:
            reasm_dir_release(p, &d[dir]);
            s[dir].released = true;
            break;
        }
        FUZZ_ASSERT(reasm_pool_stats(p)->chunks_in_use <= FZ_POOL_CHUNKS, "pool overrun");
        FUZZ_ASSERT(d[dir].ooo_chunks <= REASM_DIR_MAX_CHUNKS, "direction cap overrun");
        FUZZ_ASSERT((uint32_t)(d[dir].next_seq - FZ_ISN) == (uint32_t)s[dir].pos,
                    "next_seq and deliveries disagree");
    }
    for (int i = 0; i < 2; i++)
        if (!s[i].released)
            reasm_dir_flush(p, &d[i], fz_deliver, &s[i]);
    FUZZ_ASSERT(reasm_pool_stats(p)->chunks_in_use == 0, "chunks leaked");
    reasm_pool_destroy(p);
    return 0;
}
