/*
 * test_flow_table.c: the flow table's contract, driven with synthetic
 * decoded packets: key symmetry, initiator choice, TCP end by FIN/ACK and
 * RST, port reuse, idle and active timeouts, LRU eviction with reporting.
 * Expected values follow from the packets each test scripts.
 */
#include <stdlib.h>
#include <string.h>

#include "flow/flow_key.h"
#include "flow/flow_table.h"
#include "testlib.h"

#define MAX_RECS 64
static struct flow_record recs[MAX_RECS];
static unsigned nrecs;

static void collect(void *user, const struct flow_record *r)
{
    (void)user;
    if (nrecs < MAX_RECS)
        recs[nrecs] = *r;
    nrecs++;
}

static struct flow_table *table(uint32_t max_flows, uint64_t idle_s, uint64_t active_s)
{
    char err[256];
    struct flow_table_config cfg = {
        .max_flows = max_flows,
        .idle_timeout_us = idle_s * 1000000ull,
        .active_timeout_us = active_s * 1000000ull,
    };
    nrecs = 0;
    memset(recs, 0, sizeof(recs));
    return flow_table_create(&cfg, collect, NULL, err, sizeof(err));
}

static struct nm_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    struct nm_addr x = { { 0 } };
    x.b[10] = x.b[11] = 0xff;
    x.b[12] = a; x.b[13] = b; x.b[14] = c; x.b[15] = d;
    return x;
}

static struct nm_addr cli, srv;

/* A TCP packet from client (dir 0) or server (dir 1). */
static struct nm_packet tcp(int from_server, uint8_t flags, uint32_t seq, uint32_t ack,
                            uint32_t payload, uint64_t ts_ms)
{
    struct nm_packet p;
    memset(&p, 0, sizeof(p));
    p.has_ip = true;
    p.ip_version = 4;
    p.proto = 6;
    p.src = from_server ? srv : cli;
    p.dst = from_server ? cli : srv;
    p.has_ports = p.has_tcp = true;
    p.sport = from_server ? 443 : 50000;
    p.dport = from_server ? 50000 : 443;
    p.tcp_flags = flags;
    p.tcp_seq = seq;
    p.tcp_ack = ack;
    p.payload_wire_len = payload;
    p.wirelen = 54 + payload;
    p.ip_len = 40 + payload;
    p.ts_us = ts_ms * 1000ull;
    return p;
}

static struct nm_packet udp(struct nm_addr s, uint16_t sp, struct nm_addr d, uint16_t dp,
                            uint32_t len, uint64_t ts_ms)
{
    struct nm_packet p;
    memset(&p, 0, sizeof(p));
    p.has_ip = p.has_ports = true;
    p.ip_version = 4;
    p.proto = 17;
    p.src = s; p.dst = d; p.sport = sp; p.dport = dp;
    p.wirelen = len;
    p.ip_len = len - 14;
    p.ts_us = ts_ms * 1000ull;
    return p;
}

static void feed(struct flow_table *t, struct nm_packet p)
{
    flow_table_update(t, &p);
}

enum { S = NM_TCP_SYN, A = NM_TCP_ACK, F = NM_TCP_FIN, R = NM_TCP_RST, P = NM_TCP_PSH };

static uint64_t packet_hash_seed(const struct nm_packet *p, uint64_t seed)
{
    struct flow_key k;
    unsigned side;

    flow_key_from_packet(p, &k, &side);
    return flow_key_hash(&k, seed);
}

static uint64_t packet_hash(const struct nm_packet *p)
{
    return packet_hash_seed(p, 42);
}

/* Whether two packets get one key; when they do, they must come from
 * opposite sides (the tests pair the two directions) with one hash. */
static bool same_key(const struct nm_packet *a, const struct nm_packet *b)
{
    struct flow_key ka, kb;
    unsigned sa, sb;

    flow_key_from_packet(a, &ka, &sa);
    flow_key_from_packet(b, &kb, &sb);
    if (!flow_key_equal(&ka, &kb))
        return false;
    CHECK(sa != sb);
    CHECK_EQ_U(packet_hash(a), packet_hash(b));
    return true;
}

static void test_key_is_symmetric(void)
{
    struct nm_packet a = tcp(0, S, 1, 0, 0, 0), b = tcp(1, S | A, 9, 2, 0, 1);

    CHECK(same_key(&a, &b));
    b.dport = 50001;
    CHECK(!same_key(&a, &b));
}

/* The key's fields hold the packet's, the smaller address:port first:
 * the key is built as two words, so a field in the wrong bytes would
 * still be symmetric, but not this. */
static void test_key_fields(void)
{
    struct nm_packet p = tcp(1, S | A, 9, 2, 0, 1);   /* from the server (198.18.0.2) */
    struct flow_key k;
    unsigned side;

    p.vlan_id = 0x0abc;
    flow_key_from_packet(&p, &k, &side);
    CHECK_EQ_U(side, 1);
    CHECK(memcmp(k.s.addr4[0], cli.b + 12, 4) == 0);
    CHECK(memcmp(k.s.addr4[1], srv.b + 12, 4) == 0);
    CHECK_EQ_U(k.s.port[0], p.dport);
    CHECK_EQ_U(k.s.port[1], p.sport);
    CHECK_EQ_U(k.s.vlan, 0x0abc);
    CHECK_EQ_U(k.s.proto, 6);
    CHECK_EQ_U(k.s.ip_version, 4);
}

/* Three-way handshake, data both ways, FIN from each side, final ACK. */
static void run_full_connection(struct flow_table *t, uint64_t t0, uint32_t isn)
{
    feed(t, tcp(0, S, isn, 0, 0, t0));
    feed(t, tcp(1, S | A, 5000, isn + 1, 0, t0 + 10));
    feed(t, tcp(0, A, isn + 1, 5001, 0, t0 + 20));
    feed(t, tcp(0, A | P, isn + 1, 5001, 100, t0 + 21));
    feed(t, tcp(1, A | P, 5001, isn + 101, 1000, t0 + 30));
    feed(t, tcp(0, F | A, isn + 101, 6001, 0, t0 + 40));
    feed(t, tcp(1, F | A, 6001, isn + 102, 0, t0 + 50));
    feed(t, tcp(0, A, isn + 102, 6002, 0, t0 + 60));
}

static void test_fin_close_and_counts(void)
{
    struct flow_table *t = table(100, 60, 0);
    run_full_connection(t, 1000, 100);
    /* A stray retransmitted ACK 20 s after the close joins the record. */
    feed(t, tcp(0, A, 102, 6002, 0, 21060));
    flow_table_advance(t, (21060 + 59000) * 1000ull);
    CHECK_EQ_U(nrecs, 0);   /* closed flows stay until quiet for the idle timeout */
    flow_table_advance(t, (21060 + 60000) * 1000ull);
    CHECK_EQ_U(nrecs, 1);
    struct flow_record *r = &recs[0];
    CHECK_EQ_U(r->end_reason, FLOW_END_FIN);
    CHECK(memcmp(&r->addr[NM_DIR_SRC], &cli, 16) == 0);
    CHECK_EQ_U(r->port[NM_DIR_SRC], 50000);
    CHECK_EQ_U(r->port[NM_DIR_DST], 443);
    CHECK_EQ_U(r->pkts[NM_DIR_SRC], 6);
    CHECK_EQ_U(r->pkts[NM_DIR_DST], 3);
    CHECK_EQ_U(r->bytes[NM_DIR_SRC], 6 * 54 + 100);
    CHECK_EQ_U(r->bytes[NM_DIR_DST], 3 * 54 + 1000);
    CHECK_EQ_U(r->tcp_flags[NM_DIR_SRC], S | A | P | F);
    CHECK_EQ_U(r->tcp_flags[NM_DIR_DST], S | A | P | F);
    CHECK_EQ_U(r->ts_start_us, 1000000);
    CHECK_EQ_U(r->ts_end_us, 21060000);
    flow_table_destroy(t);
}

static void test_fin_unacked_stays_open(void)
{
    struct flow_table *t = table(100, 60, 0);
    feed(t, tcp(0, S, 1, 0, 0, 0));
    feed(t, tcp(1, S | A, 9, 2, 0, 1));
    feed(t, tcp(0, F | A, 2, 10, 0, 2));
    feed(t, tcp(1, F | A, 10, 2, 0, 3));   /* does not ack the client's FIN */
    flow_table_advance(t, 30 * 1000000ull);
    CHECK_EQ_U(nrecs, 0);
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 1);
    CHECK_EQ_U(recs[0].end_reason, FLOW_END_EOF);
    flow_table_destroy(t);
}

