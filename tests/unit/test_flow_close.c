/*
 * test_flow_close.c: the flow table's close timeout (--close-timeout).
 * A TCP flow closed by FINs acknowledged both ways, or by a RST, is written
 * once it has been quiet for the close timeout, not the idle timeout; late
 * packets within it join the record and re-arm the wait, later ones start
 * a new record; a full table evicts closed flows before open ones; a
 * snapshot still shows closed flows; 0 in the config means the idle
 * timeout.  Expected values follow from the packets each test scripts.
 */
#include <string.h>

#include "flow/flow_table.h"
#include "testlib.h"

#define MAX_RECS 16
static struct flow_record recs[MAX_RECS];
static unsigned nrecs;

static void collect(void *user, const struct flow_record *r)
{
    (void)user;
    if (nrecs < MAX_RECS)
        recs[nrecs] = *r;
    nrecs++;
}

static struct flow_table *table(uint32_t max_flows, uint64_t close_ms)
{
    char err[256];
    struct flow_table_config cfg = {
        .max_flows = max_flows,
        .idle_timeout_us = 60ull * 1000000ull,
        .close_timeout_us = close_ms * 1000ull,
    };
    nrecs = 0;
    memset(recs, 0, sizeof(recs));
    return flow_table_create(&cfg, collect, NULL, err, sizeof(err));
}

/* A TCP packet of connection `port` (client port) from the client (dir 0)
 * or the server (dir 1), or a UDP packet when flags is 0xff. */
static struct nm_packet pkt(uint16_t port, int from_server, uint8_t flags, uint32_t seq,
                            uint32_t ack, uint64_t ts_ms)
{
    struct nm_packet p;
    memset(&p, 0, sizeof(p));
    p.has_ip = p.has_ports = true;
    p.ip_version = 4;
    p.src.b[10] = p.src.b[11] = p.dst.b[10] = p.dst.b[11] = 0xff;
    p.src.b[12] = p.dst.b[12] = 198;
    p.src.b[13] = p.dst.b[13] = 18;
    p.src.b[15] = from_server ? 2 : 1;
    p.dst.b[15] = from_server ? 1 : 2;
    p.sport = from_server ? 443 : port;
    p.dport = from_server ? port : 443;
    p.proto = flags == 0xff ? 17 : 6;
    p.has_tcp = flags != 0xff;
    p.tcp_flags = flags == 0xff ? 0 : flags;
    p.tcp_seq = seq;
    p.tcp_ack = ack;
    p.wirelen = 60;
    p.ip_len = 46;
    p.ts_us = ts_ms * 1000ull;
    return p;
}

static void feed(struct flow_table *t, struct nm_packet p)
{
    flow_table_update(t, &p);
}

static void advance(struct flow_table *t, uint64_t ms)
{
    flow_table_advance(t, ms * 1000ull);
}

/* Handshake at t0, FINs acknowledged both ways by t0 + 30 ms. */
static void connection(struct flow_table *t, uint16_t port, uint64_t t0)
{
    feed(t, pkt(port, 0, NM_TCP_SYN, 100, 0, t0));
    feed(t, pkt(port, 1, NM_TCP_SYN | NM_TCP_ACK, 500, 101, t0 + 1));
    feed(t, pkt(port, 0, NM_TCP_ACK, 101, 501, t0 + 2));
    feed(t, pkt(port, 0, NM_TCP_FIN | NM_TCP_ACK, 101, 501, t0 + 10));
    feed(t, pkt(port, 1, NM_TCP_FIN | NM_TCP_ACK, 501, 102, t0 + 20));
    feed(t, pkt(port, 0, NM_TCP_ACK, 102, 502, t0 + 30));
}

static uint32_t rec_pkts(const struct flow_record *r)
{
    return (uint32_t)(r->pkts[0] + r->pkts[1]);
}

static void test_closed_written_after_close_timeout(void)
{
    struct flow_table *t = table(16, 5000);
    CHECK(t != NULL);
    connection(t, 40000, 1000);
    feed(t, pkt(7, 0, 0xff, 0, 0, 1500));              /* an open UDP flow */
    advance(t, 6029);
    CHECK_EQ_U(nrecs, 0);                               /* closed at 1030: due at 6030 */
    advance(t, 6031);
    CHECK_EQ_U(nrecs, 1);
    CHECK_EQ_U(recs[0].end_reason, FLOW_END_FIN);
    CHECK_EQ_U(rec_pkts(&recs[0]), 6);
    advance(t, 30000);                       /* UDP waits for the idle timeout */
    CHECK_EQ_U(nrecs, 1);
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 2);
    flow_table_destroy(t);
}

static void test_late_packets(void)
{
    struct flow_table *t = table(16, 5000);
    CHECK(t != NULL);
    connection(t, 40001, 1000);
    feed(t, pkt(40001, 1, NM_TCP_ACK, 502, 102, 4000)); /* late: joins, re-arms */
    advance(t, 8999);
    CHECK_EQ_U(nrecs, 0);
    advance(t, 9001);
    CHECK_EQ_U(nrecs, 1);
    CHECK_EQ_U(rec_pkts(&recs[0]), 7);
    feed(t, pkt(40001, 1, NM_TCP_RST, 502, 0, 20000)); /* too late: a record of its own */
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 2);
    CHECK_EQ_U(rec_pkts(&recs[1]), 1);
    CHECK_EQ_U(recs[1].end_reason, FLOW_END_RST);
    flow_table_destroy(t);
}

