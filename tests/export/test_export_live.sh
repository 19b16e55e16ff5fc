#!/usr/bin/env bash
# tests/export/test_export_live.sh: --prometheus and -w on live traffic in
# the namespace lab (tests/lab/lib.sh; addresses only 198.18.0.0/15 and
# 2001:db8::/32, nothing leaves the namespaces, lab_down on every exit).
#
# netmoon (-T 2) and tcpdump capture the server veth inside the server
# namespace while the client fetches from nginx with curl.  Oracles:
# tcpdump's capture (read by tshark) and promtool.
#
#   export/live-prom-promtool    /metrics passes `promtool check metrics`
#   export/live-prom-counts      netmoon_packets_total grows by at least the
#                                packets tcpdump saw during the traffic
#   export/live-prom-post        POST: 405; huge request: 431; an idle client
#                                gets 408 and does not stall other scrapes
#   export/live-w-sigint         -w after SIGINT: exit 0, tshark reads it
#                                without complaint, and it holds the frames
#                                tcpdump captured (same count and lengths,
#                                times within 5 ms), pcap_dropped 0
set -u
cd "$(dirname "$0")/../.."
root=$PWD
NETMOON=${NETMOON:-$root/netmoon}
case $NETMOON in /*) ;; *) NETMOON=$root/$NETMOON ;; esac

pass() { echo "PASS export/$1"; }
fail() { echo "FAIL export/$1: $2"; }
skip() { echo "SKIP export/$1: $2"; }
ALL=(live-prom-promtool live-prom-counts live-prom-post live-w-sigint)
skip_all() { local c; for c in "${ALL[@]}"; do skip "$c" "$1"; done; exit 0; }

[ "$(id -u)" -eq 0 ] || skip_all "needs root (network namespaces, packet sockets)"
ip netns list >/dev/null 2>&1 || skip_all "\`ip netns\` is not available"
for t in tcpdump tshark curl promtool python3 nginx; do
    command -v "$t" >/dev/null 2>&1 || skip_all "missing $t (scripts/install-deps.sh)"
done

# shellcheck source=tests/lab/lib.sh
source "$root/tests/lab/lib.sh"
lab_up >/dev/null || { fail live-prom-promtool "the namespace lab did not come up"; exit 1; }
T=$LAB_TMP
lab_nginx && lab_no_offload || { fail live-prom-promtool "nginx did not start"; exit 1; }
DEV=$LAB_SRV_DEV
PORT=9464
M=http://127.0.0.1:$PORT/metrics

lab_bg "$LAB_NS_SRV" tcpdump -n -i "$DEV" -s 0 -B 32768 -U --immediate-mode -Z root \
    -w "$T/ref.pcap" tcp port 80 2>"$T/tcpdump.log"
TD=$LAB_BG_PID
lab_bg "$LAB_NS_SRV" "$NETMOON" -i "$DEV" -T 2 --no-tui --json="$T/flows.jsonl" \
    --prometheus "127.0.0.1:$PORT" -w "$T/live.pcap" tcp port 80 2>"$T/nm.err" </dev/null
NM=$LAB_BG_PID
lab_wait_until 10 grep -q 'listening on' "$T/tcpdump.log" &&
    lab_wait_until 20 grep -q 'capturing on' "$T/nm.err" ||
    { fail live-prom-promtool "capture did not start: $(head -c 300 "$T/nm.err")"; exit 1; }

metric() { lab_srv curl -s --max-time 5 "$M" | awk -v n="$1" '$1 == n {print $2}'; }
before=$(metric netmoon_packets_total)

for i in 1 2 3; do
    lab_cli curl -sS -o /dev/null --max-time 20 "http://$LAB_SRV4/1m.bin" || lab_log "curl $i failed"
done
lab_cli curl -sS -o /dev/null --max-time 20 "http://[$LAB_SRV6]/small.txt" || lab_log "curl v6 failed"

# tcpdump's count so far: SIGUSR2 is not portable; stop it once netmoon's
# counter stops moving, then compare with the last scrape.
sleep 0.5
lab_stop_pid "$TD"
seen=$(tshark -r "$T/ref.pcap" 2>/dev/null | wc -l)
ok=1
lab_wait_until 5 bash -c "[ \"\$(ip netns exec $LAB_NS_SRV curl -s --max-time 2 $M | awk '\$1 == \"netmoon_packets_total\" {print \$2}')\" -ge $((${before:-0} + seen)) ]" || ok=0
lab_srv curl -s --max-time 5 "$M" >"$T/metrics.txt"
after=$(awk '$1 == "netmoon_packets_total" {print $2}' "$T/metrics.txt")
if [ "$seen" -gt 100 ] && [ "$ok" = 1 ]; then pass live-prom-counts
else fail live-prom-counts "tcpdump saw $seen packets; netmoon_packets_total went from '$before' to '$after'"; fi

if [ -s "$T/metrics.txt" ] && promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1; then
    pass live-prom-promtool
else fail live-prom-promtool "$(head -c 300 "$T/promtool.out")"; fi

# Bad requests: bounded answers, and an idle client does not block a scrape.
codes=$(lab_srv python3 - "$PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
def first_line(data):
    return data.split(b"\r\n")[0].decode(errors="replace")
idle = socket.create_connection(("127.0.0.1", port))
idle.sendall(b"GET /met")                      # and then nothing
s = socket.create_connection(("127.0.0.1", port)); s.settimeout(3)
s.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
print("post", first_line(s.recv(200)))
s = socket.create_connection(("127.0.0.1", port)); s.settimeout(3)
try:
    s.sendall(b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 100000)
except OSError:
    pass
print("huge", first_line(s.recv(200)))
t = time.monotonic()
s = socket.create_connection(("127.0.0.1", port)); s.settimeout(3)
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
print("scrape-during-idle", first_line(s.recv(200)), "fast" if time.monotonic() - t < 2 else "slow")
idle.settimeout(10)
print("idle", first_line(idle.recv(200)))
PY
)
if echo "$codes" | grep -q '^post HTTP/1.1 405' && echo "$codes" | grep -q '^huge HTTP/1.1 431' &&
   echo "$codes" | grep -q '^scrape-during-idle HTTP/1.1 200 OK fast' && echo "$codes" | grep -q '^idle HTTP/1.1 408'; then
    pass live-prom-post
else fail live-prom-post "$(echo $codes)"; fi

# SIGINT, then the -w file against tcpdump's capture.
kill -INT "$NM"
lab_wait_until 15 bash -c "! kill -0 $NM 2>/dev/null || grep -q '^State:.*zombie' /proc/$NM/status"
wait "$NM" 2>/dev/null; rc=$?
frames() { tshark -r "$1" -T fields -e frame.time_epoch -e frame.len -e frame.cap_len 2>&1 >"$T/frames.tmp" | grep -v '^Running as user' >"$T/tshark.err"; sort "$T/frames.tmp"; }
frames "$T/ref.pcap" >"$T/ref.txt"
if frames "$T/live.pcap" >"$T/live.txt" && [ ! -s "$T/tshark.err" ]; then readable=1; else readable=0; fi
dropped=$(grep -o '"pcap_dropped":[0-9]*' "$T/flows.jsonl" | tail -1 | cut -d: -f2)
# Each packet socket stamps its own copy of a packet (the clock is read
# per socket), so tcpdump's and netmoon's times differ by microseconds:
# frames are compared by count and lengths, and times within 5 ms, in time
# order.
cmp_out=$(python3 - "$T/ref.txt" "$T/live.txt" <<'PY'
import sys
ref = [l.split() for l in open(sys.argv[1])]
got = [l.split() for l in open(sys.argv[2])]
if len(ref) != len(got):
    print("count", len(ref), "vs", len(got)); sys.exit()
if sorted(r[1:] for r in ref) != sorted(g[1:] for g in got):
    print("lengths differ"); sys.exit()
far = sum(1 for r, g in zip(ref, got) if abs(float(r[0]) - float(g[0])) > 0.005)
print("ok" if far == 0 else "%d frames more than 5 ms apart" % far)
PY
)
if [ "$rc" = 0 ] && [ "$readable" = 1 ] && [ "${dropped:-x}" = 0 ] &&
   [ "$(wc -l <"$T/ref.txt")" -gt 100 ] && [ "$cmp_out" = ok ]; then
    pass live-w-sigint
else
    fail live-w-sigint "exit $rc, readable $readable, $(wc -l <"$T/ref.txt") frames from tcpdump, $(wc -l <"$T/live.txt") in -w: $cmp_out; pcap_dropped '$dropped': $(head -c 200 "$T/tshark.err")"
fi
# EXPORT_KEEP=DIR keeps the captures and logs for debugging.
[ -n "${EXPORT_KEEP:-}" ] && mkdir -p "$EXPORT_KEEP" && cp -r "$T"/. "$EXPORT_KEEP"/
lab_down
