/*
 * l7_ndpi_ptree.c: nDPI's built-in address lists, loaded in one pass
 * instead of one insert at a time (nDPI 4.2's patricia trees; the node and
 * tree layout is public: /usr/include/ndpi/ndpi_patricia_typedefs.h).
 *
 * Why: ndpi_init_detection_module() puts about 48,000 networks into its
 * trees, each with ndpi_patricia_lookup() walking down from the root: 30 M
 * instructions, about 8 ms, two thirds of a module's build and half of a
 * short file read with labels.  The tree those inserts leave is fixed by
 * the set of prefixes alone: a path-compressed binary trie, one node per
 * prefix (its `bit` is its length), a glue node (no prefix) where two
 * branches part, children by the address bit at the node's `bit`.  Sorted
 * by (address, length), the prefixes come in the order of a walk of that
 * trie, so it is built in one pass over the sorted array (a stack holds
 * the rightmost path); nDPI's own
 * search code then reads it as it would its own.
 *
 * How: netmoon defines ndpi_patricia_lookup, _search_best and _destroy
 * (the tree functions libndpi calls besides _new and ndpi_Clear_Patricia,
 * which only _destroy calls).  libndpi calls them through its PLT, so the
 * dynamic linker binds those calls to these (ELF symbol interposition,
 * the mechanism of LD_PRELOAD); each hands the call to libndpi's own
 * function (dlsym RTLD_NEXT), except an insert into an empty tree made on
 * a thread inside l7_ndpi_ptree_defer_begin()/_end(): that insert is
 * recorded, and answered with a node of its own that is not linked yet, in
 * which nDPI stores the value it keeps for the prefix.  _end() links each
 * recorded tree; or _take() hands them to another thread to link while the
 * builder finalizes the module (l7_ndpi.c).  A search or destroy of a tree
 * with inserts pending links it first (or drops them), and one made while
 * a batch is being linked elsewhere waits for it, so nothing can see a
 * tree in between.  A prefix inserted twice keeps its first node and
 * prefix, and the value written last, as in nDPI.  Only trees of at most
 * 32 bits (nDPI 4.2's are IPv4) are recorded; any other call goes to
 * libndpi unchanged.
 *
 * libndpi 4.2 also calls ndpi_patricia_search_best2 and
 * ndpi_patricia_walk_inorder through its PLT; they are not interposed:
 * neither is reached during a module's build, and after it the trees are
 * linked before the module is used (l7_ndpi.c joins the linking thread
 * before the first packet).  A library that used them on a tree with
 * inserts pending would see it empty, which is why the deferral is only
 * turned on for the nDPI version this was checked against.
 *
 * The result is checked node by node against libndpi's own inserts of the
 * same lists in tests/unit/test_l7_ndpi_ptree.c; labels were identical on
 * all 1466 shared and lab captures.
 *
 * Nodes and prefixes are allocated with the allocator the module is built
 * with (ndpi_malloc's, or the one given to _defer_begin, which must be the
 * same), so nDPI frees them as its own.
 */
#include "analyze/l7_ndpi_ptree.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ndpi_api.h>

typedef ndpi_patricia_node_t *pt_find_fn(ndpi_patricia_tree_t *, ndpi_prefix_t *);
typedef void pt_drop_fn(ndpi_patricia_tree_t *, ndpi_void_fn_t);

/* libndpi's own functions, found once (dlsym is thread-safe; a race only
 * looks the same symbol up twice). */
enum { PT_LOOKUP, PT_SEARCH_BEST, PT_DESTROY, PT_NREAL };
static _Atomic(void *) pt_real_fn[PT_NREAL];
static const char *const pt_real_name[PT_NREAL] = {
    "ndpi_patricia_lookup", "ndpi_patricia_search_best", "ndpi_patricia_destroy",
};

static void *pt_real(int which)
{
    void *f = atomic_load_explicit(&pt_real_fn[which], memory_order_relaxed);

    if (!f) {
        f = dlsym(RTLD_NEXT, pt_real_name[which]);
        if (!f) {
            /* Only a static libndpi lacks it, and that fails to link. */
            fprintf(stderr, "netmoon: %s not found in libndpi: %s\n", pt_real_name[which], dlerror());
            abort();
        }
        atomic_store_explicit(&pt_real_fn[which], f, memory_order_relaxed);
    }
    return f;
}

