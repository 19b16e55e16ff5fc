#!/usr/bin/env bash
# tests/golden/test_golden_shared.sh: netmoon against tshark on the shared
# pcap corpus ($SHARED_PCAPS: the tcpdump and suricata-verify test captures).
#
# Over every pcap/pcapng file tshark reads completely: at least 99 % of all
# TCP/UDP conversations must match exactly (packets and bytes per direction)
# and at least 99 % of TCP connections whose SYN was captured must have the
# SYN sender as src (aggregate, not per file: the corpus is full of
# deliberately broken packets).  Every file where netmoon crashes (signal,
# exit >= 128, a sanitizer report, or a hang) is a FAIL line of its own; a
# file netmoon rejects as damaged must exit non-zero with a message (noted).
# tshark's output for each file is cached in ~/.cache/netmoon-golden (or
# $GOLDEN_CACHE; tests/out/golden-cache when there is no writable home),
# keyed by the file's hash, tshark's version and the fields asked for: a cold run costs one tshark start per file (~0.25 s each, run
# on all CPUs), a warm one seconds.  Full mismatch details go to
# tests/out/golden-shared-<variant>.txt.
set -u
cd "$(dirname "$0")/../.."
NETMOON=${NETMOON:-./netmoon}
SHARED_PCAPS=${SHARED_PCAPS:-../shared/pcaps}
out=tests/out
mkdir -p "$out"
# tshark's output is content-addressed (file hash, tshark version, fields),
# so one cache can serve every worktree and CI run on this machine.
cache=${GOLDEN_CACHE:-${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/netmoon-golden}
mkdir -p "$cache" 2>/dev/null || cache=$out/golden-cache
if [ ! -d "$SHARED_PCAPS" ]; then
    echo "SKIP golden/shared: no shared pcaps at $SHARED_PCAPS"
    exit 0
fi
exec python3 tests/golden/golden_run.py shared "$SHARED_PCAPS" \
    --netmoon "$NETMOON" --cache "$cache" \
    --timeout 60 --report "$out/golden-shared-${NETMOON_VARIANT:-rel}.txt"
