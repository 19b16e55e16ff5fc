/*
 * l7_ndpi.c: per-flow application labels from nDPI 4.2 (libndpi, Debian
 * libndpi-dev; API in /usr/include/ndpi/ndpi_api.h).  What is fed and when
 * nDPI stops is described in l7_ndpi.h; the feeding rules are those of
 * nDPI's own example reader (ndpiReader), so that its labels can serve as
 * the oracle in tests/golden/test_ndpi_labels.sh.
 *
 * Memory: nDPI's per-flow state (struct ndpi_flow_struct, ~700 bytes in
 * 4.2) lives in a pool of `slots` entries allocated once; only the entries
 * ever used become resident, and freed ones are reused first (LIFO), so the
 * pool's footprint follows the number of flows being classified at once.
 * A flow that finds the pool full is not classified and is counted
 * (no_slot).  nDPI's own allocations for a flow (host names, TLS buffers)
 * are returned with ndpi_free_flow_data() when its slot is released.
 *
 * nDPI parses the packet itself; we hand it only IP packets the capture
 * holds completely (nm_packet.l3_complete), because nDPI trusts the IP
 * length fields and would otherwise read past the captured bytes.
 *
 * Start-up: building a module (protocol tables, the IP prefix trees of
 * nDPI's address lists, host-name automata) makes about 100,000 small
 * allocations, 5 MB, in nDPI 4.2; through malloc that was most of a short
 * run's time (allocator work, then tree nodes scattered over pages, then
 * freeing each one at exit).  Allocations made while a module is being
 * built therefore come bump-pointer from one region reserved for all
 * modules, in transparent huge pages where the kernel allows (madvise);
 * nDPI's frees of them do nothing and the region is unmapped with the last
 * module.  Allocations nDPI makes later, per flow (host names, TLS
 * buffers), go to malloc and free as before.  The module is also built on
 * a thread of its own, so that the file is opened, read and decoded, and
 * the flow table and outputs set up, while nDPI builds its tables; the
 * worker waits for it (l7_ready) only when a packet first needs it.  A
 * one-shot file read starts that thread from main (l7_ndpi_prestart), before
 * the file and outputs are opened, and its worker adopts the module.  The
 * address trees, most of the build, are loaded in one pass, on a third
 * thread while the builder finalizes (l7_ndpi_ptree.c).
 *
 * Exit: taking a module apart (ndpi_exit_detection_module walks every tree
 * and automaton) cost about 1.5 ms of a 20 ms read of a small file, to free
 * memory the exit returns anyway.  After l7_ndpi_exit_fast() a module's
 * tables are left to the exit; sanitizer builds still free everything, so
 * that their leak check keeps covering nDPI's per-flow data.
 */
#include "analyze/l7_ndpi.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <ndpi_api.h>

#include "analyze/l7_ndpi_ptree.h"
#include "common/hugemem.h"
#include "common/threads.h"

/* Handle layout.  A decided flow's handle has L7_H_LABEL set and packs
 * nDPI's master and app protocol ids (nDPI keeps ids below NDPI_NUM_BITS,
 * 512), the category (below 128) and the confidence (below 8).  Otherwise
 * a non-zero handle is a pool slot number + 1, or L7_H_NO_SLOT. */
#define L7_H_LABEL 0x80000000u
#define L7_H_NO_SLOT 0x40000000u
#define L7_H_ID_BITS 9u
#define L7_H_ID_MASK 0x1FFu
#define L7_H_CAT_SHIFT 18u
#define L7_H_CAT_MASK 0x7Fu
#define L7_H_CONF_SHIFT 25u
#define L7_H_CONF_MASK 0x7u

_Static_assert(NDPI_NUM_BITS <= L7_H_ID_MASK + 1, "nDPI protocol ids need more than 9 bits");
_Static_assert(NDPI_PROTOCOL_NUM_CATEGORIES <= L7_H_CAT_MASK + 1, "nDPI categories need more than 7 bits");
_Static_assert(NDPI_CONFIDENCE_MAX <= L7_H_CONF_MASK + 1, "nDPI confidences need more than 3 bits");

#define L7_FREE_NIL UINT32_MAX
#define L7_NAME_MAX 48

struct l7_slot {
    struct ndpi_flow_struct nf;
    uint32_t next_free;
    uint16_t packets;          /* handed to nDPI so far */
};

size_t l7_ndpi_bytes_per_slot(void)
{
    return sizeof(struct l7_slot);
}

