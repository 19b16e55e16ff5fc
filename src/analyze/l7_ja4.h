/*
 * l7_ja4.h: the JA4 TLS client fingerprint (FoxIO's JA4 specification)
 * from the parts of a ClientHello that l7_tls.c collects.
 */
#ifndef NETMOON_ANALYZE_L7_JA4_H
#define NETMOON_ANALYZE_L7_JA4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define L7_JA4_LEN 36            /* a_b_c: 10 + 1 + 12 + 1 + 12 characters */
#define L7_JA4_LIST_MAX 256      /* cipher suites, extensions, signature algorithms */
#define L7_JA4_EXT_SERVER_NAME 0
#define L7_JA4_EXT_ALPN 16

/* A ClientHello's fingerprint inputs, GREASE values (RFC 8701) left out.
 * truncated: a list was longer than L7_JA4_LIST_MAX, so no fingerprint. */
struct l7_ja4_hello {
    char transport;              /* 't' TLS over TCP, 'q' QUIC */
    bool has_sni;
    bool truncated;
    uint16_t version;            /* highest offered: supported_versions, else legacy */
    const uint8_t *alpn;         /* the first ALPN value, alpn_len bytes */
    size_t alpn_len;
    unsigned nciphers, nexts, nsigalgs;
    uint16_t ciphers[L7_JA4_LIST_MAX];
    uint16_t exts[L7_JA4_LIST_MAX];      /* in the order sent */
    uint16_t sigalgs[L7_JA4_LIST_MAX];   /* in the order sent */
};

/* Writes the 36 characters (no NUL); false when h cannot give one
 * (truncated lists, or libcrypto failed). */
bool l7_ja4_format(const struct l7_ja4_hello *h, char out[L7_JA4_LEN]);

#endif
