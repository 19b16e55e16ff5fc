#!/usr/bin/env python3
"""tests/golden/golden_run.py: runs netmoon over a set of pcaps and compares
every file with the tshark oracle (tshark_flows.py, compare.py).  Called by
test_golden_lab.sh and test_golden_shared.sh; prints PASS/FAIL/SKIP lines as
tests/run.sh expects, details in between.

    golden_run.py lab    --netmoon BIN DIR      every *.pcap in DIR must match
                                                100 % (flows and initiators)
    golden_run.py shared --netmoon BIN DIR      aggregate thresholds over all
                                                pcap/pcapng files under DIR

Options: --jobs N (default: CPUs), --cache DIR (oracle cache, default
tests/out/golden-cache), --min-match F, --min-initiator F, --timeout S (per
netmoon run), --report FILE (full mismatch details), --label PREFIX.

A file passes only if netmoon exits 0, prints nothing a sanitizer wrote, and
writes valid JSON lines.  In shared mode a file netmoon rejects (non-zero
exit below 128, no sanitizer report) must say why on stderr; it is noted,
and its flows are still compared when tshark read the whole file.  Files
tshark cannot read completely are run (a crash is still a failure) but not
compared.
"""
import argparse
import concurrent.futures
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
import tshark_flows  # noqa: E402

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "UndefinedBehaviorSanitizer", "ERROR: ThreadSanitizer")


def list_files(mode, root):
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            if mode == "lab":
                if f.endswith(".pcap"):
                    out.append(p)
            elif f.endswith((".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz")) or \
                    tshark_flows.file_linktypes(p)[0]:
                out.append(p)
    return sorted(out)


def run_netmoon(binary, path, timeout):
    t0 = time.monotonic()
    try:
        p = subprocess.run([binary, "-r", path, "--json"], capture_output=True, timeout=timeout)
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        rc = p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        err = "netmoon still running after %d s (killed)" % timeout
        rc = None
    except OSError as e:
        out, err, rc = "", "cannot run %s: %s" % (binary, e), 127
    return {"rc": rc, "out": out, "err": err, "secs": time.monotonic() - t0}


def crashed(run):
    """A reason string when the run crashed or hung, else None."""
    if run["rc"] is None:
        return run["err"]
    if run["rc"] < 0 or run["rc"] >= 128:
        sig = -run["rc"] if run["rc"] < 0 else run["rc"] - 128
        return "killed by signal %d (exit %d)" % (sig, run["rc"])
    for m in SANITIZER_MARKS:
        if m in run["err"]:
            line = next((l for l in run["err"].splitlines() if m in l), m)
            return "sanitizer report: %s" % line.strip()[:200]
    return None


def process(path, args):
    oracle = tshark_flows.oracle_for(path, cache_dir=args.cache)
    run = run_netmoon(args.netmoon, path, args.timeout)
    flows, problems = compare.parse_netmoon(run["out"])
    res = compare.compare(oracle, flows, idle_timeout=args.idle_timeout,
                          close_timeout=args.close_timeout)
    return path, oracle, run, problems, res


def label_of(args, path):
    return "%s/%s" % (args.label, os.path.relpath(path, args.dir))


