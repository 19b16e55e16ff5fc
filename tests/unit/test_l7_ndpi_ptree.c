/*
 * test_l7_ndpi_ptree.c: nDPI's address trees loaded in one pass
 * (src/analyze/l7_ndpi_ptree.c) against the same trees built by nDPI's
 * own inserts, node by node: branch bit, prefix, stored value, node count.
 * The oracle is libndpi itself (ndpi_patricia_lookup outside a deferral
 * goes to libndpi's function), on its built-in lists and on hand-made
 * prefixes: repeated, nested, /0 and /32, values overwritten.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* For struct ndpi_detection_module_struct's fields (protocols_ptree),
 * which nDPI 4.2's header shows only to its own sources. */
#define NDPI_LIB_COMPILATION
#include <ndpi_api.h>

#include "analyze/l7_ndpi_ptree.h"
#include "testlib.h"

static uint32_t masked(const ndpi_prefix_t *p)
{
    uint32_t a = ntohl(p->add.sin.s_addr);
    return p->bitlen ? a & (~0u << (32 - p->bitlen)) : 0;
}

/* Counts the nodes that differ (shape, bit, prefix, value). */
static unsigned tree_diff(const ndpi_patricia_node_t *a, const ndpi_patricia_node_t *b,
                          const ndpi_patricia_node_t *pa, const ndpi_patricia_node_t *pb)
{
    if (!a || !b)
        return a != b;
    unsigned d = a->bit != b->bit || !a->prefix != !b->prefix ||
                 (a->parent == NULL) != (pa == NULL) || (b->parent == NULL) != (pb == NULL) ||
                 (a->parent && a->parent != pa) || (b->parent && b->parent != pb) ||
                 a->value.u.uv64 != b->value.u.uv64 || a->data != b->data;
    if (a->prefix && b->prefix)
        d |= a->prefix->bitlen != b->prefix->bitlen || masked(a->prefix) != masked(b->prefix) ||
             a->prefix->family != b->prefix->family;
    return d + tree_diff(a->l, b->l, a, b) + tree_diff(a->r, b->r, a, b);
}

static unsigned tree_count(const ndpi_patricia_node_t *n)
{
    return n ? 1 + tree_count(n->l) + tree_count(n->r) : 0;
}

static void test_builtin_lists_same_tree(void)
{
    struct ndpi_detection_module_struct *own = ndpi_init_detection_module(ndpi_no_prefs);
    l7_ndpi_ptree_defer_begin(NULL);
    struct ndpi_detection_module_struct *fast = ndpi_init_detection_module(ndpi_no_prefs);
    l7_ndpi_ptree_defer_end();

    CHECK(own && fast);
    if (!own || !fast)
        return;
    ndpi_patricia_tree_t *a = own->protocols_ptree;
    CHECK(tree_count(a->head) > 40000);   /* nDPI 4.2's lists: about 48,000 networks */
    /* Every IPv4 tree a module builds, not only the protocols' */
    ndpi_patricia_tree_t *pair[][2] = {
        { own->protocols_ptree, fast->protocols_ptree },
        { own->ip_risk_mask_ptree, fast->ip_risk_mask_ptree },
        { own->custom_categories.ipAddresses, fast->custom_categories.ipAddresses },
        { own->custom_categories.ipAddresses_shadow, fast->custom_categories.ipAddresses_shadow },
    };
    for (size_t i = 0; i < sizeof(pair) / sizeof(pair[0]); i++) {
        CHECK((pair[i][0] == NULL) == (pair[i][1] == NULL));
        if (!pair[i][0] || !pair[i][1])
            continue;
        CHECK_EQ_U(tree_count(pair[i][0]->head), tree_count(pair[i][1]->head));
        CHECK_EQ_U(pair[i][0]->num_active_node, pair[i][1]->num_active_node);
        CHECK_EQ_U(tree_diff(pair[i][0]->head, pair[i][1]->head, NULL, NULL), 0);
    }
    ndpi_exit_detection_module(own);
    ndpi_exit_detection_module(fast);
}

static void insert(ndpi_patricia_tree_t *t, const char *addr, int bits, uint32_t value)
{
    ndpi_prefix_t p;
    struct in_addr a;

    inet_pton(AF_INET, addr, &a);
    ndpi_fill_prefix_v4(&p, &a, bits, 32);
    ndpi_patricia_node_t *n = ndpi_patricia_lookup(t, &p);
    if (n)
        n->value.u.uv32.user_value = value, n->value.u.uv32.additional_user_value = 0;
}

static uint32_t best(ndpi_patricia_tree_t *t, const char *addr)
{
    ndpi_prefix_t p;
    struct in_addr a;

    inet_pton(AF_INET, addr, &a);
    ndpi_fill_prefix_v4(&p, &a, 32, 32);
    ndpi_patricia_node_t *n = ndpi_patricia_search_best(t, &p);
    return n ? n->value.u.uv32.user_value : 0;
}

