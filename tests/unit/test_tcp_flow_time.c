/*
 * test_tcp_flow_time.c: the TCP analysis of a flow as the flow table keeps
 * it, when the flow's first-packet time (ts_first, which the analysis's
 * compact form counts its segments' times from) is not its first
 * segment's, or changes while the flow is in that form: a first packet
 * that is no TCP segment, a packet stamped before the first, and an
 * --active-timeout interim record, which restarts the flow's time.  Each
 * record's TCP summary must equal that of tcp_analysis_packet run on the
 * same segments as they came.
 */
#include <string.h>

#include "analyze/tcp_analysis.h"
#include "flow/flow_key.h"
#include "flow/flow_table.h"
#include "testlib.h"

enum { S = NM_TCP_SYN, A = NM_TCP_ACK };

#define MAX_RECS 8
static struct flow_record recs[MAX_RECS];
static unsigned nrecs;

/* The oracle: every segment the table was given, analysed directly. */
static struct tcp_analysis direct;
static unsigned client_side;   /* canonical side of the client */

static void collect(void *user, const struct flow_record *r)
{
    (void)user;
    if (nrecs < MAX_RECS)
        recs[nrecs] = *r;
    nrecs++;
}

static struct flow_table *table(uint64_t active_s)
{
    char err[256];
    struct flow_table_config cfg = {
        .max_flows = 16,
        .idle_timeout_us = 600 * 1000000ull,
        .active_timeout_us = active_s * 1000000ull,
    };
    nrecs = 0;
    tcp_analysis_init(&direct);
    return flow_table_create(&cfg, collect, NULL, err, sizeof(err));
}

/* A segment from client or server at ts_ms with len bytes of payload;
 * `segment` false: a protocol-6 packet cut short after the ports, so no
 * TCP segment. */
static void send_len(struct flow_table *t, int from_server, bool segment, uint8_t flags,
                     uint32_t seq, uint32_t ack, uint32_t len, uint64_t ts_ms)
{
    struct nm_packet p;
    struct flow_key key;
    unsigned side;

    memset(&p, 0, sizeof(p));
    p.has_ip = p.has_ports = true;
    p.ip_version = 4;
    p.proto = 6;
    p.src.b[10] = p.src.b[11] = p.dst.b[10] = p.dst.b[11] = 0xff;
    p.src.b[15] = from_server ? 2 : 1;
    p.dst.b[15] = from_server ? 1 : 2;
    p.sport = from_server ? 443 : 50000;
    p.dport = from_server ? 50000 : 443;
    p.has_tcp = segment;
    p.tcp_flags = flags;
    p.tcp_seq = seq;
    p.tcp_ack = ack;
    p.tcp_win = 1000;
    p.payload_wire_len = len;
    p.wirelen = 54 + len;
    p.ip_len = 40 + len;
    p.ts_us = ts_ms * 1000ull;
    flow_key_from_packet(&p, &key, &side);
    if (!from_server)
        client_side = side;
    flow_table_update(t, &p);
    if (segment)
        tcp_analysis_packet(&direct, &p, side, client_side);
}

static void send(struct flow_table *t, int from_server, bool segment, uint8_t flags,
                 uint32_t seq, uint32_t ack, uint64_t ts_ms)
{
    send_len(t, from_server, segment, flags, seq, ack, 0, ts_ms);
}

/* The client's SYN and the server's SYN-ACK. */
static void syn_synack(struct flow_table *t, uint64_t syn_ms, uint64_t synack_ms)
{
    send(t, 0, true, S, 100, 0, syn_ms);
    send(t, 1, true, S | A, 500, 101, synack_ms);
}

/* Ends the table; its last record, the `n`th, must start at start_ms and
 * carry the direct analysis of all the segments. */
static void finish(struct flow_table *t, unsigned n, uint64_t start_ms)
{
    struct flow_tcp_summary want;

    flow_table_flush(t, FLOW_END_EOF);
    flow_table_destroy(t);
    CHECK_EQ_U(nrecs, n);
    if (nrecs != n)
        return;
    CHECK_EQ_U(recs[n - 1].ts_start_us, start_ms * 1000);
    memset(&want, 0, sizeof(want));
    tcp_analysis_fill(&direct, client_side, &want);
    CHECK(recs[n - 1].tcp.valid);
    CHECK(memcmp(&recs[n - 1].tcp, &want, sizeof(want)) == 0);
}

/* The first packet is no segment: the handshake 30 ms later must be timed
 * from its own SYN, not from the flow's start.  The third segment carries
 * data that the fourth, past the compact form, acknowledges: the RTT
 * sample spans the replayed segments and the one analysed as it came. */
static void test_first_packet_not_a_segment(void)
{
    struct flow_table *t = table(0);

    send(t, 0, false, 0, 0, 0, 1000);
    syn_synack(t, 1030, 1070);
    send_len(t, 0, true, A, 101, 501, 100, 1100);
    send(t, 1, true, A, 501, 201, 1130);
    finish(t, 1, 1000);
}

/* A packet stamped before the flow's first arrives after two segments
 * were kept compactly: either a segment (a late ACK stamped early) or no
 * segment at all; the record is that of the segments at their own times. */
static void early_packet(bool segment)
{
    struct flow_table *t = table(0);

    syn_synack(t, 1000, 1040);
    send(t, 0, segment, A, 101, 501, 500);
    send(t, 0, true, A, 101, 501, 1100);
    finish(t, 1, 500);
}

static void test_early_packet_while_compact(void)
{
    early_packet(true);
    early_packet(false);
}

/* An --active-timeout interim record while the flow is compact: the
 * record after it still times the whole handshake from its SYN. */
static void test_active_timeout_while_compact(void)
{
    struct flow_table *t = table(1);

    syn_synack(t, 0, 40);
    flow_table_advance(t, 1500000);
    CHECK_EQ_U(nrecs, 1);
    CHECK_EQ_U(recs[0].end_reason, FLOW_END_ACTIVE);
    send(t, 0, true, A, 101, 501, 1600);
    finish(t, 2, 1500);
}

int main(void)
{
    RUN(test_first_packet_not_a_segment);
    RUN(test_early_packet_while_compact);
    RUN(test_active_timeout_while_compact);
    TESTLIB_EXIT();
}
