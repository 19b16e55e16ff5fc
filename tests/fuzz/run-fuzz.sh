#!/usr/bin/env bash
# run-fuzz.sh: the body of `make fuzz`.  Runs each named target (built by the
# Makefile as build/fuzz/bin/fuzz_<name>) for $FUZZ_SECONDS with libFuzzer,
# on its growing corpus build/fuzz/corpus/<name> plus seeds made from the
# shared pcaps and the known-good tests/fuzz/regress/<name>/good-* inputs
# (build/fuzz/seeds/<name>, remade every run).
#
# A crash, leak, timeout or out-of-memory input is copied to
# tests/fuzz/regress/<name>/<kind>-<where>-<sha1 prefix>, e.g.
# heap-buffer-overflow-pcap_file.c-412-3f9a1c2e, with the sanitizer report in
# build/fuzz/logs/; `make check` then replays it.  The target restarts for
# the rest of its time (up to FUZZ_MAX_CRASHES inputs per target) so one
# crash does not hide the next, and the script exits 1 if anything was found.
#
#   FUZZ_SECONDS=60 tests/fuzz/run-fuzz.sh pcap_reader decode_flow flow_sequence
set -u
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-60}
max_crashes=${FUZZ_MAX_CRASHES:-3}
shared=${SHARED_PCAPS:-../shared/pcaps}
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

case $seconds in
    ''|*[!0-9]*|0) echo "run-fuzz: FUZZ_SECONDS must be a positive number of seconds, not '$seconds'" >&2
                   exit 2 ;;
esac
[ $# -gt 0 ] || { echo "usage: FUZZ_SECONDS=N $0 TARGET..." >&2; exit 2; }

if [ -d "$shared" ]; then
    rm -rf build/fuzz/seeds
    python3 tests/fuzz/make-seeds.py "$shared" build/fuzz/seeds || exit 1
else
    echo "run-fuzz: no shared pcaps at $shared: starting from the known-good inputs only" >&2
fi

# Largest input per target: the biggest seed of its kind, with some room.
max_len() {
    case $1 in
        pcap_reader) echo 65536 ;;
        decode_flow) echo 4096 ;;
        flow_sequence) echo 16384 ;;
        *) echo 4096 ;;
    esac
}

