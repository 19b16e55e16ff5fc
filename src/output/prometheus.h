/*
 * prometheus.h: --prometheus [ADDR:]PORT, counters served at GET /metrics
 * in the Prometheus text exposition format (version 0.0.4).
 */
#ifndef NETMOON_OUTPUT_PROMETHEUS_H
#define NETMOON_OUTPUT_PROMETHEUS_H

#include <stddef.h>

#include "output/record.h"

/* Distinct application labels kept; the rest are added to app="other". */
#define PROMETHEUS_APP_LABELS_MAX 32

/* spec: "PORT", "ADDR:PORT" or "[V6ADDR]:PORT"; the address defaults to
 * 127.0.0.1.  Starts the server thread. */
int prometheus_sink_open(struct output_sink *sink, const char *spec, char *err, size_t errlen);

/* The label a record's bytes are counted under in
 * netmoon_application_bytes_total: nDPI's application name, the transport
 * protocol with --no-l7, "Unknown" for a flow nDPI did not decide on. */
const char *prometheus_app_label(const struct flow_record *r, char *buf, size_t buflen);

#endif
