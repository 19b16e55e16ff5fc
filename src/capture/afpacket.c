/*
 * afpacket.c: AF_PACKET TPACKET_V3 receive ring with PACKET_FANOUT
 * (packet(7); Documentation/networking/packet_mmap.rst; socket filters per
 * Documentation/networking/filter.rst).  See afpacket.h for the design:
 * socket type per device, SLL2 and VLAN reconstruction, filter ordering.
 */
#include "capture/afpacket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture/iface.h"

#define SLL2_HDR_LEN 20u
#define VLAN_TAG_LEN 4u
#define ETH_ADDRS_LEN 12u /* destination + source MAC, before the EtherType */

/* Bytes from the start of a frame slot that belong to the kernel's headers
 * (tpacket3_hdr then sockaddr_ll); anything between there and tp_mac is
 * headroom we may write into while the block is ours. */
#define RING_HDR_END (TPACKET_ALIGN(sizeof(struct tpacket3_hdr)) + sizeof(struct sockaddr_ll))

struct afpacket_sock {
    int fd;
    int ifindex;
    int lo_ifindex;              /* the loopback device, for duplicate skipping */
    bool cooked;
    bool promisc_added;
    bool down_reported;          /* AFPACKET_ERR_IFACE_DOWN returned, not yet up */
    int linktype;
    uint8_t *ring;
    size_t ring_len;
    uint32_t block_size, block_count;
    /* Resume point inside the current block when a callback stopped early. */
    uint32_t cur_block;
    uint32_t resume_index;       /* next packet number in cur_block */
    uint32_t resume_offset;      /* its byte offset, valid when resume_index > 0 */
    struct afpacket_stats totals;
    uint8_t *scratch;            /* block_size bytes, used only without headroom */
    afpacket_block_fn *block_done;  /* called before a walked block is handed back */
    void *block_done_user;
    char ifname[IFNAMSIZ];
    char err[256];
    uint16_t fanout_group;       /* the group joined (with cfg->fanout) */
};

/* <linux/if_packet.h>, Linux 4.2: the kernel picks an unused group id. */
#ifndef PACKET_FANOUT_FLAG_UNIQUEID
#define PACKET_FANOUT_FLAG_UNIQUEID 0x2000
#endif

uint16_t afpacket_fanout_group(const struct afpacket_sock *s)
{
    return s->fanout_group;
}

void afpacket_config_set_ring_size(struct afpacket_config *cfg, uint64_t ring_size)
{
    uint32_t bs = AFPACKET_DEFAULT_BLOCK_SIZE;

    while (bs > (128u << 10) && ring_size / bs < 8)
        bs /= 2;
    cfg->ring_size = ring_size;
    cfg->block_size = bs;
}

void afpacket_config_init(struct afpacket_config *cfg, const char *ifname)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ifname = ifname;
    cfg->block_size = AFPACKET_DEFAULT_BLOCK_SIZE;
    cfg->ring_size = AFPACKET_DEFAULT_RING_SIZE;
    cfg->frame_size = AFPACKET_DEFAULT_FRAME_SIZE;
    cfg->retire_ms = AFPACKET_DEFAULT_RETIRE_MS;
    cfg->promisc = true;
    cfg->fanout_mode = AFPACKET_FANOUT_HASH_DEFRAG;
}

static bool is_any(const char *ifname)
{
    return strcmp(ifname, IFACE_ANY) == 0;
}

