/*
 * ipfix.h: --ipfix HOST:PORT, flow records exported as IPFIX (RFC 7011)
 * over UDP with IANA information elements (RFC 7012).
 */
#ifndef NETMOON_OUTPUT_IPFIX_H
#define NETMOON_OUTPUT_IPFIX_H

#include <stddef.h>
#include <stdint.h>

#include "output/record.h"

/* Template ids (data sets use them as set ids; RFC 7011 3.4.1: >= 256). */
enum { IPFIX_TEMPLATE_V4 = 256, IPFIX_TEMPLATE_V6 = 257 };

/* Largest message: fits a 1500-byte MTU with IPv6 and UDP headers. */
#define IPFIX_MESSAGE_MAX 1400u

struct ipfix_encoder {
    uint8_t buf[IPFIX_MESSAGE_MAX];
    size_t len;                /* bytes used, header included */
    size_t set_at;             /* offset of the open data set, 0 = none */
    uint16_t set_id;           /* template of the open data set */
    uint32_t records;          /* data records in this message */
    uint32_t sequence;         /* data records sent before this message */
    uint32_t domain;           /* observation domain id */
};

/* Starts a message; with_templates puts both templates first. */
void ipfix_encoder_begin(struct ipfix_encoder *e, bool with_templates);
/* Adds the records of one flow (one per direction that carried packets);
 * returns false, adding nothing, when they do not fit. */
bool ipfix_encoder_add_flow(struct ipfix_encoder *e, const struct flow_record *r);
/* Closes the open set and writes the header; returns the message length.
 * export_time_s is the header's export time; the sequence number advances
 * by the message's records. */
size_t ipfix_encoder_finish(struct ipfix_encoder *e, uint32_t export_time_s);

/* Default pace: messages per second (at most 1400 bytes, ~25 IPv4 flows). */
#define IPFIX_DEFAULT_RATE 2000u

/* spec: "HOST:PORT", "[V6ADDR]:PORT".  Sends over UDP, at most rate
 * messages a second (0: unpaced). */
int ipfix_sink_open(struct output_sink *sink, const char *spec, uint32_t rate, char *err,
                    size_t errlen);

#endif
