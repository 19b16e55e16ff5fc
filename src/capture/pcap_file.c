/*
 * pcap_file.c: reads capture files, classic pcap and pcapng.
 *
 * Formats followed:
 *  - The libpcap savefile format, pcap-savefile(5) and
 *    draft-ietf-opsawg-pcap: magic 0xa1b2c3d4 (microsecond) and 0xa1b23c4d
 *    (nanosecond) in either byte order, plus the "modified" (Kuznetsov)
 *    magic 0xa1b2cd34 whose 24-byte record headers carry 8 extra bytes.
 *    The link type is the low 16 bits of the header field; the upper bits
 *    carry FCS information we do not need.
 *  - pcapng, draft-ietf-opsawg-pcapng: SHB (either byte order, several
 *    sections; a new SHB forgets the interfaces), IDB (if_tsresol,
 *    if_tsoffset), EPB, SPB and the obsolete PB.  Every other block is
 *    skipped by its length.
 *
 * Where the formats leave room, we do what libpcap (so tcpdump and tshark)
 * does, so that counts and lengths agree with those tools on the same file:
 *  - A caplen above the snapshot length (0 or more than
 *    PCAP_FILE_MAX_RECORD meaning PCAP_FILE_MAX_RECORD) is accepted and
 *    reported as the snapshot length; many real files carry such records.
 *    A caplen above PCAP_FILE_MAX_RECORD is damage.
 *  - caplen > wirelen is kept as recorded: wirelen is not raised.
 *  - pcap 2.0-2.2 files store caplen and len swapped; 2.3 files may.
 *  - An SPB has no timestamp: it gets time 0 (plus the interface's
 *    if_tsoffset).
 *
 * Input: every input is read with read(2) into one buffer that grows to
 * the largest block, bounded by PCAPNG_MAX_PARSED_BLOCK, and records are
 * parsed in place there; no memory is allocated per packet.  A regular
 * file is also mapped, only so that a frame can name where its bytes stay
 * (frame->stable) after the buffer moves on.  A file gives the same frames
 * and the same messages whether it is opened by name or read from a pipe.
 */
#include "capture/pcap_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCAP_FILE_HEADER_LEN 24u
#define PCAP_RECORD_HEADER_LEN 16u
#define PCAP_KUZNETSOV_RECORD_HEADER_LEN 24u

#define PCAP_MAGIC_USEC 0xa1b2c3d4u
#define PCAP_MAGIC_NSEC 0xa1b23c4du
#define PCAP_MAGIC_KUZNETSOV 0xa1b2cd34u

#define PCAPNG_BT_SHB 0x0a0d0d0au
#define PCAPNG_BT_IDB 1u
#define PCAPNG_BT_PB 2u
#define PCAPNG_BT_SPB 3u
#define PCAPNG_BT_EPB 6u
#define PCAPNG_BYTE_ORDER_MAGIC 0x1a2b3c4du
#define PCAPNG_MIN_BLOCK 12u

#define PCAPNG_OPT_ENDOFOPT 0u
#define PCAPNG_OPT_IF_TSRESOL 9u
#define PCAPNG_OPT_IF_TSOFFSET 14u

/* Blocks we parse are held in memory whole: a maximal packet plus generous
 * room for options.  Larger ones are damage, not a reason to allocate. */
#define PCAPNG_MAX_PARSED_BLOCK (PCAP_FILE_MAX_RECORD + 65536u)
/* Interfaces are allocated per IDB; a bound keeps a hostile file from
 * turning IDBs into unbounded memory. */
#define PCAPNG_MAX_INTERFACES 65536u

#define STREAM_CHUNK 65536u
#define USEC_PER_SEC 1000000u

__extension__ typedef unsigned __int128 pcap_u128;

enum pcap_format { FORMAT_PCAP, FORMAT_PCAPNG };

/* How to turn one interface's timestamps and lengths into an nm_frame. */
struct pcap_iface {
    int linktype;
    uint32_t snaplen;       /* as recorded */
    uint32_t snap_limit;    /* caplen reported at most this (libpcap's) */
    uint64_t units_per_sec; /* timestamp resolution */
    int64_t ts_offset_s;    /* if_tsoffset */
};

/* Where bytes come from: buf[start, end) is unread, the rest comes from
 * read().  A regular file is also mapped (map_len bytes), but never read
 * through the map: the mapping only gives each frame an address that
 * outlives the buffer's next fill (frame->stable), for packets that wait
 * in a queue, and is touched only by whoever reads such a packet's payload
 * later.  Reading the map itself was the slower way on our 2-CPU virtual
 * machines: on workload 1 (-r, two threads) the map's page faults, TLB
 * misses and releases cost 0.47-0.58 s of user CPU against 0.25-0.26 s
 * through a 64 KiB buffer that stays in cache (6 interleaved runs). */
struct pcap_input {
    int fd;
    const uint8_t *map;
    size_t map_len;
    size_t map_released;   /* pages before this offset were handed back */
    size_t page_size;      /* for releasing them, read once at open */
    uint8_t *buf;
    size_t cap, start, end;
    bool eof;
    int read_errno;
    uint64_t offset; /* file offset of the first unread byte */
};

