#!/usr/bin/env python3
"""tests/golden/gap_compare.py: netmoon's missed_bytes and g/G history
letters against the sequence-space holes in tshark's own numbers.

    gap_compare.py --netmoon BIN --islands N [--label L] [--cache DIR]
                   [--details N] [--min-flagged N] FILE_OR_DIR...

The oracle is tshark: per TCP frame its tcp.stream, endpoints, tcp.seq_raw,
tcp.ack_raw, tcp.len, SYN/ACK/FIN/RST flags, and its own verdicts
tcp.analysis.lost_segment ("previous segment not captured") and
tcp.analysis.ack_lost_segment ("ACKed segment that wasn't captured").
From those numbers this script computes, frame by frame, what Zeek's
content-gap rule (base/protocols/conn/main.zeek content_gap; the TCP
reassembler's Undelivered) makes of the connection:

* a gap is a run of sequence space below an ACK that no earlier segment of
  the other side covered, the ACK stopping at that side's FIN; each run is
  one gap, its length adds to missed_bytes;
* gaps count only while the connection is established or closing cleanly:
  tshark saw the SYN and the SYN-ACK, and no RST yet (Zeek's default
  report_gaps_for_partial=F), so only such connections are compared;
* history has G (originator's data) / g (responder's) once at the 1st,
  10th, 100th ... gap.

Checked per connection: missed_bytes equal, the number of G and g letters
equal; where tshark's segments left more separate runs of data above a
hole at once than netmoon keeps (--islands), netmoon merges the closest
two, so there missed_bytes may only be lower and each direction with a gap
must still have its letter; and, against tshark's flags, that every connection with a gap has a
lost_segment or ack_lost_segment frame (a flagged connection without a gap
is a hole the capture saw filled later: real loss before the capture
point, retransmitted).  Pairing as in tcp_compare.py (endpoints, then time
order); a pair netmoon split into more records than tshark has streams is
left out and counted.  Prints PASS/FAIL lines; exits 1 on FAIL.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tcp_compare import (cached, first, golden_files, golden_runs, last, pair_groups,  # noqa: E402
                         run_tshark, truthy)

FIELDS = ["frame.time_epoch", "tcp.stream", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst",
          "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.len",
          "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset",
          "tcp.analysis.lost_segment", "tcp.analysis.ack_lost_segment"]
C = {f: i for i, f in enumerate(FIELDS)}
M32 = 1 << 32
MAX_AHEAD = 1 << 30


class Dir:
    """One direction's sequence space, relative to its SYN (seq 0)."""

    def __init__(self):
        self.isn = None
        self.covered = []        # merged [start, end) seen, relative
        self.upto = 1            # everything below is seen or given up
        self.fin = None
        self.gaps = 0
        self.missed = 0
        self.most_islands = 0    # data runs seen above a hole at once

    def rel(self, raw):
        """Signed distance from the SYN: a segment from before it is negative."""
        return (raw - self.isn + (1 << 31)) % M32 - (1 << 31)

    def holes_in_flight(self):
        edge, n = self.upto, 0
        for a, b in self.covered:
            if a <= edge:
                edge = max(edge, b)
            else:
                n += 1
        return n

    def cover(self, s, e):
        out, placed = [], False
        for a, b in self.covered:
            if b < s:
                out.append([a, b])
            elif e < a:
                if not placed:
                    out.append([s, e])
                    placed = True
                out.append([a, b])
            else:
                s, e = min(a, s), max(b, e)
        if not placed:
            out.append([s, e])
        self.covered = sorted(out)
        self.most_islands = max(self.most_islands, self.holes_in_flight())

    def ack(self, ack, counting):
        if self.fin is not None and ack > self.fin:
            ack = self.fin
        if ack <= self.upto or ack - self.upto > MAX_AHEAD:
            return
        pos = self.upto
        for a, b in self.covered:
            if b <= pos:
                continue
            if a >= ack:
                break
            if a > pos and counting:
                self.gaps += 1
                self.missed += a - pos
            pos = max(pos, b)
            if pos >= ack:
                break
        if pos < ack and counting:
            self.gaps += 1
            self.missed += ack - pos
        self.upto = max(ack, self.upto)


