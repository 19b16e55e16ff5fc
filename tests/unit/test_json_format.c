/*
 * test_json_format.c: the JSON writer's hand-rolled number and address
 * formatting, checked against libc's printf and inet_ntop on edge values
 * (digit-count boundaries, 0, UINT64_MAX; every IPv4 octet width) and on
 * random values; and the worst-case record against its bound.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output/json.h"
#include "output/record.h"
#include "testlib.h"

static char out[JSON_RECORD_MAX];

static struct flow_record v4_record(const uint8_t a[4], const uint8_t z[4])
{
    struct flow_record r;

    memset(&r, 0, sizeof(r));
    r.ip_version = 4;
    r.proto = 17;
    memcpy(r.addr[NM_DIR_SRC].b + 12, a, 4);
    memcpy(r.addr[NM_DIR_DST].b + 12, z, 4);
    return r;
}

static void test_numbers_match_printf(void)
{
    static const uint64_t values[] = {
        0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 65535, 4294967295ull, 4294967296ull,
        9999999999999999999ull, 10000000000000000000ull, UINT64_MAX,
    };
    const uint8_t a[4] = { 198, 18, 0, 1 }, z[4] = { 198, 18, 0, 2 };

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        struct flow_record r = v4_record(a, z);
        char want[64];
        r.pkts[NM_DIR_SRC] = values[i];
        r.bytes[NM_DIR_DST] = values[i];
        json_format_flow(&r, out, sizeof(out));
        snprintf(want, sizeof(want), "\"src_pkts\":%" PRIu64 ",", values[i]);
        CHECK(strstr(out, want) != NULL);
        snprintf(want, sizeof(want), "\"dst_bytes\":%" PRIu64, values[i]);
        CHECK(strstr(out, want) != NULL);
    }
}

static void test_ipv4_matches_inet_ntop(void)
{
    static const uint8_t octets[] = { 0, 1, 9, 10, 99, 100, 199, 255 };

    for (size_t i = 0; i < sizeof(octets); i++) {
        uint8_t a[4] = { octets[i], octets[(i + 1) % 8], octets[(i + 3) % 8], octets[(i + 5) % 8] };
        uint8_t z[4] = { 255, octets[i], 0, octets[(i + 2) % 8] };
        struct flow_record r = v4_record(a, z);
        char want_a[INET_ADDRSTRLEN], want_z[INET_ADDRSTRLEN], want[96];
        inet_ntop(AF_INET, a, want_a, sizeof(want_a));
        inet_ntop(AF_INET, z, want_z, sizeof(want_z));
        json_format_flow(&r, out, sizeof(out));
        snprintf(want, sizeof(want), "\"src_ip\":\"%s\"", want_a);
        CHECK(strstr(out, want) != NULL);
        snprintf(want, sizeof(want), "\"dst_ip\":\"%s\"", want_z);
        CHECK(strstr(out, want) != NULL);
    }
}

/* RFC 5952 text: glibc's inet_ntop is the oracle.  Groups are drawn from
 * zero, small and large values so that every zero-run length and position
 * (and ties between runs), both embedded-IPv4 forms and their near misses
 * come up. */
static void test_ipv6_matches_inet_ntop(void)
{
    static const uint16_t groups[] = { 0, 0, 0, 1, 0xffff, 0x0db8, 0xa, 0x1000 };
    uint64_t state = 0x9e3779b97f4a7c15ull;
    unsigned mismatches = 0;

    for (unsigned n = 0; n < 200000; n++) {
        struct nm_addr addr;
        char want[INET6_ADDRSTRLEN], got[64];
        for (unsigned i = 0; i < 8; i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            uint16_t g = groups[(state >> 33) & 7];
            if (n % 3 == 0 && i >= 6)
                g = (uint16_t)(state >> 45);
            addr.b[2 * i] = (uint8_t)(g >> 8);
            addr.b[2 * i + 1] = (uint8_t)g;
        }
        inet_ntop(AF_INET6, addr.b, want, sizeof(want));
        size_t len = record_format_addr(&addr, 6, got, sizeof(got));
        if (strcmp(want, got) != 0 || len != strlen(want)) {
            if (mismatches++ < 5)
                printf("# inet_ntop %s, netmoon %s\n", want, got);
        }
    }
    CHECK_EQ_U(mismatches, 0);
}

