#!/usr/bin/env python3
"""tests/live/live_check.py: verdicts for tests/live/test_live_netmoon.sh.

Every expected number comes from tshark reading a tcpdump capture of the same
interface made at the same time as netmoon ran (tests/golden/tshark_flows.py
and compare.py are the TCP/UDP oracle and matcher); none is taken from
netmoon's own output.  Each subcommand prints exactly one verdict line,
"PASS NAME", "FAIL NAME: why" or "SKIP NAME: why", with details above it.

  live_check.py json NAME JSONL
      every line is a JSON object, the last one a complete stats record.
  live_check.py flows NAME PCAP JSONL [--tcpdump-drops N] [--allow-drops]
      every TCP/UDP conversation of PCAP matches netmoon exactly (packets and
      bytes per direction, initiator, one record per conversation).  Only
      required when netmoon's stats say kernel_drops == 0 and tcpdump dropped
      nothing: otherwise the two did not see the same packets (SKIP).
  live_check.py icmp NAME PCAP JSONL
      ICMP/ICMPv6 echo flows: per identifier, requests and replies (packets
      and frame bytes) as tshark counts them.
  live_check.py fanout NAME JSONL --workers N --min-flows M
      no flow in two records that overlap in time (a flow split across
      workers), flow_id unique, and with at least M flows every worker id
      (flow_id >> 56) below N used.
  live_check.py only-port NAME JSONL PROTO PORT
      every flow record is PROTO with PORT on one side.
  live_check.py kernel-packets NAME PCAP JSONL
      stats kernel_packets <= frames in PCAP (a capture with the same filter).
  live_check.py window NAME PCAP JSONL T_LO T_HI
      netmoon stopped somewhere between T_LO and T_HI (epoch seconds): for
      every TCP/UDP conversation in PCAP, the record's packets and bytes per
      endpoint are at least what tshark counts up to T_LO (the kernel had
      captured them before the stop was asked for) and at most what it
      counts up to T_HI.
  live_check.py drained NAME JSONL
      the stats record's packets == kernel_packets - kernel_drops: every
      packet the kernel put in the ring (its own PACKET_STATISTICS count,
      which includes drops) was processed.  Only for runs that stopped
      while the link was quiet or gone.
  live_check.py stat JSONL FIELD
      prints FIELD of the last stats record (no verdict).
  live_check.py has-flow NAME JSONL KEY=VALUE...
      some flow record has every KEY=VALUE (values compared as strings);
      KEY>N / KEY<N compare numerically.
"""
import collections
import ipaddress
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "golden"))
import compare  # noqa: E402
import tshark_flows  # noqa: E402


def verdict(kind, name, why=None):
    print("%s %s%s" % (kind, name, (": " + why) if why else ""))
    return 0 if kind != "FAIL" else 1


def load_lines(path):
    """(objects, problems): every line parsed; problems name the bad ones."""
    objs, problems = [], []
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError as e:
        return [], ["cannot read %s: %s" % (path, e)]
    if text and not text.endswith("\n"):
        problems.append("output does not end with a newline (truncated last line?)")
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            problems.append("line %d is empty" % n)
            continue
        try:
            o = json.loads(line)
        except ValueError as e:
            problems.append("line %d is not JSON (%s): %.150s" % (n, e, line))
            continue
        if not isinstance(o, dict) or "type" not in o:
            problems.append("line %d has no type: %.150s" % (n, line))
            continue
        objs.append(o)
    return objs, problems


def last_stats(objs):
    st = [o for o in objs if o.get("type") == "stats"]
    return st[-1] if st else None


STATS_FIELDS = ("ts", "packets", "bytes", "decoded", "non_ip", "fragments", "decapsulated",
                "decode_errors", "filtered_out", "flows_created", "flows_ended",
                "flows_active", "evictions", "kernel_packets", "kernel_drops",
                "kernel_freezes", "ring_malformed", "decode")


