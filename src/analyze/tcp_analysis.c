/*
 * tcp_analysis.c: per-connection TCP analysis (see tcp_analysis.h for the
 * sources: RFC 9293, RFC 6298, RFC 7323, Wireshark's tcp.analysis.*, Zeek's
 * conn.log).  Three independent passes run on every segment, each with the
 * semantics of the tool whose numbers users will compare against:
 *   1. Wireshark's sequence analysis (counters, initial RTT);
 *   2. Zeek's endpoint state machine and history (conn_state, history,
 *      payload bytes, missed bytes);
 *   3. RTT sampling (handshake, data -> ACK under Karn's rule, TSval echo).
 * The TCP tracker (tcp_state.c) runs alongside for tcp_state.  The common
 * segment (in order, no SYN or RST, between established endpoints) takes
 * a fast path with the same outcome, see tcp_fast_applies(), the plainest
 * of them a shorter one still (tcp_plain_applies()), and so does a side's
 * opening SYN or SYN-ACK (tcp_open_applies()).  Before them every segment
 * notes the sequence numbers the flow table's close and port-reuse tests
 * ask for (tcp_conn_note).
 */
#include "analyze/tcp_analysis.h"
#include "common/hugemem.h"
#include "common/prefetch.h"
#include "common/tcp_seq.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define FL_FIN NM_TCP_FIN
#define FL_SYN NM_TCP_SYN
#define FL_RST NM_TCP_RST
#define FL_ACK NM_TCP_ACK
#define FL_SFR (FL_SYN | FL_FIN | FL_RST)

/* Per-side flags. */
enum {
    TCP_SF_NEXTSEQ = 1u << 0,   /* nextseq is known (Wireshark's nextseq != 0) */
    TCP_SF_SEEN = 1u << 1,      /* a segment of this side was seen */
    TCP_SF_LAST_KA = 1u << 2,   /* its last segment was a keep-alive */
    TCP_SF_LAST_ZWP = 1u << 3,  /* its last segment was a zero-window probe */
    TCP_SF_SYN = 1u << 4,       /* sent SYN or SYN-ACK: window scale known */
    TCP_SF_WSOPT = 1u << 5,     /* that SYN carried a window scale option */
    TCP_SF_FIN = 1u << 6,       /* sent a FIN (Zeek FIN_cnt > 0) */
    TCP_SF_RTT_PEND = 1u << 7,  /* rtt_seq/rtt_t time a data segment */
    TCP_SF_TS_PEND = 1u << 8,   /* ts_val/ts_t time a TSval */
    TCP_SF_EDGE = 1u << 9,      /* gap_edge is set */
};

/* Analysis flags. */
enum {
    TCP_AF_SYN = 1u << 0,        /* syn_ts is set */
    TCP_AF_SYNACK = 1u << 1,     /* synack_ts is set */
    TCP_AF_FIRST_RTT = 1u << 2,  /* first_rtt_us is set */
    TCP_AF_HANDSHAKE = 1u << 3,  /* rtt_server/client are set */
};

/* Zeek's TCP endpoint states (TCP_Endpoint.h). */
enum { Z_INACTIVE, Z_SYN_SENT, Z_SYN_ACK_SENT, Z_PARTIAL, Z_ESTABLISHED, Z_CLOSED, Z_RESET };

/* Zeek's once-per-direction history bits. */
enum { H_SYN = 1, H_FIN = 2, H_RST = 4, H_DATA = 8, H_ACK = 16, H_FINRST = 32, H_MULTI = 64 };

/* Segments acknowledged or sequenced beyond this are not trusted as RST/SYN
 * jumps (Zeek's TOO_LARGE_SEQ_DELTA). */
#define TOO_LARGE_SEQ_DELTA 1048576

static inline uint32_t us32(uint64_t ts) { return (uint32_t)ts; }

void tcp_analysis_init(struct tcp_analysis *a)
{
    memset(a, 0, sizeof(*a));
    tcp_tracker_init(&a->trk);
}

/* ---- history -------------------------------------------------------------- */

static void hist_add(struct tcp_analysis *a, unsigned side, char upper)
{
    if (a->hist_len >= NM_TCP_HISTORY_MAX)
        return;
    a->history[a->hist_len++] = side == 0 ? upper : (char)(upper - 'A' + 'a');
}

/* Zeek's CheckHistory: the letter the first time only; returns whether it
 * had been seen before. */
static bool hist_once(struct tcp_analysis *a, unsigned side, uint8_t bit, char upper)
{
    struct tcp_side *s = &a->side[side];

    if (s->hist_seen & bit)
        return true;
    s->hist_seen |= bit;
    hist_add(a, side, upper);
    return false;
}

/* Zeek's ScaledHistoryEntry: the letter at the 1st, 10th, 100th ... event. */
static void hist_scaled(struct tcp_analysis *a, unsigned side, uint32_t *count, uint8_t *exp,
                        char upper)
{
    uint32_t threshold = 1;

    for (unsigned i = 0; i < *exp && threshold <= UINT32_MAX / 10; i++)
        threshold *= 10;
    if (++*count == threshold) {
        hist_add(a, side, upper);
        if (*exp < 9)
            (*exp)++;
    }
}

static void zeek_history(struct tcp_analysis *a, unsigned side, uint8_t flags, uint32_t seq,
                         uint32_t len)
{
    struct tcp_side *s = &a->side[side];
    unsigned bits = !!(flags & FL_SYN) + !!(flags & FL_FIN) + !!(flags & FL_RST);

    if (bits > 1) {
        if ((flags & FL_FIN) && (flags & FL_RST))
            hist_once(a, side, H_FINRST, 'I');
        else
            hist_once(a, side, H_MULTI, 'Q');
    } else if (bits == 1) {
        /* S, H, F, R repeat when their sequence number changes. */
        if (flags & FL_SYN) {
            char c = (flags & FL_ACK) ? 'H' : 'S';
            if (hist_once(a, side, H_SYN, c) && seq != s->hist_syn)
                hist_add(a, side, c);
            s->hist_syn = seq;
        }
        if (flags & FL_FIN) {
            if (hist_once(a, side, H_FIN, 'F') && seq + len != s->hist_fin)
                hist_add(a, side, 'F');
            s->hist_fin = seq + len;
        }
        if (flags & FL_RST) {
            if (hist_once(a, side, H_RST, 'R') && seq != s->hist_rst)
                hist_add(a, side, 'R');
            s->hist_rst = seq;
        }
    } else if (len) {
        hist_once(a, side, H_DATA, 'D');
    } else if (flags & FL_ACK) {
        hist_once(a, side, H_ACK, 'A');
    }
}

/* ---- Zeek endpoint state machine (TCP_Analyzer::UpdateStateMachine) ------ */

static void z_set(struct tcp_side *s, uint8_t st)
{
    if (s->z_state != st) {
        s->z_prev = s->z_state;
        s->z_state = st;
    }
}

static void zeek_inactive(struct tcp_analysis *a, unsigned side, bool is_orig, uint8_t flags,
                          uint32_t len)
{
    struct tcp_side *e = &a->side[side], *p = &a->side[side ^ 1];

    if (flags & FL_SYN) {
        if (is_orig) {
            z_set(e, (flags & FL_ACK) ? Z_SYN_ACK_SENT : Z_SYN_SENT);
        } else {
            if (p->z_state == Z_SYN_SENT)
                z_set(p, Z_ESTABLISHED);
            z_set(e, Z_ESTABLISHED);
        }
    }
    if (flags & FL_FIN)
        z_set(e, Z_CLOSED);
    if (flags & FL_RST)
        z_set(e, Z_RESET);
    if (e->z_state != Z_INACTIVE)
        return;
    /* No control flag changed the state. */
    const struct tcp_side *orig = is_orig ? e : p;
    if (!is_orig && len == 0 && orig->z_state == Z_SYN_SENT)
        return; /* an ACK of the SYN before the SYN-ACK: not a partial connection */
    if ((flags & FL_ACK) && p->z_state == Z_ESTABLISHED)
        z_set(e, Z_ESTABLISHED); /* SYN-ACK seen, its SYN missed */
    else
        z_set(e, Z_PARTIAL);
}

static void zeek_state(struct tcp_analysis *a, unsigned side, bool is_orig, uint8_t flags,
                       uint32_t len)
{
    struct tcp_side *e = &a->side[side], *p = &a->side[side ^ 1];

    switch (e->z_state) {
    case Z_INACTIVE:
        zeek_inactive(a, side, is_orig, flags, len);
        break;
    case Z_SYN_SENT:
    case Z_SYN_ACK_SENT:
        if (flags & FL_FIN)
            z_set(e, Z_CLOSED);
        if (flags & FL_RST)
            z_set(e, Z_RESET);
        break;
    case Z_ESTABLISHED:
    case Z_PARTIAL:
        if ((flags & FL_SYN) && e->z_state == Z_PARTIAL && p->z_state == Z_INACTIVE &&
            !(flags & FL_ACK))
            z_set(e, Z_SYN_SENT);
        if ((flags & FL_FIN) && !(flags & FL_RST)) {
            z_set(e, Z_CLOSED);
            /* FIN then RST from the peer was a normal close after all. */
            if (p->z_state == Z_RESET && p->z_prev == Z_CLOSED)
                z_set(p, Z_CLOSED);
        }
        if (flags & FL_RST)
            z_set(e, Z_RESET);
        break;
    case Z_CLOSED:
        if ((flags & FL_RST) && p->z_state != Z_CLOSED)
            z_set(e, Z_RESET);
        break;
    default:
        break;
    }
}

/* Zeek's init_endpoint: where this side's sequence space starts. */
static void zeek_init_endpoint(struct tcp_side *e, uint8_t flags, uint32_t seq, uint32_t end)
{
    bool syn = flags & FL_SYN;

    switch (e->z_state) {
    case Z_INACTIVE:
        /* Without a SYN, pretend one preceded the segment (Zeek does, so
         * relative numbers stay consistent). */
        e->z_start = e->z_ack = syn ? seq : seq - 1;
        e->z_last = syn ? end : seq;
        break;
    case Z_SYN_SENT:
    case Z_SYN_ACK_SENT:
    case Z_ESTABLISHED:
    case Z_PARTIAL:
        if (syn && (seq != e->z_start || e->z_state == Z_ESTABLISHED || e->z_state == Z_PARTIAL)) {
            e->z_start = e->z_ack = seq;
            e->z_last = end;
        }
        break;
    case Z_RESET:
        if (syn && e->z_prev == Z_INACTIVE) {
            e->z_start = e->z_ack = seq;
            e->z_last = end;
        }
        break;
    default:
        break;
    }
}

/* Zeek's update_last_seq; a segment that does not advance it is a 't'. */
static void zeek_last_seq(struct tcp_analysis *a, unsigned side, uint8_t flags, uint32_t end,
                          uint32_t len)
{
    struct tcp_side *e = &a->side[side];
    int32_t d = tcp_seq_diff(end, e->z_last);

    if ((flags & (FL_SYN | FL_RST)) && (d > TOO_LARGE_SEQ_DELTA || d < -TOO_LARGE_SEQ_DELTA))
        return;
    if ((flags & FL_FIN) && e->z_last == e->z_start + 1)
        e->z_last = end;
    else if (e->z_state == Z_RESET)
        return;
    else if (d > 0)
        e->z_last = end;
    else if (len > 0)
        hist_scaled(a, side, &e->z_rxmt, &e->z_exp[0], 'T');
}

