#!/usr/bin/env bash
# tests/export/test_json_reopen.sh: --json=PATH appends and reopens on
# SIGHUP (logrotate's "move, then signal"), live in the namespace lab
# (tests/lab/lib.sh; addresses only 198.18.0.0/15 and 2001:db8::/32).
#
# The client makes N HTTP connections, the file is renamed, netmoon gets
# SIGHUP, the client makes M more.  Oracle: curl's own connection count
# (one TCP flow to port 80 each).  Once netmoon has written the first N
# flows (polled on its /metrics), the rename and SIGHUP follow.
#
#   export/json-append      an existing file is appended to, not truncated
#   export/json-reopen      the renamed file holds exactly the N first flows,
#                           the new file the M later ones; every line of
#                           both is one whole JSON object
set -u
cd "$(dirname "$0")/../.."
root=$PWD
NETMOON=${NETMOON:-$root/netmoon}
case $NETMOON in /*) ;; *) NETMOON=$root/$NETMOON ;; esac

pass() { echo "PASS export/$1"; }
fail() { echo "FAIL export/$1: $2"; }
skip() { echo "SKIP export/$1: $2"; }

[ "$(id -u)" -eq 0 ] || { skip json-reopen "needs root (network namespaces)"; exit 0; }
for t in curl python3 nginx; do
    command -v "$t" >/dev/null 2>&1 || { skip json-reopen "missing $t"; exit 0; }
done
# shellcheck source=tests/lab/lib.sh
source "$root/tests/lab/lib.sh"
lab_up >/dev/null || { fail json-reopen "the namespace lab did not come up"; exit 1; }
T=$LAB_TMP
lab_nginx || { fail json-reopen "nginx did not start"; exit 1; }
PORT=9465
N=4; M=3
echo '{"type":"marker"}' >"$T/flows.jsonl"

lab_bg "$LAB_NS_SRV" "$NETMOON" -i "$LAB_SRV_DEV" -T 1 --no-tui --idle-timeout 1 \
    --json="$T/flows.jsonl" --prometheus "127.0.0.1:$PORT" tcp port 80 2>"$T/nm.err" </dev/null
NM=$LAB_BG_PID
lab_wait_until 20 grep -q 'capturing on' "$T/nm.err" || { fail json-reopen "netmoon did not start: $(head -c 300 "$T/nm.err")"; exit 1; }

tcp_flows() {
    lab_srv curl -s --max-time 2 "http://127.0.0.1:$PORT/metrics" |
        awk '$1 == "netmoon_protocol_flows_total{proto=\"tcp\"}" {print $2}'
}
requests() { local i; for i in $(seq "$1"); do lab_cli curl -sS -o /dev/null --max-time 10 "http://$LAB_SRV4/small.txt"; done; }

requests $N
lab_wait_until 15 bash -c "[ \"\$(ip netns exec $LAB_NS_SRV curl -s --max-time 2 http://127.0.0.1:$PORT/metrics | awk '\$1 == \"netmoon_protocol_flows_total{proto=\\\"tcp\\\"}\" {print \$2}')\" -ge $N ]" \
    || lab_log "the first flows were not written in time ($(tcp_flows))"
mv "$T/flows.jsonl" "$T/flows.jsonl.1"
kill -HUP "$NM"
lab_wait_until 5 test -e "$T/flows.jsonl" || lab_log "no new file after SIGHUP"
requests $M
lab_wait_until 15 bash -c "[ \"\$(ip netns exec $LAB_NS_SRV curl -s --max-time 2 http://127.0.0.1:$PORT/metrics | awk '\$1 == \"netmoon_protocol_flows_total{proto=\\\"tcp\\\"}\" {print \$2}')\" -ge $((N + M)) ]" \
    || lab_log "the later flows were not written in time ($(tcp_flows))"
kill -INT "$NM"
lab_wait_until 15 bash -c "! kill -0 $NM 2>/dev/null || grep -q '^State:.*zombie' /proc/$NM/status"
wait "$NM" 2>/dev/null; rc=$?

# count FILE: "flows-to-port-80 bad-lines"; bad = a line that is not one JSON object.
count() {
    python3 - "$1" <<'PY'
import json, sys
flows = bad = 0
for line in open(sys.argv[1], "rb"):
    try:
        o = json.loads(line)
    except ValueError:
        bad += 1; continue
    if o.get("type") == "flow" and o.get("dst_port") == 80:
        flows += 1
print(flows, bad)
PY
}
if head -1 "$T/flows.jsonl.1" | grep -q marker; then pass json-append
else fail json-append "the file's first line was replaced: $(head -c 100 "$T/flows.jsonl.1")"; fi
old=$(count "$T/flows.jsonl.1"); new=$(count "$T/flows.jsonl" 2>/dev/null || echo "missing")
if [ "$rc" = 0 ] && [ "$old" = "$N 0" ] && [ "$new" = "$M 0" ]; then pass json-reopen
else fail json-reopen "exit $rc; renamed file (flows, bad lines): $old, want $N 0; new file: $new, want $M 0; $(grep -v 'capturing on' "$T/nm.err" | head -c 200)"; fi
lab_down
