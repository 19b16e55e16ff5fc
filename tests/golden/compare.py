#!/usr/bin/env python3
"""tests/golden/compare.py: netmoon's flow records against the tshark oracle.

    compare.py PCAP NETMOON_JSONL [--min-match F] [--min-initiator F]
               [--idle-timeout S] [--close-timeout S] [--max-details N]
               [--cache DIR]

Reads netmoon's JSON lines (the output of `netmoon -r PCAP --json`), builds
the oracle with tshark_flows.py, and prints per file: the number of TCP and
UDP conversations, how many netmoon matched exactly (packets AND bytes in
each direction), and, for TCP connections whose SYN was captured, how many
netmoon gave the SYN sender as src.  Every difference is printed with the
numbers on both sides.  Exit status 0 when both rates reach their minimum
(default 1.0, i.e. 100 %), 1 otherwise, 2 on bad input.

Library use (golden_run.py): parse_netmoon(), compare(), format_result().

Matching rules (why each):
* A netmoon record belongs to an oracle conversation with the same
  transport and the same two (address, port) endpoints in either
  orientation, a compatible VLAN (see vlan_compatible), and an overlapping
  time span (records are µs-rounded, so spans are widened by TIME_TOL).
  With port reuse the same tuple has several conversations; time decides.
* One conversation may have several records only when netmoon split it for
  idleness: each record before the last ended with end_reason "idle" and
  the next one starts more than --idle-timeout seconds later (packet time),
  or ended "fin" or "rst" (a closed TCP connection) with the next one
  starting more than --close-timeout seconds later (netmoon's wait for late
  packets; tshark keeps such late packets in the same stream), or ended
  with "active" (an interim record; unless --no-active).  Files
  whose timestamps go backwards get a count-based check (check_split).
  Their counts are then summed per endpoint (not per src/dst: a record
  after an idle split may pick the other side as src mid-stream).
* Exact = for both endpoints, packets and bytes equal the oracle's.
  Bytes are frame lengths on the wire in both (tshark frame.len).
* Initiator: for TCP conversations where tshark saw a SYN without ACK, the
  first record's src must be the sender of that SYN (a conversation netmoon
  has no record for counts as wrong; how many of those is reported apart).
* TCP/UDP frames whose ports cannot be known (transport header cut short,
  IPv4 non-first fragments whose first fragment is not in the file): the
  oracle sums them per protocol and address pair; netmoon reports them in
  records marked "ports_unknown".  Each such pair counts as one flow, exact
  when netmoon's ports_unknown records for it hold the same packets and
  bytes.
* Records that match no conversation are "extra" and count as differing
  flows: rate = exact / (conversations + address pairs + extra records).
* Conversations on link types netmoon does not implement (LINKTYPES below,
  from src/decode/decode.h) are left out and counted as not compared.
"""
import argparse
import ipaddress
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshark_flows  # noqa: E402

# The link types netmoon's decoder implements (src/decode/decode.h,
# enum nm_linktype plus the old DLT_RAW values 12 and 14).
LINKTYPES = {0, 1, 101, 108, 113, 228, 229, 276, 12, 14}

# ts values are printed with µs precision; pcaps may carry ns.
TIME_TOL = 2e-6

FLOW_FIELDS = ("ts_start", "ts_end", "proto", "src_ip", "src_port", "dst_ip", "dst_port",
               "src_pkts", "src_bytes", "dst_pkts", "dst_bytes", "end_reason")


def norm_ip(s):
    try:
        return ipaddress.ip_address(str(s)).compressed
    except ValueError:
        return str(s)


def norm_proto(p):
    return {6: "tcp", 17: "udp", "6": "tcp", "17": "udp"}.get(p, p)


def parse_netmoon(text):
    """Parses JSON lines.  Returns (flows, problems): flows are the TCP/UDP
    flow records (normalised), problems a list of strings describing lines
    that are not valid JSON objects or flow records missing fields."""
    flows, problems = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            problems.append("line %d is not JSON (%s): %.120s" % (n, e, line))
            continue
        if not isinstance(obj, dict) or "type" not in obj:
            problems.append("line %d is not an object with a type: %.120s" % (n, line))
            continue
        if obj["type"] != "flow":
            continue
        missing = [f for f in FLOW_FIELDS if f not in obj]
        if missing:
            problems.append("line %d: flow without %s" % (n, ", ".join(missing)))
            continue
        proto = norm_proto(obj["proto"])
        if proto not in ("tcp", "udp"):
            continue
        try:
            vlan = obj.get("vlan")
            flows.append({
                "line": n, "proto": proto,
                "src": (norm_ip(obj["src_ip"]), int(obj["src_port"])),
                "dst": (norm_ip(obj["dst_ip"]), int(obj["dst_port"])),
                "src_pkts": int(obj["src_pkts"]), "src_bytes": int(obj["src_bytes"]),
                "dst_pkts": int(obj["dst_pkts"]), "dst_bytes": int(obj["dst_bytes"]),
                "ts_start": float(obj["ts_start"]), "ts_end": float(obj["ts_end"]),
                "end_reason": obj["end_reason"],
                "ports_unknown": obj.get("ports_unknown") is True,
                "vlan": int(vlan) if vlan not in (None, "") else None,
                "raw": line,
            })
        except (TypeError, ValueError) as e:
            problems.append("line %d: bad flow field value (%s)" % (n, e))
    return flows, problems


