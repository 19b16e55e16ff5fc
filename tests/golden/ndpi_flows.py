#!/usr/bin/env python3
"""tests/golden/ndpi_flows.py: nDPI's ndpiReader as a second, independent
flow oracle (the first is tshark, tshark_flows.py).

    ndpi_flows.py FILE.pcap        prints nDPI's TCP/UDP flows and its stats

Runs `ndpiReader -i FILE -v 2` once per capture and parses every flow line:

    \t3\tTCP 198.18.0.1:58726 <-> 198.18.0.2:80 [VLAN: 7][proto: 7/HTTP]...
        [7 pkts/553 bytes <-> 5 pkts/1927 bytes][Goodput ratio: ...]...

Why these options: `-v 2` is the level that prints every flow, detected and
undetected ("-v 1" prints only flows whose protocol was detected); without
`-q` ndpiReader also prints its "Traffic statistics" block, which we keep
(Fragmented Packets, Discarded bytes, ...) to explain differences.  The CSV
output (`-C`) is not used: it has no VLAN column, and nDPI keys flows by
VLAN.  The flow line is parsed from its start (endpoints, then an optional
[VLAN: n]) and the first "[N pkts/N bytes <-> N pkts/N bytes]" block, which
nDPI prints before any field taken from packet payload (host names, URLs).

What ndpiReader 4.2 (Debian libndpi-bin, example/reader_util.c) counts,
checked against tshark's frame.len on tests/data/lab and read in its source:
* bytes per packet = pcap caplen (header->caplen, the captured length, kept
  in a u_int16_t), counted src->dst or dst->src of the flow's first packet;
  on complete captures caplen = frame.len, the contract's wire length;
* a flow is (VLAN, IP protocol, address pair, port pair), never split: from
  a file (not live) ndpiReader never expires idle flows and does not start a
  new flow on a SYN, so TCP port reuse and idle gaps stay in one flow;
* VLAN is the innermost 802.1Q (0x8100) tag; 802.1ad (0x88a8) is not
  parsed (such frames are dropped as non-IP);
* IPv6 addresses are folded to 32 bits (the sum of their last two 32-bit
  words, "we handle IPv6 a-la-IPv4"), so flows whose addresses differ only
  in the upper 64 bits share one nDPI flow (fold_ip reproduces this);
* skipped packets: non-IP; caplen < 28; IPv4 with caplen short of the IP
  total length, IPv6 short of its payload length (snap-length cuts);
  non-first IPv4 fragments on Ethernet/SLL/PPP (counted as "Fragmented
  Packets"); IPv6 packets whose extension headers nDPI cannot walk;
* tunnels: IPv4 protocol 4/41 and IPv6 next header 4/41 (IP-in-IP, 6in4,
  4in6, 6in6) are decapsulated; GRE, VXLAN, Geneve, Teredo, ... are not
  (GTP/TZSP/CAPWAP only with -t, which we do not pass): nDPI's flow is the
  outer one;
* link types: NULL, EN10MB, PPP, C_HDLC, PPP_SERIAL, RAW, IPV4, IPV6,
  LINUX_SLL (not SLL2), IEEE802_11_RADIO; others give no flows.

Output is cached like tshark's (content-addressed: file hash + ndpiReader
version + options) in the directory the caller passes.
"""
import hashlib
import ipaddress
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tshark_flows import file_sha256  # noqa: E402  one content hash for both caches

NDPI = os.environ.get("NDPI_READER", "ndpiReader")
NDPI_OPTS = ["-v", "2"]
CACHE_FORMAT = 2  # bump when the parsed structure changes

FLOW_RE = re.compile(
    r"^\t(\d+)\t(\S+) (\[[0-9A-Fa-f:.]+\]|[0-9.]+):(\d+) (<->|->) "
    r"(\[[0-9A-Fa-f:.]+\]|[0-9.]+):(\d+) (?:\[VLAN: (\d+)\])?")
COUNTS_RE = re.compile(r"\[(\d+) pkts/(\d+) bytes (?:<->|->) (\d+) pkts/(\d+) bytes\]")
PROTO_RE = re.compile(r"\[proto: ([^\]]*)\]")
CAT_RE = re.compile(r"\[cat: ([^\]/]*)/\d+\]")
STAT_RE = re.compile(r"^\t([A-Za-z][A-Za-z0-9 <>()/-]*?):\s+(\d+)")


def available():
    try:
        p = subprocess.run([NDPI, "-h"], capture_output=True, timeout=30)
        return b"nDPI" in p.stdout + p.stderr
    except (OSError, subprocess.TimeoutExpired):
        return False


_version = None


def version():
    """ndpiReader's version line ("nDPI 4.2.0"), part of the cache key."""
    global _version
    if _version is None:
        try:
            p = subprocess.run([NDPI, "-h"], capture_output=True, timeout=30)
            m = re.search(rb"nDPI (\S+)", p.stdout + p.stderr)
            _version = m.group(1).decode() if m else "unknown"
        except (OSError, subprocess.TimeoutExpired):
            _version = "missing"
    return _version


def norm_ip(s):
    s = s.strip("[]")
    try:
        return ipaddress.ip_address(s).compressed
    except ValueError:
        return s


