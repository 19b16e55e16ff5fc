/*
 * l7_text.c: the bounded text area of struct flow_l7_summary
 * (output/record.h), where parsers leave the strings a record carries.
 * Nothing is allocated: a field is an offset and a length into one fixed
 * array, and whatever does not fit is cut and counted.
 */
#include <string.h>

#include "analyze/l7_parsers.h"

void l7_text_set(struct flow_l7_summary *s, enum nm_l7_field f, const void *v, size_t len,
                 struct nm_l7_stats *st)
{
    size_t room = NM_L7_TEXT_MAX - s->used;

    if (s->len[f] || len == 0)
        return;
    if (len > room) {
        st->truncated++;
        len = room;
    }
    if (len == 0)
        return;
    memcpy(s->text + s->used, v, len);
    s->off[f] = s->used;
    s->len[f] = (uint16_t)len;
    s->used = (uint16_t)(s->used + len);
}

bool l7_text_append_item(struct flow_l7_summary *s, enum nm_l7_field f, const void *v,
                         size_t len, struct nm_l7_stats *st)
{
    size_t sep = s->len[f] ? 1 : 0;

    if (len == 0)
        return true;
    if (s->len[f] && s->off[f] + s->len[f] != s->used) {
        st->truncated++;     /* another field came in between: keep what is there */
        return false;
    }
    if (sep + len > (size_t)(NM_L7_TEXT_MAX - s->used)) {
        st->truncated++;
        return false;
    }
    if (!s->len[f])
        s->off[f] = s->used;
    if (sep)
        s->text[s->used] = NM_L7_LIST_SEP;
    memcpy(s->text + s->used + sep, v, len);
    s->len[f] = (uint16_t)(s->len[f] + sep + len);
    s->used = (uint16_t)(s->used + sep + len);
    return true;
}
