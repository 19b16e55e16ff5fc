/*
 * offline.c: the -r path.  One worker on the calling thread: read a frame,
 * filter, decode, account; records go straight to the outputs.  Time is the
 * packets' time, so idle timeouts behave as they did when captured.
 *
 * Damage in the file stops reading, but every flow seen up to that point is
 * still written (end_reason "eof") before the non-zero exit.
 */
#include "core/offline.h"

#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/pcap_file.h"
#include "core/signals.h"
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

static void offline_finish(struct worker *w, struct output_set *outs, struct nm_stats *stats,
                           enum flow_end_reason why, uint64_t last_ts)
{
    flow_table_flush(w->flows, why);
    memset(stats, 0, sizeof(*stats));
    stats->ts_us = last_ts;
    worker_collect_stats(w, stats);
    output_set_flush(outs);
}

int offline_run(const struct nm_config *cfg, struct output_set *outs, struct nm_stats *stats)
{
    char err[512];
    struct nm_frame frame;
    struct worker *w = calloc(1, sizeof(*w));
    struct pcap_file *f = NULL;
    enum flow_end_reason why = FLOW_END_EOF;
    uint64_t seen = 0, last_ts = 0;
    int rc = NM_EXIT_FAILURE;

    if (!w) {
        fprintf(stderr, "netmoon: out of memory\n");
        return NM_EXIT_FAILURE;
    }
    f = pcap_file_open(cfg->read_file, err, sizeof(err));
    if (!f) {
        fprintf(stderr, "netmoon: %s\n", err);
        goto out;
    }
    if (offline_check_linktype(f, cfg->read_file) != 0)
        goto out;
    if (worker_init(w, cfg, 0, output_set_emit, outs, err, sizeof(err)) != 0) {
        fprintf(stderr, "netmoon: %s\n", err);
        goto out;
    }
    rc = NM_EXIT_OK;
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
        seen++;
        if (frame.ts_us > last_ts)
            last_ts = frame.ts_us;
        worker_process(w, &frame);
    }
    offline_finish(w, outs, stats, why, last_ts);
out:
    if (w->flows)
        worker_fini(w);
    free(w);
    if (f)
        pcap_file_close(f);
    return rc;
}