/* ---- content gaps (Zeek's TCP_Reassembler::Undelivered, data not kept) --
 *
 * Zeek reports a content gap when the peer acknowledges bytes its
 * reassembler never held: one gap per hole below the ACK, each adding its
 * length to missed_bytes and counting towards the g letter, and only while
 * both endpoints are established or closed cleanly (report_gaps_for_partial
 * is off by default: a partial connection's first ACKs are unreliable).
 * Here the reassembler's blocks are reduced to sequence ranges, so every
 * TCP flow gets the same accounting whether or not L7 reassembly runs on
 * its first bytes; the L7 reassembler's own gap counters describe what
 * the parsers could not read, not this. */

#define GAP_MAX_AHEAD (1 << 30)   /* an ACK or segment further away is not believed */

static bool gap_clean(const struct tcp_side *e)
{
    return e->z_state == Z_ESTABLISHED || (e->z_state == Z_CLOSED && e->z_prev == Z_ESTABLISHED);
}

static void gap_island_drop_first(struct tcp_side *e)
{
    memmove(e->island[0], e->island[1], (size_t)(e->islands - 1) * sizeof(e->island[0]));
    e->islands--;
}

/* The edge moved: islands it reached are contiguous data now. */
static void gap_absorb(struct tcp_side *e)
{
    while (e->islands && tcp_seq_le(e->island[0][0], e->gap_edge)) {
        if (tcp_seq_gt(e->island[0][1], e->gap_edge))
            e->gap_edge = e->island[0][1];
        gap_island_drop_first(e);
    }
}

/* Adds [seq, end), above the edge, to the sorted islands, merging what it
 * touches; one too many makes the closest two one. */
static void gap_island_add(struct tcp_side *e, uint32_t seq, uint32_t end)
{
    uint32_t out[TCP_GAP_ISLANDS + 1][2];
    unsigned n = 0, closest = 0;
    bool placed = false;

    for (unsigned i = 0; i < e->islands; i++) {
        uint32_t s = e->island[i][0], t = e->island[i][1];
        if (tcp_seq_lt(t, seq)) {
            out[n][0] = s, out[n++][1] = t;
        } else if (tcp_seq_lt(end, s)) {
            if (!placed)
                out[n][0] = seq, out[n++][1] = end, placed = true;
            out[n][0] = s, out[n++][1] = t;
        } else {
            seq = tcp_seq_lt(s, seq) ? s : seq;
            end = tcp_seq_gt(t, end) ? t : end;
        }
    }
    if (!placed)
        out[n][0] = seq, out[n++][1] = end;
    if (n > TCP_GAP_ISLANDS) {
        for (unsigned i = 1; i + 1 < n; i++)
            if (out[i + 1][0] - out[i][1] < out[closest + 1][0] - out[closest][1])
                closest = i;
        out[closest][1] = out[closest + 1][1];
        memmove(out[closest + 1], out[closest + 2], (n - closest - 2) * sizeof(out[0]));
        n--;
    }
    memcpy(e->island, out, n * sizeof(out[0]));
    e->islands = (uint8_t)n;
}

static void gap_data(struct tcp_side *e, uint32_t seq, uint32_t end)
{
    if (!(e->flags & TCP_SF_EDGE)) {
        e->gap_edge = end;
        e->flags |= TCP_SF_EDGE;
        return;
    }
    if (!tcp_seq_gt(end, e->gap_edge))
        return;
    if (tcp_seq_le(seq, e->gap_edge)) {
        e->gap_edge = end;
        gap_absorb(e);
    } else if (tcp_seq_diff(seq, e->gap_edge) <= GAP_MAX_AHEAD) {
        gap_island_add(e, seq, end);
    }
}

/* One hole of len bytes given up in data_side's stream. */
static void gap_report(struct tcp_analysis *a, unsigned data_side, uint32_t len)
{
    struct tcp_side *e = &a->side[data_side];

    if (!gap_clean(e) || !gap_clean(&a->side[data_side ^ 1]))
        return;
    a->missed_bytes += len;
    hist_scaled(a, data_side, &e->z_gap, &e->z_exp[2], 'G');
}

static void gap_ack(struct tcp_analysis *a, unsigned data_side, uint32_t ack)
{
    struct tcp_side *e = &a->side[data_side];

    if (!(e->flags & TCP_SF_EDGE)) {
        e->gap_edge = ack;
        e->flags |= TCP_SF_EDGE;
        return;
    }
    if ((e->flags & TCP_SF_FIN) && tcp_seq_gt(ack, e->hist_fin))
        ack = e->hist_fin; /* the FIN's own sequence number is not data */
    if (!tcp_seq_gt(ack, e->gap_edge) || tcp_seq_diff(ack, e->gap_edge) > GAP_MAX_AHEAD)
        return;
    while (tcp_seq_gt(ack, e->gap_edge)) {
        if (e->islands && tcp_seq_lt(e->island[0][0], ack)) {
            gap_report(a, data_side, e->island[0][0] - e->gap_edge);
            e->gap_edge = e->island[0][0];
        } else {
            gap_report(a, data_side, ack - e->gap_edge);
            e->gap_edge = ack;
        }
        gap_absorb(e);
    }
}

/* What an ACK tells of the peer's endpoint: where it starts, if nothing
 * else did, or how far it was acknowledged. */
/* Zeek: the peer's acknowledged edge (an ACK without RST). */
static inline void tcp_fast_z_ack(struct tcp_side *r, uint32_t ack)
{
    int32_t d = tcp_seq_diff(ack, r->z_ack);

    if (d > 0 && !(ack == 0 && d > TOO_LARGE_SEQ_DELTA))
        r->z_ack = ack;
}

static void zeek_peer_ack(struct tcp_side *p, uint8_t flags, uint32_t ack)
{
    if (!(flags & FL_ACK))
        return;
    if (p->z_state == Z_INACTIVE)
        p->z_start = p->z_ack = p->z_last = ack - 1;
    else if (!(flags & FL_RST))
        tcp_fast_z_ack(p, ack);
}

static void zeek_packet(struct tcp_analysis *a, const struct nm_packet *pkt, unsigned side,
                        bool is_orig)
{
    struct tcp_side *e = &a->side[side], *p = &a->side[side ^ 1];
    uint8_t flags = pkt->tcp_flags;
    uint32_t len = pkt->payload_wire_len, seq = pkt->tcp_seq, ack = pkt->tcp_ack;
    uint32_t seg_len = len + !!(flags & FL_SYN) + !!(flags & FL_FIN);

    if (flags & FL_RST)
        seg_len -= len; /* a RST's data is not part of the stream */
    zeek_init_endpoint(e, flags, seq, seq + seg_len);
    zeek_history(a, side, flags, seq, len);
    if (pkt->tcp_win == 0 && !(flags & FL_RST) && p->z_state != Z_CLOSED &&
        e->z_state != Z_RESET)
        hist_scaled(a, side, &e->z_win0, &e->z_exp[1], 'W');
    if (flags & FL_FIN)
        e->flags |= TCP_SF_FIN;
    zeek_peer_ack(p, flags, ack);
    zeek_last_seq(a, side, flags, seq + seg_len, len);
    zeek_state(a, side, is_orig, flags, len);
    if (!(flags & FL_RST) && (seg_len > 0))
        gap_data(e, seq, seq + seg_len);
    if ((flags & FL_ACK) && !(flags & FL_RST))
        gap_ack(a, side ^ 1, ack);
}

/* ---- Wireshark's sequence analysis ---------------------------------------- */

enum { WS_KA = 1, WS_ZWP = 2, WS_DUPACK = 4 };

static unsigned ws_pre_checks(struct tcp_side *f, struct tcp_side *r, uint8_t flags,
                              uint32_t seq, uint32_t ack, uint32_t seglen, uint16_t win,
                              bool *skip)
{
    unsigned ta = 0;
    bool known = f->flags & TCP_SF_NEXTSEQ;

    *skip = false;
    if (seglen == 1 && known && seq == f->nextseq && r->win == 0) {
        *skip = true;
        return WS_ZWP;
    }
    if (win == 0 && !(flags & FL_SFR))
        f->zero_win++;
    if (seglen <= 1 && known && seq == f->nextseq - 1 && !(flags & FL_SFR)) {
        ta |= WS_KA;
        f->keepalives++;
    }
    bool same = seglen == 0 && known && seq == f->nextseq && ack == f->lastack &&
                (f->flags & TCP_SF_SEEN) && !(flags & FL_SFR);
    if (same && win && win == f->win && (r->flags & TCP_SF_LAST_KA)) {
        *skip = true; /* keep-alive ACK */
        return ta;
    }
    if (same && win == 0 && f->win == 0 && (r->flags & TCP_SF_LAST_ZWP)) {
        *skip = true; /* zero-window probe ACK */
        return ta;
    }
    if (same && win && win == f->win) {
        f->dupack_run++;
        f->dup_acks++;
        ta |= WS_DUPACK;
    }
    return ta;
}

/* Retransmission / fast retransmission / out-of-order / spurious; returns
 * whether the segment re-sent bytes (for Karn's rule). */
static bool ws_retrans_checks(struct tcp_analysis *a, struct tcp_side *f, struct tcp_side *r,
                              unsigned ta, uint8_t flags, uint32_t seq, uint32_t seglen,
                              uint64_t now)
{
    if (!(seglen > 0 || (flags & (FL_SYN | FL_FIN))) || (ta & WS_KA))
        return false;
    bool not_adv = (f->flags & TCP_SF_NEXTSEQ) && tcp_seq_lt(seq, f->nextseq);
    if (seglen > 1 && f->nextseq - 1 == seq)
        not_adv = false;
    uint32_t since_ack = us32(now) - r->lastack_t;
    if (not_adv && r->dupack_run >= 2 && r->lastack == seq && since_ack < 20000) {
        f->retrans++; /* fast retransmission */
        return true;
    }
    uint32_t thres = (a->aflags & TCP_AF_FIRST_RTT) ? a->first_rtt_us : 3000;
    /* A SYN or FIN occupies a sequence number: a repeated FIN ends where
     * nextseq is and is a retransmission, not out of order (Wireshark 4.0). */
    uint32_t end = seq + seglen + ((flags & (FL_SYN | FL_FIN)) ? 1 : 0);
    if (not_adv && us32(now) - f->nextseq_t < thres && f->nextseq != end) {
        f->ooo++;
        return false;
    }
    if (seglen > 0 && (r->flags & TCP_SF_SEEN) && r->lastack && tcp_seq_le(seq + seglen, r->lastack)) {
        f->retrans++; /* spurious retransmission: all of it was acknowledged */
        return true;
    }
    if (not_adv) {
        f->retrans++;
        return true;
    }
    return false;
}

static bool wireshark_packet(struct tcp_analysis *a, const struct nm_packet *pkt, unsigned side)
{
    struct tcp_side *f = &a->side[side], *r = &a->side[side ^ 1];
    uint8_t flags = pkt->tcp_flags;
    uint32_t seq = pkt->tcp_seq, ack = pkt->tcp_ack, seglen = pkt->payload_wire_len;
    bool skip, resent = false;

    unsigned ta = ws_pre_checks(f, r, flags, seq, ack, seglen, pkt->tcp_win, &skip);
    if (ack != f->lastack)
        f->dupack_run = 0;
    if (!skip)
        resent = ws_retrans_checks(a, f, r, ta, flags, seq, seglen, pkt->ts_us);
    uint32_t next = seq + seglen + ((flags & (FL_SYN | FL_FIN)) ? 1 : 0);
    if ((!(f->flags & TCP_SF_NEXTSEQ) || tcp_seq_gt(next, f->nextseq)) && !(ta & WS_ZWP)) {
        f->nextseq = next;
        f->nextseq_t = us32(pkt->ts_us);
        f->flags |= TCP_SF_NEXTSEQ;
    }
    f->win = pkt->tcp_win;
    f->lastack = ack;
    f->lastack_t = us32(pkt->ts_us);
    f->flags &= (uint16_t)~(TCP_SF_LAST_KA | TCP_SF_LAST_ZWP);
    if (ta & WS_KA)
        f->flags |= TCP_SF_LAST_KA;
    if (ta & WS_ZWP)
        f->flags |= TCP_SF_LAST_ZWP;
    f->flags |= TCP_SF_SEEN;
    if (flags & FL_RST)
        f->rsts++;
    return resent;
}