static uint64_t test_rand(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state ^ (*state >> 29);
}

/* Edge values: every power of ten, its neighbours, 2^k and its neighbours. */
static size_t edge_values(uint64_t *v)
{
    size_t n = 0;
    uint64_t p = 1;

    for (int i = 0; i < 20; i++, p *= 10) {
        v[n++] = p - 1;
        v[n++] = p;
        v[n++] = p + 1;
    }
    for (int k = 0; k < 64; k++) {
        v[n++] = (1ull << k) - 1;
        v[n++] = 1ull << k;
        v[n++] = (1ull << k) + 1;
    }
    v[n++] = UINT64_MAX;
    v[n++] = UINT64_MAX - 1;
    return n;
}

static unsigned check_one(const char *what, uint64_t v, const char *got, const char *end,
                          const char *want)
{
    if ((size_t)(end - got) == strlen(want) && memcmp(got, want, strlen(want)) == 0)
        return 0;
    printf("# %s(%" PRIu64 "): netmoon %.*s, printf %s\n", what, v, (int)(end - got), got, want);
    return 1;
}

/* One value through the three formatters, each against snprintf; returns
 * the number of mismatches. */
static unsigned check_number(uint64_t v)
{
    char got[64], want[64];
    unsigned bad = 0;

    snprintf(want, sizeof(want), "%" PRIu64, v);
    bad += check_one("u64", v, got, json_put_u64(got, v), want);
    snprintf(want, sizeof(want), "%" PRIu32, (uint32_t)v);
    bad += check_one("u32", v, got, json_put_u32(got, (uint32_t)v), want);
    snprintf(want, sizeof(want), "%" PRIu64 ".%06" PRIu64, v / 1000000, v % 1000000);
    bad += check_one("time", v, got, json_put_time(got, v), want);
    return bad;
}

static void test_formatters_match_printf(void)
{
    uint64_t edges[3 * 20 + 3 * 64 + 2], state = 0x2545f4914f6cdd1dull;
    size_t n = edge_values(edges);
    unsigned bad = 0;

    for (size_t i = 0; i < n; i++)
        bad += check_number(edges[i]);
    /* Random values of every width, so every digit count comes up. */
    for (unsigned i = 0; i < 300000; i++) {
        uint64_t r = test_rand(&state);
        bad += check_number(r >> (test_rand(&state) % 64));
    }
    CHECK_EQ_U(bad, 0);
}

/* Every field at its longest: escapable bytes in all L7 text and in the
 * owner, the largest numbers.  The record must fit JSON_FLOW_MAX (the
 * sink's one reservation) and come out whole; the buffer is exactly that
 * long so the sanitizer build catches a write past it. */
static void test_worst_case_record_fits(void)
{
    struct flow_record r;
    char *buf = malloc(JSON_FLOW_MAX);

    CHECK(buf != NULL);
    if (!buf)
        return;
    memset(&r, 0xff, sizeof(r));
    r.ip_version = 6;
    r.proto = 6;
    r.ts_start_us = 0;
    r.tunnel = NM_TUNNEL_VXLAN_GPE;
    r.end_reason = FLOW_END_IFACE_DOWN;
    /* Every bool back to a valid value (the sanitizer checks loads). */
    r.has_icmp = r.icmp_is_echo = r.ports_unknown = r.icmp_first_from_dst = true;
    r.l7.has_dns_ttl = true;
    r.tcp.valid = true;
    r.tcp.wscale_unknown = false;
    r.tcp.has_handshake_rtt = true;
    r.tcp.tcp_state = 1;
    memset(r.tcp.conn_state, 'S', sizeof(r.tcp.conn_state) - 1);
    r.tcp.conn_state[sizeof(r.tcp.conn_state) - 1] = '\0';
    memset(r.tcp.history, 'D', sizeof(r.tcp.history) - 1);
    r.tcp.history[sizeof(r.tcp.history) - 1] = '\0';
    r.app.state = FLOW_L7_DONE;
    r.l7.proto = NM_L7_TLS;
    r.l7.tls_version = 0x0304;
    r.l7.has_ja4 = r.l7.has_dns_qtype = r.l7.has_dns_rcode = true;
    memset(r.l7.text, 0x01, sizeof(r.l7.text));
    /* Each field the whole text area, overlapping: the shared limit holds. */
    for (int f = 0; f < NM_L7_FIELD_COUNT; f++) {
        r.l7.off[f] = 0;
        r.l7.len[f] = NM_L7_TEXT_MAX;
    }
    r.l7.used = NM_L7_TEXT_MAX;
    r.owner.pid = INT32_MAX;
    r.owner.cmdline_cut = true;
    memset(r.owner.comm, 0x01, sizeof(r.owner.comm) - 1);
    r.owner.comm[sizeof(r.owner.comm) - 1] = '\0';
    memset(r.owner.cmdline, 0x01, sizeof(r.owner.cmdline) - 1);
    r.owner.cmdline[sizeof(r.owner.cmdline) - 1] = '\0';

    size_t n = json_format_flow(&r, buf, JSON_FLOW_MAX);
    printf("# worst-case record: %zu bytes, bound %d\n", n, JSON_FLOW_MAX);
    CHECK(n < (size_t)JSON_FLOW_MAX);
    CHECK(n >= 2 && buf[n - 2] == '}' && buf[n - 1] == '\n');
    CHECK(strstr(buf, "\"src_ip\":\"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\"") != NULL);
    CHECK(strstr(buf, "\"flow_id\":18446744073709551615,") != NULL);
    free(buf);
}