struct l7_ndpi {
    struct ndpi_detection_module_struct *mod;   /* NULL until built (or if that failed) */
    pthread_t builder;         /* returns the module it built */
    bool building;             /* builder runs or has not been joined */
    struct l7_slot *slots;
    uint32_t nslots;
    uint32_t fresh;            /* slots[fresh..] never used: untouched memory */
    uint32_t free_head;
    bool in_arena;             /* counted in l7_arena.modules */
    struct l7_ndpi_stats stats;
};

/* ---- the build-time region ------------------------------------------------ */

#define L7_ARENA_BYTES (1024ul << 20)   /* address space only: ~6 MB a module is touched */
#define L7_ARENA_ALIGN (2ul << 20)      /* a transparent huge page */

static struct {
    pthread_mutex_t lock;             /* creation and unmapping */
    char *map, *base;                 /* as mapped; aligned start */
    atomic_size_t used;
    unsigned modules;                 /* modules built from it and not destroyed */
} l7_arena = { .lock = PTHREAD_MUTEX_INITIALIZER };

#define L7_ARENA_CHUNK (1ul << 20)      /* taken at once by a building thread */

/* Set on the thread building a module: only its allocations are bumped,
 * from a chunk of the region that thread took for itself (no atomic per
 * allocation; several workers' modules may be built at once). */
static _Thread_local bool l7_arena_building;
static _Thread_local char *l7_chunk_next, *l7_chunk_end;

static bool l7_arena_owns(const void *p)
{
    const char *c = p;
    return l7_arena.base && c >= l7_arena.base && c < l7_arena.base + L7_ARENA_BYTES;
}

static void *l7_arena_malloc(size_t n)
{
    size_t size = (n + 15) & ~(size_t)15;   /* malloc's alignment */

    if (!l7_arena_building || !l7_arena.base || size > L7_ARENA_CHUNK)
        return malloc(n);
    if ((size_t)(l7_chunk_end - l7_chunk_next) < size) {
        size_t at = atomic_fetch_add_explicit(&l7_arena.used, L7_ARENA_CHUNK, memory_order_relaxed);
        if (at + L7_ARENA_CHUNK > L7_ARENA_BYTES)
            return malloc(n);
        l7_chunk_next = l7_arena.base + at;
        l7_chunk_end = l7_chunk_next + L7_ARENA_CHUNK;
    }
    void *p = l7_chunk_next;
    l7_chunk_next += size;
    return p;
}

static void l7_arena_free(void *p)
{
    if (!l7_arena_owns(p))
        free(p);
}

/* Maps the region if no module uses it; without it every allocation goes
 * to malloc, which is slower but the same. */
static void l7_arena_enter(void)
{
    pthread_mutex_lock(&l7_arena.lock);
    if (!l7_arena.map) {
        void *m = mmap(NULL, L7_ARENA_BYTES + L7_ARENA_ALIGN, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m != MAP_FAILED) {
            l7_arena.map = m;
            l7_arena.base = (char *)(((uintptr_t)m + L7_ARENA_ALIGN - 1) & ~(L7_ARENA_ALIGN - 1));
            atomic_store(&l7_arena.used, 0);
            /* Fewer page faults and TLB misses while nDPI walks its trees;
             * refused (THP off) is fine. */
            (void)madvise(l7_arena.base, L7_ARENA_BYTES, MADV_HUGEPAGE);
        }
        set_ndpi_malloc(l7_arena_malloc);
        set_ndpi_free(l7_arena_free);
    }
    l7_arena.modules++;
    pthread_mutex_unlock(&l7_arena.lock);
}

/* A module was destroyed (all its frees done): the last one unmaps. */
static void l7_arena_leave(void)
{
    pthread_mutex_lock(&l7_arena.lock);
    if (--l7_arena.modules == 0 && l7_arena.map) {
        munmap(l7_arena.map, L7_ARENA_BYTES + L7_ARENA_ALIGN);
        l7_arena.map = l7_arena.base = NULL;
    }
    pthread_mutex_unlock(&l7_arena.lock);
}

/* Names by id, copied once from the first module: nDPI's names are the
 * same in every module we create (no custom protocols are loaded), and a
 * copy lets the output thread print them without touching a worker's
 * module.  Written before any worker runs; read-only afterwards. */
static char l7_proto_names[NDPI_NUM_BITS][L7_NAME_MAX];
static char l7_category_names[NDPI_PROTOCOL_NUM_CATEGORIES][L7_NAME_MAX];
static bool l7_names_ready;

/* Copies a name, keeping only characters that need no escaping in JSON. */
static void l7_copy_name(char *dst, const char *src)
{
    size_t n = 0;

    for (; src && *src && n + 1 < L7_NAME_MAX; src++)
        if ((unsigned char)*src >= 0x20 && (unsigned char)*src < 0x7F && *src != '"' && *src != '\\')
            dst[n++] = *src;
    dst[n] = '\0';
}

