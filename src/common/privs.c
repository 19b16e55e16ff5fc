/*
 * privs.c: see privs.h.  Order matters: supplementary groups and the gid
 * must change while we are still root, and the uid last.
 */
#include "common/privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct passwd *privs_lookup(const char *user)
{
    const struct passwd *pw = getpwnam(user);
    char *end;

    if (pw)
        return pw;
    errno = 0;
    unsigned long uid = strtoul(user, &end, 10);
    if (!errno && *end == '\0' && end != user)
        return getpwuid((uid_t)uid);
    return NULL;
}

int privs_drop(const char *user, char *err, size_t errlen)
{
    const struct passwd *pw = privs_lookup(user);

    if (!pw) {
        snprintf(err, errlen, "-Z %s: no such user (see /etc/passwd)", user);
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        snprintf(err, errlen, "-Z %s: cannot switch to that user: %s (run netmoon as root to use -Z)",
                 user, strerror(errno));
        return -1;
    }
    if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        snprintf(err, errlen, "-Z %s: root could be regained after dropping it; refusing to go on",
                 user);
        return -1;
    }
    return 0;
}
