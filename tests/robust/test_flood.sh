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
#   flood/max-memory-bounded      with --max-memory 16 instead of
#                                 --max-flows, the big flood's peak RSS is at
#                                 most 16 MiB above a 10-flow file's, it
#                                 evicts, and every packet is still reported
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

# run NAME FILE [LIMIT...]: netmoon from a pipe (a redirected file would be
# mapped) with a small table (--max-flows $MAXF unless LIMIT options are
# given); peak RSS (KiB) in $tmp/NAME.rss.
run() {
    local name=$1 file=$2; shift 2
    [ $# -gt 0 ] || set -- --max-flows "$MAXF"
    if [ -x /usr/bin/time ]; then
        cat "$file" | /usr/bin/time -f %M -o "$tmp/$name.rss" "$NETMOON" -r - "$@" \
            --json --stats >"$tmp/$name.json" 2>"$tmp/$name.err"
    else
        cat "$file" | "$NETMOON" -r - "$@" --json --stats >"$tmp/$name.json" 2>"$tmp/$name.err"
    fi
}
run small "$tmp/small.pcap" || { fail run "exit $? on the small flood: $(head -c 300 "$tmp/small.err")"; exit 1; }
run big "$tmp/big.pcap" || { fail run "exit $? on the big flood: $(head -c 300 "$tmp/big.err")"; exit 1; }

# Wireshark's capinfos counts the file's packets (tcpdump takes 40 s over
# 200 k open connections: it tracks each one).
want=$(capinfos -c -M "$tmp/big.pcap" 2>/dev/null | sed -n 's/^Number of packets: *//p')
# count FILE: packets in flow records, records, "evicted" records, and the
# stats record's evictions.
count() {
    python3 - "$1" <<'PY'
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
}
read -r got records evicted stat_ev < <(count "$tmp/big.json")
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

# --max-memory alone: the budget, not a flow count, bounds the table.
MAXM=16
"$GEN" -q -o "$tmp/tiny.pcap" -f 10 -p 3 -c 10 --udp 0 --seed 7 || { fail generator "tiny file"; exit 1; }
run tiny "$tmp/tiny.pcap" --max-memory "$MAXM" || fail max-memory-run "exit $? on the tiny file"
run bigm "$tmp/big.pcap" --max-memory "$MAXM" || fail max-memory-run "exit $? on the big flood"
read -r got _ evicted _ < <(count "$tmp/bigm.json")
if [ "$got" = "$want" ] && [ "$evicted" -gt 0 ]; then pass max-memory-every-packet
else fail max-memory-every-packet "records hold $got packets (capinfos: ${want:-?}), $evicted evicted"; fi
if [ -s "$tmp/tiny.rss" ] && [ -s "$tmp/bigm.rss" ]; then
    tiny=$(tail -1 "$tmp/tiny.rss"); bigm=$(tail -1 "$tmp/bigm.rss")
    # ASan's shadow memory (an eighth) and allocator redzones come on top
    # of what the program itself allocates in the sanitizer build.
    allow=$((MAXM * 1024)); case $NETMOON in *san*) allow=$((allow * 5 / 4)) ;; esac
    if [ "$bigm" -le $((tiny + allow)) ]; then pass max-memory-bounded
    else fail max-memory-bounded "peak RSS $tiny KiB with 10 flows, $bigm KiB with 200 k (--max-memory $MAXM)"; fi
    echo "  peak RSS: $tiny KiB (10 flows), $bigm KiB (200 k flows), --max-memory $MAXM MiB"
fi
exit 0
