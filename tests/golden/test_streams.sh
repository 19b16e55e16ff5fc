#!/usr/bin/env bash
# tests/golden/test_streams.sh: --streams DIR against tcpflow (issue 8).
#
# For each lab capture with TCP, `netmoon -r FILE --streams DIR` and
# `tcpflow -r FILE -o DIR2` must write the same set of file names with the
# same bytes (tcpflow is the oracle for both the naming and the reassembled
# payload).  Left out: port-reuse.pcap, where a connection reopened on the
# same tuple after a RST is a new stream for tshark and netmoon (file c1)
# but tcpflow keeps writing it into the first file.  Also: --streams on a
# missing directory is refused with exit status 2 and a message.
set -u
cd "$(dirname "$0")/../.."
NETMOON=${NETMOON:-./netmoon}
if ! command -v tcpflow >/dev/null; then
    echo "SKIP streams: tcpflow is not installed (scripts/install-deps.sh)"
    exit 0
fi
tmp=$(mktemp -d /tmp/nm-streams.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
status=0
for pcap in tests/data/lab/*.pcap; do
    name=$(basename "$pcap" .pcap)
    [ "$name" = port-reuse ] && continue
    rm -rf "$tmp/nm" "$tmp/tf"
    mkdir -p "$tmp/nm" "$tmp/tf"
    (cd "$tmp/tf" && tcpflow -r "$OLDPWD/$pcap" -o "$tmp/tf" >/dev/null 2>&1)
    rm -f "$tmp/tf/report.xml"
    if ! "$NETMOON" -r "$pcap" --streams "$tmp/nm" --json >/dev/null 2>"$tmp/err"; then
        echo "FAIL streams/$name: netmoon failed: $(head -2 "$tmp/err")"
        status=1
        continue
    fi
    want=$(cd "$tmp/tf" && ls | sort)
    got=$(cd "$tmp/nm" && ls | sort)
    if [ -z "$want" ]; then
        if [ -z "$got" ]; then echo "PASS streams/$name: no TCP payload, no files (as tcpflow)"
        else echo "FAIL streams/$name: files where tcpflow wrote none: $got"; status=1; fi
        continue
    fi
    if [ "$want" != "$got" ]; then
        echo "FAIL streams/$name: file names differ from tcpflow's:"
        diff <(echo "$want") <(echo "$got") | head -10
        status=1
        continue
    fi
    bad=0
    while read -r f; do
        if ! cmp -s "$tmp/tf/$f" "$tmp/nm/$f"; then
            echo "  $f: tcpflow $(stat -c %s "$tmp/tf/$f") bytes, netmoon $(stat -c %s "$tmp/nm/$f")"
            bad=$((bad + 1))
        fi
    done <<< "$want"
    n=$(echo "$want" | wc -l)
    if [ "$bad" -eq 0 ]; then echo "PASS streams/$name: $n files, byte for byte as tcpflow's"
    else echo "FAIL streams/$name: $bad of $n files differ from tcpflow's"; status=1; fi
done
"$NETMOON" -r tests/data/lab/http.pcap --streams "$tmp/missing" --json >/dev/null 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "streams" "$tmp/err"; then
    echo "PASS streams/missing_dir: exit 2, $(head -1 "$tmp/err")"
else
    echo "FAIL streams/missing_dir: exit $rc: $(head -1 "$tmp/err")"
    status=1
fi
exit $status
