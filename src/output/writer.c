/*
 * writer.c: buffered fd output with one-time error reporting (see writer.h).
 */
#include "output/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int writer_open(struct writer *w, const char *path, bool append, char *err, size_t errlen)
{
    memset(w, 0, sizeof(*w));
    w->fd = -1;
    if (!path || strcmp(path, "-") == 0) {
        w->fd = STDOUT_FILENO;
        w->path = strdup("standard output");
    } else {
        int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
        w->fd = open(path, flags, 0644);
        if (w->fd < 0) {
            snprintf(err, errlen, "cannot open '%s' for writing: %s", path, strerror(errno));
            goto fail;
        }
        w->owns_fd = true;
        w->path = strdup(path);
    }
    w->buf = malloc(WRITER_BUF_SIZE);
    if (!w->buf || !w->path) {
        snprintf(err, errlen, "out of memory opening '%s'", path ? path : "-");
        goto fail;
    }
    return 0;
fail:
    writer_close(w);
    return -1;
}

static void writer_report(struct writer *w, int e)
{
    if (e == EPIPE) {
        w->pipe_closed = true;   /* the reader is gone: nothing to say */
    } else if (!w->failed) {
        fprintf(stderr, "netmoon: writing to %s failed: %s; further output to it is dropped\n",
                w->path, strerror(e));
    }
    w->failed = true;
}

int writer_flush(struct writer *w)
{
    size_t off = 0;

    if (w->failed) {
        w->dropped_bytes += w->len;
        w->len = 0;
        return -1;
    }
    while (off < w->len) {
        ssize_t n = write(w->fd, w->buf + off, w->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            writer_report(w, n < 0 ? errno : EIO);
            w->dropped_bytes += w->len - off;
            w->len = 0;
            return -1;
        }
        off += (size_t)n;
    }
    w->len = 0;
    return 0;
}

char *writer_reserve(struct writer *w, size_t n)
{
    if (w->len + n > WRITER_BUF_SIZE)
        writer_flush(w);
    return w->buf + w->len;
}

void writer_commit(struct writer *w, size_t n)
{
    w->len += n;
}

int writer_reopen(struct writer *w)
{
    if (!w->owns_fd)
        return 0;
    writer_flush(w);
    int fd = open(w->path, O_WRONLY | O_CREAT | O_CLOEXEC | O_APPEND, 0644);
    if (fd < 0) {
        fprintf(stderr, "netmoon: reopening '%s' failed: %s; still writing to the file it was\n",
                w->path, strerror(errno));
        return -1;
    }
    if (close(w->fd) != 0 && !w->failed)
        fprintf(stderr, "netmoon: closing %s failed: %s\n", w->path, strerror(errno));
    w->fd = fd;
    return 0;
}

bool writer_ok(const struct writer *w)
{
    return !w->failed;
}

bool writer_failed(const struct writer *w)
{
    return w->failed && !w->pipe_closed;
}

void writer_close(struct writer *w)
{
    if (w->buf && w->len)
        writer_flush(w);
    if (w->owns_fd && w->fd >= 0 && close(w->fd) != 0 && !w->failed)
        fprintf(stderr, "netmoon: closing %s failed: %s\n", w->path, strerror(errno));
    free(w->buf);
    free(w->path);
    memset(w, 0, sizeof(*w));
    w->fd = -1;
}
