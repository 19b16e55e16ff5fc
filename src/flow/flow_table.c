/*
 * flow_table.c: per-worker bidirectional flow accounting.
 *
 * Layout and time keeping are described in flow_table.h.  The TCP end rules
 * follow RFC 9293's connection teardown as a passive observer sees it: a
 * flow ends once each side's FIN has been acknowledged by the other, or at a
 * RST.  A later SYN with a new initial sequence number on the same tuple is
 * a new connection (port reuse) and gets a new record, as tshark's
 * tcp.stream does.
 *
 * Which side is the initiator (record `src`):
 *   - TCP: the sender of a SYN without ACK; the receiver of a SYN-ACK; for a
 *     connection picked up mid-stream, the side not on the well-known
 *     (lower) port; else the first sender.
 *   - UDP: the first sender, unless it sent from a port below 1024 to one
 *     at or above it (a server answering a request we did not see).
 *   - ICMP echo: the sender of the request.  Everything else: first sender.
 */
#include "flow/flow_table.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "analyze/l7_ndpi.h"
#include "analyze/l7.h"
#include "analyze/tcp_analysis.h"
#include "common/hugemem.h"
#include "common/prefetch.h"
#include "common/tcp_seq.h"
#include "flow/flow_key.h"

#define FLOW_NIL UINT32_MAX
#define FLOW_INDEX_MIN_SLOTS 1024u

enum {
    FLOW_F_SYN_SEEN = 1u << 0,     /* a SYN without ACK started this flow */
    FLOW_F_FIN_SEEN0 = 1u << 1,    /* side 0 sent FIN (side 1: << 1) */
    FLOW_F_FIN_ACKED0 = 1u << 3,   /* side 0's FIN was acknowledged */
    FLOW_F_CLOSED = 1u << 5,       /* ended by FIN/ACK or RST; off the active list */
    FLOW_F_SIDE_CHOSEN = 1u << 6,  /* initiator decided by SYN / SYN-ACK */
    FLOW_F_PORTS_SEEN = 1u << 7,   /* some packet carried a transport header with ports */
};

struct flow {
    struct flow_key_short key;     /* an IPv6 flow's addresses are in t->addr6 */
    uint64_t ts_first;
    uint64_t touched;              /* table time of the last packet: drives idle expiry */
    /* The last packet's time, less `touched`: the two are equal unless
     * packet time strays from table time, so 32 bits nearly always hold
     * it; when not, FLOW_W_TS_LAST and the time is in t->wide
     * (flow_ts_last). */
    int32_t ts_last_d;
    uint32_t id;                   /* low half of the sequence number (flow_id_of) */
    /* By canonical side, the low bits: a counter that passes them keeps
     * its high part in the table's `wide` array (bit in `wide` below), so
     * totals stay exact while the common flow carries fewer bytes.  Packet
     * counts keep 16 bits: a side's 65,536th packet is rare enough that
     * the wide entry it then takes costs less than two bytes in every
     * flow. */
    uint16_t pkts[2];
    uint32_t bytes[2], ip_bytes[2];
    uint32_t lru_prev, lru_next;   /* LRU list, most recent at head */
    /* The key's protocol decides which is used (flow_tcp_handle): ICMP
     * flows have no TCP analysis.  A TCP flow's first SYN and its FINs'
     * sequence numbers, which the port-reuse and close tests need, are
     * in its analysis (tcp_analysis_first_syn, tcp_analysis_fin). */
    union {
        uint32_t tcp_an;           /* TCP: analysis handle in tcp_pool, 0: none */
        struct {
            uint8_t icmp_type, icmp_code;  /* of the first packet */
            bool icmp_echo;
        };
    };
    uint8_t tcp_flags[2];
    uint8_t src_side;              /* canonical side of the initiator */
    uint8_t first_side;            /* canonical side of the first packet's sender */
    uint8_t flags;
    uint8_t end_reason;            /* for closed flows: FIN or RST */
    uint8_t tunnel;
    uint8_t wide;                  /* FLOW_W_*: counters with a high part in t->wide */
};
/* 80 bytes: a flow's L7 handles are in t->l7 (struct flow_l7), so that
 * --no-l7 does not carry them. */
_Static_assert(sizeof(struct flow) == 80, "struct flow grew: a byte here is a megabyte at 1 M flows");

/* An IPv6 flow's canonical addresses, in a pool of their own: handed out
 * densely (a free list, then never-used entries), so that only as many
 * pages are resident as there are IPv6 flows.  An array by flow index
 * would have been touched on nearly every page by a 20 % share of IPv6
 * flows, costing more than the 24 bytes the short key saves.  Handles
 * start at 1, so that 0 can end the free list. */
struct flow_addr6 {
    struct nm_addr addr[2];
};

/* A flow's place on the active list, by flow index: only --active-timeout
 * uses it, so without it the array is not even allocated, and the 16 bytes
 * are not in every flow. */
struct flow_tq {
    uint64_t since;                /* start or last interim record */
    uint32_t prev, next;           /* active list (open flows only) */
};

/* A flow's application-layer handles, by flow index: only nDPI labels
 * and the L7 parsers use them, so with --no-l7 the array is not allocated
 * and the 8 bytes are not in every flow.  A handle of 0 means nothing yet
 * for both, which is what a flow without the array reads as. */
struct flow_l7 {
    uint32_t ndpi;                 /* nDPI slot while classifying, then the label (l7_ndpi.h) */
    uint32_t l7;                   /* L7 handle in l7_pool (analyze/l7.h) */
};

/* What does not fit a flow's fields, by flow index: the high parts of
 * its counters once one passes 2^16 packets or 2^32 bytes, the high half of its
 * sequence number once the low halves wrap, its last packet's time when
 * that is far from table time.  Only flows that need theirs touch them,
 * so the array stays virtual. */
struct flow_wide {
    uint32_t pkts[2];              /* counts of 2^16 packets */
    uint32_t bytes[2], ip_bytes[2];
    uint32_t id_hi;                /* FLOW_W_ID */
    uint64_t ts_last;              /* FLOW_W_TS_LAST */
};

enum {
    FLOW_W_PKTS0 = 1u << 0,        /* side 0's packet count (side 1: << 1) */
    FLOW_W_BYTES0 = 1u << 2,
    FLOW_W_IP_BYTES0 = 1u << 4,
    FLOW_W_COUNTERS = 0x3fu,
    FLOW_W_ID = 1u << 6,
    FLOW_W_TS_LAST = 1u << 7,
};

#define FLOW_ID_MASK ((1ull << 56) - 1)   /* the flow_id's top byte is the worker's */

struct flow_list {
    uint32_t head, tail;
};

/* An index slot is 4 bytes: the flow's index + 1 in its low bits (0:
 * empty), as many as --max-flows needs (flow_mask: 20 at a million), and
 * in the bits left a tag, the same bits of the key hash's high half.  The
 * home position takes the hash's low half, so the tag tells apart the keys
 * that meet in a cluster whatever their homes: at a million flows one probe
 * in 4096 past another key loads that flow for nothing.  With 8-byte slots
 * (32 hash bits beside the flow) the index was 16 of a flow's bytes; now 8.
 * The slot no longer holds the home, so removal hashes the key of each
 * entry after the hole again (flow_hash_of: a flow load each) and doubling
 * every flow's, while lookups, far more frequent, stay as tight.  A
 * slot whose flow bits fill all 32 (tests' index_flow_bits) leaves no tag:
 * every probe compares keys.
 *
 * The index need not be a power of two: the home is the hash's low half
 * scaled to the slot count (a multiply and a shift, Lemire's "fastrange"),
 * and probes wrap at the end.  Doubling (from 1024 slots, or fewer for a
 * small table) stops at 1.5 slots a flow of --max-flows, so a full table
 * is two thirds full and its index is 6 of a flow's bytes; doubling to
 * twice --max-flows, rounded up to a power of two, took 8 to 16.  Linear
 * probing at 2/3 load still ends a miss within a cache line of 16 slots
 * on average (about five probes). */