enum pcap_lengths_swapped { LENGTHS_NOT_SWAPPED, LENGTHS_SWAPPED, LENGTHS_MAYBE_SWAPPED };

struct pcap_file {
    struct pcap_input in;
    char *name;
    enum pcap_format format;
    bool big_endian;
    bool failed;
    /* Classic pcap. */
    bool nanoseconds;
    uint32_t record_header_len;
    enum pcap_lengths_swapped lengths_swapped;
    struct pcap_iface classic;
    /* A little-endian file with the usual record header: records are
     * read in place by classic_next_inplace. */
    bool classic_inplace;
    /* First interface of the file, for pcap_file_linktype/snaplen. */
    int first_linktype;
    uint32_t first_snaplen;
    /* pcapng interfaces of the current section. */
    struct pcap_iface *ifaces;
    uint32_t n_ifaces, cap_ifaces;
    char err[4608]; /* room for a PATH_MAX path and the message */
};

/* ---- byte order ---------------------------------------------------------- */

static inline uint32_t rd32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint32_t rd32be(const uint8_t *p)
{
    return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}

static inline uint32_t rd32(const struct pcap_file *f, const uint8_t *p)
{
    return f->big_endian ? rd32be(p) : rd32le(p);
}

static uint16_t rd16(const struct pcap_file *f, const uint8_t *p)
{
    return f->big_endian ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static uint64_t rd64(const struct pcap_file *f, const uint8_t *p)
{
    uint64_t a = rd32(f, p), b = rd32(f, p + 4);
    return f->big_endian ? a << 32 | b : b << 32 | a;
}

/* ---- messages ------------------------------------------------------------ */

/* Records a damage message prefixed with the input's name; reading stops. */
__attribute__((format(printf, 2, 3)))
static enum pcap_file_status fail(struct pcap_file *f, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(f->err, sizeof f->err, "%s: ", f->name);
    if (n < 0 || (size_t)n >= sizeof f->err)
        n = 0;
    va_start(ap, fmt);
    vsnprintf(f->err + n, sizeof f->err - (size_t)n, fmt, ap);
    va_end(ap);
    f->failed = true;
    return PCAP_FILE_ERROR;
}

/* A record or block that the input ends inside: a read error explains it
 * better than "beyond the end" when there was one. */
static enum pcap_file_status fail_beyond_end(struct pcap_file *f, const char *what,
                                             uint64_t at, uint64_t claimed, uint64_t left)
{
    if (f->in.read_errno)
        return fail(f, "read error in %s at offset %llu: %s", what, (unsigned long long)at,
                    strerror(f->in.read_errno));
    return fail(f, "%s at offset %llu claims %llu bytes, beyond the end of the file "
                   "(only %llu remain; truncated or damaged file)",
                what, (unsigned long long)at, (unsigned long long)claimed,
                (unsigned long long)left);
}

static enum pcap_file_status fail_short_header(struct pcap_file *f, const char *what,
                                               uint64_t at, size_t want, size_t got)
{
    if (f->in.read_errno)
        return fail(f, "read error in %s at offset %llu: %s", what, (unsigned long long)at,
                    strerror(f->in.read_errno));
    return fail(f, "truncated %s at offset %llu: only %zu of %zu bytes remain "
                   "(truncated or damaged file)",
                what, (unsigned long long)at, got, want);
}

/* ---- input --------------------------------------------------------------- */

static bool stream_grow(struct pcap_input *in, size_t want)
{
    size_t cap = in->cap ? in->cap : STREAM_CHUNK;
    while (cap < want)
        cap *= 2;
    uint8_t *buf = realloc(in->buf, cap);
    if (!buf) {
        in->read_errno = ENOMEM;
        in->eof = true;
        return false;
    }
    in->buf = buf;
    in->cap = cap;
    return true;
}

/* Reads until want bytes are buffered or the input ends.  Unread bytes move
 * to the front first, which is why frame->data lives only until the next
 * call. */
static void stream_fill(struct pcap_input *in, size_t want)
{
    if (in->start > 0) {
        memmove(in->buf, in->buf + in->start, in->end - in->start);
        in->end -= in->start;
        in->start = 0;
    }
    if (want > in->cap && !stream_grow(in, want))
        return;
    while (in->end < want && !in->eof) {
        ssize_t n = read(in->fd, in->buf + in->end, in->cap - in->end);
        if (n > 0) {
            in->end += (size_t)n;
        } else if (n == 0) {
            in->eof = true;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            /* Standard input may be non-blocking; its flags are shared with
             * whoever gave it to us, so wait rather than change them. */
            struct pollfd pfd = { .fd = in->fd, .events = POLLIN };
            (void)poll(&pfd, 1, -1);
        } else if (errno != EINTR) {
            in->read_errno = errno;
            in->eof = true;
        }
    }
}

/* Makes up to want bytes available at the read position and returns how
 * many are: fewer only at the end of the input or after a read error. */
static inline size_t input_peek(struct pcap_input *in, size_t want, const uint8_t **p)
{
    if (in->end - in->start < want && !in->eof)
        stream_fill(in, want);
    size_t have = in->end - in->start;
    *p = in->buf + in->start;
    return have < want ? have : want;
}

/* Pages of the mapping a later reader touched count in our resident
 * memory until we hand them back, so a large file would look like (and
 * compete for memory like) a process holding all of it.  Every
 * INPUT_RELEASE_STEP bytes the pages well behind the read position are
 * dropped; the margin keeps the frame just returned (at most one block or
 * record) mapped.  A dropped page is only unmapped: touched again, it is
 * read from the file again. */
#define INPUT_RELEASE_STEP (2u << 20)
#define INPUT_RELEASE_MARGIN (2u * (PCAPNG_MAX_PARSED_BLOCK > PCAP_FILE_MAX_RECORD \
                                        ? PCAPNG_MAX_PARSED_BLOCK : PCAP_FILE_MAX_RECORD))

