/*
 * test_hugemem.c: hugemem_advise marks only the 2 MiB-aligned part of an
 * array past its first HUGEMEM_SMALL_BYTES, and the kernel records it: the
 * mapping's VmFlags in /proc/self/smaps (proc(5)) gain "hg" (MADV_HUGEPAGE)
 * from the advised start on, and not before.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/hugemem.h"
#include "testlib.h"

#define MIB (1u << 20)

/* True when the mapping containing addr has "hg" in its VmFlags. */
static bool smaps_has_hg(uintptr_t addr)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    bool inside = false, hg = false;

    if (!f)
        return false;
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        /* Mapping lines start "lo-hi perms"; the others "Key:" (a key
         * such as "AnonHugePages" scans as one hex number at most). */
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
            inside = addr >= lo && addr < hi;
            continue;
        }
        if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            hg = strstr(line, " hg") != NULL;
            break;
        }
    }
    fclose(f);
    return hg;
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

int main(void)
{
    RUN(test_small_array_not_advised);
    RUN(test_large_array_advised_past_small_part);
    TESTLIB_EXIT();
}
