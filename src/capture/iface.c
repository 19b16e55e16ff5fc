/*
 * iface.c: default-route interface from /proc/net/route and
 * /proc/net/ipv6_route (proc(5)), SIOCGIFFLAGS up checks (netdevice(7)),
 * "-i a,b" list splitting.
 */
#include "capture/iface.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Route flags from <linux/route.h> and <linux/ipv6_route.h>. */
#define ROUTE_FLAG_UP 0x0001u
#define ROUTE_FLAG_REJECT 0x0200u

int iface_parse_route_v4(FILE *f, char ifname[IFNAMSIZ], uint32_t *metric)
{
    char line[512];
    bool found = false;
    uint32_t best = UINT32_MAX;
    /* First line is the column header. */
    if (!fgets(line, sizeof(line), f))
        return IFACE_NONE;
    while (fgets(line, sizeof(line), f)) {
        char name[IFNAMSIZ + 1];
        unsigned dest, gw, flags, refcnt, use, met, mask;
        if (sscanf(line, "%16s %x %x %x %u %u %u %x", name, &dest, &gw, &flags,
                   &refcnt, &use, &met, &mask) != 8)
            continue;
        if (dest != 0 || mask != 0 || !(flags & ROUTE_FLAG_UP) || strlen(name) >= IFNAMSIZ)
            continue;
        if (!found || met < best) {
            found = true;
            best = met;
            memcpy(ifname, name, strlen(name) + 1);
        }
    }
    if (found && metric)
        *metric = best;
    return found ? IFACE_OK : IFACE_NONE;
}

int iface_parse_route_v6(FILE *f, char ifname[IFNAMSIZ], uint32_t *metric)
{
    char line[512];
    bool found = false;
    uint32_t best = UINT32_MAX;
    while (fgets(line, sizeof(line), f)) {
        char dest[33], src[33], hop[33], name[IFNAMSIZ + 1];
        unsigned dlen, slen, met, refcnt, use, flags;
        if (sscanf(line, "%32s %x %32s %x %32s %x %x %x %x %16s", dest, &dlen, src, &slen,
                   hop, &met, &refcnt, &use, &flags, name) != 10)
            continue;
        if (dlen != 0 || strspn(dest, "0") != 32 || !(flags & ROUTE_FLAG_UP) ||
            (flags & ROUTE_FLAG_REJECT) || strcmp(name, "lo") == 0 ||
            strlen(name) >= IFNAMSIZ)
            continue;
        if (!found || met < best) {
            found = true;
            best = met;
            memcpy(ifname, name, strlen(name) + 1);
        }
    }
    if (found && metric)
        *metric = best;
    return found ? IFACE_OK : IFACE_NONE;
}

static int parse_proc_file(const char *proc_dir, const char *file,
                           int (*parse)(FILE *, char *, uint32_t *), char ifname[IFNAMSIZ])
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", proc_dir, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return IFACE_NONE;
    int rc = parse(f, ifname, NULL);
    fclose(f);
    return rc;
}

int iface_default_route(const char *proc_dir, char ifname[IFNAMSIZ], char *err, size_t errlen)
{
    if (!proc_dir)
        proc_dir = "/proc";
    if (parse_proc_file(proc_dir, "net/route", iface_parse_route_v4, ifname) == IFACE_OK)
        return IFACE_OK;
    if (parse_proc_file(proc_dir, "net/ipv6_route", iface_parse_route_v6, ifname) == IFACE_OK)
        return IFACE_OK;
    snprintf(err, errlen, "no default route: name an interface with -i (see `ip link`)");
    return IFACE_ERR_NO_DEFAULT;
}

int iface_check(const char *name, int *ifindex, char *err, size_t errlen)
{
    int rc = IFACE_OK, fd = -1;
    if (ifindex)
        *ifindex = 0;
    if (strcmp(name, IFACE_ANY) == 0)
        goto out;
    if (strlen(name) >= IFNAMSIZ) {
        snprintf(err, errlen, "interface name \"%s\" is too long (at most %d characters): see `ip link`",
                 name, IFNAMSIZ - 1);
        rc = IFACE_ERR_NOT_FOUND;
        goto out;
    }
    unsigned idx = if_nametoindex(name);
    if (idx == 0) {
        snprintf(err, errlen, "no interface named \"%s\": list them with `ip link`", name);
        rc = IFACE_ERR_NOT_FOUND;
        goto out;
    }
    if (ifindex)
        *ifindex = (int)idx;
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot check interface %s: socket: %s", name, strerror(errno));
        rc = IFACE_ERR_SYS;
        goto out;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
        snprintf(err, errlen, "cannot read the flags of interface %s: %s (see `ip link`)", name,
                 strerror(errno));
        rc = errno == ENODEV ? IFACE_ERR_NOT_FOUND : IFACE_ERR_SYS;
        goto out;
    }
    if (!(ifr.ifr_flags & IFF_UP)) {
        snprintf(err, errlen, "interface %s is down: bring it up with `ip link set %s up`", name, name);
        rc = IFACE_ERR_DOWN;
    }
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

int iface_split_list(const char *list, char names[][IFNAMSIZ], size_t max, size_t *count,
                     char *err, size_t errlen)
{
    *count = 0;
    const char *p = list ? list : "";
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        while (len && (*s == ' ' || *s == '\t'))
            s++, len--;
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (len == 0) {
            snprintf(err, errlen, "empty interface name in \"%s\": use -i eth0,eth1", list ? list : "");
            return IFACE_ERR_BAD_LIST;
        }
        if (len >= IFNAMSIZ) {
            snprintf(err, errlen, "interface name \"%.*s\" is too long (at most %d characters): see `ip link`",
                     (int)len, s, IFNAMSIZ - 1);
            return IFACE_ERR_BAD_LIST;
        }
        if (*count == max) {
            snprintf(err, errlen, "too many interfaces in \"%s\" (at most %zu)", list, max);
            return IFACE_ERR_BAD_LIST;
        }
        memcpy(names[*count], s, len);
        names[*count][len] = '\0';
        for (size_t i = 0; i < *count; i++) {
            if (strcmp(names[i], names[*count]) == 0) {
                snprintf(err, errlen, "interface %s is listed twice in \"%s\"", names[i], list);
                return IFACE_ERR_BAD_LIST;
            }
        }
        (*count)++;
        if (!end)
            break;
        p = end + 1;
    }
    if (*count > 1) {
        for (size_t i = 0; i < *count; i++) {
            if (strcmp(names[i], IFACE_ANY) == 0) {
                snprintf(err, errlen, "\"any\" already captures every interface: use it alone");
                return IFACE_ERR_BAD_LIST;
            }
        }
    }
    return IFACE_OK;
}