/* Called with l7_arena.lock held: builders of several workers may race. */
static void l7_fill_names(struct ndpi_detection_module_struct *mod)
{
    if (l7_names_ready)
        return;
    for (unsigned i = 0; i < NDPI_NUM_BITS; i++)
        l7_copy_name(l7_proto_names[i], ndpi_get_proto_name(mod, (u_int16_t)i));
    for (unsigned i = 0; i < NDPI_PROTOCOL_NUM_CATEGORIES; i++)
        l7_copy_name(l7_category_names[i], ndpi_category_get_name(mod, (ndpi_protocol_category_t)i));
    l7_names_ready = true;
}

/* The calling thread's allocations for a module come from the region
 * (on) or from malloc again (off). */
static void l7_arena_building_set(bool on)
{
    l7_arena_building = on;
    if (!on)
        l7_chunk_next = l7_chunk_end = NULL;   /* the rest of the chunk stays unused */
}

/* Links nDPI's address trees (l7_ndpi_ptree.c) while the builder
 * finalizes the module: 11 M instructions against finalizing's 10 M. */
static void *l7_linker_main(void *batch)
{
    l7_arena_building_set(true);
    l7_ndpi_ptree_link(batch);
    l7_arena_building_set(false);
    return NULL;
}

/* Builds the module on the calling thread (see the top of the file). */
static struct ndpi_detection_module_struct *l7_build(void)
{
    struct ndpi_detection_module_struct *mod;
    NDPI_PROTOCOL_BITMASK all;
    pthread_t linker;
    bool linking;

    l7_arena_building_set(true);
    l7_ndpi_ptree_defer_begin(l7_arena_malloc);   /* what ndpi_malloc calls */
    mod = ndpi_init_detection_module(ndpi_no_prefs);
    struct l7_ndpi_ptree_batch *trees = l7_ndpi_ptree_defer_take();
    linking = trees && threads_start_quiet(&linker, l7_linker_main, trees) == 0;
    if (trees && !linking)
        l7_ndpi_ptree_link(trees);
    if (mod) {
        NDPI_BITMASK_SET_ALL(all);
        ndpi_set_protocol_detection_bitmask2(mod, &all);
        ndpi_finalize_initialization(mod);
        pthread_mutex_lock(&l7_arena.lock);
        l7_fill_names(mod);
        pthread_mutex_unlock(&l7_arena.lock);
    }
    if (linking)
        pthread_join(linker, NULL);
    l7_arena_building_set(false);
    return mod;
}

static void *l7_builder_main(void *arg)
{
    (void)arg;
    return l7_build();
}

/* The builder started by l7_ndpi_prestart(), until a classifier adopts it.
 * Guarded by l7_arena.lock: workers may be created from several threads. */
static struct {
    pthread_t thread;
    bool started;
} l7_early;

static bool l7_teardown_skipped;   /* l7_ndpi_exit_fast() */

void l7_ndpi_prestart(void)
{
    bool started;

    l7_arena_enter();   /* the module counts from now: the region stays mapped */
    pthread_mutex_lock(&l7_arena.lock);
    started = !l7_early.started && threads_start_quiet(&l7_early.thread, l7_builder_main, NULL) == 0;
    if (started)
        l7_early.started = true;
    pthread_mutex_unlock(&l7_arena.lock);
    if (!started)
        l7_arena_leave();   /* l7_ndpi_create() builds its own */
}

/* Hands the early builder to c, if there is one; it already counts in the
 * region (l7_ndpi_prestart). */
static bool l7_adopt_early(struct l7_ndpi *c)
{
    pthread_mutex_lock(&l7_arena.lock);
    bool took = l7_early.started;
    if (took) {
        c->builder = l7_early.thread;
        c->building = c->in_arena = true;
        l7_early.started = false;
    }
    pthread_mutex_unlock(&l7_arena.lock);
    return took;
}

/* The module, once built: joins the builder the first time.  A module
 * that could not be built (out of memory) leaves flows unlabelled, counted
 * as finding no slot, and says so once. */
static bool l7_ready(struct l7_ndpi *c)
{
    if (c->building) {
        void *mod = NULL;
        pthread_join(c->builder, &mod);
        c->mod = mod;
        c->building = false;
        if (!c->mod)
            fprintf(stderr, "netmoon: nDPI could not set up its tables (out of memory): "
                    "flows are not labelled\n");
    }
    return c->mod != NULL;
}