/* ---- RTT -------------------------------------------------------------------- */

static void rtt_add(struct tcp_rtt_stats *st, uint32_t us)
{
    if (st->n == 0 || us < st->min_us)
        st->min_us = us;
    if (us > st->max_us)
        st->max_us = us;
    st->last_us = us;
    st->sum_us += us;
    st->n++;
}

/* Wireshark's initial RTT and its split at the SYN-ACK. */
static void rtt_handshake(struct tcp_analysis *a, uint8_t flags, unsigned side, uint64_t now)
{
    if ((flags & (FL_SYN | FL_ACK)) == FL_SYN) {
        a->syn_ts = now;
        a->syn_side = (uint8_t)side;
        a->aflags = (uint8_t)((a->aflags | TCP_AF_SYN) & ~TCP_AF_SYNACK);
        return;
    }
    if ((flags & (FL_SYN | FL_ACK)) == (FL_SYN | FL_ACK)) {
        if ((a->aflags & TCP_AF_SYN) && !(a->aflags & TCP_AF_SYNACK) && side != a->syn_side) {
            a->synack_ts = now;
            a->aflags |= TCP_AF_SYNACK;
        }
        return;
    }
    if (!(flags & FL_ACK) || !(a->aflags & TCP_AF_SYN) || (a->aflags & TCP_AF_FIRST_RTT))
        return;
    a->first_rtt_us = (uint32_t)(now - a->syn_ts);
    a->aflags |= TCP_AF_FIRST_RTT;
    if ((a->aflags & TCP_AF_SYNACK) && side == a->syn_side && !(flags & FL_RST)) {
        a->rtt_server_us = (uint32_t)(a->synack_ts - a->syn_ts);
        a->rtt_client_us = (uint32_t)(now - a->synack_ts);
        a->aflags |= TCP_AF_HANDSHAKE;
    }
}

/* Data -> ACK samples (RFC 6298 with Karn's rule) when the ACK carries no
 * timestamps, else TSval -> TSecr echoes (RFC 7323): one sample in flight
 * per side, so the cost is constant whatever the window. */
/* A data segment of f (not a RST): start timing it, or cancel the timing
 * it makes ambiguous when it re-sends bytes. */
static inline void rtt_data(struct tcp_side *f, uint32_t seq, uint32_t len, uint32_t now,
                            bool resent)
{
    if (resent) {
        if ((f->flags & TCP_SF_RTT_PEND) && tcp_seq_lt(seq, f->rtt_seq))
            f->flags &= (uint16_t)~TCP_SF_RTT_PEND; /* Karn: ambiguous now */
    } else if (!(f->flags & TCP_SF_RTT_PEND)) {
        f->rtt_seq = seq + len;
        f->rtt_t = now;
        f->flags |= TCP_SF_RTT_PEND;
    }
}

/* The segment's TSval, and what it (an ACK, not a RST) answers of the
 * peer's timing: a leg to this side. */
static inline void rtt_echo(struct tcp_side *f, struct tcp_side *r, const struct nm_packet *pkt,
                            uint32_t now, bool answers)
{
    if (pkt->tcp_has_ts && !(f->flags & TCP_SF_TS_PEND) && pkt->tcp_ts_val != f->ts_val) {
        f->ts_val = pkt->tcp_ts_val;
        f->ts_t = now;
        f->flags |= TCP_SF_TS_PEND;
    }
    if (!answers)
        return;
    if (pkt->tcp_has_ts) {
        if ((r->flags & TCP_SF_TS_PEND) && pkt->tcp_ts_ecr == r->ts_val) {
            rtt_add(&f->rtt, now - r->ts_t);
            r->flags &= (uint16_t)~TCP_SF_TS_PEND;
        } else if ((r->flags & TCP_SF_TS_PEND) && tcp_seq_gt(pkt->tcp_ts_ecr, r->ts_val)) {
            r->flags &= (uint16_t)~TCP_SF_TS_PEND; /* its echo was not captured */
        }
        r->flags &= (uint16_t)~TCP_SF_RTT_PEND; /* timestamps time this leg */
    } else if ((r->flags & TCP_SF_RTT_PEND) && !tcp_seq_lt(pkt->tcp_ack, r->rtt_seq)) {
        rtt_add(&f->rtt, now - r->rtt_t);
        r->flags &= (uint16_t)~TCP_SF_RTT_PEND;
    }
}

static void rtt_ongoing(struct tcp_analysis *a, const struct nm_packet *pkt, unsigned side,
                        bool resent, uint32_t nextseq_before, bool nextseq_known)
{
    struct tcp_side *f = &a->side[side], *r = &a->side[side ^ 1];
    uint32_t now = us32(pkt->ts_us), len = pkt->payload_wire_len;
    bool rst = pkt->tcp_flags & FL_RST;

    if (len > 0 && !rst)
        rtt_data(f, pkt->tcp_seq, len, now,
                 resent || (nextseq_known && tcp_seq_lt(pkt->tcp_seq, nextseq_before)));
    rtt_echo(f, r, pkt, now, (pkt->tcp_flags & FL_ACK) && !rst);
}

static void wscale_learn(struct tcp_side *f, const struct nm_packet *pkt)
{
    if (!(pkt->tcp_flags & FL_SYN))
        return;
    f->flags |= TCP_SF_SYN;
    if (pkt->tcp_has_wscale) {
        f->flags |= TCP_SF_WSOPT;
        f->wscale = pkt->tcp_wscale;
    }
}

/* ---- the common segment ---------------------------------------------------
 *
 * Most segments are in-order data, ACKs or FINs between endpoints that Zeek
 * has established (or one of them closed).  For those, nearly every test of
 * the passes above resolves the same way, and the segment's whole effect is
 * the few updates of tcp_fast_packet.  tcp_fast_applies() holds each condition
 * that makes it so; any other segment takes the full passes. */
static bool z_open_or_closed(const struct tcp_side *e)
{
    return e->z_state == Z_ESTABLISHED || e->z_state == Z_CLOSED;
}

static bool tcp_fast_applies(const struct nm_packet *pkt, const struct tcp_side *f,
                             const struct tcp_side *r)
{
    uint32_t len = pkt->payload_wire_len;

    /* Zeek: no SYN or RST, so only a FIN moves an endpoint's state; a
     * window is not zero ('W'). */
    if ((pkt->tcp_flags & (FL_SYN | FL_RST | FL_ACK)) != FL_ACK || pkt->tcp_win == 0 ||
        !z_open_or_closed(f) || !z_open_or_closed(r))
        return false;
    /* Wireshark: in order, so neither keep-alive, out-of-order nor a
     * retransmission unless already acknowledged; no zero-window probe; a
     * pure ACK that could be a duplicate goes the long way. */
    return (f->flags & (TCP_SF_NEXTSEQ | TCP_SF_SEEN)) == (TCP_SF_NEXTSEQ | TCP_SF_SEEN) &&
           pkt->tcp_seq == f->nextseq && !(len == 1 && r->win == 0) &&
           !(len == 0 && !(pkt->tcp_flags & FL_FIN) && pkt->tcp_ack == f->lastack);
}

/* gap_ack for an ACK (without RST) of side's peer r, called only when it
 * has work: an ACK at or below the peer's edge reports no gap. */
static inline void tcp_gap_ack(struct tcp_analysis *a, unsigned side, const struct tcp_side *r,
                               uint32_t ack)
{
    if ((r->flags & (TCP_SF_EDGE | TCP_SF_FIN)) != TCP_SF_EDGE || tcp_seq_gt(ack, r->gap_edge))
        gap_ack(a, side ^ 1, ack);
}

/* Wireshark's part of a segment tcp_fast_applies() accepts: only the
 * spurious-retransmission test can fire.  Returns whether it did. */
static inline bool tcp_fast_wireshark(const struct nm_packet *pkt, struct tcp_side *f,
                                      const struct tcp_side *r, uint32_t seg_end, uint32_t now)
{
    uint32_t seq = pkt->tcp_seq, ack = pkt->tcp_ack, len = pkt->payload_wire_len;
    bool resent = len > 0 && (r->flags & TCP_SF_SEEN) && r->lastack &&
                  tcp_seq_le(seq + len, r->lastack);

    if (resent)
        f->retrans++;
    if (ack != f->lastack)
        f->dupack_run = 0;
    if (tcp_seq_gt(seg_end, f->nextseq)) {
        f->nextseq = seg_end;
        f->nextseq_t = now;
    }
    f->win = pkt->tcp_win;
    f->lastack = ack;
    f->lastack_t = now;
    f->flags &= (uint16_t)~(TCP_SF_LAST_KA | TCP_SF_LAST_ZWP);
    return resent;
}


/* The RTT pass of a segment with ACK and without RST. */
static inline void tcp_fast_rtt(const struct nm_packet *pkt, struct tcp_side *f,
                                struct tcp_side *r, uint32_t now, bool resent)
{
    if (pkt->payload_wire_len)
        rtt_data(f, pkt->tcp_seq, pkt->payload_wire_len, now, resent);
    rtt_echo(f, r, pkt, now, true);
}

/* What the full passes do to a segment tcp_fast_applies() accepts, in
 * their order; the usual outcome of each helper is tested inline so that
 * the call is only made when it has work. */
__attribute__((noinline)) static void tcp_fast_packet(struct tcp_analysis *a,
                                                      const struct nm_packet *pkt,
                                                      struct tcp_side *f, struct tcp_side *r,
                                                      bool is_orig)
{
    unsigned side = f != a->side;
    uint32_t seq = pkt->tcp_seq, ack = pkt->tcp_ack, len = pkt->payload_wire_len;
    bool fin = pkt->tcp_flags & FL_FIN;
    /* end: past the data; seg_end: past the FIN too, which takes a number. */
    uint32_t end = seq + len, seg_end = end + fin, now = us32(pkt->ts_us);

    /* A plain ACK keeps ESTABLISHED while no FIN was sent.  The tracker
     * reads only FIN, SYN, RST and ACK, known here but for FIN: given as
     * constants, its tests of the others fold away. */
    if (fin || a->trk.state != TCP_ST_ESTABLISHED || a->trk.fin_sent)
        tcp_tracker_update(&a->trk, side, is_orig ? TCP_DIR_ORIG : TCP_DIR_REPLY,
                           (uint8_t)(FL_ACK | (fin ? FL_FIN : 0)), seq, ack, len);
    /* Only the first ACK after a SYN times the handshake. */
    if ((a->aflags & (TCP_AF_SYN | TCP_AF_FIRST_RTT)) == TCP_AF_SYN)
        rtt_handshake(a, pkt->tcp_flags, side, pkt->ts_us);
    bool resent = tcp_fast_wireshark(pkt, f, r, seg_end, now);
    /* Zeek: the history letter (F, or the first D or A), the peer's
     * acknowledged edge, this side's last sequence number (update_last_seq
     * without SYN or RST), its state and the content gaps. */
    if (fin) {
        if (hist_once(a, side, H_FIN, 'F') && end != f->hist_fin)
            hist_add(a, side, 'F');
        f->hist_fin = end;
        f->flags |= TCP_SF_FIN;
    } else {
        uint8_t bit = len ? H_DATA : H_ACK;
        if (!(f->hist_seen & bit))
            hist_once(a, side, bit, len ? 'D' : 'A');
    }
    tcp_fast_z_ack(r, ack);
    if ((fin && f->z_last == f->z_start + 1) || tcp_seq_gt(seg_end, f->z_last))
        f->z_last = seg_end;
    else if (len > 0)
        hist_scaled(a, side, &f->z_rxmt, &f->z_exp[0], 'T');
    if (fin && f->z_state == Z_ESTABLISHED)
        z_set(f, Z_CLOSED);
    if (len || fin) {
        /* Contiguous data past the edge with no islands moves the edge. */
        if ((f->flags & TCP_SF_EDGE) && !f->islands && tcp_seq_le(seq, f->gap_edge) &&
            tcp_seq_gt(seg_end, f->gap_edge))
            f->gap_edge = seg_end;
        else
            gap_data(f, seq, seg_end);
    }
    tcp_gap_ack(a, side, r, ack);
    tcp_fast_rtt(pkt, f, r, now, resent);
}

