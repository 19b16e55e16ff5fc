/*
 * l7_dns.c: DNS messages (RFC 1035 §4.1) over UDP and over TCP with the
 * two-byte length prefix (RFC 7766 §8): the question's name and type, and
 * from the first response its RCODE and the answer records' data (A, AAAA
 * as addresses; CNAME, NS, PTR, MX as names), with the smallest address TTL
 * for the names map.  Compressed names (§4.1.4) are followed a bounded
 * number of times, so a pointer loop ends.
 */
#include "analyze/l7_parsers.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#define DNS_NAME_MAX 255
#define DNS_MAX_POINTERS 16
#define DNS_MAX_ANSWERS 32

enum { DNS_A = 1, DNS_NS = 2, DNS_CNAME = 5, DNS_PTR = 12, DNS_MX = 15, DNS_AAAA = 28 };

/* Reads the name at *pos of msg into out (dotted, no trailing dot; the
 * root is empty) and moves *pos past it.  False when it breaks the rules. */
static bool dns_name(const struct nm_cursor *msg, size_t *pos, char *out, size_t *out_len)
{
    size_t at = *pos, n = 0;
    bool jumped = false;
    unsigned hops = 0;
    uint8_t len, lo;

    for (;;) {
        if (!cursor_peek_u8(msg, at, &len))
            return false;
        if ((len & 0xc0) == 0xc0) {
            if (!cursor_peek_u8(msg, at + 1, &lo) || ++hops > DNS_MAX_POINTERS)
                return false;
            if (!jumped)
                *pos = at + 2;
            jumped = true;
            at = (size_t)(len & 0x3f) << 8 | lo;
            continue;
        }
        if (len & 0xc0)
            return false;     /* extended label types (RFC 6891 §5) are not names */
        if (len == 0)
            break;
        if (n + (n ? 1 : 0) + len > DNS_NAME_MAX)
            return false;
        if (n)
            out[n++] = '.';
        if (!cursor_peek_bytes(msg, at + 1, out + n, len))
            return false;
        n += len;
        at += 1u + len;
    }
    if (!jumped)
        *pos = at + 1;
    *out_len = n;
    return true;
}

static bool dns_peek16(const struct nm_cursor *msg, size_t at, uint16_t *v)
{
    return cursor_peek_be16(msg, at, v);
}

/* One answer record's data as text, appended to dns_answers. */
static void dns_answer_text(const struct nm_cursor *msg, uint16_t type, size_t rdata,
                            uint16_t rdlen, struct flow_l7_summary *out, struct nm_l7_stats *st)
{
    char text[DNS_NAME_MAX + 1];
    uint8_t addr[16];
    size_t pos = rdata, n = 0;

    if ((type == DNS_A && rdlen == 4) || (type == DNS_AAAA && rdlen == 16)) {
        if (!cursor_peek_bytes(msg, rdata, addr, rdlen) ||
            !inet_ntop(type == DNS_A ? AF_INET : AF_INET6, addr, text, sizeof(text)))
            return;
        n = strlen(text);
    } else if (type == DNS_CNAME || type == DNS_NS || type == DNS_PTR || type == DNS_MX) {
        if (type == DNS_MX)
            pos += 2;
        if (!dns_name(msg, &pos, text, &n))
            return;
    }
    if (n)
        l7_text_append_item(out, NM_L7_DNS_ANSWERS, text, n, st);
}

static enum l7_verdict dns_answers(const struct nm_cursor *msg, size_t at, uint16_t count,
                                   struct flow_l7_summary *out, struct nm_l7_stats *st)
{
    char name[DNS_NAME_MAX + 1];
    size_t n;
    uint16_t type, rdlen;
    uint32_t ttl;

    for (uint16_t i = 0; i < count && i < DNS_MAX_ANSWERS; i++) {
        if (!dns_name(msg, &at, name, &n) || !dns_peek16(msg, at, &type) ||
            !cursor_peek_be32(msg, at + 4, &ttl) || !dns_peek16(msg, at + 8, &rdlen) ||
            at + 10 + rdlen > msg->len)
            return L7_MALFORMED;
        dns_answer_text(msg, type, at + 10, rdlen, out, st);
        if ((type == DNS_A || type == DNS_AAAA) && (!out->has_dns_ttl || ttl < out->dns_ttl_min)) {
            out->dns_ttl_min = ttl;
            out->has_dns_ttl = true;
        }
        at += 10u + rdlen;
    }
    return L7_DONE;
}

static enum l7_verdict dns_message(const struct nm_cursor *msg, struct flow_l7_summary *out,
                                   struct nm_l7_stats *st)
{
    char name[DNS_NAME_MAX + 1];
    uint16_t flags, qd, an, qtype;
    size_t at = 12, n = 0;

    if (!dns_peek16(msg, 2, &flags) || !dns_peek16(msg, 4, &qd) || !dns_peek16(msg, 6, &an))
        return L7_NOT_MINE;
    bool response = flags & 0x8000;
    if (response && out->has_dns_rcode)
        return L7_DONE;      /* a repeated answer: the first one stays */
    if (qd > 0) {
        if (!dns_name(msg, &at, name, &n) || !dns_peek16(msg, at, &qtype) || at + 4 > msg->len)
            return L7_MALFORMED;
        l7_text_set(out, NM_L7_DNS_QNAME, name, n, st);
        if (!out->has_dns_qtype) {
            out->dns_qtype = qtype;
            out->has_dns_qtype = true;
        }
        at += 4;
        for (uint16_t i = 1; i < qd; i++)   /* further questions: skipped */
            if (!dns_name(msg, &at, name, &n) || (at += 4) > msg->len)
                return L7_MALFORMED;
    }
    if (!response)
        return L7_DONE;
    out->dns_rcode = (uint8_t)(flags & 0x0f);
    out->has_dns_rcode = true;
    return dns_answers(msg, at, an, out, st);
}

enum l7_verdict l7_parse_dns(const struct l7_input *in, struct flow_l7_summary *out,
                             struct nm_l7_stats *st)
{
    struct nm_cursor c = cursor_make(in->data, in->len), msg;
    uint16_t len;

    if (in->is_stream) {
        if (!cursor_get_be16(&c, &len))
            return L7_MORE;
        if (len < 12)
            return L7_MALFORMED;
        if (!cursor_sub(&c, len, &msg))
            return L7_MORE;
    } else {
        msg = c;
    }
    if (cursor_remaining(&msg) < 12)
        return in->is_stream ? L7_MALFORMED : L7_NOT_MINE;
    return dns_message(&msg, out, st);
}