struct l7_ndpi *l7_ndpi_create(uint32_t slots, char *err, size_t errlen)
{
    struct l7_ndpi *c = calloc(1, sizeof(*c));

    if (!c)
        goto fail;
    c->nslots = slots ? slots : 1;
    c->free_head = L7_FREE_NIL;
    /* Zero pages mapped lazily (hugemem.h): untouched slots cost nothing. */
    c->slots = hugemem_calloc_plain(c->nslots, sizeof(*c->slots));
    if (!c->slots)
        goto fail;
    if (l7_adopt_early(c))
        return c;
    l7_arena_enter();
    c->in_arena = true;
    /* The builder takes no signals: they belong to the threads that act on them. */
    if (threads_start_quiet(&c->builder, l7_builder_main, c) == 0) {
        c->building = true;
        return c;
    }
    c->mod = l7_build();   /* no thread to spare: build it here */
    if (!c->mod)
        goto fail;
    return c;
fail:
    snprintf(err, errlen, "cannot set up nDPI classification for %u flows: %s "
             "(lower --l7-max-flows, or turn L7 off with --no-l7)", slots,
             strerror(errno ? errno : ENOMEM));
    l7_ndpi_destroy(c);
    return NULL;
}

static bool l7_is_slot(uint32_t h)
{
    return h != NDPI_HANDLE_NONE && !(h & (L7_H_LABEL | L7_H_NO_SLOT));
}

void l7_ndpi_destroy(struct l7_ndpi *c)
{
    if (!c)
        return;
    /* Flows still classifying were flushed (and released) by the flow
     * table before this; anything left is released here all the same. */
    l7_ready(c);
    if (!l7_teardown_skipped) {
        for (uint32_t i = 0; c->slots && i < c->fresh; i++)
            ndpi_free_flow_data(&c->slots[i].nf);
        if (c->mod)
            ndpi_exit_detection_module(c->mod);
    }
    if (c->in_arena)
        l7_arena_leave();
    hugemem_free(c->slots);
    free(c);
}

void l7_ndpi_prestart_cancel(void)
{
    void *mod = NULL;

    pthread_mutex_lock(&l7_arena.lock);
    bool started = l7_early.started;
    l7_early.started = false;
    pthread_mutex_unlock(&l7_arena.lock);
    if (!started)
        return;
    pthread_join(l7_early.thread, &mod);
    if (mod && !l7_teardown_skipped)
        ndpi_exit_detection_module(mod);
    l7_arena_leave();
}

void l7_ndpi_exit_fast(void)
{
    l7_teardown_skipped = true;
}

uint32_t l7_ndpi_flow_start(struct l7_ndpi *c)
{
    uint32_t i;

    if (c->free_head != L7_FREE_NIL) {
        i = c->free_head;
        c->free_head = c->slots[i].next_free;
    } else if (c->fresh < c->nslots) {
        i = c->fresh++;
    } else {
        c->stats.no_slot++;
        return L7_H_NO_SLOT;
    }
    c->slots[i].next_free = 0;   /* the rest is zero: fresh, or cleared by l7_finish */
    c->stats.classifying++;
    return i + 1;
}

static uint32_t l7_pack(const ndpi_protocol *p, ndpi_confidence_t conf)
{
    return L7_H_LABEL | (p->app_protocol & L7_H_ID_MASK) |
           (uint32_t)(p->master_protocol & L7_H_ID_MASK) << L7_H_ID_BITS |
           ((uint32_t)p->category & L7_H_CAT_MASK) << L7_H_CAT_SHIFT |
           ((uint32_t)conf & L7_H_CONF_MASK) << L7_H_CONF_SHIFT;
}

/* A free slot is all zeros: what nDPI wants for the next flow, and safe
 * for l7_ndpi_destroy() to pass to ndpi_free_flow_data() again. */
static void l7_slot_release(struct l7_ndpi *c, uint32_t i)
{
    struct l7_slot *s = &c->slots[i];

    memset(s, 0, sizeof(*s));
    s->next_free = c->free_head;
    c->free_head = i;
    c->stats.classifying--;
}

/* Records the result, gives the slot back.  An undecided flow is decided by
 * ndpi_detection_giveup() with guessing on, as ndpiReader does. */
