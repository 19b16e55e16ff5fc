/*
 * test_procs.c: process attribution pieces that need no live system:
 * the tuple cache (canonical order, IPv4-mapped addresses meeting their
 * IPv4 form, bounded replacement counted), the /proc scanner on a fake
 * proc(5) tree built here (socket:[N] links, comm, cmdline bounds, other
 * network namespaces left out, new-pid scans, a cmdline only for the comm
 * the kernel named), and the JSON fields.
 */
#include "testlib.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output/json.h"
#include "procs/procs_cache.h"
#include "procs/procs_diag.h"
#include "procs/procs_scan.h"

static struct nm_addr addr_of(int family, const char *text)
{
    uint8_t raw[16] = { 0 };
    struct nm_addr a;

    CHECK(inet_pton(family, text, raw) == 1);
    procs_addr_from_raw(&a, family, raw);
    return a;
}

#define addr_v4(text) addr_of(AF_INET, (text))
#define addr_v6(text) addr_of(AF_INET6, (text))

static void test_addresses(void)
{
    struct nm_addr v4 = addr_v4("198.18.0.2"), mapped = addr_v6("::ffff:198.18.0.2");
    struct nm_addr zero = { { 0 } }, any4 = addr_v4("0.0.0.0"), any6 = addr_v6("::");
    struct nm_addr mapped_any = addr_v6("::ffff:0.0.0.0"), v6 = addr_v6("2001:db8::1");

    CHECK(memcmp(&v4, &mapped, sizeof(v4)) == 0);           /* bandwhich #196 */
    CHECK(v4.b[10] == 0xff && v4.b[11] == 0xff && v4.b[12] == 198 && v4.b[15] == 2);
    CHECK(memcmp(&any4, &zero, sizeof(zero)) == 0);
    CHECK(memcmp(&any6, &zero, sizeof(zero)) == 0);
    CHECK(memcmp(&mapped_any, &zero, sizeof(zero)) == 0);
    CHECK(v6.b[0] == 0x20 && v6.b[1] == 0x01 && v6.b[15] == 1);
}

static void test_cache(void)
{
    struct nm_addr a = addr_v4("198.18.0.1"), b = addr_v6("::ffff:198.18.0.2");
    struct nm_addr b4 = addr_v4("198.18.0.2");
    struct procs_tuple t1, t2, t3;
    struct procs_cache *c = procs_cache_create(4);   /* one set of four ways */

    CHECK(c != NULL);
    procs_tuple_make(&t1, 6, &a, 40000, &b, 80);
    procs_tuple_make(&t2, 6, &b4, 80, &a, 40000);     /* the other direction, IPv4 form */
    CHECK(memcmp(&t1, &t2, sizeof(t1)) == 0);
    procs_tuple_make(&t3, 17, &a, 40000, &b, 80);     /* another protocol */
    CHECK(memcmp(&t1, &t3, sizeof(t1)) != 0);

    struct procs_entry *e = procs_cache_put(c, &t1);
    e->status = PROCS_ATTRIBUTED;
    e->owner.pid = 77;
    CHECK(procs_cache_find(c, &t2) == e && procs_cache_find(c, &t2)->owner.pid == 77);
    CHECK(procs_cache_find(c, &t3) == NULL);

    /* Four more distinct tuples through a set of four: the oldest goes.  It
     * was looked up, so nothing unused was lost. */
    for (uint16_t p = 1; p <= 4; p++) {
        struct procs_tuple t;
        procs_tuple_make(&t, 6, &a, p, &b, 80);
        procs_cache_put(c, &t)->status = PROCS_UNATTRIBUTED;
    }
    CHECK(procs_cache_find(c, &t1) == NULL);
    CHECK_EQ_U(procs_cache_evictions(c), 0);
    /* One more: the oldest of those was never looked up: counted. */
    procs_cache_put(c, &t3)->status = PROCS_ATTRIBUTED;
    CHECK_EQ_U(procs_cache_evictions(c), 1);
    procs_cache_destroy(c);
}

/* ---- a fake /proc ------------------------------------------------------------ */

static char fake_root[64];

static void fake_write(const char *rel, const char *data, size_t len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", fake_root, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        CHECK(write(fd, data, len) == (ssize_t)len);
        close(fd);
    }
}

