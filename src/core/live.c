/*
 * live.c: the live pipeline (packet(7), PACKET_FANOUT; see capture/afpacket.h).
 *
 * Threads and ownership:
 *   - each worker thread owns its sockets, its decode context and its flow
 *     table: nothing on the packet path is shared or locked;
 *   - a worker sends everything it has to say (flow records, its cumulative
 *     counters once a second, interface events, "done") as messages through
 *     its own SPSC ring to the output thread, which is the only writer of
 *     outputs;
 *   - the output thread tells workers to stop through one atomic flag.
 *
 * Nothing is lost silently: when a worker's ring is full it waits for the
 * output thread (counting the stall) rather than dropping a record; if that
 * wait makes the kernel ring overflow, the kernel counts the drops and every
 * output reports them.  On stop, a worker first drains what the kernel had
 * already captured, then flushes its flows with end_reason "shutdown".
 *
 * Process attribution (procs/procs.h, unless --no-procs): workers announce
 * new TCP/UDP flows to the helper thread through one more SPSC ring each,
 * never waiting; the helper's answers come back to the output thread
 * through its own ring, and the output thread writes the owner into each
 * record (and snapshot row) before any sink sees it.
 *
 * Time: flows are stamped with the kernel's packet timestamps; once a second
 * each worker also advances its table to the wall clock so idle flows end
 * even when no packet arrives.
 */
#include "core/live.h"

#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture/afpacket.h"
#include "capture/filter.h"
#include "capture/iface.h"
#include "common/privs.h"
#include "common/spsc_ring.h"
#include "common/wake.h"
#include "core/pcap_tap.h"
#include "core/signals.h"
#include "core/view_feed.h"
#include "core/worker.h"
#include "procs/procs.h"

#define LIVE_RING_MSGS 4096u
#define LIVE_FILTER_SNAPLEN 262144u
#define LIVE_TICK_US 1000000ull
#define LIVE_STATS_INTERVAL_US (10ull * 1000000ull)

enum live_msg_kind {
    LIVE_MSG_FLOW, LIVE_MSG_STATS, LIVE_MSG_EVENT, LIVE_MSG_DONE,
    /* A view's snapshot: begin, one record per active flow, end. */
    LIVE_MSG_SNAP_BEGIN, LIVE_MSG_SNAP_FLOW, LIVE_MSG_SNAP_END,
};

struct live_msg {
    uint8_t kind;
    union {
        struct flow_record flow;
        struct nm_stats stats;         /* the worker's cumulative counters */
        char text[400];                /* an event to print once */
        struct nm_snapshot_end snap;   /* SNAP_BEGIN (source, ts) and SNAP_END */
    } u;
};

struct live;

struct live_worker {
    struct live *live;
    unsigned id;
    pthread_t thread;
    bool started;
    struct worker w;
    struct afpacket_sock *socks[NM_MAX_IFACES];
    struct afpacket_sock *polling;     /* the socket afpacket_poll is walking */
    bool gone[NM_MAX_IFACES];
    struct spsc_ring *ring;
    uint64_t stalls;                   /* times the ring was full */
    struct live_msg scratch;           /* message being built (worker side) */
    struct pcap_tap *tap;              /* -w: packets to the output thread */
    struct snapshot_sel *snap;         /* when a view wants snapshots */
    uint64_t next_snap;
    uint64_t snap_skipped;             /* rows of this snapshot left out: ring busy */
    /* Output-thread side. */
    struct nm_stats last;
    bool done;
};

struct live {
    const struct nm_config *cfg;
    struct pcap_writer *pcap_out;      /* -w, written by the output thread only */
    char ifnames[NM_MAX_IFACES][IFNAMSIZ];
    unsigned nifaces;
    struct nm_filter filters[NM_MAX_IFACES];
    uint16_t fanout_group[NM_MAX_IFACES];   /* the kernel's pick, per interface */
    bool have_filter[NM_MAX_IFACES];
    struct live_worker *workers;
    unsigned nworkers;
    /* Set by the output thread, read by workers: relaxed would do for the
     * flag itself, but release/acquire also orders the decision to stop
     * after any state the output thread wrote before it. */
    _Atomic bool stop;
    _Atomic uint64_t packets;          /* for -c across workers */
    _Atomic int failure;               /* an interface vanished: exit 1 */
    struct procs *procs;               /* NULL with --no-procs */
    bool records_unflushed;            /* output thread: records since the last flush */
    /* The output thread sleeps on this when every ring is empty; workers
     * signal it once their ring is a quarter full, and when they are done. */
    struct wake_event out_wake;
};

