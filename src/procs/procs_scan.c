/*
 * procs_scan.c: socket inode → process from /proc/PID/fd (proc(5)).
 * Every read is bounded by its buffer; names that are not plain decimal
 * pids or "socket:[N]" links are skipped.
 */
#include "procs/procs_scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROCS_PID_LIMIT_MAX 4194304u    /* PID_MAX_LIMIT on 64-bit kernels */

/* Parses a whole string of decimal digits; false for anything else. */
static bool procs_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

static uint32_t procs_read_pid_limit(const char *root)
{
    char path[96], buf[32];
    uint64_t v;
    FILE *f;

    snprintf(path, sizeof(path), "%s/sys/kernel/pid_max", root);
    f = fopen(path, "re");
    if (!f)
        return PROCS_PID_LIMIT_MAX;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    buf[strcspn(buf, "\n")] = 0;
    if (!procs_parse_u64(buf, &v) || v == 0 || v > PROCS_PID_LIMIT_MAX)
        return PROCS_PID_LIMIT_MAX;
    return (uint32_t)v;
}

/* "net:[4026531840]"; empty when unreadable. */
static void procs_read_netns(const char *root, const char *pid, char *out, size_t outlen)
{
    char path[96];
    ssize_t n;

    snprintf(path, sizeof(path), "%s/%.20s/ns/net", root, pid);
    n = readlink(path, out, outlen - 1);
    out[n > 0 ? n : 0] = 0;
}

int procs_scan_init(struct procs_scan *s, const char *root, uint32_t capacity)
{
    uint32_t size = 1024;

    memset(s, 0, sizeof(*s));
    snprintf(s->root, sizeof(s->root), "%s", root);
    while (size < capacity + capacity / 3 && size < (1u << 26))
        size <<= 1;
    s->pid_limit = procs_read_pid_limit(root);
    procs_read_netns(root, "self", s->netns, sizeof(s->netns));
    s->seen = calloc(s->pid_limit, sizeof(*s->seen));
    s->map = calloc(size, sizeof(*s->map));
    s->mask = size - 1;
    if (!s->seen || !s->map) {
        procs_scan_fini(s);
        return -1;
    }
    return 0;
}

static void procs_listing_end(struct procs_scan *s);

void procs_scan_fini(struct procs_scan *s)
{
    procs_listing_end(s);
    free(s->seen);
    free(s->map);
    s->seen = NULL;
    s->map = NULL;
}

static uint32_t procs_inode_slot(uint64_t inode)
{
    inode *= 0x9e3779b97f4a7c15ull;
    return (uint32_t)(inode >> 32);
}

const struct procs_inode *procs_scan_find(const struct procs_scan *s, uint64_t inode)
{
    for (uint32_t i = procs_inode_slot(inode) & s->mask;; i = (i + 1) & s->mask) {
        if (s->map[i].inode == inode)
            return &s->map[i];
        if (s->map[i].inode == 0)
            return NULL;
    }
}

/* The first holder wins: a socket inherited across fork is the parent's.
 * Returns 1 when the inode is new. */
static int procs_scan_insert(struct procs_scan *s, uint64_t inode, int32_t pid, const char *comm)
{
    uint32_t i = procs_inode_slot(inode) & s->mask;

    /* Three quarters full: probes would grow long, so stop here. */
    if (s->used >= s->mask - s->mask / 4) {
        s->overflow++;
        return 0;
    }
    for (; s->map[i].inode; i = (i + 1) & s->mask)
        if (s->map[i].inode == inode)
            return 0;
    s->map[i].inode = inode;
    s->map[i].pid = pid;
    snprintf(s->map[i].comm, sizeof(s->map[i].comm), "%s", comm);
    s->used++;
    return 1;
}

/* Reads a small /proc file into buf; returns bytes read or -1. */
static ssize_t procs_read_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, buf, len);
    close(fd);
    return n;
}

static void procs_read_comm(const char *root, int32_t pid, char out[NM_OWNER_COMM_MAX])
{
    char path[96];
    ssize_t n;

    snprintf(path, sizeof(path), "%s/%d/comm", root, (int)pid);
    n = procs_read_file(path, out, NM_OWNER_COMM_MAX - 1);
    if (n < 0)
        n = 0;
    out[n] = 0;
    out[strcspn(out, "\n")] = 0;
}

