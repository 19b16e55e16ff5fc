/*
 * ebpf_flows.bpf.c: the in-kernel half of the eBPF capture engine
 * (capture/ebpf_flows.h).  Kernel interfaces: a BPF_PROG_TYPE_SOCKET_FILTER
 * program attached with SO_ATTACH_BPF to a SOCK_DGRAM packet(7) socket, so
 * it runs in packet_rcv for every frame the interface sends or receives,
 * with skb->data at the network header whatever the link type; a
 * BPF_MAP_TYPE_ARRAY_OF_MAPS of NM_EBPF_SHARDS BPF_MAP_TYPE_HASH shards of
 * flows (entries allocated as flows appear) and a
 * BPF_MAP_TYPE_PERCPU_ARRAY of counters, a BPF_MAP_TYPE_RINGBUF of ended
 * flows, and a bpf_timer whose callback sweeps the flow map with
 * bpf_for_each_map_elem; userspace reads the map with BPF_MAP_LOOKUP_BATCH
 * for the view and at the end.
 *
 * Why a socket filter that returns 0: the packet is accounted here and
 * never queued, so nothing is copied to user space and no ring can
 * overflow; the per-packet cost is this program, not a copy, a wakeup and
 * a user-space decode.
 *
 * Why one shared value per flow, added to atomically, and not a per-CPU
 * hash: a per-CPU entry allocated as a flow appears cost about 12 µs per
 * new flow here (the per-CPU allocator), against about 1 µs for a plain
 * one (BPF_PROG_TEST_RUN, 150,000 new flows), and preallocating per-CPU
 * values for --max-flows would hold 88 bytes per CPU per possible flow.
 * A new flow's entry is written whole, first packet included, by the
 * insert itself; later packets add with atomic instructions, which
 * contend only when two CPUs carry one flow at the same moment.
 *
 * Headers followed: IPv4 (RFC 791; options skipped by IHL, fragments by
 * offset), IPv6 (RFC 8200; hop-by-hop, routing, destination options,
 * fragment, AH, mobility, HIP and shim6 headers walked, at most NM_EXT_MAX,
 * as src/decode/ipv6.c), 802.1Q and
 * 802.1ad tags (in the data, or held apart by the NIC: skb->vlan_tci),
 * TCP (RFC 9293: ports and flags), UDP, SCTP and UDP-Lite (ports), ICMP and
 * ICMPv6 (type, code; the echo identifier keys echo flows, as
 * src/flow/flow_key.h does for the default engine).
 */
#include <stdbool.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "capture/ebpf_flows_shared.h"

#define NM_ETH_P_IP 0x0800
#define NM_ETH_P_IPV6 0x86dd
#define NM_ETH_P_8021Q 0x8100
#define NM_ETH_P_8021AD 0x88a8
#define NM_EEXIST 17
#define NM_EXT_MAX 8

/* The flows, in shards (NM_EBPF_SHARDS), a flow's chosen by nm_shard().
 * Userspace sizes the shards (over --max-flows / NM_EBPF_SHARDS, for the
 * hash's uneven spread: ebpf_flows_shard_max), creates them and puts them
 * in nm_flows before any socket runs the program; nm_live holds
 * --max-flows over all. */
struct nm_flow_shard {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(map_flags, BPF_F_NO_PREALLOC);   /* memory follows the flows seen */
    __uint(max_entries, 1024);
    /* Sizes, not BTF types: libbpf cannot size an inner map's struct types. */
    __uint(key_size, sizeof(struct nm_ebpf_key));
    __uint(value_size, sizeof(struct nm_ebpf_val));
};
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, NM_EBPF_SHARDS);
    __type(key, __u32);
    __array(values, struct nm_flow_shard);
} nm_flows SEC(".maps");

/* Entries in all shards, against cfg->max_flows (one shared word: it is
 * touched once per new flow and once per end, not per packet). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} nm_live SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, NM_EBPF_COUNTERS);
    __type(key, __u32);
    __type(value, __u64);
} nm_counters SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct nm_ebpf_cfg);
} nm_config SEC(".maps");

/* Flows the program ends, for userspace to write. */
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 20);
} nm_ended SEC(".maps");

/* The sweep's timer (one entry) and the shard it sweeps next. */
struct nm_timer {
    struct bpf_timer timer;
    __u32 cursor;
    __u32 pad;
};
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct nm_timer);
} nm_sweep_timer SEC(".maps");

