/*
 * record.c: names and formatting shared by every output of flow records.
 */
#include "output/record.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

const char *flow_end_reason_name(enum flow_end_reason r)
{
    static const char *const names[] = {
        [FLOW_END_NONE] = "active", [FLOW_END_FIN] = "fin", [FLOW_END_RST] = "rst",
        [FLOW_END_IDLE] = "idle", [FLOW_END_ACTIVE] = "active", [FLOW_END_EVICTED] = "evicted",
        [FLOW_END_EOF] = "eof", [FLOW_END_SHUTDOWN] = "shutdown",
        [FLOW_END_IFACE_DOWN] = "iface_down",
    };
    if ((unsigned)r < sizeof(names) / sizeof(names[0]) && names[r])
        return names[r];
    return "unknown";
}

const char *record_proto_name(uint8_t proto)
{
    switch (proto) {
    case 1: return "icmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 58: return "ipv6-icmp";
    case 132: return "sctp";
    default: return NULL;
    }
}

const char record_digit_pairs[200] = {
#define RECORD_PAIRS_OF(t) \
    t, '0', t, '1', t, '2', t, '3', t, '4', t, '5', t, '6', t, '7', t, '8', t, '9'
    RECORD_PAIRS_OF('0'), RECORD_PAIRS_OF('1'), RECORD_PAIRS_OF('2'), RECORD_PAIRS_OF('3'),
    RECORD_PAIRS_OF('4'), RECORD_PAIRS_OF('5'), RECORD_PAIRS_OF('6'), RECORD_PAIRS_OF('7'),
    RECORD_PAIRS_OF('8'), RECORD_PAIRS_OF('9'),
#undef RECORD_PAIRS_OF
};

/* Each octet's text and its dot, padded to four bytes ("7.\0\0",
 * "42.\0", "255."), so an octet is one four-byte copy; and its length. */
#define RECORD_OCTET(v) \
    { (char)((v) < 10 ? '0' + (v) : (v) < 100 ? '0' + (v) / 10 : '0' + (v) / 100), \
      (char)((v) < 10 ? '.' : (v) < 100 ? '0' + (v) % 10 : '0' + (v) / 10 % 10), \
      (char)((v) < 10 ? 0 : (v) < 100 ? '.' : '0' + (v) % 10), (char)((v) < 100 ? 0 : '.') }
#define RECORD_OCTET4(v) RECORD_OCTET(v), RECORD_OCTET((v) + 1), RECORD_OCTET((v) + 2), \
    RECORD_OCTET((v) + 3)
#define RECORD_OCTET16(v) RECORD_OCTET4(v), RECORD_OCTET4((v) + 4), RECORD_OCTET4((v) + 8), \
    RECORD_OCTET4((v) + 12)
#define RECORD_OCTET64(v) RECORD_OCTET16(v), RECORD_OCTET16((v) + 16), \
    RECORD_OCTET16((v) + 32), RECORD_OCTET16((v) + 48)
static const char record_octets[256][4] = {
    RECORD_OCTET64(0), RECORD_OCTET64(64), RECORD_OCTET64(128), RECORD_OCTET64(192),
};
#define RECORD_OCTET_LEN(v) (uint8_t)(2 + ((v) >= 10) + ((v) >= 100))
#define RECORD_OCTET_LEN4(v) RECORD_OCTET_LEN(v), RECORD_OCTET_LEN((v) + 1), \
    RECORD_OCTET_LEN((v) + 2), RECORD_OCTET_LEN((v) + 3)
#define RECORD_OCTET_LEN16(v) RECORD_OCTET_LEN4(v), RECORD_OCTET_LEN4((v) + 4), \
    RECORD_OCTET_LEN4((v) + 8), RECORD_OCTET_LEN4((v) + 12)
#define RECORD_OCTET_LEN64(v) RECORD_OCTET_LEN16(v), RECORD_OCTET_LEN16((v) + 16), \
    RECORD_OCTET_LEN16((v) + 32), RECORD_OCTET_LEN16((v) + 48)
