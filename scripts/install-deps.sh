#!/usr/bin/env bash
# install-deps.sh: installs netmoon's build and test dependencies on Debian 12
# with apt-get, non-interactively. Only missing packages are installed, so a
# second run is fast and offline-safe.
#
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh --bench    also the peer tools for `make bench`
set -euo pipefail

# clang and libbpf-dev also build process attribution's eBPF programs
# (src/procs/procs_owner.bpf.c, clang -target bpf; no llvm tools needed).
build_pkgs=(build-essential pkg-config clang libpcap-dev libncurses-dev
            libndpi-dev libssl-dev libbpf-dev)
test_pkgs=(tshark tcpdump tmux iproute2 iputils-ping nginx dnsmasq iperf3
           curl dnsutils nftables ethtool procps python3 libcap2-bin libndpi-bin tcpflow
            nfdump prometheus tcpreplay)
bench_pkgs=(softflowd argus-client argus-server tcptrack iftop
            valgrind time)

want=("${build_pkgs[@]}" "${test_pkgs[@]}")
[ "${1:-}" = "--bench" ] && want+=("${bench_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root (or: sudo $0 $*) to install them" >&2
    exit 1
fi
echo "install-deps: installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer it in advance.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts nginx, dnsmasq and prometheus as system services on install; the tests run
# their own instances inside namespaces, so the system ones only get in the way.
for svc in nginx dnsmasq prometheus; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || service "$svc" stop >/dev/null 2>&1 || true
done
