/*
 * test_l7.c: netmoon's own L7 parsers (src/analyze/l7*.c), alone and
 * through the flow table: a ClientHello split over three segments that
 * arrive out of order, an HTTP request cut inside its Host header, DNS over
 * UDP, every prefix of a message answering "more", a DNS pointer loop, an
 * unknown protocol giving its slot back, and hostile text escaped in JSON.
 * Messages are built field by field from the RFCs' layouts; the golden
 * test (tests/golden/test_l7_fields.sh) checks real captures against tshark.
 */
#include <stdlib.h>
#include <string.h>

#include "analyze/l7_ja4.h"
#include "analyze/l7_parsers.h"
#include "flow/flow_table.h"
#include "output/json.h"
#include "testlib.h"

/* ---- building messages ------------------------------------------------- */

struct buf {
    uint8_t b[2048];
    size_t n;
};

static void put(struct buf *o, const void *p, size_t n)
{
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void put_be(struct buf *o, uint32_t v, int width)
{
    for (int i = width - 1; i >= 0; i--)
        o->b[o->n++] = (uint8_t)(v >> (8 * i));
}

/* Writes a length of `width` bytes at `at` covering everything after it. */
static void patch_len(struct buf *o, size_t at, int width)
{
    size_t v = o->n - at - (size_t)width;
    for (int i = 0; i < width; i++)
        o->b[at + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

/* RFC 8446 §4.1.2 ClientHello in one record, SNI "www.example.test",
 * ALPN h2 + http/1.1, supported_versions GREASE, 1.3, 1.2; with grease, a
 * GREASE cipher suite and a GREASE extension too (RFC 8701). */
static void client_hello_ex(struct buf *o, bool grease)
{
    static const char host[] = "www.example.test";
    size_t rec, hs, exts, ext, list;

    o->n = 0;
    put(o, "\x16\x03\x01", 3);
    rec = o->n; put_be(o, 0, 2);
    put(o, "\x01", 1);
    hs = o->n; put_be(o, 0, 3);
    put(o, "\x03\x03", 2);
    for (int i = 0; i < 32; i++)
        put(o, "\x5a", 1);
    put(o, "\x00", 1);                          /* session id */
    if (grease)
        put(o, "\x00\x06\x0a\x0a\x13\x01\x13\x02", 8);
    else
        put(o, "\x00\x04\x13\x01\x13\x02", 6);  /* cipher suites */
    put(o, "\x01\x00", 2);                      /* compression: null */
    exts = o->n; put_be(o, 0, 2);
    if (grease)
        put(o, "\x1a\x1a\x00\x00", 4);            /* an empty GREASE extension */
    put_be(o, 16, 2);                           /* ALPN first: order must not matter */
    ext = o->n; put_be(o, 0, 2);
    list = o->n; put_be(o, 0, 2);
    put(o, "\x02h2\x08http/1.1", 12);
    patch_len(o, list, 2);
    patch_len(o, ext, 2);
    put_be(o, 0, 2);                            /* server_name */
    ext = o->n; put_be(o, 0, 2);
    list = o->n; put_be(o, 0, 2);
    put(o, "\x00", 1);
    put_be(o, sizeof(host) - 1, 2);
    put(o, host, sizeof(host) - 1);
    patch_len(o, list, 2);
    patch_len(o, ext, 2);
    put_be(o, 43, 2);                           /* supported_versions */
    put(o, "\x00\x07\x06\x3a\x3a\x03\x04\x03\x03", 9);
    patch_len(o, exts, 2);
    patch_len(o, hs, 3);
    patch_len(o, rec, 2);
}

static void client_hello(struct buf *o)
{
    client_hello_ex(o, false);
}

static const char *field(const struct flow_l7_summary *s, enum nm_l7_field f, char *out)
{
    size_t n;
    const char *v = flow_l7_field(s, f, &n);
    if (!v)
        return "(absent)";
    memcpy(out, v, n);
    out[n] = '\0';
    return out;
}

/* ---- parsers alone ----------------------------------------------------- */

/* JA4's first part by hand from FoxIO's specification: t(CP), 13 (the
 * highest supported_versions entry, GREASE left out), d (server_name
 * present), 02 cipher suites, 03 extensions, h2 (first and last character
 * of the first ALPN value); GREASE changes nothing.  The hashes are checked
 * against Suricata's in tests/golden/test_ja4.sh. */
static void test_tls_ja4(void)
{
    struct flow_l7_summary plain, greased;
    struct nm_l7_stats st;
    struct buf ch;

    memset(&st, 0, sizeof(st));
    for (int g = 0; g < 2; g++) {
        struct flow_l7_summary *s = g ? &greased : &plain;
        client_hello_ex(&ch, g);
        memset(s, 0, sizeof(*s));
        struct l7_input in = { .data = ch.b, .len = ch.n, .is_stream = true, .from_initiator = true };
        CHECK(l7_parse_tls(&in, s, &st) == L7_DONE);
        CHECK(s->has_ja4);
    }
    CHECK(memcmp(plain.ja4, "t13d0203h2_", 11) == 0);
    CHECK(plain.ja4[23] == '_');
    CHECK(memcmp(plain.ja4, greased.ja4, sizeof(plain.ja4)) == 0);
}

/* Counts stop at 99; an ALPN value that does not start and end with a
 * letter or digit gives the first and last hex digit of its bytes; empty
 * lists hash to twelve zeros. */
static void test_ja4_edges(void)
{
    static const uint8_t alpn[] = { 0xab, 0x00, 0xcd };
    static struct l7_ja4_hello h;
    char out[L7_JA4_LEN];

    memset(&h, 0, sizeof(h));
    h.transport = 'q';
    h.version = 0x0303;
    h.alpn = alpn;
    h.alpn_len = sizeof(alpn);
    h.nciphers = 120;
    for (unsigned i = 0; i < h.nciphers; i++)
        h.ciphers[i] = (uint16_t)(0x1000 + i);
    CHECK(l7_ja4_format(&h, out));
    CHECK(memcmp(out, "q12i9900ad_", 11) == 0);
    CHECK(memcmp(out + 23, "_000000000000", 13) == 0);
    h.nciphers = 0;
    CHECK(l7_ja4_format(&h, out));
    CHECK(memcmp(out + 10, "_000000000000_", 14) == 0);
    h.truncated = true;
    CHECK(!l7_ja4_format(&h, out));
}

static void test_tls_client_hello(void)
{
    struct buf ch;
    struct flow_l7_summary s;
    struct nm_l7_stats st;
    char tmp[NM_L7_TEXT_MAX + 1];

    client_hello(&ch);
    memset(&s, 0, sizeof(s));
    memset(&st, 0, sizeof(st));
    struct l7_input in = { .data = ch.b, .len = ch.n, .is_stream = true, .from_initiator = true };
    CHECK(l7_parse_tls(&in, &s, &st) == L7_DONE);
    CHECK_STR(field(&s, NM_L7_SNI, tmp), "www.example.test");
    CHECK_STR(field(&s, NM_L7_ALPN, tmp), "h2\x1fhttp/1.1");
    CHECK_EQ_U(s.tls_version, 0x0304);
    /* Every shorter prefix asks for more and writes nothing. */
    unsigned bad = 0;
    for (size_t n = 0; n < ch.n; n++) {
        struct flow_l7_summary p;
        memset(&p, 0, sizeof(p));
        in.len = n;
        if (l7_parse_tls(&in, &p, &st) != L7_MORE || p.used != 0)
            bad++;
    }
    CHECK_EQ_U(bad, 0);
}

static void test_http_prefixes_and_status(void)
{
    static const char req[] = "GET /a/b?c=d HTTP/1.1\r\nAccept: */*\r\nhOsT:  Example.Test:8080 \r\n\r\n";
    static const char resp[] = "HTTP/1.0 301 Moved\r\n\r\n";
    struct flow_l7_summary s;
    struct nm_l7_stats st;
    char tmp[NM_L7_TEXT_MAX + 1];
    unsigned bad = 0;

    memset(&st, 0, sizeof(st));
    struct l7_input in = { .data = (const uint8_t *)req, .is_stream = true };
    for (size_t n = 0; n < sizeof(req) - 1; n++) {
        memset(&s, 0, sizeof(s));
        in.len = n;
        enum l7_verdict v = l7_parse_http(&in, &s, &st);
        /* Done only once the Host line is whole. */
        if (v != L7_MORE && !(v == L7_DONE && n >= sizeof(req) - 5))
            bad++;
    }
    CHECK_EQ_U(bad, 0);
    memset(&s, 0, sizeof(s));
    in.len = sizeof(req) - 1;
    CHECK(l7_parse_http(&in, &s, &st) == L7_DONE);
    CHECK_STR(field(&s, NM_L7_HTTP_METHOD, tmp), "GET");
    CHECK_STR(field(&s, NM_L7_HTTP_PATH, tmp), "/a/b?c=d");
    CHECK_STR(field(&s, NM_L7_HTTP_HOST, tmp), "Example.Test:8080");
    in.data = (const uint8_t *)resp;
    in.len = sizeof(resp) - 1;
    CHECK(l7_parse_http(&in, &s, &st) == L7_DONE);
    CHECK_EQ_U(s.http_status, 301);
    /* Not HTTP. */
    in.data = (const uint8_t *)"\x16\x03\x01\x02\x00";
    in.len = 5;
    CHECK(l7_parse_http(&in, &s, &st) == L7_NOT_MINE);
}

static void test_dns_pointer_loop_and_names(void)
{
    /* Question name is a pointer to itself. */
    static const uint8_t loop[] = { 0, 1, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1 };
    /* Response: www.example.test A, answer by pointer, 1.2.3.4 TTL 60, then
     * a CNAME whose target is compressed ("cdn" + pointer to example.test). */
    static const uint8_t resp[] = {
        0x12, 0x34, 0x81, 0x83, 0, 1, 0, 2, 0, 0, 0, 0,
        3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1,
        0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4,
        0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 30, 0, 6, 3, 'c', 'd', 'n', 0xc0, 16,
    };
    struct flow_l7_summary s;
    struct nm_l7_stats st;
    char tmp[NM_L7_TEXT_MAX + 1];

    memset(&s, 0, sizeof(s));
    memset(&st, 0, sizeof(st));
    struct l7_input in = { .data = loop, .len = sizeof(loop) };
    CHECK(l7_parse_dns(&in, &s, &st) == L7_MALFORMED);
    memset(&s, 0, sizeof(s));
    in.data = resp;
    in.len = sizeof(resp);
    CHECK(l7_parse_dns(&in, &s, &st) == L7_DONE);
    CHECK_STR(field(&s, NM_L7_DNS_QNAME, tmp), "www.example.test");
    CHECK_STR(field(&s, NM_L7_DNS_ANSWERS, tmp), "1.2.3.4\x1f" "cdn.example.test");
    CHECK(s.has_dns_rcode);
    CHECK_EQ_U(s.dns_rcode, 3);
    CHECK_EQ_U(s.dns_qtype, 1);
    CHECK_EQ_U(s.dns_ttl_min, 60);
    /* The same response again appends nothing. */
    CHECK(l7_parse_dns(&in, &s, &st) == L7_DONE);
    CHECK_STR(field(&s, NM_L7_DNS_ANSWERS, tmp), "1.2.3.4\x1f" "cdn.example.test");
}

/* RFC 9001 Appendix A.1: the client Initial keys for DCID 0x8394c8f03e515708. */
static void test_quic_initial_keys_rfc9001(void)
{
    static const uint8_t dcid[] = { 0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08 };
    static const uint8_t key[16] = { 0x1f, 0x36, 0x96, 0x13, 0xdd, 0x76, 0xd5, 0x46, 0x77, 0x30,
                                     0xef, 0xcb, 0xe3, 0xb1, 0xa2, 0x2d };
    static const uint8_t iv[12] = { 0xfa, 0x04, 0x4b, 0x2f, 0x42, 0xa3, 0xfd, 0x3b, 0x46, 0xfb,
                                    0x25, 0x5c };
    static const uint8_t hp[16] = { 0x9f, 0x50, 0x44, 0x9e, 0x04, 0xa0, 0xe8, 0x10, 0x28, 0x3a,
                                    0x1e, 0x99, 0x33, 0xad, 0xed, 0xd2 };
    uint8_t k[16], i[12], h[16];

    CHECK(l7_quic_client_keys(dcid, sizeof(dcid), k, i, h));
    CHECK(memcmp(k, key, 16) == 0);
    CHECK(memcmp(i, iv, 12) == 0);
    CHECK(memcmp(h, hp, 16) == 0);
}

/* ---- through the flow table -------------------------------------------- */

/* Each test makes one flow: its record lands in recs[0], nrecs counts. */
static struct flow_record recs[1];
static unsigned nrecs;

static void keep_record(void *user, const struct flow_record *r)
{
    memcpy(user, r, sizeof(*r));
    nrecs++;
}

static struct flow_table *table(void)
{
    char err[256];
    struct flow_table_config cfg = { .max_flows = 64, .idle_timeout_us = 60000000ull };

    nrecs = 0;
    return flow_table_create(&cfg, keep_record, recs, err, sizeof(err));
}

static struct nm_packet seg(int from_server, uint16_t port, uint8_t flags, uint32_t seq,
                            uint32_t ack, const uint8_t *data, uint32_t len, uint64_t ts_ms)
{
    struct nm_packet p;

    memset(&p, 0, sizeof(p));
    p.has_ip = p.has_ports = p.has_tcp = true;
    p.ip_version = 4;
    p.proto = 6;
    p.src.b[15] = from_server ? 2 : 1;
    p.dst.b[15] = from_server ? 1 : 2;
    p.sport = from_server ? port : 50000;
    p.dport = from_server ? 50000 : port;
    p.tcp_flags = flags;
    p.tcp_seq = seq;
    p.tcp_ack = ack;
    p.payload = data;
    p.payload_len = p.payload_wire_len = len;
    p.wirelen = 54 + len;
    p.ip_len = 40 + len;
    p.ts_us = ts_ms * 1000ull;
    return p;
}

enum { S = NM_TCP_SYN, A = NM_TCP_ACK, P = NM_TCP_PSH };

/* SYN, SYN-ACK, ACK: client ISN cisn, server ISN sisn. */
static void handshake(struct flow_table *t, uint16_t port, uint32_t cisn, uint32_t sisn)
{
    struct nm_packet p;

    p = seg(0, port, S, cisn, 0, NULL, 0, 0); flow_table_update(t, &p);
    p = seg(1, port, S | A, sisn, cisn + 1, NULL, 0, 1); flow_table_update(t, &p);
    p = seg(0, port, A, cisn + 1, sisn + 1, NULL, 0, 2); flow_table_update(t, &p);
}

static void test_client_hello_out_of_order(void)
{
    struct flow_table *t = table();
    struct buf ch;
    struct nm_packet p;
    char tmp[NM_L7_TEXT_MAX + 1];
    const uint32_t isn = 0xfffffff0u;   /* the stream wraps the sequence space */

    client_hello(&ch);
    uint32_t c1 = 7, c2 = (uint32_t)ch.n / 2;
    handshake(t, 443, isn, 1000);
    /* Third part, second part, then the first. */
    p = seg(0, 443, A | P, isn + 1 + c2, 1001, ch.b + c2, (uint32_t)ch.n - c2, 3);
    flow_table_update(t, &p);
    p = seg(0, 443, A | P, isn + 1 + c1, 1001, ch.b + c1, c2 - c1, 4); flow_table_update(t, &p);
    p = seg(0, 443, A | P, isn + 1, 1001, ch.b, c1, 5); flow_table_update(t, &p);
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 1);
    CHECK_EQ_U(recs[0].l7.proto, NM_L7_TLS);
    CHECK_STR(field(&recs[0].l7, NM_L7_SNI, tmp), "www.example.test");
    struct flow_table_stats fs;
    flow_table_get_stats(t, &fs);
    CHECK_EQ_U(fs.l7.flows, 1);
    CHECK_EQ_U(fs.l7.reasm_gaps, 0);
    flow_table_destroy(t);
}

/* The server acknowledges request bytes the capture never held: the
 * parser stops at the gap (counted) instead of reading across it. */
static void test_http_gap_and_response(void)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
    static const char resp[] = "HTTP/1.1 204 No Content\r\n\r\n";
    struct flow_table *t = table();
    struct nm_packet p;
    char tmp[NM_L7_TEXT_MAX + 1];

    handshake(t, 80, 100, 500);
    p = seg(0, 80, A | P, 101, 501, (const uint8_t *)req, 10, 2); flow_table_update(t, &p);
    p = seg(0, 80, A | P, 111 + 5, 501, (const uint8_t *)req + 15, sizeof(req) - 16, 3);
    flow_table_update(t, &p);
    p = seg(1, 80, A | P, 501, 101 + sizeof(req) - 1, (const uint8_t *)resp, sizeof(resp) - 1, 4);
    flow_table_update(t, &p);
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 1);
    CHECK_EQ_U(recs[0].l7.proto, NM_L7_HTTP);
    CHECK_STR(field(&recs[0].l7, NM_L7_HTTP_HOST, tmp), "(absent)");
    CHECK_EQ_U(recs[0].l7.http_status, 204);
    struct flow_table_stats fs;
    flow_table_get_stats(t, &fs);
    CHECK_EQ_U(fs.l7.gap_abandoned, 1);
    CHECK_EQ_U(fs.l7.reasm_gap_bytes, 5);
    flow_table_destroy(t);
}

