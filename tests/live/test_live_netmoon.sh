#!/usr/bin/env bash
# tests/live/test_live_netmoon.sh: the live capture engine (src/core/live.c,
# src/capture/afpacket.c) against real traffic in a namespace lab.
#
# The lab is tests/lab/lib.sh: a client and a server namespace joined by a
# veth pair, nginx, dnsmasq and iperf3 in the server namespace, addresses only
# from 198.18.0.0/15 and 2001:db8::/32, no default route, so no packet ever
# leaves.  lab_up's trap deletes the namespaces on every exit path.
#
# Every expected number comes from a tcpdump capture of the same interface
# made while netmoon captured, read by tshark (tests/golden/tshark_flows.py,
# compare.py via tests/live/live_check.py), or from the client tools' own
# reports (ping's "N received"); never from netmoon's output.
#
#   live/exact-T1, live/exact-T2        every TCP/UDP flow exact (packets and
#   live/icmp-T1, live/icmp-T2          bytes per direction, initiator); echo
#                                       flows per identifier
#   live/fanout-T2                      no flow split across workers, both used
#   live/fanout-group-0                 -T 2 started right after the kernel's
#                                       next fanout id was made 0
#                                       (fanout_next_zero.py), as for the
#                                       first group after boot, and got it:
#                                       exact-T2 then shows its second worker
#                                       joined group 0 (SKIP if the id could
#                                       not be made 0: kernel state other
#                                       programs share)
#   live/labels-T2                      nDPI app/category as ndpiReader's on the
#                                       tcpdump capture (tests/golden/ndpi_labels.py)
#   live/filter-*                       'tcp port 80': only such flows, counts
#                                       as tcpdump's filtered capture, the
#                                       kernel filtered; bad filter exits 2
#   live/count                          -c COUNT on live traffic
#   live/sigint-*                       SIGINT flushes open flows (all packets
#                                       captured before it counted), exit 0,
#                                       promiscuous mode set, then released
#   live/privs-*                        no CAP_NET_RAW, a setcap'd copy, -Z
#   live/iface-down-*                   the veth set down and up again under
#                                       netmoon: a message, the flows written
#                                       (iface_down, ping's own counts), and
#                                       capture resumed once it is back up
#   live/drops-*                        netmoon stopped (SIGSTOP) under a UDP
#                                       flood with a 1 MiB ring: kernel drops
#                                       counted, kernel_packets equal to
#                                       tcpdump's count, drained, and said in
#                                       --stats and in kernel_drops_seen
#   live/iface-gone-*                   the veth deleted under netmoon: exit 1,
#                                       a message, open flows flushed, and
#                                       the packets captured before it went
#                                       away all counted
#   live/drained-*                      stats: packets == kernel_packets -
#                                       kernel_drops after a quiet stop
#   live/replay-*                       500 k packets of mixed sizes (the
#                                       bench generator's workload, VLAN and
#                                       IPv6 too) replayed at tcpreplay's top
#                                       speed: every packet the kernel put in
#                                       the ring processed, none skipped as
#                                       malformed (a frame ending within a
#                                       link header of its ring block's end
#                                       was once lost this way)
#
# The main phase runs tcpdump (all, and 'tcp port 80') and four netmoon
# instances on the client veth at the same time, all started and ready
# before the first packet of traffic, and the traffic over before the
# netmoons' --duration ends, so all of them saw exactly the same packets.
set -u
cd "$(dirname "$0")/../.."
root=$PWD
NETMOON=${NETMOON:-$root/netmoon}
case $NETMOON in /*) ;; *) NETMOON=$root/$NETMOON ;; esac
VARIANT=${NETMOON_VARIANT:-rel}
CHECK=(python3 "$root/tests/live/live_check.py")

pass() { echo "PASS live/$1"; }
fail() { echo "FAIL live/$1: $2"; }
skip() { echo "SKIP live/$1: $2"; }
ALL_CHECKS=(exact-T1 exact-T2 icmp-T1 icmp-T2 fanout-T2 fanout-group-0 labels-T2 filter-only-port80 filter-counts
            filter-kernel-packets filter-invalid count sigint privs iface-down drops replay iface-gone)
skip_all() { local c; for c in "${ALL_CHECKS[@]}"; do skip "$c" "$1"; done; exit 0; }

[ "$(id -u)" -eq 0 ] || skip_all "needs root (network namespaces, packet sockets)"
ip netns list >/dev/null 2>&1 || skip_all "\`ip netns\` is not available"
missing=()
for t in tcpdump tshark curl dig ping nginx dnsmasq iperf3 openssl ethtool ss setpriv setcap getcap python3 tcpreplay; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
[ ${#missing[@]} -eq 0 ] || skip_all "missing tools: ${missing[*]} (scripts/install-deps.sh)"
[ -x "$NETMOON" ] || { fail exact-T1 "no netmoon binary at $NETMOON (make)"; exit 1; }

# shellcheck source=tests/lab/lib.sh
source "$root/tests/lab/lib.sh"
CAPDIR=
cleanup() {
    # LIVE_KEEP=DIR keeps the captures, JSON and logs for debugging.
    if [ -n "${LIVE_KEEP:-}" ] && [ -n "${T:-}" ] && [ -d "$T" ]; then
        mkdir -p "$LIVE_KEEP" && cp -r "$T"/. "$LIVE_KEEP"/
    fi
    lab_down
    [ -n "$CAPDIR" ] && rm -rf "$CAPDIR"
    return 0
}
lab_up >/dev/null || { fail exact-T1 "the namespace lab did not come up"; exit 1; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
T=$LAB_TMP
NS=$LAB_NS_CLI
DEV=$LAB_CLI_DEV
S4=$LAB_SRV4
S6=$LAB_SRV6
lab_nginx && lab_dnsmasq && lab_iperf3 && lab_no_offload \
    || { fail exact-T1 "lab servers did not start"; exit 1; }

C() { lab_cli timeout 30 "$@"; }
CURL=(curl -sS -o /dev/null --max-time 20 --connect-timeout 5)
DIG=(dig +time=2 +tries=1)

# ---- helpers ----------------------------------------------------------------

# nm_start NAME ARGS...: netmoon in the client namespace, stderr to
# $T/NAME.err; its pid in NM_PID[NAME].
declare -A NM_PID
nm_start() {
    local name=$1; shift
    lab_bg "$NS" "$NETMOON" "$@" 2>"$T/$name.err" </dev/null
    NM_PID[$name]=$LAB_BG_PID
}
# nm_ready NAME: netmoon said "capturing on" (its sockets are bound).
nm_ready() { lab_wait_until 20 grep -q 'capturing on' "$T/$1.err"; }
# nm_wait NAME SECONDS: waits (bounded) for exit; sets NM_RC (KILL -> "hung").
nm_wait() {
    local pid=${NM_PID[$1]}
    if ! lab_wait_until "$2" bash -c "! kill -0 $pid 2>/dev/null || grep -q '^State:.*zombie' /proc/$pid/status"; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        NM_RC=hung
        return 1
    fi
    wait "$pid"
    NM_RC=$?
    return 0
}
# sanitizer_report NAME: the first line a sanitizer wrote, if any.
sanitizer_report() {
    grep -m1 -E 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:|UndefinedBehaviorSanitizer' "$T/$1.err" 2>/dev/null
}
# rc_ok NAME: netmoon NAME exited 0 without a sanitizer report, else why.
rc_problem() {
    local s
    s=$(sanitizer_report "$1") && { echo "sanitizer: $s"; return 0; }
    [ "$NM_RC" = 0 ] && return 1
    echo "exit status $NM_RC: $(grep -v 'capturing on' "$T/$1.err" | head -c 300)"
}

# cap_start NAME FILTER...: tcpdump on the client veth into $T/NAME.pcap,
# whole frames, unbuffered, large kernel buffer; returns once it listens.
declare -A CAP_PID
cap_start() {
    local name=$1; shift
    lab_bg "$NS" tcpdump -n -i "$DEV" -s 0 -B 32768 -U --immediate-mode -Z root \
        -w "$T/$name.pcap" "$@" 2>"$T/$name.tcpdump.log"
    CAP_PID[$name]=$LAB_BG_PID
    lab_wait_until 10 grep -q 'listening on' "$T/$name.tcpdump.log"
}
# cap_stop NAME: stops tcpdump (it flushes on SIGTERM); sets CAP_DROPS.
cap_stop() {
    lab_stop_pid "${CAP_PID[$1]}"
    CAP_DROPS=$(sed -n 's/^\([0-9]*\) packets\? dropped by kernel.*/\1/p' "$T/$1.tcpdump.log")
    CAP_DROPS=${CAP_DROPS:-0}
}

