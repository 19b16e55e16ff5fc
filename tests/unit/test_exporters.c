/*
 * test_exporters.c: pieces of the exporters that the script tests in
 * tests/export/ cannot reach one by one: HOST:PORT parsing, the IPFIX
 * message framing (RFC 7011 section 3: lengths and sequence numbers), and
 * the live -w path (pcap_tap ring into pcap_writer), read back by libpcap.
 */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hostport.h"
#include "core/pcap_tap.h"
#include "output/ipfix.h"
#include "output/pcap_writer.h"
#include "testlib.h"

static void test_hostport_forms(void)
{
    char a[] = "127.0.0.1:4739", b[] = "[2001:db8::1]:9464", c[] = "9464", d[] = ":9", e[] = "h:";
    const char *host, *port;

    CHECK(hostport_split(a, NULL, &host, &port) == 0);
    CHECK_STR(host, "127.0.0.1");
    CHECK_STR(port, "4739");
    CHECK(hostport_split(b, NULL, &host, &port) == 0);
    CHECK_STR(host, "2001:db8::1");
    CHECK_STR(port, "9464");
    CHECK(hostport_split(c, "127.0.0.1", &host, &port) == 0);
    CHECK_STR(host, "127.0.0.1");
    CHECK_STR(port, "9464");
    char c2[] = "9464";
    CHECK(hostport_split(c2, NULL, &host, &port) != 0);
    CHECK(hostport_split(d, NULL, &host, &port) != 0);
    CHECK(hostport_split(e, NULL, &host, &port) != 0);
}

static unsigned get16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

static void fill_flow(struct flow_record *r, int v)
{
    memset(r, 0, sizeof(*r));
    r->ip_version = (uint8_t)v;
    r->proto = 6;
    r->pkts[0] = 3;
    r->pkts[1] = 2;
    r->ip_bytes[0] = 300;
    r->ip_bytes[1] = 200;
}

/* Messages stay under the limit, sets add up to the message length, and
 * each header's sequence number counts the data records sent before it. */
static void test_ipfix_framing(void)
{
    struct ipfix_encoder e = { .domain = 7 };
    struct flow_record r;
    uint32_t records_before = 0;

    for (int msg = 0; msg < 3; msg++) {
        ipfix_encoder_begin(&e, msg == 0);
        unsigned flows = 0;
        for (;; flows++) {
            fill_flow(&r, flows % 3 ? 4 : 6);
            if (!ipfix_encoder_add_flow(&e, &r))
                break;
        }
        CHECK(flows > 2);
        size_t len = ipfix_encoder_finish(&e, 1000);
        CHECK(len <= IPFIX_MESSAGE_MAX);
        CHECK_EQ_U(get16(e.buf), 10);
        CHECK_EQ_U(get16(e.buf + 2), len);
        CHECK_EQ_U(get32(e.buf + 8), records_before);
        CHECK_EQ_U(get32(e.buf + 12), 7);
        size_t at = 16;
        unsigned sets = 0;
        while (at + 4 <= len) {
            unsigned sl = get16(e.buf + at + 2);
            CHECK(sl >= 4);
            if (sl < 4)
                break;
            at += sl;
            sets++;
        }
        CHECK_EQ_U(at, len);
        CHECK(sets >= 2);
        records_before += 2 * flows;    /* both directions carried packets */
    }
}

/* Packets pushed through the worker ring come out of the writer whole:
 * libpcap reads back the same times, lengths and bytes (cut to -s). */
static void test_tap_to_writer(void)
{
    char path[] = "/tmp/nm-unit-tap-XXXXXX";
    int fd = mkstemp(path);
    char err[512], perr[PCAP_ERRBUF_SIZE];
    static uint8_t data[5000];
    struct pcap_writer_config cfg = { .path = path, .snaplen = 3000 };

    CHECK(fd >= 0);
    close(fd);
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7);
    struct pcap_writer *pw = pcap_writer_open(&cfg, -1, err, sizeof(err));
    struct pcap_tap *tap = pcap_tap_create(3000);
    CHECK(pw && tap);
    if (!pw || !tap)
        return;
    uint32_t sizes[] = { 60, 2048, 4999, 1, 2040 };
    for (unsigned i = 0; i < 5; i++) {
        struct nm_frame f = { .data = data, .caplen = sizes[i], .wirelen = sizes[i] + 4,
                              .ts_us = 1700000000000000ull + i * 1500, .linktype = 1 };
        pcap_tap_push(tap, &f);
    }
    CHECK_EQ_U(pcap_tap_drain(tap, pw, 100), 5);
    CHECK_EQ_U(pcap_tap_dropped(tap), 0);
    CHECK(pcap_writer_close(pw) == 0);
    pcap_tap_destroy(tap);

    pcap_t *p = pcap_open_offline(path, perr);
    CHECK(p != NULL);
    struct pcap_pkthdr *h;
    const u_char *bytes;
    for (unsigned i = 0; p && i < 5; i++) {
        CHECK(pcap_next_ex(p, &h, &bytes) == 1);
        uint32_t want = sizes[i] < 3000 ? sizes[i] : 3000;
        CHECK_EQ_U(h->caplen, want);
        CHECK_EQ_U(h->len, sizes[i] + 4);
        CHECK_EQ_U((uint64_t)h->ts.tv_sec * 1000000 + (uint64_t)h->ts.tv_usec,
                   1700000000000000ull + i * 1500);
        CHECK(memcmp(bytes, data, want) == 0);
    }
    if (p) {
        CHECK(pcap_next_ex(p, &h, &bytes) == PCAP_ERROR_BREAK);
        pcap_close(p);
    }
    unlink(path);
}

int main(void)
{
    RUN(test_hostport_forms);
    RUN(test_ipfix_framing);
    RUN(test_tap_to_writer);
    TESTLIB_EXIT();
}
