/*
 * test_tcp_pending.c: the TCP analysis pool's compact (byte-coded) form of
 * a flow's first segments.  Whatever the coding predicts or does not, the
 * analysis the pool gives back (its replay of the kept segments, or the
 * full analysis it moved to) must equal, byte for byte, the analysis of
 * each segment as it came; the oracle is tcp_analysis_packet itself.
 * Conversations are generated around handshakes, where the predictions
 * hold, and then broken in the ways the coding must survive: sequence and
 * TSval wrap, time gaps beyond 32 bits of µs and time going back, times
 * near 2^64 µs, absent timestamps and window scale, RST and FIN among the
 * first segments, either side (or both) starting, and numbers that match
 * no prediction.  The compact form counts times from the flow's
 * first-packet time, which the caller keeps: the conversations keep it as
 * the flow table does, including a first packet that is no TCP segment, a
 * packet stamped before it and an --active-timeout interim record resetting
 * it.  The prediction state the pool keeps between segments is checked
 * against decoding them all again.
 */
#include <string.h>

#include "analyze/tcp_analysis.h"
#include "testlib.h"

#define SYN NM_TCP_SYN
#define ACK NM_TCP_ACK
#define FIN NM_TCP_FIN
#define RST NM_TCP_RST
#define PENDING_BIT 0x80000000u   /* handles of flows still in compact form */
#define WIDE_BIT 0x40000000u      /* ... in its larger size */

/* Bytes of the form a handle names: 32 or 40 for the compact form's two
 * sizes, 0 for the full analysis. */
static unsigned form_of(uint32_t h)
{
    return !(h & PENDING_BIT) ? 0 : (h & WIDE_BIT) ? 40 : 32;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 20) % n;
}

static uint32_t rnd32(void)
{
    return rnd(1u << 16) << 16 | rnd(1u << 16);
}

/* One endpoint of a generated conversation. */
struct peer {
    uint32_t next;      /* its next sequence number */
    uint32_t ts_val;
    bool ts, ws;
    uint8_t wscale;
};

struct convo {
    struct tcp_analysis direct;
    struct tcp_analysis_pool *pool;
    uint32_t handle;
    struct peer peer[2];
    unsigned src;
    uint64_t t;
    uint64_t first;     /* the flow's first-packet time, as the flow table keeps it */
    bool started;       /* first is set */
};

/* A new conversation in pool slot `handle` (already taken). */
static void convo_start_in(struct convo *c, uint32_t handle)
{
    tcp_analysis_init(&c->direct);
    c->handle = handle;
    c->src = rnd(2);
    c->started = false;
    /* Mostly today's times; some tiny, some past 2^56 µs (where times once
     * did not fit the compact form) and some near 2^64. */
    switch (rnd(16)) {
    case 0: case 1: case 2: c->t = rnd32(); break;
    case 3: c->t = (1ull << 56) - rnd(300000); break;
    case 4: c->t = UINT64_MAX - (1ull << 40); break;
    default: c->t = 1700000000000000ull + rnd32(); break;
    }
    for (unsigned s = 0; s < 2; s++) {
        struct peer *p = &c->peer[s];
        /* A quarter start just below the wrap of sequence or TSval space. */
        p->next = rnd(4) ? rnd32() : 0xffffffffu - rnd(3);
        p->ts_val = rnd(4) ? rnd32() : 0xffffffffu - rnd(3);
        p->ts = rnd(3) != 0;
        p->ws = rnd(3) != 0;
        p->wscale = (uint8_t)(rnd(8) ? rnd(15) : 255);
    }
}

static void convo_start(struct convo *c)
{
    convo_start_in(c, tcp_analysis_alloc(c->pool));
}

/* The flow table's first-packet time after a packet at ts: set by the
 * first, lowered by an earlier one, and now and then reset to ts by an
 * interim record; the pool is told before either
 * change, as flow_set_ts_first does. */
