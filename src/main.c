/*
 * main.c: netmoon's command line.  Options follow tcpdump's where tcpdump
 * has one (-i -r -w -c -p -Z -B -F, a trailing filter expression); the rest
 * are long options.  See netmoon.8 for the whole reference.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture/filter.h"
#include "core/config.h"
#include "core/live.h"
#include "core/live_ebpf.h"
#include "capture/ebpf_flows.h"
#include "core/offline.h"
#include "core/outputs.h"
#include "core/signals.h"
#include "flow/flow_table.h"
#include "analyze/l7_ndpi.h"
#include "output/ipfix.h"
#include "output/json.h"
#include "output/pcap_writer.h"
#include "output/prometheus.h"
#include "output/stats_text.h"
#include "output/tui.h"
#include "procs/procs_bpf.h"
#include "capture/iface.h"      /* the default-route interface's name, for the view */
#include "common/sanitize.h"
#include "common/threads.h"

_Static_assert(FLOW_TABLE_MAX_FLOWS == 1073741823u, "the --max-flows message names the limit");

enum {
    OPT_JSON = 1000, OPT_STATS, OPT_IDLE, OPT_ACTIVE, OPT_CLOSE, OPT_MAX_FLOWS, OPT_MAX_MEMORY, OPT_NO_DECAP, OPT_STREAMS,
    OPT_DURATION, OPT_NO_TUI, OPT_VERSION, OPT_REALTIME, OPT_RING_BLOCK, OPT_RING_TIMEOUT,
    OPT_NO_L7, OPT_L7_MAX_FLOWS,
    OPT_IPFIX, OPT_IPFIX_RATE, OPT_PROMETHEUS,
    OPT_NO_PROCS, OPT_NO_PROCS_BPF, OPT_ENGINE,
};

static const struct option main_long_options[] = {
    { "json", optional_argument, NULL, OPT_JSON },
    { "stats", no_argument, NULL, OPT_STATS },
    { "idle-timeout", required_argument, NULL, OPT_IDLE },
    { "close-timeout", required_argument, NULL, OPT_CLOSE },
    { "active-timeout", required_argument, NULL, OPT_ACTIVE },
    { "max-flows", required_argument, NULL, OPT_MAX_FLOWS },
    { "max-memory", required_argument, NULL, OPT_MAX_MEMORY },
    { "no-decap", no_argument, NULL, OPT_NO_DECAP },
    { "no-l7", no_argument, NULL, OPT_NO_L7 },
    { "l7-max-flows", required_argument, NULL, OPT_L7_MAX_FLOWS },
    { "streams", required_argument, NULL, OPT_STREAMS },
    { "duration", required_argument, NULL, OPT_DURATION },
    { "no-tui", no_argument, NULL, OPT_NO_TUI },
    { "no-procs", no_argument, NULL, OPT_NO_PROCS },
    { "no-procs-bpf", no_argument, NULL, OPT_NO_PROCS_BPF },
    { "realtime", no_argument, NULL, OPT_REALTIME },
    { "ring-block", required_argument, NULL, OPT_RING_BLOCK },
    { "ring-timeout", required_argument, NULL, OPT_RING_TIMEOUT },
    { "ipfix", required_argument, NULL, OPT_IPFIX },
    { "ipfix-rate", required_argument, NULL, OPT_IPFIX_RATE },
    { "prometheus", required_argument, NULL, OPT_PROMETHEUS },
    { "engine", required_argument, NULL, OPT_ENGINE },
    { "delay", required_argument, NULL, 'd' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 },
};

