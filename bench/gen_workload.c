/*
 * bench/gen_workload.c: writes synthetic, protocol-correct pcap files for
 * `make bench` (issue 6).
 *
 * Every flow is a complete conversation as a real stack would put it on the
 * wire: TCP (RFC 9293) opens with SYN / SYN-ACK / ACK, exchanges data in
 * both directions with consistent sequence and acknowledgement numbers, and
 * closes with FIN / FIN / ACK; UDP (RFC 768) alternates requests and
 * responses.  A share of flows is IPv6 (RFC 8200) and a share carries an
 * 802.1Q tag.  IPv4 header checksums (RFC 791) and TCP/UDP checksums are
 * correct, so tshark finds nothing to complain about, and addresses come only
 * from the benchmarking ranges 198.18.0.0/15 (RFC 2544) and the
 * documentation prefix 2001:db8::/32 (RFC 3849).
 *
 * Output is classic libpcap format (microsecond stamps, Ethernet), the one
 * every peer tool in the benchmark reads.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ETH_HDR      14
#define VLAN_TAG     4
#define IPV4_HDR     20
#define IPV6_HDR     40
#define TCP_HDR      20
#define TCP_SYN_OPTS 4 /* MSS only: enough to look like a real SYN */
#define UDP_HDR      8
#define MTU          1500
#define MAX_FRAME    (ETH_HDR + VLAN_TAG + MTU)

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_PSH 0x08
#define TCP_ACK 0x10

/* Data never outruns the peer's window because each side answers before
 * sending again; a constant window keeps tshark from seeing window updates. */
#define TCP_WINDOW 65535

/* Ephemeral client ports (Linux's default range) times client addresses give
 * a unique 5-tuple to every flow, so no conversation is mistaken for port
 * reuse by any tool. */
#define CLIENT_HOSTS      65000u
#define EPHEMERAL_FIRST   32768u
#define EPHEMERAL_COUNT   28232u
#define SERVER_HOSTS      250u

struct options {
    const char *out_path;
    uint64_t flows;
    uint32_t packets_per_flow;
    uint32_t payload;
    uint64_t concurrency;
    uint32_t udp_pct, ipv6_pct, vlan_pct;
    uint32_t gap_us;
    uint64_t seed;
    bool quiet;
};

enum flow_kind { FLOW_TCP, FLOW_UDP };

/* Per-flow state is kept small because workload 2 holds a million flows
 * open at once. */
struct flow {
    uint64_t index;
    uint32_t client_seq, server_seq; /* next sequence number each side sends */
    uint32_t step;                   /* packets already written */
    uint8_t kind, ipv6, vlan;
};

struct totals {
    uint64_t packets, bytes, tcp, udp, ipv6, vlan;
};

