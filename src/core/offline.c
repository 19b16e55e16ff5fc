/*
 * offline.c: the -r path.  One worker on the calling thread: read a frame,
 * filter, decode, account; records go straight to the outputs.  Time is the
 * packets' time, so idle timeouts behave as they did when captured.
 *
 * Damage in the file stops reading, but every flow seen up to that point is
 * still written (end_reason "eof") before the non-zero exit.
 */
#include "core/offline.h"
#include "core/offline_internal.h"

#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "capture/filter.h"
#include "capture/pcap_file.h"
#include "core/signals.h"
#include "core/view_feed.h"
#include "core/worker.h"

static int offline_check_linktype(const struct pcap_file *f, const char *path)
{
    int lt = pcap_file_linktype(f);

    if (lt < 0 || decode_linktype_supported(lt))
        return 0;
    const char *name = pcap_datalink_val_to_name(lt);
    fprintf(stderr,
            "netmoon: %s: link type %d (%s) is not supported; supported: EN10MB (Ethernet, "
            "802.1Q/802.1ad), LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL, LOOP\n",
            path, lt, name ? name : "unknown");
    return -1;
}

static int offline_filter_compile(struct offline_filters *fl, int linktype, bool report)
{
    char err[PCAP_ERRBUF_SIZE + 64];

    if (fl->n == OFFLINE_FILTER_TYPES)
        return -1;
    if (filter_compile(fl->expr, linktype, PCAP_FILE_MAX_RECORD, &fl->progs[fl->n], err,
                       sizeof(err)) != FILTER_OK && !(fl->progs[fl->n].prog.bf_insns)) {
        if (report)
            fprintf(stderr, "netmoon: invalid filter: %s\n", err);
        return -1;
    }
    fl->n++;
    return 0;
}

/* True when the frame passes the filter (or there is none).  Frames of a
 * link type the expression cannot be compiled for are filtered out. */
static bool offline_filter_match(struct offline_filters *fl, const struct nm_frame *frame)
{
    for (unsigned i = 0; i < fl->n; i++)
        if (fl->progs[i].linktype == frame->linktype)
            return filter_match(&fl->progs[i], frame);
    if (offline_filter_compile(fl, frame->linktype, false) != 0)
        return false;
    return filter_match(&fl->progs[fl->n - 1], frame);
}

bool offline_filter_pass(struct offline_filters *fl, const struct nm_frame *frame)
{
    if (!fl->expr || offline_filter_match(fl, frame))
        return true;
    fl->filtered++;
    fl->filtered_bytes += frame->wirelen;
    return false;
}

void offline_filters_add_stats(const struct offline_filters *fl, struct nm_stats *st)
{
    st->filtered_out += fl->filtered;
    st->decode.frames += fl->filtered;
    st->decode.bytes += fl->filtered_bytes;
}

void offline_filters_free(struct offline_filters *fl)
{
    for (unsigned i = 0; i < fl->n; i++)
        filter_free(&fl->progs[i]);
    fl->n = 0;
}

/* Current counters for sinks that show totals (Prometheus) about once a
 * second of wall time; the clock is read every 64 packets only. */
struct offline_progress {
    uint64_t next_us;
};

static void offline_update_stats(struct offline_progress *pr, const struct worker *w,
                                 const struct offline_filters *fl, struct output_set *outs,
                                 uint64_t seen)
{
    struct timespec ts;
    struct nm_stats st;

    if (seen & 63)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    if (now < pr->next_us)
        return;
    pr->next_us = now + 1000000u;
    memset(&st, 0, sizeof(st));
    worker_collect_stats(w, &st);
    offline_filters_add_stats(fl, &st);
    output_set_collect_stats(outs, &st);
    output_set_update_stats(outs, &st);
}

static void offline_finish(struct worker *w, struct output_set *outs, struct nm_stats *stats,
                           enum flow_end_reason why, uint64_t last_ts)
{
    flow_table_flush(w->flows, why);
    memset(stats, 0, sizeof(*stats));
    stats->ts_us = last_ts;
    worker_collect_stats(w, stats);
    output_set_flush(outs);
}

int offline_open(const struct nm_config *cfg, struct pcap_file **f,
                 struct offline_filters *filters)
{
    char err[512];

    *f = pcap_file_open(cfg->read_file, err, sizeof(err));
    if (!*f) {
        fprintf(stderr, "netmoon: %s\n", err);
        return NM_EXIT_FAILURE;
    }
    if (offline_check_linktype(*f, cfg->read_file) != 0)
        return NM_EXIT_FAILURE;
    /* Compile up front so a bad expression is refused before any output. */
    if (filters->expr && pcap_file_linktype(*f) >= 0 &&
        offline_filter_compile(filters, pcap_file_linktype(*f), true) != 0)
        return NM_EXIT_USAGE;
    return NM_EXIT_OK;
}

