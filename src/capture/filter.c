/*
 * filter.c: tcpdump filter expressions compiled by libpcap into classic BPF,
 * usable both with pcap_offline_filter and as a struct sock_fprog for
 * SO_ATTACH_FILTER (pcap-filter(7), pcap_compile(3PCAP), socket(7)).
 */
#include "capture/filter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The kernel's struct sock_filter and libpcap's struct bpf_insn are both the
 * classic BPF instruction {u16 code; u8 jt; u8 jf; u32 k}; the fprog view
 * relies on it. */
_Static_assert(sizeof(struct sock_filter) == sizeof(struct bpf_insn),
               "sock_filter and bpf_insn differ in size");
_Static_assert(offsetof(struct sock_filter, k) == offsetof(struct bpf_insn, k),
               "sock_filter and bpf_insn differ in layout");

/* libpcap's pcap_open_dead takes DLT_ values; they equal LINKTYPE_ values
 * except for raw IP, whose DLT differs by platform. */
static int linktype_to_dlt(int linktype)
{
    if (linktype == NM_LINKTYPE_RAW || linktype == NM_DLT_RAW_ALT1 ||
        linktype == NM_DLT_RAW_ALT2)
        return DLT_RAW;
    return linktype;
}

static bool is_blank(const char *s)
{
    for (; s && *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

int filter_compile(const char *expr, int linktype, uint32_t snaplen,
                   struct nm_filter *out, char *err, size_t errlen)
{
    int rc = FILTER_OK;
    memset(out, 0, sizeof(*out));
    if (snaplen == 0)
        snaplen = 262144;
    pcap_t *p = pcap_open_dead(linktype_to_dlt(linktype), (int)snaplen);
    if (!p) {
        snprintf(err, errlen, "cannot compile filters for link type %d", linktype);
        rc = FILTER_ERR_LINKTYPE;
        goto out;
    }
    /* optimize=1 as tcpdump does by default; the netmask is only needed
     * for "ip broadcast", which then reports its own error. */
    if (pcap_compile(p, &out->prog, is_blank(expr) ? "" : expr, 1,
                     PCAP_NETMASK_UNKNOWN) != 0) {
        snprintf(err, errlen, "%s", pcap_geterr(p));
        rc = FILTER_ERR_SYNTAX;
        goto out;
    }
    out->linktype = linktype;
    out->snaplen = snaplen;
    out->fprog.len = (unsigned short)out->prog.bf_len;
    out->fprog.filter = (struct sock_filter *)out->prog.bf_insns;
    if (out->prog.bf_len > FILTER_KERNEL_MAX_INSNS) {
        snprintf(err, errlen,
                 "filter compiles to %u BPF instructions; the kernel accepts at most %u: "
                 "simplify the expression",
                 out->prog.bf_len, FILTER_KERNEL_MAX_INSNS);
        out->fprog.len = 0;
        rc = FILTER_ERR_TOO_LONG;
    }
out:
    if (p)
        pcap_close(p);
    return rc;
}

bool filter_match(const struct nm_filter *f, const struct nm_frame *frame)
{
    if (frame->linktype != f->linktype)
        return false;
    struct pcap_pkthdr hdr = {
        .ts = { .tv_sec = (time_t)(frame->ts_us / 1000000u),
                .tv_usec = (suseconds_t)(frame->ts_us % 1000000u) },
        .caplen = frame->caplen,
        .len = frame->wirelen,
    };
    return pcap_offline_filter(&f->prog, &hdr, frame->data) != 0;
}

void filter_free(struct nm_filter *f)
{
    pcap_freecode(&f->prog);
    memset(f, 0, sizeof(*f));
}

char *filter_strip_comments(const char *text, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    bool in_comment = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '\n' || c == '\r') {
            in_comment = false;
            c = ' ';
        } else if (c == '#') {
            in_comment = true;
        }
        if (!in_comment)
            out[o++] = c == '\t' ? ' ' : c;
    }
    out[o] = '\0';
    return out;
}

int filter_read_file(const char *path, char **expr_out, char *err, size_t errlen)
{
    int rc = FILTER_OK;
    char *text = NULL;
    size_t len = 0, cap = 0;
    *expr_out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read filter file %s: %s", path, strerror(errno));
        rc = FILTER_ERR_IO;
        goto out;
    }
    for (;;) {
        if (cap - len < 4096) {
            /* A filter file is small; 1 MiB is far beyond any sane filter. */
            if (cap >= (1u << 20)) {
                snprintf(err, errlen, "filter file %s is larger than 1 MiB", path);
                rc = FILTER_ERR_IO;
                goto out;
            }
            size_t ncap = cap ? cap * 2 : 8192;
            char *n = realloc(text, ncap);
            if (!n) {
                rc = FILTER_ERR_NOMEM;
                snprintf(err, errlen, "out of memory reading %s", path);
                goto out;
            }
            text = n;
            cap = ncap;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read filter file %s: %s", path, strerror(errno));
        rc = FILTER_ERR_IO;
        goto out;
    }
    *expr_out = filter_strip_comments(text ? text : "", len);
    if (!*expr_out) {
        snprintf(err, errlen, "out of memory reading %s", path);
        rc = FILTER_ERR_NOMEM;
    }
out:
    if (f)
        fclose(f);
    free(text);
    return rc;
}
