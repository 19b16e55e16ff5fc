/*
 * test_pcap_file.c: tests for capture/pcap_file.c.
 *
 * Crafted files (classic pcap per pcap-savefile(5), pcapng per
 * draft-ietf-opsawg-pcapng) are written into a mkdtemp directory and read
 * three ways: mapped from a file, through a pipe opened as /dev/fd/N, and
 * as standard input ("-"); all three must give the same frames and the same
 * message.  Real captures under $SHARED_PCAPS are compared frame by frame
 * with libpcap's own reading (pcap_open_offline/pcap_next_ex): libpcap is
 * the oracle there, not numbers typed in here.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture/pcap_file.h"
#include "testlib.h"

static char tmpdir[64];

/* ---- building files ------------------------------------------------------ */

struct buf {
    uint8_t *d;
    size_t len, cap;
    int be; /* write multi-byte fields big-endian */
};

static void put(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->d = realloc(b->d, b->cap);
        if (!b->d)
            abort();
    }
    memcpy(b->d + b->len, p, n);
    b->len += n;
}

static void put8(struct buf *b, uint8_t v) { put(b, &v, 1); }

static void put16(struct buf *b, uint16_t v)
{
    uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    if (b->be) { x[0] = (uint8_t)(v >> 8); x[1] = (uint8_t)v; }
    put(b, x, 2);
}

static void put32(struct buf *b, uint32_t v)
{
    if (b->be) {
        put16(b, (uint16_t)(v >> 16));
        put16(b, (uint16_t)v);
    } else {
        put16(b, (uint16_t)v);
        put16(b, (uint16_t)(v >> 16));
    }
}

static void put_pattern(struct buf *b, uint32_t n, uint8_t seed)
{
    for (uint32_t i = 0; i < n; i++)
        put8(b, (uint8_t)(seed + i * 7));
}

static void pad4(struct buf *b)
{
    while (b->len % 4)
        put8(b, 0);
}

static void set32(struct buf *b, size_t at, uint32_t v)
{
    struct buf t = { 0 };
    t.be = b->be;
    put32(&t, v);
    memcpy(b->d + at, t.d, 4);
    free(t.d);
}

static void pcap_header(struct buf *b, uint32_t magic, uint16_t major, uint16_t minor,
                        uint32_t snaplen, uint32_t linktype)
{
    put32(b, magic);
    put16(b, major);
    put16(b, minor);
    put32(b, 0);
    put32(b, 0);
    put32(b, snaplen);
    put32(b, linktype);
}

static void pcap_record(struct buf *b, uint32_t sec, uint32_t frac, uint32_t caplen, uint32_t len,
                        uint8_t seed)
{
    put32(b, sec);
    put32(b, frac);
    put32(b, caplen);
    put32(b, len);
    put_pattern(b, caplen, seed);
}

/* Block helpers return the block's start so tests can damage it. */
static size_t ng_begin(struct buf *b, uint32_t type)
{
    size_t at = b->len;
    put32(b, type);
    put32(b, 0); /* patched by ng_end */
    return at;
}

static void ng_end(struct buf *b, size_t at)
{
    pad4(b);
    uint32_t total = (uint32_t)(b->len - at + 4);
    set32(b, at + 4, total);
    put32(b, total);
}

static size_t ng_shb(struct buf *b)
{
    size_t at = ng_begin(b, 0x0a0d0d0a);
    put32(b, 0x1a2b3c4d);
    put16(b, 1);
    put16(b, 0);
    put32(b, 0xffffffff);
    put32(b, 0xffffffff);
    ng_end(b, at);
    return at;
}

/* tsresol < 0: no option; tsoffset != 0: an if_tsoffset option. */
static size_t ng_idb(struct buf *b, uint16_t linktype, uint32_t snaplen, int tsresol, int64_t tsoffset)
{
    size_t at = ng_begin(b, 1);
    put16(b, linktype);
    put16(b, 0);
    put32(b, snaplen);
    put16(b, 2); /* if_name, to be skipped */
    put16(b, 3);
    put(b, "eth", 3);
    pad4(b);
    if (tsresol >= 0) {
        put16(b, 9);
        put16(b, 1);
        put8(b, (uint8_t)tsresol);
        pad4(b);
    }
    if (tsoffset != 0) {
        put16(b, 14);
        put16(b, 8);
        uint64_t v = (uint64_t)tsoffset;
        if (b->be) {
            put32(b, (uint32_t)(v >> 32));
            put32(b, (uint32_t)v);
        } else {
            put32(b, (uint32_t)v);
            put32(b, (uint32_t)(v >> 32));
        }
    }
    put16(b, 0);
    put16(b, 0);
    ng_end(b, at);
    return at;
}

static size_t ng_epb(struct buf *b, uint32_t iface, uint64_t ts, uint32_t caplen, uint32_t len,
                     uint8_t seed)
{
    size_t at = ng_begin(b, 6);
    put32(b, iface);
    put32(b, (uint32_t)(ts >> 32));
    put32(b, (uint32_t)ts);
    put32(b, caplen);
    put32(b, len);
    put_pattern(b, caplen, seed);
    pad4(b);
    put16(b, 1); /* opt_comment */
    put16(b, 2);
    put(b, "hi", 2);
    pad4(b);
    ng_end(b, at);
    return at;
}

static size_t ng_pb(struct buf *b, uint16_t iface, uint64_t ts, uint32_t caplen, uint32_t len,
                    uint8_t seed)
{
    size_t at = ng_begin(b, 2);
    put16(b, iface);
    put16(b, 0);
    put32(b, (uint32_t)(ts >> 32));
    put32(b, (uint32_t)ts);
    put32(b, caplen);
    put32(b, len);
    put_pattern(b, caplen, seed);
    ng_end(b, at);
    return at;
}

static size_t ng_spb(struct buf *b, uint32_t len, uint32_t datalen, uint8_t seed)
{
    size_t at = ng_begin(b, 3);
    put32(b, len);
    put_pattern(b, datalen, seed);
    ng_end(b, at);
    return at;
}

static size_t ng_other(struct buf *b, uint32_t type, uint32_t bodylen)
{
    size_t at = ng_begin(b, type);
    put_pattern(b, bodylen, 1);
    ng_end(b, at);
    return at;
}

/* ---- reading ------------------------------------------------------------- */

enum read_mode { MODE_FILE, MODE_PIPE, MODE_STDIN, MODE_COUNT };
static const char *const mode_names[] = { "file", "pipe", "stdin" };

#define KEEP_FRAMES 64

struct frame_copy {
    uint32_t caplen, wirelen;
    uint64_t ts_us;
    int linktype;
    int data_ok; /* data matched the pattern the builder wrote */
    int ts_invalid;
    uint8_t first;
};

struct result {
    int open_failed;
    char err[1200];
    unsigned frames;
    struct frame_copy fr[KEEP_FRAMES];
    enum pcap_file_status end;
    int linktype;
    uint32_t snaplen;
    uint64_t end_offset;
    uint64_t digest; /* over all frames' fields and bytes */
};

static const char *write_file(const char *name, const struct buf *b)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp)
        abort();
    if (b->len && fwrite(b->d, 1, b->len, fp) != b->len)
        abort();
    fclose(fp);
    return path;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    return (h ^ v) * 0x100000001b3ull;
}

