/*
 * prometheus.c: the --prometheus endpoint: a small HTTP/1.1 server (RFC
 * 9112, GET only) on its own thread, serving the Prometheus text format
 * (https://prometheus.io/docs/instrumenting/exposition_formats/).
 *
 * Capture never waits for it: workers do not know it exists.  The output
 * thread updates the counters under a mutex shared only with the server
 * thread (once per record and once a second for the totals), and the
 * server renders them under the same mutex into a buffer allocated once.
 *
 * Safety: at most PROM_CLIENTS_MAX connections at a time (more get 503),
 * requests of at most PROM_REQUEST_MAX bytes (larger: 431), a client has
 * PROM_CLIENT_TIMEOUT_MS to send its request (else 408, so a slow client
 * holds a slot for a bounded time), responses are sent with a send
 * timeout, every connection is closed after one response, and anything
 * but GET (or HEAD) gets 405.
 *
 * Label cardinality is bounded: protocols are the five named ones plus
 * "other", decode reasons a fixed list, and applications at most
 * PROMETHEUS_APP_LABELS_MAX labels, later ones being counted as "other".
 */
#include "output/prometheus.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "analyze/l7_ndpi.h"
#include "common/hostport.h"
#include "common/threads.h"

#define PROM_CLIENTS_MAX 8
#define PROM_REQUEST_MAX 4096
#define PROM_CLIENT_TIMEOUT_MS 5000
#define PROM_SEND_TIMEOUT_S 2
#define PROM_BODY_MAX (64 * 1024)
#define PROM_PROTOS 6              /* tcp udp icmp ipv6-icmp sctp other */
#define PROM_LABEL_MAX 32

struct prom_client {
    int fd;                        /* -1: free slot */
    size_t len;
    uint64_t deadline_ms;
    char req[PROM_REQUEST_MAX];
};

struct prom_metrics {
    struct nm_stats stats;
    uint64_t proto_bytes[PROM_PROTOS], proto_packets[PROM_PROTOS], proto_flows[PROM_PROTOS];
    char app_name[PROMETHEUS_APP_LABELS_MAX][PROM_LABEL_MAX];
    uint64_t app_bytes[PROMETHEUS_APP_LABELS_MAX + 1];   /* last: "other" */
    unsigned apps;
    uint64_t http_responses[5];    /* 200, 404, 405, 408/431, 503 */
};

struct prom_state {
    int listen_fd, wake_fd;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;          /* guards metrics: output thread vs server thread */
    struct prom_metrics m;
    struct prom_client clients[PROM_CLIENTS_MAX];
    char *body;                    /* PROM_BODY_MAX, server thread only */
    char addr[160];
};

static const char *const prom_proto_names[PROM_PROTOS] = {
    "tcp", "udp", "icmp", "ipv6-icmp", "sctp", "other",
};

enum { PROM_R200, PROM_R404, PROM_R405, PROM_R_BAD, PROM_R503 };

static uint64_t prom_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- counters (output thread) ------------------------------------------ */

static unsigned prom_proto_index(uint8_t proto)
{
    const char *n = record_proto_name(proto);

    for (unsigned i = 0; n && i < PROM_PROTOS - 1; i++)
        if (strcmp(n, prom_proto_names[i]) == 0)
            return i;
    return PROM_PROTOS - 1;
}

const char *prometheus_app_label(const struct flow_record *r, char *buf, size_t buflen)
{
    /* nDPI's label (ndpiReader's form, e.g. "TLS.Google"); with --no-l7
     * the transport protocol stands in for it, and a flow nDPI never
     * decided on is "Unknown", as nDPI itself names it. */
    if (r->app.state == FLOW_L7_DONE) {
        l7_ndpi_app_name(&r->app, buf, buflen);
        return buf;
    }
    const char *n = r->app.state == FLOW_L7_NONE ? record_proto_name(r->proto) : "Unknown";

    snprintf(buf, buflen, "%s", n ? n : "other");
    return buf;
}