/* First fragments' ports; the oldest are forgotten first (their late
 * fragments are then counted as orphans). */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 8192);
    __type(key, struct nm_ebpf_frag_key);
    __type(value, struct nm_ebpf_frag_val);
} nm_frags SEC(".maps");

/* What the parse found: the flow's key in packet order, and the rest. */
struct nm_pkt {
    struct nm_ebpf_key key;
    __u32 len;             /* bytes from the network header */
    __u32 tcp_seq;
    __u32 frag_id;
    __u8 tcp_flags;
    __u8 icmp_type, icmp_code;
    __u8 is_icmp;
    __u8 fragment;         /* a non-first fragment: its ports come from nm_frags */
    __u8 first_fragment;   /* offset 0, more to come: its ports go to nm_frags */
    __u8 tagged;           /* the NIC held a VLAN tag apart from the data */
    __u8 no_ports;         /* ports unknown: transport header cut short, or orphan */
};

static __always_inline void nm_count(__u32 which, __u64 n)
{
    __u64 *c = bpf_map_lookup_elem(&nm_counters, &which);

    if (c)
        *c += n;
}

/* 802.1Q/802.1ad tags in the data: at most two (QinQ); the inner one
 * names the flow's VLAN, as the default engine's decoder does.  Parsers
 * return 0, or the counter that says why the packet was not accounted. */
static __always_inline int nm_skip_tags(struct __sk_buff *skb, __u32 *off, __u16 *proto,
                                        struct nm_pkt *p)
{
#pragma unroll
    for (int i = 0; i < 2; i++) {
        __u8 tag[4];
        if (*proto != NM_ETH_P_8021Q && *proto != NM_ETH_P_8021AD)
            return 0;
        if (bpf_skb_load_bytes(skb, *off, tag, sizeof(tag)) < 0)
            return NM_EBPF_VLAN_TRUNCATED;
        p->key.vlan = (__u16)(((tag[0] << 8) | tag[1]) & 0x0fff);
        *proto = (__u16)((tag[2] << 8) | tag[3]);
        *off += 4;
    }
    return 0;
}

static __always_inline int nm_parse_ipv4(struct __sk_buff *skb, __u32 off, struct nm_pkt *p,
                                         __u32 *l4, __u8 *proto)
{
    __u8 h[20];

    if (bpf_skb_load_bytes(skb, off, h, sizeof(h)) < 0)
        return NM_EBPF_IPV4_TRUNCATED;
    if ((h[0] >> 4) != 4)
        return NM_EBPF_IP_BAD_VERSION;
    /* src/decode/ipv4.c's checks, so that both engines refuse the same
     * packets: a header longer than the packet or than its own total
     * length (0, as segmentation offload leaves it, means "the rest"). */
    __u32 hlen = (__u32)(h[0] & 15) * 4;
    __u16 total = (__u16)((h[2] << 8) | h[3]);
    if (hlen < 20 || off + hlen > skb->len)
        return NM_EBPF_IPV4_BAD_IHL;
    if (total != 0 && total < hlen)
        return NM_EBPF_IPV4_BAD_TOTAL_LEN;
    p->key.ip_version = 4;
    /* IPv4-mapped, as src/decode stores IPv4 addresses. */
    p->key.addr[0][10] = p->key.addr[0][11] = 0xff;
    p->key.addr[1][10] = p->key.addr[1][11] = 0xff;
    __builtin_memcpy(&p->key.addr[0][12], &h[12], 4);
    __builtin_memcpy(&p->key.addr[1][12], &h[16], 4);
    *proto = h[9];
    p->fragment = (((h[6] & 0x1f) << 8) | h[7]) != 0;
    p->first_fragment = !p->fragment && (h[6] & 0x20);     /* MF */
    p->frag_id = (__u32)((h[4] << 8) | h[5]);
    *l4 = off + hlen;
    return 0;
}

static __always_inline bool nm_ipv6_ext(__u8 h)
{
    return h == 0 || h == 43 || h == 44 || h == 51 || h == 60 || h == 135 || h == 139 || h == 140;
}

/* Walks the extension headers that can come before the transport header;
 * an unknown or excessive chain leaves the last header as the protocol.
 * A non-first fragment ends the walk: what follows is payload. */
