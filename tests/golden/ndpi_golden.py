#!/usr/bin/env python3
"""tests/golden/ndpi_golden.py: netmoon's flow records against nDPI's
ndpiReader (the oracle in ndpi_flows.py), the second independent oracle
after tshark (compare.py / golden_run.py).  Called by test_golden_ndpi.sh;
prints PASS/FAIL/SKIP lines as tests/run.sh expects.

    ndpi_golden.py lab    DIR --netmoon BIN   every flow of every *.pcap must
                                              match or have a named nDPI cause
    ndpi_golden.py shared DIR --netmoon BIN   aggregate rate >= --min-match
    ndpi_golden.py one FILE.pcap --netmoon BIN   details for one file

Options: --jobs N, --cache DIR (oracle cache), --min-match F, --timeout S,
--report FILE (every differing flow, per file), --label PREFIX.

How flows are matched (why):
* nDPI never splits a flow when reading a file (no idle expiry offline, no
  new flow on a SYN: see ndpi_flows.py), so every netmoon TCP/UDP record of
  the same (protocol, endpoint pair) is summed into one unit, whatever
  netmoon's idle splits or port-reuse records.  Endpoints are compared the
  way nDPI keys them (ndpi_flows.fold_ip), so two netmoon flows nDPI merges
  because their IPv6 addresses fold alike are summed too.
* VLAN: nDPI keys by the innermost 802.1Q tag, netmoon by the outermost
  (README).  When both sides have the same set of VLAN IDs for an endpoint
  pair, each VLAN is its own unit; otherwise the pair is one unit and the
  VLAN difference is noted (the counts must still agree).
* Direction: each record's src is mapped to nDPI's first (a) or second (b)
  endpoint by address and port, so packets/bytes are compared per sender.
* A unit is exact when packets and bytes of both senders are equal.
  rate = exact / (units compared); units with a flow on one side only count
  as differing (unless excluded below).

Exclusions: a differing unit is taken out of the rate only when an nDPI
behaviour named in ndpi_flows.py explains it, and each exclusion is counted
and listed in the report:
* tunnel: netmoon decapsulated a tunnel nDPI 4.2 does not (GRE, VXLAN,
  Geneve, Teredo, ...; nDPI sees only the outer packet), i.e. a netmoon
  record whose "tunnel" is not IP-in-IP/6in4/4in6/6in6, or an nDPI UDP flow
  on a tunnel port with no netmoon record in a file where netmoon
  decapsulated that tunnel;
* skipped: nDPI has fewer packets than netmoon for each sender (never more),
  and the file holds frames nDPI's packet path skips (ndpi_drops.py
  replays its checks: non-first IPv4 fragments, IP lengths beyond the
  captured bytes, TSO/BIG TCP length 0, link layers it does not parse such
  as 802.1ad, E-Tag, MACsec).  The packets missing over all such units of
  a file must not exceed that count, else none of them is excluded;
* ndpi-extra: nDPI has more packets than netmoon for each sender (never
  fewer), bounded by the frames nDPI reads ports from where there are none
  (IPv4 header length < 20; non-first fragments on DLT_RAW / little-endian
  DLT_NULL, where it never reads the fragment offset; BIG TCP IPv6 with
  payload length 0, keyed with ports 0);
* caplen: equal packets, nDPI's bytes lower, and the file has frames cut
  short (nDPI adds caplen, netmoon the wire length): the byte shortfall over
  all such units must not exceed the file's total (len - caplen);
* u16: the byte difference is a multiple of 65536 (nDPI keeps a frame's
  size in a u_int16_t).
Files whose link type nDPI does not read (SLL2, LOOP, ...; or a pcapng
mixing link types: ndpiReader uses the first interface's for all) are run
for crashes but not compared, and counted.
"""
import argparse
import concurrent.futures
import json
import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  parse_netmoon
import golden_run  # noqa: E402  run_netmoon, crashed, list_files
import ndpi_drops  # noqa: E402
import ndpi_flows  # noqa: E402
import tshark_flows  # noqa: E402  file_linktypes

