/*
 * procs.c: the process-attribution helper thread and the output thread's
 * side of it (see procs.h).  Kernel interfaces: sock_diag(7) through
 * procs_diag.c, proc(5) through procs_scan.c, getifaddrs(3) for this
 * namespace's addresses.
 */
#include "procs/procs.h"

#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "procs/procs_bpf.h"
#include "procs/procs_cache.h"
#include "procs/procs_diag.h"
#include "procs/procs_scan.h"
#include "procs/procs_sockfd.h"

#define PROCS_QUERY_RING 4096u
#define PROCS_RESULT_RING 2048u
#define PROCS_SOCK_CACHE 16384u      /* sockets seen, with owners (helper) */
#define PROCS_OUT_CACHE 16384u       /* answers (output thread) */
#define PROCS_INODE_MAP 65536u
#define PROCS_PENDING_MAX 4096u
#define PROCS_UNRESOLVED_MAX 1024u
#define PROCS_LOCAL_MAX 256u
#define PROCS_YOUNG_POLL_US 100ull   /* cycle period while young processes exist */
#define PROCS_IDLE_POLL_US 5000ull   /* ... and without: the new-pid scan period */
#define PROCS_NEWPID_US 1000ull      /* new-pid scans at most this often */
#define PROCS_POLL_MAX_US 100000ull
#define PROCS_WORK_SHARE 10ull       /* the helper sleeps at least 10x what a cycle took, */
#define PROCS_YOUNG_SHARE 2ull       /* ... or 2x while young processes exist */
#define PROCS_HELPER_RR_PRIO 1
#define PROCS_HELPER_NICE (-10)
#define PROCS_RETRY_MAX 128u
#define PROCS_LATER_TRIES 200u       /* ... looks at a socket without a port, */
#define PROCS_LATER_PAUSE_NS 25000L  /* ... 25 µs apart: up to 5 ms */
#define PROCS_RETRY_US 200000ull     /* a socket without a port is watched this long */
#define PROCS_DUMP_US 100000ull      /* socket dump period without new sockets */
#define PROCS_FULL_SCAN_US 1000000ull /* at most one full /proc scan this often */
#define PROCS_IFADDR_US 1000000ull
#define PROCS_ANSWER_US 500000ull    /* a query unanswered this long is a miss */
/* An unanswered query asks the eBPF map again at most this often: each ask
 * is up to six bpf(2) calls, and a flow nobody owns (a scan of closed
 * ports) waits the whole PROCS_ANSWER_US, at up to 10000 cycles a second. */
#define PROCS_BPF_RETRY_US 2000ull
/* A socket known only by its local end (unconnected UDP) answers for flows
 * only this long after it was last seen open: its port may be reused. */
#define PROCS_WILDCARD_FRESH_US 1000000ull
/* A connected UDP socket's entry answers this long after its last write:
 * UDP has no close the eBPF programs see, and its port may change hands. */
#define PROCS_BPF_UDP_FRESH_US 60000000ull

struct procs_result {
    struct procs_tuple tuple;   /* the flow's, canonical */
    uint8_t status;             /* enum procs_status */
    struct flow_owner owner;
};

struct procs_pending {
    struct procs_tuple flow;
    struct procs_query q;
    uint8_t local[2];           /* which of q.addr are local */
    uint64_t asked_us;          /* when the helper took the query */
    uint64_t deadline_us;
    uint64_t bpf_next_us;       /* when the eBPF map may be asked again */
    /* Per side: the map said the socket there cannot be named, or its entry
     * is an earlier socket's; the caches may hold that earlier socket too. */
    bool bpf_unknown[2];
};

struct procs_unresolved {
    struct procs_tuple tuple;
    uint64_t inode;
};

/* A young process's socket read before it had a port. */
struct procs_retry {
    int32_t pid;
    int fd;
    uint64_t inode;
    uint64_t until_us;
    char comm[NM_OWNER_COMM_MAX];
};

struct procs {
    unsigned nworkers;
    struct spsc_ring **queries;     /* worker i → helper */
    struct spsc_ring *results;      /* helper → output thread */
    pthread_t thread;
    bool started;
    /* Written by the output thread at shutdown, read by the helper; the
     * helper shares no other state, so relaxed would do, but release /
     * acquire keeps the usual pairing obvious. */
    _Atomic bool stop;

