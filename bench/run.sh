#!/usr/bin/env bash
# bench/run.sh: the offline benchmark of `make bench` (issue 6).
#
# Generates the standard workloads with bench/gen_workload, then runs netmoon
# and its peers on the same files in the same run, interleaved (each round
# runs every tool once, in a rotated order, so drift in machine load hits all
# tools alike), BENCH_RUNS rounds, and prints the median wall time, packets/s,
# peak RSS and CPU time of each, with the ratio peer time / netmoon time
# (above 1.0: netmoon is faster).  Missing peer tools are skipped, not failed.
#
#   bench/run.sh                        workloads 1 2 3 corpus, 3 rounds
#   BENCH_RUNS=5 bench/run.sh           more rounds
#   BENCH_WORKLOADS="1 2" bench/run.sh  skip the 10 M-packet workload
#   BENCH_WORKLOADS=corpus bench/run.sh only the corpus file (issue 8)
#   BENCH_CORPUS_RUNS=20                rounds on the corpus file (default 20)
#   BENCH_TIMEOUT=900                   seconds before a run counts as hung
#
# Workloads (bench/gen_workload options):
#   1  100 k flows x 13 packets = 1.3 M packets, 256-byte payloads, 1000 open at once
#   2  1 M TCP flows, handshake only, all open at once (memory per flow)
#   3  500 k flows x 20 packets = 10 M packets (about 3 GB of pcap)
#   corpus  not generated: the largest file of ../shared/pcaps (SHARED_PCAPS),
#      netmoon with labels against ndpiReader only (issue 8 asks 5x); a run
#      takes tens of milliseconds, mostly nDPI's start-up, so it gets more
#      rounds
# Files live in a temporary directory under /tmp, removed on any exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

RUNS=${BENCH_RUNS:-3}
WORKLOADS=${BENCH_WORKLOADS:-1 2 3 corpus}
CORPUS_RUNS=${BENCH_CORPUS_RUNS:-20}
SHARED=${SHARED_PCAPS:-$root/../shared/pcaps}
GEN=${BENCH_GEN:-$root/build/rel/bench/gen_workload}
NETMOON=${NETMOON:-$root/netmoon}
TIME=/usr/bin/time
TOOL_TIMEOUT=${BENCH_TIMEOUT:-900}

die() { echo "bench: $*" >&2; exit 1; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, got '$RUNS'"
[[ $CORPUS_RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_CORPUS_RUNS must be a positive integer, got '$CORPUS_RUNS'"
[ -x "$NETMOON" ] || die "$NETMOON not found: run 'make netmoon' (or 'make bench')"
[ -x "$GEN" ] || die "$GEN not found: run 'make build/rel/bench/gen_workload' (or 'make bench')"
[ -x "$TIME" ] || die "$TIME not found: install the 'time' package (scripts/install-deps.sh --bench)"
command -v python3 >/dev/null || die "python3 not found: run scripts/install-deps.sh"

tmp=$(mktemp -d /tmp/netmoon-bench.XXXXXX)
# EXIT covers failures under set -e; INT/TERM exit so that EXIT runs too.
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
results=$tmp/results.tsv
: >"$results"

workload_args() {
    case $1 in
        tiny) echo "-f 10 -p 13 -s 256 -c 10" ;;
        1) echo "-f 100000 -p 13 -s 256 -c 1000" ;;
        2) echo "-f 1000000 -p 3 -c 1000000 --udp 0" ;;
        3) echo "-f 500000 -p 20 -s 256 -c 5000" ;;
        corpus) echo "" ;;
        *) die "unknown workload '$1' in BENCH_WORKLOADS (known: 1 2 3 corpus)" ;;
    esac
}
# Rough pcap size in bytes, to check free disk space before generating.
workload_bytes() {
    case $1 in
        1) echo 310000000 ;; 2) echo 240000000 ;; 3) echo 3000000000 ;; *) echo 1000000 ;;
    esac
}