/* Whether a read position of `pos` is far enough past the last release
 * for the pages behind it to go back. */
static inline bool input_release_due(const struct pcap_input *in, size_t pos)
{
    return in->map && pos >= in->map_released + INPUT_RELEASE_STEP + INPUT_RELEASE_MARGIN;
}

static void input_release_behind(struct pcap_input *in)
{
    size_t page = in->page_size, upto;

    if (!input_release_due(in, in->offset) || !page)
        return;
    upto = (in->offset - INPUT_RELEASE_MARGIN) / page * page;
    if (upto > in->map_released)
        (void)madvise((void *)(uintptr_t)(in->map + in->map_released), upto - in->map_released,
                      MADV_DONTNEED);
    in->map_released = upto;
}

/* The bytes at the read position that are at hand without reading more. */
static inline size_t input_window(const struct pcap_input *in, const uint8_t **p)
{
    *p = in->buf + in->start;
    return in->end - in->start;
}

/* Moves the read position past n bytes of the window; the frame in them
 * stays in the buffer until the next fill, and mapped (INPUT_RELEASE_MARGIN). */
static inline void input_consume(struct pcap_input *in, size_t n)
{
    in->start += n;
    in->offset += n;
    input_release_behind(in);
}

/* Skips n bytes without holding them, so a skipped block may be any size.
 * Returns how many were skipped (fewer at the end of the input). */
static uint64_t input_skip(struct pcap_input *in, uint64_t n)
{
    uint64_t done = 0;
    while (done < n) {
        const uint8_t *p;
        size_t chunk = n - done > STREAM_CHUNK ? STREAM_CHUNK : (size_t)(n - done);
        size_t got = input_peek(in, chunk, &p);
        if (got == 0)
            break;
        input_consume(in, got);
        done += got;
    }
    return done;
}

/* Maps a regular file.  A file still being written is read up to its size
 * at open; one truncated under us would raise SIGBUS, as with any map. */
static bool input_map(struct pcap_input *in, const struct stat *st)
{
    if (!S_ISREG(st->st_mode) || st->st_size <= 0 || (uint64_t)st->st_size > SIZE_MAX)
        return false;
    /* Standard input redirected from a file may already be partly read:
     * the capture starts where its position is, so read it instead. */
    if (lseek(in->fd, 0, SEEK_CUR) != 0)
        return false;
    void *map = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_PRIVATE, in->fd, 0);
    if (map == MAP_FAILED)
        return false; /* e.g. a file system without mmap: frames then do not stay */
    in->map = map;
    in->map_len = (size_t)st->st_size;
    long page = sysconf(_SC_PAGESIZE);
    in->page_size = page > 0 ? (size_t)page : 0;
    /* We read the file once front to back: a larger read-ahead. */
    (void)posix_fadvise(in->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return true;
}

/* Opens path ("-": standard input), mapping it too when it can. */
static int input_open(struct pcap_input *in, const char *path)
{
    struct stat st;
    in->fd = strcmp(path, "-") == 0 ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0)
                                    : open(path, O_RDONLY | O_CLOEXEC);
    if (in->fd < 0 || fstat(in->fd, &st) != 0)
        return errno;
    if (S_ISDIR(st.st_mode))
        return EISDIR;
    (void)input_map(in, &st);
    return stream_grow(in, STREAM_CHUNK) ? 0 : ENOMEM;
}

static void input_close(struct pcap_input *in)
{
    if (in->map)
        munmap((void *)in->map, in->map_len);
    free(in->buf);
    if (in->fd >= 0)
        close(in->fd);
}

/* ---- timestamps and frames ------------------------------------------------ */

static uint64_t iface_ts_us(const struct pcap_iface *ifc, uint64_t t)
{
    uint64_t sec = t / ifc->units_per_sec;
    uint64_t frac = t % ifc->units_per_sec;
    /* frac * 10^6 overflows 64 bits for resolutions finer than ~2^-44 s. */
    uint64_t us = (uint64_t)((pcap_u128)frac * USEC_PER_SEC / ifc->units_per_sec);
    /* Unsigned wrap-around keeps absurd timestamps defined behaviour. */
    return (sec + (uint64_t)ifc->ts_offset_s) * USEC_PER_SEC + us;
}

