/*
 * test_procs_bpf.c: the eBPF owner source (src/procs/procs_bpf.h) against
 * the running kernel, on loopback sockets this test opens itself: TCP
 * sends and receives, an AF_INET6 socket on ::ffff:127.0.0.1 found under
 * its IPv4 tuple, an unconnected UDP sender found under its local end
 * (and no longer once older than the age asked for), a refused connect()
 * that never sends, a send from a thread with another name, a port
 * reused after a reset by a connect() stuck in SYN_SENT (never the reset
 * socket's owner), and a send from a process outside the loader's pid
 * namespace (the entry's previous owner goes), and loopback traffic of a
 * child in a network namespace of its own (not recorded).  The oracle is this
 * process: getpid() and /proc/self/comm.
 *
 * Loading needs root and a kernel with BTF and the sock_send_length
 * tracepoint (6.3+).  Whether it must load is decided here, not from the
 * load's own failure (which a verifier or CO-RE rejection would be too):
 * euid 0, a build with the eBPF source, and the kernel's BTF holding the
 * tracepoint's type.  Then a load failure fails; without them every check
 * is skipped, with the reason.  NETMOON_EXPECT_BPF=yes|no overrides (a
 * root without CAP_BPF), as for tests/tools/bpf-expected.sh.
 */
#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <net/if.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procs/procs_bpf.h"
#include "procs/procs_diag.h"

#ifndef NETMOON_NO_BPF
#include <bpf/btf.h>
#endif

static struct procs_bpf *bpf;
static char self_comm[NM_OWNER_COMM_MAX];

static struct nm_addr loopback4(void)
{
    struct in_addr raw = { htonl(INADDR_LOOPBACK) };
    struct nm_addr a;

    procs_addr_from_raw(&a, AF_INET, &raw);
    return a;
}

static uint16_t local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int listen_tcp4(uint16_t *port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr = { htonl(INADDR_LOOPBACK) } };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, 8) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = local_port(fd);
    return fd;
}

static uint64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

/* What the map says about the loopback socket lport → rport, for a packet
 * seen asked_us (0: now). */
static enum procs_bpf_answer ask_map(uint8_t proto, uint16_t lport, uint16_t rport,
                                     bool connected, uint64_t max_age_us, uint64_t asked_us,
                                     int32_t *pid, char comm[NM_OWNER_COMM_MAX])
{
    struct nm_addr lo = loopback4();
    struct procs_bpf_ask ask = {
        .proto = proto, .laddr = &lo, .lport = lport, .raddr = connected ? &lo : NULL,
        .rport = rport, .max_age_us = max_age_us, .asked_us = asked_us ? asked_us : mono_us(),
        .now_us = mono_us(),
    };

    *pid = 0;
    comm[0] = 0;
    return procs_bpf_find(bpf, &ask, pid, comm);
}

/* Whether the map names this process for the socket local → remote. */
static bool owned_by_us(uint8_t proto, uint16_t lport, uint16_t rport, bool connected,
                        uint64_t max_age_us)
{
    char comm[NM_OWNER_COMM_MAX];
    int32_t pid;

    if (ask_map(proto, lport, rport, connected, max_age_us, 0, &pid, comm) != PROCS_BPF_OWNER)
        return false;
    return pid == (int32_t)getpid() && strcmp(comm, self_comm) == 0;
}

