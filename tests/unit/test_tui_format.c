/*
 * test_tui_format.c: the terminal view's pure formatting (output/tui_format.h):
 * units, bars in UTF-8 and ASCII, states, smoothing and the row layout.
 */
#include <math.h>
#include <string.h>

#include "output/tui_format.h"
#include "analyze/tcp_state.h"
#include "testlib.h"

static void test_bytes(void)
{
    char b[32];

    tui_fmt_bytes(0, b, sizeof(b));           CHECK_STR(b, "0 B");
    tui_fmt_bytes(999, b, sizeof(b));         CHECK_STR(b, "999 B");
    tui_fmt_bytes(1000, b, sizeof(b));        CHECK_STR(b, "1.0 kB");
    tui_fmt_bytes(340000, b, sizeof(b));      CHECK_STR(b, "340 kB");
    tui_fmt_bytes(1200000, b, sizeof(b));     CHECK_STR(b, "1.2 MB");
    tui_fmt_bytes(4100000, b, sizeof(b));     CHECK_STR(b, "4.1 MB");
    tui_fmt_bytes(12345678901ull, b, sizeof(b)); CHECK_STR(b, "12 GB");
    tui_fmt_bytes(999999, b, sizeof(b));      CHECK_STR(b, "1.0 MB");   /* rounds up a unit */
    tui_fmt_bytes(UINT64_MAX, b, sizeof(b));  CHECK_STR(b, "18 EB");
    tui_fmt_bytes(1200000, b, 4);             CHECK_STR(b, "1.2");      /* clamped, terminated */
}

static void test_bits(void)
{
    char b[32];

    tui_fmt_bits(0, b, sizeof(b));            CHECK_STR(b, "0 b/s");
    tui_fmt_bits(-5, b, sizeof(b));           CHECK_STR(b, "0 b/s");
    tui_fmt_bits(NAN, b, sizeof(b));          CHECK_STR(b, "0 b/s");
    tui_fmt_bits(800, b, sizeof(b));          CHECK_STR(b, "800 b/s");
    tui_fmt_bits(1234, b, sizeof(b));         CHECK_STR(b, "1.23 kb/s");
    tui_fmt_bits(45.6e6, b, sizeof(b));       CHECK_STR(b, "45.6 Mb/s");
    tui_fmt_bits(999.6e6, b, sizeof(b));      CHECK_STR(b, "1.00 Gb/s");
    tui_fmt_bits(100e9, b, sizeof(b));        CHECK_STR(b, "100 Gb/s");
    CHECK(strlen("100 Gb/s") <= 10);
}

static void test_count_age(void)
{
    char b[32];

    tui_fmt_count(999, b, sizeof(b));         CHECK_STR(b, "999");
    tui_fmt_count(1234, b, sizeof(b));        CHECK_STR(b, "1.2k");
    tui_fmt_count(12345, b, sizeof(b));       CHECK_STR(b, "12k");
    tui_fmt_count(3400000, b, sizeof(b));     CHECK_STR(b, "3.4M");
    tui_fmt_age(0, b, sizeof(b));             CHECK_STR(b, "0s");
    tui_fmt_age(59999999, b, sizeof(b));      CHECK_STR(b, "59s");
    tui_fmt_age(65000000, b, sizeof(b));      CHECK_STR(b, "1m05s");
    tui_fmt_age(7380ull * 1000000, b, sizeof(b)); CHECK_STR(b, "2h03m");
    tui_fmt_age((3 * 86400ull + 4 * 3600) * 1000000, b, sizeof(b)); CHECK_STR(b, "3d04h");
}

static void test_bar_utf8(void)
{
    char b[64];

    CHECK_EQ_U(tui_fmt_bar(6, 10, 10, true, b, sizeof(b)), 30);
    CHECK_STR(b, "██████░░░░");
    tui_fmt_bar(10, 10, 10, true, b, sizeof(b));  CHECK_STR(b, "██████████");
    tui_fmt_bar(20, 10, 10, true, b, sizeof(b));  CHECK_STR(b, "██████████");
    tui_fmt_bar(0, 10, 10, true, b, sizeof(b));   CHECK_STR(b, "░░░░░░░░░░");
    tui_fmt_bar(0.001, 10, 10, true, b, sizeof(b)); CHECK_STR(b, "█░░░░░░░░░"); /* visible */
    tui_fmt_bar(5, 0, 10, true, b, sizeof(b));    CHECK_STR(b, "░░░░░░░░░░");  /* no max */
    CHECK_EQ_U(tui_utf8_cols(b), 10);
}