/* libpcap's pcap_adjust_snapshot: 0 or an over-large snaplen means "the
 * largest record we accept". */
static uint32_t snap_limit(uint32_t snaplen)
{
    return snaplen == 0 || snaplen > PCAP_FILE_MAX_RECORD ? PCAP_FILE_MAX_RECORD : snaplen;
}

/* Where data, in the buffer's unread window, also is for good: its place
 * in the mapping (in->offset is the window start's file offset); NULL for
 * an input that is not mapped (a pipe). */
static inline const uint8_t *input_stable(const struct pcap_input *in, const uint8_t *data)
{
    return in->map ? in->map + in->offset + (size_t)(data - (in->buf + in->start)) : NULL;
}

static void frame_fill(struct nm_frame *frame, const struct pcap_input *in,
                       const struct pcap_iface *ifc, const uint8_t *data, uint32_t caplen,
                       uint32_t wirelen, uint64_t ts_us)
{
    frame->ts_invalid = false;
    frame->data = data;
    frame->stable = input_stable(in, data);
    frame->caplen = caplen < ifc->snap_limit ? caplen : ifc->snap_limit;
    frame->wirelen = wirelen;
    frame->ts_us = ts_us;
    frame->linktype = ifc->linktype;
}

/* ---- file header and bad magic -------------------------------------------- */

static bool looks_like_text(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if ((c < 0x20 || c > 0x7e) && c != '\t' && c != '\n' && c != '\r')
            return false;
    }
    return n > 0;
}

/* What a non-capture file obviously is, so the message can say what to do. */
static const char *describe_non_capture(const uint8_t *p, size_t n)
{
    if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
        return "it looks like a gzip file: decompress it first (gunzip)";
    if (n >= 3 && memcmp(p, "BZh", 3) == 0)
        return "it looks like a bzip2 file: decompress it first (bunzip2)";
    if (n >= 6 && memcmp(p, "\xfd" "7zXZ\0", 6) == 0)
        return "it looks like an xz file: decompress it first (unxz)";
    if (n >= 4 && memcmp(p, "\x28\xb5\x2f\xfd", 4) == 0)
        return "it looks like a zstd file: decompress it first (unzstd)";
    if (n >= 4 && memcmp(p, "PK\x03\x04", 4) == 0)
        return "it looks like a zip archive: extract it first (unzip)";
    if (n >= 8 && memcmp(p, "snoop\0\0\0", 8) == 0)
        return "it looks like a Solaris snoop capture: convert it first (editcap -F pcap)";
    if (n >= 4 && memcmp(p, "GMBU", 4) == 0)
        return "it looks like a Network Monitor capture: convert it first (editcap -F pcap)";
    if (looks_like_text(p, n))
        return "it looks like a text file";
    return "unknown format";
}

static int fail_bad_magic(struct pcap_file *f)
{
    const uint8_t *p;
    size_t n = input_peek(&f->in, 64, &p);
    if (n == 0 && f->in.read_errno)
        return fail(f, "cannot read: %s", strerror(f->in.read_errno));
    if (n == 0)
        return fail(f, "empty file, not a pcap or pcapng capture");
    if (n < 4)
        return fail(f, "short file header: %zu bytes at offset 0, not a pcap or pcapng capture", n);
    return fail(f, "not a pcap or pcapng capture (magic %02x %02x %02x %02x at offset 0): %s",
                p[0], p[1], p[2], p[3], describe_non_capture(p, n));
}

/* Recognises a classic magic and sets byte order, resolution and record
 * header size from it. */
static bool classic_magic(struct pcap_file *f, uint32_t magic_le)
{
    static const uint32_t magics[] = { PCAP_MAGIC_USEC, PCAP_MAGIC_NSEC, PCAP_MAGIC_KUZNETSOV };
    for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++) {
        uint32_t m = magics[i];
        uint32_t swapped = (m >> 24) | (m >> 8 & 0xff00u) | (m << 8 & 0xff0000u) | (m << 24);
        if (magic_le != m && magic_le != swapped)
            continue;
        f->big_endian = magic_le == swapped;
        f->nanoseconds = m == PCAP_MAGIC_NSEC;
        f->record_header_len = m == PCAP_MAGIC_KUZNETSOV ? PCAP_KUZNETSOV_RECORD_HEADER_LEN
                                                         : PCAP_RECORD_HEADER_LEN;
        return true;
    }
    return false;
}

