#!/usr/bin/env bash
# tests/cli/test_pipeline.sh: the pipelined -r path (reader, flow and output
# threads, src/core/offline_pipeline.c; chosen by -T 2 or more CPUs) writes
# exactly the records, stats, messages and exit status of the one-thread
# path (-T 1), only in another order and with other flow_ids.
#
# The one-thread path is checked against tshark by the golden tests; here it
# is the reference for the other, on the lab captures, a spread of the
# shared corpus (fragments, tunnels, damaged files), a cut file, a filter,
# and short timeouts that expire flows in the middle of the file.
set -u
cd "$(dirname "$0")/../.."
NETMOON=${NETMOON:-./netmoon}
PCAPS=${SHARED_PCAPS:-../shared/pcaps}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

pass() { echo "PASS pipeline/$1"; }
fail() { echo "FAIL pipeline/$1: $2"; }

# normalise OUT: records and stats as a sorted list, without what may
# differ (flow_id, output_stalls).
normalise() {
    python3 - "$1" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]):
    o = json.loads(line)
    o.pop("flow_id", None)
    o.pop("output_stalls", None)
    rows.append(json.dumps(o, sort_keys=True))
print("\n".join(sorted(rows)))
PY
}

# same NAME ARGS...: -T 1 and -T 2 agree on stdout records, stderr, status.
same() {
    local name=$1; shift
    "$NETMOON" -T 1 --json "$@" >"$tmp/a.json" 2>"$tmp/a.err" </dev/null; local ra=$?
    "$NETMOON" -T 2 --json "$@" >"$tmp/b.json" 2>"$tmp/b.err" </dev/null; local rb=$?
    if [ "$ra" != "$rb" ]; then fail "$name" "exit $ra with -T 1, $rb with -T 2"; return; fi
    if ! cmp -s "$tmp/a.err" "$tmp/b.err"; then
        fail "$name" "stderr differs: $(diff "$tmp/a.err" "$tmp/b.err" | head -c 300)"; return
    fi
    normalise "$tmp/a.json" >"$tmp/a.n"; normalise "$tmp/b.json" >"$tmp/b.n"
    if ! cmp -s "$tmp/a.n" "$tmp/b.n"; then
        fail "$name" "records differ: $(diff "$tmp/a.n" "$tmp/b.n" | head -c 400)"; return
    fi
    [ -s "$tmp/a.n" ] || { fail "$name" "no output at all"; return; }
    pass "$name"
}

for f in tests/data/lab/*.pcap; do
    same "lab-$(basename "$f" .pcap)" -r "$f" --stats
done

# Every 25th file of the shared corpus (about 60 of them), in name order.
n=0
while IFS= read -r f; do
    n=$((n + 1))
    [ $((n % 25)) -eq 0 ] || continue
    same "shared-$(basename "$f")" -r "$f" --stats
done < <(find "$PCAPS" -type f \( -name '*.pcap' -o -name '*.pcapng' \) | sort)

sample=tests/data/lab/mixed.pcap
size=$(stat -c %s "$sample")
head -c $((size * 2 / 3)) "$sample" >"$tmp/cut.pcap"
same cut-file -r "$tmp/cut.pcap" --stats
same filter -r "$sample" --stats tcp port 80
same bad-filter -r "$sample" 'tcp port'
same short-timeouts -r tests/data/lab/bulk-loss.pcap --idle-timeout 0.05 --active-timeout 0.2
same max-flows -r tests/data/lab/mixed.pcap --max-flows 3 --stats

# A file that is not mapped is streamed through a buffer that moves as it
# is refilled; -T 2 must then keep one thread (decoded packets point into
# that buffer).  Read through a FIFO path, with L7 parsers and labels on,
# records that read moved bytes had wrong or missing L7 fields; a record
# bigger than the buffer's chunk makes it grow (a use after free in the
# sanitizer build).  -T 1 reads the file itself, -T 2 a FIFO of it.
same_fifo() {
    local name=$1 file=$2; shift 2
    "$NETMOON" -T 1 --json -r "$file" "$@" >"$tmp/a.json" 2>"$tmp/a.err" </dev/null; local ra=$?
    "$NETMOON" -T 2 --json -r <(cat "$file") "$@" >"$tmp/b.json" 2>"$tmp/b.err" </dev/null; local rb=$?
    if [ "$ra" != "$rb" ]; then fail "$name" "exit $ra with -T 1, $rb with -T 2 on a FIFO"; return; fi
    normalise "$tmp/a.json" >"$tmp/a.n"; normalise "$tmp/b.json" >"$tmp/b.n"
    if ! cmp -s "$tmp/a.n" "$tmp/b.n"; then
        fail "$name" "records differ: $(diff "$tmp/a.n" "$tmp/b.n" | head -c 400)"; return
    fi
    grep -q '"sni"\|"http_host"\|"dns_qname"' "$tmp/a.json" || { fail "$name" "no L7 field to compare"; return; }
    pass "$name"
}
big=$(find "$PCAPS" -type f -name '*.pcap' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
same_fifo fifo-largest-shared "$big"
python3 - "$tmp/jumbo.pcap" <<'PY'
import struct, sys
# HTTP requests on 40 connections, each followed by a 100,000-byte frame
# (a captured GRO/TSO super-packet: IPv4 total length 0) and a FIN;
# addresses from 198.18.0.0/15.
def frame(port, seq, flags, payload):
    tcp = struct.pack("!HHIIBBHHH", port, 80, seq, 1, 5 << 4, flags, 65535, 0, 0)
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total if total < 65536 else 0, 1, 0, 64, 6, 0,
                     bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2]))
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + tcp + payload
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
    t = 1700000000
    for c in range(40):
        req = b"GET /%d HTTP/1.1\r\nHost: h%d.example\r\n\r\n" % (c, c)
        for fr in (frame(40000 + c, 1, 0x18, req), frame(40000 + c, 1 + len(req), 0x18, b"x" * 100000),
                   frame(40000 + c, 100001 + len(req), 0x11, b"")):
            t += 1
            f.write(struct.pack("<IIII", t, 0, len(fr), len(fr)) + fr)
PY
same_fifo fifo-jumbo "$tmp/jumbo.pcap"