struct writer {
    FILE *fp;
    const char *path;
    uint64_t ts_us;
    uint32_t gap_us;
    uint8_t payload[MTU];
    uint32_t payload_len;
    uint32_t payload_sum; /* one's-complement partial sum, reused by every packet */
    uint8_t frame[MAX_FRAME];
};

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);  p[3] = (uint8_t)v;
}

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
    size_t i;
    for (i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Flow attributes are a pure function of (seed, index), so a file can be
 * regenerated bit for bit and the flow's state needs no stored addresses. */
static void flow_init(struct flow *f, uint64_t index, const struct options *o)
{
    uint64_t r = splitmix64(o->seed * 0x100000001b3ULL ^ index);
    uint64_t r2 = splitmix64(r);
    memset(f, 0, sizeof *f);
    f->index = index;
    f->kind = (r % 100) < o->udp_pct ? FLOW_UDP : FLOW_TCP;
    f->ipv6 = ((r >> 8) % 100) < o->ipv6_pct;
    f->vlan = ((r >> 16) % 100) < o->vlan_pct;
    f->client_seq = (uint32_t)r2;
    f->server_seq = (uint32_t)(r2 >> 32);
}

static uint32_t client_host(const struct flow *f) { return 1 + (uint32_t)(f->index % CLIENT_HOSTS); }
static uint16_t client_port(const struct flow *f)
{
    return (uint16_t)(EPHEMERAL_FIRST + (f->index / CLIENT_HOSTS) % EPHEMERAL_COUNT);
}
static uint32_t server_host(const struct flow *f) { return 1 + (uint32_t)(f->index % SERVER_HOSTS); }
/* Ports whose Wireshark dissectors accept arbitrary bytes, so the synthetic
 * payload is never reported as a malformed application message. */
static uint16_t server_port(const struct flow *f)
{
    static const uint16_t tcp_ports[] = { 80, 8080, 5201, 9000 };
    static const uint16_t udp_ports[] = { 5201, 9001, 7777, 40000 };
    unsigned i = (unsigned)(f->index / SERVER_HOSTS) % 4;
    return f->kind == FLOW_TCP ? tcp_ports[i] : udp_ports[i];
}

/* 198.18.0.0/16 holds clients, 198.19.0.0/16 servers; both inside the
 * RFC 2544 benchmarking block. */
static void ipv4_addrs(const struct flow *f, uint8_t client[4], uint8_t server[4])
{
    uint32_t c = client_host(f), s = server_host(f);
    client[0] = 198; client[1] = 18; client[2] = (uint8_t)(c >> 8); client[3] = (uint8_t)c;
    server[0] = 198; server[1] = 19; server[2] = (uint8_t)(s >> 8); server[3] = (uint8_t)s;
}

static void ipv6_addrs(const struct flow *f, uint8_t client[16], uint8_t server[16])
{
    static const uint8_t prefix[4] = { 0x20, 0x01, 0x0d, 0xb8 };
    memset(client, 0, 16); memset(server, 0, 16);
    memcpy(client, prefix, 4); memcpy(server, prefix, 4);
    client[5] = 1; server[5] = 2;
    put32(client + 12, client_host(f));
    put32(server + 12, server_host(f));
}

struct segment {
    bool from_client;
    uint8_t tcp_flags;
    uint32_t seq, ack;
    uint32_t payload_len;
};

static size_t write_ethernet(uint8_t *p, const struct flow *f, bool from_client)
{
    /* Locally administered MACs (02:...), one per host, so L2 stays consistent
     * with L3 for tools that track MAC addresses. */
    uint8_t client_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x00 };
    uint8_t server_mac[6] = { 0x02, 0x00, 0x00, 0x01, 0x00, 0x00 };
    uint32_t c = client_host(f), s = server_host(f);
    size_t off = 12;
    client_mac[3] = (uint8_t)(c >> 16); client_mac[4] = (uint8_t)(c >> 8); client_mac[5] = (uint8_t)c;
    server_mac[4] = (uint8_t)(s >> 8); server_mac[5] = (uint8_t)s;
    memcpy(p, from_client ? server_mac : client_mac, 6);
    memcpy(p + 6, from_client ? client_mac : server_mac, 6);
    if (f->vlan) {
        put16(p + off, 0x8100);
        put16(p + off + 2, (uint16_t)(100 + f->index % 10)); /* PCP 0, DEI 0 */
        off += VLAN_TAG;
    }
    put16(p + off, f->ipv6 ? 0x86dd : 0x0800);
    return off + 2;
}

/* Builds the transport header in place and returns its length; the checksum
 * is finished by the caller once the pseudo-header sum is known. */
static size_t write_l4(uint8_t *p, const struct flow *f, const struct segment *s)
{
    uint16_t cport = client_port(f), sport = server_port(f);
    put16(p, s->from_client ? cport : sport);
    put16(p + 2, s->from_client ? sport : cport);
    if (f->kind == FLOW_UDP) {
        put16(p + 4, (uint16_t)(UDP_HDR + s->payload_len));
        put16(p + 6, 0);
        return UDP_HDR;
    }
    size_t len = TCP_HDR + ((s->tcp_flags & TCP_SYN) ? TCP_SYN_OPTS : 0);
    put32(p + 4, s->seq);
    put32(p + 8, s->ack);
    p[12] = (uint8_t)((len / 4) << 4);
    p[13] = s->tcp_flags;
    put16(p + 14, TCP_WINDOW);
    put16(p + 16, 0);
    put16(p + 18, 0);
    if (len > TCP_HDR) { /* MSS option */
        p[20] = 2; p[21] = 4;
        put16(p + 22, f->ipv6 ? MTU - IPV6_HDR - TCP_HDR : MTU - IPV4_HDR - TCP_HDR);
    }
    return len;
}

