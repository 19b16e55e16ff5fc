/*
 * test_hugemem.c: hugemem_advise marks only the 2 MiB-aligned part of an
 * array past its first HUGEMEM_SMALL_BYTES, and the kernel records it: the
 * mapping's VmFlags in /proc/self/smaps (proc(5)) gain "hg" (MADV_HUGEPAGE)
 * from the advised start on, and not before.  hugemem_ahead_populate makes
 * the pages of the next slots resident (mincore(2)) without writing them,
 * no further than it should.  hugemem_calloc's large arrays are mappings
 * of their own (what build/san/netmoon's start-up time depends on: see
 * hugemem.h) with a guard page right after them; small ones are zeroed
 * and aligned all the same.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/hugemem.h"
#include "testlib.h"

#define MIB (1u << 20)

/* The mapping holding addr, from /proc/self/smaps (proc(5)): its
 * permissions ("rw-p", "---p"; "" when no mapping holds it) and whether
 * its VmFlags have "hg" (MADV_HUGEPAGE). */
static void smaps_mapping(uintptr_t addr, char perms[5], bool *hg)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    bool inside = false;

    perms[0] = 0;
    *hg = false;
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        char pr[5];
        /* Mapping lines start "lo-hi perms"; the others "Key:" (a key
         * such as "AnonHugePages" scans as one hex number at most). */
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, pr) >= 2) {
            inside = addr >= lo && addr < hi;
            if (inside)
                memcpy(perms, pr, 5);
            continue;
        }
        if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            *hg = strstr(line, " hg") != NULL;
            break;
        }
    }
    fclose(f);
}

static bool smaps_has_hg(uintptr_t addr)
{
    char perms[5];
    bool hg;

    smaps_mapping(addr, perms, &hg);
    return hg;
}

static void maps_perms(uintptr_t addr, char perms[5])
{
    bool hg;

    smaps_mapping(addr, perms, &hg);
}

static void test_small_array_not_advised(void)
{
    void *p = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    if (p == MAP_FAILED)
        return;
    CHECK_EQ_U(hugemem_advise(p, 4 * MIB), 0);
    CHECK(!smaps_has_hg((uintptr_t)p));
    munmap(p, 4 * MIB);
    CHECK_EQ_U(hugemem_advise(NULL, 64 * MIB), 0);
}

static void test_large_array_advised_past_small_part(void)
{
    size_t len = 16 * MIB + 12345;
    uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    if (p == (void *)MAP_FAILED)
        return;
    uintptr_t start = ((uintptr_t)p + 4 * MIB + 2 * MIB - 1) / (2 * MIB) * (2 * MIB);
    uintptr_t end = ((uintptr_t)p + len) / (2 * MIB) * (2 * MIB);
    FILE *thp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char mode[128] = "";
    if (thp) {
        if (!fgets(mode, sizeof(mode), thp))
            mode[0] = 0;
        fclose(thp);
    }
    size_t got = hugemem_advise(p, len);
    if (!thp || strstr(mode, "[never]")) {
        printf("# transparent huge pages unavailable here (%s): only the range is checked\n",
               thp ? "never" : "no sysfs file");
        CHECK(got == 0 || got == end - start);
    } else {
        CHECK_EQ_U(got, end - start);
        CHECK(smaps_has_hg(start));
        CHECK(smaps_has_hg(end - 1));
        CHECK(!smaps_has_hg(start - 1));
        CHECK(!smaps_has_hg((uintptr_t)p));
    }
    munmap(p, len);
}

/* Resident pages of [p, p + len) by mincore(2) (p page-aligned). */
static size_t resident_pages(const uint8_t *p, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (len + page - 1) / page, got = 0;
    unsigned char *vec = calloc(n, 1);

    if (vec && mincore((void *)p, len, vec) == 0)
        for (size_t i = 0; i < n; i++)
            got += vec[i] & 1;
    free(vec);
    return got;
}