# crash_name LOG ARTIFACT: kind-where-sha, from the report in LOG.
crash_name() {
    local log=$1 art=$2 kind= where= summary sha
    sha=$(sha1sum "$art" | cut -c1-8)
    summary=$(grep -m1 -E '^SUMMARY: ' "$log")
    if grep -q 'fuzz invariant broken at' "$log"; then
        kind=invariant
        where=$(grep -m1 -oE 'fuzz invariant broken at [^:]+:[0-9]+' "$log" | sed 's/.* at //')
    elif [[ $summary == "SUMMARY: libFuzzer: "* ]]; then
        kind=${summary#SUMMARY: libFuzzer: }    # timeout, out-of-memory, deadly signal
    elif [[ $summary == *leaked* ]]; then
        kind=leak
    elif [ -n "$summary" ]; then
        # "SUMMARY: AddressSanitizer: heap-buffer-overflow /abs/src/x.c:12:3 in fn"
        kind=$(echo "$summary" | awk '{print $3}')
        where=$(echo "$summary" | awk '{print $4}')
        [ "$kind" = undefined-behavior ] && kind=ubsan
        where=${where##*/}
        # file:line:column -> file-line; anything else (a library offset) is dropped.
        if [[ $where =~ ^([A-Za-z0-9_.+-]+):([0-9]+) ]]; then
            where=${BASH_REMATCH[1]}:${BASH_REMATCH[2]}
        else
            where=
        fi
    fi
    [ -n "$kind" ] || { kind=${art##*/}; kind=${kind%%-*}; }   # libFuzzer's artifact kind
    where=${where##*/}
    kind=$(echo "$kind" | tr ' ' '-' | sed 's/[^A-Za-z0-9._-]/_/g')
    where=$(echo "$where" | tr ':' '-' | sed 's/[^A-Za-z0-9._-]/_/g')
    echo "$kind-${where:+$where-}$sha"
}

found=0
summary=()
for target in "$@"; do
    bin=build/fuzz/bin/fuzz_$target
    [ -x "$bin" ] || { echo "run-fuzz: $bin missing (make fuzz builds it)" >&2; exit 1; }
    corpus=build/fuzz/corpus/$target
    artifacts=build/fuzz/artifacts/$target
    logs=build/fuzz/logs
    regress=tests/fuzz/regress/$target
    mkdir -p "$corpus" "$artifacts" "$logs" "$regress"
    # The known-good inputs join the seeds; saved crashes do not, or every
    # restart would stop on the first one again.
    seeds=build/fuzz/seeds/$target
    mkdir -p "$seeds"
    cp "$regress"/good-* "$seeds"/ 2>/dev/null
    corpora=("$corpus" "$seeds")

    start=$SECONDS crashes=0 run=0 execs=0 last_stats=
    seen=()
    while :; do
        left=$((seconds - (SECONDS - start)))
        [ "$left" -gt 0 ] || break
        run=$((run + 1))
        log=$logs/$target-$run.log
        rm -f "$artifacts"/*
        echo "== fuzz $target: ${left}s (log: $log)"
        "$bin" -max_total_time="$left" -timeout=10 -rss_limit_mb=2048 \
            -max_len="$(max_len "$target")" -print_final_stats=1 \
            -artifact_prefix="$artifacts/" "${corpora[@]}" >"$log" 2>&1
        rc=$?
        n=$(grep -m1 '^stat::number_of_executed_units:' "$log" | awk '{print $2}')
        execs=$((execs + ${n:-0}))
        stats=$(grep -E '^#[0-9]+' "$log" | tail -1)
        [ -n "$stats" ] && last_stats=$stats
        saved=0
        for art in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-*; do
            [ -f "$art" ] || continue
            name=$(crash_name "$log" "$art")
            saved=$((saved + 1))
            cp "$log" "$logs/$target-$name.log"
            # Restarts tend to hit the same bug through another input: one
            # input per kind and place is enough to replay.
            if [[ " ${seen[*]:-} " == *" ${name%-*} "* ]]; then
                echo "!! $target: $name is the crash already saved this run; not kept"
                continue
            fi
            seen+=("${name%-*}")
            cp "$art" "$regress/$name"
            echo "!! $target: $name saved in $regress/ (report: $logs/$target-$name.log)"
            grep -m1 -E '^SUMMARY: |fuzz invariant broken' "$log" | sed 's/^/   /'
        done
        if [ "$rc" -ne 0 ] && [ "$saved" -eq 0 ]; then
            echo "run-fuzz: $bin exited with status $rc and saved no input; see $log" >&2
            tail -20 "$log" >&2
            found=1
            break
        fi
        crashes=$((crashes + saved))
        [ "$saved" -gt 0 ] && found=1
        [ "$rc" -eq 0 ] || [ "$crashes" -ge "$max_crashes" ] && break
    done
    elapsed=$((SECONDS - start))
    rate=$((execs / (elapsed > 0 ? elapsed : 1)))
    line=$(printf '%-14s %4ds %10d execs %7d/s  %2d crashes  %s' "$target" "$elapsed" "$execs" \
        "$rate" "$crashes" "$(echo "$last_stats" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[^ ]+')")
    summary+=("$line")
done

echo "== fuzz summary (FUZZ_SECONDS=$seconds)"
printf '%s\n' "${summary[@]}"
if [ "$found" -ne 0 ]; then
    echo "fuzz: crashing inputs saved under tests/fuzz/regress/; make check replays them" >&2
    exit 1
fi
