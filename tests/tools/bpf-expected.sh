#!/usr/bin/env bash
# tests/tools/bpf-expected.sh NETMOON: whether process attribution's eBPF
# owner source (src/procs/procs_bpf.h) must load on this machine, decided
# without asking netmoon whether it did: effective uid 0, the kernel's BTF
# (/sys/kernel/btf/vmlinux) has the sock_send_length tracepoint's type
# (btf_trace_sock_send_length, Linux 6.3+ or a backport: tracefs need not be
# mounted), and `NETMOON --version` says the binary was built with it.
# Prints "yes", or "no: REASON".  NETMOON_EXPECT_BPF=yes|no overrides, for a
# root without CAP_BPF (a container): the reason then says so.
set -u
netmoon=${1:?usage: bpf-expected.sh NETMOON}
btf=/sys/kernel/btf/vmlinux

case ${NETMOON_EXPECT_BPF:-} in
yes) echo yes; exit 0 ;;
no) echo "no: NETMOON_EXPECT_BPF=no"; exit 0 ;;
esac
if [ "$(id -u)" -ne 0 ]; then echo "no: not root"
elif [ ! -r "$btf" ]; then echo "no: no kernel BTF ($btf)"
elif ! grep -qa btf_trace_sock_send_length "$btf"; then echo "no: kernel without the sock_send_length tracepoint (before 6.3)"
elif ! "$netmoon" --version 2>/dev/null | grep -q '^eBPF owner source: built in'; then echo "no: netmoon built without the eBPF source"
else echo yes
fi
