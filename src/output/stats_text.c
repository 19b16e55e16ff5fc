/*
 * stats_text.c: the --stats summary.  Every number that means something was
 * lost or skipped (kernel drops, evictions, decode problems by reason,
 * non-IP frames, filtered packets) is printed, zero or not, so the absence
 * of loss is stated rather than implied.
 */
#include "output/stats_text.h"

#include <inttypes.h>

static void stats_text_decode(FILE *out, const struct decode_stats *d)
{
    fprintf(out, "  decode problems:   %" PRIu64 "\n", decode_stats_errors(d));
    for (int r = 0; r < DECODE_REASON_COUNT; r++)
        if (d->reasons[r])
            fprintf(out, "    %-22s %" PRIu64 "  (%s)\n", decode_reason_name((enum decode_reason)r),
                    d->reasons[r], decode_reason_description((enum decode_reason)r));
}

static void stats_text_l7(FILE *out, const struct nm_l7_stats *l)
{
    fprintf(out, "  L7 parsed flows:   %" PRIu64 "  (refused: %" PRIu64 " no slot, %" PRIu64
                 " no stream)\n", l->flows, l->flows_refused, l->streams_refused);
    fprintf(out, "  L7 incomplete:     %" PRIu64 " truncated text, %" PRIu64 " over budget, %" PRIu64
                 " stopped at a gap, %" PRIu64 " malformed, %" PRIu64 " QUIC undecryptable\n",
            l->truncated, l->budget_exhausted, l->gap_abandoned, l->malformed,
            l->quic_decrypt_failed);
    fprintf(out, "  reassembly:        %" PRIu64 " gaps (%" PRIu64 " bytes), %" PRIu64
                 " overlap bytes dropped, %" PRIu64 " bytes refused (caps), %" PRIu64
                 " out of window\n", l->reasm_gaps, l->reasm_gap_bytes, l->reasm_overlap_bytes,
            l->reasm_refused_bytes, l->reasm_out_of_window);
    if (l->stream_files || l->stream_write_errors)
        fprintf(out, "  --streams files:   %" PRIu64 " written, %" PRIu64 " write errors\n",
                l->stream_files, l->stream_write_errors);
}

/* --engine ebpf: what the kernel program could not account, and its own
 * cost (the kernel times it only while kernel.bpf_stats_enabled is 1). */
static void stats_text_ebpf(FILE *out, const struct nm_stats *st)
{
    fprintf(out, "  ebpf table full:   %" PRIu64 "%s\n", st->ebpf_table_full,
            st->ebpf_table_full ? "  (packets of new flows not accounted: raise --max-flows)" : "");
    fprintf(out, "  ebpf ports cut:    %" PRIu64 "  (transport headers cut short: accounted "
                 "with ports 0)\n", st->ebpf_l4_truncated);
    fprintf(out, "  ebpf ends late:    %" PRIu64 " packets joined a flow they should have "
                 "ended, %" PRIu64 " flows left to the next sweep%s\n", st->ebpf_ends_merged,
            st->ebpf_ends_deferred, st->ebpf_ends_merged || st->ebpf_ends_deferred
                ? "  (the kernel's queue of ended flows was full)" : "");
    fprintf(out, "  ebpf racing:       %" PRIu64 "  (packets added while their flow's record was "
                 "written: at most these are in no record)\n", st->ebpf_racing);
    if (st->ebpf_read_cut)
        fprintf(out, "  ebpf read cut:     %" PRIu64 "  (flows a read of the map could not hold: "
                     "not written)\n", st->ebpf_read_cut);
    fprintf(out, "  ebpf sweeps:       %" PRIu64 ", %" PRIu64 " ns  (the kernel's timer ending "
                 "due flows, a 64th of the map each; not in the program's run time)\n", st->ebpf_sweeps, st->ebpf_sweep_ns);
    if (!st->ebpf_prog_stats)
        fprintf(out, "  ebpf program:      run time unknown (program info unreadable)\n");
    else if (st->ebpf_prog_runs == 0)
        fprintf(out, "  ebpf program:      0 runs, 0 ns  (timed only while sysctl "
                     "kernel.bpf_stats_enabled=1)\n");
    else
        fprintf(out, "  ebpf program:      %" PRIu64 " runs, %" PRIu64 " ns  (%.1f ns a run)\n",
                st->ebpf_prog_runs, st->ebpf_prog_ns,
                (double)st->ebpf_prog_ns / (double)st->ebpf_prog_runs);
}