static const uint8_t record_octet_len[256] = {
    RECORD_OCTET_LEN64(0), RECORD_OCTET_LEN64(64), RECORD_OCTET_LEN64(128),
    RECORD_OCTET_LEN64(192),
};

/* Dotted quad without inet_ntop: glibc formats IPv4 through sprintf, which
 * was a visible share of writing a million records. */
static size_t record_format_v4(const uint8_t *b, char *out)
{
    size_t n = 0;

    for (unsigned i = 0; i < 4; i++) {
        memcpy(out + n, record_octets[b[i]], 4);
        n += record_octet_len[b[i]];
    }
    out[n - 1] = '\0';
    return n - 1;
}

/* The longest run of two or more zero 16-bit groups, the first of equal
 * runs (RFC 5952 §4.2.2-4.2.3): *len is 0 when there is none. */
static void record_v6_zero_run(const uint16_t w[8], unsigned *base, unsigned *len)
{
    unsigned run = 0;

    *base = 0;
    *len = 0;
    for (unsigned i = 0; i < 8; i++) {
        run = w[i] ? 0 : run + 1;
        if (run > *len && run >= 2) {
            *len = run;
            *base = i + 1 - run;
        }
    }
}

/* Two lowercase hex digits of each byte. */
#define RECORD_HEXC(x) (char)((x) < 10 ? '0' + (x) : 'a' + (x) - 10)
#define RECORD_HEX(v) { RECORD_HEXC((v) >> 4), RECORD_HEXC((v) & 15) }
#define RECORD_HEX4(v) RECORD_HEX(v), RECORD_HEX((v) + 1), RECORD_HEX((v) + 2), RECORD_HEX((v) + 3)
#define RECORD_HEX16(v) RECORD_HEX4(v), RECORD_HEX4((v) + 4), RECORD_HEX4((v) + 8), \
    RECORD_HEX4((v) + 12)
#define RECORD_HEX64(v) RECORD_HEX16(v), RECORD_HEX16((v) + 16), RECORD_HEX16((v) + 32), \
    RECORD_HEX16((v) + 48)
static const char record_hex_pairs[256][2] = {
    RECORD_HEX64(0), RECORD_HEX64(64), RECORD_HEX64(128), RECORD_HEX64(192),
};

/* A byte in hex without leading zero (1 or 2 digits). */
static inline size_t record_format_hex8(unsigned v, char *out)
{
    if (v >= 0x10) {
        memcpy(out, record_hex_pairs[v], 2);
        return 2;
    }
    out[0] = record_hex_pairs[v][1];
    return 1;
}

/* A 16-bit group in hex without leading zeros, a byte at a time. */
static inline size_t record_format_hex16(uint16_t v, char *out)
{
    if (v < 0x100)
        return record_format_hex8(v, out);
    size_t n = record_format_hex8(v >> 8, out);
    memcpy(out + n, record_hex_pairs[v & 0xff], 2);
    return n + 2;
}

/* The text glibc's inet_ntop writes, without inet_ntop, which formats each
 * group through sprintf (the largest share of formatting an IPv6 record):
 * RFC 5952's compression and lowercase hex, and like glibc the last 32 bits
 * as a dotted quad after exactly six zero groups (::a.b.c.d, also for ::1:2,
 * which RFC 5952 §5 would not) or five and ffff (::ffff:a.b.c.d); records
 * keep the text they had.  tests/unit/test_json_format.c compares the two. */
static size_t record_format_v6(const uint8_t *b, char *out)
{
    uint16_t w[8];
    unsigned base, len;
    size_t n = 0;

    for (unsigned i = 0; i < 8; i++)
        w[i] = (uint16_t)(b[2 * i] << 8 | b[2 * i + 1]);
    record_v6_zero_run(w, &base, &len);
    for (unsigned i = 0; i < 8; i++) {
        if (len && i == base) {
            out[n++] = ':';
            if (i == 0)
                out[n++] = ':';
            i += len - 1;
            continue;
        }
        if (i == 6 && base == 0 && (len == 6 || (len == 5 && w[5] == 0xffff)))
            return n + record_format_v4(b + 12, out + n);
        n += record_format_hex16(w[i], out + n);
        if (i < 7)
            out[n++] = ':';
    }
    out[n] = '\0';
    return n;
}

