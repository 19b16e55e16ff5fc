#!/usr/bin/env bash
# bench/live.sh: the live half of `make bench` (issue 6).
#
# Replays one workload pcap (bench/gen_workload, workload 1's shape) with
# `tcpreplay --topspeed` from the client end of the namespace lab's veth
# (tests/lab/lib.sh) while one capture tool at a time listens on the server
# end, and reports per tool the CPU it spent per packet offered and the
# packets the kernel dropped for it.  Rounds are interleaved in a rotated
# order (each round runs every tool once), BENCH_RUNS rounds, medians shown;
# the same file is replayed every time.  A "(no capture)" replay each round
# gives the generator's own maximum rate on the veth.
#
#   bench/live.sh                                     3 rounds, 2 M packets
#   BENCH_RUNS=5 BENCH_LIVE_PACKETS=500000 bench/live.sh
#   BENCH_LIVE_TOOLS="netmoon-T1 tcpdump" bench/live.sh   a subset
#   BENCH_LIVE_SETTLE=3     at most this many seconds after the replay for
#                           the tool to go idle (drain its ring) before it
#                           is stopped
#
# Needs root (namespaces, AF_PACKET), tcpreplay, /usr/bin/time and the lab's
# tools; peers that are not installed are skipped with a note.  Addresses
# are only 198.18.0.0/15 and 2001:db8::/32 and nothing leaves the
# namespaces; lab_down (trap on EXIT, INT, TERM) stops every process started
# here and deletes the namespaces and the temporary directory.
#
# How each number is taken:
#   CPU s       user+sys of the tool's process (all threads) from start to
#               exit, by /usr/bin/time wrapped directly around the tool
#               (so it includes writing the records at exit, and excludes
#               the pseudo-terminal that tcptrack needs); for netmoon-ebpf
#               (--engine ebpf) plus its kernel program's own run time,
#               which runs in softirq and is in no process's CPU: the
#               kernel times it while kernel.bpf_stats_enabled is 1, which
#               this script sets for that tool's round only (the timing
#               itself adds two clock reads a run to the program's cost),
#               and its sweeps' time ("ebpf sweeps" in --stats, timed by
#               the sweep: timer work is not in the kernel's statistics);
#   offered     packets the server veth received during the replay
#               (rx_packets delta: the replay plus a few neighbour
#               discovery packets), i.e. what reached the capture hook;
#   µs/pkt      CPU s / offered;
#   idle CPU %  the tool's CPU while it waited, ready, for one second
#               before the replay (tools that poll a terminal spend CPU
#               with no traffic at all);
#   drops       what the tool itself reports: netmoon --stats
#               "kernel drops" (netmoon-ebpf: plus "ebpf table full", the
#               packets its full flow map could not account), tcpdump "dropped by kernel", softflowd
#               (softflowctl statistics) "dropped by libpcap"; tcptrack and
#               iftop report none (n/a);
#   Mpps        tcpreplay's own "Rated: ... pps" for that replay.
# Softirq work (the kernel copying packets into the tool's ring) is charged
# to whatever runs on that CPU, mostly tcpreplay, so it is in no tool's CPU
# (netmoon-ebpf's program is the exception: its run time is added, above).
# The whole machine's busy time net of a replay without capture would
# count that work for every tool, but on this VM the replay's own cost
# varies by more than any tool's (it came out negative), so it is not
# reported.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

RUNS=${BENCH_RUNS:-3}
PACKETS=${BENCH_LIVE_PACKETS:-2000000}
SETTLE=${BENCH_LIVE_SETTLE:-3}
STOP_TIMEOUT=${BENCH_LIVE_STOP_TIMEOUT:-20}
REPLAY_TIMEOUT=${BENCH_LIVE_REPLAY_TIMEOUT:-300}
GEN=${BENCH_GEN:-$root/build/rel/bench/gen_workload}
NETMOON=${NETMOON:-$root/netmoon}
TIME=/usr/bin/time
ALL_TOOLS=(none netmoon-T1 netmoon-T2 netmoon-full netmoon-ebpf tcpdump softflowd tcptrack iftop)
read -r -a TOOLS <<<"${BENCH_LIVE_TOOLS:-${ALL_TOOLS[*]}}"