#define PT_MAX_TREES 16u
/* Prefixes of at most 32 bits (nDPI's IPv4 lists) are recorded; a longer
 * tree is left to nDPI.  The sort key packs address, length and record
 * number into 64 bits: 32 + 8 + 24. */
#define PT_MAX_BITS 32u
#define PT_MAX_RECORDS (1u << 24)

struct pt_pending {
    ndpi_patricia_tree_t *tree;
    ndpi_patricia_node_t **node;   /* in insert order; node->prefix set */
    uint64_t *key;                 /* node[i]'s sort key (pt_key), made while
                                    * its prefix is in this CPU's cache */
    uint32_t n, cap;
};

/* Per thread: only the thread building a module records its inserts. */
static _Thread_local struct {
    bool on;
    void *(*alloc)(size_t);   /* nodes and prefixes */
    unsigned ntrees;
    struct pt_pending t[PT_MAX_TREES];
} pt;

static struct pt_pending *pt_find(const ndpi_patricia_tree_t *tree)
{
    for (unsigned i = 0; i < pt.ntrees; i++)
        if (pt.t[i].tree == tree)
            return &pt.t[i];
    return NULL;
}

/* ---- building a tree from its records ----------------------------------- */

static uint32_t pt_addr(const ndpi_prefix_t *p)
{
    const uint8_t *a = (const uint8_t *)&p->add;
    return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}

/* (address masked to the length, length, record number): sorted, equal
 * prefixes are adjacent in insert order, and a prefix comes before every
 * longer prefix inside it. */
static uint64_t pt_key(const ndpi_prefix_t *p, uint32_t rec)
{
    uint32_t mask = p->bitlen ? ~0u << (32 - p->bitlen) : 0;
    return (uint64_t)(pt_addr(p) & mask) << 32 | (uint64_t)p->bitlen << 24 | rec;
}

#define PT_KEY_ADDR(k) ((uint32_t)((k) >> 32))
#define PT_KEY_LEN(k) ((unsigned)((k) >> 24) & 0xFFu)
#define PT_KEY_REC(k) ((uint32_t)(k) & 0xFFFFFFu)

/* LSD radix sort on the 40 bits above the record number, in three passes
 * of 14 bits (the last one 12); stable, so equal prefixes stay in insert
 * order.  Returns the buffer holding the result. */
#define PT_DIGIT_BITS 14u
#define PT_COUNTS ((1u << PT_DIGIT_BITS) + 1)
static uint64_t *pt_sort(uint64_t *k, uint64_t *tmp, uint32_t *count, uint32_t n)
{
    const uint64_t mask = (1u << PT_DIGIT_BITS) - 1;

    for (unsigned shift = 24; shift < 64; shift += PT_DIGIT_BITS) {
        memset(count, 0, PT_COUNTS * sizeof(*count));
        for (uint32_t i = 0; i < n; i++)
            count[((k[i] >> shift) & mask) + 1]++;
        for (uint32_t d = 0; d < mask + 1; d++)
            count[d + 1] += count[d];
        for (uint32_t i = 0; i < n; i++)
            tmp[count[(k[i] >> shift) & mask]++] = k[i];
        uint64_t *t = k;
        k = tmp;
        tmp = t;
    }
    return k;
}

static unsigned pt_bit(uint32_t addr, unsigned bit)
{
    return (addr >> (31 - bit)) & 1u;
}

struct pt_build {
    const uint64_t *u;                  /* unique prefixes, sorted */
    ndpi_patricia_node_t **node;        /* records' nodes */
    uint32_t made;                      /* glue nodes allocated */
    bool failed;
};

/* A node of the rightmost path while the trie is built: its `bit` and
 * the address bits above it that every prefix under it shares. */
struct pt_frame {
    ndpi_patricia_node_t *n;
    uint32_t addr;
    unsigned bit;
};

