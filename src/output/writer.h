/*
 * writer.h: a buffered output stream over a file descriptor.
 *
 * Outputs format into a large buffer and write it in big chunks from the
 * output thread, never per record.  A closed pipe (`netmoon ... | head`)
 * ends output quietly; any other write error (disk full, I/O error) is
 * reported once, naming the path, and later writes are dropped and counted.
 */
#ifndef NETMOON_OUTPUT_WRITER_H
#define NETMOON_OUTPUT_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WRITER_BUF_SIZE (256u * 1024u)

struct writer {
    int fd;
    bool owns_fd;
    bool failed;          /* an error was reported: further output is dropped */
    bool pipe_closed;     /* the reader went away (EPIPE) */
    char *path;           /* for messages; "stdout" for fd 1 */
    char *buf;
    size_t len;
    uint64_t dropped_bytes;
};

/* path NULL or "-" means standard output.  append opens with O_APPEND. */
int writer_open(struct writer *w, const char *path, bool append, char *err, size_t errlen);
/* Reserves room for n bytes (n <= WRITER_BUF_SIZE / 2) and returns where to
 * write them; commit with writer_commit.  Flushes first if needed. */
char *writer_reserve(struct writer *w, size_t n);
void writer_commit(struct writer *w, size_t n);
int writer_flush(struct writer *w);
/* Flushes, closes and opens the same path again (appending), for log
 * rotation.  On failure the message names the path and output goes on to
 * the old file.  Standard output is left alone. */
int writer_reopen(struct writer *w);
void writer_close(struct writer *w);
/* Whether output can still reach its reader. */
bool writer_ok(const struct writer *w);
/* Whether a write failed for a reason other than a reader that went away
 * (a closed pipe ends output quietly and is not a failure). */
bool writer_failed(const struct writer *w);

#endif
