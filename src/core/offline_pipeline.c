/*
 * offline_pipeline.c: the -r path on two threads.
 *
 *   calling thread  read a frame, filter, decode, flow key and hash
 *        | ring of decoded packets (SPSC)              ^
 *   flow thread     account in the flow table,        |  ring of flow
 *                   TCP analysis, expiry              |  records (SPSC)
 *   calling thread  the outputs (JSON formatting and writing), between
 *                   bursts of reading and while the packet ring is full
 *
 * Decoding and flow accounting cost about the same per packet, so on two
 * or more CPUs the stages overlap, as Suricata's "autofp" runmode splits
 * packet acquisition from flow work.  The outputs share the reading
 * thread, the lighter of the two: as a third thread they competed with
 * both for two CPUs and woke thousands of times a second.  The flow thread still sees every
 * frame in file order (non-IP frames as a time tick), so its clock, and so
 * every record, is exactly that of the single-threaded path; only the
 * moment a record is written changes.
 *
 * Decoded packets point into the file's memory map, which stays mapped
 * until the reader closes the file after both threads are done.  A full
 * ring makes its producer wait: offline, nothing is ever dropped.  A
 * thread that has to wait spins briefly, then sleeps on its wake event
 * (common/wake.h) until the other thread publishes.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/prefetch.h"
#include "common/spsc_ring.h"
#include "common/wake.h"
#include "core/offline_internal.h"
#include "core/signals.h"
#include "core/worker.h"

/* 768 KiB (192-byte messages), within one CPU's L2 here.  The reader, once asleep on a
 * full ring, is woken with half of it free (PIPE_WAKE_ROOM): 2,048 packets
 * are a few hundred microseconds of the flow thread's work, more than a
 * sleeping CPU takes to wake, so the flow thread does not run dry. */
#define PIPE_PACKET_RING 4096u
#define PIPE_RECORD_RING 1024u
#define PIPE_BURST WORKER_BURST
/* A sleeping thread looks again after this even unwoken: wakes are never
 * lost, but the reader also watches for SIGINT. */
#define PIPE_SLEEP_MAX_NS 10000000L

enum pipe_msg_kind { PIPE_PACKET, PIPE_TICK, PIPE_END };

/* One frame for the flow thread.  A tick carries only pkt.ts_us; the end
 * carries why reading stopped in side.  A packet comes with its flow key
 * (the short part: an IPv6 key's addresses are the packet's, in the order
 * key_side says) and keyed hash, made by the reader (flow_table_key),
 * which has time to spare: the flow thread is the pipeline's slower side. */
struct pipe_msg {
    uint8_t kind;
    uint8_t side;                    /* PIPE_END: why reading stopped */
    uint8_t key_side;                /* PIPE_PACKET: the sender's canonical side */
    uint64_t hash;
    struct flow_key_short key;
    struct nm_packet pkt;
};
_Static_assert(sizeof(struct pipe_msg) <= 3 * 64, "a packet message stays within three cache lines");

struct pipeline {
    struct worker w;                 /* decode: calling thread; flows: flow thread */
    struct pcap_file *f;
    struct offline_filters filters;
    struct output_set *outs;
    struct spsc_ring *packets, *records;
    pthread_t flower;
    bool flower_started;
    uint64_t waits;                  /* reader found the packet ring full */
    /* Reader results, complete before it enqueues PIPE_END. */
    int rc;
    char error[600];
    uint64_t last_ts;
    /* Set by the flow thread after its last record is in the ring. */
    _Atomic bool done;
    /* Each thread sleeps on its own event; the other signals it after
     * each publication (a commit, a release, a record). */
    struct wake_event reader_wake, flower_wake;
    /* Reader side: packets are decoded in place into reserved ring slots,
     * published a burst at a time (a 168-byte copy per packet less). */
    struct pipe_msg *res_first;
    unsigned res_n, res_used;
    unsigned ticks;                      /* bursts since the last output_set_tick */
    uint64_t flow_waits;                 /* flow thread found the record ring full */
};

#define PIPE_TICK_BURSTS 256u   /* output_set_tick (SIGHUP reopen) every 8192 frames */

/* A thread whose ring is empty (or full) spins a few microseconds before it
 * sleeps: the other side usually catches up within that, and a sleep costs
 * two context switches. */
#define PIPE_SPINS 512u

typedef bool pipe_ready_fn(struct pipeline *pl);

/* One step of waiting until ready(pl): a spin while *idle is small, else
 * a sleep on ev (the caller's own event) unless ready already holds. */