size_t record_format_addr(const struct nm_addr *a, uint8_t ip_version, char *out, size_t outlen)
{
    if (ip_version == 4 && outlen >= INET_ADDRSTRLEN)
        return record_format_v4(a->b + 12, out);
    if (ip_version != 4 && outlen >= INET6_ADDRSTRLEN)
        return record_format_v6(a->b, out);
    snprintf(out, outlen, "?");
    return outlen ? strlen(out) : 0;
}

void nm_l7_stats_add(struct nm_l7_stats *into, const struct nm_l7_stats *from)
{
    const uint64_t *f = (const uint64_t *)from;
    uint64_t *t = (uint64_t *)into;

    /* Every member is a uint64_t counter (checked in record.h). */
    for (size_t i = 0; i < sizeof(*into) / sizeof(uint64_t); i++)
        t[i] += f[i];
}

void nm_stats_add(struct nm_stats *into, const struct nm_stats *from)
{
    nm_l7_stats_add(&into->l7, &from->l7);
    decode_stats_add(&into->decode, &from->decode);
    into->flows_created += from->flows_created;
    into->flows_ended += from->flows_ended;
    into->flows_active += from->flows_active;
    into->evictions += from->evictions;
    into->kernel_packets += from->kernel_packets;
    into->kernel_drops += from->kernel_drops;
    into->kernel_freezes += from->kernel_freezes;
    into->ring_malformed += from->ring_malformed;
    into->filtered_out += from->filtered_out;
    into->output_stalls += from->output_stalls;
    into->ring_blocks_used += from->ring_blocks_used;
    into->ring_blocks_total += from->ring_blocks_total;
    into->l7_classifying += from->l7_classifying;
    into->l7_labelled += from->l7_labelled;
    into->l7_no_slot += from->l7_no_slot;
    into->l7_packets_skipped += from->l7_packets_skipped;
    into->pcap_written += from->pcap_written;
    into->pcap_dropped += from->pcap_dropped;
    into->ipfix_sent += from->ipfix_sent;
    into->ipfix_lost += from->ipfix_lost;
    into->procs_enabled = into->procs_enabled || from->procs_enabled;
    into->flows_attributed += from->flows_attributed;
    into->flows_unattributed += from->flows_unattributed;
    into->procs_queue_drops += from->procs_queue_drops;
    into->procs_cache_evictions += from->procs_cache_evictions;
    into->procs_bpf = into->procs_bpf || from->procs_bpf;
    into->procs_bpf_hits += from->procs_bpf_hits;
    into->ebpf_engine = into->ebpf_engine || from->ebpf_engine;
    into->ebpf_table_full += from->ebpf_table_full;
    into->ebpf_l4_truncated += from->ebpf_l4_truncated;
    into->ebpf_ends_merged += from->ebpf_ends_merged;
    into->ebpf_ends_deferred += from->ebpf_ends_deferred;
    into->ebpf_racing += from->ebpf_racing;
    into->ebpf_read_cut += from->ebpf_read_cut;
    into->ebpf_prog_stats = into->ebpf_prog_stats || from->ebpf_prog_stats;
    into->ebpf_prog_runs += from->ebpf_prog_runs;
    into->ebpf_prog_ns += from->ebpf_prog_ns;
    into->ebpf_sweeps += from->ebpf_sweeps;
    into->ebpf_sweep_ns += from->ebpf_sweep_ns;
    if (!into->procs_bpf_error[0])
        memcpy(into->procs_bpf_error, from->procs_bpf_error, sizeof(into->procs_bpf_error));
    if (from->ts_us > into->ts_us)
        into->ts_us = from->ts_us;
}