    /* Helper-owned. */
    struct procs_bpf *bpf;          /* NULL: not loadable here */
    char bpf_error[128];            /* why bpf is NULL, for the stats */
    struct procs_entry bpf_answer;  /* the last owner the BPF map gave */
    struct procs_diag diag;
    struct procs_scan scan;
    struct procs_cache *socks;
    struct nm_addr local[PROCS_LOCAL_MAX];
    unsigned nlocal;
    struct procs_pending *pending;
    unsigned npending;
    struct procs_unresolved *unresolved;
    unsigned nunresolved;
    struct procs_retry retry[PROCS_RETRY_MAX];
    unsigned nretry;
    uint64_t now_us;                /* the current cycle's time */
    uint64_t next_full_scan, next_ifaddrs, next_dump, next_newpids;
    bool redump;                    /* a socket was seen before its connect() */
    /* Read by the output thread for stats: relaxed, they publish nothing. */
    _Atomic uint64_t pending_drops;
    _Atomic uint64_t bpf_hits;

    /* Output-thread-owned. */
    struct procs_cache *answers;
    uint64_t attributed, unattributed;
};

static uint64_t procs_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- this namespace's addresses ---------------------------------------- */

static void procs_refresh_local(struct procs *p)
{
    struct ifaddrs *list, *ia;

    if (getifaddrs(&list) != 0)
        return;                               /* keep the previous set */
    p->nlocal = 0;
    for (ia = list; ia && p->nlocal < PROCS_LOCAL_MAX; ia = ia->ifa_next) {
        struct nm_addr *a = &p->local[p->nlocal];
        if (!ia->ifa_addr)
            continue;
        if (ia->ifa_addr->sa_family == AF_INET)
            procs_addr_from_raw(a, AF_INET, &((const struct sockaddr_in *)ia->ifa_addr)->sin_addr);
        else if (ia->ifa_addr->sa_family == AF_INET6)
            procs_addr_from_raw(a, AF_INET6,
                                &((const struct sockaddr_in6 *)ia->ifa_addr)->sin6_addr);
        else
            continue;
        p->nlocal++;
    }
    freeifaddrs(list);
}

static bool procs_is_local(const struct procs *p, const struct nm_addr *a)
{
    for (unsigned i = 0; i < p->nlocal; i++)
        if (memcmp(p->local[i].b, a->b, sizeof(a->b)) == 0)
            return true;
    return false;
}

/* ---- sockets → owners (helper) ----------------------------------------- */

static void procs_set_owner(struct procs *p, struct procs_entry *e, int32_t pid, const char *comm)
{
    e->status = PROCS_ATTRIBUTED;
    e->owner.pid = pid;
    snprintf(e->owner.comm, sizeof(e->owner.comm), "%s", comm);
    (void)procs_read_cmdline(p->scan.root, pid, e->owner.cmdline, sizeof(e->owner.cmdline),
                             &e->owner.cmdline_cut);
}

/* The eBPF map names an owner that may have exited since, and its pid
 * may be another program's by now: no cmdline then. */
static void procs_set_recorded_owner(struct procs *p, struct procs_entry *e, int32_t pid,
                                     const char *comm)
{
    e->status = PROCS_ATTRIBUTED;
    e->owner.pid = pid;
    snprintf(e->owner.comm, sizeof(e->owner.comm), "%s", comm);
    (void)procs_read_cmdline_of(p->scan.root, pid, comm, e->owner.cmdline,
                                sizeof(e->owner.cmdline), &e->owner.cmdline_cut);
}

static void procs_store_socket(struct procs *p, const struct procs_diag_sock *s, int32_t pid,
                               const char *comm)
{
    struct procs_tuple t;

    procs_tuple_make(&t, s->proto, &s->local, s->local_port, &s->remote, s->remote_port);
    struct procs_entry *e = procs_cache_put(p->socks, &t);
    e->inode = s->inode;
    e->seen_us = p->now_us;
    procs_set_owner(p, e, pid, comm);
}

/* ---- young processes' new sockets, read through their fds (helper) ------- */

