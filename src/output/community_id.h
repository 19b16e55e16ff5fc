/*
 * community_id.h: Community ID v1 flow hashes
 * (https://github.com/corelight/community-id-spec), so netmoon's records
 * join with Zeek's, Suricata's, Elastic's and Wireshark's.
 */
#ifndef NETMOON_OUTPUT_COMMUNITY_ID_H
#define NETMOON_OUTPUT_COMMUNITY_ID_H

#include <stddef.h>
#include <stdint.h>

#include "output/record.h"

/* "1:" + base64(20 bytes), and a NUL (with room to spare) */
#define COMMUNITY_ID_TEXT_LEN 30
#define COMMUNITY_ID_LEN 32

/* Writes the record's Community ID (seed 0 unless given) into out. */
void community_id_of_record(const struct flow_record *r, uint16_t seed,
                            char out[COMMUNITY_ID_LEN]);
/* The same text without the NUL, COMMUNITY_ID_TEXT_LEN bytes written at out
 * (for writers that format in place); returns that length. */
size_t community_id_format(const struct flow_record *r, uint16_t seed, char *out);

#endif