# Link types (pcap LINKTYPE values) both ndpiReader 4.2 and netmoon read:
# NULL, EN10MB, RAW (101, and the BSD DLT_RAW 12), LINUX_SLL, IPV4, IPV6.
NDPI_LINKTYPES = {0, 1, 12, 101, 113, 228, 229}
# Tunnels ndpiReader decapsulates itself (IPv4 proto 4/41, IPv6 next header 4/41).
NDPI_DECAPS = {None, "ipip", "6in4", "4in6", "6in6"}
# netmoon tunnel name -> outer UDP ports nDPI keys those packets by.
TUNNEL_PORTS = {"vxlan": {4789}, "vxlan-gpe": {4790}, "geneve": {6081}, "teredo": {3544},
                "mpls-udp": {6635}, "nsh": {4790, 6633}}


def fkey(proto, e1, e2):
    """nDPI's flow key without VLAN: protocol and the folded endpoint pair."""
    return (proto,) + tuple(sorted([fend(e1), fend(e2)], key=str))


def fend(e):
    return (ndpi_flows.fold_ip(e[0]), int(e[1]))


def match_units(nd, flows, out=""):
    """Groups nDPI's TCP/UDP flows (nd, from ndpi_flows.oracle_for) and
    netmoon's records (compare.parse_netmoon; out is netmoon's raw output,
    scanned for the tunnels of all records, ICMP ones too) into the units
    both are compared by.  Returns (units, res, tunnel_ports): units are
    (key, nDPI flows, netmoon records, note); res has the counters and notes
    of the records left out (tunnels nDPI does not decapsulate)."""
    res = {"units": 0, "exact": 0, "excluded": {}, "mismatches": [], "notes": [],
           "ndpi_flows": 0, "records": len(flows)}
    tunnels_seen = set()
    for line in out.splitlines():
        if '"tunnel"' in line:
            try:
                tunnels_seen.add(json.loads(line).get("tunnel"))
            except ValueError:
                pass
    recs = []
    for r in flows:
        tun = json.loads(r["raw"]).get("tunnel")
        r = dict(r, tunnel=tun)
        if tun not in NDPI_DECAPS:
            tunnels_seen.add(tun)
            res["excluded"]["tunnel"] = res["excluded"].get("tunnel", 0) + 1
            res["notes"].append("excluded (tunnel %s, nDPI sees the outer packet): netmoon %s"
                                % (tun, compare.fmt_rec(r)))
            continue
        recs.append(r)
    tunnel_ports = set()
    for t in tunnels_seen:
        tunnel_ports |= TUNNEL_PORTS.get(t, set())
    # nDPI may print an IPv6 address mangled (ndpi_flows.ndpi_patch): map
    # such strings back through netmoon's addresses patched the same way.
    patched = {}
    for r in recs:
        for ip in (r["src"][0], r["dst"][0]):
            if ":" in ip:
                patched[ndpi_flows.ndpi_patch(ip)] = ip
    nflows = []
    for f in nd["flows"]:
        if f["proto"] in ("tcp", "udp"):
            f = dict(f, a=(patched.get(f["a"][0], f["a"][0]), f["a"][1]),
                     b=(patched.get(f["b"][0], f["b"][0]), f["b"][1]))
            nflows.append(f)
    res["ndpi_flows"] = len(nflows)
    by_key = {}
    for f in nflows:
        by_key.setdefault(fkey(f["proto"], f["a"], f["b"]), {"n": [], "m": []})["n"].append(f)
    for r in recs:
        by_key.setdefault(fkey(r["proto"], r["src"], r["dst"]), {"n": [], "m": []})["m"].append(r)

    units = []
    for key, g in by_key.items():
        nv = {}
        for f in g["n"]:
            nv.setdefault(f["vlan"] or None, []).append(f)
        mv = {}
        for r in g["m"]:
            mv.setdefault(r["vlan"] or None, []).append(r)
        if set(nv) == set(mv) or not nv or not mv:
            for v in set(nv) | set(mv):
                units.append((key, nv.get(v, []), mv.get(v, []), None))
        else:
            units.append((key, g["n"], g["m"], "VLAN differs: nDPI (innermost) %s, netmoon (outermost) %s"
                          % (sorted(nv, key=str), sorted(mv, key=str))))

    return units, res, tunnel_ports


