/*
 * test_decode_pcaps.c: decode_packet() against an oracle we did not write.
 *
 * Real captures from ../shared/pcaps (tcpdump and suricata-verify suites)
 * are read with libpcap and decoded; tshark decodes the same files and,
 * for every frame with an IP layer the innermost addresses must agree, and
 * the ports too when that layer carries TCP or UDP.  Frames tshark
 * dissects in ways netmoon deliberately does not (ICMP errors, whose quoted
 * packet tshark shows as the innermost IP; PIM Null-Registers;
 * malformed frames) are left out of the comparison, and the
 * files were chosen to exercise the link types (Ethernet, VLAN, SLL, SLL2,
 * NULL, RAW, IPV4), E-Tag, MACsec, PPPoE, fragments, IPv6 extension headers and tunnels
 * (GRE, WCCP GRE, ERSPAN I/II/III, PIM Register, NSH, VXLAN, VXLAN-GPE,
 * Geneve, MPLS in UDP, Teredo, GSO-sized frames).  Skipped when tshark or
 * the captures are missing.
 */
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"
#include "testlib.h"

static const char *const files[] = {
    "suricata-verify/bug-4810--pppoe-session-http.pcap",
    "suricata-verify/bug-5633-gre-01--gre-udp.pcap",
    "suricata-verify/bug-5633-gre-02--gre-sample.pcap",
    "suricata-verify/decode-sll2-01.pcap",
    "suricata-verify/eve-flow-vlan.pcap",
    "suricata-verify/exception-policy-defrag-01--ipv4frags.pcap",
    "suricata-verify/flow-pkt-recursion--tunnel-pkt-flows.pcap",
    "suricata-verify/vxlan-decoder-03--vxlan.pcap",
    "suricata-verify/vxlan-non-zero-reserved-fields.pcap",
    "suricata-verify/quic-frag.pcap",
    "suricata-verify/linktype-228--flow-test-01.pcap",
    "tcpdump/geneve.pcap",
    "tcpdump/geneve-gcp.pcap",
    "tcpdump/gso-ipv4-vxlan-ipv6.pcap",
    "tcpdump/gso-ipv6-geneve-ipv4.pcap",
    "tcpdump/wccp_redirect_gre.pcap",
    "tcpdump/ipv6_jumbogram_1.pcap",
    "tcpdump/ipv6_mobility_1.pcap",
    "tcpdump/quic_handshake.pcap",
    "tcpdump/babel.pcap",
    "tcpdump/mptcp-tcprst.pcap",
    "tcpdump/LINKTYPE_RAW_ipv6.pcap",
    "tcpdump/LINKTYPE_RAW_ipv4.pcap",
    "suricata-verify/bug-5437-01.pcap",
    "suricata-verify/bug-5437-02.pcap",
    "tcpdump/erspan-type-i-1.pcap",
    "tcpdump/erspan-type-i-4.pcap",
    "tcpdump/erspan-type-ii-1.pcap",
    "tcpdump/erspan-type-ii-2.pcap",
    "tcpdump/erspan-type-iii-ft-0.pcap",
    "tcpdump/erspan-type-iii-ft-7.pcap",
    "tcpdump/pim-packet-assortment.pcap",
    "suricata-verify/decode-etag-01.pcap",
    "suricata-verify/decode-etag-02.pcap",
    "tcpdump/macsec-integonly.pcap",
    "tcpdump/macsec-short-longer.pcap",
    "tcpdump/macsec-short-shorter.pcap",
    "tcpdump/macsec-short-valid.pcap",
    "tcpdump/nsh.pcap",
    "tcpdump/nsh-over-vxlan-gpe.pcap",
    "suricata-verify/decode-nsh-type1.pcap",
    "suricata-verify/decode-nsh-type2.pcap",
    "tcpdump/mpls-over-udp.pcap",
    "suricata-verify/decode-teredo-01.pcap",
    "suricata-verify/detect-ipopts.pcap",
    "tcpdump/LINKTYPE_IPV4_invalid.pcap",
};

#define MAX_FRAMES 4096

struct expect {
    bool usable;
    char src[64], dst[64];
    unsigned sport, dport;
    bool has_ports;
};

static struct expect expected[MAX_FRAMES + 1];
static struct decode_ctx ctx;

/* Splits s at tabs into at most n fields (in place). */
static int split_tabs(char *s, char **f, int n)
{
    int k = 0;
    f[k++] = s;
    for (char *p = s; *p && k < n; p++) {
        if (*p == '\t') {
            *p = '\0';
            f[k++] = p + 1;
        } else if (*p == '\n') {
            *p = '\0';
        }
    }
    for (char *p = f[k - 1]; *p; p++)
        if (*p == '\n')
            *p = '\0';
    return k;
}

