#!/usr/bin/env bash
# tests/golden/test_ndpi_labels.sh: netmoon's application labels (JSON app,
# category; nDPI inside netmoon, src/analyze/l7_ndpi.c) against ndpiReader's
# labels for the same captures (nDPI 4.2, Debian libndpi-bin): the issue's
# "published nDPI results" are nDPI's tests/result/*.out for its own pcap
# corpus, which is not here, so ndpiReader run on our files is the oracle.
# How flows are matched: tests/golden/ndpi_labels.py.
#   golden/ndpi-labels/lab      tests/data/lab/*.pcap: every matched flow agrees
#   golden/ndpi-labels/shared   $SHARED_PCAPS: >= 85 % of matched flows agree
#   golden/ndpi-labels/can-fail the lab comparison fails with --no-l7
#   golden/ndpi-labels/no-l7    --no-l7: no app/category in any record
#   golden/ndpi-labels/no-slot  --l7-max-flows 1: the flows that found the
#                               pool busy have no label, and the stats
#                               record and --stats count exactly those
# Differing flows go to tests/out/ndpi-labels-{lab,shared}-<variant>.txt.
# ndpiReader's output is cached as for test_golden_ndpi.sh.
set -u
cd "$(dirname "$0")/../.."
. tests/golden/ndpi_env.sh golden/ndpi-labels
labels() { python3 tests/golden/ndpi_labels.py "$@" --cache "$cache" --jobs 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rc=0
labels lab tests/data/lab --netmoon "$NETMOON" --min-agree 1.0 \
    --report "$out/ndpi-labels-lab-$variant.txt" || rc=1
if [ -d "$SHARED_PCAPS" ]; then
    labels shared "$SHARED_PCAPS" --netmoon "$NETMOON" --min-agree 0.85 --timeout 60 \
        --report "$out/ndpi-labels-shared-$variant.txt" || rc=1
else
    echo "SKIP golden/ndpi-labels/shared: no shared pcaps at $SHARED_PCAPS"
fi

# The comparison must be able to fail: without labels it has to.
printf '#!/bin/sh\nexec "%s" --no-l7 "$@"\n' "$(realpath "$NETMOON")" >"$tmp/netmoon-no-l7"
chmod +x "$tmp/netmoon-no-l7"
if labels lab tests/data/lab --netmoon "$tmp/netmoon-no-l7" --min-agree 1.0 >"$tmp/nol7.txt"; then
    echo "FAIL golden/ndpi-labels/can-fail: the comparison passed with --no-l7"
    rc=1
else
    echo "PASS golden/ndpi-labels/can-fail"
fi

pcap=tests/data/lab/mixed.pcap
if "$NETMOON" -r "$pcap" --no-l7 --json >"$tmp/nol7.jsonl" &&
   ! grep -q '"app"\|"category"\|"app_confidence"' "$tmp/nol7.jsonl" &&
   grep -q '"type":"flow"' "$tmp/nol7.jsonl"; then
    echo "PASS golden/ndpi-labels/no-l7"
else
    echo "FAIL golden/ndpi-labels/no-l7: --no-l7 output still has labels, or no flows"
    rc=1
fi

# One classifier slot for a capture whose flows overlap in time (tshark's
# conversation list says how many there are): some flows cannot get it.
"$NETMOON" -r "$pcap" --l7-max-flows 1 --json --stats >"$tmp/slot.jsonl" 2>"$tmp/slot.err"
if python3 - "$tmp/slot.jsonl" "$tmp/slot.err" "$pcap" <<'EOF'
import json, re, subprocess, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
flows = [r for r in recs if r["type"] == "flow"]
stats = [r for r in recs if r["type"] == "stats"][-1]
unlabelled = sum("app" not in r for r in flows)
conv = subprocess.run(["tshark", "-n", "-q", "-r", sys.argv[3], "-z", "conv,tcp", "-z", "conv,udp"],
                      capture_output=True, text=True).stdout
tshark_convs = len(re.findall(r"<->", conv))
text = open(sys.argv[2]).read()
m = re.search(r"L7 \(nDPI\):\s+(\d+) labelled, (\d+) classifying, (\d+) without", text)
why = []
if tshark_convs < 2:
    why.append("tshark sees %d TCP/UDP conversations, need 2" % tshark_convs)
if unlabelled == 0:
    why.append("every flow got a label with one slot")
if stats["l7_no_slot"] != unlabelled:
    why.append("stats l7_no_slot %d != %d unlabelled records" % (stats["l7_no_slot"], unlabelled))
if stats["l7_labelled"] + stats["l7_no_slot"] != len(flows):
    why.append("labelled + no_slot != %d records" % len(flows))
if not m or int(m.group(3)) != unlabelled:
    why.append("--stats does not show %d flows without a slot" % unlabelled)
print("; ".join(why) if why else "ok: %d of %d flows without a slot" % (unlabelled, len(flows)))
sys.exit(1 if why else 0)
EOF
then
    echo "PASS golden/ndpi-labels/no-slot"
else
    echo "FAIL golden/ndpi-labels/no-slot"
    rc=1
fi
exit $rc