# netmoon is flow accounting without application labels (--no-l7), the
# work tcpdump, softflowd, argus and nfpcapd are compared with; netmoon-l7
# adds nDPI labels (the default), compared with ndpiReader.  netmoon-pipe
# reads the same file from a pipe: netmoon maps a regular file, so with
# -r FILE its peak RSS includes the file's (reclaimable) page-cache pages;
# through a pipe only its own memory counts.
TOOLS=(netmoon netmoon-l7 netmoon-pipe tcpdump softflowd argus nfpcapd ndpiReader)
tool_binary() {
    case $1 in netmoon*) echo "$NETMOON" ;; wrapper) echo true ;; *) echo "$1" ;; esac
}
# tool_command TOOL FILE: sets cmd=(...).  Every tool reads the whole file
# and does its normal per-flow work; outputs go nowhere that costs disk.
tool_command() {
    local f=$2
    case $1 in
        netmoon) cmd=("$NETMOON" -r "$f" --json --no-l7) ;;
        netmoon-l7) cmd=("$NETMOON" -r "$f" --json) ;;
        netmoon-pipe) cmd=("$NETMOON" -r - --json --no-l7) ;; # stdin: see measure
        tcpdump) cmd=(tcpdump -r "$f" -w /dev/null) ;;
        # -m: a table as large as netmoon's, so softflowd is not forced to
        # expire flows early; -6: also track IPv6; exports go to the discard
        # port.  (No -c: with a control socket softflowd waits for a
        # command after the end of the file instead of exiting.)
        softflowd) cmd=(softflowd -d -r "$f" -6 -m 2000000 -n 127.0.0.1:9) ;;
        # -X: ignore /etc/argus.conf, which would also write /var/log/argus.
        argus) cmd=(argus -X -r "$f" -w /dev/null) ;;
        nfpcapd) cmd=(nfpcapd -r "$f" -w "$tmp/nfpcapd") ;;
        ndpiReader) cmd=(ndpiReader -q -i "$f") ;;
        # The corpus row's runs are short enough that starting /usr/bin/time
        # and timeout counts: `true` through the same wrapper measures that.
        wrapper) cmd=(true) ;;
    esac
}
# Printed with ./netmoon and TMPDIR for the per-run paths, as one would type it.
show_command() {
    local line=""
    [ "$1" = netmoon-pipe ] && line="cat FILE | "
    line+=$(printf '%q ' "${cmd[@]}")
    line=${line//"$root"\//./}
    echo "${line//"$tmp"/TMPDIR}>/dev/null"
}

# measure WORKLOAD TOOL FILE RUN: one timed run, appended to $results.
measure() {
    local w=$1 tool=$2 f=$3 run=$4 t0 t1 rc=0
    tool_command "$tool" "$f"
    rm -rf "$tmp/nfpcapd" && mkdir -p "$tmp/nfpcapd"
    t0=$(date +%s%N)
    # timeout: a tool that hangs is reported (exit 124) instead of stalling
    # the whole benchmark.
    local input=/dev/null
    [ "$tool" = netmoon-pipe ] && input=$f
    "$TIME" -f '%M %U %S' -o "$tmp/time" timeout -k 5 "$TOOL_TIMEOUT" "${cmd[@]}" \
        < <(if [ "$input" = "$f" ]; then cat "$f"; fi) >/dev/null 2>"$tmp/stderr" || rc=$?
    t1=$(date +%s%N)
    # /usr/bin/time appends "Command exited with non-zero status N" first.
    read -r rss user sys < <(tail -1 "$tmp/time")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$tool" "$run" \
        "$(( (t1 - t0) / 1000 ))" "$rss" "$user+$sys" "$rc" >>"$results"
    if [ "$rc" -ne 0 ]; then
        echo "bench: $tool exited with status $rc on workload $w; its stderr ends:" >&2
        tail -5 "$tmp/stderr" | sed 's/^/    /' >&2
    fi
    rm -rf "$tmp/nfpcapd"
}

available=()
for tool in "${TOOLS[@]}"; do
    if command -v "$(tool_binary "$tool")" >/dev/null; then
        available+=("$tool")
    else
        echo "bench: $tool not installed: skipped (scripts/install-deps.sh --bench installs it)" >&2
        printf 'all\t%s\tskipped\n' "$tool" >>"$results"
    fi
done

echo "netmoon offline benchmark: $(nproc) CPUs, $(uname -r), $RUNS rounds, median reported, load average at start: $(cut -d" " -f1-3 /proc/loadavg)"
echo "versions: netmoon $("$NETMOON" --version | awk 'NR == 1 {print $2}'), $(tcpdump --version 2>&1 | head -1),"\
     "$(tcpdump --version 2>&1 | sed -n 2p), softflowd $(dpkg-query -W -f='${Version}' softflowd 2>/dev/null),"\
     "argus $(dpkg-query -W -f='${Version}' argus-server 2>/dev/null),"\
     "nfdump $(dpkg-query -W -f='${Version}' nfdump 2>/dev/null), nDPI $(dpkg-query -W -f='${Version}' libndpi-bin 2>/dev/null)"
echo

# The tiny file is the RSS baseline for bytes per flow: the program's own
# footprint before any flow is tracked.
# shellcheck disable=SC2086  # a list of workload names
set -- tiny $WORKLOADS
for w in "$@"; do
    args=$(workload_args "$w")
    need=$(( $(workload_bytes "$w") * 3 / 2 ))
    avail=$(df --output=avail -B1 "$tmp" | tail -1)
    if [ "$avail" -lt "$need" ]; then
        echo "bench: workload $w skipped: needs about $((need >> 20)) MiB free in /tmp, $((avail >> 20)) MiB available" >&2
        continue
    fi
    rounds=$RUNS tools=("${available[@]}")
    if [ "$w" = corpus ]; then
        f=$(find "$SHARED" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) \
                -printf '%s %p\n' 2>/dev/null | sort -n | tail -1 | cut -d' ' -f2-)
        if [ -z "$f" ]; then
            echo "bench: workload corpus skipped: no captures in $SHARED" >&2
            continue
        fi
        rounds=$CORPUS_RUNS tools=(wrapper)
        for t in netmoon-l7 ndpiReader; do
            [[ " ${available[*]} " == *" $t "* ]] && tools+=("$t")
        done
        flows=$("$NETMOON" -r "$f" --stats 2>&1 >/dev/null | awk '/^ *flows:/ {print $2; exit}')
        summary="packets=$(capinfos -c -M "$f" | awk '/Number of packets/ {print $NF}') flows=${flows:-0} file=$(basename "$f")"
        echo "workload corpus: the largest capture of $SHARED, $(basename "$f") ($(stat -c %s "$f") bytes)"
    else
        f=$tmp/workload-$w.pcap
        echo "workload $w: $(basename "$GEN") -o FILE $args"
        # shellcheck disable=SC2086  # $args is a list of options
        summary=$("$GEN" -o "$f" $args) || die "the generator failed on workload $w"
    fi
    echo "  $summary"
    printf 'meta\t%s\t%s\n' "$w" "$summary" >>"$results"
    # One untimed netmoon run warms the page cache for every tool and shows
    # that netmoon accounted every flow (no evictions skew the memory figure).
    "$NETMOON" -r "$f" --json --stats 2>"$tmp/stats" >/dev/null \
        || die "netmoon failed on workload $w: $(tail -3 "$tmp/stats")"
    echo "  netmoon --stats: $(grep -E '^ *flows:' "$tmp/stats" | sed 's/^ *//'); $(grep -E 'evictions' "$tmp/stats" | sed 's/^ *//')"
    for run in $(seq 1 "$rounds"); do
        n=${#tools[@]}
        for i in $(seq 0 $((n - 1))); do
            tool=${tools[$(( (i + run - 1) % n ))]}
            measure "$w" "$tool" "$f" "$run"
        done
    done
    [ "$w" = corpus ] || rm -f "$f"
done

echo
echo "Commands (FILE is the workload's pcap):"
for tool in "${available[@]}"; do
    tool_command "$tool" FILE
    echo "  $(show_command "$tool")"
done
echo

python3 - "$results" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
meta = {r[1]: dict(kv.split("=") for kv in r[2].split()) for r in rows if r[0] == "meta"}
skipped = [r[1] for r in rows if r[0] == "all"]
runs = {}
for r in rows:
    if r[0] in ("meta", "all"):
        continue
    w, tool, _, us, rss, cpu, rc = r
    runs.setdefault((w, tool), []).append((int(us) / 1e6, int(rss), sum(map(float, cpu.split("+"))), int(rc)))

def med(key, i):
    return statistics.median(v[i] for v in runs[key])

tools = []
for (w, t) in runs:
    if t not in tools:
        tools.append(t)
# ndpiReader labels flows: it is compared with netmoon-l7, the rest with
# netmoon's flow accounting alone.
def base_tool(t):
    return "netmoon-l7" if t == "ndpiReader" else "netmoon"

print("| workload | tool | wall s | Mpkt/s | peak RSS MiB | CPU s | peer time / netmoon time |")
print("|---|---|---:|---:|---:|---:|---:|")
ratios = {}
for w in [w for w in meta if w != "tiny"]:
    pk = int(meta[w]["packets"])
    label = (f"corpus ({meta[w]['file']}, {pk} pkts, {meta[w]['flows']} flows)" if w == "corpus" else
             f"{w} ({pk / 1e6:.1f} M pkts, {int(meta[w]['flows']) / 1e3:.0f} k flows)")
    def base_wall(t):
        b = (w, base_tool(t))
        return b in runs and not any(v[3] for v in runs[b]) and med(b, 0)
    for t in tools:
        if (w, t) not in runs or t == "wrapper":
            continue
        failed = [v[3] for v in runs[(w, t)] if v[3]]
        if failed:
            print(f"| {label} | {t} | failed (exit {failed[0]}) | | | | |")
            continue
        wall, rss, cpu = med((w, t), 0), med((w, t), 1), med((w, t), 2)
        base = base_wall(t)
        ratio = wall / base if base else None
        ratios[(w, t)] = ratio
        rs = ("1.00 (baseline)" if t == "netmoon" else
              f"{ratio:.2f} (vs netmoon-l7)" if t == "ndpiReader" and ratio else
              f"{ratio:.2f}" if ratio else "n/a")
        digits = 3 if wall < 1 else 2   # the corpus file takes tens of ms
        print(f"| {label} | {t} | {wall:.{digits}f} | {pk / wall / 1e6:.2f} | {rss / 1024:.0f} | "
              f"{cpu:.{digits}f} | {rs} |")
for t in skipped:
    print(f"| all | {t} | skipped (not installed) | | | | |")
print()

def verdict(ok):
    return "met" if ok else "NOT met"
print("Targets (issue 6, and issue 8's corpus row):")
if ("1", "tcpdump") in ratios:
    r = ratios[("1", "tcpdump")]
    print(f"  workload 1, netmoon at least as fast as tcpdump -r -w /dev/null (ratio >= 1.0): {r:.2f}, {verdict(r >= 1.0)}")
if ("1", "softflowd") in ratios:
    r = ratios[("1", "softflowd")]
    print(f"  workload 1, netmoon >= 5x softflowd (ratio >= 5.0): {r:.2f}, {verdict(r >= 5.0)}")
if ("1", "ndpiReader") in ratios:
    r = ratios[("1", "ndpiReader")]
    print(f"  workload 1, netmoon with labels vs ndpiReader -i (issue 8 asks >= 5.0 on the corpus's largest file): {r:.2f}")
if ("corpus", "ndpiReader") in ratios and ratios[("corpus", "ndpiReader")]:
    r = ratios[("corpus", "ndpiReader")]
    print(f"  corpus's largest file ({meta['corpus']['file']}), netmoon with labels >= 5x ndpiReader -i "
          f"(issue 8; ratio >= 5.0): {r:.2f}, {verdict(r >= 5.0)}")
    if ("corpus", "wrapper") in runs and ("corpus", "netmoon-l7") in runs:
        w0 = med(("corpus", "wrapper"), 0)
        n, d = med(("corpus", "netmoon-l7"), 0) - w0, med(("corpus", "ndpiReader"), 0) - w0
        if n > 0:
            print(f"    the same without the timing wrapper's own {w0 * 1e3:.1f} ms (median of `true`): "
                  f"netmoon {n * 1e3:.1f} ms, ndpiReader {d * 1e3:.1f} ms, {d / n:.2f}, {verdict(d / n >= 5.0)}")
for t, how in (("netmoon", "-r FILE, RSS includes the mapped file"),
               ("netmoon-pipe", "-r - from a pipe, netmoon's own memory")):
    if ("2", t) in ratios and ("tiny", t) in runs:
        grow = (med(("2", t), 1) - med(("tiny", t), 1)) * 1024
        flows = int(meta["2"]["flows"])
        bpf = grow / flows
        print(f"  workload 2, resident bytes per flow <= 128 ({how}): ({med(('2', t), 1)} KiB - "
              f"{med(('tiny', t), 1)} KiB) / {flows} flows = {bpf:.0f} B, {verdict(bpf <= 128)}")
PY
