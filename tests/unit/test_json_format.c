/*
 * test_json_format.c: the JSON writer's hand-rolled number and address
 * formatting, checked against libc's printf and inet_ntop on edge values
 * (digit-count boundaries, 0, UINT64_MAX; every IPv4 octet width).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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

int main(void)
{
    RUN(test_numbers_match_printf);
    RUN(test_ipv4_matches_inet_ntop);
    RUN(test_ipv6_matches_inet_ntop);
    TESTLIB_EXIT();
}