static void test_rst_closes(void)
{
    struct flow_table *t = table(16, 2000);
    CHECK(t != NULL);
    feed(t, pkt(40002, 0, NM_TCP_SYN, 100, 0, 1000));
    feed(t, pkt(40002, 1, NM_TCP_RST | NM_TCP_ACK, 0, 101, 1001));
    advance(t, 3000);
    CHECK_EQ_U(nrecs, 0);
    advance(t, 3002);
    CHECK_EQ_U(nrecs, 1);
    CHECK_EQ_U(recs[0].end_reason, FLOW_END_RST);
    flow_table_destroy(t);
}

/* Full table: the closed flow goes first even though the open one was
 * touched earlier. */
static void test_eviction_prefers_closed(void)
{
    struct flow_table *t = table(2, 5000);
    CHECK(t != NULL);
    feed(t, pkt(9, 0, 0xff, 0, 0, 900));
    connection(t, 40003, 1000);
    feed(t, pkt(10, 0, 0xff, 0, 0, 1100));
    CHECK_EQ_U(nrecs, 1);
    CHECK_EQ_U(recs[0].end_reason, FLOW_END_FIN);      /* finished, not cut short */
    CHECK_EQ_U(recs[0].proto, 6);
    flow_table_destroy(t);
}

/* A lone late packet does not move table time (it follows the smaller of
 * two packets' times), so the closed flow is judged by the packet itself:
 * 10 s after the RST is past the close timeout, a new record. */
static void test_lone_late_packet_splits(void)
{
    struct flow_table *t = table(16, 5000);
    CHECK(t != NULL);
    feed(t, pkt(40006, 0, NM_TCP_SYN, 100, 0, 1000));
    feed(t, pkt(40006, 1, NM_TCP_RST | NM_TCP_ACK, 0, 101, 1001));
    feed(t, pkt(40006, 0, NM_TCP_ACK, 101, 1, 11001));
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 2);
    CHECK_EQ_U(rec_pkts(&recs[0]), 2);
    CHECK_EQ_U(rec_pkts(&recs[1]), 1);
    flow_table_destroy(t);
}

/* Flow ids wrap their 32-bit low half: a closed flow waiting out its close
 * timeout keeps its id like an open one. */
static void test_closed_flow_keeps_id_across_wrap(void)
{
    char err[256];
    struct flow_table_config cfg = { .max_flows = 16, .idle_timeout_us = 60000000ull,
                                     .close_timeout_us = 5000000ull,
                                     .id_start = (1ull << 32) - 2 };
    nrecs = 0;
    struct flow_table *t = flow_table_create(&cfg, collect, NULL, err, sizeof(err));
    CHECK(t != NULL);
    connection(t, 40007, 1000);                         /* id 2^32 - 1, closed */
    for (uint16_t p = 1; p <= 3; p++)                   /* ids 2^32 .. 2^32 + 2 */
        feed(t, pkt(p, 0, 0xff, 0, 0, 1100 + p));
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 4);
    CHECK_EQ_U(recs[0].proto, 6);
    CHECK_EQ_U(recs[0].flow_id, (1ull << 32) - 1);
    flow_table_destroy(t);
}

static void count_snapshot(void *user, const struct flow_record *r)
{
    (void)r;
    (*(unsigned *)user)++;
}

static void test_snapshot_and_flush_order(void)
{
    struct flow_table *t = table(16, 5000);
    unsigned seen = 0;
    CHECK(t != NULL);
    feed(t, pkt(11, 0, 0xff, 0, 0, 900));
    connection(t, 40004, 1000);
    flow_table_snapshot(t, count_snapshot, &seen);
    CHECK_EQ_U(seen, 2);
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 2);
    CHECK_EQ_U(recs[0].proto, 6);                       /* closed ones first */
    CHECK_EQ_U(recs[0].end_reason, FLOW_END_FIN);
    CHECK_EQ_U(recs[1].end_reason, FLOW_END_EOF);
    flow_table_destroy(t);
}

static void test_zero_means_idle_timeout(void)
{
    struct flow_table *t = table(16, 0);
    CHECK(t != NULL);
    connection(t, 40005, 1000);
    advance(t, 60000);
    CHECK_EQ_U(nrecs, 0);
    advance(t, 61031);
    CHECK_EQ_U(nrecs, 1);
    flow_table_destroy(t);
}

int main(void)
{
    RUN(test_closed_written_after_close_timeout);
    RUN(test_late_packets);
    RUN(test_rst_closes);
    RUN(test_eviction_prefers_closed);
    RUN(test_snapshot_and_flush_order);
    RUN(test_zero_means_idle_timeout);
    RUN(test_lone_late_packet_splits);
    RUN(test_closed_flow_keeps_id_across_wrap);
    TESTLIB_EXIT();
}