static int classic_read_header(struct pcap_file *f)
{
    const uint8_t *p;
    size_t got = input_peek(&f->in, PCAP_FILE_HEADER_LEN, &p);
    if (got < PCAP_FILE_HEADER_LEN)
        return fail(f, "short file header: %zu of %u bytes at offset 0 (truncated file)", got,
                    PCAP_FILE_HEADER_LEN);
    uint16_t major = rd16(f, p + 4), minor = rd16(f, p + 6);
    if (major < 2)
        return fail(f, "archaic pcap version %u.%u at offset 4, not supported", major, minor);
    /* Before 2.3 libpcap wrote caplen and len the other way round. */
    if (major == 2 && minor < 3)
        f->lengths_swapped = LENGTHS_SWAPPED;
    else if (major == 2 && minor == 3)
        f->lengths_swapped = LENGTHS_MAYBE_SWAPPED;
    f->format = FORMAT_PCAP;
    f->classic.snaplen = rd32(f, p + 16);
    f->classic.snap_limit = snap_limit(f->classic.snaplen);
    f->classic.linktype = (int)(rd32(f, p + 20) & 0xffffu);
    f->classic.units_per_sec = f->nanoseconds ? 1000000000u : USEC_PER_SEC;
    f->first_linktype = f->classic.linktype;
    f->first_snaplen = f->classic.snaplen;
    f->classic_inplace = !f->big_endian && f->lengths_swapped == LENGTHS_NOT_SWAPPED &&
                        f->record_header_len == PCAP_RECORD_HEADER_LEN;
    input_consume(&f->in, PCAP_FILE_HEADER_LEN);
    return 0;
}

/* ---- classic records ------------------------------------------------------ */

static void classic_unswap_lengths(const struct pcap_file *f, uint32_t *caplen, uint32_t *len)
{
    if (f->lengths_swapped == LENGTHS_NOT_SWAPPED ||
        (f->lengths_swapped == LENGTHS_MAYBE_SWAPPED && *caplen <= *len))
        return;
    uint32_t t = *caplen;
    *caplen = *len;
    *len = t;
}

static enum pcap_file_status classic_next(struct pcap_file *f, struct nm_frame *frame)
{
    const uint8_t *p;
    uint32_t hlen = f->record_header_len;
    uint64_t at = f->in.offset;
    size_t got = input_peek(&f->in, hlen, &p);
    if (got == 0 && !f->in.read_errno)
        return PCAP_FILE_EOF;
    if (got < hlen)
        return fail_short_header(f, "record header", at, hlen, got);
    uint32_t sec = rd32(f, p), frac = rd32(f, p + 4);
    uint32_t caplen = rd32(f, p + 8), len = rd32(f, p + 12);
    classic_unswap_lengths(f, &caplen, &len);
    if (caplen > PCAP_FILE_MAX_RECORD)
        return fail(f, "record at offset %llu claims %u captured bytes, more than the maximum "
                       "of %u (damaged file?)",
                    (unsigned long long)at, caplen, PCAP_FILE_MAX_RECORD);
    got = input_peek(&f->in, hlen + caplen, &p);
    if (got < hlen + caplen)
        return fail_beyond_end(f, "record", at, caplen, got - hlen);
    /* A sub-second field of a second or more is invalid (tcpdump's
     * timestamp_invalid_* tests): carrying it into the seconds would move
     * the packet up to 71 minutes and split its flow on an idle timeout,
     * so it is clamped to the end of its second and counted. */
    uint32_t frac_max = f->nanoseconds ? 999999999u : USEC_PER_SEC - 1;
    bool ts_invalid = frac > frac_max;
    if (ts_invalid)
        frac = frac_max;
    uint64_t us = f->nanoseconds ? frac / 1000u : frac;
    frame_fill(frame, &f->in, &f->classic, p + hlen, caplen, len, (uint64_t)sec * USEC_PER_SEC + us);
    frame->ts_invalid = ts_invalid;
    input_consume(&f->in, hlen + caplen);
    return PCAP_FILE_FRAME;
}

/* classic_next for the common record of a little-endian file, read in
 * place with one bounds check: about 100 instructions a packet went to the
 * general reader's peeks and byte-order choices.  Anything else (a record
 * past the window or over the maximum, an invalid sub-second field) goes
 * to classic_next, which reads more, reports or handles it. */
static inline enum pcap_file_status classic_next_inplace(struct pcap_file *f, struct nm_frame *frame)
{
    struct pcap_input *in = &f->in;
    const uint8_t *p;
    size_t left = input_window(in, &p);

    if (left < PCAP_RECORD_HEADER_LEN)
        return classic_next(f, frame);
    uint32_t frac = rd32le(p + 4), caplen = rd32le(p + 8);
    size_t n = PCAP_RECORD_HEADER_LEN + (size_t)caplen;
    if (caplen > PCAP_FILE_MAX_RECORD || n > left ||
        frac > (f->nanoseconds ? 999999999u : USEC_PER_SEC - 1))
        return classic_next(f, frame);
    uint64_t us = f->nanoseconds ? frac / 1000u : frac;
    frame_fill(frame, &f->in, &f->classic, p + PCAP_RECORD_HEADER_LEN, caplen, rd32le(p + 12),
               (uint64_t)rd32le(p) * USEC_PER_SEC + us);
    input_consume(in, n);
    return PCAP_FILE_FRAME;
}

/* ---- pcapng blocks -------------------------------------------------------- */

struct pcapng_block {
    uint64_t offset;
    uint32_t type;
    uint32_t total_len;
    const uint8_t *p; /* the whole block, once loaded */
};

/* Reads a block's type and length; an SHB also sets the byte order, which
 * is why 12 bytes are read (every block has at least 12). */