/* A proxy accepts CONNECT: the ClientHello sent through the tunnel is read
 * too, and the HTTP fields stay. */
static void test_connect_tunnel(void)
{
    static const char req[] = "CONNECT www.example.test:443 HTTP/1.1\r\nHost: www.example.test:443\r\n\r\n";
    static const char resp[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    struct flow_table *t = table();
    struct nm_packet p;
    struct buf ch;
    char tmp[NM_L7_TEXT_MAX + 1];
    const uint32_t c = 1001 + sizeof(req) - 1, sv = 9001 + sizeof(resp) - 1;

    client_hello(&ch);
    handshake(t, 8080, 1000, 9000);
    p = seg(0, 8080, A | P, 1001, 9001, (const uint8_t *)req, sizeof(req) - 1, 3);
    flow_table_update(t, &p);
    p = seg(1, 8080, A | P, 9001, c, (const uint8_t *)resp, sizeof(resp) - 1, 4);
    flow_table_update(t, &p);
    p = seg(0, 8080, A | P, c, sv, ch.b, (uint32_t)ch.n, 5);
    flow_table_update(t, &p);
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 1);
    CHECK_STR(field(&recs[0].l7, NM_L7_HTTP_METHOD, tmp), "CONNECT");
    CHECK_EQ_U(recs[0].l7.http_status, 200);
    CHECK_STR(field(&recs[0].l7, NM_L7_SNI, tmp), "www.example.test");
    flow_table_destroy(t);
}

