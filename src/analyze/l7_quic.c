/*
 * l7_quic.c: the server name in a QUIC version 1 client Initial packet.
 *
 * Follows RFC 9000 §17.2.2 (Initial packet layout, variable-length
 * integers §16, CRYPTO frames §19.6) and RFC 9001 §5 (Initial keys from
 * the client's Destination Connection ID: HKDF-Extract with the v1 salt,
 * HKDF-Expand-Label "client in", "quic key", "quic iv", "quic hp"; header
 * protection with AES-128-ECB §5.4.3; payload AES-128-GCM §5.3).  The
 * CRYPTO frames hold a TLS ClientHello without record layer, which
 * l7_tls_handshake reads.  Clients split it over frames out of order and
 * over several Initial packets, so frames are put together by offset.
 *
 * libcrypto allocates a cipher context per decrypted Initial: a few per
 * connection, never for the packets that follow.
 */
#include "analyze/l7_parsers.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#define QUIC_V1 0x00000001u
#define QUIC_MAX_CID 20
#define QUIC_TAG_LEN 16
#define QUIC_MAX_PACKET 2048

static const uint8_t quic_v1_salt[20] = {
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
    0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
};

struct quic_keys {
    uint8_t key[16], iv[12], hp[16];
};

/* RFC 9000 §16 variable-length integer. */
static bool quic_varint(struct nm_cursor *c, uint64_t *v)
{
    uint8_t b;

    if (!cursor_get_u8(c, &b))
        return false;
    unsigned n = 1u << (b >> 6);
    *v = b & 0x3f;
    for (unsigned i = 1; i < n; i++) {
        if (!cursor_get_u8(c, &b))
            return false;
        *v = *v << 8 | b;
    }
    return true;
}

static bool quic_client_keys(const uint8_t *dcid, size_t dcid_len, struct quic_keys *k);

/* HKDF-Expand-Label (RFC 8446 §7.1) with an empty context, out_len <= 32:
 * one HMAC block of HKDF-Expand (RFC 5869 §2.3). */
static bool quic_expand_label(const uint8_t secret[32], const char *label, uint8_t *out,
                              size_t out_len)
{
    uint8_t info[2 + 1 + 32 + 1 + 1], block[EVP_MAX_MD_SIZE];
    size_t llen = strlen(label), n = 0;
    unsigned blen = 0;

    info[n++] = (uint8_t)(out_len >> 8);
    info[n++] = (uint8_t)out_len;
    info[n++] = (uint8_t)(6 + llen);
    memcpy(info + n, "tls13 ", 6);
    memcpy(info + n + 6, label, llen);
    n += 6 + llen;
    info[n++] = 0;         /* context length */
    info[n++] = 1;         /* block counter */
    if (!HMAC(EVP_sha256(), secret, 32, info, n, block, &blen) || blen < out_len)
        return false;
    memcpy(out, block, out_len);
    return true;
}

bool l7_quic_client_keys(const uint8_t *dcid, size_t dcid_len, uint8_t key[16], uint8_t iv[12],
                         uint8_t hp[16])
{
    struct quic_keys k;

    if (!quic_client_keys(dcid, dcid_len, &k))
        return false;
    memcpy(key, k.key, 16);
    memcpy(iv, k.iv, 12);
    memcpy(hp, k.hp, 16);
    return true;
}

static bool quic_client_keys(const uint8_t *dcid, size_t dcid_len, struct quic_keys *k)
{
    uint8_t initial[32], client[32];
    unsigned len = 0;

    return HMAC(EVP_sha256(), quic_v1_salt, sizeof(quic_v1_salt), dcid, dcid_len, initial, &len) &&
           len == 32 && quic_expand_label(initial, "client in", client, 32) &&
           quic_expand_label(client, "quic key", k->key, 16) &&
           quic_expand_label(client, "quic iv", k->iv, 12) &&
           quic_expand_label(client, "quic hp", k->hp, 16);
}

/* AES-128-ECB of one block (header protection mask) or AES-128-GCM open. */
static bool quic_aes_ecb(const uint8_t key[16], const uint8_t in[16], uint8_t out[16])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0;
    bool ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, key, NULL) == 1 &&
              EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
              EVP_EncryptUpdate(ctx, out, &n, in, 16) == 1 && n == 16;

    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static bool quic_gcm_open(const struct quic_keys *k, const uint8_t nonce[12], const uint8_t *aad,
                          size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, m = 0;
    bool ok = ctx && ct_len >= QUIC_TAG_LEN &&
              EVP_DecryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, k->key, nonce) == 1 &&
              EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1 &&
              EVP_DecryptUpdate(ctx, out, &n, ct, (int)(ct_len - QUIC_TAG_LEN)) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, QUIC_TAG_LEN,
                                  (void *)(ct + ct_len - QUIC_TAG_LEN)) == 1 &&
              EVP_DecryptFinal_ex(ctx, out + n, &m) == 1;

    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/* Copies one CRYPTO frame's bytes into place and marks them present. */