def vlan_compatible(conv_vlans, rec_vlan):
    """VLAN ID 0 is a priority tag, not a VLAN (IEEE 802.1Q): treated as
    untagged on both sides.  With two tags (QinQ) either may be reported."""
    tags = [v for v in conv_vlans if v != 0]
    if rec_vlan in (None, 0):
        return not tags
    return rec_vlan in tags


def ends_key(proto, e1, e2):
    return (proto,) + tuple(sorted([tuple(e1), tuple(e2)]))


def overlap(rec, conv):
    lo = max(rec["ts_start"], conv["first_ts"] - TIME_TOL)
    hi = min(rec["ts_end"], conv["last_ts"] + TIME_TOL)
    return hi - lo


def fmt_conv(c):
    return "%s %s:%s <-> %s:%s%s (tshark %s.stream %s, frames %s-%s)" % (
        c["proto"], c["a"][0], c["a"][1], c["b"][0], c["b"][1],
        " vlan " + ",".join(map(str, c["vlans"])) if c["vlans"] else "",
        c["proto"], c["stream"], c["first_frame"], c["last_frame"])


def fmt_rec(r):
    return "src %s:%s dst %s:%s src %d/%d dst %d/%d pkts/bytes, %.6f-%.6f, end %s%s" % (
        r["src"][0], r["src"][1], r["dst"][0], r["dst"][1], r["src_pkts"], r["src_bytes"],
        r["dst_pkts"], r["dst_bytes"], r["ts_start"], r["ts_end"], r["end_reason"],
        ", vlan %s" % r["vlan"] if r["vlan"] is not None else "")


CLOSED_ENDS = ("fin", "rst")


def check_split(c, recs, timeouts, allow_active, disordered):
    """Problems with a conversation netmoon reported as several records.

    timeouts: (idle, close) in seconds.  Packet clock in order: every record
    but the last must end "idle" with the next one starting more than the
    idle timeout later, "fin"/"rst" with the next one more than the close
    timeout later, or end "active".
    Timestamps that go backwards somewhere in the file (fuzzed captures):
    record spans say little about where the gap was, so instead the number
    of idle splits must not exceed the number of idle gaps the oracle saw in
    this conversation, measured against the file's running clock, and every
    record but one must end "idle" or "active"."""
    problems = []
    idle_timeout, close_timeout = timeouts
    if disordered:
        idle = sum(1 for r in recs if r["end_reason"] == "idle")
        closed = sum(1 for r in recs[:-1] if r["end_reason"] in CLOSED_ENDS)
        active = sum(1 for r in recs if r["end_reason"] == "active") if allow_active else 0
        gaps = sum(1 for g in c["long_gaps"] if g > idle_timeout - TIME_TOL)
        if idle + closed + active < len(recs) - 1 or idle > gaps:
            problems.append("split into %d records (%d ended idle) but tshark's packets show %d "
                            "idle gaps (timestamps out of order in this file)" % (len(recs), idle, gaps))
        return problems
    for prev, cur in zip(recs, recs[1:]):
        gap = cur["ts_start"] - prev["ts_end"]
        if prev["end_reason"] == "idle" and gap > idle_timeout - TIME_TOL:
            continue
        if prev["end_reason"] in CLOSED_ENDS and gap > close_timeout - TIME_TOL:
            continue
        if prev["end_reason"] == "active" and allow_active:
            continue
        problems.append("split without an idle gap: record ending %.6f (%s) then one "
                        "starting %.6f (gap %.3f s)" % (prev["ts_end"], prev["end_reason"],
                                                       cur["ts_start"], gap))
    return problems


