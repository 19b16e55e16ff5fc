/*
 * l7_ja4.c: the JA4 TLS client fingerprint of a ClientHello, as FoxIO's
 * JA4 specification defines it (JA4+ "JA4: TLS Client Fingerprinting"):
 *
 *   a  transport (t TCP, q QUIC), the highest TLS version offered (13, 12,
 *      11, 10, s3), d or i (server name extension present or not), the
 *      numbers of cipher suites and of extensions (two digits, at most 99),
 *      the first and last character of the first ALPN value (00 if none)
 *   b  the first 12 hex digits of SHA-256 over the cipher suites, sorted,
 *      as four-digit lowercase hex joined by commas
 *   c  the same over the extensions, sorted, without server_name (0) and
 *      ALPN (16), then "_" and the signature algorithms in their order
 *
 * GREASE values (RFC 8701) count nowhere.  The expected strings in
 * tests/golden/test_ja4.sh come from suricata-verify's ja4 tests, not from
 * this code.
 */
#include "analyze/l7_ja4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static const char ja4_hex[] = "0123456789abcdef";

static int ja4_u16_cmp(const void *a, const void *b)
{
    uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
    return (x > y) - (x < y);
}

static const char *ja4_version(uint16_t v)
{
    switch (v) {
    case 0x0304: return "13";
    case 0x0303: return "12";
    case 0x0302: return "11";
    case 0x0301: return "10";
    case 0x0300: return "s3";
    case 0x0200: return "s2";
    default: return "00";
    }
}

static bool ja4_alnum(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The first and last character of the first ALPN value; when either is
 * not alphanumeric, those of its hex text instead. */
static void ja4_alpn(const struct l7_ja4_hello *h, char out[2])
{
    if (h->alpn_len == 0) {
        out[0] = out[1] = '0';
        return;
    }
    uint8_t first = h->alpn[0], last = h->alpn[h->alpn_len - 1];
    if (ja4_alnum(first) && ja4_alnum(last)) {
        out[0] = (char)first;
        out[1] = (char)last;
    } else {
        out[0] = ja4_hex[first >> 4];
        out[1] = ja4_hex[last & 15];
    }
}

/* Appends v as four hex digits, after a comma unless first. */
static size_t ja4_put_u16(char *s, size_t n, uint16_t v, bool first)
{
    if (!first)
        s[n++] = ',';
    for (int shift = 12; shift >= 0; shift -= 4)
        s[n++] = ja4_hex[(v >> shift) & 15];
    return n;
}

/* The first 12 hex digits of SHA-256 over s[0, n): 000000000000 when n is
 * 0, as the specification writes an empty list. */
static bool ja4_hash12(const char *s, size_t n, char out[12])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (n == 0) {
        memset(out, '0', 12);
        return true;
    }
    if (!EVP_Digest(s, n, md, &mdlen, EVP_sha256(), NULL) || mdlen < 6)
        return false;
    for (unsigned i = 0; i < 6; i++) {
        out[2 * i] = ja4_hex[md[i] >> 4];
        out[2 * i + 1] = ja4_hex[md[i] & 15];
    }
    return true;
}

static bool ja4_part_b(const struct l7_ja4_hello *h, char *buf, char out[12])
{
    uint16_t sorted[L7_JA4_LIST_MAX];
    size_t n = 0;

    memcpy(sorted, h->ciphers, h->nciphers * sizeof(sorted[0]));
    qsort(sorted, h->nciphers, sizeof(sorted[0]), ja4_u16_cmp);
    for (unsigned i = 0; i < h->nciphers; i++)
        n = ja4_put_u16(buf, n, sorted[i], i == 0);
    return ja4_hash12(buf, n, out);
}

static bool ja4_part_c(const struct l7_ja4_hello *h, char *buf, char out[12])
{
    uint16_t sorted[L7_JA4_LIST_MAX];
    unsigned m = 0;
    size_t n = 0;

    if (h->nexts == 0)
        return ja4_hash12(buf, 0, out);
    for (unsigned i = 0; i < h->nexts; i++)
        if (h->exts[i] != L7_JA4_EXT_SERVER_NAME && h->exts[i] != L7_JA4_EXT_ALPN)
            sorted[m++] = h->exts[i];
    qsort(sorted, m, sizeof(sorted[0]), ja4_u16_cmp);
    for (unsigned i = 0; i < m; i++)
        n = ja4_put_u16(buf, n, sorted[i], i == 0);
    if (h->nsigalgs)
        buf[n++] = '_';
    for (unsigned i = 0; i < h->nsigalgs; i++)
        n = ja4_put_u16(buf, n, h->sigalgs[i], i == 0);
    return ja4_hash12(buf, n, out);
}

bool l7_ja4_format(const struct l7_ja4_hello *h, char out[L7_JA4_LEN])
{
    /* Two lists of at most L7_JA4_LIST_MAX four-digit values with commas. */
    char buf[2 * L7_JA4_LIST_MAX * 5 + 2];
    char a[11], alpn[2];

    if (h->truncated)
        return false;
    ja4_alpn(h, alpn);
    snprintf(a, sizeof(a), "%c%s%c%02u%02u", h->transport, ja4_version(h->version),
             h->has_sni ? 'd' : 'i', h->nciphers < 99 ? h->nciphers : 99,
             h->nexts < 99 ? h->nexts : 99);
    memcpy(out, a, 8);
    memcpy(out + 8, alpn, 2);
    out[10] = '_';
    out[23] = '_';
    return ja4_part_b(h, buf, out + 11) && ja4_part_c(h, buf, out + 24);
}