static void convo_first_time(struct convo *c, uint64_t ts)
{
    if (!c->started) {
        c->first = ts;
        c->started = true;
    } else if (ts < c->first || rnd(24) == 0) {
        c->handle = tcp_analysis_pool_rebase(c->pool, c->handle, c->first, ts);
        c->first = ts;
    }
}

/* The pool's analysis of the conversation must be the direct one. */
static void convo_check(struct convo *c)
{
    struct tcp_analysis scratch;
    const struct tcp_analysis *view = tcp_analysis_pool_view(c->pool, c->handle, c->first, &scratch);

    CHECK(view != NULL && memcmp(view, &c->direct, sizeof(c->direct)) == 0);
    /* A wrong kept state only costs bytes (the coder says which fields it
     * predicted), so it is checked against decoding everything again. */
    CHECK(tcp_analysis_pool_state_consistent(c->pool, c->handle));
}

/* Sends a segment from side s as a well-behaved stack would, then maybe
 * breaks one of its numbers; both analyses take it and must agree. */
static void convo_send(struct convo *c, unsigned s, uint8_t flags, uint32_t len)
{
    struct peer *me = &c->peer[s], *other = &c->peer[s ^ 1];
    struct nm_packet pk;

    memset(&pk, 0, sizeof(pk));
    pk.has_tcp = true;
    pk.tcp_flags = flags;
    pk.tcp_seq = me->next;
    pk.tcp_ack = (flags & ACK) ? other->next : 0;
    pk.payload_wire_len = len;
    pk.tcp_win = (uint16_t)(rnd(4) ? 64240 : rnd(65536));
    if (me->ts) {
        me->ts_val += rnd(4) ? rnd(3) : rnd32();
        pk.tcp_has_ts = true;
        pk.tcp_ts_val = me->ts_val;
        pk.tcp_ts_ecr = other->ts ? other->ts_val : 0;
    }
    if (me->ws && (flags & SYN)) {
        pk.tcp_has_wscale = true;
        pk.tcp_wscale = me->wscale;
    }
    switch (rnd(12)) {
    case 0: pk.tcp_seq += rnd32(); break;
    case 1: pk.tcp_ack = rnd32(); break;
    case 2: pk.tcp_ts_ecr = rnd32(); break;
    case 3: pk.tcp_seq -= 1 + rnd(2); break;
    default: break;
    }
    /* Mostly a round trip's worth; sometimes hours (beyond 32 bits of µs),
     * sometimes back in time. */
    switch (rnd(16)) {
    case 0: c->t += (1ull << 32 | rnd32()) << rnd(12); break;
    case 1: c->t -= rnd(100000); break;
    default: c->t += rnd(4) ? rnd(300000) : rnd32(); break;
    }
    pk.ts_us = c->t;
    /* Some flows start with a protocol-6 packet that had no room for a
     * TCP header, a little before this segment. */
    if (!c->started && rnd(8) == 0)
        convo_first_time(c, c->t - 1 - rnd(1000));
    convo_first_time(c, c->t);
    me->next = pk.tcp_seq + len + ((flags & SYN) ? 1 : 0) + ((flags & FIN) ? 1 : 0);
    if (rnd(8) == 0)
        c->src = s;   /* the flow table may learn the initiator late */

    tcp_analysis_packet(&c->direct, &pk, s, c->src);
    c->handle = tcp_analysis_pool_packet(c->pool, c->handle, c->first, &pk, s, c->src);
    convo_check(c);
}

static uint32_t small_len(void)
{
    switch (rnd(4)) {
    case 0: return 1 + rnd(1460);
    case 1: return rnd(2) ? 70000 : 0xffffffffu - rnd(1000);
    default: return 0;
    }
}