static void test_tcp_send_recv(void)
{
    uint16_t sport = 0;
    int lfd = listen_tcp4(&sport), cfd = socket(AF_INET, SOCK_STREAM, 0), afd = -1;
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(sport),
                               .sin_addr = { htonl(INADDR_LOOPBACK) } };
    char b = 'x';

    CHECK(lfd >= 0 && cfd >= 0);
    CHECK(connect(cfd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    CHECK((afd = accept(lfd, NULL, NULL)) >= 0);
    CHECK(send(cfd, &b, 1, 0) == 1);
    CHECK(recv(afd, &b, 1, 0) == 1);
    uint16_t cport = local_port(cfd);
    CHECK(owned_by_us(6, cport, sport, true, 0));           /* the sender's side */
    CHECK(owned_by_us(6, sport, cport, true, 0));           /* the receiver's side */
    CHECK(!owned_by_us(6, cport, (uint16_t)(sport + 1), true, 0));
    CHECK(!owned_by_us(17, cport, sport, true, 0));
    close(afd);
    close(cfd);
    close(lfd);
}

/* bandwhich #196: the v6 socket's flow is IPv4 on the wire. */
static void test_mapped(void)
{
    uint16_t sport = 0;
    int lfd = listen_tcp4(&sport), cfd = socket(AF_INET6, SOCK_STREAM, 0), afd = -1;
    struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(sport) };
    char b = 'x';

    CHECK(inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6.sin6_addr) == 1);
    CHECK(lfd >= 0 && cfd >= 0);
    CHECK(connect(cfd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0);
    CHECK((afd = accept(lfd, NULL, NULL)) >= 0);
    CHECK(send(cfd, &b, 1, 0) == 1);
    CHECK(owned_by_us(6, local_port(cfd), sport, true, 0));
    close(afd);
    close(cfd);
    close(lfd);
}

static void test_udp_unconnected(void)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr = { htonl(INADDR_LOOPBACK) } };
    int rfd = socket(AF_INET, SOCK_DGRAM, 0), sfd = socket(AF_INET, SOCK_DGRAM, 0);
    const struct timespec pause = { 0, 20000000L };

    CHECK(rfd >= 0 && sfd >= 0);
    CHECK(bind(rfd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    CHECK(bind(sfd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    sin.sin_port = htons(local_port(rfd));
    CHECK(sendto(sfd, "q", 1, 0, (struct sockaddr *)&sin, sizeof(sin)) == 1);
    /* An unconnected socket has no remote end: found by its local end only. */
    CHECK(owned_by_us(17, local_port(sfd), 0, false, 1000000));
    nanosleep(&pause, NULL);
    CHECK(!owned_by_us(17, local_port(sfd), 0, false, 1000));   /* too old now */
    close(sfd);
    close(rfd);
}

/* A refused connect() sends and receives nothing: the owner comes from the
 * SYN_SENT → CLOSE state change.  Bound to port 0 (not SOCK_BINDPORT_LOCK),
 * the socket's port is released before that event runs. */
static void test_refused(void)
{
    uint16_t closed = 0;
    int gone = listen_tcp4(&closed), cfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr = { htonl(INADDR_LOOPBACK) } };

    CHECK(gone >= 0 && cfd >= 0);
    close(gone);                                    /* nothing listens there now */
    CHECK(bind(cfd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    uint16_t cport = local_port(cfd);
    sin.sin_port = htons(closed);
    CHECK(connect(cfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 && errno == ECONNREFUSED);
    CHECK(owned_by_us(6, cport, closed, true, 0));
    /* ... and no longer than the closed grace: the port is free again. */
    char comm[NM_OWNER_COMM_MAX];
    int32_t pid;
    uint64_t later = mono_us() + PROCS_BPF_CLOSED_GRACE_US + 100000;
    CHECK(ask_map(6, cport, closed, true, 0, later, &pid, comm) == PROCS_BPF_UNKNOWN);
    close(cfd);
}

/* Connects from port cport to sport on loopback (cport 0: any), sends a
 * byte and resets the connection (SO_LINGER 0: no TIME_WAIT, so the port
 * is free again at once).  Returns the port used, 0 on failure. */
static uint16_t connect_send_reset(uint16_t cport, uint16_t sport)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(cport),
                               .sin_addr = { htonl(INADDR_LOOPBACK) } };
    struct linger lg = { 1, 0 };
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    uint16_t used = 0;

    if (fd < 0)
        return 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
        bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
        sin.sin_port = htons(sport);
        if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 && send(fd, "a", 1, 0) == 1 &&
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0)
            used = local_port(fd);
    }
    close(fd);
    return used;
}

static int tcp_state(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);

    return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 ? ti.tcpi_state : -1;
}

/* Process A (a child) connects from an automatically chosen port, sends
 * and resets; returns A's pid and port. */
