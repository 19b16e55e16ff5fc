#!/usr/bin/env bash
# tests/export/test_ipfix.sh: --ipfix into a real collector (src/output/ipfix.c).
#
# nfcapd (Debian's nfdump) listens on 127.0.0.1 on a free port; netmoon reads
# a capture and exports to it; nfdump reads back what nfcapd stored.  The
# oracle is tshark on the same capture: the number of IP packets and the sum
# of their IP-layer lengths (IPv4 total length, IPv6 payload length + 40)
# must equal nfdump's packet and byte totals, and the TCP share nfdump's
# TCP totals.  nfcapd must see no sequence failure.
#
#   export/ipfix-<capture>        totals equal, per capture (lab captures, and
#                                 a 10,000-flow workload from bench/gen_workload)
#   export/ipfix-wire             the same workload as Wireshark decodes it: totals,
#                                 templates every 256 messages, no sequence or
#                                 decoding complaint
#   export/ipfix-refused          no collector: one message, records lost in --stats, exit 1
#   export/ipfix-bad-dest         --ipfix without a port: exit 1, a message saying HOST:PORT
set -u
cd "$(dirname "$0")/../.."
root=$PWD
NETMOON=${NETMOON:-$root/netmoon}
case $NETMOON in /*) ;; *) NETMOON=$root/$NETMOON ;; esac
LAB=$root/tests/data/lab

pass() { echo "PASS export/$1"; }
fail() { echo "FAIL export/$1: $2"; }
skip() { echo "SKIP export/$1: $2"; }

for t in nfcapd nfdump tshark ss python3; do
    command -v "$t" >/dev/null 2>&1 || { skip ipfix "missing $t (scripts/install-deps.sh)"; exit 0; }
done
tmp=$(mktemp -d /tmp/nm-ipfix.XXXXXX)
NFPID=
cleanup() {
    if [ -n "$NFPID" ]; then kill "$NFPID" 2>/dev/null; wait "$NFPID" 2>/dev/null; fi
    if [ -n "${WIRE_NS:-}" ]; then ip netns del "$WIRE_NS" 2>/dev/null; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

free_udp_port() {
    python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# collect NAME PCAP: nfcapd up, netmoon exports PCAP, nfcapd stopped (it
# writes its file on exit); nfdump -I summary in $tmp/NAME.sum.
collect() {
    local name=$1 pcap=$2 port i
    port=$(free_udp_port)
    mkdir -p "$tmp/$name"
    nfcapd -b 127.0.0.1 -p "$port" -w "$tmp/$name" >"$tmp/$name.nfcapd.log" 2>&1 &
    NFPID=$!
    for i in $(seq 100); do
        [ -n "$(ss -Hlun "sport = :$port" 2>/dev/null)" ] && break
        sleep 0.05
    done
    "$NETMOON" -r "$pcap" --ipfix "127.0.0.1:$port" >/dev/null 2>"$tmp/$name.err"
    NMRC=$?
    # Stop nfcapd only once it has read everything queued on its socket
    # (ss shows the receive queue), so no datagram is lost to the test.
    for i in $(seq 100); do
        [ "$(ss -Hlun "sport = :$port" 2>/dev/null | awk '{print $2}')" = 0 ] && break
        sleep 0.05
    done
    sleep 0.1
    kill "$NFPID"; wait "$NFPID" 2>/dev/null; NFPID=
    nfdump -R "$tmp/$name" -I >"$tmp/$name.sum" 2>&1
}
field() { sed -n "s/^$1: *//p" "$2"; }

# ip_totals PCAP: "packets bytes tcp-packets tcp-bytes" of IP packets,
# IP-layer lengths (TCP: carrying TCP, not inside an ICMP error), one pass.
ip_totals() {
    tshark -r "$1" -Y "ip or ipv6" -T fields -E occurrence=f -e ip.len -e ipv6.plen \
        -e tcp.srcport -e icmp.type -e icmpv6.type 2>/dev/null |
        awk -F'\t' '{n++; l = ($1 != "" ? $1 : $2 + 40); b += l
                     if ($3 != "" && $4 == "" && $5 == "") {tn++; tb += l}}
                     END {print n + 0, b + 0, tn + 0, tb + 0}'
}

