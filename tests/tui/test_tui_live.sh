#!/usr/bin/env bash
# tests/tui/test_tui_live.sh: the issue's "done when": while real traffic
# flows in a namespace lab (tests/lab/lib.sh: 198.18.0.0/15 only), the view
# of `netmoon -i veth-srv` under tmux shows the connection as
# `addr:port → addr:port (STATE) … bar` within two refreshes (an iperf3
# upload paced at 4 Mb/s), its rate agrees with the kernel's byte counter,
# the header shows drops, evictions and errors, and q quits cleanly; then
# the same upload through --engine ebpf's view (row, rate, the detail
# pane naming the engine, quit).
set -u
cd "$(dirname "$0")/../.."
NETMOON=${NETMOON:-$PWD/netmoon}

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }

if ! command -v tmux >/dev/null; then skip tui_live "tmux not installed"; exit 0; fi
# shellcheck source=tests/lab/lib.sh
. tests/lab/lib.sh
if ! lab_require 2>/dev/null; then skip tui_live "needs root and the lab tools"; exit 0; fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:log_path=/tmp/nm-tui-live-$$.asan"

SOCK=nm-tui-live-$$
# shellcheck source=tests/tui/tmux_lib.sh
. tests/tui/tmux_lib.sh
lab_up || { fail tui_live "lab_up failed"; exit 0; }
trap 'T kill-server >/dev/null 2>&1; lab_down' EXIT
lab_iperf3 || { fail tui_live "iperf3 did not start"; exit 0; }

tmux_shell_start 150 40
T send-keys "ip netns exec $LAB_NS_SRV $NETMOON -i $LAB_SRV_DEV -T 2; echo NM_EXIT=\$?" Enter
if ! wait_for "interface $LAB_SRV_DEV" 10; then
    fail tui_live_view_opens "$(screen | head -3 | tr '\n' '|')"
    exit 0
fi
# The view opens before the capture sockets are bound (much later in the
# sanitizer build, which also allocates the flow table under ASan); the
# handshakes must be seen for the row's state, so let capture start first.
sleep 1
# A paced upload (iperf3 -b: steady 4 Mb/s) keeps a connection established.
lab_bg "$LAB_NS_CLI" iperf3 -c "$LAB_SRV4" -p 5201 -b 4M -t 30 --logfile "$LAB_TMP/iperf3-c.log"
start=$SECONDS
row='^198\.18\.0\.1:[0-9]+ → 198\.18\.0\.2:5201 \(ESTABLISHED\) +[0-9.]+ [kM]?B [█░]{10} +[0-9.]+ [kM]?b/s +[0-9.]+ [kM]?b/s'
if wait_for "$row" 3; then
    pass tui_live_row_within_two_refreshes
else
    fail tui_live_row_within_two_refreshes "after $((SECONDS - start)) s: $(screen | sed -n 1,6p | tr '\n' '|')"
fi
hdr=$(screen | sed -n 2p)
if [[ $hdr == *"kernel drops "* && $hdr == *"evictions "* && $hdr == *"decode errors "* \
        && $hdr =~ active\ flows\ [1-9] ]]; then
    pass tui_live_header
else
    fail tui_live_header "$hdr"
fi
# Oracle for rate↑: the kernel's received-byte counter of the server's veth
# (the upload is nearly all its traffic) over 4 s, against the view's 2 s
# average; within a factor of 2.
rxb() { ip -n "$LAB_NS_SRV" -s -j link show "$LAB_SRV_DEV" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["bytes"])'; }
# check_rate NAME ROW: the first rate (↑) of the row matching ROW within a
# factor of 2 of the kernel's count over 4 s.
check_rate() {
    local b0 b1 kernel_bps rate bps
    b0=$(rxb); sleep 4; b1=$(rxb)
    kernel_bps=$(( (b1 - b0) * 8 / 4 ))
    # The data connection is the busiest one (iperf3 also has a control one).
    rate=$(screen | grep -E "$2" | head -1 | grep -oE '[0-9.]+ [kM]?b/s' | sed -n 1p)
    if [[ $rate =~ ^([0-9.]+)\ ([kM]?)b/s$ ]]; then
        bps=$(awk -v v="${BASH_REMATCH[1]}" -v u="${BASH_REMATCH[2]}" \
              'BEGIN { m = u == "M" ? 1e6 : (u == "k" ? 1e3 : 1); print int(v * m) }')
        if [ "$bps" -gt $((kernel_bps / 2)) ] && [ "$bps" -lt $((kernel_bps * 2)) ]; then pass "$1"
        else fail "$1" "rate↑ $rate, the kernel counted $kernel_bps b/s"; fi
    else
        fail "$1" "no rate in row: $(screen | sed -n 3,6p | tr "\n" "|")"
    fi
}
check_rate tui_live_rate "$row"
# The keys on live traffic: sort by total, filter, the detail pane.
T send-keys s
if wait_for 'sort: total' 3; then pass tui_live_sort_key; else fail tui_live_sort_key "$(screen | head -1)"; fi
T send-keys / ; T send-keys 5201 ; T send-keys Enter
sleep 1.5
nrows=$(screen | sed -n '4,$p' | grep -cE '→')
other=$(screen | sed -n '4,$p' | grep -E '→' | grep -vc ':5201')
if [ "$nrows" -ge 1 ] && [ "$other" = 0 ]; then pass tui_live_filter
else fail tui_live_filter "$nrows rows, $other without :5201: $(screen | sed -n 4,8p | tr '\n' '|')"; fi
T send-keys Home ; T send-keys Enter
if wait_for 'Flow details' 3 && screen | grep -q 'RTT handshake' && screen | grep -q '198.18.0.2'; then
    pass tui_live_detail
else
    fail tui_live_detail "$(screen | sed -n 1,12p | tr '\n' '|')"
fi
T send-keys Escape
tmux_quit tui_live_quit 10 "/tmp/nm-tui-live-$$.asan"

# The same view fed by --engine ebpf (the kernel counts, the view reads its
# flow map each refresh): the upload, still running and picked up
# mid-stream, shows as a row within two refreshes with a rate the kernel's
# byte counter agrees with, and q quits cleanly.
if ! "$NETMOON" --version | grep -q 'eBPF capture engine: built in'; then
    skip tui_live_ebpf "netmoon was built without libbpf"
    exit 0
fi
T send-keys "clear; ip netns exec $LAB_NS_SRV $NETMOON --engine ebpf -i $LAB_SRV_DEV; echo NM_EXIT=\$?" Enter
erow='^198\.18\.0\.1:[0-9]+ → 198\.18\.0\.2:5201 \([A-Z_]+\) +[0-9.]+ [kM]?B [█░]{10} +[0-9.]+ [kM]?b/s'
if wait_for "$erow" 4; then pass tui_live_ebpf_row
else fail tui_live_ebpf_row "$(screen | sed -n 1,6p | tr '\n' '|')"; fi
check_rate tui_live_ebpf_rate "$erow"
# Its detail pane names the engine, not a worker, and says why there is no
# label (no payload reaches netmoon), instead of the default engine's words.
T send-keys Home ; T send-keys Enter
if wait_for 'Flow details' 3 && screen | grep -q 'flow_id .*(eBPF engine)' \
        && screen | grep -q 'app .*eBPF engine' && ! screen | grep -qE 'worker [0-9]|--no-l7'; then
    pass tui_live_ebpf_detail
else
    fail tui_live_ebpf_detail "$(screen | sed -n 1,12p | tr '\n' '|')"
fi
T send-keys Escape
tmux_quit tui_live_ebpf_quit 10 "/tmp/nm-tui-live-$$.asan"