int afpacket_link_info(const char *ifname, struct afpacket_link *out, char *err, size_t errlen)
{
    int rc = AFPACKET_OK, fd = -1;
    memset(out, 0, sizeof(*out));
    out->hatype = -1;
    if (is_any(ifname)) {
        out->cooked = true;
        goto types;
    }
    int ic = iface_check(ifname, &out->ifindex, err, errlen);
    if (ic == IFACE_ERR_NOT_FOUND) {
        rc = AFPACKET_ERR_NO_IFACE;
        goto out;
    }
    if (ic == IFACE_ERR_DOWN) {
        rc = AFPACKET_ERR_IFACE_DOWN;
        goto out;
    }
    if (ic != IFACE_OK) {
        rc = AFPACKET_ERR_SYS;
        goto out;
    }
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (fd < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) {
        snprintf(err, errlen, "cannot read the hardware type of %s (SIOCGIFHWADDR): %s", ifname,
                 strerror(errno));
        rc = errno == ENODEV ? AFPACKET_ERR_NO_IFACE : AFPACKET_ERR_SYS;
        goto out;
    }
    out->hatype = ifr.ifr_hwaddr.sa_family;
    out->cooked = !(out->hatype == ARPHRD_ETHER || out->hatype == ARPHRD_LOOPBACK);
types:
    out->frame_linktype = out->cooked ? NM_LINKTYPE_LINUX_SLL2 : NM_LINKTYPE_ETHERNET;
    out->filter_linktype = out->cooked ? NM_LINKTYPE_RAW : NM_LINKTYPE_ETHERNET;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static int check_ring_config(const struct afpacket_config *cfg, uint32_t *blocks,
                             char *err, size_t errlen)
{
    long page = sysconf(_SC_PAGESIZE);
    uint32_t bs = cfg->block_size, fs = cfg->frame_size;
    if (page <= 0)
        page = 4096;
    if (bs < (uint32_t)page || bs > AFPACKET_MAX_BLOCK_SIZE || (bs & (bs - 1)) != 0) {
        snprintf(err, errlen,
                 "ring block size %u is not a power of two between the page size (%ld) and %u",
                 bs, page, AFPACKET_MAX_BLOCK_SIZE);
        return AFPACKET_ERR_CONFIG;
    }
    if (fs < RING_HDR_END || fs % TPACKET_ALIGNMENT != 0 || fs > bs || bs % fs != 0) {
        snprintf(err, errlen, "ring frame size %u must be a multiple of %d, at least %zu, "
                 "and divide the block size %u", fs, TPACKET_ALIGNMENT, (size_t)RING_HDR_END, bs);
        return AFPACKET_ERR_CONFIG;
    }
    uint64_t n = cfg->block_count ? cfg->block_count : cfg->ring_size / bs;
    if (n < 2 || n > UINT32_MAX / (bs / fs)) {
        snprintf(err, errlen, "ring of %llu blocks of %u bytes: need at least 2 blocks "
                 "(raise the buffer size)", (unsigned long long)n, bs);
        return AFPACKET_ERR_CONFIG;
    }
    *blocks = (uint32_t)n;
    return AFPACKET_OK;
}

static int set_opt(int fd, int level, int name, const void *val, socklen_t len,
                   const char *optname, const char *ifname, char *err, size_t errlen)
{
    if (setsockopt(fd, level, name, val, len) == 0)
        return AFPACKET_OK;
    int e = errno;
    snprintf(err, errlen, "setsockopt %s on the packet socket for %s failed: %s", optname,
             ifname, strerror(e));
    if (e == ENOMEM || e == ENOBUFS)
        return AFPACKET_ERR_NOMEM;
    if (e == EPERM)
        return AFPACKET_ERR_PERM;
    return AFPACKET_ERR_SOCKOPT;
}

static int open_socket(struct afpacket_sock *s, char *err, size_t errlen)
{
    s->fd = socket(AF_PACKET, (s->cooked ? SOCK_DGRAM : SOCK_RAW) | SOCK_CLOEXEC, 0);
    if (s->fd >= 0)
        return AFPACKET_OK;
    int e = errno;
    if (e == EPERM || e == EACCES) {
        snprintf(err, errlen, "capturing needs CAP_NET_RAW: run as root, or "
                 "`setcap cap_net_raw,cap_net_admin+ep ./netmoon`");
        return AFPACKET_ERR_PERM;
    }
    if (e == EAFNOSUPPORT) {
        snprintf(err, errlen, "this kernel has no AF_PACKET support (CONFIG_PACKET)");
        return AFPACKET_ERR_SYS;
    }
    snprintf(err, errlen, "socket(AF_PACKET): %s", strerror(e));
    return AFPACKET_ERR_SYS;
}

static int setup_ring(struct afpacket_sock *s, const struct afpacket_config *cfg,
                      char *err, size_t errlen)
{
    int version = TPACKET_V3;
    int rc = set_opt(s->fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version),
                     "PACKET_VERSION TPACKET_V3", s->ifname, err, errlen);
    if (rc)
        return rc;
    struct tpacket_req3 req;
    memset(&req, 0, sizeof(req));
    req.tp_block_size = s->block_size;
    req.tp_block_nr = s->block_count;
    req.tp_frame_size = cfg->frame_size;
    req.tp_frame_nr = s->block_count * (s->block_size / cfg->frame_size);
    req.tp_retire_blk_tov = cfg->retire_ms;
    rc = set_opt(s->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req), "PACKET_RX_RING", s->ifname,
                 err, errlen);
    if (rc) {
        size_t len = strlen(err);
        snprintf(err + len, errlen - len, " (ring of %u x %u bytes: lower the buffer size)",
                 s->block_count, s->block_size);
        return rc;
    }
    s->ring_len = (size_t)s->block_size * s->block_count;
    void *m = mmap(NULL, s->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
    if (m == MAP_FAILED) {
        snprintf(err, errlen, "mmap of the %zu-byte capture ring for %s failed: %s "
                 "(lower the buffer size)", s->ring_len, s->ifname, strerror(errno));
        return AFPACKET_ERR_NOMEM;
    }
    s->ring = m;
    return AFPACKET_OK;
}