int procs_read_cmdline(const char *root, int32_t pid, char *out, size_t outlen, bool *cut)
{
    char path[96];
    ssize_t n;

    *cut = false;
    out[0] = 0;
    if (outlen < 2)
        return -1;
    snprintf(path, sizeof(path), "%s/%d/cmdline", root, (int)pid);
    /* Two bytes more than kept (a last byte and its NUL), to know whether
     * it was cut. */
    char buf[NM_OWNER_CMDLINE_MAX + 2];
    size_t want = outlen + 1 < sizeof(buf) ? outlen + 1 : sizeof(buf);
    n = procs_read_file(path, buf, want);
    if (n < 0)
        return -1;
    bool filled = (size_t)n == want;
    while (n > 0 && buf[n - 1] == 0)
        n--;                                  /* the terminating NUL(s) */
    if ((size_t)n >= outlen || filled) {
        if ((size_t)n > outlen - 1)
            n = (ssize_t)outlen - 1;
        *cut = true;
    }
    for (ssize_t i = 0; i < n; i++)
        out[i] = buf[i] == 0 ? ' ' : buf[i];
    out[n] = 0;
    return 0;
}

int procs_read_cmdline_of(const char *root, int32_t pid, const char *comm, char *out,
                          size_t outlen, bool *cut)
{
    char now[NM_OWNER_COMM_MAX];

    procs_read_comm(root, pid, now);
    if (strcmp(now, comm) == 0)
        return procs_read_cmdline(root, pid, out, outlen, cut);
    *cut = false;
    if (outlen)
        out[0] = 0;
    return -1;
}

static bool procs_socket_inode(const char *link, uint64_t *inode)
{
    char digits[24];
    size_t len = strlen(link);

    if (len < 10 || strncmp(link, "socket:[", 8) != 0 || link[len - 1] != ']' ||
        len - 9 >= sizeof(digits))
        return false;
    memcpy(digits, link + 8, len - 9);
    digits[len - 9] = 0;
    return procs_parse_u64(digits, inode) && *inode != 0;
}

static int procs_fd_number(const char *name)
{
    uint64_t v;
    return procs_parse_u64(name, &v) && v < (1u << 30) ? (int)v : -1;
}

/* Returns how many socket inodes were new. */
static unsigned procs_scan_pid(struct procs_scan *s, int32_t pid)
{
    char path[96], link[64], comm[NM_OWNER_COMM_MAX] = "";
    struct dirent *de;
    uint64_t inode;
    unsigned fresh = 0;
    DIR *dir;

    snprintf(path, sizeof(path), "%s/%d/fd", s->root, (int)pid);
    dir = opendir(path);
    if (!dir)
        return 0;                             /* gone, or not ours to read */
    while ((de = readdir(dir)) != NULL) {
        ssize_t n = readlinkat(dirfd(dir), de->d_name, link, sizeof(link) - 1);
        if (n <= 0)
            continue;
        link[n] = 0;
        if (!procs_socket_inode(link, &inode))
            continue;
        if (!comm[0])
            procs_read_comm(s->root, pid, comm);
        if (procs_scan_insert(s, inode, pid, comm)) {
            fresh++;
            if (s->on_new)
                s->on_new(s->user, pid, procs_fd_number(de->d_name), inode, comm);
        }
    }
    closedir(dir);
    return fresh;
}

static bool procs_same_netns(const struct procs_scan *s, const char *pid)
{
    char ns[64];

    if (!s->netns[0])
        return true;                          /* cannot tell: read everything */
    procs_read_netns(s->root, pid, ns, sizeof(ns));
    return !ns[0] || strcmp(ns, s->netns) == 0;
}

static bool procs_listing_begin(struct procs_scan *s)
{
    if (!(s->dir = opendir(s->root)))
        return false;
    s->prev_listing = s->listing;
    if (++s->listing == 0)
        s->listing = 1;                       /* 0 means never seen */
    return true;
}