/* A FIN with data occupies the sequence number after its data: an ACK of
 * the data alone does not acknowledge it (the flow stays open, and the
 * flush ends it), an ACK past it does (the flow closed by FIN).  With the
 * handshake the FINs are the flow's fourth segment and after, which its
 * TCP analysis keeps in full; picked up at the client's FIN, the flow has
 * three segments in all, all in the analysis's compact form, whose FIN
 * numbers are read back by replaying them. */
static void check_fin_after_data(bool handshake, uint32_t client_acked, enum flow_end_reason want)
{
    struct flow_table *t = table(100, 60, 0);

    if (handshake) {
        feed(t, tcp(0, S, 1, 0, 0, 0));
        feed(t, tcp(1, S | A, 9, 2, 0, 1));
    }
    feed(t, tcp(0, F | A | P, 2, 10, 100, 2));      /* data 2..101, FIN at 102 */
    feed(t, tcp(1, F | A, 10, client_acked, 0, 3));
    feed(t, tcp(0, A, 103, 11, 0, 4));              /* the server's FIN acknowledged */
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 1);
    CHECK_EQ_U(recs[0].end_reason, want);
    flow_table_destroy(t);
}

static void test_fin_after_data(void)
{
    for (unsigned hs = 0; hs < 2; hs++) {
        check_fin_after_data(hs, 102, FLOW_END_EOF);  /* the data, not the FIN */
        check_fin_after_data(hs, 103, FLOW_END_FIN);
    }
}

/* Packet counts keep 16 bits in the flow and carry into its wide entry.
 * Flow A: 65,537 packets from the client and 65,536 from the server count
 * exactly, and the server's SYN after them (its low count 0 again) is not
 * taken for the first segment of a silent peer (a simultaneous open) but
 * starts a new connection, B.  B's 65,538 packets count exactly in its
 * interim record, which restarts the count, high part too: its last
 * packet is then its only one. */
static void test_packet_count_carry(void)
{
    struct flow_table *t = table(4, 1000, 100);

    feed(t, tcp(0, S, 1, 0, 0, 0));
    for (unsigned k = 0; k < 65536; k++)
        feed(t, tcp(0, A, 2, 10, 0, k / 1000));
    for (unsigned k = 0; k < 65536; k++)
        feed(t, tcp(1, A, 10, 2, 0, 100 + k / 1000));
    feed(t, tcp(1, S, 77, 0, 0, 1000));                 /* B */
    for (unsigned k = 0; k < 65537; k++)
        feed(t, tcp(1, A, 78, 0, 0, 1001 + k / 1000));
    flow_table_advance(t, 101001 * 1000ull);            /* B's active timeout: interim */
    feed(t, tcp(1, A, 78, 0, 0, 101100));
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 3);
    CHECK_EQ_U(recs[0].pkts[NM_DIR_SRC], 65537);
    CHECK_EQ_U(recs[0].pkts[NM_DIR_DST], 65536);
    CHECK_EQ_U(recs[1].end_reason, FLOW_END_ACTIVE);
    CHECK_EQ_U(recs[1].pkts[NM_DIR_SRC] + recs[1].pkts[NM_DIR_DST], 65538);
    CHECK_EQ_U(recs[2].end_reason, FLOW_END_EOF);
    CHECK_EQ_U(recs[2].pkts[NM_DIR_SRC] + recs[2].pkts[NM_DIR_DST], 1);
    flow_table_destroy(t);
}

/* After a simultaneous open, the initiator's SYN sent again is still a
 * retransmission: it is compared with the first SYN's ISN, not the
 * responder's, which came last. */
static void test_syn_again_after_simultaneous_open(void)
{
    struct flow_table *t = table(100, 60, 0);

    feed(t, tcp(0, S, 1000, 0, 0, 0));
    feed(t, tcp(1, S, 3000, 0, 0, 1));
    feed(t, tcp(0, S, 1000, 0, 0, 2));
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 1);
    CHECK_EQ_U(recs[0].pkts[NM_DIR_SRC] + recs[0].pkts[NM_DIR_DST], 3);
    flow_table_destroy(t);
}

static void test_rst_and_stray_packets(void)
{
    struct flow_table *t = table(100, 60, 0);
    feed(t, tcp(0, S, 1, 0, 0, 0));
    feed(t, tcp(1, R | A, 0, 2, 0, 1));
    feed(t, tcp(1, R | A, 0, 2, 0, 2));   /* duplicate RST joins the same record */
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 1);
    CHECK_EQ_U(recs[0].end_reason, FLOW_END_RST);
    CHECK_EQ_U(recs[0].pkts[NM_DIR_SRC], 1);
    CHECK_EQ_U(recs[0].pkts[NM_DIR_DST], 2);
    flow_table_destroy(t);
}

static void test_port_reuse_two_records(void)
{
    struct flow_table *t = table(100, 60, 0);
    run_full_connection(t, 0, 100);
    run_full_connection(t, 1000, 90000);   /* same tuple, new ISN, within the linger */
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 2);
    CHECK_EQ_U(recs[0].end_reason, FLOW_END_FIN);
    CHECK_EQ_U(recs[1].end_reason, FLOW_END_FIN);
    CHECK_EQ_U(recs[0].pkts[0] + recs[0].pkts[1], 8);
    CHECK_EQ_U(recs[1].pkts[0] + recs[1].pkts[1], 8);
    CHECK(recs[0].flow_id != recs[1].flow_id);
    flow_table_destroy(t);
}

static void test_syn_retransmission_same_record(void)
{
    struct flow_table *t = table(100, 60, 0);
    feed(t, tcp(0, S, 7, 0, 0, 0));
    feed(t, tcp(0, S, 7, 0, 0, 1000));
    feed(t, tcp(0, S, 7, 0, 0, 3000));
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 1);
    CHECK_EQ_U(recs[0].pkts[NM_DIR_SRC], 3);
    flow_table_destroy(t);
}

/* A SYN from the responder while the connection is open is a
 * simultaneous open or a "split handshake" (suricata-verify's
 * tcp-split-handshake-01-4whs), not a new connection. */
static void test_simultaneous_open_one_record(void)
{
    struct flow_table *t = table(100, 60, 0);
    feed(t, tcp(0, S, 1000, 0, 0, 0));
    feed(t, tcp(1, S, 3000, 0, 0, 1));
    feed(t, tcp(0, S | A, 1000, 3001, 0, 2));
    feed(t, tcp(1, A, 3001, 1001, 0, 3));
    feed(t, tcp(0, R, 1001, 0, 0, 4));
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 1);
    CHECK_EQ_U(recs[0].pkts[NM_DIR_SRC], 3);
    CHECK_EQ_U(recs[0].pkts[NM_DIR_DST], 2);
    CHECK_EQ_U(recs[0].end_reason, FLOW_END_RST);
    flow_table_destroy(t);
}

/* As test_responder_syn_after_data_new_record, with an --active-timeout
 * interim record between the responder's answer and its SYN: the interim
 * restarts the counts, but the responder has still sent before, so its
 * SYN is a new connection, not a simultaneous open merged into the old. */
static void test_responder_syn_after_interim_new_record(void)
{
    struct flow_table *t = table(100, 60, 10);
    feed(t, tcp(0, S, 1000, 0, 0, 0));
    feed(t, tcp(1, A, 2000, 1001, 0, 1));
    flow_table_advance(t, 10 * 1000000ull);             /* interim at 10 s */
    feed(t, tcp(1, S, 3000, 0, 0, 10500));
    feed(t, tcp(0, S | A, 1000, 3001, 0, 10501));
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 3);
    CHECK_EQ_U(recs[0].end_reason, FLOW_END_ACTIVE);
    CHECK_EQ_U(recs[0].pkts[NM_DIR_SRC] + recs[0].pkts[NM_DIR_DST], 2);
    CHECK_EQ_U(recs[1].pkts[NM_DIR_SRC] + recs[1].pkts[NM_DIR_DST], 0);
    CHECK_EQ_U(recs[2].pkts[NM_DIR_SRC] + recs[2].pkts[NM_DIR_DST], 2);
    CHECK(recs[1].flow_id != recs[2].flow_id);
    CHECK_EQ_U(recs[0].flow_id, recs[1].flow_id);
    flow_table_destroy(t);
}

/* The responder answered with something else first (suricata-verify's
 * tcp-split-handshake-02-5whs): its later SYN starts a new connection, as
 * tshark judges it too. */
