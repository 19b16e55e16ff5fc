/*
 * reassembly.c: TCP stream reassembly per direction (RFC 9293 §3.4 sequence
 * space, §3.10.7.4 queueing of out-of-order segments).  Policies, caps and
 * what is counted are described in reassembly.h.
 *
 * Waiting data sits in fixed-size chunks linked in sequence order; chunks
 * never overlap each other or the delivered part of the stream, which is
 * what makes the first-wins policy a simple trim on insertion.
 */
#include "analyze/reassembly.h"
#include "common/hugemem.h"
#include "common/tcp_seq.h"

#include <stdlib.h>
#include <string.h>

struct reasm_chunk {
    uint32_t seq;
    uint32_t next;             /* index + 1 of the next chunk, 0: end */
    uint16_t len;
    uint8_t data[REASM_CHUNK_DATA];
};

struct reasm_pool {
    struct reasm_chunk *chunks;
    uint32_t capacity;
    uint32_t fresh;            /* chunks[fresh..] never used */
    uint32_t free_head;        /* index + 1, 0: none */
    struct reasm_stats stats;
};

struct reasm_pool *reasm_pool_create(uint32_t capacity)
{
    struct reasm_pool *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->capacity = capacity;
    p->chunks = hugemem_calloc_plain(capacity ? capacity : 1, sizeof(*p->chunks));
    if (!p->chunks) {
        free(p);
        return NULL;
    }
    return p;
}

void reasm_pool_destroy(struct reasm_pool *p)
{
    if (!p)
        return;
    hugemem_free(p->chunks);
    free(p);
}

const struct reasm_stats *reasm_pool_stats(const struct reasm_pool *p)
{
    return &p->stats;
}

static uint32_t reasm_chunk_alloc(struct reasm_pool *p)
{
    uint32_t h;

    if (p->free_head) {
        h = p->free_head;
        p->free_head = p->chunks[h - 1].next;
    } else if (p->fresh < p->capacity) {
        h = ++p->fresh;
    } else {
        return 0;
    }
    if (++p->stats.chunks_in_use > p->stats.chunks_peak)
        p->stats.chunks_peak = p->stats.chunks_in_use;
    return h;
}

static void reasm_chunk_free(struct reasm_pool *p, uint32_t h)
{
    p->chunks[h - 1].next = p->free_head;
    p->free_head = h;
    p->stats.chunks_in_use--;
}

void reasm_dir_init(struct reasm_dir *d)
{
    memset(d, 0, sizeof(*d));
}

void reasm_dir_start(struct reasm_dir *d, uint32_t seq)
{
    if (d->started)
        return;
    d->next_seq = seq;
    d->started = true;
}

void reasm_dir_fin(struct reasm_dir *d, uint32_t seq)
{
    d->fin_seq = seq;
    d->has_fin = true;
}

static void reasm_deliver(struct reasm_pool *p, struct reasm_dir *d, const uint8_t *data,
                          size_t len, uint32_t gap, reasm_deliver_fn *fn, void *user)
{
    if (gap) {
        p->stats.gaps++;
        p->stats.gap_bytes += gap;
        d->gap_bytes += gap;
    }
    d->next_seq += (uint32_t)len + gap;
    fn(user, data, len, gap);
}

/* Hands over every waiting chunk that is now in order. */
static void reasm_drain(struct reasm_pool *p, struct reasm_dir *d, reasm_deliver_fn *fn, void *user)
{
    while (d->ooo_head && p->chunks[d->ooo_head - 1].seq == d->next_seq) {
        uint32_t h = d->ooo_head;
        struct reasm_chunk *c = &p->chunks[h - 1];
        d->ooo_head = c->next;
        d->ooo_chunks--;
        reasm_deliver(p, d, c->data, c->len, 0, fn, user);
        reasm_chunk_free(p, h);
    }
}

/* Gives up the hole in front of the first waiting chunk. */
static void reasm_skip_hole(struct reasm_pool *p, struct reasm_dir *d, reasm_deliver_fn *fn,
                            void *user)
{
    if (!d->ooo_head)
        return;
    struct reasm_chunk *c = &p->chunks[d->ooo_head - 1];
    uint32_t gap = c->seq - d->next_seq;
    d->ooo_head = c->next;
    d->ooo_chunks--;
    reasm_deliver(p, d, c->data, c->len, gap, fn, user);
    reasm_chunk_free(p, (uint32_t)(c - p->chunks) + 1);
    reasm_drain(p, d, fn, user);
}

/* Stores [seq, seq+len) as chunks after link *at (sorted position).
 * Returns the bytes that found no room. */
static size_t reasm_store(struct reasm_pool *p, struct reasm_dir *d, uint32_t *at, uint32_t seq,
                          const uint8_t *data, size_t len)
{
    while (len) {
        uint32_t h = d->ooo_chunks < REASM_DIR_MAX_CHUNKS ? reasm_chunk_alloc(p) : 0;
        if (!h)
            return len;
        struct reasm_chunk *c = &p->chunks[h - 1];
        size_t n = len < REASM_CHUNK_DATA ? len : REASM_CHUNK_DATA;
        c->seq = seq;
        c->len = (uint16_t)n;
        memcpy(c->data, data, n);
        c->next = *at;
        *at = h;
        at = &c->next;
        d->ooo_chunks++;
        seq += (uint32_t)n;
        data += n;
        len -= n;
    }
    return 0;
}