static void main_usage(FILE *out)
{
    fprintf(out,
"Usage: netmoon [options] [filter expression]\n"
"Real-time network traffic monitor: bidirectional flows with bytes, packets\n"
"and TCP state, from a live interface or a capture file.\n"
"\n"
"Input:\n"
"  -r FILE             read a pcap or pcapng file ('-' for standard input)\n"
"  -i IFACE            capture on IFACE (repeatable, or a comma list; 'any')\n"
"                      default: the interface of the default route\n"
"  -T N                worker threads, one capture socket each in a fanout\n"
"                      group (default: online CPUs); with -r, 1 reads, decodes,\n"
"                      accounts and writes on one thread, 2 or more pipeline\n"
"                      them over three (default on 2+ CPUs)\n"
"  -B MIB              capture ring size per worker socket (default 32)\n"
"  --ring-block KIB    ring block size, a power of two from 4 to 1048576\n"
"                      (default 1024, smaller for rings under 8 MiB)\n"
"  --ring-timeout MS   hand a partly filled block over after MS ms (1 to\n"
"                      10000, default 64): lower is fresher, higher is cheaper\n"
"  --engine NAME       live capture engine: afpacket (default: every feature)\n"
"                      or ebpf (flows counted in the kernel, no packet copied\n"
"                      to netmoon: bytes, packets, flags and times only, no\n"
"                      TCP analysis, labels, L7 fields, owners, filter or -w)\n"
"  -p                  do not put the interface into promiscuous mode\n"
"  -Z USER             drop privileges to USER once the sockets are open\n"
"  -c COUNT            stop after COUNT packets\n"
"  --duration SEC      stop after SEC seconds\n"
"  -F FILE             read the filter expression from FILE\n"
"  --realtime          with -r, replay the file at its captured pace\n"
"  filter expression   tcpdump (pcap-filter(7)) syntax, e.g. 'tcp port 443'\n"
"\n"
"Flows:\n"
"  --idle-timeout SEC  end flows idle this long (default 60)\n"
"  --close-timeout SEC  write a closed TCP flow's record (FIN both ways\n"
"                      acknowledged, or RST) once it had no late packet\n"
"                      for SEC (default 5, at most the idle timeout)\n"
"  --active-timeout SEC  write interim records for flows older than SEC (default off)\n"
"  --max-flows N       bound the flow table; when full a closed TCP flow, else\n"
"                      the least recently used one, is evicted and reported\n"
"                      (default 1000000, in all: live workers share it)\n"
"  --max-memory MIB    bound the flow state's memory too: lowers --max-flows\n"
"                      to what fits (capture rings, -B, come on top)\n"
"  --no-decap          account tunnels (GRE, VXLAN, Geneve, IP-in-IP) by their\n"
"                      outer packet instead of the inner one\n"
"  --streams DIR       write each TCP direction's reassembled payload to a file\n"
"                      in DIR named as tcpflow names it (SRC.PORT-DST.PORT)\n"
"\n"
"Application labels (nDPI):\n"
"  --no-l7             no application labels (the JSON fields app, category and\n"
"                      app_confidence are left out)\n"
"  --l7-max-flows N    flows classified at once per worker (default 65536, at\n"
"                      most --max-flows); a flow finding them all busy stays\n"
"                      unlabelled and is counted (l7_no_slot)\n"
"  --no-procs          live: do not look up the local process owning each\n"
"                      flow's socket (always off for -r)\n"
"  --no-procs-bpf      live: find socket owners with sock_diag and /proc only,\n"
"                      without loading the eBPF owner programs\n"
"\n"
"Output:\n"
"  (default)           on a terminal, a full-screen view of the connections\n"
"                      (press ? in it for the keys); otherwise JSON lines\n"
"  --json[=PATH]       JSON lines, one per flow (default standard output; a PATH\n"
"                      is appended to, and the view stays on)\n"
"  --no-tui            no view: JSON lines on standard output\n"
"  -d, --delay SEC     view refresh interval (default 1)\n"
"  --ipfix HOST:PORT   also export flows as IPFIX over UDP to a collector\n"
"                      (nfcapd, ...), one record per direction\n"
"  --ipfix-rate N      at most N IPFIX messages a second, so a collector keeps\n"
"                      up with a file read at full speed (default 2000, 0: unpaced)\n"
"  --prometheus [ADDR:]PORT  serve counters at http://ADDR:PORT/metrics\n"
"                      (Prometheus text format; ADDR defaults to 127.0.0.1)\n"
"  -w FILE             also write the captured packets (after the filter) to\n"
"                      FILE as pcap\n"
"  -s SNAPLEN          with -w, keep at most SNAPLEN bytes of each packet\n"
"                      (default and 0: 262144)\n"
"  -C MB               with -w, start a new file (FILE1, FILE2, ...) once one\n"
"                      holds more than MB million bytes (fractions allowed)\n"
"  -G SEC              with -w, start a new file every SEC seconds of packet\n"
"                      time; FILE is a strftime(3) pattern\n"
"  --stats             print packet, flow, drop and decode-problem counts to\n"
"                      standard error at exit\n"
"  -h, --help          this help;  --version  the version\n"
"\n"
"Exit status: 0 success, 1 runtime failure (damaged input, I/O or capture\n"
"error), 2 bad command line or filter expression.\n"
"Examples:\n"
"  netmoon -r trace.pcap --json > flows.jsonl\n"
"  netmoon -r trace.pcapng --stats tcp port 443\n");
}

