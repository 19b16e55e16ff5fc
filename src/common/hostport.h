/*
 * hostport.h: "HOST:PORT" and "[IPV6]:PORT" as given to --ipfix and
 * --prometheus (the bracket form of RFC 3986 section 3.2.2).
 */
#ifndef NETMOON_COMMON_HOSTPORT_H
#define NETMOON_COMMON_HOSTPORT_H

/* Splits spec in place into host and port.  Without a colon the whole spec
 * is the port and *host becomes default_host (NULL: refused).  Returns -1
 * when the host or the port is empty. */
int hostport_split(char *spec, const char *default_host, const char **host, const char **port);

#endif