static void test_responder_syn_after_data_new_record(void)
{
    struct flow_table *t = table(100, 60, 0);
    feed(t, tcp(0, S, 1000, 0, 0, 0));
    feed(t, tcp(1, A, 2000, 1001, 0, 1));
    feed(t, tcp(1, S, 3000, 0, 0, 2));
    feed(t, tcp(0, S | A, 1000, 3001, 0, 3));
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 2);
    CHECK_EQ_U(recs[0].pkts[NM_DIR_SRC] + recs[0].pkts[NM_DIR_DST], 2);
    CHECK_EQ_U(recs[1].pkts[NM_DIR_SRC] + recs[1].pkts[NM_DIR_DST], 2);
    flow_table_destroy(t);
}

static void test_initiator_midstream(void)
{
    struct flow_table *t = table(100, 60, 0);
    /* First packet seen is the server's SYN-ACK: the client is src. */
    feed(t, tcp(1, S | A, 9, 2, 0, 0));
    /* A connection picked up mid-stream from the server side: the client
     * (not on the well-known port) is still src. */
    struct nm_packet p = tcp(1, A | P, 5, 5, 10, 0);
    p.sport = 443; p.dport = 50001;
    feed(t, p);
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 2);
    for (unsigned i = 0; i < 2; i++) {
        CHECK(memcmp(&recs[i].addr[NM_DIR_SRC], &cli, 16) == 0);
        CHECK_EQ_U(recs[i].port[NM_DIR_DST], 443);
        CHECK_EQ_U(recs[i].pkts[NM_DIR_DST], 1);
    }
    flow_table_destroy(t);
}

static void test_udp_initiator(void)
{
    struct flow_table *t = table(100, 60, 0);
    feed(t, udp(cli, 40000, srv, 53, 80, 0));     /* query first: client is src */
    feed(t, udp(srv, 53, cli, 40000, 120, 1));
    feed(t, udp(srv, 53, cli, 40001, 120, 2));    /* an answer without its query */
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 2);
    for (unsigned i = 0; i < 2; i++) {
        CHECK(memcmp(&recs[i].addr[NM_DIR_SRC], &cli, 16) == 0);
        CHECK_EQ_U(recs[i].port[NM_DIR_DST], 53);
    }
    CHECK_EQ_U(recs[0].bytes[NM_DIR_SRC] + recs[1].bytes[NM_DIR_SRC], 80);
    flow_table_destroy(t);
}

static void test_idle_timeout_splits(void)
{
    struct flow_table *t = table(100, 60, 0);
    feed(t, udp(cli, 40000, srv, 53, 80, 0));
    feed(t, udp(cli, 40000, srv, 53, 80, 59000));      /* 59 s later: same flow */
    feed(t, udp(cli, 40000, srv, 53, 80, 59000 + 61000));  /* 61 s idle: new flow */
    CHECK_EQ_U(nrecs, 1);
    CHECK_EQ_U(recs[0].end_reason, FLOW_END_IDLE);
    CHECK_EQ_U(recs[0].pkts[NM_DIR_SRC], 2);
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 2);
    CHECK_EQ_U(recs[1].pkts[NM_DIR_SRC], 1);
    CHECK_EQ_U(recs[1].end_reason, FLOW_END_EOF);
    flow_table_destroy(t);
}

static void test_active_timeout_interim(void)
{
    struct flow_table *t = table(100, 60, 10);
    for (uint64_t s = 0; s <= 25; s++)
        feed(t, udp(cli, 40000, srv, 53, 100, s * 1000));
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 3);   /* at 10 s, at 20 s, and the rest */
    CHECK_EQ_U(recs[0].end_reason, FLOW_END_ACTIVE);
    CHECK_EQ_U(recs[1].end_reason, FLOW_END_ACTIVE);
    CHECK_EQ_U(recs[2].end_reason, FLOW_END_EOF);
    CHECK_EQ_U(recs[0].pkts[0] + recs[1].pkts[0] + recs[2].pkts[0], 26);
    CHECK_EQ_U(recs[0].flow_id, recs[2].flow_id);
    flow_table_destroy(t);
}

/* A flow quiet for a whole active period gets no interim record: one would
 * count no packets and start (at the previous record's time) after its end
 * (the last packet's).  The next record covers the time since the last one
 * written; a flow that ends with nothing since then still gets its final
 * record, empty, timed at its last packet. */
static void test_active_timeout_quiet_flow(void)
{
    struct flow_table *t = table(100, 60, 10);
    struct flow_table_stats st;

    for (uint64_t s = 0; s <= 2; s++)
        feed(t, udp(cli, 40000, srv, 53, 100, s * 1000));
    for (uint64_t s = 10; s <= 30; s += 10)
        flow_table_advance(t, s * 1000000ull);          /* interim at 10 s, then quiet */
    feed(t, udp(cli, 40000, srv, 53, 100, 35000));
    for (uint64_t s = 40; s <= 90; s += 10)
        flow_table_advance(t, s * 1000000ull);          /* interim at 40 s, then quiet */
    flow_table_advance(t, 100 * 1000000ull);           /* idle since 35 s */
    CHECK_EQ_U(nrecs, 3);
    for (unsigned i = 0; i < nrecs && i < MAX_RECS; i++)
        CHECK(recs[i].ts_start_us <= recs[i].ts_end_us);
    CHECK_EQ_U(recs[0].end_reason, FLOW_END_ACTIVE);
    CHECK_EQ_U(recs[0].pkts[NM_DIR_SRC], 3);
    CHECK_EQ_U(recs[0].ts_start_us, 0);
    CHECK_EQ_U(recs[0].ts_end_us, 2000000);
    CHECK_EQ_U(recs[1].end_reason, FLOW_END_ACTIVE);
    CHECK_EQ_U(recs[1].pkts[NM_DIR_SRC], 1);
    CHECK_EQ_U(recs[1].ts_start_us, 10000000);
    CHECK_EQ_U(recs[1].ts_end_us, 35000000);
    CHECK_EQ_U(recs[2].end_reason, FLOW_END_IDLE);
    CHECK_EQ_U(recs[2].pkts[NM_DIR_SRC] + recs[2].pkts[NM_DIR_DST], 0);
    CHECK_EQ_U(recs[2].ts_start_us, 35000000);
    CHECK_EQ_U(recs[2].ts_end_us, 35000000);
    CHECK_EQ_U(recs[0].flow_id, recs[2].flow_id);
    flow_table_get_stats(t, &st);
    CHECK_EQ_U(st.interim, 2);
    flow_table_destroy(t);
}

/* A packet stamped long before the table's time (a merged capture, a clock
 * step) must not make its flow look idle at once: idleness follows table
 * time, so both packets of this flow stay in one record. */
static void test_old_timestamp_not_idle(void)
{
    struct flow_table *t = table(100, 60, 0);
    feed(t, udp(cli, 40000, srv, 53, 80, 1000000));   /* table time: 1000 s */
    feed(t, udp(cli, 40001, srv, 53, 80, 5000));      /* 995 s in the past */
    feed(t, udp(srv, 53, cli, 40001, 90, 5001));
    feed(t, udp(cli, 40000, srv, 53, 80, 1000001));
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 2);
    for (unsigned i = 0; i < nrecs && i < 2; i++)
        CHECK_EQ_U(recs[i].end_reason, FLOW_END_EOF);
    unsigned old = recs[0].port[NM_DIR_SRC] == 40001 ? 0 : 1;
    CHECK_EQ_U(recs[old].pkts[NM_DIR_SRC], 1);
    CHECK_EQ_U(recs[old].pkts[NM_DIR_DST], 1);
    CHECK_EQ_U(recs[old].ts_start_us, 5000000);
    CHECK_EQ_U(recs[old].ts_end_us, 5001000);
    flow_table_destroy(t);
}

/* One packet stamped years ahead amid normal traffic: the other flows
 * must not be declared idle because of it. */
static void test_future_timestamp_outlier(void)
{
    struct flow_table *t = table(100, 60, 0);
    feed(t, udp(cli, 40000, srv, 53, 80, 1000000));
    feed(t, udp(cli, 40001, srv, 53, 80, 1000000ull + 86400000ull * 400));  /* bogus */
    feed(t, udp(cli, 40000, srv, 53, 80, 1000010));
    feed(t, udp(cli, 40000, srv, 53, 80, 1000020));
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 2);
    for (unsigned i = 0; i < nrecs && i < 2; i++) {
        CHECK_EQ_U(recs[i].end_reason, FLOW_END_EOF);
        if (recs[i].port[NM_DIR_SRC] == 40000)
            CHECK_EQ_U(recs[i].pkts[NM_DIR_SRC], 3);
    }
    flow_table_destroy(t);
}

/* A real quiet period: once two packets agree time moved on, flows idle
 * for longer than the timeout end. */