static int main_usage_error(const char *fmt, const char *arg) __attribute__((format(printf, 1, 0)));
static int main_usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "netmoon: ");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    fprintf(stderr, fmt, arg);
#pragma GCC diagnostic pop
    fprintf(stderr, "\nTry 'netmoon --help' for the options.\n");
    return NM_EXIT_USAGE;
}

/* Parses a non-negative number no larger than max; false on junk. */
static bool main_parse_number(const char *s, double max, double *out)
{
    char *end;

    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || v < 0 || v > max || v != v)
        return false;
    *out = v;
    return true;
}

static int main_add_ifaces(struct nm_config *cfg, char *list)
{
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (cfg->n_ifaces >= NM_MAX_IFACES)
            return main_usage_error("too many interfaces (at most 16): %s", tok);
        cfg->ifaces[cfg->n_ifaces++] = tok;
    }
    return 0;
}

/* Joins the words left after the options into one filter expression. */
static char *main_join_words(int argc, char **argv)
{
    size_t len = 1;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *s = calloc(1, len);
    if (!s)
        return NULL;
    for (int i = 0; i < argc; i++) {
        if (i)
            strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

static int main_read_filter_file(struct nm_config *cfg, const char *path)
{
    char err[512];

    if (filter_read_file(path, &cfg->filter_expr, err, sizeof(err)) != FILTER_OK) {
        fprintf(stderr, "netmoon: %s\n", err);
        return NM_EXIT_USAGE;
    }
    return 0;
}

/* --streams DIR must be a directory we can write in, checked now rather
 * than at the first connection. */
static int main_streams_dir(struct nm_config *cfg, const char *dir)
{
    struct stat st;

    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return main_usage_error("--streams needs an existing directory, not '%s' (mkdir it first)",
                                dir);
    if (access(dir, W_OK | X_OK) != 0)
        return main_usage_error("--streams: cannot write in '%s' (check its permissions)", dir);
    cfg->streams_dir = dir;
    return 0;
}

static int main_parse_option(struct nm_config *cfg, int opt, const char **filter_file)
{
    double v;

    switch (opt) {
    case 'r': cfg->read_file = optarg; return 0;
    case 'i': return main_add_ifaces(cfg, optarg);
    case 'p': cfg->no_promisc = true; return 0;
    case 'w':
        if (strcmp(optarg, "-") == 0)
            return main_usage_error("%s", "-w - (pcap to standard output) is not supported: give a file name");
        cfg->write_path = optarg;
        return 0;
    case 's':
        if (!main_parse_number(optarg, 262144, &v) || v != (uint32_t)v)
            return main_usage_error("-s needs a snap length from 0 to 262144 bytes, not '%s'", optarg);
        cfg->snaplen = (uint32_t)v;
        return 0;
    case 'C':
        if (!main_parse_number(optarg, 1e12, &v) || v * 1e6 < 1)
            return main_usage_error("-C needs a file size in millions of bytes (> 0), not '%s'", optarg);
        cfg->rotate_bytes = (uint64_t)(v * 1e6);
        return 0;
    case 'G':
        if (!main_parse_number(optarg, 1e8, &v) || v < 1 || v != (uint32_t)v)
            return main_usage_error("-G needs whole seconds of at least 1, not '%s'", optarg);
        cfg->rotate_us = (uint64_t)v * 1000000u;
        return 0;
    case 'Z': cfg->drop_user = optarg; return 0;
    case 'F': *filter_file = optarg; return 0;
    case 'c':
        if (!main_parse_number(optarg, 1e18, &v) || v < 1)
            return main_usage_error("-c needs a packet count of at least 1, not '%s'", optarg);
        cfg->max_packets = (uint64_t)v;
        return 0;
    case 'T':
        if (!main_parse_number(optarg, 64, &v) || v < 1)
            return main_usage_error("-T needs a worker count from 1 to 64, not '%s'", optarg);
        cfg->workers = (unsigned)v;
        return 0;
    case 'B':
        if (!main_parse_number(optarg, 65536, &v) || v < 1)
            return main_usage_error("-B needs a ring size in MiB from 1 to 65536, not '%s'", optarg);
        cfg->ring_mib = (unsigned)v;
        return 0;
    case OPT_RING_BLOCK:
        if (!main_parse_number(optarg, 1048576, &v) || v < 4 || ((unsigned)v & ((unsigned)v - 1)) ||
            v != (unsigned)v)
            return main_usage_error("--ring-block needs a power of two in KiB from 4 to 1048576, "
                                    "not '%s'", optarg);
        cfg->ring_block_kib = (unsigned)v;
        return 0;
    case OPT_RING_TIMEOUT:
        if (!main_parse_number(optarg, 10000, &v) || v < 1 || v != (unsigned)v)
            return main_usage_error("--ring-timeout needs milliseconds from 1 to 10000, not '%s'",
                                    optarg);
        cfg->ring_timeout_ms = (unsigned)v;
        return 0;
    case OPT_JSON: cfg->json = true; cfg->json_path = optarg; return 0;
    case OPT_STATS: cfg->print_stats = true; return 0;
    case OPT_IPFIX: cfg->ipfix_dest = optarg; return 0;
    case OPT_IPFIX_RATE:
        if (!main_parse_number(optarg, 1e7, &v) || v != (uint32_t)v)
            return main_usage_error("--ipfix-rate needs messages per second (0 = unpaced), not '%s'", optarg);
        cfg->ipfix_rate = (uint32_t)v;
        return 0;
    case OPT_PROMETHEUS: cfg->prometheus_listen = optarg; return 0;
    case OPT_NO_DECAP: cfg->no_decap = true; return 0;
    case OPT_NO_L7: cfg->no_l7 = true; return 0;
    case OPT_L7_MAX_FLOWS:
        if (!main_parse_number(optarg, 1 << 30, &v) || v < 1 || v != (uint32_t)v)
            return main_usage_error("--l7-max-flows needs a count from 1 to 2^30, not '%s'", optarg);
        cfg->l7_max_flows = (uint32_t)v;
        return 0;
    case OPT_STREAMS: return main_streams_dir(cfg, optarg);
    case OPT_NO_TUI: cfg->no_tui = true; return 0;
    case OPT_NO_PROCS: cfg->no_procs = true; return 0;
    case OPT_NO_PROCS_BPF: cfg->no_procs_bpf = true; return 0;
    case OPT_ENGINE:
        if (strcmp(optarg, "ebpf") == 0)
            cfg->engine_ebpf = true;
        else if (strcmp(optarg, "afpacket") != 0)
            return main_usage_error("--engine is afpacket or ebpf, not '%s'", optarg);
        return 0;
    case OPT_REALTIME: cfg->realtime = true; return 0;
    case 'd':
        if (!main_parse_number(optarg, 3600, &v) || v < 0.1)
            return main_usage_error("-d needs a refresh interval from 0.1 to 3600 seconds, not '%s'", optarg);
        cfg->refresh_us = (uint64_t)(v * 1e6);
        return 0;
    case OPT_IDLE:
        if (!main_parse_number(optarg, 1e7, &v) || v <= 0)
            return main_usage_error("--idle-timeout needs seconds > 0, not '%s'", optarg);
        cfg->idle_timeout_us = (uint64_t)(v * 1e6);
        return 0;
    case OPT_CLOSE:
        if (!main_parse_number(optarg, 1e7, &v) || v <= 0)
            return main_usage_error("--close-timeout needs seconds > 0, not '%s'", optarg);
        cfg->close_timeout_us = (uint64_t)(v * 1e6);
        return 0;
    case OPT_ACTIVE:
        if (!main_parse_number(optarg, 1e7, &v))
            return main_usage_error("--active-timeout needs seconds (0 = off), not '%s'", optarg);
        cfg->active_timeout_us = (uint64_t)(v * 1e6);
        return 0;
    case OPT_MAX_FLOWS:
        if (!main_parse_number(optarg, FLOW_TABLE_MAX_FLOWS, &v) || v < 1)
            return main_usage_error("--max-flows needs a count from 1 to 1073741823 (2^30 - 1), "
                                    "not '%s'", optarg);
        cfg->max_flows = (uint32_t)v;
        return 0;
    case OPT_MAX_MEMORY:
        if (!main_parse_number(optarg, 1 << 20, &v) || v < 1)
            return main_usage_error("--max-memory needs MiB from 1 to 1048576, not '%s'", optarg);
        cfg->max_memory = (uint64_t)(v * 1048576.0);
        return 0;
    case OPT_DURATION:
        if (!main_parse_number(optarg, 1e9, &v) || v <= 0)
            return main_usage_error("--duration needs seconds > 0, not '%s'", optarg);
        cfg->duration_s = v;
        return 0;
    default:
        return main_usage_error("%s", "unknown option");
    }
}

/* --max-memory becomes a flow count: the flows that fit at their largest
 * (flow_table_bytes_per_flow, plus a classifier slot when labels are on,
 * since there are never more slots than flows), so the table can never
 * outgrow it. */
static int main_apply_max_memory(struct nm_config *cfg)
{
    bool l7 = flow_table_wants_l7(cfg->no_l7, cfg->streams_dir);
    size_t per_flow = flow_table_bytes_per_flow(l7) + (cfg->no_l7 ? 0 : l7_ndpi_bytes_per_slot());
    uint64_t fit;

    if (!cfg->max_memory)
        return 0;
    fit = cfg->max_memory / per_flow;
    if (fit < 1) {
        char need[32];
        snprintf(need, sizeof(need), "%zu", per_flow);
        return main_usage_error("--max-memory is too small: one flow takes up to %s bytes", need);
    }
    if (fit < cfg->max_flows)
        cfg->max_flows = (uint32_t)fit;
    return 0;
}

/* What --engine ebpf cannot do, since no packet reaches netmoon: said at
 * once rather than silently ignored. */
static int main_check_ebpf(struct nm_config *cfg)
{
    static const char hint[] = " (use the default engine, --engine afpacket, for it)";
    const char *why = cfg->read_file ? "reads live interfaces, not -r files"
                    : cfg->filter_expr ? "takes no filter expression: no packet reaches netmoon"
                    : cfg->write_path ? "cannot write packets (-w): no packet reaches netmoon"
                    : cfg->max_packets ? "cannot stop after -c packets: it counts flows, not packets"
                    : cfg->streams_dir ? "cannot write --streams: no payload reaches netmoon"
                    : cfg->workers ? "takes no -T: the kernel program runs on every CPU"
                    : cfg->ring_mib || cfg->ring_block_kib || cfg->ring_timeout_ms
                        ? "has no capture ring (-B, --ring-block, --ring-timeout)" : NULL;
    char msg[200];

    if (why) {
        snprintf(msg, sizeof(msg), "--engine ebpf %s%s", why, hint);
        return main_usage_error("%s", msg);
    }
    /* Nothing to label, attribute or parse: their set-up is skipped. */
    cfg->no_l7 = true;
    cfg->no_procs = true;
    return 0;
}

static int main_parse_args(struct nm_config *cfg, int argc, char **argv)
{
    const char *filter_file = NULL;
    int opt, rc;

    memset(cfg, 0, sizeof(*cfg));
    cfg->idle_timeout_us = 60ull * 1000000ull;
    cfg->close_timeout_us = 5ull * 1000000ull;
    cfg->max_flows = 1000000;
    cfg->refresh_us = 1000000;
    cfg->ipfix_rate = IPFIX_DEFAULT_RATE;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":r:i:c:T:B:pZ:F:d:w:s:C:G:hV", main_long_options, NULL)) != -1) {
        if (opt == 'h') {
            main_usage(stdout);
            exit(NM_EXIT_OK);
        }
        if (opt == OPT_VERSION || opt == 'V') {
            printf("netmoon %s (%s)\n", NETMOON_VERSION, pcap_lib_version());
            /* Tests read this line to know whether the eBPF source must load. */
            printf("eBPF owner source: %s\n", procs_bpf_built() ? "built in" : "not built");
            printf("eBPF capture engine: %s\n", ebpf_flows_built() ? "built in" : "not built");
            exit(NM_EXIT_OK);
        }
        if (opt == '?')
            return main_usage_error("unknown option '%s'", argv[optind - 1]);
        if (opt == ':')
            return main_usage_error("option '%s' needs a value", argv[optind - 1]);
        if ((rc = main_parse_option(cfg, opt, &filter_file)) != 0)
            return rc;
    }
    if (filter_file && optind < argc)
        return main_usage_error("%s", "give the filter either with -F or on the command line, not both");
    if (filter_file)
        return main_read_filter_file(cfg, filter_file);
    if (optind < argc && !(cfg->filter_expr = main_join_words(argc - optind, argv + optind)))
        return main_usage_error("%s", "out of memory");
    if (cfg->read_file && cfg->n_ifaces)
        return main_usage_error("%s", "-r and -i cannot be used together");
    if (cfg->realtime && !cfg->read_file)
        return main_usage_error("%s", "--realtime replays a file: it needs -r");
    if ((cfg->snaplen || cfg->rotate_bytes || cfg->rotate_us) && !cfg->write_path)
        return main_usage_error("%s", "-s, -C and -G shape the -w file: they need -w FILE");
    if (cfg->engine_ebpf && (rc = main_check_ebpf(cfg)) != 0)
        return rc;
    return main_apply_max_memory(cfg);
}

