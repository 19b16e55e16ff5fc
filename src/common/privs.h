/*
 * privs.h: tcpdump-style -Z USER: give up root once the capture sockets are
 * open.  Follows credentials(7), initgroups(3), setresuid(2),
 * capabilities(7): open sockets keep working, no capability is needed after
 * opening, so none is kept (no PR_SET_KEEPCAPS).
 */
#ifndef NETMOON_COMMON_PRIVS_H
#define NETMOON_COMMON_PRIVS_H

#include <stddef.h>

enum privs_status {
    PRIVS_OK = 0,
    PRIVS_ERR_NO_USER = -1,    /* no such user */
    PRIVS_ERR_NOT_ROOT = -2,   /* switching to another user needs root */
    PRIVS_ERR_SYS = -3,        /* a set*id/initgroups call failed */
    PRIVS_ERR_REGAINED = -4,   /* verification failed: root could be regained */
};

/* Switches real, effective and saved user and group ids (and supplementary
 * groups) to user's, then checks that uid 0 cannot be regained and that no
 * effective or permitted capability is left.  Call after every socket is
 * open and before touching packets.  On failure the process must exit; the
 * message in err names the cause and what to do. */
int privs_drop(const char *user, char *err, size_t errlen);

#endif
