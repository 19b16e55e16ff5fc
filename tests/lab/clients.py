#!/usr/bin/env python3
"""tests/lab/clients.py: small traffic generators for the lab that curl, dig
and ping cannot produce.  Standard library only; every socket operation has a
timeout so nothing here can hang a capture run.

  clients.py port-reuse HOST PORT LOCALPORT
      Two HTTP/1.0-style exchanges from the same client port, one after the
      other: the server closes first ("Connection: close"), so the TIME_WAIT
      state is on the server, and the client can bind the same port again
      (SO_REUSEADDR) with a fresh SYN (RFC 9293 3.10.7.4 / Linux accepts a
      SYN for a TIME_WAIT tuple whose sequence number is higher).
  clients.py rst-reuse HOST PORT LOCALPORT
      Connect, send a request, abort with SO_LINGER 0 (the client sends RST),
      then connect again from the same port at once.
  clients.py dns-udp SERVER NAME...
      One UDP socket, one A query per NAME, all on the same 5-tuple.
  clients.py udp-closed HOST PORT
      One datagram to a port nobody listens on: the server's kernel answers
      with ICMP (v4 type 3 code 3, v6 type 1 code 4) port unreachable.
"""
import random
import socket
import struct
import sys
import time

TIMEOUT = 5.0


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def http_get(sock, host, path="/"):
    req = (f"GET {path} HTTP/1.1\r\nHost: www.example.test\r\n"
           "User-Agent: netmoon-lab\r\nConnection: close\r\n\r\n")
    sock.sendall(req.encode())
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def bound_socket(host, localport):
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(TIMEOUT)
    s.bind(("", localport))
    return s


def port_reuse(host, port, localport):
    for i in range(2):
        s = bound_socket(host, localport)
        s.connect((host, port))
        reply = http_get(s, host)
        s.close()
        print(f"port-reuse {i}: {len(reply)} bytes", file=sys.stderr)
        # Let the server's FIN/ACK exchange finish before the next SYN.
        time.sleep(1.0)


def rst_reuse(host, port, localport):
    s = bound_socket(host, localport)
    s.connect((host, port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: www.example.test\r\n\r\n")
    s.recv(100)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()  # linger 0: RST instead of FIN
    time.sleep(0.2)
    s = bound_socket(host, localport)
    s.connect((host, port))
    reply = http_get(s, host)
    s.close()
    print(f"rst-reuse: {len(reply)} bytes", file=sys.stderr)


def dns_query(name, qid, qtype=1):
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return header + qname + struct.pack("!HH", qtype, 1)


def dns_udp(server, names):
    s = socket.socket(family_of(server), socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT)
    for name in names:
        qid = random.randrange(65536)
        s.sendto(dns_query(name, qid), (server, 53))
        reply, _ = s.recvfrom(4096)
        rcode = reply[3] & 0xF
        print(f"dns-udp {name}: id {qid} rcode {rcode}", file=sys.stderr)
    s.close()


def udp_closed(host, port):
    s = socket.socket(family_of(host), socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.connect((host, port))
    s.send(b"is anybody there?")
    try:
        s.recv(100)
    except (ConnectionRefusedError, socket.timeout) as e:
        print(f"udp-closed: {e!r}", file=sys.stderr)
    s.close()


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "port-reuse":
        port_reuse(args[0], int(args[1]), int(args[2]))
    elif cmd == "rst-reuse":
        rst_reuse(args[0], int(args[1]), int(args[2]))
    elif cmd == "dns-udp":
        dns_udp(args[0], args[1:])
    elif cmd == "udp-closed":
        udp_closed(args[0], int(args[1]))
    else:
        print(f"unknown command {cmd}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