static bool pt_covers(const struct pt_frame *f, uint32_t addr, unsigned len)
{
    return f->bit <= len && (f->bit == 0 || ((addr ^ f->addr) >> (32 - f->bit)) == 0);
}

/* Puts x (at addr) under its parent a (NULL: x is the root). */
static void pt_attach(ndpi_patricia_node_t **root, const struct pt_frame *a, ndpi_patricia_node_t *x,
                      uint32_t addr)
{
    x->parent = a ? a->n : NULL;
    if (!a)
        *root = x;
    else if (pt_bit(addr, a->bit))
        a->n->r = x;
    else
        a->n->l = x;
}

/* Builds the trie in one pass over the sorted prefixes (the order of a
 * walk of it), keeping the rightmost path on a stack: each prefix goes
 * under the deepest node of the path that holds it; if that node's child
 * on the path does not hold it either, a glue node at the first bit where
 * they differ takes both (the child sorts first: left).  Bits grow along a
 * path, so it is at most 33 nodes deep. */
static ndpi_patricia_node_t *pt_build_trie(struct pt_build *b, uint32_t m)
{
    struct pt_frame st[34];
    unsigned depth = 0;
    ndpi_patricia_node_t *root = NULL;

    for (uint32_t i = 0; i < m; i++) {
        uint32_t addr = PT_KEY_ADDR(b->u[i]);
        unsigned len = PT_KEY_LEN(b->u[i]);
        ndpi_patricia_node_t *x = b->node[PT_KEY_REC(b->u[i])];
        struct pt_frame popped = { 0 };

        x->bit = (u_int16_t)len;
        x->l = x->r = NULL;
        while (depth && !pt_covers(&st[depth - 1], addr, len))
            popped = st[--depth];
        const struct pt_frame *a = depth ? &st[depth - 1] : NULL;
        if (!popped.n || (a && pt_bit(addr, a->bit) && a->n->l == popped.n)) {
            pt_attach(&root, a, x, addr);   /* a free place: a is a leaf, or x goes right of it */
        } else {
            /* They differ above both lengths: neither holds the other. */
            uint32_t diff = addr ^ popped.addr;
            ndpi_patricia_node_t *g = diff ? ndpi_malloc(sizeof(*g)) : NULL;
            if (!g) {
                b->failed = true;
                return NULL;
            }
            unsigned d = (unsigned)__builtin_clz(diff);
            b->made++;
            *g = (ndpi_patricia_node_t){ .bit = (u_int16_t)d, .l = popped.n, .r = x };
            pt_attach(&root, a, g, addr);
            popped.n->parent = x->parent = g;
            st[depth++] = (struct pt_frame){ g, d ? addr & ~0u << (32 - d) : 0, d };
        }
        st[depth++] = (struct pt_frame){ x, addr, len };
    }
    return root;
}

/* Sorts the records and drops repeated prefixes: the first node stays,
 * with the value nDPI wrote last.  Returns the number left in k. */
static uint32_t pt_unique(struct pt_pending *p, uint64_t **sorted, uint64_t *tmp, uint32_t *count)
{
    uint64_t *k = *sorted = pt_sort(p->key, tmp, count, p->n);
    uint32_t m = 0;

    for (uint32_t i = 0; i < p->n; i++) {
        if (m && (k[i] >> 24) == (k[m - 1] >> 24)) {
            ndpi_patricia_node_t *kept = p->node[PT_KEY_REC(k[m - 1])], *dup = p->node[PT_KEY_REC(k[i])];
            kept->value = dup->value;
            kept->data = dup->data;
            ndpi_free(dup->prefix);
            ndpi_free(dup);
            continue;
        }
        k[m++] = k[i];
    }
    return m;
}

/* Puts one recorded prefix into the tree with libndpi's own insert, and
 * frees the record. */
static void pt_insert_one(ndpi_patricia_tree_t *tree, ndpi_patricia_node_t *rec)
{
    ndpi_patricia_node_t *n;

    rec->prefix->ref_count = 0;   /* copied by nDPI, as a caller's prefix */
    if ((n = ((pt_find_fn *)pt_real(PT_LOOKUP))(tree, rec->prefix))) {
        n->value = rec->value;
        n->data = rec->data;
    }
    ndpi_free(rec->prefix);
    ndpi_free(rec);
}

