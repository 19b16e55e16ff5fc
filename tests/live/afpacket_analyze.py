#!/usr/bin/env python3
"""afpacket_analyze.py: compares afpacket_probe output with a tcpdump capture
of the same interface (read through tshark), for tests/live/test_afpacket.sh.

  afpacket_analyze.py symmetry PROBE_OUT MIN_BIDIR
  afpacket_analyze.py oracle PROBE_OUT PCAP [MIN_FLOWS] [--packets-only]
  afpacket_analyze.py filter PROBE_OUT PORT
Prints one diagnostic line per problem and exits 1 on failure.
"""
import ipaddress
import subprocess
import sys

LAB = [ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("2001:db8::/32")]


def in_lab(addr):
    a = ipaddress.ip_address(addr)
    return any(a in n for n in LAB)


def read_probe(path):
    flows, stats, vlans, nonip = {}, {}, {}, {}
    for line in open(path):
        f = line.split()
        if len(f) < 2 or not f[0].isdigit():
            continue
        sock = int(f[0])
        if f[1] == "flow":
            key = (int(f[2]), f[3], int(f[4]), f[5], int(f[6]))
            flows.setdefault(key, {})[sock] = (int(f[7]), int(f[8]))
        elif f[1] == "stats":
            stats[sock] = {f[i]: int(f[i + 1]) for i in range(2, len(f) - 1, 2)}
        elif f[1] == "vlan":
            vlans[int(f[2])] = vlans.get(int(f[2]), 0) + int(f[3])
        elif f[1] == "nonip":
            nonip[f[2]] = nonip.get(f[2], 0) + int(f[3])
    return flows, stats, vlans, nonip


def first(v):
    return v.split(",")[0] if v else ""


