/*
 * stats_text.h: the human-readable summary --stats prints to stderr.
 */
#ifndef NETMOON_OUTPUT_STATS_TEXT_H
#define NETMOON_OUTPUT_STATS_TEXT_H

#include <stdio.h>

#include "output/record.h"

void stats_text_print(FILE *out, const struct nm_stats *st, bool live);

#endif
