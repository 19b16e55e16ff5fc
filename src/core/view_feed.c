/*
 * view_feed.c: bounded snapshots and -r pacing for views (see view_feed.h).
 *
 * The bounded selection is a min-heap of the `limit` busiest flows, keyed by
 * bytes since the previous snapshot.  "Since the previous snapshot" is known
 * exactly for flows that were sent last time (their byte counts are kept,
 * sorted by flow_id); a flow with no packet since then scores 0; any other
 * flow scores its total bytes, which overstates an old flow that was just
 * below the cut-off last time.  That errs towards showing a flow, and only
 * matters past `limit` flows per worker.
 */
#include "core/view_feed.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/signals.h"

struct snapshot_prev {
    uint64_t flow_id;
    uint64_t bytes;
};

struct snapshot_slot {
    uint64_t key;
    struct flow_record rec;
};

struct snapshot_sel {
    uint32_t limit;
    struct snapshot_slot *heap;    /* min-heap on key, n entries */
    uint32_t n, cap;
    struct snapshot_prev *prev;    /* last sent set, sorted by flow_id */
    uint32_t nprev;
    uint64_t prev_ts;
    uint64_t seen;
    bool oom;
};

struct snapshot_sel *snapshot_sel_create(uint32_t limit)
{
    struct snapshot_sel *s = calloc(1, sizeof(*s));

    if (s)
        s->limit = limit ? limit : 1;
    return s;
}

void snapshot_sel_destroy(struct snapshot_sel *s)
{
    if (!s)
        return;
    free(s->heap);
    free(s->prev);
    free(s);
}

static uint64_t snapshot_total_bytes(const struct flow_record *r)
{
    return r->bytes[NM_DIR_SRC] + r->bytes[NM_DIR_DST];
}

static const struct snapshot_prev *snapshot_find_prev(const struct snapshot_sel *s, uint64_t id)
{
    uint32_t lo = 0, hi = s->nprev;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->prev[mid].flow_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->nprev && s->prev[lo].flow_id == id ? &s->prev[lo] : NULL;
}

static uint64_t snapshot_key(const struct snapshot_sel *s, const struct flow_record *r)
{
    uint64_t total = snapshot_total_bytes(r);

    if (s->prev_ts && r->ts_end_us < s->prev_ts)
        return 0;
    const struct snapshot_prev *p = snapshot_find_prev(s, r->flow_id);
    if (p)
        return total >= p->bytes ? total - p->bytes : total;
    return total;
}

static void snapshot_sift_down(struct snapshot_sel *s, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->n && s->heap[l].key < s->heap[m].key)
            m = l;
        if (r < s->n && s->heap[r].key < s->heap[m].key)
            m = r;
        if (m == i)
            return;
        struct snapshot_slot t = s->heap[i];
        s->heap[i] = s->heap[m];
        s->heap[m] = t;
        i = m;
    }
}

static void snapshot_sift_up(struct snapshot_sel *s, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (s->heap[p].key <= s->heap[i].key)
            return;
        struct snapshot_slot t = s->heap[i];
        s->heap[i] = s->heap[p];
        s->heap[p] = t;
        i = p;
    }
}

static bool snapshot_grow(struct snapshot_sel *s)
{
    uint32_t cap = s->cap ? s->cap * 2 : 256;

    if (cap > s->limit)
        cap = s->limit;
    struct snapshot_slot *h = realloc(s->heap, (size_t)cap * sizeof(*h));
    if (!h)
        return false;
    s->heap = h;
    s->cap = cap;
    return true;
}

static void snapshot_collect(void *user, const struct flow_record *rec)
{
    struct snapshot_sel *s = user;
    uint64_t key = snapshot_key(s, rec);

    s->seen++;
    if (s->n < s->limit) {
        if (s->n == s->cap && !snapshot_grow(s)) {
            s->oom = true;
            return;
        }
        s->heap[s->n].key = key;
        s->heap[s->n].rec = *rec;
        snapshot_sift_up(s, s->n++);
        return;
    }
    if (key <= s->heap[0].key)
        return;
    s->heap[0].key = key;
    s->heap[0].rec = *rec;
    snapshot_sift_down(s, 0);
}

static int snapshot_prev_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct snapshot_prev *)a)->flow_id;
    uint64_t y = ((const struct snapshot_prev *)b)->flow_id;
    return x < y ? -1 : x > y;
}

