/*
 * test_tcp_analysis.c: the per-flow TCP analysis on scripted segments.
 * Expected values follow from the definitions the module implements:
 * Wireshark's tcp.analysis.* (duplicate ACK: same seq/ack/window, no data;
 * fast retransmission: >= 2 dup ACKs, seq == their ack, within 20 ms;
 * keep-alive: seq == nextseq - 1, <= 1 byte), Zeek's conn_state and history
 * (base/protocols/conn/main.zeek), RFC 6298 Karn's rule.
 */
#include <string.h>

#include "analyze/tcp_analysis.h"
#include "testlib.h"

enum { C = 0, S = 1 };
static struct tcp_analysis an;
static struct flow_tcp_summary sum;

static void seg(unsigned side, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len,
                uint64_t t_us)
{
    struct nm_packet p;
    memset(&p, 0, sizeof(p));
    p.has_tcp = true;
    p.tcp_flags = flags;
    p.tcp_seq = seq;
    p.tcp_ack = ack;
    p.tcp_win = 1000;
    p.payload_wire_len = len;
    p.ts_us = 1700000000000000ull + t_us;
    tcp_analysis_packet(&an, &p, side, C);
}

static void fill(void)
{
    memset(&sum, 0, sizeof(sum));
    tcp_analysis_fill(&an, C, &sum);
}

#define SYN NM_TCP_SYN
#define ACK NM_TCP_ACK
#define FIN NM_TCP_FIN
#define RST NM_TCP_RST

static void handshake(void)
{
    tcp_analysis_init(&an);
    seg(C, SYN, 100, 0, 0, 0);
    seg(S, SYN | ACK, 500, 101, 0, 300);
    seg(C, ACK, 101, 501, 0, 350);
}

static void test_handshake_rtt_and_sf(void)
{
    handshake();
    seg(C, ACK, 101, 501, 10, 400);
    seg(S, ACK, 501, 111, 20, 700);
    seg(C, FIN | ACK, 111, 521, 0, 800);
    seg(S, FIN | ACK, 521, 112, 0, 900);
    seg(C, ACK, 112, 522, 0, 950);
    fill();
    CHECK(sum.has_handshake_rtt);
    CHECK_EQ_U(sum.rtt_server_us, 300);
    CHECK_EQ_U(sum.rtt_client_us, 50);
    CHECK_EQ_U(sum.rtt_handshake_us, 350);
    CHECK_STR(sum.conn_state, "SF");
    CHECK_STR(sum.history, "ShADdFf");  /* dst never sent a pure ACK */
    CHECK_EQ_U(sum.payload_bytes[NM_DIR_SRC], 10);
    CHECK_EQ_U(sum.payload_bytes[NM_DIR_DST], 20);
    CHECK_EQ_U(sum.tcp_state, TCP_ST_TIME_WAIT);
    CHECK(sum.wscale_unknown == false);
    /* Data at 400 acknowledged at 700: one data -> ACK sample of the leg to dst. */
    CHECK_EQ_U(sum.rtt_samples[NM_DIR_DST], 1);
    CHECK_EQ_U(sum.rtt_last_us[NM_DIR_DST], 300);
}

static void test_s0_rej(void)
{
    tcp_analysis_init(&an);
    seg(C, SYN, 1, 0, 0, 0);
    seg(C, SYN, 1, 0, 0, 1000000);
    fill();
    CHECK_STR(sum.conn_state, "S0");
    CHECK_STR(sum.history, "S");
    CHECK_EQ_U(sum.retrans[NM_DIR_SRC], 1);  /* the repeated SYN */
    CHECK(!sum.has_handshake_rtt);
    CHECK(sum.wscale_unknown);
    tcp_analysis_init(&an);
    seg(C, SYN, 1, 0, 0, 0);
    seg(S, RST | ACK, 0, 2, 0, 100);
    fill();
    CHECK_STR(sum.conn_state, "REJ");
    CHECK_STR(sum.history, "Sr");
    CHECK_EQ_U(sum.rsts[NM_DIR_DST], 1);
    CHECK(!sum.has_handshake_rtt);
}