static void pipe_wait(struct pipeline *pl, struct wake_event *ev, pipe_ready_fn *ready,
                      unsigned *idle)
{
    if (*idle < PIPE_SPINS) {
        (*idle)++;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
        return;
    }
    uint32_t seq = wake_prepare(ev);
    wake_sleep_unless(ev, seq, ready(pl), PIPE_SLEEP_MAX_NS);
}

/* A reader that had to sleep on a full packet ring sleeps until this much
 * of it is free, and the flow thread signals only then: one wake per half
 * ring instead of one per burst.  A wake is a system call on the flow
 * thread, the pipeline's slower side, and an interrupt to the other CPU;
 * on workload 1 it woke the reader about 5,500 times. */
#define PIPE_WAKE_ROOM (PIPE_PACKET_RING / 2)

/* Likewise records: the reader drains them after every burst anyway, so
 * the flow thread wakes a sleeping reader for them only once a quarter of
 * their ring is waiting (or at the end: done). */
#define PIPE_RECORD_WAKE (PIPE_RECORD_RING / 4)

static uint32_t pipe_packet_room(struct pipeline *pl)
{
    return spsc_ring_capacity(pl->packets) - spsc_ring_count(pl->packets);
}

/* What each wait waits for.  spsc_ring_count's acquire loads come after
 * wake_prepare's fence: see wake.h. */
static bool reader_can_go_on(struct pipeline *pl)
{
    return pipe_packet_room(pl) >= PIPE_WAKE_ROOM || spsc_ring_count(pl->records) > 0;
}

static bool reader_can_finish(struct pipeline *pl)
{
    return spsc_ring_count(pl->records) > 0 ||
           atomic_load_explicit(&pl->done, memory_order_acquire);
}

static bool flower_has_packets(struct pipeline *pl)
{
    return spsc_ring_count(pl->packets) > 0;
}

static bool flower_has_record_room(struct pipeline *pl)
{
    return spsc_ring_count(pl->records) < spsc_ring_capacity(pl->records);
}

/* Moves every record the flow thread has finished to the outputs, which
 * read them in place in the ring.  Calling thread only. */
static uint32_t pipe_drain_records(struct pipeline *pl)
{
    uint32_t got, moved = 0;
    void *first;

    while ((got = spsc_ring_peek(pl->records, &first, PIPE_BURST)) > 0) {
        const struct flow_record *r = first;
        for (uint32_t i = 0; i < got; i++)
            output_set_flow(pl->outs, &r[i]);
        spsc_ring_release(pl->records, got);
        wake_signal(&pl->flower_wake);
        moved += got;
    }
    return moved;
}

/* ---- calling thread: reading, and the outputs in between ------------------------ */

/* Publishes the messages written so far, then writes the records the flow
 * thread has finished. */
static void reader_flush(struct pipeline *pl)
{
    spsc_ring_commit(pl->packets, pl->res_used);
    wake_signal(&pl->flower_wake);
    pl->res_first += pl->res_used;
    pl->res_n -= pl->res_used;
    pl->res_used = 0;
    (void)pipe_drain_records(pl);
    if (++pl->ticks == PIPE_TICK_BURSTS) {
        pl->ticks = 0;
        output_set_tick(pl->outs);
    }
}

/* Reserves the next burst of slots, waiting for room: nothing is dropped
 * offline.  While the packet ring is full the records are drained: the
 * flow thread may be waiting for room in theirs. */
static void reader_reserve(struct pipeline *pl)
{
    unsigned idle = 0;
    void *first;
    uint32_t n;

    while ((n = spsc_ring_reserve(pl->packets, &first, PIPE_BURST)) == 0) {
        /* Time to spare, once spinning is over and the reader would
         * sleep: fault in the flow thread's next pages for it.  Earlier,
         * at every full ring, the zeroing outlasted the wait and the
         * reader fell behind on workload 1. */
        if (idle >= PIPE_SPINS)
            flow_table_prefault(pl->w.flows);
        if (pipe_drain_records(pl) == 0) {
            pl->waits++;
            pipe_wait(pl, &pl->reader_wake, reader_can_go_on, &idle);
        }
    }
    pl->res_first = first;
    pl->res_n = n;
}

static struct pipe_msg *reader_slot(struct pipeline *pl)
{
    if (pl->res_used == pl->res_n) {
        if (pl->res_used)
            reader_flush(pl);
        reader_reserve(pl);
    }
    return &pl->res_first[pl->res_used++];
}

