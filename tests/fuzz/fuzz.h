/*
 * fuzz.h: what every fuzz target in tests/fuzz/ shares.
 *
 * A target is one file defining LLVMFuzzerTestOneInput, the entry point
 * libFuzzer calls (https://llvm.org/docs/LibFuzzer.html).  The same file is
 * linked two ways: with clang's -fsanitize=fuzzer for `make fuzz`, and with
 * tests/fuzz/replay.c (a plain main) under gcc for the regression replay in
 * `make check`, so it must build cleanly with both compilers.
 */
#ifndef NETMOON_TEST_FUZZ_H
#define NETMOON_TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a bug as real as a crash, so it must look like one
 * to libFuzzer (which saves the input) and to the replay (non-zero exit). */
#define FUZZ_ASSERT(cond, ...)                                              \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "fuzz invariant broken at %s:%d: %s: ",         \
                    __FILE__, __LINE__, #cond);                             \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
            abort();                                                        \
        }                                                                   \
    } while (0)

#endif