static void test_bar_ascii(void)
{
    char b[64];

    CHECK_EQ_U(tui_fmt_bar(6, 10, 10, false, b, sizeof(b)), 10);
    CHECK_STR(b, "######....");
    tui_fmt_bar(1, 4, 4, false, b, sizeof(b));    CHECK_STR(b, "#...");
    tui_fmt_bar(3, 4, 10, false, b, 6);           CHECK_STR(b, "#####");   /* clamped */
}

static void fill_v4(struct nm_addr *a, uint8_t x, uint8_t y, uint8_t z, uint8_t w)
{
    memset(a, 0, sizeof(*a));
    a->b[10] = 0xff;
    a->b[11] = 0xff;
    a->b[12] = x; a->b[13] = y; a->b[14] = z; a->b[15] = w;
}

static struct flow_record tcp_record(uint8_t fs, uint8_t fd)
{
    struct flow_record r;

    memset(&r, 0, sizeof(r));
    r.ip_version = 4;
    r.proto = 6;
    fill_v4(&r.addr[0], 192, 168, 1, 20);
    fill_v4(&r.addr[1], 10, 0, 0, 1);
    r.port[0] = 44012;
    r.port[1] = 443;
    r.tcp_flags[0] = fs;
    r.tcp_flags[1] = fd;
    r.bytes[0] = 200000;
    r.bytes[1] = 1000000;
    r.pkts[0] = 400;
    r.pkts[1] = 900;
    return r;
}

static void test_state(void)
{
    char buf[32];
    struct flow_record r = tcp_record(0x02, 0);

    CHECK_STR(tui_flow_state(&r, buf, sizeof(buf)), "SYN_SENT");
    r = tcp_record(0x02, 0x12);
    CHECK_STR(tui_flow_state(&r, buf, sizeof(buf)), "SYN_RECV");
    r = tcp_record(0x12, 0x12);
    CHECK_STR(tui_flow_state(&r, buf, sizeof(buf)), "ESTABLISHED");
    r = tcp_record(0x10, 0x18);                   /* picked up mid-stream */
    CHECK_STR(tui_flow_state(&r, buf, sizeof(buf)), "ESTABLISHED");
    r = tcp_record(0x13, 0x12);
    CHECK_STR(tui_flow_state(&r, buf, sizeof(buf)), "FIN_WAIT");
    r = tcp_record(0x13, 0x13);
    CHECK_STR(tui_flow_state(&r, buf, sizeof(buf)), "CLOSING");
    r.end_reason = FLOW_END_FIN;
    CHECK_STR(tui_flow_state(&r, buf, sizeof(buf)), "CLOSED");
    r = tcp_record(0x02, 0x14);
    CHECK_STR(tui_flow_state(&r, buf, sizeof(buf)), "RESET");
    r.proto = 17;
    CHECK_STR(tui_flow_state(&r, buf, sizeof(buf)), "UDP");
    r.proto = 47;
    CHECK_STR(tui_flow_state(&r, buf, sizeof(buf)), "proto 47");
}

/* With the analyzer's summary, the row shows the tracker's state. */
static void test_state_from_tracker(void)
{
    char buf[32];
    struct flow_record r = tcp_record(0x13, 0x13);

    r.tcp.valid = true;
    r.tcp.tcp_state = TCP_ST_TIME_WAIT;
    CHECK_STR(tui_flow_state(&r, buf, sizeof(buf)), "TIME_WAIT");
    r.tcp.tcp_state = TCP_ST_NONE;
    CHECK_STR(tui_flow_state(&r, buf, sizeof(buf)), "NONE");
}

static void test_rtt(void)
{
    char buf[16];
    struct flow_record r = tcp_record(0x12, 0x12);

    tui_fmt_rtt(0, buf, sizeof(buf));
    CHECK_STR(buf, "-");
    tui_fmt_rtt(850, buf, sizeof(buf));
    CHECK_STR(buf, "850us");
    tui_fmt_rtt(1234, buf, sizeof(buf));
    CHECK_STR(buf, "1.2ms");
    tui_fmt_rtt(45400, buf, sizeof(buf));
    CHECK_STR(buf, "45ms");
    tui_fmt_rtt(1250000, buf, sizeof(buf));
    CHECK_STR(buf, "1.2s");

    CHECK_EQ_U(tui_flow_rtt_us(&r), 0);            /* not analysed */
    r.tcp.valid = true;
    CHECK_EQ_U(tui_flow_rtt_us(&r), 0);            /* analysed, nothing timed */
    r.tcp.has_handshake_rtt = true;
    r.tcp.rtt_handshake_us = 900;
    CHECK_EQ_U(tui_flow_rtt_us(&r), 900);
    r.tcp.rtt_samples[NM_DIR_DST] = 3;
    r.tcp.rtt_last_us[NM_DIR_DST] = 700;
    CHECK_EQ_U(tui_flow_rtt_us(&r), 900);          /* one leg only: handshake */
    r.tcp.rtt_samples[NM_DIR_SRC] = 1;
    r.tcp.rtt_last_us[NM_DIR_SRC] = 50;
    CHECK_EQ_U(tui_flow_rtt_us(&r), 750);          /* both legs: their sum */
}