static void test_quiet_period_expires(void)
{
    struct flow_table *t = table(100, 60, 0);
    feed(t, udp(cli, 40000, srv, 53, 80, 0));
    feed(t, udp(cli, 40001, srv, 53, 80, 100000));
    CHECK_EQ_U(nrecs, 0);
    feed(t, udp(cli, 40001, srv, 53, 80, 100001));
    CHECK_EQ_U(nrecs, 1);
    CHECK_EQ_U(recs[0].port[NM_DIR_SRC], 40000);
    CHECK_EQ_U(recs[0].end_reason, FLOW_END_IDLE);
    flow_table_destroy(t);
}

/* The first packet after a long quiet period is stamped far past table
 * time, like a bogus stamp, until the next packet confirms it.  Its reply,
 * and a packet 21 s later, still belong to the same flow (the request and
 * reply of ntp.pcap were split into two records by this once). */
static void test_quiet_period_request_reply_one_flow(void)
{
    struct flow_table *t = table(100, 60, 0);
    feed(t, udp(cli, 40000, srv, 123, 90, 0));
    feed(t, udp(srv, 123, cli, 40000, 90, 1));
    feed(t, udp(cli, 40001, srv, 123, 90, 430000));       /* 430 s later */
    feed(t, udp(srv, 123, cli, 40001, 90, 430001));
    feed(t, udp(cli, 40002, srv, 123, 90, 600000));       /* another 170 s */
    feed(t, udp(cli, 40002, srv, 123, 90, 621000));       /* 21 s after it */
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 3);
    for (unsigned i = 0; i < nrecs && i < 3; i++) {
        unsigned want_dst = recs[i].port[NM_DIR_SRC] == 40002 ? 0 : 1;
        CHECK_EQ_U(recs[i].pkts[NM_DIR_SRC], recs[i].port[NM_DIR_SRC] == 40002 ? 2 : 1);
        CHECK_EQ_U(recs[i].pkts[NM_DIR_DST], want_dst);
    }
    flow_table_destroy(t);
}

/* A flow whose only packet carries a bogus future stamp still ends once
 * table time has moved an idle period on: the clamp does not pin it. */
static void test_future_timestamp_flow_expires(void)
{
    struct flow_table *t = table(100, 60, 0);
    feed(t, udp(cli, 40000, srv, 53, 80, 1000000));
    feed(t, udp(cli, 40001, srv, 53, 80, 1000000ull + 86400000ull * 400));  /* bogus */
    for (uint64_t s = 1; s <= 125; s++)   /* clamp: ends within two idle periods */
        feed(t, udp(cli, 40000, srv, 53, 80, 1000000 + s * 1000));
    CHECK_EQ_U(nrecs, 1);
    CHECK_EQ_U(recs[0].port[NM_DIR_SRC], 40001);
    CHECK_EQ_U(recs[0].end_reason, FLOW_END_IDLE);
    flow_table_destroy(t);
}

static void test_eviction_lru_reported(void)
{
    struct flow_table *t = table(3, 60, 0);
    for (uint16_t p = 2001; p <= 2003; p++)
        feed(t, udp(cli, p, srv, 9999, 60, p));
    feed(t, udp(cli, 2001, srv, 9999, 60, 3000));  /* 2001 is now the most recent */
    feed(t, udp(cli, 2004, srv, 9999, 60, 3001));  /* full: evicts 2002 */
    CHECK_EQ_U(nrecs, 1);
    CHECK_EQ_U(recs[0].end_reason, FLOW_END_EVICTED);
    CHECK_EQ_U(recs[0].port[NM_DIR_SRC], 2002);
    struct flow_table_stats st;
    flow_table_get_stats(t, &st);
    CHECK_EQ_U(st.evicted, 1);
    CHECK_EQ_U(st.active, 3);
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 4);
    flow_table_destroy(t);
}

/* Many flows inserted and removed in random order: every packet is
 * accounted exactly once and the index stays consistent (backward-shift
 * deletion under heavy churn with a tiny table). */
static void test_churn_conserves_packets(void)
{
    struct flow_table *t = table(64, 1, 0);
    uint64_t sent = 0;
    uint32_t rng = 12345;
    for (unsigned i = 0; i < 20000; i++) {
        rng = rng * 1103515245u + 12345u;
        uint16_t port = (uint16_t)(1 + (rng >> 16) % 200);
        feed(t, udp(cli, port, srv, 53, 100, i / 10));
        sent++;
    }
    flow_table_flush(t, FLOW_END_EOF);
    /* recs holds only the first records; count packets through stats. */
    struct flow_table_stats st;
    flow_table_get_stats(t, &st);
    CHECK_EQ_U(st.active, 0);
    CHECK_EQ_U(st.created, st.ended);
    CHECK_EQ_U(sent, 20000);
    flow_table_destroy(t);
}

static uint64_t total_pkts;
static void sum_pkts(void *user, const struct flow_record *r)
{
    (void)user;
    total_pkts += r->pkts[0] + r->pkts[1];
}

static void test_churn_packet_total(void)
{
    char err[256];
    struct flow_table_config cfg = { .max_flows = 50, .idle_timeout_us = 500000 };
    struct flow_table *t = flow_table_create(&cfg, sum_pkts, NULL, err, sizeof(err));
    uint32_t rng = 99;
    total_pkts = 0;
    for (unsigned i = 0; i < 50000; i++) {
        rng = rng * 1103515245u + 12345u;
        int from_srv = (rng >> 8) & 1;
        uint16_t port = (uint16_t)(1 + (rng >> 16) % 300);
        struct nm_packet p = from_srv ? udp(srv, 53, cli, port, 90, i) : udp(cli, port, srv, 53, 90, i);
        feed(t, p);
    }
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(total_pkts, 50000);
    flow_table_destroy(t);
}

/* The index starts at 1024 slots and doubles at half load: 20000 flows
 * go through five doublings, then every one of them is found again (a
 * second packet joins its flow instead of starting a new one). */
static void test_index_growth_keeps_every_flow(void)
{
    char err[256];
    struct flow_table_config cfg = { .max_flows = 30000, .idle_timeout_us = 3600000000ull };
    struct flow_table *t = flow_table_create(&cfg, sum_pkts, NULL, err, sizeof(err));
    const unsigned n = 20000;
    struct flow_table_stats st;

    total_pkts = 0;
    for (unsigned round = 0; round < 2; round++)
        for (unsigned i = 0; i < n; i++) {
            struct nm_addr a = v4(198, 18, (uint8_t)(i >> 8), (uint8_t)i);
            feed(t, udp(a, (uint16_t)(1024 + i), srv, 53, 100, round * 1000 + i / 100));
        }
    flow_table_get_stats(t, &st);
    CHECK_EQ_U(st.created, n);
    CHECK_EQ_U(st.active, n);
    CHECK_EQ_U(st.evicted, 0);
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(total_pkts, 2 * n);
    flow_table_destroy(t);
}

/* An ICMP message from s to d (its IP part built as udp() builds one). */
static struct nm_packet icmp(struct nm_addr s, struct nm_addr d, uint8_t type, uint8_t code,
                             bool request, uint64_t ts_ms)
{
    struct nm_packet p = udp(s, 0, d, 0, 60, ts_ms);   /* the IP part */
    p.has_ports = false;
    p.has_icmp = true;
    p.proto = 1;
    p.icmp_type = type;
    p.icmp_code = code;
    p.icmp_is_echo = type == 8 || type == 0;
    p.icmp_is_request = request;
    p.icmp_id = p.icmp_is_echo ? 0x4242 : 0;
    return p;
}

/* A flow keeps TCP's sequence numbers (the SYN's ISN, each side's FIN) and
 * ICMP's first type and code in the same bytes, since no flow has both.
 * With flows of both kinds in the table, an ICMP record still names its
 * first packet's type, code and echo identifier, and the TCP flow keeps
 * one record through a SYN retransmitted with its ISN and is not ended by
 * FIN while the client's FIN is unacknowledged.  The numbers have every
 * byte set, so that a write of one kind into the other's bytes would
 * show. */