def compare_portless(oracle, recs, res, linktypes):
    """Matches netmoon's ports_unknown records to the oracle's port-less
    frames by protocol and address pair (records split on idle are summed).
    Updates res; returns the records that match nothing (extras)."""
    by_pair = {}
    for r in recs:
        by_pair.setdefault((r["proto"],) + tuple(sorted([r["src"][0], r["dst"][0]])), []).append(r)
    for g in oracle.get("portless", []):
        if not all(lt in linktypes for lt in g["linktypes"]):
            res["not_compared"] += 1
            continue
        key = (g["proto"],) + tuple(sorted(norm_ip(a) for a in g["ends"]))
        mine = by_pair.pop(key, [])
        res["portless"] += 1
        pkts = sum(r["src_pkts"] + r["dst_pkts"] for r in mine)
        nbytes = sum(r["src_bytes"] + r["dst_bytes"] for r in mine)
        if pkts == g["pkts"] and nbytes == g["bytes"]:
            res["exact"] += 1
            continue
        res["mismatches"].append({
            "conv": "%s %s <-> %s, frames without ports" % (g["proto"], g["ends"][0], g["ends"][1]),
            "problems": ["ports unknown: tshark %d/%d, netmoon %d/%d (pkts/bytes)"
                         % (g["pkts"], g["bytes"], pkts, nbytes)],
            "info": [], "records": [fmt_rec(r) for r in mine[:4]]})
    return [r for rs in by_pair.values() for r in rs]


def compare(oracle, flows, idle_timeout=60.0, allow_active=True, linktypes=LINKTYPES,
            close_timeout=5.0):
    """Returns a result dict: counts and a list of mismatch descriptions."""
    res = {"tcp": 0, "udp": 0, "portless": 0, "exact": 0, "init_checked": 0, "init_ok": 0,
           "extra": 0, "not_compared": 0, "records": len(flows), "mismatches": [],
           "differ_malformed": 0, "init_missing": 0}
    convs = []
    for c in oracle["conversations"]:
        c = dict(c)
        c["a"] = (norm_ip(c["a"][0]), int(c["a"][1]))
        c["b"] = (norm_ip(c["b"][0]), int(c["b"][1]))
        c["compared"] = all(lt in linktypes for lt in c["linktypes"])
        c["records"] = []
        c["notes"] = []
        convs.append(c)
    by_key = {}
    for c in convs:
        by_key.setdefault(ends_key(c["proto"], c["a"], c["b"]), []).append(c)

    extras = compare_portless(oracle, [r for r in flows if r["ports_unknown"]], res, linktypes)
    for r in flows:
        if r["ports_unknown"]:
            continue
        cands = by_key.get(ends_key(r["proto"], r["src"], r["dst"]), [])
        timely = [c for c in cands if overlap(r, c) >= 0]
        good = [c for c in timely if vlan_compatible(c["vlans"], r["vlan"])]
        pick = good or timely
        if not pick:
            extras.append(r)
            continue
        best = max(pick, key=lambda c: (overlap(r, c), -abs(c["first_ts"] - r["ts_start"])))
        best["records"].append(r)
        if not good:
            best["notes"].append("VLAN differs: netmoon %s, tshark %s" % (r["vlan"], best["vlans"]))
        if len(pick) > 1:
            others = [c["stream"] for c in pick if c is not best and overlap(r, c) > TIME_TOL]
            if others:
                best["notes"].append("netmoon record (line %d) also spans tshark stream(s) %s"
                                     % (r["line"], ",".join(map(str, others))))

    disordered = oracle["totals"].get("time_backwards", 0) > 0
    for c in convs:
        if not c["compared"]:
            res["not_compared"] += 1
            continue
        res[c["proto"]] += 1
        recs = sorted(c["records"], key=lambda r: r["ts_start"])
        problems = list(c["notes"])
        # Initiator first: it needs only the first record.
        if c["proto"] == "tcp" and c["syn_sender"]:
            res["init_checked"] += 1
            want = c[c["syn_sender"]]
            if recs and recs[0]["src"] == want:
                res["init_ok"] += 1
            elif not recs:
                res["init_missing"] += 1
            else:
                problems.append("initiator: netmoon src %s:%s, SYN sent by %s:%s (frame %s)" % (
                    recs[0]["src"][0], recs[0]["src"][1], want[0], want[1], c["syn_frame"]))
        if not recs:
            problems.append("missing: no netmoon record")
        if len(recs) > 1:
            problems += check_split(c, recs, (idle_timeout, close_timeout), allow_active, disordered)
        got = {"a_pkts": 0, "a_bytes": 0, "b_pkts": 0, "b_bytes": 0}
        for r in recs:
            if r["src"] == c["a"] and r["dst"] == c["b"]:
                s, d = "a", "b"
            else:
                s, d = "b", "a"
            got[s + "_pkts"] += r["src_pkts"]
            got[s + "_bytes"] += r["src_bytes"]
            got[d + "_pkts"] += r["dst_pkts"]
            got[d + "_bytes"] += r["dst_bytes"]
        if recs:
            diff = [k for k in got if got[k] != c[k]]
            if diff:
                problems.append("counts: tshark a %d/%d b %d/%d, netmoon a %d/%d b %d/%d (pkts/bytes)" % (
                    c["a_pkts"], c["a_bytes"], c["b_pkts"], c["b_bytes"],
                    got["a_pkts"], got["a_bytes"], got["b_pkts"], got["b_bytes"]))
        only_init = problems and all(p.startswith("initiator") for p in problems)
        if not problems or only_init:
            res["exact"] += 1
        if problems:
            extra_info = []
            if c["frag_nonfirst"]:
                extra_info.append("%d non-first fragments (%d before their first)" % (
                    c["frag_nonfirst"], c["frag_before_first"]))
            if any(sum(l in ("ip", "ipv6") for l in e.split(":")) > 1 for e in c["encaps"]) or \
                    any(x in e for e in c["encaps"] for x in ("gre", "vxlan", "geneve", "gtp", "teredo", "l2tp")):
                extra_info.append("tunnel %s" % "|".join(c["encaps"]))
            if c.get("malformed"):
                extra_info.append("tshark flags %d of its frames malformed" % c["malformed"])
                res["differ_malformed"] += 1
            if c["linktypes"] != [1]:
                extra_info.append("linktype %s" % c["linktypes"])
            if not c["syn_sender"] and c["proto"] == "tcp":
                extra_info.append("no SYN captured" + (", SYN-ACK seen" if c["synack_seen"] else ""))
            res["mismatches"].append({
                "conv": fmt_conv(c), "problems": problems, "info": extra_info,
                "records": [fmt_rec(r) for r in recs[:4]]})
    for r in extras:
        res["extra"] += 1
        res["mismatches"].append({"conv": "no tshark conversation", "problems":
                                  ["extra: netmoon record (line %d) %s %s" % (r["line"], r["proto"], fmt_rec(r))],
                                  "info": [], "records": []})
    total = res["tcp"] + res["udp"] + res["portless"] + res["extra"]
    res["flows"] = total
    res["match_rate"] = res["exact"] / total if total else 1.0
    res["init_rate"] = res["init_ok"] / res["init_checked"] if res["init_checked"] else 1.0
    return res