static pid_t reset_in_child(uint16_t sport, uint16_t *cport)
{
    int pipefd[2], status = 0;

    if (pipe(pipefd) != 0)
        return -1;
    pid_t a = fork();
    if (a == 0) {
        uint16_t used = connect_send_reset(0, sport);
        _exit(write(pipefd[1], &used, sizeof(used)) == sizeof(used) ? 0 : 1);
    }
    if (a < 0 || read(pipefd[0], cport, sizeof(*cport)) != sizeof(*cport) ||
        waitpid(a, &status, 0) != a || status != 0)
        a = -1;
    close(pipefd[0]);
    close(pipefd[1]);
    return a;
}

/* The review's shape: process A connects from a port, sends and resets;
 * process B (this one) binds the same port and connects to the same
 * listener, whose full accept queue drops B's SYN, so B stays in SYN_SENT
 * and sends nothing.  The flow B's SYN starts is not A's. */
static void test_reused_port(void)
{
    uint16_t sport = 0, cport = 0;
    int lfd = listen_tcp4(&sport);
    char comm[NM_OWNER_COMM_MAX];
    int32_t pid = 0;

    CHECK(lfd >= 0 && listen(lfd, 0) == 0);
    pid_t a = reset_in_child(sport, &cport);
    CHECK(a > 0 && cport != 0);
    /* A's own late packets are still A's; a packet seen well after A's
     * reset is some later socket's. */
    CHECK(ask_map(6, cport, sport, true, 0, 0, &pid, comm) == PROCS_BPF_OWNER && pid == a);
    uint64_t later = mono_us() + PROCS_BPF_CLOSED_GRACE_US + 100000;
    CHECK(ask_map(6, cport, sport, true, 0, later, &pid, comm) == PROCS_BPF_UNKNOWN);
    int done = accept(lfd, NULL, NULL);             /* A's, reset: out of the queue */
    int filler = socket(AF_INET, SOCK_STREAM, 0), b = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(sport),
                               .sin_addr = { htonl(INADDR_LOOPBACK) } };
    CHECK(done >= 0 && filler >= 0 && b >= 0);
    CHECK(connect(filler, (struct sockaddr *)&sin, sizeof(sin)) == 0);   /* fills the queue */
    struct sockaddr_in bsin = { .sin_family = AF_INET, .sin_port = htons(cport),
                                .sin_addr = { htonl(INADDR_LOOPBACK) } };
    int one = 1;
    CHECK(setsockopt(b, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0);
    CHECK(bind(b, (struct sockaddr *)&bsin, sizeof(bsin)) == 0);
    CHECK(fcntl(b, F_SETFL, O_NONBLOCK) == 0);
    CHECK(connect(b, (struct sockaddr *)&sin, sizeof(sin)) != 0 && errno == EINPROGRESS);
    CHECK(tcp_state(b) == TCP_SYN_SENT);
    enum procs_bpf_answer got = ask_map(6, cport, sport, true, 0, 0, &pid, comm);
    CHECK(got != PROCS_BPF_OWNER || pid != a);
    /* Bound before connect(): its tuple, and so its owner, known at once. */
    CHECK(owned_by_us(6, cport, sport, true, 0));
    close(b);
    close(filler);
    close(done);
    close(lfd);
}

/* In a new pid namespace (as netmoon in a container): loads its own copy
 * of the programs, sends on fd (so the map names it, as pid 1), lets the
 * parent, which has no pid in this namespace, send on the same socket,
 * and checks that the map no longer names pid 1.  Exit status: 0 pass,
 * 1 fail, 2 skip. */
static int outsider_child(int fd, uint16_t lport, uint16_t rport, int go, int done)
{
    char err[256], comm[NM_OWNER_COMM_MAX], c = 0;
    int32_t pid = 0;
    int rc = 1;

    if (unshare(CLONE_NEWPID) != 0)
        return 2;
    pid_t g = fork();
    if (g > 0) {
        int status = 0;
        return waitpid(g, &status, 0) == g && WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    }
    if (g < 0)
        return 1;
    if (!(bpf = procs_bpf_open(err, sizeof(err))))
        _exit(1);
    if (send(fd, "p", 1, 0) != 1 ||
        ask_map(6, lport, rport, true, 0, 0, &pid, comm) != PROCS_BPF_OWNER || pid != 1)
        goto out;
    if (write(go, &c, 1) != 1 || read(done, &c, 1) != 1)
        goto out;
    rc = ask_map(6, lport, rport, true, 0, 0, &pid, comm) == PROCS_BPF_UNKNOWN ? 0 : 1;
out:
    procs_bpf_close(bpf);
    _exit(rc);
}

