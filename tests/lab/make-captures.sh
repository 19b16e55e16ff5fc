#!/usr/bin/env bash
# tests/lab/make-captures.sh: regenerates the lab pcaps in tests/data/lab/.
#
# Builds the namespace lab (tests/lab/lib.sh), starts real servers in the
# server namespace (nginx HTTP/HTTPS, dnsmasq, iperf3), and for each capture
# runs tcpdump on the client-side veth while real clients (curl, dig, ping,
# iperf3, tests/lab/clients.py) talk to them.  Run as root:
#
#   tests/lab/make-captures.sh            all captures
#   tests/lab/make-captures.sh http dns-udp   only these
#
# The pcaps are committed, so the golden tests are deterministic; this
# script is how they were made and how to make them again (the new files will
# differ in timestamps, ports and sequence numbers, never in kind).
#
# Offloads: http.pcap is captured with the veth's default offloads, so it
# holds the up-to-64 KB GSO/TSO super-frames that a capture on a Linux host
# really sees (and TCP checksums left for the "hardware").  Every other
# capture is taken with GRO/GSO/TSO and TX checksum offload off, so frames
# are wire-sized (<= 1514 bytes) with correct checksums.
#
# Every wait is bounded: servers are polled until they listen, clients run
# under `timeout`, and the end of a capture waits (bounded) until no TCP
# connection is still closing in either namespace.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
out=$root/tests/data/lab
clients=$root/tests/lab/clients.py
# The bulk download size: keeps bulk-loss.pcap near 3 MB and the whole of
# tests/data/lab/ well under the 8 MB budget.
LAB_BULK_BYTES=$((2 * 1024 * 1024))
MAX_TOTAL_KB=8192
# shellcheck source=tests/lab/lib.sh
source "$root/tests/lab/lib.sh"

S4=$LAB_SRV4
S6=$LAB_SRV6
# C CMD...: a client command in the client namespace, bounded in time.
C() { lab_cli timeout 60 "$@"; }
CURL=(curl -sS -o /dev/null --max-time 30 --connect-timeout 5)
DIG=(dig +time=2 +tries=1)

# TCP states that mean a connection is still going or closing.  TIME_WAIT
# is left out: it sends nothing more.
busy_states='( state syn-sent or state syn-recv or state established or state fin-wait-1 or state fin-wait-2 or state close-wait or state last-ack or state closing )'
tcp_quiet() {
    # iperf3 and dnsmasq keep listeners; only non-listening sockets count.
    [ -z "$(lab_cli ss -Htan "$busy_states" 2>/dev/null)" ] &&
        [ -z "$(lab_srv ss -Htan "$busy_states" 2>/dev/null)" ]
}

# capture NAME FUNCTION: records FUNCTION's traffic into $out/NAME.pcap.
capture() {
    local name=$1 fn=$2 tmp=$LAB_TMP/$1.pcap
    lab_capture_start "$tmp"
    "$fn"
    if ! lab_wait_until 20 tcp_quiet; then
        lab_log "$name: connections still open after 20 s:"
        lab_cli ss -Htan "$busy_states" >&2 || true
        lab_srv ss -Htan "$busy_states" >&2 || true
        return 1
    fi
    # tcpdump reads the ring in immediate mode; give it a moment to write
    # the last ACK before it is told to stop.
    sleep 0.3
    lab_capture_stop
    mv "$tmp" "$out/$name.pcap"
}

# --- the traffic of each capture -------------------------------------------

traffic_http() {
    # One connection, four requests on it (keep-alive), including a 404.
    C "${CURL[@]}" "http://$S4/" -o /dev/null "http://$S4/small.txt" -o /dev/null \
        "http://$S4/index.html" -o /dev/null "http://$S4/missing" -o /dev/null
    # A 1 MB file on its own connection.
    C "${CURL[@]}" "http://$S4/1m.bin"
    # HTTP/1.0 without keep-alive, and a HEAD.
    C "${CURL[@]}" --http1.0 "http://$S4/small.txt"
    C "${CURL[@]}" -I "http://$S4/"
}