static uint64_t live_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t live_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- worker side ------------------------------------------------------- */

/* The next free message slot of the worker's ring, written in place (an
 * ended flow's record, over a kilobyte, is built right there: see
 * live_record_slot).  A full ring makes the worker wait: records are
 * never dropped. */
static struct live_msg *live_reserve(struct live_worker *lw)
{
    const struct timespec pause = { 0, 100000 };   /* 100 µs */
    void *slot;

    while (spsc_ring_reserve(lw->ring, &slot, 1) == 0) {
        lw->stalls++;
        nanosleep(&pause, NULL);
    }
    return slot;
}

/* Publishes the message just written.  The output thread drains the rings
 * when it wakes anyway, so it is woken only once a quarter of this one
 * waits: a wake is a system call here and an interrupt to its CPU. */
static void live_commit(struct live_worker *lw)
{
    spsc_ring_commit(lw->ring, 1);
    if (spsc_ring_count(lw->ring) >= LIVE_RING_MSGS / 4)
        wake_signal(&lw->live->out_wake);
}

static void live_send(struct live_worker *lw, const struct live_msg *m)
{
    *live_reserve(lw) = *m;
    live_commit(lw);
}

static void live_send_flow(struct live_worker *lw, uint8_t kind, const struct flow_record *rec)
{
    struct live_msg *m = live_reserve(lw);

    m->kind = kind;
    m->u.flow = *rec;
    live_commit(lw);
}

/* flow_record_slot_fn: an ended flow's record is built in the ring. */
static struct flow_record *live_record_slot(void *user)
{
    struct live_msg *m = live_reserve(user);

    m->kind = LIVE_MSG_FLOW;
    return &m->u.flow;
}

/* flow_record_commit_fn: publishes it. */
static void live_commit_record(void *user)
{
    live_commit(user);
}

static void live_emit_flow(void *user, const struct flow_record *rec)
{
    live_send_flow(user, LIVE_MSG_FLOW, rec);
}

static void live_send_event(struct live_worker *lw, const char *text)
{
    lw->scratch.kind = LIVE_MSG_EVENT;
    snprintf(lw->scratch.u.text, sizeof(lw->scratch.u.text), "%s", text);
    live_send(lw, &lw->scratch);
}

static void live_fill_stats(struct live_worker *lw, struct nm_stats *st)
{
    struct afpacket_stats as;

    memset(st, 0, sizeof(*st));
    st->ts_us = live_wall_us();
    worker_collect_stats(&lw->w, st);
    for (unsigned i = 0; i < lw->live->nifaces; i++) {
        if (!lw->socks[i] || afpacket_stats(lw->socks[i], &as) != 0)
            continue;
        st->kernel_packets += as.kernel_packets;
        st->kernel_drops += as.kernel_drops;
        st->kernel_freezes += as.kernel_freeze_q;
        st->ring_malformed += as.malformed;
        uint32_t used, total;
        afpacket_ring_occupancy(lw->socks[i], &used, &total);
        st->ring_blocks_used += used;
        st->ring_blocks_total += total;
    }
    st->output_stalls = lw->stalls;
    if (lw->tap)
        st->pcap_dropped = pcap_tap_dropped(lw->tap);
}

/* Sent every tick, and also just before a burst of flow records: they
 * carry the kernel drops seen so far (kernel_drops_seen), and this
 * worker's ring keeps order, so the total is current for them. */
static void live_send_stats(struct live_worker *lw)
{
    live_fill_stats(lw, &lw->scratch.u.stats);
    lw->scratch.kind = LIVE_MSG_STATS;
    live_send(lw, &lw->scratch);
}

