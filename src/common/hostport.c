/*
 * hostport.c: see hostport.h.  The port is split at the last colon, so a
 * bracketed IPv6 address keeps its own colons.
 */
#include "common/hostport.h"

#include <string.h>

int hostport_split(char *spec, const char *default_host, const char **host, const char **port)
{
    char *colon = strrchr(spec, ':');

    if (!colon) {
        *host = default_host;
        *port = spec;
        return default_host && *spec ? 0 : -1;
    }
    *colon = '\0';
    *port = colon + 1;
    *host = spec;
    size_t n = strlen(spec);
    if (n >= 2 && spec[0] == '[' && spec[n - 1] == ']') {
        spec[n - 1] = '\0';
        *host = spec + 1;
    }
    return **host && **port ? 0 : -1;
}