die() { echo "bench-live: $*" >&2; exit 1; }
note() { echo "bench-live: $*" >&2; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, got '$RUNS'"
[[ $PACKETS =~ ^[1-9][0-9]*$ ]] && [ "$PACKETS" -ge 13 ] \
    || die "BENCH_LIVE_PACKETS must be an integer >= 13, got '$PACKETS'"
[[ $SETTLE =~ ^[1-9][0-9]*$ ]] || die "BENCH_LIVE_SETTLE must be a positive integer, got '$SETTLE'"
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, AF_PACKET capture): run as root or with sudo"
[ -x "$NETMOON" ] || die "$NETMOON not found: run 'make netmoon' (or 'make bench')"
[ -x "$GEN" ] || die "$GEN not found: run 'make build/rel/bench/gen_workload' (or 'make bench')"
[ -x "$TIME" ] || die "$TIME not found: install the 'time' package (scripts/install-deps.sh --bench)"
command -v tcpreplay >/dev/null || die "tcpreplay not found: it generates the traffic (scripts/install-deps.sh --bench)"
command -v python3 >/dev/null || die "python3 not found: run scripts/install-deps.sh"

# shellcheck source=../tests/lab/lib.sh
source "$root/tests/lab/lib.sh"

# tool_needs TOOL: what must be on PATH for TOOL to run.
tool_needs() {
    case $1 in
        none) echo tcpreplay ;;
        netmoon-*) echo "$NETMOON" ;;
        softflowd) echo softflowd softflowctl ;; # stopped and asked for its drops by softflowctl
        tcptrack) echo tcptrack script ;;        # a curses program: runs on a pty
        *) echo "$1" ;;
    esac
}
# tool_command TOOL: sets cmd=(...), the tool as run in the server namespace.
tool_command() {
    local dev=$LAB_SRV_DEV
    case $1 in
        # netmoon-T1/-T2 are flow accounting, the work the peers do (as
        # bench/run.sh's netmoon row): no nDPI labels, no process
        # attribution.  netmoon-full is the default configuration (labels
        # and attribution on, one worker per CPU), shown beside them.
        netmoon-T1) cmd=("$NETMOON" -i "$dev" -T 1 --no-l7 --no-procs --json=/dev/null --stats) ;;
        netmoon-T2) cmd=("$NETMOON" -i "$dev" -T 2 --no-l7 --no-procs --json=/dev/null --stats) ;;
        netmoon-full) cmd=("$NETMOON" -i "$dev" -T 2 --json=/dev/null --stats) ;;
        # Flows counted by a kernel program, no packet copied to netmoon:
        # bytes, packets, flags and times per flow, as softflowd's records.
        netmoon-ebpf) cmd=("$NETMOON" -i "$dev" --engine ebpf --json=/dev/null --stats) ;;
        tcpdump) cmd=(tcpdump -i "$dev" -w /dev/null) ;;
        # -6 -m: track IPv6 and hold as many flows as netmoon (as in
        # bench/run.sh); -c: our own control socket, not /var/run's, which
        # softflowctl uses to stop it (it does not stop on SIGINT).
        softflowd) cmd=(softflowd -d -i "$dev" -6 -m 2000000 -c "$work/softflowd.ctl" -n 127.0.0.1:9) ;;
        tcptrack) cmd=(tcptrack -i "$dev") ;;
        # -c /dev/null: no ~/.iftoprc; -p: also count traffic between other hosts.
        iftop) cmd=(iftop -t -n -N -P -p -c /dev/null -i "$dev") ;;
    esac
}
show_command() {
    local line
    line=$(printf '%q ' "${cmd[@]}")
    line=${line% }
    line=${line//"$root"\//./}
    line=${line//"$work"/TMPDIR}
    case $1 in
        tcptrack) echo "script -qfec \"$line\" /dev/null   # needs a terminal; stopped by SIGINT" ;;
        softflowd) echo "$line   # stopped by softflowctl -c TMPDIR/softflowd.ctl shutdown" ;;
        iftop) echo "$line   # stopped by SIGTERM" ;;
        *) echo "$line   # stopped by SIGINT" ;;
    esac
}

available=()
for tool in "${TOOLS[@]}"; do
    case " ${ALL_TOOLS[*]} " in *" $tool "*) ;; *) die "unknown tool '$tool' in BENCH_LIVE_TOOLS (known: ${ALL_TOOLS[*]})" ;; esac
    missing=""
    for b in $(tool_needs "$tool"); do command -v "$b" >/dev/null || missing+=" $b"; done
    if [ -z "$missing" ]; then
        available+=("$tool")
    else
        note "$tool skipped:$missing not installed (scripts/install-deps.sh --bench installs it)"
    fi