static __always_inline int nm_parse_ipv6(struct __sk_buff *skb, __u32 off, struct nm_pkt *p,
                                         __u32 *l4, __u8 *proto)
{
    __u8 h[8];

    if (bpf_skb_load_bytes(skb, off, h, sizeof(h)) < 0)
        return NM_EBPF_IPV6_TRUNCATED;
    if ((h[0] >> 4) != 6)
        return NM_EBPF_IP_BAD_VERSION;
    if (bpf_skb_load_bytes(skb, off + 8, p->key.addr, sizeof(p->key.addr)) < 0)
        return NM_EBPF_IPV6_TRUNCATED;
    p->key.ip_version = 6;
    __u8 next = h[6];
    off += 40;
#pragma unroll
    for (int i = 0; i < NM_EXT_MAX; i++) {
        __u8 e[8];
        if (!nm_ipv6_ext(next) || p->fragment)
            break;
        if (bpf_skb_load_bytes(skb, off, e, sizeof(e)) < 0)
            return NM_EBPF_IPV6_EXT_TRUNCATED;
        __u8 cur = next;
        next = e[0];
        if (cur == 44) {            /* fixed 8 bytes; offset in the top 13 bits, M last */
            p->fragment = (((e[2] << 8) | e[3]) & 0xfff8) != 0;
            p->first_fragment = !p->fragment && (e[3] & 1);
            p->frag_id = ((__u32)e[4] << 24) | ((__u32)e[5] << 16) | ((__u32)e[6] << 8) | e[7];
            off += 8;
        } else if (cur == 51) {     /* AH counts 4-byte words, minus 2 */
            off += ((__u32)e[1] + 2) * 4;
        } else {
            off += ((__u32)e[1] + 1) * 8;
        }
    }
    if (nm_ipv6_ext(next) && !p->fragment)
        return NM_EBPF_IPV6_EXT_TOO_MANY;
    *proto = next;
    *l4 = off;
    return 0;
}

/* Ports (or the ICMP fields) and TCP flags; a transport header that is
 * not all there leaves the ports 0, as a fragment's do (counted). */
static __always_inline int nm_parse_l4(struct __sk_buff *skb, __u32 l4, __u8 proto,
                                        struct nm_pkt *p)
{
    __u8 t[14];

    p->key.proto = proto;
    if (p->fragment)
        return 0;
    if (proto == 6 || proto == 17 || proto == 132 || proto == 136) {
        if (bpf_skb_load_bytes(skb, l4, t, 4) < 0)
            return NM_EBPF_L4_TRUNCATED;
        p->key.port[0] = (__u16)((t[0] << 8) | t[1]);
        p->key.port[1] = (__u16)((t[2] << 8) | t[3]);
        if (proto != 6)
            return 0;
        if (bpf_skb_load_bytes(skb, l4, t, sizeof(t)) < 0)
            return NM_EBPF_L4_TRUNCATED;
        p->tcp_flags = t[13];
        p->tcp_seq = ((__u32)t[4] << 24) | ((__u32)t[5] << 16) | ((__u32)t[6] << 8) | t[7];
        return 0;
    }
    if (proto != 1 && proto != 58)
        return 0;
    if (bpf_skb_load_bytes(skb, l4, t, 6) < 0)
        return NM_EBPF_L4_TRUNCATED;
    p->is_icmp = 1;
    p->icmp_type = t[0];
    p->icmp_code = t[1];
    /* Echo request and reply (ICMP 8/0, ICMPv6 128/129) meet under their
     * identifier; any other message keys by type and code. */
    if ((proto == 1 && (t[0] == 8 || t[0] == 0)) || (proto == 58 && (t[0] == 128 || t[0] == 129))) {
        p->key.port[0] = p->key.port[1] = (__u16)((t[4] << 8) | t[5]);
        p->key.echo = 1;
    } else {
        p->key.port[0] = p->key.port[1] = (__u16)((t[0] << 8) | t[1]);
    }
    return 0;
}

/* Canonical order: the smaller address:port first, so both directions
 * share one key.  Returns the packet's side (0: it was sent by addr[0]). */
