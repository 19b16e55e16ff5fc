#!/usr/bin/env bash
# tests/cli/test_cli.sh: the command line and every error path of -r.
# Expected frame counts come from tshark reading the same (damaged) file.
set -u
cd "$(dirname "$0")/../.."
NETMOON=${NETMOON:-./netmoon}
PCAPS=${SHARED_PCAPS:-../shared/pcaps}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

pass() { echo "PASS cli/$1"; }
fail() { echo "FAIL cli/$1: $2"; }
# expect NAME WANT_STATUS GREP_PATTERN -- CMD...: status and a stderr message.
expect() {
    local name=$1 want=$2 pat=$3; shift 4
    "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; local rc=$?
    if [ "$rc" -ne "$want" ]; then fail "$name" "exit $rc, want $want; stderr: $(head -c 300 "$tmp/err")"; return; fi
    if [ -n "$pat" ] && ! grep -qiE -- "$pat" "$tmp/err"; then fail "$name" "stderr lacks /$pat/: $(head -c 300 "$tmp/err")"; return; fi
    pass "$name"
}
# tshark's count of frames it could read before any damage.
tshark_frames() { tshark -r "$1" -T fields -e frame.number 2>/dev/null | wc -l; }
# The "packets" field of netmoon's stats record.
json_field() { python3 -c "import json,sys
for l in open(sys.argv[1]):
    o=json.loads(l)
    if o.get('type')=='stats': print(o[sys.argv[2]])" "$1" "$2"; }
flow_lines() { grep -c '"type":"flow"' "$1"; }

sample=$PCAPS/suricata-verify/bug-1401-03--80000000-037-PTP_Example_IPv4_HTTP_Session-PUBLIC-tp-01.pcap
[ -f "$sample" ] || sample=$(ls "$PCAPS"/suricata-verify/*.pcap | head -1)

expect help 0 "" -- "$NETMOON" --help
grep -q -- '-r FILE' "$tmp/out" || fail help-text "--help does not document -r"
expect version 0 "" -- "$NETMOON" --version
grep -q '^netmoon [0-9]' "$tmp/out" && pass version-text || fail version-text "$(cat "$tmp/out")"
expect unknown-option 2 "unknown option" -- "$NETMOON" --frobnicate
expect missing-value 2 "needs a value" -- "$NETMOON" -r
expect bad-count 2 "-c needs" -- "$NETMOON" -c abc -r "$sample"
expect bad-max-flows 2 "max-flows" -- "$NETMOON" --max-flows 0 -r "$sample"
expect bad-max-memory 2 "max-memory" -- "$NETMOON" --max-memory 0 -r "$sample"
expect r-and-i 2 "cannot be used together" -- "$NETMOON" -r "$sample" -i lo
expect no-such-file 1 "no such file" -- "$NETMOON" -r "$tmp/nope.pcap"
expect directory 1 "$tmp" -- "$NETMOON" -r "$tmp"
: >"$tmp/empty.pcap"
expect empty-file 1 "empty" -- "$NETMOON" -r "$tmp/empty.pcap"
echo "this is not a capture file at all, just some text" >"$tmp/text.pcap"
expect bad-magic 1 "offset 0|magic" -- "$NETMOON" -r "$tmp/text.pcap"
gzip -c "$sample" >"$tmp/gz.pcap"
expect gzip-file 1 "gzip|compress" -- "$NETMOON" -r "$tmp/gz.pcap"

# A file cut in the middle of a record: stops with the offset, non-zero
# exit, and every frame before the cut is still accounted (tshark's count).
size=$(stat -c %s "$sample")
head -c $((size * 2 / 3)) "$sample" >"$tmp/cut.pcap"
expect truncated 1 "offset [0-9]+" -- "$NETMOON" -r "$tmp/cut.pcap" --json
want=$(tshark_frames "$tmp/cut.pcap"); got=$(json_field "$tmp/out" packets)
[ "$want" = "$got" ] && [ "$(flow_lines "$tmp/out")" -gt 0 ] && pass truncated-keeps-flows \
    || fail truncated-keeps-flows "tshark read $want frames, netmoon accounted ${got:-none}"

# A record header claiming an absurd length (at the first record, offset 24).
python3 - "$sample" "$tmp/huge.pcap" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], 'rb').read())
le = d[:4] == b'\xd4\xc3\xb2\xa1'
fmt = '<I' if le else '>I'
struct.pack_into(fmt, d, 24 + 8, 0x7fffffff)
open(sys.argv[2], 'wb').write(d)
PY
expect huge-record 1 "offset 24" -- "$NETMOON" -r "$tmp/huge.pcap"

# Standard input works as a source, and gives the same flows as the file.
"$NETMOON" -r "$sample" --json >"$tmp/file.json" 2>/dev/null
"$NETMOON" -r - --json <"$sample" >"$tmp/stdin.json" 2>/dev/null
if [ "$(grep -c flow "$tmp/file.json")" -gt 0 ] && \
   diff <(grep '"flow"' "$tmp/file.json" | sed 's/"flow_id":[0-9]*,//') \
        <(grep '"flow"' "$tmp/stdin.json" | sed 's/"flow_id":[0-9]*,//') >/dev/null; then
    pass stdin
else
    fail stdin "reading from standard input differs from reading the file"
fi

# An unsupported link type is named (IEEE 802.11 radiotap: 127).
python3 - "$tmp/radiotap.pcap" <<'PY'
import struct, sys
hdr = struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 127)
pkt = b'\x00' * 30
rec = struct.pack('<IIII', 1, 0, len(pkt), len(pkt))
open(sys.argv[1], 'wb').write(hdr + rec + pkt)
PY
expect unsupported-linktype 1 "link type 127 \(IEEE802_11_RADIO\)" -- "$NETMOON" -r "$tmp/radiotap.pcap"

# -c stops after COUNT packets.
"$NETMOON" -r "$sample" -c 5 --json >"$tmp/c5.json" 2>/dev/null
[ "$(json_field "$tmp/c5.json" packets)" = 5 ] && pass count-limit || fail count-limit "-c 5 read $(json_field "$tmp/c5.json" packets)"

# A closed pipe ends quietly: no error spam, no SIGPIPE death.
big=$(ls -S "$PCAPS"/suricata-verify/*.pcap | head -1)
"$NETMOON" -r "$big" --json 2>"$tmp/pipe.err" | head -1 >/dev/null
rc=${PIPESTATUS[0]}
if [ "$rc" -lt 128 ] && [ ! -s "$tmp/pipe.err" ]; then pass closed-pipe; else fail closed-pipe "exit $rc, stderr: $(head -c 200 "$tmp/pipe.err")"; fi

# --json=PATH writes to the file, appending; an unwritable path is named.
"$NETMOON" -r "$sample" --json="$tmp/o.json" >/dev/null 2>&1
"$NETMOON" -r "$sample" --json="$tmp/o.json" >/dev/null 2>&1
n1=$(flow_lines "$tmp/file.json"); n2=$(flow_lines "$tmp/o.json")
[ "$n2" -eq $((2 * n1)) ] && pass json-path-append || fail json-path-append "$n1 flows per run, file has $n2"
expect json-unwritable 1 "/nonexistent/dir/x.json" -- "$NETMOON" -r "$sample" --json=/nonexistent/dir/x.json

# --stats names the counters.
expect stats 0 "" -- "$NETMOON" -r "$sample" --stats
grep -q 'flow evictions' "$tmp/err" && grep -q 'decode problems' "$tmp/err" && pass stats-text || fail stats-text "$(head -c 300 "$tmp/err")"
# Filters: an invalid expression exits 2 with libpcap's message; a valid one
# gives the same flows as netmoon on the file tcpdump filtered (the oracle).
expect filter-invalid 2 "invalid filter: .*syntax error" -- "$NETMOON" -r "$sample" tcp port
multi=$(ls -S "$PCAPS"/suricata-verify/*.pcap | sed -n 5p)
tcpdump -r "$multi" -w "$tmp/tcpdump-filtered.pcap" 'tcp and not port 80' 2>/dev/null
flows_sorted() { grep '"flow"' "$1" | sed 's/"flow_id":[0-9]*,//' | sort; }
"$NETMOON" -r "$multi" --json 'tcp and not port 80' >"$tmp/f1.json" 2>/dev/null
"$NETMOON" -r "$tmp/tcpdump-filtered.pcap" --json >"$tmp/f2.json" 2>/dev/null
if [ "$(tcpdump -r "$tmp/tcpdump-filtered.pcap" 2>/dev/null | wc -l)" -gt 0 ] && \
   diff <(flows_sorted "$tmp/f1.json") <(flows_sorted "$tmp/f2.json") >/dev/null; then
    pass filter-matches-tcpdump
else
    fail filter-matches-tcpdump "flows differ from netmoon on tcpdump's filtered copy of $(basename "$multi")"
fi
printf '# comment line\ntcp and\n  not port 80 # trailing\n' >"$tmp/filter.txt"
"$NETMOON" -r "$multi" --json -F "$tmp/filter.txt" >"$tmp/f3.json" 2>/dev/null
diff <(flows_sorted "$tmp/f1.json") <(flows_sorted "$tmp/f3.json") >/dev/null && pass filter-file || fail filter-file "-F gives other flows than the same expression inline"
expect filter-file-and-expr 2 "either" -- "$NETMOON" -r "$multi" -F "$tmp/filter.txt" tcp

# Ring tuning: bad values are usage errors; good ones shape the ring.
expect ring-block-not-pow2 2 "--ring-block needs a power of two" -- "$NETMOON" --ring-block 96 -i lo
expect ring-timeout-zero 2 "--ring-timeout needs milliseconds" -- "$NETMOON" --ring-timeout 0 -i lo
if [ "$(id -u)" -eq 0 ]; then
    # 2 workers x (2 MiB / 256 KiB) blocks, as asked for.
    timeout 20 "$NETMOON" -i lo -T 2 -B 2 --ring-block 256 --ring-timeout 10 --duration 0.5 \
        --json >"$tmp/ring.json" 2>"$tmp/ring.err"
    got=$(json_field "$tmp/ring.json" ring_blocks_total)
    if [ "$got" = 16 ]; then pass ring-shape
    else fail ring-shape "ring_blocks_total '$got', want 16: $(head -c 200 "$tmp/ring.err")"; fi
    # -B 1 makes 8 blocks of 128 KiB (it used to fail: 'need at least 2 blocks').
    timeout 20 "$NETMOON" -i lo -T 1 -B 1 --duration 0.5 --json >"$tmp/ring1.json" 2>"$tmp/ring1.err"
    got=$(json_field "$tmp/ring1.json" ring_blocks_total)
    if [ "$got" = 8 ]; then pass ring-small
    else fail ring-small "ring_blocks_total '$got', want 8: $(head -c 200 "$tmp/ring1.err")"; fi
else
    echo "SKIP cli/ring-shape: needs root (a packet socket on lo)"
fi
exit 0