/* A socket seen before its connect() or bind() has no port yet.  Clients
 * connect within a millisecond or two of socket() (name resolution may
 * come between), and a short-lived client's socket is gone a millisecond
 * later, so the helper looks again at once, for a few milliseconds,
 * rather than a cycle later. */
static enum procs_sockfd_status procs_read_sockfd_soon(int32_t pid, int fd, uint64_t inode,
                                                       struct procs_diag_sock *s)
{
    const struct timespec pause = { 0, PROCS_LATER_PAUSE_NS };
    enum procs_sockfd_status rc = procs_sockfd_read(pid, fd, inode, s);

    for (unsigned i = 0; rc == PROCS_SOCKFD_LATER && i < PROCS_LATER_TRIES; i++) {
        nanosleep(&pause, NULL);
        rc = procs_sockfd_read(pid, fd, inode, s);
    }
    return rc;
}

/* Returns true when the fd needs no further look. */
static bool procs_read_young_socket(struct procs *p, int32_t pid, int fd, uint64_t inode,
                                    const char *comm)
{
    struct procs_diag_sock s;

    switch (procs_read_sockfd_soon(pid, fd, inode, &s)) {
    case PROCS_SOCKFD_OK:
        procs_store_socket(p, &s, pid, comm);
        return true;
    case PROCS_SOCKFD_LATER:
        return false;
    case PROCS_SOCKFD_ERROR:
        p->redump = true;                     /* not allowed or gone: the dump may tell */
        return true;
    case PROCS_SOCKFD_IGNORE:
        break;
    }
    return true;
}

static void procs_on_new_socket(void *user, int32_t pid, int fd, uint64_t inode, const char *comm)
{
    struct procs *p = user;

    if (procs_read_young_socket(p, pid, fd, inode, comm) || p->nretry >= PROCS_RETRY_MAX)
        return;
    struct procs_retry *r = &p->retry[p->nretry++];
    r->pid = pid;
    r->fd = fd;
    r->inode = inode;
    r->until_us = p->now_us + PROCS_RETRY_US;
    snprintf(r->comm, sizeof(r->comm), "%s", comm);
}

static void procs_retry_young_sockets(struct procs *p)
{
    unsigned kept = 0;

    for (unsigned i = 0; i < p->nretry; i++) {
        struct procs_retry *r = &p->retry[i];
        if (!procs_read_young_socket(p, r->pid, r->fd, r->inode, r->comm) &&
            p->now_us < r->until_us)
            p->retry[kept++] = *r;
    }
    p->nretry = kept;
}

static void procs_on_socket(void *user, const struct procs_diag_sock *s)
{
    struct procs *p = user;
    struct procs_tuple t;

    if (s->inode == 0)
        return;
    if (s->local_port == 0) {
        p->redump = true;                     /* not bound yet: look again soon */
        return;
    }
    procs_tuple_make(&t, s->proto, &s->local, s->local_port, &s->remote, s->remote_port);
    struct procs_entry *e = procs_cache_find(p->socks, &t);
    if (e && e->inode == s->inode) {
        e->seen_us = p->now_us;               /* already known: still open */
        return;
    }
    const struct procs_inode *pi = procs_scan_find(&p->scan, s->inode);
    if (pi)
        procs_store_socket(p, s, pi->pid, pi->comm);
    else if (p->nunresolved < PROCS_UNRESOLVED_MAX) {
        p->unresolved[p->nunresolved].tuple = t;
        p->unresolved[p->nunresolved].inode = s->inode;
        p->nunresolved++;
    }
}

/* Returns how many are still unresolved. */
static unsigned procs_resolve_unresolved(struct procs *p)
{
    unsigned kept = 0;

    for (unsigned i = 0; i < p->nunresolved; i++) {
        const struct procs_inode *pi = procs_scan_find(&p->scan, p->unresolved[i].inode);
        if (!pi) {
            p->unresolved[kept++] = p->unresolved[i];
            continue;
        }
        struct procs_entry *e = procs_cache_put(p->socks, &p->unresolved[i].tuple);
        e->inode = p->unresolved[i].inode;
        e->seen_us = p->now_us;
        procs_set_owner(p, e, pi->pid, pi->comm);
    }
    p->nunresolved = kept;
    return kept;
}