/* ---- the plainest segment -------------------------------------------------
 *
 * Of the segments tcp_fast_packet takes, most leave every branch of it that
 * calls out untaken: no FIN, the tracker established with no FIN sent
 * (it keeps its state), the handshake already timed, the data (if any)
 * advancing this side's sequence space and content edge with no island
 * above it (no T letter, no gap bookkeeping), and an ACK at or below the
 * peer's content edge (no gap to report).  tcp_plain_applies() tests
 * exactly those; tcp_plain_packet() is then what tcp_fast_packet would do,
 * inline and with no call (the first D or A letter is written in place),
 * about half its instructions on workload 1. */
static inline bool tcp_plain_applies(const struct tcp_analysis *a, const struct nm_packet *pkt,
                                     const struct tcp_side *f, const struct tcp_side *r)
{
    uint32_t seq = pkt->tcp_seq, len = pkt->payload_wire_len, end = seq + len;

    if ((pkt->tcp_flags & FL_FIN) || a->trk.state != TCP_ST_ESTABLISHED || a->trk.fin_sent ||
        (a->aflags & (TCP_AF_SYN | TCP_AF_FIRST_RTT)) == TCP_AF_SYN ||
        (r->flags & (TCP_SF_EDGE | TCP_SF_FIN)) != TCP_SF_EDGE ||
        tcp_seq_gt(pkt->tcp_ack, r->gap_edge))
        return false;
    return len == 0 || (tcp_seq_gt(end, f->z_last) && (f->flags & TCP_SF_EDGE) && !f->islands &&
                        tcp_seq_le(seq, f->gap_edge) && tcp_seq_gt(end, f->gap_edge));
}

static inline void tcp_plain_packet(struct tcp_analysis *a, const struct nm_packet *pkt,
                                    struct tcp_side *f, struct tcp_side *r, unsigned side)
{
    uint32_t end = pkt->tcp_seq + pkt->payload_wire_len, now = us32(pkt->ts_us);
    bool resent = tcp_fast_wireshark(pkt, f, r, end, now);
    uint8_t bit = pkt->payload_wire_len ? H_DATA : H_ACK;

    if (!(f->hist_seen & bit))
        hist_once(a, side, bit, pkt->payload_wire_len ? 'D' : 'A');
    tcp_fast_z_ack(r, pkt->tcp_ack);
    if (tcp_seq_gt(end, f->z_last))
        f->z_last = end;
    if (pkt->payload_wire_len)
        f->gap_edge = end;
    tcp_fast_rtt(pkt, f, r, now, resent);
}

/* ---- a side's first segment, its SYN -----------------------------------
 *
 * Each side's first segment is most often its SYN or SYN-ACK.  The full
 * passes then find nothing of that side to compare it with (no
 * retransmission, keep-alive, duplicate, T letter or RTT sample of its
 * own) and only start its state.  A side whose flags are all clear has sent
 * nothing (every pass sets TCP_SF_SEEN on the sender) and was never
 * acknowledged into (gap_ack sets TCP_SF_EDGE), so the peer's segments left
 * it as initialised but for z_start, z_ack and z_last, which the SYN
 * overwrites.  For a SYN without FIN, RST, data or a zero window (no W
 * letter), tcp_open_packet() makes exactly the full passes' writes. */
static inline bool tcp_open_applies(const struct nm_packet *pkt, const struct tcp_side *f)
{
    return (pkt->tcp_flags & (FL_SYN | FL_FIN | FL_RST)) == FL_SYN &&
           pkt->payload_wire_len == 0 && pkt->tcp_win != 0 && f->flags == 0;
}

__attribute__((noinline)) static void tcp_open_packet(struct tcp_analysis *a,
                                                      const struct nm_packet *pkt,
                                                      struct tcp_side *f, struct tcp_side *r,
                                                      bool is_orig)
{
    unsigned side = f != a->side;
    uint8_t flags = pkt->tcp_flags;
    uint32_t seq = pkt->tcp_seq, ack = pkt->tcp_ack, now = us32(pkt->ts_us);

    tcp_tracker_update(&a->trk, side, is_orig ? TCP_DIR_ORIG : TCP_DIR_REPLY, flags, seq, ack, 0);
    rtt_handshake(a, flags, side, pkt->ts_us);
    /* Wireshark: the SYN takes one sequence number. */
    f->nextseq = seq + 1;
    f->nextseq_t = now;
    f->win = pkt->tcp_win;
    f->lastack = ack;
    f->lastack_t = now;
    f->flags = TCP_SF_NEXTSEQ | TCP_SF_SEEN | TCP_SF_EDGE;
    /* Zeek: the endpoint starts at the SYN (its S or H letter), its content
     * edge just past it; an ACK speaks of the peer. */
    f->z_start = f->z_ack = seq;
    f->z_last = f->gap_edge = seq + 1;
    hist_once(a, side, H_SYN, (flags & FL_ACK) ? 'H' : 'S');
    f->hist_syn = seq;
    zeek_peer_ack(r, flags, ack);
    zeek_inactive(a, side, is_orig, flags, 0);
    if (flags & FL_ACK)
        tcp_gap_ack(a, side, r, ack);
    rtt_echo(f, r, pkt, now, flags & FL_ACK);
    wscale_learn(f, pkt);
}

/* Every pass in full, for any segment.  Out of line: the fast path in
 * tcp_segment then saves only the registers it needs. */
__attribute__((noinline)) static void tcp_full_packet(struct tcp_analysis *a,
                                                      const struct nm_packet *pkt, unsigned side,
                                                      bool is_orig)
{
    struct tcp_side *f = &a->side[side];
    uint32_t nextseq_before = f->nextseq;
    bool nextseq_known = f->flags & TCP_SF_NEXTSEQ;

    tcp_tracker_update(&a->trk, side, is_orig ? TCP_DIR_ORIG : TCP_DIR_REPLY, pkt->tcp_flags,
                       pkt->tcp_seq, pkt->tcp_ack, pkt->payload_wire_len);
    rtt_handshake(a, pkt->tcp_flags, side, pkt->ts_us);
    bool resent = wireshark_packet(a, pkt, side);
    zeek_packet(a, pkt, side, is_orig);
    rtt_ongoing(a, pkt, side, resent, nextseq_before, nextseq_known);
    wscale_learn(f, pkt);
}

/* Which of the flow table's sequence numbers are set. */
enum {
    TCP_CONN_SYN = 1u << 0,         /* first_syn_seq */
    TCP_CONN_FIN0 = 1u << 1,        /* fin_seq[0] (side 1: << 1) */
};

/* The sequence numbers the flow table's close and port-reuse tests
 * compare (tcp_analysis_first_syn, tcp_analysis_fin): kept here because
 * the analysis, full or compact, has every segment of the flow, where a
 * copy in every flow cost 12 of its bytes.  Few segments carry SYN or
 * FIN, so the rest pass one test. */
static inline void tcp_conn_note(struct tcp_analysis *a, const struct nm_packet *pkt,
                                 unsigned side)
{
    uint8_t flags = pkt->tcp_flags;

    if (__builtin_expect(!(flags & (FL_SYN | FL_FIN)), 1))
        return;
    if ((flags & (FL_SYN | FL_ACK)) == FL_SYN && !(a->conn_seen & TCP_CONN_SYN)) {
        a->first_syn_seq = pkt->tcp_seq;
        a->conn_seen |= TCP_CONN_SYN;
    }
    if ((flags & (FL_FIN | FL_RST)) == FL_FIN) {
        a->fin_seq[side] = pkt->tcp_seq + ((flags & FL_SYN) ? 1 : 0) + pkt->payload_wire_len;
        a->conn_seen |= (uint8_t)(TCP_CONN_FIN0 << side);
    }
}

bool tcp_analysis_first_syn(const struct tcp_analysis *a, uint32_t *seq)
{
    *seq = a->first_syn_seq;
    return a->conn_seen & TCP_CONN_SYN;
}

bool tcp_analysis_fin(const struct tcp_analysis *a, unsigned side, uint32_t *seq)
{
    *seq = a->fin_seq[side & 1];
    return a->conn_seen & (TCP_CONN_FIN0 << (side & 1));
}

/* The sides come in as arguments instead of being derived from side in
 * here: derived, the compiler recomputed side * sizeof(struct tcp_side) at
 * nearly every access to them, a quarter of the segment's instructions. */
__attribute__((noinline)) static void tcp_segment(struct tcp_analysis *a,
                                                  const struct nm_packet *pkt, struct tcp_side *f,
                                                  struct tcp_side *r, bool is_orig)
{
    unsigned side = f != a->side;

    if (!tcp_fast_applies(pkt, f, r)) {
        if (tcp_open_applies(pkt, f))
            tcp_open_packet(a, pkt, f, r, is_orig);
        else
            tcp_full_packet(a, pkt, side, is_orig);
    } else if (tcp_plain_applies(a, pkt, f, r))
        tcp_plain_packet(a, pkt, f, r, side);
    else
        tcp_fast_packet(a, pkt, f, r, is_orig);
}

void tcp_analysis_packet(struct tcp_analysis *a, const struct nm_packet *pkt, unsigned side,
                         unsigned src_side)
{
    side &= 1;
    tcp_conn_note(a, pkt, side);
    tcp_segment(a, pkt, &a->side[side], &a->side[side ^ 1], side == (src_side & 1));
}

void tcp_analysis_packet_full(struct tcp_analysis *a, const struct nm_packet *pkt,
                              unsigned side, unsigned src_side)
{
    side &= 1;
    tcp_conn_note(a, pkt, side);
    tcp_full_packet(a, pkt, side, side == (src_side & 1));
}

/* ---- the record ------------------------------------------------------------ */

/* Zeek's Size(): payload bytes from the sequence space. */
static uint64_t zeek_size(const struct tcp_side *e, const struct tcp_side *p)
{
    bool no_data_acked = e->z_ack == e->z_start || e->z_ack == e->z_start + 1;

    if (e->z_state == Z_INACTIVE)
        return 0;
    if (e->z_prev == Z_SYN_SENT && e->z_state == Z_RESET && p->z_state == Z_INACTIVE &&
        !no_data_acked)
        return 0;
    int64_t last = tcp_seq_diff(e->z_last, e->z_start), ackd = tcp_seq_diff(e->z_ack, e->z_start);
    int64_t size = last > ackd ? last : ackd;
    if (size <= 0)
        return 0;
    size--;  /* the SYN's sequence number */
    if ((e->flags & TCP_SF_FIN) && size)
        size--;  /* the FIN's */
    return (uint64_t)size;
}