/* A buffer shorter than the record: cut like snprintf, NUL-terminated. */
static void test_short_buffer_cuts(void)
{
    const uint8_t a[4] = { 198, 18, 0, 1 }, z[4] = { 198, 18, 0, 2 };
    struct flow_record r = v4_record(a, z);
    char whole[JSON_RECORD_MAX], cut[40];

    size_t n = json_format_flow(&r, whole, sizeof(whole));
    size_t m = json_format_flow(&r, cut, sizeof(cut));
    CHECK(n > sizeof(cut));
    CHECK_EQ_U(m, sizeof(cut) - 1);
    CHECK(memcmp(whole, cut, m) == 0 && cut[m] == '\0');
}

/* The sink reuses the text of the last whole second across records: a
 * run of records through it, their seconds going forwards, backwards and
 * repeating, must read back exactly as each formatted on its own. */
static void test_sink_matches_format(void)
{
    static const uint64_t us[] = {
        1700000000000001ull, 1700000000999999ull, 1700000001000000ull, 1700000000500000ull,
        0, 999999, 1000000, UINT64_MAX, UINT64_MAX - 1000000, 1700000001000000ull,
    };
    const uint8_t a[4] = { 198, 18, 0, 1 }, z[4] = { 198, 18, 0, 2 };
    char path[] = "/tmp/netmoon-test-json-XXXXXX", err[256], line[JSON_RECORD_MAX];
    struct output_sink sink;
    size_t count = sizeof(us) / sizeof(us[0]);
    int fd = mkstemp(path);

    CHECK(fd >= 0);
    if (fd < 0)
        return;
    close(fd);
    CHECK(json_sink_open(&sink, path, err, sizeof(err)) == 0);
    for (size_t i = 0; i < count; i++) {
        struct flow_record r = v4_record(a, z);
        r.ts_start_us = us[i];
        r.ts_end_us = us[(i + 1) % count];
        CHECK(sink.write_flow(&sink, &r) == 0);
    }
    sink.close(&sink);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    for (size_t i = 0; f && i < count; i++) {
        struct flow_record r = v4_record(a, z);
        r.ts_start_us = us[i];
        r.ts_end_us = us[(i + 1) % count];
        json_format_flow(&r, out, sizeof(out));
        CHECK(fgets(line, sizeof(line), f) != NULL && strcmp(line, out) == 0);
    }
    if (f)
        fclose(f);
    unlink(path);
}

int main(void)
{
    RUN(test_sink_matches_format);
    RUN(test_formatters_match_printf);
    RUN(test_worst_case_record_fits);
    RUN(test_short_buffer_cuts);
    RUN(test_numbers_match_printf);
    RUN(test_ipv4_matches_inet_ntop);
    RUN(test_ipv6_matches_inet_ntop);
    TESTLIB_EXIT();
}
