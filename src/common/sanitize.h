/*
 * sanitize.h: NM_SANITIZED is defined in builds with a leak check at exit:
 * AddressSanitizer (gcc's __SANITIZE_ADDRESS__, clang's
 * __has_feature(address_sanitizer)) or LeakSanitizer alone (gcc 13's
 * __SANITIZE_LEAK__, clang's __has_feature(leak_sanitizer)).  There
 * everything is freed and exit is left normal so that the check sees the
 * whole heap.  A run under valgrind is not a build: set NETMOON_FULL_EXIT
 * in the environment for the same (main.c).
 */
#ifndef NETMOON_COMMON_SANITIZE_H
#define NETMOON_COMMON_SANITIZE_H

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_LEAK__)
#define NM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define NM_SANITIZED 1
#endif
#endif

#endif
