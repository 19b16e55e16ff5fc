#!/usr/bin/env bash
# tests/golden/test_golden_ndpi.sh: netmoon against nDPI (ndpiReader 4.2,
# Debian libndpi-bin), the second independent flow oracle after tshark.
#
# Per-flow packets and bytes in each direction must equal nDPI's
# (ndpi_flows.py says what nDPI counts; ndpi_golden.py how flows are
# matched and which differences are excluded, each with the nDPI behaviour
# that causes it, counted in the output):
#   golden/ndpi-lab/FILE     tests/data/lab/*.pcap: every flow equal (or an
#                            excluded difference, listed)
#   golden/ndpi-shared/match $SHARED_PCAPS (tcpdump and suricata-verify
#                            captures): >= 99 % of the flows compared equal
# Mismatch details go to tests/out/golden-ndpi-{lab,shared}-<variant>.txt.
# ndpiReader's output is cached like tshark's (content-addressed) in
# ~/.cache/netmoon-golden or $GOLDEN_CACHE; a cold run over the shared
# corpus takes about a minute on two cores, a warm one seconds.
# SKIPs when ndpiReader is not installed.
set -u
cd "$(dirname "$0")/../.."
. tests/golden/ndpi_env.sh golden/ndpi
rc=0
python3 tests/golden/ndpi_golden.py lab tests/data/lab --netmoon "$NETMOON" --cache "$cache" \
    --jobs 2 --report "$out/golden-ndpi-lab-$variant.txt" || rc=1
if [ -d "$SHARED_PCAPS" ]; then
    python3 tests/golden/ndpi_golden.py shared "$SHARED_PCAPS" --netmoon "$NETMOON" \
        --cache "$cache" --jobs 2 --timeout 60 \
        --report "$out/golden-ndpi-shared-$variant.txt" || rc=1
else
    echo "SKIP golden/ndpi-shared: no shared pcaps at $SHARED_PCAPS"
fi
exit $rc
