#!/usr/bin/env bash
# tests/golden/test_community_id.sh: netmoon's community_id against
# Wireshark's own Community ID implementation (tshark --enable-protocol
# communityid) on the lab captures and a sample of shared ones.  For every
# file, the set of IDs of netmoon's TCP/UDP/ICMP flows must equal the set of
# IDs tshark gives those packets (non-first fragments and ICMP-quoted
# headers excluded on tshark's side, where it has no transport layer).
set -u
cd "$(dirname "$0")/../.."
NETMOON=${NETMOON:-./netmoon}
PCAPS=${SHARED_PCAPS:-../shared/pcaps}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
files=$(ls tests/data/lab/*.pcap)
for name in bug-1401-03--80000000-037-PTP_Example_IPv4_HTTP_Session-PUBLIC-tp-01.pcap; do
    [ -f "$PCAPS/suricata-verify/$name" ] && files="$files $PCAPS/suricata-verify/$name"
done
for f in $files; do
    n=$(basename "$f")
    "$NETMOON" -r "$f" --json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    o = json.loads(line)
    if o["type"] == "flow" and o["proto"] in ("tcp", "udp", "icmp", "ipv6-icmp"):
        print(o["community_id"])' | sort -u >"$tmp/nm"
    tshark -r "$f" -n --enable-protocol communityid -o ip.defragment:FALSE -o ipv6.defragment:FALSE \
        -Y '(tcp or udp or icmp or icmpv6) and not icmp.resp_to and not (ip.flags.mf == 1 and ip.frag_offset > 0)' \
        -T fields -e communityid 2>/dev/null | grep -v '^$' | sort -u >"$tmp/ts"
    if [ ! -s "$tmp/ts" ]; then echo "SKIP golden/community_id/$n: tshark gave no IDs"; continue; fi
    if diff "$tmp/nm" "$tmp/ts" >"$tmp/diff"; then
        echo "PASS golden/community_id/$n"
    else
        echo "FAIL golden/community_id/$n: $(grep -c '^<' "$tmp/diff") only in netmoon, $(grep -c '^>' "$tmp/diff") only in tshark"
    fi
done
