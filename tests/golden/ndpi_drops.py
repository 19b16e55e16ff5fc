#!/usr/bin/env python3
"""tests/golden/ndpi_drops.py: which frames of a capture ndpiReader 4.2
skips or mis-reads, by replaying the checks of its packet path
(example/reader_util.c: ndpi_workflow_process_packet, get_ndpi_flow_info)
on the pcap record headers and the first bytes of each frame.

It only counts frames per reason, per file: ndpi_golden.py uses the counts
as budgets to exclude a differing flow from the match rate only when nDPI
demonstrably dropped (or invented) that many packets in the file.  It is
not a decoder and keys no flow.

    ndpi_drops.py FILE.pcap     prints the counts

Reasons counted as "dropped" (nDPI has fewer packets than the wire):
  short      caplen < link offset + 28 (nDPI's first check)
  fragment   IPv4 non-first fragment on a link type where nDPI reads the
             fragment offset (Ethernet/SLL/IPV4 and BE DLT_NULL)
  iplen      IPv4 header/total length beyond the captured bytes, IPv6
             payload beyond them, IPv6 extension headers nDPI cannot walk
             (incl. non-first IPv6 fragments), IPv4 total length 0 (TSO)
  nonip      the bytes where nDPI expects IP are not IPv4/IPv6
  snaplen    a pcap record longer than the file header's snap length
             (observed, not read in the source: ndpiReader counts none)
Reasons counted as "extra" (nDPI counts a packet netmoon has no ports for):
  bogus      IPv4 header length < 20 (nDPI reads ports from the options)
  fragment   IPv4 non-first fragment on DLT_RAW or LE DLT_NULL, where nDPI
             never reads the fragment offset and takes payload as ports
  jumbo      IPv6 payload length 0 (BIG TCP): nDPI keys it with ports 0
Also: cut (frames with caplen < wire length) and cut_bytes, big (frames
longer than 65535 bytes: nDPI keeps sizes in a u_int16_t).
"""
import struct
import sys