static void fake_dir(const char *rel)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", fake_root, rel);
    mkdir(path, 0755);
}

static void fake_link(const char *rel, const char *target)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", fake_root, rel);
    CHECK(symlink(target, path) == 0);
}

/* A process: pid, its netns, a socket inode on fd 3, comm, cmdline. */
static void fake_process(int pid, const char *netns, const char *sock, const char *comm,
                         const char *cmdline, size_t cmdline_len)
{
    char rel[128];

    snprintf(rel, sizeof(rel), "%d", pid);
    fake_dir(rel);
    snprintf(rel, sizeof(rel), "%d/fd", pid);
    fake_dir(rel);
    snprintf(rel, sizeof(rel), "%d/ns", pid);
    fake_dir(rel);
    snprintf(rel, sizeof(rel), "%d/ns/net", pid);
    fake_link(rel, netns);
    snprintf(rel, sizeof(rel), "%d/fd/3", pid);
    fake_link(rel, sock);
    snprintf(rel, sizeof(rel), "%d/fd/0", pid);
    fake_link(rel, "/dev/null");
    snprintf(rel, sizeof(rel), "%d/comm", pid);
    fake_write(rel, comm, strlen(comm));
    snprintf(rel, sizeof(rel), "%d/cmdline", pid);
    fake_write(rel, cmdline, cmdline_len);
}

static int seen_pid, seen_fd;
static uint64_t seen_inode;

static void on_new(void *user, int32_t pid, int fd, uint64_t inode, const char *comm)
{
    (void)user;
    (void)comm;
    seen_pid = pid;
    seen_fd = fd;
    seen_inode = inode;
}

static void test_scan(void)
{
    struct procs_scan s;
    char cmd[NM_OWNER_CMDLINE_MAX];
    bool cut;

    snprintf(fake_root, sizeof(fake_root), "/tmp/nm-test-procs.XXXXXX");
    CHECK(mkdtemp(fake_root) != NULL);
    fake_dir("sys");
    fake_dir("sys/kernel");
    fake_write("sys/kernel/pid_max", "1000\n", 5);
    fake_write("loadavg", "0.00 0.00 0.00 1/90 200\n", 24);
    fake_dir("self");
    fake_dir("self/ns");
    fake_link("self/ns/net", "net:[4026531999]");
    fake_process(100, "net:[4026531999]", "socket:[777]", "curl\n", "curl\0-s\0http://x/\0", 19);
    fake_process(200, "net:[4026500000]", "socket:[888]", "other\n", "other\0", 6);
    fake_process(150, "net:[4026531999]", "socket:[12x]", "bad\n", "bad\0", 4);

    CHECK(procs_scan_init(&s, fake_root, 64) == 0);
    s.on_new = on_new;
    procs_scan_full(&s, 0);
    const struct procs_inode *pi = procs_scan_find(&s, 777);
    CHECK(pi && pi->pid == 100 && strcmp(pi->comm, "curl") == 0);
    CHECK(seen_pid == 100 && seen_fd == 3 && seen_inode == 777);
    CHECK(procs_scan_find(&s, 888) == NULL);                 /* another namespace */
    CHECK_EQ_U(s.other_netns, 1);
    CHECK(procs_scan_find(&s, 12) == NULL);                  /* not "socket:[N]" */

    /* cmdline: NULs become spaces; a short buffer cuts and says so. */
    CHECK(procs_read_cmdline(fake_root, 100, cmd, sizeof(cmd), &cut) == 0);
    CHECK_STR(cmd, "curl -s http://x/");
    CHECK(!cut);
    CHECK(procs_read_cmdline(fake_root, 100, cmd, 8, &cut) == 0);
    CHECK_STR(cmd, "curl -s");
    CHECK(cut);
    CHECK(procs_read_cmdline(fake_root, 999, cmd, sizeof(cmd), &cut) == -1);
    /* An owner named by the kernel earlier: its pid may be another
     * program's now, whose cmdline is not the owner's. */
    CHECK(procs_read_cmdline_of(fake_root, 100, "curl", cmd, sizeof(cmd), &cut) == 0);
    CHECK_STR(cmd, "curl -s http://x/");
    CHECK(procs_read_cmdline_of(fake_root, 100, "wget", cmd, sizeof(cmd), &cut) == -1);
    CHECK_STR(cmd, "");
    CHECK(procs_read_cmdline_of(fake_root, 999, "curl", cmd, sizeof(cmd), &cut) == -1);

    /* A new pid: seen only once /proc/loadavg names a newer last pid. */
    fake_process(300, "net:[4026531999]", "socket:[999]", "dig\n", "dig\0", 4);
    CHECK_EQ_U(procs_scan_new(&s, 1000), 0);                 /* last pid unchanged: not listed */
    fake_write("loadavg", "0.00 0.00 0.00 1/91 300\n", 24);
    CHECK_EQ_U(procs_scan_new(&s, 1000), 1);
    pi = procs_scan_find(&s, 999);
    CHECK(pi && pi->pid == 300 && strcmp(pi->comm, "dig") == 0);
    CHECK_EQ_U(procs_scan_young_count(&s, 2000), 1);         /* young for a while … */
    CHECK_EQ_U(procs_scan_young_count(&s, 1000 + PROCS_YOUNG_US), 0);   /* … not for ever */

    /* A pid number used again after it was gone from a listing is a new
     * process (pids wrap), and a full scan makes new pids young too. */
    char rm[128];
    snprintf(rm, sizeof(rm), "rm -rf %s/100", fake_root);
    CHECK(system(rm) == 0);
    fake_write("loadavg", "0.00 0.00 0.00 1/91 301\n", 24);
    CHECK_EQ_U(procs_scan_new(&s, 1000), 0);
    fake_process(100, "net:[4026531999]", "socket:[555]", "curl\n", "curl\0", 5);
    fake_write("loadavg", "0.00 0.00 0.00 1/91 302\n", 24);
    CHECK_EQ_U(procs_scan_new(&s, 1000), 1);
    pi = procs_scan_find(&s, 555);
    CHECK(pi && pi->pid == 100);
    CHECK_EQ_U(procs_scan_young_count(&s, 2000), 2);
    fake_process(400, "net:[4026531999]", "socket:[556]", "wget\n", "wget\0", 5);
    procs_scan_full(&s, 1000);
    CHECK(procs_scan_find(&s, 556) != NULL && procs_scan_find(&s, 555) != NULL);
    CHECK_EQ_U(procs_scan_young_count(&s, 2000), 3);
    procs_scan_fini(&s);

    snprintf(rm, sizeof(rm), "rm -rf %s", fake_root);
    CHECK(system(rm) == 0);
}