/* The bytes put_pattern wrote for a record of this seed. */
static bool frame_pattern_ok(const uint8_t *d, uint32_t caplen, uint8_t seed)
{
    for (uint32_t i = 0; i < caplen; i++)
        if ((uint8_t)(d[i] - seed) != (uint8_t)(i * 7))
            return false;
    return true;
}

static void drain(struct pcap_file *f, struct result *r, unsigned max_frames)
{
    struct nm_frame fr;
    r->digest = 0xcbf29ce484222325ull;
    for (;;) {
        r->end = pcap_file_next(f, &fr);
        if (r->end != PCAP_FILE_FRAME)
            break;
        if (r->frames < KEEP_FRAMES) {
            struct frame_copy *c = &r->fr[r->frames];
            c->caplen = fr.caplen;
            c->wirelen = fr.wirelen;
            c->ts_us = fr.ts_us;
            c->ts_invalid = fr.ts_invalid;
            c->linktype = fr.linktype;
            c->first = fr.caplen ? fr.data[0] : 0;
            c->data_ok = frame_pattern_ok(fr.data, fr.caplen, c->first);
        }
        r->digest = mix(mix(mix(r->digest, fr.caplen), fr.wirelen), fr.ts_us);
        r->digest = mix(r->digest, (uint64_t)fr.linktype);
        for (uint32_t i = 0; i < fr.caplen; i += 61)
            r->digest = mix(r->digest, fr.data[i]);
        if (++r->frames > max_frames)
            break; /* a reader that does not advance would hang here */
    }
    if (r->end == PCAP_FILE_ERROR)
        snprintf(r->err, sizeof r->err, "%s", pcap_file_error(f));
    r->linktype = pcap_file_linktype(f);
    r->snaplen = pcap_file_snaplen(f);
    r->end_offset = pcap_file_offset(f);
}

static void read_path(const char *path, const char *open_as, struct result *r, unsigned max_frames)
{
    (void)path;
    memset(r, 0, sizeof *r);
    struct pcap_file *f = pcap_file_open(open_as, r->err, sizeof r->err);
    if (!f) {
        r->open_failed = 1;
        return;
    }
    drain(f, r, max_frames);
    pcap_file_close(f);
}

/* Forks a child that writes the file into a pipe; returns the read end. */
static int pipe_from_file(const char *path, pid_t *child)
{
    int fds[2];
    if (pipe(fds) != 0)
        abort();
    *child = fork();
    if (*child == 0) {
        close(fds[0]);
        int in = open(path, O_RDONLY);
        char chunk[4096];
        ssize_t n;
        while (in >= 0 && (n = read(in, chunk, sizeof chunk)) > 0) {
            /* Small writes, so the reader sees records split across reads. */
            for (ssize_t off = 0; off < n; off += 1000) {
                size_t w = (size_t)(n - off) < 1000 ? (size_t)(n - off) : 1000;
                if (write(fds[1], chunk + off, w) < 0)
                    _exit(0);
            }
        }
        _exit(0);
    }
    close(fds[1]);
    return fds[0];
}

static void read_file(const char *path, enum read_mode mode, struct result *r)
{
    const unsigned max_frames = 1u << 24;
    if (mode == MODE_FILE) {
        read_path(path, path, r, max_frames);
        return;
    }
    pid_t child;
    int rfd = pipe_from_file(path, &child);
    if (mode == MODE_PIPE) {
        char devfd[32];
        snprintf(devfd, sizeof devfd, "/dev/fd/%d", rfd);
        read_path(path, devfd, r, max_frames);
        close(rfd);
    } else {
        int saved = dup(STDIN_FILENO);
        dup2(rfd, STDIN_FILENO);
        close(rfd);
        read_path(path, "-", r, max_frames);
        dup2(saved, STDIN_FILENO);
        close(saved);
    }
    waitpid(child, NULL, 0);
}

/* Reads the file all three ways into r[0..2]. */
static void read_all_modes(const char *path, struct result r[MODE_COUNT])
{
    for (int m = 0; m < MODE_COUNT; m++)
        read_file(path, (enum read_mode)m, &r[m]);
}

/* The message of a pipe or stdin read names another input; compare what
 * follows the name. */
static const char *after_name(const char *msg)
{
    const char *p = strstr(msg, ": ");
    return p ? p + 2 : msg;
}

static void check_modes_agree(const struct result r[MODE_COUNT])
{
    for (int m = 1; m < MODE_COUNT; m++) {
        CHECK_EQ_U(r[m].open_failed, r[0].open_failed);
        CHECK_EQ_U(r[m].frames, r[0].frames);
        CHECK_EQ_U(r[m].digest, r[0].digest);
        CHECK_EQ_U(r[m].end, r[0].end);
        CHECK_EQ_U(r[m].end_offset, r[0].end_offset);
        CHECK_STR(after_name(r[m].err), after_name(r[0].err));
        if (r[m].frames != r[0].frames || strcmp(after_name(r[m].err), after_name(r[0].err)))
            printf("  mode %s: %u frames, \"%s\" vs file: %u, \"%s\"\n", mode_names[m],
                   r[m].frames, r[m].err, r[0].frames, r[0].err);
    }
}

static void check_frame(const struct frame_copy *c, uint32_t caplen, uint32_t wirelen,
                        uint64_t ts_us, int linktype, uint8_t seed)
{
    CHECK_EQ_U(c->caplen, caplen);
    CHECK_EQ_U(c->wirelen, wirelen);
    CHECK_EQ_U(c->ts_us, ts_us);
    CHECK_EQ_U(c->linktype, linktype);
    CHECK(c->data_ok);
    if (caplen)
        CHECK_EQ_U(c->first, seed);
}

/* Damage: reads all ways, expects `frames` good frames then an error whose
 * message contains every string given (NULL-terminated). */
static void expect_damage(const char *name, const struct buf *b, unsigned frames, ...)
{
    struct result r[MODE_COUNT];
    const char *path = write_file(name, b);
    read_all_modes(path, r);
    check_modes_agree(r);
    CHECK(r[0].open_failed || r[0].end == PCAP_FILE_ERROR);
    CHECK_EQ_U(r[0].frames, frames);
    CHECK(strstr(r[0].err, path) == r[0].err); /* names the path first */
    va_list ap;
    va_start(ap, frames);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;) {
        if (!strstr(r[0].err, s)) {
            printf("  %s: message \"%s\" lacks \"%s\"\n", name, r[0].err, s);
            CHECK(strstr(r[0].err, s) != NULL);
        }
    }
    va_end(ap);
}

/* ---- classic pcap -------------------------------------------------------- */

