/*
 * test_l7_ndpi.c: the nDPI classifier wrapper (src/analyze/l7_ndpi.c):
 * the bounded slot pool (full pool counted, slots reused), the packet
 * limit, packets nDPI must not see, the label names, and modules built at
 * once from the shared build-time region.  Protocol ids
 * are nDPI's own (ndpi_protocol_ids.h), names those ndpiReader -h lists.
 */
#include <string.h>

#include <ndpi_api.h>

#include "analyze/l7_ndpi.h"
#include "decode/decode.h"
#include "testlib.h"

/* A DNS query for example.com (A, IN) from 198.18.0.1:40000 to
 * 198.18.0.2:53, IPv4 + UDP, as decode would hand it over. */
static const uint8_t dns_query[] = {
    0x45, 0x00, 0x00, 0x39, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00,
    198, 18, 0, 1, 198, 18, 0, 2,
    0x9c, 0x40, 0x00, 0x35, 0x00, 0x25, 0x00, 0x00,
    0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0x00, 0x01, 0x00, 0x01,
};

static struct nm_packet udp_packet(const uint8_t *l3, uint32_t len, uint64_t ts_ms)
{
    struct nm_packet p;

    memset(&p, 0, sizeof(p));
    p.ts_us = ts_ms * 1000;
    p.has_ip = true;
    p.ip_version = 4;
    p.proto = 17;
    p.has_ports = true;
    p.l3 = l3;
    p.l3_len = len;
    p.l3_complete = true;
    return p;
}

static struct l7_ndpi *classifier(uint32_t slots)
{
    char err[256];
    struct l7_ndpi *c = l7_ndpi_create(slots, err, sizeof(err));
    if (!c)
        printf("l7_ndpi_create: %s\n", err);
    return c;
}

static void test_pool_full_is_counted_and_slots_come_back(void)
{
    struct l7_ndpi *c = classifier(2);
    struct l7_ndpi_stats st;
    struct flow_l7_label l;

    CHECK(c != NULL);
    if (!c)
        return;
    uint32_t a = l7_ndpi_flow_start(c), b = l7_ndpi_flow_start(c), x = l7_ndpi_flow_start(c);
    l7_ndpi_label(a, &l);
    CHECK_EQ_U(l.state, FLOW_L7_CLASSIFYING);
    l7_ndpi_label(x, &l);
    CHECK_EQ_U(l.state, FLOW_L7_NO_SLOT);
    l7_ndpi_get_stats(c, &st);
    CHECK_EQ_U(st.classifying, 2);
    CHECK_EQ_U(st.no_slot, 1);

    l7_ndpi_flow_end(c, &a);           /* gives up: nothing was seen */
    l7_ndpi_label(a, &l);
    CHECK_EQ_U(l.state, FLOW_L7_DONE);
    CHECK_EQ_U(l.app, NDPI_PROTOCOL_UNKNOWN);
    l7_ndpi_flow_end(c, &x);           /* no slot: stays unlabelled */
    l7_ndpi_label(x, &l);
    CHECK_EQ_U(l.state, FLOW_L7_NO_SLOT);
    uint32_t d = l7_ndpi_flow_start(c);   /* a's slot is free again */
    l7_ndpi_label(d, &l);
    CHECK_EQ_U(l.state, FLOW_L7_CLASSIFYING);
    l7_ndpi_get_stats(c, &st);
    CHECK_EQ_U(st.classifying, 2);
    CHECK_EQ_U(st.labelled, 1);
    CHECK_EQ_U(st.no_slot, 1);
    l7_ndpi_flow_end(c, &b);
    l7_ndpi_flow_end(c, &d);
    l7_ndpi_get_stats(c, &st);
    CHECK_EQ_U(st.classifying, 0);
    l7_ndpi_destroy(c);
}

/* One flow of dns_query alone, ended: nDPI must call it DNS. */
static void classify_dns_query(struct l7_ndpi *c, struct flow_l7_label *l)
{
    uint32_t h = l7_ndpi_flow_start(c);
    struct nm_packet p = udp_packet(dns_query, sizeof(dns_query), 1000);

    l7_ndpi_packet(c, &h, &p);
    l7_ndpi_flow_end(c, &h);
    l7_ndpi_label(h, l);
    CHECK_EQ_U(l->state, FLOW_L7_DONE);
    CHECK(l->app == NDPI_PROTOCOL_DNS || l->master == NDPI_PROTOCOL_DNS);
}

static void test_dns_query_is_dns(void)
{
    struct l7_ndpi *c = classifier(4);
    struct flow_l7_label l;
    char name[96];

    if (!c) {
        CHECK(c != NULL);
        return;
    }
    classify_dns_query(c, &l);
    CHECK_EQ_U(l.category, NDPI_PROTOCOL_CATEGORY_NETWORK);
    l7_ndpi_app_name(&l, name, sizeof(name));
    CHECK_STR(name, "DNS");
    CHECK_STR(l7_ndpi_category_name(&l), "Network");
    l7_ndpi_destroy(c);
}

