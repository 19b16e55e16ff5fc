/*
 * record.h: the flow record, the one interface every output consumes.
 *
 * A record is a self-contained value copied out of a worker's flow table, so
 * it can cross a single-producer/single-consumer ring to the output thread
 * and outlive the flow slot it came from.  Direction is already resolved:
 * index NM_DIR_SRC is the initiator (see flow/flow_table.c for how it is
 * chosen) and NM_DIR_DST the responder.
 *
 * Outputs (JSON lines, the terminal view, IPFIX, Prometheus, pcap) implement
 * struct output_sink; the pipeline hands each record to every sink.
 */
#ifndef NETMOON_OUTPUT_RECORD_H
#define NETMOON_OUTPUT_RECORD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "decode/decode.h"

enum { NM_DIR_SRC = 0, NM_DIR_DST = 1 };

enum flow_end_reason {
    FLOW_END_NONE = 0,  /* still active (snapshots) */
    FLOW_END_FIN,       /* FIN from each side acknowledged */
    FLOW_END_RST,       /* a RST was seen */
    FLOW_END_IDLE,      /* no packet for --idle-timeout */
    FLOW_END_ACTIVE,    /* interim record after --active-timeout */
    FLOW_END_EVICTED,   /* table full: least recently used flow pushed out */
    FLOW_END_EOF,       /* end of the input file */
    FLOW_END_SHUTDOWN,  /* SIGINT/SIGTERM or --duration/-c reached */
    FLOW_END_IFACE_DOWN, /* the capture interface went down (live) */
};

const char *flow_end_reason_name(enum flow_end_reason r);
/* "tcp", "udp", "icmp", "ipv6-icmp", "sctp", or NULL (print the number). */
const char *record_proto_name(uint8_t proto);
/* Text form of an address; returns its length.  outlen >= 46. */
size_t record_format_addr(const struct nm_addr *a, uint8_t ip_version, char *out, size_t outlen);
/* "00" "01" … "99": two decimal digits at 2 * v, for formatters. */
extern const char record_digit_pairs[200];
/* Flag letters in header bit order, FSRPAUEC; returns the length.  Inline:
 * every JSON record of a TCP flow writes two. */
static inline size_t record_format_tcp_flags(uint8_t flags, char out[9])
{
    /* Bit order of the TCP header: FIN is bit 0 … CWR is bit 7.  Only the
     * set bits are visited, lowest first. */
    static const char letters[] = "FSRPAUEC";
    unsigned f = flags;
    size_t n = 0;

    for (; f; f &= f - 1)
        out[n++] = letters[__builtin_ctz(f)];
    out[n] = '\0';
    return n;
}

/* TCP analysis carried by a record (src/analyze/tcp_analysis.c fills it).
 * Arrays are indexed NM_DIR_SRC / NM_DIR_DST.  rtt_*[NM_DIR_DST] is the
 * leg from the capture point to dst and back (data or a TSval sent by src,
 * acknowledged or echoed by dst: the same leg as rtt_server_us);
 * rtt_*[NM_DIR_SRC] the leg to src (as rtt_client_us). */
#define NM_TCP_HISTORY_MAX 31
struct flow_tcp_summary {
    bool valid;                    /* the flow is TCP and was analysed */
    bool wscale_unknown;           /* no SYN and SYN-ACK seen: scale unknown */
    bool has_handshake_rtt;        /* rtt_server/client/handshake are set */
    uint8_t tcp_state;             /* enum tcp_state (analyze/tcp_state.h) */
    uint8_t wscale[2];             /* valid unless wscale_unknown */
    char conn_state[8];            /* Zeek conn_state */
    char history[NM_TCP_HISTORY_MAX + 1]; /* Zeek history */
    uint32_t rtt_server_us, rtt_client_us, rtt_handshake_us;
    uint32_t rtt_samples[2], rtt_min_us[2], rtt_avg_us[2], rtt_max_us[2], rtt_last_us[2];
    uint32_t retrans[2], out_of_order[2], dup_acks[2], zero_window[2], keepalives[2], rsts[2];
    uint64_t payload_bytes[2];     /* Zeek orig_bytes/resp_bytes: from sequence numbers */
    uint64_t missed_bytes;         /* Zeek missed_bytes: acknowledged but never seen */
};