/* The first few segments of one conversation, by script. */
static void convo_script(struct convo *c, unsigned script)
{
    unsigned a = rnd(2), b = a ^ 1;

    switch (script) {
    case 0:   /* handshake, then data */
        convo_send(c, a, SYN, 0);
        convo_send(c, b, SYN | ACK, 0);
        convo_send(c, a, ACK, 0);
        convo_send(c, a, ACK, small_len());
        convo_send(c, b, ACK, 0);
        break;
    case 1:   /* refused */
        convo_send(c, a, SYN, 0);
        convo_send(c, b, RST | ACK, 0);
        convo_send(c, a, SYN, 0);
        break;
    case 2:   /* simultaneous open: both sides start */
        convo_send(c, a, SYN, 0);
        convo_send(c, b, SYN, 0);
        convo_send(c, a, SYN | ACK, 0);
        convo_send(c, b, SYN | ACK, 0);
        break;
    case 3:   /* FIN and RST among the first segments */
        convo_send(c, a, SYN, 0);
        convo_send(c, b, SYN | ACK, 0);
        convo_send(c, a, FIN | ACK, small_len());
        convo_send(c, b, RST, 0);
        break;
    case 4:   /* picked up mid-stream: no SYN at all */
        convo_send(c, a, ACK, small_len());
        convo_send(c, b, ACK, small_len());
        convo_send(c, a, FIN | ACK, 0);
        break;
    default:  /* any flags, any lengths */
        for (unsigned k = 0, n = 1 + rnd(5); k < n; k++)
            convo_send(c, rnd(2), (uint8_t)rnd(256), small_len());
        break;
    }
}

/* A pool of `capacity` in which every flow starts compact; NULL (a failed
 * check) if it cannot be made. */
static struct tcp_analysis_pool *compact_pool(uint32_t capacity)
{
    struct tcp_analysis_pool *p = tcp_analysis_pool_create(capacity);

    CHECK(p != NULL);
    if (p)
        tcp_analysis_pool_set_direct_budget(p, 0);
    return p;
}

static void test_compact_equals_direct(void)
{
    struct convo c;

    memset(&c, 0, sizeof(c));
    c.pool = compact_pool(4);
    for (unsigned trial = 0; trial < 40000 && c.pool; trial++) {
        convo_start(&c);
        convo_script(&c, rnd(6));
        tcp_analysis_release(c.pool, c.handle);
    }
    tcp_analysis_pool_destroy(c.pool);
}

/* Flows of both sizes in neighbouring slots, their segments interleaved
 * at random, each a handshake and then anything: no flow's code, kept
 * state or move to the larger size may touch another's, so every flow is
 * checked after each segment of any. */
static void test_neighbours_interleaved(void)
{
    enum { FLOWS = 16 };
    static struct convo c[FLOWS];
    unsigned sent[FLOWS] = { 0 }, last[FLOWS], opener[FLOWS];
    struct tcp_analysis_pool *pool = compact_pool(FLOWS);
    static const uint8_t opening[3] = { SYN, SYN | ACK, ACK };

    if (!pool)
        return;
    for (unsigned f = 0; f < FLOWS; f++) {
        c[f].pool = pool;
        convo_start(&c[f]);
        last[f] = 1 + rnd(5);
        opener[f] = rnd(2);
    }
    for (unsigned step = 0; step < 20000; step++) {
        unsigned f = rnd(FLOWS), k = sent[f]++;
        if (k < 3)
            convo_send(&c[f], opener[f] ^ (k & 1), opening[k], k == 2 ? small_len() : 0);
        else
            convo_send(&c[f], rnd(2), (uint8_t)rnd(256), small_len());
        if (sent[f] == last[f]) {
            tcp_analysis_release(pool, c[f].handle);
            convo_start(&c[f]);
            sent[f] = 0;
            last[f] = 1 + rnd(5);
            opener[f] = rnd(2);
        }
        for (unsigned g = 0; g < FLOWS; g++)
            if (sent[g])
                convo_check(&c[g]);
    }
    tcp_analysis_pool_destroy(pool);
}

