#!/usr/bin/env python3
"""make-seeds.py: seed corpora for the fuzz targets in tests/fuzz/.

    tests/fuzz/make-seeds.py PCAP-DIR OUT-DIR     seeds from real captures
    tests/fuzz/make-seeds.py --known-good DIR     the tiny committed inputs

From every capture under PCAP-DIR (normally ../shared/pcaps) it writes
    OUT-DIR/pcap_reader/    whole files smaller than 64 KiB;
    OUT-DIR/decode_flow/    single frames: a link-type selector byte, then
                            the frame (the first few frames of each file);
    OUT-DIR/flow_sequence/  the first frames of each file as one input:
                            selector byte, then per frame a u16 length, a
                            u8 time step (20 ms units) and the frame.
The formats are the ones the targets' header comments describe.  Frames are
read with the pcap/pcapng definitions (pcap-savefile(5),
draft-ietf-opsawg-pcapng) using struct, independently of src/capture, so a
reader bug does not shape the seeds.  Output names are the source file's
name plus an index; identical contents are written once.

--known-good writes the small synthetic inputs committed under
tests/fuzz/regress/<target>/, which `make check` replays even when no crash
has ever been saved there.  Their bytes come from the header layouts
(RFC 791, RFC 8200, RFC 9293, RFC 768), not from netmoon.
"""
import hashlib
import os
import struct
import sys

# Index = position in harness_linktypes (tests/fuzz/flow_harness.h).
LINK_INDEX = {0: 0, 1: 1, 101: 2, 12: 3, 14: 4, 108: 5, 113: 6, 228: 7, 229: 8, 276: 9}

READER_MAX = 64 * 1024
FRAME_MAX = 4095          # decode_flow runs with -max_len=4096
FRAMES_PER_FILE = 6
SEQ_MAX_FRAMES = 32
SEQ_MAX_BYTES = 16 * 1024  # flow_sequence runs with -max_len=16384
STEP_US = 20000