static void test_endpoint(void)
{
    char b[80];
    struct nm_addr a;

    fill_v4(&a, 198, 18, 0, 1);
    tui_fmt_endpoint(&a, 4, 443, true, b, sizeof(b));   CHECK_STR(b, "198.18.0.1:443");
    tui_fmt_endpoint(&a, 4, 443, false, b, sizeof(b));  CHECK_STR(b, "198.18.0.1");
    memset(&a, 0, sizeof(a));
    a.b[0] = 0x20; a.b[1] = 0x01; a.b[2] = 0x0d; a.b[3] = 0xb8; a.b[15] = 1;
    tui_fmt_endpoint(&a, 6, 80, true, b, sizeof(b));    CHECK_STR(b, "[2001:db8::1]:80");
}

static void test_ema(void)
{
    double avg = 0;

    /* After one time constant of a constant input, 1 - 1/e of the way. */
    avg = tui_ema(0, 100, 2.0, 2.0);
    CHECK(fabs(avg - 100 * (1 - exp(-1))) < 1e-9);
    for (int i = 0; i < 100; i++)
        avg = tui_ema(avg, 100, 1.0, 2.0);
    CHECK(fabs(avg - 100) < 1e-6);
    CHECK(tui_ema(5, 100, 0, 2.0) == 5);          /* no time passed: unchanged */
    /* Longer windows react more slowly. */
    CHECK(tui_ema(0, 100, 1, 2) > tui_ema(0, 100, 1, 10));
    CHECK(tui_ema(0, 100, 1, 10) > tui_ema(0, 100, 1, 40));
}

static void test_row_layout(void)
{
    struct flow_record r = tcp_record(0x12, 0x12);
    struct tui_row row = { .rec = &r, .state = "ESTABLISHED", .rate_up = 1000, .rate_down = 5000,
                           .bar_max = 10000, .age_us = 65000000 };
    char out[512], titles[512];
    unsigned ep = tui_endpoint_cols(150, false);

    CHECK_EQ_U(ep, 150 - TUI_FIXED_COLS);
    tui_fmt_row(&row, ep, true, out, sizeof(out));
    CHECK(strncmp(out, "192.168.1.20:44012 → 10.0.0.1:443 (ESTABLISHED)", 49) == 0);
    CHECK_EQ_U(tui_utf8_cols(out), 150);
    CHECK(strstr(out, " 1.2 MB ██████░░░░ ") != NULL);     /* 6000 of 10000 */
    CHECK(strstr(out, " 8.00 kb/s  40.0 kb/s ") != NULL);  /* up, down in bits */
    CHECK(strstr(out, "    1.3k      -       - -           1m05s") != NULL);
    tui_fmt_titles(ep, true, false, titles, sizeof(titles));
    CHECK_EQ_U(tui_utf8_cols(titles), 150);
    /* Each title ends where its column ends. */
    const char *t = strstr(titles, "TOTAL"), *v = strstr(out, "1.2 MB");
    CHECK(t && v && tui_utf8_cols(t) - 5 == tui_utf8_cols(v) - 6);

    tui_fmt_row(&row, ep, false, out, sizeof(out));
    CHECK(strncmp(out, "192.168.1.20:44012 -> 10.0.0.1:443 (ESTABLISHED) ", 49) == 0);
    CHECK(strstr(out, " ######.... ") != NULL);
    CHECK_EQ_U(strlen(out), 150);                          /* ASCII: bytes == columns */
    for (const char *p = out; *p; p++)
        CHECK((unsigned char)*p < 0x80);

    /* Narrow screens cut the endpoints with an ellipsis, never the numbers. */
    tui_fmt_row(&row, 20, true, out, sizeof(out));
    CHECK_EQ_U(tui_utf8_cols(out), 20 + TUI_FIXED_COLS);
    CHECK(strncmp(out, "192.168.1.20:44012 …", strlen("192.168.1.20:44012 …")) == 0);
    tui_fmt_row(&row, 20, false, out, sizeof(out));
    CHECK(strncmp(out, "192.168.1.20:44012 ~", 20) == 0);
    /* A small buffer is still terminated. */
    CHECK(tui_fmt_row(&row, ep, true, out, 16) == 15 && out[15] == '\0');
    CHECK_EQ_U(tui_endpoint_cols(40, false), TUI_MIN_ENDPOINT_COLS);
    CHECK_EQ_U(tui_endpoint_cols(150, true), 150 - TUI_FIXED_COLS - TUI_PROCESS_COLS);
}

/* The process column: "comm/pid" under its title, "-" without an owner,
 * a long name cut, and the endpoints narrower by the column's width. */