/* Snapshot rows never wait for the output thread (the view must not slow
 * capture) and leave a quarter of the ring to flow records, which do wait;
 * rows come busiest first, so what is left out matters least. */
static void live_emit_snap_flow(void *user, const struct flow_record *rec)
{
    struct live_worker *lw = user;
    uint32_t cap = spsc_ring_capacity(lw->ring);

    if (spsc_ring_count(lw->ring) >= cap - cap / 4) {
        lw->snap_skipped++;
        return;
    }
    live_send_flow(lw, LIVE_MSG_SNAP_FLOW, rec);
}

/* The view's copy of this worker's active flows, sent through the ring like
 * records, so the output thread never reads the table. */
static void live_send_snapshot(struct live_worker *lw)
{
    struct nm_snapshot_end *e = &lw->scratch.u.snap;
    uint64_t now = live_wall_us(), active, sent;

    memset(e, 0, sizeof(*e));
    e->source = lw->id;
    e->ts_us = now;
    lw->scratch.kind = LIVE_MSG_SNAP_BEGIN;
    live_send(lw, &lw->scratch);
    lw->snap_skipped = 0;
    active = snapshot_sel_run(lw->snap, lw->w.flows, now, live_emit_snap_flow, lw, &sent);
    sent -= lw->snap_skipped;
    memset(e, 0, sizeof(*e));
    e->source = lw->id;
    e->ts_us = now;
    e->active = active;
    e->sent = sent;
    live_fill_stats(lw, &e->stats);
    lw->scratch.kind = LIVE_MSG_SNAP_END;
    live_send(lw, &lw->scratch);
}

static bool live_on_frame(void *user, const struct nm_frame *frame)
{
    struct live_worker *lw = user;
    uint64_t max = lw->live->cfg->max_packets;

    if (max) {
        /* Relaxed: a counter; the stop flag carries the ordering. */
        uint64_t n = atomic_fetch_add_explicit(&lw->live->packets, 1, memory_order_relaxed) + 1;
        if (n > max)
            return false;
        if (n == max)
            atomic_store_explicit(&lw->live->stop, true, memory_order_release);
    }
    if (lw->tap)
        pcap_tap_push(lw->tap, frame);
    /* Frames are accounted a burst at a time (worker_stage), which lets
     * the burst's flow lookups load in parallel: the ring block they point
     * into stays ours until live_block_done.  A frame copied to the
     * socket's scratch buffer is accounted at once. */
    worker_stage(&lw->w, frame);
    if (afpacket_frame_in_scratch(lw->polling, frame))
        worker_flush(&lw->w);
    return true;
}

static void live_block_done(void *user)
{
    struct live_worker *lw = user;

    worker_flush(&lw->w);
}

/* Walks socket i's ready blocks; nothing stays staged afterwards, so the
 * flow table is complete whenever the worker looks at it. */
static int live_poll_one(struct live_worker *lw, unsigned i)
{
    lw->polling = lw->socks[i];
    int rc = afpacket_poll(lw->socks[i], 0, live_on_frame, lw);
    worker_flush(&lw->w);
    return rc;
}

static uint64_t live_retire_us(const struct live_worker *lw)
{
    unsigned ms = lw->live->cfg->ring_timeout_ms ? lw->live->cfg->ring_timeout_ms
                                                 : AFPACKET_DEFAULT_RETIRE_MS;
    return (uint64_t)ms * 1000;
}

/* Reads what sockets [first, first + n) still hold.  A partly filled block
 * is handed over only when it retires, so they are walked for a little
 * over two retire periods (errors are ignored: they were reported).  Not
 * past -c: the packets beyond the count are not wanted. */
static void live_drain_sockets(struct live_worker *lw, unsigned first, unsigned n)
{
    const struct timespec pause = { 0, 5000000 };   /* 5 ms */
    uint64_t max = lw->live->cfg->max_packets;
    uint64_t end = live_mono_us() + 2 * live_retire_us(lw) + 50000;

    while (live_mono_us() < end) {
        if (max && atomic_load_explicit(&lw->live->packets, memory_order_relaxed) >= max)
            return;
        int got = 0;
        for (unsigned i = first; i < first + n; i++) {
            int rc = live_poll_one(lw, i);
            got += rc > 0 ? rc : 0;
        }
        if (got == 0)
            nanosleep(&pause, NULL);
    }
}