static void reader_frame(struct pipeline *pl, const struct nm_frame *frame)
{
    struct pipe_msg *m = reader_slot(pl);

    if (decode_packet(&pl->w.decode, frame, &m->pkt)) {
        struct flow_key key;
        unsigned side;
        m->kind = PIPE_PACKET;
        m->hash = flow_table_key(pl->w.flows, &m->pkt, &key, &side);
        m->key = key.s;
        m->key_side = (uint8_t)side;
    } else {
        m->kind = PIPE_TICK;
        m->pkt.ts_us = frame->ts_us;
    }
}

static enum flow_end_reason reader_read_all(struct pipeline *pl)
{
    struct nm_frame frame;

    for (;;) {
        if (signals_stop_requested())
            return FLOW_END_SHUTDOWN;
        enum pcap_file_status st = pcap_file_next(pl->f, &frame);
        if (st == PCAP_FILE_EOF)
            return FLOW_END_EOF;
        if (st == PCAP_FILE_ERROR) {
            snprintf(pl->error, sizeof(pl->error), "%s", pcap_file_error(pl->f));
            pl->rc = NM_EXIT_FAILURE;
            return FLOW_END_EOF;
        }
        if (frame.ts_us > pl->last_ts)
            pl->last_ts = frame.ts_us;
        if (!offline_filter_pass(&pl->filters, &frame))
            continue;
        reader_frame(pl, &frame);
    }
}

/* Sends the end (why reading stopped) and writes records until the flow
 * thread has flushed its table. */
static void reader_finish(struct pipeline *pl, enum flow_end_reason why)
{
    struct pipe_msg *end = reader_slot(pl);

    end->kind = PIPE_END;
    end->side = (uint8_t)why;
    reader_flush(pl);
    /* The flow thread now writes a record for every flow it holds: spin
     * between them as between bursts; a timed sleep per empty ring made
     * the end of a large file wait (270 sleeps of 50 µs or more for
     * workload 1's 100,000 records). */
    unsigned idle = 0;
    for (;;) {
        /* Acquire, pairs with the release in flower_main: read before the
         * drain, so the drain after it sees every record. */
        bool done = atomic_load_explicit(&pl->done, memory_order_acquire);
        uint32_t moved = pipe_drain_records(pl);
        if (done)
            return;
        output_set_tick(pl->outs);
        if (moved)
            idle = 0;
        else
            pipe_wait(pl, &pl->reader_wake, reader_can_finish, &idle);
    }
}

/* ---- flow thread ---------------------------------------------------------------- */

/* The next record slot, waiting for room: the calling thread drains
 * records even while it waits for room in the packet ring, so this always
 * ends. */
static struct flow_record *flower_reserve_record(struct pipeline *pl)
{
    unsigned idle = 0;
    void *slot;

    while (spsc_ring_reserve(pl->records, &slot, 1) == 0) {
        pl->flow_waits++;
        pipe_wait(pl, &pl->flower_wake, flower_has_record_room, &idle);
    }
    return slot;
}

/* flow_record_slot_fn: an ended flow's record is built in the ring. */
static struct flow_record *flower_record_slot(void *user)
{
    return flower_reserve_record(user);
}

/* flow_record_commit_fn: publishes the record just built. */
static void flower_record_commit(void *user)
{
    struct pipeline *pl = user;

    spsc_ring_commit(pl->records, 1);
    if (spsc_ring_count(pl->records) >= PIPE_RECORD_WAKE)
        wake_signal(&pl->reader_wake);
}

static void flower_emit(void *user, const struct flow_record *rec)
{
    *flower_reserve_record(user) = *rec;
    flower_record_commit(user);
}

static bool flower_handle(struct pipeline *pl, const struct pipe_msg *m,
                          const struct worker_keys *k, uint32_t i)
{
    switch (m->kind) {
    case PIPE_PACKET:
        flow_table_update_keyed(pl->w.flows, &m->pkt, &k->key[i], k->side[i], k->hash[i]);
        return true;
    case PIPE_TICK:
        flow_table_advance(pl->w.flows, m->pkt.ts_us);
        return true;
    default:
        flow_table_flush(pl->w.flows, (enum flow_end_reason)m->side);
        return false;
    }
}

/* Burst entry i's key and hash from the reader's message, and the
 * prefetch of its index slot. */
static inline void flower_key(struct pipeline *pl, struct worker_keys *k, uint32_t i,
                              const struct pipe_msg *m)
{
    struct flow_key *key = &k->key[i];
    unsigned s = m->key_side;

    key->s = m->key;
    if (m->key.ip_version != 4)
        flow_key_set_addr6(key, &m->pkt, s);
    k->side[i] = s;
    k->hash[i] = m->hash;
    flow_table_prefetch(pl->w.flows, m->hash);
}

