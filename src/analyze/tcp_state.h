/*
 * tcp_state.h: the TCP connection tracker as a passive observer sees it,
 * after RFC 9293 §3.3.2 (the connection state diagram), written as a
 * transition table in the manner of the Linux kernel's
 * net/netfilter/nf_conntrack_proto_tcp.c (learned from, not copied): one
 * state per connection, and (direction, flag class, old state) -> new state
 * with a one-line reason per entry.
 *
 * Direction is relative to the initiator (the flow record's src): ORIG is a
 * packet the initiator sent, REPLY one the responder sent.  The flag class
 * is computed from the flags and from what the tracker remembers of each
 * side's FIN, so a retransmitted FIN does not count as a new close and an
 * ACK is told apart from the ACK of the peer's FIN.
 *
 * NONE is the state of a connection picked up mid-stream (no SYN or
 * SYN-ACK seen yet).  Per-state timeouts are data (tcp_state_timeout_us),
 * for the flow table to adopt.
 */
#ifndef NETMOON_ANALYZE_TCP_STATE_H
#define NETMOON_ANALYZE_TCP_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/tcp_seq.h"

enum tcp_state {
    TCP_ST_NONE = 0,      /* mid-stream pickup: no handshake seen */
    TCP_ST_SYN_SENT,      /* initiator's SYN seen */
    TCP_ST_SYN_RECV,      /* SYN-ACK seen */
    TCP_ST_ESTABLISHED,   /* handshake completed */
    TCP_ST_FIN_WAIT,      /* one side sent FIN, not yet acknowledged */
    TCP_ST_CLOSE_WAIT,    /* one side's FIN acknowledged; the other still open */
    TCP_ST_LAST_ACK,      /* both sides sent FIN; waiting for the last ACK */
    TCP_ST_TIME_WAIT,     /* both FINs seen, the last one acknowledged */
    TCP_ST_CLOSED,        /* reset */
    TCP_ST_COUNT
};

enum tcp_flag_class {
    TCP_FC_SYN = 0,       /* SYN without ACK */
    TCP_FC_SYNACK,        /* SYN with ACK */
    TCP_FC_FIN,           /* this side's first FIN */
    TCP_FC_ACKFIN,        /* ACK newly covering the peer's FIN, no FIN left open */
    TCP_FC_ACK,           /* any other segment with ACK (data, pure ACK, repeated FIN) */
    TCP_FC_RST,           /* RST, whatever else is set */
    TCP_FC_NONE,          /* no SYN/FIN/RST/ACK: not a valid segment after the SYN */
    TCP_FC_COUNT
};

enum tcp_dir { TCP_DIR_ORIG = 0, TCP_DIR_REPLY = 1 };

/* One table entry: the next state (TCP_ST_KEEP: unchanged) and why. */
#define TCP_ST_KEEP 0xff
struct tcp_transition {
    uint8_t next;
    const char *reason;
};

/* What the tracker keeps per connection: 12 bytes.  Sides are the flow
 * table's canonical sides (0/1), which do not change when the initiator is
 * learned late; directions are derived per packet. */
struct tcp_tracker {
    uint32_t fin_end[2];  /* sequence number just past each side's FIN */
    uint8_t state;        /* enum tcp_state */
    uint8_t fin_sent;     /* bit per canonical side */
    uint8_t fin_acked;    /* bit per canonical side: its FIN was acknowledged */
    uint8_t reserved;
};

void tcp_tracker_init(struct tcp_tracker *t);

/* The flag class of a segment sent by canonical side `side`. */
enum tcp_flag_class tcp_tracker_classify(const struct tcp_tracker *t, unsigned side,
                                         uint8_t flags, uint32_t seq, uint32_t ack,
                                         uint32_t payload_len);


/* The raw table lookup, for tests and documentation. */
const struct tcp_transition *tcp_state_transition(enum tcp_dir dir, enum tcp_flag_class fc,
                                                  enum tcp_state old);

const char *tcp_state_name(enum tcp_state s);           /* "ESTABLISHED" ... */
const char *tcp_flag_class_name(enum tcp_flag_class fc);
/* How long a connection may stay idle in state s before it is forgotten. */
uint64_t tcp_state_timeout_us(enum tcp_state s);

/* The table itself, (direction, flag class, old state); tcp_state.c. */
extern const struct tcp_transition tcp_state_table[2][TCP_FC_COUNT][TCP_ST_COUNT];

/* The flag class and the update are inline: they run on every segment of
 * the full TCP analysis and on a few of its fast path's (a FIN, the ACKs
 * around a close), and as a call with seven arguments the tracker cost
 * about 70 instructions a segment, most of them saving registers and
 * indexing the table twice.  Flag bits are those of decode.h (FIN 0x01,
 * SYN 0x02, RST 0x04, ACK 0x10). */
static inline enum tcp_flag_class tcp_tracker_class(const struct tcp_tracker *t, unsigned side,
                                                    uint8_t flags, uint32_t ack)
{
    if (flags & 0x04)
        return TCP_FC_RST;
    if (flags & 0x02)
        return (flags & 0x10) ? TCP_FC_SYNACK : TCP_FC_SYN;
    /* Only a side's first FIN closes it; a repeat is a retransmission. */
    if ((flags & 0x01) && !(t->fin_sent & (1u << side)))
        return TCP_FC_FIN;
    if (!(flags & 0x10))
        return TCP_FC_NONE;
    /* ACKFIN: this ACK newly covers the peer's FIN and leaves no FIN
     * unacknowledged, so FIN_WAIT -> CLOSE_WAIT and LAST_ACK -> TIME_WAIT
     * happen exactly once, whichever order a simultaneous close takes. */
    unsigned peer = side ^ 1;
    bool own_fin_open = (t->fin_sent & (1u << side)) && !(t->fin_acked & (1u << side));
    if ((t->fin_sent & (1u << peer)) && !(t->fin_acked & (1u << peer)) &&
        tcp_seq_ge(ack, t->fin_end[peer]) && !own_fin_open)
        return TCP_FC_ACKFIN;
    return TCP_FC_ACK;
}

/* Feeds one segment; returns the entry applied (never NULL). */
__attribute__((always_inline)) static inline const struct tcp_transition *
tcp_tracker_update(struct tcp_tracker *t,
                                                              unsigned side, enum tcp_dir dir,
                                                              uint8_t flags, uint32_t seq,
                                                              uint32_t ack, uint32_t payload_len)
{
    enum tcp_flag_class fc = tcp_tracker_class(t, side, flags, ack);
    const struct tcp_transition *tr = &tcp_state_table[dir & 1][fc][t->state];
    uint8_t next = tr->next;

    if ((flags & 0x10) && !(flags & 0x04) && (t->fin_sent & (1u << (side ^ 1))) &&
        tcp_seq_ge(ack, t->fin_end[side ^ 1]))
        t->fin_acked |= (uint8_t)(1u << (side ^ 1));
    if (fc == TCP_FC_FIN) {
        /* The FIN's sequence number comes after the segment's data (and
         * after a SYN riding on it); the ACK covering it is one beyond. */
        t->fin_end[side] = seq + ((flags & 0x02) ? 1u : 0u) + payload_len + 1u;
        t->fin_sent |= (uint8_t)(1u << side);
    }
    /* A new handshake after TIME_WAIT/CLOSED forgets the old closes. */
    if (next == TCP_ST_SYN_SENT && t->state != TCP_ST_SYN_SENT)
        t->fin_sent = t->fin_acked = 0;
    if (next != TCP_ST_KEEP)
        t->state = next;
    return tr;
}

#endif
