/*
 * l7_tls.c: the TLS ClientHello: server name (RFC 6066 §3), ALPN
 * (RFC 7301) and the highest version offered (RFC 8446 §4.2.1
 * supported_versions, else legacy_version).  Handshake messages may be
 * split over several records (RFC 8446 §5.1), so the handshake bytes of
 * consecutive records are joined before the message is read.  QUIC carries
 * the same message in CRYPTO frames and uses l7_tls_handshake directly.
 * The cipher suites, extension types and signature algorithms (RFC 8446
 * §4.2.3) are collected on the way for the JA4 fingerprint (l7_ja4.h).
 */
#include "analyze/l7_parsers.h"

#include <string.h>

#include "analyze/l7.h"
#include "analyze/l7_ja4.h"

enum {
    TLS_CONTENT_HANDSHAKE = 22,
    TLS_HS_CLIENT_HELLO = 1,
    TLS_EXT_SERVER_NAME = 0,
    TLS_EXT_SIGNATURE_ALGORITHMS = 13,
    TLS_EXT_ALPN = 16,
    TLS_EXT_SUPPORTED_VERSIONS = 43,
};

/* GREASE values (RFC 8701) are 0x?a?a with both bytes equal. */
static bool tls_is_grease(uint16_t v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* A vector with a length prefix of `width` bytes, as a sub-cursor. */
static bool tls_vector(struct nm_cursor *c, unsigned width, struct nm_cursor *sub)
{
    uint8_t n8;
    uint16_t n16;
    size_t n;

    if (width == 1) {
        if (!cursor_get_u8(c, &n8))
            return false;
        n = n8;
    } else {
        if (!cursor_get_be16(c, &n16))
            return false;
        n = n16;
    }
    return cursor_sub(c, n, sub) && cursor_skip(c, n);
}

static bool tls_ext_sni(struct nm_cursor ext, struct flow_l7_summary *out, struct nm_l7_stats *st)
{
    struct nm_cursor list, name;
    uint8_t type;

    if (!tls_vector(&ext, 2, &list))
        return false;
    while (cursor_remaining(&list)) {
        if (!cursor_get_u8(&list, &type) || !tls_vector(&list, 2, &name))
            return false;
        if (type == 0) {
            l7_text_set(out, NM_L7_SNI, cursor_ptr(&name), cursor_remaining(&name), st);
            return true;
        }
    }
    return true;
}

static bool tls_ext_alpn(struct nm_cursor ext, struct flow_l7_summary *out, struct nm_l7_stats *st,
                         struct l7_ja4_hello *ja4)
{
    struct nm_cursor list, proto;

    if (!tls_vector(&ext, 2, &list))
        return false;
    /* The whole list is checked before anything is kept, so a broken list
     * leaves nothing behind for a later call to treat differently. */
    for (struct nm_cursor check = list; cursor_remaining(&check);)
        if (!tls_vector(&check, 1, &proto))
            return false;
    struct nm_cursor first = list;
    if (!ja4->alpn && tls_vector(&first, 1, &proto)) {
        ja4->alpn = cursor_ptr(&proto);
        ja4->alpn_len = cursor_remaining(&proto);
    }
    if (out->len[NM_L7_ALPN])
        return true;
    while (tls_vector(&list, 1, &proto))
        if (!l7_text_append_item(out, NM_L7_ALPN, cursor_ptr(&proto), cursor_remaining(&proto), st))
            break;
    return true;
}

static bool tls_ext_versions(struct nm_cursor ext, uint16_t *best)
{
    struct nm_cursor list;
    uint16_t v;

    if (!tls_vector(&ext, 1, &list))
        return false;
    while (cursor_get_be16(&list, &v))
        if (!tls_is_grease(v) && v > *best)
            *best = v;
    return cursor_remaining(&list) == 0;
}

/* Appends the non-GREASE v to a JA4 list; a list too long to keep spoils
 * the fingerprint, not the parse. */
static void tls_ja4_add(struct l7_ja4_hello *ja4, uint16_t *list, unsigned *n, uint16_t v)
{
    if (tls_is_grease(v))
        return;
    if (*n == L7_JA4_LIST_MAX) {
        ja4->truncated = true;
        return;
    }
    list[(*n)++] = v;
}

static bool tls_ext_sigalgs(struct nm_cursor ext, struct l7_ja4_hello *ja4)
{
    struct nm_cursor list;
    uint16_t v;

    if (!tls_vector(&ext, 2, &list))
        return false;
    while (cursor_get_be16(&list, &v))
        tls_ja4_add(ja4, ja4->sigalgs, &ja4->nsigalgs, v);
    return cursor_remaining(&list) == 0;
}

static bool tls_extensions(struct nm_cursor *c, struct flow_l7_summary *out,
                           struct nm_l7_stats *st, uint16_t *version, struct l7_ja4_hello *ja4)
{
    struct nm_cursor all, ext;
    uint16_t type, offered = 0;

    if (!tls_vector(c, 2, &all))
        return false;
    while (cursor_remaining(&all)) {
        if (!cursor_get_be16(&all, &type) || !tls_vector(&all, 2, &ext))
            return false;
        tls_ja4_add(ja4, ja4->exts, &ja4->nexts, type);
        bool ok = true;
        if (type == TLS_EXT_SERVER_NAME) {
            ja4->has_sni = true;
            ok = tls_ext_sni(ext, out, st);
        } else if (type == TLS_EXT_ALPN) {
            ok = tls_ext_alpn(ext, out, st, ja4);
        } else if (type == TLS_EXT_SUPPORTED_VERSIONS) {
            ok = tls_ext_versions(ext, &offered);
        } else if (type == TLS_EXT_SIGNATURE_ALGORITHMS) {
            ok = tls_ext_sigalgs(ext, ja4);
        }
        if (!ok)
            return false;
    }
    if (offered)
        *version = offered;
    return true;
}

_Static_assert(sizeof(((struct flow_l7_summary *)0)->ja4) == L7_JA4_LEN,
               "the record keeps a whole JA4");

static bool tls_ciphers(struct nm_cursor *body, struct l7_ja4_hello *ja4)
{
    struct nm_cursor list;
    uint16_t v;

    if (!tls_vector(body, 2, &list))
        return false;
    while (cursor_get_be16(&list, &v))
        tls_ja4_add(ja4, ja4->ciphers, &ja4->nciphers, v);
    return cursor_remaining(&list) == 0;
}

static enum l7_verdict tls_client_hello(struct nm_cursor body, char transport,
                                        struct flow_l7_summary *out, struct nm_l7_stats *st)
{
    struct nm_cursor skip;
    struct l7_ja4_hello ja4;
    uint16_t version;

    memset(&ja4, 0, offsetof(struct l7_ja4_hello, ciphers));
    ja4.transport = transport;
    if (!cursor_get_be16(&body, &version) || !cursor_skip(&body, 32) ||
        !tls_vector(&body, 1, &skip) || !tls_ciphers(&body, &ja4) ||
        !tls_vector(&body, 1, &skip))
        return L7_MALFORMED;
    if (cursor_remaining(&body) && !tls_extensions(&body, out, st, &version, &ja4))
        return L7_MALFORMED;
    if (!out->tls_version)
        out->tls_version = version;
    ja4.version = version;
    if (!out->has_ja4 && l7_ja4_format(&ja4, out->ja4))
        out->has_ja4 = true;
    return L7_DONE;
}

enum l7_verdict l7_tls_handshake(const uint8_t *hs, size_t len, char transport,
                                 struct flow_l7_summary *out, struct nm_l7_stats *st)
{
    struct nm_cursor c = cursor_make(hs, len), body;
    uint8_t type, l0, l1, l2;

    if (!cursor_get_u8(&c, &type) || !cursor_get_u8(&c, &l0) || !cursor_get_u8(&c, &l1) ||
        !cursor_get_u8(&c, &l2))
        return L7_MORE;
    if (type != TLS_HS_CLIENT_HELLO)
        return L7_DONE;
    size_t body_len = (size_t)l0 << 16 | (size_t)l1 << 8 | l2;
    if (!cursor_sub(&c, body_len, &body))
        return L7_MORE;
    return tls_client_hello(body, transport, out, st);
}

enum l7_verdict l7_parse_tls(const struct l7_input *in, struct flow_l7_summary *out,
                             struct nm_l7_stats *st)
{
    uint8_t hs[L7_HEAD_MAX];
    size_t hs_len = 0;
    struct nm_cursor c = cursor_make(in->data, in->len);
    uint8_t type, major, minor;
    uint16_t rec_len;

    if (!in->is_stream)
        return L7_NOT_MINE;
    if (!cursor_peek_u8(&c, 0, &type))
        return L7_MORE;
    if (type != TLS_CONTENT_HANDSHAKE || (cursor_peek_u8(&c, 1, &major) && major != 3) ||
        (cursor_peek_u8(&c, 2, &minor) && minor > 4))
        return L7_NOT_MINE;
    /* Join the handshake bytes of the records at the start of the stream. */
    while (cursor_get_u8(&c, &type) && cursor_skip(&c, 2) && cursor_get_be16(&c, &rec_len)) {
        if (type != TLS_CONTENT_HANDSHAKE)
            break;
        size_t n = rec_len < cursor_remaining(&c) ? rec_len : cursor_remaining(&c);
        if (n > sizeof(hs) - hs_len)
            n = sizeof(hs) - hs_len;
        cursor_get_bytes(&c, hs + hs_len, n);
        hs_len += n;
        if (n < rec_len)
            break;
    }
    return l7_tls_handshake(hs, hs_len, 't', out, st);
}