static void procs_listing_end(struct procs_scan *s)
{
    if (s->dir)
        closedir(s->dir);
    s->dir = NULL;
}

/* Reads up to max entries (0: all) of the listing in progress. */
static unsigned procs_listing_step(struct procs_scan *s, bool only_new, uint64_t now_us,
                                   unsigned max)
{
    uint16_t prev = s->prev_listing;
    unsigned fresh = 0, read = 0;
    struct dirent *de;
    uint64_t pid;

    while (s->dir && (max == 0 || read++ < max)) {
        if (!(de = readdir(s->dir))) {
            procs_listing_end(s);
            break;
        }
        if (!procs_parse_u64(de->d_name, &pid) || pid == 0 || pid >= s->pid_limit)
            continue;
        bool listed_before = s->seen[pid] == prev && prev != 0;
        s->seen[pid] = s->listing;
        if (only_new && listed_before)
            continue;
        bool same = procs_same_netns(s, de->d_name);
        /* New since the previous listing, whichever kind it was (a full
         * scan must not hide a new pid from the young scans); on the
         * first listing nothing is new. */
        if (!listed_before && prev != 0) {
            struct procs_young *y = &s->young[s->young_next];
            y->pid = (int32_t)pid;
            y->since_us = now_us;
            y->same_netns = same;
            s->young_next = (s->young_next + 1) % PROCS_YOUNG_MAX;
        }
        if (!same) {
            s->other_netns++;
            continue;
        }
        fresh += procs_scan_pid(s, (int32_t)pid);
    }
    return fresh;
}

/* The last pid the kernel handed out: the fifth field of /proc/loadavg
 * (proc(5)); 0 when unreadable. */
static uint64_t procs_last_pid(const char *root)
{
    char path[96], buf[128];
    uint64_t pid;
    ssize_t n;

    snprintf(path, sizeof(path), "%s/loadavg", root);
    n = procs_read_file(path, buf, sizeof(buf) - 1);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    buf[strcspn(buf, "\n")] = 0;
    char *last = strrchr(buf, ' ');
    return last && procs_parse_u64(last + 1, &pid) ? pid : 0;
}

unsigned procs_scan_new(struct procs_scan *s, uint64_t now_us)
{
    if (!s->dir) {
        /* Reading /proc/loadavg costs far less than listing /proc: no
         * new pid since the last listing, nothing to list. */
        uint64_t last = procs_last_pid(s->root);
        if (last && last == s->last_pid)
            return 0;
        if (!procs_listing_begin(s))
            return 0;
        s->last_pid = last;
    }
    return procs_listing_step(s, true, now_us, PROCS_LIST_CHUNK);
}

unsigned procs_scan_young(struct procs_scan *s, uint64_t now_us)
{
    unsigned fresh = 0;

    for (unsigned i = 0; i < PROCS_YOUNG_MAX; i++) {
        struct procs_young *y = &s->young[i];
        if (y->pid <= 0 || y->since_us + PROCS_YOUNG_US <= now_us)
            continue;
        if (!y->same_netns) {
            char name[16];
            if (y->since_us + PROCS_NETNS_US <= now_us)
                continue;
            snprintf(name, sizeof(name), "%d", (int)y->pid);
            if (!(y->same_netns = procs_same_netns(s, name)))
                continue;
        }
        fresh += procs_scan_pid(s, y->pid);
    }
    return fresh;
}

unsigned procs_scan_young_count(const struct procs_scan *s, uint64_t now_us)
{
    unsigned n = 0;

    for (unsigned i = 0; i < PROCS_YOUNG_MAX; i++)
        n += s->young[i].pid > 0 && s->young[i].since_us + PROCS_YOUNG_US > now_us;
    return n;
}

void procs_scan_full(struct procs_scan *s, uint64_t now_us)
{
    s->last_pid = procs_last_pid(s->root);
    memset(s->map, 0, ((size_t)s->mask + 1) * sizeof(*s->map));
    s->used = 0;
    procs_listing_end(s);
    if (procs_listing_begin(s))
        (void)procs_listing_step(s, false, now_us, 0);
}