def classic_frames(data):
    """Yields (linktype, ts_us, frame) from a classic pcap file."""
    magic = data[:4]
    for endian in "<>":
        (m,) = struct.unpack(endian + "I", magic)
        if m in (0xA1B2C3D4, 0xA1B23C4D, 0xA1B2CD34):
            break
    else:
        return
    nsec = m == 0xA1B23C4D
    rec_hdr = 24 if m == 0xA1B2CD34 else 16
    if len(data) < 24:
        return
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0xFFFF
    pos = 24
    while pos + rec_hdr <= len(data):
        sec, frac, caplen, _ = struct.unpack(endian + "IIII", data[pos:pos + 16])
        pos += rec_hdr
        if caplen > len(data) - pos:
            return
        ts = sec * 1000000 + (frac // 1000 if nsec else frac)
        yield linktype, ts, data[pos:pos + caplen]
        pos += caplen


def pcapng_frames(data):
    """Yields (linktype, ts_us, frame) from a pcapng file."""
    pos, endian, ifaces = 0, "<", []
    while pos + 12 <= len(data):
        btype = struct.unpack("<I", data[pos:pos + 4])[0]
        if btype == 0x0A0D0D0A:
            bom = data[pos + 8:pos + 12]
            endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            ifaces = []
        btype, blen = struct.unpack(endian + "II", data[pos:pos + 8])
        if blen < 12 or blen % 4 or pos + blen > len(data):
            return
        body = data[pos + 8:pos + blen - 4]
        pos += blen
        if btype == 1 and len(body) >= 8:
            linktype = struct.unpack(endian + "H", body[:2])[0]
            ifaces.append((linktype, tsresol(body[8:], endian)))
        elif btype == 6 and len(body) >= 20:
            ifid, hi, lo, caplen, _ = struct.unpack(endian + "IIIII", body[:20])
            if ifid < len(ifaces) and caplen <= len(body) - 20:
                linktype, units = ifaces[ifid]
                ts = ((hi << 32) | lo) * 1000000 // units
                yield linktype, ts, body[20:20 + caplen]
        elif btype == 3 and len(body) >= 4 and ifaces:
            (origlen,) = struct.unpack(endian + "I", body[:4])
            yield ifaces[0][0], 0, body[4:4 + min(origlen, len(body) - 4)]


def tsresol(options, endian):
    """Units per second from an IDB's if_tsresol option (default 10^6)."""
    pos = 0
    while pos + 4 <= len(options):
        code, length = struct.unpack(endian + "HH", options[pos:pos + 4])
        if code == 0:
            break
        if code == 9 and length >= 1:
            v = options[pos + 4]
            return 2 ** (v & 0x7F) if v & 0x80 else 10 ** v
        pos += 4 + (length + 3) // 4 * 4
    return 1000000


def frames_of(data):
    try:
        if data[:4] == b"\x0a\x0d\x0d\x0a":
            yield from pcapng_frames(data)
        else:
            yield from classic_frames(data)
    except (struct.error, IndexError, ZeroDivisionError):
        return


class Writer:
    """Writes each distinct content once, under a readable name."""

    def __init__(self, directory):
        self.directory = directory
        self.seen = set()
        os.makedirs(directory, exist_ok=True)

    def write(self, name, content):
        digest = hashlib.sha1(content).digest()
        if digest in self.seen:
            return
        self.seen.add(digest)
        with open(os.path.join(self.directory, name), "wb") as f:
            f.write(content)

    def __len__(self):
        return len(self.seen)


def seeds_from_pcaps(pcap_dir, out_dir):
    reader = Writer(os.path.join(out_dir, "pcap_reader"))
    single = Writer(os.path.join(out_dir, "decode_flow"))
    seq = Writer(os.path.join(out_dir, "flow_sequence"))
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(pcap_dir) for f in fs
                   if f.endswith((".pcap", ".pcapng", ".cap")))
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        name = os.path.relpath(path, pcap_dir).replace("/", "--")
        if len(data) < READER_MAX:
            reader.write(name, data)
        frames = []
        for linktype, ts, frame in frames_of(data):
            if linktype not in LINK_INDEX:
                break
            frames.append((linktype, ts, frame))
            if len(frames) >= SEQ_MAX_FRAMES:
                break
        for i, (linktype, _, frame) in enumerate(frames[:FRAMES_PER_FILE]):
            single.write("%s-%d" % (name, i), bytes([LINK_INDEX[linktype]]) + frame[:FRAME_MAX])
        if frames:
            seq.write(name, sequence(frames))
    print("make-seeds: %d files read; %d reader, %d single-frame, %d sequence seeds in %s"
          % (len(files), len(reader), len(single), len(seq), out_dir))