/* Sockets → owners, two ways.  Young processes (new pids of this
 * namespace, for a second) have their fds read every cycle, and a new
 * socket's addresses are read through its fd at once (procs_sockfd.h):
 * that is how a 50 ms curl, whose socket lives about a millisecond, is
 * caught.  Everything else comes from sock_diag dumps every PROCS_DUMP_US:
 * a dump costs the kernel a walk of its whole socket hash tables (about a
 * millisecond here, however few sockets this namespace has), too slow for
 * short-lived sockets but fine for long-lived processes.  Inodes a dump
 * shows that no scan has seen were opened by older processes: a full
 * /proc scan finds them, at most once a second. */
static void procs_learn_sockets(struct procs *p, uint64_t now)
{
    if (p->bpf) {
        /* The eBPF source names a socket's owner when it connects, sends
         * or receives, however short its life: the young-process watch
         * (a /proc walk every millisecond, most of an idle netmoon's CPU)
         * is not needed.  What it cannot see is a socket idle since before
         * netmoon started, whose flow shows only kernel-made segments
         * (keep-alives, retransmissions): dumps and scans stay for those,
         * and only while such a query waits. */
        if (p->npending == 0 || now < p->next_dump)
            return;
    } else {
        (void)procs_scan_young(&p->scan, now);
        procs_retry_young_sockets(p);
        if (now >= p->next_newpids) {
            (void)procs_scan_new(&p->scan, now);
            p->next_newpids = now + PROCS_NEWPID_US;
        }
        if (!p->redump && now < p->next_dump)
            return;
    }
    p->next_dump = now + PROCS_DUMP_US;
    p->redump = false;
    p->nunresolved = 0;
    if (procs_diag_dump_all(&p->diag, procs_on_socket, p) < 0 || p->nunresolved == 0)
        return;
    if (procs_resolve_unresolved(p) == 0 || now < p->next_full_scan)
        return;
    procs_scan_full(&p->scan, now);
    p->next_full_scan = now + PROCS_FULL_SCAN_US;
    procs_resolve_unresolved(p);
}

/* ---- queries → answers (helper) ---------------------------------------- */

static void procs_take_query(struct procs *p, const struct procs_query *q, uint64_t now)
{
    bool l0 = procs_is_local(p, &q->addr[0]), l1 = procs_is_local(p, &q->addr[1]);

    if (!l0 && !l1)
        return;                               /* not ours to attribute, not a miss */
    if (p->npending >= PROCS_PENDING_MAX) {
        atomic_fetch_add_explicit(&p->pending_drops, 1, memory_order_relaxed);
        return;
    }
    struct procs_pending *pd = &p->pending[p->npending++];
    procs_tuple_make(&pd->flow, q->proto, &q->addr[0], q->port[0], &q->addr[1], q->port[1]);
    pd->q = *q;
    pd->local[0] = l0;
    pd->local[1] = l1;
    pd->asked_us = now;
    pd->deadline_us = now + PROCS_ANSWER_US;
    pd->bpf_next_us = now;
    pd->bpf_unknown[0] = pd->bpf_unknown[1] = false;
}

static void procs_drain_queries(struct procs *p, uint64_t now)
{
    struct procs_query q[64];

    for (unsigned w = 0; w < p->nworkers; w++) {
        uint32_t n;
        while ((n = spsc_ring_dequeue_burst(p->queries[w], q, 64)) > 0)
            for (uint32_t i = 0; i < n; i++)
                procs_take_query(p, &q[i], now);
    }
}

static bool procs_wildcard_fresh(const struct procs *p, const struct procs_entry *e)
{
    return e->status == PROCS_ATTRIBUTED && p->now_us <= e->seen_us + PROCS_WILDCARD_FRESH_US;
}

/* The owner the eBPF programs recorded for the socket on side `local`,
 * looked up like procs_match_side's cache: connected, then bound to the
 * local address, then to the wildcard. */