struct flow_table {
    struct flow_table_config cfg;
    flow_emit_fn *emit;
    void *emit_user;
    flow_record_slot_fn *record_slot;   /* NULL: records are built on the stack */
    flow_record_commit_fn *record_commit;
    /* What flow_table_key reads, on cache lines of their own: the -r
     * reader calls it for every packet while the owner writes the fields
     * around (table time at every packet), and a line they shared would
     * move between the CPUs at every packet.  Padded rather than aligned:
     * the table is calloc'ed. */
    char keyer_pad_before[64];
    struct flow_hash_secret secret;
    /* What flow_table_key keeps of the key hash: all but the high half's
     * flow bits, so that half is the slot's tag as it stands. */
    uint64_t hash_keep;
    char keyer_pad_after[64];
    uint64_t now;
    uint64_t last_pkt_ts;          /* the previous packet's timestamp */
    bool have_last_pkt;
    uint64_t next_id;

    struct flow *flows;
    struct flow_wide *wide;        /* max_flows entries, untouched until a counter wraps */
    struct flow_tq *tq;            /* max_flows entries with --active-timeout, else NULL */
    struct flow_l7 *l7;            /* max_flows entries with nDPI or an L7 pool, else NULL */
    struct hugemem_ahead l7_ahead; /* l7, as flows_ahead: each new flow writes its entry */
    struct flow_addr6 *addr6;      /* max_flows + 1 entries, [0] unused; see struct flow_addr6 */
    uint32_t addr6_fresh;          /* addr6[addr6_fresh..] never used */
    uint32_t addr6_free;           /* reuse list through each entry's first word, 0: empty */
    struct tcp_analysis_pool *tcp_pool;  /* one slot per TCP flow at most */
    struct l7_pool *l7_pool;             /* only flows a parser takes */
    uint32_t fresh;                /* flows[fresh..] never used: untouched memory */
    struct hugemem_ahead flows_ahead;  /* fresh, for flow_table_prefault */
    uint32_t free_head;            /* reuse list through lru_next */

    uint32_t *slots;               /* see above */
    uint32_t nslots;
    uint32_t flow_mask;            /* a slot's bits for the flow index + 1, the rest the tag's */
    uint32_t index_max_slots;      /* the index doubles up to this size, 1.5 --max-flows */
    uint32_t index_full_at;        /* flows the index takes if it cannot grow */

    /* Open flows on `lru`, closed TCP flows on `closed` (both through the
     * lru links): each list is in last-touch order, so each one's tail is
     * the next to time out, with its own timeout. */
    struct flow_list lru, closed, active_q;
    uint64_t close_timeout_us;     /* cfg's, at most the idle timeout */
    struct flow_table_stats stats;
};

/* ---- intrusive lists ----------------------------------------------------- */

/* Lists are threaded through either the flow's (lru_prev, lru_next) or its
 * entry in t->tq; `tq` picks which, so one implementation serves both.
 * Inline with a constant `tq`, the choice costs nothing. */
static inline uint32_t *flow_link(struct flow_table *t, uint32_t i, bool tq, bool next)
{
    if (tq)
        return next ? &t->tq[i].next : &t->tq[i].prev;
    return next ? &t->flows[i].lru_next : &t->flows[i].lru_prev;
}

static inline void flow_list_unlink(struct flow_table *t, struct flow_list *l, uint32_t i, bool tq)
{
    uint32_t prev = *flow_link(t, i, tq, false);
    uint32_t next = *flow_link(t, i, tq, true);

    if (prev != FLOW_NIL)
        *flow_link(t, prev, tq, true) = next;
    else
        l->head = next;
    if (next != FLOW_NIL)
        *flow_link(t, next, tq, false) = prev;
    else
        l->tail = prev;
}

static inline void flow_list_push_head(struct flow_table *t, struct flow_list *l, uint32_t i,
                                       bool tq)
{
    *flow_link(t, i, tq, false) = FLOW_NIL;
    *flow_link(t, i, tq, true) = l->head;
    if (l->head != FLOW_NIL)
        *flow_link(t, l->head, tq, false) = i;
    else
        l->tail = i;
    l->head = i;
}

/* The active list is a FIFO: new entries go to the tail. */
static void flow_list_push_tail(struct flow_table *t, struct flow_list *l, uint32_t i)
{
    t->tq[i].next = FLOW_NIL;
    t->tq[i].prev = l->tail;
    if (l->tail != FLOW_NIL)
        t->tq[l->tail].next = i;
    else
        l->head = i;
    l->tail = i;
}

/* The list that times flow i out: closed TCP flows wait only
 * --close-timeout for late packets, open ones the idle timeout. */
static inline struct flow_list *flow_time_list(struct flow_table *t, uint32_t i)
{
    return (t->flows[i].flags & FLOW_F_CLOSED) ? &t->closed : &t->lru;
}

/* A packet's flow goes to the head of its list.  Most packets belong to a
 * flow already there or close by; one at the head needs nothing. */
static inline void flow_lru_to_head(struct flow_table *t, uint32_t i)
{
    struct flow_list *l = flow_time_list(t, i);

    if (l->head == i)
        return;
    flow_list_unlink(t, l, i, false);
    flow_list_push_head(t, l, i, false);
}

static void flow_list_init(struct flow_list *l)
{
    l->head = l->tail = FLOW_NIL;
}

/* ---- IPv6 addresses -------------------------------------------------------- */

static inline uint32_t flow_addr6_handle(const struct flow *f)
{
    uint32_t h;

    memcpy(&h, f->key.addr4[0], sizeof(h));
    return h;
}

/* The canonical addresses of an IPv6 flow (ip_version not 4). */
static inline const struct nm_addr *flow_addr6_of(const struct flow_table *t, const struct flow *f)
{
    return t->addr6[flow_addr6_handle(f)].addr;
}

/* Stores the key's IPv6 addresses and puts their handle in the flow's key. */
static void flow_addr6_store(struct flow_table *t, struct flow *f, const struct flow_key *key)
{
    uint32_t h = t->addr6_free;

    if (h)
        memcpy(&t->addr6_free, &t->addr6[h], sizeof(t->addr6_free));
    else
        h = t->addr6_fresh++;
    memcpy(t->addr6[h].addr, key->addr6, sizeof(t->addr6[h].addr));
    memcpy(f->key.addr4[0], &h, sizeof(h));
}

static void flow_addr6_release(struct flow_table *t, const struct flow *f)
{
    uint32_t h = flow_addr6_handle(f);

    memcpy(&t->addr6[h], &t->addr6_free, sizeof(t->addr6_free));
    t->addr6_free = h;
}

/* A flow's key hash as flow_table_key gives it. */
static inline uint64_t flow_hash_of(const struct flow_table *t, const struct flow *f)
{
    return flow_key_hash_parts(&f->key, f->key.ip_version == 4 ? NULL : flow_addr6_of(t, f),
                               &t->secret) & t->hash_keep;
}

/* Whether flow f has the packet's key: the short keys' second words
 * (ports, VLAN, protocol, version) first, then the addresses, in the short
 * key for IPv4, in the pool for IPv6. */
static inline bool flow_key_matches(const struct flow_table *t, const struct flow *f,
                                    const struct flow_key *key)
{
    uint64_t x[2], y[2];

    flow_key_short_words(&f->key, x);
    flow_key_short_words(&key->s, y);
    if (x[1] != y[1])
        return false;
    if (key->s.ip_version == 4)
        return x[0] == y[0];
    return flow_key_addr6_equal(flow_addr6_of(t, f), key->addr6);
}

/* ---- the index ----------------------------------------------------------- */

