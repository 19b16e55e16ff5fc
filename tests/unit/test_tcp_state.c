/*
 * test_tcp_state.c: the TCP tracker driven through scripted segment
 * sequences (RFC 9293 §3.3.2, §3.6): normal open and close, simultaneous
 * open, half-open, RST from either side, port reuse after close, mid-stream
 * pickup.  Expected states follow from RFC 9293's diagram as an observer
 * sees it; the table itself is also checked to be complete.
 */
#include "analyze/tcp_state.h"
#include "decode/decode.h"
#include "testlib.h"

enum { C = 0, S = 1 };  /* canonical sides: client (initiator) and server */
static struct tcp_tracker trk;

static enum tcp_state seg(unsigned side, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len)
{
    tcp_tracker_update(&trk, side, side == C ? TCP_DIR_ORIG : TCP_DIR_REPLY, flags, seq, ack,
                       len);
    return (enum tcp_state)trk.state;
}

#define SYN NM_TCP_SYN
#define ACK NM_TCP_ACK
#define FIN NM_TCP_FIN
#define RST NM_TCP_RST

static void test_table_complete(void)
{
    for (int d = 0; d < 2; d++)
        for (int c = 0; c < TCP_FC_COUNT; c++)
            for (int s = 0; s < TCP_ST_COUNT; s++) {
                const struct tcp_transition *t =
                    tcp_state_transition((enum tcp_dir)d, (enum tcp_flag_class)c,
                                         (enum tcp_state)s);
                CHECK(t->reason != NULL && t->reason[0] != '\0');
                CHECK(t->next == TCP_ST_KEEP || t->next < TCP_ST_COUNT);
            }
    for (int s = 0; s < TCP_ST_COUNT; s++)
        CHECK(tcp_state_timeout_us((enum tcp_state)s) > 0);
}

static void test_normal_open_close(void)
{
    tcp_tracker_init(&trk);
    CHECK_EQ_U(seg(C, SYN, 100, 0, 0), TCP_ST_SYN_SENT);
    CHECK_EQ_U(seg(S, SYN | ACK, 500, 101, 0), TCP_ST_SYN_RECV);
    CHECK_EQ_U(seg(C, ACK, 101, 501, 0), TCP_ST_ESTABLISHED);
    CHECK_EQ_U(seg(C, ACK, 101, 501, 10), TCP_ST_ESTABLISHED);
    CHECK_EQ_U(seg(S, ACK, 501, 111, 20), TCP_ST_ESTABLISHED);
    CHECK_EQ_U(seg(C, FIN | ACK, 111, 521, 0), TCP_ST_FIN_WAIT);
    /* An ACK from the server that does not cover the FIN changes nothing. */
    CHECK_EQ_U(seg(S, ACK, 521, 111, 0), TCP_ST_FIN_WAIT);
    CHECK_EQ_U(seg(S, ACK, 521, 112, 0), TCP_ST_CLOSE_WAIT);
    CHECK_EQ_U(seg(S, ACK, 521, 112, 5), TCP_ST_CLOSE_WAIT);
    CHECK_EQ_U(seg(S, FIN | ACK, 526, 112, 0), TCP_ST_LAST_ACK);
    /* A retransmitted FIN is not a new close. */
    CHECK_EQ_U(seg(S, FIN | ACK, 526, 112, 0), TCP_ST_LAST_ACK);
    CHECK_EQ_U(seg(C, ACK, 112, 527, 0), TCP_ST_TIME_WAIT);
    CHECK_EQ_U(seg(C, ACK, 112, 527, 0), TCP_ST_TIME_WAIT);
}

static void test_fin_ack_close(void)
{
    /* FIN+ACK that acknowledges the peer's FIN in the same segment. */
    tcp_tracker_init(&trk);
    seg(C, SYN, 1, 0, 0);
    seg(S, SYN | ACK, 9, 2, 0);
    seg(C, ACK, 2, 10, 0);
    CHECK_EQ_U(seg(S, FIN | ACK, 10, 2, 0), TCP_ST_FIN_WAIT);
    CHECK_EQ_U(seg(C, FIN | ACK, 2, 11, 0), TCP_ST_LAST_ACK);
    CHECK_EQ_U(seg(S, ACK, 11, 3, 0), TCP_ST_TIME_WAIT);
}

static void test_simultaneous_close(void)
{
    /* Both FINs cross; each side's ACK of the other's FIN comes later. */
    tcp_tracker_init(&trk);
    seg(C, SYN, 1, 0, 0);
    seg(S, SYN | ACK, 9, 2, 0);
    seg(C, ACK, 2, 10, 0);
    CHECK_EQ_U(seg(C, FIN | ACK, 2, 10, 0), TCP_ST_FIN_WAIT);
    CHECK_EQ_U(seg(S, FIN | ACK, 10, 2, 0), TCP_ST_LAST_ACK);
    CHECK_EQ_U(seg(C, ACK, 3, 11, 0), TCP_ST_LAST_ACK);   /* C's own FIN still unacked */
    CHECK_EQ_U(seg(S, ACK, 11, 3, 0), TCP_ST_TIME_WAIT);
}

static void test_simultaneous_open(void)
{
    tcp_tracker_init(&trk);
    CHECK_EQ_U(seg(C, SYN, 100, 0, 0), TCP_ST_SYN_SENT);
    CHECK_EQ_U(seg(S, SYN, 700, 0, 0), TCP_ST_SYN_SENT);
    CHECK_EQ_U(seg(C, SYN | ACK, 100, 701, 0), TCP_ST_SYN_RECV);
    CHECK_EQ_U(seg(S, SYN | ACK, 700, 101, 0), TCP_ST_SYN_RECV);
    CHECK_EQ_U(seg(C, ACK, 101, 701, 0), TCP_ST_ESTABLISHED);
}