def first_line(s):
    s = s.strip().splitlines()
    return s[0][:200] if s else ""


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["lab", "shared"])
    ap.add_argument("dir")
    ap.add_argument("--netmoon", required=True)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--cache", default=None)
    ap.add_argument("--min-match", type=float, default=None)
    ap.add_argument("--min-initiator", type=float, default=None)
    ap.add_argument("--idle-timeout", type=float, default=60.0)
    ap.add_argument("--close-timeout", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--report", default=None)
    ap.add_argument("--label", default=None)
    ap.add_argument("--max-details", type=int, default=30)
    args = ap.parse_args(argv[1:])
    if args.min_match is None:
        args.min_match = 1.0 if args.mode == "lab" else 0.99
    if args.min_initiator is None:
        args.min_initiator = 1.0 if args.mode == "lab" else 0.99
    if args.label is None:
        args.label = "golden/" + args.mode

    if subprocess.run(["sh", "-c", "command -v tshark"], capture_output=True).returncode != 0:
        print("SKIP %s: tshark not installed (scripts/install-deps.sh)" % args.label)
        return 0
    if not (os.path.isfile(args.netmoon) and os.access(args.netmoon, os.X_OK)):
        print("FAIL %s: no netmoon binary at %s (build it with make)" % (args.label, args.netmoon))
        return 1
    files = list_files(args.mode, args.dir)
    if not files:
        print("SKIP %s: no capture files under %s" % (args.label, args.dir))
        return 0

    t0 = time.monotonic()
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
        for r in ex.map(lambda p: process(p, args), files):
            results.append(r)
    elapsed = time.monotonic() - t0

    report = open(args.report, "w") if args.report else None

    def detail(text):
        if report:
            report.write(text + "\n")

    failures = 0
    agg = {"flows": 0, "exact": 0, "init_checked": 0, "init_ok": 0, "tcp": 0, "udp": 0, "portless": 0,
           "extra": 0, "not_compared": 0, "differ_malformed": 0, "init_missing": 0}
    skipped_files, rejected, bad_json = [], [], []
    for path, oracle, run, problems, res in results:
        name = label_of(args, path)
        text = compare.format_result(name, res, args.max_details)
        crash = crashed(run)
        tshark_ok = oracle["tshark_rc"] == 0 and oracle["format"] is not None
        if args.mode == "lab":
            why = []
            if crash:
                why.append("netmoon crashed: %s" % crash)
            elif run["rc"] != 0:
                why.append("netmoon exited %d: %s" % (run["rc"], first_line(run["err"])))
            if problems:
                why.append("%d bad output lines (%s)" % (len(problems), problems[0]))
            if not tshark_ok:
                why.append("tshark could not read the file (exit %s: %s)" % (
                    oracle["tshark_rc"], first_line(oracle["tshark_error"])))
            if res["exact"] != res["flows"]:
                why.append("%d/%d flows differ" % (res["flows"] - res["exact"], res["flows"]))
            if res["init_ok"] != res["init_checked"]:
                why.append("%d/%d initiators wrong" % (res["init_checked"] - res["init_ok"], res["init_checked"]))
            if res["flows"] == 0:
                why.append("no TCP/UDP conversation in the file")
            print(text)
            detail(text)
            if why:
                failures += 1
                print("FAIL %s: %s" % (name, ", ".join(why)))
            else:
                print("PASS %s" % name)
            continue
        # shared mode
        if crash:
            failures += 1
            print("FAIL %s: netmoon crashed: %s" % (name, crash))
            for l in run["err"].strip().splitlines()[:15]:
                print("      %s" % l)
        elif run["rc"] != 0:
            msg = first_line(run["err"])
            if not msg:
                failures += 1
                print("FAIL %s: netmoon exited %d without a message" % (name, run["rc"]))
            else:
                rejected.append((name, run["rc"], msg))
        if problems:
            bad_json.append((name, problems))
            failures += 1
            print("FAIL %s: %d bad output lines: %s" % (name, len(problems), problems[0]))
        if not tshark_ok:
            skipped_files.append((name, oracle["tshark_rc"], first_line(oracle["tshark_error"])))
            detail("%s: not compared: tshark exit %s: %s" % (name, oracle["tshark_rc"],
                                                            first_line(oracle["tshark_error"])))
            continue
        for k in agg:
            agg[k] += res[k]
        if res["mismatches"]:
            detail(text)

    if args.mode == "lab":
        print("golden lab: %d files in %.0f s" % (len(results), elapsed))
        if report:
            report.close()
        return 1 if failures else 0

    # Aggregate verdicts.
    match = agg["exact"] / agg["flows"] if agg["flows"] else 1.0
    init = agg["init_ok"] / agg["init_checked"] if agg["init_checked"] else 1.0
    summary = ("%d files (%d not compared: tshark could not read them), %d TCP + %d UDP "
               "conversations, %d address pairs of TCP/UDP frames without ports, "
               "%d extra netmoon records, %d conversations on unsupported link types, "
               "%d differing conversations contain frames tshark flags malformed; %.0f s" % (
                   len(results), len(skipped_files), agg["tcp"], agg["udp"], agg["portless"],
                   agg["extra"],
                   agg["not_compared"], agg["differ_malformed"], elapsed))
    print("golden shared: " + summary)
    detail("SUMMARY " + summary)
    for name, rc, msg in rejected:
        print("note: netmoon rejected %s (exit %d): %s" % (name, rc, msg))
    for name, rc, msg in skipped_files:
        print("note: tshark could not read %s (exit %s): %s" % (name, rc, msg))
    # The files with the most differing flows, to start debugging from.
    worst = sorted(((r[4]["flows"] - r[4]["exact"], label_of(args, r[0])) for r in results
                    if r[1]["tshark_rc"] == 0), reverse=True)
    worst = [w for w in worst if w[0] > 0][:15]
    if worst:
        print("most differing flows: " + ", ".join("%s (%d)" % (n, c) for c, n in worst))
    verdict = "PASS" if match >= args.min_match else "FAIL"
    failures += verdict == "FAIL"
    print("%s %s/match: %d/%d TCP/UDP flows exact (%.2f%%, need %.2f%%)" % (
        verdict, args.label, agg["exact"], agg["flows"], 100 * match, 100 * args.min_match))
    verdict = "PASS" if init >= args.min_initiator else "FAIL"
    failures += verdict == "FAIL"
    print("%s %s/initiator: %d/%d TCP connections with the SYN captured have src = SYN sender "
          "(%.2f%%, need %.2f%%; %d of the rest have no netmoon record at all)" % (
              verdict, args.label, agg["init_ok"], agg["init_checked"], 100 * init,
              100 * args.min_initiator, agg["init_missing"]))
    crashes = sum(1 for r in results if crashed(r[2]))
    if not crashes:
        print("PASS %s/no-crash: %d files" % (args.label, len(results)))
    if report:
        report.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
