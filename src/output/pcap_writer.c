/*
 * pcap_writer.c: -w through libpcap's dump API (pcap_dump_fopen on a
 * pcap_open_dead handle), classic pcap with microsecond timestamps
 * (https://www.tcpdump.org/manpages/pcap-savefile.5.html).
 *
 * The file is created at start (a bad path fails before capture) but its
 * header waits for the first packet, whose link type it must name.  The
 * format has no trailer, so a file is valid once every record in it is
 * whole: records go through stdio's buffer and are flushed on rotation,
 * on close and on request, never cut mid-record by us.  Rotation follows
 * tcpdump: -C rotates before a packet when the file already holds more
 * than the limit; -G when the packet's second is SEC or more past the
 * file's first packet (packet time, so a -r run rotates as the capture
 * did; live packet time is the kernel's clock).
 */
#include "output/pcap_writer.h"

#include <errno.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PCAP_WRITER_PATH_MAX 4096

struct pcap_writer {
    struct pcap_writer_config cfg;
    int linktype_hint;
    int linktype;              /* of the current file, -1 before its first packet */
    FILE *fp;                  /* the current file */
    pcap_t *dead;              /* carries link type and snap length for the header */
    pcap_dumper_t *dumper;
    char path[PCAP_WRITER_PATH_MAX];
    unsigned index;            /* -C: files of this -G period so far */
    uint64_t period_start_s;   /* -G: second of the file's first packet */
    bool failed;
    bool foreign_reported;
    struct pcap_writer_stats stats;
};

