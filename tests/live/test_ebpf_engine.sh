#!/usr/bin/env bash
# tests/live/test_ebpf_engine.sh: the eBPF capture engine (--engine ebpf: a
# socket filter on a packet socket that accounts flows in a BPF hash
# map and never queues a packet; netmoon reads the map once a second)
# against real traffic in the namespace lab.
#
# The lab is tests/lab/lib.sh: a client and a server namespace joined by a
# veth pair, nginx, dnsmasq and iperf3 in the server namespace, addresses only
# from 198.18.0.0/15 and 2001:db8::/32, no default route, so no packet ever
# leaves.  netmoon and tcpdump both capture the server end of the veth; the
# trap deletes the namespaces on every exit path.
#
# Every expected number comes from a tcpdump capture of the same interface
# made while netmoon ran, read by tshark (tests/golden/tshark_flows.py and
# compare.py, through tests/live/live_check.py or the helper below, which
# imports them), or from the client tools' own reports (ping's "N
# transmitted, N received", dig's answers); never from netmoon's output.
#
#   ebpf/exact            curl (HTTP, HTTPS; IPv4, IPv6), dig (UDP and TCP,
#                         v4 and v6), a SYN answered by RST: every TCP/UDP
#                         flow exact (packets and bytes per direction, TCP
#                         initiator), as live/exact-T1 does for the default engine
#   ebpf/initiator-first  UDP: src is the sender of tshark's first packet
#   ebpf/end-reasons      connections tshark saw reset end "rst", closed by
#                         FINs "fin" (--close-timeout 2)
#   ebpf/times            ts_start/ts_end within 1 ms of tshark's times
#   ebpf/tcp-flags        tcp_flags_src/dst: the OR of each side's flags in
#                         tshark's reading of every TCP header
#   ebpf/icmp             echo flows per identifier as tshark counts them;
#   ebpf/icmp-ping4/6     and as ping's own "N transmitted, N received"
#   ebpf/seen-all         "kernel received" (--stats) == frames tcpdump captured
#                         in the same run (tcpdump starts before netmoon and
#                         stops after it; the lab is silent outside the
#                         traffic, and frames outside netmoon's lifetime are
#                         listed when they differ)
#   ebpf/accounted-all    packets in the flow records == tshark's IP frames
#   ebpf/stats-lines      --stats has "ebpf table full: 0" and "ebpf program:"
#   ebpf/sweep-sliced     the sweep runs a 64th of the flow map at a time (so
#                         its softirq never holds a CPU for the whole map):
#                         "ebpf sweeps" counts at least a quarter of the 64
#                         runs per period (a quarter of --close-timeout 2)
#                         that --duration 9 allows; sweeping the whole map
#                         per run gave 18
#   ebpf/promisc, -p      promiscuous while capturing; not with -p
#   ebpf/json-*           every line JSON, the last a complete stats record
#   ebpf/idle             --idle-timeout 2: a UDP flow idle for 3.5 s is in
#                         the JSON file with end_reason idle while netmoon
#                         still runs; ebpf/idle-exact: its counts as tshark's
#   ebpf/sigint-*         SIGINT: exit 0, the open TCP connection written with
#                         end_reason shutdown, everything the kernel saw
#                         before the signal counted (live_check.py window)
#   ebpf/active           --active-timeout 1 under an iperf3 transfer: interim
#                         "active" records whose sums are exact (a packet lost
#                         between reading and resetting a map entry shows)
#   ebpf/table-full-*     --max-flows 3 and 10 UDP flows (dig from 10 source
#                         ports): "ebpf table full" > 0 and equal to the
#                         packets of the flows not written (tshark's IP frames
#                         less the records' packets), at most 3 records, each
#                         exact
#   ebpf/fragments        3000-byte UDP datagrams (iperf3 -u, v4 and v6): the
#                         non-first fragments counted in their datagram's
#                         flow, as tshark attributes them and as the README
#                         says of netmoon ("join the flow of their first
#                         fragment")
#   ebpf/port-reuse       two connections from one client port a moment apart
#                         (SYN, RST each): two records, as tshark's two
#                         tcp.streams (the default engine passes this too)
#   ebpf/replay-*, vlan   bench/gen_workload's 300 conversations (v4, v6, a
#                         third 802.1Q-tagged) replayed into the client end:
#                         every flow exact, the tagged ones keyed by VLAN,
#                         every frame seen
#   ebpf/responder-syn-after-interim
#                         --active-timeout 1, one tuple: the client's SYN, the
#                         server's data, 2.5 s of nothing (an interim record),
#                         the server's SYN with a new ISN, the client's
#                         SYN-ACK (crafted, replayed): as many flow_ids as
#                         tshark's tcp.streams (2), each flow's packets those
#                         of its stream; a responder that has sent something
#                         starts a new connection with its SYN even after an
#                         interim record restarted its counts
#   ebpf/times-quick      a run that --duration 1 ends before the engine's
#                         first read of the map still writes wall-clock times
#   ebpf/privs-Z*         -Z nobody: every thread nobody with no capabilities,
#                         and ping's echo flow still counted
#   ebpf/refused-*        a filter expression, -w, -r, -T 2, -c, --streams,
#                         -i any: exit status 2 and a message naming the option
#                         and the engine
#   ebpf/clean-*          after each run: netmoon gone, the BPF programs and
#                         maps it held (its /proc fdinfo) freed, nothing of
#                         its own under /sys/fs/bpf, interface promiscuity as
#                         before (kernel.bpf_stats_enabled is logged if it
#                         changed: other programs may switch it)
#
# A netmoon built without libbpf/clang ("built without libbpf") SKIPs all.
# EBPF_PHASES selects phases when debugging; LIVE_KEEP=DIR keeps the files.
set -euo pipefail
set -o errtrace   # the ERR trap below also fires inside functions
cd "$(dirname "$0")/../.."
root=$PWD
NETMOON=${NETMOON:-$root/netmoon}
case $NETMOON in /*) ;; *) NETMOON=$root/$NETMOON ;; esac
CHECK=(python3 "$root/tests/live/live_check.py")

pass() { echo "PASS ebpf/$1"; }
fail() { echo "FAIL ebpf/$1: $2"; }
skip() { echo "SKIP ebpf/$1: $2"; }
ALL_CHECKS=(exact initiator-first end-reasons times times-quick tcp-flags promisc promisc-p icmp icmp-ping4 icmp-ping6 seen-all
            accounted-all stats-lines sweep-sliced json-main idle idle-exact sigint-exit sigint-shutdown sigint-drain
            json-sigint active active-split table-full-counted table-full-records table-full-exact
            table-full-count fragments port-reuse replay-exact replay-seen-all vlan
            responder-syn-after-interim privs-Z privs-Z-counts
            refused-filter refused-w refused-r refused-T refused-c refused-streams refused-any
            clean-probe clean-main clean-idle clean-active clean-full clean-extra clean-replay clean-interim clean-quick clean-privs)
skip_all() { local c; for c in "${ALL_CHECKS[@]}"; do skip "$c" "$1"; done; exit 0; }
# A command that fails where the script did not expect it is a failure, not
# a silent stop (set -e): say which, the EXIT trap still cleans up.
trap 'echo "FAIL ebpf/script: line $LINENO: \"$BASH_COMMAND\" exited $?"' ERR

[ "$(id -u)" -eq 0 ] || skip_all "needs root (network namespaces, packet sockets, BPF)"
ip netns list >/dev/null 2>&1 || skip_all "\`ip netns\` is not available"
missing=()
for t in tcpdump tshark curl dig ping nginx dnsmasq iperf3 openssl ethtool ss python3 timeout; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
[ ${#missing[@]} -eq 0 ] || skip_all "missing tools: ${missing[*]} (scripts/install-deps.sh)"
[ -x "$NETMOON" ] || { fail exact "no netmoon binary at $NETMOON (make)"; exit 1; }

# shellcheck source=tests/lab/lib.sh
source "$root/tests/lab/lib.sh"
T=
cleanup() {
    if [ -n "${LIVE_KEEP:-}" ] && [ -n "$T" ] && [ -d "$T" ]; then
        mkdir -p "$LIVE_KEEP" && cp -r "$T"/. "$LIVE_KEEP"/
    fi
    lab_down
    return 0
}
lab_up >/dev/null || { fail exact "the namespace lab did not come up"; exit 1; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
T=$LAB_TMP
NS=$LAB_NS_SRV          # netmoon and tcpdump run here, on the server end
DEV=$LAB_SRV_DEV
CLI4=$LAB_CLI4
S4=$LAB_SRV4
S6=$LAB_SRV6
{ lab_nginx && lab_dnsmasq && lab_iperf3 && lab_no_offload; } \
    || { fail exact "lab servers did not start"; exit 1; }

C() { lab_cli timeout 30 "$@"; }
CURL=(curl -sS -o /dev/null --max-time 20 --connect-timeout 5)
DIG=(dig +time=2 +tries=1)
ENGINE=(--engine ebpf)

# ---- the helper: tshark oracle for a subset of flows, BPF object ids --------

PYH=$T/ebpf_check.py
cat >"$PYH" <<'EOF'
"""Helpers for test_ebpf_engine.sh; the oracle is tshark (tshark_flows.py,
compare.py), never netmoon.  Subcommands print one verdict line when given
a NAME, else data only."""
import ctypes
import errno
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(sys.argv[1], "tests", "golden"))
import compare  # noqa: E402
import tshark_flows  # noqa: E402


def verdict(kind, name, why=None):
    print("%s %s%s" % (kind, name, (": " + why) if why else ""))


def flows_of(path):
    objs = []
    with open(path, errors="replace") as f:
        for line in f:
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if isinstance(o, dict) and o.get("type") == "flow":
                objs.append(o)
    return objs


def match(o, conds):
    for c in conds:
        k, v = c.split("=", 1)
        if str(o.get(k)) not in v.split("|"):
            return False
    return True


def cmd_has(jsonl, *conds):
    """Exit 0 when some flow record has every KEY=V1|V2 (quiet; polling)."""
    try:
        return 0 if any(match(o, conds) for o in flows_of(jsonl)) else 1
    except OSError:
        return 1


def cmd_count(jsonl, *conds):
    print(sum(1 for o in flows_of(jsonl) if match(o, conds)))
    return 0


def cmd_sum_packets(jsonl):
    print(sum(int(o.get("src_pkts", 0)) + int(o.get("dst_pkts", 0)) for o in flows_of(jsonl)))
    return 0


def cmd_subset(name, pcap, jsonl, min_written):
    """Every TCP/UDP record netmoon wrote matches a tshark conversation
    exactly (summed over idle/active splits; TCP initiator); conversations
    without any record are allowed (the table was full), and counted."""
    with open(jsonl, errors="replace") as f:
        flows, problems = compare.parse_netmoon(f.read())
    if problems:
        return verdict("FAIL", name, "bad netmoon output: %s" % problems[0])
    oracle = tshark_flows.oracle_for(pcap)
    if oracle["tshark_rc"] != 0:
        return verdict("FAIL", name, "tshark could not read %s" % pcap)
    res = compare.compare(oracle, flows)
    bad = [m for m in res["mismatches"] if m["problems"] != ["missing: no netmoon record"]]
    unwritten = len(res["mismatches"]) - len(bad)
    written = res["flows"] - res["extra"] - unwritten
    print("  %s: tshark %d conversations, netmoon wrote %d (%d records), %d not written" % (
        name, res["flows"] - res["extra"], written, res["records"], unwritten))
    for m in bad:
        print("  differs: %s" % m["conv"])
        for p in m["problems"] + m["records"]:
            print("      %s" % p)
    if bad:
        return verdict("FAIL", name, "%d written flows differ from tshark: %s" % (
            len(bad), bad[0]["problems"][0]))
    if written < int(min_written):
        return verdict("FAIL", name, "only %d flows written, want at least %s" % (written, min_written))
    return verdict("PASS", name)


def cmd_initiator_first(name, pcap, jsonl):
    """UDP: the first record's src is the sender of the conversation's
    first packet as tshark saw it (its side "a")."""
    with open(jsonl, errors="replace") as f:
        flows, _ = compare.parse_netmoon(f.read())
    oracle = tshark_flows.oracle_for(pcap)
    bad, n = [], 0
    for c in oracle["conversations"]:
        if c["proto"] != "udp":
            continue
        a = (compare.norm_ip(c["a"][0]), int(c["a"][1]))
        b = (compare.norm_ip(c["b"][0]), int(c["b"][1]))
        recs = sorted((r for r in flows if r["proto"] == "udp" and {r["src"], r["dst"]} == {a, b}),
                      key=lambda r: r["ts_start"])
        if not recs:
            continue
        n += 1
        if recs[0]["src"] != a:
            bad.append("udp %s:%s <-> %s:%s: first packet from %s:%s, netmoon src %s:%s" % (
                a + b + a + recs[0]["src"]))
    for b_ in bad:
        print("  differs: " + b_)
    if n == 0:
        return verdict("FAIL", name, "no UDP flow to judge")
    if bad:
        return verdict("FAIL", name, "%d/%d UDP flows: %s" % (len(bad), n, bad[0]))
    return verdict("PASS", name)


PARTS = {
    # kind: (conversation predicate, record predicate); ports_unknown
    # records (ports 0) belong to "frag": that is where such packets go.
    "vlan": (lambda c: any(v != 0 for v in c["vlans"]), lambda r: r["vlan"] not in (None, 0)),
    "frag": (lambda c: c["proto"] == "udp" and 5201 in (c["a"][1], c["b"][1]),
             lambda r: r["proto"] == "udp" and (5201 in (r["src"][1], r["dst"][1]) or r["ports_unknown"])),
    "reuse": (lambda c: c["proto"] == "tcp" and REUSE_PORT in (c["a"][1], c["b"][1]),
              lambda r: r["proto"] == "tcp" and REUSE_PORT in (r["src"][1], r["dst"][1])),
}
REUSE_PORT = int(os.environ.get("REUSE_PORT", "40081"))


def cmd_part(name, pcap, jsonl, kind, min_convs):
    """compare.py's exact check on one kind of traffic of a shared capture:
    only the conversations and records of that kind (PARTS)."""
    conv_ok, rec_ok = PARTS[kind]
    with open(jsonl, errors="replace") as f:
        flows, problems = compare.parse_netmoon(f.read())
    if problems:
        return verdict("FAIL", name, "bad netmoon output: %s" % problems[0])
    oracle = tshark_flows.oracle_for(pcap)
    if oracle["tshark_rc"] != 0:
        return verdict("FAIL", name, "tshark could not read %s" % pcap)
    sub = dict(oracle)
    sub["conversations"] = [c for c in oracle["conversations"]
                            if conv_ok(dict(c, a=(c["a"][0], int(c["a"][1])), b=(c["b"][0], int(c["b"][1]))))]
    if kind != "frag":
        sub["portless"] = []
    mine = [r for r in flows if rec_ok(r)]
    res = compare.compare(sub, mine)
    print(compare.format_result(name, res, 20))
    if len(sub["conversations"]) < int(min_convs):
        return verdict("FAIL", name, "tshark found %d such conversations, the traffic wanted %s" % (
            len(sub["conversations"]), min_convs))
    ok = res["exact"] == res["flows"] and res["init_ok"] == res["init_checked"]
    if ok:
        return verdict("PASS", name)
    first = res["mismatches"][0]
    return verdict("FAIL", name, "%d/%d flows exact, initiator %d/%d, %d extra records; %s: %s" % (
        res["exact"], res["flows"], res["init_ok"], res["init_checked"], res["extra"],
        first["conv"], "; ".join(first["problems"])[:300]))


def cmd_reasons(name, pcap, jsonl):
    """Every TCP connection tshark saw reset ends "rst", every one closed
    by FINs (and no RST) ends "fin" (the last record of the conversation)."""
    with open(jsonl, errors="replace") as f:
        flows, _ = compare.parse_netmoon(f.read())
    oracle = tshark_flows.oracle_for(pcap)
    bad, n = [], 0
    for c in oracle["conversations"]:
        if c["proto"] != "tcp":
            continue
        want = "rst" if c["rst"] else "fin" if c["fin"] >= 2 else None
        if want is None:
            continue
        a = (compare.norm_ip(c["a"][0]), int(c["a"][1]))
        b = (compare.norm_ip(c["b"][0]), int(c["b"][1]))
        recs = sorted((r for r in flows if r["proto"] == "tcp" and {r["src"], r["dst"]} == {a, b}),
                      key=lambda r: r["ts_start"])
        n += 1
        got = recs[-1]["end_reason"] if recs else "no record"
        if got != want:
            bad.append("tcp %s:%s <-> %s:%s: %d FIN, %d RST in tshark; netmoon end_reason %s, want %s" % (
                a + b + (c["fin"], c["rst"], got, want)))
    for b_ in bad:
        print("  differs: " + b_)
    if n == 0:
        return verdict("FAIL", name, "no closed TCP connection to judge")
    if bad:
        return verdict("FAIL", name, "%d/%d connections: %s" % (len(bad), n, bad[0]))
    return verdict("PASS", name)


def cmd_times(name, pcap, jsonl, tol_ms):
    """Each TCP/UDP record's ts_start and ts_end are within TOL_MS of the
    first and last packet tshark saw in its conversation (same endpoints,
    nearest in time): the clock is the wall clock, as tcpdump's."""
    with open(jsonl, errors="replace") as f:
        flows, _ = compare.parse_netmoon(f.read())
    oracle = tshark_flows.oracle_for(pcap)
    convs = {}
    for c in oracle["conversations"]:
        a = (compare.norm_ip(c["a"][0]), int(c["a"][1]))
        b = (compare.norm_ip(c["b"][0]), int(c["b"][1]))
        convs.setdefault((c["proto"], frozenset([a, b])), []).append(c)
    worst, bad, n = 0.0, [], 0
    for r in flows:
        cs = convs.get((r["proto"], frozenset([r["src"], r["dst"]])))
        if not cs:
            continue
        n += 1
        c = min(cs, key=lambda c: abs(c["first_ts"] - r["ts_start"]))
        d = max(abs(r["ts_start"] - c["first_ts"]), abs(r["ts_end"] - c["last_ts"]))
        worst = max(worst, d)
        if d * 1000 > float(tol_ms):
            bad.append("%s %s:%s -> %s:%s: netmoon %.6f-%.6f, tshark %.6f-%.6f" % (
                r["proto"], r["src"][0], r["src"][1], r["dst"][0], r["dst"][1],
                r["ts_start"], r["ts_end"], c["first_ts"], c["last_ts"]))
    print("  %s: %d records, largest difference from tshark's times %.1f us" % (name, n, worst * 1e6))
    if n == 0:
        return verdict("FAIL", name, "no record to judge")
    if bad:
        return verdict("FAIL", name, "%d/%d records more than %s ms off: %s" % (len(bad), n, tol_ms, bad[0]))
    return verdict("PASS", name)


def cmd_tcp_flags(name, pcap, jsonl):
    """tcp_flags_src/dst: the OR of the flags each side sent, as tshark
    reads them from every TCP header (letters FSRPAUEC = bits 0..7)."""
    import ipaddress
    p = subprocess.run(["tshark", "-n", "-r", pcap, "-Y", "tcp", "-T", "fields", "-E", "occurrence=f",
                        "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport", "-e", "ip.dst",
                        "-e", "ipv6.dst", "-e", "tcp.dstport", "-e", "tcp.flags"],
                       capture_output=True, text=True, timeout=120)
    want = {}
    for line in p.stdout.splitlines():
        s4, s6, sp, d4, d6, dp, fl = (line.split("\t") + [""] * 7)[:7]
        src = (ipaddress.ip_address(s4 or s6).compressed, int(sp))
        dst = (ipaddress.ip_address(d4 or d6).compressed, int(dp))
        key = frozenset([src, dst])
        want.setdefault(key, {}).setdefault(src, 0)
        want[key][src] |= int(fl, 16) & 0xff
    letters = "FSRPAUEC"
    got = {}
    for o in flows_of(jsonl):
        if o.get("proto") != "tcp":
            continue
        src = (ipaddress.ip_address(o["src_ip"]).compressed, int(o["src_port"]))
        dst = (ipaddress.ip_address(o["dst_ip"]).compressed, int(o["dst_port"]))
        g = got.setdefault(frozenset([src, dst]), {src: 0, dst: 0})
        for ep, text in ((src, o.get("tcp_flags_src", "")), (dst, o.get("tcp_flags_dst", ""))):
            for ch in text:
                g[ep] = g.get(ep, 0) | (1 << letters.index(ch))
    bad = []
    for key, w in want.items():
        g = got.get(key)
        if g is None:
            bad.append("%s: no record" % sorted(key))
            continue
        for ep in w:
            if g.get(ep, 0) != w[ep]:
                fmt = lambda v: "".join(letters[i] for i in range(8) if v >> i & 1) or "-"
                bad.append("tcp from %s:%s: tshark %s, netmoon %s" % (ep[0], ep[1], fmt(w[ep]), fmt(g.get(ep, 0))))
    for b_ in bad:
        print("  differs: " + b_)
    if not want:
        return verdict("FAIL", name, "tshark found no TCP in %s" % pcap)
    if bad:
        return verdict("FAIL", name, "%d differences: %s" % (len(bad), bad[0]))
    return verdict("PASS", name)


def cmd_frames_outside(pcap, t_lo, t_hi):
    """Frames of PCAP outside [t_lo, t_hi] (epoch s): when netmoon did not run."""
    p = subprocess.run(["tshark", "-n", "-r", pcap, "-T", "fields", "-e", "frame.time_epoch",
                        "-e", "_ws.col.Protocol", "-e", "_ws.col.Info"],
                       capture_output=True, text=True, timeout=120)
    out = [l for l in p.stdout.splitlines()
           if l and not float(t_lo) <= float(l.split("\t")[0]) <= float(t_hi)]
    print("%d frames outside netmoon's lifetime%s" % (len(out), (": " + " | ".join(out[:5])) if out else ""))
    return 0


def cmd_write_syn_after_interim(out, cli, srv, cport, sport, pause):
    """Writes the frames of ebpf/responder-syn-after-interim to OUT (pcap,
    Ethernet): the client's SYN, the server's answer (data, no SYN), PAUSE
    seconds of nothing, the server's SYN with a new ISN, the client's
    SYN-ACK.  The MAC addresses are nobody's, so no stack in the lab answers;
    checksums are right, so tshark judges the segments, not their damage."""
    import struct

    def csum(b):
        if len(b) % 2:
            b += b"\0"
        s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
        while s >> 16:
            s = (s & 0xffff) + (s >> 16)
        return ~s & 0xffff

    def ip4(a):
        return bytes(int(x) for x in a.split("."))

    def frame(src, dst, sp, dp, seq, ack, flags, payload=b""):
        tcp = struct.pack("!HHIIBBHHH", sp, dp, seq, ack, 5 << 4, flags, 64240, 0, 0) + payload
        pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, ip4(src), ip4(dst))
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        return bytes.fromhex("020000000002" "020000000001" "0800") + ip + tcp

    cport, sport, pause = int(cport), int(sport), float(pause)
    SYN, PSH, ACK = 0x02, 0x08, 0x10
    frames = [(0.0, frame(cli, srv, cport, sport, 1000, 0, SYN)),
              (0.01, frame(srv, cli, sport, cport, 500000, 1001, PSH | ACK, b"hello..\n")),
              (0.01 + pause, frame(srv, cli, sport, cport, 900000, 0, SYN)),
              (0.02 + pause, frame(cli, srv, cport, sport, 700000, 900001, SYN | ACK))]
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for t, fr in frames:
            us = round((1700000000.0 + t) * 1e6)
            f.write(struct.pack("<IIII", us // 1000000, us % 1000000, len(fr), len(fr)) + fr)
    return 0


def cmd_syn_after_interim(name, pcap, jsonl, cport, sport):
    """The tuple's tshark streams (tcp.stream, in order) against netmoon's
    records grouped by flow_id (in order of their first packet): as many
    flows as streams (2), each flow's packets == its stream's frames, the
    second flow's records start at the server's SYN and the first's end
    before it.  That an interim record of the first connection came before
    the SYN is checked too: without it the run did not test the case."""
    p = subprocess.run(["tshark", "-n", "-r", pcap, "-Y", "tcp.port==%s && tcp.port==%s" % (cport, sport),
                        "-T", "fields", "-E", "occurrence=f", "-e", "frame.time_epoch", "-e", "tcp.stream",
                        "-e", "tcp.srcport", "-e", "tcp.flags"], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        return verdict("FAIL", name, "tshark could not read %s: %s" % (pcap, p.stderr.strip()[:200]))
    streams = {}   # tcp.stream -> [first_ts, last_ts, frames, (srcport, flags) of the first]
    for line in p.stdout.splitlines():
        ts, st, sp, fl = (line.split("\t") + [""] * 4)[:4]
        s = streams.setdefault(st, [float(ts), float(ts), 0, (int(sp), int(fl, 16))])
        s[1], s[2] = float(ts), s[2] + 1
    order = sorted(streams.values(), key=lambda s: s[0])
    print("  %s: tshark streams %s" % (name, ", ".join(
        "%s: %d frames %.6f-%.6f" % (k, v[2], v[0], v[1]) for k, v in sorted(streams.items(), key=lambda kv: kv[1][0]))))
    if len(order) != 2:
        return verdict("FAIL", name, "tshark found %d tcp.streams on :%s<->:%s, the traffic wanted 2" % (len(order), cport, sport))
    if order[1][3] != (int(sport), 0x02):
        return verdict("FAIL", name, "tshark's second stream does not start with the server's SYN: %s" % (order[1][3],))
    t_syn = order[1][0]
    recs = [o for o in flows_of(jsonl) if o.get("proto") in ("tcp", 6, "6")
            and {int(o.get("src_port", -1)), int(o.get("dst_port", -1))} == {int(cport), int(sport)}]
    flows = {}
    for o in recs:
        print("      flow_id %s %s:%s->%s:%s pkts %s+%s %.6f-%.6f %s" % (
            o.get("flow_id"), o.get("src_ip"), o.get("src_port"), o.get("dst_ip"), o.get("dst_port"),
            o.get("src_pkts"), o.get("dst_pkts"), float(o.get("ts_start", 0)), float(o.get("ts_end", 0)),
            o.get("end_reason")))
        flows.setdefault(o.get("flow_id"), []).append(o)
    pk = lambda o: int(o.get("src_pkts", 0)) + int(o.get("dst_pkts", 0))
    busy = lambda rs: [o for o in rs if pk(o) > 0]
    if not any(o.get("end_reason") == "active" and pk(o) > 0 and float(o["ts_end"]) < t_syn for o in recs):
        return verdict("FAIL", name, "no interim (active) record of the first connection before the server's "
                       "SYN: the run did not test a SYN after an interim record")
    fl = sorted(flows.items(), key=lambda kv: min([float(o["ts_start"]) for o in busy(kv[1])] or [float("inf")]))
    if len(fl) != 2:
        return verdict("FAIL", name, "%d distinct flow_id for :%s<->:%s, tshark's tcp.streams 2 (the responder's "
                       "SYN after an interim record %s)" % (len(fl), cport, sport,
                                                            "merged into the first" if len(fl) == 1 else "?"))
    bad = []
    for i, ((fid, rs), s) in enumerate(zip(fl, order)):
        n = sum(pk(o) for o in rs)
        if n != s[2]:
            bad.append("flow_id %s: %d packets, tshark stream %d has %d frames" % (fid, n, i, s[2]))
    late = [o for o in busy(fl[1][1]) if float(o["ts_start"]) < t_syn - 0.001]
    early = [o for o in busy(fl[0][1]) if float(o["ts_end"]) > t_syn - 0.001]
    if late:
        bad.append("flow_id %s has packets from %.6f, before the server's SYN at %.6f" % (fl[1][0], float(late[0]["ts_start"]), t_syn))
    if early:
        bad.append("flow_id %s has packets until %.6f, at or after the server's SYN at %.6f" % (fl[0][0], float(early[0]["ts_end"]), t_syn))
    if bad:
        return verdict("FAIL", name, "; ".join(bad))
    return verdict("PASS", name)


def cmd_bpf_alive(*ids):
    """Prints the ids (prog:N / map:N) that still exist."""
    nr = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "i686": 357}.get(os.uname().machine)
    if nr is None:
        print("unknown-arch")
        return 0
    libc = ctypes.CDLL(None, use_errno=True)

    class Attr(ctypes.Structure):
        _fields_ = [("id", ctypes.c_uint32), ("next_id", ctypes.c_uint32),
                    ("open_flags", ctypes.c_uint32), ("pad", ctypes.c_uint32 * 13)]
    alive = []
    for spec in ids:
        kind, i = spec.split(":")
        a = Attr()
        a.id = int(i)
        cmd = 13 if kind == "prog" else 14     # BPF_PROG_GET_FD_BY_ID, BPF_MAP_GET_FD_BY_ID
        fd = libc.syscall(nr, cmd, ctypes.byref(a), ctypes.sizeof(a))
        if fd >= 0:
            os.close(fd)
            alive.append(spec)
        elif ctypes.get_errno() != errno.ENOENT:
            alive.append("%s(%s)" % (spec, os.strerror(ctypes.get_errno())))
    print(" ".join(alive))
    return 0


if __name__ == "__main__":
    cmd, args = sys.argv[2], sys.argv[3:]
    fn = {"has": cmd_has, "count": cmd_count, "sum-packets": cmd_sum_packets, "subset": cmd_subset,
          "initiator-first": cmd_initiator_first, "frames-outside": cmd_frames_outside,
          "bpf-alive": cmd_bpf_alive, "part": cmd_part, "reasons": cmd_reasons, "times": cmd_times, "tcp-flags": cmd_tcp_flags,
          "write-syn-after-interim": cmd_write_syn_after_interim,
          "syn-after-interim": cmd_syn_after_interim}[cmd]
    sys.exit(fn(*args) or 0)
EOF
H() { python3 "$PYH" "$root" "$@"; }
check() { "${CHECK[@]}" "$@" || true; }     # live_check.py prints the verdict

# ---- helpers ------------------------------------------------------------------

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
promiscuity() { ip -n "$NS" -d link show "$DEV" | sed -n 's/.* promiscuity \([0-9]*\).*/\1/p'; }
bpf_stats_enabled() { cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || echo none; }
# What netmoon could have pinned (its object's names start nm_); others' pins
# are none of this test's business.
bpffs_list() { find /sys/fs/bpf \( -iname '*nm_*' -o -iname '*netmoon*' \) 2>/dev/null | sort || true; }

