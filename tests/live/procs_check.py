#!/usr/bin/env python3
"""tests/live/procs_check.py: checks netmoon's process attribution against
what tests/live/test_procs.sh itself started.

Usage: procs_check.py FLOWS.jsonl EXPECT.tsv

EXPECT.tsv has one line per client process the test started:
    kind  proto  local_port  pid  comm
(kind: curl, dig, curl6, mapped, long), all known to the test from `$!`
and from the client's own report of its local port, never from netmoon.

Prints one line per kind with right/total, and a summary line
    short-lived: R of N right (P %)
for the curl and dig processes; exits 0.  The caller decides the bar.
"""
import json
import sys


def load_flows(path):
    flows = []
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("type") == "flow":
                flows.append(rec)
    return flows


def main():
    flows = load_flows(sys.argv[1])
    by_kind = {}
    wrong = []
    with open(sys.argv[2]) as f:
        for line in f:
            kind, proto, port, pid, comm = line.split()
            port, pid = int(port), int(pid)
            # The client's flow: its local port on the client address side.
            recs = [r for r in flows if r.get("proto") == proto and
                    (r.get("src_port") == port or r.get("dst_port") == port)]
            ok = bool(recs) and all(r.get("pid") == pid and r.get("process") == comm
                                   for r in recs)
            right, total = by_kind.get(kind, (0, 0))
            by_kind[kind] = (right + ok, total + 1)
            if not ok:
                got = [(r.get("pid"), r.get("process")) for r in recs] or "no flow"
                wrong.append(f"{kind} {proto} port {port}: want pid {pid} {comm}, got {got}")
    for kind, (right, total) in sorted(by_kind.items()):
        print(f"{kind}: {right} of {total} right")
    short = [by_kind.get(k, (0, 0)) for k in ("curl", "dig")]
    right, total = sum(r for r, _ in short), sum(t for _, t in short)
    pct = 100.0 * right / total if total else 0.0
    for w in wrong[:20]:
        print("  wrong:", w)
    print(f"short-lived: {right} of {total} right ({pct:.1f} %)")


if __name__ == "__main__":
    main()