static void test_dupacks_fast_retransmission(void)
{
    handshake();
    seg(C, ACK, 101, 501, 100, 1000);   /* lost downstream */
    seg(C, ACK, 201, 501, 100, 1010);
    seg(C, ACK, 301, 501, 100, 1020);
    /* The SYN-ACK already carried seq 501's predecessor, ack 101 and this
     * window, so each of these repeats it: three duplicate ACKs. */
    seg(S, ACK, 501, 101, 0, 1200);
    seg(S, ACK, 501, 101, 0, 1210);
    seg(S, ACK, 501, 101, 0, 1220);
    seg(C, ACK, 101, 501, 100, 1230);   /* fast retransmission */
    seg(S, ACK, 501, 401, 0, 1500);
    fill();
    CHECK_EQ_U(sum.dup_acks[NM_DIR_DST], 3);
    CHECK_EQ_U(sum.retrans[NM_DIR_SRC], 1);
    CHECK_STR(sum.history, "ShADaT");
    /* Karn: the sample started at 1000 covered the resent bytes: dropped.
     * No other data was timed, so the dst leg has no sample. */
    CHECK_EQ_U(sum.rtt_samples[NM_DIR_DST], 0);
}

static void test_keepalive_zero_window(void)
{
    handshake();
    seg(C, ACK, 101, 501, 0, 1000000);  /* plain ACK */
    seg(C, ACK, 100, 501, 0, 2000000);  /* keep-alive: seq = nextseq - 1 */
    seg(S, ACK, 501, 101, 0, 2000100);  /* keep-alive ACK: not a dup ACK */
    fill();
    CHECK_EQ_U(sum.keepalives[NM_DIR_SRC], 1);
    CHECK_EQ_U(sum.dup_acks[NM_DIR_DST], 0);
    struct nm_packet p;
    memset(&p, 0, sizeof(p));
    p.has_tcp = true;
    p.tcp_flags = ACK;
    p.tcp_seq = 501;
    p.tcp_ack = 101;
    p.tcp_win = 0;
    p.ts_us = 1700000003000000ull;
    tcp_analysis_packet(&an, &p, S, C);
    fill();
    CHECK_EQ_U(sum.zero_window[NM_DIR_DST], 1);
    CHECK(strchr(sum.history, 'w') != NULL);
}

/* Zeek reports no content gap while an endpoint is partial
 * (report_gaps_for_partial is off by default), so a mid-stream flow's
 * unseen acknowledged bytes are neither missed_bytes nor a g. */
static void test_midstream_no_gap(void)
{
    tcp_analysis_init(&an);
    seg(C, ACK, 1000, 5000, 100, 0);
    seg(S, ACK, 5000, 1100, 0, 10);
    seg(S, ACK, 5000, 1300, 0, 20);     /* acknowledges 200 bytes never seen */
    fill();
    CHECK_STR(sum.conn_state, "OTH");
    CHECK_EQ_U(sum.tcp_state, TCP_ST_NONE);
    CHECK(sum.wscale_unknown);
    CHECK_EQ_U(sum.missed_bytes, 0);
    CHECK_STR(sum.history, "Da");
}

/* Holes in the client's stream below one ACK: one gap each (Zeek's
 * Undelivered gives each hole its own Gap), so G at the first only; a
 * hole filled late is no gap; the bytes past the last segment count too. */
static void test_gaps_after_handshake(void)
{
    handshake();
    seg(C, ACK, 101, 501, 100, 400);    /* [101,201) */
    seg(C, ACK, 301, 501, 100, 410);    /* hole [201,301) */
    seg(C, ACK, 451, 501, 50, 420);     /* hole [401,451) */
    seg(C, ACK, 601, 501, 100, 430);    /* hole [501,601) */
    seg(C, ACK, 401, 501, 50, 440);     /* fills [401,451) late */
    seg(S, ACK, 501, 751, 0, 500);      /* acks to 751: [701,751) never seen */
    fill();
    CHECK_EQ_U(sum.missed_bytes, 100 + 100 + 50);
    CHECK_STR(sum.history, "ShADTaG");  /* T: the late segment did not advance */
    /* Six more holes, one per ACK: nine gaps, still one G ... */
    for (unsigned i = 0; i < 6; i++) {
        seg(C, ACK, 761 + 20 * i, 501, 10, 600 + i);
        seg(S, ACK, 501, 771 + 20 * i, 0, 700 + i);
    }
    fill();
    CHECK_EQ_U(sum.missed_bytes, 250 + 6 * 10);
    CHECK_STR(sum.history, "ShADTaG");
    /* ... the tenth adds the second (Zeek's scaled letters: 1, 10, 100). */
    seg(S, ACK, 501, 1000, 0, 800);
    fill();
    CHECK_STR(sum.history, "ShADTaGG");
    CHECK_EQ_U(sum.missed_bytes, 250 + 60 + (1000 - 871));
}

/* More islands than kept: the closest two merge, the hole between them is
 * taken as seen (an undercount, never an invented byte); a FIN's own
 * sequence number is not a missing byte; once the acknowledging side has
 * reset, a gap is neither counted nor flagged. */
