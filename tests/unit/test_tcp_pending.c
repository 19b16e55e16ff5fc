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

/* Sends a segment from side s as a well-behaved stack would, then maybe
 * breaks one of its numbers; both analyses take it and must agree. */
static void convo_send(struct convo *c, unsigned s, uint8_t flags, uint32_t len)
{
    struct peer *me = &c->peer[s], *other = &c->peer[s ^ 1];
    struct nm_packet pk;
    struct tcp_analysis scratch;
    const struct tcp_analysis *view;

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
    view = tcp_analysis_pool_view(c->pool, c->handle, c->first, &scratch);
    CHECK(view != NULL && memcmp(view, &c->direct, sizeof(c->direct)) == 0);
    /* A wrong kept state only costs bytes (the coder says which fields it
     * predicted), so it is checked against decoding everything again. */
    CHECK(tcp_analysis_pool_state_consistent(c->pool, c->handle));
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

static void test_compact_equals_direct(void)
{
    struct convo c;

    memset(&c, 0, sizeof(c));
    c.pool = tcp_analysis_pool_create(4);
    CHECK(c.pool != NULL);
    if (c.pool)
        tcp_analysis_pool_set_direct_budget(c.pool, 0);   /* every flow compact */
    for (unsigned trial = 0; trial < 40000 && c.pool; trial++) {
        convo_start(&c);
        convo_script(&c, rnd(6));
        tcp_analysis_release(c.pool, c.handle);
    }
    tcp_analysis_pool_destroy(c.pool);
}

/* Two flows whose slots share an entry of the pool's prediction cache
 * (slots 0 and 2048 of a pool larger than its 2048 entries), their
 * segments interleaved: each segment after the first finds the other
 * flow's state in the entry and must rebuild its own from the code.  In a
 * busy table this is the common case; one flow at a time never meets it. */
static void test_prediction_cache_shared_by_two_flows(void)
{
    enum { CACHE = 2048, SLOTS = 2 * CACHE };
    static uint32_t h[SLOTS];
    struct convo c[2];

    memset(c, 0, sizeof(c));
    c[0].pool = c[1].pool = tcp_analysis_pool_create(SLOTS);
    CHECK(c[0].pool != NULL);
    if (!c[0].pool)
        return;
    tcp_analysis_pool_set_direct_budget(c[0].pool, 0);
    /* Fresh slots are taken in order: slot i has handle i + 1. */
    for (unsigned i = 0; i < SLOTS; i++)
        h[i] = tcp_analysis_alloc(c[0].pool);
    CHECK_EQ_U(h[0], 1 | PENDING_BIT);
    CHECK_EQ_U(h[SLOTS - 1], SLOTS | PENDING_BIT);
    static const uint8_t flags[3] = { SYN, SYN | ACK, ACK };
    for (unsigned i = 0; i < CACHE; i++) {
        unsigned a = rnd(2);
        convo_start_in(&c[0], h[i]);
        convo_start_in(&c[1], h[i + CACHE]);
        /* A handshake each, a segment of one then of the other. */
        for (unsigned k = 0; k < 3; k++)
            for (unsigned f = 0; f < 2; f++)
                convo_send(&c[f], (a + k) & 1, flags[k], 0);
    }
    tcp_analysis_pool_destroy(c[0].pool);
}

/* A handshake with timestamps and window scale both ways, its SYN at
 * `late_us` after the flow's first packet, which moves by `shift_us`
 * between the SYN-ACK and the ACK (an interim record, or an earlier
 * packet if negative): both analyses take it, must agree, and the pool's
 * handle after it says whether it stayed compact. */
static bool handshake_compact(uint32_t synack_us, uint32_t ack_us, uint32_t ts_step,
                              uint32_t late_us, int64_t shift_us)
{
    struct tcp_analysis_pool *p = tcp_analysis_pool_create(1);
    struct nm_packet pk;
    uint64_t t0 = 1700000000000000ull;
    const uint8_t flags[3] = { SYN, SYN | ACK, ACK };
    const uint64_t at[3] = { t0 + late_us, t0 + late_us + synack_us, t0 + late_us + ack_us };
    const uint32_t seq[3] = { 0xfffffff0u, 77777, 0xfffffff1u };
    const uint32_t ack[3] = { 0, 0xfffffff1u, 77778 };
    const uint32_t tsv[3] = { 4000000000u, 123, 4000000000u + ts_step };
    const uint32_t tse[3] = { 0, 4000000000u, 123 };
    uint32_t h = tcp_analysis_alloc(p);
    struct tcp_analysis direct, scratch;

    tcp_analysis_init(&direct);
    for (unsigned k = 0; k < 3; k++) {
        memset(&pk, 0, sizeof(pk));
        pk.has_tcp = true;
        pk.ts_us = at[k];
        pk.tcp_flags = flags[k];
        pk.tcp_seq = seq[k];
        pk.tcp_ack = ack[k];
        pk.tcp_win = (uint16_t)(64240 + k);
        pk.tcp_has_ts = true;
        pk.tcp_ts_val = tsv[k];
        pk.tcp_ts_ecr = tse[k];
        pk.tcp_has_wscale = k < 2;
        pk.tcp_wscale = 7;
        if (k == 2 && shift_us) {
            h = tcp_analysis_pool_rebase(p, h, t0, t0 + (uint64_t)shift_us);
            t0 += (uint64_t)shift_us;
        }
        tcp_analysis_packet(&direct, &pk, k == 1, 0);
        h = tcp_analysis_pool_packet(p, h, t0, &pk, k == 1, 0);
    }
    CHECK(memcmp(tcp_analysis_pool_view(p, h, t0, &scratch), &direct, sizeof(direct)) == 0);
    CHECK(tcp_analysis_pool_state_consistent(p, h));
    tcp_analysis_pool_destroy(p);
    return h & PENDING_BIT;
}

/* Such a handshake with a slow round trip must fit the compact form, or a
 * SYN flood of real clients would take full analyses again: one with
 * 250 ms round trips, and one at the bounds the pool's comment gives (the
 * ACK just under 2^21 µs after the SYN, the client's TSval 8191 ticks on). */
static void test_handshake_stays_compact(void)
{
    CHECK(handshake_compact(250000, 500000, 90, 0, 0));
    CHECK(handshake_compact(1000000, (1u << 21) - 1, 8191, 0, 0));
}

/* A flow whose first packet was no TCP segment (a protocol-6 packet cut
 * short of its header) codes its first segment's offset from that
 * packet: a fast handshake stays compact, a slow one no longer fits. */
static void test_first_packet_not_a_segment(void)
{
    CHECK(handshake_compact(100, 200, 1, 1000, 0));
    CHECK(handshake_compact(100, 200, 1, 1, 0));
    CHECK(!handshake_compact(250000, 500000, 90, 1000, 0));
}

/* The flow's first-packet time moving while it is compact: an interim
 * record resets it to later (by 1 s: the offset then takes three bytes),
 * an earlier packet lowers it; the handshake stays compact when it fits. */
static void test_rebase_stays_compact(void)
{
    CHECK(handshake_compact(100, 200, 1, 0, 150));
    CHECK(handshake_compact(100, 2000000, 1, 0, 1000000));
    CHECK(handshake_compact(100, 200, 1, 0, -5000));
    CHECK(handshake_compact(100, 200, 1, 1000, -5000));
    CHECK(!handshake_compact(250000, 500000, 90, 0, 1000000));
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
    RUN(test_prediction_cache_shared_by_two_flows);
    RUN(test_handshake_stays_compact);
    RUN(test_first_packet_not_a_segment);
    RUN(test_rebase_stays_compact);
    TESTLIB_EXIT();
}