static void classic_variant(uint32_t magic, int be, int nsec)
{
    struct buf b = { 0 };
    b.be = be;
    /* FCS bits in the upper half of the link type field must be masked. */
    pcap_header(&b, magic, 2, 4, 65535, 0x14000001u);
    pcap_record(&b, 1700000000, nsec ? 123456789 : 123456, 60, 60, 10);
    pcap_record(&b, 1700000001, 0, 0, 1514, 0);
    pcap_record(&b, 1700000002, nsec ? 999999999 : 999999, 1514, 1514, 30);
    struct result r[MODE_COUNT];
    read_all_modes(write_file("classic.pcap", &b), r);
    check_modes_agree(r);
    CHECK_EQ_U(r[0].open_failed, 0);
    CHECK_EQ_U(r[0].frames, 3);
    CHECK_EQ_U(r[0].end, PCAP_FILE_EOF);
    CHECK_EQ_U(r[0].linktype, 1);
    CHECK_EQ_U(r[0].snaplen, 65535);
    CHECK_EQ_U(r[0].end_offset, b.len);
    check_frame(&r[0].fr[0], 60, 60, 1700000000123456ull, 1, 10);
    check_frame(&r[0].fr[1], 0, 1514, 1700000001000000ull, 1, 0);
    check_frame(&r[0].fr[2], 1514, 1514, 1700000002999999ull, 1, 30);
    free(b.d);
}

static void test_pcap_usec_le(void) { classic_variant(0xa1b2c3d4, 0, 0); }
static void test_pcap_usec_be(void) { classic_variant(0xa1b2c3d4, 1, 0); }
static void test_pcap_nsec_le(void) { classic_variant(0xa1b23c4d, 0, 1); }
static void test_pcap_nsec_be(void) { classic_variant(0xa1b23c4d, 1, 1); }

/* tcpdump's timestamp_invalid_{micro,nano} captures: a sub-second field of
 * a whole second or more is clamped to the end of its second and flagged,
 * never carried into the seconds (which would reorder the packet). */
static void invalid_fraction(int nsec)
{
    struct buf b = { 0 };
    pcap_header(&b, nsec ? 0xa1b23c4d : 0xa1b2c3d4, 2, 4, 65535, 1);
    pcap_record(&b, 1700000000, nsec ? 999999999u : 999999u, 20, 20, 1);
    pcap_record(&b, 1700000000, nsec ? 1000000000u : 1000000u, 20, 20, 2);
    pcap_record(&b, 1700000000, 2147483648u, 20, 20, 3);
    struct result r[MODE_COUNT];
    read_all_modes(write_file("badfrac.pcap", &b), r);
    check_modes_agree(r);
    CHECK_EQ_U(r[0].frames, 3);
    CHECK_EQ_U(r[0].end, PCAP_FILE_EOF);
    for (unsigned i = 0; i < 3 && i < r[0].frames; i++) {
        CHECK_EQ_U(r[0].fr[i].ts_us, 1700000000999999ull);
        CHECK_EQ_U(r[0].fr[i].ts_invalid, i > 0);
    }
    free(b.d);
}

static void test_pcap_invalid_usec(void) { invalid_fraction(0); }
static void test_pcap_invalid_nsec(void) { invalid_fraction(1); }

static void test_pcap_kuznetsov(void)
{
    for (int be = 0; be <= 1; be++) {
        struct buf b = { 0 };
        b.be = be;
        pcap_header(&b, 0xa1b2cd34, 2, 4, 65535, 113);
        for (int i = 0; i < 3; i++) {
            put32(&b, 100 + (uint32_t)i);
            put32(&b, 5);
            put32(&b, 40);
            put32(&b, 80);
            put32(&b, 2);        /* ifindex */
            put16(&b, 0x0800);   /* protocol */
            put8(&b, 0);         /* pkt_type */
            put8(&b, 0);
            put_pattern(&b, 40, (uint8_t)i);
        }
        struct result r[MODE_COUNT];
        read_all_modes(write_file("kuz.pcap", &b), r);
        check_modes_agree(r);
        CHECK_EQ_U(r[0].frames, 3);
        CHECK_EQ_U(r[0].end, PCAP_FILE_EOF);
        check_frame(&r[0].fr[2], 40, 80, 102000005ull, 113, 2);
        free(b.d);
    }
}

/* libpcap's choices, which tcpdump and tshark share: caplen above the
 * snaplen is reported as the snaplen; caplen > wirelen is kept. */
static void test_pcap_lenient_lengths(void)
{
    struct buf b = { 0 };
    pcap_header(&b, 0xa1b2c3d4, 2, 4, 100, 1);
    pcap_record(&b, 1, 0, 150, 150, 5);  /* caplen > snaplen */
    pcap_record(&b, 2, 0, 80, 60, 6);    /* caplen > wirelen */
    pcap_record(&b, 3, 0, 10, 10, 7);
    struct result r[MODE_COUNT];
    read_all_modes(write_file("lenient.pcap", &b), r);
    check_modes_agree(r);
    CHECK_EQ_U(r[0].frames, 3);
    CHECK_EQ_U(r[0].end, PCAP_FILE_EOF);
    check_frame(&r[0].fr[0], 100, 150, 1000000, 1, 5);
    check_frame(&r[0].fr[1], 80, 60, 2000000, 1, 6);
    check_frame(&r[0].fr[2], 10, 10, 3000000, 1, 7);
    free(b.d);
}

/* pcap 2.2 and older wrote len before caplen. */
static void test_pcap_old_version_lengths(void)
{
    struct buf b = { 0 };
    pcap_header(&b, 0xa1b2c3d4, 2, 2, 65535, 1);
    put32(&b, 1);
    put32(&b, 0);
    put32(&b, 90); /* "caplen" field holds len */
    put32(&b, 40); /* "len" field holds caplen */
    put_pattern(&b, 40, 3);
    struct result r[MODE_COUNT];
    read_all_modes(write_file("old.pcap", &b), r);
    check_modes_agree(r);
    CHECK_EQ_U(r[0].frames, 1);
    check_frame(&r[0].fr[0], 40, 90, 1000000, 1, 3);
    free(b.d);
}

static void test_pcap_header_only(void)
{
    struct buf b = { 0 };
    pcap_header(&b, 0xa1b2c3d4, 2, 4, 0, 101);
    struct result r[MODE_COUNT];
    read_all_modes(write_file("empty.pcap", &b), r);
    check_modes_agree(r);
    CHECK_EQ_U(r[0].open_failed, 0);
    CHECK_EQ_U(r[0].frames, 0);
    CHECK_EQ_U(r[0].end, PCAP_FILE_EOF);
    CHECK_EQ_U(r[0].linktype, 101);
    free(b.d);
}

/* Standard input redirected from a regular file (mapped), and from one
 * whose position is past the start (read from there, not mapped from 0). */
static void test_stdin_regular_file(void)
{
    struct buf b = { 0 };
    pcap_header(&b, 0xa1b2c3d4, 2, 4, 65535, 1);
    pcap_record(&b, 1, 2, 10, 10, 1);
    pcap_record(&b, 3, 4, 20, 20, 2);
    char path[256];
    snprintf(path, sizeof path, "%s", write_file("stdin.pcap", &b));
    struct buf junk = { 0 };
    put(&junk, "junk", 4);
    put(&junk, b.d, b.len);
    char junk_path[256];
    snprintf(junk_path, sizeof junk_path, "%s", write_file("stdin_junk.pcap", &junk));
    for (int skip = 0; skip <= 1; skip++) {
        int fd = open(skip ? junk_path : path, O_RDONLY);
        if (skip && read(fd, junk.d, 4) != 4)
            CHECK(!"read");
        int saved = dup(STDIN_FILENO);
        dup2(fd, STDIN_FILENO);
        close(fd);
        struct result r;
        read_path(path, "-", &r, 100);
        dup2(saved, STDIN_FILENO);
        close(saved);
        CHECK_EQ_U(r.open_failed, 0);
        CHECK_EQ_U(r.frames, 2);
        CHECK_EQ_U(r.end, PCAP_FILE_EOF);
        check_frame(&r.fr[1], 20, 20, 3000004, 1, 2);
    }
    free(b.d);
    free(junk.d);
}