static void live_poll_error(struct live_worker *lw, unsigned i, int rc)
{
    char msg[320];
    const char *name = lw->live->ifnames[i];

    if (rc == AFPACKET_ERR_IFACE_DOWN) {
        /* A link that went down ends its connections; the records are
         * written now rather than an idle timeout later.  Flows are not
         * keyed by interface, so with several interfaces a worker ends
         * all of its flows (they start again with the next packet).  The
         * error arrives ahead of packets still in an unretired block (the
         * last echo before the link went down, say): read them first, or
         * their flows would start again as records of their own. */
        live_drain_sockets(lw, i, 1);
        live_send_stats(lw);
        flow_table_flush(lw->w.flows, FLOW_END_IFACE_DOWN);
        snprintf(msg, sizeof(msg), "interface %s went down: its flows were written (end_reason "
                 "iface_down); waiting for it to come back up", name);
        if (lw->id == 0)
            live_send_event(lw, msg);
        return;
    }
    snprintf(msg, sizeof(msg), "capture on %s stopped: %s", name, afpacket_error(lw->socks[i]));
    lw->gone[i] = true;
    /* Whichever worker sees the end first tells why: the others may only
     * have seen the interface go down before it vanished, or stop on the
     * flag below before polling again.  Relaxed: the exchange only elects
     * the reporter; the stop flag carries the ordering. */
    int no_failure_yet = 0;
    if (atomic_compare_exchange_strong_explicit(&lw->live->failure, &no_failure_yet, 1,
                                                memory_order_relaxed, memory_order_relaxed))
        live_send_event(lw, msg);
    atomic_store_explicit(&lw->live->stop, true, memory_order_release);
}

/* One pass over every socket without waiting; returns frames handled. */
static int live_poll_all(struct live_worker *lw)
{
    int total = 0;

    for (unsigned i = 0; i < lw->live->nifaces; i++) {
        if (lw->gone[i])
            continue;
        int rc = live_poll_one(lw, i);
        if (rc < 0)
            live_poll_error(lw, i, rc);
        else
            total += rc;
    }
    return total;
}

static void live_wait(struct live_worker *lw)
{
    struct pollfd pfds[NM_MAX_IFACES];
    nfds_t n = 0;

    for (unsigned i = 0; i < lw->live->nifaces; i++) {
        if (lw->gone[i])
            continue;
        pfds[n].fd = afpacket_fd(lw->socks[i]);
        pfds[n].events = POLLIN | POLLERR;
        pfds[n].revents = 0;
        n++;
    }
    poll(pfds, n, 100);
}

/* After stop, what the kernel already captured is still ours, and after
 * an interface vanishes the kernel may still hand over its last block, so
 * every socket, gone ones included, is drained.  New packets are shut out
 * first, so the kernel's count of captured packets is final and every one
 * of them is processed (packets == kernel_packets - drops). */
static void live_drain_kernel(struct live_worker *lw)
{
    for (unsigned i = 0; i < lw->live->nifaces; i++)
        (void)afpacket_stop_intake(lw->socks[i]);   /* a vanished device may refuse */
    live_drain_sockets(lw, 0, lw->live->nifaces);
}

static void *live_worker_main(void *arg)
{
    struct live_worker *lw = arg;
    uint64_t next_tick = live_mono_us() + LIVE_TICK_US;

    /* Acquire pairs with the release stores of the stop flag. */
    while (!atomic_load_explicit(&lw->live->stop, memory_order_acquire)) {
        if (live_poll_all(lw) == 0)
            live_wait(lw);
        uint64_t now = live_mono_us();
        if (now >= next_tick) {
            flow_table_advance(lw->w.flows, live_wall_us());
            live_send_stats(lw);
            next_tick = now + LIVE_TICK_US;
        }
        if (lw->snap && now >= lw->next_snap) {
            live_send_snapshot(lw);
            lw->next_snap = now + lw->live->cfg->snapshot_us;
        }
    }
    live_drain_kernel(lw);
    live_send_stats(lw);
    flow_table_flush(lw->w.flows, FLOW_END_SHUTDOWN);
    live_send_stats(lw);
    lw->scratch.kind = LIVE_MSG_DONE;
    live_send(lw, &lw->scratch);
    wake_signal(&lw->live->out_wake);
    return NULL;
}

