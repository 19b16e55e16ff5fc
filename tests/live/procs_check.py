#!/usr/bin/env python3
"""tests/live/procs_check.py: checks netmoon's process attribution against
what tests/live/test_procs.sh itself started.

Usage: procs_check.py FLOWS.jsonl EXPECT.tsv

EXPECT.tsv has one line per client process the test started:
    kind  proto  local_port  pid  comm  server
(kind: curl, dig, curl6, mapped, refused, long; server: ADDR:PORT or
[ADDR6]:PORT), all known to the test from `$!`, from what it asked the
client to reach and from the client's own report of its local port, never
from netmoon.  A client's flow is the one with that protocol, server
address and port, and local port: a port number alone may belong to two
clients (the kernel chooses the same ephemeral port for two different
servers).

Prints one line per kind, "KIND: R of N right, M missed, W wrong" (missed:
no owner in the record; wrong: another process named), and a summary line
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


def split_server(server):
    """'198.18.0.2:80' or '[2001:db8::2]:80' -> (address, port)."""
    addr, _, port = server.rpartition(":")
    return addr.strip("[]"), int(port)


def is_client_flow(rec, port, srv_addr, srv_port):
    """The record is the client's flow in either orientation."""
    fwd = (rec.get("dst_ip"), rec.get("dst_port"), rec.get("src_port"))
    rev = (rec.get("src_ip"), rec.get("src_port"), rec.get("dst_port"))
    want = (srv_addr, srv_port, port)
    return fwd == want or rev == want


def main():
    flows = load_flows(sys.argv[1])
    by_kind = {}
    wrong_notes, missed_notes = [], []
    with open(sys.argv[2]) as f:
        for line in f:
            kind, proto, port, pid, comm, server = line.split()
            port, pid = int(port), int(pid)
            srv_addr, srv_port = split_server(server)
            recs = [r for r in flows if r.get("proto") == proto and
                    is_client_flow(r, port, srv_addr, srv_port)]
            right, missed, wrong = by_kind.get(kind, (0, 0, 0))
            owners = [(r.get("pid"), r.get("process")) for r in recs]
            if recs and all(o == (pid, comm) for o in owners):
                right += 1
            elif any(o[0] is not None and o != (pid, comm) for o in owners):
                wrong += 1
                wrong_notes.append(f"wrong: {kind} {proto} port {port} to {server}: "
                                   f"want pid {pid} {comm}, got {owners}")
            else:
                missed += 1
                missed_notes.append(f"missed: {kind} {proto} port {port} to {server} "
                                    f"(pid {pid} {comm}): {'no owner' if recs else 'no flow'}")
            by_kind[kind] = (right, missed, wrong)
    for kind, (right, missed, wrong) in sorted(by_kind.items()):
        print(f"{kind}: {right} of {right + missed + wrong} right, {missed} missed, {wrong} wrong")
    # Every wrong owner (a matching bug), then the first misses (timing).
    for n in wrong_notes + missed_notes[:20]:
        print("  " + n)
    short = [by_kind.get(k, (0, 0, 0)) for k in ("curl", "dig")]
    right = sum(r for r, _, _ in short)
    total = sum(r + m + w for r, m, w in short)
    pct = 100.0 * right / total if total else 0.0
    print(f"short-lived: {right} of {total} right ({pct:.1f} %)")


if __name__ == "__main__":
    main()
