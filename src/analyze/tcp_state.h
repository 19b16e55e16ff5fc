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

/* Feeds one segment; returns the entry applied (never NULL). */
const struct tcp_transition *tcp_tracker_update(struct tcp_tracker *t, unsigned side,
                                                enum tcp_dir dir, uint8_t flags, uint32_t seq,
                                                uint32_t ack, uint32_t payload_len);

/* The raw table lookup, for tests and documentation. */
const struct tcp_transition *tcp_state_transition(enum tcp_dir dir, enum tcp_flag_class fc,
                                                  enum tcp_state old);

const char *tcp_state_name(enum tcp_state s);           /* "ESTABLISHED" ... */
const char *tcp_flag_class_name(enum tcp_flag_class fc);
/* How long a connection may stay idle in state s before it is forgotten. */
uint64_t tcp_state_timeout_us(enum tcp_state s);

#endif