traffic_https() {
    C "${CURL[@]}" -k "https://$S4/" -o /dev/null "https://$S4/small.txt"
    C "${CURL[@]}" -k --tlsv1.2 --tls-max 1.2 "https://$S4/small.txt"
    C "${CURL[@]}" -k "https://[$S6]/"
    # Certificate not trusted: the client aborts the handshake (TLS alert).
    C "${CURL[@]}" "https://$S4/" 2>/dev/null || true
}

# Names (issue 8): a name is looked up, then used: TLS with SNI (1.3 and
# 1.2, v4 and v6), HTTP with a Host name; then, with the server advertising
# an MSS of 88 bytes, a ClientHello and an HTTP request that each span
# several segments; last a ping to the address the name resolved to.
traffic_names() {
    local r4=(--resolve "www.example.test:443:$S4" --resolve "www.example.test:80:$S4")
    C "${DIG[@]}" @"$S4" www.example.test A
    C "${DIG[@]}" @"$S4" www.example.test AAAA
    C "${CURL[@]}" -k "${r4[@]}" "https://www.example.test/"
    C "${CURL[@]}" -k "${r4[@]}" --http1.1 --tlsv1.2 --tls-max 1.2 "https://www.example.test/small.txt"
    C "${CURL[@]}" -k --resolve "www.example.test:443:[$S6]" "https://www.example.test/"
    C "${CURL[@]}" "${r4[@]}" "http://www.example.test/small.txt"
    lab_srv ip route add "$LAB_CLI4/32" dev "$LAB_SRV_DEV" advmss 88
    C "${CURL[@]}" -k "${r4[@]}" "https://www.example.test/small.txt"
    C "${CURL[@]}" "${r4[@]}" -H "X-Padding: $(printf '%0200d' 0)" "http://www.example.test/"
    lab_srv ip route del "$LAB_CLI4/32" dev "$LAB_SRV_DEV"
    # Nothing in a ping names its peer: only the DNS answers above can.
    C ping -c 1 -W 2 "$S4" >/dev/null
}

traffic_dns_udp() {
    C "${DIG[@]}" @"$S4" www.example.test A >/dev/null
    C "${DIG[@]}" @"$S4" www.example.test AAAA >/dev/null
    C "${DIG[@]}" @"$S4" nope.example.test A >/dev/null          # NXDOMAIN
    C "${DIG[@]}" @"$S4" wild.example.test A >/dev/null
    C "${DIG[@]}" @"$S4" example.test MX >/dev/null
    C "${DIG[@]}" @"$S4" txt.example.test TXT >/dev/null
    C "${DIG[@]}" @"$S6" www.example.test AAAA >/dev/null
    C "${DIG[@]}" @"$S6" missing.example.test AAAA >/dev/null    # NXDOMAIN
    # Several queries on one 5-tuple.
    C python3 "$clients" dns-udp "$S4" www.example.test v4only.example.test nope.example.test
    C python3 "$clients" dns-udp "$S6" www.example.test v6only.example.test
}

traffic_dns_tcp() {
    C "${DIG[@]}" +tcp @"$S4" www.example.test A >/dev/null
    C "${DIG[@]}" +tcp @"$S4" www.example.test AAAA >/dev/null
    C "${DIG[@]}" +tcp @"$S4" nope.example.test A >/dev/null     # NXDOMAIN
    C "${DIG[@]}" +tcp @"$S6" v6only.example.test AAAA >/dev/null
    # Several queries on one TCP connection.
    C "${DIG[@]}" +tcp +keepopen @"$S4" www.example.test A v4only.example.test A \
        txt.example.test TXT >/dev/null
}

traffic_ipv6() {
    C "${CURL[@]}" "http://[$S6]/" -o /dev/null "http://[$S6]/small.txt"
    C "${CURL[@]}" -k "https://[$S6]/small.txt"
    C ping -6 -c 3 -i 0.2 -W 2 "$S6" >/dev/null
    C "${DIG[@]}" @"$S6" www.example.test AAAA >/dev/null
}

