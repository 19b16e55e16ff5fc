/*
 * pcap_writer.h: -w, the captured packets (after the filter) written as a
 * classic pcap file through libpcap's pcap_dump, with tcpdump's -s snap
 * length and -C (size) / -G (time) rotation and tcpdump's file naming.
 *
 * Only one thread writes: offline the reading thread, live the output
 * thread (workers copy packets into a ring, see core/pcap_tap.h).
 */
#ifndef NETMOON_OUTPUT_PCAP_WRITER_H
#define NETMOON_OUTPUT_PCAP_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode/decode.h"
#include "output/record.h"

/* tcpdump's default snap length. */
#define PCAP_WRITER_DEFAULT_SNAPLEN 262144u

struct pcap_writer_config {
    const char *path;          /* -w; a strftime pattern with -G */
    uint32_t snaplen;          /* -s; 0 = PCAP_WRITER_DEFAULT_SNAPLEN */
    uint64_t rotate_bytes;     /* -C MB * 1,000,000; 0 = no size rotation */
    uint64_t rotate_us;        /* -G SEC; 0 = no time rotation */
};

struct pcap_writer_stats {
    uint64_t written;          /* packets written */
    uint64_t dropped;          /* packets not written: write error, foreign link type */
};

struct pcap_writer;

/* Checks that the first file can be created (so a bad path fails before
 * capture starts); linktype_hint is used for the header of a file that
 * ends up with no packet (-1: Ethernet). */
struct pcap_writer *pcap_writer_open(const struct pcap_writer_config *cfg, int linktype_hint,
                                     char *err, size_t errlen);
/* Writes one frame (truncated to the snap length).  Returns 0, or -1 once
 * writing has failed (reported once on stderr, naming the file). */
int pcap_writer_write(struct pcap_writer *pw, const struct nm_frame *frame);
/* Adds written and dropped into st's pcap_written / pcap_dropped (pw may be NULL). */
void pcap_writer_add_stats(const struct pcap_writer *pw, struct nm_stats *st);
uint32_t pcap_writer_snaplen(const struct pcap_writer *pw);
/* Flushes whole records to the file (the stdio buffer only ever holds
 * whole records once flushed). */
int pcap_writer_flush(struct pcap_writer *pw);
/* Closes the current file; returns -1 when its last write failed. */
int pcap_writer_close(struct pcap_writer *pw);

/* tcpdump's names: -C appends the file number from the second file on
 * (FILE, FILE1, FILE2, …); -G formats the path with strftime at the
 * rotation time (local time).  Exposed for tests. */
int pcap_writer_file_name(const struct pcap_writer_config *cfg, uint64_t ts_us, unsigned index,
                          char *out, size_t outlen);

#endif
