/*
 * sanitize.h: NM_SANITIZED is defined in AddressSanitizer builds (gcc's
 * __SANITIZE_ADDRESS__, clang's __has_feature(address_sanitizer)), where
 * everything is freed and exit is left normal so that the leak check at
 * exit sees the whole heap.
 */
#ifndef NETMOON_COMMON_SANITIZE_H
#define NETMOON_COMMON_SANITIZE_H

#if defined(__SANITIZE_ADDRESS__)
#define NM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NM_SANITIZED 1
#endif
#endif

#endif