/* The pipeline pays off on two or more CPUs; it is left out for what needs
 * the flow table and the reading in one thread: a view (snapshots), -c
 * and --realtime (both pace or stop reading by what was accounted), -w and
 * --prometheus (the writer takes frames, the metrics the running counters,
 * from the reading loop), and standard input (frames point into a buffer
 * that reading reuses). */
static bool offline_use_pipeline(const struct nm_config *cfg)
{
    if (cfg->snapshot_us || cfg->realtime || cfg->max_packets || cfg->write_path ||
        cfg->prometheus_listen || strcmp(cfg->read_file, "-") == 0)
        return false;
    if (cfg->workers)
        return cfg->workers > 1;
    return sysconf(_SC_NPROCESSORS_ONLN) > 1;
}

int offline_run(const struct nm_config *cfg, struct output_set *outs, struct nm_stats *stats,
                bool *ran)
{
    char err[512];
    struct nm_frame frame;
    struct worker *w = NULL;
    struct pcap_file *f = NULL;
    enum flow_end_reason why = FLOW_END_EOF;
    uint64_t seen = 0, last_ts = 0;
    struct offline_progress pr = { 0 };
    /* Only a sink that shows running totals (Prometheus) wants them. */
    bool progress = cfg->prometheus_listen != NULL;
    struct offline_filters filters = { .expr = cfg->filter_expr };
    struct view_feed feed = { 0 };
    int rc;

    if ((rc = offline_open(cfg, &f, &filters)) != NM_EXIT_OK)
        goto out;
    /* Decided once the file is open: only a mapped file keeps a frame's
     * bytes in place while the packet waits in the pipeline's ring (a
     * FIFO path, a redirected and partly read file, a file system without
     * mmap are streamed through a buffer that moves). */
    if (offline_use_pipeline(cfg) && pcap_file_is_mapped(f))
        return offline_pipeline_run(cfg, outs, stats, ran, f, &filters);
    w = calloc(1, sizeof(*w));
    if (view_feed_init(&feed, cfg) != 0 || !w) {
        fprintf(stderr, "netmoon: out of memory\n");
        rc = NM_EXIT_FAILURE;
        goto out;
    }
    if (worker_init(w, cfg, 0, 1, output_set_emit, outs, err, sizeof(err)) != 0) {
        fprintf(stderr, "netmoon: %s\n", err);
        rc = NM_EXIT_FAILURE;
        goto out;
    }
    *ran = true;
    /* A mapped file keeps each frame's bytes in place, so frames can wait
     * in a burst whose flows are looked up together (worker_stage), as
     * live; the view's snapshots, --realtime and the Prometheus totals
     * look at the table after every packet, so they take one at a time. */
    bool burst = pcap_file_is_mapped(f) && !cfg->realtime && !feed.sel && !progress;
    for (;;) {
        if (signals_stop_requested() || (cfg->max_packets && seen >= cfg->max_packets)) {
            why = FLOW_END_SHUTDOWN;
            break;
        }
        enum pcap_file_status st = pcap_file_next(f, &frame);
        if (st == PCAP_FILE_EOF)
            break;
        if (st == PCAP_FILE_ERROR) {
            fprintf(stderr, "netmoon: %s; flows seen before it are still written\n",
                    pcap_file_error(f));
            rc = NM_EXIT_FAILURE;
            break;
        }
        if (frame.ts_us > last_ts)
            last_ts = frame.ts_us;
        if (!offline_filter_pass(&filters, &frame))
            continue;
        seen++;   /* -c counts packets that pass the filter, as tcpdump's does */
        if (outs->packets)
            pcap_writer_write(outs->packets, &frame);
        view_feed_offline_packet(&feed, w, outs, frame.ts_us);
        if (burst)
            worker_stage(w, &frame);
        else
            worker_process(w, &frame);
        if (progress)
            offline_update_stats(&pr, w, &filters, outs, seen);
    }
    worker_flush(w);
    offline_finish(w, outs, stats, why, last_ts);
    offline_filters_add_stats(&filters, stats);
out:
    view_feed_fini(&feed);
    offline_filters_free(&filters);
    if (w && w->flows)
        worker_fini(w);
    free(w);
    if (f)
        pcap_file_close(f);
    return rc;
}
