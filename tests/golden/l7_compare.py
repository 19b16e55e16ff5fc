#!/usr/bin/env python3
"""tests/golden/l7_compare.py: netmoon's L7 fields against tshark's.

    l7_compare.py [--netmoon BIN] [--cache DIR] [--min-agree F] [--label L] FILE...

For every capture, tshark dissects it (TCP reassembly on, out-of-order
segments reassembled too) and gives, per TCP/UDP conversation, the first
value it shows of each field below; netmoon's JSON records are matched to
those conversations by protocol and the unordered pair of endpoints (the
5-tuple), taking for each field the earliest record of that tuple that has
it.  Each (conversation, field) that tshark has is one comparison:

    sni          tls.handshake.extensions_server_name (ClientHello frames)
    http_host    http.host           http_method  http.request.method
    http_path    http.request.uri    http_status  http.response.code
    dns_qname    dns.qry.name        dns_qtype    dns.qry.type
    dns_rcode    dns.flags.rcode of the first response
    dns_answers  dns.a, dns.aaaa, dns.cname, dns.ns, dns.ptr.domain_name,
                 dns.mx.mail_exchange of the first response, as a set, only
                 when it has no authority records and at most one additional
                 (the EDNS OPT), since tshark's fields do not say which
                 section a record came from
    ssh_client, ssh_server  ssh.protocol, by whether its sender is netmoon's src

HTTP over UDP (SSDP's M-SEARCH) is left out: netmoon parses HTTP/1.x on
TCP only.  A damaged file makes netmoon exit 1 after writing every record,
which is compared as usual.  Frames that carry an ICMP error are skipped (tshark dissects the quoted
packet's DNS; that is not a conversation).  Values netmoon has where tshark
has none are reported as netmoon-only, not failures: netmoon looks at
content on any port, tshark's HTTP and TLS dissectors mostly at well-known
ports.  One line per file ("PASS l7/<label>/<file>: n/n agree" or FAIL with
the differences above it) and a total; the exit status is 1 when the share
of agreeing comparisons over all files is below --min-agree.
"""
import argparse
import gzip
import hashlib
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tshark_flows import file_sha256, tshark_version  # noqa: E402

SEP = "\x1f"
FIELDS = [
    "frame.number", "frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
    "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport",
    "tls.handshake.type", "tls.handshake.extensions_server_name",
    "http.host", "http.request.method", "http.request.uri", "http.response.code",
    "dns.flags.response", "dns.qry.name", "dns.qry.type", "dns.flags.rcode",
    "dns.a", "dns.aaaa", "dns.cname", "dns.ns", "dns.ptr.domain_name", "dns.mx.mail_exchange",
    "dns.count.auth_rr", "dns.count.add_rr", "ssh.protocol",
]
COL = {f: i for i, f in enumerate(FIELDS)}
TSHARK_OPTS = ["-o", "tcp.desegment_tcp_streams:TRUE", "-o", "tcp.reassemble_out_of_order:TRUE",
               "-Y", "tls.handshake.type == 1 || http.request || http.response || dns || ssh.protocol"]
ANSWER_FIELDS = ["dns.a", "dns.aaaa", "dns.cname", "dns.ns", "dns.ptr.domain_name",
                 "dns.mx.mail_exchange"]


def tshark_rows(path, cache_dir):
    key = hashlib.sha256(json.dumps([file_sha256(path), tshark_version(), FIELDS, TSHARK_OPTS,
                                     "l7"]).encode()).hexdigest()
    cached = os.path.join(cache_dir, key[:2], key + ".l7.json.gz") if cache_dir else None
    if cached and os.path.exists(cached):
        with gzip.open(cached, "rt") as f:
            out = json.load(f)["out"]
    else:
        cmd = ["tshark", "-r", path] + TSHARK_OPTS + [
            "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
            "-E", "aggregator=" + SEP, "-E", "quote=n"]
        for f in FIELDS:
            cmd += ["-e", f]
        out = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                             timeout=300).stdout
        if cached:
            os.makedirs(os.path.dirname(cached), exist_ok=True)
            tmp = cached + ".%d.tmp" % os.getpid()
            with gzip.open(tmp, "wt") as f:
                json.dump({"file": path, "out": out}, f)
            os.replace(tmp, cached)
    rows = []
    for line in out.splitlines():
        r = line.split("\t")
        rows.append(r + [""] * (len(FIELDS) - len(r)))
    return rows


def vals(r, field):
    v = r[COL[field]]
    return v.split(SEP) if v else []


def last(r, field):
    v = vals(r, field)
    return v[-1] if v else ""


def frame_endpoints(r):
    """(proto, (src, sport), (dst, dport)) of the innermost TCP/UDP header."""
    layers = r[COL["frame.protocols"]].split(":")
    if "icmp" in layers or "icmpv6" in layers:
        return None
    proto = "tcp" if "tcp" in layers else "udp" if "udp" in layers else None
    if not proto:
        return None
    # The innermost IP header is the last one of either family in the layer list.
    fam = "ipv6" if max((i for i, l in enumerate(layers) if l == "ipv6"), default=-1) > \
        max((i for i, l in enumerate(layers) if l == "ip"), default=-1) else "ip"
    src, dst = last(r, fam + ".src"), last(r, fam + ".dst")
    sport, dport = last(r, proto + ".srcport"), last(r, proto + ".dstport")
    if not (src and dst and sport and dport):
        return None
    return proto, (src, int(sport)), (dst, int(dport))