busy_states='( state syn-sent or state syn-recv or state established or state fin-wait-1 or state fin-wait-2 or state close-wait or state last-ack or state closing )'
tcp_quiet() {
    [ -z "$(lab_cli ss -Htan "$busy_states" 2>/dev/null)" ] &&
        [ -z "$(lab_srv ss -Htan "$busy_states" 2>/dev/null)" ]
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
promisc_flag() { lab_cli cat "/sys/class/net/$DEV/flags" 2>/dev/null; }
promisc_on() { [ $(( $(promisc_flag) & 0x100 )) -ne 0 ]; }
promiscuity() { ip -n "$NS" -d link show "$DEV" | sed -n 's/.* promiscuity \([0-9]*\).*/\1/p'; }

paced_start() { lab_paced_start "$NS" "$S4" "$T/paced.log"; }
paced_wait() { lab_paced_wait "$1" "$T/paced.log"; }

# ---- the traffic of the main phase -----------------------------------------

traffic_main() {
    local pids=() p rc=0 i
    # HTTP keep-alive (two requests on one connection), a 1 MB download,
    # HTTPS over v4 and v6, DNS over UDP and TCP (v4 and v6), pings.
    C "${CURL[@]}" "http://$S4/" -o /dev/null "http://$S4/small.txt" & pids+=($!)
    C "${CURL[@]}" "http://$S4/1m.bin" & pids+=($!)
    C "${CURL[@]}" -k "https://$S4/small.txt" & pids+=($!)
    C "${CURL[@]}" -k "https://[$S6]/" & pids+=($!)
    C "${CURL[@]}" "http://[$S6]/small.txt" & pids+=($!)
    C "${DIG[@]}" @"$S4" www.example.test A >/dev/null & pids+=($!)
    C "${DIG[@]}" @"$S6" www.example.test AAAA >/dev/null & pids+=($!)
    C "${DIG[@]}" +tcp @"$S4" www.example.test A >/dev/null & pids+=($!)
    C "${DIG[@]}" +tcp @"$S6" nope.example.test AAAA >/dev/null & pids+=($!)
    C ping -c 4 -i 0.2 -W 2 "$S4" >/dev/null & pids+=($!)
    C ping -6 -c 4 -i 0.2 -W 2 "$S6" >/dev/null & pids+=($!)
    C iperf3 -c "$S4" -p 5201 -n 2M --connect-timeout 5000 >/dev/null & pids+=($!)
    for p in "${pids[@]}"; do wait "$p" || { rc=$?; lab_log "a client failed ($rc)"; }; done
    # Nothing listens on 81: SYN answered by RST (curl exits 7).
    C "${CURL[@]}" "http://$S4:81/" 2>/dev/null
    [ $? -eq 7 ] || { lab_log "curl to the closed port did not fail with 7"; rc=1; }
    # 40 short connections at once: enough flows to spread over the workers.
    pids=()
    for i in $(seq 40); do
        C "${CURL[@]}" "http://$S4/index.html" & pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || { rc=$?; lab_log "a parallel curl failed ($rc)"; }; done
    return "$rc"
}

# ---- phase 1: exact counts, fan-out, filter, -c ----------------------------

DURATION=14
phase_main() {
    local n ok=1 zero=1
    # -T 2 starts alone first, with the kernel's next fanout group id 0
    # (made so before tcpdump starts: it can take half a minute).
    timeout 120 ip netns exec "$NS" python3 "$root/tests/live/fanout_next_zero.py" lo || zero=0
    if ! cap_start all || ! cap_start port80 tcp port 80; then
        fail exact-T1 "tcpdump did not start: $(cat "$T"/*.tcpdump.log | head -c 300)"; return
    fi
    local t0
    t0=$(now_ms)
    nm_start t2 -i "$DEV" -T 2 --json="$T/t2.json" --duration "$DURATION"
    nm_ready t2 || lab_log "netmoon t2 did not start: $(head -c 300 "$T/t2.err")"
    if [ "$zero" = 0 ]; then
        skip fanout-group-0 "fanout_next_zero.py could not make the kernel's next fanout id 0"
    elif grep -q 'capturing on .*(fanout group 0)' "$T/t2.err"; then
        pass fanout-group-0
    else
        skip fanout-group-0 "another program took fanout id 0 first: $(grep -o 'fanout group [0-9]*' "$T/t2.err")"
    fi
    nm_start t1 -i "$DEV" -T 1 --json="$T/t1.json" --duration "$DURATION"
    nm_start f80 -i "$DEV" -T 2 --json="$T/f80.json" --duration "$DURATION" 'tcp port 80'
    nm_start count -i "$DEV" -T 2 -c 200 --json="$T/count.json" --duration 40
    for n in t1 t2 f80 count; do
        nm_ready "$n" || { ok=0; lab_log "netmoon $n did not start: $(head -c 300 "$T/$n.err")"; }
    done
    if [ "$ok" = 0 ]; then
        for n in t1 t2 f80 count; do nm_wait "$n" 1; done
        fail exact-T1 "netmoon did not report 'capturing on' within 20 s: $(head -c 300 "$T/t1.err")"
        return
    fi
    local traffic_ok=1
    traffic_main || traffic_ok=0
    lab_wait_until 20 tcp_quiet || lab_log "TCP connections still open after 20 s"
    # Let the last ACK reach every socket before the captures are judged.
    sleep 0.3
    local used=$(( $(now_ms) - t0 ))
    lab_log "traffic took $used ms of the $DURATION s capture"
    for n in t1 t2 f80; do
        nm_wait "$n" $((DURATION + 20)) || lab_log "netmoon $n did not stop after --duration $DURATION"
        eval "rc_$n=\$NM_RC"
    done
    nm_wait count 30; rc_count=$NM_RC
    cap_stop all; drops_all=$CAP_DROPS
    cap_stop port80; drops_80=$CAP_DROPS
    lab_log "tcpdump: $(grep -h 'captured' "$T/all.tcpdump.log" "$T/port80.tcpdump.log" | paste -sd, -)"

    if [ "$traffic_ok" = 0 ]; then
        fail exact-T1 "the lab traffic itself failed (see the log above)"
    fi
    if [ "$used" -ge $(( (DURATION - 1) * 1000 )) ]; then
        for n in exact-T1 exact-T2 filter-counts; do
            fail "$n" "traffic took $used ms, longer than netmoon's --duration $DURATION s: the captures are not comparable"
        done
    fi

    # 1. Exact counts against tshark, -T 1 and -T 2.
    local why
    for n in t1 t2; do
        eval "NM_RC=\$rc_$n"
        if why=$(rc_problem "$n"); then
            fail "exact-${n^^}" "netmoon -T ${n#t}: $why"; continue
        fi
        "${CHECK[@]}" json "live/json-${n^^}" "$T/$n.json"
        "${CHECK[@]}" flows "live/exact-${n^^}" "$T/all.pcap" "$T/$n.json" --tcpdump-drops "$drops_all"
        "${CHECK[@]}" icmp "live/icmp-${n^^}" "$T/all.pcap" "$T/$n.json" --tcpdump-drops "$drops_all"
        "${CHECK[@]}" drained "live/drained-${n^^}" "$T/$n.json"
    done

    # 2. Fan-out: with two workers no flow is split, and both took flows.
    eval "NM_RC=\$rc_t2"
    if why=$(rc_problem t2); then
        fail fanout-T2 "netmoon -T 2: $why"
    else
        "${CHECK[@]}" fanout live/fanout-T2 "$T/t2.json" --workers 2 --min-flows 40
    fi

    # 2b. nDPI labels of the live records (two workers, a module each) agree
    # with ndpiReader's on tcpdump's capture of the same traffic.
    if command -v ndpiReader >/dev/null && [ "$rc_t2" = 0 ]; then
        python3 "$root/tests/golden/ndpi_labels.py" live-T2 "$T/all.pcap" --json "$T/t2.json" \
            --min-agree 0.95 | sed 's|golden/ndpi-labels/live-T2|live/labels-T2|'
    else
        skip labels-T2 "ndpiReader not installed, or netmoon -T 2 failed"
    fi

    # 3. Filter: only TCP port 80, exactly tcpdump's filtered view, and the
    # kernel (not netmoon) dropped the rest.
    NM_RC=$rc_f80
    if why=$(rc_problem f80); then
        fail filter-counts "netmoon 'tcp port 80': $why"
    else
        "${CHECK[@]}" json live/filter-json "$T/f80.json"
        "${CHECK[@]}" only-port live/filter-only-port80 "$T/f80.json" tcp 80
        "${CHECK[@]}" flows live/filter-counts "$T/port80.pcap" "$T/f80.json" --tcpdump-drops "$drops_80"
        "${CHECK[@]}" kernel-packets live/filter-kernel-packets "$T/port80.pcap" "$T/f80.json"
    fi

    # 7. -c 200 across two workers: exactly 200 packets, and it stopped on its
    # own (long before its --duration 40).
    NM_RC=$rc_count
    if why=$(rc_problem count); then
        fail count "netmoon -c 200: $why"
    else
        local got sum
        got=$("${CHECK[@]}" stat "$T/count.json" packets)
        sum=$(python3 -c 'import json,sys
print(sum(o["src_pkts"]+o["dst_pkts"] for o in map(json.loads, open(sys.argv[1])) if o["type"]=="flow"))' "$T/count.json" 2>/dev/null)
        if [ "$got" != 200 ]; then
            fail count "-c 200: stats record says packets=${got:-none}"
        elif [ -z "$sum" ] || [ "$sum" -gt 200 ]; then
            fail count "-c 200: the flow records account ${sum:-no} packets, more than 200"
        else
            pass count
        fi
    fi
}

# 3b. An invalid filter: exit 2 with libpcap's own message (tcpdump's
# wording of the same expression is the oracle).
check_bad_filter() {
    local expr bad=
    for expr in 'tcp port' 'tcp port 99999' 'host 198.18.0.999'; do
        local want got rc
        want=$(lab_cli tcpdump -d -i "$DEV" "$expr" 2>&1 >/dev/null | sed -n 's/^tcpdump: //p' | head -1)
        got=$(lab_cli "$NETMOON" -i "$DEV" --json=/dev/null --duration 2 "$expr" 2>&1 >/dev/null)
        rc=$?
        if [ "$rc" -ne 2 ]; then
            bad="'$expr': exit $rc, want 2 ($got)"; break
        elif [ -z "$want" ] || ! grep -qF -- "$want" <<<"$got"; then
            bad="'$expr': stderr '$got' lacks libpcap's '$want'"; break
        fi
    done
    [ -z "$bad" ] && pass filter-invalid || fail filter-invalid "$bad"
}

# ---- phase 2: SIGINT --------------------------------------------------------

phase_sigint() {
    local before during after pr_during pr_after
    before=$(promisc_flag)
    if promisc_on; then
        skip sigint-promisc "the interface is already promiscuous ($before) before netmoon starts"
    fi
    # The oracle: tcpdump -p (not promiscuous, so it does not touch the flag
    # under test) on the same interface, running across the stop.
    cap_start sigcap -p tcp port 80 || { fail sigint "tcpdump did not start"; return; }
    nm_start sigint -i "$DEV" --json="$T/sigint.json"
    nm_ready sigint || { nm_wait sigint 1; fail sigint "netmoon did not start: $(head -c 300 "$T/sigint.err")"; return; }
    during=$(promisc_flag); pr_during=$(promiscuity)
    # A request sent one header line every 0.2 s: open when SIGINT arrives.
    paced_start
    local paced_pid=$LAB_BG_PID
    paced_wait 10 || fail sigint "the paced connection did not start sending"
    sleep 0.5
    # SIGINT a few ms after a line went out: its packet (and the ACK) are in
    # the kernel ring, maybe in a block the kernel has not handed over yet.
    local lines deadline=$(( $(now_ms) + 2000 ))
    lines=$(wc -l <"$T/paced.log")
    while [ "$(wc -l <"$T/paced.log")" -le "$lines" ] && [ "$(now_ms)" -lt "$deadline" ]; do
        sleep 0.005
    done
    local t_kill t_exit
    t_kill=$(date +%s.%N)
    kill -INT "${NM_PID[sigint]}"
    nm_wait sigint 15
    local rc=$NM_RC
    t_exit=$(date +%s.%N)
    after=$(promisc_flag); pr_after=$(promiscuity)
    lab_stop_pid "$paced_pid"
    cap_stop sigcap
    lab_log "promiscuous: before $before, during $during (promiscuity $pr_during), after $after (promiscuity $pr_after)"
    local s
    if s=$(sanitizer_report sigint); then fail sigint-exit "sanitizer: $s"
    elif [ "$rc" = 0 ]; then pass sigint-exit
    else fail sigint-exit "SIGINT: exit status $rc, want 0: $(head -c 300 "$T/sigint.err")"; fi
    "${CHECK[@]}" json live/sigint-last-line-stats "$T/sigint.json"
    "${CHECK[@]}" has-flow live/sigint-open-flow-shutdown "$T/sigint.json" \
        proto=tcp dst_port=80 end_reason=shutdown 'src_pkts>3' 'dst_pkts>0'
    # Every packet the kernel captured before SIGINT is in the record ("on
    # stop, a worker first drains what the kernel had already captured").
    "${CHECK[@]}" window live/sigint-drain "$T/sigcap.pcap" "$T/sigint.json" "$t_kill" "$t_exit"
    if ! [ $(( during & 0x100 )) -ne 0 ]; then
        fail sigint-promisc "not promiscuous during capture: flags $during"
    elif [ $(( after & 0x100 )) -ne 0 ] || [ "$pr_after" != 0 ]; then
        fail sigint-promisc "still promiscuous after exit: flags $after, promiscuity $pr_after"
    else
        pass sigint-promisc
    fi
}

# ---- phase 3: privileges ----------------------------------------------------

NOBODY=65534
phase_privs() {
    # a) No CAP_NET_RAW: refused with a message that says what to do.
    local out rc
    out=$(lab_cli setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups --inh-caps=-all \
              --bounding-set=-all -- "$NETMOON" -i "$DEV" --duration 2 2>&1 >/dev/null)
    rc=$?
    if [ "$rc" -eq 0 ]; then
        fail privs-no-cap "uid $NOBODY without capabilities: exit 0, want non-zero"
    elif ! grep -q CAP_NET_RAW <<<"$out" || ! grep -q setcap <<<"$out"; then
        fail privs-no-cap "exit $rc, but the message does not mention CAP_NET_RAW and setcap: $out"
    else
        pass privs-no-cap
    fi

    # b) A copy with file capabilities, run as nobody; c) -Z nobody as root.
    # Both capture the same pings; ping's own count is the oracle.
    CAPDIR=$(mktemp -d /tmp/nm-cap.XXXXXX)
    chmod 755 "$CAPDIR"
    cp "$NETMOON" "$CAPDIR/netmoon"
    chmod 755 "$CAPDIR/netmoon"
    local capok=1
    if ! setcap cap_net_raw,cap_net_admin+ep "$CAPDIR/netmoon" 2>"$T/setcap.err" ||
        ! getcap "$CAPDIR/netmoon" | grep -q cap_net_raw; then
        capok=0
        skip privs-setcap "cannot set file capabilities under /tmp (no xattrs?): $(head -c 200 "$T/setcap.err")"
    fi
    if [ "$capok" = 1 ]; then
        lab_bg "$NS" setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups -- \
            "$CAPDIR/netmoon" -i "$DEV" -T 2 --duration 4 --json >"$T/capcopy.json" 2>"$T/capcopy.err"
        NM_PID[capcopy]=$LAB_BG_PID
    fi
    nm_start dropz -i "$DEV" -T 2 -Z nobody --duration 4 --json="$T/dropz.json"
    local zready=1 cready=1
    nm_ready dropz || zready=0
    [ "$capok" = 1 ] && { nm_ready capcopy || cready=0; }
    # The process state once netmoon runs: every thread's uid and gid, and
    # no effective capabilities left.
    local zpid=${NM_PID[dropz]} zstatus= cstatus=
    [ "$zready" = 1 ] && zstatus=$(cat /proc/"$zpid"/task/*/status 2>/dev/null | grep -E '^(Uid|Gid|CapEff):' | sort -u)
    [ "$capok" = 1 ] && [ "$cready" = 1 ] && cstatus=$(grep -E '^(Uid|CapEff):' /proc/"${NM_PID[capcopy]}"/status 2>/dev/null)
    local ping_out sent recv
    ping_out=$(C ping -c 5 -i 0.2 -W 2 "$S4")
    sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<<"$ping_out")
    recv=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$ping_out")
    nm_wait dropz 20; local zrc=$NM_RC
    local crc=
    if [ "$capok" = 1 ]; then nm_wait capcopy 20; crc=$NM_RC; fi

    # c) -Z nobody
    local s
    if [ "$zready" = 0 ]; then
        fail privs-Z "netmoon -Z nobody did not start: $(head -c 300 "$T/dropz.err")"
    elif s=$(sanitizer_report dropz); then
        fail privs-Z "sanitizer: $s"
    elif [ "$zrc" != 0 ]; then
        fail privs-Z "-Z nobody: exit $zrc: $(head -c 300 "$T/dropz.err")"
    elif grep -E '^(Uid|Gid):' <<<"$zstatus" | grep -qvE ":\s+$NOBODY\s+$NOBODY\s+$NOBODY\s+$NOBODY$"; then
        fail privs-Z "-Z nobody: threads still run as another user: $(tr '\n' ' ' <<<"$zstatus")"
    elif ! grep -q '^Uid:' <<<"$zstatus"; then
        fail privs-Z "-Z nobody: could not read /proc/$zpid/task/*/status"
    elif grep '^CapEff:' <<<"$zstatus" | grep -qv '0000000000000000'; then
        fail privs-Z "-Z nobody: effective capabilities left: $(grep CapEff <<<"$zstatus" | tr '\n' ' ')"
    else
        pass privs-Z
    fi
    "${CHECK[@]}" has-flow live/privs-Z-captures "$T/dropz.json" proto=icmp icmp_type=8 \
        "src_pkts=$sent" "dst_pkts=$recv"

    # b) the setcap'd copy as nobody
    [ "$capok" = 1 ] || return
    if [ "$VARIANT" = san ] && [ "$crc" != 0 ] && grep -qiE 'sanitizer|asan|lsan' "$T/capcopy.err"; then
        skip privs-setcap "the ASan runtime refuses a binary with file capabilities (exit $crc: $(grep -m1 -iE 'sanitizer|asan' "$T/capcopy.err" | head -c 200))"
        return
    fi
    if [ "$cready" = 0 ]; then
        fail privs-setcap "the setcap'd copy as uid $NOBODY did not start (exit $crc): $(head -c 300 "$T/capcopy.err")"
    elif s=$(sanitizer_report capcopy); then
        fail privs-setcap "sanitizer: $s"
    elif [ "$crc" != 0 ]; then
        fail privs-setcap "the setcap'd copy as uid $NOBODY: exit $crc: $(head -c 300 "$T/capcopy.err")"
    elif ! grep -qE "^Uid:\s+$NOBODY\s" <<<"$cstatus"; then
        fail privs-setcap "the setcap'd copy did not run as uid $NOBODY: $cstatus"
    else
        "${CHECK[@]}" has-flow live/privs-setcap "$T/capcopy.json" proto=icmp icmp_type=8 \
            "src_pkts=$sent" "dst_pkts=$recv"
    fi
}

# ---- phase 4: the interface disappears --------------------------------------

phase_iface_gone() {
    nm_start gone -i "$DEV" -T 2 --json="$T/gone.json"
    nm_ready gone || { nm_wait gone 1; fail iface-gone "netmoon did not start: $(head -c 300 "$T/gone.err")"; return; }
    paced_start
    local paced_pid=$LAB_BG_PID
    local ping_out sent recv
    ping_out=$(C ping -c 5 -i 0.2 -W 2 "$S4")
    sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<<"$ping_out")
    recv=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$ping_out")
    paced_wait 10 || lab_log "the paced connection did not start sending"
    # A last burst of pings, then the veth deleted at once: those packets
    # were captured by the kernel a moment before the interface vanished.
    local burst_out bsent brecv t0 took
    burst_out=$(lab_cli sh -c "ping -c 3 -i 0.002 -W 1 $S4; ip link del $DEV")
    t0=$(now_ms)
    bsent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<<"$burst_out")
    brecv=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$burst_out")
    nm_wait gone 10
    took=$(( $(now_ms) - t0 ))
    local rc=$NM_RC
    lab_stop_pid "$paced_pid"
    lab_log "after deleting $DEV: netmoon exit $rc after $took ms; stderr: $(tr '\n' '|' <"$T/gone.err")"
    local s
    if s=$(sanitizer_report gone); then
        fail iface-gone-exit "sanitizer: $s"
    elif [ "$rc" = 1 ]; then
        pass iface-gone-exit
    else
        fail iface-gone-exit "deleting $DEV under netmoon: exit $rc, want 1"
    fi
    if grep -v 'capturing on' "$T/gone.err" | grep -F "$DEV" | grep -qiE 'disappeared|gone|removed|vanished|no longer exists|deleted'; then
        pass iface-gone-message
    else
        fail iface-gone-message "no message naming $DEV and saying it disappeared: $(tr '\n' '|' <"$T/gone.err" | head -c 300)"
    fi
    "${CHECK[@]}" json live/iface-gone-last-line-stats "$T/gone.json"
    # Flushed: the open flows are written.  Deleting a device takes it down
    # first, so the kernel may report "down" (flows end iface_down) before
    # "gone" (the rest end shutdown); either way every flow is written.
    "${CHECK[@]}" has-flow live/iface-gone-flushed-open-tcp "$T/gone.json" proto=tcp dst_port=80 \
        'end_reason~iface_down|shutdown' 'src_pkts>3' 'dst_pkts>0'
    "${CHECK[@]}" has-flow live/iface-gone-flushed-icmp "$T/gone.json" proto=icmp icmp_type=8 \
        'end_reason~iface_down|shutdown' 'src_pkts>0'
    # Drained: every echo ping saw answered was captured before the veth
    # went away, so it is counted (ping's own report is the oracle).
    "${CHECK[@]}" drained live/iface-gone-drain-stats "$T/gone.json"
    "${CHECK[@]}" has-flow live/iface-gone-drain-ping "$T/gone.json" proto=icmp icmp_type=8 \
        "src_pkts=$sent" "dst_pkts=$recv"
    "${CHECK[@]}" has-flow live/iface-gone-drain-last-burst "$T/gone.json" proto=icmp icmp_type=8 \
        "src_pkts=$bsent" "dst_pkts=$brecv"
}

# ---- the interface goes down and comes back --------------------------------

ping_counts() {   # "SENT RECV" from ping's summary on stdin
    sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p'
}
link_up() { ip -n "$NS" link show "$DEV" 2>/dev/null | grep -q 'state UP'; }

phase_iface_down() {
    nm_start down -i "$DEV" -T 2 --json="$T/down.json"
    nm_ready down || { nm_wait down 1; fail iface-down "netmoon did not start: $(head -c 300 "$T/down.err")"; return; }
    local c1 c2
    # The link goes down a moment after the last echo: its packets are
    # still in a ring block the kernel has not handed over when netmoon
    # learns of the down, and must still land in the flushed record.
    c1=$(lab_cli sh -c "ping -c 5 -i 0.2 -W 2 $S4; ip link set $DEV down" | ping_counts)
    lab_wait_until 10 grep -q 'went down' "$T/down.err" \
        || lab_log "no 'went down' message 10 s after the link went down"
    lab_cli ip link set "$DEV" up
    lab_wait_until 10 link_up || lab_log "$DEV did not come back up"
    sleep 0.5
    c2=$(C ping -c 3 -i 0.2 -W 2 "$S4" | ping_counts)
    sleep 0.3
    kill -INT "${NM_PID[down]}"
    nm_wait down 15
    local why
    if why=$(rc_problem down); then fail iface-down-exit "$why"; else pass iface-down-exit; fi
    if grep -F "$DEV" "$T/down.err" | grep -q 'went down.*iface_down'; then
        pass iface-down-message
    else
        fail iface-down-message "no message naming $DEV saying it went down and its flows were written: $(tr '\n' '|' <"$T/down.err" | head -c 300)"
    fi
    # ping's own reports are the oracle for each echo flow.
    "${CHECK[@]}" has-flow live/iface-down-flushed "$T/down.json" proto=icmp icmp_type=8 \
        end_reason=iface_down "src_pkts=${c1% *}" "dst_pkts=${c1#* }"
    "${CHECK[@]}" has-flow live/iface-down-resumed "$T/down.json" proto=icmp icmp_type=8 \
        end_reason=shutdown "src_pkts=${c2% *}" "dst_pkts=${c2#* }"
}

# ---- kernel drops: counted, and said everywhere ----------------------------

phase_drops() {
    cap_start dropcap udp port 5201 || { fail drops "tcpdump did not start"; return; }
    nm_start drops -i "$DEV" -T 1 -B 1 --json="$T/drops.json" --stats udp port 5201
    nm_ready drops || { nm_wait drops 1; fail drops "netmoon did not start: $(head -c 300 "$T/drops.err")"; return; }
    # Stopped, netmoon cannot empty its 1 MiB ring: the kernel must drop.
    kill -STOP "${NM_PID[drops]}"
    C iperf3 -c "$S4" -p 5201 -u -b 400M -l 1200 -t 2 --connect-timeout 5000 >/dev/null \
        || lab_log "iperf3 UDP flood failed"
    kill -CONT "${NM_PID[drops]}"
    sleep 1.5
    kill -INT "${NM_PID[drops]}"
    nm_wait drops 20
    cap_stop dropcap
    local why kd
    if why=$(rc_problem drops); then fail drops-exit "$why"; else pass drops-exit; fi
    kd=$("${CHECK[@]}" stat "$T/drops.json" kernel_drops)
    if [ -n "$kd" ] && [ "$kd" -gt 0 ]; then pass drops-counted
    else fail drops-counted "kernel_drops '${kd}' after a flood into a stopped netmoon"; fi
    "${CHECK[@]}" drained live/drops-drained "$T/drops.json"
    # What the kernel saw (netmoon's socket got every matching packet,
    # dropped or not) is what tcpdump, with a large buffer, captured.
    if [ "$CAP_DROPS" != 0 ]; then
        skip drops-kernel-packets "tcpdump itself dropped $CAP_DROPS packets"
    else
        "${CHECK[@]}" kernel-packets-equal live/drops-kernel-packets "$T/dropcap.pcap" "$T/drops.json"
    fi
    if grep -qE "kernel drops: +$kd +\(counts below are incomplete\)" "$T/drops.err"; then
        pass drops-in-stats-text
    else
        fail drops-in-stats-text "--stats does not report $kd drops: $(grep -i drop "$T/drops.err" | head -c 200)"
    fi
    "${CHECK[@]}" has-flow live/drops-in-flow-records "$T/drops.json" proto=udp dst_port=5201 \
        "kernel_drops_seen=$kd"
}

# ---- a replay at full rate: nothing lost between the ring and netmoon --------

phase_replay() {
    local gen=$root/build/rel/bench/gen_workload ring_bad sent
    [ -x "$gen" ] || { fail replay "no $gen (make tests)"; return; }
    sent=$("$gen" -o "$T/replay.pcap" -f 38462 -p 13 -s 256 -c 1000 | sed -n 's/^packets=\([0-9]*\) .*/\1/p') \
        && [ -n "$sent" ] || { fail replay "the workload generator failed"; return; }
    nm_start replay -i "$DEV" -T 2 --no-l7 --no-procs --json="$T/replay.json" --stats
    nm_ready replay || { nm_wait replay 1; fail replay "netmoon did not start: $(head -c 300 "$T/replay.err")"; return; }
    # From the server end: the client veth receives every frame (their MACs
    # are not its own, so its IP stack drops them after the capture hook).
    local replayed=yes
    lab_srv timeout 120 tcpreplay --topspeed -q -i "$LAB_SRV_DEV" "$T/replay.pcap" >"$T/replay.tcpreplay" 2>&1 \
        || replayed=no
    sleep 1
    kill -INT "${NM_PID[replay]}"
    nm_wait replay 60
    local why kp
    if why=$(rc_problem replay); then fail replay-exit "$why"; else pass replay-exit; fi
    # An empty replay would pass the checks below: the kernel must have
    # handed netmoon at least every replayed frame.
    kp=$("${CHECK[@]}" stat "$T/replay.json" kernel_packets)
    if [ "$replayed" = yes ] && [ -n "$kp" ] && [ "$kp" -ge "$sent" ]; then pass replay-offered
    else fail replay-offered "tcpreplay ok: $replayed, kernel_packets '$kp' ($sent replayed): $(head -c 300 "$T/replay.tcpreplay")"; fi
    "${CHECK[@]}" drained live/replay-drained "$T/replay.json"
    ring_bad=$("${CHECK[@]}" stat "$T/replay.json" ring_malformed)
    if [ "$ring_bad" = 0 ]; then pass replay-ring-malformed
    else fail replay-ring-malformed "ring_malformed '$ring_bad': ring entries skipped"; fi
}

# LIVE_PHASES selects phases when debugging (default: all, in this order;
# "gone" deletes the veth, so it comes last).
for phase in ${LIVE_PHASES:-main badfilter sigint privs down drops replay gone}; do
    case $phase in
        main) phase_main ;;
        badfilter) check_bad_filter ;;
        sigint) phase_sigint ;;
        privs) phase_privs ;;
        down) phase_iface_down ;;
        drops) phase_drops ;;
        replay) phase_replay ;;
        gone) phase_iface_gone ;;
        *) fail "$phase" "unknown phase in LIVE_PHASES" ;;
    esac
done
exit 0