/* The view opens when standard output is a terminal and no headless output
 * was asked for: --no-tui, or --json to standard output. */
static bool main_wants_view(const struct nm_config *cfg)
{
    bool json_stdout = cfg->json && (!cfg->json_path || strcmp(cfg->json_path, "-") == 0);

    return isatty(STDOUT_FILENO) && !cfg->no_tui && !json_stdout;
}

/* "file x.pcap, replay 1x", "interface eth0", … for the view's header. */
static void main_view_source(const struct nm_config *cfg, char *out, size_t outlen)
{
    char name[64], err[256];

    if (cfg->read_file) {
        snprintf(out, outlen, "file %s, %s", cfg->read_file,
                 cfg->realtime ? "replay 1x" : "read at full speed");
    } else if (cfg->n_ifaces == 0) {
        if (iface_default_route("/proc", name, err, sizeof(err)) != IFACE_OK)
            snprintf(name, sizeof(name), "?");
        snprintf(out, outlen, "interface %s (default route)", name);
    } else {
        size_t n = (size_t)snprintf(out, outlen, "interface%s ", cfg->n_ifaces > 1 ? "s" : "");
        for (unsigned i = 0; i < cfg->n_ifaces && n < outlen; i++)
            n += (size_t)snprintf(out + n, outlen - n, "%s%s", i ? "," : "", cfg->ifaces[i]);
    }
}

