#!/usr/bin/env bash
# tests/bench/test_gen_workload.sh: the benchmark's workload generator
# (bench/gen_workload.c) writes protocol-correct pcaps.  The judge is tshark,
# not our own code: conversation counts, no TCP analysis flags (no bogus
# retransmission, out-of-order, dup ACK, window problem), nothing malformed,
# correct checksums, addresses only from 198.18.0.0/15 and 2001:db8::/32;
# then netmoon must find as many flows as tshark.  Speed is not measured here.
set -u
cd "$(dirname "$0")/../.."
NETMOON=${NETMOON:-./netmoon}
GEN=build/rel/bench/gen_workload
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

pass() { echo "PASS bench/$1"; }
fail() { echo "FAIL bench/$1: $2"; }
if ! command -v tshark >/dev/null; then echo "SKIP bench/gen-workload: tshark not installed"; exit 0; fi
if [ ! -x "$GEN" ]; then fail gen-built "$GEN missing: run 'make tests'"; exit 1; fi

# ts FILE ARGS...: tshark without its root warning on stderr.
ts() { local f=$1; shift; tshark -r "$f" "$@" 2>/dev/null; }
count() { ts "$1" -Y "$2" | wc -l; }
conversations() { ts "$1" -q -z "conv,$2" | grep -c '<->'; }

# check NAME FILE FLOWS TCP: every tshark-based property of one generated file.
check() {
    local name=$1 f=$2 flows=$3 tcp=$4 n
    local tcp_conv udp_conv
    tcp_conv=$(conversations "$f" tcp); udp_conv=$(conversations "$f" udp)
    [ "$tcp_conv" = "$tcp" ] && [ $((tcp_conv + udp_conv)) = "$flows" ] && pass "$name-conversations" \
        || fail "$name-conversations" "tshark sees $tcp_conv TCP + $udp_conv UDP conversations, generator wrote $tcp TCP of $flows"
    n=$(count "$f" 'tcp.analysis.flags')
    [ "$n" = 0 ] && pass "$name-no-tcp-analysis-flags" \
        || fail "$name-no-tcp-analysis-flags" "$n packets flagged, first: $(ts "$f" -Y tcp.analysis.flags | head -1)"
    n=$(count "$f" '_ws.malformed || _ws.expert.severity >= error')
    [ "$n" = 0 ] && pass "$name-not-malformed" || fail "$name-not-malformed" "$n malformed packets"
    n=$(ts "$f" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE \
        -Y 'ip.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0' | wc -l)
    [ "$n" = 0 ] && pass "$name-checksums" || fail "$name-checksums" "$n packets with a bad checksum"
    n=$(count "$f" '(ip && !(ip.src == 198.18.0.0/15 && ip.dst == 198.18.0.0/15)) || (ipv6 && !(ipv6.src == 2001:db8::/32 && ipv6.dst == 2001:db8::/32))')
    [ "$n" = 0 ] && pass "$name-addresses" || fail "$name-addresses" "$n packets outside 198.18.0.0/15 and 2001:db8::/32"
    # netmoon's flow count must equal tshark's conversation count.
    local nm
    nm=$("$NETMOON" -r "$f" --json 2>"$tmp/err" | grep -c '"type":"flow"')
    [ "$nm" = "$flows" ] && pass "$name-netmoon-flows" \
        || fail "$name-netmoon-flows" "netmoon wrote $nm flow records, tshark sees $flows conversations; $(head -c 200 "$tmp/err")"
}

# field KEY SUMMARY: a value from the generator's summary line.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

# Complete conversations: handshake, 7 data segments, teardown; TCP and UDP,
# IPv4 and IPv6, some VLAN-tagged, 50 flows interleaved.
if summary=$("$GEN" -o "$tmp/conv.pcap" -f 200 -p 13 -s 300 -c 50 --udp 25 --ipv6 30 --vlan 20); then
    pass gen-runs
    [ "$(field packets "$summary")" = 2600 ] && [ "$(ts "$tmp/conv.pcap" | wc -l)" = 2600 ] && pass packet-count \
        || fail packet-count "want 2600 packets; generator: $summary"
    check conv "$tmp/conv.pcap" 200 "$(field tcp "$summary")"
    [ "$(count "$tmp/conv.pcap" vlan)" -gt 0 ] && [ "$(count "$tmp/conv.pcap" ipv6)" -gt 0 ] \
        && [ "$(count "$tmp/conv.pcap" 'tcp.flags.fin == 1')" -gt 0 ] && pass mix \
        || fail mix "expected VLAN-tagged, IPv6 and FIN packets"
else
    fail gen-runs "gen_workload exited with status $?"
fi

# Handshake only, everything open at once: the memory workload's shape.
if summary=$("$GEN" -o "$tmp/syn.pcap" -f 300 -p 3 -c 300 --udp 0); then
    check handshake "$tmp/syn.pcap" 300 300
else
    fail handshake-gen "gen_workload exited with status $?"
fi

# Bad arguments: clear message, exit status 2, no file.
"$GEN" -o "$tmp/bad.pcap" -f 0 >/dev/null 2>"$tmp/err"; rc=$?
[ "$rc" = 2 ] && grep -q -- '--flows' "$tmp/err" && [ ! -e "$tmp/bad.pcap" ] && pass bad-args \
    || fail bad-args "exit $rc, stderr: $(cat "$tmp/err")"
"$GEN" -f 10 >/dev/null 2>"$tmp/err"; rc=$?
[ "$rc" = 2 ] && grep -q -- '-o FILE' "$tmp/err" && pass missing-output || fail missing-output "exit $rc"
"$GEN" -o /nonexistent/dir/x.pcap >/dev/null 2>"$tmp/err"; rc=$?
[ "$rc" = 1 ] && grep -q 'cannot create' "$tmp/err" && pass unwritable-output || fail unwritable-output "exit $rc"
exit 0