static int attach_filter(struct afpacket_sock *s, const struct sock_fprog *prog,
                         char *err, size_t errlen)
{
    if (prog)
        return set_opt(s->fd, SOL_SOCKET, SO_ATTACH_FILTER, prog, sizeof(*prog),
                       "SO_ATTACH_FILTER", s->ifname, err, errlen);
    int dummy = 0;
    if (setsockopt(s->fd, SOL_SOCKET, SO_DETACH_FILTER, &dummy, sizeof(dummy)) == 0 ||
        errno == ENOENT)
        return AFPACKET_OK;
    snprintf(err, errlen, "setsockopt SO_DETACH_FILTER for %s failed: %s", s->ifname, strerror(errno));
    return AFPACKET_ERR_SOCKOPT;
}

int afpacket_stop_intake(struct afpacket_sock *s)
{
    struct sock_filter reject_all = BPF_STMT(BPF_RET | BPF_K, 0);
    struct sock_fprog prog = { .len = 1, .filter = &reject_all };

    return attach_filter(s, &prog, s->err, sizeof(s->err));
}

static int bind_socket(struct afpacket_sock *s, char *err, size_t errlen)
{
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = s->ifindex;
    if (bind(s->fd, (struct sockaddr *)&sll, sizeof(sll)) == 0)
        return AFPACKET_OK;
    int e = errno;
    snprintf(err, errlen, "bind of the packet socket to %s failed: %s%s", s->ifname, strerror(e),
             e == ENODEV ? " (the interface disappeared; see `ip link`)" : "");
    return e == ENODEV ? AFPACKET_ERR_NO_IFACE : e == ENETDOWN ? AFPACKET_ERR_IFACE_DOWN
                                                               : AFPACKET_ERR_SYS;
}

/* The first socket asks the kernel for an unused group id
 * (PACKET_FANOUT_FLAG_UNIQUEID), so two netmoons (or a netmoon and another
 * tool) can never share a group by accident; the id is read back for the
 * other workers to join (fanout_join).  Any id, 0 included, is a group. */
static int join_fanout(struct afpacket_sock *s, const struct afpacket_config *cfg,
                       char *err, size_t errlen)
{
    uint16_t group = cfg->fanout_join ? cfg->fanout_group : 0;
    uint32_t mode = cfg->fanout_mode | (cfg->fanout_join ? 0 : PACKET_FANOUT_FLAG_UNIQUEID);
    int arg = (int)((uint32_t)group | (mode << 16)), got = 0, e;
    socklen_t len = sizeof(got);
    const char *what = "joining", *hint = "";

    if (setsockopt(s->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) != 0)
        goto fail;
    s->fanout_group = group;
    if (cfg->fanout_join)
        return AFPACKET_OK;
    what = "reading back the id of";
    if (getsockopt(s->fd, SOL_PACKET, PACKET_FANOUT, &got, &len) != 0)
        goto fail;
    s->fanout_group = (uint16_t)(got & 0xffff);
    return AFPACKET_OK;
fail:
    e = errno;
    if (e == ENETDOWN || e == ENODEV)
        hint = " (the interface went down or away: see `ip link`, then run again)";
    else if (e == EINVAL && cfg->fanout_join)
        hint = " (group in use with another mode or interface: another id, or one worker, -T 1)";
    else if (e == EINVAL)
        hint = " (the socket stopped receiving: has the interface gone down? see `ip link`)";
    else if (e == ENOMEM || e == ENOSPC)
        hint = " (the kernel had no group id or memory to spare: run with one worker, -T 1)";
    if (cfg->fanout_join)
        snprintf(err, errlen, "%s PACKET_FANOUT group %u (mode 0x%x) on %s failed: %s%s", what,
                 group, cfg->fanout_mode, s->ifname, strerror(e), hint);
    else
        snprintf(err, errlen, "%s a new PACKET_FANOUT group (mode 0x%x) on %s failed: %s%s", what,
                 cfg->fanout_mode, s->ifname, strerror(e), hint);
    return AFPACKET_ERR_SOCKOPT;
}