static enum procs_bpf_answer procs_match_bpf(struct procs *p, const struct procs_pending *pd,
                                             unsigned local)
{
    const struct procs_query *q = &pd->q;
    struct procs_bpf_ask ask = {
        .proto = q->proto, .laddr = &q->addr[local], .lport = q->port[local],
        .raddr = &q->addr[local ^ 1], .rport = q->port[local ^ 1],
        .max_age_us = q->proto == 17 ? PROCS_BPF_UDP_FRESH_US : 0, .asked_us = pd->asked_us,
        .now_us = p->now_us,
    };
    char comm[NM_OWNER_COMM_MAX];
    int32_t pid;

    enum procs_bpf_answer a = procs_bpf_find(p->bpf, &ask, &pid, comm);
    if (a == PROCS_BPF_NONE) {
        ask.raddr = NULL;
        ask.max_age_us = PROCS_WILDCARD_FRESH_US;
        a = procs_bpf_find(p->bpf, &ask, &pid, comm);
    }
    if (a == PROCS_BPF_NONE) {
        ask.laddr = NULL;
        a = procs_bpf_find(p->bpf, &ask, &pid, comm);
    }
    if (a == PROCS_BPF_OWNER) {
        memset(&p->bpf_answer, 0, sizeof(p->bpf_answer));
        procs_set_recorded_owner(p, &p->bpf_answer, pid, comm);
    }
    return a;
}

/* A cache entry answers unless the map said the tuple's entry is suspect;
 * then only if a dump or a scan saw the socket after the query came, when
 * it is the packet's socket and not an earlier one. */
static bool procs_cache_answers(const struct procs_pending *pd, unsigned local,
                                const struct procs_entry *e)
{
    return !pd->bpf_unknown[local] || e->seen_us >= pd->asked_us;
}

/* The socket on side `local` of the query: connected, bound to the local
 * address, or bound to the wildcard address (unconnected UDP servers).
 * The eBPF record first: it was written by the owner itself, while the
 * caches hold what a scan found, possibly about an earlier socket. */
static const struct procs_entry *procs_match_side(struct procs *p, struct procs_pending *pd,
                                                  unsigned local, bool ask_bpf)
{
    const struct procs_query *q = &pd->q;
    const struct nm_addr *la = &q->addr[local], *ra = &q->addr[local ^ 1];
    uint16_t lp = q->port[local], rp = q->port[local ^ 1];
    struct procs_tuple t;
    struct procs_entry *e;

    if (ask_bpf) {
        enum procs_bpf_answer a = procs_match_bpf(p, pd, local);
        if (a == PROCS_BPF_OWNER)
            return &p->bpf_answer;
        pd->bpf_unknown[local] = a == PROCS_BPF_UNKNOWN;
    }
    procs_tuple_make(&t, q->proto, la, lp, ra, rp);
    if ((e = procs_cache_find(p->socks, &t)) && e->status == PROCS_ATTRIBUTED &&
        procs_cache_answers(pd, local, e))
        return e;
    procs_tuple_make(&t, q->proto, la, lp, NULL, 0);
    if ((e = procs_cache_find(p->socks, &t)) && procs_wildcard_fresh(p, e) &&
        procs_cache_answers(pd, local, e))
        return e;
    procs_tuple_make(&t, q->proto, NULL, lp, NULL, 0);
    if ((e = procs_cache_find(p->socks, &t)) && procs_wildcard_fresh(p, e) &&
        procs_cache_answers(pd, local, e))
        return e;
    return NULL;
}

static void procs_publish(struct procs *p, const struct procs_pending *pd,
                          const struct procs_entry *e)
{
    struct procs_result r;

    memset(&r, 0, sizeof(r));
    r.tuple = pd->flow;
    r.status = e ? PROCS_ATTRIBUTED : PROCS_UNATTRIBUTED;
    if (e)
        r.owner = e->owner;
    /* A full ring refuses and counts (spsc_ring_enqueue_failures). */
    (void)spsc_ring_enqueue(p->results, &r);
}

static void procs_answer(struct procs *p, uint64_t now)
{
    unsigned kept = 0;

    for (unsigned i = 0; i < p->npending; i++) {
        struct procs_pending *pd = &p->pending[i];
        const struct procs_entry *e = NULL;
        bool ask_bpf = p->bpf && now >= pd->bpf_next_us;
        if (ask_bpf)
            pd->bpf_next_us = now + PROCS_BPF_RETRY_US;
        /* The sender of the first packet first: on a flow between two local
         * sockets it is the initiator. */
        for (unsigned side = 0; side < 2 && !e; side++)
            if (pd->local[side])
                e = procs_match_side(p, pd, side, ask_bpf);
        if (e == &p->bpf_answer)
            atomic_fetch_add_explicit(&p->bpf_hits, 1, memory_order_relaxed);
        if (e || now >= pd->deadline_us)
            procs_publish(p, pd, e);
        else
            p->pending[kept++] = *pd;
    }
    p->npending = kept;
}

