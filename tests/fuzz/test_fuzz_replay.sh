#!/usr/bin/env bash
# test_fuzz_replay.sh: replays the fuzz regression inputs (issue 7) in the
# build tests/run.sh names ($NETMOON_VARIANT: rel or san).
#
# For each target tests/fuzz/fuzz_<name>.c, build/<variant>/fuzz/replay_<name>
# runs every file of tests/fuzz/regress/<name>/: the committed known-good
# inputs and every crash `make fuzz` saved there.  A crash or a broken
# invariant kills the replay, which is a FAIL.  Then, when the shared pcaps
# are present, seeds are made from them (tests/fuzz/make-seeds.py, well under
# a second) and replayed too, one PASS line per target: every real capture
# read both mapped and streamed, and its first frames decoded and accounted.
# tests/fuzz/found/ holds known crashes awaiting a fix and is not replayed.
set -u
cd "$(dirname "$0")/../.."
variant=${NETMOON_VARIANT:-rel}
shared=${SHARED_PCAPS:-../shared/pcaps}
status=0

# replay NAME ARGS...: runs the replay driver, turning a death into a FAIL
# line that names the target (the sanitizer report is in the log above it).
replay() {
    local name=$1; shift
    local bin=build/$variant/fuzz/replay_$name
    if [ ! -x "$bin" ]; then
        echo "FAIL replay/$name: $bin is missing (make tests builds it)"
        status=1
        return
    fi
    # A hang is a bug too; no input takes more than a fraction of a second.
    timeout 300 "$bin" "$@"
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "FAIL replay/$name: replay exited with status $rc on the input named last above"
        status=1
    fi
}

seeds=
if [ -d "$shared" ]; then
    seeds=$(mktemp -d "${TMPDIR:-/tmp}/netmoon-fuzz-seeds.XXXXXX")
    trap 'rm -rf "$seeds"' EXIT
    if ! python3 tests/fuzz/make-seeds.py "$shared" "$seeds" >/dev/null; then
        echo "FAIL replay/seeds: tests/fuzz/make-seeds.py could not make seeds from $shared"
        status=1
        seeds=
    fi
fi

for src in tests/fuzz/fuzz_*.c; do
    name=${src#tests/fuzz/fuzz_}; name=${name%.c}
    dir=tests/fuzz/regress/$name
    if [ ! -d "$dir" ]; then
        echo "FAIL replay/$name: $dir is missing (make-seeds.py --known-good tests/fuzz/regress)"
        status=1
        continue
    fi
    replay "$name" "$name" "$dir"
    if [ -z "$seeds" ]; then
        echo "SKIP replay/$name/seeds: no shared pcaps at $shared"
    elif [ ! -d "$seeds/$name" ]; then
        echo "SKIP replay/$name/seeds: make-seeds.py makes no seeds for this target"
    else
        replay "$name" -q "$name" "$seeds/$name"
    fi
done
exit $status