traffic_icmp() {
    # Three pings, three echo identifiers.
    C ping -c 3 -i 0.2 -W 2 "$S4" >/dev/null
    C ping -c 2 -i 0.2 -W 2 -s 1000 "$S4" >/dev/null
    C ping -c 2 -i 0.2 -W 2 "$S4" >/dev/null
    # UDP to a closed port: ICMP / ICMPv6 port unreachable from the server.
    C python3 "$clients" udp-closed "$S4" 9
    C python3 "$clients" udp-closed "$S6" 9
}

traffic_refused() {
    # Nothing listens on 81: SYN answered by RST+ACK.
    C "${CURL[@]}" "http://$S4:81/" 2>/dev/null || true
    C "${CURL[@]}" "http://[$S6]:81/" 2>/dev/null || true
}

traffic_bulk_loss() {
    lab_random_drop 3
    # Download: the server's data is dropped before the capture point.
    C "${CURL[@]}" --max-time 50 "http://$S4/bulk.bin"
    # Upload: the client's data is dropped after the capture point.
    C iperf3 -c "$S4" -p 5201 -n 1M --connect-timeout 5000 >/dev/null
    lab_random_drop_off
}

traffic_port_reuse() {
    C python3 "$clients" port-reuse "$S4" 80 40000
    C python3 "$clients" rst-reuse "$S4" 80 40001
    C python3 "$clients" port-reuse "$S6" 80 40002
}

traffic_mixed() {
    local pids=() p rc=0
    C "${CURL[@]}" "http://$S4/" -o /dev/null "http://$S4/small.txt" & pids+=($!)
    C "${CURL[@]}" -k "https://[$S6]/small.txt" & pids+=($!)
    C "${CURL[@]}" "http://$S4/1m.bin" -r 0-299999 & pids+=($!)
    C "${DIG[@]}" @"$S4" www.example.test A >/dev/null & pids+=($!)
    C "${DIG[@]}" +tcp @"$S6" www.example.test AAAA >/dev/null & pids+=($!)
    C ping -c 4 -i 0.2 -W 2 "$S4" >/dev/null & pids+=($!)
    C ping -6 -c 4 -i 0.2 -W 2 "$S6" >/dev/null & pids+=($!)
    C iperf3 -c "$S4" -p 5201 -u -b 2M -n 200K -l 1200 --connect-timeout 5000 >/dev/null & pids+=($!)
    C "${CURL[@]}" "http://$S4:81/" 2>/dev/null & pids+=($!)
    for p in "${pids[@]}"; do wait "$p" || rc=$?; done
    # curl to :81 fails on purpose (exit 7); anything else is a real failure.
    [ "$rc" -eq 0 ] || [ "$rc" -eq 7 ] || { lab_log "a mixed client failed ($rc)"; return 1; }
}

# ---------------------------------------------------------------------------

all=(http https dns-udp dns-tcp ipv6 icmp refused bulk-loss port-reuse mixed names)
want=("$@")
[ ${#want[@]} -eq 0 ] && want=("${all[@]}")

mkdir -p "$out"
lab_up
lab_nginx
lab_dnsmasq
lab_iperf3

# http first: it is the one capture taken with the default offloads on.
for name in "${want[@]}"; do
    if [ "$name" = http ]; then capture http traffic_http; fi
done
lab_no_offload
for name in "${want[@]}"; do
    case $name in
        http) ;;
        https|dns-udp|dns-tcp|ipv6|icmp|refused|bulk-loss|port-reuse|mixed|names)
            capture "$name" "traffic_${name//-/_}" ;;
        *) lab_log "unknown capture $name (known: ${all[*]})"; exit 2 ;;
    esac
done
lab_down

total_kb=$(du -sk "$out" | cut -f1)
ls -l "$out"
echo "tests/data/lab: ${total_kb} KB"
if [ "$total_kb" -gt "$MAX_TOTAL_KB" ]; then
    echo "make-captures: tests/data/lab is over ${MAX_TOTAL_KB} KB; shrink LAB_BULK_BYTES" >&2
    exit 1
fi