/* Application label from nDPI (analyze/l7_ndpi.c fills it; names come
 * from analyze/l7_ndpi.h).  Ids are nDPI 4.2's protocol, category and
 * confidence numbers. */
enum flow_l7_state {
    FLOW_L7_NONE = 0,          /* L7 off (--no-l7) */
    FLOW_L7_CLASSIFYING,       /* nDPI has not decided yet (snapshots, interim records) */
    FLOW_L7_DONE,              /* master/app/category/confidence are set */
    FLOW_L7_NO_SLOT,           /* not classified: the classifier pool was full (counted) */
};
struct flow_l7_label {
    uint8_t state;             /* enum flow_l7_state */
    uint8_t category, confidence;
    uint16_t master, app;
};

/* Application metadata from netmoon's own parsers (src/analyze/l7*.c).
 * Strings live in one bounded text area, addressed per field by offset and
 * length (length 0: absent); list fields (alpn, dns_answers) separate their
 * items with NM_L7_LIST_SEP.  What did not fit is counted (l7_truncated). */
enum nm_l7_proto {
    NM_L7_NONE = 0, NM_L7_TLS, NM_L7_HTTP, NM_L7_DNS, NM_L7_SSH, NM_L7_QUIC,
};
enum nm_l7_field {
    NM_L7_SNI, NM_L7_ALPN, NM_L7_HTTP_HOST, NM_L7_HTTP_METHOD, NM_L7_HTTP_PATH,
    NM_L7_DNS_QNAME, NM_L7_DNS_ANSWERS, NM_L7_SSH_CLIENT, NM_L7_SSH_SERVER,
    NM_L7_FIELD_COUNT
};
#define NM_L7_TEXT_MAX 448
#define NM_L7_LIST_SEP '\x1f'
struct flow_l7_summary {
    uint8_t proto;                 /* enum nm_l7_proto; NONE: nothing parsed */
    bool has_dns_qtype, has_dns_rcode, has_dns_ttl;
    uint8_t dns_rcode;
    uint16_t dns_qtype;
    uint16_t http_status;          /* 0: no response status seen */
    uint16_t tls_version;          /* highest offered in the ClientHello, 0: none */
    bool has_ja4;
    char ja4[36];                  /* JA4 of the ClientHello (has_ja4), not NUL-terminated */
    uint32_t dns_ttl_min;          /* smallest TTL of the address answers (has_dns_ttl) */
    uint16_t off[NM_L7_FIELD_COUNT], len[NM_L7_FIELD_COUNT];
    uint16_t used;                 /* bytes of text taken */
    char text[NM_L7_TEXT_MAX];
};

/* Field f of s (not NUL-terminated), or NULL when absent. */
static inline const char *flow_l7_field(const struct flow_l7_summary *s, enum nm_l7_field f,
                                        size_t *len)
{
    *len = s->len[f];
    return s->len[f] ? s->text + s->off[f] : NULL;
}

/* The local program owning a flow's socket (src/procs/): set by the output
 * thread just before sinks see the record; pid 0 when unknown.  cmdline is
 * /proc/PID/cmdline with NULs as spaces, cut to NM_OWNER_CMDLINE_MAX - 1
 * bytes (owner_cmdline_cut says so). */
#define NM_OWNER_COMM_MAX 16
#define NM_OWNER_CMDLINE_MAX 256
struct flow_owner {
    int32_t pid;
    bool cmdline_cut;
    char comm[NM_OWNER_COMM_MAX];
    char cmdline[NM_OWNER_CMDLINE_MAX];
};