def oracle_stream(frames):
    """frames: (src_ep, seq, ack, len, syn, ack_f, fin, rst, flagged) in order."""
    eps, dirs = [], {}
    syn_from = synack_from = None
    rst = False
    flagged = False
    for ep, seq, ack, ln, syn, ackf, fin, rs, fl in frames:
        flagged |= fl
        if ep not in dirs:
            eps.append(ep)
            dirs[ep] = Dir()
        d = dirs[ep]
        if syn and not ackf and syn_from is None:
            syn_from, d.isn = ep, seq
        if syn and ackf and syn_from is not None and ep != syn_from and synack_from is None:
            synack_from, d.isn = ep, seq
        if rs:
            rst = True
            continue
        if synack_from is None or d.isn is None:
            continue
        clean = not rst
        s = d.rel(seq) + (1 if syn else 0)
        if ln and d.upto - MAX_AHEAD < s < d.upto + MAX_AHEAD:
            d.cover(s, s + ln)
        if fin:
            d.fin = s + ln    # the latest FIN, as Zeek's FIN_seq
        peer = [e for e in dirs if e != ep]
        if ackf and peer and dirs[peer[0]].isn is not None:
            p = dirs[peer[0]]
            p.ack(p.rel(ack), clean)
    if syn_from is None or synack_from is None:
        return None
    o, r = dirs[syn_from], dirs[synack_from]
    return {"orig": list(syn_from), "missed": o.missed + r.missed,
            "gaps": [o.gaps, r.gaps], "flagged": flagged,
            "islands": max(o.most_islands, r.most_islands)}


def oracle(path, cache):
    return cached(path, cache, __file__, "gap-", tshark_streams)


def tshark_streams(path):
    rows, rc = run_tshark(path, FIELDS, ["-o", "tcp.desegment_tcp_streams:FALSE"])
    streams = {}
    for r in rows:
        r += [""] * (len(FIELDS) - len(r))
        st = first(r[C["tcp.stream"]])
        sp, dp = first(r[C["tcp.srcport"]]), first(r[C["tcp.dstport"]])
        seq, ack, ln = first(r[C["tcp.seq_raw"]]), first(r[C["tcp.ack_raw"]]), first(r[C["tcp.len"]])
        if not (st.isdigit() and sp.isdigit() and dp.isdigit() and seq.isdigit() and ln.isdigit()):
            continue
        src = last(r[C["ip.src"]]) or last(r[C["ipv6.src"]])
        dst = last(r[C["ip.dst"]]) or last(r[C["ipv6.dst"]])
        s = streams.setdefault(st, {"ts": float(first(r[C["frame.time_epoch"]]) or 0),
                                    "a": [src, int(sp)], "b": [dst, int(dp)], "frames": []})
        s["frames"].append(((src, int(sp)), int(seq), int(ack) if ack.isdigit() else 0, int(ln),
                            truthy(r[C["tcp.flags.syn"]]), truthy(r[C["tcp.flags.ack"]]),
                            truthy(r[C["tcp.flags.fin"]]), truthy(r[C["tcp.flags.reset"]]),
                            bool(r[C["tcp.analysis.lost_segment"]] or
                                 r[C["tcp.analysis.ack_lost_segment"]])))
    out = []
    for k in sorted(streams, key=int):
        s = streams[k]
        res = oracle_stream(s["frames"])
        out.append({"ts": s["ts"], "a": s["a"], "b": s["b"], "res": res})
    return {"rc": rc, "streams": out}


def scaled_letters(n):
    """Zeek's ScaledHistoryEntry: a letter at the 1st, 10th, 100th ... event."""
    k, t = 0, 1
    while n >= t:
        k, t = k + 1, t * 10
    return k