static int emit(struct writer *w, const struct flow *f, const struct segment *s, struct totals *t)
{
    uint8_t *p = w->frame;
    size_t l2 = write_ethernet(p, f, s->from_client);
    uint8_t *ip = p + l2;
    size_t ip_len = f->ipv6 ? IPV6_HDR : IPV4_HDR;
    uint8_t *l4 = ip + ip_len;
    size_t l4_hdr = write_l4(l4, f, s);
    size_t l4_len = l4_hdr + s->payload_len;
    uint8_t proto = f->kind == FLOW_TCP ? 6 : 17;
    uint32_t sum = 0;

    if (f->ipv6) {
        uint8_t c[16], sv[16];
        ipv6_addrs(f, c, sv);
        put32(ip, 0x60000000u);
        put16(ip + 4, (uint16_t)l4_len);
        ip[6] = proto;
        ip[7] = 64;
        memcpy(ip + 8, s->from_client ? c : sv, 16);
        memcpy(ip + 24, s->from_client ? sv : c, 16);
        sum = sum16(ip + 8, 32, 0);
    } else {
        uint8_t c[4], sv[4];
        ipv4_addrs(f, c, sv);
        ip[0] = 0x45; ip[1] = 0;
        put16(ip + 2, (uint16_t)(IPV4_HDR + l4_len));
        put16(ip + 4, (uint16_t)(f->index * 31 + f->step)); /* identification */
        put16(ip + 6, 0x4000);                                /* DF */
        ip[8] = 64; ip[9] = proto;
        put16(ip + 10, 0);
        memcpy(ip + 12, s->from_client ? c : sv, 4);
        memcpy(ip + 16, s->from_client ? sv : c, 4);
        put16(ip + 10, fold(sum16(ip, IPV4_HDR, 0)));
        sum = sum16(ip + 12, 8, 0);
    }
    /* Pseudo-header (RFC 793 / RFC 8200 §8.1): addresses, protocol, length. */
    sum += proto + (uint32_t)l4_len;
    sum = sum16(l4, l4_hdr, sum);
    /* The payload starts at an even offset in the segment, so its precomputed
     * sum slots straight in. */
    if (s->payload_len == w->payload_len)
        sum += w->payload_sum;
    else
        sum = sum16(w->payload, s->payload_len, sum);
    uint16_t csum = fold(sum);
    if (f->kind == FLOW_UDP && csum == 0)
        csum = 0xffff; /* zero means "no checksum" in UDP */
    put16(l4 + (f->kind == FLOW_TCP ? 16 : 6), csum);

    size_t frame_len = l2 + ip_len + l4_hdr;
    uint32_t rec[4];
    rec[0] = (uint32_t)(w->ts_us / 1000000);
    rec[1] = (uint32_t)(w->ts_us % 1000000);
    rec[2] = rec[3] = (uint32_t)(frame_len + s->payload_len);
    w->ts_us += w->gap_us;
    if (fwrite(rec, sizeof rec, 1, w->fp) != 1 || fwrite(w->frame, frame_len, 1, w->fp) != 1
        || (s->payload_len && fwrite(w->payload, s->payload_len, 1, w->fp) != 1)) {
        fprintf(stderr, "gen_workload: cannot write %s: %s\n", w->path, strerror(errno));
        return -1;
    }
    t->packets++;
    t->bytes += frame_len + s->payload_len;
    return 0;
}

/* The next TCP segment of flow f.  Layout for P packets per flow:
 * 3 handshake, max(P-6, 0) data alternating client/server, then FIN/FIN/ACK
 * when P >= 6 (with 3 <= P < 6 the connection is left open, which is what
 * the memory workload wants). */
static struct segment tcp_next(struct flow *f, uint32_t total, uint32_t payload)
{
    struct segment s = { 0 };
    uint32_t k = f->step;
    bool teardown = total >= 6;
    uint32_t data = teardown ? total - 6 : total - 3;

    if (k == 0) {
        s = (struct segment){ true, TCP_SYN, f->client_seq, 0, 0 };
        f->client_seq++;
    } else if (k == 1) {
        s = (struct segment){ false, TCP_SYN | TCP_ACK, f->server_seq, f->client_seq, 0 };
        f->server_seq++;
    } else if (k == 2) {
        s = (struct segment){ true, TCP_ACK, f->client_seq, f->server_seq, 0 };
    } else if (k < 3 + data) {
        bool client = (k - 3) % 2 == 0;
        s.from_client = client;
        s.tcp_flags = TCP_PSH | TCP_ACK;
        s.seq = client ? f->client_seq : f->server_seq;
        s.ack = client ? f->server_seq : f->client_seq;
        s.payload_len = payload;
        if (client) f->client_seq += payload; else f->server_seq += payload;
    } else if (k == 3 + data) {
        s = (struct segment){ true, TCP_FIN | TCP_ACK, f->client_seq, f->server_seq, 0 };
        f->client_seq++;
    } else if (k == 4 + data) {
        s = (struct segment){ false, TCP_FIN | TCP_ACK, f->server_seq, f->client_seq, 0 };
        f->server_seq++;
    } else {
        s = (struct segment){ true, TCP_ACK, f->client_seq, f->server_seq, 0 };
    }
    return s;
}