static void quic_crypto_put(uint8_t *buf, uint8_t *have, size_t cap, uint64_t off,
                            const uint8_t *data, size_t len)
{
    if (off >= cap)
        return;
    if (len > cap - off)
        len = (size_t)(cap - off);
    memcpy(buf + off, data, len);
    for (size_t i = (size_t)off; i < off + len; i++)
        have[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static size_t quic_crypto_contiguous(const uint8_t *have, size_t cap)
{
    size_t n = 0;

    while (n < cap && (have[n >> 3] >> (n & 7) & 1))
        n++;
    return n;
}

/* Walks the decrypted frames (RFC 9000 §19): CRYPTO data is kept; PADDING,
 * PING, ACK and CONNECTION_CLOSE are stepped over; anything else ends it. */
static bool quic_frames(struct nm_cursor c, uint8_t *buf, uint8_t *have, size_t cap)
{
    uint64_t type, a, b, n;

    while (cursor_remaining(&c)) {
        if (!quic_varint(&c, &type))
            return false;
        if (type == 0x00 || type == 0x01)
            continue;
        if (type == 0x06) {
            if (!quic_varint(&c, &a) || !quic_varint(&c, &b) || b > cursor_remaining(&c))
                return false;
            quic_crypto_put(buf, have, cap, a, cursor_ptr(&c), (size_t)b);
            cursor_skip(&c, (size_t)b);
        } else if (type == 0x02 || type == 0x03) {
            /* largest, delay, range count, first range, then the ranges. */
            if (!quic_varint(&c, &a) || !quic_varint(&c, &a) || !quic_varint(&c, &n) ||
                !quic_varint(&c, &a))
                return false;
            for (uint64_t i = 0; i < n; i++)
                if (!quic_varint(&c, &a) || !quic_varint(&c, &b))
                    return false;
            if (type == 0x03)
                for (int i = 0; i < 3; i++)
                    if (!quic_varint(&c, &a))
                        return false;
        } else {
            return true;   /* e.g. CONNECTION_CLOSE: nothing after it matters */
        }
    }
    return true;
}

/* Removes header protection and decrypts one Initial whose packet number
 * starts at pn_off and whose Length field says `length`; the plaintext
 * goes to plain (its size in *plain_len). */
static bool quic_open(const uint8_t *pkt, size_t pn_off, size_t length, const struct quic_keys *k,
                      uint8_t *plain, size_t *plain_len)
{
    uint8_t hdr[QUIC_MAX_PACKET], mask[16], nonce[12];
    size_t pn_len;
    uint64_t pn = 0;

    if (length < 4 + 16 || pn_off + length > QUIC_MAX_PACKET)
        return false;
    if (!quic_aes_ecb(k->hp, pkt + pn_off + 4, mask))
        return false;
    memcpy(hdr, pkt, pn_off + 4);
    hdr[0] ^= mask[0] & 0x0f;
    pn_len = (size_t)(hdr[0] & 0x03) + 1;
    for (size_t i = 0; i < pn_len; i++) {
        hdr[pn_off + i] ^= mask[1 + i];
        pn = pn << 8 | hdr[pn_off + i];
    }
    memcpy(nonce, k->iv, 12);
    for (int i = 0; i < 8; i++)
        nonce[11 - i] ^= (uint8_t)(pn >> (8 * i));
    if (!quic_gcm_open(k, nonce, hdr, pn_off + pn_len, pkt + pn_off + pn_len, length - pn_len,
                       plain))
        return false;
    *plain_len = length - pn_len - QUIC_TAG_LEN;
    return true;
}

enum l7_verdict l7_parse_quic(const struct l7_input *in, struct flow_l7_summary *out,
                              struct nm_l7_stats *st)
{
    uint8_t local_buf[4096], local_have[4096 / 8], plain[QUIC_MAX_PACKET];
    uint8_t *buf = in->quic_crypto ? in->quic_crypto : local_buf;
    uint8_t *have = in->quic_crypto ? in->quic_have : local_have;
    size_t cap = in->quic_crypto ? L7_QUIC_CRYPTO_MAX : sizeof(local_buf);
    struct nm_cursor c = cursor_make(in->data, in->len);
    uint8_t first, dcid_len, scid_len;
    uint8_t dcid[QUIC_MAX_CID];
    uint32_t version;
    uint64_t token_len, length;
    struct quic_keys k;
    size_t plain_len;

    if (in->is_stream || !cursor_get_u8(&c, &first) || (first & 0xc0) != 0xc0 ||
        !cursor_get_be32(&c, &version))
        return L7_NOT_MINE;
    if (version != QUIC_V1 || ((first >> 4) & 3) != 0)
        return L7_MORE;    /* another version, or not an Initial: wait for one */
    if (!cursor_get_u8(&c, &dcid_len) || dcid_len > QUIC_MAX_CID ||
        !cursor_get_bytes(&c, dcid, dcid_len) || !cursor_get_u8(&c, &scid_len) ||
        scid_len > QUIC_MAX_CID || !cursor_skip(&c, scid_len) || !quic_varint(&c, &token_len) ||
        !cursor_skip(&c, (size_t)(token_len <= in->len ? token_len : in->len + 1)) ||
        !quic_varint(&c, &length) || length > cursor_remaining(&c))
        return L7_MALFORMED;
    if (!in->from_initiator && in->dport != 443)
        return L7_MORE;    /* the server's Initial: other keys, nothing we need */
    if (!in->quic_crypto)
        memset(local_have, 0, sizeof(local_have));
    if (!quic_client_keys(dcid, dcid_len, &k) ||
        !quic_open(in->data, c.off, (size_t)length, &k, plain, &plain_len)) {
        st->quic_decrypt_failed++;
        return L7_MORE;
    }
    if (!quic_frames(cursor_make(plain, plain_len), buf, have, cap))
        return L7_MALFORMED;
    size_t n = quic_crypto_contiguous(have, cap);
    if (n == 0)
        return L7_MORE;
    enum l7_verdict v = l7_tls_handshake(buf, n, 'q', out, st);
    return v == L7_MORE && n == cap ? L7_DONE : v;
}
