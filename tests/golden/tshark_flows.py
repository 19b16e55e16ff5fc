#!/usr/bin/env python3
"""tests/golden/tshark_flows.py: the per-conversation oracle, built from tshark.

netmoon's per-flow numbers are checked against numbers we did not compute
ourselves: tshark dissects the capture and assigns every TCP and UDP packet
to a conversation (tcp.stream / udp.stream); this script only adds them up.

    tshark_flows.py FILE            a table of TCP/UDP conversations
    tshark_flows.py --json FILE     the oracle as JSON (what compare.py reads)

Library use: oracle_for(path) -> dict (see build_oracle for the format).

Choices, each deliberate (the netmoon flow contract is in the brief of
tests/golden/ and in src/output/record.h):

* Conversation = tshark's tcp.stream, or for UDP the 5-tuple (see the
  comment in build_oracle for why not udp.stream), further split by the VLAN
  tag stack (tshark's conversations ignore VLANs; netmoon keys flows by VLAN,
  so one 5-tuple on two VLANs is two flows).  tshark starts a new tcp.stream
  when a SYN with a new initial sequence number reuses a tuple ("port numbers
  reused"); that is where netmoon must start a new record too.  tshark never
  splits on idle time; netmoon splits at 60 s idle, and compare.py sums such
  records.
* Bytes = frame.len, the length on the wire (pcap orig_len), not the
  captured length: the contract says bytes are as on the wire.
* Packets per direction: side "a" is whoever sent the conversation's first
  packet in the file, "b" the other end.  The oracle does not guess the
  initiator; it only records who sent the first SYN (SYN without ACK), which
  is what the initiator check uses.
* Tunnels: the flow is the innermost IP packet of a chain of tunnels, for
  the tunnel types in is_tunnel() (GRE incl. ERSPAN, VXLAN/VXLAN-GPE, Geneve,
  MPLS in UDP, Teredo, PIM Register, IP-in-IP: the ones netmoon documents);
  other things that carry IP headers (ICMP errors, sFlow samples, ...) are
  payload.  frame.protocols gives the layer order; fields that occur once per layer (ip.src for each IP header) are
  taken at the index of that layer, since -T fields prints one value per
  occurrence, comma-separated, in dissection order.  The encapsulation path
  is kept per conversation so a mismatch says whether a tunnel was involved.
* ICMP errors quote the offending IP header and the first bytes of its
  transport header; tshark dissects that quote (udp.srcport etc. appear).
  ICMP is not a tunnel, so such a packet belongs to an ICMP flow, not to the
  quoted TCP/UDP conversation.
* Fragments: tshark runs with -o ip.defragment:FALSE -o ipv6.defragment:FALSE
  so each fragment is its own frame with its own frame.len (netmoon counts
  frames, not reassembled datagrams).  tshark still dissects the first
  fragment's transport header (ports, stream); non-first fragments have no
  transport layer and are attributed here to the conversation of their first
  fragment, matched on (IP version, src, dst, protocol, IP id) for IPv4 and
  (src, dst, fragment ident) for IPv6, nearest first fragment by frame
  number (so a non-first fragment that arrives before its first fragment is
  still attributed; such cases are counted separately as frag_before_first).
  Non-first fragments whose first fragment is not in the file are counted in
  the file totals as orphan fragments and belong to no conversation.
* Frames tshark flags as malformed (_ws.malformed) are still counted as
  tshark attributes them; the count per conversation ("malformed") is kept
  so that a difference there can be read with that in mind.
* Frames that tshark attributes to a TCP/UDP stream are counted even when
  part of the packet is missing (e.g. a snaplen cut inside TCP options): the
  ports are there, so a flow monitor can attribute them.
* Link types: the capture's link type for each frame (pcap header or the
  pcapng interface description block) is recorded per conversation, so
  compare.py can limit itself to the link types netmoon implements.
* Name resolution off (-n); no other preferences changed: tshark's defaults
  for which UDP ports mean which protocol do not matter here, since only
  the transport layer and its stream number are used.
"""
import bisect
import functools
import gzip
import hashlib
import json
import os
import struct
import subprocess
import sys
import threading