def ndpi_patch(s):
    """ndpiReader's ndpi_patchIPv6Address(): every ":0:" printed as "::"
    ("for consistency across platforms").  That can print an address that
    is not valid ("fc00:502:400::10:32::69"), so a flow's printed address is
    matched by applying the same patch to the other side's addresses."""
    out, i = [], 0
    while i < len(s):
        if s[i] == ":" and s[i + 1:i + 3] == "0:":
            out.append("::")
            i += 3
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def fold_ip(s):
    """The 32-bit value ndpiReader 4.2 keys an address by: an IPv4 address
    as the u32 it reads from the header (host order on x86), an IPv6 one as
    the u32 sum of its last two words (get_ndpi_flow_info6)."""
    try:
        a = ipaddress.ip_address(str(s).strip("[]"))
    except ValueError:
        return str(s)
    b = a.packed
    if len(b) == 4:
        return int.from_bytes(b, "little")
    return (int.from_bytes(b[8:12], "little") + int.from_bytes(b[12:16], "little")) & 0xFFFFFFFF


def parse(text):
    """Parses ndpiReader's stdout.  Returns (flows, stats): flows are dicts
    with proto ("tcp", "udp", "icmp", ... or the number as a string), a and
    b = (ip, port) in nDPI's src/dst order, a_pkts/a_bytes sent by a,
    b_pkts/b_bytes sent by b, vlan (None when 0/absent), app (nDPI's
    protocol as printed, "91.126/TLS.Google"; app_name the part after the
    "/", cat its category name or None); stats is the "Traffic statistics" block as {name: int}."""
    flows, stats = [], {}
    for line in text.splitlines():
        m = FLOW_RE.match(line)
        if not m:
            s = STAT_RE.match(line)
            if s and s.group(1) not in stats:
                stats[s.group(1).strip()] = int(s.group(2))
            continue
        c = COUNTS_RE.search(line, m.end())
        if not c:
            continue
        p = PROTO_RE.search(line, m.end())
        cat = CAT_RE.search(line, m.end())
        l4 = m.group(2).lower()
        flows.append({
            "id": int(m.group(1)), "proto": {"6": "tcp", "17": "udp"}.get(l4, l4),
            "a": (norm_ip(m.group(3)), int(m.group(4))),
            "b": (norm_ip(m.group(6)), int(m.group(7))),
            "bidir": m.group(5) == "<->",
            "vlan": int(m.group(8)) if m.group(8) and int(m.group(8)) != 0 else None,
            "a_pkts": int(c.group(1)), "a_bytes": int(c.group(2)),
            "b_pkts": int(c.group(3)), "b_bytes": int(c.group(4)),
            "app": p.group(1) if p else "",
            "app_name": p.group(1).split("/", 1)[-1] if p else "",
            "cat": cat.group(1) if cat else None,
        })
    return flows, stats


def run_raw(path, timeout=120):
    try:
        p = subprocess.run([NDPI, "-i", path] + NDPI_OPTS, capture_output=True, timeout=timeout)
        return p.stdout.decode("utf-8", "replace"), p.returncode, p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return "", None, "ndpiReader still running after %d s (killed)" % timeout
    except OSError as e:
        return "", 127, "cannot run %s: %s" % (NDPI, e)


def oracle_for(path, cache_dir=None, timeout=120):
    """nDPI's view of one capture: {"flows", "stats", "rc", "error"},
    cached in cache_dir (keyed by the file's hash, nDPI's version and our
    options) because a cold run costs one ndpiReader start per file."""
    key = None
    if cache_dir:
        key = hashlib.sha256(("%s|%s|%s|%d" % (file_sha256(path), version(), " ".join(NDPI_OPTS),
                                              CACHE_FORMAT)).encode()).hexdigest()
        cpath = os.path.join(cache_dir, "ndpi-%s.json" % key)
        try:
            with open(cpath) as f:
                return json.load(f)
        except (OSError, ValueError):
            pass
    out, rc, err = run_raw(path, timeout)
    flows, stats = parse(out)
    res = {"flows": flows, "stats": stats, "rc": rc, "error": err[-500:], "ndpi": version()}
    if key and rc is not None:
        tmp = cpath + ".%d.tmp" % os.getpid()
        try:
            with open(tmp, "w") as f:
                json.dump(res, f)
            os.replace(tmp, cpath)
        except OSError:
            pass
    # JSON turns tuples into lists; do the same for a fresh result.
    return json.loads(json.dumps(res))


def main(argv):
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    res = oracle_for(argv[1])
    for k, v in sorted(res["stats"].items()):
        print("stat %s: %d" % (k, v))
    for f in res["flows"]:
        if f["proto"] not in ("tcp", "udp"):
            continue
        print("%s %s:%s %s %s:%s%s  %d/%d <-> %d/%d  %s" % (
            f["proto"], f["a"][0], f["a"][1], "<->" if f["bidir"] else "->", f["b"][0], f["b"][1],
            " vlan %d" % f["vlan"] if f["vlan"] else "", f["a_pkts"], f["a_bytes"],
            f["b_pkts"], f["b_bytes"], f["app"]))
    return 0 if res["rc"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
