/*
 * afpacket.h: live capture from an AF_PACKET socket with a memory-mapped
 * TPACKET_V3 receive ring, optionally one of several sockets in a
 * PACKET_FANOUT group (one socket per worker thread).
 *
 * Kernel interfaces: packet(7), Documentation/networking/packet_mmap.rst
 * (TPACKET_V3 blocks, tpacket_req3, block_status hand-over, PACKET_FANOUT,
 * PACKET_STATISTICS), Documentation/networking/filter.rst (SO_ATTACH_FILTER).
 *
 * Frames and link types
 *   - One Ethernet-framed interface (ARPHRD_ETHER, and ARPHRD_LOOPBACK whose
 *     frames carry a zeroed Ethernet header): a SOCK_RAW socket; frames are
 *     NM_LINKTYPE_ETHERNET exactly as on the wire.
 *   - "any" (ifindex 0) and every other device type (tun ARPHRD_NONE, GRE,
 *     ...): a SOCK_DGRAM socket, so the kernel hands over the network-layer
 *     packet whatever each device's link header is; each frame is then given
 *     a Linux cooked v2 (SLL2, 20 bytes) header built from the sockaddr_ll
 *     the ring stores after every tpacket3_hdr, written in place in the ring's
 *     headroom (no copy).  Frames are NM_LINKTYPE_LINUX_SLL2.
 *   - The kernel filter runs on what the socket type sees: the Ethernet frame
 *     for SOCK_RAW, the bare IP packet for SOCK_DGRAM.  afpacket_link_info()
 *     tells the caller which link type to compile the kernel filter for
 *     (NM_LINKTYPE_ETHERNET or NM_LINKTYPE_RAW) and which link type the
 *     frames will have.
 *   - VLAN: the kernel strips the outermost 802.1Q/802.1ad tag into metadata
 *     (tp_vlan_tci, TP_STATUS_VLAN_VALID).  It is put back in front of the
 *     EtherType (Ethernet) or after the SLL2 header (SLL2 protocol becomes the
 *     TPID), so decoders and flow keys see the VLAN; caplen and wirelen grow
 *     by the 4 tag bytes, which is what crossed the wire.
 *   - Loopback: the kernel shows every packet on "lo" twice (sent and
 *     received); the PACKET_OUTGOING copy on the loopback device is skipped,
 *     as tcpdump does, and counted in loop_outgoing_skipped.
 *
 * Filtering before packets arrive: the socket is created with protocol 0, so
 * it receives nothing until bind().  Without fanout the caller's filter is
 * attached before bind, so no unfiltered packet can enter the ring.  With
 * fanout, joining needs a bound socket, and between bind and join the socket
 * would see packets meant for its siblings; so a reject-all filter is
 * attached before bind, the group is joined, and then the caller's filter
 * replaces it (SO_ATTACH_FILTER swaps atomically).  Nothing is drained:
 * nothing unwanted ever reached the ring.  The cost is that packets hashed to
 * this socket in the microseconds between join and the swap are not
 * captured, which is indistinguishable from starting capture a little later.
 *
 * Threads: one thread owns a socket (poll, stats, close).  Only
 * afpacket_ring_occupancy() may be called from another thread.
 */
#ifndef NETMOON_CAPTURE_AFPACKET_H
#define NETMOON_CAPTURE_AFPACKET_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode/decode.h"

#define AFPACKET_DEFAULT_BLOCK_SIZE (1u << 20)          /* 1 MiB */
#define AFPACKET_DEFAULT_RING_SIZE (32ull << 20)        /* 32 MiB per socket */
#define AFPACKET_DEFAULT_FRAME_SIZE 2048u
#define AFPACKET_DEFAULT_RETIRE_MS 64u
#define AFPACKET_MAX_BLOCK_SIZE (1u << 30)

/* PACKET_FANOUT_HASH with PACKET_FANOUT_FLAG_DEFRAG: the kernel picks the
 * socket from a symmetric flow hash, so both directions of a connection land
 * on one worker, and reassembles IP fragments first so that they hash with
 * their flow (values from <linux/if_packet.h>). */
#define AFPACKET_FANOUT_HASH_DEFRAG (0x0000u | 0x8000u)

enum afpacket_status {
    AFPACKET_OK = 0,
    AFPACKET_ERR_PERM = -1,         /* no CAP_NET_RAW */
    AFPACKET_ERR_NO_IFACE = -2,     /* no such interface */
    AFPACKET_ERR_IFACE_DOWN = -3,   /* down at open, or went down while polling */
    AFPACKET_ERR_IFACE_GONE = -4,   /* removed while polling: close the socket */
    AFPACKET_ERR_CONFIG = -5,       /* bad ring parameters */
    AFPACKET_ERR_SOCKOPT = -6,      /* a setsockopt failed (named in the message) */
    AFPACKET_ERR_NOMEM = -7,        /* mmap of the ring or an allocation failed */
    AFPACKET_ERR_SYS = -8,          /* another system call failed */
};

struct afpacket_config {
    const char *ifname;             /* interface name or "any" */
    uint32_t block_size;            /* power of two, multiple of the page size */
    uint32_t block_count;           /* 0: ring_size / block_size */
    uint64_t ring_size;             /* bytes, used when block_count is 0 */
    uint32_t frame_size;            /* multiple of 16; divides block_size */
    uint32_t retire_ms;             /* a partly filled block is handed over after this */
    bool promisc;                   /* ignored on "any" (no single device) */
    const struct sock_fprog *filter;/* NULL: everything; compiled for afpacket_link_info's type */
    bool fanout;
    /* false: the kernel picks an unused group id (afpacket_fanout_group
     * tells which; it can be 0: the kernel counts ids from 0 after boot);
     * true: join (or create) group fanout_group, as the other workers of
     * one process do with the first one's id.  An id of 0 cannot mean
     * "pick one": the second worker would then start a group of its own,
     * and both would see every packet. */
    bool fanout_join;
    uint16_t fanout_group;          /* with fanout_join: the group's id */
    uint16_t fanout_mode;           /* PACKET_FANOUT_* | flags, e.g. AFPACKET_FANOUT_HASH_DEFRAG */
};