/* Two flows whose slots share an entry of the pool's prediction cache
 * (slots 0 and 2048 of one size, in a pool larger than its 2048 entries),
 * their segments interleaved: each segment after the first finds the
 * other flow's state in the entry and must rebuild its own from the code.
 * In a busy table this is the common case; one flow at a time never meets
 * it.  All the SYNs go first, in slot order, so that with timestamps on
 * them, which moves each flow to the larger size, the flows take the
 * larger size's slots in the same order. */
static void cache_shared(bool syn_ts)
{
    enum { CACHE = 2048, SLOTS = 2 * CACHE };
    static struct convo c[SLOTS];
    static unsigned opener[SLOTS];
    struct tcp_analysis_pool *pool = compact_pool(SLOTS);
    static const uint8_t flags[3] = { SYN, SYN | ACK, ACK };

    if (!pool)
        return;
    /* Fresh slots are taken in order: slot i has handle i + 1. */
    for (unsigned i = 0; i < SLOTS; i++) {
        c[i].pool = pool;
        c[i].handle = tcp_analysis_alloc(pool);
        CHECK_EQ_U(c[i].handle, (i + 1) | PENDING_BIT);
    }
    for (unsigned i = 0; i < SLOTS; i++) {
        convo_start_in(&c[i], c[i].handle);
        opener[i] = rnd(2);
        c[i].peer[opener[i]].ts = syn_ts;
        convo_send(&c[i], opener[i], SYN, 0);
        CHECK_EQ_U(c[i].handle, (i + 1) | PENDING_BIT | (syn_ts ? WIDE_BIT : 0));
    }
    for (unsigned i = 0; i < CACHE; i++)
        for (unsigned k = 1; k < 3; k++)
            for (unsigned f = i; f < SLOTS; f += CACHE)
                convo_send(&c[f], opener[f] ^ (k & 1), flags[k], 0);
    tcp_analysis_pool_destroy(pool);
}

static void test_prediction_cache_shared_by_two_flows(void)
{
    cache_shared(false);
    cache_shared(true);
}

/* A handshake: by default with timestamps and window scale both ways and
 * no payload, its SYN-ACK and ACK `synack_us` and `ack_us` after its SYN,
 * which is `late_us` after the flow's first packet, the client's TSval
 * `ts_step` ticks on at the ACK; the flow's first-packet time moves by
 * `shift_us` (an interim record, or an earlier packet if negative) before
 * its segment `shift_at` (the ACK, by default; 3: after it). */
struct handshake {
    uint32_t synack_us, ack_us, ts_step, late_us;
    int64_t shift_us;
    unsigned shift_at;
    bool no_ts, no_ws;
    uint32_t ack_len;        /* payload on the ACK */
};

/* Both analyses take the handshake and must agree; returns the pool's
 * handle after it, which says which form the flow is in. */
