/*
 * tcp_state.c: the TCP tracker's transition table.  Follows RFC 9293
 * §3.3.2 and §3.6 (opening, simultaneous open, closing, reset) as seen by a
 * passive observer; the table layout and the idea of a reason per entry are
 * learned from Linux's nf_conntrack_proto_tcp.c.  Unlike a firewall, an
 * observer never rejects a packet: where conntrack would call a segment
 * invalid, the state is kept and the reason says why.
 *
 * Columns are the old states NONE SYN_SENT SYN_RECV ESTABLISHED FIN_WAIT
 * CLOSE_WAIT LAST_ACK TIME_WAIT CLOSED.
 */
#include "analyze/tcp_state.h"
#include "common/tcp_seq.h"

#include <stddef.h>

#define sNO TCP_ST_NONE
#define sSS TCP_ST_SYN_SENT
#define sSR TCP_ST_SYN_RECV
#define sES TCP_ST_ESTABLISHED
#define sFW TCP_ST_FIN_WAIT
#define sCW TCP_ST_CLOSE_WAIT
#define sLA TCP_ST_LAST_ACK
#define sTW TCP_ST_TIME_WAIT
#define sCL TCP_ST_CLOSED
#define sKP TCP_ST_KEEP

#define T(n, why) { (uint8_t)(n), why }