static void test_process_column(void)
{
    struct flow_record r = tcp_record(0x12, 0x12);
    char proc[64], out[512], titles[512];
    struct tui_row row = { .rec = &r, .state = "ESTABLISHED", .age_us = 1000000,
                           .process = proc };
    unsigned ep = tui_endpoint_cols(150, true);

    CHECK(tui_fmt_process(&r.owner, proc, sizeof(proc)) == 0 && proc[0] == '\0');
    tui_fmt_row(&row, ep, false, out, sizeof(out));
    CHECK_EQ_U(strlen(out), 150);
    CHECK(strstr(out, "       - -                - ") != NULL);

    r.owner.pid = 4242;
    snprintf(r.owner.comm, sizeof(r.owner.comm), "curl");
    CHECK(tui_fmt_process(&r.owner, proc, sizeof(proc)) == 9 && strcmp(proc, "curl/4242") == 0);
    tui_fmt_row(&row, ep, false, out, sizeof(out));
    tui_fmt_titles(ep, false, true, titles, sizeof(titles));
    CHECK_EQ_U(strlen(out), 150);
    CHECK_EQ_U(strlen(titles), 150);
    const char *t = strstr(titles, "PROCESS"), *v = strstr(out, "curl/4242");
    CHECK(t && v && t - titles == v - out);

    snprintf(r.owner.comm, sizeof(r.owner.comm), "a-long-process-");
    r.owner.pid = 1234567;
    tui_fmt_process(&r.owner, proc, sizeof(proc));
    tui_fmt_row(&row, ep, false, out, sizeof(out));
    CHECK_EQ_U(strlen(out), 150);
    CHECK(strstr(out, "a-long-process-~") != NULL);
}

/* Group by process: sums per owner, flows without one together, busiest
 * first, and a bounded number of groups with the rest in "(more)". */
static void test_groups(void)
{
    static struct tui_group g[TUI_GROUPS_MAX];
    struct flow_record r = tcp_record(0x12, 0x12);
    uint64_t bytes = r.bytes[0] + r.bytes[1], pkts = r.pkts[0] + r.pkts[1];
    char out[512], titles[512];
    uint32_t n = 0;

    r.owner.pid = 10;
    snprintf(r.owner.comm, sizeof(r.owner.comm), "curl");
    tui_group_add(g, &n, &r, 100, 1000);
    tui_group_add(g, &n, &r, 50, 50);
    r.owner.pid = 20;
    snprintf(r.owner.comm, sizeof(r.owner.comm), "dig");
    tui_group_add(g, &n, &r, 5000, 0);
    r.owner.pid = 0;
    tui_group_add(g, &n, &r, 1, 1);
    CHECK_EQ_U(n, 3);
    tui_group_sort(g, n);
    CHECK(g[0].pid == 20 && g[1].pid == 10 && g[2].pid == 0);
    CHECK(g[1].flows == 2 && g[1].bytes == 2 * bytes && g[1].pkts == 2 * pkts);
    CHECK(g[1].rate_up == 150 && g[1].rate_down == 1050);
    tui_fmt_group_row(&g[1], 5000, false, out, sizeof(out));
    tui_fmt_group_titles(false, titles, sizeof(titles));
    CHECK(strncmp(out, "curl/10 ", 8) == 0);
    CHECK_EQ_U(strlen(out), strlen(titles));
    const char *t = strstr(titles, "FLOWS"), *v = strstr(out, " 2 ");
    CHECK(t && v && t - titles + 4 == v - out + 1);         /* right-aligned under FLOWS */
    CHECK(strstr(out, " 1.20 kb/s  8.40 kb/s") != NULL);    /* 150 and 1050 B/s in bits */
    tui_fmt_group_row(&g[2], 5000, false, out, sizeof(out));
    CHECK(strncmp(out, "- (no owner)", 12) == 0);

    n = 0;
    for (int pid = 1; pid <= (int)TUI_GROUPS_MAX + 5; pid++) {
        r.owner.pid = pid;
        tui_group_add(g, &n, &r, 1, 0);
    }
    CHECK_EQ_U(n, TUI_GROUPS_MAX);
    CHECK(g[TUI_GROUPS_MAX - 1].pid == -1 && g[TUI_GROUPS_MAX - 1].flows == 6);
}

int main(void)
{
    RUN(test_bytes);
    RUN(test_bits);
    RUN(test_count_age);
    RUN(test_bar_utf8);
    RUN(test_bar_ascii);
    RUN(test_state);
    RUN(test_state_from_tracker);
    RUN(test_rtt);
    RUN(test_endpoint);
    RUN(test_ema);
    RUN(test_row_layout);
    RUN(test_process_column);
    RUN(test_groups);
    TESTLIB_EXIT();
}