def sequence(frames):
    """flow_sequence input: frames of the first frame's link type, real gaps."""
    linktype = frames[0][0]
    out = bytearray([LINK_INDEX[linktype]])
    prev = frames[0][1]
    for lt, ts, frame in frames:
        if lt != linktype:
            break
        frame = frame[:2048]
        step = max(0, min(255, (ts - prev) // STEP_US)) if ts >= prev else 0
        prev = ts
        if len(out) + 3 + len(frame) > SEQ_MAX_BYTES:
            break
        out += struct.pack(">HB", len(frame), step) + frame
    return bytes(out)


# ---- known-good inputs ----------------------------------------------------

def ipv4(proto, payload, src=(198, 18, 0, 1), dst=(198, 18, 0, 2)):
    header = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                         bytes(src), bytes(dst))
    return header + payload


def ipv6(next_header, payload):
    src = bytes.fromhex("20010db8000000000000000000000001")
    dst = bytes.fromhex("20010db8000000000000000000000002")
    return struct.pack(">IHBB", 6 << 28, len(payload), next_header, 64) + src + dst + payload


def tcp(sport, dport, seq, ack, flags, data=b"", options=b""):
    offset = (20 + len(options)) // 4
    return struct.pack(">HHIIBBHHH", sport, dport, seq, ack, offset << 4, flags, 65535, 0,
                       0) + options + data


def udp(sport, dport, data):
    return struct.pack(">HHHH", sport, dport, 8 + len(data), 0) + data


def ethernet(payload, ethertype=0x0800):
    return bytes.fromhex("020000000002" "020000000001") + struct.pack(">H", ethertype) + payload


def sll2(payload, protocol):
    # Linux cooked v2: protocol, reserved, ifindex, arphrd, pkttype, addr len, address.
    return struct.pack(">HHIHBB8s", protocol, 0, 1, 1, 0, 6, bytes(8)) + payload


def classic_pcap(frames, linktype=1):
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    for i, frame in enumerate(frames):
        out += struct.pack("<IIII", 1700000000, i * 1000, len(frame), len(frame)) + frame
    return out


def pcapng(frames, linktype=1):
    def block(btype, body):
        body += bytes(-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", linktype, 0, 65535))
    for i, frame in enumerate(frames):
        ts = 1700000000 * 1000000 + i * 1000
        out += block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(frame),
                                    len(frame)) + frame)
    return out


def tls_client_hello(sni=b"www.example.test", alpn=(b"h2", b"http/1.1")):
    """A TLS 1.3 ClientHello record (RFC 8446 4.1.2) with SNI, ALPN and
    supported_versions, built field by field."""
    def vec(width, body):
        return len(body).to_bytes(width, "big") + body
    sni_ext = vec(2, b"\x00" + vec(2, sni))
    alpn_ext = vec(2, b"".join(vec(1, a) for a in alpn))
    versions = vec(1, b"\x0a\x0a\x03\x04\x03\x03")
    exts = (struct.pack(">H", 0) + vec(2, sni_ext) + struct.pack(">H", 16) + vec(2, alpn_ext)
            + struct.pack(">H", 43) + vec(2, versions))
    body = (b"\x03\x03" + bytes(range(32)) + vec(1, bytes(32)) + vec(2, b"\x13\x01\x13\x02")
            + vec(1, b"\x00") + vec(2, exts))
    hs = b"\x01" + vec(3, body)
    return b"\x16\x03\x01" + vec(2, hs)


def dns_message(response, qname=b"www.example.test", qtype=1):
    """A DNS query, or its response with one A answer (RFC 1035 4.1)."""
    name = b"".join(bytes([len(l)]) + l for l in qname.split(b".")) + b"\x00"
    flags = 0x8180 if response else 0x0100
    out = struct.pack(">HHHHHH", 0x1234, flags, 1, 1 if response else 0, 0, 0)
    out += name + struct.pack(">HH", qtype, 1)
    if response:
        out += b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 300, 4) + bytes([198, 18, 0, 2])
    return out


