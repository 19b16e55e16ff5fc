# tests/lab/lib.sh: a two-namespace network lab for live tests and captures.
#
# Source it, then:
#
#   lab_up                  two namespaces joined by a veth pair; installs
#                           `trap lab_down EXIT INT TERM`
#   lab_nginx               nginx in the server namespace: HTTP :80, HTTPS :443
#   lab_dnsmasq             dnsmasq in the server namespace: DNS :53 UDP+TCP
#   lab_iperf3              iperf3 -s in the server namespace (:5201)
#   lab_no_offload          GRO/GSO/TSO (and TX checksum offload) off on both veths
#   lab_random_drop [PCT]   nftables drops PCT % (default 3) of TCP packets at
#                           random in the server namespace (input and output)
#   lab_cli CMD...          run CMD in the client namespace
#   lab_srv CMD...          run CMD in the server namespace
#   lab_bg NS CMD...        start CMD in namespace NS in the background and
#                           remember its pid, so that lab_down stops it
#   lab_down                stop what the lab started, delete the namespaces
#                           and the temp dir (idempotent)
#
# Addresses (RFC 2544 benchmarking range and the RFC 3849 documentation
# prefix only; nothing here routes anywhere else, the namespaces have no
# default route, so no packet can leave them):
#   client  LAB_CLI4=198.18.0.1/24  LAB_CLI6=2001:db8::1/64  dev veth-cli
#   server  LAB_SRV4=198.18.0.2/24  LAB_SRV6=2001:db8::2/64  dev veth-srv
#
# Names are unique per run (nm-cli-$$ / nm-srv-$$) so parallel runs in other
# worktrees do not collide; the veth ends are created directly inside the
# namespaces, so their short names never meet in the root namespace.
#
# Every wait is a bounded poll (lab_wait_until), never a blind sleep.
# Processes are stopped by the pids we recorded when we started them.
# Safe to source under `set -euo pipefail`.

LAB_CLI4=198.18.0.1
LAB_SRV4=198.18.0.2
LAB_CLI6=2001:db8::1
LAB_SRV6=2001:db8::2
LAB_CLI_DEV=veth-cli
LAB_SRV_DEV=veth-srv
LAB_NS_CLI=
LAB_NS_SRV=
LAB_TMP=
LAB_PIDS=()
LAB_UP=0
# Size of bulk.bin that lab_nginx serves (set before calling it).
LAB_BULK_BYTES=${LAB_BULK_BYTES:-$((2 * 1024 * 1024))}

lab_log() { echo "lab: $*" >&2; }

lab_cli() { ip netns exec "$LAB_NS_CLI" "$@"; }
lab_srv() { ip netns exec "$LAB_NS_SRV" "$@"; }

# lab_wait_until SECONDS CMD...: polls CMD every 0.05 s until it succeeds;
# returns 1 when SECONDS have passed.
lab_wait_until() {
    local limit=$1; shift
    local deadline=$(( $(date +%s%N) + limit * 1000000000 ))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s%N)" -ge "$deadline" ] && return 1
        sleep 0.05
    done
    return 0
}

# lab_bg NS CMD...: `ip netns exec` execs CMD, so $! is CMD's own pid.
lab_bg() {
    local ns=$1; shift
    ip netns exec "$ns" "$@" &
    LAB_BG_PID=$!
    LAB_PIDS+=("$LAB_BG_PID")
}

# lab_paced_start NS ADDR LOG: a long-lived HTTP connection from NS to nginx
# at ADDR, one header line every 0.2 s for up to 20 s (nginx waits 60 s for
# a complete header), so it is open and active whenever a capture is
# stopped; each line sent appends to LOG; pid in LAB_BG_PID.
# lab_paced_wait SECONDS LOG: until 3 lines were sent.
lab_paced_start() {
    : >"$3"
    lab_bg "$1" timeout 25 python3 -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], 80), timeout=5)