const struct tcp_transition tcp_state_table[2][TCP_FC_COUNT][TCP_ST_COUNT] = {
[TCP_DIR_ORIG] = {
    [TCP_FC_SYN] = {
        [sNO] = T(sSS, "SYN on a flow picked up mid-stream: a new attempt"),
        [sSS] = T(sSS, "SYN retransmitted"),
        [sSR] = T(sSR, "SYN retransmitted while the SYN-ACK is on its way"),
        [sES] = T(sKP, "SYN inside an established connection: ignored"),
        [sFW] = T(sKP, "SYN while closing: ignored"),
        [sCW] = T(sKP, "SYN while closing: ignored"),
        [sLA] = T(sKP, "SYN while closing: ignored"),
        [sTW] = T(sSS, "SYN after TIME_WAIT: the tuple is reused"),
        [sCL] = T(sSS, "SYN after a reset: the tuple is reused"),
    },
    [TCP_FC_SYNACK] = {
        [sNO] = T(sKP, "SYN-ACK from the initiator without a SYN from the peer: ignored"),
        [sSS] = T(sSR, "simultaneous open: the initiator answers the peer's SYN"),
        [sSR] = T(sSR, "simultaneous open: SYN-ACK from both sides"),
        [sES] = T(sKP, "late SYN-ACK of a simultaneous open"),
        [sFW] = T(sKP, "SYN-ACK while closing: ignored"),
        [sCW] = T(sKP, "SYN-ACK while closing: ignored"),
        [sLA] = T(sKP, "SYN-ACK while closing: ignored"),
        [sTW] = T(sKP, "SYN-ACK after TIME_WAIT: ignored"),
        [sCL] = T(sKP, "SYN-ACK after a reset: ignored"),
    },
    [TCP_FC_FIN] = {
        [sNO] = T(sFW, "FIN on a flow picked up mid-stream"),
        [sSS] = T(sFW, "FIN before any answer: half-open close"),
        [sSR] = T(sFW, "FIN before the handshake's last ACK"),
        [sES] = T(sFW, "the initiator closes first"),
        [sFW] = T(sLA, "the initiator closes too: simultaneous close"),
        [sCW] = T(sLA, "the initiator closes after its peer's FIN was acknowledged"),
        [sLA] = T(sKP, "FIN while both sides already closed"),
        [sTW] = T(sKP, "FIN after TIME_WAIT: a late duplicate"),
        [sCL] = T(sKP, "FIN after a reset"),
    },
    [TCP_FC_ACKFIN] = {
        [sNO] = T(sKP, "cannot happen: no FIN without leaving NONE"),
        [sSS] = T(sKP, "cannot happen: no FIN from the peer in SYN_SENT"),
        [sSR] = T(sKP, "ACK of a FIN before the handshake completed"),
        [sES] = T(sKP, "cannot happen: no FIN in ESTABLISHED"),
        [sFW] = T(sCW, "the responder's FIN is acknowledged; the initiator may still send"),
        [sCW] = T(sKP, "the peer's FIN acknowledged again"),
        [sLA] = T(sTW, "the last FIN is acknowledged"),
        [sTW] = T(sKP, "retransmitted last ACK"),
        [sCL] = T(sKP, "ACK after a reset"),
    },
    [TCP_FC_ACK] = {
        [sNO] = T(sKP, "mid-stream traffic: the handshake was not seen"),
        [sSS] = T(sES, "the initiator ACKs: the SYN-ACK was not captured"),
        [sSR] = T(sES, "third segment of the handshake"),
        [sES] = T(sKP, "data or ACK in an established connection"),
        [sFW] = T(sKP, "data or ACK while the FIN is unacknowledged"),
        [sCW] = T(sKP, "data or ACK on the half-closed connection"),
        [sLA] = T(sKP, "ACK that does not cover the last FIN"),
        [sTW] = T(sKP, "late ACK in TIME_WAIT"),
        [sCL] = T(sKP, "segment after a reset"),
    },
    [TCP_FC_RST] = {
        [sNO] = T(sCL, "reset of a flow picked up mid-stream"),
        [sSS] = T(sCL, "the initiator aborts its attempt"),
        [sSR] = T(sCL, "the initiator refuses the SYN-ACK"),
        [sES] = T(sCL, "the initiator aborts the connection"),
        [sFW] = T(sCL, "reset while closing"),
        [sCW] = T(sCL, "reset while closing"),
        [sLA] = T(sCL, "reset instead of the last ACK"),
        [sTW] = T(sCL, "reset in TIME_WAIT"),
        [sCL] = T(sCL, "repeated reset"),
    },
    [TCP_FC_NONE] = {
        [sNO] = T(sKP, "segment without ACK: invalid, ignored"),
        [sSS] = T(sKP, "segment without ACK: invalid, ignored"),
        [sSR] = T(sKP, "segment without ACK: invalid, ignored"),
        [sES] = T(sKP, "segment without ACK: invalid, ignored"),
        [sFW] = T(sKP, "segment without ACK: invalid, ignored"),
        [sCW] = T(sKP, "segment without ACK: invalid, ignored"),
        [sLA] = T(sKP, "segment without ACK: invalid, ignored"),
        [sTW] = T(sKP, "segment without ACK: invalid, ignored"),
        [sCL] = T(sKP, "segment without ACK: invalid, ignored"),
    },
},
[TCP_DIR_REPLY] = {
    [TCP_FC_SYN] = {
        [sNO] = T(sKP, "SYN from the responder of a mid-stream flow: ignored"),
        [sSS] = T(sSS, "simultaneous open: the peer sends its own SYN"),
        [sSR] = T(sKP, "SYN from the responder after its SYN-ACK: ignored"),
        [sES] = T(sKP, "SYN inside an established connection: ignored"),
        [sFW] = T(sKP, "SYN while closing: ignored"),
        [sCW] = T(sKP, "SYN while closing: ignored"),
        [sLA] = T(sKP, "SYN while closing: ignored"),
        [sTW] = T(sKP, "SYN from the responder after TIME_WAIT: ignored"),
        [sCL] = T(sKP, "SYN from the responder after a reset: ignored"),
    },
    [TCP_FC_SYNACK] = {
        [sNO] = T(sSR, "SYN-ACK without the SYN: the handshake is picked up halfway"),
        [sSS] = T(sSR, "the responder accepts"),
        [sSR] = T(sSR, "SYN-ACK retransmitted"),
        [sES] = T(sKP, "SYN-ACK retransmitted after the handshake"),
        [sFW] = T(sKP, "SYN-ACK while closing: ignored"),
        [sCW] = T(sKP, "SYN-ACK while closing: ignored"),
        [sLA] = T(sKP, "SYN-ACK while closing: ignored"),
        [sTW] = T(sKP, "SYN-ACK after TIME_WAIT: ignored"),
        [sCL] = T(sKP, "SYN-ACK after a reset: ignored"),
    },
    [TCP_FC_FIN] = {
        [sNO] = T(sFW, "FIN on a flow picked up mid-stream"),
        [sSS] = T(sKP, "FIN from a responder that sent no SYN-ACK: ignored"),
        [sSR] = T(sFW, "the responder closes before the handshake's last ACK"),
        [sES] = T(sFW, "the responder closes first"),
        [sFW] = T(sLA, "the responder closes too: simultaneous close"),
        [sCW] = T(sLA, "the responder closes after its peer's FIN was acknowledged"),
        [sLA] = T(sKP, "FIN while both sides already closed"),
        [sTW] = T(sKP, "FIN after TIME_WAIT: a late duplicate"),
        [sCL] = T(sKP, "FIN after a reset"),
    },
    [TCP_FC_ACKFIN] = {
        [sNO] = T(sKP, "cannot happen: no FIN without leaving NONE"),
        [sSS] = T(sKP, "ACK of the initiator's half-open FIN"),
        [sSR] = T(sKP, "ACK of a FIN before the handshake completed"),
        [sES] = T(sKP, "cannot happen: no FIN in ESTABLISHED"),
        [sFW] = T(sCW, "the initiator's FIN is acknowledged; the responder may still send"),
        [sCW] = T(sKP, "the peer's FIN acknowledged again"),
        [sLA] = T(sTW, "the last FIN is acknowledged"),
        [sTW] = T(sKP, "retransmitted last ACK"),
        [sCL] = T(sKP, "ACK after a reset"),
    },
    [TCP_FC_ACK] = {
        [sNO] = T(sKP, "mid-stream traffic: the handshake was not seen"),
        [sSS] = T(sKP, "the responder ACKs the SYN before its SYN-ACK (some stacks do)"),
        [sSR] = T(sKP, "responder data or ACK before the handshake's last ACK"),
        [sES] = T(sKP, "data or ACK in an established connection"),
        [sFW] = T(sKP, "data or ACK while the FIN is unacknowledged"),
        [sCW] = T(sKP, "data or ACK on the half-closed connection"),
        [sLA] = T(sKP, "ACK that does not cover the last FIN"),
        [sTW] = T(sKP, "late ACK in TIME_WAIT"),
        [sCL] = T(sKP, "segment after a reset"),
    },
    [TCP_FC_RST] = {
        [sNO] = T(sCL, "reset of a flow picked up mid-stream"),
        [sSS] = T(sCL, "the responder refuses the connection"),
        [sSR] = T(sCL, "the responder aborts during the handshake"),
        [sES] = T(sCL, "the responder aborts the connection"),
        [sFW] = T(sCL, "reset while closing"),
        [sCW] = T(sCL, "reset while closing"),
        [sLA] = T(sCL, "reset instead of the last ACK"),
        [sTW] = T(sCL, "reset in TIME_WAIT"),
        [sCL] = T(sCL, "repeated reset"),
    },
    [TCP_FC_NONE] = {
        [sNO] = T(sKP, "segment without ACK: invalid, ignored"),
        [sSS] = T(sKP, "segment without ACK: invalid, ignored"),
        [sSR] = T(sKP, "segment without ACK: invalid, ignored"),
        [sES] = T(sKP, "segment without ACK: invalid, ignored"),
        [sFW] = T(sKP, "segment without ACK: invalid, ignored"),
        [sCW] = T(sKP, "segment without ACK: invalid, ignored"),
        [sLA] = T(sKP, "segment without ACK: invalid, ignored"),
        [sTW] = T(sKP, "segment without ACK: invalid, ignored"),
        [sCL] = T(sKP, "segment without ACK: invalid, ignored"),
    },
},
};

