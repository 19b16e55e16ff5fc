#!/usr/bin/env python3
"""tests/live/fanout_next_zero.py IFACE: make the kernel's next unique
PACKET_FANOUT group id 0 in the calling network namespace.

The kernel hands out unique fanout ids (PACKET_FANOUT_FLAG_UNIQUEID,
net/packet/af_packet.c fanout_find_new_id) from one counter that starts at
0 at boot and counts up, skipping ids in use in the caller's namespace.  So
the first multi-worker capture after boot gets group 0, and a program that
took 0 to mean "no group yet" would start a second group for its second
worker, which then sees every packet too.  Tests run this just before such
a capture to put it in that case on any machine: it takes ids until it has
taken 65535, the id before 0.  Exits 0 when the last id it took was 65535;
the caller still has to check which group its capture got, since any
other program asking for an id in between takes 0 first.

Two ways to take ids:
  - fast: one socket that is not bound asks for a new group again and
    again.  The kernel this was written on (6.18) hands out the id before
    it checks that the socket is running, then fails with EINVAL and
    frees the group: an id per system call.  A bound socket before and
    after tells whether the counter moved that way;
  - otherwise: a bound socket per id, 4000 open at a time.  Closing a
    packet socket waits for an RCU grace period (milliseconds), so they
    are closed from 200 threads, which share grace periods.  Up to half a
    minute for the 65,536 ids.
Needs CAP_NET_RAW; IFACE should carry no traffic while it runs (lo in a
fresh namespace: the sockets are bound to it).
"""
import errno
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
LAST_ID = 0xffff
BATCH = 4000
NEW_GROUP = struct.pack("i", (PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_UNIQUEID) << 16)


def take_id(ifname):
    """A socket in a new group of its own, and the group's id."""
    # Protocol 0 at creation, ETH_P_ALL at bind: a socket created running
    # is unhooked again by bind, which waits for a grace period.
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        s.bind((ifname, ETH_P_ALL))   # a group needs a bound, running socket
        s.setsockopt(SOL_PACKET, PACKET_FANOUT, NEW_GROUP)
        got = struct.unpack("i", s.getsockopt(SOL_PACKET, PACKET_FANOUT, 4))[0]
    except OSError:
        s.close()
        raise
    return s, got & 0xffff


def close_all(socks):
    def closer(part):
        for s in part:
            s.close()
    threads = [threading.Thread(target=closer, args=(socks[i::200],)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def take_and_close(ifname):
    s, got = take_id(ifname)
    s.close()
    return got


def burn_unbound(n):
    """Asks for n new groups on a socket that is not bound (see above)."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        for _ in range(n):
            try:
                s.setsockopt(SOL_PACKET, PACKET_FANOUT, NEW_GROUP)
                return False          # a group on an unbound socket: not this kernel
            except OSError as e:
                if e.errno != errno.EINVAL:
                    return False
    finally:
        s.close()
    return True


def fast(ifname):
    first = take_and_close(ifname)
    if first == LAST_ID:
        return True
    want = LAST_ID - 1 - first        # ids first+1 .. LAST_ID-1
    return burn_unbound(want) and take_and_close(ifname) == LAST_ID


def slow(ifname):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < BATCH + 256:
        raise SystemExit("fanout_next_zero: needs %d open files, the limit is %d" % (BATCH + 256, hard))
    resource.setrlimit(resource.RLIMIT_NOFILE, (BATCH + 256, hard))
    taken = 0
    while taken <= 65536:
        socks, last = [], None
        try:
            while len(socks) < BATCH and last != LAST_ID:
                s, last = take_id(ifname)
                socks.append(s)
        finally:
            close_all(socks)
        taken += len(socks)
        if last == LAST_ID:
            return True
    return False


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: fanout_next_zero.py IFACE")
    if fast(sys.argv[1]) or slow(sys.argv[1]):
        return 0
    print("fanout_next_zero: never got id 65535", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
