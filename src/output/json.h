/*
 * json.h: JSON-lines output of flow and stats records (one object a line,
 * https://jsonlines.org).  Field names are a contract documented in
 * README.md; records carry "type":"flow" or "type":"stats".
 */
#ifndef NETMOON_OUTPUT_JSON_H
#define NETMOON_OUTPUT_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "output/record.h"

/* path NULL or "-": standard output.  Files are appended to. */
int json_sink_open(struct output_sink *sink, const char *path, char *err, size_t errlen);

/* Formats one flow record as a JSON object with a trailing newline into out
 * (at least JSON_RECORD_MAX bytes); returns its length. */
#define JSON_RECORD_MAX 8192
size_t json_format_flow(const struct flow_record *r, char *out, size_t outlen);

#endif