/* An owner that cannot be named replaces the entry's previous owner
 * rather than leaving it in place. */
static void test_outside_pid_namespace(void)
{
    uint16_t sport = 0;
    int lfd = listen_tcp4(&sport), cfd = socket(AF_INET, SOCK_STREAM, 0), afd = -1;
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(sport),
                               .sin_addr = { htonl(INADDR_LOOPBACK) } };
    int go[2], done[2], status = 0;
    char c = 0;

    CHECK(lfd >= 0 && cfd >= 0 && pipe(go) == 0 && pipe(done) == 0);
    CHECK(connect(cfd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    CHECK((afd = accept(lfd, NULL, NULL)) >= 0);
    uint16_t cport = local_port(cfd);
    pid_t child = fork();
    if (child == 0)
        _exit(outsider_child(cfd, cport, sport, go[1], done[0]));
    close(go[1]);
    close(done[0]);
    if (read(go[0], &c, 1) == 1) {
        CHECK(send(cfd, "q", 1, 0) == 1);
        CHECK(write(done[1], &c, 1) == 1);
    }
    CHECK(child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    close(go[0]);
    close(done[1]);
    close(afd);
    close(cfd);
    close(lfd);
}

/* bpf(2) refused from here on, as Linux 6.3 and 6.4 refuse map lookups to
 * a process that dropped its privileges (-Z) while
 * kernel.unprivileged_bpf_disabled is set. */
static int deny_bpf_syscall(void)
{
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_bpf, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { sizeof(insns) / sizeof(insns[0]), insns };

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* The probe netmoon makes after -Z: allowed here, refused under the filter. */
static void test_probe_denied(void)
{
    int status = 0;

    CHECK(procs_bpf_probe(bpf) == 0);
    pid_t child = fork();
    if (child == 0)
        _exit(deny_bpf_syscall() == 0 && procs_bpf_probe(bpf) == EPERM ? 0 : 1);
    CHECK(child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

/* A new network namespace's loopback, up. */
static int netns_with_loopback(void)
{
    struct ifreq ifr;
    int fd, rc = -1;

    if (unshare(CLONE_NEWNET) != 0 || (fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
        return -1;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    close(fd);
    return rc;
}

/* In a child in a network namespace of its own: a loopback TCP exchange;
 * writes its two ports to out.  Exit status 0 when it happened. */
static int other_netns_child(int out)
{
    uint16_t ports[2] = { 0, 0 };
    int lfd, cfd, afd;
    char b = 'x';

    if (netns_with_loopback() != 0 || (lfd = listen_tcp4(&ports[1])) < 0)
        return 1;
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(ports[1]),
                               .sin_addr = { htonl(INADDR_LOOPBACK) } };
    if ((cfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        connect(cfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        (afd = accept(lfd, NULL, NULL)) < 0 || send(cfd, &b, 1, 0) != 1 || recv(afd, &b, 1, 0) != 1)
        return 1;
    ports[0] = local_port(cfd);
    return write(out, ports, sizeof(ports)) == sizeof(ports) ? 0 : 1;
}

/* Sockets of another network namespace are not the monitor's to
 * attribute, and their tuples could collide with its own. */
static void test_other_netns(void)
{
    uint16_t ports[2] = { 0, 0 };
    char comm[NM_OWNER_COMM_MAX];
    int pipefd[2], status = 0;
    int32_t pid;

    CHECK(pipe(pipefd) == 0);
    pid_t child = fork();
    if (child == 0)
        _exit(other_netns_child(pipefd[1]));
    close(pipefd[1]);
    CHECK(child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(read(pipefd[0], ports, sizeof(ports)) == sizeof(ports) && ports[0] && ports[1]);
    close(pipefd[0]);
    CHECK(ask_map(6, ports[0], ports[1], true, 0, 0, &pid, comm) == PROCS_BPF_NONE);
    CHECK(ask_map(6, ports[1], ports[0], true, 0, 0, &pid, comm) == PROCS_BPF_NONE);
}

static void *send_from_thread(void *arg)
{
    int fd = *(int *)arg;

    pthread_setname_np(pthread_self(), "nm-sender");
    return (void *)(intptr_t)send(fd, "t", 1, 0);
}

/* The process's name, not the sending thread's. */
static void test_thread_name(void)
{
    uint16_t sport = 0;
    int lfd = listen_tcp4(&sport), cfd = socket(AF_INET, SOCK_STREAM, 0), afd = -1;
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(sport),
                               .sin_addr = { htonl(INADDR_LOOPBACK) } };
    pthread_t t;
    void *sent = NULL;

    CHECK(lfd >= 0 && cfd >= 0);
    CHECK(connect(cfd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    CHECK((afd = accept(lfd, NULL, NULL)) >= 0);
    CHECK(pthread_create(&t, NULL, send_from_thread, &cfd) == 0);
    CHECK(pthread_join(t, &sent) == 0 && (intptr_t)sent == 1);
    CHECK(owned_by_us(6, local_port(cfd), sport, true, 0));
    close(afd);
    close(cfd);
    close(lfd);
}

/* Whether the kernel's BTF has the sock_send_length tracepoint (6.3+). */
static bool kernel_has_send_tracepoint(void)
{
#ifdef NETMOON_NO_BPF
    return false;
#else
    struct btf *vmlinux = btf__load_vmlinux_btf();

    if (!vmlinux)
        return false;
    bool found = btf__find_by_name_kind(vmlinux, "btf_trace_sock_send_length",
                                        BTF_KIND_TYPEDEF) >= 0;
    btf__free(vmlinux);
    return found;
#endif
}

/* Whether the kernel lets this process use bpf(2) at all, asked directly
 * (a one-entry array map, closed at once), not through netmoon's loader:
 * a container's seccomp filter or missing CAP_BPF refuses it. */
static bool kernel_allows_bpf(void)
{
    union bpf_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    long fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
    if (fd < 0)
        return false;
    close((int)fd);
    return true;
}

/* Whether the source must load here; why not when it need not. */
static bool bpf_expected(const char **why)
{
    const char *force = getenv("NETMOON_EXPECT_BPF");

    *why = "NETMOON_EXPECT_BPF=no";
    if (force && strcmp(force, "yes") == 0)
        return true;
    if (force && strcmp(force, "no") == 0)
        return false;
    *why = "not root";
    if (geteuid() != 0)
        return false;
    *why = "built without the eBPF source";
    if (!procs_bpf_built())
        return false;
    *why = "bpf(2) refused to this process (no CAP_BPF, or a seccomp filter)";
    if (!kernel_allows_bpf())
        return false;
    *why = "no kernel BTF with the sock_send_length tracepoint (Linux 6.3+)";
    return kernel_has_send_tracepoint();
}

int main(void)
{
    const char *why;
    char err[256];
    FILE *f = fopen("/proc/self/comm", "re");

    if (!f || !fgets(self_comm, sizeof(self_comm), f)) {
        printf("FAIL test_procs_bpf: cannot read /proc/self/comm\n");
        return 1;
    }
    fclose(f);
    self_comm[strcspn(self_comm, "\n")] = 0;
    bool expected = bpf_expected(&why);
    if (!(bpf = procs_bpf_open(err, sizeof(err)))) {
        if (expected) {
            printf("FAIL test_procs_bpf: the eBPF owner source must load here and did not: %s\n",
                   err);
            return 1;
        }
        printf("SKIP test_procs_bpf: the eBPF owner source need not load here (%s): %s\n", why,
               err);
        return 0;
    }
    RUN(test_tcp_send_recv);
    RUN(test_mapped);
    RUN(test_udp_unconnected);
    RUN(test_refused);
    RUN(test_thread_name);
    RUN(test_reused_port);
    RUN(test_outside_pid_namespace);
    RUN(test_probe_denied);
    RUN(test_other_netns);
    procs_bpf_close(bpf);
    TESTLIB_EXIT();
}