static int add_promisc(struct afpacket_sock *s, char *err, size_t errlen)
{
    struct packet_mreq mr;
    memset(&mr, 0, sizeof(mr));
    mr.mr_ifindex = s->ifindex;
    mr.mr_type = PACKET_MR_PROMISC;
    int rc = set_opt(s->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr),
                     "PACKET_ADD_MEMBERSHIP PACKET_MR_PROMISC", s->ifname, err, errlen);
    if (rc == AFPACKET_OK)
        s->promisc_added = true;
    return rc;
}

int afpacket_open(const struct afpacket_config *cfg, struct afpacket_sock **out,
                  char *err, size_t errlen)
{
    struct afpacket_link link;
    struct afpacket_sock *s = NULL;
    int rc;
    *out = NULL;
    rc = afpacket_link_info(cfg->ifname, &link, err, errlen);
    if (rc)
        goto fail;
    uint32_t blocks = 0;
    rc = check_ring_config(cfg, &blocks, err, errlen);
    if (rc)
        goto fail;
    s = calloc(1, sizeof(*s));
    if (!s) {
        rc = AFPACKET_ERR_NOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    s->fd = -1;
    s->ifindex = link.ifindex;
    s->lo_ifindex = (int)if_nametoindex("lo");
    s->cooked = link.cooked;
    s->linktype = link.frame_linktype;
    s->block_size = cfg->block_size;
    s->block_count = blocks;
    snprintf(s->ifname, sizeof(s->ifname), "%s", cfg->ifname);
    s->scratch = malloc(s->block_size + SLL2_HDR_LEN + VLAN_TAG_LEN);
    if (!s->scratch) {
        rc = AFPACKET_ERR_NOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    rc = open_socket(s, err, errlen);
    if (rc)
        goto fail;
    /* Nothing is received yet (protocol 0).  Attach the filter before bind;
     * with fanout a reject-all one first, see afpacket.h. */
    struct sock_filter reject_all = BPF_STMT(BPF_RET | BPF_K, 0);
    struct sock_fprog reject_prog = { .len = 1, .filter = &reject_all };
    if (cfg->fanout)
        rc = attach_filter(s, &reject_prog, err, errlen);
    else if (cfg->filter)
        rc = attach_filter(s, cfg->filter, err, errlen);
    if (rc)
        goto fail;
    rc = setup_ring(s, cfg, err, errlen);
    if (rc)
        goto fail;
    rc = bind_socket(s, err, errlen);
    if (rc)
        goto fail;
    if (cfg->fanout) {
        rc = join_fanout(s, cfg, err, errlen);
        if (!rc)
            rc = attach_filter(s, cfg->filter, err, errlen);
        if (rc)
            goto fail;
    }
    /* Promiscuous mode is a per-socket membership: the kernel drops it when
     * the socket closes, even if we crash.  "any" has no single device. */
    if (cfg->promisc && s->ifindex > 0) {
        rc = add_promisc(s, err, errlen);
        if (rc)
            goto fail;
    }
    *out = s;
    return AFPACKET_OK;
fail:
    afpacket_close(s);
    return rc;
}

/* The block descriptor at the start of block i. */
static struct tpacket_block_desc *block_at(const struct afpacket_sock *s, uint32_t i)
{
    return (struct tpacket_block_desc *)(s->ring + (size_t)i * s->block_size);
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    put_be16(p, (uint16_t)(v >> 16));
    put_be16(p + 2, (uint16_t)v);
}

/* Ethernet: puts the stripped 802.1Q tag back after the MAC addresses.  The
 * addresses move 4 bytes down into headroom that belongs to us (or the frame
 * is copied to scratch when there is none). */
static void ethernet_frame(struct afpacket_sock *s, uint8_t *slot, const struct tpacket3_hdr *h,
                           struct nm_frame *f)
{
    uint8_t *mac = slot + h->tp_mac;
    f->data = mac;
    f->caplen = h->tp_snaplen;
    f->wirelen = h->tp_len;
    if (!(h->tp_status & TP_STATUS_VLAN_VALID) || h->tp_snaplen < ETH_ADDRS_LEN)
        return;
    uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) && h->hv1.tp_vlan_tpid
                        ? h->hv1.tp_vlan_tpid : ETH_P_8021Q;
    uint8_t *dst;
    if (h->tp_mac >= RING_HDR_END + VLAN_TAG_LEN) {
        dst = mac - VLAN_TAG_LEN;
        memmove(dst, mac, ETH_ADDRS_LEN);
    } else {
        dst = s->scratch;
        memcpy(dst, mac, ETH_ADDRS_LEN);
        memcpy(dst + ETH_ADDRS_LEN + VLAN_TAG_LEN, mac + ETH_ADDRS_LEN,
               h->tp_snaplen - ETH_ADDRS_LEN);
    }
    put_be16(dst + ETH_ADDRS_LEN, tpid);
    put_be16(dst + ETH_ADDRS_LEN + 2, (uint16_t)h->hv1.tp_vlan_tci);
    f->data = dst;
    f->caplen += VLAN_TAG_LEN;
    f->wirelen += VLAN_TAG_LEN;
    s->totals.vlan_reinserted++;
}

/* Cooked: writes an SLL2 header (protocol, reserved, ifindex, ARPHRD type,
 * packet type, address length, 8 address bytes; all big-endian) in front of
 * the network packet, plus the 802.1Q tag when the kernel stripped one. */
static void cooked_frame(struct afpacket_sock *s, uint8_t *slot, const struct tpacket3_hdr *h,
                         const struct sockaddr_ll *sll, struct nm_frame *f)
{
    bool vlan = (h->tp_status & TP_STATUS_VLAN_VALID) != 0;
    uint32_t hdr_len = SLL2_HDR_LEN + (vlan ? VLAN_TAG_LEN : 0);
    uint8_t *net = slot + h->tp_net;
    uint8_t *dst;
    if (h->tp_net >= RING_HDR_END + hdr_len) {
        dst = net - hdr_len;
    } else {
        dst = s->scratch;
        memcpy(dst + hdr_len, net, h->tp_snaplen);
    }
    uint16_t proto = ntohs(sll->sll_protocol);
    if (vlan) {
        uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) && h->hv1.tp_vlan_tpid
                            ? h->hv1.tp_vlan_tpid : ETH_P_8021Q;
        put_be16(dst, tpid);
        put_be16(dst + SLL2_HDR_LEN, (uint16_t)h->hv1.tp_vlan_tci);
        put_be16(dst + SLL2_HDR_LEN + 2, proto);
        s->totals.vlan_reinserted++;
    } else {
        put_be16(dst, proto);
    }
    put_be16(dst + 2, 0);
    put_be32(dst + 4, (uint32_t)sll->sll_ifindex);
    put_be16(dst + 8, sll->sll_hatype);
    dst[10] = sll->sll_pkttype;
    uint8_t halen = sll->sll_halen < 8 ? sll->sll_halen : 8;
    dst[11] = halen;
    memset(dst + 12, 0, 8);
    memcpy(dst + 12, sll->sll_addr, halen);
    f->data = dst;
    f->caplen = h->tp_snaplen + hdr_len;
    f->wirelen = h->tp_len + hdr_len;
}