/* Fills defaults: 1 MiB blocks, 32 MiB ring, 64 ms retire, promiscuous,
 * no filter, no fanout. */
void afpacket_config_init(struct afpacket_config *cfg, const char *ifname);
/* Sets the ring size, and smaller blocks for a small ring: at least 8
 * blocks so the kernel can fill some while we read others (retiring a
 * block is the unit of hand-over), but blocks of no less than 128 KiB so a
 * 64 KiB GRO frame still fits one. */
void afpacket_config_set_ring_size(struct afpacket_config *cfg, uint64_t ring_size);

struct afpacket_link {
    int ifindex;                    /* 0 for "any" */
    int hatype;                     /* ARPHRD_*, -1 for "any" */
    bool cooked;                    /* SOCK_DGRAM + SLL2 frames */
    int frame_linktype;             /* what nm_frame.linktype will be */
    int filter_linktype;            /* compile the kernel filter for this */
};

/* What afpacket_open would use for ifname, so the caller can compile the
 * kernel filter before opening.  Errors as for afpacket_open. */
int afpacket_link_info(const char *ifname, struct afpacket_link *out, char *err, size_t errlen);

struct afpacket_sock;

/* Opens, configures and binds the socket (see the header comment for the
 * order).  On failure returns a negative afpacket_status with a message in
 * err naming the cause and what to do. */
int afpacket_open(const struct afpacket_config *cfg, struct afpacket_sock **out,
                  char *err, size_t errlen);
/* The fanout group a socket joined: without fanout_join the kernel picked
 * it, and the other sockets of the group must join with this id. */
uint16_t afpacket_fanout_group(const struct afpacket_sock *s);
/* Stops the kernel from adding packets to the ring (a reject-all filter)
 * while what it holds can still be read: a final drain then leaves
 * nothing behind that the kernel counted as captured. */
int afpacket_stop_intake(struct afpacket_sock *s);

/* Called for each frame.  frame->data points into the ring: it stays
 * valid until the block's afpacket_block_fn runs, or until afpacket_poll
 * returns when the callback stopped early (the block stays ours), except
 * when afpacket_frame_in_scratch says it is a copy, valid only during the
 * call.  Return false to stop: afpacket_poll returns and the next call
 * resumes with the following frame. */
typedef bool afpacket_frame_fn(void *user, const struct nm_frame *frame);

/* Called once a block's frames are all delivered, just before the block is
 * handed back to the kernel: the last moment its frames may be read. */
typedef void afpacket_block_fn(void *user);
void afpacket_set_block_done(struct afpacket_sock *s, afpacket_block_fn *fn, void *user);

/* True when the frame's bytes were copied to the socket's one scratch
 * buffer (a VLAN tag or SLL2 header put back in a frame without headroom
 * in front): the next such frame overwrites them. */
bool afpacket_frame_in_scratch(const struct afpacket_sock *s, const struct nm_frame *frame);

/* Hands every frame of every ready block to cb, giving each block back to the
 * kernel once walked.  Waits up to timeout_ms (-1: forever) when no block is
 * ready.  Returns the number of frames delivered (0 on timeout or EINTR), or
 * a negative afpacket_status: AFPACKET_ERR_IFACE_DOWN (reported once; the
 * kernel resumes delivery if the interface comes back up, so the caller may
 * keep polling, and a later removal is then still reported as GONE),
 * AFPACKET_ERR_IFACE_GONE (close the socket), AFPACKET_ERR_SYS;
 * afpacket_error() has the message. */
int afpacket_poll(struct afpacket_sock *s, int timeout_ms, afpacket_frame_fn *cb, void *user);

struct afpacket_stats {
    /* From PACKET_STATISTICS (struct tpacket_stats_v3), accumulated here
     * because the kernel zeroes its counters on every read. */
    uint64_t kernel_packets;        /* passed the filter (includes kernel_drops) */
    uint64_t kernel_drops;          /* passed the filter, but the ring was full */
    uint64_t kernel_freeze_q;       /* times the ring filled and the queue froze */
    /* Counted by afpacket_poll. */
    uint64_t frames;                /* handed to the callback */
    uint64_t bytes;                 /* sum of their wirelen */
    uint64_t blocks;                /* blocks walked and returned */
    uint64_t vlan_reinserted;
    uint64_t loop_outgoing_skipped; /* duplicate loopback copies not delivered */
    uint64_t malformed;             /* ring headers failing bounds checks (kernel bug) */
};

/* Reads (and so resets) the kernel counters, adds them to the socket's
 * totals, and copies the totals to *out.  Call from the owning thread, e.g.
 * once a second and before close. */
int afpacket_stats(struct afpacket_sock *s, struct afpacket_stats *out);

/* Blocks currently owned by user space (filled, not yet walked) and the
 * total: a fill level of the ring, safe from any thread. */
void afpacket_ring_occupancy(const struct afpacket_sock *s, uint32_t *user_blocks,
                             uint32_t *total_blocks);

int afpacket_fd(const struct afpacket_sock *s);
int afpacket_linktype(const struct afpacket_sock *s);
const char *afpacket_ifname(const struct afpacket_sock *s);
const char *afpacket_error(const struct afpacket_sock *s);

/* Drops promiscuous membership, unmaps the ring, closes the socket. */
void afpacket_close(struct afpacket_sock *s);

#endif
