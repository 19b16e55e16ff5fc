#!/usr/bin/env bash
# tests/robust/test_flood.sh: a flood of distinct flows against a small
# flow table (issue 7, "bounded memory under floods").  bench/gen_workload
# writes a SYN-flood-shaped capture: handshake-only TCP connections, every
# one a new tuple, all open at once.  netmoon reads it with --max-flows far
# below the number of flows, so it must evict.  The oracles: Wireshark's
# capinfos counts the file's packets, and netmoon's counters are checked
# against each other:
#   flood/every-packet-reported   the packets of all flow records add up to
#                                 what capinfos counts in the file: nothing
#                                 evicted is lost
#   flood/evictions-reported      records ending "evicted" = the stats
#                                 record's evictions (and there are some)
#   flood/evictions-in-stats      --stats prints the same count
#   flood/memory-bounded          peak RSS with 10x the flows grows by less
#                                 than 8 MiB (read from a pipe, so no file
#                                 mapping counts)
# Memory is compared between two runs of the same build, not timed.
set -u
cd "$(dirname "$0")/../.."
NETMOON=${NETMOON:-./netmoon}
GEN=build/rel/bench/gen_workload
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS flood/$1"; }
fail() { echo "FAIL flood/$1: $2"; }
for t in capinfos python3; do
    command -v "$t" >/dev/null || { echo "SKIP flood: $t not installed"; exit 0; }
done
[ -x "$GEN" ] || { fail generator "$GEN missing: run 'make tests'"; exit 1; }
[ -x /usr/bin/time ] || { echo "SKIP flood/memory-bounded: /usr/bin/time missing (package time)"; }

MAXF=4000
"$GEN" -q -o "$tmp/small.pcap" -f 20000 -p 3 -c 20000 --udp 0 --seed 7 || { fail generator "small file"; exit 1; }
"$GEN" -q -o "$tmp/big.pcap" -f 200000 -p 3 -c 200000 --udp 0 --seed 7 || { fail generator "big file"; exit 1; }

# run NAME FILE: netmoon from a pipe (a redirected file would be mapped)
# with a small table; peak RSS (KiB) in $tmp/NAME.rss.
run() {
    if [ -x /usr/bin/time ]; then
        cat "$2" | /usr/bin/time -f %M -o "$tmp/$1.rss" "$NETMOON" -r - --max-flows "$MAXF" \
            --json --stats >"$tmp/$1.json" 2>"$tmp/$1.err"
    else
        cat "$2" | "$NETMOON" -r - --max-flows "$MAXF" --json --stats >"$tmp/$1.json" 2>"$tmp/$1.err"
    fi
}
run small "$tmp/small.pcap" || { fail run "exit $? on the small flood: $(head -c 300 "$tmp/small.err")"; exit 1; }
run big "$tmp/big.pcap" || { fail run "exit $? on the big flood: $(head -c 300 "$tmp/big.err")"; exit 1; }

# Wireshark's capinfos counts the file's packets (tcpdump takes 40 s over
# 200 k open connections: it tracks each one).
want=$(capinfos -c -M "$tmp/big.pcap" 2>/dev/null | sed -n 's/^Number of packets: *//p')
read -r got records evicted stat_ev < <(python3 - "$tmp/big.json" <<'PY'
import json, sys
pk = recs = ev = 0
stats = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["type"] == "flow":
        recs += 1
        pk += o["src_pkts"] + o["dst_pkts"]
        ev += o["end_reason"] == "evicted"
    elif o["type"] == "stats":
        stats = o
print(pk, recs, ev, stats.get("evictions", -1))
PY
)
if [ "${want:-0}" -gt 0 ] && [ "$got" = "$want" ]; then pass every-packet-reported
else fail every-packet-reported "flow records hold $got packets, capinfos counts ${want:-?}"; fi
if [ "$evicted" -gt 0 ] && [ "$evicted" = "$stat_ev" ]; then pass evictions-reported
else fail evictions-reported "$evicted records end 'evicted', stats say $stat_ev evictions ($records records)"; fi
if grep -qE "flow evictions: +$stat_ev\b" "$tmp/big.err"; then pass evictions-in-stats
else fail evictions-in-stats "--stats: $(grep -i evict "$tmp/big.err")"; fi
if [ -s "$tmp/small.rss" ] && [ -s "$tmp/big.rss" ]; then
    small=$(tail -1 "$tmp/small.rss"); big=$(tail -1 "$tmp/big.rss")
    if [ "$big" -le $((small + 8192)) ]; then pass memory-bounded
    else fail memory-bounded "peak RSS $small KiB with 20 k flows, $big KiB with 200 k (--max-flows $MAXF)"; fi
    echo "  peak RSS: $small KiB (20 k flows), $big KiB (200 k flows), --max-flows $MAXF"
fi
exit 0
