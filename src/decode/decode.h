/*
 * decode.h: the contract between packet sources, decoders and the flow table.
 *
 * A source hands decode_packet() one captured frame (struct nm_frame).  The
 * decoders walk link → network → transport (→ tunnel → inner network …) and
 * fill a struct nm_packet with what the flow table needs.  Every decoder has
 * the same signature (decode_fn), reads only through bounds.h, and on a
 * malformed packet counts a named reason in struct decode_stats and returns
 * DECODE_STOP.  Nothing here allocates: the only state is the caller-owned
 * struct decode_ctx (counters, options, the bounded fragment table).
 *
 * Link types follow the tcpdump/libpcap LINKTYPE_ numbering
 * (https://www.tcpdump.org/linktypes.html).
 */
#ifndef NETMOON_DECODE_H
#define NETMOON_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode/bounds.h"

/* LINKTYPE_* values as they appear in pcap/pcapng headers. */
enum nm_linktype {
    NM_LINKTYPE_NULL = 0,         /* BSD loopback, host-order AF_ value */
    NM_LINKTYPE_ETHERNET = 1,
    NM_LINKTYPE_RAW = 101,        /* raw IPv4 or IPv6, version nibble decides */
    NM_LINKTYPE_LOOP = 108,       /* OpenBSD loopback, network-order AF_ value */
    NM_LINKTYPE_LINUX_SLL = 113,
    NM_LINKTYPE_IPV4 = 228,
    NM_LINKTYPE_IPV6 = 229,
    NM_LINKTYPE_LINUX_SLL2 = 276,
};

/* Old libpcap DLT_RAW values some files still carry instead of 101. */
#define NM_DLT_RAW_ALT1 12
#define NM_DLT_RAW_ALT2 14

/* One captured frame as a source delivers it.  data is valid until the
 * source's next call; caplen bytes of it are readable.  stable, when not
 * NULL, holds the same bytes at an address that stays valid after that
 * (a file read through a buffer but also mapped, capture/pcap_file.c):
 * decode_packet points the packet's payload and l3 there, so that a
 * packet can wait in a queue while data is reused. */
struct nm_frame {
    const uint8_t *data;
    uint32_t caplen;   /* bytes captured */
    uint32_t wirelen;  /* original length on the wire (pcap orig_len) */
    uint64_t ts_us;    /* capture time, microseconds since the epoch */
    int linktype;      /* enum nm_linktype */
    bool ts_invalid;   /* the record's sub-second field was out of range (clamped) */
    const uint8_t *stable;
};

/* Decode-problem reasons.  X(name, description): name is what --stats,
 * JSON stats records and Prometheus print, so keep names stable. */