def read_pcap(path):
    """Per-direction flow counts as tshark decodes the capture."""
    fields = ["frame.len", "vlan.id", "ip.src", "ip.dst", "ip.proto", "ip.frag_offset",
              "ipv6.src", "ipv6.dst", "ipv6.nxt", "tcp.srcport", "tcp.dstport",
              "udp.srcport", "udp.dstport", "arp.opcode"]
    cmd = ["tshark", "-n", "-r", path, "-T", "fields", "-E", "separator=\t",
           "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    flows, vlans, arp, total = {}, {}, 0, 0
    for line in out.splitlines():
        v = dict(zip(fields, line.split("\t")))
        total += 1
        if v.get("vlan.id"):
            vid = int(first(v["vlan.id"]))
            vlans[vid] = vlans.get(vid, 0) + 1
        if v.get("ip.src"):
            src, dst, proto = first(v["ip.src"]), first(v["ip.dst"]), int(first(v["ip.proto"]))
            unfragmented = int(first(v.get("ip.frag_offset")) or 0) == 0
        elif v.get("ipv6.src"):
            src, dst, proto = first(v["ipv6.src"]), first(v["ipv6.dst"]), int(first(v["ipv6.nxt"]))
            unfragmented = True
        else:
            if v.get("arp.opcode"):
                arp += 1
            continue
        sport = dport = 0
        if unfragmented and proto == 6 and v.get("tcp.srcport"):
            sport, dport = int(first(v["tcp.srcport"])), int(first(v["tcp.dstport"]))
        elif unfragmented and proto == 17 and v.get("udp.srcport"):
            sport, dport = int(first(v["udp.srcport"])), int(first(v["udp.dstport"]))
        key = (proto, src, sport, dst, dport)
        p, b = flows.get(key, (0, 0))
        flows[key] = (p + 1, b + int(v["frame.len"]))
    return flows, vlans, arp, total


def normal(key):
    proto, s, sp, d, dp = key
    a, b = (s, sp), (d, dp)
    return (proto,) + (a + b if a <= b else b + a)


def cmd_symmetry(probe_out, min_bidir):
    flows, _, _, _ = read_probe(probe_out)
    owners, dirs = {}, {}
    for key, per_sock in flows.items():
        # Lab connections only: the kernel's own one-way link-local
        # traffic (MLD reports to ff02::16, router solicitations) comes from
        # different kernel sockets, whose packets the fanout hash was seen
        # to send to different sockets; they are no connection.
        if not (in_lab(key[1]) and in_lab(key[3])):
            continue
        n = normal(key)
        owners.setdefault(n, set()).update(per_sock)
        dirs.setdefault(n, set()).add(key)
    bad = [n for n, s in owners.items() if len(s) > 1]
    bidir = [n for n in owners if len(dirs[n]) == 2]
    per_sock = {}
    for n in bidir:
        for s in owners[n]:
            per_sock[s] = per_sock.get(s, 0) + 1
    print(f"# {len(bidir)} bidirectional flows, per socket {dict(sorted(per_sock.items()))}, "
          f"{len(bad)} split across sockets")
    for n in bad:
        print(f"# split: {n} seen by sockets {sorted(owners[n])}: "
              + ", ".join(f"{k}: {flows[k]}" for k in sorted(dirs[n])))
    ok = not bad and len(bidir) >= min_bidir and len(per_sock) >= 2
    if len(per_sock) < 2:
        print("# every bidirectional flow went to one socket: fanout did not spread the load")
    return ok


def cmd_oracle(probe_out, pcap, min_flows, packets_only):
    pflows, stats, pvlans, pnonip = read_probe(probe_out)
    tflows, tvlans, tarp, ttotal = read_pcap(pcap)
    merged = {}
    for key, per_sock in pflows.items():
        merged[key] = (sum(p for p, _ in per_sock.values()), sum(b for _, b in per_sock.values()))
    ok, compared = True, 0
    for key in sorted(set(merged) | set(tflows)):
        if not (in_lab(key[1]) and in_lab(key[3])):
            continue
        compared += 1
        got, want = merged.get(key, (0, 0)), tflows.get(key, (0, 0))
        if packets_only:
            got, want = got[0], want[0]
        if got != want:
            ok = False
            print(f"# flow {key}: probe {got}, tcpdump {want}")
    frames = sum(s["frames"] for s in stats.values())
    drops = sum(s["kernel_drops"] for s in stats.values())
    kpkts = sum(s["kernel_packets"] for s in stats.values())
    skipped = sum(s["loop_outgoing_skipped"] + s["malformed"] for s in stats.values())
    print(f"# {compared} lab flows compared; probe frames {frames} (kernel_packets {kpkts}, "
          f"drops {drops}), tcpdump frames {ttotal}; vlan probe {pvlans} tcpdump {tvlans}")
    if drops:
        ok = False
        print("# the probe's ring dropped packets: counts cannot be compared")
    if kpkts != frames + skipped:
        ok = False
        print(f"# kernel_packets {kpkts} != frames {frames} + skipped {skipped}")
    if not packets_only and pvlans != tvlans:
        ok = False
        print(f"# vlan counts differ: probe {pvlans}, tcpdump {tvlans}")
    if compared < min_flows:
        ok = False
        print("# too few lab flows: did the traffic run?")
    return ok


def cmd_filter(probe_out, port):
    flows, stats, _, nonip = read_probe(probe_out)
    ok = True
    for key in flows:
        if key[0] != 6 or port not in (key[2], key[4]):
            ok = False
            print(f"# filter let through {key}")
    if nonip:
        ok = False
        print(f"# filter let through non-IP {nonip}")
    frames = sum(s["frames"] for s in stats.values())
    kpkts = sum(s["kernel_packets"] for s in stats.values())
    print(f"# filtered capture: {len(flows)} flow directions, frames {frames}, kernel_packets {kpkts}")
    if kpkts != frames or frames == 0:
        ok = False
        print("# kernel_packets must equal delivered frames (and be non-zero)")
    print(f"kernel_packets {kpkts}")
    return ok


def main():
    cmd = sys.argv[1]
    if cmd == "symmetry":
        ok = cmd_symmetry(sys.argv[2], int(sys.argv[3]))
    elif cmd == "oracle":
        args = [a for a in sys.argv[4:] if not a.startswith("--")]
        ok = cmd_oracle(sys.argv[2], sys.argv[3], int(args[0]) if args else 10,
                        "--packets-only" in sys.argv)
    elif cmd == "filter":
        ok = cmd_filter(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(f"unknown command {cmd}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