/* Builds the nm_frame for one ring packet; false when it is to be skipped. */
static bool frame_from_ring(struct afpacket_sock *s, uint8_t *slot, uint32_t room,
                            struct nm_frame *f)
{
    const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)slot;
    /* The captured bytes start at tp_mac (SOCK_RAW) or tp_net (SOCK_DGRAM,
     * where the two are equal) and tp_snaplen counts from there.  Bounding
     * tp_net + tp_snaplen instead skipped a frame whose end lay within a
     * link header of its block's end: a few per million at full rate. */
    uint32_t start = s->cooked ? h->tp_net : h->tp_mac;
    if (room < RING_HDR_END || h->tp_mac < RING_HDR_END || h->tp_net < h->tp_mac ||
        start > room || h->tp_snaplen > room - start) {
        s->totals.malformed++;
        return false;
    }
    struct sockaddr_ll sll;
    memcpy(&sll, slot + TPACKET_ALIGN(sizeof(struct tpacket3_hdr)), sizeof(sll));
    if (sll.sll_pkttype == PACKET_OUTGOING && s->lo_ifindex > 0 &&
        sll.sll_ifindex == s->lo_ifindex) {
        s->totals.loop_outgoing_skipped++;
        return false;
    }
    if (s->cooked)
        cooked_frame(s, slot, h, &sll, f);
    else
        ethernet_frame(s, slot, h, f);
    f->ts_us = (uint64_t)h->tp_sec * 1000000u + h->tp_nsec / 1000u;
    f->linktype = s->linktype;
    f->ts_invalid = false;
    f->stable = NULL;
    return true;
}