static void test_gap_bounds_fin_rst(void)
{
    uint32_t end = 0;

    handshake();
    /* TCP_GAP_ISLANDS runs 90 bytes apart, then one 80 bytes after the last:
     * that hole is the closest and closes. */
    for (unsigned i = 0; i < TCP_GAP_ISLANDS; i++) {
        seg(C, ACK, 201 + 100 * i, 501, 10, 400 + i);
        end = 211 + 100 * i;
    }
    seg(C, ACK, end + 80, 501, 10, 450);
    seg(C, FIN | ACK, end + 90, 501, 0, 460);
    seg(S, ACK, 501, end + 91, 0, 500);     /* acknowledges the FIN */
    fill();
    CHECK_EQ_U(sum.missed_bytes, 100 + 90 * (TCP_GAP_ISLANDS - 1));
    CHECK_STR(sum.history, "ShADFaG");
    handshake();
    seg(C, ACK, 201, 501, 10, 400);
    seg(S, RST | ACK, 501, 211, 0, 500);
    seg(S, ACK, 501, 211, 0, 510);
    fill();
    CHECK_EQ_U(sum.missed_bytes, 0);
    CHECK(strchr(sum.history, 'G') == NULL);
}

/* The sequence numbers the flow table's close and port-reuse tests ask
 * for (RFC 9293 §3.4: a SYN and a FIN each occupy one sequence number,
 * a FIN the one after the segment's data): the first SYN without ACK is
 * kept whatever follows, a FIN's place is its side's last FIN's, and a
 * segment with RST sets none. */
static void test_connection_seqs(void)
{
    uint32_t seq = 0;

    tcp_analysis_init(&an);
    CHECK(!tcp_analysis_first_syn(&an, &seq));
    CHECK(!tcp_analysis_fin(&an, C, &seq) && !tcp_analysis_fin(&an, S, &seq));
    seg(S, SYN | ACK, 500, 101, 0, 0);           /* a SYN-ACK is not the first SYN */
    CHECK(!tcp_analysis_first_syn(&an, &seq));
    seg(C, SYN, 100, 0, 0, 10);
    seg(S, SYN, 900, 0, 0, 20);                  /* simultaneous open: the first stays */
    seg(C, SYN, 300, 0, 0, 30);
    CHECK(tcp_analysis_first_syn(&an, &seq));
    CHECK_EQ_U(seq, 100);
    seg(C, FIN | ACK, 111, 501, 10, 40);         /* after its 10 bytes */
    CHECK(tcp_analysis_fin(&an, C, &seq));
    CHECK_EQ_U(seq, 121);
    CHECK(!tcp_analysis_fin(&an, S, &seq));
    seg(S, FIN | RST | ACK, 700, 122, 0, 50);    /* RST: no FIN */
    CHECK(!tcp_analysis_fin(&an, S, &seq));
    seg(C, FIN | ACK, 200, 501, 0, 60);          /* the last FIN counts */
    CHECK(tcp_analysis_fin(&an, C, &seq));
    CHECK_EQ_U(seq, 200);

    tcp_analysis_init(&an);
    seg(C, SYN | RST, 7, 0, 0, 0);               /* no ACK: a first SYN, RST or not */
    seg(S, SYN | FIN, 40, 0, 3, 10);             /* after the SYN and the data */
    CHECK(tcp_analysis_first_syn(&an, &seq));
    CHECK_EQ_U(seq, 7);
    CHECK(tcp_analysis_fin(&an, S, &seq));
    CHECK_EQ_U(seq, 44);
}

/* Two flows' worth: each kind of slot runs out on its own, and a released
 * handle is reused. */
static void test_pool(void)
{
    struct tcp_analysis_pool *p = tcp_analysis_pool_create(2);
    uint32_t a = tcp_analysis_alloc(p), b = tcp_analysis_alloc(p);
    uint32_t c = tcp_analysis_alloc(p), d = tcp_analysis_alloc(p);
    CHECK(a && b && c && d && a != b && c != d && a != c && b != d);
    CHECK_EQ_U(tcp_analysis_alloc(p), 0);
    tcp_analysis_release(p, a);
    CHECK_EQ_U(tcp_analysis_alloc(p), a);
    tcp_analysis_release(p, d);
    CHECK_EQ_U(tcp_analysis_alloc(p), d);
    tcp_analysis_pool_destroy(p);
}

/* The flow table's sequence numbers read through the pool (replayed, if
 * the flow is still compact) equal those of the direct analysis `an`. */
