/*
 * test_names.c: the address -> name map (src/output/names.h): answers
 * learned with their TTL and forgotten after it, TTL 0 and failed lookups
 * never learned, IPv6, the label order (SNI, Host, dst, src), and a small
 * map under pressure never answering with another address's name.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "analyze/l7_parsers.h"
#include "output/names.h"
#include "testlib.h"

static struct nm_l7_stats st;

static struct nm_addr addr_of(const char *text, uint8_t *ipv)
{
    struct nm_addr a;

    memset(&a, 0, sizeof(a));
    if (inet_pton(AF_INET, text, &a.b[12]) == 1) {
        a.b[10] = a.b[11] = 0xff;
        *ipv = 4;
    } else {
        inet_pton(AF_INET6, text, a.b);
        *ipv = 6;
    }
    return a;
}

/* A record of a DNS response: qname, answers (comma-separated here), TTL. */
static struct flow_record dns_record(const char *qname, const char *answers, uint32_t ttl,
                                     uint8_t rcode)
{
    struct flow_record r;
    char item[64];

    memset(&r, 0, sizeof(r));
    r.l7.proto = NM_L7_DNS;
    r.l7.has_dns_rcode = true;
    r.l7.dns_rcode = rcode;
    r.l7.has_dns_ttl = true;
    r.l7.dns_ttl_min = ttl;
    l7_text_set(&r.l7, NM_L7_DNS_QNAME, qname, strlen(qname), &st);
    for (const char *p = answers; *p;) {
        size_t n = strcspn(p, ",");
        memcpy(item, p, n);
        l7_text_append_item(&r.l7, NM_L7_DNS_ANSWERS, item, n, &st);
        p += n + (p[n] == ',');
    }
    return r;
}

static void test_learn_and_expire(void)
{
    struct name_map *m = name_map_create(64);
    struct flow_record r = dns_record("www.example.test", "cdn.example.test,198.18.0.2,2001:db8::2",
                                      300, 0);
    uint8_t v4, v6;
    struct nm_addr a4 = addr_of("198.18.0.2", &v4), a6 = addr_of("2001:db8::2", &v6);
    const uint64_t t0 = 1000000000ull;

    name_map_learn(m, &r, t0);
    CHECK_STR(name_map_lookup(m, &a4, v4, t0 + 1), "www.example.test");
    CHECK_STR(name_map_lookup(m, &a6, v6, t0 + 299999999ull), "www.example.test");
    CHECK(name_map_lookup(m, &a4, 6, t0) == NULL);              /* same bytes, other family */
    CHECK(name_map_lookup(m, &a4, v4, t0 + 300000000ull) == NULL);
    CHECK_EQ_U(name_map_stats(m)->learned, 2);
    name_map_destroy(m);
}

static void test_not_learned(void)
{
    struct name_map *m = name_map_create(64);
    struct flow_record zero = dns_record("a.example", "198.18.0.3", 0, 0);
    struct flow_record nx = dns_record("b.example", "198.18.0.4", 60, 3);

    name_map_learn(m, &zero, 0);
    name_map_learn(m, &nx, 0);
    CHECK_EQ_U(name_map_stats(m)->learned, 0);
    name_map_destroy(m);
}

static void test_label_order(void)
{
    struct name_map *m = name_map_create(64);
    struct flow_record dns = dns_record("srv.example", "198.18.0.2", 60, 0);
    struct flow_record r;
    uint8_t v;
    char buf[64];

    name_map_learn(m, &dns, 0);
    memset(&r, 0, sizeof(r));
    r.ip_version = 4;
    r.addr[NM_DIR_SRC] = addr_of("198.18.0.1", &v);
    r.addr[NM_DIR_DST] = addr_of("198.18.0.2", &v);
    CHECK_STR(name_map_flow_label(m, &r, 1, buf, sizeof(buf)), "srv.example");
    l7_text_set(&r.l7, NM_L7_HTTP_HOST, "host.example", 12, &st);
    CHECK_STR(name_map_flow_label(m, &r, 1, buf, sizeof(buf)), "host.example");
    l7_text_set(&r.l7, NM_L7_SNI, "sni.example", 11, &st);
    CHECK_STR(name_map_flow_label(m, &r, 1, buf, sizeof(buf)), "sni.example");
    memset(&r.l7, 0, sizeof(r.l7));
    r.addr[NM_DIR_DST] = addr_of("198.18.0.9", &v);
    r.addr[NM_DIR_SRC] = addr_of("198.18.0.2", &v);
    CHECK_STR(name_map_flow_label(m, &r, 1, buf, sizeof(buf)), "srv.example");
    r.addr[NM_DIR_SRC] = addr_of("198.18.0.8", &v);
    CHECK(name_map_flow_label(m, &r, 1, buf, sizeof(buf)) == NULL);
    name_map_destroy(m);
}

static void test_pressure(void)
{
    struct name_map *m = name_map_create(16);
    char name[32], ip[32];
    unsigned wrong = 0, found = 0;
    uint8_t v;

    for (unsigned i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "h%u.example", i);
        snprintf(ip, sizeof(ip), "198.18.%u.%u", i / 256, i % 256);
        struct flow_record r = dns_record(name, ip, 10 + i, 0);
        name_map_learn(m, &r, 0);
    }
    for (unsigned i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "h%u.example", i);
        snprintf(ip, sizeof(ip), "198.18.%u.%u", i / 256, i % 256);
        struct nm_addr a = addr_of(ip, &v);
        const char *got = name_map_lookup(m, &a, v, 1);
        found += got != NULL;
        wrong += got && strcmp(got, name) != 0;
    }
    CHECK_EQ_U(wrong, 0);
    CHECK(found > 0 && found <= 16);
    CHECK_EQ_U(name_map_stats(m)->learned, 200);
    CHECK(name_map_stats(m)->replaced >= 200 - 16);
    name_map_destroy(m);
}

int main(void)
{
    RUN(test_learn_and_expire);
    RUN(test_not_learned);
    RUN(test_label_order);
    RUN(test_pressure);
    TESTLIB_EXIT();
}