/* A hash from flow_table_key has only the tag left in its high half. */
static inline uint32_t flow_slot_tag(uint64_t hash)
{
    return (uint32_t)(hash >> 32);
}

/* The slot of flow i, whose hash (from flow_table_key) is hash. */
static inline uint32_t flow_slot_value(uint64_t hash, uint32_t i)
{
    return flow_slot_tag(hash) | (i + 1);
}

/* A slot xor the hash's tag: the flow index + 1 (1 to flow_mask) if the
 * tags agree, the tag itself if the slot is empty, else more than
 * flow_mask.  One compare then filters out both mismatches and holes. */
static inline bool flow_slot_names(const struct flow_table *t, uint32_t x)
{
    return x - 1 < t->flow_mask;
}

/* Where a hash's probe starts: its low half scaled to the slot count. */
static inline uint32_t flow_index_home(uint64_t hash, uint32_t nslots)
{
    return (uint32_t)(((uint64_t)(uint32_t)hash * nslots) >> 32);
}

/* The slot after i, wrapping at the end. */
static inline uint32_t flow_index_next(uint32_t i, uint32_t nslots)
{
    return ++i == nslots ? 0 : i;
}

/* How many steps a probe takes from slot `from` to slot `to`. */
static inline uint32_t flow_index_dist(uint32_t from, uint32_t to, uint32_t nslots)
{
    return to >= from ? to - from : to + (nslots - from);
}

static inline uint32_t flow_index_find(const struct flow_table *t, const struct flow_key *key,
                                       uint64_t hash, uint32_t *slot_out)
{
    uint32_t i = flow_index_home(hash, t->nslots), tag = flow_slot_tag(hash);

    for (;;) {
        uint32_t x = t->slots[i] ^ tag;
        if (flow_slot_names(t, x)) {
            if (flow_key_matches(t, &t->flows[x - 1], key)) {
                *slot_out = i;
                return x - 1;
            }
        } else if (x == tag) {
            *slot_out = i;
            return FLOW_NIL;
        }
        i = flow_index_next(i, t->nslots);
    }
}

/* Where the entry in slot value s probes from: its flow's key hashed
 * again. */
static inline uint32_t flow_slot_home(const struct flow_table *t, uint32_t s)
{
    return flow_index_home(flow_hash_of(t, &t->flows[(s & t->flow_mask) - 1]), t->nslots);
}

/* The index starts small and doubles at half load, up to 1.5 slots a
 * flow of --max-flows (the last step less than double): a table holding
 * few flows then probes a few cache lines and pages instead of random
 * spots in megabytes (the dominant cost of a
 * lookup was the TLB and cache miss on the slot).  Each doubling re-inserts
 * every flow once: amortised O(1) per flow, one pause of a few
 * milliseconds per million flows.  It walks the flow array, not the old
 * index, since every entry's home is its flow's hash: in slot order the
 * flows would be a cache miss each, in array order they stream.  Every
 * flow below `fresh` is in use then: flows come off the free list before
 * fresh ones are taken, so `fresh` is the most the table ever held, and
 * that was at most half the index, which never shrinks.  If
 * memory for a doubling cannot be had, the index stays as it is and the
 * table holds at most half its slots (flow_alloc evicts), so probes stay
 * short and always end. */
static void flow_index_grow(struct flow_table *t)
{
    uint32_t old_n = t->nslots;
    uint32_t n = old_n > t->index_max_slots / 2 ? t->index_max_slots : old_n * 2;
    uint32_t *ns = hugemem_calloc(n, sizeof(*ns));

    if (!ns) {
        t->index_full_at = old_n / 2;
        return;
    }
    for (uint32_t i = 0; i < t->fresh; i++) {
        uint64_t h = flow_hash_of(t, &t->flows[i]);
        uint32_t j = flow_index_home(h, n);
        while (ns[j])
            j = flow_index_next(j, n);
        ns[j] = flow_slot_value(h, i);
    }
    hugemem_free(t->slots);
    t->slots = ns;
    t->nslots = n;
}

size_t flow_table_bytes_per_flow(bool l7)
{
    /* 1.5 slots at the largest index, three while the last doubling
     * holds the old index and the new one at once; the wide entry as if every
     * field overflowed, the pooled addresses as if every flow were
     * IPv6, the active list's entry as if --active-timeout were on. */
    return sizeof(struct flow) + sizeof(struct flow_addr6) + sizeof(struct flow_wide) +
           sizeof(struct flow_tq) + (l7 ? sizeof(struct flow_l7) : 0) +
           tcp_analysis_bytes_per_flow() + 3 * sizeof(uint32_t);
}

void flow_table_prefetch(const struct flow_table *t, uint64_t hash)
{
    __builtin_prefetch(&t->slots[flow_index_home(hash, t->nslots)]);
}

/* The second stage: once the slot is (about to be) in cache, the flow it
 * names, which the lookup compares and the update writes.  Only the first
 * probe is followed, if its tag is the hash's; a miss costs one useless
 * prefetch. */
void flow_table_prefetch_flow(const struct flow_table *t, uint64_t hash)
{
    uint32_t x = t->slots[flow_index_home(hash, t->nslots)] ^ flow_slot_tag(hash);

    if (flow_slot_names(t, x)) {
        const char *f = (const char *)&t->flows[x - 1];
        __builtin_prefetch(f, 1);
        __builtin_prefetch(f + 64, 1);
        __builtin_prefetch(f + sizeof(struct flow) - 1, 1);
        if (t->l7)
            __builtin_prefetch(&t->l7[x - 1], 1);
    }
}

/* Backward-shift deletion keeps probe chains intact without tombstones, so
 * lookups never slow down as flows come and go.  An entry moves back into
 * the hole unless that would put it before its home. */