/* Places a segment that starts at or after next_seq among the waiting
 * chunks: parts already covered are dropped (first wins), a part starting
 * at next_seq is delivered without a copy, the rest is stored. */
static size_t reasm_place(struct reasm_pool *p, struct reasm_dir *d, uint32_t seq,
                          const uint8_t *data, size_t len, reasm_deliver_fn *fn, void *user)
{
    uint32_t *at = &d->ooo_head;
    uint32_t end = seq + (uint32_t)len;
    size_t refused = 0;

    while (tcp_seq_lt(seq, end)) {
        struct reasm_chunk *c = *at ? &p->chunks[*at - 1] : NULL;
        uint32_t c_end = c ? c->seq + c->len : 0;
        if (c && tcp_seq_le(c_end, seq)) {
            at = &c->next;
            continue;
        }
        if (c && tcp_seq_le(c->seq, seq)) {
            /* Covered by an earlier copy. */
            uint32_t n = (tcp_seq_lt(c_end, end) ? c_end : end) - seq;
            p->stats.overlap_bytes += n;
            data += n;
            seq += n;
            at = &c->next;
            continue;
        }
        uint32_t piece_end = (c && tcp_seq_lt(c->seq, end)) ? c->seq : end;
        size_t n = piece_end - seq;
        if (seq == d->next_seq) {
            reasm_deliver(p, d, data, n, 0, fn, user);
        } else {
            p->stats.buffered_segments++;
            refused += reasm_store(p, d, at, seq, data, n);
            while (*at && p->chunks[*at - 1].seq != piece_end &&
                   tcp_seq_lt(p->chunks[*at - 1].seq, piece_end))
                at = &p->chunks[*at - 1].next;
        }
        data += n;
        seq = piece_end;
    }
    return refused;
}

static void reasm_segment_once(struct reasm_pool *p, struct reasm_dir *d, uint32_t seq,
                               const uint8_t *data, size_t len, reasm_deliver_fn *fn, void *user,
                               bool may_skip)
{
    if (tcp_seq_lt(seq, d->next_seq)) {
        uint32_t old = d->next_seq - seq;
        if (old >= len) {
            p->stats.overlap_bytes += len;
            return;
        }
        p->stats.overlap_bytes += old;
        seq += old;
        data += old;
        len -= old;
    }
    if (seq - d->next_seq > REASM_MAX_AHEAD) {
        p->stats.out_of_window++;
        return;
    }
    size_t refused = reasm_place(p, d, seq, data, len, fn, user);
    reasm_drain(p, d, fn, user);
    if (!refused)
        return;
    if (!may_skip || !d->ooo_head) {
        p->stats.refused_bytes += refused;
        return;
    }
    /* No room: the hole in front will not be waited for any longer, which
     * frees chunks; the segment then gets one more try. */
    reasm_skip_hole(p, d, fn, user);
    reasm_segment_once(p, d, seq, data, len, fn, user, false);
}

void reasm_dir_segment(struct reasm_pool *p, struct reasm_dir *d, uint32_t seq,
                       const uint8_t *data, size_t len, reasm_deliver_fn *fn, void *user)
{
    if (len == 0)
        return;
    if (!d->started)
        reasm_dir_start(d, seq);
    reasm_segment_once(p, d, seq, data, len, fn, user, true);
}

void reasm_dir_ack(struct reasm_pool *p, struct reasm_dir *d, uint32_t ack,
                   reasm_deliver_fn *fn, void *user)
{
    if (!d->started)
        return;
    if (d->has_fin && tcp_seq_lt(d->fin_seq, ack))
        ack = d->fin_seq;
    if (!tcp_seq_lt(d->next_seq, ack) || ack - d->next_seq > REASM_MAX_AHEAD)
        return;
    while (tcp_seq_lt(d->next_seq, ack)) {
        if (d->ooo_head && tcp_seq_lt(p->chunks[d->ooo_head - 1].seq, ack)) {
            reasm_skip_hole(p, d, fn, user);
        } else {
            reasm_deliver(p, d, NULL, 0, ack - d->next_seq, fn, user);
            reasm_drain(p, d, fn, user);
        }
    }
}

void reasm_dir_flush(struct reasm_pool *p, struct reasm_dir *d, reasm_deliver_fn *fn, void *user)
{
    while (d->ooo_head)
        reasm_skip_hole(p, d, fn, user);
}

void reasm_dir_release(struct reasm_pool *p, struct reasm_dir *d)
{
    while (d->ooo_head) {
        uint32_t h = d->ooo_head;
        d->ooo_head = p->chunks[h - 1].next;
        reasm_chunk_free(p, h);
    }
    d->ooo_chunks = 0;
}