static __always_inline __u8 nm_canonical(struct nm_ebpf_key *k)
{
    __u64 a0, a1, b0, b1;

    __builtin_memcpy(&a0, &k->addr[0][0], 8);
    __builtin_memcpy(&a1, &k->addr[0][8], 8);
    __builtin_memcpy(&b0, &k->addr[1][0], 8);
    __builtin_memcpy(&b1, &k->addr[1][8], 8);
    /* Any total order will do; it only has to be the same both ways. */
    if (a0 < b0 || (a0 == b0 && (a1 < b1 || (a1 == b1 && k->port[0] <= k->port[1]))))
        return 0;
    __u8 tmp[16];
    __builtin_memcpy(tmp, k->addr[0], 16);
    __builtin_memcpy(k->addr[0], k->addr[1], 16);
    __builtin_memcpy(k->addr[1], tmp, 16);
    __u16 port = k->port[0];
    k->port[0] = k->port[1];
    k->port[1] = port;
    return 1;
}

/* The flags word's bits for this packet (see NM_EBPF_FLAGS_*). */
static __always_inline __u64 nm_flag_bits(const struct nm_pkt *p, __u8 side)
{
    __u64 bits = (__u64)p->tcp_flags << NM_EBPF_FLAGS_SHIFT(side);

    if ((p->tcp_flags & 0x12) == 0x02)       /* SYN without ACK: the initiator */
        bits |= NM_EBPF_FLAGS_SYN(side);
    return bits;
}

/* The key's shard: a multiplicative hash of the address words that vary
 * (the last 32 bits of each address, all of an IPv4 one), the ports and
 * the protocol.  The key is already in canonical order. */
static __always_inline void *nm_shard(const struct nm_ebpf_key *k)
{
    __u32 a, b;

    __builtin_memcpy(&a, &k->addr[0][12], 4);
    __builtin_memcpy(&b, &k->addr[1][12], 4);
    __u32 h = (a ^ (b * 31u) ^ ((__u32)k->port[0] << 16 | k->port[1]) ^ k->proto) * 0x9e3779b1u;
    __u32 idx = h >> (32u - NM_EBPF_SHARD_BITS);
    return bpf_map_lookup_elem(&nm_flows, &idx);
}

/* Whether --max-flows is held here: userspace always sets it. */
static __always_inline bool nm_live_held(const struct nm_ebpf_cfg *cfg)
{
    return cfg && cfg->max_flows;
}

static __always_inline __u64 *nm_live_word(void)
{
    __u32 zero = 0;

    return bpf_map_lookup_elem(&nm_live, &zero);
}

/* Reserves room for one more flow under --max-flows; false when there is
 * none.  A full table is seen with a plain read: every packet of a refused
 * flow comes here, and an atomic add would take the shared cache line from
 * every CPU each time. */
static __always_inline bool nm_live_take(const struct nm_ebpf_cfg *cfg)
{
    if (!nm_live_held(cfg))
        return true;
    __u64 *n = nm_live_word();
    if (!n || *n >= cfg->max_flows)
        return false;
    if (__sync_fetch_and_add(n, 1) < cfg->max_flows)
        return true;
    __sync_fetch_and_add(n, -1);
    return false;
}

static __always_inline void nm_live_give(const struct nm_ebpf_cfg *cfg)
{
    __u64 *n = nm_live_held(cfg) ? nm_live_word() : NULL;

    if (n)
        __sync_fetch_and_add(n, -1);
}

/* A new flow: its entry is written with the first packet in it.  Returns
 * 0, 1 when another CPU created it first (add to that one), or -1 when the
 * map is full (counted: the packet is not accounted). */
static __always_inline int nm_flow_create(void *shard, const struct nm_pkt *p, __u8 side,
                                          __u64 now, const struct nm_ebpf_cfg *cfg)
{
    struct nm_ebpf_val v = {};

    v.packets[side & 1] = 1;
    v.bytes[side & 1] = p->len;
    v.tagged[side & 1] = p->tagged;
    v.first_ns = v.last_ns = v.born_ns = now;
    v.flags = nm_flag_bits(p, side);
    v.first_side = side;
    v.icmp_type = p->icmp_type;
    v.icmp_code = p->icmp_code;
    v.ports_unknown = p->no_ports;
    v.isn = p->tcp_seq;
    if (!nm_live_take(cfg))
        return -1;
    long rc = bpf_map_update_elem(shard, &p->key, &v, BPF_NOEXIST);
    if (rc == 0) {
        nm_count(NM_EBPF_FLOWS_CREATED, 1);
        return 0;
    }
    nm_live_give(cfg);
    return rc == -NM_EEXIST ? 1 : -1;
}