done

lab_up || die "the namespace lab did not come up (see above)"
work=$LAB_TMP
results=$work/results.tsv
: >"$results"
for tool in "${TOOLS[@]}"; do
    case " ${available[*]} " in *" $tool "*) ;; *) printf 'skipped\t%s\n' "$tool" >>"$results" ;; esac
done
# Nothing answers the replayed packets: their MACs are not the veth's, so
# the server's IP stack discards them after the capture hooks saw them.
ifindex=$(lab_srv cat "/sys/class/net/$LAB_SRV_DEV/ifindex")

flows=$(( PACKETS / 13 ))
pcap=$work/live.pcap
gen_args="-f $flows -p 13 -s 256 -c 1000"
# shellcheck disable=SC2086  # a list of options
summary=$("$GEN" -o "$pcap" $gen_args) || die "the generator failed"
printf 'meta\t%s\n' "$summary" >>"$results"

echo "netmoon live benchmark: $(nproc) CPUs, $(uname -r), $RUNS rounds, median reported, load average at start: $(cut -d" " -f1-3 /proc/loadavg)"
echo "versions: netmoon $("$NETMOON" --version | awk 'NR == 1 {print $2}'), $(tcpreplay -V 2>&1 | head -1),"\
     "$(tcpdump --version 2>&1 | head -1), $(tcpdump --version 2>&1 | sed -n 2p),"\
     "softflowd $(dpkg-query -W -f='${Version}' softflowd 2>/dev/null), tcptrack $(dpkg-query -W -f='${Version}' tcptrack 2>/dev/null),"\
     "iftop $(dpkg-query -W -f='${Version}' iftop 2>/dev/null)"
echo "workload: $(basename "$GEN") -o FILE $gen_args"
echo "  $summary"
echo "replay: ip netns exec CLIENT tcpreplay --topspeed -K -i $LAB_CLI_DEV FILE; capture on $LAB_SRV_DEV in SERVER"
echo

srv_rx() { lab_srv cat "/sys/class/net/$LAB_SRV_DEV/statistics/rx_packets"; }
# cpu_ticks PID: user+sys clock ticks of the process, all threads.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo -1; }
# find_tool PID NAME: PID itself or the first descendant whose comm is NAME.
find_tool() {
    local pid=$1 name=$2 kid found
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] && { echo "$pid"; return 0; }
    for kid in $(pgrep -P "$pid" 2>/dev/null); do
        found=$(find_tool "$kid" "$name") && { echo "$found"; return 0; }
    done
    return 1
}
# capture_ready PID N [fd]: PID has mapped N packet rings (with "fd": holds
# N packet sockets, for netmoon-ebpf, which maps no ring) whose sockets are
# bound to the server veth and running (/proc/PID/net/packet: Iface, R,
# Inode).
capture_ready() {
    local pid=$1 want=$2 inodes
    if [ "${3:-}" = fd ]; then
        inodes=$(ls -l "/proc/$pid/fd" 2>/dev/null | grep -o 'socket:\[[0-9]*\]' | tr -dc '0-9\n' | sort -u) || return 1
    else
        inodes=$(grep -o 'socket:\[[0-9]*\]' "/proc/$pid/maps" 2>/dev/null | tr -dc '0-9\n' | sort -u) || return 1
    fi
    [ -n "$inodes" ] || return 1
    [ "$(awk -v ifx="$ifindex" 'NR == FNR { want[$1] = 1; next }
                                 FNR > 1 && $5 == ifx && $6 == 1 && ($9 in want) { n++ }
                                 END { print n + 0 }' <(echo "$inodes") "/proc/$pid/net/packet")" -ge "$want" ]
}
# replay: one tcpreplay run in the client namespace; sets sent, pps.
replay() {
    local out=$work/replay.out
    lab_cli timeout -k 5 "$REPLAY_TIMEOUT" tcpreplay --topspeed -K -i "$LAB_CLI_DEV" "$pcap" >"$out" 2>&1 \
        || { cat "$out" >&2; die "tcpreplay failed"; }
    sent=$(sed -n 's/^Actual: \([0-9]*\) packets.*/\1/p' "$out")
    pps=$(sed -n 's/^Rated: .* \([0-9.]*\) pps.*/\1/p' "$out")
    [ -n "$sent" ] && [ -n "$pps" ] || { cat "$out" >&2; die "could not read tcpreplay's summary"; }
}
# tool_stats TOOL ERRFILE: prints "seen drops" from the tool's own report.
tool_stats() {
    local f=$2
    case $1 in
        netmoon-*) awk '/^  packets:/ { s = $2 } /^  kernel drops:/ { d = $3 } /^  ebpf table full:/ { d += $4 }
                        END { print (s == "" ? "n/a" : s), (d == "" ? "n/a" : d) }' "$f" ;;
        tcpdump) awk '/packets captured/ { s = $1 } /dropped by kernel/ { d = $1 }
                      END { print (s == "" ? "n/a" : s), (d == "" ? "n/a" : d) }' "$f" ;;
        softflowd) awk '/^Packets received by libpcap:/ { r = $5 } /^Packets dropped by libpcap:/ { d = $5 }
                        END { if (r == "") print "n/a n/a"; else print r - d, d }' "$work/softflowd.stats" ;;
        *) echo "n/a n/a" ;;
    esac
}

