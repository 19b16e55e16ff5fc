/*
 * json.c: the JSON-lines output.
 *
 * Timestamps are epoch seconds with microsecond precision, printed from
 * integers so no floating-point rounding can change them.  Optional fields
 * (vlan, tunnel, TCP flags, ICMP type/code/id) appear only when they apply,
 * so a consumer can test for presence.
 */
#include "output/json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/l7_ndpi.h"
#include "analyze/tcp_state.h"
#include "output/community_id.h"
#include "output/writer.h"

/* The text of the last whole second written: records that end together
 * share it, so ts_start and ts_end mostly copy it instead of converting
 * ten digits again. */
struct json_second {
    uint64_t sec;               /* UINT64_MAX: none yet (no timestamp has it) */
    size_t len;
    char text[20];
};

struct json_state {
    struct writer w;
    struct json_second second;
};

/* snprintf that never runs past the buffer and returns what it wrote. */
static size_t json_put(char *out, size_t outlen, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static size_t json_put(char *out, size_t outlen, size_t at, const char *fmt, ...)
{
    va_list ap;

    if (at >= outlen)
        return at;
    va_start(ap, fmt);
    int n = vsnprintf(out + at, outlen - at, fmt, ap);
    va_end(ap);
    if (n < 0)
        return at;
    return (size_t)n >= outlen - at ? outlen - 1 : at + (size_t)n;
}

/* ---- flow records -------------------------------------------------------
 *
 * One record per flow is the output's hot path: it ran on the thread that
 * also reads and decodes, at about 7,000 instructions a record.  A record's
 * length has a bound (JSON_FLOW_MAX in json.h), so json_write_flow reserves that
 * much of the writer's buffer once and every write after it goes unchecked:
 * keys are literals copied with their compile-time length, numbers are
 * converted two digits at a time straight into the buffer.  The text is the
 * same as printf would make (tests/unit/test_json_format.c compares them).
 */

_Static_assert(JSON_FLOW_MAX <= JSON_RECORD_MAX, "a flow record fits JSON_RECORD_MAX");

/* The small formatters are forced inline: at -O2 gcc kept them as calls,
 * and a call costs as much as formatting a small number. */
#define JB_INLINE static inline __attribute__((always_inline))

/* Writes v < 100 as exactly two digits. */
JB_INLINE void jb_pair(char *p, uint32_t v)
{
    memcpy(p, record_digit_pairs + 2 * v, 2);
}

JB_INLINE char *jb_mem(char *p, const void *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define JB_LIT(p, lit) jb_mem((p), (lit), sizeof(lit) - 1)

/* A string of at most max bytes up to its NUL.  These are a few bytes
 * long: copying while looking for the NUL beats strnlen and memcpy. */
JB_INLINE char *jb_chars(char *p, const char *s, size_t max)
{
    for (const char *end = s + max; s < end && *s;)
        *p++ = *s++;
    return p;
}

/* A name from a table, cut at JSON_NAME_MAX (see json.h). */
JB_INLINE char *jb_name(char *p, const char *s)
{
    return jb_chars(p, s, JSON_NAME_MAX);
}

/* v < 10000 in decimal: one division by 100 at most, the digits from the
 * pairs table.  Most numbers of a record (counters, ports, RTTs) are
 * this small, so this is inlined and the rest is not. */
JB_INLINE char *jb_upto4(char *p, uint32_t v)
{
    if (v < 100) {
        if (v < 10) {
            *p = (char)('0' + v);
            return p + 1;
        }
        jb_pair(p, v);
        return p + 2;
    }
    uint32_t hi = v / 100, lo = v % 100;
    if (hi < 10) {
        *p = (char)('0' + hi);
        jb_pair(p + 1, lo);
        return p + 3;
    }
    jb_pair(p, hi);
    jb_pair(p + 2, lo);
    return p + 4;
}

/* v < 10^4 as exactly four digits, v < 10^8 as exactly eight. */
JB_INLINE char *jb_fixed4(char *p, uint32_t v)
{
    jb_pair(p, v / 100);
    jb_pair(p + 2, v % 100);
    return p + 4;
}

JB_INLINE char *jb_fixed8(char *p, uint32_t v)
{
    return jb_fixed4(jb_fixed4(p, v / 10000), v % 10000);
}

/* v >= 10^4: the leading digits, then fixed blocks. */
static char *jb_u32_long(char *p, uint32_t v)
{
    if (v < 100000) {           /* ports, RTTs: one leading digit */
        *p = (char)('0' + v / 10000);
        return jb_fixed4(p + 1, v % 10000);
    }
    if (v < 100000000)
        return jb_fixed4(jb_upto4(p, v / 10000), v % 10000);
    return jb_fixed8(jb_upto4(p, v / 100000000), v % 100000000);
}

JB_INLINE char *jb_u32(char *p, uint32_t v)
{
    if (v < 10) {               /* zero counters are the commonest */
        *p = (char)('0' + v);
        return p + 1;
    }
    return v < 10000 ? jb_upto4(p, v) : jb_u32_long(p, v);
}

char *json_put_u32(char *p, uint32_t v)
{
    return jb_u32(p, v);
}

static char *jb_u64_long(char *p, uint64_t v);

JB_INLINE char *jb_u64(char *p, uint64_t v)
{
    return v <= UINT32_MAX ? jb_u32(p, (uint32_t)v) : jb_u64_long(p, v);
}

char *json_put_u64(char *p, uint64_t v)
{
    return jb_u64(p, v);
}

static char *jb_u64_long(char *p, uint64_t v)
{
    /* Ten digits or more: the low eight as a fixed block, the rest (up to
     * twelve) split once more if it is above 10^8. */
    uint64_t hi = v / 100000000;
    if (hi < 100000000) {
        p = jb_u32(p, (uint32_t)hi);
    } else {
        p = jb_upto4(p, (uint32_t)(hi / 100000000));
        p = jb_fixed8(p, (uint32_t)(hi % 100000000));
    }
    return jb_fixed8(p, (uint32_t)(v % 100000000));
}

/* The fraction of a second, "." and six digits. */
JB_INLINE char *jb_micros(char *p, uint32_t f)
{
    *p = '.';
    jb_pair(p + 1, f / 10000);
    return jb_fixed4(p + 3, f % 10000);
}

/* Seconds with exactly six decimals, from integers. */
JB_INLINE char *jb_time(char *p, uint64_t us)
{
    uint64_t s = us / 1000000;

    return jb_micros(jb_u64(p, s), (uint32_t)(us - s * 1000000));
}

/* The same through the last second's text.  The copy is of fixed size: a
 * record has room for 20 digits there. */
JB_INLINE char *jb_time_cached(char *p, uint64_t us, struct json_second *c)
{
    uint64_t s = us / 1000000;

    if (s != c->sec) {
        c->len = (size_t)(jb_u64(c->text, s) - c->text);
        c->sec = s;
    }
    memcpy(p, c->text, sizeof(c->text));
    return jb_micros(p + c->len, (uint32_t)(us - s * 1000000));
}

char *json_put_time(char *p, uint64_t us)
{
    return jb_time(p, us);
}

/* ,"key":value  (key given as a literal without quotes) */
#define JB_KEY_U64(p, key, v) jb_u64(JB_LIT((p), ",\"" key "\":"), (v))
#define JB_KEY_U32(p, key, v) jb_u32(JB_LIT((p), ",\"" key "\":"), (v))
#define JB_KEY_NAME(p, key, s) JB_LIT(jb_name(JB_LIT((p), ",\"" key "\":\""), (s)), "\"")

static inline bool jb_plain(unsigned char c)
{
    return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';
}

/* One byte that needs escaping; returns its length (2 or 6). */
static size_t jb_escape_byte(unsigned char c, char e[6])
{
    static const char hex[] = "0123456789abcdef";

    e[0] = '\\';
    if (c == '"' || c == '\\') {
        e[1] = (char)c;
        return 2;
    }
    memcpy(e + 1, "u00", 3);
    e[4] = hex[c >> 4];
    e[5] = hex[c & 15];
    return 6;
}

/* Bytes from the wire or from a process (SNI, Host, comm, cmdline) as the
 * inside of a JSON string: quotes, backslashes, control bytes and bytes
 * above 0x7e are escaped (\u00XX, bytes read as Latin-1), so the line is
 * valid JSON whatever a peer or a process chose.  The escaped text stops
 * before *room bytes, which it takes from *room; *cut says it stopped.
 * Runs of plain bytes are copied whole. */
static char *jb_escaped(char *p, const char *s, size_t len, size_t *room, bool *cut)
{
    size_t i = 0;

    *cut = false;
    while (i < len) {
        size_t run = 0;
        while (i + run < len && jb_plain((unsigned char)s[i + run]))
            run++;
        if (run > *room) {
            *cut = true;
            run = *room;
        }
        p = jb_mem(p, s + i, run);
        *room -= run;
        i += run;
        if (*cut || i == len)
            break;
        char e[6];
        size_t n = jb_escape_byte((unsigned char)s[i], e);
        if (n > *room) {
            *cut = true;
            break;
        }
        p = jb_mem(p, e, n);
        *room -= n;
        i++;
    }
    return p;
}

/* The owning process (procs/), when attribution found one. */
static char *jb_owner(char *p, const struct flow_owner *o)
{
    size_t room = 6 * NM_OWNER_COMM_MAX;
    bool cut;

    if (o->pid <= 0)
        return p;
    p = JB_KEY_U64(p, "pid", (uint64_t)o->pid);
    p = JB_LIT(p, ",\"process\":\"");
    p = jb_escaped(p, o->comm, strnlen(o->comm, sizeof(o->comm)), &room, &cut);
    p = JB_LIT(p, "\",\"cmdline\":\"");
    room = JSON_CMDLINE_MAX;
    p = jb_escaped(p, o->cmdline, strnlen(o->cmdline, sizeof(o->cmdline)), &room, &cut);
    p = JB_LIT(p, "\"");
    if (cut || o->cmdline_cut)
        p = JB_LIT(p, ",\"cmdline_cut\":true");
    return p;
}

/* An address as a JSON string; record_format_addr's NUL lands on the
 * closing quote's place. */
static inline char *jb_addr(char *p, const struct nm_addr *a, uint8_t ip_version)
{
    p += record_format_addr(a, ip_version, p, 48);
    *p = '"';
    return p + 1;
}

static char *jb_endpoints(char *p, const struct flow_record *r)
{
    p = jb_addr(JB_LIT(p, ",\"src_ip\":\""), &r->addr[NM_DIR_SRC], r->ip_version);
    p = JB_KEY_U32(p, "src_port", r->port[NM_DIR_SRC]);
    p = jb_addr(JB_LIT(p, ",\"dst_ip\":\""), &r->addr[NM_DIR_DST], r->ip_version);
    p = JB_KEY_U32(p, "dst_port", r->port[NM_DIR_DST]);
    p = JB_KEY_U64(p, "src_pkts", r->pkts[NM_DIR_SRC]);
    p = JB_KEY_U64(p, "src_bytes", r->bytes[NM_DIR_SRC]);
    p = JB_KEY_U64(p, "dst_pkts", r->pkts[NM_DIR_DST]);
    return JB_KEY_U64(p, "dst_bytes", r->bytes[NM_DIR_DST]);
}

static char *jb_l4(char *p, const struct flow_record *r)
{
    if (r->proto == 6) {
        p = JB_LIT(p, ",\"tcp_flags_src\":\"");
        p += record_format_tcp_flags(r->tcp_flags[NM_DIR_SRC], p);
        p = JB_LIT(p, "\",\"tcp_flags_dst\":\"");
        p += record_format_tcp_flags(r->tcp_flags[NM_DIR_DST], p);
        p = JB_LIT(p, "\"");
    }
    if (r->ports_unknown)
        p = JB_LIT(p, ",\"ports_unknown\":true");
    if (r->has_icmp) {
        p = JB_KEY_U32(p, "icmp_type", r->icmp_type);
        p = JB_KEY_U32(p, "icmp_code", r->icmp_code);
        if (r->icmp_is_echo)
            p = JB_KEY_U32(p, "icmp_id", r->icmp_id);
    }
    return p;
}

/* ,"name":{"src":x,"dst":y} with only the legs that have samples. */
#define JB_RTT_LEGS(p, t, name, v) \
    jb_rtt_legs(JB_LIT((p), ",\"" name "\":{"), (t), (v))

JB_INLINE char *jb_rtt_legs(char *p, const struct flow_tcp_summary *t, const uint32_t v[2])
{
    if (t->rtt_samples[NM_DIR_SRC]) {
        p = jb_u32(JB_LIT(p, "\"src\":"), v[NM_DIR_SRC]);
        if (t->rtt_samples[NM_DIR_DST])
            *p++ = ',';
    }
    if (t->rtt_samples[NM_DIR_DST])
        p = jb_u32(JB_LIT(p, "\"dst\":"), v[NM_DIR_DST]);
    *p = '}';
    return p + 1;
}

#define JB_PAIR(p, name, v) \
    JB_KEY_U64(JB_KEY_U64((p), "src_" name, (v)[0]), "dst_" name, (v)[1])

static char *jb_tcp_rtt(char *p, const struct flow_tcp_summary *t)
{
    if (t->has_handshake_rtt) {
        p = JB_KEY_U32(p, "rtt_server_us", t->rtt_server_us);
        p = JB_KEY_U32(p, "rtt_client_us", t->rtt_client_us);
        p = JB_KEY_U32(p, "rtt_handshake_us", t->rtt_handshake_us);
    }
    if (!t->rtt_samples[NM_DIR_SRC] && !t->rtt_samples[NM_DIR_DST])
        return p;
    p = JB_RTT_LEGS(p, t, "rtt_min_us", t->rtt_min_us);
    p = JB_RTT_LEGS(p, t, "rtt_avg_us", t->rtt_avg_us);
    p = JB_RTT_LEGS(p, t, "rtt_max_us", t->rtt_max_us);
    return JB_RTT_LEGS(p, t, "rtt_last_us", t->rtt_last_us);
}

/* The anomaly counters of struct flow_tcp_summary, in output order. */
#define JB_TCP_COUNTERS(X) X(retrans) X(out_of_order) X(dup_acks) X(zero_window) \
    X(keepalives) X(rsts)
#define JB_OR_COUNTER(name) t->name[0] | t->name[1] |
#define JB_PAIR_COUNTER(name) p = JB_PAIR(p, #name, t->name);
#define JB_ZERO_COUNTER(name) ",\"src_" #name "\":0,\"dst_" #name "\":0"

/* TCP analysis: state, Zeek summary, RTTs, anomaly counters (analyze/). */
static char *jb_tcp(char *p, const struct flow_record *r)
{
    const struct flow_tcp_summary *t = &r->tcp;

    if (!t->valid)
        return p;
    p = JB_KEY_NAME(p, "tcp_state", tcp_state_name((enum tcp_state)t->tcp_state));
    p = JB_LIT(jb_chars(JB_LIT(p, ",\"conn_state\":\""), t->conn_state,
                        sizeof(t->conn_state)), "\"");
    p = JB_LIT(jb_chars(JB_LIT(p, ",\"history\":\""), t->history, sizeof(t->history)), "\"");
    p = jb_tcp_rtt(p, t);
    /* Most flows have none of these events: then one copy of the text. */
    if (JB_TCP_COUNTERS(JB_OR_COUNTER) 0) {
        JB_TCP_COUNTERS(JB_PAIR_COUNTER)
    } else {
        p = JB_LIT(p, JB_TCP_COUNTERS(JB_ZERO_COUNTER));
    }
    if (t->wscale_unknown) {
        p = JB_LIT(p, ",\"wscale_unknown\":true");
    } else {
        p = JB_LIT(p, ",\"wscale_unknown\":false");
        p = JB_PAIR(p, "wscale", t->wscale);
    }
    p = JB_PAIR(p, "payload_bytes", t->payload_bytes);
    return JB_KEY_U64(p, "missed_bytes", t->missed_bytes);
}

/* nDPI's label (analyze/l7_ndpi.c), once it has decided; names carry no
 * character that needs escaping (l7_ndpi copies them so). */
static char *jb_app(char *p, const struct flow_record *r)
{
    if (r->app.state != FLOW_L7_DONE)
        return p;
    p = JB_LIT(p, ",\"app\":\"");
    p += l7_ndpi_app_name(&r->app, p, 2 * 48);
    p = JB_LIT(p, "\"");
    p = JB_KEY_NAME(p, "category", l7_ndpi_category_name(&r->app));
    return JB_KEY_NAME(p, "app_confidence", l7_ndpi_confidence_name(&r->app));
}

/* ,"key":"text"  or, for list fields, ,"key":["a","b"]; the escaped text
 * of all fields takes from one *room (see JSON_FLOW_L7_MAX). */
#define JB_L7_FIELD(p, l, f, key, list, room) \
    jb_l7_field(JB_LIT((p), ",\"" key "\":"), (l), (f), (list), (room))

static char *jb_l7_field(char *p, const struct flow_l7_summary *l, enum nm_l7_field f,
                         bool list, size_t *room)
{
    size_t len;
    const char *v = flow_l7_field(l, f, &len);
    bool cut;

    if (list)
        *p++ = '[';
    *p++ = '"';
    for (size_t i = 0, start = 0; i <= len; i++) {
        if (i < len && !(list && v[i] == NM_L7_LIST_SEP))
            continue;
        p = jb_escaped(p, v + start, i - start, room, &cut);
        if (i == len || cut || *room < 3)
            break;
        *room -= 3;
        p = JB_LIT(p, "\",\"");
        start = i + 1;
    }
    *p++ = '"';
    if (list)
        *p++ = ']';
    return p;
}

#define JB_L7_IF(p, l, f, key, list, room) \
    ((l)->len[(f)] ? JB_L7_FIELD((p), (l), (f), key, (list), (room)) : (p))

static const char *json_tls_version_name(uint16_t v)
{
    switch (v) {
    case 0x0300: return "SSLv3";
    case 0x0301: return "TLSv1.0";
    case 0x0302: return "TLSv1.1";
    case 0x0303: return "TLSv1.2";
    case 0x0304: return "TLSv1.3";
    default: return NULL;
    }
}

/* Application metadata from netmoon's own parsers (analyze/l7*.c). */
static char *jb_l7(char *p, const struct flow_l7_summary *l)
{
    const char *tls = json_tls_version_name(l->tls_version);
    size_t room = 6 * NM_L7_TEXT_MAX;

    if (l->proto == NM_L7_NONE)
        return p;
    p = JB_L7_IF(p, l, NM_L7_SNI, "sni", false, &room);
    p = JB_L7_IF(p, l, NM_L7_ALPN, "alpn", true, &room);
    if (tls)
        p = JB_KEY_NAME(p, "tls_version", tls);
    if (l->has_ja4)
        p = JB_LIT(jb_mem(JB_LIT(p, ",\"ja4\":\""), l->ja4, sizeof(l->ja4)), "\"");
    p = JB_L7_IF(p, l, NM_L7_HTTP_HOST, "http_host", false, &room);
    p = JB_L7_IF(p, l, NM_L7_HTTP_METHOD, "http_method", false, &room);
    p = JB_L7_IF(p, l, NM_L7_HTTP_PATH, "http_path", false, &room);
    if (l->http_status)
        p = JB_KEY_U32(p, "http_status", l->http_status);
    p = JB_L7_IF(p, l, NM_L7_DNS_QNAME, "dns_qname", false, &room);
    if (l->has_dns_qtype)
        p = JB_KEY_U32(p, "dns_qtype", l->dns_qtype);
    if (l->has_dns_rcode)
        p = JB_KEY_U32(p, "dns_rcode", l->dns_rcode);
    p = JB_L7_IF(p, l, NM_L7_DNS_ANSWERS, "dns_answers", true, &room);
    p = JB_L7_IF(p, l, NM_L7_SSH_CLIENT, "ssh_client", false, &room);
    return JB_L7_IF(p, l, NM_L7_SSH_SERVER, "ssh_server", false, &room);
}

static char *jb_head(char *p, const struct flow_record *r, struct json_second *second)
{
    const char *proto = record_proto_name(r->proto);
    const char *tunnel = nm_tunnel_name((enum nm_tunnel)r->tunnel);
    uint64_t dur = r->ts_end_us >= r->ts_start_us ? r->ts_end_us - r->ts_start_us : 0;

    p = jb_u64(JB_LIT(p, "{\"type\":\"flow\",\"flow_id\":"), r->flow_id);
    p = jb_time_cached(JB_LIT(p, ",\"ts_start\":"), r->ts_start_us, second);
    p = jb_time_cached(JB_LIT(p, ",\"ts_end\":"), r->ts_end_us, second);
    p = jb_time(JB_LIT(p, ",\"duration\":"), dur);
    if (proto)
        p = JB_KEY_NAME(p, "proto", proto);
    else
        p = JB_KEY_U32(p, "proto", r->proto);
    p = JB_KEY_U32(p, "ip_version", r->ip_version);
    if (r->vlan_id)
        p = JB_KEY_U32(p, "vlan", r->vlan_id);
    if (tunnel)
        p = JB_KEY_NAME(p, "tunnel", tunnel);
    return p;
}

/* The record into out, which has room for JSON_FLOW_MAX bytes; returns the
 * end of its text (no NUL). */
static char *jb_flow(char *p, const struct flow_record *r, struct json_second *second)
{
    p = jb_head(p, r, second);
    p = jb_endpoints(p, r);
    p = jb_l4(p, r);
    if (r->kernel_drops_seen)
        p = JB_KEY_U64(p, "kernel_drops_seen", r->kernel_drops_seen);
    p = jb_tcp(p, r);
    p = jb_app(p, r);
    p = jb_l7(p, &r->l7);
    p = jb_owner(p, &r->owner);
    p = JB_KEY_NAME(p, "end_reason", flow_end_reason_name((enum flow_end_reason)r->end_reason));
    p = JB_LIT(p, ",\"community_id\":\"");
    p += community_id_format(r, 0, p);
    return JB_LIT(p, "\"}\n");
}

size_t json_format_flow(const struct flow_record *r, char *out, size_t outlen)
{
    struct json_second second = { .sec = UINT64_MAX };
    char tmp[JSON_FLOW_MAX];
    size_t n;

    if (outlen >= JSON_FLOW_MAX) {
        n = (size_t)(jb_flow(out, r, &second) - out);
    } else {
        /* Too small for the worst case: cut like snprintf would. */
        if (outlen == 0)
            return 0;
        n = (size_t)(jb_flow(tmp, r, &second) - tmp);
        if (n >= outlen)
            n = outlen - 1;
        memcpy(out, tmp, n);
    }
    out[n] = '\0';
    return n;
}

static int json_write_flow(struct output_sink *s, const struct flow_record *r)
{
    struct json_state *st = s->state;
    char *p = writer_reserve(&st->w, JSON_FLOW_MAX);

    writer_commit(&st->w, (size_t)(jb_flow(p, r, &st->second) - p));
    return writer_failed(&st->w) ? -1 : 0;
}

/* ,"procs_bpf_error":"..." with the text escaped. */
#define JSON_BPF_ERROR_MAX (24 + 6 * sizeof(((struct nm_stats *)0)->procs_bpf_error))

/* "l7":{...}: parser and reassembly counters, every one, zero or not. */
static size_t json_format_l7_stats(const struct nm_l7_stats *l, char *out, size_t outlen, size_t n)
{
    return json_put(out, outlen, n,
                    ",\"l7\":{\"flows\":%" PRIu64 ",\"flows_refused\":%" PRIu64
                    ",\"streams_refused\":%" PRIu64 ",\"truncated\":%" PRIu64
                    ",\"budget_exhausted\":%" PRIu64 ",\"gap_abandoned\":%" PRIu64
                    ",\"malformed\":%" PRIu64 ",\"quic_decrypt_failed\":%" PRIu64
                    ",\"stream_files\":%" PRIu64 ",\"stream_write_errors\":%" PRIu64
                    ",\"reasm_gaps\":%" PRIu64 ",\"reasm_gap_bytes\":%" PRIu64
                    ",\"reasm_overlap_bytes\":%" PRIu64 ",\"reasm_refused_bytes\":%" PRIu64
                    ",\"reasm_out_of_window\":%" PRIu64 "}",
                    l->flows, l->flows_refused, l->streams_refused, l->truncated,
                    l->budget_exhausted, l->gap_abandoned, l->malformed, l->quic_decrypt_failed,
                    l->stream_files, l->stream_write_errors,
                    l->reasm_gaps, l->reasm_gap_bytes, l->reasm_overlap_bytes,
                    l->reasm_refused_bytes, l->reasm_out_of_window);
}

static size_t json_format_stats(const struct nm_stats *s, char *out, size_t outlen)
{
    const struct decode_stats *d = &s->decode;
    size_t n = 0;

    n = json_put(out, outlen, n, "{\"type\":\"stats\"");
    n = json_put(out, outlen, n, ",\"ts\":%" PRIu64 ".%06" PRIu64, s->ts_us / 1000000,
                 s->ts_us % 1000000);
    n = json_put(out, outlen, n,
                 ",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"decoded\":%" PRIu64
                 ",\"non_ip\":%" PRIu64 ",\"fragments\":%" PRIu64 ",\"decapsulated\":%" PRIu64
                 ",\"decode_errors\":%" PRIu64 ",\"filtered_out\":%" PRIu64
                 ",\"flows_created\":%" PRIu64 ",\"flows_ended\":%" PRIu64
                 ",\"flows_active\":%" PRIu64 ",\"evictions\":%" PRIu64
                 ",\"kernel_packets\":%" PRIu64 ",\"kernel_drops\":%" PRIu64
                 ",\"kernel_freezes\":%" PRIu64 ",\"ring_malformed\":%" PRIu64
                 ",\"output_stalls\":%" PRIu64
                 ",\"ring_blocks_used\":%" PRIu64 ",\"ring_blocks_total\":%" PRIu64
                 ",\"l7_classifying\":%" PRIu64 ",\"l7_labelled\":%" PRIu64
                 ",\"l7_no_slot\":%" PRIu64 ",\"l7_packets_skipped\":%" PRIu64
                 ",\"pcap_written\":%" PRIu64 ",\"pcap_dropped\":%" PRIu64
                 ",\"ipfix_sent\":%" PRIu64 ",\"ipfix_lost\":%" PRIu64,
                 d->frames, d->bytes, d->decoded, d->non_ip, d->fragments, d->decapsulated,
                 decode_stats_errors(d), s->filtered_out, s->flows_created, s->flows_ended,
                 s->flows_active, s->evictions, s->kernel_packets, s->kernel_drops,
                 s->kernel_freezes, s->ring_malformed, s->output_stalls, s->ring_blocks_used, s->ring_blocks_total,
                 s->l7_classifying, s->l7_labelled, s->l7_no_slot, s->l7_packets_skipped,
                 s->pcap_written, s->pcap_dropped, s->ipfix_sent, s->ipfix_lost);
    n = json_format_l7_stats(&s->l7, out, outlen, n);
    if (s->ebpf_engine)
        n = json_put(out, outlen, n,
                     ",\"engine\":\"ebpf\",\"ebpf_table_full\":%" PRIu64
                     ",\"ebpf_ports_cut\":%" PRIu64 ",\"ebpf_ends_merged\":%" PRIu64
                     ",\"ebpf_ends_deferred\":%" PRIu64 ",\"ebpf_racing\":%" PRIu64
                     ",\"ebpf_read_cut\":%" PRIu64
                     ",\"ebpf_prog_runs\":%" PRIu64 ",\"ebpf_prog_ns\":%" PRIu64
                     ",\"ebpf_sweeps\":%" PRIu64 ",\"ebpf_sweep_ns\":%" PRIu64,
                     s->ebpf_table_full, s->ebpf_l4_truncated, s->ebpf_ends_merged,
                     s->ebpf_ends_deferred, s->ebpf_racing, s->ebpf_read_cut,
                     s->ebpf_prog_runs, s->ebpf_prog_ns, s->ebpf_sweeps, s->ebpf_sweep_ns);
    if (s->procs_enabled) {
        n = json_put(out, outlen, n,
                     ",\"flows_attributed\":%" PRIu64 ",\"flows_unattributed\":%" PRIu64
                     ",\"procs_queue_drops\":%" PRIu64 ",\"procs_cache_evictions\":%" PRIu64,
                     s->flows_attributed, s->flows_unattributed, s->procs_queue_drops,
                     s->procs_cache_evictions);
        n = json_put(out, outlen, n, ",\"procs_source\":\"%s\",\"procs_bpf_hits\":%" PRIu64,
                     s->procs_bpf ? "bpf" : "sock_diag", s->procs_bpf_hits);
        if (!s->procs_bpf && s->procs_bpf_error[0] && n + JSON_BPF_ERROR_MAX < outlen) {
            size_t room = 6 * sizeof(s->procs_bpf_error);
            bool cut;
            char *p = JB_LIT(out + n, ",\"procs_bpf_error\":\"");
            p = jb_escaped(p, s->procs_bpf_error,
                           strnlen(s->procs_bpf_error, sizeof(s->procs_bpf_error)), &room, &cut);
            p = JB_LIT(p, "\"");
            *p = '\0';
            n = (size_t)(p - out);
        }
    }
    n = json_put(out, outlen, n, ",\"decode\":{");
    const char *sep = "";
    for (int r = 0; r < DECODE_REASON_COUNT; r++) {
        if (!d->reasons[r])
            continue;
        n = json_put(out, outlen, n, "%s\"%s\":%" PRIu64, sep,
                     decode_reason_name((enum decode_reason)r), d->reasons[r]);
        sep = ",";
    }
    return json_put(out, outlen, n, "}}\n");
}

static int json_write_stats(struct output_sink *s, const struct nm_stats *stats)
{
    struct json_state *st = s->state;
    char *p = writer_reserve(&st->w, 4096);

    writer_commit(&st->w, json_format_stats(stats, p, 4096));
    return writer_failed(&st->w) ? -1 : 0;
}

static int json_flush(struct output_sink *s)
{
    struct json_state *st = s->state;

    writer_flush(&st->w);
    return writer_failed(&st->w) ? -1 : 0;
}

static void json_reopen(struct output_sink *s)
{
    struct json_state *st = s->state;

    writer_reopen(&st->w);
}

static void json_close(struct output_sink *s)
{
    struct json_state *st = s->state;

    if (!st)
        return;
    writer_close(&st->w);
    free(st);
    s->state = NULL;
}

int json_sink_open(struct output_sink *sink, const char *path, char *err, size_t errlen)
{
    struct json_state *st = calloc(1, sizeof(*st));

    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (writer_open(&st->w, path, true, err, errlen) != 0) {
        free(st);
        return -1;
    }
    st->second.sec = UINT64_MAX;
    memset(sink, 0, sizeof(*sink));
    sink->name = "json";
    sink->state = st;
    sink->write_flow = json_write_flow;
    sink->write_stats = json_write_stats;
    sink->flush = json_flush;
    sink->close = json_close;
    sink->reopen = json_reopen;
    return 0;
}
