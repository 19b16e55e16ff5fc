#!/usr/bin/env bash
# tests/tools/bpf-expected.sh NETMOON: whether process attribution's eBPF
# owner source (src/procs/procs_bpf.h) must load on this machine, decided
# without asking netmoon whether it did: effective uid 0, the kernel's BTF
# (/sys/kernel/btf/vmlinux) has the sock_send_length tracepoint's type
# (btf_trace_sock_send_length, Linux 6.3+ or a backport: tracefs need not be
# mounted), bpf(2) itself works for this process (a one-entry array map,
# created through python3's ctypes, not netmoon's loader: a container's
# seccomp filter or a root without CAP_BPF refuses it), and
# `NETMOON --version` says the binary was built with it.
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
elif ! python3 - <<'PY'
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
# union bpf_attr for BPF_MAP_CREATE: map_type, key_size, value_size,
# max_entries (BPF_MAP_TYPE_ARRAY = 2), the rest zero.
attr = ctypes.create_string_buffer(struct.pack("=IIII", 2, 4, 4, 1) + bytes(112))
nr = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine)  # SYS_bpf
if nr is None:
    sys.exit(0)  # unknown syscall number: let the load itself decide
fd = libc.syscall(nr, 0, attr, len(attr))  # BPF_MAP_CREATE
if fd < 0:
    sys.exit(1)
os.close(fd)
PY
then echo "no: bpf(2) refused to this process (no CAP_BPF, or a seccomp filter)"
elif ! "$netmoon" --version 2>/dev/null | grep -q '^eBPF owner source: built in'; then echo "no: netmoon built without the eBPF source"
else echo yes
fi