static int main_open_pcap_writer(const struct nm_config *cfg, struct output_set *outs)
{
    char err[4200];
    struct pcap_writer_config pc = {
        .path = cfg->write_path,
        .snaplen = cfg->snaplen,
        .rotate_bytes = cfg->rotate_bytes,
        .rotate_us = cfg->rotate_us,
    };

    if (!cfg->write_path)
        return 0;
    if (!(outs->packets = pcap_writer_open(&pc, -1, err, sizeof(err)))) {
        fprintf(stderr, "netmoon: %s\n", err);
        return NM_EXIT_FAILURE;
    }
    return 0;
}

/* A sink that could not open: its slot is given back. */
static int main_output_failed(struct output_set *outs, const char *err)
{
    outs->n--;
    fprintf(stderr, "netmoon: %s\n", err);
    return NM_EXIT_FAILURE;
}

static int main_open_outputs(struct nm_config *cfg, struct output_set *outs,
                             struct output_sink **view)
{
    char err[512], source[256];
    bool want_view = main_wants_view(cfg);

    if (main_open_pcap_writer(cfg, outs) != 0)
        return NM_EXIT_FAILURE;
    if (cfg->ipfix_dest &&
        ipfix_sink_open(output_set_add(outs), cfg->ipfix_dest,
                        cfg->ipfix_rate, err, sizeof(err)) != 0)
        return main_output_failed(outs, err);
    if (cfg->prometheus_listen && prometheus_sink_open(output_set_add(outs), cfg->prometheus_listen,
                                                       err, sizeof(err)) != 0)
        return main_output_failed(outs, err);