/* Index of label in the application table, adding it while there is room;
 * PROMETHEUS_APP_LABELS_MAX ("other") when full. */
static unsigned prom_app_index(struct prom_metrics *m, const char *label)
{
    for (unsigned i = 0; i < m->apps; i++)
        if (strcmp(m->app_name[i], label) == 0)
            return i;
    if (m->apps == PROMETHEUS_APP_LABELS_MAX || strcmp(label, "other") == 0)
        return PROMETHEUS_APP_LABELS_MAX;
    snprintf(m->app_name[m->apps], PROM_LABEL_MAX, "%s", label);
    return m->apps++;
}

static int prom_write_flow(struct output_sink *s, const struct flow_record *r)
{
    struct prom_state *st = s->state;
    char label[PROM_LABEL_MAX];
    unsigned p = prom_proto_index(r->proto);
    uint64_t bytes = r->bytes[0] + r->bytes[1];

    prometheus_app_label(r, label, sizeof(label));
    pthread_mutex_lock(&st->lock);
    st->m.proto_bytes[p] += bytes;
    st->m.proto_packets[p] += r->pkts[0] + r->pkts[1];
    if (r->end_reason != FLOW_END_ACTIVE)
        st->m.proto_flows[p]++;
    st->m.app_bytes[prom_app_index(&st->m, label)] += bytes;
    pthread_mutex_unlock(&st->lock);
    return 0;
}

static void prom_update_stats(struct output_sink *s, const struct nm_stats *stats)
{
    struct prom_state *st = s->state;

    pthread_mutex_lock(&st->lock);
    st->m.stats = *stats;
    pthread_mutex_unlock(&st->lock);
}

static int prom_write_stats(struct output_sink *s, const struct nm_stats *stats)
{
    prom_update_stats(s, stats);
    return 0;
}

/* ---- rendering (server thread) ------------------------------------------ */

struct prom_buf {
    char *p;
    size_t len, cap;
};