void stats_text_print(FILE *out, const struct nm_stats *st, bool live)
{
    const struct decode_stats *d = &st->decode;

    fprintf(out, "netmoon statistics:\n");
    if (live) {
        fprintf(out, "  kernel received:   %" PRIu64 "\n", st->kernel_packets);
        fprintf(out, "  kernel drops:      %" PRIu64 "%s\n", st->kernel_drops,
                st->kernel_drops ? "  (counts below are incomplete)" : "");
        fprintf(out, "  queue freezes:     %" PRIu64 "\n", st->kernel_freezes);
        if (st->ring_malformed)
            fprintf(out, "  ring malformed:    %" PRIu64 "  (ring entries failing bounds checks, "
                    "skipped: counts below are incomplete)\n", st->ring_malformed);
        fprintf(out, "  ring occupancy:    %" PRIu64 " of %" PRIu64 " blocks\n", st->ring_blocks_used,
                st->ring_blocks_total);
        fprintf(out, "  output stalls:     %" PRIu64 "  (workers waited for the output thread)\n",
                st->output_stalls);
    }
    if (st->ebpf_engine)
        stats_text_ebpf(out, st);
    fprintf(out, "  packets:           %" PRIu64 "\n", d->frames);
    fprintf(out, "  bytes:             %" PRIu64 "\n", d->bytes);
    fprintf(out, "  filtered out:      %" PRIu64 "\n", st->filtered_out);
    fprintf(out, "  accounted to flows:%" PRIu64 "\n", d->decoded);
    fprintf(out, "  not IP:            %" PRIu64 "\n", d->non_ip);
    fprintf(out, "  IP fragments:      %" PRIu64 "\n", d->fragments);
    fprintf(out, "  decapsulated:      %" PRIu64 "\n", d->decapsulated);
    stats_text_decode(out, d);
    fprintf(out, "  flows:             %" PRIu64 " created, %" PRIu64 " ended, %" PRIu64
                 " active\n", st->flows_created, st->flows_ended, st->flows_active);
    fprintf(out, "  flow evictions:    %" PRIu64 "%s\n", st->evictions,
            st->evictions ? "  (table full: raise --max-flows / --max-memory)" : "");
    fprintf(out, "  L7 (nDPI):         %" PRIu64 " labelled, %" PRIu64 " classifying, %" PRIu64
                 " without a classifier slot%s\n", st->l7_labelled, st->l7_classifying,
            st->l7_no_slot, st->l7_no_slot ? "  (pool full: raise --l7-max-flows)" : "");
    fprintf(out, "  L7 packets skipped:%" PRIu64 "  (cut short or non-first fragments: not given to nDPI)\n",
            st->l7_packets_skipped);
    if (st->pcap_written || st->pcap_dropped)
        fprintf(out, "  -w packets:        %" PRIu64 " written, %" PRIu64 " dropped\n",
                st->pcap_written, st->pcap_dropped);
    if (st->ipfix_sent || st->ipfix_lost)
        fprintf(out, "  IPFIX records:     %" PRIu64 " sent, %" PRIu64 " lost%s\n", st->ipfix_sent,
                st->ipfix_lost, st->ipfix_lost ? "  (messages that could not be sent)" : "");
    stats_text_l7(out, &st->l7);
    if (st->procs_enabled) {
        uint64_t local = st->flows_attributed + st->flows_unattributed;
        fprintf(out, "  process owners:    %" PRIu64 " local flows attributed, %" PRIu64
                     " unattributed (%.1f %%)\n", st->flows_attributed, st->flows_unattributed,
                local ? 100.0 * (double)st->flows_unattributed / (double)local : 0.0);
        fprintf(out, "  attribution lost:  %" PRIu64 " queue drops, %" PRIu64
                     " cache evictions\n", st->procs_queue_drops, st->procs_cache_evictions);
        if (st->procs_bpf)
            fprintf(out, "  owner source:      bpf (%" PRIu64 " owners from eBPF), sock_diag + /proc\n",
                    st->procs_bpf_hits);
        else
            fprintf(out, "  owner source:      sock_diag + /proc (eBPF not loaded: %s)\n",
                    st->procs_bpf_error[0] ? st->procs_bpf_error : "unknown reason");
    }
}
