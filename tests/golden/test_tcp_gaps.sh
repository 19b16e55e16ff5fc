#!/usr/bin/env bash
# tests/golden/test_tcp_gaps.sh: missed_bytes and the g/G history letters
# against the sequence-space holes in tshark's numbers (Zeek's content-gap
# rule; the oracle and its arithmetic are in tests/golden/gap_compare.py).
#
# Captures with known capture loss: our lab captures with every 23rd (and,
# for a second set, every 7th) frame deleted by editcap, so segments and
# ACKs go missing at the capture point while the hosts saw them; then the
# unedited lab captures and the shared captures of tcp_shared.list, where
# the loss is whatever the capture had.
set -u
cd "$(dirname "$0")/../.."
NETMOON=${NETMOON:-./netmoon}
cache=${GOLDEN_CACHE:-tests/out/golden-cache}
label=golden/tcp_gaps
if ! command -v editcap >/dev/null || ! command -v tshark >/dev/null; then
    echo "SKIP $label: editcap/tshark not installed"
    exit 0
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/nm-gaps.XXXXXX")
trap 'rm -rf "$work"' EXIT
for every in 23 7; do
    for f in bulk-loss http mixed names https; do
        src=tests/data/lab/$f.pcap
        n=$(capinfos -c -M "$src" | awk '/Number of packets/ {print $NF}')
        mapfile -t drop < <(seq "$every" "$every" "$n")
        editcap "$src" "$work/$f-minus-every-$every.pcap" "${drop[@]}" || exit 1
    done
done
islands=$(awk '/#define TCP_GAP_ISLANDS/ {print $3}' src/analyze/tcp_analysis.h)
rc=0
python3 tests/golden/gap_compare.py --netmoon "$NETMOON" --cache "$cache" --islands "$islands" --min-flagged 10 \
    --label $label/lab-edited "$work" || rc=1
python3 tests/golden/gap_compare.py --netmoon "$NETMOON" --cache "$cache" --islands "$islands" \
    --label $label/lab tests/data/lab || rc=1
shared=${SHARED_PCAPS:-../shared/pcaps}
if [ -d "$shared" ]; then
    mapfile -t files < <(sed -e 's/#.*//' -e '/^ *$/d' tests/golden/tcp_shared.list | sed "s|^|$shared/|")
    python3 tests/golden/gap_compare.py --netmoon "$NETMOON" --cache "$cache" --islands "$islands" \
        --label $label/shared "${files[@]}" || rc=1
else
    echo "SKIP $label/shared: no shared corpus at $shared"
fi
exit $rc
