/*
 * procs_scan.h: which process holds a socket inode, from proc(5): every
 * /proc/PID/fd/N of a socket is a symlink reading "socket:[INODE]" (as
 * nethogs and ss -p find owners), and /proc/PID/comm, /proc/PID/cmdline
 * name the process.
 *
 * Scanning all of /proc is the expensive part, so it is incremental: a
 * "new" scan reads only the pids not seen by earlier scans (a short-lived
 * curl is a new pid, and it must be caught before it exits), and a full
 * scan, which the caller rate-limits, starts over for sockets that
 * long-running processes open later.  A pid seen for the first time in
 * this network namespace (/proc/PID/ns/net) is "young": its fds are read
 * again, cheaply, on every young scan for PROCS_YOUNG_US, since a child
 * caught between fork and exec has no socket yet and a short-lived
 * client's socket lives about a millisecond.  Pids of other network
 * namespaces are not read: their sockets are not this namespace's.  A new
 * pid's namespace is looked at again for PROCS_NETNS_US, since `ip netns
 * exec` and container runtimes fork first and enter the namespace after.  The inode map is bounded; inodes
 * that do not fit are counted.
 *
 * Reading another user's /proc/PID/fd needs ptrace read access
 * (CAP_SYS_PTRACE, or the same user): after -Z those processes stay
 * unattributed and are counted as such.
 */
#ifndef NETMOON_PROCS_PROCS_SCAN_H
#define NETMOON_PROCS_PROCS_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "output/record.h"

struct procs_inode {
    uint64_t inode;             /* 0: empty slot */
    int32_t pid;
    char comm[NM_OWNER_COMM_MAX];
};

#define PROCS_YOUNG_MAX 1024
#define PROCS_YOUNG_US 500000ull
#define PROCS_NETNS_US 100000ull
#define PROCS_LIST_CHUNK 64u

struct procs_young {
    int32_t pid;
    uint64_t since_us;          /* monotonic time it was first seen */
    bool same_netns;            /* in this network namespace (last we looked) */
};

/* Called for every socket inode a scan sees for the first time, with the
 * fd that holds it in pid (for procs.c to read its addresses at once). */
typedef void procs_scan_fn(void *user, int32_t pid, int fd, uint64_t inode, const char *comm);

struct procs_scan {
    char root[64];              /* "/proc", or a test's directory */
    char netns[64];             /* readlink of root/self/ns/net */
    procs_scan_fn *on_new;      /* may be NULL */
    void *user;
    /* The listing each pid was last seen in: a pid absent from the
     * previous listing is new, even when its number was used before
     * (pids wrap at pid_max, 32768 on many systems). */
    uint16_t *seen;
    uint16_t listing, prev_listing;
    /* A new-pid listing in progress (a DIR *): it is read a chunk per
     * call, so one listing never delays the young scans much. */
    void *dir;
    uint32_t pid_limit;
    struct procs_inode *map;    /* open addressing on inode, linear probing */
    uint32_t mask;
    uint32_t used;
    uint64_t overflow;          /* inodes left out: map full */
    uint64_t other_netns;
    uint64_t last_pid;          /* /proc/loadavg's last pid at the last new scan */
    struct procs_young young[PROCS_YOUNG_MAX];  /* a ring; old entries are overwritten */
    uint32_t young_next;
};

/* Returns 0, or -1 when memory is short. */
int procs_scan_init(struct procs_scan *s, const char *root, uint32_t capacity);
void procs_scan_fini(struct procs_scan *s);

/* Reads the fds of every pid absent from the previous listing.  A
 * listing starts only when /proc/loadavg names a pid newer than at the
 * previous one, and goes PROCS_LIST_CHUNK entries per call.  Returns how
 * many socket inodes it had not seen before. */
unsigned procs_scan_new(struct procs_scan *s, uint64_t now_us);
/* Reads again the fds of pids first seen less than PROCS_YOUNG_US ago. */
unsigned procs_scan_young(struct procs_scan *s, uint64_t now_us);
/* How many young pids there are (approximate: entries still in time). */
unsigned procs_scan_young_count(const struct procs_scan *s, uint64_t now_us);
/* Forgets every inode and reads every pid (new ones become young). */
void procs_scan_full(struct procs_scan *s, uint64_t now_us);

const struct procs_inode *procs_scan_find(const struct procs_scan *s, uint64_t inode);

/* /proc/PID/cmdline with NULs as spaces, at most outlen - 1 bytes (*cut
 * tells when it was longer).  Returns 0, or -1 when the process is gone. */
int procs_read_cmdline(const char *root, int32_t pid, char *out, size_t outlen, bool *cut);
/* The same, for an owner the kernel named a while ago (comm as it was
 * then): pids are reused, so only while /proc/PID/comm still says comm.
 * Returns -1, out empty, when the pid is gone or another program's. */
int procs_read_cmdline_of(const char *root, int32_t pid, const char *comm, char *out,
                          size_t outlen, bool *cut);

#endif
