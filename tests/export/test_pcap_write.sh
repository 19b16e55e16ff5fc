#!/usr/bin/env bash
# tests/export/test_pcap_write.sh: -w, -s, -C, -G on files (src/output/pcap_writer.c),
# and write errors of -w and --json.
#
# Oracles: tcpdump writes the reference files (the same BPF filter applied
# by a program we did not write, the same -C rotation), tshark reads both
# and must list the same frames (time, length on the wire, captured
# length); the -G file names follow from tshark's frame times and the rule
# tcpdump documents.  No number comes from netmoon's output.
#
#   export/w-filter-*     -r PCAP -w OUT FILTER reads back as tcpdump's filtered copy
#   export/w-all          no filter: every frame of the input, in order
#   export/w-snaplen      -s 60: captured lengths cut to 60, wire lengths kept
#   export/w-rotate-size  -C 1: the same files and per-file frames as tcpdump -C 1
#   export/w-rotate-time  -G 10 with a strftime name: the files tshark's times predict
#   export/w-empty        a filter matching nothing leaves a valid empty pcap
#   export/w-full         -w /dev/full: one message naming it, exit 1
#   export/json-full      --json=/dev/full: one message naming it, exit 1
#   export/w-bad-dir      -w into a missing directory: refused before reading, exit 1
#   export/w-usage        -s/-C/-G without -w, bad values, -w -: exit 2 naming the option
set -u
cd "$(dirname "$0")/../.."
root=$PWD
NETMOON=${NETMOON:-$root/netmoon}
case $NETMOON in /*) ;; *) NETMOON=$root/$NETMOON ;; esac
PCAPS=${PCAPS:-$root/../shared/pcaps}
LAB=$root/tests/data/lab

pass() { echo "PASS export/$1"; }
fail() { echo "FAIL export/$1: $2"; }
skip() { echo "SKIP export/$1: $2"; }

for t in tshark tcpdump capinfos mergecap python3; do
    command -v "$t" >/dev/null 2>&1 || { skip w-all "missing $t (scripts/install-deps.sh)"; exit 0; }
done
tmp=$(mktemp -d /tmp/nm-pcapw.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# frames FILE: one line per frame: epoch time, wire length, captured length.
frames() { tshark -r "$1" -T fields -e frame.time_epoch -e frame.len -e frame.cap_len 2>/dev/null; }
count() { capinfos -c -M "$1" 2>/dev/null | awk -F: '/Number of packets/ {gsub(/ /,"",$2); print $2}'; }

# same_frames NAME A B: A and B list the same frames, and there is at least one.
same_frames() {
    local name=$1 a=$2 b=$3
    frames "$a" >"$tmp/a.txt"; frames "$b" >"$tmp/b.txt"
    if [ ! -s "$tmp/a.txt" ]; then fail "$name" "the reference has no frames"; return; fi
    if cmp -s "$tmp/a.txt" "$tmp/b.txt"; then pass "$name"
    else fail "$name" "$(wc -l <"$tmp/a.txt") frames expected, $(wc -l <"$tmp/b.txt") written; first difference: $(diff "$tmp/a.txt" "$tmp/b.txt" | sed -n 2p)"; fi
}

shared=$PCAPS/suricata-verify/base64-decode-5885.pcap
[ -f "$shared" ] || shared=$(ls -S "$PCAPS"/suricata-verify/*.pcap 2>/dev/null | head -1)
i=0
for spec in "$LAB/mixed.pcap|tcp" "$LAB/mixed.pcap|udp port 53" "$LAB/ipv6.pcap|ip6" "$shared|tcp port 80"; do
    in=${spec%%|*}; filter=${spec#*|}; i=$((i + 1))
    [ -f "$in" ] || { skip "w-filter-$i" "no $in"; continue; }
    tcpdump -Z root -r "$in" -w "$tmp/ref$i.pcap" "$filter" 2>/dev/null
    "$NETMOON" -r "$in" -w "$tmp/out$i.pcap" "$filter" >/dev/null 2>"$tmp/err$i" \
        || { fail "w-filter-$i" "exit $?: $(head -c 200 "$tmp/err$i")"; continue; }
    same_frames "w-filter-$i" "$tmp/ref$i.pcap" "$tmp/out$i.pcap"
done

"$NETMOON" -r "$LAB/http.pcap" -w "$tmp/all.pcap" >/dev/null 2>&1
same_frames w-all "$LAB/http.pcap" "$tmp/all.pcap"

# -s 60: every frame of http.pcap, captured length min(60, original).
"$NETMOON" -r "$LAB/http.pcap" -w "$tmp/snap.pcap" -s 60 >/dev/null 2>&1
frames "$LAB/http.pcap" | awk -F'\t' '{c = $3 < 60 ? $3 : 60; print $1 "\t" $2 "\t" c}' >"$tmp/snap-want.txt"
frames "$tmp/snap.pcap" >"$tmp/snap-got.txt"
if [ -s "$tmp/snap-want.txt" ] && cmp -s "$tmp/snap-want.txt" "$tmp/snap-got.txt" \
   && [ "$(tshark -r "$tmp/snap.pcap" -T fields -e frame.cap_len | sort -un | tail -1)" = 60 ]; then
    pass w-snaplen
else fail w-snaplen "$(diff "$tmp/snap-want.txt" "$tmp/snap-got.txt" | sed -n 2p)"; fi

# -C 1 against tcpdump -C 1 on a 3.4 MB capture.
big=$LAB/bulk-loss.pcap
mkdir -p "$tmp/c-ref" "$tmp/c-out"
tcpdump -Z root -r "$big" -w "$tmp/c-ref/part" -C 1 2>/dev/null
"$NETMOON" -r "$big" -w "$tmp/c-out/part" -C 1 >/dev/null 2>&1
want=$(cd "$tmp/c-ref" && for f in $(ls | sort); do echo "$f $(count "$f")"; done)
got=$(cd "$tmp/c-out" && for f in $(ls | sort); do echo "$f $(count "$f")"; done)
if [ "$(echo "$want" | wc -l)" -ge 3 ] && [ "$want" = "$got" ]; then
    (cd "$tmp/c-out" && mergecap -F pcap -a -w "$tmp/c-joined.pcap" part part?)
    same_frames w-rotate-size "$big" "$tmp/c-joined.pcap"
else fail w-rotate-size "tcpdump: $(echo $want); netmoon: $(echo $got)"; fi

# -G 10 on a 107 s capture: a new file when a packet's second is 10 or
# more past the file's first packet's second; names from strftime in UTC.
mkdir -p "$tmp/g-out"
slow=$PCAPS/tcpdump/eapon1.pcap
TZ=UTC "$NETMOON" -r "$slow" -w "$tmp/g-out/t-%Y%m%d-%H%M%S.pcap" -G 10 >/dev/null 2>&1
want=$(frames "$slow" | python3 -c '
import sys, time, collections
files = collections.OrderedDict(); start = None
for line in sys.stdin:
    sec = int(float(line.split("\t")[0]))
    if start is None or sec - start >= 10:
        start = sec
        name = time.strftime("t-%Y%m%d-%H%M%S.pcap", time.gmtime(sec))
    files[name] = files.get(name, 0) + 1
for n, c in files.items(): print(n, c)')
got=$(cd "$tmp/g-out" && for f in $(ls | sort); do echo "$f $(count "$f")"; done)
if [ "$(echo "$want" | wc -l)" -ge 3 ] && [ "$want" = "$got" ]; then pass w-rotate-time
else fail w-rotate-time "want: $(echo $want | head -c 300); got: $(echo $got | head -c 300)"; fi

"$NETMOON" -r "$LAB/http.pcap" -w "$tmp/empty.pcap" 'udp port 9' >/dev/null 2>&1
if [ "$(count "$tmp/empty.pcap")" = 0 ] && tshark -r "$tmp/empty.pcap" >/dev/null 2>&1; then pass w-empty
else fail w-empty "not a valid empty pcap: $(capinfos "$tmp/empty.pcap" 2>&1 | head -c 200)"; fi

# write_error NAME ARGS...: exit 1 and exactly one message naming /dev/full.
write_error() {
    local name=$1; shift
    "$NETMOON" -r "$LAB/http.pcap" "$@" >/dev/null 2>"$tmp/$name.err"
    local rc=$? n
    n=$(grep -c '/dev/full' "$tmp/$name.err")
    if [ "$rc" = 1 ] && [ "$n" = 1 ]; then pass "$name"
    else fail "$name" "exit $rc, $n messages naming /dev/full: $(head -c 300 "$tmp/$name.err")"; fi
}
[ -w /dev/full ] && write_error w-full -w /dev/full || skip w-full "no /dev/full"
[ -w /dev/full ] && write_error json-full --json=/dev/full || skip json-full "no /dev/full"

"$NETMOON" -r "$LAB/http.pcap" -w "$tmp/missing/x.pcap" >"$tmp/bad.out" 2>"$tmp/bad.err"
rc=$?
if [ "$rc" = 1 ] && grep -q "$tmp/missing/x.pcap" "$tmp/bad.err" && [ ! -s "$tmp/bad.out" ]; then pass w-bad-dir
else fail w-bad-dir "exit $rc: $(head -c 200 "$tmp/bad.err")"; fi

# Usage errors of the new options: exit 2 and a message naming the option.
usage_ok=1 usage_msg=
# Each case: the option the message must name, then the arguments.
while read -r opt args; do
    # shellcheck disable=SC2086
    "$NETMOON" -r "$LAB/icmp.pcap" $args >/dev/null 2>"$tmp/usage.err"
    rc=$?
    if [ "$rc" != 2 ] || ! grep -q -- "$opt" "$tmp/usage.err"; then
        usage_ok=0; usage_msg="$usage_msg [$args: exit $rc, $(head -c 100 "$tmp/usage.err")]"
    fi
done <<'CASES'
-s -s 64
-C -C 1
-G -G 10
-w -w -
-s -w x -s -1
-C -w x -C 0
-G -w x -G 0
-G -w x -G 1.5
--ipfix-rate --ipfix-rate x --ipfix 127.0.0.1:9
CASES
[ "$usage_ok" = 1 ] && pass w-usage || fail w-usage "$usage_msg"