/* Zeek's regex /^\^?S[^HAFGIQ]*R.* / on the history. */
static bool history_syn_then_rst(const char *h)
{
    if (*h == '^')
        h++;
    if (*h++ != 'S')
        return false;
    for (; *h; h++) {
        if (*h == 'R')
            return true;
        if (strchr("HAFGIQ", *h))
            return false;
    }
    return false;
}

static const char *zeek_conn_state(const struct tcp_side *o, const struct tcp_side *r,
                                   uint64_t osize, uint64_t rsize, const char *history)
{
    uint8_t os = o->z_state, rs = r->z_state;
    bool o_inactive = os == Z_INACTIVE || os == Z_PARTIAL;
    bool r_inactive = rs == Z_INACTIVE || rs == Z_PARTIAL;

    if (rs == Z_RESET) {
        if (os == Z_SYN_SENT || os == Z_SYN_ACK_SENT || (os == Z_RESET && osize == 0 && rsize == 0))
            return "REJ";
        return o_inactive ? "RSTRH" : "RSTR";
    }
    if (os == Z_RESET) {
        if (r_inactive)
            return history_syn_then_rst(history) ? "RSTOS0" : "OTH";
        return "RSTO";
    }
    if (rs == Z_CLOSED && os == Z_CLOSED)
        return "SF";
    if (os == Z_CLOSED)
        return r_inactive ? "SH" : "S2";
    if (rs == Z_CLOSED)
        return o_inactive ? "SHR" : "S3";
    if (os == Z_SYN_SENT && rs == Z_INACTIVE)
        return "S0";
    if (os == Z_ESTABLISHED && rs == Z_ESTABLISHED)
        return "S1";
    return "OTH";
}

static void fill_rtt(const struct tcp_rtt_stats *st, unsigned dir, struct flow_tcp_summary *out)
{
    out->rtt_samples[dir] = st->n;
    if (!st->n)
        return;
    out->rtt_min_us[dir] = st->min_us;
    out->rtt_max_us[dir] = st->max_us;
    out->rtt_last_us[dir] = st->last_us;
    out->rtt_avg_us[dir] = (uint32_t)(st->sum_us / st->n);
}

void tcp_analysis_fill(const struct tcp_analysis *a, unsigned src_side,
                       struct flow_tcp_summary *out)
{
    const struct tcp_side *o = &a->side[src_side & 1], *r = &a->side[(src_side & 1) ^ 1];
    const struct tcp_side *by_dir[2] = { o, r };

    out->valid = true;
    out->tcp_state = a->trk.state;
    /* Letters were cased by canonical side; the record's is by initiator. */
    for (unsigned i = 0; i < a->hist_len; i++) {
        char c = a->history[i];
        bool upper = c >= 'A' && c <= 'Z';
        out->history[i] = (src_side & 1) == 0 ? c : (char)(upper ? c + 32 : c - 32);
    }
    out->history[a->hist_len] = '\0';
    out->payload_bytes[NM_DIR_SRC] = zeek_size(o, r);
    out->payload_bytes[NM_DIR_DST] = zeek_size(r, o);
    strcpy(out->conn_state, zeek_conn_state(o, r, out->payload_bytes[NM_DIR_SRC],
                                            out->payload_bytes[NM_DIR_DST], out->history));
    out->missed_bytes = a->missed_bytes;
    out->wscale_unknown = !((o->flags & TCP_SF_SYN) && (r->flags & TCP_SF_SYN));
    if (!out->wscale_unknown) {
        bool both = (o->flags & TCP_SF_WSOPT) && (r->flags & TCP_SF_WSOPT);
        out->wscale[NM_DIR_SRC] = both ? o->wscale : 0;
        out->wscale[NM_DIR_DST] = both ? r->wscale : 0;
    }
    if (a->aflags & TCP_AF_HANDSHAKE) {
        out->has_handshake_rtt = true;
        out->rtt_server_us = a->rtt_server_us;
        out->rtt_client_us = a->rtt_client_us;
        out->rtt_handshake_us = a->rtt_server_us + a->rtt_client_us;
    }
    for (unsigned d = 0; d < 2; d++) {
        const struct tcp_side *s = by_dir[d];
        out->retrans[d] = s->retrans;
        out->out_of_order[d] = s->ooo;
        out->dup_acks[d] = s->dup_acks;
        out->zero_window[d] = s->zero_win;
        out->keepalives[d] = s->keepalives;
        out->rsts[d] = s->rsts;
        fill_rtt(&s->rtt, d, out);
    }
}

/* ---- the pool ---------------------------------------------------------------- */

/* A flow's first TCP_PENDING_MAX segments are kept in this compact form
 * (a fourteenth or an eleventh of a struct tcp_analysis, see the two
 * sizes below) and replayed into a full analysis only when the flow goes
 * past them.  Flows that never get past a
 * handshake (scans, refused connections, SYN floods: often most of a busy
 * table) need not take the full slot (but see "Which form a new flow
 * starts in" below); their record replays the segments into
 * an analysis on the stack.  The replay feeds tcp_analysis_packet exactly
 * the fields it reads, so the result is that of analysing each segment as
 * it came.
 *
 * The segments are byte-coded, since most of a handshake's bytes can be
 * predicted from the segments before: a SYN-ACK acknowledges the SYN's
 * sequence number + 1, the ACK's sequence and acknowledgment numbers follow
 * from the two before, TSecr echoes the peer's last TSval.  Each segment is
 * a header byte (TCP_PC_*: which fields are as predicted, which options it
 * had), the flags, the time after the first segment (varint; absent for
 * the first), then each field not predicted: seq and ack (4 bytes), the
 * window (2), the payload length (varint), TSval (4 bytes, or a zigzag
 * varint from the side's previous TSval), TSecr (4) and the window scale
 * (1).  The first segment's time is not stored but counted from the
 * flow's first-packet time (struct flow's ts_first, which the caller
 * passes): nothing when it is that packet, as it nearly always is, else
 * a zigzag varint offset in the time's place (TCP_PC_KNOWN_OFF); later
 * segments' times count from the first segment's.  A caller about to
 * change ts_first has the offset recoded (tcp_analysis_pool_rebase).  A
 * handshake takes 20 bytes without options
 * and 30 with timestamps and window scaling both ways, plus its two times
 * (a varint each: at most three bytes below 2^21 µs, 2.1 s) and, with
 * timestamps, the ACK's TSval step (at most two bytes below 8192 ticks):
 * at most 26 and 38 bytes for a handshake within 2.1 s.
 *
 * So the form comes in two sizes: 32-byte slots with
 * TCP_PENDING_SMALL_BYTES of code, enough for a handshake without
 * timestamps (a SYN flood's, workload 2's: at a million flows every byte
 * here is a megabyte), and 40-byte slots with TCP_PENDING_BYTES, each size
 * in an array of its own with its own free list (a handle's
 * TCP_HANDLE_WIDE bit says which).  A new flow takes the smaller; the
 * size is chosen when its first segment is coded: one with the timestamps
 * option moves the flow to the larger at once, since a handshake with
 * timestamps takes at least 31 bytes (29 for the segments and their
 * options, at least one for each time).  Only the flows it stops short
 * of (an unanswered SYN, one refused by a RST) would have fitted the
 * smaller one, 8 bytes each; starting them small would instead copy every
 * handshake with timestamps that is answered.  A segment (or a recoded
 * first time) that does not fit the smaller size moves the flow to the
 * larger one, code and prediction state copied (the handle changes), and
 * only one that fits neither takes the full analysis through the replay,
 * as the fourth segment does: no flow keeps more than the one 40-byte
 * form it had before there were two. */
#define TCP_PENDING_MAX 3
#define TCP_PENDING_BYTES 38          /* code of the larger size */
#define TCP_PENDING_SMALL_BYTES 30    /* code of the smaller */

enum {
    TCP_PC_SIDE1 = 1, TCP_PC_SRC1 = 2, TCP_PC_HAS_TS = 4, TCP_PC_HAS_WSCALE = 8,
    TCP_PC_SEQ = 16,             /* seq as predicted */
    TCP_PC_ACK = 32,             /* ack as predicted */
    TCP_PC_ECR = 64,             /* TSecr as predicted (with TCP_PC_HAS_TS) */
    TCP_PC_LEN0 = 128,           /* no payload */
};

/* A slot of either size: its code has the room of its size's
 * (pending_room).  A released slot's first four bytes hold the free
 * list's link instead. */
struct tcp_pending {
    uint8_t known;               /* TCP_PC_KNOWN_* after the kept segments */
    uint8_t meta;                /* segments << 6 | bytes of code used */
    uint8_t code[];
};
#define TCP_PENDING_SLOT(room) (offsetof(struct tcp_pending, code) + (room))
_Static_assert(TCP_PENDING_SLOT(TCP_PENDING_SMALL_BYTES) == 32 &&
               TCP_PENDING_SLOT(TCP_PENDING_BYTES) == 40, "tcp_pending sizes changed");
_Static_assert(TCP_PENDING_BYTES < 64, "bytes of code used must fit meta's six bits");

/* Which sides have sent a segment and which a TSval, kept beside the code
 * so that the prediction state's size in the code's tail (see
 * pc_tail_size) is known without decoding; and whether the first segment
 * codes its time's offset from the flow's first-packet time. */
enum {
    TCP_PC_KNOWN_SENT0 = 1, TCP_PC_KNOWN_SENT1 = 2, TCP_PC_KNOWN_TS0 = 4, TCP_PC_KNOWN_TS1 = 8,
    TCP_PC_KNOWN_STATE = 15,     /* the above: part of the prediction state */
    TCP_PC_KNOWN_OFF = 16,
};

/* What the predictions are made from: the segments so far, per canonical
 * side.  seq[s] is the sequence number side s's next segment is predicted
 * to have: past its last one once it has sent (seq + SYN + payload + FIN),
 * until then what the peer last acknowledged; a side's ACK is predicted to
 * be the peer's seq once the peer has sent.  Two words then say all of it,
 * so that the state fits in the code's tail more often (see TCP_PC_CACHE). */
struct tcp_pending_state {
    uint32_t seq[2];
    uint32_t ts_val[2];          /* last TSval, when TCP_PC_KNOWN_TS0 << side */
    unsigned known;              /* TCP_PC_KNOWN_* */
    unsigned n;                  /* segments */
};

/* Handles: full analyses are 1..capacity, compact ones index + 1 in
 * their size's array, with TCP_HANDLE_PENDING and, in the larger size,
 * TCP_HANDLE_WIDE. */
#define TCP_HANDLE_PENDING 0x80000000u
#define TCP_HANDLE_WIDE 0x40000000u
#define TCP_HANDLE_INDEX TCP_ANALYSIS_POOL_MAX   /* index + 1 */

/* Coding a segment needs the prediction state after the segments before
 * it; decoding them again for every segment was a visible share of the
 * flow thread's work.  The state after a flow's last kept segment is kept
 * in the unused end of its code when it fits there (pc_tail_fits: after a
 * handshake's first segment, and its first two without timestamps),
 * else here, direct-mapped by slot index (of either size): a handshake's
 * segments come within a round trip, while few other flows start, but
 * with a million handshakes open at once (workload 2) this cache always
 * misses, which is why the tail comes first.  An entry counts only for the handle (slot and size)
 * and segment count it was left with, and is written exactly when the
 * state did not fit the tail, so an entry a slot's earlier flow left is
 * never read for a later one: the later one wrote its own at that count,
 * or another slot did. */
#define TCP_PC_CACHE 2048u

struct tcp_pc_cache_entry {
    uint32_t handle;             /* 0: empty */
    struct tcp_pending_state st;
};

