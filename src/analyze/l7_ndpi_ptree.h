/*
 * l7_ndpi_ptree.h: nDPI's built-in address lists loaded in one pass while a
 * detection module is built (see l7_ndpi_ptree.c for how and why).
 */
#ifndef NETMOON_ANALYZE_L7_NDPI_PTREE_H
#define NETMOON_ANALYZE_L7_NDPI_PTREE_H

#include <stddef.h>

/* Around ndpi_init_detection_module() on the thread that calls it: inserts
 * into its empty IPv4 trees are collected, and _end() builds those trees
 * from them.  Searches see complete trees either way.  alloc: the function
 * given to set_ndpi_malloc(), called directly (NULL: ndpi_malloc). */
void l7_ndpi_ptree_defer_begin(void *(*alloc)(size_t));
void l7_ndpi_ptree_defer_end(void);

/* Instead of _end(): the trees recorded so far, for l7_ndpi_ptree_link()
 * on another thread while this one goes on (NULL: nothing to link, or no
 * memory, and then they are linked already).  Until the batch is linked,
 * nDPI's tree functions wait for it, on any thread. */
struct l7_ndpi_ptree_batch;
struct l7_ndpi_ptree_batch *l7_ndpi_ptree_defer_take(void);
void l7_ndpi_ptree_link(struct l7_ndpi_ptree_batch *b);

#endif