/* How long a connection may sit idle in each state.  Values follow the
 * spirit of conntrack's defaults: short while a handshake or close is in
 * progress (a lost answer should not pin memory), long once established. */
static const uint64_t tcp_timeouts_s[TCP_ST_COUNT] = {
    [sNO] = 300,       /* mid-stream: we cannot tell how long it will live */
    [sSS] = 120,       /* SYN retries give up after ~2 minutes (tcp_syn_retries) */
    [sSR] = 60,
    [sES] = 432000,    /* 5 days: idle established connections are legitimate */
    [sFW] = 120,
    [sCW] = 60,
    [sLA] = 30,
    [sTW] = 120,       /* 2 MSL */
    [sCL] = 10,
};

static const char *const tcp_state_names[TCP_ST_COUNT] = {
    [sNO] = "NONE", [sSS] = "SYN_SENT", [sSR] = "SYN_RECV", [sES] = "ESTABLISHED",
    [sFW] = "FIN_WAIT", [sCW] = "CLOSE_WAIT", [sLA] = "LAST_ACK", [sTW] = "TIME_WAIT",
    [sCL] = "CLOSED",
};

static const char *const tcp_class_names[TCP_FC_COUNT] = {
    [TCP_FC_SYN] = "SYN", [TCP_FC_SYNACK] = "SYNACK", [TCP_FC_FIN] = "FIN",
    [TCP_FC_ACKFIN] = "ACKFIN", [TCP_FC_ACK] = "ACK", [TCP_FC_RST] = "RST",
    [TCP_FC_NONE] = "NONE",
};

const char *tcp_state_name(enum tcp_state s)
{
    return (unsigned)s < TCP_ST_COUNT ? tcp_state_names[s] : "?";
}

const char *tcp_flag_class_name(enum tcp_flag_class fc)
{
    return (unsigned)fc < TCP_FC_COUNT ? tcp_class_names[fc] : "?";
}

uint64_t tcp_state_timeout_us(enum tcp_state s)
{
    return (unsigned)s < TCP_ST_COUNT ? tcp_timeouts_s[s] * 1000000ull : 0;
}

const struct tcp_transition *tcp_state_transition(enum tcp_dir dir, enum tcp_flag_class fc,
                                                  enum tcp_state old)
{
    return &tcp_state_table[dir & 1][fc][old];
}

void tcp_tracker_init(struct tcp_tracker *t)
{
    t->fin_end[0] = t->fin_end[1] = 0;
    t->state = TCP_ST_NONE;
    t->fin_sent = t->fin_acked = 0;
    t->reserved = 0;
}

enum tcp_flag_class tcp_tracker_classify(const struct tcp_tracker *t, unsigned side,
                                         uint8_t flags, uint32_t seq, uint32_t ack,
                                         uint32_t payload_len)
{
    (void)seq;
    (void)payload_len;
    return tcp_tracker_class(t, side, flags, ack);
}