/* ---- pcapng -------------------------------------------------------------- */

static void pcapng_two_ifaces(int be)
{
    struct buf b = { 0 };
    b.be = be;
    ng_shb(&b);
    ng_idb(&b, 1, 0, -1, 0);              /* Ethernet, µs (default) */
    ng_idb(&b, 101, 1500, 9, 0);          /* raw IP, ns */
    ng_idb(&b, 113, 96, 0x80 | 20, 1000); /* SLL, 2^-20 s, +1000 s */
    ng_epb(&b, 0, 1700000000123456ull, 60, 64, 1);
    ng_epb(&b, 1, 1700000000123456789ull, 40, 40, 2);
    ng_epb(&b, 2, (5ull << 20) | (1u << 19), 200, 300, 3); /* 5.5 s; caplen > snaplen 96 */
    ng_pb(&b, 1, 2000000000, 20, 20, 4);                  /* obsolete PB, 2 s in ns */
    struct result r[MODE_COUNT];
    read_all_modes(write_file("two.pcapng", &b), r);
    check_modes_agree(r);
    CHECK_EQ_U(r[0].open_failed, 0);
    CHECK_EQ_U(r[0].frames, 4);
    CHECK_EQ_U(r[0].end, PCAP_FILE_EOF);
    CHECK_EQ_U(r[0].linktype, 1);
    CHECK_EQ_U(r[0].snaplen, 0);
    check_frame(&r[0].fr[0], 60, 64, 1700000000123456ull, 1, 1);
    check_frame(&r[0].fr[1], 40, 40, 1700000000123456ull, 101, 2);
    check_frame(&r[0].fr[2], 96, 300, 1005500000ull, 113, 3);
    check_frame(&r[0].fr[3], 20, 20, 2000000ull, 101, 4);
    free(b.d);
}

static void test_pcapng_two_ifaces_le(void) { pcapng_two_ifaces(0); }
static void test_pcapng_two_ifaces_be(void) { pcapng_two_ifaces(1); }

static void test_pcapng_linktype_unknown_before_idb(void)
{
    struct buf b = { 0 };
    ng_shb(&b);
    struct pcap_file *f;
    char err[512];
    f = pcap_file_open(write_file("shb_only.pcapng", &b), err, sizeof err);
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ_U(pcap_file_linktype(f), (unsigned long long)-1);
        CHECK_EQ_U(pcap_file_snaplen(f), 0);
        struct nm_frame fr;
        CHECK_EQ_U(pcap_file_next(f, &fr), PCAP_FILE_EOF);
        pcap_file_close(f);
    }
    free(b.d);
}

static void test_pcapng_spb(void)
{
    struct buf b = { 0 };
    ng_shb(&b);
    ng_idb(&b, 1, 64, -1, 0);
    ng_spb(&b, 100, 100, 1); /* snaplen 64 limits */
    ng_spb(&b, 10, 10, 2);   /* padded block: orig len limits */
    ng_idb(&b, 101, 0, -1, 0);
    ng_spb(&b, 30, 20, 3);   /* block room (20) limits */
    struct result r[MODE_COUNT];
    read_all_modes(write_file("spb.pcapng", &b), r);
    check_modes_agree(r);
    CHECK_EQ_U(r[0].frames, 3);
    CHECK_EQ_U(r[0].end, PCAP_FILE_EOF);
    check_frame(&r[0].fr[0], 64, 100, 0, 1, 1);
    check_frame(&r[0].fr[1], 10, 10, 0, 1, 2);
    check_frame(&r[0].fr[2], 20, 30, 0, 1, 3); /* SPBs belong to interface 0 */
    free(b.d);

    b = (struct buf){ 0 };
    ng_shb(&b);
    ng_idb(&b, 1, 0, -1, 0);
    ng_spb(&b, 30, 32, 3); /* no snaplen: room 32 > orig 30 */
    read_all_modes(write_file("spb0.pcapng", &b), r);
    CHECK_EQ_U(r[0].frames, 1);
    check_frame(&r[0].fr[0], 30, 30, 0, 1, 3);
    free(b.d);
}

static void test_pcapng_skips_other_blocks(void)
{
    struct buf b = { 0 };
    ng_shb(&b);
    ng_other(&b, 4, 20);           /* NRB */
    ng_idb(&b, 1, 0, -1, 0);
    ng_other(&b, 5, 0);            /* ISB, body empty */
    ng_epb(&b, 0, 1, 10, 10, 1);
    ng_other(&b, 0x40000bad, 600000); /* custom block larger than any record */
    ng_other(&b, 0x0a, 7);         /* DSB, padded */
    ng_epb(&b, 0, 2, 10, 10, 2);
    struct result r[MODE_COUNT];
    read_all_modes(write_file("skip.pcapng", &b), r);
    check_modes_agree(r);
    CHECK_EQ_U(r[0].frames, 2);
    CHECK_EQ_U(r[0].end, PCAP_FILE_EOF);
    CHECK_EQ_U(r[0].end_offset, b.len);
    check_frame(&r[0].fr[1], 10, 10, 2, 1, 2);
    free(b.d);
}

static void test_pcapng_multi_section(void)
{
    struct buf b = { 0 };
    ng_shb(&b);
    ng_idb(&b, 1, 0, -1, 0);
    ng_idb(&b, 101, 0, -1, 0);
    ng_epb(&b, 1, 7, 10, 10, 1);
    b.be = 1; /* second section in the other byte order */
    ng_shb(&b);
    ng_idb(&b, 113, 0, 3, 0); /* ms */
    ng_epb(&b, 0, 1500, 12, 12, 2);
    struct result r[MODE_COUNT];
    read_all_modes(write_file("multi.pcapng", &b), r);
    check_modes_agree(r);
    CHECK_EQ_U(r[0].frames, 2);
    CHECK_EQ_U(r[0].end, PCAP_FILE_EOF);
    CHECK_EQ_U(r[0].linktype, 1); /* first interface of the file */
    check_frame(&r[0].fr[0], 10, 10, 7, 101, 1);
    check_frame(&r[0].fr[1], 12, 12, 1500000, 113, 2);

    /* The new section forgot interface 1. */
    size_t at = b.len;
    ng_epb(&b, 1, 1, 10, 10, 3);
    char off[32];
    snprintf(off, sizeof off, "offset %zu", at);
    expect_damage("multi_bad.pcapng", &b, 2, off, "interface 1", NULL);
    free(b.d);
}

/* ---- big records and big files ------------------------------------------- */

