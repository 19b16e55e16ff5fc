#!/usr/bin/env bash
# tests/live/test_procs.sh: process attribution (src/procs/) in the
# namespace lab (tests/lab/lib.sh): netmoon captures on the client veth
# inside the client namespace while the test starts short-lived curl and dig
# processes, IPv6 curls, Python clients on an AF_INET6 socket connected to
# the IPv4-mapped ::ffff:198.18.0.2, curls refused by a closed port, and one
# long rate-limited download.  It runs twice: as netmoon starts by default
# (with the eBPF owner source when the kernel lets it load, procs_source
# "bpf" in the stats), and with --no-procs-bpf (sock_diag and /proc only).
#
# The oracle is what the test started: each client's pid ($! of `ip netns
# exec`, which execs the client), its program name, the server address and
# port it was sent to, and the local port the client itself reported (curl
# -w %{local_port}, dig -b ADDR#PORT, Python's getsockname()).  Nothing
# expected is taken from netmoon's output.
#
#   procs/bpf-loaded    the eBPF source is in use (procs_source "bpf") when
#                       tests/tools/bpf-expected.sh says it must load here
#                       (root, the kernel's BTF has the 6.3 tracepoint, a
#                       build with it): decided without netmoon's word, so a
#                       load failure fails instead of lowering the bars below
#   procs/short-lived   at least PROCS_MIN_PCT % of the curl and dig flows
#                       carry the right pid and process: by default 90 %
#                       (issue 10's goal) when the eBPF source is expected,
#                       50 % when not (the scanners alone get
#                       70-97.5 % on a loaded 2-CPU machine, so there the
#                       gate is a regression floor); the share, the bar and
#                       the source are printed
#   procs/never-wrong   no client's flow names another process (a miss is
#                       timing; a wrong owner would be a matching bug)
#   procs/ipv6          curl -6 flows: matched (at least one right, none
#                       wrong; the counts are printed)
#   procs/mapped        AF_INET6 sockets on ::ffff:198.18.0.2 match their
#                       IPv4 flows (none wrong; all right with eBPF, at
#                       least one without)
#   procs/refused       curls (with --local-port) and Python clients (port
#                       chosen by the kernel) refused by a closed port (SYN
#                       answered by RST, no data ever sent) are attributed (none wrong; all
#                       right with eBPF, which records the connect() caller;
#                       the scanners may miss them, so without eBPF only the
#                       counts are printed)
#   procs/long          the long download is attributed
#   procs/stats         the JSON stats record and --stats report the
#                       attributed and unattributed counts and the same
#                       owner source (procs_source)
#   procs/fallback      --no-procs-bpf: procs_source "sock_diag", and the
#                       short-lived, never-wrong and mapped checks above
#                       with the scanners' 50 % floor (PROCS_N_FALLBACK
#                       rounds, default 10)
#   procs/no-procs      --no-procs: no pid/process fields, no attribution stats
#   procs/offline       -r: no pid/process fields
set -u
cd "$(dirname "$0")/../.."
root=$PWD
NETMOON=${NETMOON:-$root/netmoon}
case $NETMOON in /*) ;; *) NETMOON=$root/$NETMOON ;; esac
N_SHORT=${PROCS_N_SHORT:-20}
N_FALLBACK=${PROCS_N_FALLBACK:-10}
N_SMALL=5

pass() { echo "PASS procs/$1"; }
fail() { echo "FAIL procs/$1: $2"; }
skip() { echo "SKIP procs/$1: $2"; }
ALL=(bpf-loaded short-lived never-wrong ipv6 mapped refused long stats fallback no-procs offline)
skip_all() { local c; for c in "${ALL[@]}"; do skip "$c" "$1"; done; exit 0; }

[ "$(id -u)" -eq 0 ] || skip_all "needs root (network namespaces, packet sockets)"
ip netns list >/dev/null 2>&1 || skip_all "\`ip netns\` is not available"
for t in curl dig nginx dnsmasq python3 ss openssl ethtool nft iperf3; do
    command -v "$t" >/dev/null 2>&1 || skip_all "missing $t (scripts/install-deps.sh)"
done
[ -x "$NETMOON" ] || { fail short-lived "no netmoon binary at $NETMOON (make)"; exit 1; }

# shellcheck source=tests/lab/lib.sh
source "$root/tests/lab/lib.sh"
LAB_BULK_BYTES=$((3 * 1024 * 1024))
lab_up >/dev/null 2>&1 || skip_all "lab did not come up"
lab_nginx 2>/dev/null || skip_all "nginx did not start"
lab_dnsmasq 2>/dev/null || skip_all "dnsmasq did not start"
T=$LAB_TMP
# PROCS_KEEP=DIR keeps the JSON, logs and expectations for debugging.
keep() { [ -n "${PROCS_KEEP:-}" ] && mkdir -p "$PROCS_KEEP" && cp -r "$T"/. "$PROCS_KEEP"/; lab_down; }
trap keep EXIT

# start_netmoon NAME ARGS...: netmoon in the client namespace, ready when it
# says it is capturing.
start_netmoon() {
    local name=$1; shift
    lab_bg "$LAB_NS_CLI" "$NETMOON" -i "$LAB_CLI_DEV" --no-tui "$@" \
        >"$T/$name.out" 2>"$T/$name.err"
    NM_PID=$LAB_BG_PID
    lab_wait_until 10 grep -q "capturing on" "$T/$name.err"
}

MAPPED_CLIENT='
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.connect(("::ffff:" + sys.argv[1], 80))
s.sendall(b"GET / HTTP/1.0\r\nHost: www.example.test\r\n\r\n")
while s.recv(65536):
    pass
print(s.getsockname()[1])
s.close()
'

# The Python clients run the interpreter itself, not whatever `python3` is
# on PATH: a version manager's shim (pyenv's is a bash script that execs
# through `pyenv exec`, about 0.4 s) would put connect() past the
# scanners' young-process window (PROCS_YOUNG_US, 0.5 s from the fork), so
# --no-procs-bpf would miss every one of them.  The kernel names a process
# after the file it executed (comm: its basename, 15 bytes at most).
PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
PY_COMM=$(basename "$PYTHON" | cut -c1-15)

# A refused connect from a port the kernel chose: getsockname() still
# reports it (inet_sport outlives the refusal).
REFUSED_CLIENT='
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.connect((sys.argv[1], 9))
except ConnectionRefusedError:
    print(s.getsockname()[1])
'

# Fixed client ports (dig -b, curl --local-port) lie outside the kernel's
# ephemeral range (ip_local_port_range, 32768-60999 by default), which each
# network namespace keeps for itself, so it is read in the client's: a
# kernel-chosen port could otherwise be the same number as a fixed one.
read -r EPH_LOW EPH_HIGH < <(ip netns exec "$LAB_NS_CLI" cat /proc/sys/net/ipv4/ip_local_port_range)
if [ "$EPH_LOW" -ge 3100 ]; then FIXED_PORT_BASE=$((EPH_LOW - 2000))
elif [ "$EPH_HIGH" -le 63000 ]; then FIXED_PORT_BASE=$((EPH_HIGH + 1))
else skip_all "no room for fixed client ports outside ip_local_port_range ($EPH_LOW-$EPH_HIGH)"; fi

# expect_client KIND PROTO PORT PID COMM SERVER: one line of $EXPECT, in
# the form tests/live/procs_check.py reads.
expect_client() { echo "$1 $2 $3 $4 $5 $6" >>"$EXPECT"; }

# run_client KIND PROTO COMM SERVER PORT_FILE CMD...: runs one client to its
# end and records its pid, the server address and port it was sent to, and
# the local port it reported.
run_client() {
    local kind=$1 proto=$2 comm=$3 server=$4 portfile=$5; shift 5
    ip netns exec "$LAB_NS_CLI" "$@" >"$portfile" 2>/dev/null &
    local pid=$!
    wait "$pid" || return 0
    local port
    port=$(tr -dc '0-9\n' <"$portfile" | head -n1)
    [ -n "$port" ] && expect_client "$kind" "$proto" "$port" "$pid" "$comm" "$server"
    return 0
}

# run_clients NAME ROUNDS: while netmoon runs, ROUNDS short curls and digs,
# N_SMALL of each other kind, and the long download; expectations in
# $T/NAME.expect, netmoon's verdicts in $T/NAME.check.
run_clients() {
    local name=$1 rounds=$2 i port pid long_pid
    EXPECT=$T/$name.expect
    : >"$EXPECT"
    # The long download: about 10 s at 300 kB/s.
    ip netns exec "$LAB_NS_CLI" curl -s -o /dev/null --limit-rate 300k \
        -w '%{local_port}\n' "http://$LAB_SRV4/bulk.bin" >"$T/$name.long.port" 2>/dev/null &
    long_pid=$!
    for i in $(seq 1 "$rounds"); do
        run_client curl tcp curl "$LAB_SRV4:80" "$T/c$i" curl -s -o /dev/null --max-time 5 \
            -w '%{local_port}\n' "http://$LAB_SRV4/"
        port=$((FIXED_PORT_BASE + i))
        if ip netns exec "$LAB_NS_CLI" dig "@$LAB_SRV4" -b "$LAB_CLI4#$port" +tries=1 +time=2 \
                www.example.test >/dev/null 2>&1 & then
            pid=$!
            wait "$pid" && expect_client dig udp "$port" "$pid" dig "$LAB_SRV4:53"
        fi
    done
    for i in $(seq 1 "$N_SMALL"); do
        run_client curl6 tcp curl "[$LAB_SRV6]:80" "$T/v6$i" curl -6 -g -s -o /dev/null --max-time 5 \
            -w '%{local_port}\n' "http://[$LAB_SRV6]/"
        run_client mapped tcp "$PY_COMM" "$LAB_SRV4:80" "$T/m$i" "$PYTHON" -c "$MAPPED_CLIENT" "$LAB_SRV4"
        # Nothing listens on the server's port 9: connect() is refused.
        # curl cannot report a port it never connected from, so it is
        # given one; exit status 7 is "failed to connect".
        port=$((FIXED_PORT_BASE + 1000 + i))
        ip netns exec "$LAB_NS_CLI" curl -s -o /dev/null --max-time 5 --local-port "$port" \
            "http://$LAB_SRV4:9/" >/dev/null 2>&1 &
        pid=$!
        wait "$pid"
        [ $? -eq 7 ] && expect_client refused tcp "$port" "$pid" curl "$LAB_SRV4:9"
        run_client refused tcp "$PY_COMM" "$LAB_SRV4:9" "$T/r$i" "$PYTHON" -c "$REFUSED_CLIENT" "$LAB_SRV4"
    done
    wait "$long_pid"
    port=$(tr -dc '0-9\n' <"$T/$name.long.port" | head -n1)
    [ -n "$port" ] && expect_client long tcp "$port" "$long_pid" curl "$LAB_SRV4:80"
    # The helper answers within half a second of a flow's first packet.
    sleep 1
    lab_stop_pid "$NM_PID"
    python3 "$root/tests/live/procs_check.py" "$T/$name.jsonl" "$EXPECT" >"$T/$name.check" 2>&1
    sed 's/^/  /' "$T/$name.check"
}

# share NAME KIND...: "right total wrong" summed over kinds.
share() {
    python3 - "$T/$1.check" "${@:2}" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
r = t = w = 0
for l in lines:
    m = re.match(r"(\w+): (\d+) of (\d+) right, \d+ missed, (\d+) wrong", l)
    if m and m.group(1) in sys.argv[2:]:
        r += int(m.group(2)); t += int(m.group(3)); w += int(m.group(4))
print(r, t, w)
PY
}
# first_wrong NAME: the checker's first "wrong:" note, so that a failure in
# CI, where only verdict lines are shown, says which flow and which owner.
first_wrong() { grep -m1 -o 'wrong: .*' "$T/$1.check" || echo "no wrong-owner note"; }
at_least_pct() { [ "$2" -gt 0 ] && [ $(( $1 * 100 )) -ge $(( $2 * $3 )) ]; }
stats_field() {  # stats_field NAME FIELD: from the last JSON stats record
    grep '"type":"stats"' "$T/$1.jsonl" | tail -n1 |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], -1))' "$2"
}

# check_short NAME LABEL FLOOR: the short-lived and never-wrong checks.
check_short() {
    local name=$1 label=$2 floor=$3 r t w goal
    read -r r t w < <(share "$name" curl dig)
    if at_least_pct "$r" "$t" "$floor"; then pass "$label"
    else fail "$label" "$r of $t right, below the $floor % floor"; fi
    goal=$(at_least_pct "$r" "$t" 90 && echo "reaches" || echo "misses")
    echo "  short-lived attribution ($name, source $(stats_field "$name" procs_source)):" \
        "$r of $t right, floor $floor % ($goal issue 10's 90 % goal)"
    read -r r t w < <(share "$name" curl dig curl6 mapped refused long)
    if [ "$t" -gt 0 ] && [ "$w" -eq 0 ]; then pass never-wrong
    else fail never-wrong "$w of $t wrong ($name; $(first_wrong "$name"))"; fi
}

# ---- the main run: the eBPF source when it loads -----------------------------
expect_bpf=$("$root/tests/tools/bpf-expected.sh" "$NETMOON")
if ! start_netmoon main --json="$T/main.jsonl" --stats; then
    for c in bpf-loaded short-lived never-wrong ipv6 mapped refused long stats; do fail "$c" "netmoon did not start: $(head -c 300 "$T/main.err")"; done
else
    run_clients main "$N_SHORT"
    source=$(stats_field main procs_source)
    with_bpf=false
    [ "$expect_bpf" = yes ] && with_bpf=true
    if ! $with_bpf; then skip bpf-loaded "not expected: ${expect_bpf#no: } (source $source)"
    elif [ "$source" = bpf ]; then pass bpf-loaded
    else fail bpf-loaded "expected here, but procs_source is '$source': $(stats_field main procs_bpf_error)"; fi
    $with_bpf && min=90 || min=50
    check_short main short-lived "${PROCS_MIN_PCT:-$min}"
    read -r r t w < <(share main curl6)
    if [ "$r" -ge 1 ] && [ "$w" -eq 0 ]; then pass ipv6; else fail ipv6 "$r of $t right, $w wrong"; fi
    read -r r t w < <(share main mapped)
    $with_bpf && want=$t || want=1
    if [ "$r" -ge "$want" ] && [ "$t" -ge 1 ] && [ "$w" -eq 0 ]; then pass mapped
    else fail mapped "$r of $t right (want $want), $w wrong"; fi
    read -r r t w < <(share main refused)
    if ! $with_bpf && [ "$w" -eq 0 ]; then skip refused "$r of $t right without the eBPF source (not gated)"
    elif [ "$t" -ge 1 ] && [ "$r" -eq "$t" ]; then pass refused
    else fail refused "$r of $t right, $w wrong ($(first_wrong main))"; fi
    read -r r t w < <(share main long)
    if [ "$t" -eq 1 ] && [ "$r" -eq 1 ]; then pass long; else fail long "$r of $t right"; fi

    # Stats: the final JSON stats record counts at least the flows the check
    # found right as attributed, and --stats says the same numbers and source.
    read -r r t w < <(share main curl dig curl6 mapped refused long)
    attributed=$(stats_field main flows_attributed)
    unattributed=$(stats_field main flows_unattributed)
    hits=$(stats_field main procs_bpf_hits)
    if [ "$source" = bpf ]; then src_line="owner source: *bpf ($hits owners from eBPF)"
    else src_line="owner source: *sock_diag + /proc"; fi
    if [ "$attributed" -ge "$r" ] && [ "$unattributed" -ge 0 ] &&
       grep -q "process owners: *$attributed local flows attributed, $unattributed unattributed" "$T/main.err" &&
       grep -q "$src_line" "$T/main.err"; then
        pass stats
    else
        fail stats "flows_attributed $attributed (want >= $r), flows_unattributed $unattributed, source $source; --stats: $(grep 'process owners\|owner source' "$T/main.err")"
    fi
    echo "  stats: flows_attributed $attributed, flows_unattributed $unattributed, procs_source $source, procs_bpf_hits $hits"
fi

# ---- --no-procs-bpf: the scanners alone ---------------------------------------
if ! start_netmoon fallback --json="$T/fallback.jsonl" --no-procs-bpf; then
    fail fallback "netmoon --no-procs-bpf did not start: $(head -c 300 "$T/fallback.err")"
else
    run_clients fallback "$N_FALLBACK"
    source=$(stats_field fallback procs_source)
    read -r r t w < <(share fallback curl dig mapped)
    m=$(share fallback mapped)
    if [ "$source" != sock_diag ]; then fail fallback "procs_source is '$source', not sock_diag"
    elif ! at_least_pct "$r" "$t" "${PROCS_MIN_PCT:-50}" || [ "$w" -ne 0 ] || [ "${m%% *}" -lt 1 ]; then
        fail fallback "curl, dig and mapped: $r of $t right, $w wrong (mapped right, of, wrong: $m)"
    else pass fallback; fi
    read -r r t w < <(share fallback curl dig)
    echo "  short-lived attribution (fallback, source $source): $r of $t right"
fi

# ---- --no-procs ------------------------------------------------------------------
if start_netmoon off --json="$T/off.jsonl" --no-procs; then
    ip netns exec "$LAB_NS_CLI" curl -s -o /dev/null --max-time 5 "http://$LAB_SRV4/" || true
    sleep 0.5
    lab_stop_pid "$NM_PID"
    if grep -q '"type":"flow"' "$T/off.jsonl" && ! grep -q '"pid"\|"process"\|flows_attributed' "$T/off.jsonl"; then
        pass no-procs
    else
        fail no-procs "flow records missing or attribution present"
    fi
else
    fail no-procs "netmoon did not start"
fi

# ---- -r ----------------------------------------------------------------------------
pcap=$(ls "$root"/tests/data/lab/*.pcap* 2>/dev/null | head -n1)
if [ -z "$pcap" ]; then
    skip offline "no lab capture in tests/data/lab"
elif "$NETMOON" -r "$pcap" --json 2>/dev/null | grep -q '"pid"\|flows_attributed'; then
    fail offline "a -r run carries attribution fields"
else
    pass offline
fi
exit 0