class Tally:
    def __init__(self):
        self.conns = self.ok = self.with_gap = self.flagged = self.filled = 0
        self.unflagged_gap = self.split = self.missed_n = self.missed_t = 0
        self.bounded = 0
        self.islands = 0
        self.details = []


def compare_file(path, orc, flows, t, ndetails):
    for ss, fs in pair_groups(orc["streams"], flows):
        if len(fs) > len(ss):
            t.split += sum(1 for s in ss if s["res"])
            continue
        for s, f in zip(ss, fs):
            if s["res"]:
                compare_conn(path, s["res"], f, t, ndetails)


def compare_conn(path, res, f, t, ndetails):
    t.conns += 1
    gaps = res["gaps"] if [f["src_ip"], f["src_port"]] == res["orig"] else res["gaps"][::-1]
    hist = f.get("history", "")
    got = [hist.count("G"), hist.count("g")]
    want = [scaled_letters(gaps[0]), scaled_letters(gaps[1])]
    n = f.get("missed_bytes", 0)
    t.missed_n += n
    t.missed_t += res["missed"]
    t.with_gap += sum(gaps) > 0
    t.flagged += res["flagged"]
    t.filled += res["flagged"] and sum(gaps) == 0
    t.unflagged_gap += sum(gaps) > 0 and not res["flagged"]
    if res["islands"] > t.islands:
        # More runs above a hole than netmoon keeps: the closest merge, so
        # bytes may only be undercounted and every direction with a gap
        # still shows its letter.
        t.bounded += 1
        if n <= res["missed"] and [g > 0 for g in got] == [w > 0 for w in want]:
            t.ok += 1
            return
    elif n == res["missed"] and got == want:
        t.ok += 1
        return
    if len(t.details) < ndetails:
        t.details.append("%s %s:%s>%s:%s: missed_bytes %d, G/g %s; expected %d, G/g %s (gaps %s)" % (
            os.path.basename(path), f["src_ip"], f["src_port"], f["dst_ip"], f["dst_port"],
            n, got, res["missed"], want, gaps))


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--netmoon", required=True)
    ap.add_argument("--label", default="golden/tcp_gaps")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--details", type=int, default=20)
    ap.add_argument("--islands", type=int, required=True,
                    help="runs of data above a hole netmoon keeps per direction (TCP_GAP_ISLANDS)")
    ap.add_argument("--min-flagged", type=int, default=0,
                    help="fail unless at least this many compared connections have gaps")
    args = ap.parse_args(argv[1:])
    files = golden_files(args)
    if not files:
        return 0
    t = Tally()
    t.islands = args.islands
    for path, orc, flows in golden_runs(files, args, oracle):
        compare_file(path, orc, flows, t, args.details)
    for d in t.details:
        print("  " + d)
    summary = ("%d files, %d connections with a handshake compared (%d left out: split records); "
               "%d with gaps, missed_bytes total netmoon %d / tshark-derived %d; "
               "%d flagged by tshark, of which %d holes filled later; "
               "%d with more than %d data runs above a hole at once (bytes may undercount)" % (
                   len(files), t.conns, t.split, t.with_gap, t.missed_n, t.missed_t,
                   t.flagged, t.filled, t.bounded, t.islands))
    fails = []
    if t.ok != t.conns:
        fails.append("%d/%d connections disagree" % (t.conns - t.ok, t.conns))
    if t.unflagged_gap:
        fails.append("%d connections with a gap tshark did not flag (oracle arithmetic?)" %
                     t.unflagged_gap)
    if t.with_gap < args.min_flagged:
        fails.append("only %d connections with gaps (< %d): the captures test nothing" %
                     (t.with_gap, args.min_flagged))
    if fails:
        print("FAIL %s: %s" % (args.label, "; ".join(fails)))
        return 1
    print("PASS %s: %d/%d connections agree; %s" % (args.label, t.ok, t.conns, summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