static void prom_put(struct prom_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void prom_put(struct prom_buf *b, const char *fmt, ...)
{
    va_list ap;

    if (b->len >= b->cap)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len = (size_t)n < b->cap - b->len ? b->len + (size_t)n : b->cap;
}

static void prom_head(struct prom_buf *b, const char *name, const char *type, const char *help)
{
    prom_put(b, "# HELP netmoon_%s %s\n# TYPE netmoon_%s %s\n", name, help, name, type);
}

static void prom_metric(struct prom_buf *b, const char *name, const char *type, const char *help,
                        uint64_t v)
{
    prom_head(b, name, type, help);
    prom_put(b, "netmoon_%s %" PRIu64 "\n", name, v);
}

static void prom_render_totals(struct prom_buf *b, const struct nm_stats *s)
{
    const struct decode_stats *d = &s->decode;

    prom_metric(b, "packets_total", "counter", "Packets read (after the kernel filter when live).", d->frames);
    prom_metric(b, "bytes_total", "counter", "Frame bytes of those packets, as on the wire.", d->bytes);
    prom_metric(b, "packets_accounted_total", "counter", "Packets accounted to flows.", d->decoded);
    prom_metric(b, "non_ip_packets_total", "counter", "Packets that were not IP.", d->non_ip);
    prom_metric(b, "filtered_out_total", "counter", "Packets the filter rejected (files).", s->filtered_out);
    prom_metric(b, "flows_started_total", "counter", "Flows created.", s->flows_created);
    prom_metric(b, "flows_ended_total", "counter", "Flows ended.", s->flows_ended);
    prom_metric(b, "flows_active", "gauge", "Flows in the flow tables.", s->flows_active);
    prom_metric(b, "flow_evictions_total", "counter", "Flows pushed out of a full table (--max-flows).", s->evictions);
    prom_metric(b, "kernel_packets_total", "counter", "Packets the kernel passed to the capture sockets.", s->kernel_packets);
    prom_metric(b, "kernel_drops_total", "counter", "Packets the kernel dropped (capture ring full).", s->kernel_drops);
    prom_metric(b, "kernel_freezes_total", "counter", "Capture queue freezes reported by the kernel.", s->kernel_freezes);
    prom_metric(b, "ring_malformed_total", "counter", "Capture ring entries skipped: header failed the bounds checks.", s->ring_malformed);
    prom_metric(b, "output_stalls_total", "counter", "Times a worker waited for the output thread.", s->output_stalls);
    prom_metric(b, "pcap_written_total", "counter", "Packets written by -w.", s->pcap_written);
    prom_metric(b, "pcap_dropped_total", "counter", "Packets -w could not write.", s->pcap_dropped);
    prom_metric(b, "ipfix_records_sent_total", "counter", "IPFIX data records sent.", s->ipfix_sent);
    prom_metric(b, "ipfix_records_lost_total", "counter", "IPFIX data records in messages that could not be sent.", s->ipfix_lost);
    if (s->ebpf_engine) {
        prom_metric(b, "ebpf_table_full_packets_total", "counter",
                    "--engine ebpf: packets of new flows the full flow map could not account.", s->ebpf_table_full);
        prom_metric(b, "ebpf_program_runs_total", "counter",
                    "--engine ebpf: runs of the kernel program (counted while kernel.bpf_stats_enabled is 1).", s->ebpf_prog_runs);
        prom_head(b, "ebpf_program_seconds_total", "counter",
                  "--engine ebpf: run time of the kernel program (while kernel.bpf_stats_enabled is 1).");
        prom_put(b, "netmoon_ebpf_program_seconds_total %.9f\n", (double)s->ebpf_prog_ns / 1e9);
    }
    prom_head(b, "decode_problems_total", "counter", "Malformed or unsupported packets by reason.");
    for (int r = 0; r < DECODE_REASON_COUNT; r++)
        prom_put(b, "netmoon_decode_problems_total{reason=\"%s\"} %" PRIu64 "\n",
                 decode_reason_name((enum decode_reason)r), d->reasons[r]);
}

static void prom_render_flows(struct prom_buf *b, const struct prom_metrics *m)
{
    static const char *const per_proto[3][2] = {
        { "protocol_bytes_total", "Frame bytes of ended flows and interim records, by protocol." },
        { "protocol_packets_total", "Packets of ended flows and interim records, by protocol." },
        { "protocol_flows_total", "Flows ended, by protocol." },
    };
    const uint64_t *vals[3] = { m->proto_bytes, m->proto_packets, m->proto_flows };

    for (int k = 0; k < 3; k++) {
        prom_head(b, per_proto[k][0], "counter", per_proto[k][1]);
        for (int i = 0; i < PROM_PROTOS; i++)
            prom_put(b, "netmoon_%s{proto=\"%s\"} %" PRIu64 "\n", per_proto[k][0],
                     prom_proto_names[i], vals[k][i]);
    }
    prom_head(b, "application_bytes_total", "counter",
              "Frame bytes of ended flows and interim records, by application (at most 32 labels, then other).");
    for (unsigned i = 0; i < m->apps; i++)
        prom_put(b, "netmoon_application_bytes_total{app=\"%s\"} %" PRIu64 "\n", m->app_name[i],
                 m->app_bytes[i]);
    prom_put(b, "netmoon_application_bytes_total{app=\"other\"} %" PRIu64 "\n",
             m->app_bytes[PROMETHEUS_APP_LABELS_MAX]);
    prom_head(b, "http_responses_total", "counter", "Responses of this endpoint by status class.");
    static const char *const codes[5] = { "200", "404", "405", "4xx_request", "503" };
    for (int i = 0; i < 5; i++)
        prom_put(b, "netmoon_http_responses_total{code=\"%s\"} %" PRIu64 "\n", codes[i],
                 m->http_responses[i]);
}

static size_t prom_render(struct prom_state *st)
{
    struct prom_buf b = { st->body, 0, PROM_BODY_MAX };

    pthread_mutex_lock(&st->lock);
    prom_render_totals(&b, &st->m.stats);
    prom_render_flows(&b, &st->m);
    pthread_mutex_unlock(&st->lock);
    return b.len;
}

/* ---- HTTP (server thread) ------------------------------------------------- */

static void prom_count_response(struct prom_state *st, int kind)
{
    pthread_mutex_lock(&st->lock);
    st->m.http_responses[kind]++;
    pthread_mutex_unlock(&st->lock);
}

static void prom_send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return;      /* the client went away or stalled past the send timeout */
        p += k;
        n -= (size_t)k;
    }
}