static void test_unknown_protocol_gives_slot_back(void)
{
    static const uint8_t junk[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    struct flow_table *t = table();
    struct nm_packet p;

    handshake(t, 5001, 1, 9);
    p = seg(0, 5001, A | P, 2, 10, junk, sizeof(junk), 2); flow_table_update(t, &p);
    p = seg(1, 5001, A | P, 10, 12, junk, sizeof(junk), 3); flow_table_update(t, &p);
    flow_table_flush(t, FLOW_END_EOF);
    CHECK_EQ_U(nrecs, 1);
    CHECK_EQ_U(recs[0].l7.proto, NM_L7_NONE);
    struct flow_table_stats fs;
    flow_table_get_stats(t, &fs);
    CHECK_EQ_U(fs.l7.flows, 0);
    flow_table_destroy(t);
}

static void test_json_escapes_wire_text(void)
{
    static const char hostile[] = "a\"b\\c\x01\xff";
    struct flow_record r;
    struct nm_l7_stats st;
    static char out[JSON_RECORD_MAX];

    memset(&r, 0, sizeof(r));
    memset(&st, 0, sizeof(st));
    r.ip_version = 4;
    r.proto = 6;
    r.l7.proto = NM_L7_TLS;
    l7_text_set(&r.l7, NM_L7_SNI, hostile, sizeof(hostile) - 1, &st);
    l7_text_append_item(&r.l7, NM_L7_ALPN, "h2", 2, &st);
    l7_text_append_item(&r.l7, NM_L7_ALPN, "x\"", 2, &st);
    json_format_flow(&r, out, sizeof(out));
    CHECK(strstr(out, ",\"sni\":\"a\\\"b\\\\c\\u0001\\u00ff\",") != NULL);
    CHECK(strstr(out, ",\"alpn\":[\"h2\",\"x\\\"\"],") != NULL);
}

static void test_text_area_bounded(void)
{
    char big[NM_L7_TEXT_MAX + 100];
    struct flow_l7_summary s;
    struct nm_l7_stats st;

    memset(big, 'x', sizeof(big));
    memset(&s, 0, sizeof(s));
    memset(&st, 0, sizeof(st));
    l7_text_set(&s, NM_L7_HTTP_PATH, big, sizeof(big), &st);
    CHECK_EQ_U(s.len[NM_L7_HTTP_PATH], NM_L7_TEXT_MAX);
    CHECK_EQ_U(st.truncated, 1);
    l7_text_set(&s, NM_L7_HTTP_HOST, "h", 1, &st);
    CHECK_EQ_U(s.len[NM_L7_HTTP_HOST], 0);
    CHECK_EQ_U(st.truncated, 2);
}

int main(void)
{
    RUN(test_tls_client_hello);
    RUN(test_tls_ja4);
    RUN(test_ja4_edges);
    RUN(test_http_prefixes_and_status);
    RUN(test_dns_pointer_loop_and_names);
    RUN(test_quic_initial_keys_rfc9001);
    RUN(test_client_hello_out_of_order);
    RUN(test_http_gap_and_response);
    RUN(test_connect_tunnel);
    RUN(test_unknown_protocol_gives_slot_back);
    RUN(test_json_escapes_wire_text);
    RUN(test_text_area_bounded);
    TESTLIB_EXIT();
}
