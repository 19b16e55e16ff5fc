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
exec python3 tests/golden/golden_run.py lab tests/data/lab \
    --netmoon "$NETMOON" --cache "${GOLDEN_CACHE:-$out/golden-cache}" \
    --report "$out/golden-lab-${NETMOON_VARIANT:-rel}.txt"