static __always_inline void nm_flow_add(struct nm_ebpf_val *v, const struct nm_pkt *p, __u8 side,
                                        __u64 now)
{
    __u64 bits = nm_flag_bits(p, side);

    __sync_fetch_and_add(&v->packets[side & 1], 1);
    __sync_fetch_and_add(&v->bytes[side & 1], p->len);
    if (p->tagged)
        __sync_fetch_and_add(&v->tagged[side & 1], 1);
    if (p->no_ports && !v->ports_unknown)
        v->ports_unknown = 1;
    /* A flow picked up mid-stream learns its ISN from its first SYN. */
    if ((bits & (NM_EBPF_FLAGS_SYN(0) | NM_EBPF_FLAGS_SYN(1))) &&
        !(v->flags & (NM_EBPF_FLAGS_SYN(0) | NM_EBPF_FLAGS_SYN(1))))
        v->isn = p->tcp_seq;
    /* Read first: most packets bring no new flag, and an atomic OR would
     * take the cache line every time. */
    if ((v->flags & bits) != bits)
        __sync_fetch_and_or(&v->flags, bits);
    /* Two CPUs may store out of order: last_ns can lag by the overlap of
     * two packets' runs, nanoseconds. */
    v->last_ns = now;
    /* Another path was writing the flow's record meanwhile: this packet is
     * in that record, in the next one, or (an end, whose entry is gone)
     * in none.  Counted, as at most lost. */
    if (v->claimed)
        nm_count(NM_EBPF_RACING, 1);
}

static __always_inline bool nm_flags_closed(__u64 flags)
{
    __u8 f0 = (__u8)(flags >> NM_EBPF_FLAGS_SHIFT(0)), f1 = (__u8)(flags >> NM_EBPF_FLAGS_SHIFT(1));

    return ((f0 | f1) & 0x04) || (f0 & f1 & 0x01);   /* RST, or FIN both ways */
}

/* A SYN without ACK on a known flow starts a new connection (port reuse)
 * unless it repeats the ISN seen, or is the responder's first packet of an
 * open flow (simultaneous open); with no SYN seen before, only a closed
 * flow is a new one.  src/flow/flow_table.c's flow_is_new_connection. */
static __always_inline bool nm_new_connection(const struct nm_ebpf_val *v, const struct nm_pkt *p,
                                              __u8 side)
{
    __u64 flags = v->flags;
    bool closed = nm_flags_closed(flags);

    if ((p->tcp_flags & 0x16) != 0x02 || p->key.proto != 6)
        return false;
    /* The responder has sent nothing: its flags tell, as its count alone
     * does not after an interim record (which restarts the counts). */
    if (!closed && (flags & NM_EBPF_FLAGS_SYN(side ^ 1)) && v->packets[side & 1] == 0 &&
        (__u8)(flags >> NM_EBPF_FLAGS_SHIFT(side & 1)) == 0)
        return false;
    if (flags & (NM_EBPF_FLAGS_SYN(0) | NM_EBPF_FLAGS_SYN(1)))
        return p->tcp_seq != v->isn;
    return closed;
}

/* Why a flow that has been quiet this long is over (its close or idle
 * limit passed), or 0. */
static __always_inline __u8 nm_quiet_reason(__u64 flags, __u64 quiet, const struct nm_ebpf_cfg *cfg)
{
    bool closed = nm_flags_closed(flags);

    if (quiet < (closed ? cfg->close_ns : cfg->idle_ns))
        return 0;
    if (!closed)
        return NM_EBPF_END_IDLE;
    return (((flags >> NM_EBPF_FLAGS_SHIFT(0)) | (flags >> NM_EBPF_FLAGS_SHIFT(1))) & 0x04)
               ? NM_EBPF_END_RST : NM_EBPF_END_FIN;
}

/* Whether the packet ends the flow before it (quiet too long, or a new
 * connection); the reason, or 0. */