static void test_tcp_and_icmp_share_bytes(void)
{
    struct flow_table *t = table(16, 60, 0);
    struct nm_addr a = v4(198, 18, 1, 3), b = v4(198, 18, 1, 4);
    struct nm_addr c = v4(198, 18, 1, 5), d = v4(198, 18, 1, 6);
    const uint32_t ic = 0xfedcba98u, is = 0x89abcdefu;
    unsigned echo = 0, unreachable = 0, time_exceeded = 0, tcp_recs = 0;

    feed(t, tcp(0, S, ic, 0, 0, 0));
    feed(t, icmp(a, b, 8, 0, true, 1));
    feed(t, icmp(c, d, 3, 13, false, 2));
    feed(t, tcp(0, S, ic, 0, 0, 3));
    feed(t, icmp(b, a, 0, 0, false, 4));
    feed(t, tcp(1, S | A, is, ic + 1, 0, 5));
    feed(t, tcp(0, A, ic + 1, is + 1, 0, 6));
    feed(t, tcp(0, F | A, ic + 1, is + 1, 0, 7));
    feed(t, tcp(1, A, is + 1, ic + 1, 0, 8));        /* not the FIN */
    feed(t, icmp(d, c, 11, 0, false, 9));
    feed(t, tcp(1, F | A, is + 1, ic + 1, 0, 10));
    feed(t, tcp(0, A, ic + 2, is + 2, 0, 11));
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 4);     /* TCP, echo, and one flow per ICMP error kind */
    for (unsigned i = 0; i < nrecs && i < MAX_RECS; i++) {
        const struct flow_record *r = &recs[i];
        if (r->proto == 6) {
            tcp_recs++;
            CHECK_EQ_U(r->end_reason, FLOW_END_EOF);
            CHECK_EQ_U(r->pkts[NM_DIR_SRC], 5);   /* both SYNs in one record */
            CHECK(!r->has_icmp);
            continue;
        }
        CHECK(r->has_icmp);
        if (r->icmp_is_echo) {
            echo++;
            CHECK_EQ_U(r->icmp_type, 8);
            CHECK_EQ_U(r->icmp_code, 0);
            CHECK_EQ_U(r->icmp_id, 0x4242);
            CHECK_EQ_U(r->pkts[NM_DIR_SRC] + r->pkts[NM_DIR_DST], 2);
        } else if (r->icmp_type == 3) {
            unreachable++;
            CHECK_EQ_U(r->icmp_code, 13);
        } else {
            time_exceeded++;
            CHECK_EQ_U(r->icmp_type, 11);
            CHECK_EQ_U(r->icmp_code, 0);
        }
    }
    CHECK(tcp_recs == 1 && echo == 1 && unreachable == 1 && time_exceeded == 1);
    flow_table_destroy(t);
}

/* A flow keeps the low 32 bits of its byte counters and the high halves
 * aside once they are needed: totals past 2^32 stay exact, an interim record
 * restarts them (high halves too), and a flow taking over the slot of
 * one that went wide starts from zero. */
static void test_counters_past_32_bits(void)
{
    struct flow_table *t = table(4, 1000, 100);
    struct nm_addr a = v4(198, 18, 2, 1), b = v4(198, 18, 2, 2), c = v4(198, 18, 2, 3);
    const uint32_t big = 0xf0000000u;

    for (unsigned k = 0; k < 3; k++)
        feed(t, udp(a, 5000, b, 53, big, k));
    feed(t, udp(b, 53, a, 5000, 100, 3));
    flow_table_advance(t, 100001 * 1000ull);               /* active timeout: interim */
    feed(t, udp(a, 5000, b, 53, big, 100002));
    feed(t, udp(a, 5000, b, 53, big, 100003));
    flow_table_flush(t, FLOW_END_EOF);
    feed(t, udp(c, 6000, b, 53, 80, 100004));               /* takes the freed slot */
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 3);
    CHECK_EQ_U(recs[0].end_reason, FLOW_END_ACTIVE);
    CHECK_EQ_U(recs[0].pkts[NM_DIR_SRC], 3);
    CHECK_EQ_U(recs[0].pkts[NM_DIR_DST], 1);
    CHECK_EQ_U(recs[0].bytes[NM_DIR_SRC], 3ull * big);
    CHECK_EQ_U(recs[0].ip_bytes[NM_DIR_SRC], 3ull * (big - 14));
    CHECK_EQ_U(recs[0].bytes[NM_DIR_DST], 100);
    CHECK_EQ_U(recs[1].pkts[NM_DIR_SRC], 2);
    CHECK_EQ_U(recs[1].pkts[NM_DIR_DST], 0);
    CHECK_EQ_U(recs[1].bytes[NM_DIR_SRC], 2ull * big);
    CHECK_EQ_U(recs[1].ip_bytes[NM_DIR_SRC], 2ull * (big - 14));
    CHECK_EQ_U(recs[2].bytes[NM_DIR_SRC], 80);
    CHECK_EQ_U(recs[2].ip_bytes[NM_DIR_SRC], 66);
    flow_table_destroy(t);
}

/* Keys that differ in one port or one address byte (what a scan or a busy
 * server produces) spread over the index's homes like random numbers:
 * 2^16 keys into 2^17 buckets leave, by the Poisson law, about 60.7 % of
 * buckets empty (e^-0.5), and 8 keys in one bucket less than once in a
 * hundred tables. */
static void test_hash_spreads_similar_keys(void)
{
    enum { KEYS = 1 << 16, BUCKETS = 1 << 17 };
    static uint8_t load[BUCKETS];
    unsigned empty = 0, worst = 0;

    memset(load, 0, sizeof(load));
    for (unsigned i = 0; i < KEYS; i++) {
        struct flow_key k;
        unsigned side;
        struct nm_packet p = i & 1 ? udp(cli, (uint16_t)(i >> 1), srv, 53, 100, 0)
                                   : udp(v4(198, 18, (uint8_t)(i >> 9), (uint8_t)(i >> 1)), 5353,
                                         srv, 53, 100, 0);
        flow_key_from_packet(&p, &k, &side);
        /* Where the index puts a home: the hash's low half scaled. */
        uint8_t *b = &load[((uint64_t)(uint32_t)flow_key_hash(&k, 7) * BUCKETS) >> 32];
        if (*b < 255)
            (*b)++;
    }
    for (unsigned i = 0; i < BUCKETS; i++) {
        empty += load[i] == 0;
        worst = load[i] > worst ? load[i] : worst;
    }
    CHECK(empty > BUCKETS * 59 / 100 && empty < BUCKETS * 62 / 100);
    CHECK(worst <= 7);
}

/* An IPv6 address whose last four bytes are a, b, c, d after `prefix`:
 * with prefix ::ffff: it holds the bytes an IPv4 address is stored as. */
static struct nm_addr v6(const uint8_t prefix[12], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    struct nm_addr x = v4(a, b, c, d);
    memcpy(x.b, prefix, 12);
    return x;
}

static const uint8_t v6_mapped[12] = { [10] = 0xff, [11] = 0xff };
static const uint8_t v6_doc[12] = { 0x20, 0x01, 0x0d, 0xb8 };

static struct nm_packet udp6(struct nm_addr s, uint16_t sp, struct nm_addr d, uint16_t dp,
                             uint32_t len, uint64_t ts_ms)
{
    struct nm_packet p = udp(s, sp, d, dp, len, ts_ms);
    p.ip_version = 6;
    return p;
}

/* An IPv6 key is its addresses too: keys that differ only there differ,
 * and both directions still meet. */
static void test_key_v6_symmetric_and_exact(void)
{
    struct nm_packet a = udp6(v6(v6_doc, 0, 0, 0, 9), 5000, v6(v6_doc, 0, 0, 0, 1), 53, 80, 0);
    struct nm_packet b = udp6(v6(v6_doc, 0, 0, 0, 1), 53, v6(v6_doc, 0, 0, 0, 9), 5000, 80, 0);

    CHECK(same_key(&a, &b));
    b.src.b[0] ^= 0x80;   /* a bit the short key does not hold */
    CHECK(!same_key(&a, &b));
    /* The same packet as IPv4 (its addresses IPv4-mapped) is another key. */
    struct nm_packet m4 = udp(v4(198, 18, 0, 9), 5000, v4(198, 18, 0, 1), 53, 80, 0);
    struct nm_packet m6 = udp6(v6(v6_mapped, 198, 18, 0, 9), 5000, v6(v6_mapped, 198, 18, 0, 1),
                               53, 80, 0);
    CHECK(!same_key(&m4, &m6));
    CHECK(!same_key(&m6, &m4));
    CHECK(packet_hash(&m4) != packet_hash(&m6));
    /* All-zero addresses: the keys' bytes differ in the version alone. */
    struct nm_addr z = { { 0 } };
    struct nm_packet z4 = udp(v4(0, 0, 0, 0), 4000, v4(0, 0, 0, 0), 53, 80, 0);
    struct nm_packet z6 = udp6(z, 4000, z, 53, 80, 1);
    CHECK(!same_key(&z4, &z6));
    struct flow_table *t = table(8, 60, 0);
    feed(t, z4);
    feed(t, z6);
    feed(t, z4);
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 2);
    for (unsigned r = 0; r < nrecs && r < MAX_RECS; r++)
        CHECK_EQ_U(recs[r].pkts[NM_DIR_SRC], recs[r].ip_version == 4 ? 2 : 1);
    flow_table_destroy(t);
}