static enum pcap_file_status pcapng_block_begin(struct pcap_file *f, struct pcapng_block *b)
{
    const uint8_t *p;
    b->offset = f->in.offset;
    size_t got = input_peek(&f->in, PCAPNG_MIN_BLOCK, &p);
    if (got == 0 && !f->in.read_errno)
        return PCAP_FILE_EOF;
    if (got < PCAPNG_MIN_BLOCK)
        return fail_short_header(f, "block header", b->offset, PCAPNG_MIN_BLOCK, got);
    b->type = rd32le(p); /* the SHB type reads the same in both orders */
    if (b->type == PCAPNG_BT_SHB) {
        if (rd32le(p + 8) == PCAPNG_BYTE_ORDER_MAGIC)
            f->big_endian = false;
        else if (rd32be(p + 8) == PCAPNG_BYTE_ORDER_MAGIC)
            f->big_endian = true;
        else
            return fail(f, "section header block at offset %llu has a bad byte-order magic",
                        (unsigned long long)b->offset);
    } else {
        b->type = rd32(f, p);
    }
    b->total_len = rd32(f, p + 4);
    if (b->total_len < PCAPNG_MIN_BLOCK || b->total_len % 4 != 0)
        return fail(f, "block at offset %llu has a total length of %u, %s",
                    (unsigned long long)b->offset, b->total_len,
                    b->total_len < PCAPNG_MIN_BLOCK ? "less than the minimum of 12"
                                                    : "not a multiple of 4");
    return PCAP_FILE_FRAME;
}

static enum pcap_file_status pcapng_check_trailer(struct pcap_file *f,
                                                  const struct pcapng_block *b,
                                                  const uint8_t *trailer)
{
    uint32_t trailing = rd32(f, trailer);
    if (trailing != b->total_len)
        return fail(f, "block at offset %llu has a trailing length of %u, not matching its "
                       "leading length of %u",
                    (unsigned long long)b->offset, trailing, b->total_len);
    return PCAP_FILE_FRAME;
}

/* Holds a block we parse in memory whole, after checking its size. */
static enum pcap_file_status pcapng_block_load(struct pcap_file *f, struct pcapng_block *b,
                                               uint32_t min_len)
{
    if (b->total_len < min_len)
        return fail(f, "block of type %u at offset %llu is %u bytes, too short for its %u "
                       "bytes of fixed fields",
                    b->type, (unsigned long long)b->offset, b->total_len, min_len);
    if (b->total_len > PCAPNG_MAX_PARSED_BLOCK)
        return fail(f, "block of type %u at offset %llu claims %u bytes, more than the "
                       "maximum of %u (damaged file?)",
                    b->type, (unsigned long long)b->offset, b->total_len,
                    PCAPNG_MAX_PARSED_BLOCK);
    size_t got = input_peek(&f->in, b->total_len, &b->p);
    if (got < b->total_len)
        return fail_beyond_end(f, "block", b->offset, b->total_len, got);
    return pcapng_check_trailer(f, b, b->p + b->total_len - 4);
}

/* Skips a block we do not parse without holding it, checking its trailer. */
static enum pcap_file_status pcapng_block_skip(struct pcap_file *f, const struct pcapng_block *b)
{
    const uint8_t *p;
    uint64_t body = b->total_len - 4u;
    uint64_t skipped = input_skip(&f->in, body);
    size_t got = skipped < body ? 0 : input_peek(&f->in, 4, &p);
    if (skipped < body || got < 4)
        return fail_beyond_end(f, "block", b->offset, b->total_len, skipped + got);
    if (pcapng_check_trailer(f, b, p) != PCAP_FILE_FRAME)
        return PCAP_FILE_ERROR;
    input_consume(&f->in, 4);
    return PCAP_FILE_FRAME;
}

static enum pcap_file_status pcapng_section(struct pcap_file *f, struct pcapng_block *b)
{
    if (pcapng_block_load(f, b, 28) != PCAP_FILE_FRAME)
        return PCAP_FILE_ERROR;
    uint16_t major = rd16(f, b->p + 12), minor = rd16(f, b->p + 14);
    if (major != 1)
        return fail(f, "section header block at offset %llu has unsupported version %u.%u",
                    (unsigned long long)b->offset, major, minor);
    /* Interface numbers are per section. */
    f->n_ifaces = 0;
    input_consume(&f->in, b->total_len);
    return PCAP_FILE_FRAME;
}

static enum pcap_file_status pcapng_tsresol(struct pcap_file *f, const struct pcapng_block *b,
                                            uint8_t v, struct pcap_iface *ifc)
{
    unsigned exp = v & 0x7fu;
    bool binary = v & 0x80u;
    /* Beyond these a second does not fit the 64-bit timestamp. */
    if ((binary && exp > 63) || (!binary && exp > 19))
        return fail(f, "interface description block at offset %llu has if_tsresol %s-%u, "
                       "finer than 64-bit timestamps allow",
                    (unsigned long long)b->offset, binary ? "2^" : "10^", exp);
    uint64_t units = 1;
    for (unsigned i = 0; i < exp; i++)
        units *= binary ? 2u : 10u;
    ifc->units_per_sec = units;
    return PCAP_FILE_FRAME;
}