static __always_inline __u8 nm_ends_flow(const struct nm_ebpf_val *v, const struct nm_pkt *p,
                                         __u8 side, __u64 now, const struct nm_ebpf_cfg *cfg)
{
    __u64 flags = v->flags;
    __u64 quiet = now > v->last_ns ? now - v->last_ns : 0;

    if (!cfg || cfg->idle_ns == 0)
        return 0;       /* not configured yet */
    __u8 reason = nm_quiet_reason(flags, quiet, cfg);
    if (reason || !nm_new_connection(v, p, side))
        return reason;
    /* Port reuse: the old connection ends as the default engine ends it. */
    return nm_flags_closed(flags) ? nm_quiet_reason(flags, ~0ull, cfg) : NM_EBPF_END_IDLE;
}

/* Moves the flow's counts into out, leaving zeros: adds that come later
 * land in what is left (the next record), not in this one. */
static __always_inline void nm_flow_take(struct nm_ebpf_val *v, struct nm_ebpf_val *out)
{
    out->packets[0] = __sync_lock_test_and_set(&v->packets[0], 0);
    out->packets[1] = __sync_lock_test_and_set(&v->packets[1], 0);
    out->bytes[0] = __sync_lock_test_and_set(&v->bytes[0], 0);
    out->bytes[1] = __sync_lock_test_and_set(&v->bytes[1], 0);
    out->tagged[0] = __sync_lock_test_and_set(&v->tagged[0], 0);
    out->tagged[1] = __sync_lock_test_and_set(&v->tagged[1], 0);
    out->first_ns = v->first_ns;
    out->last_ns = v->last_ns;
    out->born_ns = v->born_ns;
    out->flags = v->flags;
    out->first_side = v->first_side;
    out->icmp_type = v->icmp_type;
    out->icmp_code = v->icmp_code;
    out->ports_unknown = v->ports_unknown;
    out->isn = v->isn;
}

/* Writes the flow's record through nm_ended.  One path at a time: the
 * packet path, the sweep, or another CPU's packet may all find a flow due,
 * and only the one whose compare-and-swap claims it writes (the others
 * return true: it is being ended).  An end takes the entry out of the map;
 * an interim (active) record keeps it, its counts restarted.  false: the
 * ring buffer is full (counted under `full`), nothing happened. */
static __always_inline bool nm_flow_record(void *shard, const struct nm_ebpf_key *key,
                                           struct nm_ebpf_val *v, __u8 reason, __u32 full,
                                           __u64 now, const struct nm_ebpf_cfg *cfg)
{
    if (__sync_val_compare_and_swap(&v->claimed, 0, 1) != 0)
        return true;
    struct nm_ebpf_end *e = bpf_ringbuf_reserve(&nm_ended, sizeof(*e), 0);
    if (!e) {
        __sync_lock_test_and_set(&v->claimed, 0);
        nm_count(full, 1);
        return false;
    }
    e->key = *key;
    e->reason = reason;
    nm_flow_take(v, &e->val);
    if (reason == NM_EBPF_END_ACTIVE) {
        v->first_ns = now;      /* the next record starts here */
        __sync_lock_test_and_set(&v->claimed, 0);
        nm_count(NM_EBPF_INTERIMS, 1);
    } else {
        /* Only the claimer deletes, so this is the entry it claimed.  A
         * failure (the map busy on this CPU) leaves it in place, released,
         * its counts restarted: the flow goes on in it. */
        if (bpf_map_delete_elem(shard, key) != 0)
            __sync_lock_test_and_set(&v->claimed, 0);
        else
            nm_live_give(cfg);
        nm_count(NM_EBPF_ENDED, 1);
    }
    bpf_ringbuf_submit(e, 0);
    return true;
}

/* Accounts the packet: 1; 0 when the full map refused its new flow; -1
 * when it raced another CPU's end of the flow (counted). */
static __always_inline int nm_flow_account(const struct nm_pkt *p, __u8 side,
                                           const struct nm_ebpf_cfg *cfg)
{
    __u64 now = bpf_ktime_get_ns();
    void *shard = nm_shard(&p->key);
    if (!shard)
        return 0;       /* userspace had not put the shards in yet */
    struct nm_ebpf_val *v = bpf_map_lookup_elem(shard, &p->key);

    if (v) {
        __u8 reason = nm_ends_flow(v, p, side, now, cfg);
        if (reason && nm_flow_record(shard, &p->key, v, reason, NM_EBPF_ENDS_MERGED, now, cfg))
            v = NULL;
    }
    if (!v) {
        int rc = nm_flow_create(shard, p, side, now, cfg);
        if (rc <= 0)
            return rc == 0;
        if (!(v = bpf_map_lookup_elem(shard, &p->key))) {
            nm_count(NM_EBPF_RACING, 1);   /* created and ended at once elsewhere */
            return -1;
        }
    }
    nm_flow_add(v, p, side, now);
    return 1;
}

