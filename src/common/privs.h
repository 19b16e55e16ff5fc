/*
 * privs.h: giving up root after the capture sockets are open (tcpdump's -Z),
 * per setgroups(2)/setgid(2)/setuid(2); capabilities go with the uid change
 * because PR_SET_KEEPCAPS is never set.
 */
#ifndef NETMOON_COMMON_PRIVS_H
#define NETMOON_COMMON_PRIVS_H

#include <stddef.h>

/* Switches to user (name or numeric uid) and its groups, then checks that
 * root cannot be regained.  Returns 0, or -1 with a message in err. */
int privs_drop(const char *user, char *err, size_t errlen);

#endif