def tshark_oracle(rows):
    """{key: {field: value}} with the first value of each field per conversation."""
    conv = {}
    for r in rows:
        ep = frame_endpoints(r)
        if not ep:
            continue
        proto, a, b = ep
        key = (proto, frozenset((a, b)))
        c = conv.setdefault(key, {})

        def first(field, value):
            if value and field not in c:
                c[field] = value

        if "1" in vals(r, "tls.handshake.type"):
            first("sni", (vals(r, "tls.handshake.extensions_server_name") or [""])[0])
        if proto == "tcp":   # HTTP over UDP (SSDP) is not HTTP/1.x as netmoon parses it
            first("http_host", (vals(r, "http.host") or [""])[0])
            first("http_method", (vals(r, "http.request.method") or [""])[0])
            first("http_path", (vals(r, "http.request.uri") or [""])[0])
            first("http_status", (vals(r, "http.response.code") or [""])[0])
        qname = (vals(r, "dns.qry.name") or [""])[0]
        if qname and qname != "<Root>":
            first("dns_qname", qname)
        first("dns_qtype", (vals(r, "dns.qry.type") or [""])[0])
        if (vals(r, "dns.flags.response") or ["0"])[0] in ("1", "True") and "dns_rcode" not in c:
            c["dns_rcode"] = (vals(r, "dns.flags.rcode") or [""])[0]
            auth = (vals(r, "dns.count.auth_rr") or ["0"])[0]
            add = (vals(r, "dns.count.add_rr") or ["0"])[0]
            answers = set(v for f in ANSWER_FIELDS for v in vals(r, f))
            if auth == "0" and add in ("0", "1") and len(answers) <= 16:
                c["dns_answers"] = answers or None
        for banner in vals(r, "ssh.protocol"):
            c.setdefault("ssh_by", {}).setdefault(a, banner)
    return conv


def netmoon_records(netmoon, path):
    p = subprocess.run([netmoon, "-r", path, "--json"], capture_output=True, timeout=600)
    recs = []
    for line in p.stdout.decode("latin-1").splitlines():
        d = json.loads(line)
        if d.get("type") == "flow" and d.get("proto") in ("tcp", "udp"):
            recs.append(d)
    recs.sort(key=lambda d: d["ts_start"])
    by_key = {}
    for d in recs:
        key = (d["proto"], frozenset(((d["src_ip"], d["src_port"]), (d["dst_ip"], d["dst_port"]))))
        by_key.setdefault(key, []).append(d)
    return p.returncode, by_key


def netmoon_value(records, field):
    for d in records:
        if field in d:
            v = d[field]
            return set(v) if isinstance(v, list) else str(v)
    return None


def compare_file(netmoon, path, cache):
    oracle = tshark_oracle(tshark_rows(path, cache))
    rc, nm = netmoon_records(netmoon, path)
    agree, total, only, diffs = 0, 0, 0, []
    for key, fields in oracle.items():
        recs = nm.get(key, [])
        expect = dict(fields)
        by = expect.pop("ssh_by", {})
        if recs and by:
            src = (recs[0]["src_ip"], recs[0]["src_port"])
            for ep, banner in by.items():
                expect["ssh_client" if ep == src else "ssh_server"] = banner
        for field, want in expect.items():
            got = netmoon_value(recs, field)
            total += 1
            if got == want or (field == "http_path" and isinstance(got, str) and
                               len(got) >= 64 and want.startswith(got)):
                agree += 1   # a path cut to fit the record's text area counts as equal
            else:
                diffs.append("  %s %s: %s: tshark %r, netmoon %r" % (
                    key[0], " ".join("%s:%d" % e for e in sorted(key[1])), field, want, got))
    for key, recs in nm.items():
        for field in ("sni", "http_host", "dns_qname"):
            if field not in oracle.get(key, {}) and netmoon_value(recs, field) is not None:
                only += 1
    return rc, agree, total, only, diffs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--netmoon", default="./netmoon")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--min-agree", type=float, default=1.0)
    ap.add_argument("--label", default="lab")
    args = ap.parse_args()
    agree = total = only = 0
    failed = False
    for path in args.files:
        rc, a, t, o, diffs = compare_file(args.netmoon, path, args.cache)
        agree, total, only = agree + a, total + t, only + o
        name = "l7/%s/%s" % (args.label, os.path.basename(path))
        for d in diffs[:20]:
            print(d)
        if rc not in (0, 1):   # 1: a damaged file, whose records are still written
            print("FAIL %s: netmoon exited with status %d" % (name, rc))
            failed = True
        elif t == 0:
            print("SKIP %s: tshark shows none of the compared fields" % name)
        else:
            print("%s %s: %d/%d agree, %d netmoon-only names" % (
                "INFO" if diffs and args.min_agree < 1.0 else "FAIL" if diffs else "PASS",
                name, a, t, o))
            failed |= bool(diffs) and args.min_agree >= 1.0
    rate = agree / total if total else 0.0
    ok = total > 0 and rate >= args.min_agree and not failed
    print("%s l7/%s: %d/%d field values agree with tshark (%.1f%%, needed %.1f%%), "
          "%d names only netmoon found" % ("PASS" if ok else "FAIL", args.label, agree, total,
                                            100 * rate, 100 * args.min_agree, only))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