/* Fragments: a first fragment leaves its ports for the rest, which take
 * them, so a datagram is one flow whatever its size; a fragment whose first
 * was not seen (or forgotten) keeps ports 0 and is counted. */
static __always_inline void nm_fragment_ports(struct nm_pkt *p)
{
    struct nm_ebpf_frag_key fk = {};

    __builtin_memcpy(fk.addr, p->key.addr, sizeof(fk.addr));
    fk.id = p->frag_id;
    fk.proto = p->key.proto;
    if (p->first_fragment) {
        struct nm_ebpf_frag_val fv = { .port = { p->key.port[0], p->key.port[1] },
                                       .echo = p->key.echo };
        bpf_map_update_elem(&nm_frags, &fk, &fv, BPF_ANY);
        return;
    }
    const struct nm_ebpf_frag_val *fv = bpf_map_lookup_elem(&nm_frags, &fk);
    if (!fv) {
        nm_count(NM_EBPF_FRAG_ORPHAN, 1);
        p->no_ports = 1;
        return;
    }
    p->key.port[0] = fv->port[0];
    p->key.port[1] = fv->port[1];
    p->key.echo = fv->echo;
}

/* Loopback hands a packet socket each frame twice, as it is sent and as
 * it is received: the sent copy is skipped, as libpcap and the default
 * engine skip it. */
static __always_inline bool nm_loop_outgoing(const struct __sk_buff *skb,
                                             const struct nm_ebpf_cfg *cfg)
{
    return cfg && cfg->lo_ifindex && skb->ifindex == cfg->lo_ifindex &&
           skb->pkt_type == 4;   /* PACKET_OUTGOING */
}

/* Network layer: VLAN tags, then IPv4 or IPv6 up to the transport header.
 * Returns 0 or the counter naming why the packet is not accounted. */
static __always_inline int nm_parse(struct __sk_buff *skb, struct nm_pkt *p, __u32 *l4,
                                    __u8 *l4proto)
{
    __u16 proto = (__u16)bpf_ntohs((__u16)skb->protocol);
    __u32 off = 0;
    int rc = nm_skip_tags(skb, &off, &proto, p);

    if (rc)
        return rc;
    if (proto == NM_ETH_P_IP)
        return nm_parse_ipv4(skb, off, p, l4, l4proto);
    if (proto == NM_ETH_P_IPV6)
        return nm_parse_ipv6(skb, off, p, l4, l4proto);
    return NM_EBPF_NOT_IP;
}

/* ---- the sweep: flows due without a packet -------------------------------- */

struct nm_sweep_ctx {
    __u64 now;
    const struct nm_ebpf_cfg *cfg;
    bool full;
};

static long nm_sweep_flow(void *shard, const struct nm_ebpf_key *key,
                          struct nm_ebpf_val *v, struct nm_sweep_ctx *ctx)
{
    __u64 quiet = ctx->now > v->last_ns ? ctx->now - v->last_ns : 0;
    __u8 reason = nm_quiet_reason(v->flags, quiet, ctx->cfg);

    /* first_ns can be later than now: a flow another CPU created while
     * this sweep ran.  No interim for a flow with no packet since its
     * last record (the default engine's rule). */
    if (!reason && ctx->cfg->active_ns && ctx->now > v->first_ns &&
        ctx->now - v->first_ns >= ctx->cfg->active_ns && (v->packets[0] | v->packets[1]))
        reason = NM_EBPF_END_ACTIVE;
    if (!reason)
        return 0;
    if (!nm_flow_record(shard, key, v, reason, NM_EBPF_ENDS_DEFERRED, ctx->now, ctx->cfg)) {
        ctx->full = true;
        return 1;       /* the ring is full: stop, and sweep again soon */
    }
    return 0;
}

/* Sweeps one shard per run, the next one every cfg->sweep_ns /
 * NM_EBPF_SHARDS, so every flow is looked at once a period and records of
 * idle, closed and long flows come out without a packet and without
 * userspace reading the map.  One shard per run because the timer runs in
 * softirq, where its CPU handles no packets meanwhile: the whole map at
 * once held it 2-3 ms per 10,000 flows here.  A shard the full ring cut
 * short is swept again 10 ms later. */
