/*
 * config.h: what the command line asked for (parsed by main.c, documented
 * in netmoon.8 and `netmoon --help`).
 */
#ifndef NETMOON_CORE_CONFIG_H
#define NETMOON_CORE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#define NM_MAX_IFACES 16

/* Exit statuses, documented in netmoon.8. */
enum nm_exit {
    NM_EXIT_OK = 0,
    NM_EXIT_FAILURE = 1,   /* runtime failure: damaged input, I/O error, capture error */
    NM_EXIT_USAGE = 2,     /* bad command line or filter expression */
};

struct nm_config {
    const char *read_file;            /* -r */
    const char *ifaces[NM_MAX_IFACES];/* -i, repeated or comma lists */
    unsigned n_ifaces;
    unsigned workers;                 /* -T, 0 = online CPUs */
    unsigned ring_mib;                /* -B */
    unsigned ring_block_kib;          /* --ring-block, 0 = chosen from the ring size */
    unsigned ring_timeout_ms;         /* --ring-timeout, 0 = default (64 ms) */
    bool no_promisc;                  /* -p */
    bool engine_ebpf;                 /* --engine ebpf (core/live_ebpf.c) */
    const char *drop_user;            /* -Z */
    uint64_t max_packets;             /* -c, 0 = no limit */
    double duration_s;                /* --duration, 0 = no limit */
    char *filter_expr;                /* trailing words or -F FILE */
    const char *json_path;            /* --json[=PATH]; "-" = stdout */
    bool json;
    bool print_stats;                 /* --stats */
    bool no_tui;
    bool no_decap;
    const char *streams_dir;          /* --streams DIR: reassembled TCP payload files */
    bool no_procs;                    /* --no-procs (live only: -r never attributes) */
    bool no_procs_bpf;                /* --no-procs-bpf: sock_diag and /proc only */
    uint64_t idle_timeout_us;
    uint64_t active_timeout_us;
    uint64_t close_timeout_us;        /* --close-timeout: closed TCP flows' wait for late packets */
    uint32_t max_flows;               /* in all, shared by the workers */
    uint64_t max_memory;              /* --max-memory in bytes, 0 = none */
    bool no_l7;                       /* --no-l7: no nDPI application labels */
    uint32_t l7_max_flows;            /* --l7-max-flows: flows classified at once per worker, 0 = default */
    bool realtime;                    /* --realtime: -r at the captured pace */
    uint64_t refresh_us;              /* -d, --delay: view refresh (default 1 s) */
    uint64_t snapshot_us;             /* snapshots for a view every this often; 0 = none */
    const char *ipfix_dest;           /* --ipfix HOST:PORT */
    uint32_t ipfix_rate;              /* --ipfix-rate messages/s, 0 = unpaced */
    const char *prometheus_listen;    /* --prometheus [ADDR:]PORT */
    const char *write_path;           /* -w */
    uint32_t snaplen;                 /* -s, 0 = default */
    uint64_t rotate_bytes;            /* -C, in bytes */
    uint64_t rotate_us;               /* -G */
};

#endif