static void flow_index_remove(struct flow_table *t, uint32_t flow)
{
    uint32_t n = t->nslots, i = flow_index_home(flow_hash_of(t, &t->flows[flow]), n);

    while ((t->slots[i] & t->flow_mask) != flow + 1)
        i = flow_index_next(i, n);
    for (uint32_t j = flow_index_next(i, n); t->slots[j] != 0; j = flow_index_next(j, n)) {
        uint32_t home = flow_slot_home(t, t->slots[j]);
        if (flow_index_dist(home, j, n) >= flow_index_dist(i, j, n)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i] = 0;
}

/* ---- records --------------------------------------------------------------- */

/* TCP, UDP, UDP-Lite, SCTP, DCCP: flows keyed by ports. */
static bool flow_proto_has_ports(uint8_t proto)
{
    return proto == 6 || proto == 17 || proto == 33 || proto == 132 || proto == 136;
}

static bool flow_proto_is_icmp(uint8_t proto)
{
    return proto == 1 || proto == 58;
}

/* A flow's TCP analysis handle, 0 for none: the field holds an ICMP
 * flow's type and code instead, and is zero in other flows. */
static inline uint32_t flow_tcp_handle(const struct flow *f)
{
    return f->key.proto == 6 ? f->tcp_an : 0;
}

/* Adds the high parts of a flow's counters to its record. */
static void flow_fill_wide(const struct flow_wide *w, unsigned s, struct flow_record *r)
{
    unsigned d = s ^ 1;

    r->pkts[NM_DIR_SRC] += (uint64_t)w->pkts[s] << 16;
    r->pkts[NM_DIR_DST] += (uint64_t)w->pkts[d] << 16;
    r->bytes[NM_DIR_SRC] += (uint64_t)w->bytes[s] << 32;
    r->bytes[NM_DIR_DST] += (uint64_t)w->bytes[d] << 32;
    r->ip_bytes[NM_DIR_SRC] += (uint64_t)w->ip_bytes[s] << 32;
    r->ip_bytes[NM_DIR_DST] += (uint64_t)w->ip_bytes[d] << 32;
}

/* Counting restarts (a new flow in the slot, an interim record): the
 * high parts go with the low ones. */
static void flow_counters_clear(struct flow_table *t, struct flow *f)
{
    memset(f->pkts, 0, sizeof(f->pkts));
    memset(f->bytes, 0, sizeof(f->bytes));
    memset(f->ip_bytes, 0, sizeof(f->ip_bytes));
    if (f->wide & FLOW_W_COUNTERS)
        memset(&t->wide[f - t->flows], 0, offsetof(struct flow_wide, id_hi));
    f->wide &= (uint8_t)~FLOW_W_COUNTERS;
}

/* Whether the flow counted a packet since it began or since its last
 * interim record (a side's low count may have wrapped to 0). */
static inline bool flow_has_packets(const struct flow *f)
{
    return (f->pkts[0] | f->pkts[1]) != 0 || (f->wide & (FLOW_W_PKTS0 | FLOW_W_PKTS0 << 1));
}

/* ---- 32-bit fields, exact ------------------------------------------------ */

static inline uint64_t flow_ts_last(const struct flow_table *t, const struct flow *f)
{
    if (f->wide & FLOW_W_TS_LAST)
        return t->wide[f - t->flows].ts_last;
    return f->touched + (uint64_t)(int64_t)f->ts_last_d;
}

/* Out of line: only a packet stamped over half an hour from table time
 * gets here (a clock step, a merged capture). */
__attribute__((noinline, cold)) static void flow_set_ts_last_far(struct flow_table *t,
                                                                  struct flow *f, uint64_t ts)
{
    f->wide |= FLOW_W_TS_LAST;
    t->wide[f - t->flows].ts_last = ts;
}

/* Sets the last packet's time; call after any change of f->touched. */
static inline void flow_set_ts_last(struct flow_table *t, struct flow *f, uint64_t ts)
{
    int64_t d = (int64_t)(ts - f->touched);

    if (!(f->wide & FLOW_W_TS_LAST) && d == (int32_t)d)
        f->ts_last_d = (int32_t)d;
    else
        flow_set_ts_last_far(t, f, ts);
}

/* A flow's sequence number.  It keeps the low half; the high half is the
 * table's current one, unless the low halves wrapped since the flow began,
 * and then flow_id_epoch saved it. */
static uint64_t flow_id_of(const struct flow_table *t, const struct flow *f)
{
    uint64_t hi = (f->wide & FLOW_W_ID) ? t->wide[f - t->flows].id_hi
                                        : (t->next_id & FLOW_ID_MASK) >> 32;
    return hi << 32 | f->id;
}

static void flow_id_keep_high(struct flow_table *t, const struct flow_list *l, uint32_t hi)
{
    for (uint32_t i = l->head; i != FLOW_NIL; i = t->flows[i].lru_next) {
        if (!(t->flows[i].wide & FLOW_W_ID)) {
            t->wide[i].id_hi = hi;
            t->flows[i].wide |= FLOW_W_ID;
        }
    }
}

/* The low halves are about to wrap: every flow in the table, open or
 * closed, keeps its high half.  A walk of the table once per 2^32 new
 * flows. */
__attribute__((noinline, cold)) static void flow_id_epoch(struct flow_table *t)
{
    uint32_t hi = (uint32_t)((t->next_id & FLOW_ID_MASK) >> 32);

    flow_id_keep_high(t, &t->lru, hi);
    flow_id_keep_high(t, &t->closed, hi);
}

/* The next sequence number's low half, for a flow not yet on the LRU. */
static uint32_t flow_next_id(struct flow_table *t)
{
    uint64_t id = (t->next_id + 1) & FLOW_ID_MASK;

    if ((uint32_t)id == 0)
        flow_id_epoch(t);
    t->next_id++;
    return (uint32_t)id;
}

/* An IPv4 address as decode stores it, IPv4-mapped (decode.h). */
static void flow_addr_from_v4(struct nm_addr *a, const uint8_t v4[4])
{
    memset(a->b, 0, 10);
    a->b[10] = a->b[11] = 0xff;
    memcpy(a->b + 12, v4, 4);
}

static void flow_fill_addrs(const struct flow_table *t, const struct flow *f,
                            struct flow_record *r)
{
    unsigned s = f->src_side, d = s ^ 1;

    if (f->key.ip_version == 4) {
        flow_addr_from_v4(&r->addr[NM_DIR_SRC], f->key.addr4[s]);
        flow_addr_from_v4(&r->addr[NM_DIR_DST], f->key.addr4[d]);
    } else {
        const struct nm_addr *a = flow_addr6_of(t, f);
        r->addr[NM_DIR_SRC] = a[s];
        r->addr[NM_DIR_DST] = a[d];
    }
}

static void flow_fill_record(const struct flow_table *t, const struct flow *f,
                             enum flow_end_reason why, struct flow_record *r)
{
    unsigned s = f->src_side, d = s ^ 1;

    memset(r, 0, sizeof(*r));
    r->ts_start_us = f->ts_first;
    r->ts_end_us = flow_ts_last(t, f);
    r->ip_version = f->key.ip_version;
    r->proto = f->key.proto;
    r->vlan_id = f->key.vlan;
    r->tunnel = f->tunnel;
    r->end_reason = (uint8_t)why;
    flow_fill_addrs(t, f, r);
    r->port[NM_DIR_SRC] = f->key.port[s];
    r->port[NM_DIR_DST] = f->key.port[d];
    r->pkts[NM_DIR_SRC] = f->pkts[s];
    r->pkts[NM_DIR_DST] = f->pkts[d];
    r->bytes[NM_DIR_SRC] = f->bytes[s];
    r->bytes[NM_DIR_DST] = f->bytes[d];
    r->ip_bytes[NM_DIR_SRC] = f->ip_bytes[s];
    r->ip_bytes[NM_DIR_DST] = f->ip_bytes[d];
    if (f->wide & FLOW_W_COUNTERS)
        flow_fill_wide(&t->wide[f - t->flows], s, r);
    /* Nothing since an interim record (the flow's end, a snapshot): its
     * start, that record's time, would follow its end, the last packet's.
     * An empty record is timed at the last packet. */
    if (!flow_has_packets(f))
        r->ts_start_us = r->ts_end_us;
    r->tcp_flags[NM_DIR_SRC] = f->tcp_flags[s];
    r->tcp_flags[NM_DIR_DST] = f->tcp_flags[d];
    if (flow_proto_is_icmp(f->key.proto)) {
        r->has_icmp = true;
        r->icmp_type = f->icmp_type;
        r->icmp_code = f->icmp_code;
        r->icmp_is_echo = f->icmp_echo;
        r->icmp_id = f->icmp_echo ? f->key.port[0] : 0;
        /* Zeek and Community ID put type and code where ports go; the
         * first packet's sender is the one whose type was read. */
        r->port[NM_DIR_SRC] = f->icmp_type;
        r->port[NM_DIR_DST] = f->icmp_code;
        r->icmp_first_from_dst = f->first_side != f->src_side;
    }
    r->ports_unknown = flow_proto_has_ports(f->key.proto) && !(f->flags & FLOW_F_PORTS_SEEN);
    r->flow_id = ((uint64_t)t->cfg.worker_id << 56) | flow_id_of(t, f);
    tcp_analysis_pool_fill(t->tcp_pool, flow_tcp_handle(f), f->ts_first, f->src_side, &r->tcp);
    if (t->l7) {
        const struct flow_l7 *l = &t->l7[f - t->flows];
        l7_ndpi_label(l->ndpi, &r->app);
        l7_fill(t->l7_pool, l->l7, &r->l7);
    }
}

/* Why a flow ends now: a closed flow keeps its FIN or RST, an open one
 * gets `open_why`. */
static enum flow_end_reason flow_end_why(const struct flow *f, enum flow_end_reason open_why)
{
    return (f->flags & FLOW_F_CLOSED) ? (enum flow_end_reason)f->end_reason : open_why;
}

/* Writes the record and frees the flow; its index entry goes too unless
 * the caller empties the whole index (the flush). */
static void flow_retire(struct flow_table *t, uint32_t i, enum flow_end_reason why, bool unindex)
{
    struct flow *f = &t->flows[i];
    struct flow_record stack_rec, *rec = t->record_slot ? t->record_slot(t->emit_user) : &stack_rec;

    if (t->cfg.ndpi)
        l7_ndpi_flow_end(t->cfg.ndpi, &t->l7[i].ndpi);   /* decide now: the record carries the label */
    flow_fill_record(t, f, why, rec);
    if (t->record_slot)
        t->record_commit(t->emit_user);
    else
        t->emit(t->emit_user, rec);

    tcp_analysis_release(t->tcp_pool, flow_tcp_handle(f));
    if (t->l7_pool)
        l7_release(t->l7_pool, t->l7[i].l7);
    flow_counters_clear(t, f);
    if (unindex)
        flow_index_remove(t, i);
    if (f->key.ip_version != 4)
        flow_addr6_release(t, f);
    flow_list_unlink(t, flow_time_list(t, i), i, false);
    if (t->tq && !(f->flags & FLOW_F_CLOSED))
        flow_list_unlink(t, &t->active_q, i, true);
    f->lru_next = t->free_head;
    t->free_head = i;
    t->stats.ended++;
    t->stats.active--;
}

static void flow_end(struct flow_table *t, uint32_t i, enum flow_end_reason why)
{
    flow_retire(t, i, why, true);
}

/* ---- creation and direction ------------------------------------------------ */

static unsigned flow_initiator_by_port(const struct flow_key_short *k, unsigned sender)
{
    if (k->port[0] != k->port[1]) {
        unsigned server = k->port[0] < k->port[1] ? 0 : 1;
        return server ^ 1;
    }
    return sender;
}

static void flow_choose_initiator(struct flow *f, const struct nm_packet *pkt, unsigned side)
{
    f->src_side = (uint8_t)side;
    if (pkt->has_tcp) {
        uint8_t syn_ack = pkt->tcp_flags & (NM_TCP_SYN | NM_TCP_ACK);
        if (syn_ack == NM_TCP_SYN) {
            f->flags |= FLOW_F_SYN_SEEN | FLOW_F_SIDE_CHOSEN;
        } else if (syn_ack == (NM_TCP_SYN | NM_TCP_ACK)) {
            f->src_side = (uint8_t)(side ^ 1);
            f->flags |= FLOW_F_SIDE_CHOSEN;
        } else {
            f->src_side = (uint8_t)flow_initiator_by_port(&f->key, side);
        }
    } else if (pkt->proto == 6) {
        f->src_side = (uint8_t)flow_initiator_by_port(&f->key, side);
    } else if (pkt->has_ports && pkt->proto == 17) {
        if (pkt->sport < 1024 && pkt->dport >= 1024)
            f->src_side = (uint8_t)(side ^ 1);
    } else if (pkt->has_icmp && pkt->icmp_is_echo && !pkt->icmp_is_request) {
        f->src_side = (uint8_t)(side ^ 1);
    }
}

static uint32_t flow_alloc(struct flow_table *t)
{
    uint32_t i;

    if (t->stats.active >= t->cfg.max_flows || t->stats.active >= t->index_full_at) {
        /* Full: the least recently seen flow makes room, and is reported;
         * a closed one first, since only late packets could still come
         * (its record keeps its FIN or RST: it was not cut short). */
        uint32_t victim = t->closed.tail != FLOW_NIL ? t->closed.tail : t->lru.tail;
        t->stats.evicted++;
        flow_end(t, victim, flow_end_why(&t->flows[victim], FLOW_END_EVICTED));
    }
    if (t->free_head != FLOW_NIL) {
        i = t->free_head;
        t->free_head = t->flows[i].lru_next;
    } else {
        i = t->fresh++;
        hugemem_ahead_note(&t->flows_ahead, t->fresh);
        hugemem_ahead_note(&t->l7_ahead, t->fresh);
    }
    return i;
}

static uint32_t flow_create(struct flow_table *t, const struct flow_key *key, uint64_t hash,
                            const struct nm_packet *pkt, unsigned side)
{
    /* Before the new flow is taken: the doubling indexes every flow in
     * use (flow_index_grow). */
    if ((t->stats.active + 1) * 2 > t->nslots && t->nslots < t->index_max_slots &&
        t->index_full_at == UINT32_MAX)
        flow_index_grow(t);

    uint32_t slot, i = flow_alloc(t);
    struct flow *f = &t->flows[i];

    memset(f, 0, sizeof(*f));
    f->key = key->s;
    if (key->s.ip_version != 4)
        flow_addr6_store(t, f, key);
    f->id = flow_next_id(t);
    f->ts_first = pkt->ts_us;
    f->touched = pkt->ts_us;       /* and ts_last, ts_last_d being 0; flow_account follows */
    f->first_side = (uint8_t)side;
    f->tunnel = (uint8_t)pkt->tunnel;
    if (flow_proto_is_icmp(key->s.proto)) {
        f->icmp_type = pkt->icmp_type;
        f->icmp_code = pkt->icmp_code;
        f->icmp_echo = pkt->icmp_is_echo;
    }
    flow_choose_initiator(f, pkt, side);
    if (key->s.proto == 6)
        f->tcp_an = tcp_analysis_alloc(t->tcp_pool);
    if (t->l7)
        t->l7[i] = (struct flow_l7){
            .ndpi = t->cfg.ndpi ? l7_ndpi_flow_start(t->cfg.ndpi) : NDPI_HANDLE_NONE,
        };

    /* The index may have shifted while evicting or growing: look the slot
     * up again. */
    flow_index_find(t, key, hash, &slot);
    t->slots[slot] = flow_slot_value(hash, i);
    flow_list_push_head(t, &t->lru, i, false);
    if (t->tq) {
        t->tq[i].since = t->now;
        flow_list_push_tail(t, &t->active_q, i);
    }
    t->stats.created++;
    if (++t->stats.active > t->stats.peak_active)
        t->stats.peak_active = t->stats.active;
    return i;
}

/* ---- TCP end detection ----------------------------------------------------- */

/* A closed flow leaves the active list (no interim records for it) and
 * moves to the closed list, where it stays until it has been quiet for
 * --close-timeout (5 s by default, Zeek's tcp_close_delay and tcptrack's
 * -r), so that late ACKs, retransmissions and repeated RSTs join its
 * record instead of opening a new one; only a new SYN does that (see
 * flow_is_new_connection).  Then its record is written: a user sees a
 * finished connection's record seconds after it ended, not an idle
 * timeout later, and its memory serves the next flows while still in
 * cache. */
static void flow_close(struct flow_table *t, uint32_t i, enum flow_end_reason why)
{
    struct flow *f = &t->flows[i];

    if (f->flags & FLOW_F_CLOSED)
        return;
    if (t->tq)
        flow_list_unlink(t, &t->active_q, i, true);
    flow_list_unlink(t, &t->lru, i, false);
    f->flags |= FLOW_F_CLOSED;
    f->end_reason = (uint8_t)why;
    flow_list_push_head(t, &t->closed, i, false);
}

/* The peer's FIN must be acknowledged past the sequence number it
 * occupies, which the flow's TCP analysis keeps (it sees every segment the
 * flow does; the pool, as large as the table, always has one for a TCP
 * flow).  The analysis has already taken this segment, so a FIN it
 * carries is the sender's, never the one compared here. */
static void flow_track_tcp_end(struct flow_table *t, uint32_t i, struct flow *f,
                               const struct nm_packet *pkt, unsigned side)
{
    unsigned other = side ^ 1;
    uint8_t acked = (uint8_t)(FLOW_F_FIN_ACKED0 << other);
    uint32_t fin;

    if (pkt->tcp_flags & NM_TCP_RST) {
        flow_close(t, i, FLOW_END_RST);
        return;
    }
    if (pkt->tcp_flags & NM_TCP_FIN)
        f->flags |= (uint8_t)(FLOW_F_FIN_SEEN0 << side);
    if ((pkt->tcp_flags & NM_TCP_ACK) && (f->flags & (FLOW_F_FIN_SEEN0 << other)) &&
        !(f->flags & acked) &&
        tcp_analysis_pool_fin(t->tcp_pool, flow_tcp_handle(f), f->ts_first, other, &fin) &&
        tcp_seq_ge(pkt->tcp_ack, fin + 1))
        f->flags |= acked;
    if ((f->flags & (FLOW_F_FIN_ACKED0 | FLOW_F_FIN_ACKED0 << 1)) ==
        (FLOW_F_FIN_ACKED0 | FLOW_F_FIN_ACKED0 << 1))
        flow_close(t, i, FLOW_END_FIN);
}

/* A SYN without ACK on a known tuple: the same connection if it repeats the
 * ISN we saw (a retransmission), is the first packet from the responder of
 * an open flow (a simultaneous open, RFC 9293 3.5, or a "split handshake";
 * a responder that already sent something with other sequence numbers is
 * starting anew, as tshark also judges), or the flow was picked up
 * mid-stream and is still open; a new connection (port reuse) otherwise. */
static bool flow_is_new_connection(const struct flow_table *t, const struct flow *f,
                                   const struct nm_packet *pkt, unsigned side)
{
    uint32_t isn;

    if ((pkt->tcp_flags & (NM_TCP_SYN | NM_TCP_ACK | NM_TCP_RST)) != NM_TCP_SYN)
        return false;
    /* The responder has sent nothing: its SYN is a simultaneous open.  Its
     * flags tell, as its count alone does not after an interim record
     * (which restarts the counts). */
    if (!(f->flags & FLOW_F_CLOSED) && (f->flags & FLOW_F_SIDE_CHOSEN) && side != f->src_side &&
        f->tcp_flags[side] == 0 && f->pkts[side] == 0 && !(f->wide & (FLOW_W_PKTS0 << side)))
        return false;
    if (f->flags & FLOW_F_SYN_SEEN)
        return tcp_analysis_pool_first_syn(t->tcp_pool, flow_tcp_handle(f), f->ts_first, &isn) &&
               pkt->tcp_seq != isn;
    return (f->flags & FLOW_F_CLOSED) != 0;
}

/* A mid-stream flow that now shows a SYN or SYN-ACK learns its direction. */
static void flow_learn_direction(struct flow *f, const struct nm_packet *pkt, unsigned side)
{
    uint8_t syn_ack = pkt->tcp_flags & (NM_TCP_SYN | NM_TCP_ACK);

    if (syn_ack == NM_TCP_SYN) {
        f->src_side = (uint8_t)side;
        f->flags |= FLOW_F_SYN_SEEN | FLOW_F_SIDE_CHOSEN;
    } else if (syn_ack == (NM_TCP_SYN | NM_TCP_ACK) && !(f->flags & FLOW_F_SIDE_CHOSEN)) {
        f->src_side = (uint8_t)(side ^ 1);
        f->flags |= FLOW_F_SIDE_CHOSEN;
    }
}

/* ---- expiry ---------------------------------------------------------------- */

/* flow_touch_time() clamps a packet stamped more than an idle period past
 * table time, in case the stamp is bogus.  After a genuine quiet period the
 * first packet is such a packet, and table time only reaches it with the
 * next one; by then the flow's real last packet is no longer in the future,
 * and the clamp must not make it look idle (it would split a request from
 * its reply). */
static bool flow_touch_vindicated(const struct flow_table *t, const struct flow *f, uint64_t now)
{
    uint64_t last = flow_ts_last(t, f);

    return last > f->touched && last <= now;
}

/* How long flow f may stay quiet: the close timeout once it is closed. */
static inline uint64_t flow_quiet_limit(const struct flow_table *t, const struct flow *f)
{
    return (f->flags & FLOW_F_CLOSED) ? t->close_timeout_us : t->cfg.idle_timeout_us;
}

/* The least recently touched flow of list l has been quiet for timeout_us
 * at table time now. */
static inline bool flow_list_due(const struct flow_table *t, const struct flow_list *l,
                                 uint64_t timeout_us)
{
    return l->tail != FLOW_NIL && t->flows[l->tail].touched + timeout_us <= t->now;
}

/* An open flow is idle, or a closed one done waiting for late packets. */
static inline bool flow_idle_due(const struct flow_table *t)
{
    return flow_list_due(t, &t->lru, t->cfg.idle_timeout_us) ||
           flow_list_due(t, &t->closed, t->close_timeout_us);
}

/* The oldest open flow is due an interim record (--active-timeout). */
static inline bool flow_active_due(const struct flow_table *t)
{
    return t->active_q.head != FLOW_NIL &&
           t->tq[t->active_q.head].since + t->cfg.active_timeout_us <= t->now;
}

/* Ends the flows of list l quiet for timeout_us.  Packets can carry
 * timestamps older than table time (merged or reordered captures, clock
 * steps), so quiet is measured from the table time at which the flow was
 * last touched, which the list order also follows; ts_last only reports
 * what the packets said. */
static void flow_list_expire(struct flow_table *t, struct flow_list *l, uint64_t timeout_us)
{
    while (flow_list_due(t, l, timeout_us)) {
        uint32_t i = l->tail;
        struct flow *f = &t->flows[i];
        if (flow_touch_vindicated(t, f, t->now)) {
            /* Its last packet looked too far ahead when it came; table
             * time has since caught up with it, so it was real. */
            uint64_t last = flow_ts_last(t, f);
            f->touched = last;
            flow_set_ts_last(t, f, last);
            flow_lru_to_head(t, i);
            continue;
        }
        flow_end(t, i, flow_end_why(f, FLOW_END_IDLE));
    }
}

/* The TCP analysis's compact form counts its segments' times from
 * ts_first without storing it: it recodes them (or replays them, with
 * the old time, into the full analysis) before the time changes.  Rare: a
 * packet stamped before the flow's first, or an --active-timeout interim
 * record. */
static void flow_set_ts_first(struct flow_table *t, struct flow *f, uint64_t ts)
{
    if (flow_tcp_handle(f))
        f->tcp_an = tcp_analysis_pool_rebase(t->tcp_pool, f->tcp_an, f->ts_first, ts);
    f->ts_first = ts;
}

static void flow_table_expire(struct flow_table *t)
{
    uint64_t now = t->now;

    flow_list_expire(t, &t->closed, t->close_timeout_us);
    flow_list_expire(t, &t->lru, t->cfg.idle_timeout_us);
    while (flow_active_due(t)) {
        uint32_t i = t->active_q.head;
        struct flow *f = &t->flows[i];
        /* A flow quiet since its last record gets none: it would count
         * nothing.  The next one covers the time since the last written. */
        if (flow_has_packets(f)) {
            struct flow_record rec;
            flow_fill_record(t, f, FLOW_END_ACTIVE, &rec);
            t->emit(t->emit_user, &rec);
            t->stats.interim++;
            /* The record covers what was seen so far; counting restarts. */
            flow_counters_clear(t, f);
            flow_set_ts_first(t, f, now);
        }
        t->tq[i].since = now;
        flow_list_unlink(t, &t->active_q, i, true);
        flow_list_push_tail(t, &t->active_q, i);
    }
}

/* flow_table_advance, inline in the packet path. */
static inline void flow_table_tick(struct flow_table *t, uint64_t now_us)
{
    if (now_us > t->now)
        t->now = now_us;
    /* Asked once a packet; the answer is almost always no. */
    if (flow_idle_due(t) || flow_active_due(t))
        flow_table_expire(t);
}

void flow_table_advance(struct flow_table *t, uint64_t now_us)
{
    flow_table_tick(t, now_us);
}

/* ---- the packet path --------------------------------------------------------- */

/* When a flow was last touched, for idle expiry: the packet's time, but
 * never behind table time (an old timestamp must not make the flow look
 * idle) and never more than one idle period ahead of it (a bogus future
 * timestamp must not pin the flow, nor hold up the LRU walk behind it). */
static uint64_t flow_touch_time(const struct flow_table *t, uint64_t ts)
{
    if (ts < t->now)
        return t->now;
    if (ts - t->now > t->cfg.idle_timeout_us)
        return t->now + t->cfg.idle_timeout_us;
    return ts;
}

/* A counter's low part wrapped: one more in its high part.  Out of line:
 * it happens once per 64 Ki packets or 4 GiB of a flow's side. */
__attribute__((noinline, cold)) static void flow_carry(struct flow *f, unsigned bit, uint32_t *high)
{
    f->wide |= (uint8_t)bit;
    (*high)++;
}

/* `last` is the flow's last packet time before this one (flow_ts_last). */
static void flow_account(struct flow_table *t, struct flow *f, const struct nm_packet *pkt,
                         unsigned side, uint64_t touch, uint64_t last)
{
    f->touched = touch;
    if (++f->pkts[side] == 0)
        flow_carry(f, FLOW_W_PKTS0 << side, &t->wide[f - t->flows].pkts[side]);
    if ((f->bytes[side] += pkt->wirelen) < pkt->wirelen)
        flow_carry(f, FLOW_W_BYTES0 << side, &t->wide[f - t->flows].bytes[side]);
    if ((f->ip_bytes[side] += pkt->ip_len) < pkt->ip_len)
        flow_carry(f, FLOW_W_IP_BYTES0 << side, &t->wide[f - t->flows].ip_bytes[side]);
    flow_set_ts_last(t, f, pkt->ts_us > last ? pkt->ts_us : last);
    if (pkt->ts_us < f->ts_first)
        flow_set_ts_first(t, f, pkt->ts_us);
    if (pkt->has_tcp)
        f->tcp_flags[side] |= pkt->tcp_flags;
    if (pkt->has_ports)
        f->flags |= FLOW_F_PORTS_SEEN;
}

/* last: flow_ts_last(f), which the caller reuses. */
static uint64_t flow_last_activity(const struct flow *f, uint64_t last)
{
    return last > f->touched ? last : f->touched;
}

/* Table time follows packet time, but a single packet stamped far in the
 * future (a damaged or crafted capture, a clock step) must not make every
 * flow idle at once: time only advances to what two consecutive packets
 * agree on, the smaller of their timestamps.  A real quiet period followed
 * by traffic moves time one packet later, which costs nothing. */
static uint64_t flow_table_packet_time(struct flow_table *t, uint64_t ts)
{
    uint64_t prev = t->have_last_pkt ? t->last_pkt_ts : ts;

    t->last_pkt_ts = ts;
    t->have_last_pkt = true;
    return prev < ts ? prev : ts;
}

/* Enough for a few milliseconds of new flows at the rates a worker
 * reaches. */
#define FLOW_PREFAULT_AHEAD 8192u

void flow_table_prefault(struct flow_table *t)
{
    (void)hugemem_ahead_populate(&t->flows_ahead, FLOW_PREFAULT_AHEAD);
    (void)hugemem_ahead_populate(&t->l7_ahead, FLOW_PREFAULT_AHEAD);
    tcp_analysis_pool_prefault(t->tcp_pool, FLOW_PREFAULT_AHEAD);
}

uint64_t flow_table_key(const struct flow_table *t, const struct nm_packet *pkt,
                        struct flow_key *key, unsigned *side)
{
    flow_key_from_packet(pkt, key, side);
    /* Masked here, once a packet, rather than in each lookup and prefetch. */
    return flow_key_hash_with(key, &t->secret) & t->hash_keep;
}

/* Whether flow i's L7 parser (or the start of one) wants the packet. */
static bool flow_l7_wants(const struct flow_table *t, uint32_t i, const struct nm_packet *pkt)
{
    if (!t->l7_pool)
        return false;
    uint32_t h = t->l7[i].l7;
    return h != L7_HANDLE_NONE && (h != 0 || pkt->payload_len != 0);
}

/* Kept out of line: the scratch analysis is a large stack frame that the
 * packet path should not set up for every packet. */
__attribute__((noinline)) static void flow_l7(struct flow_table *t, uint32_t i,
                                              const struct nm_packet *pkt, unsigned side)
{
    const struct flow *f = &t->flows[i];
    uint32_t *h = &t->l7[i].l7;
    struct tcp_analysis scratch;
    const struct tcp_analysis *tcp = NULL;

    /* Only a flow's first payload asks where its streams start. */
    if (*h == 0 && flow_tcp_handle(f))
        tcp = tcp_analysis_pool_view(t->tcp_pool, f->tcp_an, f->ts_first, &scratch);
    l7_packet(t->l7_pool, h, pkt, side, f->src_side, tcp);
}

bool flow_table_update(struct flow_table *t, const struct nm_packet *pkt)
{
    struct flow_key key;
    unsigned side;
    uint64_t hash = flow_table_key(t, pkt, &key, &side);

    return flow_table_update_keyed(t, pkt, &key, side, hash);
}

bool flow_table_update_keyed(struct flow_table *t, const struct nm_packet *pkt,
                             const struct flow_key *key, unsigned side, uint64_t hash)
{
    uint32_t slot;
    bool created = false;

    flow_table_tick(t, flow_table_packet_time(t, pkt->ts_us));
    uint32_t i = flow_index_find(t, key, hash, &slot);
    /* One pointer for the whole update: every &t->flows[i] is a multiply
     * and, after a call, a reload. */
    struct flow *f = i != FLOW_NIL ? &t->flows[i] : NULL;
    uint64_t last = f ? flow_ts_last(t, f) : 0;

    /* The packet itself may show its flow idle (or a closed flow done
     * waiting) before table time does: table time follows the smaller of
     * two packets' times, so a lone late packet does not move it.
     * Measured from the flow's last packet, not a clamped touch time. */
    if (f && (pkt->ts_us >= flow_last_activity(f, last) + flow_quiet_limit(t, f) ||
              (pkt->has_tcp && flow_is_new_connection(t, f, pkt, side)))) {
        flow_end(t, i, flow_end_why(f, FLOW_END_IDLE));
        f = NULL;
    } else if (f && pkt->has_tcp && !(f->flags & FLOW_F_SYN_SEEN)) {
        flow_learn_direction(f, pkt, side);
    }
    if (!f) {
        i = flow_create(t, key, hash, pkt, side);
        f = &t->flows[i];
        last = pkt->ts_us;
        created = true;
    } else {
        flow_lru_to_head(t, i);
    }

    flow_account(t, f, pkt, side, flow_touch_time(t, pkt->ts_us), last);
    if (pkt->has_tcp)
        f->tcp_an = tcp_analysis_pool_packet(t->tcp_pool, f->tcp_an, f->ts_first, pkt, side,
                                             f->src_side);
    if (t->cfg.ndpi)
        l7_ndpi_packet(t->cfg.ndpi, &t->l7[i].ndpi, pkt);
    if (flow_l7_wants(t, i, pkt))
        flow_l7(t, i, pkt, side);
    if (pkt->has_tcp)
        flow_track_tcp_end(t, i, f, pkt, side);
    return created;
}

/* ---- lifecycle --------------------------------------------------------------- */

static uint64_t flow_table_random_seed(void)
{
    uint64_t seed = 0;

    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = (uint64_t)(uintptr_t)&seed ^ 0x6a09e667f3bcc908ull;
    return seed;
}

struct flow_table *flow_table_create(const struct flow_table_config *cfg, flow_emit_fn *emit,
                                     void *emit_user, char *err, size_t errlen)
{
    if (cfg->max_flows > FLOW_TABLE_MAX_FLOWS) {
        snprintf(err, errlen, "a flow table holds at most %u flows, not %u (lower --max-flows)",
                 FLOW_TABLE_MAX_FLOWS, cfg->max_flows);
        return NULL;
    }
    struct flow_table *t = calloc(1, sizeof(*t));
    uint64_t nslots;

    if (!t)
        goto fail;
    t->cfg = *cfg;
    if (t->cfg.max_flows == 0)
        t->cfg.max_flows = 1;
    t->emit = emit;
    t->emit_user = emit_user;
    flow_hash_secret_init(&t->secret,
                          t->cfg.hash_seed ? t->cfg.hash_seed : flow_table_random_seed());
    /* At most 2/3 full (see the index above), and 16 slots at least. */
    nslots = (uint64_t)t->cfg.max_flows + ((uint64_t)t->cfg.max_flows + 1) / 2;
    if (nslots < 16)
        nslots = 16;
    unsigned flow_bits = 1;
    while (flow_bits < 32 && (1ull << flow_bits) <= t->cfg.max_flows)
        flow_bits++;
    if (t->cfg.index_flow_bits > flow_bits)
        flow_bits = t->cfg.index_flow_bits < 32 ? t->cfg.index_flow_bits : 32;
    t->flow_mask = (uint32_t)((1ull << flow_bits) - 1);
    t->hash_keep = ~((uint64_t)t->flow_mask << 32);
    t->index_max_slots = (uint32_t)nslots;
    t->index_full_at = UINT32_MAX;
    nslots = nslots < FLOW_INDEX_MIN_SLOTS ? nslots : FLOW_INDEX_MIN_SLOTS;
    t->nslots = (uint32_t)nslots;
    /* Fresh zero pages (hugemem.h): only the flows actually touched
     * become resident, so memory follows load. */
    t->slots = hugemem_calloc(nslots, sizeof(*t->slots));
    t->flows = hugemem_calloc(t->cfg.max_flows, sizeof(*t->flows));
    /* Not huge pages: a flow that needs its entry should make 4 KiB
     * resident, not 2 MiB. */
    t->wide = hugemem_calloc_plain(t->cfg.max_flows, sizeof(*t->wide));
    t->addr6 = hugemem_calloc_plain((size_t)t->cfg.max_flows + 1, sizeof(*t->addr6));
    t->addr6_fresh = 1;
    t->next_id = t->cfg.id_start;
    if (t->cfg.active_timeout_us)
        t->tq = hugemem_calloc_plain(t->cfg.max_flows, sizeof(*t->tq));
    t->tcp_pool = tcp_analysis_pool_create(t->cfg.max_flows);
    bool want_l7 = flow_table_wants_l7(t->cfg.no_l7, t->cfg.streams_dir);
    if (want_l7)
        t->l7_pool = l7_pool_create(t->cfg.max_flows, t->cfg.streams_dir);
    /* Every flow writes its entry when it starts, as its struct flow:
     * huge pages like t->flows. */
    bool want_handles = want_l7 || t->cfg.ndpi;
    if (want_handles)
        t->l7 = hugemem_calloc(t->cfg.max_flows, sizeof(*t->l7));
    if (!t->slots || !t->flows || !t->wide || !t->addr6 || (t->cfg.active_timeout_us && !t->tq) ||
        !t->tcp_pool || (want_l7 && !t->l7_pool) || (want_handles && !t->l7))
        goto fail;
    t->free_head = FLOW_NIL;
    hugemem_ahead_init(&t->flows_ahead, t->flows, sizeof(*t->flows), t->cfg.max_flows);
    hugemem_ahead_init(&t->l7_ahead, t->l7, sizeof(*t->l7), t->cfg.max_flows);
    flow_list_init(&t->lru);
    flow_list_init(&t->closed);
    t->close_timeout_us = t->cfg.close_timeout_us && t->cfg.close_timeout_us < t->cfg.idle_timeout_us
                              ? t->cfg.close_timeout_us : t->cfg.idle_timeout_us;
    flow_list_init(&t->active_q);
    return t;
fail:
    snprintf(err, errlen, "cannot allocate a flow table for %u flows: %s (lower --max-flows)",
             cfg->max_flows, strerror(errno ? errno : ENOMEM));
    flow_table_destroy(t);
    return NULL;
}

void flow_table_set_record_slot(struct flow_table *t, flow_record_slot_fn *slot,
                                flow_record_commit_fn *commit)
{
    t->record_slot = slot;
    t->record_commit = commit;
}

void flow_table_destroy(struct flow_table *t)
{
    if (!t)
        return;
    hugemem_free(t->slots);
    hugemem_free(t->flows);
    hugemem_free(t->wide);
    hugemem_free(t->tq);
    hugemem_free(t->l7);
    hugemem_free(t->addr6);
    tcp_analysis_pool_destroy(t->tcp_pool);
    l7_pool_destroy(t->l7_pool);
    free(t);
}

/* The flush walks the LRU list, one dependent load per flow, and each
 * flow's record reads the flow and its TCP analysis: at a hundred
 * thousand flows, each a cache miss after the other.  A runner this
 * many flows further along the list loads them ahead, so that the misses
 * overlap the records' work. */
#define FLOW_FLUSH_AHEAD 8u

/* Starts loading what flow_retire will read of flow i; returns the next flow
 * the walk will reach. */
static uint32_t flow_flush_prefetch(const struct flow_table *t, uint32_t i)
{
    const struct flow *f = &t->flows[i];

    prefetch_range(f, sizeof(*f));
    if (t->l7)
        __builtin_prefetch(&t->l7[i]);
    tcp_analysis_pool_prefetch(t->tcp_pool, flow_tcp_handle(f));
    return f->lru_prev;
}

static void flow_list_flush(struct flow_table *t, struct flow_list *l, enum flow_end_reason why)
{
    uint32_t runner = l->tail;

    for (unsigned k = 0; k < FLOW_FLUSH_AHEAD && runner != FLOW_NIL; k++)
        runner = flow_flush_prefetch(t, runner);
    /* Oldest first, so records come out roughly in the order flows began. */
    while (l->tail != FLOW_NIL) {
        uint32_t i = l->tail;
        if (runner != FLOW_NIL)
            runner = flow_flush_prefetch(t, runner);
        flow_retire(t, i, flow_end_why(&t->flows[i], why), false);
    }
}

/* Closed flows first: they ended before every flow still open.  The
 * index is cleared in one go at the end: removing entry by entry hashed
 * each flow's key, and every entry its backward shift moved, a cache miss
 * each (a million of them at the end of bench workload 2). */
void flow_table_flush(struct flow_table *t, enum flow_end_reason why)
{
    flow_list_flush(t, &t->closed, why);
    flow_list_flush(t, &t->lru, why);
    memset(t->slots, 0, (size_t)t->nslots * sizeof(*t->slots));
}

static void flow_list_snapshot(const struct flow_table *t, const struct flow_list *l,
                               flow_emit_fn *fn, void *user)
{
    struct flow_record rec;

    for (uint32_t i = l->head; i != FLOW_NIL; i = t->flows[i].lru_next) {
        flow_fill_record(t, &t->flows[i], FLOW_END_NONE, &rec);
        fn(user, &rec);
    }
}

void flow_table_snapshot(const struct flow_table *t, flow_emit_fn *fn, void *user)
{
    flow_list_snapshot(t, &t->lru, fn, user);
    flow_list_snapshot(t, &t->closed, fn, user);
}

void flow_table_get_stats(const struct flow_table *t, struct flow_table_stats *out)
{
    *out = t->stats;
    if (t->l7_pool)
        l7_collect_stats(t->l7_pool, &out->l7);
}

uint32_t flow_table_index_slots(const struct flow_table *t)
{
    return t->nslots;
}