/* One array of slots and its free list. */
struct tcp_slot_list {
    uint8_t *base;       /* the slots (hugemem_calloc) */
    size_t size;         /* bytes of a slot */
    size_t link;         /* where a released slot keeps the list's link */
    uint32_t fresh;      /* slots fresh.. never used: untouched memory */
    uint32_t free_head;  /* index + 1 of the first released slot, 0: none */
    struct hugemem_ahead ahead;   /* fresh, for tcp_analysis_pool_prefault */
};

/* Which form a new flow starts in.  The compact form saves memory only
 * for flows that end inside it; a flow that outgrows it pays for coding its
 * segments and decoding them again into the full analysis, on top of the
 * analysis itself (about 900 instructions a flow: a tenth of the flow
 * thread on workload 1, where every flow outgrows it).  So the pool
 * watches how its compact flows end, in a score that an outgrown flow
 * raises and a released compact flow lowers: while it is above half, most
 * flows outgrow the form, and new flows start in the full analysis, as
 * long as fewer than direct_budget of those are in use; every
 * TCP_DIRECT_SAMPLE-th still starts compact, so that the score keeps
 * following the traffic.  The budget bounds what a wrong guess costs: a
 * SYN flood arriving while long flows dominate the score takes full
 * analyses only until the budget is in use (about 28 MB a worker for
 * the default; --max-memory already reckons with every flow outgrowing
 * its compact form), then compact ones again, whose ends then lower the score.  The
 * budget counts every full analysis, outgrown or started so: a table
 * already holding that many is busy enough to want the compact form.
 * It is that large because closed flows wait out the close timeout: on
 * workload 1 about 40,000 flows are in the table at once.
 * A table of handshakes only (workload 2) never outgrows, so never starts
 * a flow in the full form.  Either way the records are the same: the
 * replay gives exactly the analysis of the segments as they came. */
#define TCP_DIRECT_SCORE_MAX 64u
#define TCP_DIRECT_BUDGET_DEFAULT 65536u
#define TCP_DIRECT_SAMPLE 16u

struct tcp_analysis_pool {
    struct tcp_analysis *slots;            /* full_list's, typed */
    struct tcp_pc_cache_entry *pc_cache;   /* TCP_PC_CACHE entries */
    uint32_t capacity;                     /* slots of each array */
    struct tcp_slot_list full_list;
    struct tcp_slot_list pending_list[2];  /* [0] 32-byte slots, [1] 40 (TCP_HANDLE_WIDE) */
    uint32_t full_in_use;
    uint32_t direct_budget;        /* full analyses a new flow may start in */
    uint32_t outgrow_score;        /* 0..TCP_DIRECT_SCORE_MAX, see above */
    uint32_t starts;               /* flows started, for TCP_DIRECT_SAMPLE */
};

size_t tcp_analysis_bytes_per_flow(void)
{
    /* A released slot of any kind stays resident for reuse, and each
     * array can fill in its turn (a flood without timestamps, one with
     * them, then long flows): the most a flow can hold is all three. */
    return sizeof(struct tcp_analysis) + TCP_PENDING_SLOT(TCP_PENDING_SMALL_BYTES) +
           TCP_PENDING_SLOT(TCP_PENDING_BYTES);
}

bool tcp_analysis_stream_start(const struct tcp_analysis *a, unsigned side, uint32_t *seq)
{
    if (!a || !(a->side[side].flags & TCP_SF_SYN))
        return false;
    *seq = a->side[side].z_start + 1;
    return true;
}

/* Bytes of code a compact handle's slot has room for. */
static unsigned pending_room(uint32_t handle)
{
    return (handle & TCP_HANDLE_WIDE) ? TCP_PENDING_BYTES : TCP_PENDING_SMALL_BYTES;
}

/* Slot index of a handle of either form. */
static uint32_t handle_index(uint32_t handle)
{
    return (handle & TCP_HANDLE_INDEX) - 1;
}

/* Which of the pool's pending_list a compact handle's slot is in. */
static unsigned pending_kind(uint32_t handle)
{
    return (handle & TCP_HANDLE_WIDE) ? 1 : 0;
}

static struct tcp_pending *pending_at(const struct tcp_analysis_pool *p, uint32_t handle)
{
    const struct tcp_slot_list *l = &p->pending_list[pending_kind(handle)];

    return (struct tcp_pending *)(l->base + (size_t)handle_index(handle) * l->size);
}

/* capacity slots of `size` bytes, `link` bytes into each the free list's
 * link.  hugemem arrays start on a cache line, so a compact form's 32-byte
 * slot never straddles two lines. */
static bool slot_list_init(struct tcp_slot_list *l, uint32_t capacity, size_t size, size_t link)
{
    /* Zero pages mapped lazily (hugemem.h): memory follows the number of
     * TCP flows actually tracked, not the capacity. */
    l->base = hugemem_calloc(capacity ? capacity : 1, size);
    if (!l->base)
        return false;
    l->size = size;
    l->link = link;
    hugemem_ahead_init(&l->ahead, l->base, size, capacity);
    return true;
}

struct tcp_analysis_pool *tcp_analysis_pool_create(uint32_t capacity)
{
    struct tcp_analysis_pool *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    if (capacity > TCP_HANDLE_INDEX)
        capacity = TCP_HANDLE_INDEX;
    p->capacity = capacity;
    p->direct_budget = TCP_DIRECT_BUDGET_DEFAULT;
    p->pc_cache = calloc(TCP_PC_CACHE, sizeof(*p->pc_cache));
    if (!p->pc_cache ||
        !slot_list_init(&p->full_list, capacity, sizeof(struct tcp_analysis),
                        offsetof(struct tcp_analysis, next_free)) ||
        !slot_list_init(&p->pending_list[0], capacity, TCP_PENDING_SLOT(TCP_PENDING_SMALL_BYTES), 0) ||
        !slot_list_init(&p->pending_list[1], capacity, TCP_PENDING_SLOT(TCP_PENDING_BYTES), 0)) {
        tcp_analysis_pool_destroy(p);
        return NULL;
    }
    p->slots = (struct tcp_analysis *)p->full_list.base;
    return p;
}

void tcp_analysis_pool_prefault(struct tcp_analysis_pool *p, uint32_t ahead)
{
    (void)hugemem_ahead_populate(&p->full_list.ahead, ahead);
    for (unsigned k = 0; k < 2; k++)
        (void)hugemem_ahead_populate(&p->pending_list[k].ahead, ahead);
}

void tcp_analysis_pool_destroy(struct tcp_analysis_pool *p)
{
    if (!p)
        return;
    hugemem_free(p->full_list.base);
    for (unsigned k = 0; k < 2; k++)
        hugemem_free(p->pending_list[k].base);
    free(p->pc_cache);
    free(p);
}

/* Index + 1 of a free slot of l, 0 when all are taken. */
static uint32_t slot_take(struct tcp_slot_list *l, uint32_t capacity)
{
    uint32_t h;

    if (l->free_head) {
        h = l->free_head;
        memcpy(&l->free_head, l->base + (size_t)(h - 1) * l->size + l->link, sizeof(h));
    } else if (l->fresh < capacity) {
        h = ++l->fresh;
        hugemem_ahead_note(&l->ahead, h);
    } else {
        return 0;
    }
    return h;
}

static void slot_put(struct tcp_slot_list *l, uint32_t i)
{
    memcpy(l->base + (size_t)i * l->size + l->link, &l->free_head, sizeof(l->free_head));
    l->free_head = i + 1;
}

static uint32_t tcp_full_alloc(struct tcp_analysis_pool *p)
{
    uint32_t h = slot_take(&p->full_list, p->capacity);

    if (h) {
        tcp_analysis_init(&p->slots[h - 1]);
        p->full_in_use++;
    }
    return h;
}

void tcp_analysis_pool_set_direct_budget(struct tcp_analysis_pool *p, uint32_t flows)
{
    p->direct_budget = flows;
}

static bool tcp_pool_starts_full(struct tcp_analysis_pool *p)
{
    return p->outgrow_score > TCP_DIRECT_SCORE_MAX / 2 && p->full_in_use < p->direct_budget &&
           ++p->starts % TCP_DIRECT_SAMPLE != 0;
}

/* An empty compact form in a free slot of the larger size if `wide` is
 * TCP_HANDLE_WIDE, else of the smaller; 0 when all are taken. */
static inline __attribute__((always_inline)) uint32_t pending_alloc(struct tcp_analysis_pool *p,
                                                                    uint32_t wide)
{
    uint32_t h = slot_take(&p->pending_list[pending_kind(wide)], p->capacity);
    struct tcp_pending *pd;

    if (!h)
        return 0;
    h |= TCP_HANDLE_PENDING | wide;
    pd = pending_at(p, h);
    pd->known = 0;
    pd->meta = 0;
    return h;
}

uint32_t tcp_analysis_alloc(struct tcp_analysis_pool *p)
{
    uint32_t h = 0;

    if (!tcp_pool_starts_full(p))
        h = pending_alloc(p, 0);   /* the smaller size until its first segment */
    return h ? h : tcp_full_alloc(p);
}

/* Why a compact flow leaves its slot, for the start-form score. */
enum tcp_pool_leave {
    TCP_LEAVE_ENDED,       /* the flow ended inside it: lowers the score */
    TCP_LEAVE_OUTGROWN,    /* a segment did not fit: raises it */
    TCP_LEAVE_MOVED,       /* its first segment's time moved too far, or it
                            * moved to the larger size: neither */
};

/* Puts a handle's slot back on its free list. */
static void tcp_pool_free(struct tcp_analysis_pool *p, uint32_t handle, enum tcp_pool_leave why)
{
    uint32_t i = handle_index(handle);

    if (!handle || i >= p->capacity)
        return;
    if (handle & TCP_HANDLE_PENDING) {
        slot_put(&p->pending_list[pending_kind(handle)], i);
        if (why == TCP_LEAVE_OUTGROWN && p->outgrow_score < TCP_DIRECT_SCORE_MAX)
            p->outgrow_score++;
        else if (why == TCP_LEAVE_ENDED && p->outgrow_score > 0)
            p->outgrow_score--;
    } else {
        slot_put(&p->full_list, i);
        p->full_in_use--;
    }
}

void tcp_analysis_release(struct tcp_analysis_pool *p, uint32_t handle)
{
    tcp_pool_free(p, handle, TCP_LEAVE_ENDED);
}

/* ---- the compact form's code ---- */

static unsigned pending_segments(const struct tcp_pending *pd)
{
    return pd->meta >> 6;
}

static unsigned pending_used(const struct tcp_pending *pd)
{
    return pd->meta & 63u;
}

static unsigned pc_put_varint(uint8_t *out, uint64_t v)
{
    unsigned n = 0;

    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

/* Reads only what pc_put_varint wrote, so it ends within ten bytes. */
static inline uint64_t pc_get_varint(const uint8_t **c)
{
    uint64_t v = *(*c)++;
    unsigned shift = 7;

    if (v < 0x80)
        return v;
    v &= 0x7f;
    for (uint8_t b;; shift += 7) {
        b = *(*c)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80) || shift >= 63)
            return v;
    }
}

static unsigned pc_put_u32(uint8_t *out, uint32_t v)
{
    out[0] = (uint8_t)v;
    out[1] = (uint8_t)(v >> 8);
    out[2] = (uint8_t)(v >> 16);
    out[3] = (uint8_t)(v >> 24);
    return 4;
}

