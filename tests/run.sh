#!/usr/bin/env bash
# tests/run.sh: runs every test and prints "N passed, N failed, N skipped".
#
# A test program (tests/unit/test_*.c, built twice: normal and ASan+UBSan)
# or script (tests/*/test_*.sh, run once against each build through
# $NETMOON) prints one line per check: "PASS name", "FAIL name: why" or
# "SKIP name: why".  A program that exits non-zero without printing FAIL,
# or prints nothing at all, counts as one failure: a crash is never a pass.
#
#   tests/run.sh               everything
#   tests/run.sh PATTERN       only tests whose file name contains PATTERN
#   NETMOON_VARIANTS=rel       only the normal build (rel, san, or "rel san")
set -u
cd "$(dirname "$0")/.."
root=$PWD
out=$root/tests/out
mkdir -p "$out"
pattern=${1:-}
variants=${NETMOON_VARIANTS:-rel san}
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export SHARED_PCAPS=${SHARED_PCAPS:-$root/../shared/pcaps}

passed=0 failed=0 skipped=0

# run_one LABEL LOGFILE CMD...: runs CMD, echoes its verdict lines, counts.
run_one() {
    local label=$1 log=$2; shift 2
    local start=$SECONDS
    "$@" >"$log" 2>&1 </dev/null
    local rc=$?
    local p f s
    p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
    grep -E '^(FAIL|SKIP) ' "$log" | sed "s|^|  [$label] |"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "  [$label] FAIL exited with status $rc (see ${log#$root/})"
        tail -5 "$log" | sed 's/^/      /'
        f=$((f + 1))
    elif [ $((p + f + s)) -eq 0 ]; then
        echo "  [$label] FAIL printed no result (see ${log#$root/})"
        f=$((f + 1))
    fi
    printf '%-48s %3d passed %3d failed %3d skipped  %3ds\n' "$label" "$p" "$f" "$s" $((SECONDS - start))
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

for v in $variants; do
    for bin in build/$v/unit/test_*; do
        [ -x "$bin" ] || continue
        name=$(basename "$bin")
        [ -n "$pattern" ] && [[ $name != *"$pattern"* ]] && continue
        run_one "$v/$name" "$out/$v-$name.log" "$bin"
    done
done

for script in $(find tests -name 'test_*.sh' | sort); do
    name=${script#tests/}; name=${name%.sh}
    [ -n "$pattern" ] && [[ $name != *"$pattern"* ]] && continue
    for v in $variants; do
        if [ "$v" = rel ]; then bin=$root/netmoon; else bin=$root/build/san/netmoon; fi
        NETMOON=$bin NETMOON_VARIANT=$v run_one "$v/$name" "$out/$v-${name//\//-}.log" bash "$script"
    done
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
