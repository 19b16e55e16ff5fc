#!/usr/bin/env bash
# tests/golden/test_tcp_analysis.sh: netmoon's TCP analysis against tshark.
#
# Handshake RTT vs tcp.analysis.initial_rtt (5 % or 20 us, >= 95 % of
# connections), retransmissions per direction vs retransmission +
# fast_retransmission + spurious_retransmission (within 10 %), duplicate
# ACKs, zero window and keep-alives, per connection.  Two sets:
#   - our lab captures (tests/data/lab, incl. bulk-loss.pcap with real
#     kernel retransmissions);
#   - the shared captures listed in tests/golden/tcp_shared.list (those of
#     ../shared/pcaps where tshark flags retransmissions, dup ACKs, zero
#     windows or keep-alives), when the shared corpus is present.
# Rules and the oracle are in tests/golden/tcp_compare.py.
set -u
cd "$(dirname "$0")/../.."
NETMOON=${NETMOON:-./netmoon}
cache=${GOLDEN_CACHE:-tests/out/golden-cache}
rc=0
python3 tests/golden/tcp_compare.py --netmoon "$NETMOON" --cache "$cache" \
    --label golden/tcp_analysis/lab tests/data/lab || rc=1
shared=${SHARED_PCAPS:-../shared/pcaps}
if [ -d "$shared" ]; then
    mapfile -t files < <(sed -e 's/#.*//' -e '/^ *$/d' tests/golden/tcp_shared.list | sed "s|^|$shared/|")
    python3 tests/golden/tcp_compare.py --netmoon "$NETMOON" --cache "$cache" \
        --label golden/tcp_analysis/shared "${files[@]}" || rc=1
else
    echo "SKIP golden/tcp_analysis/shared: no shared corpus at $shared"
fi
exit $rc