static void test_half_open(void)
{
    /* SYN answered by nothing, then the initiator gives up with a FIN. */
    tcp_tracker_init(&trk);
    CHECK_EQ_U(seg(C, SYN, 5, 0, 0), TCP_ST_SYN_SENT);
    CHECK_EQ_U(seg(C, SYN, 5, 0, 0), TCP_ST_SYN_SENT);
    CHECK_EQ_U(seg(C, FIN | ACK, 6, 0, 0), TCP_ST_FIN_WAIT);
    /* Half-open established side: data from a server whose peer vanished. */
    tcp_tracker_init(&trk);
    seg(C, SYN, 5, 0, 0);
    seg(S, SYN | ACK, 50, 6, 0);
    CHECK_EQ_U(seg(S, SYN | ACK, 50, 6, 0), TCP_ST_SYN_RECV);
}

static void test_rst_either_side(void)
{
    tcp_tracker_init(&trk);
    seg(C, SYN, 5, 0, 0);
    CHECK_EQ_U(seg(S, RST | ACK, 0, 6, 0), TCP_ST_CLOSED);   /* refused */
    tcp_tracker_init(&trk);
    seg(C, SYN, 5, 0, 0);
    seg(S, SYN | ACK, 50, 6, 0);
    seg(C, ACK, 6, 51, 0);
    CHECK_EQ_U(seg(C, RST | ACK, 6, 51, 0), TCP_ST_CLOSED);  /* initiator aborts */
    CHECK_EQ_U(seg(S, ACK, 51, 6, 0), TCP_ST_CLOSED);        /* stray ACK afterwards */
    tcp_tracker_init(&trk);
    seg(C, SYN, 5, 0, 0);
    seg(S, SYN | ACK, 50, 6, 0);
    seg(C, ACK, 6, 51, 0);
    seg(C, FIN | ACK, 6, 51, 0);
    CHECK_EQ_U(seg(S, RST, 51, 0, 0), TCP_ST_CLOSED);         /* responder resets while closing */
}

static void test_port_reuse(void)
{
    tcp_tracker_init(&trk);
    seg(C, SYN, 1, 0, 0);
    seg(S, SYN | ACK, 9, 2, 0);
    seg(C, ACK, 2, 10, 0);
    seg(C, FIN | ACK, 2, 10, 0);
    seg(S, FIN | ACK, 10, 3, 0);
    CHECK_EQ_U(seg(C, ACK, 3, 11, 0), TCP_ST_TIME_WAIT);
    CHECK_EQ_U(seg(C, SYN, 90000, 0, 0), TCP_ST_SYN_SENT);
    CHECK_EQ_U(seg(S, SYN | ACK, 7000, 90001, 0), TCP_ST_SYN_RECV);
    CHECK_EQ_U(seg(C, ACK, 90001, 7001, 0), TCP_ST_ESTABLISHED);
    /* The old FINs are forgotten: the new connection's first FIN counts. */
    CHECK_EQ_U(seg(C, FIN | ACK, 90001, 7001, 0), TCP_ST_FIN_WAIT);
    /* Reuse after a reset. */
    CHECK_EQ_U(seg(S, RST, 7001, 0, 0), TCP_ST_CLOSED);
    CHECK_EQ_U(seg(C, SYN, 123, 0, 0), TCP_ST_SYN_SENT);
}

static void test_midstream_pickup(void)
{
    tcp_tracker_init(&trk);
    CHECK_EQ_U(seg(C, ACK, 1000, 2000, 100), TCP_ST_NONE);
    CHECK_EQ_U(seg(S, ACK, 2000, 1100, 0), TCP_ST_NONE);
    CHECK_EQ_U(seg(S, FIN | ACK, 2000, 1100, 0), TCP_ST_FIN_WAIT);
    CHECK_EQ_U(seg(C, ACK, 1100, 2001, 0), TCP_ST_CLOSE_WAIT);
    CHECK_EQ_U(seg(C, FIN | ACK, 1100, 2001, 0), TCP_ST_LAST_ACK);
    CHECK_EQ_U(seg(S, ACK, 2001, 1101, 0), TCP_ST_TIME_WAIT);
    /* A handshake caught halfway: SYN-ACK first. */
    tcp_tracker_init(&trk);
    CHECK_EQ_U(seg(S, SYN | ACK, 50, 6, 0), TCP_ST_SYN_RECV);
    CHECK_EQ_U(seg(C, ACK, 6, 51, 0), TCP_ST_ESTABLISHED);
}

static void test_names(void)
{
    CHECK_STR(tcp_state_name(TCP_ST_NONE), "NONE");
    CHECK_STR(tcp_state_name(TCP_ST_TIME_WAIT), "TIME_WAIT");
    CHECK_STR(tcp_flag_class_name(TCP_FC_ACKFIN), "ACKFIN");
}

int main(void)
{
    RUN(test_table_complete);
    RUN(test_normal_open_close);
    RUN(test_fin_ack_close);
    RUN(test_simultaneous_close);
    RUN(test_simultaneous_open);
    RUN(test_half_open);
    RUN(test_rst_either_side);
    RUN(test_port_reuse);
    RUN(test_midstream_pickup);
    RUN(test_names);
    TESTLIB_EXIT();
}
