/*
 * l7_http.c: HTTP/1.x (RFC 9112): the first request's method, target and
 * Host header (§3, §3.2), and the first response's status code (§4).  The
 * parser is told one direction's first bytes; a request line or a status
 * line says which kind they are, so it does not depend on who spoke first.
 */
#include "analyze/l7_parsers.h"

#include <string.h>
#include <strings.h>

/* A long target (ad and tracking URLs run to kilobytes) must leave room
 * for the Host header in the record's shared text area. */
#define HTTP_PATH_MAX 256

/* Methods of RFC 9110 §9 and WebDAV's commonest; anything else is not
 * taken for HTTP, so a binary protocol is not mistaken for it. */
static const char *const http_methods[] = {
    "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",
};

/* Offset of the first CRLF (or bare LF) at or after `from`, or -1. */
static long http_line_end(const struct nm_cursor *c, size_t from)
{
    uint8_t b;

    for (size_t i = from; cursor_peek_u8(c, i, &b); i++)
        if (b == '\n')
            return (long)i;
    return -1;
}

static bool http_prefix(const struct nm_cursor *c, const char *lit)
{
    size_t n = strlen(lit);
    uint8_t b;

    for (size_t i = 0; i < n; i++)
        if (!cursor_peek_u8(c, i, &b) || b != (uint8_t)lit[i])
            return false;
    return true;
}

/* Which method the data starts with ("GET "), or -1: none, -2: too short to say. */
static int http_method(const struct nm_cursor *c)
{
    bool short_input = false;

    for (size_t m = 0; m < sizeof(http_methods) / sizeof(http_methods[0]); m++) {
        size_t n = strlen(http_methods[m]);
        uint8_t b;
        if (cursor_remaining(c) <= n) {
            short_input |= memcmp(cursor_ptr(c), http_methods[m], cursor_remaining(c)) == 0;
            continue;
        }
        if (http_prefix(c, http_methods[m]) && cursor_peek_u8(c, n, &b) && b == ' ')
            return (int)m;
    }
    return short_input ? -2 : -1;
}

static size_t http_trim_end(const uint8_t *p, size_t n)
{
    while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return n;
}

/* Header lines after the request line: the Host field (§3.2). */
static enum l7_verdict http_headers(const struct nm_cursor *c, size_t at,
                                    struct flow_l7_summary *out, struct nm_l7_stats *st)
{
    for (;;) {
        long end = http_line_end(c, at);
        if (end < 0)
            return L7_MORE;
        const uint8_t *line = cursor_ptr(c) + at;
        size_t n = http_trim_end(line, (size_t)end - at);
        if (n == 0)
            return L7_DONE;   /* end of the header section */
        if (n > 5 && strncasecmp((const char *)line, "host:", 5) == 0) {
            size_t v = 5;
            while (v < n && (line[v] == ' ' || line[v] == '\t'))
                v++;
            l7_text_set(out, NM_L7_HTTP_HOST, line + v, n - v, st);
            return L7_DONE;
        }
        at = (size_t)end + 1;
    }
}

static enum l7_verdict http_request(const struct nm_cursor *c, int method,
                                    struct flow_l7_summary *out, struct nm_l7_stats *st)
{
    size_t mlen = strlen(http_methods[method]);
    long end = http_line_end(c, 0);

    if (end < 0)
        return L7_MORE;
    const uint8_t *line = cursor_ptr(c);
    size_t n = http_trim_end(line, (size_t)end);
    size_t t = mlen + 1, t_end = t, v = n;
    while (t_end < n && line[t_end] != ' ')
        t_end++;
    /* The line should end in " HTTP/x.y"; attack traffic puts spaces in the
     * target, which then ends at its first space, as tshark reads it.  A
     * line with no version at all is HTTP/0.9's (RFC 1945 §4.1): taken too. */
    while (v > t_end && !(line[v - 1] == ' ' && n - v >= 8 && memcmp(line + v, "HTTP/", 5) == 0))
        v--;
    if (t_end == t)
        return L7_MALFORMED;
    if (v <= t_end && t_end != n)
        return L7_MALFORMED;
    l7_text_set(out, NM_L7_HTTP_METHOD, line, mlen, st);
    size_t path_len = t_end - t;
    if (path_len > HTTP_PATH_MAX && !out->len[NM_L7_HTTP_PATH]) {
        st->truncated++;
        path_len = HTTP_PATH_MAX;
    }
    l7_text_set(out, NM_L7_HTTP_PATH, line + t, path_len, st);
    return http_headers(c, (size_t)end + 1, out, st);
}

/* "HTTP/1.1 200 OK" */
static enum l7_verdict http_status(const struct nm_cursor *c, struct flow_l7_summary *out)
{
    uint8_t d[3], sp;

    if (cursor_remaining(c) < 13)
        return L7_MORE;
    if (!cursor_peek_u8(c, 8, &sp) || sp != ' ' || !cursor_peek_bytes(c, 9, d, 3))
        return L7_MALFORMED;
    for (int i = 0; i < 3; i++)
        if (d[i] < '0' || d[i] > '9')
            return L7_MALFORMED;
    if (!out->http_status)
        out->http_status = (uint16_t)((d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0'));
    return L7_DONE;
}

enum l7_verdict l7_parse_http(const struct l7_input *in, struct flow_l7_summary *out,
                              struct nm_l7_stats *st)
{
    struct nm_cursor c = cursor_make(in->data, in->len);

    if (!in->is_stream)
        return L7_NOT_MINE;
    if (cursor_remaining(&c) < 5)
        return memcmp(in->data, "HTTP/", in->len) == 0 || http_method(&c) != -1 ? L7_MORE
                                                                             : L7_NOT_MINE;
    if (http_prefix(&c, "HTTP/1."))
        return http_status(&c, out);
    if (http_prefix(&c, "HTTP/"))
        return L7_NOT_MINE;
    int m = http_method(&c);
    if (m == -2)
        return L7_MORE;
    if (m < 0)
        return L7_NOT_MINE;
    return http_request(&c, m, out, st);
}
