/*
 * frag.c: the bounded fragment table of decode.h.  IP fragments after the
 * first carry no transport header (RFC 791 §2.3, RFC 8200 §4.5), so the
 * ports of the first fragment are remembered under the datagram's key
 * (source, destination, identification, protocol), the key reassembly uses.
 *
 * Open addressing with a fixed probe window: a key lives in one of
 * FRAG_PROBE slots after its hash, lookups scan the whole window (so a
 * freed slot needs no tombstone), and a full window reuses its oldest
 * entry.  Entries expire after NM_FRAG_TIMEOUT_US of packet time, the same
 * order as the 30 s the Linux stack waits for a reassembly (ipfrag_time).
 * The hash is unkeyed: a flood can at worst evict fragment state, which
 * only costs the ports of later fragments, never memory.
 */
#include <string.h>

#include "decode/decode.h"

#define FRAG_PROBE 8u

void frag_table_init(struct frag_table *t)
{
    memset(t, 0, sizeof *t);
}

static uint32_t fnv1a(uint32_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

static uint32_t frag_hash(const struct nm_packet *pkt)
{
    uint8_t tail[5] = { (uint8_t)(pkt->frag_id >> 24), (uint8_t)(pkt->frag_id >> 16),
                        (uint8_t)(pkt->frag_id >> 8), (uint8_t)pkt->frag_id, pkt->proto };
    uint32_t h = 2166136261u;
    h = fnv1a(h, pkt->src.b, sizeof pkt->src.b);
    h = fnv1a(h, pkt->dst.b, sizeof pkt->dst.b);
    return fnv1a(h, tail, sizeof tail);
}

static bool frag_key_equal(const struct frag_entry *e, const struct nm_packet *pkt)
{
    return e->id == pkt->frag_id && e->proto == pkt->proto &&
           memcmp(e->src.b, pkt->src.b, sizeof e->src.b) == 0 &&
           memcmp(e->dst.b, pkt->dst.b, sizeof e->dst.b) == 0;
}

/* Capture files can go back in time; that is not age. */
static bool frag_expired(const struct frag_entry *e, uint64_t now_us)
{
    return now_us > e->ts_us && now_us - e->ts_us > NM_FRAG_TIMEOUT_US;
}

static struct frag_entry *frag_slot(struct frag_table *t, uint32_t hash, uint32_t i)
{
    return &t->slots[(hash + i) % NM_FRAG_TABLE_SIZE];
}

/* Frees expired slots in the window as a side effect, so that stale
 * entries never match a reused identification. */
static struct frag_entry *frag_find(struct frag_table *t, const struct nm_packet *pkt, uint32_t hash)
{
    for (uint32_t i = 0; i < FRAG_PROBE; i++) {
        struct frag_entry *e = frag_slot(t, hash, i);
        if (!e->used)
            continue;
        if (frag_expired(e, pkt->ts_us)) {
            e->used = 0;
            t->expired++;
            continue;
        }
        if (frag_key_equal(e, pkt))
            return e;
    }
    return NULL;
}

static bool frag_same_transport(const struct frag_entry *e, const struct nm_packet *pkt)
{
    return e->has_ports == pkt->has_ports && e->sport == pkt->sport && e->dport == pkt->dport &&
           e->has_icmp == pkt->has_icmp && e->icmp_type == pkt->icmp_type &&
           e->icmp_id == pkt->icmp_id;
}

static void frag_store(struct frag_entry *e, const struct nm_packet *pkt)
{
    memset(e, 0, sizeof *e);
    e->src = pkt->src;
    e->dst = pkt->dst;
    e->id = pkt->frag_id;
    e->proto = pkt->proto;
    e->used = 1;
    e->has_ports = pkt->has_ports;
    e->sport = pkt->sport;
    e->dport = pkt->dport;
    e->has_icmp = pkt->has_icmp;
    e->icmp_is_echo = pkt->icmp_is_echo;
    e->icmp_is_request = pkt->icmp_is_request;
    e->icmp_type = pkt->icmp_type;
    e->icmp_code = pkt->icmp_code;
    e->icmp_id = pkt->icmp_id;
    e->ts_us = pkt->ts_us;
}

enum frag_insert_result frag_table_insert_detail(struct frag_table *t, const struct nm_packet *pkt)
{
    uint32_t hash = frag_hash(pkt);
    struct frag_entry *e = frag_find(t, pkt, hash);
    if (e) {
        bool same = frag_same_transport(e, pkt);
        frag_store(e, pkt);
        return same ? FRAG_INSERT_REFRESHED : FRAG_INSERT_CONFLICT;
    }
    struct frag_entry *oldest = NULL;
    for (uint32_t i = 0; i < FRAG_PROBE; i++) {
        e = frag_slot(t, hash, i);
        if (!e->used) {
            frag_store(e, pkt);
            t->inserted++;
            return FRAG_INSERT_NEW;
        }
        if (!oldest || e->ts_us < oldest->ts_us)
            oldest = e;
    }
    frag_store(oldest, pkt);
    t->inserted++;
    t->evicted++;
    return FRAG_INSERT_EVICTED;
}

bool frag_table_insert(struct frag_table *t, const struct nm_packet *pkt)
{
    return frag_table_insert_detail(t, pkt) != FRAG_INSERT_EVICTED;
}

bool frag_table_lookup(struct frag_table *t, struct nm_packet *pkt)
{
    struct frag_entry *e = frag_find(t, pkt, frag_hash(pkt));
    if (!e)
        return false;
    t->matched++;
    e->ts_us = pkt->ts_us > e->ts_us ? pkt->ts_us : e->ts_us;
    pkt->has_ports = e->has_ports;
    pkt->sport = e->sport;
    pkt->dport = e->dport;
    pkt->has_icmp = e->has_icmp;
    pkt->icmp_is_echo = e->icmp_is_echo;
    pkt->icmp_is_request = e->icmp_is_request;
    pkt->icmp_type = e->icmp_type;
    pkt->icmp_code = e->icmp_code;
    pkt->icmp_id = e->icmp_id;
    return true;
}