static inline uint32_t pc_get_u32(const uint8_t **c)
{
    const uint8_t *b = *c;

    *c += 4;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* A 32-bit field: nothing but the header bit when it is as predicted. */
static unsigned pc_put_unless(uint8_t *out, uint8_t *hdr, uint8_t bit, uint32_t v, uint32_t pred)
{
    if (v == pred) {
        *hdr |= bit;
        return 0;
    }
    return pc_put_u32(out, v);
}

/* Differences small either way (the first segment's time from the
 * flow's first packet's) are coded as zigzag varints. */
static uint64_t pc_zigzag64(uint64_t d)
{
    return (d << 1) ^ (0ull - (d >> 63));
}

static uint64_t pc_unzigzag64(uint64_t z)
{
    return (z >> 1) ^ (0ull - (z & 1));
}

/* TSval steps likewise, in 32-bit arithmetic: sign-extended, a 32-bit
 * difference zigzags into 32 bits. */
static uint32_t pc_zigzag(uint32_t d)
{
    return (uint32_t)pc_zigzag64((uint64_t)(int64_t)(int32_t)d);
}

static uint32_t pc_unzigzag(uint32_t z)
{
    return (uint32_t)pc_unzigzag64(z);
}

/* The predictions for a segment from `side`, from the segments before. */
static uint32_t pc_predict_seq(const struct tcp_pending_state *st, unsigned side)
{
    return st->seq[side];
}

static uint32_t pc_predict_ack(const struct tcp_pending_state *st, unsigned side)
{
    return (st->known & (TCP_PC_KNOWN_SENT0 << (side ^ 1))) ? st->seq[side ^ 1] : 0;
}

static bool pc_sent_ts(const struct tcp_pending_state *st, unsigned side)
{
    return st->known & (TCP_PC_KNOWN_TS0 << side);
}

static uint32_t pc_predict_ecr(const struct tcp_pending_state *st, unsigned side)
{
    return pc_sent_ts(st, side ^ 1) ? st->ts_val[side ^ 1] : 0;
}

static inline void pc_note(struct tcp_pending_state *st, unsigned side, uint32_t seq, uint32_t ack,
                           uint32_t len, uint8_t flags, bool has_ts, uint32_t ts_val)
{
    st->n++;
    st->known |= TCP_PC_KNOWN_SENT0 << side;
    st->seq[side] = seq + len + ((flags & NM_TCP_SYN) ? 1 : 0) + ((flags & NM_TCP_FIN) ? 1 : 0);
    if (!(st->known & (TCP_PC_KNOWN_SENT0 << (side ^ 1))))
        st->seq[side ^ 1] = ack;
    if (has_ts) {
        st->known |= TCP_PC_KNOWN_TS0 << side;
        st->ts_val[side] = ts_val;
    }
}

/* ---- the prediction state in the code's tail ----
 *
 * The two seq words end the code (`room` bytes, its slot's); the two
 * TSval words come before them once either side has sent one. */

static unsigned pc_tail_size(unsigned known)
{
    return (known & (TCP_PC_KNOWN_TS0 | TCP_PC_KNOWN_TS1)) ? 16 : 8;
}

static bool pc_tail_fits(unsigned used, unsigned known, unsigned room)
{
    return used + pc_tail_size(known) <= room;
}

static inline void pc_tail_store(uint8_t *code, const struct tcp_pending_state *st, unsigned room)
{
    memcpy(code + room - 8, st->seq, 8);
    if (pc_tail_size(st->known) > 8)
        memcpy(code + room - 16, st->ts_val, 8);
}

static inline void pc_tail_load(const struct tcp_pending *pd, struct tcp_pending_state *st,
                                unsigned room)
{
    st->known = pd->known & TCP_PC_KNOWN_STATE;
    st->n = pending_segments(pd);
    memcpy(st->seq, pd->code + room - 8, 8);
    memcpy(st->ts_val, pd->code + room - 16, 8);   /* read only if known */
}

/* A whole code of `room` bytes: copies of a known size stay inline,
 * unlike one of a variable size. */
static inline void pc_copy(uint8_t *to, const uint8_t *from, unsigned room)
{
    if (room == TCP_PENDING_BYTES)
        memcpy(to, from, TCP_PENDING_BYTES);
    else
        memcpy(to, from, TCP_PENDING_SMALL_BYTES);
}

/* Codes pkt, sent by `side`, into out (room for the longest, 37 bytes);
 * returns its length.  dt_us: its time after the first segment's, or for
 * the first its zigzag offset from the flow's first packet (0: none). */
static inline unsigned pc_encode(const struct tcp_pending_state *st, const struct nm_packet *pkt,
                                 unsigned side, unsigned src_side, uint64_t dt_us, uint8_t *out)
{
    uint8_t hdr = (uint8_t)(side * TCP_PC_SIDE1 | src_side * TCP_PC_SRC1);
    unsigned n = 2;

    out[1] = pkt->tcp_flags;
    if (st->n || dt_us)
        n += pc_put_varint(out + n, dt_us);
    n += pc_put_unless(out + n, &hdr, TCP_PC_SEQ, pkt->tcp_seq, pc_predict_seq(st, side));
    n += pc_put_unless(out + n, &hdr, TCP_PC_ACK, pkt->tcp_ack, pc_predict_ack(st, side));
    out[n++] = (uint8_t)pkt->tcp_win;
    out[n++] = (uint8_t)(pkt->tcp_win >> 8);
    if (pkt->payload_wire_len == 0)
        hdr |= TCP_PC_LEN0;
    else
        n += pc_put_varint(out + n, pkt->payload_wire_len);
    if (pkt->tcp_has_ts) {
        hdr |= TCP_PC_HAS_TS;
        if (pc_sent_ts(st, side))
            n += pc_put_varint(out + n, pc_zigzag(pkt->tcp_ts_val - st->ts_val[side]));
        else
            n += pc_put_u32(out + n, pkt->tcp_ts_val);
        n += pc_put_unless(out + n, &hdr, TCP_PC_ECR, pkt->tcp_ts_ecr, pc_predict_ecr(st, side));
    }
    if (pkt->tcp_has_wscale) {
        hdr |= TCP_PC_HAS_WSCALE;
        out[n++] = pkt->tcp_wscale;
    }
    out[0] = hdr;
    return n;
}

/* Decodes the segment at *c into the fields of pkt that
 * tcp_analysis_packet reads (those of an absent option are left alone:
 * the analysis does not read them either), moves *c past it, notes it in
 * st and returns its header.  t0 is the first segment's time (whose
 * offset from the flow's first packet's, coded if `off`, is skipped).
 * Each field is written once, from a local: through pkt, the compiler
 * kept reloading them. */
static inline __attribute__((always_inline)) uint8_t pc_decode(uint64_t t0, bool off,
                                                               const uint8_t **c,
                                                               struct tcp_pending_state *st,
                                                               struct nm_packet *pkt)
{
    const uint8_t *b = *c;
    uint8_t hdr = b[0], flags = b[1];
    unsigned s = hdr & TCP_PC_SIDE1;
    uint32_t seq, ack, len, ts_val = 0;
    uint64_t dt = 0;
    bool has_ts = hdr & TCP_PC_HAS_TS;

    b += 2;
    if (st->n)
        dt = pc_get_varint(&b);
    else if (off)
        (void)pc_get_varint(&b);
    seq = (hdr & TCP_PC_SEQ) ? pc_predict_seq(st, s) : pc_get_u32(&b);
    ack = (hdr & TCP_PC_ACK) ? pc_predict_ack(st, s) : pc_get_u32(&b);
    pkt->tcp_win = (uint16_t)(b[0] | b[1] << 8);
    b += 2;
    len = (hdr & TCP_PC_LEN0) ? 0 : (uint32_t)pc_get_varint(&b);
    if (has_ts) {
        ts_val = pc_sent_ts(st, s) ? st->ts_val[s] + pc_unzigzag((uint32_t)pc_get_varint(&b))
                                   : pc_get_u32(&b);
        pkt->tcp_ts_val = ts_val;
        pkt->tcp_ts_ecr = (hdr & TCP_PC_ECR) ? pc_predict_ecr(st, s) : pc_get_u32(&b);
    }
    pkt->tcp_has_wscale = (hdr & TCP_PC_HAS_WSCALE) != 0;
    if (pkt->tcp_has_wscale)
        pkt->tcp_wscale = *b++;
    pkt->tcp_flags = flags;
    pkt->ts_us = t0 + dt;
    pkt->tcp_seq = seq;
    pkt->tcp_ack = ack;
    pkt->payload_wire_len = len;
    pkt->tcp_has_ts = has_ts;
    pc_note(st, s, seq, ack, len, flags, has_ts, ts_val);
    *c = b;
    return hdr;
}

/* The zigzag offset of pd's first segment's time from the flow's first
 * packet's (0: none); *len, if given, takes its length in the code. */
static uint64_t pending_first_off(const struct tcp_pending *pd, unsigned *len)
{
    const uint8_t *c = pd->code + 2;   /* past the header and the flags */
    uint64_t z = (pd->known & TCP_PC_KNOWN_OFF) ? pc_get_varint(&c) : 0;

    if (len)
        *len = (unsigned)(c - (pd->code + 2));
    return z;
}

/* Decodes every segment of pd, t0 being the flow's first-packet time,
 * into st, replaying each into a (NULL: only the prediction state is
 * wanted). */
static void pending_walk(const struct tcp_pending *pd, uint64_t t0, struct tcp_pending_state *st,
                         struct tcp_analysis *a)
{
    struct nm_packet pkt;
    const uint8_t *c = pd->code, *end = c + pending_used(pd);

    memset(st, 0, sizeof(*st));
    /* Only what tcp_analysis_packet reads; pc_decode sets the rest. */
    pkt.has_tcp = true;
    pkt.tcp_ts_val = pkt.tcp_ts_ecr = 0;
    pkt.tcp_wscale = 0;
    t0 += pc_unzigzag64(pending_first_off(pd, NULL));   /* the first segment's time */
    while (c < end) {
        uint8_t hdr = pc_decode(t0, pd->known & TCP_PC_KNOWN_OFF, &c, st, &pkt);
        if (a)
            tcp_analysis_packet(a, &pkt, hdr & TCP_PC_SIDE1, (hdr & TCP_PC_SRC1) ? 1 : 0);
    }
}

static void pending_replay(const struct tcp_pending *pd, uint64_t t0, struct tcp_analysis *a)
{
    struct tcp_pending_state st;

    pending_walk(pd, t0, &st, a);
}

/* The prediction state after the kept segments of compact handle h
 * (whose slot is pd: the callers have it, and a store to the code may
 * alias the pool, which would have it computed again), from wherever it
 * is (see TCP_PC_CACHE). */
static inline void pending_state(struct tcp_analysis_pool *p, uint32_t h,
                                 const struct tcp_pending *pd, struct tcp_pending_state *st)
{
    const struct tcp_pc_cache_entry *ce = &p->pc_cache[handle_index(h) & (TCP_PC_CACHE - 1)];
    unsigned n = pending_segments(pd);

    if (n == 0)
        *st = (struct tcp_pending_state){ .n = 0 };
    else if (pc_tail_fits(pending_used(pd), pd->known, pending_room(h)))
        pc_tail_load(pd, st, pending_room(h));
    else if (ce->handle == h && ce->st.n == n)
        *st = ce->st;
    else
        pending_walk(pd, 0, st, NULL);
}

static bool pc_same_predictions(const struct tcp_pending_state *x,
                                const struct tcp_pending_state *y)
{
    if (x->n != y->n || x->known != y->known)
        return false;
    for (unsigned s = 0; s < 2; s++)
        if (pc_predict_seq(x, s) != pc_predict_seq(y, s) ||
            pc_predict_ack(x, s) != pc_predict_ack(y, s) ||
            (pc_sent_ts(x, s) && x->ts_val[s] != y->ts_val[s]))
            return false;
    return true;
}

/* Whether h is a compact handle of p's (the caller passes one or a full
 * one). */
static bool pending_handle(const struct tcp_analysis_pool *p, uint32_t h)
{
    return (h & TCP_HANDLE_PENDING) && handle_index(h) < p->capacity;
}

bool tcp_analysis_pool_state_consistent(struct tcp_analysis_pool *p, uint32_t handle)
{
    struct tcp_pending_state kept, walked;

    if (!pending_handle(p, handle))
        return true;
    pending_state(p, handle, pending_at(p, handle), &kept);
    pending_walk(pending_at(p, handle), 0, &walked, NULL);
    return pc_same_predictions(&kept, &walked);
}

/* Compact handle h (slot pd) now holds `used` bytes of code and n
 * segments, after which the prediction state is st: keeps the state
 * where the next segment will look for it (see TCP_PC_CACHE). */
static inline __attribute__((always_inline)) void pending_keep(struct tcp_analysis_pool *p,
                                                               uint32_t h, struct tcp_pending *pd,
                                                               unsigned n, unsigned used,
                                                               const struct tcp_pending_state *st)
{
    pd->known = (uint8_t)((pd->known & TCP_PC_KNOWN_OFF) | st->known);
    pd->meta = (uint8_t)(n << 6 | used);
    if (pc_tail_fits(used, st->known, pending_room(h))) {
        pc_tail_store(pd->code, st, pending_room(h));
    } else {
        struct tcp_pc_cache_entry *ce = &p->pc_cache[handle_index(h) & (TCP_PC_CACHE - 1)];
        ce->handle = h;
        ce->st = *st;
    }
}

/* What pending_add and pending_rebase return: 0 when done, else the
 * bytes of code they would have needed, or this when no size of the
 * compact form can take the segment. */
#define TCP_PC_NEVER 0xffffu

/* Keeps the segment in compact handle h if it fits there, t0 being the
 * flow's first-packet time; see TCP_PC_NEVER for what it returns. */
static unsigned pending_add(struct tcp_analysis_pool *p, uint32_t h, uint64_t t0,
                            const struct nm_packet *pkt, unsigned side, unsigned src_side)
{
    struct tcp_pending *pd = pending_at(p, h);
    struct tcp_pending_state st;
    /* The code so far and room for the longest segment after it: whole
     * copies of a known size stay inline, unlike one of the segment's. */
    uint8_t code[TCP_PENDING_BYTES + 40];
    unsigned n = pending_segments(pd), used = pending_used(pd), room = pending_room(h), len;
    uint64_t dt;

    if (n == TCP_PENDING_MAX)
        return TCP_PC_NEVER;
    if (n == 0) {
        dt = pc_zigzag64(pkt->ts_us - t0);
        pd->known = dt ? TCP_PC_KNOWN_OFF : 0;
    } else {
        /* Times after the first segment's are coded unsigned; an earlier
         * one (only a bogus timestamp: one before t0 has the caller
         * rebase first) takes the full analysis. */
        uint64_t first = t0 + pc_unzigzag64(pending_first_off(pd, NULL));
        if (pkt->ts_us < first)
            return TCP_PC_NEVER;
        dt = pkt->ts_us - first;
    }
    pending_state(p, h, pd, &st);
    pc_copy(code, pd->code, room);
    len = pc_encode(&st, pkt, side & 1, src_side & 1, dt, code + used);
    if (len > room - used)
        return used + len;
    pc_note(&st, side & 1, pkt->tcp_seq, pkt->tcp_ack, pkt->payload_wire_len, pkt->tcp_flags,
            pkt->tcp_has_ts, pkt->tcp_ts_val);
    pc_copy(pd->code, code, room);
    pending_keep(p, h, pd, n + 1, used + len, &st);
    return 0;
}

/* Recodes compact handle h's first segment's time offset for the flow's
 * first-packet time changing from `from` to `to`, if it fits (nothing
 * changes otherwise); returns as pending_add. */
static unsigned pending_rebase(struct tcp_analysis_pool *p, uint32_t h, uint64_t from, uint64_t to)
{
    struct tcp_pending *pd = pending_at(p, h);
    struct tcp_pending_state st;
    uint8_t field[10];
    unsigned old_len, used = pending_used(pd);
    uint64_t first = from + pc_unzigzag64(pending_first_off(pd, &old_len));
    uint64_t z = pc_zigzag64(first - to);
    unsigned new_len = z ? pc_put_varint(field, z) : 0;

    if (used - old_len + new_len > pending_room(h))
        return used - old_len + new_len;
    pending_state(p, h, pd, &st);   /* before the code moves over the tail */
    memmove(pd->code + 2 + new_len, pd->code + 2 + old_len, used - 2 - old_len);
    memcpy(pd->code + 2, field, new_len);
    pd->known = (uint8_t)(z ? TCP_PC_KNOWN_OFF : 0);
    pending_keep(p, h, pd, pending_segments(pd), used - old_len + new_len, &st);
    return 0;
}

/* Whether compact handle h, short of room by pending_add's or
 * pending_rebase's `need`, finds it in the larger size. */
static bool pending_widens(uint32_t h, unsigned need)
{
    return need && need <= TCP_PENDING_BYTES && !(h & TCP_HANDLE_WIDE);
}

/* Moves the flow of compact handle h, of the smaller size, to the larger;
 * returns its handle from now on.  The handle stays if no larger slot is
 * free, which the flow table's one handle a flow never lets happen (see
 * pending_to_full). */
static uint32_t pending_widen(struct tcp_analysis_pool *p, uint32_t h)
{
    const struct tcp_pending *from = pending_at(p, h);
    struct tcp_pending *to;
    struct tcp_pending_state st;
    uint32_t w = pending_alloc(p, TCP_HANDLE_WIDE);

    if (!w)
        return h;
    to = pending_at(p, w);
    pending_state(p, h, from, &st);   /* from the smaller slot's tail, or the cache */
    pc_copy(to->code, from->code, TCP_PENDING_SMALL_BYTES);
    to->known = from->known;
    pending_keep(p, w, to, pending_segments(from), pending_used(from), &st);
    tcp_pool_free(p, h, TCP_LEAVE_MOVED);
    return w;
}

/* Replays the compact form of handle, times counted from t0, into a full
 * analysis; returns the full handle, or handle itself if none is free.
 * The flow table holds one handle per flow and at most capacity flows, so
 * one always is; were none, the flow would keep its compact segments (and
 * lose the rest). */
static uint32_t pending_to_full(struct tcp_analysis_pool *p, uint32_t handle, uint64_t t0,
                                enum tcp_pool_leave why)
{
    uint32_t full = tcp_full_alloc(p);

    if (!full)
        return handle;
    pending_replay(pending_at(p, handle), t0, &p->slots[full - 1]);
    tcp_pool_free(p, handle, why);
    return full;
}

uint32_t tcp_analysis_pool_rebase(struct tcp_analysis_pool *p, uint32_t handle, uint64_t ts_first,
                                  uint64_t to)
{
    unsigned need;

    /* Without segments nothing was coded from the old time. */
    if (!pending_handle(p, handle) || !pending_segments(pending_at(p, handle)))
        return handle;
    need = pending_rebase(p, handle, ts_first, to);
    if (pending_widens(handle, need))
        need = pending_rebase(p, handle = pending_widen(p, handle), ts_first, to);
    return need ? pending_to_full(p, handle, ts_first, TCP_LEAVE_MOVED) : handle;
}

/* tcp_analysis_pool_packet for a flow in the compact form: out of line,
 * so that the common call, for a full analysis, stays short. */
__attribute__((noinline)) static uint32_t pool_pending_packet(struct tcp_analysis_pool *p,
                                                              uint32_t handle, uint64_t ts_first,
                                                              const struct nm_packet *pkt,
                                                              unsigned side, unsigned src_side)
{
    unsigned need;

    /* The size is chosen at the first segment (see TCP_PENDING_SMALL_BYTES). */
    if (pkt->tcp_has_ts && !(handle & TCP_HANDLE_WIDE) && !pending_segments(pending_at(p, handle)))
        handle = pending_widen(p, handle);
    /* Twice at most: the larger size does not widen.  One call of
     * pending_add, so that it stays inline. */
    for (uint32_t w = handle;; handle = w) {
        need = pending_add(p, handle, ts_first, pkt, side, src_side);
        if (!pending_widens(handle, need) || (w = pending_widen(p, handle)) == handle)
            break;
    }
    if (!need)
        return handle;
    /* Past the compact form: replay into a full analysis. */
    uint32_t full = pending_to_full(p, handle, ts_first, TCP_LEAVE_OUTGROWN);
    if (full == handle)
        return handle;
    tcp_analysis_packet(&p->slots[full - 1], pkt, side, src_side);
    return full;
}

uint32_t tcp_analysis_pool_packet(struct tcp_analysis_pool *p, uint32_t handle, uint64_t ts_first,
                                  const struct nm_packet *pkt, unsigned side, unsigned src_side)
{
    if (!handle)
        return 0;
    if (handle & TCP_HANDLE_PENDING)
        return pool_pending_packet(p, handle, ts_first, pkt, side, src_side);
    tcp_analysis_packet(&p->slots[handle - 1], pkt, side, src_side);
    return handle;
}

void tcp_analysis_pool_prefetch(const struct tcp_analysis_pool *p, uint32_t handle)
{
    if (!handle)
        return;
    if (handle & TCP_HANDLE_PENDING) {
        /* A slot's first and last byte: it spans at most two lines. */
        const uint8_t *pd = (const uint8_t *)pending_at(p, handle);
        __builtin_prefetch(pd);
        __builtin_prefetch(pd + TCP_PENDING_SLOT(pending_room(handle)) - 1);
    } else
        prefetch_range(&p->slots[handle - 1], sizeof(p->slots[0]));
}

const struct tcp_analysis *tcp_analysis_pool_view(const struct tcp_analysis_pool *p,
                                                  uint32_t handle, uint64_t ts_first,
                                                  struct tcp_analysis *scratch)
{
    if (!handle)
        return NULL;
    if (handle & TCP_HANDLE_PENDING) {
        tcp_analysis_init(scratch);
        pending_replay(pending_at(p, handle), ts_first, scratch);
        return scratch;
    }
    return &p->slots[handle - 1];
}

void tcp_analysis_pool_fill(const struct tcp_analysis_pool *p, uint32_t handle,
                            uint64_t ts_first, unsigned src_side, struct flow_tcp_summary *out)
{
    struct tcp_analysis scratch;
    const struct tcp_analysis *a = tcp_analysis_pool_view(p, handle, ts_first, &scratch);

    if (a)
        tcp_analysis_fill(a, src_side, out);
}

__attribute__((noinline)) bool tcp_analysis_pool_first_syn(const struct tcp_analysis_pool *p,
                                                           uint32_t handle, uint64_t ts_first,
                                                           uint32_t *seq)
{
    struct tcp_analysis scratch;
    const struct tcp_analysis *a = tcp_analysis_pool_view(p, handle, ts_first, &scratch);

    return a && tcp_analysis_first_syn(a, seq);
}

__attribute__((noinline)) bool tcp_analysis_pool_fin(const struct tcp_analysis_pool *p,
                                                     uint32_t handle, uint64_t ts_first,
                                                     unsigned side, uint32_t *seq)
{
    struct tcp_analysis scratch;
    const struct tcp_analysis *a = tcp_analysis_pool_view(p, handle, ts_first, &scratch);

    return a && tcp_analysis_fin(a, side, seq);
}