static void prom_respond(struct prom_state *st, int fd, int kind, const char *status,
                         const char *body, size_t body_len, bool head_only)
{
    char h[256];
    int n = snprintf(h, sizeof(h),
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                     "Connection: close\r\n\r\n",
                     status, kind == PROM_R200 ? "text/plain; version=0.0.4; charset=utf-8"
                                               : "text/plain; charset=utf-8",
                     body_len, kind == PROM_R405 ? "Allow: GET, HEAD\r\n" : "");
    prom_count_response(st, kind);
    prom_send_all(fd, h, (size_t)n);
    if (!head_only)
        prom_send_all(fd, body, body_len);
}

static void prom_close_client(struct prom_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = 0;
}

static void prom_error(struct prom_state *st, struct prom_client *c, int kind, const char *status)
{
    char body[64];
    int n = snprintf(body, sizeof(body), "%s\n", status);

    prom_respond(st, c->fd, kind, status, body, (size_t)n, false);
    prom_close_client(c);
}

/* A whole request head is in c->req: answer it. */
static void prom_handle(struct prom_state *st, struct prom_client *c)
{
    bool head = strncmp(c->req, "HEAD ", 5) == 0;
    const char *path = head ? c->req + 5 : c->req + 4;

    if (!head && strncmp(c->req, "GET ", 4) != 0) {
        prom_error(st, c, PROM_R405, "405 Method Not Allowed");
        return;
    }
    if (strncmp(path, "/metrics", 8) != 0 || (path[8] != ' ' && path[8] != '?')) {
        prom_error(st, c, PROM_R404, "404 Not Found");
        return;
    }
    size_t len = prom_render(st);
    prom_respond(st, c->fd, PROM_R200, "200 OK", st->body, len, head);
    prom_close_client(c);
}

static void prom_read_client(struct prom_state *st, struct prom_client *c)
{
    ssize_t n = recv(c->fd, c->req + c->len, sizeof(c->req) - 1 - c->len, MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        prom_close_client(c);
        return;
    }
    c->len += (size_t)n;
    c->req[c->len] = '\0';
    if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
        prom_handle(st, c);
    else if (c->len == sizeof(c->req) - 1)
        prom_error(st, c, PROM_R_BAD, "431 Request Header Fields Too Large");
}

static void prom_accept(struct prom_state *st)
{
    struct timeval tv = { .tv_sec = PROM_SEND_TIMEOUT_S };
    int fd = accept4(st->listen_fd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0)
        return;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    for (int i = 0; i < PROM_CLIENTS_MAX; i++) {
        if (st->clients[i].fd < 0) {
            st->clients[i].fd = fd;
            st->clients[i].len = 0;
            st->clients[i].deadline_ms = prom_now_ms() + PROM_CLIENT_TIMEOUT_MS;
            return;
        }
    }
    struct prom_client busy = { .fd = fd };
    prom_error(st, &busy, PROM_R503, "503 Service Unavailable");
}

static void prom_expire(struct prom_state *st, uint64_t now)
{
    for (int i = 0; i < PROM_CLIENTS_MAX; i++)
        if (st->clients[i].fd >= 0 && now >= st->clients[i].deadline_ms)
            prom_error(st, &st->clients[i], PROM_R_BAD, "408 Request Timeout");
}