/* Walks the packets of a user-owned block from the resume point.  Returns
 * false when the callback asked to stop (the block stays ours). */
static bool walk_block(struct afpacket_sock *s, struct tpacket_block_desc *bd,
                       afpacket_frame_fn *cb, void *user, int *delivered)
{
    uint8_t *base = (uint8_t *)bd;
    uint32_t num = bd->hdr.bh1.num_pkts;
    uint32_t off = s->resume_index ? s->resume_offset : bd->hdr.bh1.offset_to_first_pkt;
    for (uint32_t i = s->resume_index; i < num; i++) {
        if (off < sizeof(*bd) || off >= s->block_size) {
            s->totals.malformed++;
            break;
        }
        const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)(base + off);
        uint32_t next = off + h->tp_next_offset;
        struct nm_frame f;
        bool keep_going = true;
        if (frame_from_ring(s, base + off, s->block_size - off, &f)) {
            s->totals.frames++;
            s->totals.bytes += f.wirelen;
            (*delivered)++;
            keep_going = cb(user, &f);
        }
        if (!keep_going && i + 1 < num) {
            s->resume_index = i + 1;
            s->resume_offset = next;
            return false;
        }
        if (!keep_going)
            break;
        off = next;
    }
    s->resume_index = 0;
    return true;
}

/* After a down report the kernel sends no further error if the device is
 * then removed (its hook is already unregistered), so while it is down each
 * idle poll looks it up again: gone, back up, or still down. */
static int recheck_down_iface(struct afpacket_sock *s)
{
    unsigned idx = if_nametoindex(s->ifname);
    if (idx == 0 || (int)idx != s->ifindex) {
        snprintf(s->err, sizeof(s->err), "interface %s disappeared while capturing "
                 "(see `ip link`)", s->ifname);
        return AFPACKET_ERR_IFACE_GONE;
    }
    char msg[256];
    if (iface_check(s->ifname, NULL, msg, sizeof(msg)) == IFACE_OK)
        s->down_reported = false;
    return AFPACKET_OK;
}

static int poll_error(struct afpacket_sock *s, short revents)
{
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        soerr = errno;
    if (soerr == ENETDOWN || soerr == ENXIO || soerr == ENODEV || (revents & POLLHUP)) {
        unsigned idx = s->ifindex > 0 ? if_nametoindex(s->ifname) : 0;
        if (s->ifindex > 0 && (idx == 0 || (int)idx != s->ifindex)) {
            snprintf(s->err, sizeof(s->err), "interface %s disappeared while capturing "
                     "(see `ip link`)", s->ifname);
            return AFPACKET_ERR_IFACE_GONE;
        }
        snprintf(s->err, sizeof(s->err), "interface %s went down while capturing: "
                 "bring it up with `ip link set %s up`", s->ifname, s->ifname);
        s->down_reported = true;
        return AFPACKET_ERR_IFACE_DOWN;
    }
    if (soerr == 0)
        return AFPACKET_OK; /* a spurious POLLERR, already consumed */
    snprintf(s->err, sizeof(s->err), "capture socket on %s reported an error: %s", s->ifname,
             strerror(soerr));
    return AFPACKET_ERR_SYS;
}