/* Reads if_tsresol and if_tsoffset.  A malformed option list ends option
 * parsing but not the capture: options do not change what a packet is. */
static enum pcap_file_status pcapng_idb_options(struct pcap_file *f, const struct pcapng_block *b,
                                                struct pcap_iface *ifc)
{
    size_t pos = 16, end = b->total_len - 4u;
    while (end - pos >= 4) {
        uint16_t code = rd16(f, b->p + pos), len = rd16(f, b->p + pos + 2);
        size_t padded = ((size_t)len + 3u) & ~(size_t)3u;
        pos += 4;
        if (code == PCAPNG_OPT_ENDOFOPT || padded > end - pos)
            break;
        if (code == PCAPNG_OPT_IF_TSRESOL && len >= 1 &&
            pcapng_tsresol(f, b, b->p[pos], ifc) != PCAP_FILE_FRAME)
            return PCAP_FILE_ERROR;
        if (code == PCAPNG_OPT_IF_TSOFFSET && len >= 8)
            ifc->ts_offset_s = (int64_t)rd64(f, b->p + pos);
        pos += padded;
    }
    return PCAP_FILE_FRAME;
}

static enum pcap_file_status pcapng_iface_add(struct pcap_file *f, const struct pcapng_block *b,
                                              const struct pcap_iface *ifc)
{
    if (f->n_ifaces == f->cap_ifaces) {
        if (f->cap_ifaces >= PCAPNG_MAX_INTERFACES)
            return fail(f, "interface description block at offset %llu: more than %u "
                           "interfaces in one section",
                        (unsigned long long)b->offset, PCAPNG_MAX_INTERFACES);
        uint32_t cap = f->cap_ifaces ? f->cap_ifaces * 2 : 4;
        struct pcap_iface *n = realloc(f->ifaces, cap * sizeof *n);
        if (!n)
            return fail(f, "out of memory for interface descriptions");
        f->ifaces = n;
        f->cap_ifaces = cap;
    }
    f->ifaces[f->n_ifaces++] = *ifc;
    if (f->first_linktype < 0) {
        f->first_linktype = ifc->linktype;
        f->first_snaplen = ifc->snaplen;
    }
    return PCAP_FILE_FRAME;
}

static enum pcap_file_status pcapng_interface(struct pcap_file *f, struct pcapng_block *b)
{
    if (pcapng_block_load(f, b, 20) != PCAP_FILE_FRAME)
        return PCAP_FILE_ERROR;
    struct pcap_iface ifc = {
        .linktype = rd16(f, b->p + 8),
        .snaplen = rd32(f, b->p + 12),
        .units_per_sec = USEC_PER_SEC, /* if_tsresol default 10^-6 */
    };
    ifc.snap_limit = snap_limit(ifc.snaplen);
    if (pcapng_idb_options(f, b, &ifc) != PCAP_FILE_FRAME ||
        pcapng_iface_add(f, b, &ifc) != PCAP_FILE_FRAME)
        return PCAP_FILE_ERROR;
    input_consume(&f->in, b->total_len);
    return PCAP_FILE_FRAME;
}

/* Shared by EPB and the obsolete PB, which differ only in field widths. */
static enum pcap_file_status pcapng_packet(struct pcap_file *f, const struct pcapng_block *b,
                                           uint32_t iface, struct nm_frame *frame)
{
    const uint8_t *p = b->p;
    if (iface >= f->n_ifaces)
        return fail(f, "packet block at offset %llu names interface %u, but only %u "
                       "interface(s) are described in this section",
                    (unsigned long long)b->offset, iface, f->n_ifaces);
    uint64_t t = (uint64_t)rd32(f, p + 12) << 32 | rd32(f, p + 16);
    uint32_t caplen = rd32(f, p + 20), len = rd32(f, p + 24);
    if (caplen > PCAP_FILE_MAX_RECORD)
        return fail(f, "packet block at offset %llu claims %u captured bytes, more than the "
                       "maximum of %u (damaged file?)",
                    (unsigned long long)b->offset, caplen, PCAP_FILE_MAX_RECORD);
    if (caplen > b->total_len - 32u)
        return fail(f, "packet block at offset %llu claims %u captured bytes, more than its "
                       "block of %u bytes holds",
                    (unsigned long long)b->offset, caplen, b->total_len);
    const struct pcap_iface *ifc = &f->ifaces[iface];
    frame_fill(frame, &f->in, ifc, p + 28, caplen, len, iface_ts_us(ifc, t));
    return PCAP_FILE_FRAME;
}