# Many flows read at full speed: the default --ipfix-rate pacing must keep
# nfcapd from losing datagrams (10k flows, ~20k records, ~800 messages).
gen=$root/build/rel/bench/gen_workload
if [ -x "$gen" ]; then
    "$gen" -f 10000 -p 9 -s 200 -c 500 -o "$tmp/workload.pcap" >/dev/null 2>&1
else
    skip ipfix-workload "no $gen (make build/rel/bench/gen_workload)"
fi

for c in mixed ipv6 icmp dns-udp dns-tcp https port-reuse bulk-loss workload; do
    pcap=$LAB/$c.pcap
    [ "$c" = workload ] && pcap=$tmp/workload.pcap
    [ -f "$pcap" ] || { skip "ipfix-$c" "no $pcap"; continue; }
    collect "$c" "$pcap"
    read -r wp wb tp tb <<<"$(ip_totals "$pcap")"
    gp=$(field Packets "$tmp/$c.sum"); gb=$(field Bytes "$tmp/$c.sum")
    gtp=$(field Packets_tcp "$tmp/$c.sum"); gtb=$(field Bytes_tcp "$tmp/$c.sum")
    seqf=$(field "Sequence failures" "$tmp/$c.sum")
    if [ "$NMRC" != 0 ]; then fail "ipfix-$c" "netmoon exit $NMRC: $(head -c 200 "$tmp/$c.err")"
    elif [ "${wp:-0}" -gt 0 ] && [ "$gp" = "$wp" ] && [ "$gb" = "$wb" ] && [ "$gtp" = "$tp" ] \
         && [ "$gtb" = "$tb" ] && [ "$seqf" = 0 ]; then
        pass "ipfix-$c"
    else
        fail "ipfix-$c" "tshark: $wp packets $wb bytes (tcp $tp/$tb); nfdump: $gp/$gb (tcp $gtp/$gtb), sequence failures '$seqf'"
    fi
done

# On the wire, decoded by Wireshark's IPFIX dissector (a second collector we
# did not write): every data record decodes against a template, the packet
# and octet fields add up to tshark's totals of the input, the templates
# come again every 256 messages, and no sequence number is unexpected.
# netmoon, a UDP sink and tcpdump run in a namespace of their own (its
# loopback only), removed on exit.
wire_test() {
    local ns=nm-ipfix-$$ rx td
    ip netns add "$ns" || return 1
    WIRE_NS=$ns
    ip -n "$ns" link set lo up
    ip netns exec "$ns" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 4739)); s.settimeout(3)
try:
    while True: s.recv(2048)
