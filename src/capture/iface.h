/*
 * iface.h: network interfaces for live capture: the default-route interface
 * (from /proc/net/route, falling back to /proc/net/ipv6_route, see proc(5)),
 * existence and up checks (netdevice(7) SIOCGIFFLAGS), and splitting
 * "-i eth0,eth1" lists.
 */
#ifndef NETMOON_CAPTURE_IFACE_H
#define NETMOON_CAPTURE_IFACE_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define IFACE_ANY "any"
#define IFACE_MAX_LIST 32

enum iface_status {
    IFACE_OK = 0,
    IFACE_NONE = 1,            /* parse functions: no default route listed */
    IFACE_ERR_NOT_FOUND = -1,
    IFACE_ERR_DOWN = -2,
    IFACE_ERR_NO_DEFAULT = -3,
    IFACE_ERR_BAD_LIST = -4,
    IFACE_ERR_SYS = -5,
};

/* Parses /proc/net/route text: picks the up (RTF_UP), 0.0.0.0/0 route with
 * the lowest metric, copying its interface into ifname (IFNAMSIZ bytes).
 * Returns IFACE_OK or IFACE_NONE. */
int iface_parse_route_v4(FILE *f, char ifname[IFNAMSIZ], uint32_t *metric);

/* The same for /proc/net/ipv6_route (::/0, up, not a reject route). */
int iface_parse_route_v6(FILE *f, char ifname[IFNAMSIZ], uint32_t *metric);

/* The interface of the default route, IPv4 first then IPv6.  Without one:
 * IFACE_ERR_NO_DEFAULT and "no default route: name an interface with -i
 * (see `ip link`)".  proc_dir is normally "/proc" (tests pass another). */
int iface_default_route(const char *proc_dir, char ifname[IFNAMSIZ], char *err, size_t errlen);

/* Checks that name exists and is up ("any" always passes).  Messages name the
 * interface and what to do (`ip link`, `ip link set NAME up`).  *ifindex is
 * set when non-NULL (0 for "any"). */
int iface_check(const char *name, int *ifindex, char *err, size_t errlen);

/* Splits "eth0,eth1" into names (trimmed, non-empty, shorter than IFNAMSIZ,
 * no duplicates, "any" only alone).  Returns IFACE_OK and *count, or
 * IFACE_ERR_BAD_LIST with a message. */
int iface_split_list(const char *list, char names[][IFNAMSIZ], size_t max, size_t *count,
                     char *err, size_t errlen);

#endif