static void check_pool_seqs_equal(const struct tcp_analysis_pool *p, uint32_t h, uint64_t first)
{
    struct tcp_analysis scratch;
    const struct tcp_analysis *v = tcp_analysis_pool_view(p, h, first, &scratch);
    uint32_t a = 0, b = 0;

    CHECK(v != NULL);
    if (!v)
        return;
    CHECK(tcp_analysis_first_syn(&an, &a) == tcp_analysis_first_syn(v, &b) && a == b);
    for (unsigned side = 0; side < 2; side++)
        CHECK(tcp_analysis_fin(&an, side, &a) == tcp_analysis_fin(v, side, &b) && a == b);
}

/* The pool keeps a flow's first segments compactly and replays them later:
 * for random segment sequences (every flag mix, both sides, the initiator
 * learnt late, options on and off, times up to an hour apart), the record
 * must equal that of analysing each segment as it came. */
static void test_pool_replay_equals_direct(void)
{
    struct tcp_analysis_pool *p = tcp_analysis_pool_create(4);
    uint32_t rng = 4242;

    CHECK(p != NULL);
    if (!p)
        return;
    tcp_analysis_pool_set_direct_budget(p, 0);   /* every flow compact */

    for (unsigned trial = 0; trial < 20000; trial++) {
        unsigned nseg = 1 + trial % 7, src = 0;
        uint32_t h = tcp_analysis_alloc(p);
        struct flow_tcp_summary direct, pooled;
        uint64_t t = 1700000000000000ull, first = 0;   /* the flow's first-packet time */

        tcp_analysis_init(&an);
        for (unsigned k = 0; k < nseg; k++) {
            struct nm_packet pk;
            memset(&pk, 0, sizeof(pk));
            rng = rng * 1103515245u + 12345u;
            unsigned side = (rng >> 9) & 1;
            if ((rng >> 11) % 4 == 0)
                src = side;
            pk.has_tcp = true;
            pk.tcp_flags = (uint8_t)(rng >> 16);
            pk.tcp_seq = 1000 + ((rng >> 3) % 4) * 100 + side * 50000;
            pk.tcp_ack = 1000 + ((rng >> 5) % 4) * 100 + (side ^ 1) * 50000;
            pk.tcp_win = (uint16_t)((rng >> 13) % 3 ? 1000 : 0);
            /* Some segments too long for the compact form's 16 bits. */
            pk.payload_wire_len = (rng >> 20) % 3 ? 0 : (rng >> 22) % 4 ? 100 : 70000;
            pk.tcp_has_ts = (rng >> 24) & 1;
            pk.tcp_ts_val = 1 + (rng >> 8) % 3;    /* small sets: echoes match */
            pk.tcp_ts_ecr = 1 + (rng >> 10) % 3;
            pk.tcp_has_wscale = (rng >> 25) & 1;
            pk.tcp_wscale = (uint8_t)((rng >> 26) % 15);
            t += (rng >> 27) % 5 == 0 ? 3600000000ull : (rng >> 12) % 5000;
            pk.ts_us = t;
            if (k == 0)
                first = t;
            tcp_analysis_packet(&an, &pk, side, src);
            h = tcp_analysis_pool_packet(p, h, first, &pk, side, src);
        }
        memset(&direct, 0, sizeof(direct));
        memset(&pooled, 0, sizeof(pooled));
        tcp_analysis_fill(&an, src, &direct);
        tcp_analysis_pool_fill(p, h, first, src, &pooled);
        CHECK(memcmp(&direct, &pooled, sizeof(direct)) == 0);
        check_pool_seqs_equal(p, h, first);
        tcp_analysis_release(p, h);
    }
    tcp_analysis_pool_destroy(p);
}

/* The fast path for the common segment must leave the analysis exactly as
 * the full passes do.  Conversations are generated to be mostly
 * well-formed (handshake, in-order data and ACKs, FINs), so that most
 * segments qualify, with retransmissions, holes, zero windows, duplicate
 * ACKs, timestamps, RSTs and stray flags mixed in; after every segment the
 * two analyses are compared byte for byte.  Some conversations open late:
 * one side sends a few segments (some of them RST+ACK, which set the
 * peer's Zeek endpoint without a content edge) before the peer's first
 * segment, a SYN or SYN-ACK, which must not take the path of a side that
 * nothing was said of. */
static uint32_t fast_rng;

static uint32_t fast_rand(unsigned n)
{
    fast_rng = fast_rng * 1103515245u + 12345u;
    return (fast_rng >> 8) % n;
}