#define DECODE_REASONS(X)                                                   \
    X(link_unsupported, "link type not supported")                          \
    X(timestamp_invalid, "capture record's sub-second field out of range")  \
    X(eth_truncated, "Ethernet header truncated")                           \
    X(vlan_truncated, "802.1Q/802.1ad tag truncated")                       \
    X(vlan_too_deep, "more than 2 VLAN tags")                               \
    X(sll_truncated, "Linux cooked (SLL) header truncated")                 \
    X(sll2_truncated, "Linux cooked v2 (SLL2) header truncated")            \
    X(loop_truncated, "loopback header truncated")                          \
    X(loop_bad_family, "loopback header names an unknown address family")   \
    X(ip_bad_version, "IP version nibble is neither 4 nor 6")               \
    X(ipv4_truncated, "IPv4 header truncated")                              \
    X(ipv4_bad_ihl, "IPv4 IHL below 5 or beyond the packet")                \
    X(ipv4_bad_total_len, "IPv4 total length below the header length")     \
    X(ipv4_bad_options, "IPv4 options malformed")                           \
    X(ipv6_truncated, "IPv6 header truncated")                              \
    X(ipv6_ext_truncated, "IPv6 extension header truncated")                \
    X(ipv6_ext_too_many, "IPv6 extension header chain too long")            \
    X(frag_oversized, "fragment ends beyond 65535 bytes")                   \
    X(frag_overlap, "fragment overlaps one already seen")                   \
    X(frag_orphan, "non-first fragment whose first fragment was not seen")  \
    X(frag_table_full, "fragment table full")                               \
    X(tcp_truncated, "TCP header truncated")                                \
    X(tcp_bad_offset, "TCP data offset below 5 or beyond the packet")       \
    X(tcp_bad_option, "TCP option malformed")                               \
    X(udp_truncated, "UDP header truncated")                                \
    X(udp_bad_len, "UDP length field inconsistent")                         \
    X(icmp_truncated, "ICMP header truncated")                              \
    X(icmpv6_truncated, "ICMPv6 header truncated")                          \
    X(gre_truncated, "GRE header truncated")                                \
    X(gre_bad_version, "GRE version not 0")                                 \
    X(vxlan_truncated, "VXLAN header truncated")                            \
    X(geneve_truncated, "Geneve header truncated")                          \
    X(tunnel_too_deep, "tunnels nested too deeply")                        \
    X(ip_truncated, "raw IP frame too short for a version nibble")          \
    X(ports_truncated, "SCTP/DCCP/UDP-Lite header shorter than its ports")  \
    X(geneve_bad_version, "Geneve version not 0")                           \
    X(mpls_truncated, "MPLS label stack truncated")                         \
    X(mpls_too_deep, "MPLS label stack deeper than 8 entries")              \
    X(pppoe_truncated, "PPPoE session header truncated")                   \
    X(erspan_truncated, "ERSPAN header truncated")                          \
    X(pim_truncated, "PIM Register header truncated")                       \
    X(etag_truncated, "802.1BR E-Tag truncated")                            \
    X(macsec_truncated, "MACsec SecTAG truncated")                          \
    X(nsh_truncated, "NSH header truncated")                                \
    X(nsh_bad_length, "NSH length below its fixed header")                  \
    X(vxlan_gpe_truncated, "VXLAN-GPE header truncated")

enum decode_reason {
#define X(name, desc) DECODE_R_##name,
    DECODE_REASONS(X)
#undef X
    DECODE_REASON_COUNT
};

const char *decode_reason_name(enum decode_reason r);
const char *decode_reason_description(enum decode_reason r);

/* Counters a decode context keeps.  Non-error skips (a frame that is not IP,
 * such as ARP or STP) are counted too, so nothing disappears silently. */
struct decode_stats {
    uint64_t frames;
    uint64_t bytes;            /* sum of wirelen */
    uint64_t non_ip;           /* well-formed frames carrying no IP */
    uint64_t decoded;          /* frames handed to the flow table */
    uint64_t fragments;        /* IP fragments seen (first and non-first) */
    uint64_t decapsulated;     /* frames whose inner packet was used */
    uint64_t reasons[DECODE_REASON_COUNT];
};

uint64_t decode_stats_errors(const struct decode_stats *s);
void decode_stats_add(struct decode_stats *into, const struct decode_stats *from);

enum nm_tunnel {
    NM_TUNNEL_NONE = 0,
    NM_TUNNEL_GRE,
    NM_TUNNEL_VXLAN,
    NM_TUNNEL_GENEVE,
    NM_TUNNEL_IPIP,   /* IPv4 in IPv4 (protocol 4) */
    NM_TUNNEL_6IN4,   /* IPv6 in IPv4 (protocol 41) */
    NM_TUNNEL_4IN6,   /* IPv4 in IPv6 (next header 4) */
    NM_TUNNEL_6IN6,   /* IPv6 in IPv6 (next header 41) */
    /* Values above are ABI (stored in records): append only. */
    NM_TUNNEL_ERSPAN,    /* ERSPAN type I/II/III over GRE */
    NM_TUNNEL_PIM,       /* PIM Register (RFC 7761 §4.9.3) */
    NM_TUNNEL_NSH,       /* Network Service Header (RFC 8300) over Ethernet */
    NM_TUNNEL_TEREDO,    /* IPv6 in UDP port 3544 (RFC 4380) */
    NM_TUNNEL_MPLS_UDP,  /* MPLS in UDP port 6635 (RFC 7510) */
    NM_TUNNEL_VXLAN_GPE, /* VXLAN Generic Protocol Extension, UDP port 4790 */
};

