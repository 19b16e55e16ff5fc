#!/usr/bin/env bash
# tests/tui/test_tui_procs.sh: process attribution in the view, under tmux,
# in the namespace lab (tests/lab/lib.sh: 198.18.0.0/15 only).  netmoon
# watches the client veth from inside the client namespace while the test
# runs a rate-limited curl download there; the oracle is the pid the test
# got from `$!` (ip netns exec execs curl) and the arguments it gave curl.
#
#   tui_procs_column    the download's row shows PROCESS curl/PID
#   tui_procs_header    the header counts unattributed local flows
#   tui_procs_detail    Enter: "process curl (pid PID)" and the cmdline
#   tui_procs_group     g: one row per process, curl/PID with its flow;
#                       g again: the connection rows are back
#   tui_procs_quit      q exits 0 and restores the terminal
set -u
cd "$(dirname "$0")/../.."
NETMOON=${NETMOON:-$PWD/netmoon}

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }
ALL=(tui_procs_column tui_procs_header tui_procs_detail tui_procs_group tui_procs_quit)
skip_all() { local c; for c in "${ALL[@]}"; do skip "$c" "$1"; done; exit 0; }

command -v tmux >/dev/null || skip_all "tmux not installed"
command -v curl >/dev/null || skip_all "curl not installed"
# shellcheck source=tests/lab/lib.sh
. tests/lab/lib.sh
lab_require 2>/dev/null || skip_all "needs root and the lab tools"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:log_path=/tmp/nm-tui-procs-$$.asan"

SOCK=nm-tui-procs-$$
# shellcheck source=tests/tui/tmux_lib.sh
. tests/tui/tmux_lib.sh
LAB_BULK_BYTES=$((4 * 1024 * 1024))
lab_up >/dev/null 2>&1 || skip_all "lab did not come up"
trap 'T kill-server >/dev/null 2>&1; lab_down' EXIT
lab_nginx 2>/dev/null || skip_all "nginx did not start"

tmux_shell_start 160 40
T send-keys "ip netns exec $LAB_NS_CLI $NETMOON -i $LAB_CLI_DEV -T 1; echo NM_EXIT=\$?" Enter
wait_for "interface $LAB_CLI_DEV" 10 || { fail tui_procs_column "view did not open: $(screen | head -3 | tr '\n' '|')"; exit 0; }
sleep 1    # capture sockets bound after the view opens (see test_tui_live.sh)

lab_bg "$LAB_NS_CLI" curl -s -o /dev/null --limit-rate 250k "http://$LAB_SRV4/bulk.bin"
pid=$LAB_BG_PID
row="^198\.18\.0\.1:[0-9]+ → 198\.18\.0\.2:80 .* curl/$pid "
if wait_for "$row" 5; then pass tui_procs_column
else fail tui_procs_column "no row with curl/$pid: $(screen | sed -n 3,6p | tr '\n' '|')"; fi
if screen | sed -n 2p | grep -qE 'unattributed [0-9]+ \([0-9]+ % of [0-9]+ local\)'; then
    pass tui_procs_header
else
    fail tui_procs_header "$(screen | sed -n 2p)"
fi

T send-keys / ; T send-keys ":80 " ; T send-keys Enter
sleep 1.2
T send-keys Home ; T send-keys Enter
if wait_for "process +curl \(pid $pid\)" 3 && screen | grep -qE "cmdline +curl -s -o /dev/null --limit-rate 250k http://$LAB_SRV4/bulk.bin"; then
    pass tui_procs_detail
else
    fail tui_procs_detail "$(screen | grep -E 'process|cmdline' | tr '\n' '|')"
fi
T send-keys Escape

T send-keys g
if wait_for '^PROCESS/PID +FLOWS +TOTAL' 3 && wait_for "^curl/$pid +[1-9][0-9]* +[0-9.]+ [kM]?B " 3; then
    T send-keys g
    if wait_for "$row" 3; then pass tui_procs_group
    else fail tui_procs_group "g again did not bring rows back: $(screen | sed -n 3,5p | tr '\n' '|')"; fi
else
    fail tui_procs_group "$(screen | sed -n 3,6p | tr '\n' '|')"
fi

tmux_quit tui_procs_quit 15 "/tmp/nm-tui-procs-$$.asan"
