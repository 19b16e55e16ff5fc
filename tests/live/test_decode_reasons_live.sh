#!/usr/bin/env bash
# tests/live/test_decode_reasons_live.sh: malformed IP frames on a real veth
# are counted under the same named reasons by both capture engines (the
# default AF_PACKET ring with src/decode, and --engine ebpf, whose program
# repeats src/decode/ipv4.c's and ipv6.c's checks), and the good frames
# sent beside them are accounted.
#
# A raw AF_PACKET socket in the client namespace sends, in a shuffled order
# and random numbers of each (1-6):
#   total-len   IPv4, IHL 5, total length 12: below its own header
#   ihl-low     IPv4, IHL 4
#   ihl-beyond  IPv4, IHL 15 (60 bytes) in a 46-byte IPv4 part
#   v6-short    IPv6, a frame that ends 30 bytes into the header
#   good        a correct IPv4 UDP datagram (one flow)
# Both engines run at once on the server end; tcpdump captures the client
# end.  The oracle is tshark's reading of that capture, not the counts the
# script chose: its expert messages name each damage ("Bogus IP length",
# "Bogus IP header length", "IPv4 total length exceeds packet length",
# a malformed IPv6 header), so
#   decode-live/ENGINE/ipv4_bad_total_len  == frames tshark calls "Bogus IP length"
#   decode-live/ENGINE/ipv4_bad_ihl        == "Bogus IP header length" + IPv4
#                                             headers past the frame
#   decode-live/ENGINE/ipv6_truncated      == malformed IPv6 headers
#   decode-live/ENGINE/good-accounted      the UDP flow's packets == tshark's
#                                          good frames
# ENGINE is afpacket or ebpf; a netmoon built without the eBPF engine SKIPs
# its checks.  Addresses only from 198.18.0.0/15 and 2001:db8::/32 (the
# lab's); the lab's trap deletes the namespaces on every exit.
set -u
cd "$(dirname "$0")/../.."
root=$PWD
NETMOON=${NETMOON:-$root/netmoon}
case $NETMOON in /*) ;; *) NETMOON=$root/$NETMOON ;; esac
ENGINES=(afpacket ebpf)
CHECKS=(ipv4_bad_total_len ipv4_bad_ihl ipv6_truncated good-accounted)

pass() { echo "PASS decode-live/$1"; }
fail() { echo "FAIL decode-live/$1: $2"; }
skip() { echo "SKIP decode-live/$1: $2"; }
fail_all() {
    local e c
    for e in "${ENGINES[@]}"; do for c in "${CHECKS[@]}"; do fail "$e/$c" "$1"; done; done
    exit 1
}

if [ "$(id -u)" -ne 0 ]; then
    for e in "${ENGINES[@]}"; do for c in "${CHECKS[@]}"; do skip "$e/$c" "needs root"; done; done
    exit 0
fi
for t in tcpdump tshark python3; do
    command -v "$t" >/dev/null || fail_all "$t is not installed (scripts/install-deps.sh)"
done
[ -x "$NETMOON" ] || fail_all "$NETMOON is missing: run make"
# shellcheck source=../lab/lib.sh
. "$root/tests/lab/lib.sh"
lab_up || fail_all "the namespace lab did not come up"
T=$LAB_TMP
chmod 755 "$T"

have_ebpf=1
"$NETMOON" --version 2>&1 | grep -q "eBPF capture engine: built in" || have_ebpf=0

declare -A NM_PID
start_engine() {
    local e=$1
    lab_bg "$LAB_NS_SRV" "$NETMOON" --engine "$e" -i "$LAB_SRV_DEV" --no-l7 --stats \
        --json="$T/$e.json" 2>"$T/$e.err"
    NM_PID[$e]=$LAB_BG_PID
}
for e in "${ENGINES[@]}"; do
    [ "$e" = ebpf ] && [ "$have_ebpf" = 0 ] && continue
    start_engine "$e"
done
# Ready: each engine says "capturing on" once its socket is bound.
ready() {
    grep -q "capturing on" "$T/afpacket.err" 2>/dev/null || return 1
    [ "$have_ebpf" = 0 ] && return 0
    grep -q "capturing on" "$T/ebpf.err" 2>/dev/null
}
lab_capture_start "$T/cap.pcap" || fail_all "tcpdump did not start"
lab_wait_until 10 ready || fail_all "netmoon did not start: $(head -c 300 "$T"/*.err)"

lab_cli python3 - "$LAB_CLI_DEV" "$LAB_CLI4" "$LAB_SRV4" <<'PY' || fail_all "the raw sender failed"
import random, socket, struct, sys, time

dev, src, dst = sys.argv[1:4]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
eth = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01"

def csum(b):
    if len(b) % 2:
        b += b"\0"
    n = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while n >> 16:
        n = (n & 0xffff) + (n >> 16)
    return ~n & 0xffff

def ipv4(total, ihl=5):
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 1, 0, 64, 17, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:]

udp = struct.pack("!HHHH", 40001, 9, 12, 0) + b"test"
frames = {
    "total-len": eth + b"\x08\x00" + ipv4(12) + udp,
    "ihl-low": eth + b"\x08\x00" + ipv4(32, ihl=4) + udp,
    "ihl-beyond": (eth + b"\x08\x00" + ipv4(80, ihl=15) + udp).ljust(60, b"\0"),
    "v6-short": eth + b"\x86\xdd" + bytes([0x60]) + bytes(29),
    "good": eth + b"\x08\x00" + ipv4(32) + udp,
}
sends = [k for k in frames for _ in range(random.randint(1, 6))]
random.shuffle(sends)
for k in sends:
    s.send(frames[k])
    time.sleep(0.002)
PY
sleep 0.5
for e in "${!NM_PID[@]}"; do kill -INT "${NM_PID[$e]}" 2>/dev/null; done
for e in "${!NM_PID[@]}"; do
    lab_wait_until 15 bash -c "! kill -0 ${NM_PID[$e]} 2>/dev/null" \
        || lab_log "$e: netmoon still running 15 s after SIGINT"
done
lab_capture_stop || fail_all "the capture is incomplete"

# tshark's verdict per frame of ours (the sender's MAC), one word each.
tshark -r "$T/cap.pcap" -Y "eth.src == 02:00:00:00:00:01" -T fields \
    -e _ws.expert.message -e _ws.malformed -e ip.proto -e ipv6.version -e udp.srcport \
    2>/dev/null | python3 -c '
import sys
for line in sys.stdin:
    msg = line.rstrip("\n")
    if "Bogus IP header length" in msg:
        print("ipv4_bad_ihl")
    elif "IPv4 total length exceeds packet length" in msg and "Malformed" in msg:
        print("ipv4_bad_ihl")       # the header itself runs past the frame
    elif "Bogus IP length" in msg:
        print("ipv4_bad_total_len")
    elif "Malformed" in msg and "IPv6" in msg:
        print("ipv6_truncated")
    elif msg.split("\t")[-1] == "40001":
        print("good")
    else:
        print("unknown " + msg)
' | sort | uniq -c >"$T/tshark.counts"
lab_log "tshark: $(paste -sd, "$T/tshark.counts")"
oracle() { awk -v k="$1" '$2 == k { print $1 }' "$T/tshark.counts"; }
if grep -q unknown "$T/tshark.counts"; then
    fail_all "tshark read a frame as none of the kinds sent: $(grep unknown "$T/tshark.counts")"
fi

for e in "${ENGINES[@]}"; do
    if [ "$e" = ebpf ] && [ "$have_ebpf" = 0 ]; then
        for c in "${CHECKS[@]}"; do skip "$e/$c" "netmoon was built without libbpf"; done
        continue
    fi
    if ! grep -q "^  decode problems:" "$T/$e.err"; then
        for c in "${CHECKS[@]}"; do fail "$e/$c" "no --stats at exit: $(tail -c 300 "$T/$e.err")"; done
        continue
    fi
    for c in ipv4_bad_total_len ipv4_bad_ihl ipv6_truncated; do
        want=$(oracle "$c"); want=${want:-0}
        got=$(awk -v k="$c" '$1 == k { print $2 }' "$T/$e.err"); got=${got:-0}
        if [ "$want" = 0 ]; then
            fail "$e/$c" "tshark saw none of these frames: the test sent nothing it could check"
        elif [ "$got" = "$want" ]; then
            pass "$e/$c"
        else
            fail "$e/$c" "netmoon counted $got, tshark saw $want such frames"
        fi
    done
    want=$(oracle good); want=${want:-0}
    got=$(python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("type") == "flow" and 40001 in (r.get("src_port"), r.get("dst_port")):
        n += r["src_pkts"] + r["dst_pkts"]
print(n)' "$T/$e.json" 2>&1)
    if [ "$want" != 0 ] && [ "$got" = "$want" ]; then
        pass "$e/good-accounted"
    else
        fail "$e/good-accounted" "the UDP flow has $got packets in the records, tshark saw $want"
    fi
done
