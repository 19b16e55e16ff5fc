/*
 * test_iface.c: default-route parsing from sample /proc/net/route and
 * /proc/net/ipv6_route text, the no-default-route message, interface checks
 * and "-i a,b" splitting (src/capture/iface.h).
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture/iface.h"
#include "testlib.h"

static const char route_two_defaults[] =
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
    "eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
    "eth0\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
    "down0\t00000000\t0100A8C0\t0002\t0\t0\t1\t00000000\t0\t0\t0\n";

static const char route_no_default[] =
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n";

static const char route6_default[] =
    "20010db8000000000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth1\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth2\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "fe800000000000000000000000000001 00000200 00000001 00000000 00000003    wwan0\n";

static int parse_text(const char *text, int v6, char name[IFNAMSIZ], uint32_t *metric)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    if (!f)
        return -100;
    int rc = v6 ? iface_parse_route_v6(f, name, metric) : iface_parse_route_v4(f, name, metric);
    fclose(f);
    return rc;
}

static void test_route_v4_lowest_metric(void)
{
    char name[IFNAMSIZ] = "";
    uint32_t metric = 0;
    CHECK_EQ_U(parse_text(route_two_defaults, 0, name, &metric), IFACE_OK);
    CHECK_STR(name, "eth0");
    CHECK_EQ_U(metric, 100);
    CHECK_EQ_U(parse_text(route_no_default, 0, name, &metric), IFACE_NONE);
    CHECK_EQ_U(parse_text("", 0, name, &metric), IFACE_NONE);
}

static void test_route_v6_skips_lo_reject(void)
{
    char name[IFNAMSIZ] = "";
    uint32_t metric = 0;
    CHECK_EQ_U(parse_text(route6_default, 1, name, &metric), IFACE_OK);
    CHECK_STR(name, "wwan0");
    CHECK_EQ_U(metric, 0x200);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_default_route_fallback_and_message(void)
{
    char dir[] = "/tmp/netmoon-proc-XXXXXX", path[256], name[IFNAMSIZ] = "", err[256] = "";
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/net", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/net/route", dir);
    write_file(path, route_no_default);
    snprintf(path, sizeof(path), "%s/net/ipv6_route", dir);
    write_file(path, route6_default);
    CHECK_EQ_U(iface_default_route(dir, name, err, sizeof(err)), IFACE_OK);
    CHECK_STR(name, "wwan0");

    write_file(path, "");
    CHECK_EQ_U((unsigned)-iface_default_route(dir, name, err, sizeof(err)),
               (unsigned)-IFACE_ERR_NO_DEFAULT);
    CHECK_STR(err, "no default route: name an interface with -i (see `ip link`)");

    snprintf(path, sizeof(path), "%s/net/route", dir);
    write_file(path, route_two_defaults);
    CHECK_EQ_U(iface_default_route(dir, name, err, sizeof(err)), IFACE_OK);
    CHECK_STR(name, "eth0");

    snprintf(path, sizeof(path), "%s/net/route", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/net/ipv6_route", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/net", dir);
    rmdir(path);
    rmdir(dir);
}

static void test_iface_check(void)
{
    char err[256] = "";
    int idx = -1;
    CHECK_EQ_U(iface_check("lo", &idx, err, sizeof(err)), IFACE_OK);
    CHECK(idx > 0);
    CHECK_EQ_U(iface_check("any", &idx, err, sizeof(err)), IFACE_OK);
    CHECK_EQ_U(idx, 0);
    CHECK_EQ_U((unsigned)-iface_check("nmnosuch0", &idx, err, sizeof(err)),
               (unsigned)-IFACE_ERR_NOT_FOUND);
    CHECK(strstr(err, "nmnosuch0") && strstr(err, "ip link"));
    CHECK_EQ_U((unsigned)-iface_check("averyveryverylongname", &idx, err, sizeof(err)),
               (unsigned)-IFACE_ERR_NOT_FOUND);
}

static void test_split_list(void)
{
    char names[IFACE_MAX_LIST][IFNAMSIZ], err[256] = "";
    size_t n = 0;
    CHECK_EQ_U(iface_split_list("eth0, eth1 ,veth-a", names, IFACE_MAX_LIST, &n, err, sizeof(err)),
               IFACE_OK);
    CHECK_EQ_U(n, 3);
    CHECK_STR(names[0], "eth0");
    CHECK_STR(names[1], "eth1");
    CHECK_STR(names[2], "veth-a");
    CHECK_EQ_U(iface_split_list("any", names, IFACE_MAX_LIST, &n, err, sizeof(err)), IFACE_OK);
    CHECK_EQ_U(n, 1);
    CHECK(iface_split_list("eth0,,eth1", names, IFACE_MAX_LIST, &n, err, sizeof(err)) == IFACE_ERR_BAD_LIST);
    CHECK(strstr(err, "empty interface name"));
    CHECK(iface_split_list("eth0,eth0", names, IFACE_MAX_LIST, &n, err, sizeof(err)) == IFACE_ERR_BAD_LIST);
    CHECK(strstr(err, "twice"));
    CHECK(iface_split_list("eth0,any", names, IFACE_MAX_LIST, &n, err, sizeof(err)) == IFACE_ERR_BAD_LIST);
    CHECK(iface_split_list("a23456789012345678", names, IFACE_MAX_LIST, &n, err, sizeof(err)) ==
          IFACE_ERR_BAD_LIST);
    CHECK(iface_split_list("a,b,c", names, 2, &n, err, sizeof(err)) == IFACE_ERR_BAD_LIST);
    CHECK(iface_split_list("", names, 2, &n, err, sizeof(err)) == IFACE_ERR_BAD_LIST);
}

int main(void)
{
    RUN(test_route_v4_lowest_metric);
    RUN(test_route_v6_skips_lo_reject);
    RUN(test_default_route_fallback_and_message);
    RUN(test_iface_check);
    RUN(test_split_list);
    TESTLIB_EXIT();
}