static void *flower_main(void *arg)
{
    struct pipeline *pl = arg;
    struct worker_keys k;
    bool more = true;
    unsigned idle = 0;

    while (more) {
        void *first;
        uint32_t got = spsc_ring_peek(pl->packets, &first, PIPE_BURST);
        const struct pipe_msg *batch = first;
        if (!got)
            pipe_wait(pl, &pl->flower_wake, flower_has_packets, &idle);
        else
            idle = 0;
        /* The batch's messages (written on the reader's CPU), index slots
         * and then flows load in parallel instead of one miss after
         * another; the packets are read in place in the ring, where a
         * peek's run is contiguous. */
        prefetch_range(batch, got * sizeof(batch[0]));
        for (uint32_t i = 0; i < got; i++)
            if (batch[i].kind == PIPE_PACKET)
                flower_key(pl, &k, i, &batch[i]);
        for (uint32_t i = 0; i < got; i++)
            if (batch[i].kind == PIPE_PACKET)
                flow_table_prefetch_flow(pl->w.flows, k.hash[i]);
        for (uint32_t i = 0; i < got && more; i++)
            more = flower_handle(pl, &batch[i], &k, i);
        spsc_ring_release(pl->packets, got);
        if (got && pipe_packet_room(pl) >= PIPE_WAKE_ROOM)
            wake_signal(&pl->reader_wake);
    }
    /* Release: every record is in the ring before the output loop, which
     * acquires done, does its last drain. */
    atomic_store_explicit(&pl->done, true, memory_order_release);
    wake_signal(&pl->reader_wake);
    return NULL;
}

static int pipeline_collect(struct pipeline *pl, struct nm_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    worker_collect_stats(&pl->w, stats);
    stats->ts_us = pl->last_ts;
    stats->output_stalls = pl->waits + pl->flow_waits;
    offline_filters_add_stats(&pl->filters, stats);
    if (pl->rc != NM_EXIT_OK)
        fprintf(stderr, "netmoon: %s; flows seen before it are still written\n", pl->error);
    return pl->rc;
}

static int pipeline_open(struct pipeline *pl, const struct nm_config *cfg)
{
    char err[512];

    pl->packets = spsc_ring_create(PIPE_PACKET_RING, sizeof(struct pipe_msg));
    pl->records = spsc_ring_create(PIPE_RECORD_RING, sizeof(struct flow_record));
    if (!pl->packets || !pl->records) {
        fprintf(stderr, "netmoon: out of memory for the pipeline rings (try -T 1)\n");
        return NM_EXIT_FAILURE;
    }
    if (worker_init(&pl->w, cfg, 0, 1, flower_emit, pl, err, sizeof(err)) != 0) {
        fprintf(stderr, "netmoon: %s\n", err);
        return NM_EXIT_FAILURE;
    }
    flow_table_set_record_slot(pl->w.flows, flower_record_slot, flower_record_commit);
    return NM_EXIT_OK;
}

static void pipeline_close(struct pipeline *pl)
{
    if (pl->flower_started)
        pthread_join(pl->flower, NULL);
    if (pl->w.flows)
        worker_fini(&pl->w);
    offline_filters_free(&pl->filters);
    if (pl->f)
        pcap_file_close(pl->f);
    spsc_ring_destroy(pl->packets);
    spsc_ring_destroy(pl->records);
}

int offline_pipeline_run(const struct nm_config *cfg, struct output_set *outs,
                         struct nm_stats *stats, bool *ran, struct pcap_file *f,
                         struct offline_filters *filters)
{
    struct pipeline *pl = calloc(1, sizeof(*pl));
    int rc = NM_EXIT_FAILURE;

    if (!pl) {
        fprintf(stderr, "netmoon: out of memory\n");
        offline_filters_free(filters);
        pcap_file_close(f);
        return rc;
    }
    pl->outs = outs;
    pl->f = f;
    pl->filters = *filters;
    if ((rc = pipeline_open(pl, cfg)) != NM_EXIT_OK)
        goto out;
    if (pthread_create(&pl->flower, NULL, flower_main, pl) != 0) {
        fprintf(stderr, "netmoon: cannot start the pipeline's flow thread (try -T 1)\n");
        rc = NM_EXIT_FAILURE;
        goto out;
    }
    pl->flower_started = true;
    *ran = true;
    reader_finish(pl, reader_read_all(pl));
    rc = pipeline_collect(pl, stats);
    output_set_flush(outs);
out:
    pipeline_close(pl);
    free(pl);
    return rc;
}