struct flow_record {
    uint64_t ts_start_us, ts_end_us;
    uint8_t ip_version;
    uint8_t proto;
    uint16_t vlan_id;          /* 0: untagged */
    uint8_t tunnel;            /* enum nm_tunnel */
    uint8_t end_reason;        /* enum flow_end_reason */
    struct nm_addr addr[2];    /* [NM_DIR_SRC], [NM_DIR_DST] */
    uint16_t port[2];          /* TCP/UDP ports; ICMP: type and code of the first src packet */
    bool has_icmp;
    /* A port-based protocol whose transport header no packet of the flow
     * carried (truncated captures, fragments whose first fragment was not
     * seen): accounted by address and protocol, ports shown as 0. */
    bool ports_unknown;
    uint8_t icmp_type, icmp_code;
    uint16_t icmp_id;          /* valid when icmp_is_echo */
    bool icmp_is_echo;
    bool icmp_first_from_dst;  /* the type/code above were sent by dst */
    uint64_t pkts[2];
    uint64_t bytes[2];         /* frame bytes as captured on the wire (orig_len) */
    uint64_t ip_bytes[2];      /* IP-layer bytes, for IPFIX octet counts */
    uint8_t tcp_flags[2];      /* OR of all flags sent by each side */
    uint64_t flow_id;          /* unique within a run: worker << 56 | sequence */
    uint64_t kernel_drops_seen;/* live: kernel drops so far when written (0: none, counts complete) */
    struct flow_tcp_summary tcp;
    struct flow_l7_label app;   /* nDPI application label */
    struct flow_l7_summary l7;  /* netmoon's own parsers: SNI, Host, DNS... */
    struct flow_owner owner;
};

/* Reassembly and L7 parser counters (src/analyze/l7.c, reassembly.c). */
struct nm_l7_stats {
    uint64_t flows;            /* flows a parser took */
    uint64_t flows_refused;    /* no L7 slot free (bounded by --max-flows) */
    uint64_t streams_refused;  /* no reassembly stream free: flow not parsed */
    uint64_t truncated;        /* a text field cut or left out for lack of room */
    uint64_t budget_exhausted; /* parser unfinished after its byte or segment budget */
    uint64_t gap_abandoned;    /* parser stopped at a hole in the stream */
    uint64_t malformed;        /* a parser met data that breaks its protocol */
    uint64_t quic_decrypt_failed; /* QUIC Initial that did not authenticate */
    uint64_t stream_files;     /* --streams: files written */
    uint64_t stream_write_errors; /* --streams: files not created or writes that failed */
    uint64_t reasm_gaps, reasm_gap_bytes, reasm_overlap_bytes, reasm_refused_bytes;
    uint64_t reasm_out_of_window;
};

_Static_assert(sizeof(struct nm_l7_stats) % sizeof(uint64_t) == 0,
               "nm_l7_stats holds only uint64_t counters");
void nm_l7_stats_add(struct nm_l7_stats *into, const struct nm_l7_stats *from);

/* Process-wide counters an output may report (stats records, --stats,
 * Prometheus, the view's header).  Filled by the pipeline. */
