/*
 * fuzz_pcap_reader.c: libFuzzer target for the capture file reader
 * (src/capture/pcap_file.c: classic pcap in all its magics, pcapng).
 *
 * Input: the bytes of a capture file.  pcap_file_open() takes a path, so
 * the bytes are handed over without touching src/ or the disk, twice:
 *   - as a memfd (a regular file: the reader maps it and walks in place);
 *   - as a pipe (not mappable: the reader's streaming buffer path),
 * both opened through /proc/self/fd/N.  The reader promises the same frames
 * and the same message whichever way a file is read, so the two readings
 * are compared (frame by frame through a digest, the final status, and the
 * error text with the path taken out).  Every frame byte is read, so ASan
 * sees a frame that points outside the buffer.
 * Seeds: whole small files from ../shared/pcaps (make-seeds.py).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capture/pcap_file.h"
#include "fuzz.h"

struct reading {
    bool opened;
    enum pcap_file_status last;
    uint64_t frames;
    uint64_t digest;      /* FNV-1a over every frame's fields and bytes */
    int linktype;
    uint32_t snaplen;
    char msg[512];        /* open or damage message, path replaced by "<in>" */
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Messages name the path, which differs between the two readings. */
static void copy_without_path(char *out, size_t outlen, const char *msg, const char *path)
{
    size_t plen = strlen(path), n = 0;
    while (*msg && n + 5 < outlen) {
        if (strncmp(msg, path, plen) == 0) {
            memcpy(out + n, "<in>", 4);
            n += 4;
            msg += plen;
        } else {
            out[n++] = *msg++;
        }
    }
    out[n] = '\0';
}

static void read_all(int fd, struct reading *r)
{
    char path[64], err[512];
    struct nm_frame frame;

    memset(r, 0, sizeof *r);
    r->digest = 0xcbf29ce484222325ull;
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct pcap_file *f = pcap_file_open(path, err, sizeof err);
    if (!f) {
        copy_without_path(r->msg, sizeof r->msg, err, path);
        FUZZ_ASSERT(strstr(err, "No such file") == NULL,
                    "%s: the harness needs /proc mounted", err);
        return;
    }
    r->opened = true;
    for (;;) {
        memset(&frame, 0xa5, sizeof frame); /* stale fields must not leak through */
        r->last = pcap_file_next(f, &frame);
        if (r->last != PCAP_FILE_FRAME)
            break;
        FUZZ_ASSERT(frame.caplen <= PCAP_FILE_MAX_RECORD, "caplen %u", frame.caplen);
        FUZZ_ASSERT(frame.caplen == 0 || frame.data != NULL, "caplen %u, no data", frame.caplen);
        r->frames++;
        r->digest = fnv(r->digest, &frame.caplen, sizeof frame.caplen);
        r->digest = fnv(r->digest, &frame.wirelen, sizeof frame.wirelen);
        r->digest = fnv(r->digest, &frame.ts_us, sizeof frame.ts_us);
        r->digest = fnv(r->digest, &frame.linktype, sizeof frame.linktype);
        r->digest = fnv(r->digest, &frame.ts_invalid, sizeof frame.ts_invalid);
        if (frame.caplen)
            r->digest = fnv(r->digest, frame.data, frame.caplen);
    }
    if (r->last == PCAP_FILE_ERROR) {
        const char *m = pcap_file_error(f);
        FUZZ_ASSERT(m[0] != '\0', "PCAP_FILE_ERROR without a message");
        copy_without_path(r->msg, sizeof r->msg, m, path);
    }
    r->linktype = pcap_file_linktype(f);
    r->snaplen = pcap_file_snaplen(f);
    pcap_file_close(f);
}

static bool write_all(int fd, const uint8_t *data, size_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        size -= (size_t)n;
    }
    return true;
}

static void read_from_memfd(const uint8_t *data, size_t size, struct reading *r)
{
    int fd = memfd_create("fuzz-pcap", MFD_CLOEXEC);
    FUZZ_ASSERT(fd >= 0, "memfd_create: %s", strerror(errno));
    FUZZ_ASSERT(write_all(fd, data, size), "writing the memfd: %s", strerror(errno));
    read_all(fd, r);
    close(fd);
}

/* Returns false when the input does not fit in a pipe buffer (the write
 * end is non-blocking, since nobody reads until it is closed). */
static bool read_from_pipe(const uint8_t *data, size_t size, struct reading *r)
{
    int p[2];
    FUZZ_ASSERT(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
    if (size > 65536)
        (void)fcntl(p[1], F_SETPIPE_SZ, (int)(size < (1u << 20) ? size : (1u << 20)));
    (void)fcntl(p[1], F_SETFL, O_NONBLOCK);
    bool fits = write_all(p[1], data, size);
    close(p[1]);
    if (fits)
        read_all(p[0], r);
    close(p[0]);
    return fits;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct reading mapped, streamed;

    read_from_memfd(data, size, &mapped);
    if (!read_from_pipe(data, size, &streamed))
        return 0;
    FUZZ_ASSERT(mapped.opened == streamed.opened && mapped.last == streamed.last &&
                    mapped.frames == streamed.frames && mapped.digest == streamed.digest &&
                    mapped.linktype == streamed.linktype && mapped.snaplen == streamed.snaplen &&
                    strcmp(mapped.msg, streamed.msg) == 0,
                "mapped and streamed readings differ:\n"
                "  mapped:   opened %d status %d, %llu frames, digest %016llx, link %d, snap %u: %s\n"
                "  streamed: opened %d status %d, %llu frames, digest %016llx, link %d, snap %u: %s",
                mapped.opened, (int)mapped.last, (unsigned long long)mapped.frames,
                (unsigned long long)mapped.digest, mapped.linktype, mapped.snaplen, mapped.msg,
                streamed.opened, (int)streamed.last, (unsigned long long)streamed.frames,
                (unsigned long long)streamed.digest, streamed.linktype, streamed.snaplen,
                streamed.msg);
    return 0;
}