const char *nm_tunnel_name(enum nm_tunnel t);

/* An IPv4 address is stored IPv4-mapped (::ffff:a.b.c.d) so that one
 * 16-byte comparison serves both families. */
struct nm_addr {
    uint8_t b[16];
};

/* TCP flag bits as in the header's 9th..16th bits (RFC 9293, RFC 3168). */
enum {
    NM_TCP_FIN = 0x01, NM_TCP_SYN = 0x02, NM_TCP_RST = 0x04, NM_TCP_PSH = 0x08,
    NM_TCP_ACK = 0x10, NM_TCP_URG = 0x20, NM_TCP_ECE = 0x40, NM_TCP_CWR = 0x80,
};

/* What decode_packet() learned about one frame.
 *
 * Notes for consumers (decisions taken in src/decode/):
 * - An IPv6 packet whose addresses are ::ffff:a.b.c.d has the same nm_addr
 *   bytes as an IPv4 packet: key flows on ip_version too.
 * - ICMP/ICMPv6 never set has_ports; queries with an identifier (echo,
 *   timestamp, information, address mask) set icmp_is_echo and icmp_id.
 * - A non-first fragment gets sport/dport (has_ports) and the ICMP fields
 *   from its first fragment through the fragment table; when the first
 *   fragment was not seen it is accounted by addresses and proto only.
 * - A tunnel is decapsulated only when the outer packet is not fragmented
 *   and the inner packet decodes as IP; otherwise the outer packet is what
 *   is described here (tunnel NONE, depth 0) and the reason is counted.
 *   vlan_id/vlan_count always describe the captured wire, not an inner
 *   Ethernet frame.
 * - has_ip is true whenever a usable IP header was read, even if the
 *   transport header was truncated or malformed (reason counted). */
struct nm_packet {
    uint64_t ts_us;
    uint32_t wirelen;          /* accounted bytes: the frame as on the wire */
    uint32_t caplen;

    /* Link layer. */
    uint16_t vlan_id;          /* outermost VLAN ID, 0 when untagged */
    uint8_t vlan_count;

    /* Network layer of the packet used for the flow (inner when tunnelled). */
    bool has_ip;               /* set when src/dst/ip_version/proto are valid */
    uint8_t ip_version;        /* 4 or 6 */
    uint8_t proto;             /* IP protocol / final IPv6 next header */
    uint8_t ttl;               /* TTL or hop limit */
    struct nm_addr src, dst;
    uint32_t ip_len;           /* IP total length (v4) or 40 + payload length (v6) */

    /* Fragmentation (of the packet used for the flow). */
    bool is_fragment;
    bool is_first_fragment;    /* offset 0: carries the transport header */
    uint32_t frag_id;          /* IPv4 identification or IPv6 fragment id */

    /* Transport layer.  has_ports is set when sport/dport are meaningful
     * (TCP, UDP, SCTP-like, or filled from the fragment table). */
    bool has_ports;
    uint16_t sport, dport;
    bool has_tcp;              /* the full TCP header was decoded */
    uint8_t tcp_flags;
    uint32_t tcp_seq, tcp_ack;
    uint16_t tcp_win;
    /* TCP options (RFC 9293 §3.2, RFC 7323): valid when the flag is set. */
    bool tcp_has_mss, tcp_has_wscale, tcp_sack_permitted, tcp_has_ts;
    uint16_t tcp_mss;
    uint8_t tcp_wscale;
    uint32_t tcp_ts_val, tcp_ts_ecr;

    /* ICMP / ICMPv6 (has_icmp set when type/code were read). */
    bool has_icmp;
    bool icmp_is_echo;         /* echo request or reply: icmp_id is valid */
    bool icmp_is_request;      /* echo request (vs reply) */
    uint8_t icmp_type, icmp_code;
    uint16_t icmp_id;