/* Remembers what was sent, for next time's "bytes since". */
static void snapshot_remember(struct snapshot_sel *s, uint64_t now_us)
{
    struct snapshot_prev *p = realloc(s->prev, (size_t)(s->n ? s->n : 1) * sizeof(*p));

    s->prev_ts = now_us;
    if (!p) {
        s->nprev = 0;
        return;
    }
    s->prev = p;
    for (uint32_t i = 0; i < s->n; i++) {
        p[i].flow_id = s->heap[i].rec.flow_id;
        p[i].bytes = snapshot_total_bytes(&s->heap[i].rec);
    }
    s->nprev = s->n;
    qsort(p, s->nprev, sizeof(*p), snapshot_prev_cmp);
}

static int snapshot_cmp_busiest(const void *pa, const void *pb)
{
    const struct snapshot_slot *a = pa, *b = pb;

    if (a->key != b->key)
        return a->key > b->key ? -1 : 1;
    return a->rec.flow_id < b->rec.flow_id ? -1 : a->rec.flow_id > b->rec.flow_id;
}

uint64_t snapshot_sel_run(struct snapshot_sel *s, const struct flow_table *t, uint64_t now_us,
                          flow_emit_fn *emit, void *user, uint64_t *sent)
{
    struct flow_table_stats fs;

    s->n = 0;
    s->seen = 0;
    s->oom = false;
    flow_table_snapshot(t, snapshot_collect, s);
    /* Busiest first: a consumer that can take only part of the snapshot
     * (live workers never wait for the view) keeps the rows that matter. */
    if (s->n > 1)   /* the heap is NULL until a flow was seen; qsort(NULL) is UB */
        qsort(s->heap, s->n, sizeof(s->heap[0]), snapshot_cmp_busiest);
    for (uint32_t i = 0; i < s->n; i++)
        emit(user, &s->heap[i].rec);
    *sent = s->n;
    snapshot_remember(s, now_us);
    flow_table_get_stats(t, &fs);
    return fs.active;
}

/* ---- -r ------------------------------------------------------------------ */

static uint64_t view_feed_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

int view_feed_init(struct view_feed *vf, const struct nm_config *cfg)
{
    memset(vf, 0, sizeof(*vf));
    vf->cfg = cfg;
    if (cfg->snapshot_us && !(vf->sel = snapshot_sel_create(VIEW_SNAPSHOT_LIMIT)))
        return -1;
    return 0;
}

void view_feed_fini(struct view_feed *vf)
{
    snapshot_sel_destroy(vf->sel);
    vf->sel = NULL;
}

/* Sleeps until the packet's time relative to the first one, in short steps
 * so the view keeps answering keys and a stop request ends the wait. */
static void view_feed_pace(struct view_feed *vf, struct output_set *outs, uint64_t ts_us)
{
    const uint64_t step_us = 20000;

    if (!vf->pace_base_mono) {
        vf->pace_base_mono = view_feed_mono_us();
        vf->pace_base_ts = ts_us;
        return;
    }
    if (ts_us <= vf->pace_base_ts)
        return;                       /* out-of-order packet: no waiting back */
    uint64_t target = vf->pace_base_mono + (ts_us - vf->pace_base_ts);
    for (uint64_t now = view_feed_mono_us(); now < target && !signals_stop_requested();
         now = view_feed_mono_us()) {
        uint64_t left = target - now < step_us ? target - now : step_us;
        struct timespec d = { 0, (long)(left * 1000) };
        nanosleep(&d, NULL);
        output_set_tick(outs);
    }
}

static void view_feed_emit_flow(void *user, const struct flow_record *rec)
{
    output_set_snapshot_flow(user, rec);
}

static void view_feed_snapshot(struct view_feed *vf, struct worker *w, struct output_set *outs,
                               uint64_t ts_us)
{
    struct nm_snapshot_end e;

    memset(&e, 0, sizeof(e));
    e.source = 0;
    e.ts_us = ts_us;
    output_set_snapshot_begin(outs, 0, ts_us);
    e.active = snapshot_sel_run(vf->sel, w->flows, ts_us, view_feed_emit_flow, outs, &e.sent);
    e.stats.ts_us = ts_us;
    worker_collect_stats(w, &e.stats);
    output_set_snapshot_end(outs, &e);
}

void view_feed_offline_packet(struct view_feed *vf, struct worker *w, struct output_set *outs,
                              uint64_t ts_us)
{
    if (vf->cfg->realtime)
        view_feed_pace(vf, outs, ts_us);
    if (vf->sel) {
        uint64_t every = vf->cfg->snapshot_us;
        if (!vf->next_snap_us)
            vf->next_snap_us = ts_us + every;
        if (ts_us >= vf->next_snap_us) {
            view_feed_snapshot(vf, w, outs, ts_us);
            /* One snapshot for a long gap: the view's rates use real dt. */
            vf->next_snap_us += every * ((ts_us - vf->next_snap_us) / every + 1);
        }
    }
    if ((++vf->calls & 255) == 0)
        output_set_tick(outs);
}