/* Builds the tree from the records; without memory, libndpi inserts them
 * one by one instead (the same tree, slower). */
static void pt_link(struct pt_pending *p)
{
    uint64_t *tmp = malloc((size_t)p->n * sizeof(*tmp)), *sorted;
    uint32_t *count = malloc(PT_COUNTS * sizeof(*count));

    if (!tmp || !count) {
        for (uint32_t i = 0; i < p->n; i++)
            pt_insert_one(p->tree, p->node[i]);
        goto out;
    }
    uint32_t m = pt_unique(p, &sorted, tmp, count);
    struct pt_build b = { .u = sorted, .node = p->node };
    ndpi_patricia_node_t *head = pt_build_trie(&b, m);
    if (!b.failed) {
        p->tree->head = head;
        p->tree->num_active_node += (int)(m + b.made);
        goto out;
    }
    /* No memory for a glue node (or two prefixes that did not differ
     * where they had to, which the sort rules out): the prefixes, repeats
     * merged, go in one by one; the glue nodes made so far are lost. */
    for (uint32_t j = 0; j < m; j++)
        pt_insert_one(p->tree, p->node[PT_KEY_REC(sorted[j])]);
out:
    free(tmp);
    free(count);
}

/* Links the tree's pending inserts, or drops them as nDPI's destroy drops
 * linked nodes: each prefix's value goes to func (when both are there)
 * before its node and prefix are freed. */
static void pt_finish(struct pt_pending *p, bool drop, ndpi_void_fn_t func)
{
    if (drop) {
        for (uint32_t i = 0; i < p->n; i++) {
            if (func && p->node[i]->data)
                func(p->node[i]->data);
            ndpi_free(p->node[i]->prefix);
            ndpi_free(p->node[i]);
        }
    } else if (p->n) {
        pt_link(p);
    }
    free(p->node);
    free(p->key);
}

/* The same for one of this thread's trees, which it then forgets. */
static void pt_settle(struct pt_pending *p, bool drop, ndpi_void_fn_t func)
{
    pt_finish(p, drop, func);
    *p = pt.t[--pt.ntrees];
}

/* ---- trees handed to another thread ---------------------------------------- */

struct l7_ndpi_ptree_batch {
    unsigned ntrees;
    struct pt_pending t[PT_MAX_TREES];
};

/* Batches taken and not linked yet.  While there is one, every call of the
 * interposed functions waits for it to be linked: a batch's trees cannot
 * be told from others without looking at them, and the wait is only
 * during a module's build (its own thread finalizing the module). */
static atomic_uint pt_batches;
static pthread_mutex_t pt_batch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pt_batch_done = PTHREAD_COND_INITIALIZER;

static void pt_wait_batches(void)
{
    /* Acquire: pairs with the release in l7_ndpi_ptree_link(), so the
     * linked trees are seen whole. */
    if (!atomic_load_explicit(&pt_batches, memory_order_acquire))
        return;
    pthread_mutex_lock(&pt_batch_lock);
    while (atomic_load_explicit(&pt_batches, memory_order_acquire))
        pthread_cond_wait(&pt_batch_done, &pt_batch_lock);
    pthread_mutex_unlock(&pt_batch_lock);
}

struct l7_ndpi_ptree_batch *l7_ndpi_ptree_defer_take(void)
{
    struct l7_ndpi_ptree_batch *b;

    pt.on = false;
    if (!pt.ntrees || !(b = malloc(sizeof(*b)))) {
        l7_ndpi_ptree_defer_end();
        return NULL;
    }
    b->ntrees = pt.ntrees;
    memcpy(b->t, pt.t, pt.ntrees * sizeof(pt.t[0]));
    pt.ntrees = 0;
    atomic_fetch_add_explicit(&pt_batches, 1, memory_order_relaxed);
    return b;
}

void l7_ndpi_ptree_link(struct l7_ndpi_ptree_batch *b)
{
    for (unsigned i = 0; i < b->ntrees; i++)
        pt_finish(&b->t[i], false, NULL);
    free(b);
    pthread_mutex_lock(&pt_batch_lock);
    atomic_fetch_sub_explicit(&pt_batches, 1, memory_order_release);
    pthread_cond_broadcast(&pt_batch_done);
    pthread_mutex_unlock(&pt_batch_lock);
}