    /* Transport payload within the captured bytes. */
    const uint8_t *payload;
    uint32_t payload_len;      /* captured payload bytes (pointer-safe) */
    uint32_t payload_wire_len; /* payload length per the IP/TCP headers */

    /* The IP packet used for the flow (inner when tunnelled), for
     * classifiers that take a whole IP packet (nDPI, analyze/l7_ndpi.c):
     * l3 points at its network header, l3_len bytes of it were captured
     * (never past the IP length).  l3_complete: the capture holds the whole
     * packet as its IP length field states (not cut by the snap length, not
     * a length-0 TSO/jumbo packet), so a reader trusting that field stays
     * inside the buffer. */
    const uint8_t *l3;
    uint32_t l3_len;
    bool l3_complete;

    enum nm_tunnel tunnel;     /* outermost tunnel decapsulated, if any */
    uint8_t tunnel_depth;

    /* Transport segment length per the IP header(s) (IPv4 total length or
     * IPv6 payload length minus the network headers), whatever was captured.
     * Transport decoders use it to tell a snaplen cut from a malformed
     * header; for a non-first fragment it is the fragment's data length. */
    uint32_t l4_wire_len;
};

/* Fragment table: remembers the transport ports of first fragments so that
 * later fragments of the same datagram join the right flow.  Bounded,
 * preallocated, entries expire after NM_FRAG_TIMEOUT_US of packet time. */
#define NM_FRAG_TABLE_SIZE 4096u
#define NM_FRAG_TIMEOUT_US (30ull * 1000000ull)

struct frag_entry {
    struct nm_addr src, dst;
    uint32_t id;
    uint8_t proto;
    uint8_t used;
    uint16_t sport, dport;
    uint64_t ts_us;
    /* What the first fragment carried besides ports, so that later
     * fragments of e.g. a large ping join the same ICMP flow. */
    bool has_ports;
    bool has_icmp, icmp_is_echo, icmp_is_request;
    uint8_t icmp_type, icmp_code;
    uint16_t icmp_id;
};

struct frag_table {
    struct frag_entry slots[NM_FRAG_TABLE_SIZE];
    uint64_t inserted, matched, expired;
    uint64_t evicted;          /* live entries pushed out because the probe window was full */
};

void frag_table_init(struct frag_table *t);
/* A first fragment (or unfragmented header) was seen: remember its ports.
 * Returns false when a live entry had to be evicted to make room (the
 * caller counts frag_table_full); the new entry is stored either way. */
bool frag_table_insert(struct frag_table *t, const struct nm_packet *pkt);

enum frag_insert_result {
    FRAG_INSERT_NEW,        /* stored in a free or expired slot */
    FRAG_INSERT_REFRESHED,  /* same datagram seen again with the same ports */
    FRAG_INSERT_CONFLICT,   /* same datagram, different transport header: overwritten */
    FRAG_INSERT_EVICTED,    /* stored over the oldest live entry (table full) */
};
/* frag_table_insert with the detail decoders need to count reasons. */
enum frag_insert_result frag_table_insert_detail(struct frag_table *t,
                                                 const struct nm_packet *pkt);
/* A non-first fragment: fill pkt->sport/dport if its first fragment is known. */
bool frag_table_lookup(struct frag_table *t, struct nm_packet *pkt);

struct decode_options {
    bool no_decap;             /* account tunnels by their outer packet */
};

struct decode_ctx {
    struct decode_stats stats;
    /* Sum of stats.reasons, kept as they are counted: decode_packet tells
     * a clean non-IP frame from a damaged one by whether it moved, and
     * summing the reasons twice per packet was a visible share of decoding. */
    uint64_t problems;
    struct decode_options opt;
    struct frag_table frags;
};

void decode_ctx_init(struct decode_ctx *ctx, const struct decode_options *opt);

/* Result of one decoder: keep going (the packet may be usable) or stop. */
enum decode_result { DECODE_OK = 0, DECODE_STOP = 1 };