def cmd_json(name, path):
    objs, problems = load_lines(path)
    if problems:
        return verdict("FAIL", name, "; ".join(problems[:3]))
    if not objs:
        return verdict("FAIL", name, "no output lines in %s" % path)
    last = objs[-1]
    if last.get("type") != "stats":
        return verdict("FAIL", name, "last line is type %r, not a stats record" % last.get("type"))
    missing = [f for f in STATS_FIELDS if f not in last]
    if missing:
        return verdict("FAIL", name, "last stats record lacks %s" % ", ".join(missing))
    return verdict("PASS", name)


def drops_reason(stats, tcpdump_drops):
    if stats is None:
        return None
    if int(stats.get("kernel_drops", 0)) != 0:
        return "netmoon's kernel ring dropped %s packets" % stats["kernel_drops"]
    if tcpdump_drops:
        return "tcpdump dropped %d packets" % tcpdump_drops
    return None


def cmd_flows(name, pcap, jsonl, tcpdump_drops, allow_drops):
    objs, problems = load_lines(jsonl)
    stats = last_stats(objs)
    if problems:
        return verdict("FAIL", name, "bad netmoon output: %s" % problems[0])
    if stats is None:
        return verdict("FAIL", name, "no stats record in %s" % jsonl)
    with open(jsonl, errors="replace") as f:
        flows, _ = compare.parse_netmoon(f.read())
    oracle = tshark_flows.oracle_for(pcap)
    if oracle["tshark_rc"] != 0:
        return verdict("FAIL", name, "tshark could not read %s: %s" % (pcap, oracle["tshark_error"][:200]))
    res = compare.compare(oracle, flows)
    print(compare.format_result(name, res, 40))
    print("  netmoon stats: packets %s kernel_packets %s kernel_drops %s" % (
        stats.get("packets"), stats.get("kernel_packets"), stats.get("kernel_drops")))
    if res["flows"] == 0:
        return verdict("FAIL", name, "tshark found no TCP/UDP conversation in %s" % pcap)
    ok = res["exact"] == res["flows"] and res["init_ok"] == res["init_checked"]
    summary = "%d/%d flows exact, initiator %d/%d, %d extra records" % (
        res["exact"], res["flows"], res["init_ok"], res["init_checked"], res["extra"])
    if ok:
        return verdict("PASS", name)
    why = drops_reason(stats, tcpdump_drops)
    if why and not allow_drops:
        return verdict("SKIP", name, "%s, exact match not required (%s)" % (why, summary))
    return verdict("FAIL", name, summary)


ICMP_FIELDS = ["frame.len", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "icmp.type", "icmp.ident",
               "icmpv6.type", "icmpv6.echo.identifier", "frame.protocols"]


