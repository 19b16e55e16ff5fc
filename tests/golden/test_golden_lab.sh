#!/usr/bin/env bash
# tests/golden/test_golden_lab.sh: netmoon against tshark on our lab pcaps.
#
# For every tests/data/lab/*.pcap (made by tests/lab/make-captures.sh):
# `$NETMOON -r FILE --json` must exit 0, write valid JSON lines, match every
# TCP/UDP conversation tshark finds exactly (packets and bytes per direction)
# and give the SYN sender as src for every connection whose SYN was
# captured.  One line per file: "PASS golden/lab/http.pcap" or
# "FAIL golden/lab/http.pcap: 3/40 flows differ, ...", mismatch details
# above it.  The oracle is tests/golden/tshark_flows.py; the matching rules
# are in tests/golden/compare.py.
set -u
cd "$(dirname "$0")/../.."
NETMOON=${NETMOON:-./netmoon}
out=tests/out
mkdir -p "$out"
# tshark's output is content-addressed (file hash, tshark version, fields),
# so one cache can serve every worktree and CI run on this machine.
cache=${GOLDEN_CACHE:-${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/netmoon-golden}
mkdir -p "$cache" 2>/dev/null || cache=$out/golden-cache
exec python3 tests/golden/golden_run.py lab tests/data/lab \
    --netmoon "$NETMOON" --cache "$cache" \
    --report "$out/golden-lab-${NETMOON_VARIANT:-rel}.txt"
