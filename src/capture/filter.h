/*
 * filter.h: capture filters in tcpdump's expression language (pcap-filter(7)).
 *
 * Expressions are compiled by libpcap (pcap_open_dead + pcap_compile, netmask
 * PCAP_NETMASK_UNKNOWN) into classic BPF.  The one program serves two uses:
 *   - user space: filter_match() runs it on a frame (pcap_offline_filter),
 *     e.g. for frames read from a file with -r;
 *   - kernel: filter_sock_fprog() views the same instructions as the
 *     struct sock_fprog that SO_ATTACH_FILTER takes (packet(7), socket(7),
 *     Documentation/networking/filter.rst).  struct bpf_insn and struct
 *     sock_filter have the same layout, checked at compile time.
 *
 * Link type matters: a program compiled for Ethernet reads the EtherType at
 * offset 12.  For live capture compile against the link type the kernel's
 * filter sees (afpacket_link_info() says which), which is not always the type
 * of the frames afpacket hands out: on "any" the kernel filter sees the bare
 * network packet (compile for NM_LINKTYPE_RAW) while frames carry a
 * constructed SLL2 header.  Also the kernel has already stripped an 802.1Q tag
 * into metadata when the filter runs, so `vlan` primitives match nothing
 * in-kernel; run such filters in user space on the re-tagged frame.
 *
 * The program's return value is the snapshot length, so the snaplen given to
 * filter_compile() also truncates what the kernel copies into the ring.
 */
#ifndef NETMOON_CAPTURE_FILTER_H
#define NETMOON_CAPTURE_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/filter.h>
#include <pcap/pcap.h>

#include "decode/decode.h"

/* The kernel refuses classic BPF programs longer than this (BPF_MAXINSNS). */
#define FILTER_KERNEL_MAX_INSNS 4096u

struct nm_filter {
    struct bpf_program prog;   /* owned; released by filter_free */
    struct sock_fprog fprog;   /* a view of prog.bf_insns, not a copy */
    int linktype;              /* enum nm_linktype the program expects */
    uint32_t snaplen;
};

enum filter_status {
    FILTER_OK = 0,
    FILTER_ERR_SYNTAX = -1,    /* libpcap rejected the expression */
    FILTER_ERR_LINKTYPE = -2,  /* libpcap does not know the link type */
    FILTER_ERR_TOO_LONG = -3,  /* compiles, but too long for the kernel */
    FILTER_ERR_IO = -4,        /* filter_read_file: cannot read the file */
    FILTER_ERR_NOMEM = -5,
};

/* Compiles expr (NULL or blank: accept everything) for linktype and snaplen
 * into *out.  On failure returns a negative filter_status and writes the
 * message into err: for syntax errors libpcap's message verbatim (e.g.
 * "can't parse filter expression: syntax error") with nothing added, so
 * callers can print "netmoon: invalid filter: <err>".  FILTER_ERR_TOO_LONG still leaves *out
 * usable for filter_match. */
int filter_compile(const char *expr, int linktype, uint32_t snaplen,
                   struct nm_filter *out, char *err, size_t errlen);

/* True when the frame passes (a non-zero return of the program).  The frame
 * must be of the link type the filter was compiled for; a frame of another
 * link type never matches (compile one filter per link type). */
bool filter_match(const struct nm_filter *f, const struct nm_frame *frame);

/* The program as SO_ATTACH_FILTER wants it.  Valid until filter_free. */
static inline const struct sock_fprog *filter_sock_fprog(const struct nm_filter *f)
{
    return &f->fprog;
}

void filter_free(struct nm_filter *f);

/* tcpdump -F FILE: reads the file, drops everything from '#' to the end of
 * each line, joins lines with spaces.  On success *expr_out is a malloc'd
 * string the caller frees. */
int filter_read_file(const char *path, char **expr_out, char *err, size_t errlen);

/* The same on text already in memory (what filter_read_file uses). */
char *filter_strip_comments(const char *text, size_t len);

#endif