/* Records of the mixed-family table, by (version, source port). */
static void check_mixed_record(const struct flow_record *r, unsigned n_addrs, unsigned *seen)
{
    unsigned i = r->port[NM_DIR_SRC] - 1000u;
    bool six = r->ip_version == 6;

    CHECK(i < n_addrs);
    if (i >= n_addrs)
        return;
    seen[six * n_addrs + i]++;
    struct nm_addr s = six ? v6(i & 1 ? v6_mapped : v6_doc, 198, 18, 1, (uint8_t)i)
                           : v4(198, 18, 1, (uint8_t)i);
    struct nm_addr d = six ? v6(i & 1 ? v6_mapped : v6_doc, 198, 18, 0, 2) : srv;
    CHECK(memcmp(&r->addr[NM_DIR_SRC], &s, sizeof(s)) == 0);
    CHECK(memcmp(&r->addr[NM_DIR_DST], &d, sizeof(d)) == 0);
    CHECK_EQ_U(r->port[NM_DIR_DST], 53);
    CHECK_EQ_U(r->pkts[NM_DIR_SRC], 2 + six);
    CHECK_EQ_U(r->pkts[NM_DIR_DST], 1);
}

/* IPv4 and IPv6 flows with the same ports, VLAN and protocol, half of the
 * IPv6 ones with the very address bytes of an IPv4 flow (IPv4-mapped), in
 * a table of 16 index slots: their probe chains run into each other, so
 * every lookup compares against flows of the other family.  Each flow
 * must keep its own record, with its own addresses and counts. */
static void test_v4_v6_share_ports_and_slots(void)
{
    enum { N = 6 };
    struct flow_table *t = table(2 * N, 60, 0);
    unsigned seen[2 * N] = { 0 };

    for (unsigned round = 0; round < 3; round++)
        for (unsigned i = 0; i < N; i++) {
            uint16_t port = (uint16_t)(1000 + i);
            const uint8_t *pre = i & 1 ? v6_mapped : v6_doc;
            struct nm_addr a6 = v6(pre, 198, 18, 1, (uint8_t)i), b6 = v6(pre, 198, 18, 0, 2);
            uint64_t ts = round * 100 + i;
            if (round < 2)
                feed(t, udp(v4(198, 18, 1, (uint8_t)i), port, srv, 53, 100, ts));
            feed(t, udp6(a6, port, b6, 53, 120, ts));
            if (round == 2)
                feed(t, udp(srv, 53, v4(198, 18, 1, (uint8_t)i), port, 100, ts));
            if (round == 1)
                feed(t, udp6(b6, 53, a6, port, 120, ts));
        }
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 2 * N);
    for (unsigned r = 0; r < nrecs && r < MAX_RECS; r++)
        check_mixed_record(&recs[r], N, seen);
    for (unsigned i = 0; i < 2 * N; i++)
        CHECK_EQ_U(seen[i], 1);
    flow_table_destroy(t);
}

/* IPv6 flows come and go through a small table (evictions, idle ends), so
 * their pooled addresses are freed and handed out again: each record must
 * still carry the addresses its flow's packets had (the source address's
 * last bytes encode the source port), and every packet must be counted. */
static uint64_t v6_churn_pkts, v6_churn_bad;
static void v6_churn_check(void *user, const struct flow_record *r)
{
    (void)user;
    uint16_t p = r->port[NM_DIR_SRC];
    v6_churn_pkts += r->pkts[0] + r->pkts[1];
    if (r->ip_version == 6 &&
        (r->addr[NM_DIR_SRC].b[14] != (uint8_t)(p >> 8) || r->addr[NM_DIR_SRC].b[15] != (uint8_t)p ||
         r->addr[NM_DIR_SRC].b[0] != 0x20))
        v6_churn_bad++;
    if (r->ip_version == 4 && r->addr[NM_DIR_SRC].b[15] != (uint8_t)p)
        v6_churn_bad++;
}

static void test_v6_pool_reuse(void)
{
    char err[256];
    struct flow_table_config cfg = { .max_flows = 7, .idle_timeout_us = 1500000ull };
    struct flow_table *t = flow_table_create(&cfg, v6_churn_check, NULL, err, sizeof(err));
    struct flow_table_stats st;
    unsigned sent = 0;

    v6_churn_pkts = v6_churn_bad = 0;
    for (unsigned i = 0; i < 3000; i++) {
        uint16_t port = (uint16_t)(2000 + (i * 7919u) % 20);
        struct nm_addr a = v6(v6_doc, 0, 0, (uint8_t)(port >> 8), (uint8_t)port);
        uint64_t ts = (uint64_t)i * 100 + i / 50 * 2000;   /* ms: quiet gaps end flows idle */
        if (i % 3 == 2)
            feed(t, udp(v4(198, 18, 2, (uint8_t)port), port, srv, 53, 90, ts));
        else
            feed(t, udp6(a, port, v6(v6_doc, 0, 0, 0, 53), 53, 90, ts));
        sent++;
    }
    flow_table_get_stats(t, &st);
    flow_table_flush(t, FLOW_END_EOF);
    CHECK(st.evicted > 0);
    CHECK(st.ended > st.evicted);
    CHECK_EQ_U(v6_churn_pkts, sent);
    CHECK_EQ_U(v6_churn_bad, 0);
    flow_table_destroy(t);
}

/* Two keys that look the same to the index: in a table for 8 flows, 16
 * slots, the same home (the top 4 bits of the hash's low half: the half
 * scaled to 16 slots) and the same tag (the bits
 * of the hash's high half above the slot's flow bits: 4 by default, fewer
 * left with a wider index_flow_bits, none at 32).  The lookup then rests on
 * the key compare alone.  Found by sorting what the index sees of n keys
 * mk(0..n-1) under a fixed seed; the first family's keys are 0..n/2-1, the
 * other's n/2..n-1, and only pairs across them count: with 32 bits to
 * agree on, 2^18 keys a family give 16 such pairs on average, and none
 * about once in nine million seeds. */
enum { COLL_SEED = 0x5eed, COLL_N = 1 << 19, COLL_MAX_FLOWS = 8, COLL_FLOW_BITS = 4 };
struct coll { uint64_t h; uint32_t i; };
static int coll_cmp(const void *a, const void *b)
{
    const struct coll *x = a, *y = b;
    return x->h != y->h ? (x->h < y->h ? -1 : 1) : (x->i > y->i) - (x->i < y->i);
}

/* What a 16-slot index with flow_bits of flow per slot sees of a hash. */
static uint64_t index_view(uint64_t h, unsigned flow_bits)
{
    uint64_t tag = flow_bits < 32 ? (h >> 32) >> flow_bits : 0;
    return tag << 4 | ((h & 0xffffffffu) >> 28);
}

static bool find_collision(struct nm_packet (*mk)(uint32_t), unsigned flow_bits, uint32_t *a,
                           uint32_t *b)
{
    static struct coll c[COLL_N];

    for (uint32_t i = 0; i < COLL_N; i++) {
        struct nm_packet p = mk(i);
        struct flow_key k;
        unsigned side;
        flow_key_from_packet(&p, &k, &side);
        c[i].h = index_view(flow_key_hash(&k, COLL_SEED), flow_bits);
        c[i].i = i;
    }
    qsort(c, COLL_N, sizeof(c[0]), coll_cmp);
    for (uint32_t i = 0; i + 1 < COLL_N; i++)
        if (c[i].h == c[i + 1].h && (c[i].i < COLL_N / 2) != (c[i + 1].i < COLL_N / 2)) {
            *a = c[i].i;
            *b = c[i + 1].i;
            return true;
        }
    return false;
}

/* IPv6 keys with the same ports that differ in their addresses' high
 * bytes (which the short key does not hold). */
static struct nm_packet coll_v6_v6(uint32_t i)
{
    uint8_t pre[12] = { 0x20, 0x01, 0x0d, 0xb8, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i,
                        (uint8_t)(i >= COLL_N / 2) };
    return udp6(v6(pre, 0, 0, 0, 1), 4000, v6(v6_doc, 0, 0, 0, 2), 53, 100, 0);
}

/* IPv4 keys against IPv6 ones that hold the same kind of bytes: IPv4-mapped
 * addresses, the same ports. */