s.sendall(b"GET / HTTP/1.1\r\nHost: www.example.test\r\n")
log = open(sys.argv[2], "a")
for i in range(100):
    s.sendall(b"X-Pace-%d: %s\r\n" % (i, b"x" * 40))
    print(i, file=log, flush=True)
    time.sleep(0.2)
' "$2" "$3"
}
lab_paced_wait() { lab_wait_until "$1" bash -c "[ \$(wc -l <'$2') -ge 3 ]"; }

# lab_stop_pid PID: SIGTERM, bounded wait, then SIGKILL.  Only pids we started.
lab_stop_pid() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    lab_wait_until 5 bash -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 0
}

lab_require() {
    local missing=() t
    for t in ip ethtool nft nginx dnsmasq iperf3 openssl ss; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    if [ "$(id -u)" -ne 0 ]; then
        lab_log "needs root (network namespaces)"; return 1
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        lab_log "missing tools: ${missing[*]} (run scripts/install-deps.sh)"; return 1
    fi
}

lab_up() {
    lab_require || return 1
    LAB_NS_CLI=nm-cli-$$
    LAB_NS_SRV=nm-srv-$$
    LAB_TMP=$(mktemp -d /tmp/nm-lab.XXXXXX) || return 1
    # Installed first, so a failure half-way through still cleans up.
    trap lab_down EXIT
    trap 'lab_down; exit 130' INT
    trap 'lab_down; exit 143' TERM
    LAB_UP=1
    ip netns add "$LAB_NS_CLI" || return 1
    ip netns add "$LAB_NS_SRV" || return 1
    local ns
    for ns in "$LAB_NS_CLI" "$LAB_NS_SRV"; do
        # No router solicitations: nothing would answer, they are only noise.
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.router_solicitations=0 \
                                       net.ipv6.conf.all.router_solicitations=0
        ip -n "$ns" link set lo up
    done
    ip link add "$LAB_CLI_DEV" netns "$LAB_NS_CLI" type veth \
        peer name "$LAB_SRV_DEV" netns "$LAB_NS_SRV" || return 1
    ip -n "$LAB_NS_CLI" addr add "$LAB_CLI4/24" dev "$LAB_CLI_DEV"
    ip -n "$LAB_NS_SRV" addr add "$LAB_SRV4/24" dev "$LAB_SRV_DEV"
    # nodad: the addresses are usable at once instead of after DAD (~1 s).
    ip -n "$LAB_NS_CLI" addr add "$LAB_CLI6/64" dev "$LAB_CLI_DEV" nodad
    ip -n "$LAB_NS_SRV" addr add "$LAB_SRV6/64" dev "$LAB_SRV_DEV" nodad
    ip -n "$LAB_NS_CLI" link set "$LAB_CLI_DEV" up
    ip -n "$LAB_NS_SRV" link set "$LAB_SRV_DEV" up
    # Both ends up and the v6 addresses not tentative.
    lab_wait_until 5 bash -c "ip -n $LAB_NS_CLI -br link show $LAB_CLI_DEV | grep -q ' UP ' &&
                              ip -n $LAB_NS_SRV -br link show $LAB_SRV_DEV | grep -q ' UP ' &&
                              ! ip -n $LAB_NS_CLI addr show tentative | grep -q inet6 &&
                              ! ip -n $LAB_NS_SRV addr show tentative | grep -q inet6" \
        || { lab_log "veth did not come up"; return 1; }
    lab_log "up: $LAB_NS_CLI ($LAB_CLI4, $LAB_CLI6) <-> $LAB_NS_SRV ($LAB_SRV4, $LAB_SRV6), tmp $LAB_TMP"
}