/* Two workers' modules at once (each built on its own thread from the
 * shared build-time region): both label, the first destroyed does not take
 * the region from the second, and a module made after both are gone (a
 * fresh region) labels too. */
static void test_modules_share_the_build_region(void)
{
    struct l7_ndpi *c[3] = { classifier(4), classifier(4), NULL };
    struct flow_l7_label l;

    for (unsigned round = 0; round < 3; round++) {
        if (round == 2) {
            l7_ndpi_destroy(c[1]);
            c[1] = NULL;
            c[2] = classifier(4);
        }
        struct l7_ndpi *m = c[round];
        CHECK(m != NULL);
        if (!m)
            continue;
        classify_dns_query(m, &l);
        if (round == 0) {
            l7_ndpi_destroy(c[0]);
            c[0] = NULL;
        }
    }
    l7_ndpi_destroy(c[2]);
}

/* A packet the capture cut short is never handed to nDPI (it would trust
 * the IP length and read past the buffer); neither is a later fragment. */
static void test_incomplete_packets_are_skipped(void)
{
    struct l7_ndpi *c = classifier(4);
    struct l7_ndpi_stats st;
    struct flow_l7_label l;

    if (!c) {
        CHECK(c != NULL);
        return;
    }
    uint32_t h = l7_ndpi_flow_start(c);
    struct nm_packet cut = udp_packet(dns_query, 30, 1000);
    cut.l3_complete = false;
    struct nm_packet frag = udp_packet(dns_query, sizeof(dns_query), 1001);
    frag.is_fragment = true;
    l7_ndpi_packet(c, &h, &cut);
    l7_ndpi_packet(c, &h, &frag);
    l7_ndpi_get_stats(c, &st);
    CHECK_EQ_U(st.packets_skipped, 2);
    l7_ndpi_label(h, &l);
    CHECK_EQ_U(l.state, FLOW_L7_CLASSIFYING);
    l7_ndpi_flow_end(c, &h);
    l7_ndpi_destroy(c);
}

/* nDPI's cost is per flow: after the limit (+1, as ndpiReader) it gives up
 * without waiting for the flow to end. */
static void test_gives_up_after_the_packet_limit(void)
{
    struct l7_ndpi *c = classifier(4);
    struct flow_l7_label l;
    uint8_t pkt[28 + 32];

    if (!c) {
        CHECK(c != NULL);
        return;
    }
    /* UDP between two high ports with a payload no protocol claims. */
    memcpy(pkt, dns_query, 28);
    pkt[3] = sizeof(pkt);
    pkt[20] = 0xd0; pkt[21] = 0x01; pkt[22] = 0xd0; pkt[23] = 0x02;
    pkt[24] = 0; pkt[25] = 40;
    for (unsigned i = 28; i < sizeof(pkt); i++)
        pkt[i] = (uint8_t)(i * 37 + 11);
    uint32_t h = l7_ndpi_flow_start(c);
    for (unsigned i = 0; i <= L7_NDPI_OTHER_PACKETS; i++) {
        struct nm_packet p = udp_packet(pkt, sizeof(pkt), 1000 + i);
        l7_ndpi_label(h, &l);
        CHECK_EQ_U(l.state, FLOW_L7_CLASSIFYING);   /* still looking before the last one */
        l7_ndpi_packet(c, &h, &p);
    }
    l7_ndpi_label(h, &l);
    CHECK_EQ_U(l.state, FLOW_L7_DONE);
    l7_ndpi_destroy(c);
}

static void test_names_follow_ndpiReader(void)
{
    struct l7_ndpi *c = classifier(1);    /* fills the name table */
    struct flow_l7_label l = { .state = FLOW_L7_DONE };
    char name[96];

    l.master = NDPI_PROTOCOL_TLS;
    l.app = NDPI_PROTOCOL_GOOGLE;
    l7_ndpi_app_name(&l, name, sizeof(name));
    CHECK_STR(name, "TLS.Google");
    l.master = NDPI_PROTOCOL_UNKNOWN;
    l.app = NDPI_PROTOCOL_TLS;
    l7_ndpi_app_name(&l, name, sizeof(name));
    CHECK_STR(name, "TLS");
    l.app = NDPI_PROTOCOL_UNKNOWN;
    l7_ndpi_app_name(&l, name, sizeof(name));
    CHECK_STR(name, "Unknown");
    CHECK_STR(l7_ndpi_category_name(&l), "Unspecified");
    l.confidence = NDPI_CONFIDENCE_DPI;
    CHECK_STR(l7_ndpi_confidence_name(&l), "DPI");
    l7_ndpi_app_name(&l, name, 4);
    CHECK_STR(name, "Unk");
    l7_ndpi_destroy(c);
}

int main(void)
{
    RUN(test_pool_full_is_counted_and_slots_come_back);
    RUN(test_dns_query_is_dns);
    RUN(test_modules_share_the_build_region);
    RUN(test_incomplete_packets_are_skipped);
    RUN(test_gives_up_after_the_packet_limit);
    RUN(test_names_follow_ndpiReader);
    TESTLIB_EXIT();
}