static struct segment udp_next(const struct flow *f, uint32_t payload)
{
    struct segment s = { 0 };
    s.from_client = f->step % 2 == 0;
    s.payload_len = payload;
    return s;
}

static int write_header(FILE *fp, const char *path)
{
    /* Native byte order: the magic tells readers which one it is. */
    uint32_t magic = 0xa1b2c3d4, snaplen = 65535, linktype = 1, zero = 0;
    uint16_t major = 2, minor = 4;
    if (fwrite(&magic, 4, 1, fp) != 1 || fwrite(&major, 2, 1, fp) != 1
        || fwrite(&minor, 2, 1, fp) != 1 || fwrite(&zero, 4, 1, fp) != 1
        || fwrite(&zero, 4, 1, fp) != 1 || fwrite(&snaplen, 4, 1, fp) != 1
        || fwrite(&linktype, 4, 1, fp) != 1) {
        fprintf(stderr, "gen_workload: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static uint64_t rng_state;
static uint64_t rng_next(void)
{
    rng_state = splitmix64(rng_state);
    return rng_state;
}

/* Keeps `concurrency` flows open and picks the next packet's flow at random
 * among them, so flows overlap at different stages as on a real link rather
 * than in lockstep. */
static int generate(const struct options *o, struct writer *w, struct totals *t)
{
    uint64_t open_max = o->concurrency < o->flows ? o->concurrency : o->flows;
    struct flow *open = calloc(open_max ? open_max : 1, sizeof *open);
    uint64_t n_open = 0, next_flow = 0;
    int rc = -1;

    if (!open) {
        fprintf(stderr, "gen_workload: out of memory for %" PRIu64 " concurrent flows\n", open_max);
        return -1;
    }
    while (n_open < open_max)
        flow_init(&open[n_open++], next_flow++, o);
    rng_state = o->seed;

    while (n_open > 0) {
        uint64_t i = rng_next() % n_open;
        struct flow *f = &open[i];
        struct segment s = f->kind == FLOW_TCP ? tcp_next(f, o->packets_per_flow, o->payload)
                                               : udp_next(f, o->payload);
        if (emit(w, f, &s, t) != 0)
            goto out;
        if (++f->step < o->packets_per_flow)
            continue;
        t->tcp += f->kind == FLOW_TCP;
        t->udp += f->kind == FLOW_UDP;
        t->ipv6 += f->ipv6;
        t->vlan += f->vlan;
        if (next_flow < o->flows)
            flow_init(f, next_flow++, o);
        else
            open[i] = open[--n_open];
    }
    rc = 0;
out:
    free(open);
    return rc;
}

static void usage(FILE *fp)
{
    fprintf(fp,
        "Usage: gen_workload -o FILE [options]\n"
        "Writes a pcap of complete, protocol-correct TCP and UDP conversations\n"
        "(198.18.0.0/15 and 2001:db8::/32) for benchmarking.\n\n"
        "  -o FILE            output pcap ('-' for standard output)\n"
        "  -f, --flows N      number of flows (default 1000)\n"
        "  -p, --packets N    packets per flow (default 13). TCP: 3 handshake,\n"
        "                     N-6 data, 3 teardown; 3..5 leaves connections open\n"
        "  -s, --payload N    payload bytes per data packet (default 256)\n"
        "  -c, --concurrency N  flows open at once, interleaved (default 1000)\n"
        "  --udp PCT          share of UDP flows (default 20)\n"
        "  --ipv6 PCT         share of IPv6 flows (default 20)\n"
        "  --vlan PCT         share of 802.1Q-tagged flows (default 10)\n"
        "  --gap-us N         microseconds between packets (default 10)\n"
        "  --seed N           random seed (default 1)\n"
        "  -q                 no summary line\n\n"
        "On success prints one line: packets=N wire_bytes=N file_bytes=N\n"
        "flows=N tcp=N udp=N ipv6=N vlan=N\n");
}

static int parse_u64(const char *name, const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || end == arg || *end || arg[0] == '-' || v < min || v > max) {
        fprintf(stderr, "gen_workload: %s needs a number from %" PRIu64 " to %" PRIu64 ", got '%s'\n",
                name, min, max, arg);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {
        { "flows", required_argument, 0, 'f' }, { "packets", required_argument, 0, 'p' },
        { "payload", required_argument, 0, 's' }, { "concurrency", required_argument, 0, 'c' },
        { "udp", required_argument, 0, 'U' }, { "ipv6", required_argument, 0, '6' },
        { "vlan", required_argument, 0, 'V' }, { "gap-us", required_argument, 0, 'g' },
        { "seed", required_argument, 0, 'S' }, { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    uint64_t v;
    int c;
    *o = (struct options){ NULL, 1000, 13, 256, 1000, 20, 20, 10, 10, 1, false };
    while ((c = getopt_long(argc, argv, "o:f:p:s:c:qh", longs, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'o': o->out_path = optarg; break;
        case 'f': bad = parse_u64("--flows", optarg, 1, 1ULL << 32, &o->flows); break;
        case 'p': bad = parse_u64("--packets", optarg, 1, 1u << 20, &v); o->packets_per_flow = (uint32_t)v; break;
        case 's': bad = parse_u64("--payload", optarg, 1, MTU - IPV6_HDR - TCP_HDR, &v); o->payload = (uint32_t)v; break;
        case 'c': bad = parse_u64("--concurrency", optarg, 1, 1ULL << 32, &o->concurrency); break;
        case 'U': bad = parse_u64("--udp", optarg, 0, 100, &v); o->udp_pct = (uint32_t)v; break;
        case '6': bad = parse_u64("--ipv6", optarg, 0, 100, &v); o->ipv6_pct = (uint32_t)v; break;
        case 'V': bad = parse_u64("--vlan", optarg, 0, 100, &v); o->vlan_pct = (uint32_t)v; break;
        case 'g': bad = parse_u64("--gap-us", optarg, 1, 1000000, &v); o->gap_us = (uint32_t)v; break;
        case 'S': bad = parse_u64("--seed", optarg, 0, UINT64_MAX, &o->seed); break;
        case 'q': o->quiet = true; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
        if (bad)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "gen_workload: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!o->out_path) {
        fprintf(stderr, "gen_workload: -o FILE is required (see --help)\n");
        return -1;
    }
    if (o->udp_pct < 100 && o->packets_per_flow < 3) {
        fprintf(stderr, "gen_workload: TCP flows need at least 3 packets (the handshake); "
                        "use -p 3 or more, or --udp 100\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    static struct writer w;
    struct totals t = { 0 };
    int rc = 1;

    if (parse_args(argc, argv, &o) != 0)
        return 2;
    bool to_stdout = strcmp(o.out_path, "-") == 0;
    w.fp = to_stdout ? stdout : fopen(o.out_path, "wb");
    w.path = to_stdout ? "standard output" : o.out_path;
    if (!w.fp) {
        fprintf(stderr, "gen_workload: cannot create %s: %s\n", o.out_path, strerror(errno));
        return 1;
    }
    /* Large stdio buffer: the generator is I/O bound and the workloads run
     * to gigabytes. */
    setvbuf(w.fp, NULL, _IOFBF, 1 << 20);
    w.ts_us = 1700000000ULL * 1000000ULL;
    w.gap_us = o.gap_us;
    w.payload_len = o.payload;
    /* Printable text: dissectors that guess from content see a plain byte
     * stream rather than something resembling a broken protocol header. */
    for (uint32_t i = 0; i < o.payload; i++)
        w.payload[i] = (uint8_t)"netmoon benchmark payload\n"[i % 26];
    w.payload_sum = sum16(w.payload, o.payload, 0);

    if (write_header(w.fp, w.path) != 0 || generate(&o, &w, &t) != 0)
        goto out;
    if (fflush(w.fp) != 0) {
        fprintf(stderr, "gen_workload: cannot write %s: %s\n", w.path, strerror(errno));
        goto out;
    }
    if (!o.quiet)
        fprintf(to_stdout ? stderr : stdout,
                "packets=%" PRIu64 " wire_bytes=%" PRIu64 " file_bytes=%" PRIu64 " flows=%" PRIu64 " tcp=%" PRIu64
                " udp=%" PRIu64 " ipv6=%" PRIu64 " vlan=%" PRIu64 "\n",
                t.packets, t.bytes, t.bytes + 24 + 16 * t.packets, o.flows, t.tcp, t.udp, t.ipv6, t.vlan);
    rc = 0;
out:
    if (!to_stdout && fclose(w.fp) != 0 && rc == 0) {
        fprintf(stderr, "gen_workload: cannot write %s: %s\n", o.out_path, strerror(errno));
        rc = 1;
    }
    return rc;
}