static void test_max_record(void)
{
    struct buf b = { 0 };
    pcap_header(&b, 0xa1b2c3d4, 2, 4, 0, 1); /* snaplen 0: no limit */
    pcap_record(&b, 1, 0, PCAP_FILE_MAX_RECORD, PCAP_FILE_MAX_RECORD, 1);
    pcap_record(&b, 2, 0, 5, 5, 2);
    pcap_record(&b, 3, 0, PCAP_FILE_MAX_RECORD, 1u << 20, 3);
    struct result r[MODE_COUNT];
    read_all_modes(write_file("max.pcap", &b), r);
    check_modes_agree(r);
    CHECK_EQ_U(r[0].frames, 3);
    CHECK_EQ_U(r[0].end, PCAP_FILE_EOF);
    check_frame(&r[0].fr[0], PCAP_FILE_MAX_RECORD, PCAP_FILE_MAX_RECORD, 1000000, 1, 1);
    check_frame(&r[0].fr[2], PCAP_FILE_MAX_RECORD, 1u << 20, 3000000, 1, 3);
    free(b.d);

    b = (struct buf){ 0 };
    ng_shb(&b);
    ng_idb(&b, 1, PCAP_FILE_MAX_RECORD, -1, 0);
    ng_epb(&b, 0, 1, PCAP_FILE_MAX_RECORD, PCAP_FILE_MAX_RECORD, 4);
    ng_epb(&b, 0, 2, 3, 3, 5);
    read_all_modes(write_file("max.pcapng", &b), r);
    check_modes_agree(r);
    CHECK_EQ_U(r[0].frames, 2);
    CHECK_EQ_U(r[0].end, PCAP_FILE_EOF);
    check_frame(&r[0].fr[0], PCAP_FILE_MAX_RECORD, PCAP_FILE_MAX_RECORD, 1, 1, 4);
    free(b.d);
}

/* A regular file is read through a buffer that each fill reuses, and is
 * also mapped so that every frame names where its bytes stay (stable):
 * after the whole file is read, the first frames' stable bytes must still
 * be theirs.  Well over the 64 KiB buffer, with records of odd sizes so
 * that records straddle fills.  A pipe has no stable copy. */
static void test_stable_frames(void)
{
    enum { N = 400 };
    struct buf b = { 0 };
    char err[256];
    const uint8_t *stable[N];
    uint32_t caplen[N];
    unsigned n = 0, ok = 0, moved = 0;
    struct nm_frame fr;

    pcap_header(&b, 0xa1b2c3d4, 2, 4, 65535, 1);
    for (unsigned i = 0; i < N; i++)
        pcap_record(&b, 1700000000 + i, 0, 300 + (i * 37) % 1200, 1514, (uint8_t)i);
    const char *path = write_file("stable.pcap", &b);
    struct pcap_file *f = pcap_file_open(path, err, sizeof err);
    CHECK(f != NULL);
    if (!f)
        goto out;
    CHECK(pcap_file_is_mapped(f));
    while (n < N && pcap_file_next(f, &fr) == PCAP_FILE_FRAME) {
        stable[n] = fr.stable;
        caplen[n] = fr.caplen;
        moved += fr.stable != fr.data;
        n++;
    }
    CHECK_EQ_U(n, N);
    for (unsigned i = 0; i < n; i++)
        ok += stable[i] && caplen[i] == 300 + (i * 37) % 1200 &&
              frame_pattern_ok(stable[i], caplen[i], (uint8_t)i);
    CHECK_EQ_U(ok, N);
    CHECK(moved > 0); /* read through the buffer, not the map */
    pcap_file_close(f);

    pid_t child;
    int rfd = pipe_from_file(path, &child);
    char devfd[32];
    snprintf(devfd, sizeof devfd, "/dev/fd/%d", rfd);
    f = pcap_file_open(devfd, err, sizeof err);
    CHECK(f != NULL);
    if (f) {
        CHECK(!pcap_file_is_mapped(f));
        CHECK(pcap_file_next(f, &fr) == PCAP_FILE_FRAME && fr.stable == NULL);
        pcap_file_close(f);
    }
    close(rfd);
    waitpid(child, NULL, 0);
out:
    free(b.d);
}

/* A sparse file beyond 2 GiB: records of maximal size whose data are holes,
 * so nothing but headers is ever written. */
static void test_large_sparse_file(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/large.pcap", tmpdir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    struct buf b = { 0 };
    pcap_header(&b, 0xa1b2c3d4, 2, 4, 0, 1);
    CHECK(pwrite(fd, b.d, b.len, 0) == (ssize_t)b.len);
    const uint64_t stride = 16 + PCAP_FILE_MAX_RECORD;
    const unsigned n = (unsigned)(((2ull << 30) + (64u << 20)) / stride); /* past 2^31 */
    for (unsigned i = 0; i < n; i++) {
        struct buf h = { 0 };
        put32(&h, 1000 + i);
        put32(&h, 0);
        put32(&h, PCAP_FILE_MAX_RECORD);
        put32(&h, PCAP_FILE_MAX_RECORD + i);
        if (pwrite(fd, h.d, h.len, (off_t)(24 + i * stride)) != 16)
            CHECK(!"pwrite");
        free(h.d);
    }
    /* A last record header cut short, beyond 2^32. */
    uint64_t last = 24 + (uint64_t)n * stride;
    uint8_t partial[8] = { 0 };
    CHECK(pwrite(fd, partial, sizeof partial, (off_t)last) == 8);
    close(fd);

    struct result r;
    read_path(path, path, &r, 1u << 24);
    CHECK_EQ_U(r.frames, n);
    CHECK_EQ_U(r.end, PCAP_FILE_ERROR);
    char off[48];
    snprintf(off, sizeof off, "offset %llu", (unsigned long long)last);
    CHECK(last > (1ull << 31));
    CHECK(strstr(r.err, off) != NULL);
    CHECK_EQ_U(r.end_offset, last);
    unlink(path);
    free(b.d);
}

/* A sparse pcapng file beyond 4 GiB: a custom block of almost 4 GiB is
 * skipped without being read, and the offsets after it need 64 bits. */
static void test_large_sparse_pcapng(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/large.pcapng", tmpdir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    struct buf b = { 0 };
    ng_shb(&b);
    ng_idb(&b, 1, 0, -1, 0);
    ng_epb(&b, 0, 1, 10, 10, 1);
    size_t custom = b.len;
    const uint32_t big = 0xfffffff0u;
    put32(&b, 0x40000bad);
    put32(&b, big);
    CHECK(pwrite(fd, b.d, b.len, 0) == (ssize_t)b.len);
    b.len = 0;
    put32(&b, big);
    CHECK(pwrite(fd, b.d, 4, (off_t)(custom + big - 4)) == 4);
    uint64_t after = custom + (uint64_t)big;
    b.len = 0;
    ng_epb(&b, 0, 2, 10, 10, 2);
    uint64_t last = after + b.len;
    put32(&b, 6); /* a cut block header */
    CHECK(pwrite(fd, b.d, b.len, (off_t)after) == (ssize_t)b.len);
    close(fd);

    struct result r;
    read_path(path, path, &r, 1000);
    CHECK_EQ_U(r.frames, 2);
    CHECK_EQ_U(r.end, PCAP_FILE_ERROR);
    check_frame(&r.fr[1], 10, 10, 2, 1, 2);
    char off[48];
    snprintf(off, sizeof off, "offset %llu", (unsigned long long)last);
    CHECK(last > (1ull << 32));
    CHECK(strstr(r.err, off) != NULL);
    CHECK_EQ_U(r.end_offset, last);
    unlink(path);
    free(b.d);
}