def compare_file(nd, flows, path, out=""):
    """Compares nDPI's flows (nd, from ndpi_flows.oracle_for) with netmoon's
    records (compare.parse_netmoon; out is netmoon's raw output).  Returns a
    result dict."""
    units, res, tunnel_ports = match_units(nd, flows, out)
    dr = ndpi_drops.drops(path)
    jumbo = dr["extra"].get("jumbo", 0) + dr["big"]
    skipped_budget = sum(dr["dropped"].values()) + jumbo
    extra_budget = sum(dr["extra"].values())
    cut, cut_bytes = dr["cut"], dr["cut_bytes"]
    pending_skip, pending_caplen, pending_extra = [], [], []
    for key, ns, ms, note in units:
        if ns and not ms and key[0] == "udp" and ({key[1][1], key[2][1]} & tunnel_ports):
            res["excluded"]["tunnel"] = res["excluded"].get("tunnel", 0) + 1
            res["notes"].append("excluded (outer flow of a tunnel netmoon decapsulated): nDPI %s"
                                % fmt_ndpi(ns[0]))
            continue
        # Orientation: nDPI's first endpoint of the first flow is "a".
        if ns:
            a = fend(ns[0]["a"])
        else:
            a = fend(ms[0]["src"])
        want = {"a_pkts": 0, "a_bytes": 0, "b_pkts": 0, "b_bytes": 0}
        for f in ns:
            s, d = ("a", "b") if fend(f["a"]) == a else ("b", "a")
            want[s + "_pkts"] += f["a_pkts"]
            want[s + "_bytes"] += f["a_bytes"]
            want[d + "_pkts"] += f["b_pkts"]
            want[d + "_bytes"] += f["b_bytes"]
        got = {"a_pkts": 0, "a_bytes": 0, "b_pkts": 0, "b_bytes": 0}
        for r in ms:
            s, d = ("a", "b") if fend(r["src"]) == a else ("b", "a")
            got[s + "_pkts"] += r["src_pkts"]
            got[s + "_bytes"] += r["src_bytes"]
            got[d + "_pkts"] += r["dst_pkts"]
            got[d + "_bytes"] += r["dst_bytes"]
        res["units"] += 1
        if want == got:
            res["exact"] += 1
            continue
        desc = {"unit": "%s %s" % (key[0], fmt_ends(ns, ms)),
                "problem": "nDPI a %d/%d b %d/%d, netmoon a %d/%d b %d/%d (pkts/bytes)" % (
                    want["a_pkts"], want["a_bytes"], want["b_pkts"], want["b_bytes"],
                    got["a_pkts"], got["a_bytes"], got["b_pkts"], got["b_bytes"]),
                "note": note, "ndpi": [fmt_ndpi(f) for f in ns[:3]],
                "netmoon": [compare.fmt_rec(r) for r in ms[:4]], "why": None}
        if not ns:
            desc["problem"] = "no nDPI flow; " + desc["problem"]
        elif not ms:
            desc["problem"] = "no netmoon record; " + desc["problem"]
        dp = [got[s + "_pkts"] - want[s + "_pkts"] for s in "ab"]
        db = [got[s + "_bytes"] - want[s + "_bytes"] for s in "ab"]
        if all(x % 65536 == 0 for x in db) and dp == [0, 0]:
            desc["why"] = "u16"
        elif skipped_budget and min(dp) >= 0 and sum(dp) > 0 and min(db) >= 0:
            pending_skip.append((sum(dp), desc))
            continue
        elif cut and dp == [0, 0] and min(db) >= 0:
            pending_caplen.append((sum(db), desc))
            continue
        elif extra_budget and max(dp) <= 0 and sum(dp) < 0 and max(db) <= 0:
            pending_extra.append((-sum(dp), desc))
            continue
        finish(res, desc)
    # The bounded exclusions: all of a file's or none.
    for pend, budget, why in ((pending_skip, skipped_budget, "skipped"),
                              (pending_caplen, cut_bytes, "caplen"),
                              (pending_extra, extra_budget, "ndpi-extra")):
        total = sum(n for n, _ in pend)
        for n, desc in pend:
            if total <= budget:
                desc["why"] = why
            else:
                desc["note"] = ((desc["note"] + "; ") if desc["note"] else "") + \
                    "not excluded: %d missing in all, file has only %d %s" % (
                        total, budget, {"skipped": "packets nDPI skips", "caplen": "cut bytes",
                                        "ndpi-extra": "packets nDPI mis-reads"}[why])
            finish(res, desc)
    res["frag"], res["cut"] = sum(dr["dropped"].values()), cut
    return res


