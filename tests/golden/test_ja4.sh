#!/usr/bin/env bash
# tests/golden/test_ja4.sh: the JA4 TLS client fingerprint (src/analyze/
# l7_ja4.c) against Suricata's, for the suricata-verify captures whose
# tests state it (tests/golden/ja4_expected.tsv: file, JA4, number of
# flows).  Per file, netmoon's set of JA4 values with their flow counts
# must equal the expected one exactly: a missing, extra or different
# fingerprint fails.  tshark 4.0 has no JA4 field, so Suricata is the oracle.
set -u
cd "$(dirname "$0")/../.."
NETMOON=${NETMOON:-./netmoon}
shared=${SHARED_PCAPS:-../shared/pcaps}/suricata-verify
expected=tests/golden/ja4_expected.tsv
label=golden/ja4
if [ ! -d "$shared" ]; then
    echo "SKIP $label: no $shared"
    exit 0
fi
rc=0
for f in $(grep -v '^#' "$expected" | cut -f1 | sort -u); do
    want=$(awk -F'\t' -v f="$f" '$1 == f { print $2 " " $3 }' "$expected" | sort)
    got=$("$NETMOON" -r "$shared/$f" --json 2>/dev/null | grep -o '"ja4":"[^"]*"' |
          sed 's/"ja4":"\(.*\)"/\1/' | sort | uniq -c | awk '{ print $2 " " $1 }' | sort)
    if [ -n "$want" ] && [ "$got" = "$want" ]; then
        echo "PASS $label/$f"
    else
        echo "FAIL $label/$f: want [$(echo $want)], netmoon gave [$(echo $got)]"
        rc=1
    fi
done
exit $rc