static void test_json(void)
{
    struct flow_record r;
    char out[JSON_RECORD_MAX];

    memset(&r, 0, sizeof(r));
    r.ip_version = 4;
    r.proto = 6;
    r.addr[0] = addr_v4("198.18.0.1");
    r.addr[1] = addr_v4("198.18.0.2");
    json_format_flow(&r, out, sizeof(out));
    CHECK(strstr(out, "\"pid\"") == NULL && strstr(out, "\"process\"") == NULL);

    r.owner.pid = 4242;
    snprintf(r.owner.comm, sizeof(r.owner.comm), "cu\"rl");
    snprintf(r.owner.cmdline, sizeof(r.owner.cmdline), "curl \xc3\xa9\\ \t");
    json_format_flow(&r, out, sizeof(out));
    CHECK(strstr(out, ",\"pid\":4242,\"process\":\"cu\\\"rl\",\"cmdline\":\"curl \\u00c3\\u00a9\\\\ \\u0009\"") != NULL);
    CHECK(strstr(out, "cmdline_cut") == NULL);
    r.owner.cmdline_cut = true;
    json_format_flow(&r, out, sizeof(out));
    CHECK(strstr(out, ",\"cmdline_cut\":true") != NULL);

    /* The longest cmdline, all escaped, still leaves a whole record. */
    memset(r.owner.cmdline, 1, sizeof(r.owner.cmdline) - 1);
    r.owner.cmdline[sizeof(r.owner.cmdline) - 1] = 0;
    size_t n = json_format_flow(&r, out, sizeof(out));
    CHECK(n < sizeof(out) - 1 && out[n - 1] == '\n' && strstr(out, "\"community_id\"") != NULL);
}

int main(void)
{
    RUN(test_addresses);
    RUN(test_cache);
    RUN(test_scan);
    RUN(test_json);
    TESTLIB_EXIT();
}