def format_result(name, res, max_details=20):
    lines = ["%s: tcp %d udp %d conversations, %d port-less address pairs, %d/%d flows exact (%.2f%%), initiator %d/%d "
             "(%d without a record), %d extra netmoon records, %d not compared (link type), "
             "%d netmoon TCP/UDP records" % (
                 name, res["tcp"], res["udp"], res["portless"], res["exact"], res["flows"], 100 * res["match_rate"],
                 res["init_ok"], res["init_checked"], res["init_missing"], res["extra"],
                 res["not_compared"], res["records"])]
    for m in res["mismatches"][:max_details]:
        lines.append("  differs: %s" % m["conv"])
        for p in m["problems"]:
            lines.append("      %s" % p)
        if m["info"]:
            lines.append("      (%s)" % "; ".join(m["info"]))
        for r in m["records"]:
            lines.append("      netmoon: %s" % r)
    if len(res["mismatches"]) > max_details:
        lines.append("  ... %d more" % (len(res["mismatches"]) - max_details))
    return "\n".join(lines)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pcap")
    ap.add_argument("netmoon_jsonl")
    ap.add_argument("--min-match", type=float, default=1.0)
    ap.add_argument("--min-initiator", type=float, default=1.0)
    ap.add_argument("--idle-timeout", type=float, default=60.0)
    ap.add_argument("--close-timeout", type=float, default=5.0)
    ap.add_argument("--no-active", action="store_true", help="do not accept 'active' interim splits")
    ap.add_argument("--max-details", type=int, default=50)
    ap.add_argument("--cache", default=None, help="oracle cache directory")
    a = ap.parse_args(argv[1:])
    try:
        with open(a.netmoon_jsonl) as f:
            flows, problems = parse_netmoon(f.read())
    except OSError as e:
        print("compare: %s" % e, file=sys.stderr)
        return 2
    oracle = tshark_flows.oracle_for(a.pcap, cache_dir=a.cache)
    for p in problems:
        print("bad output: %s" % p)
    res = compare(oracle, flows, idle_timeout=a.idle_timeout, allow_active=not a.no_active,
                  close_timeout=a.close_timeout)
    print(format_result(a.pcap, res, a.max_details))
    ok = res["match_rate"] >= a.min_match and res["init_rate"] >= a.min_initiator and not problems
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
