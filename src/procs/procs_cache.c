/*
 * procs_cache.c: bounded tuple → owner map (see procs_cache.h).
 */
#include "procs/procs_cache.h"

#include <stdlib.h>
#include <string.h>

#define PROCS_CACHE_WAYS 4u

struct procs_cache {
    uint32_t set_mask;
    uint64_t clock;
    uint64_t evictions;
    struct procs_entry *entries;   /* (set_mask + 1) * PROCS_CACHE_WAYS */
};

static int procs_endpoint_cmp(const struct nm_addr *a, uint16_t ap, const struct nm_addr *b,
                              uint16_t bp)
{
    int c = memcmp(a->b, b->b, sizeof(a->b));
    return c ? c : (ap > bp) - (ap < bp);
}

void procs_tuple_make(struct procs_tuple *t, uint8_t proto, const struct nm_addr *a,
                      uint16_t aport, const struct nm_addr *b, uint16_t bport)
{
    static const struct nm_addr wildcard;

    memset(t, 0, sizeof(*t));
    a = a ? a : &wildcard;
    b = b ? b : &wildcard;
    unsigned first = procs_endpoint_cmp(a, aport, b, bport) <= 0 ? 0 : 1;
    t->addr[first] = *a;
    t->port[first] = aport;
    t->addr[first ^ 1] = *b;
    t->port[first ^ 1] = bport;
    t->proto = proto;
}

static uint64_t procs_tuple_hash(const struct procs_tuple *t)
{
    uint64_t h = 0x9e3779b97f4a7c15ull, w;
    const uint8_t *p = (const uint8_t *)t;

    for (size_t i = 0; i + 8 <= sizeof(*t); i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return h;
}

struct procs_cache *procs_cache_create(uint32_t capacity)
{
    struct procs_cache *c = calloc(1, sizeof(*c));
    uint32_t sets = 1;

    if (!c)
        return NULL;
    while (sets * PROCS_CACHE_WAYS < capacity && sets < (1u << 24))
        sets <<= 1;
    c->set_mask = sets - 1;
    c->entries = calloc((size_t)sets * PROCS_CACHE_WAYS, sizeof(*c->entries));
    if (!c->entries) {
        free(c);
        return NULL;
    }
    return c;
}

void procs_cache_destroy(struct procs_cache *c)
{
    if (!c)
        return;
    free(c->entries);
    free(c);
}

static struct procs_entry *procs_cache_set(struct procs_cache *c, const struct procs_tuple *t)
{
    return &c->entries[(procs_tuple_hash(t) & c->set_mask) * PROCS_CACHE_WAYS];
}

struct procs_entry *procs_cache_find(struct procs_cache *c, const struct procs_tuple *t)
{
    struct procs_entry *set = procs_cache_set(c, t);

    for (unsigned i = 0; i < PROCS_CACHE_WAYS; i++)
        if (set[i].status && memcmp(&set[i].tuple, t, sizeof(*t)) == 0) {
            set[i].used = true;
            return &set[i];
        }
    return NULL;
}

struct procs_entry *procs_cache_put(struct procs_cache *c, const struct procs_tuple *t)
{
    struct procs_entry *set = procs_cache_set(c, t), *victim = &set[0];

    for (unsigned i = 0; i < PROCS_CACHE_WAYS; i++) {
        if (set[i].status && memcmp(&set[i].tuple, t, sizeof(*t)) == 0)
            return &set[i];
        if (!set[i].status)
            victim = &set[i];
        else if (victim->status && set[i].stamp < victim->stamp)
            victim = &set[i];
    }
    if (victim->status && !victim->used)
        c->evictions++;
    memset(victim, 0, sizeof(*victim));
    victim->tuple = *t;
    victim->stamp = ++c->clock;
    return victim;
}

uint64_t procs_cache_evictions(const struct procs_cache *c)
{
    return c->evictions;
}
