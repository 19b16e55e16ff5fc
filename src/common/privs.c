/*
 * privs.c: -Z USER privilege drop (credentials(7), setresuid(2),
 * initgroups(3)) with a check via capget(2) that no capability survived
 * (capabilities(7): a uid 0 -> non-zero switch clears them without
 * PR_SET_KEEPCAPS).
 */
#include "common/privs.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* glibc has no capget wrapper without libcap; the raw syscall suffices. */
static bool has_any_capability(void)
{
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) != 0)
        return true; /* cannot tell: assume the worst */
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
        if (data[i].effective || data[i].permitted)
            return true;
    return false;
}

int privs_drop(const char *user, char *err, size_t errlen)
{
    int rc = PRIVS_OK;
    char buf[4096];
    struct passwd pw, *found = NULL;
    int e = getpwnam_r(user, &pw, buf, sizeof(buf), &found);
    if (e != 0 || !found) {
        snprintf(err, errlen, "-Z %s: no such user%s%s (see /etc/passwd)", user, e ? ": " : "",
                 e ? strerror(e) : "");
        rc = PRIVS_ERR_NO_USER;
        goto out;
    }
    if (geteuid() != 0) {
        if (getuid() == pw.pw_uid && geteuid() == pw.pw_uid)
            goto out; /* already that user: nothing to give up */
        snprintf(err, errlen, "-Z %s: switching user needs root (run netmoon as root, or drop -Z)",
                 user);
        rc = PRIVS_ERR_NOT_ROOT;
        goto out;
    }
    /* Groups first: once the uid changes we may no longer change them. */
    if (initgroups(pw.pw_name, pw.pw_gid) != 0 || setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid) != 0 ||
        setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid) != 0) {
        snprintf(err, errlen, "-Z %s: cannot switch to uid %u gid %u: %s", user,
                 (unsigned)pw.pw_uid, (unsigned)pw.pw_gid, strerror(errno));
        rc = PRIVS_ERR_SYS;
        goto out;
    }
    uid_t r, eff, saved;
    gid_t gr, ge, gs;
    if (getresuid(&r, &eff, &saved) != 0 || getresgid(&gr, &ge, &gs) != 0 ||
        r != pw.pw_uid || eff != pw.pw_uid || saved != pw.pw_uid || gr != pw.pw_gid ||
        ge != pw.pw_gid || gs != pw.pw_gid) {
        snprintf(err, errlen, "-Z %s: ids did not all change as asked", user);
        rc = PRIVS_ERR_REGAINED;
        goto out;
    }
    if (pw.pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0 || has_any_capability())) {
        snprintf(err, errlen, "-Z %s: root privileges could be regained after the switch; "
                 "refusing to continue", user);
        rc = PRIVS_ERR_REGAINED;
    }
out:
    return rc;
}