static void fast_segment(struct nm_packet *pk, const uint32_t next[2], unsigned side,
                         uint64_t *t)
{
    static const uint8_t odd_flags[] = { SYN, SYN | ACK, RST, RST | ACK, FIN, 0, FIN | RST | ACK,
                                         ACK | NM_TCP_PSH };
    unsigned kind = fast_rand(100);

    memset(pk, 0, sizeof(*pk));
    pk->has_tcp = true;
    pk->tcp_flags = ACK;
    pk->tcp_seq = next[side];
    pk->tcp_ack = next[side ^ 1] - (fast_rand(4) == 0 ? 100 * fast_rand(3) : 0);
    if (fast_rand(10) == 0)
        pk->tcp_ack += 100 * (1 + fast_rand(3));      /* acknowledges data not seen */
    pk->payload_wire_len = fast_rand(3) == 0 ? 0 : 1 + fast_rand(2) * 99;
    pk->tcp_win = fast_rand(12) == 0 ? 0 : 1000 + (uint16_t)fast_rand(2);
    if (kind < 8)
        pk->tcp_seq -= 100 * (1 + fast_rand(3));      /* retransmission / old data */
    else if (kind < 14)
        pk->tcp_seq += 100 * (1 + fast_rand(3));      /* a hole before it */
    else if (kind < 22)
        pk->tcp_flags |= FIN;
    else if (kind < 27)
        pk->tcp_flags = odd_flags[fast_rand(sizeof(odd_flags))];
    else if (kind < 32)
        pk->payload_wire_len = 0;                     /* possible duplicate ACK */
    pk->tcp_has_ts = fast_rand(2);
    pk->tcp_ts_val = 1 + fast_rand(4);
    pk->tcp_ts_ecr = 1 + fast_rand(4);
    pk->tcp_has_wscale = fast_rand(2);
    pk->tcp_wscale = (uint8_t)fast_rand(15);
    *t += fast_rand(50) == 0 ? 3600000000ull : fast_rand(30000);
    pk->ts_us = *t;
}

static void test_fast_path_equals_full(void)
{
    static struct tcp_analysis fast, full;
    unsigned diverged = 0;

    fast_rng = 77;
    for (unsigned trial = 0; trial < 3000 && !diverged; trial++) {
        uint32_t next[2] = { 1000 + fast_rand(1000), 90000 + fast_rand(1000) };
        uint64_t t = 1700000000000000ull;
        unsigned src = fast_rand(2);
        struct nm_packet pk;

        tcp_analysis_init(&fast);
        tcp_analysis_init(&full);
        bool late_open = trial % 10 == 5;
        for (unsigned k = 0; k < 40 && !diverged; k++) {
            unsigned side = k < 2 ? (src ^ k) : fast_rand(2);
            if (late_open && k < 4)
                side = k < 3 ? src : src ^ 1;
            fast_segment(&pk, next, side, &t);
            if (k < 2 && trial % 5)
                pk.tcp_flags = k == 0 ? SYN : SYN | ACK;  /* most start with a handshake */
            if (late_open && k < 3 && fast_rand(2))
                pk.tcp_flags = RST | ACK;
            if (late_open && k == 3) {
                pk.tcp_flags = fast_rand(2) ? SYN : SYN | ACK;
                pk.payload_wire_len = 0;
            }
            tcp_analysis_packet(&fast, &pk, side, src);
            tcp_analysis_packet_full(&full, &pk, side, src);
            if (memcmp(&fast, &full, sizeof(fast)) != 0)
                diverged = trial * 100 + k + 1;
            /* The sender's stream moves on as its flags and data say. */
            uint32_t used = (pk.tcp_flags & RST) ? 0 : pk.payload_wire_len +
                            !!(pk.tcp_flags & SYN) + !!(pk.tcp_flags & FIN);
            if ((int32_t)(pk.tcp_seq + used - next[side]) > 0)
                next[side] = pk.tcp_seq + used;
        }
    }
    CHECK(diverged == 0);
}

int main(void)
{
    RUN(test_handshake_rtt_and_sf);
    RUN(test_s0_rej);
    RUN(test_dupacks_fast_retransmission);
    RUN(test_keepalive_zero_window);
    RUN(test_midstream_no_gap);
    RUN(test_gaps_after_handshake);
    RUN(test_gap_bounds_fin_rst);
    RUN(test_connection_seqs);
    RUN(test_pool);
    RUN(test_pool_replay_equals_direct);
    RUN(test_fast_path_equals_full);
    TESTLIB_EXIT();
}
