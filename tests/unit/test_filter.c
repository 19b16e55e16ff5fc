/*
 * test_filter.c: capture filter compilation (src/capture/filter.h): valid and
 * invalid expressions (libpcap's message passed through verbatim), matching
 * hand-built frames, the sock_fprog view accepted by the kernel, and -F files.
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture/filter.h"
#include "testlib.h"

/* Ethernet + IPv4 + TCP, 54 bytes, 198.18.0.1:40000 -> 198.18.0.2:dport. */
static void build_tcp_frame(uint8_t f[54], uint16_t dport)
{
    static const uint8_t hdr[54] = {
        0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,
        0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
        0x9c, 0x40, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
    };
    memcpy(f, hdr, sizeof(hdr));
    f[36] = (uint8_t)(dport >> 8);
    f[37] = (uint8_t)dport;
}

static struct nm_frame frame_of(const uint8_t *data, uint32_t len, int linktype)
{
    return (struct nm_frame){ .data = data, .caplen = len, .wirelen = len,
                              .ts_us = 1, .linktype = linktype };
}

static void test_valid_expression_matches(void)
{
    struct nm_filter f;
    char err[256] = "";
    CHECK_EQ_U(filter_compile("tcp port 80", NM_LINKTYPE_ETHERNET, 262144, &f, err, sizeof(err)),
               FILTER_OK);
    uint8_t pkt[54];
    build_tcp_frame(pkt, 80);
    struct nm_frame fr = frame_of(pkt, sizeof(pkt), NM_LINKTYPE_ETHERNET);
    CHECK(filter_match(&f, &fr));
    build_tcp_frame(pkt, 81);
    CHECK(!filter_match(&f, &fr));
    /* A frame of another link type never matches. */
    build_tcp_frame(pkt, 80);
    fr.linktype = NM_LINKTYPE_LINUX_SLL2;
    CHECK(!filter_match(&f, &fr));
    CHECK(f.fprog.len == f.prog.bf_len && f.fprog.len > 0);
    CHECK((const void *)f.fprog.filter == (const void *)f.prog.bf_insns);
    filter_free(&f);
}

static void test_empty_expression_accepts_all(void)
{
    struct nm_filter f;
    char err[256] = "";
    CHECK_EQ_U(filter_compile("  ", NM_LINKTYPE_ETHERNET, 65535, &f, err, sizeof(err)), FILTER_OK);
    uint8_t pkt[54];
    build_tcp_frame(pkt, 9);
    struct nm_frame fr = frame_of(pkt, sizeof(pkt), NM_LINKTYPE_ETHERNET);
    CHECK(filter_match(&f, &fr));
    filter_free(&f);
    CHECK_EQ_U(filter_compile(NULL, NM_LINKTYPE_RAW, 0, &f, err, sizeof(err)), FILTER_OK);
    filter_free(&f);
}

static void test_raw_linktype_for_kernel_any(void)
{
    struct nm_filter f;
    char err[256] = "";
    CHECK_EQ_U(filter_compile("tcp port 80", NM_LINKTYPE_RAW, 262144, &f, err, sizeof(err)), FILTER_OK);
    uint8_t pkt[54];
    build_tcp_frame(pkt, 80);
    struct nm_frame fr = frame_of(pkt + 14, 40, NM_LINKTYPE_RAW);
    CHECK(filter_match(&f, &fr));
    filter_free(&f);
}

/* libpcap's own message for an expression, the oracle for "verbatim". */
static void pcap_message(const char *expr, int dlt, char *msg, size_t len)
{
    pcap_t *p = pcap_open_dead(dlt, 262144);
    struct bpf_program prog;
    if (pcap_compile(p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) == 0) {
        snprintf(msg, len, "(compiled)");
        pcap_freecode(&prog);
    } else {
        snprintf(msg, len, "%s", pcap_geterr(p));
    }
    pcap_close(p);
}

static void test_invalid_expression_message_verbatim(void)
{
    struct nm_filter f;
    char err[256] = "", want[256];
    CHECK_EQ_U((unsigned)-filter_compile("tcp port", NM_LINKTYPE_ETHERNET, 262144, &f, err, sizeof(err)),
               (unsigned)-FILTER_ERR_SYNTAX);
    pcap_message("tcp port", DLT_EN10MB, want, sizeof(want));
    CHECK_STR(err, want);
    CHECK(strstr(err, "syntax error") != NULL);
    printf("# libpcap says: %s\n", err);

    CHECK_EQ_U((unsigned)-filter_compile("ether host 02:00:00:00:00:01", NM_LINKTYPE_RAW, 262144, &f,
                                         err, sizeof(err)),
               (unsigned)-FILTER_ERR_SYNTAX);
    pcap_message("ether host 02:00:00:00:00:01", DLT_RAW, want, sizeof(want));
    CHECK_STR(err, want);
    printf("# libpcap says: %s\n", err);
}

/* The fprog view must be what the kernel accepts: SO_ATTACH_FILTER works on
 * any socket without privileges, so a UDP socket checks it. */
static void test_sock_fprog_accepted_by_kernel(void)
{
    struct nm_filter f;
    char err[256] = "";
    CHECK_EQ_U(filter_compile("udp and (port 53 or portrange 5000-6000)", NM_LINKTYPE_ETHERNET, 262144,
                              &f, err, sizeof(err)), FILTER_OK);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, filter_sock_fprog(&f),
                         sizeof(struct sock_fprog)) == 0);
        close(fd);
    }
    filter_free(&f);
}

static void test_read_file_strips_comments(void)
{
    char path[] = "/tmp/netmoon-filter-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    const char *text = "# web traffic only\n"
                       "tcp port 80   # plain http\n"
                       "\tor tcp port 443\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    char *expr = NULL, err[256] = "";
    CHECK_EQ_U(filter_read_file(path, &expr, err, sizeof(err)), FILTER_OK);
    CHECK(expr && strstr(expr, "#") == NULL);
    CHECK(expr && strstr(expr, "tcp port 80") && strstr(expr, "or tcp port 443"));
    struct nm_filter f;
    CHECK_EQ_U(filter_compile(expr, NM_LINKTYPE_ETHERNET, 262144, &f, err, sizeof(err)), FILTER_OK);
    uint8_t pkt[54];
    build_tcp_frame(pkt, 443);
    struct nm_frame fr = frame_of(pkt, sizeof(pkt), NM_LINKTYPE_ETHERNET);
    CHECK(filter_match(&f, &fr));
    filter_free(&f);
    free(expr);
    unlink(path);

    CHECK_EQ_U((unsigned)-filter_read_file("/nonexistent/netmoon.bpf", &expr, err, sizeof(err)),
               (unsigned)-FILTER_ERR_IO);
    CHECK(strstr(err, "/nonexistent/netmoon.bpf") && strstr(err, "No such file"));
}

int main(void)
{
    RUN(test_valid_expression_matches);
    RUN(test_empty_expression_accepts_all);
    RUN(test_raw_linktype_for_kernel_any);
    RUN(test_invalid_expression_message_verbatim);
    RUN(test_sock_fprog_accepted_by_kernel);
    RUN(test_read_file_strips_comments);
    TESTLIB_EXIT();
}
