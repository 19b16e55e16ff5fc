/*
 * l7_ssh.c: SSH version banners (RFC 4253 §4.2): "SSH-protoversion-
 * softwareversion [comments]" ending in CR LF, at most 255 characters.  A
 * server may send other lines first; they are skipped.  The banner of the
 * flow's src is ssh_client, the other ssh_server.
 */
#include "analyze/l7_parsers.h"

#include <string.h>

#define SSH_BANNER_MAX 255
#define SSH_MAX_LINES 16

enum l7_verdict l7_parse_ssh(const struct l7_input *in, struct flow_l7_summary *out,
                             struct nm_l7_stats *st)
{
    struct nm_cursor c = cursor_make(in->data, in->len);
    bool claimed = out->proto == NM_L7_SSH;
    size_t line = 0;
    uint8_t b;

    if (!in->is_stream)
        return L7_NOT_MINE;
    /* Content decides only on "SSH-" at the very start; lines before the
     * banner are skipped once the other side showed its banner. */
    if (!claimed && (in->len < 4 ? memcmp(in->data, "SSH-", in->len) : memcmp(in->data, "SSH-", 4)))
        return L7_NOT_MINE;
    for (unsigned lines = 0; lines < SSH_MAX_LINES; lines++) {
        size_t end = line;
        while (cursor_peek_u8(&c, end, &b) && b != '\n' && end - line <= SSH_BANNER_MAX)
            end++;
        if (end - line > SSH_BANNER_MAX)
            return L7_MALFORMED;
        if (!cursor_peek_u8(&c, end, &b))
            return L7_MORE;
        size_t n = end - line;
        if (n >= 4 && memcmp(in->data + line, "SSH-", 4) == 0) {
            if (in->data[line + n - 1] == '\r')
                n--;
            l7_text_set(out, in->from_initiator ? NM_L7_SSH_CLIENT : NM_L7_SSH_SERVER,
                        in->data + line, n, st);
            return L7_DONE;
        }
        line = end + 1;
    }
    return L7_MALFORMED;
}