def finish(res, desc):
    if desc["why"]:
        res["excluded"][desc["why"]] = res["excluded"].get(desc["why"], 0) + 1
        res["units"] -= 1
    res["mismatches"].append(desc)


def fmt_ends(ns, ms):
    if ns:
        f = ns[0]
        return "%s:%s <-> %s:%s%s" % (f["a"][0], f["a"][1], f["b"][0], f["b"][1],
                                      " vlan %s" % f["vlan"] if f["vlan"] else "")
    r = ms[0]
    return "%s:%s <-> %s:%s%s" % (r["src"][0], r["src"][1], r["dst"][0], r["dst"][1],
                                  " vlan %s" % r["vlan"] if r["vlan"] else "")


def fmt_ndpi(f):
    return "%s %s:%s %s %s:%s%s %d/%d %d/%d [%s]" % (
        f["proto"], f["a"][0], f["a"][1], "<->" if f["bidir"] else "->", f["b"][0], f["b"][1],
        " vlan %s" % f["vlan"] if f["vlan"] else "", f["a_pkts"], f["a_bytes"], f["b_pkts"],
        f["b_bytes"], f["app"])


def format_result(name, res, max_details=30):
    ex = sum(res["excluded"].values())
    lines = ["%s: %d/%d flows exact (%.2f%%), %d excluded (%s), %d nDPI TCP/UDP flows, "
             "%d netmoon TCP/UDP records; file: %d frames nDPI skips, %d frames cut short" % (
                 name, res["exact"], res["units"], 100.0 * res["exact"] / res["units"] if res["units"] else 100.0,
                 ex, ", ".join("%s %d" % kv for kv in sorted(res["excluded"].items())) or "none",
                 res["ndpi_flows"], res["records"], res.get("frag", 0), res.get("cut", 0))]
    shown = 0
    for m in sorted(res["mismatches"], key=lambda m: m["why"] is not None):
        if shown >= max_details:
            lines.append("  ... %d more" % (len(res["mismatches"]) - shown))
            break
        shown += 1
        lines.append("  %s: %s" % ("excluded (%s)" % m["why"] if m["why"] else "differs", m["unit"]))
        lines.append("      %s" % m["problem"])
        if m["note"]:
            lines.append("      (%s)" % m["note"])
        for f in m["ndpi"]:
            lines.append("      nDPI:    %s" % f)
        for r in m["netmoon"]:
            lines.append("      netmoon: %s" % r)
    for n in res["notes"][:max_details]:
        lines.append("  " + n)
    return "\n".join(lines)


