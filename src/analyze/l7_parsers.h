/*
 * l7_parsers.h: the one signature netmoon's own application parsers share
 * (src/analyze/l7_<proto>.c), and the bounded text store they write to.
 *
 * A parser is handed either one datagram or the first bytes of one
 * direction of a reassembled TCP stream (everything from the stream's
 * start up to now, so a message split over segments is whole once its
 * last segment is in).  It may be called again with more bytes and must
 * then give the same answers: fields already set are never overwritten.
 * Every read of the data goes through the cursor of decode/bounds.h.
 */
#ifndef NETMOON_ANALYZE_L7_PARSERS_H
#define NETMOON_ANALYZE_L7_PARSERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode/bounds.h"
#include "output/record.h"

enum l7_verdict {
    L7_MORE,        /* this is the parser's protocol; more bytes may tell more */
    L7_DONE,        /* nothing more wanted from this direction */
    L7_NOT_MINE,    /* not this parser's protocol */
    L7_MALFORMED,   /* this protocol, but broken: stop (counted) */
};

struct l7_input {
    const uint8_t *data;
    size_t len;
    bool is_stream;         /* TCP stream prefix (vs one datagram) */
    bool from_initiator;    /* sent by the flow's src */
    uint16_t sport, dport;  /* of this direction's sender */
    /* QUIC only, optional: where CRYPTO frames of several Initial packets
     * are put together (L7_QUIC_CRYPTO_MAX bytes) and a bit per byte saying
     * which arrived.  NULL: each datagram on its own. */
    uint8_t *quic_crypto, *quic_have;
};

#define L7_QUIC_CRYPTO_MAX 8192u

typedef enum l7_verdict l7_parse_fn(const struct l7_input *in, struct flow_l7_summary *out,
                                    struct nm_l7_stats *st);

l7_parse_fn l7_parse_tls;   /* l7_tls.c: ClientHello SNI, ALPN, version (RFC 8446) */
l7_parse_fn l7_parse_http;  /* l7_http.c: request line, Host, status (RFC 9112) */
l7_parse_fn l7_parse_dns;   /* l7_dns.c: question, rcode, answers (RFC 1035, 7766) */
l7_parse_fn l7_parse_ssh;   /* l7_ssh.c: version banners (RFC 4253 §4.2) */
l7_parse_fn l7_parse_quic;  /* l7_quic.c: QUIC v1 Initial -> ClientHello (RFC 9000/9001) */

/* A TLS handshake message stream (no record layer), as TLS records or QUIC
 * CRYPTO frames carry it: fills SNI, ALPN, version and the JA4 fingerprint
 * (transport 't' for TCP, 'q' for QUIC) from a ClientHello. */
enum l7_verdict l7_tls_handshake(const uint8_t *hs, size_t len, char transport,
                                 struct flow_l7_summary *out, struct nm_l7_stats *st);

/* The client's Initial key, IV and header protection key for a
 * Destination Connection ID (RFC 9001 §5.2), for tests against §A.1. */
bool l7_quic_client_keys(const uint8_t *dcid, size_t dcid_len, uint8_t key[16], uint8_t iv[12],
                         uint8_t hp[16]);

/* Sets field f once (later calls leave it alone).  What does not fit in
 * the text area is cut, and counted in st->truncated. */
void l7_text_set(struct flow_l7_summary *s, enum nm_l7_field f, const void *v, size_t len,
                 struct nm_l7_stats *st);
/* Appends one item to list field f (which must be the last field written),
 * separated by NM_L7_LIST_SEP; false when it did not fit (counted). */
bool l7_text_append_item(struct flow_l7_summary *s, enum nm_l7_field f, const void *v,
                         size_t len, struct nm_l7_stats *st);

#endif
