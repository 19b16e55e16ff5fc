/*
 * prefetch.h: starting the loads of a whole object (GCC/Clang
 * __builtin_prefetch, a hint that never faults), for code that knows a
 * few steps ahead which objects it will read.
 */
#ifndef NETMOON_COMMON_PREFETCH_H
#define NETMOON_COMMON_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#define PREFETCH_LINE 64u

/* Every cache line [p, p + len) touches, for reading. */
static inline void prefetch_range(const void *p, size_t len)
{
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(PREFETCH_LINE - 1);
    uintptr_t end = (uintptr_t)p + len;

    for (; a < end; a += PREFETCH_LINE)
        __builtin_prefetch((const void *)a);
}

#endif
