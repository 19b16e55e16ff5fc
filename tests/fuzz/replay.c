/*
 * replay.c: runs a fuzz target without libFuzzer, for `make check`.
 *
 * Linked with one tests/fuzz/fuzz_*.c and built like the unit tests (gcc,
 * normal and ASan+UBSan), it calls LLVMFuzzerTestOneInput once per file
 * named on the command line, or per regular file of a directory named
 * there, and prints "PASS replay/<target>/<file>" after each.  A crashing
 * input never reaches its PASS line: the process dies and tests/run.sh
 * counts the non-zero exit as a failure, with the sanitizer's report in
 * the log.  Files are replayed in name order so that logs compare.
 * With -q a directory gets one PASS line for all its files instead, for
 * large seed sets whose per-file lines would swamp the suite's counts.
 *
 *   replay_<target> [-q] TARGET-NAME PATH...
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Files next to inputs that are not inputs (notes on a saved crash). */
static bool is_note(const char *name)
{
    size_t n = strlen(name);
    return name[0] == '.' || (n > 3 && strcmp(name + n - 3, ".md") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".txt") == 0);
}

static bool quiet;

static int replay_file(const char *target, const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        printf("FAIL replay/%s/%s: cannot open: %s\n", target, path, strerror(errno));
        return 1;
    }
    /* Exactly size bytes on the heap, as libFuzzer passes them, so that
     * ASan sees a read one past the input. */
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    rewind(fp);
    uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
    if (size < 0 || !buf || fread(buf, 1, (size_t)size, fp) != (size_t)size) {
        printf("FAIL replay/%s/%s: cannot read: %s\n", target, path, strerror(errno));
        free(buf);
        fclose(fp);
        return 1;
    }
    fclose(fp);
    /* Name the input in the log first, so that a crash report that
     * follows can be traced to its file. */
    printf("replaying %s\n", path);
    fflush(stdout); /* our earlier lines must precede a crash report */
    LLVMFuzzerTestOneInput(buf, (size_t)size);
    free(buf);
    const char *base = strrchr(path, '/');
    if (!quiet)
        printf("PASS replay/%s/%s\n", target, base ? base + 1 : path);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *target, const char *dir)
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, NULL);
    int failures = 0;
    if (n < 0) {
        printf("FAIL replay/%s: cannot list %s: %s\n", target, dir, strerror(errno));
        return 1;
    }
    char **names = calloc((size_t)n + 1, sizeof *names);
    int count = 0;
    for (int i = 0; i < n; i++) {
        if (names && !is_note(list[i]->d_name))
            names[count++] = strdup(list[i]->d_name);
        free(list[i]);
    }
    free(list);
    if (!names) {
        printf("FAIL replay/%s: out of memory listing %s\n", target, dir);
        return 1;
    }
    qsort(names, (size_t)count, sizeof *names, cmp_names);
    for (int i = 0; i < count; i++) {
        char path[4096];
        struct stat st;
        if (!names[i]) {
            printf("FAIL replay/%s: out of memory listing %s\n", target, dir);
            failures++;
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            failures += replay_file(target, path);
        free(names[i]);
    }
    free(names);
    if (quiet && failures == 0)
        printf("PASS replay/%s/%s: %d inputs\n", target, dir, count);
    return failures;
}

int main(int argc, char **argv)
{
    int failures = 0, first = 1;
    if (argc > 1 && strcmp(argv[1], "-q") == 0) {
        quiet = true;
        first = 2;
    }
    if (argc < first + 2) {
        fprintf(stderr, "usage: %s [-q] TARGET-NAME FILE-OR-DIRECTORY...\n", argv[0]);
        return 2;
    }
    const char *target = argv[first];
    for (int i = first + 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            printf("FAIL replay/%s: %s: %s\n", target, argv[i], strerror(errno));
            failures++;
        } else if (S_ISDIR(st.st_mode)) {
            failures += replay_dir(target, argv[i]);
        } else {
            failures += replay_file(target, argv[i]);
        }
    }
    return failures ? 1 : 0;
}