static uint32_t handshake_handle(const struct handshake *hs)
{
    struct tcp_analysis_pool *p = tcp_analysis_pool_create(1);
    struct nm_packet pk;
    uint64_t t0 = 1700000000000000ull;
    const uint8_t flags[3] = { SYN, SYN | ACK, ACK };
    const uint64_t at[3] = { t0 + hs->late_us, t0 + hs->late_us + hs->synack_us,
                             t0 + hs->late_us + hs->ack_us };
    const uint32_t seq[3] = { 0xfffffff0u, 77777, 0xfffffff1u };
    const uint32_t ack[3] = { 0, 0xfffffff1u, 77778 };
    const uint32_t tsv[3] = { 4000000000u, 123, 4000000000u + hs->ts_step };
    const uint32_t tse[3] = { 0, 4000000000u, 123 };
    unsigned shift_at = hs->shift_at ? hs->shift_at : 2;
    uint32_t h = tcp_analysis_alloc(p);
    struct tcp_analysis direct, scratch;

    tcp_analysis_init(&direct);
    for (unsigned k = 0; k <= 3; k++) {
        if (k == shift_at && hs->shift_us) {
            h = tcp_analysis_pool_rebase(p, h, t0, t0 + (uint64_t)hs->shift_us);
            t0 += (uint64_t)hs->shift_us;
        }
        if (k == 3)
            break;
        memset(&pk, 0, sizeof(pk));
        pk.has_tcp = true;
        pk.ts_us = at[k];
        pk.tcp_flags = flags[k];
        pk.tcp_seq = seq[k];
        pk.tcp_ack = ack[k];
        pk.tcp_win = (uint16_t)(64240 + k);
        pk.payload_wire_len = k == 2 ? hs->ack_len : 0;
        pk.tcp_has_ts = !hs->no_ts;
        pk.tcp_ts_val = tsv[k];
        pk.tcp_ts_ecr = tse[k];
        pk.tcp_has_wscale = k < 2 && !hs->no_ws;
        pk.tcp_wscale = 7;
        tcp_analysis_packet(&direct, &pk, k == 1, 0);
        h = tcp_analysis_pool_packet(p, h, t0, &pk, k == 1, 0);
    }
    CHECK(memcmp(tcp_analysis_pool_view(p, h, t0, &scratch), &direct, sizeof(direct)) == 0);
    CHECK(tcp_analysis_pool_state_consistent(p, h));
    tcp_analysis_pool_destroy(p);
    return h;
}

/* The form a handshake with timestamps and window scale ends in. */
static unsigned handshake_form(uint32_t synack_us, uint32_t ack_us, uint32_t ts_step,
                               uint32_t late_us, int64_t shift_us)
{
    return form_of(handshake_handle(&(struct handshake){ .synack_us = synack_us, .ack_us = ack_us,
                                                         .ts_step = ts_step, .late_us = late_us,
                                                         .shift_us = shift_us }));
}

/* Such a handshake with a slow round trip must fit the compact form, or a
 * SYN flood of real clients would take full analyses again: one with
 * 250 ms round trips, and one at the bounds the pool's comment gives (the
 * ACK just under 2^21 µs after the SYN, the client's TSval 8191 ticks on). */
static void test_handshake_stays_compact(void)
{
    CHECK_EQ_U(handshake_form(250000, 500000, 90, 0, 0), 40);
    CHECK_EQ_U(handshake_form(1000000, (1u << 21) - 1, 8191, 0, 0), 40);
}

/* A flow whose first packet was no TCP segment (a protocol-6 packet cut
 * short of its header) codes its first segment's offset from that
 * packet: a fast handshake stays compact, a slow one no longer fits. */
static void test_first_packet_not_a_segment(void)
{
    CHECK_EQ_U(handshake_form(100, 200, 1, 1000, 0), 40);
    CHECK_EQ_U(handshake_form(100, 200, 1, 1, 0), 40);
    CHECK_EQ_U(handshake_form(250000, 500000, 90, 1000, 0), 0);
}

/* The flow's first-packet time moving while it is compact: an interim
 * record resets it to later (by 1 s: the offset then takes three bytes),
 * an earlier packet lowers it; the handshake stays compact when it fits. */
static void test_rebase_stays_compact(void)
{
    CHECK_EQ_U(handshake_form(100, 200, 1, 0, 150), 40);
    CHECK_EQ_U(handshake_form(100, 2000000, 1, 0, 1000000), 40);
    CHECK_EQ_U(handshake_form(100, 200, 1, 0, -5000), 40);
    CHECK_EQ_U(handshake_form(100, 200, 1, 1000, -5000), 40);
    CHECK_EQ_U(handshake_form(250000, 500000, 90, 0, 1000000), 0);
}