static enum pcap_file_status pcapng_simple_packet(struct pcap_file *f,
                                                  const struct pcapng_block *b,
                                                  struct nm_frame *frame)
{
    if (f->n_ifaces == 0)
        return fail(f, "simple packet block at offset %llu comes before any interface "
                       "description block in its section",
                    (unsigned long long)b->offset);
    uint32_t len = rd32(f, b->p + 8);
    uint32_t room = b->total_len - 16u;
    /* The spec's caplen: min(original length, snaplen); the block's size
     * bounds it too (frame_fill applies the snaplen). */
    const struct pcap_iface *ifc = &f->ifaces[0];
    frame_fill(frame, &f->in, ifc, b->p + 12, len < room ? len : room, len, iface_ts_us(ifc, 0));
    return PCAP_FILE_FRAME;
}

/* Loads a packet-carrying block and turns it into a frame. */
static enum pcap_file_status pcapng_frame_block(struct pcap_file *f, struct pcapng_block *b,
                                                struct nm_frame *frame)
{
    enum pcap_file_status st;
    if (pcapng_block_load(f, b, b->type == PCAPNG_BT_SPB ? 16 : 32) != PCAP_FILE_FRAME)
        return PCAP_FILE_ERROR;
    if (b->type == PCAPNG_BT_SPB)
        st = pcapng_simple_packet(f, b, frame);
    else if (b->type == PCAPNG_BT_EPB)
        st = pcapng_packet(f, b, rd32(f, b->p + 8), frame);
    else
        st = pcapng_packet(f, b, rd16(f, b->p + 8), frame);
    if (st == PCAP_FILE_FRAME)
        input_consume(&f->in, b->total_len);
    return st;
}

static enum pcap_file_status pcapng_next(struct pcap_file *f, struct nm_frame *frame)
{
    for (;;) {
        struct pcapng_block b;
        enum pcap_file_status st = pcapng_block_begin(f, &b);
        if (st != PCAP_FILE_FRAME)
            return st;
        switch (b.type) {
        case PCAPNG_BT_SHB:
            st = pcapng_section(f, &b);
            break;
        case PCAPNG_BT_IDB:
            st = pcapng_interface(f, &b);
            break;
        case PCAPNG_BT_EPB:
        case PCAPNG_BT_SPB:
        case PCAPNG_BT_PB:
            return pcapng_frame_block(f, &b, frame);
        default:
            st = pcapng_block_skip(f, &b);
            break;
        }
        if (st != PCAP_FILE_FRAME)
            return st;
    }
}

/* ---- public interface ----------------------------------------------------- */

/* Reads the file header (pcapng: the first SHB), so that a file that is not
 * a capture at all fails at open, as it does with tcpdump -r. */
static int read_file_header(struct pcap_file *f)
{
    const uint8_t *p;
    if (input_peek(&f->in, 4, &p) < 4)
        return fail_bad_magic(f);
    uint32_t magic_le = rd32le(p);
    if (magic_le == PCAPNG_BT_SHB) {
        struct pcapng_block b;
        f->format = FORMAT_PCAPNG;
        if (pcapng_block_begin(f, &b) != PCAP_FILE_FRAME)
            return -1; /* cannot be EOF: 4 bytes are there */
        return pcapng_section(f, &b) == PCAP_FILE_FRAME ? 0 : -1;
    }
    if (classic_magic(f, magic_le))
        return classic_read_header(f) == 0 ? 0 : -1;
    fail_bad_magic(f);
    return -1;
}

struct pcap_file *pcap_file_open(const char *path, char *err, size_t errlen)
{
    int e;
    struct pcap_file *f = calloc(1, sizeof *f);
    if (!f) {
        e = ENOMEM;
        goto fail;
    }
    f->in.fd = -1;
    f->first_linktype = -1;
    f->name = strdup(strcmp(path, "-") == 0 ? "standard input" : path);
    e = f->name ? input_open(&f->in, path) : ENOMEM;
    if (e != 0)
        goto fail;
    if (read_file_header(f) != 0) {
        e = 0; /* f->err says why */
        goto fail;
    }
    return f;
fail:
    if (err && errlen > 0) {
        if (e != 0)
            snprintf(err, errlen, "netmoon: cannot open '%s': %s", path, strerror(e));
        else
            snprintf(err, errlen, "%s", f->err);
    }
    pcap_file_close(f);
    return NULL;
}

bool pcap_file_is_mapped(const struct pcap_file *f)
{
    return f->in.map != NULL;
}

enum pcap_file_status pcap_file_next(struct pcap_file *f, struct nm_frame *frame)
{
    if (f->failed)
        return PCAP_FILE_ERROR;
    if (f->classic_inplace)
        return classic_next_inplace(f, frame);
    return f->format == FORMAT_PCAP ? classic_next(f, frame) : pcapng_next(f, frame);
}

const char *pcap_file_error(const struct pcap_file *f)
{
    return f->err;
}

int pcap_file_linktype(const struct pcap_file *f)
{
    return f->first_linktype;
}

uint32_t pcap_file_snaplen(const struct pcap_file *f)
{
    return f->first_linktype < 0 ? 0 : f->first_snaplen;
}

uint64_t pcap_file_offset(const struct pcap_file *f)
{
    return f->in.offset;
}

void pcap_file_close(struct pcap_file *f)
{
    if (!f)
        return;
    input_close(&f->in);
    free(f->ifaces);
    free(f->name);
    free(f);
}