# nm_start NAME ARGS...: netmoon --engine ebpf on the server end; stderr to
# $T/NAME.err, stdout to $T/NAME.out; its pid in NM_PID[NAME].  Records the
# state the clean-* check compares with afterwards.
declare -A NM_PID NM_PROMISC NM_BPFSTATS NM_BPFIDS
nm_start() {
    local name=$1; shift
    NM_PROMISC[$name]=$(promiscuity)
    NM_BPFSTATS[$name]=$(bpf_stats_enabled)
    bpffs_list >"$T/$name.bpffs.before"
    lab_bg "$NS" "$NETMOON" "${ENGINE[@]}" -i "$DEV" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null
    NM_PID[$name]=$LAB_BG_PID
}
# nm_ready NAME: netmoon said "capturing on" (its socket is bound and the
# program attached); then the BPF objects it holds are noted.
nm_ready() {
    lab_wait_until 20 bash -c "grep -q 'capturing on' '$T/$1.err' || ! kill -0 ${NM_PID[$1]}" || true
    grep -q 'capturing on' "$T/$1.err" || return 1
    NM_BPFIDS[$1]=$(grep -h -E '^(prog_id|map_id):' /proc/"${NM_PID[$1]}"/fdinfo/* 2>/dev/null |
                    sed -E 's/^(prog|map)_id:[[:space:]]*/\1:/' | sort -u | tr '\n' ' ' || true)
    return 0
}
# nm_wait NAME SECONDS: waits (bounded) for exit; sets NM_RC (KILL -> "hung").
nm_wait() {
    local pid=${NM_PID[$1]}
    if ! lab_wait_until "$2" bash -c "! kill -0 $pid 2>/dev/null || grep -q '^State:.*zombie' /proc/$pid/status"; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        NM_RC=hung
        return 1
    fi
    NM_RC=0
    wait "$pid" || NM_RC=$?
    return 0
}
sanitizer_report() {
    grep -m1 -E 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:|UndefinedBehaviorSanitizer' "$T/$1.err" 2>/dev/null
}
# rc_problem NAME: prints why netmoon NAME's exit was not clean (status 0,
# no sanitizer report); returns 1 when it was.
rc_problem() {
    local s
    if s=$(sanitizer_report "$1"); then echo "sanitizer: $s"; return 0; fi
    [ "$NM_RC" = 0 ] && return 1
    echo "exit status $NM_RC: $(grep -v 'capturing on' "$T/$1.err" | head -c 300)"
}
# clean_check NAME: after netmoon NAME exited, nothing it set up remains.
clean_check() {
    local n=$1 bad=() left ids pr st
    if [ "${NM_RC:-}" = hung ]; then bad+=("it did not exit (killed)"); fi
    if kill -0 "${NM_PID[$n]}" 2>/dev/null; then bad+=("pid ${NM_PID[$n]} still exists"); fi
    ids=${NM_BPFIDS[$n]:-}
    if [ -n "${ids// /}" ]; then
        # The kernel frees a released object a moment later (RCU, work queue).
        left=$(H bpf-alive $ids)
        local deadline=$(( $(now_ms) + 3000 ))
        while [ -n "$left" ] && [ "$(now_ms)" -lt "$deadline" ]; do
            sleep 0.1; left=$(H bpf-alive $ids)
        done
        [ -z "$left" ] || bad+=("BPF objects it held still exist: $left")
    fi
    bpffs_list >"$T/$n.bpffs.after"
    if ! cmp -s "$T/$n.bpffs.before" "$T/$n.bpffs.after"; then
        bad+=("/sys/fs/bpf changed: $(diff "$T/$n.bpffs.before" "$T/$n.bpffs.after" | grep '^[<>]' | head -3 | tr '\n' ' ' || true)")
    fi
    pr=$(promiscuity)
    [ "$pr" = "${NM_PROMISC[$n]}" ] || bad+=("$DEV promiscuity $pr, was ${NM_PROMISC[$n]} before")
    # A global switch other programs (bench/live.sh) may flip meanwhile: said, not judged.
    st=$(bpf_stats_enabled)
    [ "$st" = "${NM_BPFSTATS[$n]}" ] || lab_log "clean-$n: kernel.bpf_stats_enabled $st, was ${NM_BPFSTATS[$n]} before netmoon"
    if [ ${#bad[@]} -eq 0 ]; then
        pass "clean-$n"
        [ -n "${ids// /}" ] || lab_log "clean-$n: netmoon held no BPF object fd while running (checked nothing there)"
    else
        fail "clean-$n" "$(IFS=';'; echo "${bad[*]}")"
    fi
}
# stat_text NAME LABEL: the first number after "  LABEL:" in NAME's --stats.
stat_text() {
    sed -n "s/^  $2: *\([0-9][0-9]*\).*/\1/p" "$T/$1.err" | head -1
}

# cap_start NAME FILTER...: tcpdump on the same interface into $T/NAME.pcap,
# whole frames, unbuffered, large kernel buffer; returns once it listens.
declare -A CAP_PID
cap_start() {
    local name=$1; shift
    lab_bg "$NS" tcpdump -n -i "$DEV" -s 0 -B 32768 -U --immediate-mode -Z root \
        -w "$T/$name.pcap" "$@" 2>"$T/$name.tcpdump.log"
    CAP_PID[$name]=$LAB_BG_PID
    lab_wait_until 10 grep -q 'listening on' "$T/$name.tcpdump.log"
}
# cap_stop NAME: stops tcpdump (it flushes on SIGTERM); sets CAP_DROPS.
cap_stop() {
    lab_stop_pid "${CAP_PID[$1]}"
    CAP_DROPS=$(sed -n 's/^\([0-9]*\) packets\? dropped by kernel.*/\1/p' "$T/$1.tcpdump.log")
    CAP_DROPS=${CAP_DROPS:-0}
}
tshark_count() { tshark -n -r "$1" ${2:+-Y "$2"} 2>/dev/null | wc -l; }

busy_states='( state syn-sent or state syn-recv or state established or state fin-wait-1 or state fin-wait-2 or state close-wait or state last-ack or state closing )'
tcp_quiet() {
    [ -z "$(lab_cli ss -Htan "$busy_states" 2>/dev/null)" ] &&
        [ -z "$(lab_srv ss -Htan "$busy_states" 2>/dev/null)" ]
}
ping_counts() {   # "SENT RECV" from ping's summary on stdin
    sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p'
}

paced_start() { lab_paced_start "$LAB_NS_CLI" "$S4" "$T/paced.log"; }
paced_wait() { lab_paced_wait "$1" "$T/paced.log"; }

# ---- probe: is the engine there? ----------------------------------------------

phase_probe() {
    local rc=0 out
    local pr_during=
    nm_start probe -p --duration 1 --json="$T/probe.json"
    nm_ready probe && pr_during=$(promiscuity)
    nm_wait probe 20 || true
    rc=$NM_RC
    out=$(head -c 400 "$T/probe.err")
    if [ "$rc" = 1 ] && grep -q 'built without libbpf' "$T/probe.err"; then
        skip_all "netmoon was built without libbpf/clang: $out"
    fi
    if grep -qE "unknown option|unrecognized option" "$T/probe.err"; then
        for c in "${ALL_CHECKS[@]}"; do fail "$c" "this netmoon has no --engine option: $out"; done
        exit 1
    fi
    if [ "$rc" != 0 ]; then
        lab_log "probe run (--engine ebpf -p --duration 1): exit $rc: $out"
    fi
    if [ "$pr_during" = "${NM_PROMISC[probe]}" ]; then pass promisc-p
    else fail promisc-p "-p: promiscuity ${NM_PROMISC[probe]} before, '$pr_during' while netmoon ran (exit $rc)"; fi
    clean_check probe
}

# ---- phase 1: exact counts, ICMP, everything seen -----------------------------

DURATION=9
traffic_main() {
    local pids=() p rc=0
    C "${CURL[@]}" "http://$S4/" -o /dev/null "http://$S4/small.txt" & pids+=($!)
    C "${CURL[@]}" "http://$S4/1m.bin" & pids+=($!)
    C "${CURL[@]}" -k "https://$S4/small.txt" & pids+=($!)
    C "${CURL[@]}" -k "https://[$S6]/" & pids+=($!)
    C "${CURL[@]}" "http://[$S6]/small.txt" & pids+=($!)
    C "${DIG[@]}" @"$S4" www.example.test A >/dev/null & pids+=($!)
    C "${DIG[@]}" @"$S6" www.example.test AAAA >/dev/null & pids+=($!)
    C "${DIG[@]}" @"$S4" nope.example.test A >/dev/null & pids+=($!)
    C "${DIG[@]}" +tcp @"$S4" www.example.test A >/dev/null & pids+=($!)
    C "${DIG[@]}" +tcp @"$S6" www.example.test AAAA >/dev/null & pids+=($!)
    C ping -c 4 -i 0.2 -W 2 "$S4" >"$T/ping4.out" & pids+=($!)
    C ping -6 -c 4 -i 0.2 -W 2 "$S6" >"$T/ping6.out" & pids+=($!)
    for p in "${pids[@]}"; do wait "$p" || { rc=$?; lab_log "a client failed ($rc)"; }; done
    # Nothing listens on 81: a SYN answered by a RST (curl exits 7).
    local crc=0
    C "${CURL[@]}" "http://$S4:81/" 2>/dev/null || crc=$?
    [ "$crc" -eq 7 ] || { lab_log "curl to the closed port exited $crc, not 7"; rc=1; }
    return "$rc"
}

phase_main() {
    cap_start main || { fail exact "tcpdump did not start: $(head -c 300 "$T/main.tcpdump.log")"; return; }
    local t_start t_ready t_end t0 used
    t_start=$(date +%s.%N)
    nm_start main --json="$T/main.json" --stats --duration "$DURATION" --close-timeout 2
    if ! nm_ready main; then
        nm_wait main 15 || true
        fail exact "netmoon --engine ebpf did not report 'capturing on' within 20 s: $(head -c 300 "$T/main.err")"
        clean_check main; cap_stop main; return
    fi
    t_ready=$(date +%s.%N)
    local pr_during
    pr_during=$(promiscuity)
    t0=$(now_ms)
    local traffic_ok=1
    traffic_main || traffic_ok=0
    lab_wait_until 20 tcp_quiet || lab_log "TCP connections still open after 20 s"
    sleep 0.3          # the last ACK reached both ends
    used=$(( $(now_ms) - t0 ))
    lab_log "traffic took $used ms of the $DURATION s run"
    nm_wait main $((DURATION + 20)) || lab_log "netmoon did not stop after --duration $DURATION"
    t_end=$(date +%s.%N)
    clean_check main        # tcpdump still running: its promiscuity is the baseline
    cap_stop main
    local drops=$CAP_DROPS
    lab_log "tcpdump: $(grep -h 'captured' "$T/main.tcpdump.log" | paste -sd, -)"

    local why
    if why=$(rc_problem main); then
        for c in exact initiator-first end-reasons times tcp-flags promisc icmp icmp-ping4 icmp-ping6 seen-all accounted-all stats-lines sweep-sliced json-main; do
            fail "$c" "netmoon --engine ebpf: $why"
        done
        return
    fi
    [ "$traffic_ok" = 1 ] || fail exact "the lab traffic itself failed (see the log above)"
    if [ "$used" -ge $(( (DURATION - 1) * 1000 )) ]; then
        fail exact "traffic took $used ms, longer than netmoon's --duration $DURATION s: not comparable"
    fi
    check json ebpf/json-main "$T/main.json"
    check flows ebpf/exact "$T/main.pcap" "$T/main.json" --tcpdump-drops "$drops"
    H initiator-first ebpf/initiator-first "$T/main.pcap" "$T/main.json"
    H reasons ebpf/end-reasons "$T/main.pcap" "$T/main.json"
    H times ebpf/times "$T/main.pcap" "$T/main.json" 1
    H tcp-flags ebpf/tcp-flags "$T/main.pcap" "$T/main.json"
    # Promiscuous while capturing (tcpdump holds one reference already).
    if [ "$pr_during" = $(( NM_PROMISC[main] + 1 )) ]; then pass promisc
    else fail promisc "promiscuity ${NM_PROMISC[main]} before netmoon, $pr_during while it ran: want one more"; fi
    check icmp ebpf/icmp "$T/main.pcap" "$T/main.json" --tcpdump-drops "$drops"
    local c4 c6
    c4=$(ping_counts <"$T/ping4.out"); c6=$(ping_counts <"$T/ping6.out")
    if [ -z "$c4" ] || [ -z "$c6" ]; then
        fail icmp-ping4 "no ping summary: $(cat "$T/ping4.out" "$T/ping6.out" | tail -4 | tr '\n' '|')"
    else
        check has-flow ebpf/icmp-ping4 "$T/main.json" proto=icmp icmp_type=8 "src_ip=$CLI4" \
            "src_pkts=${c4% *}" "dst_pkts=${c4#* }"
        check has-flow ebpf/icmp-ping6 "$T/main.json" proto=ipv6-icmp icmp_type=128 \
            "src_pkts=${c6% *}" "dst_pkts=${c6#* }"
    fi

    # Everything the interface carried went through the program.
    local kr frames ipframes acc
    kr=$(stat_text main 'kernel received')
    frames=$(tshark_count "$T/main.pcap")
    ipframes=$(tshark_count "$T/main.pcap" 'ip or ipv6')
    if [ "$drops" != 0 ]; then
        skip seen-all "tcpdump dropped $drops packets"
    elif [ -z "$kr" ]; then
        fail seen-all "no 'kernel received:' line in --stats: $(grep -A3 'statistics' "$T/main.err" | tr '\n' '|' | head -c 200)"
    elif [ "$kr" = "$frames" ]; then
        pass seen-all
    else
        fail seen-all "kernel received $kr, tcpdump captured $frames frames ($(H frames-outside "$T/main.pcap" "$t_start" "$t_end"))"
    fi
    acc=$(H sum-packets "$T/main.json")
    if [ "$drops" != 0 ]; then
        skip accounted-all "tcpdump dropped $drops packets"
    elif [ "$acc" = "$ipframes" ]; then
        pass accounted-all
    else
        fail accounted-all "the flow records hold $acc packets, tshark counts $ipframes IPv4/IPv6 frames ($frames in all)"
    fi

    local full prog
    full=$(sed -n 's/^  ebpf table full: *\([0-9][0-9]*\).*/\1/p' "$T/main.err" | head -1)
    prog=$(grep -m1 '^  ebpf program:' "$T/main.err" || true)
    if [ "$full" = 0 ] && [ -n "$prog" ]; then
        pass stats-lines
        lab_log "main: $(grep -m1 '^  ebpf table full:' "$T/main.err"); $prog"
    else
        fail stats-lines "want '  ebpf table full: 0' and an '  ebpf program:' line: $(grep -E '^  ebpf' "$T/main.err" | tr '\n' '|' || true)"
    fi
    local sweeps want
    sweeps=$(sed -n 's/^  ebpf sweeps: *\([0-9][0-9]*\),.*/\1/p' "$T/main.err" | head -1)
    want=$((64 * DURATION * 2 / 4))     # 64 runs per 0.5 s period, a quarter of them
    if [ -n "$sweeps" ] && [ "$sweeps" -ge "$want" ]; then
        pass sweep-sliced
        lab_log "main: $sweeps sweep runs in ${DURATION} s (at least $want wanted)"
    else
        fail sweep-sliced "${sweeps:-no} sweep runs in ${DURATION} s, want at least $want: $(grep -m1 '^  ebpf sweeps:' "$T/main.err" || true)"
    fi
    lab_log "main: t_ready-t_start $(python3 -c "print(round($t_ready-$t_start,3))") s"
}

# ---- phase 2: idle timeout while running, then SIGINT --------------------------

IDLE_PORT=45353
phase_idle_sigint() {
    cap_start idle || { fail idle "tcpdump did not start"; return; }
    nm_start idle --json="$T/idle.json" --stats --idle-timeout 2
    if ! nm_ready idle; then
        nm_wait idle 5 || true
        fail idle "netmoon did not start: $(head -c 300 "$T/idle.err")"; cap_stop idle; return
    fi
    # One DNS exchange from a known port, then silence on that flow.
    local out t_last found=0 waited
    out=$(C "${DIG[@]}" -b "$CLI4#$IDLE_PORT" @"$S4" www.example.test A 2>&1 || true)
    t_last=$(now_ms)
    grep -q 'status: NOERROR' <<<"$out" || lab_log "dig from port $IDLE_PORT: no answer: $(head -c 200 <<<"$out")"
    # Meanwhile an open TCP connection for the SIGINT below.
    paced_start
    local paced_pid=$LAB_BG_PID
    # Idle 2 s, checked once a second: ended by 3 s after the last packet;
    # judged at 3.5 s, while netmoon still runs.  When it is not there yet,
    # the wait goes on (to 12 s) only to say when it did reach the file.
    local has=(H has "$T/idle.json" proto=udp "src_port=$IDLE_PORT|53" "dst_port=53|$IDLE_PORT" end_reason=idle)
    while [ $(( $(now_ms) - t_last )) -lt 3500 ]; do
        if "${has[@]}"; then found=1; break; fi
        sleep 0.1
    done
    if [ "$found" = 0 ]; then
        while [ $(( $(now_ms) - t_last )) -lt 12000 ] && kill -0 "${NM_PID[idle]}" 2>/dev/null; do
            if "${has[@]}"; then found=late; break; fi
            sleep 0.1
        done
    fi
    waited=$(( $(now_ms) - t_last ))
    cp "$T/idle.json" "$T/idle.snapshot.json"
    local running=1
    kill -0 "${NM_PID[idle]}" 2>/dev/null || running=0
    if [ "$running" = 0 ]; then
        fail idle "netmoon exited during the idle wait: $(head -c 300 "$T/idle.err")"
    elif [ "$found" = 1 ]; then
        pass idle
        lab_log "idle: the record was in the file $waited ms after the flow's last packet"
    elif [ "$found" = late ]; then
        fail idle "the udp :$IDLE_PORT<->:53 record (end_reason idle, --idle-timeout 2) reached the JSON file only $waited ms after the flow's last packet, want < 3500"
    else
        fail idle "no udp :$IDLE_PORT<->:53 record with end_reason idle in the JSON file $waited ms after its last packet (--idle-timeout 2): $(grep -c . "$T/idle.json" || true) lines"
    fi
    if [ "$found" != 0 ]; then
        H subset ebpf/idle-exact "$T/idle.pcap" "$T/idle.snapshot.json" 1 || true
    else
        skip idle-exact "no idle record to compare"
    fi

    # SIGINT a few ms after a paced line went out (its packets in flight).
    paced_wait 10 || lab_log "the paced connection did not start sending"
    local lines deadline=$(( $(now_ms) + 2000 ))
    lines=$(wc -l <"$T/paced.log")
    while [ "$(wc -l <"$T/paced.log")" -le "$lines" ] && [ "$(now_ms)" -lt "$deadline" ]; do
        sleep 0.005
    done
    local t_kill t_exit rc
    t_kill=$(date +%s.%N)
    kill -INT "${NM_PID[idle]}" 2>/dev/null || true
    nm_wait idle 15 || true
    rc=$NM_RC
    t_exit=$(date +%s.%N)
    clean_check idle
    lab_stop_pid "$paced_pid"
    cap_stop idle
    local s
    if s=$(sanitizer_report idle); then fail sigint-exit "sanitizer: $s"
    elif [ "$rc" = 0 ]; then pass sigint-exit
    else fail sigint-exit "SIGINT: exit status $rc, want 0: $(head -c 300 "$T/idle.err")"; fi
    check json ebpf/json-sigint "$T/idle.json"
    check has-flow ebpf/sigint-shutdown "$T/idle.json" proto=tcp dst_port=80 end_reason=shutdown \
        'src_pkts>3' 'dst_pkts>0'
    check window ebpf/sigint-drain "$T/idle.pcap" "$T/idle.json" "$t_kill" "$t_exit"
}

# ---- phase 3: interim records under load ---------------------------------------

phase_active() {
    cap_start active || { fail active "tcpdump did not start"; return; }
    nm_start active --json="$T/active.json" --stats --active-timeout 1
    if ! nm_ready active; then
        nm_wait active 5 || true
        fail active "netmoon did not start: $(head -c 300 "$T/active.err")"; cap_stop active; return
    fi
    # ~4000 packets a second for 3 s: packets arrive whatever moment the
    # engine reads and resets the flow's entry.
    C iperf3 -c "$S4" -p 5201 -t 3 -b 40M --connect-timeout 5000 >"$T/iperf3.out" 2>&1 \
        || lab_log "iperf3 failed: $(tail -2 "$T/iperf3.out")"
    lab_wait_until 10 tcp_quiet || lab_log "TCP connections still open after 10 s"
    sleep 0.3
    kill -INT "${NM_PID[active]}" 2>/dev/null || true
    nm_wait active 15 || true
    clean_check active
    cap_stop active
    local drops=$CAP_DROPS
    local why
    if why=$(rc_problem active); then fail active "$why"; return; fi
    check flows ebpf/active "$T/active.pcap" "$T/active.json" --tcpdump-drops "$drops"
    local n
    n=$(H count "$T/active.json" proto=tcp dst_port=5201 end_reason=active)
    if [ "$n" -ge 2 ]; then pass active-split
    else fail active-split "$n interim records (end_reason active) for the 3 s iperf3 transfer with --active-timeout 1, want >= 2"; fi
}

# ---- phase 4: the map is full --------------------------------------------------

phase_table_full() {
    cap_start full || { fail table-full-counted "tcpdump did not start"; return; }
    nm_start full --json="$T/full.json" --stats --max-flows 3
    if ! nm_ready full; then
        nm_wait full 5 || true
        fail table-full-counted "netmoon did not start: $(head -c 300 "$T/full.err")"; cap_stop full; return
    fi
    local i answered=0 out
    for i in $(seq 0 9); do
        out=$(C "${DIG[@]}" -b "$CLI4#$((41000 + i))" @"$S4" www.example.test A 2>&1 || true)
        grep -q 'status: NOERROR' <<<"$out" && answered=$((answered + 1))
    done
    [ "$answered" = 10 ] || lab_log "only $answered of 10 digs got an answer"
    sleep 1.2          # one more read of the map
    kill -INT "${NM_PID[full]}" 2>/dev/null || true
    nm_wait full 15 || true
    clean_check full
    cap_stop full
    local why
    if why=$(rc_problem full); then fail table-full-counted "$why"; return; fi
    local full nrec acc ipframes
    full=$(sed -n 's/^  ebpf table full: *\([0-9][0-9]*\).*/\1/p' "$T/full.err" | head -1)
    if [ -n "$full" ] && [ "$full" -gt 0 ]; then pass table-full-counted
    else fail table-full-counted "--max-flows 3, 10 UDP flows: 'ebpf table full' is '${full}': $(grep -E '^  ebpf' "$T/full.err" | tr '\n' '|' || true)"; fi
    nrec=$(H count "$T/full.json")
    if [ "$nrec" -le 3 ] && [ "$nrec" -ge 1 ]; then pass table-full-records
    else fail table-full-records "--max-flows 3: $nrec flow records, want 1 to 3"; fi
    H subset ebpf/table-full-exact "$T/full.pcap" "$T/full.json" 1 || true
    # The packets refused are exactly those of the flows not written.
    acc=$(H sum-packets "$T/full.json")
    ipframes=$(tshark_count "$T/full.pcap" 'ip or ipv6')
    if [ -n "$full" ] && [ "$CAP_DROPS" = 0 ] && [ $((acc + full)) = "$ipframes" ]; then
        pass table-full-count
    else
        fail table-full-count "records hold $acc packets + 'ebpf table full' ${full:-?} != $ipframes IP frames tshark counts (tcpdump drops $CAP_DROPS)"
    fi
}

# ---- options the engine refuses -------------------------------------------------

# refused NAME WORD ARGS...: exit 2 and a message naming WORD (and the engine).
refused() {
    local name=$1 word=$2 rc=0 err; shift 2
    # Not refused, it would capture: timeout ends it (exit 124).
    err=$(lab_srv timeout 5 "$NETMOON" "${ENGINE[@]}" "$@" --json=/dev/null 2>&1 >/dev/null) || rc=$?
    if [ "$rc" != 2 ]; then
        fail "refused-$name" "--engine ebpf $*: exit $rc, want 2: $(head -c 200 <<<"$err")"
    elif ! grep -qF -- "$word" <<<"$err" || ! grep -qiE 'ebpf|engine' <<<"$err"; then
        fail "refused-$name" "--engine ebpf $*: exit 2 but the message does not name '$word' and the engine: $(head -c 200 <<<"$err")"
    else
        pass "refused-$name"
    fi
}
phase_refused() {
    local pcap=$T/main.pcap
    # -r needs a real capture file (the refusal must not be "cannot open").
    [ -s "$pcap" ] || python3 -c 'import struct, sys
open(sys.argv[1], "wb").write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))' "$pcap"
    refused filter filter -i "$DEV" tcp port 80
    refused w -w -i "$DEV" -w "$T/refused.pcap"
    refused r -r -r "$pcap"
    refused T -T -i "$DEV" -T 2
    refused c -c -i "$DEV" -c 10
    refused streams --streams -i "$DEV" --streams "$T"
    refused any any -i any
    [ ! -e "$T/refused.pcap" ] || lab_log "-w refused, yet $T/refused.pcap was created"
}

# ---- phase 5: IP fragments, a reused port ------------------------------------

export REUSE_PORT=40081
phase_extra() {
    cap_start extra || { fail fragments "tcpdump did not start"; return; }
    nm_start extra --json="$T/extra.json" --stats
    if ! nm_ready extra; then
        nm_wait extra 5 || true
        fail fragments "netmoon did not start: $(head -c 300 "$T/extra.err")"; cap_stop extra; return
    fi
    # UDP datagrams of 3000 bytes: three IPv4 fragments each, and IPv6
    # fragment headers; the later fragments carry no ports.
    C iperf3 -c "$S4" -p 5201 -u -l 3000 -b 1M -n 30000 --connect-timeout 5000 >"$T/fiperf4.out" 2>&1 \
        || lab_log "iperf3 -u -l 3000 (v4) failed: $(tail -2 "$T/fiperf4.out")"
    C iperf3 -c "$S6" -p 5201 -u -l 3000 -b 1M -n 30000 --connect-timeout 5000 >"$T/fiperf6.out" 2>&1 \
        || lab_log "iperf3 -u -l 3000 (v6) failed: $(tail -2 "$T/fiperf6.out")"
    # The same client port twice, a moment apart, to a closed port: two
    # connections (SYN, RST each) on one 4-tuple, two tshark streams.
    local i crc
    for i in 1 2; do
        crc=0
        C "${CURL[@]}" --local-port "$REUSE_PORT" "http://$S4:81/" 2>/dev/null || crc=$?
        [ "$crc" = 7 ] || lab_log "curl --local-port $REUSE_PORT to :81 exited $crc, not 7"
        sleep 0.3
    done
    lab_wait_until 10 tcp_quiet || lab_log "TCP connections still open after 10 s"
    sleep 0.3
    kill -INT "${NM_PID[extra]}" 2>/dev/null || true
    nm_wait extra 15 || true
    clean_check extra
    cap_stop extra
    local why
    if why=$(rc_problem extra); then
        for c in fragments port-reuse; do fail "$c" "$why"; done
        return
    fi
    H part ebpf/fragments "$T/extra.pcap" "$T/extra.json" frag 2 || true
    H part ebpf/port-reuse "$T/extra.pcap" "$T/extra.json" reuse 2 || true
}

# ---- phase 6: a replayed workload, 802.1Q tags ----------------------------------

# bench/gen_workload's TCP and UDP conversations (v4, v6, a third of them
# 802.1Q-tagged) sent by tcpreplay from the server end: netmoon and tcpdump
# capture the client end, which receives them as from a wire (the kernel
# takes the tag out of the frame into skb->vlan_tci on receive; the frames
# are not addressed to the client, so its IP stack drops them afterwards).
phase_replay() {
    local gen=$root/build/rel/bench/gen_workload sent
    if [ ! -x "$gen" ]; then
        for c in replay-exact replay-seen-all vlan; do fail "$c" "no $gen (make tests)"; done
        return
    fi
    sent=$("$gen" -o "$T/workload.pcap" -f 300 -p 9 -s 200 -c 50 --udp 30 --ipv6 30 --vlan 30 |
           sed -n 's/^packets=\([0-9]*\) .*/\1/p')
    local ns_save=$NS dev_save=$DEV
    NS=$LAB_NS_CLI DEV=$LAB_CLI_DEV
    if ! cap_start replay; then
        NS=$ns_save DEV=$dev_save; fail replay-exact "tcpdump did not start"; return
    fi
    nm_start replay --json="$T/replay.json" --stats
    if ! nm_ready replay; then
        nm_wait replay 5 || true; cap_stop replay; NS=$ns_save DEV=$dev_save
        fail replay-exact "netmoon did not start: $(head -c 300 "$T/replay.err")"; return
    fi
    lab_srv timeout 60 tcpreplay --pps 20000 -q -i "$LAB_SRV_DEV" "$T/workload.pcap" >"$T/tcpreplay.log" 2>&1 \
        || lab_log "tcpreplay failed: $(tail -3 "$T/tcpreplay.log")"
    sleep 1.5          # past netmoon's first read of the map (see phase_quick)
    kill -INT "${NM_PID[replay]}" 2>/dev/null || true
    nm_wait replay 15 || true
    clean_check replay
    cap_stop replay
    NS=$ns_save DEV=$dev_save
    local why frames kr
    if why=$(rc_problem replay); then
        for c in replay-exact replay-seen-all vlan; do fail "$c" "$why"; done
        return
    fi
    frames=$(tshark_count "$T/replay.pcap" 2>/dev/null || true)
    check flows ebpf/replay-exact "$T/replay.pcap" "$T/replay.json" --tcpdump-drops "$CAP_DROPS"
    H part ebpf/vlan "$T/replay.pcap" "$T/replay.json" vlan 20 || true
    kr=$(stat_text replay 'kernel received')
    if [ "$CAP_DROPS" != 0 ]; then skip replay-seen-all "tcpdump dropped $CAP_DROPS packets"
    elif [ -n "$kr" ] && [ "$kr" = "$frames" ] && [ "$frames" -ge "${sent:-1}" ]; then pass replay-seen-all
    else fail replay-seen-all "kernel received '${kr}', tcpdump captured $frames frames, $sent replayed"; fi
}

# ---- phase 7: stopped within its first second ---------------------------------

# --duration 1 ends the run before the engine's first once-a-second read of
# the map: the records come from the final read alone; their times must
# still be wall-clock times (tshark's are the oracle).
phase_quick() {
    cap_start quick || { fail times-quick "tcpdump did not start"; return; }
    nm_start quick --json="$T/quick.json" --duration 1
    if ! nm_ready quick; then
        nm_wait quick 5 || true; cap_stop quick
        fail times-quick "netmoon did not start: $(head -c 300 "$T/quick.err")"; return
    fi
    C "${DIG[@]}" @"$S4" www.example.test A >/dev/null || lab_log "dig failed"
    nm_wait quick 15 || true
    clean_check quick
    cap_stop quick
    local why
    if why=$(rc_problem quick); then fail times-quick "$why"; return; fi
    H times ebpf/times-quick "$T/quick.pcap" "$T/quick.json" 1 || true
}

# ---- phase 8: the responder's SYN after an interim record -----------------------

# On one tuple: the client's SYN, the server's answer (data, no SYN-ACK),
# 2.5 s of nothing, then a SYN from the server's side with a new ISN and the
# client's SYN-ACK.  The responder had already sent something, so its SYN is
# a new connection on the reused ports, not a simultaneous open: tshark
# starts a second tcp.stream (and suricata-verify's
# tcp-split-handshake-02-5whs judges so).  --active-timeout 1 writes an
# interim record during the pause, which restarts the flow's counts: the
# engine must not take "the responder's packets are 0" for "it sent
# nothing" then.  The lab's stacks would never send these frames, so they are
# crafted (the helper's write-syn-after-interim) and sent by tcpreplay, at
# their pcap times (so the pause is real), from the server end into the
# client end, where netmoon and tcpdump capture, as phase 6 does; their MAC
# addresses are nobody's, so neither stack answers them.
SAI_CLI=198.18.7.1
SAI_SRV=198.18.7.2
SAI_CPORT=40092
SAI_SPORT=8090
phase_interim_syn() {
    local c=responder-syn-after-interim
    if ! command -v tcpreplay >/dev/null 2>&1; then skip "$c" "no tcpreplay (scripts/install-deps.sh)"; return; fi
    H write-syn-after-interim "$T/sai-frames.pcap" "$SAI_CLI" "$SAI_SRV" "$SAI_CPORT" "$SAI_SPORT" 2.5
    local ns_save=$NS dev_save=$DEV
    NS=$LAB_NS_CLI DEV=$LAB_CLI_DEV
    if ! cap_start interim; then
        NS=$ns_save DEV=$dev_save; fail "$c" "tcpdump did not start"; return
    fi
    nm_start interim --json="$T/interim.json" --stats --active-timeout 1
    if ! nm_ready interim; then
        nm_wait interim 5 || true; cap_stop interim; NS=$ns_save DEV=$dev_save
        fail "$c" "netmoon did not start: $(head -c 300 "$T/interim.err")"; return
    fi
    local replay_ok=1
    lab_srv timeout 30 tcpreplay -q -i "$LAB_SRV_DEV" "$T/sai-frames.pcap" >"$T/sai-tcpreplay.log" 2>&1 \
        || replay_ok=0
    sleep 1.5          # past the next read of the map and a sweep
    kill -INT "${NM_PID[interim]}" 2>/dev/null || true
    nm_wait interim 15 || true
    clean_check interim
    cap_stop interim
    NS=$ns_save DEV=$dev_save
    local why
    if [ "$replay_ok" = 0 ]; then fail "$c" "tcpreplay failed: $(tail -3 "$T/sai-tcpreplay.log" | tr '\n' '|')"; return; fi
    if why=$(rc_problem interim); then fail "$c" "$why"; return; fi
    H syn-after-interim "ebpf/$c" "$T/interim.pcap" "$T/interim.json" "$SAI_CPORT" "$SAI_SPORT" || true
}

NOBODY=65534
phase_privs() {
    if ! id nobody >/dev/null 2>&1; then skip privs-Z "no user nobody"; return; fi
    nm_start privs -Z nobody --duration 3 --json="$T/privs.json"
    if ! nm_ready privs; then
        nm_wait privs 5 || true
        fail privs-Z "netmoon -Z nobody did not start: $(head -c 300 "$T/privs.err")"; return
    fi
    local status c
    status=$(cat /proc/"${NM_PID[privs]}"/task/*/status 2>/dev/null | grep -E '^(Uid|Gid|CapEff):' | sort -u || true)
    c=$(C ping -c 3 -i 0.2 -W 2 "$S4" | ping_counts || true)
    nm_wait privs 15 || true
    clean_check privs
    local why
    if why=$(rc_problem privs); then
        fail privs-Z "-Z nobody: $why"
    elif ! grep -q '^Uid:' <<<"$status"; then
        fail privs-Z "could not read /proc/${NM_PID[privs]}/task/*/status"
    elif grep -E '^(Uid|Gid):' <<<"$status" | grep -qvE ":\s+$NOBODY\s+$NOBODY\s+$NOBODY\s+$NOBODY$"; then
        fail privs-Z "threads still run as another user: $(tr '\n' ' ' <<<"$status")"
    elif grep '^CapEff:' <<<"$status" | grep -qv '0000000000000000'; then
        fail privs-Z "effective capabilities left: $(grep CapEff <<<"$status" | tr '\n' ' ')"
    else
        pass privs-Z
    fi
    if [ -n "$c" ]; then
        check has-flow ebpf/privs-Z-counts "$T/privs.json" proto=icmp icmp_type=8 \
            "src_pkts=${c% *}" "dst_pkts=${c#* }"
    else
        fail privs-Z-counts "no ping summary"
    fi
}

phase_probe
for phase in ${EBPF_PHASES:-main idle active full extra replay interim quick privs refused}; do
    case $phase in
        main) phase_main ;;
        idle) phase_idle_sigint ;;
        active) phase_active ;;
        full) phase_table_full ;;
        extra) phase_extra ;;
        replay) phase_replay ;;
        interim) phase_interim_syn ;;
        quick) phase_quick ;;
        privs) phase_privs ;;
        refused) phase_refused ;;
        *) fail "$phase" "unknown phase in EBPF_PHASES" ;;
    esac
done
exit 0
