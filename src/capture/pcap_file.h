/*
 * pcap_file.h: reading capture files (classic pcap and pcapng).
 *
 * Formats: the libpcap savefile format (microsecond and nanosecond magic,
 * either byte order; https://www.tcpdump.org/manpages/pcap-savefile.5.html)
 * and pcapng (draft-ietf-opsawg-pcapng: SHB, IDB, EPB, SPB, obsolete PB;
 * other blocks are skipped).  Regular files are mapped with mmap and walked
 * in place; standard input and pipes are read with a growing buffer.  No
 * per-packet allocation in either case.
 *
 * A damaged file (bad magic, a record length beyond the file or beyond a
 * sane maximum, a truncated record) ends reading: pcap_file_next() returns
 * PCAP_FILE_ERROR and pcap_file_error() gives a message naming the byte
 * offset.  Frames returned before the damage stay valid to account.
 */
#ifndef NETMOON_CAPTURE_PCAP_FILE_H
#define NETMOON_CAPTURE_PCAP_FILE_H

#include <stdint.h>

#include "decode/decode.h"

/* Records larger than this are treated as damage, not allocated. */
#define PCAP_FILE_MAX_RECORD (256u * 1024u)

struct pcap_file;

enum pcap_file_status {
    PCAP_FILE_FRAME = 0, /* *frame is filled */
    PCAP_FILE_EOF = 1,   /* clean end of input */
    PCAP_FILE_ERROR = -1 /* damage or I/O error: see pcap_file_error() */
};

/* Opens path ("-" for standard input).  On failure returns NULL and writes a
 * message naming the path and the cause into err (errlen bytes). */
struct pcap_file *pcap_file_open(const char *path, char *err, size_t errlen);

/* The next frame.  frame->data stays valid until the next call;
 * frame->stable, when set, until pcap_file_close. */
enum pcap_file_status pcap_file_next(struct pcap_file *f, struct nm_frame *frame);

/* True when the file is mapped: its frames stay readable until
 * pcap_file_close (at frame->stable, where decode_packet points packets),
 * not only until the next pcap_file_next (a stream's buffer is refilled
 * and may move). */
bool pcap_file_is_mapped(const struct pcap_file *f);

/* The message for the last PCAP_FILE_ERROR, e.g.
 * "trace.pcap: record at offset 4096 claims 70000 bytes, beyond the end of the file". */
const char *pcap_file_error(const struct pcap_file *f);

/* Link type of the first interface (pcap: the header's; pcapng: first IDB),
 * or -1 before it is known. Frames carry their own linktype regardless. */
int pcap_file_linktype(const struct pcap_file *f);
/* Snapshot length of the first interface, 0 when unknown. */
uint32_t pcap_file_snaplen(const struct pcap_file *f);
/* Byte offset of the next record, for messages. */
uint64_t pcap_file_offset(const struct pcap_file *f);

void pcap_file_close(struct pcap_file *f);

#endif
