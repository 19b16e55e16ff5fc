/*
 * afpacket_probe.c: a test driver for src/capture/afpacket.c.  Opens N
 * sockets in one PACKET_FANOUT group on an interface (one thread each),
 * captures for a while, and prints per socket the flows it saw (5-tuple,
 * one direction per line, with packet and byte counts), VLAN ids, non-IP
 * EtherTypes, and the kernel statistics.  tests/live/test_afpacket.sh
 * compares that output with tcpdump/tshark.
 *
 *   afpacket_probe -i IFACE [-n SOCKETS] [-t SECONDS] [-f FILTER] [-g GROUP]
 *                  [-p] [-B MIB] [-b BLOCK_KIB] [-o]
 *     -p  no promiscuous mode        -o  open the sockets, print "opened", exit
 *
 * Output lines (S = socket number):
 *   ready                                   all sockets open, capturing
 *   S flow PROTO SRC SPORT DST DPORT PACKETS BYTES
 *   S vlan ID PACKETS
 *   S nonip ETHERTYPE PACKETS
 *   S stats frames F bytes B kernel_packets P kernel_drops D freeze_q Q
 *           vlan_reinserted V loop_outgoing_skipped L malformed M blocks K
 *   S error CODE MESSAGE                    afpacket_poll failed (printed at once)
 * Errors opening go to stderr, exit status 2.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture/afpacket.h"
#include "capture/filter.h"

#define MAX_SOCKETS 16
#define FLOW_SLOTS 8192u
#define MAX_VLANS 64
#define MAX_NONIP 32

struct flow {
    uint8_t used, proto, family;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    uint64_t packets, bytes;
};

struct counter {
    uint32_t key;
    uint64_t count;
};

struct worker {
    int index;
    struct afpacket_sock *sock;
    struct flow flows[FLOW_SLOTS];
    struct counter vlans[MAX_VLANS], nonip[MAX_NONIP];
    uint64_t table_full;
    int poll_error;
    struct afpacket_stats stats;
};

static atomic_int stop_requested;
static double run_seconds = 5.0;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&stop_requested, 1);
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void count_key(struct counter *c, size_t n, uint32_t key)
{
    for (size_t i = 0; i < n; i++) {
        if (c[i].count == 0 || c[i].key == key) {
            c[i].key = key;
            c[i].count++;
            return;
        }
    }
}

static void count_flow(struct worker *w, const struct flow *k, uint32_t wirelen)
{
    uint32_t h = 2166136261u;
    const uint8_t *parts[2] = { k->src, k->dst };
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < 16; i++)
            h = (h ^ parts[p][i]) * 16777619u;
    h = (h ^ k->proto ^ ((uint32_t)k->sport << 8) ^ ((uint32_t)k->dport << 16)) * 16777619u;
    for (uint32_t n = 0; n < FLOW_SLOTS; n++) {
        struct flow *f = &w->flows[(h + n) % FLOW_SLOTS];
        if (!f->used) {
            *f = *k;
            f->used = 1;
        } else if (f->proto != k->proto || f->family != k->family || f->sport != k->sport ||
                   f->dport != k->dport || memcmp(f->src, k->src, 16) || memcmp(f->dst, k->dst, 16)) {
            continue;
        }
        f->packets++;
        f->bytes += wirelen;
        return;
    }
    w->table_full++;
}

/* A small bounds-checked parse: link header, IPv4/IPv6, TCP/UDP ports. */
static bool on_frame(void *user, const struct nm_frame *fr)
{
    struct worker *w = user;
    const uint8_t *d = fr->data;
    uint32_t len = fr->caplen, off;
    uint16_t type;
    if (fr->linktype == NM_LINKTYPE_ETHERNET) {
        if (len < 14)
            return true;
        type = be16(d + 12);
        off = 14;
    } else {
        if (len < 20)
            return true;
        type = be16(d);
        off = 20;
    }
    while ((type == 0x8100 || type == 0x88a8) && len >= off + 4) {
        count_key(w->vlans, MAX_VLANS, be16(d + off) & 0x0fff);
        type = be16(d + off + 2);
        off += 4;
    }
    struct flow k;
    memset(&k, 0, sizeof(k));
    uint32_t l4 = 0;
    bool ports_ok = false;
    if (type == 0x0800 && len >= off + 20) {
        const uint8_t *ip = d + off;
        uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
        k.family = 4;
        k.proto = ip[9];
        memcpy(k.src, ip + 12, 4);
        memcpy(k.dst, ip + 16, 4);
        l4 = off + ihl;
        ports_ok = ihl >= 20 && (be16(ip + 6) & 0x1fff) == 0;
    } else if (type == 0x86dd && len >= off + 40) {
        const uint8_t *ip = d + off;
        k.family = 6;
        k.proto = ip[6];
        memcpy(k.src, ip + 8, 16);
        memcpy(k.dst, ip + 24, 16);
        l4 = off + 40;
        ports_ok = true;
    } else {
        count_key(w->nonip, MAX_NONIP, type);
        return true;
    }
    if (ports_ok && (k.proto == 6 || k.proto == 17) && len >= l4 + 4) {
        k.sport = be16(d + l4);
        k.dport = be16(d + l4 + 2);
    }
    count_flow(w, &k, fr->wirelen);
    return true;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    double end = now_s() + run_seconds;
    while (!atomic_load(&stop_requested) && now_s() < end) {
        int r = afpacket_poll(w->sock, 100, on_frame, w);
        if (r < 0) {
            /* Keep polling through a down interface, as a monitor would. */
            printf("%d error %d %s\n", w->index, r, afpacket_error(w->sock));
            fflush(stdout);
            w->poll_error = r;
            if (r != AFPACKET_ERR_IFACE_DOWN)
                break;
        }
    }
    /* Whatever is already in the ring was captured before the deadline. */
    while (w->poll_error == 0 && afpacket_poll(w->sock, 0, on_frame, w) > 0)
        ;
    afpacket_stats(w->sock, &w->stats);
    return NULL;
}