def process(path, args):
    fmt, lts = tshark_flows.file_linktypes(path)
    run = golden_run.run_netmoon(args.netmoon, path, args.timeout)
    flows, problems = compare.parse_netmoon(run["out"])
    why_not = None
    if fmt is None:
        why_not = "not a pcap/pcapng file"
    elif not lts or len(set(lts)) != 1 or lts[0] not in NDPI_LINKTYPES:
        why_not = "link type %s not read by both" % lts
    if why_not:
        return path, run, problems, None, why_not
    nd = ndpi_flows.oracle_for(path, cache_dir=args.cache)
    # No "Traffic statistics" block: ndpiReader prints none when it counted
    # no IP packet at all (printResults stops at zero wire bytes); its flow
    # list is then rightly empty, and the file is compared as such.
    if nd["rc"] != 0:
        return path, run, problems, None, "ndpiReader exit %s: %s" % (
            nd["rc"], golden_run.first_line(nd["error"]))
    return path, run, problems, compare_file(nd, flows, path, run["out"]), None


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["lab", "shared", "one"])
    ap.add_argument("dir")
    ap.add_argument("--netmoon", required=True)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--cache", default=None)
    ap.add_argument("--min-match", type=float, default=None)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--report", default=None)
    ap.add_argument("--label", default=None)
    ap.add_argument("--max-details", type=int, default=30)
    args = ap.parse_args(argv[1:])
    if args.min_match is None:
        args.min_match = 1.0 if args.mode == "lab" else 0.99
    if args.label is None:
        args.label = "golden/ndpi-" + args.mode

    if not ndpi_flows.available():
        print("SKIP %s: ndpiReader not installed (Debian package libndpi-bin)" % args.label)
        return 0
    if not (os.path.isfile(args.netmoon) and os.access(args.netmoon, os.X_OK)):
        print("FAIL %s: no netmoon binary at %s (build it with make)" % (args.label, args.netmoon))
        return 1
    if args.mode == "one":
        files, args.dir = [args.dir], os.path.dirname(args.dir) or "."
    else:
        files = golden_run.list_files(args.mode, args.dir)
    if not files:
        print("SKIP %s: no capture files under %s" % (args.label, args.dir))
        return 0

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
        results = list(ex.map(lambda p: process(p, args), files))
    elapsed = time.monotonic() - t0
    report = open(args.report, "w") if args.report else None

    def detail(text):
        if report:
            report.write(text + "\n")

    failures = 0
    agg = {"units": 0, "exact": 0}
    excl, not_compared = {}, []
    for path, run, problems, res, why_not in results:
        name = "%s/%s" % (args.label, os.path.relpath(path, args.dir))
        crash = golden_run.crashed(run)
        if crash:
            failures += 1
            print("FAIL %s: netmoon crashed: %s" % (name, crash))
        if args.mode == "shared" and not crash and run["rc"] != 0 and \
                not golden_run.first_line(run["err"]):
            failures += 1
            print("FAIL %s: netmoon exited %s without a message" % (name, run["rc"]))
        if res is None:
            not_compared.append((name, why_not))
            detail("%s: not compared: %s" % (name, why_not))
            if args.mode == "lab":
                failures += 1
                print("FAIL %s: not compared: %s" % (name, why_not))
            continue
        agg["units"] += res["units"]
        agg["exact"] += res["exact"]
        for k, v in res["excluded"].items():
            excl[k] = excl.get(k, 0) + v
        text = format_result(name, res, args.max_details)
        if res["mismatches"] or res["notes"] or args.mode != "shared":
            detail(text)
        if args.mode != "shared":
            print(text)
            why = []
            if run["rc"] != 0 and not crash:
                why.append("netmoon exited %s: %s" % (run["rc"], golden_run.first_line(run["err"])))
            if problems:
                why.append("%d bad output lines" % len(problems))
            if res["exact"] != res["units"]:
                why.append("%d/%d flows differ from nDPI" % (res["units"] - res["exact"], res["units"]))
            if res["units"] == 0:
                why.append("no TCP/UDP flow compared")
            if why:
                failures += 1
                print("FAIL %s: %s" % (name, ", ".join(why)))
            else:
                print("PASS %s%s" % (name, " (%d excluded: %s)" % (
                    sum(res["excluded"].values()),
                    ", ".join("%s %d" % kv for kv in sorted(res["excluded"].items())))
                    if res["excluded"] else ""))
    if args.mode != "shared":
        if report:
            report.close()
        return 1 if failures else 0

    rate = agg["exact"] / agg["units"] if agg["units"] else 1.0
    summary = ("%d files (%d not compared), %d flows compared, %d excluded with an nDPI cause (%s); %.0f s"
               % (len(results), len(not_compared), agg["units"], sum(excl.values()),
                  ", ".join("%s %d" % kv for kv in sorted(excl.items())) or "none", elapsed))
    print("golden ndpi-shared: " + summary)
    detail("SUMMARY " + summary)
    reasons = {}
    for _, w in not_compared:
        w = w.split(":")[0] if w.startswith("ndpiReader") else w
        reasons[w] = reasons.get(w, 0) + 1
    for w, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print("note: %d files not compared: %s" % (n, w))
    worst = sorted(((len([m for m in r[3]["mismatches"] if not m["why"]]),
                     os.path.relpath(r[0], args.dir)) for r in results if r[3]), reverse=True)
    worst = [w for w in worst if w[0] > 0][:15]
    if worst:
        print("most differing flows: " + ", ".join("%s (%d)" % (n, c) for c, n in worst))
    verdict = "PASS" if rate >= args.min_match else "FAIL"
    failures += verdict == "FAIL"
    nex = sum(excl.values())
    print("%s %s/match: %d/%d TCP/UDP flows equal nDPI's packets and bytes per direction "
          "(%.2f%%, need %.2f%%; %d more excluded with an nDPI cause, see above; "
          "%.2f%% with none excluded)" % (
              verdict, args.label, agg["exact"], agg["units"], 100 * rate, 100 * args.min_match,
              nex, 100.0 * agg["exact"] / (agg["units"] + nex) if agg["units"] + nex else 100.0))
    if report:
        report.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