static struct nm_packet coll_v4_v6(uint32_t i)
{
    uint32_t j = i % (COLL_N / 2);
    uint8_t c = (uint8_t)(j >> 8), d = (uint8_t)j;
    uint16_t port = (uint16_t)(4000 + (j >> 16));
    return i < COLL_N / 2 ? udp(v4(10, 0, c, d), port, v4(10, 1, 0, 1), 53, 100, 0)
                          : udp6(v6(v6_mapped, 10, 2, c, d), port, v6(v6_mapped, 10, 1, 0, 1), 53,
                                 100, 0);
}

/* IPv4 keys, one family from 10.0/16, the other from 10.2/16. */
static struct nm_packet coll_v4_v4(uint32_t i)
{
    uint32_t j = i % (COLL_N / 2);
    return udp(v4(10, i < COLL_N / 2 ? 0 : 2, (uint8_t)(j >> 8), (uint8_t)j),
               (uint16_t)(4000 + (j >> 16)), v4(10, 1, 0, 1), 53, 100, 0);
}

/* A table with index_flow_bits set (0: the default). */
static struct flow_table *table_flow_bits(uint32_t max_flows, uint64_t idle_s, uint8_t flow_bits,
                                          flow_emit_fn *emit)
{
    char err[256];
    struct flow_table_config cfg = { .max_flows = max_flows, .idle_timeout_us = idle_s * 1000000ull,
                                     .hash_seed = COLL_SEED, .index_flow_bits = flow_bits };
    nrecs = 0;
    return flow_table_create(&cfg, emit, NULL, err, sizeof(err));
}

static struct flow_table *coll_table(uint8_t flow_bits)
{
    return table_flow_bits(COLL_MAX_FLOWS, 60, flow_bits, collect);
}

/* Feeds a, b, a, the two keys colliding in the index: two flows.
 * index_flow_bits is 0 (the default, COLL_FLOW_BITS for 8 flows) or
 * wider. */
static void check_colliding_pair(struct nm_packet (*mk)(uint32_t), uint8_t flow_bits)
{
    uint32_t ia, ib;

    CHECK(find_collision(mk, flow_bits ? flow_bits : COLL_FLOW_BITS, &ia, &ib));
    struct flow_table *t = coll_table(flow_bits);
    struct nm_packet a = mk(ia), b = mk(ib);
    feed(t, a);
    feed(t, b);
    feed(t, a);
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 2);
    for (unsigned r = 0; r < nrecs && r < MAX_RECS; r++) {
        const struct nm_packet *p = recs[r].ip_version == a.ip_version &&
                                    !memcmp(&recs[r].addr[NM_DIR_SRC], &a.src, sizeof(a.src)) ? &a : &b;
        CHECK_EQ_U(recs[r].ip_version, p->ip_version);
        CHECK(memcmp(&recs[r].addr[NM_DIR_SRC], &p->src, sizeof(p->src)) == 0);
        CHECK(memcmp(&recs[r].addr[NM_DIR_DST], &p->dst, sizeof(p->dst)) == 0);
        CHECK_EQ_U(recs[r].pkts[NM_DIR_SRC], p == &a ? 2 : 1);
    }
    flow_table_destroy(t);
}

static void test_colliding_keys_stay_apart(void)
{
    check_colliding_pair(coll_v6_v6, 0);
    check_colliding_pair(coll_v4_v6, 0);
    check_colliding_pair(coll_v4_v4, 0);
}

/* --max-flows 2^30 - 1, the largest, takes 30 bits of a slot and leaves
 * a 2-bit tag; with 31 bits one is left, with 32 none, and every probe
 * compares keys.  Tables that large are too large to allocate here:
 * index_flow_bits gives a small table the same slot layout. */
static void test_colliding_keys_narrow_or_no_tag(void)
{
    check_colliding_pair(coll_v6_v6, 31);
    check_colliding_pair(coll_v4_v4, 31);
    check_colliding_pair(coll_v4_v6, 32);
    check_colliding_pair(coll_v4_v4, 32);
}

/* A UDP flow from 10.9.0.1:port to 10.1.0.1:53 whose home in an index
 * of nslots slots is `home` (the hash's low half scaled to nslots, as
 * flow_table.c places it), its port above *from; *from moves past it. */
static struct nm_packet wrap_flow(uint16_t *from, unsigned nslots, unsigned home, uint64_t ts_ms)
{
    for (;;) {
        struct nm_packet p = udp(v4(10, 9, 0, 1), ++*from, v4(10, 1, 0, 1), 53, 100, ts_ms);
        uint32_t low = (uint32_t)packet_hash_seed(&p, COLL_SEED);
        if ((unsigned)(((uint64_t)low * nslots) >> 32) == home)
            return p;
    }
}

/* Backward-shift deletion in a cluster that wraps the index end, in a
 * table of max_flows, whose index has nslots slots (n below): homes n-1
 * (a), n-2 (x), n-1 (b), 0 (c), 1 (d), inserted in that order, sit in
 * slots n-1, n-2, 0, 1, 2.  When a goes, b, c and d must each move back a
 * slot (b across the end), and x stay: every one is then found again
 * (its second packet joins its flow). */
static void check_wrapping_removal(uint32_t max_flows, unsigned nslots, uint8_t flow_bits)
{
    struct flow_table *t = table_flow_bits(max_flows, 60, flow_bits, collect);
    uint16_t port = 1000;

    CHECK_EQ_U(flow_table_index_slots(t), nslots);
    struct nm_packet a = wrap_flow(&port, nslots, nslots - 1, 0);
    struct nm_packet p[4];

    p[0] = wrap_flow(&port, nslots, nslots - 2, 1000);
    p[1] = wrap_flow(&port, nslots, nslots - 1, 1000);
    p[2] = wrap_flow(&port, nslots, 0, 1000);
    p[3] = wrap_flow(&port, nslots, 1, 1000);
    feed(t, a);
    for (unsigned k = 0; k < 4; k++)
        feed(t, p[k]);
    flow_table_advance(t, 60500000ull);     /* a idle (60 s), the others not */
    CHECK_EQ_U(nrecs, 1);
    for (unsigned k = 0; k < 4; k++) {
        p[k].ts_us = 60600000ull;
        feed(t, p[k]);
    }
    struct flow_table_stats st;
    flow_table_get_stats(t, &st);
    CHECK_EQ_U(st.created, 5);
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 5);
    for (unsigned r = 1; r < nrecs && r < MAX_RECS; r++)
        CHECK_EQ_U(recs[r].pkts[NM_DIR_SRC], 2);
    flow_table_destroy(t);
}

/* 8 flows: 16 slots (the least an index has); 11 flows: 17 slots (1.5
 * a flow, rounded up), where the wrap is not a power of two's. */
static void test_removal_in_wrapping_cluster(void)
{
    check_wrapping_removal(COLL_MAX_FLOWS, 16, 0);
    check_wrapping_removal(COLL_MAX_FLOWS, 16, 32);
    check_wrapping_removal(11, 17, 0);
    check_wrapping_removal(11, 17, 32);
}

/* A full table (8 flows in 16 slots, or 11 in 17) under a random stream of 13
 * keys, IPv4 and IPv6: each new key evicts the least recently seen flow,
 * so nearly every packet removes an entry from some cluster and inserts
 * another.  The table must create a flow exactly when an LRU list kept
 * here does not hold the key: a lookup that misses a flow it holds (a
 * wrong backward shift) or finds one it dropped shows. */
static void check_churn_against_lru(uint32_t max_flows, unsigned nslots, uint8_t flow_bits)
{
    struct flow_table *t = table_flow_bits(max_flows, 60, flow_bits, collect);
    enum { KEYS = 13, MAX_MODEL = 16 };
    unsigned lru[MAX_MODEL], n = 0, bad = 0;
    uint32_t rng = 2024;

    CHECK_EQ_U(flow_table_index_slots(t), nslots);

    for (unsigned i = 0; i < 20000; i++) {
        rng = rng * 1103515245u + 12345u;
        unsigned k = (rng >> 16) % KEYS, at = 0;
        struct nm_packet p = k % 3 ? udp(v4(10, 7, 0, (uint8_t)k), 5000, srv, 53, 100, i)
                                   : udp6(v6(v6_doc, 0, 7, 0, (uint8_t)k), 5000,
                                          v6(v6_doc, 0, 0, 0, 53), 53, 100, i);
        while (at < n && lru[at] != k)
            at++;
        bool held = at < n;
        if (!held)
            at = n < max_flows ? n++ : n - 1;   /* the tail goes */
        memmove(&lru[1], &lru[0], at * sizeof(lru[0]));
        lru[0] = k;
        bad += flow_table_update(t, &p) == held;
    }
    CHECK_EQ_U(bad, 0);
    flow_table_destroy(t);
}