static void print_worker(const struct worker *w)
{
    for (uint32_t i = 0; i < FLOW_SLOTS; i++) {
        const struct flow *f = &w->flows[i];
        if (!f->used)
            continue;
        char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
        int af = f->family == 4 ? AF_INET : AF_INET6;
        inet_ntop(af, f->src, s, sizeof(s));
        inet_ntop(af, f->dst, d, sizeof(d));
        printf("%d flow %u %s %u %s %u %llu %llu\n", w->index, f->proto, s, f->sport, d, f->dport,
               (unsigned long long)f->packets, (unsigned long long)f->bytes);
    }
    for (int i = 0; i < MAX_VLANS && w->vlans[i].count; i++)
        printf("%d vlan %u %llu\n", w->index, w->vlans[i].key, (unsigned long long)w->vlans[i].count);
    for (int i = 0; i < MAX_NONIP && w->nonip[i].count; i++)
        printf("%d nonip 0x%04x %llu\n", w->index, w->nonip[i].key,
               (unsigned long long)w->nonip[i].count);
    const struct afpacket_stats *st = &w->stats;
    printf("%d stats frames %llu bytes %llu kernel_packets %llu kernel_drops %llu freeze_q %llu "
           "vlan_reinserted %llu loop_outgoing_skipped %llu malformed %llu blocks %llu "
           "table_full %llu\n",
           w->index, (unsigned long long)st->frames, (unsigned long long)st->bytes,
           (unsigned long long)st->kernel_packets, (unsigned long long)st->kernel_drops,
           (unsigned long long)st->kernel_freeze_q, (unsigned long long)st->vlan_reinserted,
           (unsigned long long)st->loop_outgoing_skipped, (unsigned long long)st->malformed,
           (unsigned long long)st->blocks, (unsigned long long)w->table_full);
}