/* ---- damage -------------------------------------------------------------- */

static void test_open_errors(void)
{
    char err[512], path[256];
    CHECK(pcap_file_open("/nonexistent/x.pcap", err, sizeof err) == NULL);
    CHECK_STR(err, "netmoon: cannot open '/nonexistent/x.pcap': No such file or directory");
    CHECK(pcap_file_open(tmpdir, err, sizeof err) == NULL);
    snprintf(path, sizeof path, "netmoon: cannot open '%s': Is a directory", tmpdir);
    CHECK_STR(err, path);
    if (geteuid() != 0) { /* root reads anything */
        snprintf(path, sizeof path, "%s/noperm.pcap", tmpdir);
        close(open(path, O_CREAT | O_WRONLY, 0000));
        CHECK(pcap_file_open(path, err, sizeof err) == NULL);
        CHECK(strstr(err, "Permission denied") != NULL);
        unlink(path);
    }
    struct buf b = { 0 };
    const char *p = write_file("empty.pcap", &b);
    CHECK(pcap_file_open(p, err, sizeof err) == NULL);
    snprintf(path, sizeof path, "%s: empty file, not a pcap or pcapng capture", p);
    CHECK_STR(err, path);
    /* Standard input closed: a message, not a crash. */
    int saved = dup(STDIN_FILENO);
    close(STDIN_FILENO);
    CHECK(pcap_file_open("-", err, sizeof err) == NULL);
    CHECK(strstr(err, "cannot open '-'") != NULL);
    dup2(saved, STDIN_FILENO);
    close(saved);
}

