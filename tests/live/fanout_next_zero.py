#!/usr/bin/env python3
"""tests/live/fanout_next_zero.py IFACE: make the kernel's next unique
PACKET_FANOUT group id 0 in the calling network namespace.

The kernel hands out unique fanout ids (PACKET_FANOUT_FLAG_UNIQUEID,
net/packet/af_packet.c fanout_find_new_id) from one counter that starts at
0 at boot and counts up, skipping ids in use in the caller's namespace.  So
the first multi-worker capture after boot gets group 0, and a program that
took 0 to mean "no group yet" would start a second group for its second
worker, which then sees every packet too.  Tests run this just before such
a capture to put it in that case on any machine: it takes ids (a packet
socket bound to IFACE joins a new group, reads its id, closes) until it
has taken 65535, the id before 0: at most 65,536 sockets, open 4000 at a
time, up to half a minute.
Needs CAP_NET_RAW; exits 1 if an id cannot be had.
"""
import resource
import socket
import struct
import sys
import threading

SOL_PACKET = 263
PACKET_FANOUT = 18
PACKET_FANOUT_HASH = 0
PACKET_FANOUT_FLAG_UNIQUEID = 0x2000
ETH_P_ALL = 0x0003
BATCH = 4000


def take_id(ifname):
    """A socket in a new group of its own, and the group's id."""
    # Protocol 0 at creation, ETH_P_ALL at bind: a socket created running
    # is unhooked again by bind, which waits for an RCU grace period
    # (milliseconds each).
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    s.bind((ifname, ETH_P_ALL))   # fanout needs a bound, running socket
    arg = (PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_UNIQUEID) << 16
    s.setsockopt(SOL_PACKET, PACKET_FANOUT, struct.pack("i", arg))
    got = struct.unpack("i", s.getsockopt(SOL_PACKET, PACKET_FANOUT, 4))[0]
    return s, got & 0xffff


def close_all(socks):
    """Closing a packet socket waits for a grace period too: many threads
    share them."""
    def closer(part):
        for s in part:
            s.close()
    threads = [threading.Thread(target=closer, args=(socks[i::200],)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: fanout_next_zero.py IFACE")
    resource.setrlimit(resource.RLIMIT_NOFILE, (BATCH + 256, BATCH + 256))
    taken = 0
    while taken <= 65536:
        socks, last = [], None
        while len(socks) < BATCH and last != 0xffff:
            s, last = take_id(sys.argv[1])
            socks.append(s)
        close_all(socks)
        taken += len(socks)
        if last == 0xffff:
            return 0
    print("fanout_next_zero: never got id 65535", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
