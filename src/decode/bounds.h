/*
 * bounds.h: bounds-checked reads from captured packet memory.
 *
 * Every decoder reads packet bytes only through these helpers, in the spirit
 * of tcpdump's GET_* macros: a read that would pass the end of the captured
 * data fails instead of touching memory, and the caller counts a named
 * decode reason.  Multi-byte fields are network byte order (RFC 1700) and are
 * assembled byte by byte, so nothing ever casts raw packet memory to a struct
 * (which would also be an unaligned access on strict architectures).
 *
 * Invariant: off <= len at all times.
 */
#ifndef NETMOON_DECODE_BOUNDS_H
#define NETMOON_DECODE_BOUNDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct nm_cursor {
    const uint8_t *data; /* first byte of the region this cursor may read */
    size_t len;          /* bytes readable from data */
    size_t off;          /* next byte to read */
};

static inline struct nm_cursor cursor_make(const uint8_t *data, size_t len)
{
    struct nm_cursor c = { data, len, 0 };
    return c;
}

static inline size_t cursor_remaining(const struct nm_cursor *c)
{
    return c->len - c->off;
}

static inline bool cursor_has(const struct nm_cursor *c, size_t n)
{
    return cursor_remaining(c) >= n;
}

static inline const uint8_t *cursor_ptr(const struct nm_cursor *c)
{
    return c->data + c->off;
}

static inline bool cursor_skip(struct nm_cursor *c, size_t n)
{
    if (!cursor_has(c, n))
        return false;
    c->off += n;
    return true;
}

/* Reads at an offset relative to the cursor position, without advancing. */
static inline bool cursor_peek_u8(const struct nm_cursor *c, size_t at, uint8_t *v)
{
    if (at >= cursor_remaining(c))
        return false;
    *v = c->data[c->off + at];
    return true;
}

static inline bool cursor_peek_be16(const struct nm_cursor *c, size_t at, uint16_t *v)
{
    if (at > cursor_remaining(c) || cursor_remaining(c) - at < 2)
        return false;
    const uint8_t *p = c->data + c->off + at;
    *v = (uint16_t)((p[0] << 8) | p[1]);
    return true;
}

static inline bool cursor_peek_be32(const struct nm_cursor *c, size_t at, uint32_t *v)
{
    if (at > cursor_remaining(c) || cursor_remaining(c) - at < 4)
        return false;
    const uint8_t *p = c->data + c->off + at;
    *v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    return true;
}

static inline bool cursor_peek_bytes(const struct nm_cursor *c, size_t at, void *out, size_t n)
{
    if (at > cursor_remaining(c) || cursor_remaining(c) - at < n)
        return false;
    memcpy(out, c->data + c->off + at, n);
    return true;
}

static inline bool cursor_get_u8(struct nm_cursor *c, uint8_t *v)
{
    return cursor_peek_u8(c, 0, v) && cursor_skip(c, 1);
}

static inline bool cursor_get_be16(struct nm_cursor *c, uint16_t *v)
{
    return cursor_peek_be16(c, 0, v) && cursor_skip(c, 2);
}

static inline bool cursor_get_be32(struct nm_cursor *c, uint32_t *v)
{
    return cursor_peek_be32(c, 0, v) && cursor_skip(c, 4);
}

static inline bool cursor_get_bytes(struct nm_cursor *c, void *out, size_t n)
{
    return cursor_peek_bytes(c, 0, out, n) && cursor_skip(c, n);
}

/* The n bytes at offset at, or NULL when fewer were captured: one check
 * for a fixed-size header, whose fields are then read with bytes_be16 /
 * bytes_be32 at offsets below n (and nowhere else). */
static inline const uint8_t *cursor_window(const struct nm_cursor *c, size_t at, size_t n)
{
    if (at > cursor_remaining(c) || cursor_remaining(c) - at < n)
        return NULL;
    return c->data + c->off + at;
}

/* Big-endian fields of a window (cursor_window) or of a header copied out
 * with cursor_peek_bytes: the window's or copy's size bounds every offset. */
static inline uint16_t bytes_be16(const uint8_t *b)
{
    return (uint16_t)((b[0] << 8) | b[1]);
}

static inline uint32_t bytes_be32(const uint8_t *b)
{
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

/* A sub-cursor over the next n bytes (e.g. an IP payload bounded by the
 * header's length field), failing if fewer than n were captured. */
static inline bool cursor_sub(const struct nm_cursor *c, size_t n, struct nm_cursor *sub)
{
    if (!cursor_has(c, n))
        return false;
    *sub = cursor_make(cursor_ptr(c), n);
    return true;
}

#endif