int afpacket_poll(struct afpacket_sock *s, int timeout_ms, afpacket_frame_fn *cb, void *user)
{
    int delivered = 0;
    bool waited = false;
    /* At most one lap per call, so a busy link cannot keep us here forever. */
    for (uint32_t walked = 0; walked < s->block_count;) {
        struct tpacket_block_desc *bd = block_at(s, s->cur_block);
        /* Acquire, pairs with the kernel's smp_wmb() before it stores
         * TP_STATUS_USER when it retires the block (prb_close_block): the
         * packet headers and data we read next were written before. */
        uint32_t status = __atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
        if (status & TP_STATUS_USER) {
            if (!walk_block(s, bd, cb, user, &delivered))
                return delivered;
            s->totals.blocks++;
            if (s->block_done)
                s->block_done(s->block_done_user);
            /* Release, pairs with the kernel's read of block_status (and its
             * smp_rmb) before it refills the block: our reads of this block
             * (and any in-place SLL2/VLAN writes) are finished before the
             * kernel may overwrite it. */
            __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
            s->cur_block = (s->cur_block + 1) % s->block_count;
            walked++;
            continue;
        }
        if (delivered > 0 || waited)
            break;
        struct pollfd pfd = { .fd = s->fd, .events = POLLIN | POLLERR };
        int r = poll(&pfd, 1, timeout_ms);
        if (r < 0) {
            if (errno == EINTR)
                return 0;
            snprintf(s->err, sizeof(s->err), "poll on the capture socket for %s: %s", s->ifname,
                     strerror(errno));
            return AFPACKET_ERR_SYS;
        }
        if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) {
            int rc = poll_error(s, pfd.revents);
            if (rc)
                return rc;
        } else if (r == 0 && s->down_reported && s->ifindex > 0) {
            int rc = recheck_down_iface(s);
            if (rc)
                return rc;
        }
        waited = true;
    }
    return delivered;
}

void afpacket_set_block_done(struct afpacket_sock *s, afpacket_block_fn *fn, void *user)
{
    s->block_done = fn;
    s->block_done_user = user;
}

bool afpacket_frame_in_scratch(const struct afpacket_sock *s, const struct nm_frame *frame)
{
    return frame->data == s->scratch;
}

int afpacket_stats(struct afpacket_sock *s, struct afpacket_stats *out)
{
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof(st);
    memset(&st, 0, sizeof(st));
    if (getsockopt(s->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) {
        snprintf(s->err, sizeof(s->err), "getsockopt PACKET_STATISTICS on %s: %s", s->ifname,
                 strerror(errno));
        if (out)
            *out = s->totals;
        return AFPACKET_ERR_SYS;
    }
    /* The kernel zeroed its counters as it answered: keep the running sum. */
    s->totals.kernel_packets += st.tp_packets;
    s->totals.kernel_drops += st.tp_drops;
    s->totals.kernel_freeze_q += st.tp_freeze_q_cnt;
    if (out)
        *out = s->totals;
    return AFPACKET_OK;
}

void afpacket_ring_occupancy(const struct afpacket_sock *s, uint32_t *user_blocks,
                             uint32_t *total_blocks)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->block_count; i++) {
        const struct tpacket_block_desc *bd = block_at(s, i);
        /* Relaxed: a fill-level sample; no block contents are read. */
        if (__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_RELAXED) & TP_STATUS_USER)
            n++;
    }
    *user_blocks = n;
    *total_blocks = s->block_count;
}

int afpacket_fd(const struct afpacket_sock *s)
{
    return s->fd;
}

int afpacket_linktype(const struct afpacket_sock *s)
{
    return s->linktype;
}

const char *afpacket_ifname(const struct afpacket_sock *s)
{
    return s->ifname;
}

const char *afpacket_error(const struct afpacket_sock *s)
{
    return s->err;
}

void afpacket_close(struct afpacket_sock *s)
{
    if (!s)
        return;
    if (s->promisc_added) {
        /* The kernel would drop it on close anyway; dropping it first makes
         * the order explicit and reports nothing on failure. */
        struct packet_mreq mr;
        memset(&mr, 0, sizeof(mr));
        mr.mr_ifindex = s->ifindex;
        mr.mr_type = PACKET_MR_PROMISC;
        (void)setsockopt(s->fd, SOL_PACKET, PACKET_DROP_MEMBERSHIP, &mr, sizeof(mr));
    }
    if (s->ring)
        munmap(s->ring, s->ring_len);
    if (s->fd >= 0)
        close(s->fd);
    free(s->scratch);
    free(s);
}
