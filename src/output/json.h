/*
 * json.h: JSON-lines output of flow and stats records (one object a line,
 * https://jsonlines.org).  Field names are a contract documented in
 * README.md; records carry "type":"flow" or "type":"stats".
 */
#ifndef NETMOON_OUTPUT_JSON_H
#define NETMOON_OUTPUT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "output/community_id.h"
#include "output/record.h"

/* path NULL or "-": standard output.  Files are appended to. */
int json_sink_open(struct output_sink *sink, const char *path, char *err, size_t errlen);

/* Formats one flow record as a JSON object with a trailing newline into out
 * (at least JSON_RECORD_MAX bytes, else the text is cut); returns its
 * length. */
#define JSON_RECORD_MAX 8192
size_t json_format_flow(const struct flow_record *r, char *out, size_t outlen);

/* The longest a flow record can be: the JSON sink reserves this much of its
 * buffer once and writes the record unchecked.  Names from tables
 * (protocol, TCP state, tunnel, end reason, nDPI's category and
 * confidence) are far shorter than JSON_NAME_MAX; a longer one is cut. */
#define JSON_NAME_MAX 64
/* Everything but the nDPI label, the L7 metadata and the owner: at most 64
 * keys with their punctuation (26 bytes at most, as {"type":"flow","flow_id":)
 * and a number (20 digits, and 7 more for each of the 3 timestamps'
 * fractions), 8 names in quotes (counting the TCP flags), 2 addresses in
 * quotes and the Community ID. */
#define JSON_FLOW_BASE_MAX \
    (64 * (26 + 20) + 3 * 7 + 8 * (JSON_NAME_MAX + 2) + 2 * 48 + COMMUNITY_ID_LEN)
/* nDPI's label: 3 keys, the app name (two names and a dot) and 2 names. */
#define JSON_FLOW_APP_MAX (3 * 24 + 2 * 48 + 2 * JSON_NAME_MAX)
/* L7 metadata: every byte of the text area at most 6 bytes long, escaped
 * or as a list separator's "," (the limit is shared by the fields, so it
 * holds whatever they point at), and per field its key, brackets and
 * quotes; then the fixed fields: TLS version, JA4, status, qtype, rcode. */
#define JSON_FLOW_L7_MAX (6 * NM_L7_TEXT_MAX + NM_L7_FIELD_COUNT * 32 + 5 * 64)
/* The owner: pid, comm and cmdline escaped (cmdline kept to
 * JSON_CMDLINE_MAX escaped bytes), cmdline_cut. */
#define JSON_CMDLINE_MAX 640
#define JSON_FLOW_OWNER_MAX (4 * 24 + 20 + 6 * NM_OWNER_COMM_MAX + JSON_CMDLINE_MAX)
#define JSON_FLOW_MAX \
    (JSON_FLOW_BASE_MAX + JSON_FLOW_APP_MAX + JSON_FLOW_L7_MAX + JSON_FLOW_OWNER_MAX + 3)

/* The record's number formatters, exposed for tests: v in decimal (as
 * printf's %u) and microseconds as seconds with six decimals, written at p
 * without a NUL (up to 20 and 27 bytes); return the end. */
char *json_put_u32(char *p, uint32_t v);
char *json_put_u64(char *p, uint64_t v);
char *json_put_time(char *p, uint64_t us);

#endif