def records(data):
    """Yields (linktype, caplen, wirelen, frame bytes, snaplen) from pcap
    or pcapng (snaplen 0 when unknown)."""
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        if len(data) < 24:
            return
        lt = struct.unpack(e + "I", data[20:24])[0] & 0xFFFF
        snap = struct.unpack(e + "I", data[16:20])[0]
        off = 24
        while off + 16 <= len(data):
            incl, orig = struct.unpack(e + "II", data[off + 8:off + 16])
            if off + 16 + incl > len(data):
                return
            yield lt, incl, orig, data[off + 16:off + 16 + incl], snap
            off += 16 + incl
    elif magic == b"\x0a\x0d\x0d\x0a":
        off, e, ifs = 0, "<", []
        while off + 12 <= len(data):
            if data[off:off + 4] == b"\x0a\x0d\x0d\x0a":
                e = "<" if data[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            btype, blen = struct.unpack(e + "II", data[off:off + 8])
            if blen < 12 or off + blen > len(data):
                return
            if btype == 1 and blen >= 16:
                ifs.append(struct.unpack(e + "H", data[off + 8:off + 10])[0])
            elif btype == 6 and blen >= 32:
                ifid, = struct.unpack(e + "I", data[off + 8:off + 12])
                incl, orig = struct.unpack(e + "II", data[off + 20:off + 28])
                lt = ifs[0] if ifs else 1  # ndpiReader uses the first interface's type
                yield lt, incl, orig, data[off + 28:off + 28 + min(incl, blen - 28)], 0
            off += blen


def classify(lt, caplen, pkt):
    """(kind, reason): kind "dropped", "extra" or "ok"."""
    type_ = 0
    if lt == 0:
        if caplen < 4 + 28:
            return "dropped", "short"
        type_ = 0x0800 if pkt[:4] == b"\x00\x00\x00\x02" else 0x86DD
        off = 4
    elif lt == 1:
        if caplen < 28:
            return "dropped", "short"
        off = 14
        check = struct.unpack(">H", pkt[12:14])[0]
        if check >= 1536:
            type_ = check
        elif check <= 1500 and len(pkt) >= 22:
            if pkt[14] == 0xAA or pkt[15] == 0xAA:  # SNAP: nDPI takes proto_ID unswapped
                type_ = struct.unpack("<H", pkt[20:22])[0]
                off += 8
            elif pkt[14] == 0x42 or pkt[15] == 0x42:
                return "dropped", "nonip"
    elif lt == 113:
        if caplen < 28:
            return "dropped", "short"
        type_ = struct.unpack(">H", pkt[14:16])[0] if len(pkt) >= 16 else 0
        off = 16
    elif lt in (228, 229):
        if caplen < 28:
            return "dropped", "short"
        type_, off = (0x0800 if lt == 228 else 0x86DD), 0
    elif lt in (12, 101):
        if caplen < 28:
            return "dropped", "short"
        off = 0
    else:
        return "ok", ""
    while True:  # ether_type_check
        if type_ == 0x8100:
            if off + 4 > len(pkt):
                return "dropped", "short"
            type_ = struct.unpack(">H", pkt[off + 2:off + 4])[0]
            off += 4
            while type_ == 0x8100 and off < caplen and off + 4 <= len(pkt):
                type_ = struct.unpack(">H", pkt[off + 2:off + 4])[0]
                off += 4
            continue
        if type_ in (0x8847, 0x8848):
            if off + 4 > len(pkt):
                return "dropped", "short"
            bos = pkt[off + 2] & 1
            type_, off = 0x0800, off + 4
            while not bos and off + 4 < caplen and off + 4 <= len(pkt):
                bos = pkt[off + 2] & 1
                off += 4
            continue
        if type_ == 0x8864:
            type_, off = 0x0800, off + 8
            continue
        break
    frag = 0
    while True:  # iph_check
        if caplen < off + 20 or len(pkt) < off + 20:
            return "dropped", "short"
        v = pkt[off] >> 4
        if v == 4:
            if type_ == 0x0800:
                frag = struct.unpack(">H", pkt[off + 6:off + 8])[0] & 0x1FFF
            ihl = (pkt[off] & 15) * 4
            proto = pkt[off + 9]
            if proto in (4, 41) and ihl > 0:
                off += ihl
                continue
            if frag:
                return "dropped", "fragment"
            ipsize = caplen - off
            tot = struct.unpack(">H", pkt[off + 2:off + 4])[0]
            if ihl > ipsize or ipsize < tot:
                return "dropped", "iplen"
            if ipsize < ihl + ((tot - ihl) & 0xFFFF):
                return "dropped", "iplen"
            if ihl < 20:
                return "extra", "bogus"
            if struct.unpack(">H", pkt[off + 6:off + 8])[0] & 0x1FFF:
                return "extra", "fragment"
            return "ok", ""
        if v == 6:
            if caplen < off + 40 or len(pkt) < off + 40:
                return "dropped", "short"
            plen = struct.unpack(">H", pkt[off + 4:off + 6])[0]
            if caplen < off + 40 + plen:
                return "dropped", "iplen"
            nh, p, end = pkt[off + 6], off + 40, off + 40 + plen
            while nh in (0, 43, 44, 60, 135, 59):
                if nh == 59 or p + 8 > end or p + 8 > len(pkt):
                    return "dropped", "iplen"
                if nh == 44:
                    if struct.unpack(">H", pkt[p + 2:p + 4])[0] & 0xFFF8:
                        return "dropped", "iplen"
                    hl = 8
                else:
                    hl = (pkt[p + 1] + 1) * 8
                nh, p = pkt[p], p + hl
            if nh in (4, 41):
                off = p
                continue
            if plen == 0:
                return "extra", "jumbo"
            return "ok", ""
        return "dropped", "nonip"


def drops(path):
    out = {"dropped": {}, "extra": {}, "cut": 0, "cut_bytes": 0, "big": 0, "frames": 0}
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return out
    for lt, caplen, wire, pkt, snap in records(data):
        out["frames"] += 1
        if wire > caplen:
            out["cut"] += 1
            out["cut_bytes"] += wire - caplen
        if wire > 65535 or caplen > 65535:
            out["big"] += 1
        if snap and caplen > snap:
            # Observed (tcpdump/mptcp-dss-oobr.pcap, smb_print_trans-oobr2.pcap):
            # ndpiReader counts no packet whose caplen exceeds the file's snaplen.
            out["dropped"]["snaplen"] = out["dropped"].get("snaplen", 0) + 1
            continue
        try:
            kind, why = classify(lt, caplen, pkt)
        except (IndexError, struct.error):
            kind, why = "dropped", "short"
        if kind != "ok":
            out[kind][why] = out[kind].get(why, 0) + 1
    return out


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(p, drops(p))