struct nm_stats {
    uint64_t ts_us;             /* when these were taken (packet or wall time) */
    struct decode_stats decode;
    uint64_t flows_created;
    uint64_t flows_ended;
    uint64_t flows_active;
    uint64_t evictions;         /* flows pushed out by --max-flows */
    uint64_t kernel_packets;    /* live capture: PACKET_STATISTICS tp_packets */
    uint64_t kernel_drops;      /* tp_drops */
    uint64_t kernel_freezes;    /* tp_freeze_q_cnt */
    uint64_t ring_malformed;    /* live: ring entries whose header failed the bounds checks, skipped */
    uint64_t filtered_out;      /* packets the filter rejected (offline) */
    uint64_t output_stalls;     /* live: times a worker waited for the output thread */
    uint64_t ring_blocks_used;  /* live: capture ring blocks filled and not yet walked */
    uint64_t ring_blocks_total; /* live: capture ring blocks, all sockets */
    uint64_t l7_classifying;    /* flows nDPI is looking at now */
    uint64_t l7_labelled;       /* flows nDPI decided on */
    uint64_t l7_no_slot;        /* flows left unclassified: classifier pool full */
    uint64_t l7_packets_skipped;/* packets not given to nDPI (cut short, non-first fragments) */
    uint64_t pcap_written;      /* -w: packets written */
    uint64_t pcap_dropped;      /* -w: packets not written (queue full, write error, link type) */
    uint64_t ipfix_sent;        /* --ipfix: data records sent */
    uint64_t ipfix_lost;        /* --ipfix: data records whose message could not be sent */
    struct nm_l7_stats l7;
    /* Process attribution (src/procs/), live without --no-procs only. */
    bool procs_enabled;
    uint64_t flows_attributed;  /* records of local flows given an owner */
    uint64_t flows_unattributed;/* records of local flows whose owner was not found */
    uint64_t procs_queue_drops; /* new-flow notices or results a full ring refused */
    uint64_t procs_cache_evictions; /* unused attributions pushed out of a full cache */
    bool procs_bpf;             /* the eBPF owner source is loaded (else sock_diag + /proc only) */
    uint64_t procs_bpf_hits;    /* flows whose owner came from the eBPF source */
    char procs_bpf_error[128];  /* why not, when !procs_bpf (outputs escape it) */
    /* --engine ebpf (src/core/live_ebpf.c). */
    bool ebpf_engine;
    uint64_t ebpf_table_full;   /* packets of new flows the full flow map refused */
    uint64_t ebpf_l4_truncated; /* transport headers cut short: accounted with ports 0 */
    uint64_t ebpf_ends_merged;  /* packets that should have ended their flow and joined it: ring full */
    uint64_t ebpf_ends_deferred;/* flows a sweep left for the next one: ring full */
    uint64_t ebpf_racing;       /* packets added while their flow was written: at most these lost */
    uint64_t ebpf_read_cut;     /* flows a read of the map could not hold */
    bool ebpf_prog_stats;       /* the program's run counts could be read */
    uint64_t ebpf_prog_runs;    /* counted while kernel.bpf_stats_enabled is 1 */
    uint64_t ebpf_prog_ns;      /* the program's run time then */
    uint64_t ebpf_sweeps;       /* the kernel's sweeps for due flows (a BPF timer) */
    uint64_t ebpf_sweep_ns;     /* their time, measured by the sweep itself */
};

/* Adds the counters of from into into; ts_us becomes the later of the two. */
void nm_stats_add(struct nm_stats *into, const struct nm_stats *from);

/* The end of one worker's periodic snapshot (see core/view_feed.h). */
struct nm_snapshot_end {
    unsigned source;            /* worker id: the top byte of its flow_ids */
    uint64_t ts_us;             /* when it was taken (packet or wall time) */
    uint64_t active;            /* flows in that worker's table */
    uint64_t sent;              /* records sent: fewer than active when capped */
    struct nm_stats stats;      /* that worker's cumulative counters */
};

struct output_sink {
    const char *name;
    void *state;
    /* Returns 0, or -1 after reporting a write error once. */
    int (*write_flow)(struct output_sink *s, const struct flow_record *r);
    int (*write_stats)(struct output_sink *s, const struct nm_stats *st);
    int (*flush)(struct output_sink *s);
    void (*close)(struct output_sink *s);
    /* Optional, for views: a worker's active flows (end_reason NONE) as a
     * begin / flows / end sequence, and a call from the output loop's idle
     * moments (keys, redraw).  NULL when the sink has no use for them. */
    void (*snapshot_begin)(struct output_sink *s, unsigned source, uint64_t ts_us);
    void (*snapshot_flow)(struct output_sink *s, const struct flow_record *r);
    void (*snapshot_end)(struct output_sink *s, const struct nm_snapshot_end *e);
    void (*tick)(struct output_sink *s);
    /* Optional: the current counters, about once a second while capturing
     * live (write_stats gets them only with each stats record). */
    void (*update_stats)(struct output_sink *s, const struct nm_stats *st);
    /* Optional: close and reopen output files (SIGHUP, after logrotate
     * moved them); whole records only ever reach either file. */
    void (*reopen)(struct output_sink *s);
    /* Optional: adds the sink's own counters (records sent, lost) into st. */
    void (*collect_stats)(struct output_sink *s, struct nm_stats *st);
};

#endif