def icmp_oracle(pcap):
    """{(ipver, ident, requester, responder): counts} for echo traffic."""
    cmd = ["tshark", "-n", "-r", pcap, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"]
    for f in ICMP_FIELDS:
        cmd += ["-e", f]
    cmd += ["-Y", "icmp.type == 8 || icmp.type == 0 || icmpv6.type == 128 || icmpv6.type == 129"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    out = {}
    for line in p.stdout.splitlines():
        r = line.split("\t")
        r += [""] * (len(ICMP_FIELDS) - len(r))
        flen, s4, d4, s6, d6, t4, id4, t6, id6, protos = r[:10]
        if "tcp" in protos.split(":") or "udp" in protos.split(":"):
            continue   # an ICMP error quoting a transport header; not echo
        if t4:
            ver, typ, ident, src, dst = 4, int(t4), id4, s4, d4
            request = typ == 8
        else:
            ver, typ, ident, src, dst = 6, int(t6), id6, s6, d6
            request = typ == 128
        ident = int(ident, 0)
        src, dst = ipaddress.ip_address(src).compressed, ipaddress.ip_address(dst).compressed
        req, resp = (src, dst) if request else (dst, src)
        c = out.setdefault((ver, ident, req, resp), [0, 0, 0, 0])
        if request:
            c[0] += 1
            c[1] += int(flen)
        else:
            c[2] += 1
            c[3] += int(flen)
    return out, p.returncode, p.stderr[-300:]


def cmd_icmp(name, pcap, jsonl, tcpdump_drops):
    objs, problems = load_lines(jsonl)
    if problems:
        return verdict("FAIL", name, "bad netmoon output: %s" % problems[0])
    stats = last_stats(objs)
    want, rc, err = icmp_oracle(pcap)
    if rc != 0:
        return verdict("FAIL", name, "tshark failed on %s: %s" % (pcap, err))
    if not want:
        return verdict("FAIL", name, "tshark found no echo traffic in %s" % pcap)
    got = {}
    for o in objs:
        if o.get("type") != "flow" or o.get("proto") not in ("icmp", "ipv6-icmp"):
            continue
        if o.get("icmp_type") not in (8, 0, 128, 129) or "icmp_id" not in o:
            continue
        ver = 6 if o.get("proto") == "ipv6-icmp" else 4
        s = ipaddress.ip_address(o["src_ip"]).compressed
        d = ipaddress.ip_address(o["dst_ip"]).compressed
        if o["icmp_type"] in (8, 128):
            key, c = (ver, int(o["icmp_id"]), s, d), [o["src_pkts"], o["src_bytes"], o["dst_pkts"], o["dst_bytes"]]
        else:
            key, c = (ver, int(o["icmp_id"]), d, s), [o["dst_pkts"], o["dst_bytes"], o["src_pkts"], o["src_bytes"]]
        if key in got:
            got[key] = [a + b for a, b in zip(got[key], c)]
            got[key].append("split")
        else:
            got[key] = c
    bad = []
    for k, w in sorted(want.items()):
        g = got.get(k)
        if g is None:
            bad.append("v%d id %d %s->%s: missing (tshark req %d/%d B, rep %d/%d B)" % (k + tuple(w)))
        elif g[:4] != w or len(g) > 4:
            bad.append("v%d id %d %s->%s: tshark req %d/%d B rep %d/%d B, netmoon req %d/%d B rep %d/%d B%s" % (
                k + tuple(w) + tuple(g[:4]) + (" (split into several records)" if len(g) > 4 else "",)))
    for k in sorted(set(got) - set(want)):
        bad.append("v%d id %d %s->%s: netmoon record without tshark echo traffic" % k)
    for b in bad:
        print("  differs: " + b)
    if not bad:
        return verdict("PASS", name)
    why = drops_reason(stats, tcpdump_drops)
    if why:
        return verdict("SKIP", name, "%s; %d/%d echo flows differ" % (why, len(bad), len(want)))
    return verdict("FAIL", name, "%d/%d echo flows differ: %s" % (len(bad), len(want), bad[0]))


def flow_key(o):
    ends = sorted([(o.get("src_ip"), o.get("src_port")), (o.get("dst_ip"), o.get("dst_port"))],
                  key=lambda e: (str(e[0]), str(e[1])))
    extra = o.get("icmp_id") if o.get("proto") in ("icmp", "ipv6-icmp") else None
    return (o.get("proto"), o.get("vlan"), tuple(ends), extra)


def cmd_fanout(name, jsonl, workers, min_flows):
    objs, problems = load_lines(jsonl)
    if problems:
        return verdict("FAIL", name, "bad netmoon output: %s" % problems[0])
    flows = [o for o in objs if o.get("type") == "flow"]
    bad = []
    ids = collections.Counter(o.get("flow_id") for o in flows)
    dup_ids = [i for i, n in ids.items() if n > 1 and i is not None]
    # Interim records ("active") share a flow_id; none are expected here.
    if dup_ids:
        bad.append("%d flow_ids used by several records, e.g. %s" % (len(dup_ids), dup_ids[0]))
    by_key = collections.defaultdict(list)
    for o in flows:
        by_key[flow_key(o)].append(o)
    for k, recs in by_key.items():
        recs.sort(key=lambda o: o["ts_start"])
        for a, b in zip(recs, recs[1:]):
            if b["ts_start"] <= a["ts_end"]:
                bad.append("%s %s:%s<->%s:%s in two overlapping records: workers %d and %d, "
                           "%s-%s and %s-%s" % (k[0], k[2][0][0], k[2][0][1], k[2][1][0], k[2][1][1],
                                                a["flow_id"] >> 56, b["flow_id"] >> 56,
                                                a["ts_start"], a["ts_end"], b["ts_start"], b["ts_end"]))
    used = collections.Counter(int(o["flow_id"]) >> 56 for o in flows if "flow_id" in o)
    print("  %s: %d flow records, per worker id %s" % (name, len(flows), dict(sorted(used.items()))))
    out_of_range = [w for w in used if w >= workers]
    if out_of_range:
        bad.append("worker ids %s outside 0..%d" % (out_of_range, workers - 1))
    if len(flows) >= min_flows:
        unused = [w for w in range(workers) if w not in used]
        if unused:
            bad.append("%d flows but worker(s) %s produced none" % (len(flows), unused))
    else:
        bad.append("only %d flow records, need %d to judge the fan-out" % (len(flows), min_flows))
    for b in bad:
        print("  problem: " + b)
    return verdict("FAIL", name, bad[0]) if bad else verdict("PASS", name)


def cmd_only_port(name, jsonl, proto, port):
    objs, problems = load_lines(jsonl)
    if problems:
        return verdict("FAIL", name, "bad netmoon output: %s" % problems[0])
    flows = [o for o in objs if o.get("type") == "flow"]
    other = [o for o in flows if o.get("proto") != proto or port not in (o.get("src_port"), o.get("dst_port"))]
    if not flows:
        return verdict("FAIL", name, "no flow records at all")
    if other:
        o = other[0]
        return verdict("FAIL", name, "%d/%d records outside the filter, e.g. %s %s:%s -> %s:%s" % (
            len(other), len(flows), o.get("proto"), o.get("src_ip"), o.get("src_port"),
            o.get("dst_ip"), o.get("dst_port")))
    return verdict("PASS", name)


def pcap_frames(pcap):
    p = subprocess.run(["tshark", "-n", "-r", pcap, "-T", "fields", "-e", "frame.number"],
                       capture_output=True, text=True, timeout=120)
    return len([l for l in p.stdout.splitlines() if l.strip()]), p.returncode


def stats_and_frames(pcap, jsonl):
    """(netmoon's last stats record, tshark's frame count in pcap, problem)."""
    objs, problems = load_lines(jsonl)
    stats = last_stats(objs)
    if problems or stats is None:
        return None, 0, "bad netmoon output: %s" % (problems[:1] or ["no stats record"])[0]
    n, rc = pcap_frames(pcap)
    if rc != 0:
        return None, 0, "tshark could not read %s" % pcap
    return stats, n, None


def cmd_kernel_packets(name, pcap, jsonl):
    stats, n, why = stats_and_frames(pcap, jsonl)
    if why:
        return verdict("FAIL", name, why)
    kp = int(stats["kernel_packets"])
    print("  %s: tshark %d matching frames; netmoon kernel_packets %d packets %s filtered_out %s" % (
        name, n, kp, stats.get("packets"), stats.get("filtered_out")))
    if n == 0:
        return verdict("FAIL", name, "the filtered capture is empty")
    if kp > n:
        return verdict("FAIL", name, "kernel_packets %d > %d frames matching the filter: the "
                       "kernel did not filter" % (kp, n))
    return verdict("PASS", name)


def cmd_kernel_packets_equal(name, pcap, jsonl):
    """The packets the kernel handed netmoon's sockets (kernel_packets,
    dropped ones included) equal the frames tcpdump captured with the same
    filter over the same time."""
    stats, n, why = stats_and_frames(pcap, jsonl)
    if why:
        return verdict("FAIL", name, why)
    kp = int(stats["kernel_packets"])
    print("  %s: tshark %d frames; netmoon kernel_packets %d, kernel_drops %s, packets %s" % (
        name, n, kp, stats.get("kernel_drops"), stats.get("packets")))
    if kp != n:
        return verdict("FAIL", name, "kernel_packets %d, tcpdump captured %d" % (kp, n))
    return verdict("PASS", name)


def packets_by_conversation(pcap):
    """{(proto, (a_ip, a_port), (b_ip, b_port)) sorted: [(ts, sender, len)]}."""
    cmd = ["tshark", "-n", "-r", pcap, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f",
           "-e", "frame.time_epoch", "-e", "frame.len", "-e", "ip.src", "-e", "ip.dst",
           "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "tcp.srcport", "-e", "tcp.dstport",
           "-e", "udp.srcport", "-e", "udp.dstport"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    convs = collections.defaultdict(list)
    for line in p.stdout.splitlines():
        r = (line.split("\t") + [""] * 10)[:10]
        ts, flen, s4, d4, s6, d6, ts_, td, us, ud = r
        src, dst = (s4, d4) if s4 else (s6, d6)
        if not src:
            continue
        if ts_:
            proto, sp, dp = "tcp", ts_, td
        elif us:
            proto, sp, dp = "udp", us, ud
        else:
            continue
        a = (ipaddress.ip_address(src).compressed, int(sp))
        b = (ipaddress.ip_address(dst).compressed, int(dp))
        key = (proto,) + tuple(sorted([a, b]))
        convs[key].append((float(ts), a, int(flen)))
    return convs, p.returncode


def cmd_window(name, pcap, jsonl, t_lo, t_hi):
    objs, problems = load_lines(jsonl)
    if problems:
        return verdict("FAIL", name, "bad netmoon output: %s" % problems[0])
    convs, rc = packets_by_conversation(pcap)
    if rc != 0 or not convs:
        return verdict("FAIL", name, "tshark found no TCP/UDP packets in %s" % pcap)
    recs = collections.defaultdict(list)
    for o in objs:
        if o.get("type") == "flow" and o.get("proto") in ("tcp", "udp"):
            s = (ipaddress.ip_address(o["src_ip"]).compressed, int(o["src_port"]))
            d = (ipaddress.ip_address(o["dst_ip"]).compressed, int(o["dst_port"]))
            recs[(o["proto"],) + tuple(sorted([s, d]))].append((s, d, o))
    bad = []
    for key, pkts in sorted(convs.items()):
        def count(limit):
            c = {}
            for ts, sender, flen in pkts:
                if ts <= limit:
                    e = c.setdefault(sender, [0, 0])
                    e[0] += 1
                    e[1] += flen
            return c
        lo, hi = count(t_lo), count(t_hi)
        if not lo:
            continue
        got = {}
        for s, d, o in recs.get(key, []):
            for ep, pk, by in ((s, o["src_pkts"], o["src_bytes"]), (d, o["dst_pkts"], o["dst_bytes"])):
                e = got.setdefault(ep, [0, 0])
                e[0] += pk
                e[1] += by
        desc = "%s %s:%s <-> %s:%s" % (key[0], key[1][0], key[1][1], key[2][0], key[2][1])
        if not got:
            bad.append("%s: no netmoon record, tshark saw %s before the stop" % (desc, lo))
            continue
        for ep in set(lo) | set(hi) | set(got):
            l, h, g = lo.get(ep, [0, 0]), hi.get(ep, [0, 0]), got.get(ep, [0, 0])
            print("  %s: sent by %s:%s: tshark %d pkts/%d B before the stop, %d/%d B by "
                  "netmoon's exit; netmoon %d/%d B" % (desc, ep[0], ep[1], l[0], l[1], h[0], h[1], g[0], g[1]))
            if g[0] < l[0] or g[1] < l[1]:
                bad.append("%s from %s:%s: netmoon %d pkts/%d B, but the kernel captured %d/%d B "
                           "before the stop" % (desc, ep[0], ep[1], g[0], g[1], l[0], l[1]))
            elif g[0] > h[0] or g[1] > h[1]:
                bad.append("%s from %s:%s: netmoon %d pkts/%d B, more than the %d/%d B tshark saw "
                           "until netmoon exited" % (desc, ep[0], ep[1], g[0], g[1], h[0], h[1]))
    for b in bad:
        print("  problem: " + b)
    return verdict("FAIL", name, bad[0]) if bad else verdict("PASS", name)


def cmd_drained(name, jsonl):
    objs, problems = load_lines(jsonl)
    st = last_stats(objs)
    if problems or st is None:
        return verdict("FAIL", name, "bad netmoon output: %s" % (problems[:1] or ["no stats record"])[0])
    kp, kd, p = int(st["kernel_packets"]), int(st["kernel_drops"]), int(st["packets"])
    if p != kp - kd:
        return verdict("FAIL", name, "stats: packets %d, but the kernel put %d in the ring "
                       "(kernel_packets %d - kernel_drops %d): %d never processed" % (
                           p, kp - kd, kp, kd, kp - kd - p))
    return verdict("PASS", name)


def cmd_stat(jsonl, field):
    objs, _ = load_lines(jsonl)
    st = last_stats(objs)
    print("" if st is None else st.get(field, ""))
    return 0


def cmd_has_flow(name, jsonl, conds):
    objs, problems = load_lines(jsonl)
    if problems:
        return verdict("FAIL", name, "bad netmoon output: %s" % problems[0])
    flows = [o for o in objs if o.get("type") == "flow"]

    def ok(o):
        for c in conds:
            for op in ("~", ">", "<", "="):   # k~a|b: one of the values
                if op in c:
                    k, v = c.split(op, 1)
                    break
            if k not in o:
                return False
            if op == "~" and str(o[k]) not in v.split("|"):
                return False
            if op == "=" and str(o[k]) != v:
                return False
            if op == ">" and not float(o[k]) > float(v):
                return False
            if op == "<" and not float(o[k]) < float(v):
                return False
        return True
    if any(ok(o) for o in flows):
        return verdict("PASS", name)
    for o in flows[:10]:
        print("  record: " + json.dumps(o))
    return verdict("FAIL", name, "no flow record with %s among %d records" % (" ".join(conds), len(flows)))


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, a = argv[1], argv[2:]

    def opt(flag, default=None):
        if flag in a:
            i = a.index(flag)
            v = a[i + 1]
            del a[i:i + 2]
            return v
        return default

    if cmd == "json":
        return cmd_json(a[0], a[1])
    if cmd == "flows":
        drops = int(opt("--tcpdump-drops", "0") or 0)
        allow = "--allow-drops" in a
        a = [x for x in a if x != "--allow-drops"]
        return cmd_flows(a[0], a[1], a[2], drops, allow)
    if cmd == "icmp":
        drops = int(opt("--tcpdump-drops", "0") or 0)
        return cmd_icmp(a[0], a[1], a[2], drops)
    if cmd == "fanout":
        w = int(opt("--workers", "2"))
        m = int(opt("--min-flows", "20"))
        return cmd_fanout(a[0], a[1], w, m)
    if cmd == "only-port":
        return cmd_only_port(a[0], a[1], a[2], int(a[3]))
    if cmd == "kernel-packets":
        return cmd_kernel_packets(a[0], a[1], a[2])
    if cmd == "kernel-packets-equal":
        return cmd_kernel_packets_equal(a[0], a[1], a[2])
    if cmd == "window":
        return cmd_window(a[0], a[1], a[2], float(a[3]), float(a[4]))
    if cmd == "drained":
        return cmd_drained(a[0], a[1])
    if cmd == "stat":
        return cmd_stat(a[0], a[1])
    if cmd == "has-flow":
        return cmd_has_flow(a[0], a[1], a[2:])
    print("live_check.py: unknown command %s" % cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