/* The one signature every protocol decoder shares.  cur is positioned at the
 * decoder's header and bounded by what the layer below says is its payload. */
typedef enum decode_result decode_fn(struct decode_ctx *ctx, struct nm_packet *pkt,
                                     struct nm_cursor *cur);

/* Counts reason r: every decode problem is counted through here. */
static inline void decode_count(struct decode_ctx *ctx, enum decode_reason r)
{
    ctx->stats.reasons[r]++;
    ctx->problems++;
}

/* Counts reason r and returns DECODE_STOP, so decoders can write
 * `return decode_fail(ctx, DECODE_R_tcp_truncated);`. */
static inline enum decode_result decode_fail(struct decode_ctx *ctx, enum decode_reason r)
{
    decode_count(ctx, r);
    return DECODE_STOP;
}

decode_fn decode_ethernet;   /* Ethernet II + 802.1Q/802.1ad tags */
decode_fn decode_sll;        /* Linux cooked v1 */
decode_fn decode_sll2;       /* Linux cooked v2 */
decode_fn decode_loopback;   /* BSD NULL (host order) */
decode_fn decode_loop;       /* OpenBSD LOOP (network order) */
decode_fn decode_ip;         /* raw IP, version nibble decides */
decode_fn decode_ipv4;
decode_fn decode_ipv6;
decode_fn decode_tcp;
decode_fn decode_udp;
decode_fn decode_icmp;
decode_fn decode_icmpv6;
decode_fn decode_gre;
decode_fn decode_vxlan;
decode_fn decode_geneve;
decode_fn decode_mpls;       /* MPLS label stack (RFC 3032), IP below it */
decode_fn decode_pppoe;      /* PPPoE session stage (RFC 2516) carrying IP */
decode_fn decode_erspan2;    /* ERSPAN type II header, inner Ethernet frame */
decode_fn decode_erspan3;    /* ERSPAN type III header (+ platform subheader) */
decode_fn decode_pim;        /* PIM Register: the encapsulated IP packet */
decode_fn decode_etag;       /* 802.1BR E-Tag (cursor past the TPID) */
decode_fn decode_macsec;     /* MACsec SecTAG (cursor past the EtherType) */
decode_fn decode_nsh;        /* Network Service Header */
decode_fn decode_vxlan_gpe;  /* VXLAN-GPE header */
decode_fn decode_teredo;     /* Teredo indicators, then IPv6 */

/* 802.1Q / 802.1ad tags starting at cur (tpid already read): shared by
 * Ethernet and by SLL/GRE payloads whose protocol is a VLAN TPID. */
enum decode_result decode_vlan(struct decode_ctx *ctx, struct nm_packet *pkt,
                               struct nm_cursor *cur, uint16_t tpid);

/* Dispatches on an EtherType (shared by Ethernet, VLAN, SLL, SLL2, GRE). */
enum decode_result decode_ethertype(struct decode_ctx *ctx, struct nm_packet *pkt,
                                    struct nm_cursor *cur, uint16_t ethertype);
/* Dispatches on an IP protocol number after the network header. */
enum decode_result decode_ip_payload(struct decode_ctx *ctx, struct nm_packet *pkt,
                                     struct nm_cursor *cur, uint8_t proto);

/* Whether decode_packet can handle this link type. */
bool decode_linktype_supported(int linktype);
const char *decode_linktype_name(int linktype);

/* Decodes one frame into pkt.  Returns true when pkt describes an IP packet
 * the flow table should account (pkt->has_ip), false otherwise (the reason
 * or the non-IP skip has been counted). */
bool decode_packet(struct decode_ctx *ctx, const struct nm_frame *frame, struct nm_packet *pkt);
/* decode_packet without its one-pass path for the common frame
 * (fastpath.c): every layer's decoder.  For tests, which check that both
 * give the same packet and counters. */
bool decode_packet_general(struct decode_ctx *ctx, const struct nm_frame *frame,
                           struct nm_packet *pkt);

#endif
