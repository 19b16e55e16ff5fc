/*
 * ebpf_flows_shared.h: the layouts shared by the eBPF engine's kernel
 * programs (ebpf_flows.bpf.c) and its loader (ebpf_flows.c): the flow
 * map's key and value, the ring buffer's record, the configuration and the
 * per-CPU counter array's indices.  Fixed-width fields with explicit
 * padding, so both compilers lay them out alike (the loader checks the
 * map's key and value sizes against these).
 */
#ifndef NETMOON_CAPTURE_EBPF_FLOWS_SHARED_H
#define NETMOON_CAPTURE_EBPF_FLOWS_SHARED_H

#include <linux/types.h>

/* Canonical order: addr[0]:port[0] is the smaller endpoint.  IPv4
 * addresses are IPv4-mapped (::ffff:a.b.c.d).  ICMP echo: the identifier
 * in both port slots (echo = 1); other ICMP: type << 8 | code in both. */
struct nm_ebpf_key {
    __u8 addr[2][16];
    __u16 port[2];
    __u16 vlan;
    __u8 proto;
    __u8 ip_version;
    __u8 echo;
    __u8 pad[3];
};

/* A flow's counts, shared by every CPU: counters are added with atomic
 * instructions, times and the first packet's fields are plain stores.
 * Index [0]: sent by addr[0], [1]: by addr[1]. */
struct nm_ebpf_val {
    __u64 packets[2];
    __u64 bytes[2];        /* from the network header (SOCK_DGRAM's skb->len) */
    __u64 tagged[2];       /* packets whose VLAN tag the NIC held apart: +4 on the wire */
    __u64 first_ns, last_ns;   /* bpf_ktime_get_ns: CLOCK_MONOTONIC; first: since the last record */
    __u64 born_ns;         /* the flow's first packet: its records' flow_id comes from it */
    __u64 flags;           /* NM_EBPF_FLAGS_*: TCP flags per side, SYN senders */
    __u8 first_side;       /* sender of the first packet */
    __u8 icmp_type, icmp_code;  /* of the first packet (ICMP) */
    __u8 ports_unknown;    /* a fragment whose first was not seen, or a cut transport header */
    __u32 isn;             /* sequence number of the first SYN without ACK */
    __u32 claimed;         /* 1 while one path writes the flow's record (compare-and-swap) */
    __u32 pad;
};

/* The flow map is this many hash maps (shards), a flow's chosen by its
 * key's hash, so that the sweep can walk one shard per timer tick: a
 * tick's softirq then holds its CPU for 1/64 of the map's walk. */
#define NM_EBPF_SHARD_BITS 6u
#define NM_EBPF_SHARDS (1u << NM_EBPF_SHARD_BITS)

/* flags: bits 0-7 the TCP flags addr[0] sent (OR), bits 8-15 addr[1]'s,
 * bit 16 + side: that side sent a SYN without ACK.  One word, so one
 * atomic OR keeps them. */
#define NM_EBPF_FLAGS_SHIFT(side) ((side) * 8u)
#define NM_EBPF_FLAGS_SYN(side) (1ull << (16u + (side)))

/* The timeouts the programs apply (array map nm_config, one entry): a
 * packet after its flow's quiet limit, or a new connection on a tuple (port
 * reuse), ends the flow there and then, as the default engine does,
 * instead of joining it; the sweep (a BPF timer) ends the flows that are
 * due without a packet. */
struct nm_ebpf_cfg {
    __u64 idle_ns;
    __u64 close_ns;        /* once RST or FIN both ways was seen */
    __u64 active_ns;       /* --active-timeout, 0: none */
    __u64 sweep_ns;        /* how often the sweep looks at every shard; 0: stop */
    __u64 max_flows;       /* --max-flows over all shards; 0: the shards' sizes only */
    __u32 lo_ifindex;      /* loopback: its frames pass twice (out, in); 0: none */
    __u32 pad;
};

/* Why the program ended a flow (nm_ebpf_end.reason). */
enum nm_ebpf_end_reason {
    NM_EBPF_END_IDLE = 1, NM_EBPF_END_FIN, NM_EBPF_END_RST, NM_EBPF_END_ACTIVE,
};

/* A flow the program ended, sent through the ring buffer nm_ended. */
struct nm_ebpf_end {
    struct nm_ebpf_key key;
    __u8 reason;           /* enum nm_ebpf_end_reason */
    __u8 pad[3];
    struct nm_ebpf_val val;
};

/* A first fragment's ports, for the fragments after it (nm_frags). */
struct nm_ebpf_frag_key {
    __u8 addr[2][16];      /* in packet order */
    __u32 id;              /* IPv4 identification or IPv6 fragment id */
    __u8 proto;
    __u8 pad[3];
};
struct nm_ebpf_frag_val {
    __u16 port[2];
    __u8 echo;
    __u8 pad[3];
};

/* Indices of the per-CPU counter array.  The malformed-header ones are
 * reported under the default engine's decode reasons of the same name. */
enum nm_ebpf_counter {
    NM_EBPF_PACKETS,       /* frames the program ran on */
    NM_EBPF_BYTES,         /* their bytes from the network header */
    NM_EBPF_TAGGED,        /* of them, with a VLAN tag the NIC held apart */
    NM_EBPF_NOT_IP,        /* neither IPv4 nor IPv6 (ARP, LLDP...) */
    NM_EBPF_VLAN_TRUNCATED,
    NM_EBPF_IP_BAD_VERSION,
    NM_EBPF_IPV4_TRUNCATED,
    NM_EBPF_IPV4_BAD_IHL,
    NM_EBPF_IPV4_BAD_TOTAL_LEN,
    NM_EBPF_IPV6_TRUNCATED,
    NM_EBPF_IPV6_EXT_TRUNCATED,
    NM_EBPF_L4_TRUNCATED,  /* transport header cut short: accounted with ports 0 */
    NM_EBPF_TABLE_FULL,    /* packets of new flows the full map refused */
    NM_EBPF_FRAGMENTS,     /* IP fragments, first and others */
    NM_EBPF_FRAG_ORPHAN,   /* fragments whose first was not seen: ports 0 */
    NM_EBPF_ENDED,         /* flows the programs ended (timeouts, port reuse) */
    NM_EBPF_INTERIMS,      /* interim records (--active-timeout): the flow stays */
    NM_EBPF_ENDS_MERGED,   /* packets that should have ended their flow and joined it: ring full */
    NM_EBPF_ENDS_DEFERRED, /* flows a sweep left for the next one: ring full */
    NM_EBPF_RACING,        /* packets added while their flow was being written: at most these lost */
    NM_EBPF_LOOP_SKIPPED,  /* loopback's outgoing copies, not counted twice */
    NM_EBPF_IPV6_EXT_TOO_MANY,
    NM_EBPF_SWEEPS_STARTED,
    NM_EBPF_SWEEPS,        /* sweeps finished, one shard each */
    NM_EBPF_SWEEP_NS,      /* their time: the kernel's run statistics leave timer work out */
    NM_EBPF_FLOWS_CREATED, /* map entries created */
    NM_EBPF_ACCOUNTED,     /* packets added to a flow */
    NM_EBPF_COUNTERS
};

#endif