/* The compact form's size is chosen at the first segment, by its
 * timestamps option.  Without, a handshake codes to 20 bytes, 22 with
 * window scale, plus its two times (three bytes each from 16 ms to 2.1 s,
 * four beyond) and its ACK's payload length, and keeps the 32-byte size
 * while that fits its 30 bytes (its state in the code's last 8 after two
 * segments); a segment, or a recoded first time, that does not fit moves
 * it to the 40-byte size, not to the full analysis.  With timestamps on
 * the first segment, the flow takes the 40-byte size at once. */
static void test_compact_size(void)
{
    const uint32_t slow = 3000000;   /* four-byte times */

    CHECK_EQ_U(form_of(handshake_handle(&(struct handshake){
                   .synack_us = 250000, .ack_us = 500000, .no_ts = true, .no_ws = true })),
               32);
    CHECK_EQ_U(form_of(handshake_handle(&(struct handshake){
                   .synack_us = 16000, .ack_us = 32000, .no_ts = true, .ack_len = 1000 })),
               32);
    /* 22 + 8: exactly the smaller size's 30 bytes; its state after the
     * SYN-ACK fills the last 8. */
    CHECK_EQ_U(form_of(handshake_handle(&(struct handshake){
                   .synack_us = slow, .ack_us = slow + 100000, .no_ts = true })),
               32);
    /* More: the ACK's payload length, or the first time moved by 1 s
     * (three bytes) before the ACK or after it. */
    CHECK_EQ_U(form_of(handshake_handle(&(struct handshake){
                   .synack_us = slow, .ack_us = slow + 100000, .no_ts = true, .ack_len = 100 })),
               40);
    CHECK_EQ_U(form_of(handshake_handle(&(struct handshake){
                   .synack_us = slow, .ack_us = slow + 100000, .no_ts = true,
                   .shift_us = 1000000 })),
               40);
    CHECK_EQ_U(form_of(handshake_handle(&(struct handshake){
                   .synack_us = slow, .ack_us = slow + 100000, .no_ts = true,
                   .shift_us = 1000000, .shift_at = 3 })),
               40);
    /* With timestamps: the larger size from the SYN on. */
    CHECK_EQ_U(form_of(handshake_handle(&(struct handshake){
                   .synack_us = 100, .ack_us = 200, .ts_step = 1, .no_ws = true })),
               40);
}

/* A refused SYN with timestamps takes the larger size, though it would
 * have fitted the smaller, and the smaller slot it was given goes back to
 * the free list: the next flow takes it. */
static void test_size_chosen_at_first_segment(void)
{
    struct tcp_analysis_pool *p = compact_pool(4);
    struct nm_packet pk;
    uint32_t h, first;

    if (!p)
        return;
    first = h = tcp_analysis_alloc(p);
    CHECK_EQ_U(form_of(h), 32);
    memset(&pk, 0, sizeof(pk));
    pk.has_tcp = true;
    pk.ts_us = 1000;
    pk.tcp_flags = SYN;
    pk.tcp_seq = 1;
    pk.tcp_has_ts = true;
    pk.tcp_ts_val = 5;
    h = tcp_analysis_pool_packet(p, h, 1000, &pk, 0, 0);
    CHECK_EQ_U(form_of(h), 40);
    pk.ts_us = 1100;
    pk.tcp_flags = RST | ACK;
    pk.tcp_seq = 0;
    pk.tcp_ack = 2;
    pk.tcp_has_ts = false;
    h = tcp_analysis_pool_packet(p, h, 1000, &pk, 1, 0);
    CHECK_EQ_U(form_of(h), 40);
    CHECK_EQ_U(tcp_analysis_alloc(p), first);
    tcp_analysis_pool_destroy(p);
}

/* A flow of `segments` plain segments (a handshake, then ACKs) in pool
 * handle h; returns its handle at the end. */
