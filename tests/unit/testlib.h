/*
 * testlib.h: a minimal unit-test harness.  Each check prints one line,
 * "PASS name" or "FAIL name: file:line: expression", which tests/run.sh
 * counts.  main() returns non-zero when any check failed.
 */
#ifndef NETMOON_TESTLIB_H
#define NETMOON_TESTLIB_H

#include <stdio.h>
#include <string.h>

static int testlib_failures;
static const char *testlib_current = "?";
static int testlib_current_failed;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            printf("FAIL %s: %s:%d: %s\n", testlib_current, __FILE__, __LINE__, \
                   #cond);                                                      \
            testlib_current_failed = 1;                                         \
        }                                                                       \
    } while (0)

#define CHECK_EQ_U(a, b)                                                        \
    do {                                                                        \
        unsigned long long a_ = (unsigned long long)(a);                        \
        unsigned long long b_ = (unsigned long long)(b);                        \
        if (a_ != b_) {                                                         \
            printf("FAIL %s: %s:%d: %s == %s (%llu != %llu)\n", testlib_current, \
                   __FILE__, __LINE__, #a, #b, a_, b_);                         \
            testlib_current_failed = 1;                                         \
        }                                                                       \
    } while (0)

#define CHECK_STR(a, b)                                                         \
    do {                                                                        \
        const char *a_ = (a), *b_ = (b);                                        \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                \
            printf("FAIL %s: %s:%d: %s == \"%s\" (got \"%s\")\n", testlib_current,\
                   __FILE__, __LINE__, #a, b_ ? b_ : "(null)", a_ ? a_ : "(null)"); \
            testlib_current_failed = 1;                                         \
        }                                                                       \
    } while (0)

/* Runs one test function and prints its verdict. */
#define RUN(fn)                                                                 \
    do {                                                                        \
        testlib_current = #fn;                                                  \
        testlib_current_failed = 0;                                             \
        fn();                                                                   \
        if (testlib_current_failed)                                             \
            testlib_failures++;                                                 \
        else                                                                    \
            printf("PASS %s\n", #fn);                                           \
    } while (0)

#define TESTLIB_EXIT() return testlib_failures ? 1 : 0

#endif