/* The time between two runs of the sweep: a shard's share of the period. */
static __always_inline __u64 nm_sweep_tick(const struct nm_ebpf_cfg *cfg)
{
    return cfg->sweep_ns / NM_EBPF_SHARDS + 1;
}

static int nm_sweep(void *map, __u32 *key, struct nm_timer *t)
{
    __u32 zero = 0, idx = t->cursor % NM_EBPF_SHARDS;
    struct nm_sweep_ctx ctx = { .now = bpf_ktime_get_ns() };

    (void)map; (void)key;
    ctx.cfg = bpf_map_lookup_elem(&nm_config, &zero);
    if (!ctx.cfg || ctx.cfg->sweep_ns == 0)
        return 0;
    nm_count(NM_EBPF_SWEEPS_STARTED, 1);
    void *shard = bpf_map_lookup_elem(&nm_flows, &idx);
    if (shard)
        bpf_for_each_map_elem(shard, nm_sweep_flow, &ctx, 0);
    nm_count(NM_EBPF_SWEEP_NS, bpf_ktime_get_ns() - ctx.now);
    nm_count(NM_EBPF_SWEEPS, 1);
    if (!ctx.full)
        t->cursor = idx + 1;
    /* Read again: userspace stops the sweep by setting it to 0, and a
     * sweep that was running then must not arm the timer again. */
    if (ctx.cfg->sweep_ns)
        bpf_timer_start(&t->timer, ctx.full ? 10 * 1000 * 1000 : nm_sweep_tick(ctx.cfg), 0);
    return 0;
}

/* Run once by userspace (BPF_PROG_TEST_RUN) to arm the sweep's timer. */
SEC("socket")
int nm_ebpf_start(struct __sk_buff *skb)
{
    __u32 zero = 0;
    struct nm_timer *t = bpf_map_lookup_elem(&nm_sweep_timer, &zero);
    const struct nm_ebpf_cfg *cfg = bpf_map_lookup_elem(&nm_config, &zero);

    (void)skb;
    if (!t || !cfg || cfg->sweep_ns == 0)
        return 1;
    if (bpf_timer_init(&t->timer, &nm_sweep_timer, 1) != 0 ||   /* CLOCK_MONOTONIC */
        bpf_timer_set_callback(&t->timer, nm_sweep) != 0 ||
        bpf_timer_start(&t->timer, nm_sweep_tick(cfg), 0) != 0)
        return 2;
    return 0;
}

SEC("socket")
int nm_ebpf_flows(struct __sk_buff *skb)
{
    struct nm_pkt p = {};
    __u32 l4 = 0, zero = 0;
    __u8 l4proto = 0;
    /* Looked up once a packet, for the loopback test and the flow's end. */
    const struct nm_ebpf_cfg *cfg = bpf_map_lookup_elem(&nm_config, &zero);

    if (nm_loop_outgoing(skb, cfg)) {
        nm_count(NM_EBPF_LOOP_SKIPPED, 1);
        return 0;
    }
    nm_count(NM_EBPF_PACKETS, 1);
    nm_count(NM_EBPF_BYTES, skb->len);
    p.len = skb->len;
    if (skb->vlan_present) {
        p.key.vlan = (__u16)(skb->vlan_tci & 0x0fff);
        p.tagged = 1;
        nm_count(NM_EBPF_TAGGED, 1);
    }
    int rc = nm_parse(skb, &p, &l4, &l4proto);
    if (rc) {
        nm_count((__u32)rc, 1);
        return 0;
    }
    if ((rc = nm_parse_l4(skb, l4, l4proto, &p)) != 0) {
        nm_count((__u32)rc, 1);
        p.no_ports = 1;
    }
    if (p.fragment || p.first_fragment) {
        nm_count(NM_EBPF_FRAGMENTS, 1);
        nm_fragment_ports(&p);
    }
    __u8 side = nm_canonical(&p.key);
    rc = nm_flow_account(&p, side, cfg);
    if (rc <= 0) {
        if (rc == 0)
            nm_count(NM_EBPF_TABLE_FULL, 1);
        return 0;
    }
    nm_count(NM_EBPF_ACCOUNTED, 1);
    return 0;   /* never queued: nothing is copied to user space */
}

char LICENSE[] SEC("license") = "GPL";