static void test_bad_magic(void)
{
    struct buf b = { 0 };
    expect_damage("nothing.pcap", &b, 0, "empty file, not a pcap or pcapng capture", NULL);
    put(&b, "# a list of hosts\n10.0.0.1 a\n", 29);
    expect_damage("text.pcap", &b, 0, "offset 0", "text file", NULL);
    free(b.d);
    b = (struct buf){ 0 };
    put(&b, "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10);
    expect_damage("x.pcap.gz", &b, 0, "offset 0", "gzip", "decompress it first", NULL);
    free(b.d);
    b = (struct buf){ 0 };
    put(&b, "\x00\x01\x02\x03\xff\xfe\x00\x10", 8);
    expect_damage("binary.bin", &b, 0, "offset 0", "not a pcap or pcapng capture", NULL);
    free(b.d);
    b = (struct buf){ 0 };
    put(&b, "\xd4\xc3", 2);
    expect_damage("two.pcap", &b, 0, "offset 0", "short file header", NULL);
    free(b.d);
}

static void test_classic_damage(void)
{
    struct buf b = { 0 };
    pcap_header(&b, 0xa1b2c3d4, 2, 4, 65535, 1);
    b.len = 20;
    expect_damage("short_hdr.pcap", &b, 0, "short file header", "offset 0", NULL);
    b.len = 0;
    pcap_header(&b, 0xa1b2c3d4, 1, 0, 65535, 1);
    expect_damage("archaic.pcap", &b, 0, "archaic", NULL);
    b.len = 0;

    pcap_header(&b, 0xa1b2c3d4, 2, 4, 65535, 1);
    pcap_record(&b, 1, 0, 10, 10, 1);
    size_t good = b.len;
    pcap_record(&b, 2, 0, 1000, 1000, 2);
    b.len -= 990; /* record claims 1000 bytes, 10 remain */
    expect_damage("beyond.pcap", &b, 1, "record at offset 50 claims 1000 bytes, beyond the end "
                                      "of the file", "only 10 remain", NULL);
    b.len = good + 8;
    expect_damage("cut_hdr.pcap", &b, 1, "truncated record header at offset 50", "8 of 16", NULL);
    b.len = good;
    pcap_record(&b, 2, 0, 0, 0, 0);
    set32(&b, good + 8, PCAP_FILE_MAX_RECORD + 1);
    expect_damage("huge.pcap", &b, 1, "offset 50", "262145", "maximum", NULL);
    free(b.d);
}

static void test_pcapng_damage(void)
{
    struct buf b = { 0 };
    ng_shb(&b);
    size_t shb_end = b.len;
    ng_idb(&b, 1, 0, -1, 0);
    ng_epb(&b, 0, 1, 10, 10, 1);
    size_t good = b.len;
    char off[32];
    snprintf(off, sizeof off, "offset %zu", good);

    ng_epb(&b, 0, 2, 10, 10, 2);
    set32(&b, good + 4, 8);
    expect_damage("ng_small.pcapng", &b, 1, off, "less than the minimum of 12", NULL);
    set32(&b, good + 4, 46);
    expect_damage("ng_odd.pcapng", &b, 1, off, "not a multiple of 4", NULL);
    set32(&b, good + 4, 4000);
    expect_damage("ng_beyond.pcapng", &b, 1, off, "beyond the end of the file", NULL);
    set32(&b, good + 4, 1u << 30);
    expect_damage("ng_toobig.pcapng", &b, 1, off, "maximum", NULL);
    set32(&b, good + 4, 52);
    set32(&b, b.len - 4, 48);
    expect_damage("ng_trailer.pcapng", &b, 1, off, "trailing length of 48", "52", NULL);
    set32(&b, b.len - 4, 52);
    set32(&b, good + 8, 3); /* interface 3 */
    expect_damage("ng_iface.pcapng", &b, 1, off, "interface 3", NULL);
    set32(&b, good + 8, 0);
    set32(&b, good + 20, 30); /* caplen 30 > room 20 */
    expect_damage("ng_caplen.pcapng", &b, 1, off, "30 captured bytes", NULL);
    set32(&b, good + 20, PCAP_FILE_MAX_RECORD + 4);
    expect_damage("ng_caplen_max.pcapng", &b, 1, off, "maximum of 262144", NULL);

    /* Truncated last block and truncated block header. */
    b.len = good + 30;
    expect_damage("ng_cut.pcapng", &b, 1, off, "beyond the end of the file", NULL);
    b.len = good + 6;
    expect_damage("ng_cut_hdr.pcapng", &b, 1, off, "truncated block header", NULL);
    b.len = good;
    /* Unknown block running beyond the end (skipped, not loaded). */
    ng_other(&b, 0x99, 100);
    b.len -= 50;
    expect_damage("ng_skip_cut.pcapng", &b, 1, off, "beyond the end of the file", NULL);
    b.len = good;
    ng_other(&b, 0x99, 100);
    set32(&b, b.len - 4, 0);
    expect_damage("ng_skip_trailer.pcapng", &b, 1, off, "trailing length", NULL);
    b.len = good;
    ng_idb(&b, 1, 0, 30, 0);
    expect_damage("ng_tsresol.pcapng", &b, 1, off, "if_tsresol", NULL);

    /* SPB and EPB before any IDB. */
    b.len = shb_end;
    ng_spb(&b, 10, 10, 1);
    snprintf(off, sizeof off, "offset %zu", shb_end);
    expect_damage("ng_spb_noidb.pcapng", &b, 0, off, "simple packet block", NULL);
    b.len = shb_end;
    ng_epb(&b, 0, 1, 10, 10, 1);
    expect_damage("ng_epb_noidb.pcapng", &b, 0, off, "interface 0", NULL);

    /* Damaged section headers. */
    b.len = 0;
    ng_shb(&b);
    b.d[8] = 0x55;
    expect_damage("ng_bom.pcapng", &b, 0, "offset 0", "byte-order magic", NULL);
    b.len = 0;
    ng_shb(&b);
    b.d[12] = 2;
    expect_damage("ng_version.pcapng", &b, 0, "offset 0", "version 2.0", NULL);
    b.len = 10;
    expect_damage("ng_short.pcapng", &b, 0, "offset 0", "truncated block header", NULL);
    free(b.d);
}

/* ---- real files against libpcap ------------------------------------------ */

/* libpcap reports DLT_ values; a few differ from the LINKTYPE_ in the file. */
static int linktype_matches(int dlt, int linktype)
{
    static const int pairs[][2] = {
        { DLT_ATM_RFC1483, 100 }, { DLT_RAW, 101 }, { DLT_SLIP_BSDOS, 102 },
        { DLT_PPP_BSDOS, 103 },   { DLT_ATM_CLIP, 106 },
    };
    if (dlt == linktype)
        return 1;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (pairs[i][0] == dlt && pairs[i][1] == linktype)
            return 1;
    return 0;
}

struct oracle_cmp {
    int libpcap_clean;     /* libpcap opened and read to EOF without error */
    int ours_clean;
    unsigned ours, theirs;
    unsigned first_diff;   /* frame index of the first field mismatch, or ~0u */
    unsigned ts_unjudged;  /* frames whose libpcap timestamp cannot be trusted */
    char what[1400];
};

static int starts_with_pcapng_magic(const char *path)
{
    uint8_t m[4] = { 0 };
    FILE *fp = fopen(path, "rb");
    if (fp) {
        if (fread(m, 1, 4, fp) != 4)
            m[0] = 0;
        fclose(fp);
    }
    return memcmp(m, "\x0a\x0d\x0d\x0a", 4) == 0;
}

/* libpcap's timestamp in microseconds.  pcap-savefile(5) makes the classic
 * seconds and fraction unsigned 32-bit (valid to 2106), but libpcap 1.10
 * reads them as signed: a negative tv_sec is undone exactly; a negative
 * tv_usec (a fraction >= 2^31, itself invalid) cannot be, so that frame's
 * timestamp is not judged. */
static uint64_t libpcap_ts_us(const struct pcap_pkthdr *h, int classic, int *judged)
{
    int64_t sec = h->ts.tv_sec, usec = h->ts.tv_usec;
    if (classic && sec < 0 && sec >= INT32_MIN)
        sec += INT64_C(1) << 32;
    *judged = usec >= 0;
    /* A fraction of a second or more (tcpdump's timestamp_invalid_*):
     * libpcap carries it into the seconds, we clamp it to the end of the
     * second and flag the frame (see classic_next). */
    if (usec >= 1000000)
        usec = 999999;
    return (uint64_t)sec * 1000000u + (uint64_t)usec;
}

/* Reads the file with both readers in lockstep and compares every frame. */
static void oracle_compare(const char *path, struct oracle_cmp *c)
{
    char perr[PCAP_ERRBUF_SIZE], err[1200];
    memset(c, 0, sizeof *c);
    c->first_diff = ~0u;
    int classic = !starts_with_pcapng_magic(path);
    pcap_t *p = pcap_open_offline(path, perr);
    struct pcap_file *f = pcap_file_open(path, err, sizeof err);
    int prc = p ? 1 : -1;
    enum pcap_file_status st = f ? PCAP_FILE_FRAME : PCAP_FILE_ERROR;
    while (prc == 1 || st == PCAP_FILE_FRAME) {
        struct pcap_pkthdr *h = NULL;
        const u_char *d;
        struct nm_frame fr;
        if (prc == 1 && (prc = pcap_next_ex(p, &h, &d)) == 1)
            c->theirs++;
        if (st == PCAP_FILE_FRAME && (st = pcap_file_next(f, &fr)) == PCAP_FILE_FRAME)
            c->ours++;
        if (prc != 1 || st != PCAP_FILE_FRAME || c->first_diff != ~0u)
            continue;
        int ts_judged;
        uint64_t ts = libpcap_ts_us(h, classic, &ts_judged);
        c->ts_unjudged += !ts_judged;
        bool frac_invalid = ts_judged && h->ts.tv_usec >= 1000000;
        if (h->caplen != fr.caplen || h->len != fr.wirelen || (ts_judged && ts != fr.ts_us) ||
            (ts_judged && frac_invalid != fr.ts_invalid) ||
            !linktype_matches(pcap_datalink(p), fr.linktype) ||
            memcmp(d, fr.data, fr.caplen) != 0) {
            c->first_diff = c->ours - 1;
            snprintf(c->what, sizeof c->what,
                     "frame %u: libpcap caplen %u len %u ts %llu dlt %d; ours %u %u %llu %d",
                     c->first_diff, h->caplen, h->len, (unsigned long long)ts,
                     pcap_datalink(p), fr.caplen, fr.wirelen, (unsigned long long)fr.ts_us,
                     fr.linktype);
        }
    }
    c->libpcap_clean = prc == PCAP_ERROR_BREAK || prc == -2;
    c->ours_clean = st == PCAP_FILE_EOF;
    if (!c->ours_clean && c->what[0] == 0)
        snprintf(c->what, sizeof c->what, "%s", f ? pcap_file_error(f) : err);
    if (p)
        pcap_close(p);
    pcap_file_close(f);
}

static const char *shared_dir(void)
{
    static char dir[512];
    const char *env = getenv("SHARED_PCAPS");
    snprintf(dir, sizeof dir, "%s", env && *env ? env : "../shared/pcaps");
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? dir : NULL;
}

static void test_real_files_detail(void)
{
    static const char *const files[] = {
        "tcpdump/bgp-orf.pcapng", "tcpdump/isis_sr.pcapng", "tcpdump/zmtp1-inf-loop-1.pcapng",
        "tcpdump/print-flags.pcap", "tcpdump/dhcpv6-domain-list.pcap",
        "suricata-verify/alert-testmyids-async.pcap",
    };
    const char *dir = shared_dir();
    if (!dir) {
        printf("SKIP test_real_files_detail: no shared pcaps (set SHARED_PCAPS)\n");
        return;
    }
    int compared = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[1024];
        struct oracle_cmp c;
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (access(path, R_OK) != 0)
            continue;
        oracle_compare(path, &c);
        if (!c.libpcap_clean)
            continue;
        compared++;
        CHECK(c.ours_clean);
        CHECK_EQ_U(c.ours, c.theirs);
        CHECK(c.theirs > 0);
        CHECK_EQ_U(c.first_diff, ~0u);
        if (!c.ours_clean || c.ours != c.theirs || c.first_diff != ~0u)
            printf("  %s: ours %u libpcap %u: %s\n", files[i], c.ours, c.theirs, c.what);
        /* The buffered path (pipe, stdin) must give what the map gave. */
        struct result r[MODE_COUNT];
        read_all_modes(path, r);
        check_modes_agree(r);
        CHECK_EQ_U(r[0].frames, c.theirs);
    }
    CHECK(compared >= 3);
}