int pcap_writer_file_name(const struct pcap_writer_config *cfg, uint64_t ts_us, unsigned index,
                          char *out, size_t outlen)
{
    char base[PCAP_WRITER_PATH_MAX];

    if (cfg->rotate_us) {
        time_t t = (time_t)(ts_us / 1000000u);
        struct tm tm;
        if (!localtime_r(&t, &tm))
            return -1;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        size_t len = strftime(base, sizeof(base), cfg->path, &tm);   /* -G: the user's pattern */
#pragma GCC diagnostic pop
        if (len == 0)
            return -1;
    } else {
        snprintf(base, sizeof(base), "%s", cfg->path);
    }
    int n = index ? snprintf(out, outlen, "%s%u", base, index) : snprintf(out, outlen, "%s", base);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

static void pcap_writer_report(struct pcap_writer *pw, const char *what, int e)
{
    if (!pw->failed)
        fprintf(stderr, "netmoon: %s '%s' failed: %s; no more packets are written\n", what,
                pw->path, strerror(e ? e : EIO));
    pw->failed = true;
}

/* Closes the current file; a failure of the final flush is reported. */
static int pcap_writer_close_file(struct pcap_writer *pw)
{
    int rc = 0;

    if (pw->dumper) {
        if (pcap_dump_flush(pw->dumper) != 0 || ferror(pw->fp)) {
            pcap_writer_report(pw, "writing", errno);
            rc = -1;
        }
        pcap_dump_close(pw->dumper);   /* closes fp too */
    } else if (pw->fp && fclose(pw->fp) != 0) {
        pcap_writer_report(pw, "writing", errno);
        rc = -1;
    }
    pw->dumper = NULL;
    pw->fp = NULL;
    if (pw->dead)
        pcap_close(pw->dead);
    pw->dead = NULL;
    return rc;
}

static int pcap_writer_create(struct pcap_writer *pw, uint64_t ts_us, char *err, size_t errlen)
{
    if (pcap_writer_file_name(&pw->cfg, ts_us, pw->index, pw->path, sizeof(pw->path)) != 0) {
        snprintf(err, errlen, "-w '%s': the file name is too long or empty after strftime",
                 pw->cfg.path);
        return -1;
    }
    pw->fp = fopen(pw->path, "wbe");
    if (!pw->fp) {
        snprintf(err, errlen, "cannot open '%s' for writing: %s", pw->path, strerror(errno));
        return -1;
    }
    pw->linktype = -1;
    return 0;
}

/* Writes the header for linktype through libpcap. */
static int pcap_writer_start_dump(struct pcap_writer *pw, int linktype)
{
    pw->dead = pcap_open_dead_with_tstamp_precision(linktype, (int)pw->cfg.snaplen,
                                                     PCAP_TSTAMP_PRECISION_MICRO);
    if (!pw->dead) {
        pcap_writer_report(pw, "starting", ENOMEM);
        return -1;
    }
    pw->dumper = pcap_dump_fopen(pw->dead, pw->fp);
    if (!pw->dumper) {
        pcap_writer_report(pw, pcap_geterr(pw->dead), errno);
        return -1;
    }
    pw->linktype = linktype;
    return 0;
}

struct pcap_writer *pcap_writer_open(const struct pcap_writer_config *cfg, int linktype_hint,
                                     char *err, size_t errlen)
{
    struct pcap_writer *pw = calloc(1, sizeof(*pw));

    if (!pw) {
        snprintf(err, errlen, "out of memory for -w");
        return NULL;
    }
    pw->cfg = *cfg;
    if (!pw->cfg.snaplen)
        pw->cfg.snaplen = PCAP_WRITER_DEFAULT_SNAPLEN;
    pw->linktype_hint = linktype_hint >= 0 ? linktype_hint : DLT_EN10MB;
    /* With -G the name depends on the first packet's time: the file is
     * made then, and a bad path is reported at that packet. */
    if (!cfg->rotate_us && pcap_writer_create(pw, 0, err, errlen) != 0)
        goto fail;
    return pw;
fail:
    free(pw);
    return NULL;
}

static bool pcap_writer_needs_rotation(const struct pcap_writer *pw, uint64_t ts_s)
{
    if (!pw->dumper)
        return false;
    if (pw->cfg.rotate_us && ts_s - pw->period_start_s >= pw->cfg.rotate_us / 1000000u)
        return true;
    return pw->cfg.rotate_bytes && (uint64_t)pcap_dump_ftell64(pw->dumper) > pw->cfg.rotate_bytes;
}

/* Makes sure a file with a header for this frame is open. */
static int pcap_writer_prepare(struct pcap_writer *pw, const struct nm_frame *frame)
{
    char err[PCAP_WRITER_PATH_MAX + 128];
    uint64_t ts_s = frame->ts_us / 1000000u;

    if (pcap_writer_needs_rotation(pw, ts_s)) {
        bool new_period = pw->cfg.rotate_us &&
                          ts_s - pw->period_start_s >= pw->cfg.rotate_us / 1000000u;
        if (pcap_writer_close_file(pw) != 0)
            return -1;
        pw->index = new_period ? 0 : pw->index + 1;
    }
    if (!pw->fp) {
        if (pcap_writer_create(pw, frame->ts_us, err, sizeof(err)) != 0) {
            if (!pw->failed)
                fprintf(stderr, "netmoon: %s; no more packets are written\n", err);
            pw->failed = true;
            return -1;
        }
    }
    if (!pw->dumper) {
        pw->period_start_s = ts_s;
        return pcap_writer_start_dump(pw, frame->linktype);
    }
    return 0;
}

int pcap_writer_write(struct pcap_writer *pw, const struct nm_frame *frame)
{
    struct pcap_pkthdr h;

    if (pw->failed || pcap_writer_prepare(pw, frame) != 0) {
        pw->stats.dropped++;
        return -1;
    }
    if (frame->linktype != pw->linktype) {
        /* A pcap file has one link type (pcapng input may mix them). */
        if (!pw->foreign_reported)
            fprintf(stderr, "netmoon: -w: packets of link type %d are not written to '%s' "
                    "(link type %d); counted as pcap_dropped\n", frame->linktype, pw->path,
                    pw->linktype);
        pw->foreign_reported = true;
        pw->stats.dropped++;
        return 0;
    }
    h.ts.tv_sec = (time_t)(frame->ts_us / 1000000u);
    h.ts.tv_usec = (suseconds_t)(frame->ts_us % 1000000u);
    h.caplen = frame->caplen < pw->cfg.snaplen ? frame->caplen : pw->cfg.snaplen;
    h.len = frame->wirelen;
    pcap_dump((u_char *)pw->dumper, &h, frame->data);
    if (ferror(pw->fp)) {
        pcap_writer_report(pw, "writing", errno);
        pw->stats.dropped++;
        return -1;
    }
    pw->stats.written++;
    return 0;
}

void pcap_writer_add_stats(const struct pcap_writer *pw, struct nm_stats *st)
{
    if (!pw)
        return;
    st->pcap_written += pw->stats.written;
    st->pcap_dropped += pw->stats.dropped;
}

uint32_t pcap_writer_snaplen(const struct pcap_writer *pw)
{
    return pw->cfg.snaplen;
}

int pcap_writer_flush(struct pcap_writer *pw)
{
    if (pw->failed)
        return -1;
    if (pw->dumper && pcap_dump_flush(pw->dumper) != 0) {
        pcap_writer_report(pw, "writing", errno);
        return -1;
    }
    return 0;
}

/* A run that wrote no packet still leaves a valid, empty pcap file. */
int pcap_writer_close(struct pcap_writer *pw)
{
    int rc;

    if (!pw)
        return 0;
    if (pw->fp && !pw->dumper && !pw->failed)
        (void)pcap_writer_start_dump(pw, pw->linktype_hint);
    rc = pcap_writer_close_file(pw);
    if (pw->failed)
        rc = -1;
    free(pw);
    return rc;
}