static void test_ahead_populates_next_slots_only(void)
{
    enum { ELEM = 100, COUNT = 200000 };   /* 20 MB: past HUGEMEM_SMALL_BYTES */
    size_t len = (size_t)ELEM * COUNT, page = (size_t)sysconf(_SC_PAGESIZE);
    uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct hugemem_ahead a;

    CHECK(p != MAP_FAILED);
    if (p == (void *)MAP_FAILED)
        return;
    /* Plain pages, so that residency counts 4 KiB at a time. */
    (void)madvise(p, len, MADV_NOHUGEPAGE);
    hugemem_ahead_init(&a, p, ELEM, COUNT);
    /* Nothing handed out: a lead of 256 slots is under the smallest call. */
    CHECK(hugemem_ahead_populate(&a, 8192));
    CHECK_EQ_U(resident_pages(p, len), 0);
    /* 40,000 handed out: lead 10,256 capped at 8,192 -> 48,192 slots. */
    hugemem_ahead_note(&a, 40000);
    if (!hugemem_ahead_populate(&a, 8192)) {
        printf("# no MADV_POPULATE_WRITE in this kernel: nothing more to check\n");
        munmap(p, len);
        return;
    }
    size_t want = ((size_t)48192 * ELEM + page - 1) / page;
    CHECK_EQ_U(resident_pages(p, len), want);
    /* Only the populated pages are read: reading another would map the
     * zero page, which mincore counts as resident. */
    bool zero = true;
    for (size_t i = 0; i < want * page; i += 997)
        zero &= p[i] == 0;
    CHECK(zero);
    CHECK_EQ_U(resident_pages(p, len), want);
    /* Near the end it stops at the array's last page. */
    hugemem_ahead_note(&a, COUNT - 10);
    CHECK(hugemem_ahead_populate(&a, 8192));
    CHECK_EQ_U(resident_pages(p, len), (len + page - 1) / page);
    munmap(p, len);
    /* A small array is never touched. */
    hugemem_ahead_init(&a, p, ELEM, 1000);
    CHECK(a.base == NULL);
}


/* True when a child writing one byte at addr dies (SIGSEGV, or ASan's
 * report and exit 1 in the sanitizer build). */
static bool write_faults(volatile uint8_t *addr)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        (void)freopen("/dev/null", "w", stderr);   /* ASan's report of the expected fault */
        *addr = 1;
        _exit(0);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return false;
    return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_large_calloc_own_mapping_with_guard(void)
{
    size_t n = 1000, size = 3000, page = (size_t)sysconf(_SC_PAGESIZE);
    uint8_t *p = hugemem_calloc_plain(n, size);
    char perms[5];

    CHECK(p != NULL);
    if (!p)
        return;
    CHECK_EQ_U((uintptr_t)p % 64, 0);
    bool zero = true;
    for (size_t i = 0; i < n * size; i += 4099)
        zero &= p[i] == 0;
    CHECK(zero && p[n * size - 1] == 0);
    p[n * size - 1] = 7;   /* the last byte is the array's */
    uintptr_t guard = ((uintptr_t)p + n * size + page - 1) & ~(uintptr_t)(page - 1);
    maps_perms(guard - 1, perms);
    CHECK(strcmp(perms, "rw-p") == 0);
    maps_perms(guard, perms);
    CHECK(strcmp(perms, "---p") == 0);
    CHECK(write_faults((uint8_t *)guard));
    hugemem_free(p);
    /* Unmapped, not handed to malloc: the address belongs to no mapping
     * (unless something was mapped there since, which nothing here does). */
    maps_perms(guard - 1, perms);
    CHECK(strcmp(perms, "rw-p") != 0);
}

static void test_small_calloc_zeroed_and_aligned(void)
{
    uint64_t *p = hugemem_calloc(100, sizeof(*p));

    CHECK(p != NULL);
    if (!p)
        return;
    CHECK_EQ_U((uintptr_t)p % 64, 0);
    uint64_t or = 0;
    for (int i = 0; i < 100; i++)
        or |= p[i];
    CHECK_EQ_U(or, 0);
    p[99] = 1;
    hugemem_free(p);
    hugemem_free(NULL);
    CHECK(hugemem_calloc(SIZE_MAX / 4, 4) == NULL);
    CHECK(hugemem_calloc_plain(SIZE_MAX / 8, 16) == NULL);
}

int main(void)
{
    RUN(test_large_calloc_own_mapping_with_guard);
    RUN(test_small_calloc_zeroed_and_aligned);
    RUN(test_small_array_not_advised);
    RUN(test_large_array_advised_past_small_part);
    RUN(test_ahead_populates_next_slots_only);
    TESTLIB_EXIT();
}