/* ---- setup -------------------------------------------------------------- */

static int live_resolve_ifaces(struct live *lv, char *err, size_t errlen)
{
    const struct nm_config *cfg = lv->cfg;

    if (cfg->n_ifaces == 0) {
        if (iface_default_route("/proc", lv->ifnames[0], err, errlen) != IFACE_OK)
            return -1;
        lv->nifaces = 1;
        return 0;
    }
    for (unsigned i = 0; i < cfg->n_ifaces; i++)
        snprintf(lv->ifnames[i], IFNAMSIZ, "%s", cfg->ifaces[i]);
    lv->nifaces = cfg->n_ifaces;
    for (unsigned i = 0; i < lv->nifaces; i++)
        if (strcmp(lv->ifnames[i], "any") == 0 && lv->nifaces > 1) {
            snprintf(err, errlen, "-i any captures every interface already; give it alone");
            return -1;
        }
    return 0;
}

/* Compiles the expression for what each interface's kernel filter sees. */
static int live_compile_filters(struct live *lv, char *err, size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE + 64];
    struct afpacket_link link;

    if (!lv->cfg->filter_expr)
        return 0;
    for (unsigned i = 0; i < lv->nifaces; i++) {
        if (afpacket_link_info(lv->ifnames[i], &link, err, errlen) != AFPACKET_OK)
            return NM_EXIT_FAILURE;
        int rc = filter_compile(lv->cfg->filter_expr, link.filter_linktype, LIVE_FILTER_SNAPLEN,
                                &lv->filters[i], perr, sizeof(perr));
        if (rc == FILTER_ERR_SYNTAX || rc == FILTER_ERR_LINKTYPE) {
            snprintf(err, errlen, "invalid filter: %s", perr);
            return NM_EXIT_USAGE;
        }
        lv->have_filter[i] = true;
        if (rc != FILTER_OK) {
            snprintf(err, errlen, "filter for %s: %s", lv->ifnames[i], perr);
            return NM_EXIT_FAILURE;
        }
    }
    return 0;
}

static int live_open_worker(struct live *lv, struct live_worker *lw, char *err, size_t errlen)
{
    const struct nm_config *cfg = lv->cfg;
    struct afpacket_config ac;

    lw->live = lv;
    lw->ring = spsc_ring_create(LIVE_RING_MSGS, sizeof(struct live_msg));
    if (!lw->ring) {
        snprintf(err, errlen, "out of memory for worker %u's record ring", lw->id);
        return -1;
    }
    if (worker_init(&lw->w, cfg, (uint8_t)lw->id, lv->nworkers, live_emit_flow, lw, err, errlen) != 0)
        return -1;
    flow_table_set_record_slot(lw->w.flows, live_record_slot, live_commit_record);
    if (lv->pcap_out && !(lw->tap = pcap_tap_create(pcap_writer_snaplen(lv->pcap_out)))) {
        snprintf(err, errlen, "out of memory for worker %u's -w queue", lw->id);
        return -1;
    }
    if (cfg->snapshot_us && !(lw->snap = snapshot_sel_create(VIEW_SNAPSHOT_LIMIT))) {
        snprintf(err, errlen, "out of memory for worker %u's snapshots", lw->id);
        return -1;
    }
    for (unsigned i = 0; i < lv->nifaces; i++) {
        afpacket_config_init(&ac, lv->ifnames[i]);
        if (cfg->ring_mib)
            afpacket_config_set_ring_size(&ac, (uint64_t)cfg->ring_mib << 20);
        if (cfg->ring_block_kib)
            ac.block_size = cfg->ring_block_kib << 10;
        if (cfg->ring_timeout_ms)
            ac.retire_ms = cfg->ring_timeout_ms;
        ac.promisc = !cfg->no_promisc;
        ac.filter = lv->have_filter[i] ? filter_sock_fprog(&lv->filters[i]) : NULL;
        if (lv->nworkers > 1) {
            /* Worker 0 lets the kernel pick an unused group id; the
             * others join that group (workers are opened in order). */
            ac.fanout = true;
            ac.fanout_join = lw->id != 0;
            ac.fanout_group = lv->fanout_group[i];   /* worker 0's, once it has one */
            ac.fanout_mode = AFPACKET_FANOUT_HASH_DEFRAG;
        }
        if (afpacket_open(&ac, &lw->socks[i], err, errlen) != AFPACKET_OK)
            return -1;
        afpacket_set_block_done(lw->socks[i], live_block_done, lw);
        if (lv->nworkers > 1 && lw->id == 0)
            lv->fanout_group[i] = afpacket_fanout_group(lw->socks[i]);
    }
    return 0;
}