def known_good(directory):
    mss = struct.pack(">BBH", 2, 4, 1460)
    syn = ethernet(ipv4(6, tcp(40000, 80, 1000, 0, 0x02, options=mss)))
    synack = ethernet(ipv4(6, tcp(80, 40000, 5000, 1001, 0x12, options=mss),
                           src=(198, 18, 0, 2), dst=(198, 18, 0, 1)))
    ack = ethernet(ipv4(6, tcp(40000, 80, 1001, 5001, 0x10, data=b"GET / HTTP/1.0\r\n\r\n")))
    fin = ethernet(ipv4(6, tcp(40000, 80, 1019, 5001, 0x11)))
    finack = ethernet(ipv4(6, tcp(80, 40000, 5001, 1020, 0x11),
                           src=(198, 18, 0, 2), dst=(198, 18, 0, 1)))
    dns6 = ipv6(17, udp(5353, 53, b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"))
    ping = ipv4(1, struct.pack(">BBHHH", 8, 0, 0, 7, 1) + b"netmoon")

    def reasm_op(op, direction, off, length):
        return struct.pack(">BHH", op << 1 | direction, off, length)

    inputs = {
        "l7_tls": {
            "good-client-hello": tls_client_hello(),
            # The same message cut into two records (RFC 8446 5.1 allows it).
            "good-client-hello-two-records": (lambda hs: b"\x16\x03\x01" + struct.pack(">H", 40)
                                              + hs[:40] + b"\x16\x03\x01"
                                              + struct.pack(">H", len(hs) - 40) + hs[40:])(
                                                  tls_client_hello()[5:]),
        },
        "l7_http": {
            "good-request": b"GET /index.html?q=1 HTTP/1.1\r\nUser-Agent: x\r\n"
                            b"Host: www.example.test\r\n\r\n",
            "good-response": b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        },
        "l7_dns": {
            "good-query": dns_message(False),
            "good-response": dns_message(True),
            "good-tcp-response": struct.pack(">H", len(dns_message(True))) + dns_message(True),
        },
        "l7_ssh": {
            "good-banner": b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
            "good-server-lines-first": b"hello\r\nSSH-2.0-nm_1.0 comment\r\n",
        },
        "reassembly": {
            # Segments out of order, an overlap, an ACK over a hole, a FIN.
            "good-ooo-overlap-ack": b"".join((
                reasm_op(0, 0, 1000, 500), reasm_op(0, 0, 0, 700), reasm_op(0, 0, 600, 600),
                reasm_op(0, 1, 3000, 100), reasm_op(1, 1, 3200, 0), reasm_op(2, 0, 1500, 0),
                reasm_op(1, 0, 1501, 0))),
            # More waiting data than the pool holds, then a release.
            "good-caps-release": b"".join(
                [reasm_op(0, 0, 2000 + 1500 * i, 1400) for i in range(30)]
                + [reasm_op(0, 1, 5000, 3000), reasm_op(3, 0, 0, 0), reasm_op(0, 1, 0, 3999)]),
        },
        "pcap_reader": {
            "good-classic-usec.pcap": classic_pcap([syn, synack, ack]),
            "good-pcapng-epb.pcapng": pcapng([syn, fin]),
            "good-truncated-record.pcap": classic_pcap([syn, ack])[:-10],
        },
        "decode_flow": {
            "good-ethernet-ipv4-tcp-syn": bytes([LINK_INDEX[1]]) + syn,
            "good-raw-ipv6-udp": bytes([LINK_INDEX[101]]) + dns6,
            "good-sll2-ipv4-icmp-echo": bytes([LINK_INDEX[276]]) + sll2(ping, 0x0800),
        },
        "flow_sequence": {
            "good-tcp-handshake-data-fin": bytes([LINK_INDEX[1]]) + b"".join(
                struct.pack(">HB", len(f), step) + f
                for f, step in ((syn, 0), (synack, 1), (ack, 1), (fin, 2), (finack, 1))),
            "good-idle-gap-udp": bytes([LINK_INDEX[101]]) + b"".join(
                struct.pack(">HB", len(f), step) + f for f, step in ((dns6, 0), (dns6, 200))),
        },
    }
    for target, files in inputs.items():
        os.makedirs(os.path.join(directory, target), exist_ok=True)
        for name, content in files.items():
            with open(os.path.join(directory, target, name), "wb") as f:
                f.write(content)
    print("make-seeds: known-good inputs written under %s" % directory)


def main(argv):
    if len(argv) == 3 and argv[1] == "--known-good":
        known_good(argv[2])
    elif len(argv) == 3 and not argv[1].startswith("-"):
        if not os.path.isdir(argv[1]):
            sys.exit("make-seeds: %s is not a directory (the shared pcaps: ../shared/pcaps)"
                     % argv[1])
        seeds_from_pcaps(argv[1], argv[2])
    else:
        sys.exit(__doc__.split("\n\n")[1])


if __name__ == "__main__":
    main(sys.argv)