static void l7_finish(struct l7_ndpi *c, uint32_t *handle, ndpi_protocol p, bool decided)
{
    uint32_t i = *handle - 1;
    struct l7_slot *s = &c->slots[i];

    if (!l7_ready(c)) {
        *handle = L7_H_NO_SLOT;
        l7_slot_release(c, i);
        c->stats.no_slot++;
        return;
    }
    if (!decided || p.app_protocol == NDPI_PROTOCOL_UNKNOWN) {
        u_int8_t guessed = 0;
        p = ndpi_detection_giveup(c->mod, &s->nf, 1, &guessed);
    }
    *handle = l7_pack(&p, s->nf.confidence);
    ndpi_free_flow_data(&s->nf);
    l7_slot_release(c, i);
    c->stats.labelled++;
}

void l7_ndpi_packet(struct l7_ndpi *c, uint32_t *handle, const struct nm_packet *pkt)
{
    if (!l7_is_slot(*handle))
        return;
    if (!pkt->l3_complete || (pkt->is_fragment && !pkt->is_first_fragment)) {
        c->stats.packets_skipped++;
        return;
    }
    if (!l7_ready(c)) {
        l7_ndpi_flow_end(c, handle);
        return;
    }
    struct l7_slot *s = &c->slots[*handle - 1];
    uint32_t limit = pkt->proto == 6 ? L7_NDPI_TCP_PACKETS : L7_NDPI_OTHER_PACKETS;
    uint16_t len = pkt->l3_len > 65535 ? 65535 : (uint16_t)pkt->l3_len;

    s->packets++;
    ndpi_protocol p = ndpi_detection_process_packet(c->mod, &s->nf, pkt->l3, len, pkt->ts_us / 1000);
    bool enough = s->packets > limit;
    if (!enough && p.app_protocol == NDPI_PROTOCOL_UNKNOWN)
        return;
    /* Detected, but nDPI wants more (a TLS certificate, a DNS answer). */
    if (!enough && ndpi_extra_dissection_possible(c->mod, &s->nf))
        return;
    l7_finish(c, handle, p, true);
}

void l7_ndpi_flow_end(struct l7_ndpi *c, uint32_t *handle)
{
    static const ndpi_protocol none = NDPI_PROTOCOL_NULL;

    if (l7_is_slot(*handle))
        l7_finish(c, handle, none, false);
}

void l7_ndpi_label(uint32_t handle, struct flow_l7_label *out)
{
    memset(out, 0, sizeof(*out));
    if (handle == NDPI_HANDLE_NONE)
        return;
    if (handle & L7_H_LABEL) {
        out->state = FLOW_L7_DONE;
        out->app = (uint16_t)(handle & L7_H_ID_MASK);
        out->master = (uint16_t)((handle >> L7_H_ID_BITS) & L7_H_ID_MASK);
        out->category = (uint8_t)((handle >> L7_H_CAT_SHIFT) & L7_H_CAT_MASK);
        out->confidence = (uint8_t)((handle >> L7_H_CONF_SHIFT) & L7_H_CONF_MASK);
    } else {
        out->state = (handle & L7_H_NO_SLOT) ? FLOW_L7_NO_SLOT : FLOW_L7_CLASSIFYING;
    }
}

void l7_ndpi_get_stats(const struct l7_ndpi *c, struct l7_ndpi_stats *out)
{
    *out = c->stats;
}

static const char *l7_proto_name(uint16_t id)
{
    return id < NDPI_NUM_BITS && l7_proto_names[id][0] ? l7_proto_names[id] : "Unknown";
}

size_t l7_ndpi_app_name(const struct flow_l7_label *l, char *out, size_t outlen)
{
    int n;

    if (outlen == 0)
        return 0;
    /* ndpiReader's form (ndpi_protocol2name): both names when nDPI found
     * a master protocol carrying a different application. */
    if (l->master != NDPI_PROTOCOL_UNKNOWN && l->master != l->app && l->app != NDPI_PROTOCOL_UNKNOWN)
        n = snprintf(out, outlen, "%s.%s", l7_proto_name(l->master), l7_proto_name(l->app));
    else if (l->master != NDPI_PROTOCOL_UNKNOWN && l->master != l->app)
        n = snprintf(out, outlen, "%s", l7_proto_name(l->master));
    else
        n = snprintf(out, outlen, "%s", l7_proto_name(l->app));
    if (n < 0)
        return 0;
    return (size_t)n < outlen ? (size_t)n : outlen - 1;
}

const char *l7_ndpi_category_name(const struct flow_l7_label *l)
{
    if (l->category < NDPI_PROTOCOL_NUM_CATEGORIES && l7_category_names[l->category][0])
        return l7_category_names[l->category];
    return "Unspecified";
}

const char *l7_ndpi_confidence_name(const struct flow_l7_label *l)
{
    const char *s = ndpi_confidence_get_name((ndpi_confidence_t)l->confidence);
    return s ? s : "Unknown";
}