except socket.timeout: pass' &
    rx=$!
    ip netns exec "$ns" tcpdump -n -i lo -B 65536 -s 2048 -U --immediate-mode -w "$tmp/wire.pcap" udp port 4739 2>"$tmp/wire.tcpdump" &
    td=$!
    for i in $(seq 100); do
        grep -q 'listening on' "$tmp/wire.tcpdump" &&
            [ -n "$(ip netns exec "$ns" ss -Hlun 'sport = :4739' 2>/dev/null)" ] && break
        sleep 0.05
    done
    ip netns exec "$ns" "$NETMOON" -r "$tmp/workload.pcap" --ipfix 127.0.0.1:4739 >/dev/null 2>"$tmp/wire.err"
    # tcpdump writes each packet as it comes (-U, --immediate-mode): wait
    # until its file stops growing before stopping it.
    local size=-1
    for i in $(seq 40); do
        sleep 0.25
        [ "$(stat -c %s "$tmp/wire.pcap")" = "$size" ] && break
        size=$(stat -c %s "$tmp/wire.pcap")
    done
    kill "$td"; wait "$td" 2>/dev/null; wait "$rx" 2>/dev/null
    ip netns del "$ns"; WIRE_NS=
}
WIRE_NS=
if [ "$(id -u)" -eq 0 ] && [ -f "$tmp/workload.pcap" ] && command -v tcpdump >/dev/null && wire_test; then
    read -r wp wb _ <<<"$(ip_totals "$tmp/workload.pcap")"
    D=(-d udp.port==4739,cflow)
    got=$(tshark -r "$tmp/wire.pcap" "${D[@]}" -T fields -E occurrence=a -E aggregator=, \
              -e cflow.packets -e cflow.octets 2>/dev/null |
          awk -F'\t' '{n = split($1, a, ","); for (i = 1; i <= n; i++) p += a[i]
                       m = split($2, b, ","); for (i = 1; i <= m; i++) o += b[i]} END {print p + 0, o + 0}')
    msgs=$(tshark -r "$tmp/wire.pcap" "${D[@]}" -Y cflow 2>/dev/null | wc -l)
    tmpl=$(tshark -r "$tmp/wire.pcap" "${D[@]}" -Y 'cflow.flowset_id == 2' -T fields -e frame.number 2>/dev/null | tr '\n' ' ')
    want_tmpl=$(seq 1 256 "$msgs" | tr '\n' ' ')
    expert=$(tshark -r "$tmp/wire.pcap" "${D[@]}" -Y '_ws.expert || _ws.malformed' -T fields -e _ws.expert.message 2>/dev/null | sort | uniq -c | head -3)
    td_drops=$(sed -n 's/^\([0-9]*\) packets\? dropped by kernel.*/\1/p' "$tmp/wire.tcpdump")
    if [ "${td_drops:-0}" != 0 ]; then
        skip ipfix-wire "tcpdump itself dropped $td_drops packets: no oracle this time"
    elif [ "$got" = "$wp $wb" ] && [ "$msgs" -gt 256 ] && [ "$tmpl" = "$want_tmpl" ] && [ -z "$expert" ]; then
        pass ipfix-wire
    else
        fail ipfix-wire "Wireshark decoded packets/octets '$got', tshark totals '$wp $wb'; $msgs messages, templates in frames '$tmpl' (want '$want_tmpl'); expert: $(echo $expert)"
    fi
else
    skip ipfix-wire "needs root, tcpdump and the workload"
fi

# Nothing listens: the kernel answers with port unreachable, later sends
# fail with ECONNREFUSED: one message, the loss in --stats, exit 1.
if [ -f "$tmp/workload.pcap" ]; then
    port=$(free_udp_port)
    "$NETMOON" -r "$tmp/workload.pcap" --ipfix "127.0.0.1:$port" --stats >/dev/null 2>"$tmp/refused.err"
    rc=$?
    n=$(grep -c "sending IPFIX to 127.0.0.1:$port failed" "$tmp/refused.err")
    lost=$(sed -n 's/.*IPFIX records: *[0-9]* sent, \([0-9]*\) lost.*/\1/p' "$tmp/refused.err")
    if [ "$rc" = 1 ] && [ "$n" = 1 ] && [ "${lost:-0}" -gt 0 ]; then pass ipfix-refused
    else fail ipfix-refused "exit $rc, $n send-failure messages, lost '$lost': $(head -c 300 "$tmp/refused.err")"; fi
fi

"$NETMOON" -r "$LAB/icmp.pcap" --ipfix 127.0.0.1 >/dev/null 2>"$tmp/bad.err"
rc=$?
if [ "$rc" = 1 ] && grep -q 'HOST:PORT' "$tmp/bad.err"; then pass ipfix-bad-dest
else fail ipfix-bad-dest "exit $rc: $(head -c 200 "$tmp/bad.err")"; fi