struct walk {
    unsigned files, libpcap_clean, agree, ours_errors, ts_unjudged;
    unsigned mismatches;
};

static void walk_file(const char *path, struct walk *w)
{
    struct oracle_cmp c;
    oracle_compare(path, &c);
    w->files++;
    w->ts_unjudged += c.ts_unjudged;
    if (!c.ours_clean) {
        w->ours_errors++;
        printf("  we stop (libpcap %s after %u frames): %s\n",
               c.libpcap_clean ? "reads to the end" : "stops too", c.theirs, c.what);
    }
    if (!c.libpcap_clean) {
        /* Both stop at damage: the frames before it should be the same. */
        if (!c.ours_clean && c.ours != c.theirs) {
            w->mismatches++;
            printf("  mismatch before damage %s: ours %u libpcap %u\n", path, c.ours, c.theirs);
        }
        return;
    }
    w->libpcap_clean++;
    if (c.ours_clean && c.ours == c.theirs && c.first_diff == ~0u) {
        w->agree++;
        return;
    }
    w->mismatches++;
    printf("  mismatch %s: ours %u (%s) libpcap %u: %s\n", path, c.ours,
           c.ours_clean ? "clean" : "error", c.theirs, c.what);
}

static void walk_dir(const char *dir, struct walk *w)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char path[2048];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            walk_dir(path, w);
        else if (S_ISREG(st.st_mode))
            walk_file(path, w);
    }
    closedir(d);
}

/* Every shared file, captures or not, damaged or not: never a crash (the
 * sanitizer build runs this too), and where libpcap reads a file to its end
 * we must agree on every frame. */
static void test_all_shared_files(void)
{
    const char *dir = shared_dir();
    if (!dir) {
        printf("SKIP test_all_shared_files: no shared pcaps (set SHARED_PCAPS)\n");
        return;
    }
    struct walk w = { 0 };
    walk_dir(dir, &w);
    printf("  %u files, libpcap reads %u cleanly, we agree on %u, we stop with an error on %u; "
           "%u frame timestamps not judged (libpcap 1.10 reads them as negative)\n",
           w.files, w.libpcap_clean, w.agree, w.ours_errors, w.ts_unjudged);
    CHECK(w.files > 0);
    CHECK_EQ_U(w.mismatches, 0);
}

/* ---- light fuzzing ------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static struct buf fuzz_seed_pcapng(void)
{
    struct buf b = { 0 };
    ng_shb(&b);
    ng_idb(&b, 1, 128, 9, 5);
    ng_other(&b, 4, 16);
    ng_idb(&b, 101, 0, 0x80 | 10, 0);
    ng_epb(&b, 0, 123456789, 60, 60, 1);
    ng_spb(&b, 40, 40, 2);
    ng_pb(&b, 1, 5000, 30, 40, 3);
    ng_epb(&b, 1, 77, 100, 100, 4);
    return b;
}

static struct buf fuzz_seed_pcap(void)
{
    struct buf b = { 0 };
    pcap_header(&b, 0xa1b23c4d, 2, 4, 96, 1);
    for (uint32_t i = 0; i < 8; i++)
        pcap_record(&b, i, i * 1000, 20 + i * 10, 100, (uint8_t)i);
    return b;
}

/* Reads a damaged variant; the file must end (frames bounded) and, being
 * damaged anywhere, return frames only until the damage. */
static void fuzz_one(const struct buf *b, int via_pipe)
{
    struct result r;
    const char *path = write_file("fuzz.bin", b);
    if (via_pipe)
        read_file(path, MODE_PIPE, &r);
    else
        read_path(path, path, &r, 1u << 20);
    CHECK(r.frames <= b->len / 12 + 1);
    CHECK(r.open_failed || r.end != PCAP_FILE_FRAME);
    CHECK(r.open_failed || r.end_offset <= b->len);
}

static void test_fuzz_truncate(void)
{
    struct buf seeds[2] = { fuzz_seed_pcap(), fuzz_seed_pcapng() };
    for (int s = 0; s < 2; s++) {
        size_t full = seeds[s].len;
        for (size_t len = 0; len <= full && len < 600; len++) {
            seeds[s].len = len;
            fuzz_one(&seeds[s], len % 37 == 0);
            if (testlib_current_failed) {
                printf("  seed %d truncated at %zu\n", s, len);
                break;
            }
        }
        seeds[s].len = full;
        free(seeds[s].d);
    }
}

static void test_fuzz_flip(void)
{
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    struct buf seeds[2] = { fuzz_seed_pcap(), fuzz_seed_pcapng() };
    for (int s = 0; s < 2; s++) {
        struct buf m = { 0 };
        put(&m, seeds[s].d, seeds[s].len);
        for (int iter = 0; iter < 1500 && !testlib_current_failed; iter++) {
            memcpy(m.d, seeds[s].d, seeds[s].len);
            int flips = 1 + (int)(rng_next(&rng) % 4);
            for (int k = 0; k < flips; k++) {
                size_t at = (size_t)(rng_next(&rng) % m.len);
                /* Often hit length fields hard rather than flipping one bit. */
                m.d[at] = rng_next(&rng) & 1 ? (uint8_t)rng_next(&rng)
                                              : (uint8_t)(m.d[at] ^ (1u << (rng_next(&rng) % 8)));
            }
            fuzz_one(&m, iter % 50 == 0);
        }
        free(m.d);
        free(seeds[s].d);
    }
}

/* ---- driver -------------------------------------------------------------- */

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (d) {
        for (struct dirent *e; (e = readdir(d)) != NULL;) {
            char path[512];
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(tmpdir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/netmoon-pcapfile-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("FAIL mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    RUN(test_pcap_usec_le);
    RUN(test_pcap_usec_be);
    RUN(test_pcap_nsec_le);
    RUN(test_pcap_nsec_be);
    RUN(test_pcap_invalid_usec);
    RUN(test_pcap_invalid_nsec);
    RUN(test_pcap_kuznetsov);
    RUN(test_pcap_lenient_lengths);
    RUN(test_pcap_old_version_lengths);
    RUN(test_pcap_header_only);
    RUN(test_stdin_regular_file);
    RUN(test_stable_frames);
    RUN(test_pcapng_two_ifaces_le);
    RUN(test_pcapng_two_ifaces_be);
    RUN(test_pcapng_linktype_unknown_before_idb);
    RUN(test_pcapng_spb);
    RUN(test_pcapng_skips_other_blocks);
    RUN(test_pcapng_multi_section);
    RUN(test_max_record);
    RUN(test_large_sparse_file);
    RUN(test_large_sparse_pcapng);
    RUN(test_open_errors);
    RUN(test_bad_magic);
    RUN(test_classic_damage);
    RUN(test_pcapng_damage);
    RUN(test_fuzz_truncate);
    RUN(test_fuzz_flip);
    RUN(test_real_files_detail);
    RUN(test_all_shared_files);
    remove_tmpdir();
    TESTLIB_EXIT();
}