static void live_close_worker(struct live_worker *lw)
{
    for (unsigned i = 0; i < NM_MAX_IFACES; i++)
        if (lw->socks[i])
            afpacket_close(lw->socks[i]);
    if (lw->w.flows)
        worker_fini(&lw->w);
    snapshot_sel_destroy(lw->snap);
    pcap_tap_destroy(lw->tap);
    spsc_ring_destroy(lw->ring);
}

/* "capturing on IFACE with N workers": the line tests and scripts wait
 * for; with fan-out it names the group of the first interface's sockets,
 * which `ss -0 -e` shows too, so a user can tell two netmoons apart. */
static void live_say_capturing(const struct live *lv)
{
    char group[40] = "";

    if (lv->nworkers > 1)
        snprintf(group, sizeof(group), " (fanout group %u)", lv->fanout_group[0]);
    fprintf(stderr, "netmoon: capturing on %s%s with %u worker%s%s\n", lv->ifnames[0],
            lv->nifaces > 1 ? " and more" : "", lv->nworkers, lv->nworkers > 1 ? "s" : "", group);
}

/* ---- output thread -------------------------------------------------------- */

/* Kernel drops reported by all workers so far: records written after a
 * drop carry the total, so no output claims counts that may be short. */
static uint64_t live_drops_seen(const struct live *lv)
{
    uint64_t drops = 0;

    for (unsigned i = 0; i < lv->nworkers; i++)
        drops += lv->workers[i].last.kernel_drops;
    return drops;
}

static void live_handle(struct live_worker *lw, struct output_set *outs, struct live_msg *m)
{
    switch (m->kind) {
    case LIVE_MSG_FLOW:
        m->u.flow.kernel_drops_seen = live_drops_seen(lw->live);
        if (lw->live->procs)
            procs_annotate(lw->live->procs, &m->u.flow, true);
        output_set_flow(outs, &m->u.flow);
        lw->live->records_unflushed = true;
        break;
    case LIVE_MSG_STATS:
        lw->last = m->u.stats;
        break;
    case LIVE_MSG_EVENT:
        fprintf(stderr, "netmoon: %s\n", m->u.text);
        break;
    case LIVE_MSG_DONE:
        lw->done = true;
        break;
    case LIVE_MSG_SNAP_BEGIN:
        output_set_snapshot_begin(outs, m->u.snap.source, m->u.snap.ts_us);
        break;
    case LIVE_MSG_SNAP_FLOW:
        if (lw->live->procs)
            procs_annotate(lw->live->procs, &m->u.flow, false);
        output_set_snapshot_flow(outs, &m->u.flow);
        break;
    case LIVE_MSG_SNAP_END:
        /* The view sums the workers' snapshot counters: the output
         * thread's attribution counters ride on worker 0's alone. */
        if (lw->live->procs && m->u.snap.source == 0)
            procs_add_stats(lw->live->procs, &m->u.snap.stats);
        output_set_snapshot_end(outs, &m->u.snap);
        break;
    }
}

