#!/usr/bin/env python3
"""tests/golden/tcp_compare.py: netmoon's TCP analysis against tshark's.

    tcp_compare.py --netmoon BIN [--label L] [--min-rtt F] [--min-conn F]
                   [--cache DIR] [--details N] FILE_OR_DIR...

For every capture, tshark (the oracle: Wireshark's tcp.analysis.*) and
netmoon run on the same file; TCP connections are paired and compared:

* rtt_handshake_us against tcp.analysis.initial_rtt, agreeing within 5 % or
  20 us.  Population: connections where tshark gives initial_rtt and saw
  both the SYN and the SYN-ACK (tshark also prints an initial_rtt after a
  SYN answered by RST-ACK; netmoon reports a handshake RTT only for a
  handshake).
* retransmissions per direction: tshark's tcp.analysis.retransmission +
  fast_retransmission + spurious_retransmission (netmoon counts a spurious
  retransmission as a retransmission), agreeing within 10 %;
* duplicate ACKs, zero-window, keep-alive, out-of-order and RST counts per
  direction, compared exactly.

Pairing: tshark's tcp.stream, netmoon's records, both grouped by the
unordered pair of endpoints and taken in time order (tshark starts a new
stream on port reuse where netmoon starts a new record); records netmoon
split at its 60 s idle timeout inside one tshark stream are summed.  netmoon's src is
matched to tshark's endpoint by address and port.

Prints "PASS label: ..." / "FAIL label: ..." with the agreement figures;
exits 1 on FAIL.  The expected numbers all come from tshark.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys

FIELDS = ["frame.number", "frame.time_epoch", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst",
          "tcp.srcport", "tcp.dstport", "tcp.stream", "tcp.flags.syn", "tcp.flags.ack",
          "tcp.flags.reset", "tcp.analysis.initial_rtt", "tcp.analysis.retransmission",
          "tcp.analysis.fast_retransmission", "tcp.analysis.spurious_retransmission",
          "tcp.analysis.duplicate_ack", "tcp.analysis.zero_window", "tcp.analysis.keep_alive",
          "tcp.analysis.out_of_order"]
C = {f: i for i, f in enumerate(FIELDS)}
COUNTED = {"retrans": ["tcp.analysis.retransmission", "tcp.analysis.fast_retransmission",
                       "tcp.analysis.spurious_retransmission"],
           "dup_acks": ["tcp.analysis.duplicate_ack"],
           "zero_window": ["tcp.analysis.zero_window"],
           "keepalives": ["tcp.analysis.keep_alive"],
           "out_of_order": ["tcp.analysis.out_of_order"]}


def last(v):
    return v.split(",")[-1] if v else ""


def first(v):
    return v.split(",")[0] if v else ""


def truthy(v):
    return first(v) in ("1", "True", "true")


def run_tshark(path, fields=FIELDS, options=()):
    cmd = ["tshark", "-n", "-r", path, "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
           *options, "-Y", "tcp", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
           "-E", "aggregator=,"]
    for f in fields:
        cmd += ["-e", f]
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=600)
    return [l.split("\t") for l in p.stdout.splitlines() if l], p.returncode


def cached(path, cache, script, prefix, compute):
    """compute(path) -> {"rc": ..., ...}, kept in cache under a hash of the
    capture and of the script that computes it (a changed rule recomputes)."""
    key = None
    if cache:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            h.update(f.read())
        with open(os.path.abspath(script), "rb") as f:
            h.update(f.read())
        key = os.path.join(cache, prefix + h.hexdigest() + ".json")
        try:
            with open(key) as f:
                return json.load(f)
        except (OSError, ValueError):
            pass
    res = compute(path)
    if key and res["rc"] == 0:
        os.makedirs(cache, exist_ok=True)
        with open(key + ".tmp", "w") as f:
            json.dump(res, f)
        os.replace(key + ".tmp", key)
    return res


def oracle(path, cache):
    return cached(path, cache, __file__, "tcp-", tshark_streams)


def tshark_streams(path):
    rows, rc = run_tshark(path)
    streams = {}
    for r in rows:
        r += [""] * (len(FIELDS) - len(r))
        st = first(r[C["tcp.stream"]])
        if not st.isdigit():
            continue
        src = last(r[C["ip.src"]]) or last(r[C["ipv6.src"]])
        dst = last(r[C["ip.dst"]]) or last(r[C["ipv6.dst"]])
        sp, dp = first(r[C["tcp.srcport"]]), first(r[C["tcp.dstport"]])
        if not (sp.isdigit() and dp.isdigit()):
            continue
        s = streams.get(st)
        if s is None:
            s = streams[st] = {"a": [src, int(sp)], "b": [dst, int(dp)],
                               "ts": float(r[C["frame.time_epoch"]]), "initial_rtt": None,
                               "syn": False, "synack": False,
                               "a_cnt": {k: 0 for k in list(COUNTED) + ["rsts"]},
                               "b_cnt": {k: 0 for k in list(COUNTED) + ["rsts"]}}
        side = "a_cnt" if [src, int(sp)] == s["a"] else "b_cnt"
        syn, ack = truthy(r[C["tcp.flags.syn"]]), truthy(r[C["tcp.flags.ack"]])
        s["syn"] |= syn and not ack
        s["synack"] |= syn and ack
        if s["initial_rtt"] is None and first(r[C["tcp.analysis.initial_rtt"]]):
            s["initial_rtt"] = float(first(r[C["tcp.analysis.initial_rtt"]]))
        for k, fields in COUNTED.items():
            if any(r[C[f]] for f in fields):
                s[side][k] += 1
        if truthy(r[C["tcp.flags.reset"]]):
            s[side]["rsts"] += 1
    return {"rc": rc, "streams": [streams[k] for k in sorted(streams, key=int)]}


def netmoon_flows(binary, path):
    p = subprocess.run([binary, "-r", path, "--json"], capture_output=True, timeout=600)
    flows = []
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r.get("type") == "flow" and r.get("proto") == "tcp":
            flows.append(r)
    return flows, p.returncode


def pair_key(a, b):
    return tuple(sorted([(a[0], a[1]), (b[0], b[1])]))


def within(n, t, rel, absol=0):
    return abs(n - t) <= max(absol, rel * t)


class Tally:
    def __init__(self):
        self.hs_n = self.hs_ok = 0
        self.conns = 0
        self.unmatched = 0
        self.per = {k: [0, 0] for k in list(COUNTED) + ["rsts"]}    # agreeing, compared
        self.tot = {k: [[0, 0], [0, 0]] for k in COUNTED}         # [dir][netmoon, tshark]
        self.details = []


def pair_groups(streams, flows):
    """tshark streams and netmoon records of each endpoint pair, both in
    time order: [(streams, records), ...]."""
    groups = {}
    for s in streams:
        groups.setdefault(pair_key(s["a"], s["b"]), [[], []])[0].append(s)
    for f in flows:
        k = pair_key([f["src_ip"], f["src_port"]], [f["dst_ip"], f["dst_port"]])
        if k in groups:
            groups[k][1].append(f)
    for ss, fs in groups.values():
        ss.sort(key=lambda s: s["ts"])
        fs.sort(key=lambda f: f["ts_start"])
    return list(groups.values())


def compare_file(path, orc, flows, tally, ndetails):
    for ss, fs in pair_groups(orc["streams"], flows):
        if len(fs) > len(ss):
            fs = merge_idle_splits(ss, fs)
        for i, s in enumerate(ss):
            if i >= len(fs):
                tally.unmatched += 1
                continue
            compare_conn(path, s, fs[i], tally, ndetails)


def merge_idle_splits(ss, fs):
    """netmoon ends a flow after 60 s idle where tshark keeps one stream:
    the records that start within a stream (before the next one) are one
    connection, so their counters are summed into the first record."""
    starts = [s["ts"] for s in ss]
    merged = []
    for f in fs:
        i = max([j for j, t in enumerate(starts) if t <= f["ts_start"] + 1e-6] or [0])
        if i < len(merged):
            m = merged[i]
            for k in list(COUNTED) + ["rsts"]:
                for pre in ("src_", "dst_"):
                    other = pre if f["src_ip"] == m["src_ip"] and f["src_port"] == m["src_port"] \
                        else ("dst_" if pre == "src_" else "src_")
                    m[pre + k] = m.get(pre + k, 0) + f.get(other + k, 0)
        else:
            merged.append(dict(f))
    return merged


def compare_conn(path, s, f, tally, ndetails):
    tally.conns += 1
    src_is_a = [f["src_ip"], f["src_port"]] == s["a"]
    by_dir = [s["a_cnt"], s["b_cnt"]] if src_is_a else [s["b_cnt"], s["a_cnt"]]
    where = "%s %s:%s>%s:%s" % (os.path.basename(path), f["src_ip"], f["src_port"],
                                f["dst_ip"], f["dst_port"])
    if s["initial_rtt"] is not None and s["syn"] and s["synack"]:
        tally.hs_n += 1
        t_us = s["initial_rtt"] * 1e6
        n_us = f.get("rtt_handshake_us")
        if n_us is not None and within(n_us, t_us, 0.05, 20):
            tally.hs_ok += 1
        elif len(tally.details) < ndetails:
            tally.details.append("%s: rtt_handshake_us %s, tshark initial_rtt %.0f us" % (where, n_us, t_us))
    for k in list(COUNTED) + ["rsts"]:
        for d, pre in enumerate(("src_", "dst_")):
            n, t = f.get(pre + k, 0), by_dir[d][k]
            ok = within(n, t, 0.10) if k == "retrans" else n == t
            tally.per[k][1] += 1
            tally.per[k][0] += ok
            if k in tally.tot:
                tally.tot[k][d][0] += n
                tally.tot[k][d][1] += t
            if not ok and len(tally.details) < ndetails:
                tally.details.append("%s: %s%s netmoon %d tshark %d" % (where, pre, k, n, t))


def list_files(args):
    out = []
    for p in args.paths:
        if os.path.isdir(p):
            for d, _, files in os.walk(p):
                out += [os.path.join(d, f) for f in files
                        if f.endswith((".pcap", ".pcapng", ".cap"))]
        elif os.path.isfile(p):
            out.append(p)
    return sorted(out)


def golden_files(args):
    """The captures to compare; none (and a SKIP line) without tshark."""
    if subprocess.run(["sh", "-c", "command -v tshark"], capture_output=True).returncode:
        print("SKIP %s: tshark not installed" % args.label)
        return []
    files = list_files(args)
    if not files:
        print("SKIP %s: no captures" % args.label)
    return files


def golden_runs(files, args, oracle):
    """(path, oracle(path, args.cache), netmoon's TCP records) per capture."""
    for path in files:
        orc = oracle(path, args.cache)
        flows, rc = netmoon_flows(args.netmoon, path)
        if rc != 0 and not flows:
            continue  # a file netmoon refuses is the flow goldens' business
        yield path, orc, flows


def pct(a, b):
    return 100.0 * a / b if b else 100.0


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--netmoon", required=True)
    ap.add_argument("--label", default="golden/tcp_analysis")
    ap.add_argument("--min-rtt", type=float, default=0.95)
    ap.add_argument("--min-conn", type=float, default=0.95)
    ap.add_argument("--cache", default=None)
    ap.add_argument("--details", type=int, default=20)
    args = ap.parse_args(argv[1:])
    files = golden_files(args)
    if not files:
        return 0
    t = Tally()
    for path, orc, flows in golden_runs(files, args, oracle):
        compare_file(path, orc, flows, t, args.details)
    for d in t.details:
        print("  " + d)
    fails = []
    summary = "%d files, %d connections (%d tshark streams unpaired)" % (len(files), t.conns, t.unmatched)
    print("  " + summary)
    hs = pct(t.hs_ok, t.hs_n)
    print("  rtt_handshake_us vs initial_rtt (5%% or 20 us): %d/%d = %.1f%%" % (t.hs_ok, t.hs_n, hs))
    if hs < 100 * args.min_rtt:
        fails.append("handshake RTT agrees for %.1f%% < %.0f%%" % (hs, 100 * args.min_rtt))
    for k, (ok, n) in t.per.items():
        share = pct(ok, n)
        line = "  %-13s per connection-direction agree %d/%d = %.1f%%" % (k, ok, n, share)
        if k in t.tot:
            line += "; totals src %d/%d dst %d/%d (netmoon/tshark)" % (
                t.tot[k][0][0], t.tot[k][0][1], t.tot[k][1][0], t.tot[k][1][1])
        print(line)
        if k in ("retrans", "dup_acks", "zero_window", "keepalives") and share < 100 * args.min_conn:
            fails.append("%s agrees for %.1f%%" % (k, share))
    for d in (0, 1):
        n, tt = t.tot["retrans"][d]
        if not within(n, tt, 0.10):
            fails.append("%s retransmissions total %d vs tshark %d" % (("src", "dst")[d], n, tt))
    if fails:
        print("FAIL %s: %s" % (args.label, "; ".join(fails)))
        return 1
    print("PASS %s: %s; handshake RTT %.1f%%, retrans %.1f%%" % (
        args.label, summary, hs, pct(*t.per["retrans"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