/* 8 flows in 16 slots, and 11 in 17 (two thirds full, and not a power of
 * two). */
static void test_churn_against_lru_model(void)
{
    check_churn_against_lru(COLL_MAX_FLOWS, 16, 0);
    check_churn_against_lru(COLL_MAX_FLOWS, 16, 32);
    check_churn_against_lru(11, 17, 0);
    check_churn_against_lru(11, 17, 32);
}

/* Many doublings (1024 slots to 2^16, then 90,000: 1.5 a flow) with the flows' indexes out of
 * order (a first batch expired, its flows reused) and a fifth of them
 * IPv6, whose homes come from the address pool: every flow is found
 * again afterwards. */
static void check_doubling_many(uint8_t flow_bits)
{
    struct flow_table *t = table_flow_bits(60000, 100, flow_bits, sum_pkts);
    const unsigned early = 3000, n = 50000;
    struct flow_table_stats st;

    total_pkts = 0;
    for (unsigned i = 0; i < early; i++)
        feed(t, udp(v4(198, 19, (uint8_t)(i >> 8), (uint8_t)i), 7, srv, 53, 100, 0));
    for (unsigned round = 0; round < 2; round++)
        for (unsigned i = 0; i < n; i++) {
            struct nm_addr a = v4(198, 18, (uint8_t)(i >> 8), (uint8_t)i);
            uint64_t ms = 200000 + round * 1000;
            feed(t, i % 5 ? udp(a, (uint16_t)i, srv, 53, 100, ms)
                          : udp6(v6(v6_doc, 0, 1, (uint8_t)(i >> 8), (uint8_t)i), (uint16_t)i,
                                 v6(v6_doc, 0, 0, 0, 53), 53, 100, ms));
        }
    flow_table_get_stats(t, &st);
    CHECK_EQ_U(st.created, early + n);
    CHECK_EQ_U(st.ended, early);
    CHECK_EQ_U(st.active, n);
    CHECK_EQ_U(st.evicted, 0);
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(total_pkts, early + 2 * n);
    flow_table_destroy(t);
}

static void test_doubling_with_many_entries(void)
{
    check_doubling_many(0);
    check_doubling_many(32);
}

/* A flush empties the index in one go rather than entry by entry; the
 * table goes on after it (live capture flushes when an interface goes
 * down): the same keys then start new flows, and are found again. */
static void test_flush_then_same_keys(void)
{
    struct flow_table *t = table_flow_bits(1000, 60, 0, sum_pkts);
    const unsigned n = 700;                  /* through a doubling */
    unsigned created[3] = { 0 };

    total_pkts = 0;
    for (unsigned round = 0; round < 3; round++) {
        for (unsigned i = 0; i < n; i++) {
            struct nm_packet p = udp(v4(198, 18, 9, (uint8_t)(i % 200)), (uint16_t)(1 + i / 200),
                                     srv, 53, 100, round * 10 + 1);
            created[round] += flow_table_update(t, &p);
        }
        if (round == 0)
            flow_table_flush(t, FLOW_END_EOF);
    }
    CHECK_EQ_U(created[0], n);
    CHECK_EQ_U(created[1], n);
    CHECK_EQ_U(created[2], 0);
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(total_pkts, 3 * n);
    flow_table_destroy(t);
}

/* Flow ids are a sequence per table; a flow keeps the low 32 bits, so
 * ids must stay exact across the wrap of the low half (flows made before
 * it end after it) and of the 56 bits flow_id has for them. */
static void check_ids_across(uint64_t id_start)
{
    char err[256];
    struct flow_table_config cfg = { .max_flows = 16, .idle_timeout_us = 60000000ull,
                                     .id_start = id_start };
    const uint64_t mask = (1ull << 56) - 1;

    nrecs = 0;
    struct flow_table *t = flow_table_create(&cfg, collect, NULL, err, sizeof(err));
    for (unsigned i = 1; i <= 6; i++)
        feed(t, udp(cli, (uint16_t)(1000 + i), srv, 53, 100, i));
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 6);
    for (unsigned r = 0; r < nrecs && r < MAX_RECS; r++)
        CHECK_EQ_U(recs[r].flow_id, (id_start + (recs[r].port[NM_DIR_SRC] - 1000u)) & mask);
    flow_table_destroy(t);
}

static void test_flow_ids_across_wraps(void)
{
    check_ids_across(0);
    check_ids_across((1ull << 32) - 3);
    check_ids_across((5ull << 32) - 3);
    check_ids_across((1ull << 56) - 3);
}

/* A flow keeps its last packet's time as a 32-bit offset from the time it
 * was last touched; packets stamped far from table time (over half an
 * hour, either way) must still give the exact end time.  c's second packet
 * is clamped to table time plus the idle timeout (three hours), its stamp
 * three hours more ahead. */
static void test_far_timestamps_exact(void)
{
    struct flow_table *t = table(16, 3 * 3600, 0);
    struct nm_addr a = v4(198, 18, 3, 1), b = v4(198, 18, 3, 2), c = v4(198, 18, 3, 3);
    const uint64_t hour = 3600000, minute = 60000;
    const uint64_t end_ms[4] = { 0, 1000, hour + 3, hour + 2 + 358 * minute };
    const uint64_t pkts[4] = { 0, 2, 3, 2 };

    feed(t, udp(a, 1000, srv, 53, 100, 0));
    feed(t, udp(b, 1000, srv, 53, 100, hour));
    feed(t, udp(b, 1000, srv, 53, 100, hour + 1));   /* table time: one hour */
    feed(t, udp(a, 1000, srv, 53, 100, 1000));       /* an hour old: last 1 s, touched 1 h */
    feed(t, udp(c, 1000, srv, 53, 100, hour + 2 + 179 * minute));
    feed(t, udp(b, 1000, srv, 53, 100, hour + 3));
    feed(t, udp(c, 1000, srv, 53, 100, end_ms[3]));
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 3);
    for (unsigned r = 0; r < nrecs && r < MAX_RECS; r++) {
        uint8_t who = recs[r].addr[NM_DIR_SRC].b[15];
        CHECK(who >= 1 && who <= 3);
        if (who < 1 || who > 3)
            continue;
        CHECK_EQ_U(recs[r].ts_end_us, end_ms[who] * 1000);
        CHECK_EQ_U(recs[r].pkts[NM_DIR_SRC], pkts[who]);
    }
    flow_table_destroy(t);
}

int main(void)
{
    cli = v4(198, 18, 0, 1);
    srv = v4(198, 18, 0, 2);
    RUN(test_key_is_symmetric);
    RUN(test_key_fields);
    RUN(test_fin_close_and_counts);
    RUN(test_fin_unacked_stays_open);
    RUN(test_rst_and_stray_packets);
    RUN(test_port_reuse_two_records);
    RUN(test_syn_retransmission_same_record);
    RUN(test_simultaneous_open_one_record);
    RUN(test_responder_syn_after_interim_new_record);
    RUN(test_fin_after_data);
    RUN(test_packet_count_carry);
    RUN(test_syn_again_after_simultaneous_open);
    RUN(test_responder_syn_after_data_new_record);
    RUN(test_initiator_midstream);
    RUN(test_udp_initiator);
    RUN(test_idle_timeout_splits);
    RUN(test_active_timeout_interim);
    RUN(test_active_timeout_quiet_flow);
    RUN(test_old_timestamp_not_idle);
    RUN(test_future_timestamp_outlier);
    RUN(test_quiet_period_request_reply_one_flow);
    RUN(test_future_timestamp_flow_expires);
    RUN(test_quiet_period_expires);
    RUN(test_eviction_lru_reported);
    RUN(test_churn_conserves_packets);
    RUN(test_churn_packet_total);
    RUN(test_index_growth_keeps_every_flow);
    RUN(test_hash_spreads_similar_keys);
    RUN(test_tcp_and_icmp_share_bytes);
    RUN(test_counters_past_32_bits);
    RUN(test_key_v6_symmetric_and_exact);
    RUN(test_v4_v6_share_ports_and_slots);
    RUN(test_v6_pool_reuse);
    RUN(test_colliding_keys_stay_apart);
    RUN(test_colliding_keys_narrow_or_no_tag);
    RUN(test_removal_in_wrapping_cluster);
    RUN(test_churn_against_lru_model);
    RUN(test_doubling_with_many_entries);
    RUN(test_flush_then_same_keys);
    RUN(test_flow_ids_across_wraps);
    RUN(test_far_timestamps_exact);
    TESTLIB_EXIT();
}