/* Drains every ring; returns the number of messages handled. */
static unsigned live_drain(struct live *lv, struct output_set *outs)
{
    unsigned handled = 0;

    for (unsigned i = 0; i < lv->nworkers; i++) {
        struct live_worker *lw = &lv->workers[i];
        void *first;
        uint32_t got;
        /* Messages are handled in place in the ring, a run at a time. */
        for (unsigned k = 0; k < 1024 && (got = spsc_ring_peek(lw->ring, &first, 64)) > 0;
             k += got) {
            struct live_msg *m = first;
            for (uint32_t j = 0; j < got; j++)
                live_handle(lw, outs, &m[j]);
            spsc_ring_release(lw->ring, got);
            handled += got;
        }
        if (lw->tap)
            handled += pcap_tap_drain(lw->tap, lv->pcap_out, 4096);
    }
    return handled;
}

static void live_sum_stats(const struct live *lv, struct nm_stats *st)
{
    memset(st, 0, sizeof(*st));
    for (unsigned i = 0; i < lv->nworkers; i++)
        nm_stats_add(st, &lv->workers[i].last);
    if (lv->procs)
        procs_add_stats(lv->procs, st);
}

static bool live_all_done(const struct live *lv)
{
    for (unsigned i = 0; i < lv->nworkers; i++)
        if (!lv->workers[i].done)
            return false;
    return true;
}

static bool live_rings_empty(struct live *lv)
{
    for (unsigned i = 0; i < lv->nworkers; i++)
        if (spsc_ring_count(lv->workers[i].ring) > 0)
            return false;
    return true;
}

/* The output thread's wait when the rings were empty: until a worker
 * signals, or `until` (µs, monotonic), at most LIVE_IDLE_MAX_US.  The view
 * and -w want shorter naps (keys; a packet queue that fills fast); stop
 * requests and --duration are seen within a nap. */
#define LIVE_IDLE_MAX_US 50000ull
#define LIVE_IDLE_SHORT_US 2000ull

static void live_output_wait(struct live *lv, const struct output_set *outs, uint64_t until)
{
    uint64_t now = live_mono_us();
    uint64_t nap = output_set_wants_ticks(outs) || lv->pcap_out ? LIVE_IDLE_SHORT_US : LIVE_IDLE_MAX_US;

    if (until <= now)
        return;
    if (until - now < nap)
        nap = until - now;
    uint32_t seq = wake_prepare(&lv->out_wake);
    wake_sleep_unless(&lv->out_wake, seq, !live_rings_empty(lv), (long)(nap * 1000u));
}

static void live_output_loop(struct live *lv, struct output_set *outs)
{
    uint64_t start = live_mono_us(), next_stats = start + LIVE_STATS_INTERVAL_US;
    uint64_t next_update = start + LIVE_TICK_US;
    uint64_t deadline = lv->cfg->duration_s > 0 ? start + (uint64_t)(lv->cfg->duration_s * 1e6) : 0;
    struct nm_stats st;

    while (!live_all_done(lv)) {
        if (live_drain(lv, outs) == 0) {
            uint64_t until = next_update < next_stats ? next_update : next_stats;
            live_output_wait(lv, outs, deadline && deadline < until ? deadline : until);
        }
        if (lv->procs)
            procs_poll(lv->procs);
        output_set_tick(outs);
        uint64_t now = live_mono_us();
        if (signals_stop_requested() || (deadline && now >= deadline)) {
            atomic_store_explicit(&lv->stop, true, memory_order_release);
            /* Done its work: waiting for it again would spin while the
             * workers wind down. */
            deadline = 0;
        }
        if (now >= next_update || now >= next_stats) {
            live_sum_stats(lv, &st);
            output_set_collect_stats(outs, &st);
        }
        if (now >= next_update) {
            output_set_update_stats(outs, &st);
            next_update = now + LIVE_TICK_US;
            /* Records reach their files within a second, for tail -f
             * and collectors; the stats record waits for its interval. */
            if (lv->records_unflushed) {
                output_set_flush(outs);
                lv->records_unflushed = false;
            }
        }
        if (now >= next_stats) {
            output_set_stats(outs, &st);
            output_set_flush(outs);
            lv->records_unflushed = false;
            next_stats = now + LIVE_STATS_INTERVAL_US;
        }
    }
    /* Workers are done: what their -w queues still hold is the last. */
    for (unsigned i = 0; i < lv->nworkers; i++)
        while (lv->workers[i].tap && pcap_tap_drain(lv->workers[i].tap, lv->pcap_out, 4096))
            ;
}

