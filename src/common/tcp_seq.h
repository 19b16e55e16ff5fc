/*
 * tcp_seq.h: comparisons of 32-bit TCP sequence numbers modulo 2^32
 * (RFC 9293 §3.4, serial number arithmetic as in RFC 1982): a is "before"
 * b when b - a, taken as a signed 32-bit value, is positive.  One copy for
 * the flow table, the state tracker, the TCP analysis and reassembly.
 */
#ifndef NETMOON_COMMON_TCP_SEQ_H
#define NETMOON_COMMON_TCP_SEQ_H

#include <stdbool.h>
#include <stdint.h>

static inline int32_t tcp_seq_diff(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b);
}

static inline bool tcp_seq_lt(uint32_t a, uint32_t b) { return tcp_seq_diff(a, b) < 0; }
static inline bool tcp_seq_le(uint32_t a, uint32_t b) { return tcp_seq_diff(a, b) <= 0; }
static inline bool tcp_seq_gt(uint32_t a, uint32_t b) { return tcp_seq_diff(a, b) > 0; }
static inline bool tcp_seq_ge(uint32_t a, uint32_t b) { return tcp_seq_diff(a, b) >= 0; }

#endif