# One row per frame; the order here is the column order.  Boolean fields
# print as 1/0 (tshark 4.0) or True/False (newer); both are handled.
FIELDS = [
    "frame.number", "frame.time_epoch", "frame.len", "frame.protocols",
    "frame.interface_id",
    "ieee8021ad.id", "vlan.id",
    "ip.src", "ip.dst", "ip.proto", "ip.id", "ip.flags.mf", "ip.frag_offset",
    "ipv6.src", "ipv6.dst",
    "ipv6.fraghdr.nxt", "ipv6.fraghdr.ident", "ipv6.fraghdr.offset", "ipv6.fraghdr.more",
    "tcp.srcport", "tcp.dstport", "tcp.stream",
    "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset",
    "udp.srcport", "udp.dstport", "udp.stream",
    "_ws.malformed",
]
COL = {name: i for i, name in enumerate(FIELDS)}

TSHARK_OPTS = ["-n", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE"]

# Layers between two IP headers that make the inner one a tunnelled packet
# whose flow is the inner one: the set netmoon's README documents as
# decapsulated (it is the contract, so the oracle follows it): IP-in-IP, GRE
# taken whole (plain GRE, transparent Ethernet bridging and ERSPAN, GRE
# protocol 0x88BE/0x22EB with mirrored Ethernet frames), PIM Register, and
# the UDP tunnels below.  Anything else that carries an IP header is
# payload, not a tunnel: ICMP errors (quoted header), sFlow samples,
# OpenFlow packet-in ...
TUNNEL_L2 = {"eth", "ethertype", "vlan", "ieee8021ad", "erspan", "nsh", "mpls"}
# What netmoon's README lists as UDP tunnels: VXLAN, VXLAN-GPE (tshark names
# the NSH inside it), Geneve, MPLS in UDP, Teredo.  The oracle follows that
# contract; anything else carrying IP headers (sFlow samples, ICMP quotes) is
# payload.
UDP_TUNNELS = {"vxlan", "geneve", "nsh", "mpls", "teredo"}


def is_tunnel(mid):
    """mid: the layer names between an IP layer and the next IP layer."""
    if not mid:
        return True                                          # IP-in-IP
    if mid[0] == "gre":
        return all(l in TUNNEL_L2 for l in mid[1:])          # GRE, TEB, ERSPAN
    if mid == ["pim"]:
        return True                                          # PIM Register
    if mid[0] == "udp" and len(mid) > 1 and mid[1] in UDP_TUNNELS:
        return all(l in TUNNEL_L2 or l in UDP_TUNNELS for l in mid[2:])
    return False


def skip_ext(layers, i):
    """Index of the first layer at or after i that is not an IPv6 extension
    header (tshark names them ipv6.hopopts, ipv6.fraghdr, ...)."""
    while i < len(layers) and layers[i].startswith("ipv6."):
        i += 1
    return i


@functools.lru_cache(maxsize=None)
def tshark_version():
    out = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "unknown"


def truthy(v):
    return v in ("1", "True", "true")


def nth(value, index):
    """The index-th comma-separated value of a tshark field, or ''."""
    if not value:
        return ""
    parts = value.split(",")
    return parts[index] if index < len(parts) else ""


def file_linktypes(path):
    """Link types of a pcap or pcapng file, indexed like frame.interface_id.
    Returns (format, [linktype, ...]); format is None when the file is neither
    pcap nor pcapng (tshark reads many other formats; netmoon does not)."""
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            return None, []
        magic = head[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            return "pcap", [struct.unpack("<I", head[20:24])[0] & 0xFFFF]
        if magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            return "pcap", [struct.unpack(">I", head[20:24])[0] & 0xFFFF]
        if magic != b"\x0a\x0d\x0d\x0a":
            return None, []
        # pcapng: walk the blocks, collect Interface Description Blocks.
        # Interface ids are kept cumulative across sections, as wiretap does.
        f.seek(0)
        data = f.read()
    types, off, endian = [], 0, "<"
    while off + 12 <= len(data):
        btype_raw = data[off:off + 4]
        if btype_raw == b"\x0a\x0d\x0d\x0a":
            bom = data[off + 8:off + 12]
            endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
        btype, blen = struct.unpack(endian + "II", data[off:off + 8])
        if blen < 12 or off + blen > len(data):
            break
        if btype == 1 and blen >= 16:
            types.append(struct.unpack(endian + "H", data[off + 8:off + 10])[0])
        off += blen
    return "pcapng", types


def run_tshark_raw(path, timeout=300):
    """Runs tshark; returns (stdout, returncode, stderr).  Rows read before an
    error (a damaged file) are kept: the caller decides what to do."""
    cmd = ["tshark", "-r", path] + TSHARK_OPTS + [
        "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
        "-E", "aggregator=,", "-E", "quote=n"]
    for f in FIELDS:
        cmd += ["-e", f]
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)
    err = "\n".join(l for l in p.stderr.splitlines() if "could be dangerous" not in l)
    return p.stdout, p.returncode, err


def layer_index(layers, upto, name):
    """How many times layer `name` occurs in layers[0:upto+1], minus one: the
    index of the value that layer contributed to a multi-valued field."""
    return sum(1 for l in layers[:upto + 1] if l == name) - 1


def ip_layer(r, layers, p):
    """Addresses and fragment state of the IP header at layers[p]."""
    fam = layers[p]
    k = layer_index(layers, p, fam)
    d = {"ipv": 4 if fam == "ip" else 6, "frag_first": False, "frag_later": False, "frag_key": None}
    if fam == "ip":
        d["src"] = nth(r[COL["ip.src"]], k)
        d["dst"] = nth(r[COL["ip.dst"]], k)
        proto = nth(r[COL["ip.proto"]], k)
        off = nth(r[COL["ip.frag_offset"]], k)
        mf = truthy(nth(r[COL["ip.flags.mf"]], k))
        d["frag_first"] = mf and off in ("0", "")
        d["frag_later"] = off not in ("0", "")
        d["frag_key"] = (4, d["src"], d["dst"], proto, nth(r[COL["ip.id"]], k))
        d["ip_proto"] = proto
    else:
        d["src"] = nth(r[COL["ipv6.src"]], k)
        d["dst"] = nth(r[COL["ipv6.dst"]], k)
        # This header's fragment header, if any, is a "ipv6.fraghdr" layer
        # before the next IP layer; its values sit at the index given by the
        # number of fragment headers before this IP layer.
        nxt_ip = next((i for i in range(p + 1, len(layers)) if layers[i] in ("ip", "ipv6")), len(layers))
        if "ipv6.fraghdr" in layers[p + 1:nxt_ip]:
            j = sum(1 for l in layers[:p] if l == "ipv6.fraghdr")
            off = nth(r[COL["ipv6.fraghdr.offset"]], j)
            more = truthy(nth(r[COL["ipv6.fraghdr.more"]], j))
            d["frag_first"] = more and off in ("0", "")
            d["frag_later"] = off not in ("0", "")
            d["frag_key"] = (6, d["src"], d["dst"], None, nth(r[COL["ipv6.fraghdr.ident"]], j))
    return d


# IPv4 protocol numbers of the port-based transports the oracle counts.
PORTLESS_PROTOS = {"6": "tcp", "17": "udp"}


def add_portless(portless, proto, ipv, src, dst, flen, linktype):
    """A TCP/UDP frame whose ports no one can know (transport header cut
    short, or a later fragment whose first fragment is not in the file).
    netmoon accounts these by address and protocol (ports_unknown); they
    are summed here per protocol and address pair."""
    key = (proto, ipv) + tuple(sorted([src, dst]))
    e = portless.setdefault(key, {"proto": proto, "ip_version": ipv,
                                  "ends": sorted([src, dst]), "pkts": 0, "bytes": 0,
                                  "linktypes": []})
    if linktype not in e["linktypes"]:
        e["linktypes"].append(linktype)
    e["pkts"] += 1
    e["bytes"] += flen


def analyse_frame(r):
    """Locates the innermost IP layer and its transport.  Returns a dict or
    None when the frame carries no IP."""
    layers = r[COL["frame.protocols"]].split(":")
    ip_pos = [i for i, l in enumerate(layers) if l in ("ip", "ipv6")]
    if not ip_pos:
        return None
    # From the outermost IP header inwards, as long as what lies between
    # one IP header and the next is a tunnel.
    chain = [ip_pos[0]]
    for q in ip_pos[1:]:
        if not is_tunnel(layers[chain[-1] + 1:q]):
            break
        chain.append(q)
    ip_pos = chain
    p = ip_pos[-1]
    info = ip_layer(r, layers, p)
    info["layers_before"] = layers[:p]
    info["encap"] = ":".join(layers[:p + 1])
    # Every IP header on the way in that is a first fragment (the outer
    # header of a tunnel may be the fragmented one) names this flow for its
    # later fragments.
    info["first_frag_keys"] = [info["frag_key"]] if info["frag_first"] else []
    for q in ip_pos[:-1]:
        outer = ip_layer(r, layers, q)
        if outer["frag_first"]:
            info["first_frag_keys"].append(outer["frag_key"])
    # The transport: the layer right after the IP header (and its IPv6
    # extension headers).
    t = skip_ext(layers, p + 1)
    info["transport"] = layers[t] if t < len(layers) else None
    if info["transport"] in ("tcp", "udp"):
        name = info["transport"]
        j = layer_index(layers, t, name)
        sp = nth(r[COL[name + ".srcport"]], j)
        dp = nth(r[COL[name + ".dstport"]], j)
        st = nth(r[COL[name + ".stream"]], j)
        if sp.isdigit() and dp.isdigit():
            info["sport"], info["dport"] = int(sp), int(dp)
            info["stream"] = int(st) if st.isdigit() else None
            info["encap"] = ":".join(layers[:t + 1])
            if name == "tcp":
                info["syn"] = truthy(nth(r[COL["tcp.flags.syn"]], j))
                info["ack"] = truthy(nth(r[COL["tcp.flags.ack"]], j))
                info["fin"] = truthy(nth(r[COL["tcp.flags.fin"]], j))
                info["rst"] = truthy(nth(r[COL["tcp.flags.reset"]], j))
        else:
            info["transport"] = None  # header too short for ports
            info["portless"] = name
    elif info.get("ip_proto") in PORTLESS_PROTOS:
        info["portless"] = PORTLESS_PROTOS[info["ip_proto"]]
    return info


def vlan_stack(r, layers_before):
    """The VLAN IDs of the tags in front of the flow's IP header (outer
    first within each kind).  Tags inside what the flow carries (an sFlow
    sample, say) are not the flow's; tags of an inner Ethernet frame of a
    tunnel are kept, as either may be the one a monitor reports."""
    ids = []
    for layer, field in (("ieee8021ad", "ieee8021ad.id"), ("vlan", "vlan.id")):
        n = sum(1 for l in layers_before if l == layer)
        vals = [int(x) for x in r[COL[field]].split(",") if x.isdigit()][:n]
        ids += vals
    return tuple(ids)


def parse_epoch(text):
    """frame.time_epoch as float seconds.  tshark prints seconds, a dot and
    nanoseconds; a capture whose sub-second field is out of range (>= 1 s,
    e.g. tcpdump's timestamp_invalid_micro.pcap) makes that more than nine
    digits, which still means nanoseconds."""
    sec, _, frac = text.partition(".")
    if len(frac) >= 9:
        return int(sec) + int(frac) / 1e9
    return float(text)


def new_conv(proto, stream, vlans, info, ts, linktype):
    return {
        "proto": proto, "stream": stream, "vlans": list(vlans), "ip_version": info["ipv"],
        "a": [info["src"], info["sport"]], "b": [info["dst"], info["dport"]],
        "a_pkts": 0, "a_bytes": 0, "b_pkts": 0, "b_bytes": 0,
        "first_ts": ts, "last_ts": ts, "first_frame": None, "last_frame": None,
        "syn_sender": None, "syn_frame": None, "synack_seen": False,
        "fin": 0, "rst": 0, "frag_nonfirst": 0, "frag_before_first": 0,
        "encaps": [], "linktypes": [linktype],
        "long_gaps": [], "time_disorder": 0, "_prev_ts": None, "malformed": 0,
    }


def account(conv, side, frame_no, ts, flen):
    conv[side + "_pkts"] += 1
    conv[side + "_bytes"] += flen
    conv["first_ts"] = min(conv["first_ts"], ts)
    conv["last_ts"] = max(conv["last_ts"], ts)
    if conv["first_frame"] is None:
        conv["first_frame"] = frame_no
    conv["last_frame"] = frame_no


def build_oracle(rows, linktypes):
    """Adds up the per-frame rows into conversations.

    Returns {"conversations": [...], "totals": {...}}; each conversation has
    proto ("tcp"/"udp"), stream (tshark's number), vlans, ip_version, a and b
    ([ip, port]; a sent the first packet), a_pkts/a_bytes/b_pkts/b_bytes,
    first_ts/last_ts (epoch seconds), syn_sender ("a", "b" or None),
    encaps (protocol paths seen) and linktypes."""
    convs = {}
    order = []
    totals = {"frames": 0, "ip_frames": 0, "tcp_frames": 0, "udp_frames": 0,
              "other_ip_frames": 0, "frag_nonfirst": 0, "frag_orphan": 0,
              "time_backwards": 0, "portless_frames": 0}
    portless = {}
    clock = float("-inf")
    first_frags = {}   # frag_key -> sorted list of (frame_no, conv key, side)
    later_frags = []   # (frame_no, ts, flen, frag_key, frame info, linktype)
    for r in rows:
        if len(r) < len(FIELDS):
            r = r + [""] * (len(FIELDS) - len(r))
        totals["frames"] += 1
        frame_no = int(r[COL["frame.number"]])
        ts = parse_epoch(r[COL["frame.time_epoch"]])
        if ts < clock:
            totals["time_backwards"] += 1
        clock = max(clock, ts)
        flen = int(r[COL["frame.len"]])
        iface = r[COL["frame.interface_id"]]
        iface = int(iface) if iface.isdigit() else 0
        lt = linktypes[iface] if iface < len(linktypes) else None
        info = analyse_frame(r)
        if info is None:
            continue
        totals["ip_frames"] += 1
        vlans = vlan_stack(r, info["layers_before"])
        if info["frag_later"]:
            totals["frag_nonfirst"] += 1
            later_frags.append((frame_no, ts, flen, info["frag_key"], info, lt))
            continue
        if info["transport"] not in ("tcp", "udp"):
            totals["other_ip_frames"] += 1
            if info.get("portless"):
                totals["portless_frames"] += 1
                add_portless(portless, info["portless"], info["ipv"], info["src"], info["dst"], flen, lt)
            continue
        proto = info["transport"]
        totals[proto + "_frames"] += 1
        stream = info["stream"]
        if proto == "udp" or stream is None:
            # UDP: the conversation is the 5-tuple.  tshark's own UDP
            # conversations are the 5-tuple too, but udp.stream numbers are
            # also touched by application dissectors that set up wildcard
            # conversations for replies (SNMP, TFTP, RPC...), which splits
            # one request/response exchange into two "streams".
            ends = sorted([(info["src"], info["sport"]), (info["dst"], info["dport"])])
            key = (proto, "tuple:%s" % (ends,), vlans)
        else:
            key = (proto, stream, vlans)
        conv = convs.get(key)
        if conv is None:
            conv = convs[key] = new_conv(proto, stream, vlans, info, ts, lt)
            order.append(key)
        # Gaps for compare.py's idle-split check, measured against the
        # file's packet clock (the latest timestamp seen so far), so files
        # whose timestamps jump backwards are judged the way a monitor
        # driven by packet time would see them.
        prev = conv["_prev_ts"]
        if prev is not None:
            gap = max(clock, ts) - prev
            if gap >= 1.0 and len(conv["long_gaps"]) < 1000:
                conv["long_gaps"].append(round(gap, 6))
            if ts < prev:
                conv["time_disorder"] += 1
        conv["_prev_ts"] = ts
        if lt not in conv["linktypes"]:
            conv["linktypes"].append(lt)
        if [info["src"], info["sport"]] == conv["a"] and [info["dst"], info["dport"]] == conv["b"]:
            side = "a"
        else:
            side = "b"
        account(conv, side, frame_no, ts, flen)
        if r[COL["_ws.malformed"]]:
            conv["malformed"] += 1
        if info["encap"] not in conv["encaps"] and len(conv["encaps"]) < 4:
            conv["encaps"].append(info["encap"])
        if proto == "tcp":
            if info["syn"] and not info["ack"] and conv["syn_sender"] is None:
                conv["syn_sender"], conv["syn_frame"] = side, frame_no
            if info["syn"] and info["ack"]:
                conv["synack_seen"] = True
            conv["fin"] += info["fin"]
            conv["rst"] += info["rst"]
        for fkey in info["first_frag_keys"]:
            first_frags.setdefault(fkey, []).append((frame_no, key, side))
    # Non-first fragments go to the conversation of the nearest first
    # fragment with the same key (IP ids wrap; the nearest is the right one).
    for frame_no, ts, flen, fkey, info, lt in later_frags:
        cands = first_frags.get(fkey)
        if not cands:
            totals["frag_orphan"] += 1
            if fkey[0] == 4 and fkey[3] in PORTLESS_PROTOS:
                totals["portless_frames"] += 1
                add_portless(portless, PORTLESS_PROTOS[fkey[3]], 4, info["src"], info["dst"], flen, lt)
            continue
        i = bisect.bisect_left(cands, (frame_no,))
        best = min(cands[max(0, i - 1):i + 1], key=lambda c: abs(c[0] - frame_no))
        _, key, side = best
        conv = convs[key]
        account(conv, side, frame_no, ts, flen)
        conv["frag_nonfirst"] += 1
        if frame_no < best[0]:
            conv["frag_before_first"] += 1
    out = []
    for key in order:
        c = convs[key]
        del c["_prev_ts"]
        out.append(c)
    return {"conversations": out, "totals": totals, "portless": list(portless.values())}


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tshark_rows_cached(path, cache_dir=None, timeout=300):
    """tshark's per-frame rows for path: (rows, returncode, stderr).

    What is cached (gzip, in cache_dir) is tshark's raw output, keyed by the
    file's hash, tshark's version and the exact fields and options asked
    for; the oracle itself is rebuilt from it on every run (that part takes
    milliseconds), so a change to the adding-up never leaves a stale
    answer behind, and only a change to what tshark is asked re-runs it."""
    cached = None
    if cache_dir:
        key = hashlib.sha256(json.dumps([file_sha256(path), tshark_version(), FIELDS, TSHARK_OPTS])
                             .encode()).hexdigest()
        cached = os.path.join(cache_dir, key[:2], key + ".json.gz")
        try:
            with gzip.open(cached, "rt") as f:
                d = json.load(f)
            return [line.split("\t") for line in d["out"].splitlines() if line], d["rc"], d["err"]
        except (OSError, ValueError, KeyError, EOFError):
            pass
    try:
        out, rc, err = run_tshark_raw(path, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [], -1, "tshark timed out after %d s" % timeout
    if cached:
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        tmp = cached + ".%d.%d.tmp" % (os.getpid(), threading.get_ident())
        with gzip.open(tmp, "wt", compresslevel=3) as f:
            json.dump({"file": path, "out": out, "rc": rc, "err": err}, f)
        os.replace(tmp, cached)
    return [line.split("\t") for line in out.splitlines() if line], rc, err


UPSTREAM_PORTS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "tcpdump_upstream_ports.tsv")


@functools.lru_cache(maxsize=None)
def upstream_ports():
    """{(file name, frame number): (proto, src, sport, dst, dport)} from
    tcpdump_upstream_ports.tsv (see its header for why and where from)."""
    table = {}
    with open(UPSTREAM_PORTS) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, frame, proto, src, sport, dst, dport = line.rstrip("\n").split("\t")
            table[(name, int(frame))] = (proto, src, int(sport), dst, int(dport))
    return table


def apply_upstream_ports(path, rows):
    """Rows of frames listed in tcpdump_upstream_ports.tsv get their
    innermost endpoints from there: the frame is re-described as plain
    IP + TCP/UDP with tshark's own time and length, so build_oracle adds
    it up like any other frame."""
    table = upstream_ports()
    name = os.path.basename(path)
    out = []
    for orig in rows:
        fn = orig[COL["frame.number"]] if len(orig) > COL["frame.number"] else ""
        e = table.get((name, int(fn))) if fn.isdigit() else None
        if not e:
            out.append(orig)
            continue
        proto, src, sport, dst, dport = e
        fam = "ipv6" if ":" in src else "ip"
        r = [""] * len(FIELDS)
        for k in ("frame.number", "frame.time_epoch", "frame.len", "frame.interface_id"):
            r[COL[k]] = orig[COL[k]]
        r[COL["frame.protocols"]] = "upstream:%s:%s" % (fam, proto)
        r[COL[fam + ".src"]], r[COL[fam + ".dst"]] = src, dst
        if fam == "ip":
            r[COL["ip.proto"]] = "6" if proto == "tcp" else "17"
            r[COL["ip.frag_offset"]] = "0"
        r[COL[proto + ".srcport"]], r[COL[proto + ".dstport"]] = str(sport), str(dport)
        out.append(r)
    return out


def oracle_for(path, cache_dir=None, timeout=300):
    """The oracle for one capture file (tshark's output cached, see
    tshark_rows_cached)."""
    fmt, linktypes = file_linktypes(path)
    rows, rc, err = tshark_rows_cached(path, cache_dir, timeout)
    if any(name == os.path.basename(path) for name, _ in upstream_ports()):
        rows = apply_upstream_ports(path, rows)
    result = build_oracle(rows, linktypes)
    result.update({"file": path, "format": fmt, "linktypes": linktypes,
                   "tshark_rc": rc, "tshark_error": err[-500:], "tshark": tshark_version()})
    return result


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    o = oracle_for(args[0])
    if "--json" in argv:
        json.dump(o, sys.stdout, indent=1)
        print()
        return 0
    print("# %s: %s, tshark exit %d %s" % (args[0], o["format"], o["tshark_rc"], o["tshark_error"]))
    print("# totals: %s" % o["totals"])
    for c in o["conversations"]:
        print("%-3s %-10s vlan=%-8s %s:%s -> %s:%s  a %d pkts %d B  b %d pkts %d B  syn=%s%s" % (
            c["proto"], c["stream"], ",".join(map(str, c["vlans"])) or "-",
            c["a"][0], c["a"][1], c["b"][0], c["b"][1],
            c["a_pkts"], c["a_bytes"], c["b_pkts"], c["b_bytes"], c["syn_sender"],
            "  frags=%d" % c["frag_nonfirst"] if c["frag_nonfirst"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