lab_down() {
    [ "$LAB_UP" = 1 ] || return 0
    LAB_UP=0
    local pid
    for pid in "${LAB_PIDS[@]}"; do lab_stop_pid "$pid"; done
    LAB_PIDS=()
    # nginx/dnsmasq may have forked; their pid files name what is left.
    if [ -n "$LAB_TMP" ]; then
        for f in "$LAB_TMP"/*.pid; do
            [ -f "$f" ] && lab_stop_pid "$(cat "$f")"
        done
    fi
    if [ -n "$LAB_NS_CLI" ]; then ip netns del "$LAB_NS_CLI" 2>/dev/null || true; fi
    if [ -n "$LAB_NS_SRV" ]; then ip netns del "$LAB_NS_SRV" 2>/dev/null || true; fi
    if [ -n "$LAB_TMP" ] && [ -d "$LAB_TMP" ]; then rm -rf "$LAB_TMP"; fi
    trap - EXIT INT TERM
    return 0
}

# lab_listening NS PROTO PORT: is something listening on PORT (tcp or udp)?
# Asks the kernel with ss instead of connecting, so a readiness check sends
# no packet that a capture could see.
lab_listening() {
    local ns=$1 proto=$2 port=$3 flag=-Hltn
    [ "$proto" = udp ] && flag=-Hlun
    [ -n "$(ip netns exec "$ns" ss $flag "sport = :$port" 2>/dev/null)" ]
}

lab_nginx() {
    local d=$LAB_TMP/nginx
    mkdir -p "$d/www" "$d/tmp"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=www.example.test" \
        -addext "subjectAltName=DNS:www.example.test,IP:$LAB_SRV4,IP:$LAB_SRV6" \
        -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null || { lab_log "openssl failed"; return 1; }
    echo "hello from the netmoon lab" >"$d/www/index.html"
    head -c 1000 /dev/urandom | base64 >"$d/www/small.txt"
    head -c $((1024 * 1024)) /dev/urandom >"$d/www/1m.bin"
    head -c "$LAB_BULK_BYTES" /dev/urandom >"$d/www/bulk.bin"
    cat >"$d/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
user root;
pid $LAB_TMP/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 256; }
http {
    access_log $d/access.log;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    types { text/html html; text/plain txt; application/octet-stream bin; }
    default_type application/octet-stream;
    sendfile on;
    gzip off;
    keepalive_timeout 30s;
    server {
        listen $LAB_SRV4:80;
        listen [$LAB_SRV6]:80;
        listen $LAB_SRV4:443 ssl;
        listen [$LAB_SRV6]:443 ssl;
        server_name www.example.test;
        ssl_certificate $d/cert.pem;
        ssl_certificate_key $d/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $d/www;
    }
}
EOF
    lab_bg "$LAB_NS_SRV" nginx -e "$d/error.log" -p "$d" -c "$d/nginx.conf"
    lab_wait_until 10 bash -c "$(declare -f lab_listening); lab_listening $LAB_NS_SRV tcp 80 &&
                                                          lab_listening $LAB_NS_SRV tcp 443" \
        || { lab_log "nginx did not start:"; cat "$d/error.log" >&2; return 1; }
}

# Names under example.test (RFC 2606 reserved).  --local makes every other
# name in the zone NXDOMAIN; there is no upstream (--no-resolv), so nothing
# is ever forwarded out of the lab.
lab_dnsmasq() {
    lab_bg "$LAB_NS_SRV" dnsmasq --keep-in-foreground --conf-file=/dev/null \
        --no-resolv --no-hosts --no-dhcp-interface="$LAB_SRV_DEV" \
        --user=root --group=root --pid-file="$LAB_TMP/dnsmasq.pid" \
        --bind-interfaces --listen-address="$LAB_SRV4" --listen-address="$LAB_SRV6" \
        --except-interface=lo --port=53 \
        --local=/example.test/ --local-ttl=300 \
        --host-record=www.example.test,$LAB_SRV4,$LAB_SRV6 \
        --host-record=ns.example.test,$LAB_SRV4,$LAB_SRV6 \
        --host-record=v4only.example.test,198.18.0.10 \
        --host-record=v6only.example.test,2001:db8::10 \
        --address=/wild.example.test/198.18.0.20 \
        --txt-record=txt.example.test,"netmoon lab" \
        --mx-host=example.test,www.example.test,10 \
        --log-facility="$LAB_TMP/dnsmasq.log"
    lab_wait_until 10 bash -c "$(declare -f lab_listening); lab_listening $LAB_NS_SRV udp 53 &&
                                                          lab_listening $LAB_NS_SRV tcp 53" \
        || { lab_log "dnsmasq did not start"; cat "$LAB_TMP/dnsmasq.log" >&2 2>/dev/null; return 1; }
}

lab_iperf3() {
    lab_bg "$LAB_NS_SRV" iperf3 -s -B "${1:-::}" -p 5201 --logfile "$LAB_TMP/iperf3.log"
    lab_wait_until 10 bash -c "$(declare -f lab_listening); lab_listening $LAB_NS_SRV tcp 5201" \
        || { lab_log "iperf3 did not start"; return 1; }
}

# Wire-sized frames: without this a capture on a veth sees the 64 KB
# super-packets that GSO/TSO hand down and GRO builds up.  TX checksum
# offload off too, so captured packets carry correct checksums.
lab_no_offload() {
    ip netns exec "$LAB_NS_CLI" ethtool -K "$LAB_CLI_DEV" gro off gso off tso off tx off >/dev/null &&
        ip netns exec "$LAB_NS_SRV" ethtool -K "$LAB_SRV_DEV" gro off gso off tso off tx off >/dev/null
}

# Random loss on the server side of the link.  Output drops happen before the
# client-side capture point (the capture sees a gap, then the retransmission);
# input drops happen after it (the capture sees the original and the
# retransmission).  Only TCP, so DNS/ICMP in the same run are not affected.
lab_random_drop() {
    local pct=${1:-3}
    lab_srv nft -f - <<EOF
table inet nmlab {
    chain in  { type filter hook input  priority 0; policy accept; meta l4proto tcp numgen random mod 100 < $pct drop; }
    chain out { type filter hook output priority 0; policy accept; meta l4proto tcp numgen random mod 100 < $pct drop; }
}
EOF
}

lab_random_drop_off() {
    lab_srv nft delete table inet nmlab 2>/dev/null
    return 0
}

# lab_capture_start FILE: tcpdump on the client-side veth, whole frames
# (-s 0), each packet written as it arrives (-U --immediate-mode), a 32 MB
# kernel buffer (-B) so a burst of 64 KB GSO frames is not dropped.  Returns
# once tcpdump says it is listening, so no packet sent afterwards is missed.
# -Z root: Debian's tcpdump otherwise drops to user tcpdump before opening
# FILE, which then may not be writable.
lab_capture_start() {
    LAB_CAP_FILE=$1
    LAB_CAP_LOG=$LAB_TMP/tcpdump.$$.$RANDOM.log
    lab_bg "$LAB_NS_CLI" tcpdump -n -i "$LAB_CLI_DEV" -s 0 -B 32768 -U --immediate-mode -Z root \
        -w "$LAB_CAP_FILE" 2>"$LAB_CAP_LOG"
    LAB_CAP_PID=$LAB_BG_PID
    lab_wait_until 10 grep -q 'listening on' "$LAB_CAP_LOG" \
        || { lab_log "tcpdump did not start:"; cat "$LAB_CAP_LOG" >&2; return 1; }
}

# lab_capture_stop: stops tcpdump (it flushes on SIGTERM) and fails if the
# kernel dropped packets: the pcap would still be self-consistent, but it
# would not be the traffic we meant to record.
lab_capture_stop() {
    lab_stop_pid "$LAB_CAP_PID"
    local dropped
    dropped=$(sed -n 's/^\([0-9]*\) packets\? dropped by kernel.*/\1/p' "$LAB_CAP_LOG")
    lab_log "$(basename "$LAB_CAP_FILE"): $(grep -h 'packets' "$LAB_CAP_LOG" | paste -sd, -)"
    if [ "${dropped:-0}" != 0 ]; then
        lab_log "tcpdump dropped $dropped packets writing $LAB_CAP_FILE"; return 1
    fi
}