    if ((!want_view || cfg->json) &&
        json_sink_open(output_set_add(outs), cfg->json_path, err, sizeof(err)) != 0)
        return main_output_failed(outs, err);
    if (want_view) {
        main_view_source(cfg, source, sizeof(source));
        struct tui_options topt = { .source = source, .refresh_us = cfg->refresh_us };
        *view = output_set_add(outs);
        if (tui_sink_open(*view, &topt, err, sizeof(err)) != 0) {
            *view = NULL;
            return main_output_failed(outs, err);
        }
        cfg->snapshot_us = cfg->refresh_us;
    }
    return 0;
}

/* OpenSSL 3 reads its configuration and sets up its providers on the
 * first digest: 5 M instructions, about 1.5 ms, that the flow thread would
 * otherwise pay at the first TLS or QUIC ClientHello (JA4, QUIC's keys). */
static void *main_warm_crypto(void *arg)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n;

    (void)arg;
    (void)EVP_Digest("", 0, md, &n, EVP_sha256(), NULL);
    return NULL;
}

/* A file read with labels is short, and mostly set-up that the flow thread
 * would otherwise wait for in turn: nDPI's tables (10 ms and more) and
 * OpenSSL's.  Both start here, on helper threads, before the file and the
 * outputs are opened; the worker adopts the module.  The process ends
 * after the read, so the modules' tables are left to the exit.  Returns
 * whether *warm was started (to be joined). */