static uint32_t pool_flow(struct tcp_analysis_pool *p, uint32_t h, unsigned segments)
{
    static const uint8_t flags[3] = { SYN, SYN | ACK, ACK };
    const uint64_t t0 = 1700000000000000ull;   /* the flow's first packet: its SYN */
    struct nm_packet pk;

    for (unsigned k = 0; k < segments; k++) {
        memset(&pk, 0, sizeof(pk));
        pk.has_tcp = true;
        pk.ts_us = t0 + k * 1000;
        pk.tcp_flags = flags[k < 3 ? k : 2];
        pk.tcp_seq = k == 1 ? 5000 : 1001 - (k == 0);
        pk.tcp_ack = k == 0 ? 0 : k == 1 ? 1001 : 5001;
        pk.tcp_win = 1000;
        h = tcp_analysis_pool_packet(p, h, t0, &pk, k == 1, 0);
    }
    return h;
}

/* Which form a new flow starts in follows how the pool's compact flows
 * ended: after a run of flows that outgrew it, new flows start in the full
 * analysis (but for a sample that keeps the score current), only up to
 * the budget of full analyses in use; compact flows that end inside their
 * form bring the compact start back. */
static void pool_outgrow_flows(struct tcp_analysis_pool *p, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint32_t h = pool_flow(p, tcp_analysis_alloc(p), 4);
        CHECK(!(h & PENDING_BIT));                  /* each outgrew it, or started full */
        tcp_analysis_release(p, h);
    }
}

static void test_start_form_follows_outgrowing(void)
{
    enum { BUDGET = 5, RUNS = 64, MANY = 40 };
    struct tcp_analysis_pool *p = tcp_analysis_pool_create(1024);
    uint32_t h, kept[MANY];
    unsigned full = 0, compact_run = 0, i;

    CHECK(p != NULL);
    if (!p)
        return;
    tcp_analysis_pool_set_direct_budget(p, BUDGET);
    h = tcp_analysis_alloc(p);
    CHECK(h & PENDING_BIT);                         /* a new pool starts compact */
    tcp_analysis_release(p, h);
    pool_outgrow_flows(p, RUNS);
    /* Handshakes only from now on: the sampled compact ones end small,
     * and the compact start comes back, not at once but a sample at a
     * time. */
    for (i = 0; i < 50 * RUNS && compact_run < 3; i++) {
        h = tcp_analysis_alloc(p);
        compact_run = (h & PENDING_BIT) ? compact_run + 1 : 0;
        tcp_analysis_release(p, pool_flow(p, h, 3));
    }
    CHECK_EQ_U(compact_run, 3);
    CHECK(i > 16);                                  /* a sample (one in 16) at a time */
    /* Once back, it stays: no flow outgrows to raise the score again. */
    for (i = 0; i < RUNS; i++) {
        h = tcp_analysis_alloc(p);
        CHECK(h & PENDING_BIT);
        tcp_analysis_release(p, pool_flow(p, h, 3));
    }
    /* Long flows again: full starts, but never more than the budget. */
    pool_outgrow_flows(p, RUNS);
    for (i = 0; i < MANY; i++) {
        kept[i] = tcp_analysis_alloc(p);
        full += kept[i] && !(kept[i] & PENDING_BIT);
    }
    CHECK_EQ_U(full, BUDGET);
    CHECK(kept[MANY - 1] & PENDING_BIT);
    for (i = 0; i < MANY; i++)
        tcp_analysis_release(p, kept[i]);
    tcp_analysis_pool_destroy(p);
}

int main(void)
{
    RUN(test_start_form_follows_outgrowing);
    RUN(test_compact_equals_direct);
    RUN(test_neighbours_interleaved);
    RUN(test_prediction_cache_shared_by_two_flows);
    RUN(test_handshake_stays_compact);
    RUN(test_first_packet_not_a_segment);
    RUN(test_rebase_stays_compact);
    RUN(test_compact_size);
    RUN(test_size_chosen_at_first_segment);
    TESTLIB_EXIT();
}