static void fill(ndpi_patricia_tree_t *t)
{
    insert(t, "10.1.2.3", 8, 1);         /* host bits past the length */
    insert(t, "10.0.0.0", 16, 2);
    insert(t, "10.0.0.0", 8, 3);         /* again: the value is replaced */
    insert(t, "10.128.0.0", 9, 4);
    insert(t, "192.0.2.1", 32, 5);
    insert(t, "192.0.2.0", 24, 6);
    insert(t, "192.0.2.1", 32, 7);
    insert(t, "0.0.0.0", 0, 8);
    insert(t, "198.51.100.0", 24, 9);
    insert(t, "198.51.101.0", 24, 10);   /* a glue node at /23 */
    insert(t, "203.0.113.128", 25, 11);
}

static void test_hand_made_prefixes_same_tree_and_answers(void)
{
    ndpi_patricia_tree_t *own = ndpi_patricia_new(32), *fast = ndpi_patricia_new(32);

    fill(own);
    l7_ndpi_ptree_defer_begin(NULL);
    fill(fast);
    CHECK(fast->head == NULL);           /* still recorded, not linked */
    /* A search while inserts are pending sees them all. */
    CHECK_EQ_U(best(fast, "10.200.0.1"), 4);
    l7_ndpi_ptree_defer_end();

    CHECK_EQ_U(tree_count(own->head), tree_count(fast->head));
    CHECK_EQ_U(own->num_active_node, fast->num_active_node);
    CHECK_EQ_U(tree_diff(own->head, fast->head, NULL, NULL), 0);
    static const char *const probe[] = {
        "10.0.1.1", "10.1.0.1", "10.200.0.1", "192.0.2.1", "192.0.2.2", "198.51.100.7",
        "198.51.101.7", "198.51.102.7", "203.0.113.200", "203.0.113.1", "8.8.8.8",
    };
    for (size_t i = 0; i < sizeof(probe) / sizeof(probe[0]); i++)
        CHECK_EQ_U(best(own, probe[i]), best(fast, probe[i]));
    CHECK_EQ_U(best(fast, "192.0.2.1"), 7);
    CHECK_EQ_U(best(fast, "10.0.1.1"), 2);
    CHECK_EQ_U(best(fast, "8.8.8.8"), 8);
    ndpi_patricia_destroy(own, NULL);
    ndpi_patricia_destroy(fast, NULL);
}

/* A tree destroyed with inserts pending drops them as nDPI drops linked
 * nodes: the destroy callback gets each prefix's data once (the leak check
 * of the sanitizer build sees the nodes themselves). */
static unsigned destroyed_data;

static void count_destroyed(void *data)
{
    if (data)
        destroyed_data++;
}

static void test_destroy_while_pending(void)
{
    static const char *const addr[] = { "10.0.0.0", "192.0.2.0", "198.51.100.0" };
    ndpi_patricia_tree_t *t = ndpi_patricia_new(32), *own = ndpi_patricia_new(32);
    static int marker;

    l7_ndpi_ptree_defer_begin(NULL);
    for (size_t i = 0; i < 3; i++) {
        ndpi_prefix_t p;
        struct in_addr a;
        inet_pton(AF_INET, addr[i], &a);
        ndpi_fill_prefix_v4(&p, &a, 24, 32);
        ndpi_patricia_node_t *n = ndpi_patricia_lookup(t, &p);
        CHECK(n != NULL);
        if (n)
            n->data = &marker;
    }
    CHECK(t->head == NULL);              /* recorded, not linked */
    destroyed_data = 0;
    ndpi_patricia_destroy(t, count_destroyed);
    CHECK_EQ_U(destroyed_data, 3);
    l7_ndpi_ptree_defer_end();           /* must not touch the freed tree */
    /* The same through nDPI's own inserts, for comparison. */
    fill(own);
    destroyed_data = 0;
    ndpi_patricia_destroy(own, count_destroyed);
    CHECK_EQ_U(destroyed_data, 0);       /* fill() sets values, never data */
}

static void *link_later(void *batch)
{
    struct timespec pause = { 0, 20 * 1000 * 1000 };

    nanosleep(&pause, NULL);   /* the search below starts first and waits */
    l7_ndpi_ptree_link(batch);
    return NULL;
}

/* Trees handed to another thread: a search on this one waits for them. */
static void test_batch_linked_elsewhere(void)
{
    ndpi_patricia_tree_t *own = ndpi_patricia_new(32), *fast = ndpi_patricia_new(32);
    pthread_t t;

    fill(own);
    l7_ndpi_ptree_defer_begin(NULL);
    fill(fast);
    struct l7_ndpi_ptree_batch *b = l7_ndpi_ptree_defer_take();
    CHECK(b != NULL);
    if (!b)
        return;
    CHECK(fast->head == NULL);
    CHECK_EQ_U(pthread_create(&t, NULL, link_later, b), 0);
    CHECK_EQ_U(best(fast, "10.200.0.1"), 4);
    pthread_join(t, NULL);
    CHECK_EQ_U(tree_diff(own->head, fast->head, NULL, NULL), 0);
    ndpi_patricia_destroy(own, NULL);
    ndpi_patricia_destroy(fast, NULL);
}

int main(void)
{
    RUN(test_builtin_lists_same_tree);
    RUN(test_hand_made_prefixes_same_tree_and_answers);
    RUN(test_destroy_while_pending);
    RUN(test_batch_linked_elsewhere);
    TESTLIB_EXIT();
}
