#!/usr/bin/env python3
"""tests/golden/ndpi_labels.py: netmoon's application labels (JSON `app`,
`category`, from nDPI inside netmoon) against ndpiReader's own labels for
the same capture (nDPI 4.2, Debian libndpi-bin; parsed by ndpi_flows.py).
Called by test_ndpi_labels.sh; prints PASS/FAIL/SKIP lines.

    ndpi_labels.py NAME DIR --netmoon BIN [--min-agree F] [--cache DIR]
                   [--jobs N] [--timeout S] [--report FILE]
    ndpi_labels.py NAME FILE.pcap --json NETMOON.jsonl [--min-agree F]
                   netmoon's records already written (live capture, with
                   FILE.pcap tcpdump's capture of the same traffic)

Why ndpiReader is the oracle: nDPI's published results (tests/result/*.out
in the nDPI repository) belong to its own tests/pcap corpus, which is not
here; ndpiReader run on our files is the same classifier as nDPI's test
suite uses, written by nDPI's authors, not by us.

Matching: flows are grouped into units exactly as ndpi_golden.py does for
packet counts (ndpi_golden.match_units: protocol and endpoint pair as nDPI
keys them, VLAN when both agree, records inside tunnels nDPI does not
decapsulate left out).  A unit is matched when it has exactly one nDPI flow
and at least one netmoon record; nDPI never splits a flow in a file, while
netmoon may (idle gaps, port reuse), so the netmoon record that started
first is the one nDPI's first packets belong to and its label is compared.
ndpiReader prints the app as "MASTER.APP" and leaves out "[cat: ...]" for
the category Unspecified; netmoon prints the same name and "Unspecified".

The rate is over matched TCP/UDP units: agree / matched, for the app and
for the category; the test fails when either is below --min-agree.  A
netmoon record without a label (it would say so only when its classifier
pool was full) counts as disagreeing.
"""
import argparse
import concurrent.futures
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  parse_netmoon
import golden_run  # noqa: E402  run_netmoon, crashed, list_files, first_line
import ndpi_flows  # noqa: E402
import ndpi_golden  # noqa: E402  match_units, NDPI_LINKTYPES
import tshark_flows  # noqa: E402  file_linktypes


def label_units(nd, flows, out):
    """Returns {"matched", "app_agree", "cat_agree", "ambiguous",
    "ndpi_only", "netmoon_only", "diffs": [...]} for one file."""
    units, _, _ = ndpi_golden.match_units(nd, flows, out)
    res = {"matched": 0, "app_agree": 0, "cat_agree": 0, "ambiguous": 0, "ndpi_only": 0,
           "netmoon_only": 0, "diffs": []}
    for key, ns, ms, _ in units:
        if not ms:
            res["ndpi_only"] += 1
            continue
        if not ns:
            res["netmoon_only"] += 1
            continue
        if len(ns) != 1:
            res["ambiguous"] += 1
            continue
        first = json.loads(min(ms, key=lambda r: (r["ts_start"], r["line"]))["raw"])
        want_app = ns[0]["app_name"]
        want_cat = ns[0]["cat"] or "Unspecified"
        got_app, got_cat = first.get("app"), first.get("category")
        res["matched"] += 1
        res["app_agree"] += got_app == want_app
        res["cat_agree"] += got_cat == want_cat
        if got_app != want_app or got_cat != want_cat:
            res["diffs"].append("%s %s:%s <-> %s:%s: nDPI %s / %s, netmoon %s / %s (%d records)" % (
                key[0], ns[0]["a"][0], ns[0]["a"][1], ns[0]["b"][0], ns[0]["b"][1],
                want_app, want_cat, got_app, got_cat, len(ms)))
    return res


def process(path, args):
    fmt, lts = tshark_flows.file_linktypes(path)
    if args.json:
        with open(args.json) as f:
            run = {"rc": 0, "out": f.read(), "err": "", "secs": 0}
    else:
        run = golden_run.run_netmoon(args.netmoon, path, args.timeout)
    if fmt is None:
        return path, run, None, "not a pcap/pcapng file"
    if not lts or len(set(lts)) != 1 or lts[0] not in ndpi_golden.NDPI_LINKTYPES:
        return path, run, None, "link type %s not read by both" % lts
    nd = ndpi_flows.oracle_for(path, cache_dir=args.cache)
    if nd["rc"] != 0:
        return path, run, None, "ndpiReader exit %s" % nd["rc"]
    flows, problems = compare.parse_netmoon(run["out"])
    if problems:
        return path, run, None, "netmoon wrote %d bad lines" % len(problems)
    return path, run, label_units(nd, flows, run["out"]), None


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("dir")
    ap.add_argument("--netmoon", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--min-agree", type=float, default=0.85)
    ap.add_argument("--cache", default=None)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--report", default=None)
    args = ap.parse_args(argv[1:])
    label = "golden/ndpi-labels/" + args.name

    if not ndpi_flows.available():
        print("SKIP %s: ndpiReader not installed (Debian package libndpi-bin)" % label)
        return 0
    if bool(args.netmoon) == bool(args.json):
        print("FAIL %s: give either --netmoon BIN or --json FILE" % label)
        return 1
    if args.json:
        files, args.dir = [args.dir], os.path.dirname(args.dir) or "."
    else:
        files = golden_run.list_files("lab" if args.name == "lab" else "shared", args.dir)
    if not files:
        print("SKIP %s: no capture files under %s" % (label, args.dir))
        return 0
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
        results = list(ex.map(lambda p: process(p, args), files))
    report = open(args.report, "w") if args.report else None
    tot = {"matched": 0, "app_agree": 0, "cat_agree": 0, "ambiguous": 0, "ndpi_only": 0,
           "netmoon_only": 0}
    failures, not_compared = 0, 0
    for path, run, res, why_not in results:
        name = os.path.relpath(path, args.dir)
        crash = golden_run.crashed(run)
        if crash:
            failures += 1
            print("FAIL %s/%s: netmoon crashed: %s" % (label, name, crash))
        if res is None:
            not_compared += 1
            if report:
                report.write("%s: not compared: %s\n" % (name, why_not))
            continue
        for k in tot:
            tot[k] += res[k]
        if report and res["diffs"]:
            report.write("%s: %d/%d apps agree\n" % (name, res["app_agree"], res["matched"]))
            for d in res["diffs"]:
                report.write("  " + d + "\n")
    if report:
        report.close()
    m = tot["matched"]
    app_rate = tot["app_agree"] / m if m else 0.0
    cat_rate = tot["cat_agree"] / m if m else 0.0
    print("%s: %d files (%d not compared), %d TCP/UDP flows matched (%d more with several nDPI "
          "flows, %d nDPI-only, %d netmoon-only not compared); %.0f s" % (
              label, len(files), not_compared, m, tot["ambiguous"], tot["ndpi_only"],
              tot["netmoon_only"], time.monotonic() - t0))
    ok = m > 0 and app_rate >= args.min_agree and cat_rate >= args.min_agree and not failures
    print("%s %s: app agrees with ndpiReader for %d/%d matched flows (%.2f%%), category for %d/%d "
          "(%.2f%%); need %.2f%%" % ("PASS" if ok else "FAIL", label, tot["app_agree"], m,
                                     100 * app_rate, tot["cat_agree"], m, 100 * cat_rate,
                                     100 * args.min_agree))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