static void *prom_thread(void *arg)
{
    struct prom_state *st = arg;
    struct pollfd pfd[2 + PROM_CLIENTS_MAX];

    for (;;) {
        int map[PROM_CLIENTS_MAX];
        nfds_t n = 2;
        pfd[0] = (struct pollfd){ .fd = st->wake_fd, .events = POLLIN };
        pfd[1] = (struct pollfd){ .fd = st->listen_fd, .events = POLLIN };
        for (int i = 0; i < PROM_CLIENTS_MAX; i++)
            if (st->clients[i].fd >= 0) {
                map[n - 2] = i;
                pfd[n++] = (struct pollfd){ .fd = st->clients[i].fd, .events = POLLIN };
            }
        poll(pfd, n, 250);
        if (pfd[0].revents)
            break;
        for (nfds_t k = 2; k < n; k++)
            if (pfd[k].revents)
                prom_read_client(st, &st->clients[map[k - 2]]);
        if (pfd[1].revents & POLLIN)
            prom_accept(st);
        prom_expire(st, prom_now_ms());
    }
    return NULL;
}

/* ---- setup ------------------------------------------------------------------ */

static int prom_listen(const char *spec, char *err, size_t errlen)
{
    char buf[160];
    const char *host, *port;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res = NULL;
    int fd = -1, one = 1, e;

    snprintf(buf, sizeof(buf), "%s", spec);
    if (hostport_split(buf, "127.0.0.1", &host, &port) != 0) {
        snprintf(err, errlen, "--prometheus needs [ADDR:]PORT, not '%s'", spec);
        return -1;
    }
    if ((e = getaddrinfo(host, port, &hints, &res)) != 0) {
        snprintf(err, errlen, "--prometheus %s: %s", spec, gai_strerror(e));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 16) != 0) {
        snprintf(err, errlen, "--prometheus %s: cannot listen: %s (is the port in use?)", spec,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static void prom_close(struct output_sink *s)
{
    struct prom_state *st = s->state;
    uint64_t one = 1;

    if (!st)
        return;
    if (st->started) {
        if (write(st->wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
            pthread_cancel(st->thread);   /* cannot wake it: an eventfd write never fails in practice */
        pthread_join(st->thread, NULL);
    }
    for (int i = 0; i < PROM_CLIENTS_MAX; i++)
        prom_close_client(&st->clients[i]);
    if (st->listen_fd >= 0)
        close(st->listen_fd);
    if (st->wake_fd >= 0)
        close(st->wake_fd);
    pthread_mutex_destroy(&st->lock);
    free(st->body);
    free(st);
    s->state = NULL;
}

int prometheus_sink_open(struct output_sink *sink, const char *spec, char *err, size_t errlen)
{
    struct prom_state *st = calloc(1, sizeof(*st));

    memset(sink, 0, sizeof(*sink));
    if (!st || !(st->body = malloc(PROM_BODY_MAX))) {
        snprintf(err, errlen, "out of memory");
        free(st);
        return -1;
    }
    pthread_mutex_init(&st->lock, NULL);
    for (int i = 0; i < PROM_CLIENTS_MAX; i++)
        st->clients[i].fd = -1;
    sink->name = "prometheus";
    sink->state = st;
    sink->write_flow = prom_write_flow;
    sink->write_stats = prom_write_stats;
    sink->update_stats = prom_update_stats;
    sink->close = prom_close;
    st->wake_fd = eventfd(0, EFD_CLOEXEC);
    st->listen_fd = prom_listen(spec, err, errlen);
    if (st->wake_fd < 0 || st->listen_fd < 0)
        goto fail;
    /* The server thread takes no signals, so SIGINT/SIGHUP interrupt the
     * threads that act on them. */
    int e = threads_start_quiet(&st->thread, prom_thread, st);
    if (e != 0) {
        snprintf(err, errlen, "cannot start the --prometheus thread: %s", strerror(e));
        goto fail;
    }
    st->started = true;
    return 0;
fail:
    if (st->wake_fd < 0)
        snprintf(err, errlen, "--prometheus: eventfd: %s", strerror(errno));
    prom_close(sink);
    return -1;
}