static int live_start_workers(struct live *lv, char *err, size_t errlen)
{
    for (unsigned i = 0; i < lv->nworkers; i++) {
        int e = pthread_create(&lv->workers[i].thread, NULL, live_worker_main, &lv->workers[i]);
        if (e != 0) {
            snprintf(err, errlen, "cannot start worker thread %u: %s", i, strerror(e));
            atomic_store_explicit(&lv->stop, true, memory_order_release);
            return -1;
        }
        lv->workers[i].started = true;
    }
    return 0;
}

/* The helper's sock_diag socket is opened here, before -Z, like the
 * capture sockets. */
static int live_open_procs(struct live *lv, char *err, size_t errlen)
{
    lv->procs = procs_create(lv->nworkers, !lv->cfg->no_procs_bpf, err, errlen);
    if (!lv->procs)
        return -1;
    for (unsigned i = 0; i < lv->nworkers; i++)
        lv->workers[i].w.procs_ring = procs_worker_ring(lv->procs, i);
    return 0;
}

static unsigned live_worker_count(const struct nm_config *cfg)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    if (cfg->workers)
        return cfg->workers;
    return cpus > 0 ? (unsigned)(cpus > 64 ? 64 : cpus) : 1;
}

static void live_teardown(struct live *lv)
{
    for (unsigned i = 0; i < lv->nworkers; i++)
        if (lv->workers[i].started)
            pthread_join(lv->workers[i].thread, NULL);
    procs_destroy(lv->procs);
    for (unsigned i = 0; i < lv->nworkers; i++)
        live_close_worker(&lv->workers[i]);
    for (unsigned i = 0; i < lv->nifaces; i++)
        if (lv->have_filter[i])
            filter_free(&lv->filters[i]);
    free(lv->workers);
}

int live_run(const struct nm_config *cfg, struct output_set *outs, struct nm_stats *stats,
             bool *ran)
{
    char err[512] = "";
    struct live lv;
    int rc = NM_EXIT_FAILURE;

    memset(&lv, 0, sizeof(lv));
    lv.cfg = cfg;
    lv.pcap_out = outs->packets;
    lv.nworkers = live_worker_count(cfg);
    lv.workers = calloc(lv.nworkers, sizeof(*lv.workers));
    if (!lv.workers) {
        snprintf(err, sizeof(err), "out of memory");
        goto out;
    }
    if (live_resolve_ifaces(&lv, err, sizeof(err)) != 0)
        goto out;
    if ((rc = live_compile_filters(&lv, err, sizeof(err))) != 0)
        goto out;
    rc = NM_EXIT_FAILURE;
    for (unsigned i = 0; i < lv.nworkers; i++) {
        lv.workers[i].id = i;
        if (live_open_worker(&lv, &lv.workers[i], err, sizeof(err)) != 0)
            goto out;
    }
    if (!cfg->no_procs && live_open_procs(&lv, err, sizeof(err)) != 0)
        goto out;
    /* Sockets are open: root is no longer needed (tcpdump's -Z). */
    if (cfg->drop_user && privs_drop(cfg->drop_user, err, sizeof(err)) != 0)
        goto out;
    if (lv.procs)
        procs_recheck_bpf(lv.procs);
    if (lv.procs && procs_start(lv.procs, err, sizeof(err)) != 0)
        goto out;
    if (live_start_workers(&lv, err, sizeof(err)) != 0)
        goto out;
    *ran = true;
    live_say_capturing(&lv);
    live_output_loop(&lv, outs);
    live_sum_stats(&lv, stats);
    output_set_flush(outs);
    rc = atomic_load_explicit(&lv.failure, memory_order_relaxed) ? NM_EXIT_FAILURE : NM_EXIT_OK;
out:
    if (err[0])
        fprintf(stderr, "netmoon: %s\n", err);
    live_teardown(&lv);
    return rc;
}