# measure TOOL RUN: start TOOL in the server namespace, wait until its
# capture is ready, replay, let it drain, stop it; one line to $results.
measure() {
    local tool=$1 run=$2 comm wrapper pid want=1 rc=0 idle0 idle1 rx0 rx1 prev now still
    local err=$work/$tool.err timef=$work/$tool.time npids=${#LAB_PIDS[@]}
    if [ "$tool" = none ]; then
        rx0=$(srv_rx); replay; rx1=$(srv_rx)
        printf '%s\t%s\t%s\t%s\t%s\tn/a\tn/a\tn/a\tn/a\t0\n' "$run" "$tool" "$sent" "$pps" "$((rx1 - rx0))" >>"$results"
        note "round $run/$RUNS (no capture): replay $pps pps"
        return 0
    fi
    tool_command "$tool"
    comm=$(basename "${cmd[0]}")
    local timed=("$TIME" -f '%U %S' -o "$timef" "${cmd[@]}")
    rm -f "$timef" "$work/softflowd.stats" "$work/softflowd.ctl"
    if [ "$tool" = tcptrack ]; then
        # script(1) gives it a terminal; its screen output goes to a file.
        lab_bg "$LAB_NS_SRV" env TERM=xterm script -qfec "stty rows 50 cols 160; exec $(printf '%q ' "${timed[@]}")" \
            /dev/null </dev/null >"$work/$tool.out" 2>"$err"
    else
        lab_bg "$LAB_NS_SRV" "${timed[@]}" </dev/null >"$work/$tool.out" 2>"$err"
    fi
    wrapper=$LAB_BG_PID
    case $tool in netmoon-T2 | netmoon-full) want=2 ;; esac
    if ! lab_wait_until 10 find_tool "$wrapper" "$comm"; then
        note "$tool did not start; its stderr ends:"; tail -5 "$err" | sed 's/^/    /' >&2
        lab_stop_pid "$wrapper"; LAB_PIDS=("${LAB_PIDS[@]:0:npids}")
        printf '%s\t%s\t\t\t\t\t\t\t\t1\n' "$run" "$tool" >>"$results"
        return 0
    fi
    pid=$(find_tool "$wrapper" "$comm")
    LAB_PIDS+=("$pid") # so that lab_down stops it too if we are interrupted
    local how=maps
    [ "$tool" = netmoon-ebpf ] && how=fd
    if ! lab_wait_until 10 capture_ready "$pid" "$want" "$how"; then
        note "$tool did not open its capture on $LAB_SRV_DEV in 10 s; its stderr ends:"
        tail -5 "$err" | sed 's/^/    /' >&2
        rc=1
    else
        # One second ready and idle: whatever the tool spends here it spends
        # without traffic.
        idle0=$(cpu_ticks "$pid"); sleep 1; idle1=$(cpu_ticks "$pid")
        rx0=$(srv_rx); replay; rx1=$(srv_rx)
        # Settle: until the tool's CPU has not moved for half a second (its
        # ring drained), at most SETTLE seconds.
        still=0; now=$(cpu_ticks "$pid")
        for _ in $(seq 1 $((SETTLE * 4))); do
            sleep 0.25; prev=$now; now=$(cpu_ticks "$pid")
            if [ "$now" = "$prev" ]; then still=$((still + 1)); else still=0; fi
            [ "$still" -ge 2 ] && break
        done
    fi
    case $tool in
        softflowd)
            lab_srv softflowctl -c "$work/softflowd.ctl" statistics >"$work/softflowd.stats" 2>&1 || true
            lab_srv softflowctl -c "$work/softflowd.ctl" shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true ;;
        # iftop -t at times never returns from its SIGINT handler; it has no
        # report to print at exit anyway.
        iftop) kill -TERM "$pid" 2>/dev/null || true ;;
        *) kill -INT "$pid" 2>/dev/null || true ;;
    esac
    if ! lab_wait_until "$STOP_TIMEOUT" bash -c "! kill -0 $wrapper"; then
        note "$tool did not exit $STOP_TIMEOUT s after it was asked to: killed"
        kill -KILL "$pid" 2>/dev/null || true
        # /usr/bin/time still reports the CPU of a killed tool.
        lab_wait_until 5 bash -c "! kill -0 $wrapper" || true
        rc=1
    fi
    lab_stop_pid "$wrapper"
    LAB_PIDS=("${LAB_PIDS[@]:0:npids}")
    local cpu="" seen=n/a drops=n/a idle=n/a
    if [ -s "$timef" ]; then
        # /usr/bin/time writes "Command exited with non-zero status N" or
        # "Command terminated by signal N" first when it has to.
        read -r u s < <(tail -1 "$timef")
        cpu="$u+$s"
        # The kernel program's run time and its sweeps', in seconds (see
        # the top comment).
        if [ "$tool" = netmoon-ebpf ]; then
            bpf_ns=$(awk '/^  ebpf program:/ { print $5 }' "$err")
            sweep_ns=$(awk '/^  ebpf sweeps:/ { print $4 }' "$err")
            [[ ${bpf_ns:-} =~ ^[0-9]+$ ]] && [ "$bpf_ns" -gt 0 ] || { note "netmoon-ebpf: no program run time in --stats"; rc=1; }
            [[ ${sweep_ns:-} =~ ^[0-9]+$ ]] || { note "netmoon-ebpf: no sweep time in --stats"; rc=1; }
            cpu="$cpu+$(awk -v n="${bpf_ns:-0}" -v w="${sweep_ns:-0}" 'BEGIN { printf "%.6f+%.6f", n / 1e9, w / 1e9 }')"
        fi
        # tcptrack and iftop end on SIGINT by the signal itself: expected.
        if grep -q 'non-zero status' "$timef" && [ "$tool" != softflowd ]; then rc=1; fi
    else
        rc=1
    fi
    [ "$rc" -eq 0 ] && read -r seen drops < <(tool_stats "$tool" "$err")
    [ -n "${idle1:-}" ] && idle=$((idle1 - idle0))
    if [ "$rc" -ne 0 ]; then
        note "$tool failed in round $run; its stderr ends:"; tail -5 "$err" | sed 's/^/    /' >&2
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$tool" "${sent:-}" "${pps:-}" \
        "$(( ${rx1:-0} - ${rx0:-0} ))" "$seen" "$drops" "$cpu" "$idle" "$rc" >>"$results"
    note "round $run/$RUNS $tool: replay ${pps:-?} pps, seen $seen, kernel drops $drops, CPU ${cpu:-?} s"
}