/* The last network and transport names in tshark's frame.protocols. */
static void innermost(const char *protocols, char *net, char *l4, bool *skip)
{
    static const char *const excluded[] = { "_ws.malformed", "_ws.short", "cmd" };
    bool in_icmp = false;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", protocols);
    net[0] = l4[0] = '\0';
    *skip = false;
    for (char *tok = strtok(buf, ":"); tok; tok = strtok(NULL, ":")) {
        for (size_t i = 0; i < sizeof excluded / sizeof *excluded; i++)
            if (strcmp(tok, excluded[i]) == 0)
                *skip = true;
        if (strcmp(tok, "icmp") == 0 || strcmp(tok, "icmpv6") == 0)
            in_icmp = true;
        if (strcmp(tok, "ip") == 0 || strcmp(tok, "ipv6") == 0) {
            if (in_icmp)
                *skip = true; /* an ICMP error quoting a packet */
            strcpy(net, tok);
            l4[0] = '\0';
        }
        if (strcmp(tok, "tcp") == 0 || strcmp(tok, "udp") == 0)
            strcpy(l4, tok);
    }
}

static bool load_tshark(const char *path)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "tshark -n -r '%s' -o ip.defragment:FALSE -o ipv6.defragment:FALSE -T fields "
             "-E occurrence=l -e frame.number -e frame.protocols -e ip.src -e ip.dst "
             "-e ipv6.src -e ipv6.dst -e tcp.srcport -e tcp.dstport -e udp.srcport "
             "-e udp.dstport -e pim.register_flag.null_register 2>/dev/null",
             path);
    FILE *in = popen(cmd, "r");
    if (!in)
        return false;
    memset(expected, 0, sizeof expected);
    char line[2048];
    int rows = 0;
    while (fgets(line, sizeof line, in)) {
        char *f[11];
        if (split_tabs(line, f, 11) < 11)
            continue;
        long n = strtol(f[0], NULL, 10);
        if (n <= 0 || n > MAX_FRAMES)
            continue;
        rows++;
        char net[16], l4[16];
        bool skip;
        innermost(f[1], net, l4, &skip);
        struct expect *e = &expected[n];
        /* A PIM Null-Register's dummy header is not traffic: netmoon
         * accounts the outer PIM packet (see src/decode/pim.c). */
        if (skip || net[0] == '\0' || strcmp(f[10], "1") == 0)
            continue;
        bool v4 = strcmp(net, "ip") == 0;
        snprintf(e->src, sizeof e->src, "%s", v4 ? f[2] : f[4]);
        snprintf(e->dst, sizeof e->dst, "%s", v4 ? f[3] : f[5]);
        bool tcp = strcmp(l4, "tcp") == 0;
        e->has_ports = l4[0] != '\0';
        if (e->has_ports) {
            e->sport = (unsigned)strtoul(tcp ? f[6] : f[8], NULL, 10);
            e->dport = (unsigned)strtoul(tcp ? f[7] : f[9], NULL, 10);
        }
        e->usable = e->src[0] && e->dst[0];
    }
    return pclose(in) == 0 && rows > 0;
}

static void format_addr(const struct nm_packet *p, const struct nm_addr *a, char *out, size_t n)
{
    if (p->ip_version == 4)
        inet_ntop(AF_INET, a->b + 12, out, (socklen_t)n);
    else
        inet_ntop(AF_INET6, a->b, out, (socklen_t)n);
}

/* Returns the number of frames compared, or -1 when the file could not be
 * read; mismatches are reported through CHECK. */
static int compare_file(const char *path)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(path, err);
    if (!pc)
        return -1;
    decode_ctx_init(&ctx, NULL);
    int linktype = pcap_datalink(pc), compared = 0;
    struct pcap_pkthdr *h;
    const u_char *data;
    for (int n = 1; n <= MAX_FRAMES && pcap_next_ex(pc, &h, &data) == 1; n++) {
        struct nm_frame f = { data, h->caplen, h->len,
                              (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec, linktype, false, NULL };
        struct nm_packet p;
        bool ok = decode_packet(&ctx, &f, &p);
        const struct expect *e = &expected[n];
        if (!e->usable)
            continue;
        char src[64], dst[64];
        src[0] = dst[0] = '\0';
        if (ok) {
            format_addr(&p, &p.src, src, sizeof src);
            format_addr(&p, &p.dst, dst, sizeof dst);
        }
        bool same = ok && strcmp(src, e->src) == 0 && strcmp(dst, e->dst) == 0;
        if (e->has_ports)
            same = same && p.has_ports && p.sport == e->sport && p.dport == e->dport;
        if (!same)
            printf("# %s frame %d: netmoon %s:%u > %s:%u, tshark %s:%u > %s:%u\n", path, n, src,
                   p.sport, dst, p.dport, e->src, e->sport, e->dst, e->dport);
        CHECK(same);
        compared++;
    }
    pcap_close(pc);
    return compared;
}

int main(void)
{
    const char *root = getenv("SHARED_PCAPS");
    if (!root)
        root = "../shared/pcaps";
    if (system("command -v tshark >/dev/null 2>&1") != 0) {
        printf("SKIP test_decode_pcaps: tshark not installed (scripts/install-deps.sh)\n");
        return 0;
    }
    int total = 0;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", root, files[i]);
        testlib_current = files[i];
        testlib_current_failed = 0;
        if (!load_tshark(path)) {
            printf("SKIP %s: not readable by tshark (is %s populated?)\n", files[i], root);
            continue;
        }
        int compared = compare_file(path);
        CHECK(compared > 0);
        total += compared > 0 ? compared : 0;
        if (testlib_current_failed)
            testlib_failures++;
        else
            printf("PASS %s (%d frames agree with tshark)\n", files[i], compared);
    }
    printf("# %d frames compared\n", total);
    TESTLIB_EXIT();
}