/* Woken late, the helper misses sockets that live a millisecond: on a
 * busy machine a normal thread that sleeps 100 µs runs again milliseconds
 * later.  The lowest real-time priority (SCHED_RR 1) gets it the CPU when
 * its timer fires; it cannot hog it, since it sleeps at least twice what
 * each cycle took (and the kernel's RT throttling bounds it anyway).
 * Without the privilege, nice -10; without that, as it is. */
static void procs_raise_priority(void)
{
    struct sched_param sp = { .sched_priority = PROCS_HELPER_RR_PRIO };

    if (pthread_setschedparam(pthread_self(), SCHED_RR, &sp) == 0)
        return;
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), PROCS_HELPER_NICE);
}

static void *procs_main(void *arg)
{
    struct procs *p = arg;

    /* Only the /proc race needs the priority: eBPF records owners as
     * their sockets act, and answers may wait a cycle. */
    if (!p->bpf)
        procs_raise_priority();
    /* Pids already running are not young: one full scan takes them in. */
    procs_scan_full(&p->scan, procs_mono_us());
    p->next_full_scan = procs_mono_us() + PROCS_FULL_SCAN_US;
    /* Acquire pairs with the release store in procs_destroy. */
    while (!atomic_load_explicit(&p->stop, memory_order_acquire)) {
        uint64_t start = procs_mono_us();
        p->now_us = start;
        if (start >= p->next_ifaddrs) {
            procs_refresh_local(p);
            p->next_ifaddrs = start + PROCS_IFADDR_US;
        }
        procs_learn_sockets(p, start);
        procs_drain_queries(p, start);
        procs_answer(p, procs_mono_us());
        bool young = !p->bpf && procs_scan_young_count(&p->scan, start) > 0;
        uint64_t spent = procs_mono_us() - start;
        uint64_t pause = spent * (young ? PROCS_YOUNG_SHARE : PROCS_WORK_SHARE);
        uint64_t least = young ? PROCS_YOUNG_POLL_US : PROCS_IDLE_POLL_US;
        pause = pause < least ? least : pause > PROCS_POLL_MAX_US ? PROCS_POLL_MAX_US : pause;
        struct timespec ts = { 0, (long)(pause * 1000) };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------ */

static void procs_note_bpf_error(struct procs *p, const char *why)
{
    /* A longer reason is cut: the stats keep 127 bytes of it. */
    snprintf(p->bpf_error, sizeof(p->bpf_error), "%.*s", (int)sizeof(p->bpf_error) - 1, why);
}

struct procs *procs_create(unsigned nworkers, bool use_bpf, char *err, size_t errlen)
{
    struct procs *p = calloc(1, sizeof(*p));

    if (!p) {
        snprintf(err, errlen, "out of memory for process attribution");
        return NULL;
    }
    p->diag.fd = -1;
    p->nworkers = nworkers;
    if (procs_diag_open(&p->diag, err, errlen) != 0)
        goto fail;
    /* Optional: without it (no privilege, no BTF, a kernel before 6.3)
     * attribution works as before, only misses more short-lived clients;
     * the stats say which source is in use. */
    char bpf_err[256] = "disabled by --no-procs-bpf";
    p->bpf = use_bpf ? procs_bpf_open(bpf_err, sizeof(bpf_err)) : NULL;
    if (!p->bpf)
        procs_note_bpf_error(p, bpf_err);
    p->queries = calloc(nworkers, sizeof(*p->queries));
    p->results = spsc_ring_create(PROCS_RESULT_RING, sizeof(struct procs_result));
    p->socks = procs_cache_create(PROCS_SOCK_CACHE);
    p->answers = procs_cache_create(PROCS_OUT_CACHE);
    p->pending = calloc(PROCS_PENDING_MAX, sizeof(*p->pending));
    p->unresolved = calloc(PROCS_UNRESOLVED_MAX, sizeof(*p->unresolved));
    if (!p->queries || !p->results || !p->socks || !p->answers || !p->pending ||
        !p->unresolved || procs_scan_init(&p->scan, "/proc", PROCS_INODE_MAP) != 0)
        goto nomem;
    p->scan.on_new = procs_on_new_socket;
    p->scan.user = p;
    for (unsigned i = 0; i < nworkers; i++)
        if (!(p->queries[i] = spsc_ring_create(PROCS_QUERY_RING, sizeof(struct procs_query))))
            goto nomem;
    return p;
nomem:
    snprintf(err, errlen, "out of memory for process attribution (try --no-procs)");
fail:
    procs_destroy(p);
    return NULL;
}

struct spsc_ring *procs_worker_ring(struct procs *p, unsigned worker)
{
    return p->queries[worker];
}

void procs_recheck_bpf(struct procs *p)
{
    char why[128];
    int e;

    if (!p->bpf || (e = procs_bpf_probe(p->bpf)) == 0)
        return;
    snprintf(why, sizeof(why), "map lookups refused after -Z: %s", strerror(e));
    procs_note_bpf_error(p, why);
    procs_bpf_close(p->bpf);
    p->bpf = NULL;
}

int procs_start(struct procs *p, char *err, size_t errlen)
{
    int e = pthread_create(&p->thread, NULL, procs_main, p);

    if (e != 0) {
        snprintf(err, errlen, "cannot start the process-attribution thread: %s (try --no-procs)",
                 strerror(e));
        return -1;
    }
    p->started = true;
    return 0;
}

void procs_destroy(struct procs *p)
{
    if (!p)
        return;
    if (p->started) {
        /* Release pairs with the acquire load in procs_main. */
        atomic_store_explicit(&p->stop, true, memory_order_release);
        pthread_join(p->thread, NULL);
    }
    procs_bpf_close(p->bpf);
    procs_diag_close(&p->diag);
    procs_scan_fini(&p->scan);
    for (unsigned i = 0; p->queries && i < p->nworkers; i++)
        spsc_ring_destroy(p->queries[i]);
    free(p->queries);
    spsc_ring_destroy(p->results);
    procs_cache_destroy(p->socks);
    procs_cache_destroy(p->answers);
    free(p->pending);
    free(p->unresolved);
    free(p);
}

/* ---- output thread ---------------------------------------------------------- */

void procs_poll(struct procs *p)
{
    struct procs_result r;

    while (spsc_ring_dequeue(p->results, &r)) {
        struct procs_entry *e = procs_cache_put(p->answers, &r.tuple);
        e->status = r.status;
        e->used = false;
        e->owner = r.owner;
    }
}

void procs_annotate(struct procs *p, struct flow_record *r, bool final)
{
    struct procs_tuple t;

    if (r->proto != 6 && r->proto != 17)
        return;
    procs_poll(p);
    procs_tuple_make(&t, r->proto, &r->addr[NM_DIR_SRC], r->port[NM_DIR_SRC],
                     &r->addr[NM_DIR_DST], r->port[NM_DIR_DST]);
    const struct procs_entry *e = procs_cache_find(p->answers, &t);
    if (!e)
        return;
    if (e->status == PROCS_ATTRIBUTED)
        r->owner = e->owner;
    if (final) {
        if (e->status == PROCS_ATTRIBUTED)
            p->attributed++;
        else
            p->unattributed++;
    }
}

void procs_add_stats(struct procs *p, struct nm_stats *st)
{
    uint64_t drops = spsc_ring_enqueue_failures(p->results) +
        atomic_load_explicit(&p->pending_drops, memory_order_relaxed);

    for (unsigned i = 0; i < p->nworkers; i++)
        drops += spsc_ring_enqueue_failures(p->queries[i]);
    st->procs_enabled = true;
    st->flows_attributed += p->attributed;
    st->flows_unattributed += p->unattributed;
    st->procs_queue_drops += drops;
    st->procs_cache_evictions += procs_cache_evictions(p->answers);
    st->procs_bpf = st->procs_bpf || p->bpf;
    if (!p->bpf && !st->procs_bpf_error[0])
        memcpy(st->procs_bpf_error, p->bpf_error, sizeof(st->procs_bpf_error));
    st->procs_bpf_hits += atomic_load_explicit(&p->bpf_hits, memory_order_relaxed);
}