/* NETMOON_FULL_EXIT in the environment: free everything and exit
 * normally, for a leak check from outside (valgrind). */
static bool main_full_exit_wanted(void)
{
#ifdef NM_SANITIZED
    return true;
#else
    return getenv("NETMOON_FULL_EXIT") != NULL;
#endif
}

static bool main_start_early(const struct nm_config *cfg, pthread_t *warm)
{
    if (!cfg->read_file || cfg->no_l7)
        return false;
    if (!main_full_exit_wanted())
        l7_ndpi_exit_fast();
    l7_ndpi_prestart();
    return threads_start_quiet(warm, main_warm_crypto, NULL) == 0;
}

/* A file read without the view ends with _exit once every output is
 * closed and stdio flushed: the libraries' exit handlers (OpenSSL's
 * cleanup of its providers alone is 0.7 M instructions) only free memory,
 * 0.3 to 0.7 ms of a 15 ms read.  The view's handler restores the
 * terminal, and sanitizer builds keep their leak check at exit. */
static bool main_exits_quickly(const struct nm_config *cfg, const struct output_sink *view)
{
    return cfg->read_file && !view && !main_full_exit_wanted();
}

int main(int argc, char **argv)
{
    struct nm_config cfg;
    struct output_set outs = { 0 };
    struct nm_stats stats = { 0 };
    struct output_sink *view = NULL;
    bool ran = false, warming = false;
    pthread_t warm;
    int rc = main_parse_args(&cfg, argc, argv);

    if (rc != 0)
        goto out;
    warming = main_start_early(&cfg, &warm);
    signals_install(main_wants_view(&cfg));
    if ((rc = main_open_outputs(&cfg, &outs, &view)) != 0)
        goto out;
    if (cfg.read_file) {
        rc = offline_run(&cfg, &outs, &stats, &ran);
    } else if (cfg.engine_ebpf) {
        rc = live_ebpf_run(&cfg, &outs, &stats, &ran);
    } else {
        rc = live_run(&cfg, &outs, &stats, &ran);
    }
    if (!ran)
        goto out;
    output_set_flush(&outs);      /* exporters send what they hold, so their counts are final */
    output_set_collect_stats(&outs, &stats);
    output_set_stats(&outs, &stats);
    if (cfg.print_stats)
        stats_text_print(stderr, &stats, !cfg.read_file);
    if (view && cfg.read_file)
        tui_sink_wait(view);      /* the file is done: the view stays until q */
    output_set_flush(&outs);
    if (outs.write_failed && rc == NM_EXIT_OK)
        rc = NM_EXIT_FAILURE;     /* the cause was reported once, naming the path */
out:
    if (pcap_writer_close(outs.packets) != 0 && rc == NM_EXIT_OK)
        rc = NM_EXIT_FAILURE;     /* the cause was reported with the file name */
    output_set_close(&outs);
    if (warming)
        pthread_join(warm, NULL);
    l7_ndpi_prestart_cancel();    /* the read failed before its worker took the module */
    free(cfg.filter_expr);
    if (main_exits_quickly(&cfg, view)) {
        fflush(NULL);
        _exit(rc);
    }
    return rc;
}