/* ---- recording ------------------------------------------------------------ */

/* A node for the prefix, not linked yet; NULL if it cannot be recorded. */
static ndpi_patricia_node_t *pt_record(ndpi_patricia_tree_t *tree, const ndpi_prefix_t *prefix)
{
    struct pt_pending *p = pt_find(tree);

    if (!p) {
        if (tree->head || tree->maxbits > PT_MAX_BITS || pt.ntrees == PT_MAX_TREES)
            return NULL;
        p = &pt.t[pt.ntrees++];
        *p = (struct pt_pending){ .tree = tree };
    }
    if (prefix->bitlen > tree->maxbits || p->n == PT_MAX_RECORDS)
        return NULL;
    if (p->n == p->cap) {
        uint32_t cap = p->cap ? p->cap * 2 : 4096;
        ndpi_patricia_node_t **grown = realloc(p->node, cap * sizeof(*grown));
        if (grown)
            p->node = grown;
        uint64_t *keys = grown ? realloc(p->key, cap * sizeof(*keys)) : NULL;
        if (!keys)
            return NULL;
        p->key = keys;
        p->cap = cap;
    }
    ndpi_patricia_node_t *n = pt.alloc(sizeof(*n));
    ndpi_prefix_t *copy = pt.alloc(sizeof(*copy));
    if (!n || !copy) {
        ndpi_free(n);
        ndpi_free(copy);
        return NULL;
    }
    *copy = *prefix;
    copy->ref_count = 1;
    *n = (ndpi_patricia_node_t){ .prefix = copy, .bit = prefix->bitlen };
    p->key[p->n] = pt_key(copy, p->n);
    p->node[p->n++] = n;
    return n;
}

/* The node and tree layout and how nDPI's inserts shape a tree were
 * checked against nDPI 4.2 (API version 8668) only: with any other
 * library, compiled against or loaded, every call goes to libndpi. */
#define PT_CHECKED_API 8668

void l7_ndpi_ptree_defer_begin(void *(*alloc)(size_t))
{
    pt.on = NDPI_API_VERSION == PT_CHECKED_API && ndpi_get_api_version() == PT_CHECKED_API;
    pt.alloc = alloc ? alloc : ndpi_malloc;
}

void l7_ndpi_ptree_defer_end(void)
{
    pt.on = false;
    while (pt.ntrees)
        pt_settle(&pt.t[pt.ntrees - 1], false, NULL);
}

/* ---- the interposed functions ---------------------------------------------- */

ndpi_patricia_node_t *ndpi_patricia_lookup(ndpi_patricia_tree_t *patricia, ndpi_prefix_t *prefix)
{
    pt_wait_batches();
    if (pt.on && patricia && prefix) {
        ndpi_patricia_node_t *n = pt_record(patricia, prefix);
        if (n)
            return n;
    }
    struct pt_pending *p = pt.ntrees ? pt_find(patricia) : NULL;
    if (p)
        pt_settle(p, false, NULL);   /* could not record this one: the rest go in first */
    return ((pt_find_fn *)pt_real(PT_LOOKUP))(patricia, prefix);
}

ndpi_patricia_node_t *ndpi_patricia_search_best(ndpi_patricia_tree_t *patricia, ndpi_prefix_t *prefix)
{
    pt_wait_batches();
    struct pt_pending *p = pt.ntrees ? pt_find(patricia) : NULL;

    if (p)
        pt_settle(p, false, NULL);
    return ((pt_find_fn *)pt_real(PT_SEARCH_BEST))(patricia, prefix);
}

void ndpi_patricia_destroy(ndpi_patricia_tree_t *patricia, ndpi_void_fn_t func)
{
    pt_wait_batches();
    struct pt_pending *p = pt.ntrees ? pt_find(patricia) : NULL;

    if (p)
        pt_settle(p, true, func);
    ((pt_drop_fn *)pt_real(PT_DESTROY))(patricia, func);
}
