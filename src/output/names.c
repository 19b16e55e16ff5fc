/*
 * names.c: the address -> name map of names.h, filled from the DNS answers
 * in flow records (RFC 1035 §3.2.1 TTLs).  Open addressing with a short
 * probe window: a lookup touches at most NAME_MAP_PROBE entries, and a full
 * window gives up the entry that expires first.
 */
#include "output/names.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define NAME_MAP_PROBE 8u

struct name_entry {
    struct nm_addr addr;
    uint8_t ip_version;              /* 0: empty */
    uint64_t expires_us;
    char name[NAME_MAP_NAME_MAX];
};

struct name_map {
    struct name_entry *e;
    uint32_t mask;
    struct name_map_stats stats;
};

struct name_map *name_map_create(uint32_t capacity)
{
    struct name_map *m = calloc(1, sizeof(*m));
    uint32_t n = 16;

    if (!m)
        return NULL;
    while (n < capacity && n < (1u << 24))
        n <<= 1;
    m->e = calloc(n, sizeof(*m->e));
    if (!m->e) {
        free(m);
        return NULL;
    }
    m->mask = n - 1;
    return m;
}

void name_map_destroy(struct name_map *m)
{
    if (!m)
        return;
    free(m->e);
    free(m);
}

const struct name_map_stats *name_map_stats(const struct name_map *m)
{
    return &m->stats;
}

static uint32_t name_map_hash(const struct nm_addr *a, uint8_t ip_version)
{
    uint32_t h = 2166136261u ^ ip_version;

    for (int i = 0; i < 16; i++)
        h = (h ^ a->b[i]) * 16777619u;
    return h;
}

static bool name_entry_is(const struct name_entry *e, const struct nm_addr *a, uint8_t ipv)
{
    return e->ip_version == ipv && memcmp(&e->addr, a, sizeof(*a)) == 0;
}

/* The entry for a, or the slot to put it in (free, expired, or the one
 * expiring soonest). */
static struct name_entry *name_map_slot(struct name_map *m, const struct nm_addr *a, uint8_t ipv,
                                        uint64_t now_us)
{
    uint32_t h = name_map_hash(a, ipv);
    struct name_entry *victim = NULL;
    bool victim_free = false;

    for (uint32_t i = 0; i < NAME_MAP_PROBE; i++) {
        struct name_entry *e = &m->e[(h + i) & m->mask];
        if (name_entry_is(e, a, ipv))
            return e;
        if (!e->ip_version || e->expires_us <= now_us) {
            if (!victim_free)
                victim = e;
            victim_free = true;
        } else if (!victim_free && (!victim || e->expires_us < victim->expires_us)) {
            victim = e;
        }
    }
    if (!victim_free)
        m->stats.replaced++;
    return victim;
}

static void name_map_put(struct name_map *m, const struct nm_addr *a, uint8_t ipv,
                         const char *name, size_t len, uint64_t expires_us, uint64_t now_us)
{
    struct name_entry *e = name_map_slot(m, a, ipv, now_us);

    if (len >= sizeof(e->name)) {
        len = sizeof(e->name) - 1;
        m->stats.truncated++;
    }
    e->addr = *a;
    e->ip_version = ipv;
    e->expires_us = expires_us;
    memcpy(e->name, name, len);
    e->name[len] = '\0';
    m->stats.learned++;
}

/* An answer item as an address in netmoon's form (IPv4 as ::ffff:a.b.c.d). */
static bool name_map_parse_addr(const char *item, size_t len, struct nm_addr *a, uint8_t *ipv)
{
    char text[64];

    if (len == 0 || len >= sizeof(text))
        return false;
    memcpy(text, item, len);
    text[len] = '\0';
    memset(a, 0, sizeof(*a));
    if (inet_pton(AF_INET, text, &a->b[12]) == 1) {
        a->b[10] = a->b[11] = 0xff;
        *ipv = 4;
        return true;
    }
    *ipv = 6;
    return inet_pton(AF_INET6, text, a->b) == 1;
}

void name_map_learn(struct name_map *m, const struct flow_record *r, uint64_t now_us)
{
    const struct flow_l7_summary *l = &r->l7;
    size_t qlen, alen;
    const char *qname = flow_l7_field(l, NM_L7_DNS_QNAME, &qlen);
    const char *answers = flow_l7_field(l, NM_L7_DNS_ANSWERS, &alen);

    /* A TTL of 0 means the answer may not be cached (RFC 1035 §3.2.1). */
    if (!m || !l->has_dns_rcode || l->dns_rcode != 0 || !qname || !answers || !l->has_dns_ttl ||
        l->dns_ttl_min == 0)
        return;
    uint64_t expires = now_us + (uint64_t)l->dns_ttl_min * 1000000ull;
    for (size_t i = 0, start = 0; i <= alen; i++) {
        if (i < alen && answers[i] != NM_L7_LIST_SEP)
            continue;
        struct nm_addr a;
        uint8_t ipv;
        if (name_map_parse_addr(answers + start, i - start, &a, &ipv))
            name_map_put(m, &a, ipv, qname, qlen, expires, now_us);
        start = i + 1;
    }
}

const char *name_map_lookup(const struct name_map *m, const struct nm_addr *a, uint8_t ip_version,
                            uint64_t now_us)
{
    uint32_t h = name_map_hash(a, ip_version);

    if (!m)
        return NULL;
    for (uint32_t i = 0; i < NAME_MAP_PROBE; i++) {
        const struct name_entry *e = &m->e[(h + i) & m->mask];
        if (name_entry_is(e, a, ip_version))
            return e->expires_us > now_us ? e->name : NULL;
    }
    return NULL;
}

const char *name_map_flow_label(const struct name_map *m, const struct flow_record *r,
                                uint64_t now_us, char *buf, size_t buflen)
{
    size_t len;
    const char *v = flow_l7_field(&r->l7, NM_L7_SNI, &len);

    if (!v)
        v = flow_l7_field(&r->l7, NM_L7_HTTP_HOST, &len);
    if (!v) {
        v = name_map_lookup(m, &r->addr[NM_DIR_DST], r->ip_version, now_us);
        if (!v)
            v = name_map_lookup(m, &r->addr[NM_DIR_SRC], r->ip_version, now_us);
        len = v ? strlen(v) : 0;
    }
    if (!v || buflen == 0)
        return NULL;
    if (len >= buflen)
        len = buflen - 1;
    /* Names come from the wire: nothing that could drive a terminal. */
    for (size_t i = 0; i < len; i++)
        buf[i] = (v[i] < 0x20 || v[i] > 0x7e) ? '.' : v[i];
    buf[len] = '\0';
    return buf;
}