static void usage(void)
{
    fprintf(stderr, "usage: afpacket_probe -i IFACE [-n SOCKETS] [-t SECONDS] [-f FILTER] "
                    "[-g GROUP] [-p] [-B MIB] [-b BLOCK_KIB] [-o]\n"
                    "  -g GROUP  every socket joins fanout group GROUP (1-65535); without it the\n"
                    "            kernel picks the first socket's group and the others join it\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *ifname = NULL, *expr = NULL;
    int nsock = 1, group = 0, opt;   /* 0: the kernel picks an unused group */
    bool promisc = true, open_only = false;
    unsigned ring_mib = 0, block_kib = 0;
    while ((opt = getopt(argc, argv, "i:n:t:f:g:pB:b:o")) != -1) {
        switch (opt) {
        case 'i': ifname = optarg; break;
        case 'n': nsock = atoi(optarg); break;
        case 't': run_seconds = atof(optarg); break;
        case 'f': expr = optarg; break;
        case 'g': group = atoi(optarg); break;
        case 'p': promisc = false; break;
        case 'B': ring_mib = (unsigned)atoi(optarg); break;
        case 'b': block_kib = (unsigned)atoi(optarg); break;
        case 'o': open_only = true; break;
        default: usage();
        }
    }
    if (!ifname || nsock < 1 || nsock > MAX_SOCKETS)
        usage();

    char err[512];
    struct afpacket_link link;
    if (afpacket_link_info(ifname, &link, err, sizeof(err)) != 0) {
        fprintf(stderr, "afpacket_probe: %s\n", err);
        return 2;
    }
    struct nm_filter filter;
    bool have_filter = expr != NULL;
    if (have_filter && filter_compile(expr, link.filter_linktype, 262144, &filter, err,
                                      sizeof(err)) != FILTER_OK) {
        fprintf(stderr, "afpacket_probe: invalid filter: %s\n", err);
        return 2;
    }
    struct afpacket_config cfg;
    afpacket_config_init(&cfg, ifname);
    cfg.promisc = promisc;
    cfg.filter = have_filter ? filter_sock_fprog(&filter) : NULL;
    cfg.fanout = nsock > 1;
    cfg.fanout_join = group != 0;   /* -g: that group; else the kernel's pick, then join it */
    cfg.fanout_group = (uint16_t)group;
    if (ring_mib)
        cfg.ring_size = (uint64_t)ring_mib << 20;
    if (block_kib)
        cfg.block_size = block_kib << 10;

    static struct worker workers[MAX_SOCKETS];
    int rc = 0, opened = 0;
    for (; opened < nsock; opened++) {
        workers[opened].index = opened;
        int r = afpacket_open(&cfg, &workers[opened].sock, err, sizeof(err));
        if (r != AFPACKET_OK) {
            fprintf(stderr, "afpacket_probe: %s (code %d)\n", err, r);
            rc = 2;
            goto out;
        }
        if (cfg.fanout && !cfg.fanout_join) {
            cfg.fanout_group = afpacket_fanout_group(workers[opened].sock);
            cfg.fanout_join = true;
        }
    }
    if (open_only) {
        printf("opened %d linktype %d\n", opened, afpacket_linktype(workers[0].sock));
        goto out;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (cfg.fanout)
        printf("ready fanout_group %u\n", afpacket_fanout_group(workers[0].sock));
    else
        printf("ready\n");
    fflush(stdout);
    pthread_t th[MAX_SOCKETS];
    for (int i = 0; i < nsock; i++)
        pthread_create(&th[i], NULL, worker_main, &workers[i]);
    for (int i = 0; i < nsock; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < nsock; i++)
        print_worker(&workers[i]);
out:
    for (int i = 0; i < opened; i++)
        afpacket_close(workers[i].sock);
    if (have_filter)
        filter_free(&filter);
    return rc;
}