for run in $(seq 1 "$RUNS"); do
    n=${#available[@]}
    for i in $(seq 0 $((n - 1))); do
        tool=${available[$(( (i + run - 1) % n ))]}
        sent=; pps=
        if [ "$tool" = netmoon-ebpf ]; then
            # Its program is timed only while this is on; back as it was
            # after, or on the way out if the round is interrupted.
            stats_was=$(cat /proc/sys/kernel/bpf_stats_enabled)
            trap 'echo "$stats_was" >/proc/sys/kernel/bpf_stats_enabled; lab_down' EXIT
            echo 1 >/proc/sys/kernel/bpf_stats_enabled
            measure "$tool" "$run"
            echo "$stats_was" >/proc/sys/kernel/bpf_stats_enabled
            trap lab_down EXIT
        else
            measure "$tool" "$run"
        fi
    done
done

echo "Commands (in the server namespace; TMPDIR is the run's temporary directory):"
for tool in "${available[@]}"; do
    [ "$tool" = none ] && continue
    tool_command "$tool"
    echo "  $(show_command "$tool")"
done
echo

python3 - "$results" "$(getconf CLK_TCK)" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
hz = int(sys.argv[2])
meta = dict(kv.split("=") for kv in next(r for r in rows if r[0] == "meta")[1].split())
skipped = [r[1] for r in rows if r[0] == "skipped"]
runs, failed, order = {}, {}, []
for r in rows:
    if r[0] in ("meta", "skipped"):
        continue
    _, tool, sent, pps, offered, seen, drops, cpu, idle, rc = r
    if tool not in order:
        order.append(tool)
    if rc != "0":
        failed[tool] = failed.get(tool, 0) + 1
        continue
    num = lambda v: None if v in ("", "n/a") else float(v)
    c = sum(map(float, cpu.split("+"))) if cpu not in ("", "n/a") else None
    runs.setdefault(tool, []).append(dict(sent=num(sent), pps=num(pps), offered=num(offered),
        seen=num(seen), drops=num(drops), cpu=c, idle=num(idle),
        us=(c / float(offered) * 1e6 if c is not None and float(offered) else None)))

def med(tool, k):
    v = [x[k] for x in runs.get(tool, []) if x[k] is not None]
    return statistics.median(v) if v else None

def fmt(v, f):
    return "n/a" if v is None else f.format(v)

base = med("netmoon-T1", "us")
print("| tool | replay Mpps | offered | seen by tool | kernel drops, median (max) | CPU s | idle CPU % | CPU µs/pkt | tool / netmoon -T 1 |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for t in order:
    if t not in runs:
        print(f"| {t} | failed in every round | | | | | | | |")
        continue
    us = med(t, "us")
    d = [x["drops"] for x in runs[t] if x["drops"] is not None]
    drops = f"{statistics.median(d):.0f} ({max(d):.0f})" if d else "n/a"
    ratio = ("1.00 (baseline)" if t == "netmoon-T1" else
             fmt(us / base if us is not None and base else None, "{:.2f}"))
    name = "(no capture)" if t == "none" else t
    idle = med(t, "idle")
    print(f"| {name} | {fmt(med(t, 'pps') and med(t, 'pps') / 1e6, '{:.2f}')} | {fmt(med(t, 'offered'), '{:.0f}')}"
          f" | {fmt(med(t, 'seen'), '{:.0f}')} | {drops} | {fmt(med(t, 'cpu'), '{:.2f}')}"
          f" | {fmt(None if idle is None else idle / hz * 100, '{:.0f}')}"
          f" | {fmt(us, '{:.3f}')} | {ratio} |")
for t in skipped:
    print(f"| {t} | skipped (not installed) | | | | | | | |")
short = [(t, x) for t in runs for x in runs[t] if x["sent"] and x["offered"] < x["sent"]]
for t, x in short:
    print(f"note: during a {'(no capture)' if t == 'none' else t} replay the server veth received {x['offered']:.0f} of {x['sent']:.0f} packets sent"
          " (lost on the veth itself, before any capture hook)")
for t, n in failed.items():
    print(f"note: {t} failed in {n} round(s) (see the messages above); the medians use the others")
print()
print(f"offered = rx_packets delta of the server veth ({int(meta['packets'])} packets replayed, plus neighbour discovery);"
      " µs/pkt = CPU s / offered; kernel drops as the tool reports them, median (max) over rounds")
print()

def verdict(ok):
    return "met" if ok else "NOT met"
print("Targets (issue 6, live):")
for t in ("netmoon-T1", "netmoon-T2", "netmoon-ebpf"):
    d = [x["drops"] for x in runs.get(t, []) if x["drops"] is not None]
    if d and t not in failed:
        print(f"  {t}: zero kernel drops at the generator's maximum rate, every round: "
              f"max {max(d):.0f}, {verdict(max(d) == 0)}")
    elif t in order:
        print(f"  {t}: zero kernel drops: not measured (failed)")
    td = med("tcpdump", "us")
    us = med(t, "us")
    if td is not None and us is not None:
        ratio = f"{td / us:.2f}" if us else "n/a"
        print(f"  {t}: CPU per packet <= tcpdump's: {us:.3f} vs {td:.3f} µs/pkt "
              f"(ratio tcpdump / netmoon {ratio}), {verdict(us <= td)}")
PY
