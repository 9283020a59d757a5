#!/usr/bin/env python3
"""Numbered UDP broadcasts for the exactly-once tests and the broadcast load (test/netns/relay.test.ts).

  bcast.py recv PORT SECONDS            count until SECONDS pass with nothing new (after the first
                                        datagram; up to 60 s for that one); print JSON
                                        {"received": n, "unique": n, "duplicates": n}
  bcast.py send ADDR PORT COUNT PPS     COUNT broadcasts to ADDR:PORT (SO_BROADCAST), payload the
                                        sequence number (u32 BE) padded to 64 bytes, PPS per second
                                        (0: as fast as the socket takes them); print the count sent
"""
import json
import socket
import struct
import sys
import time


def recv(port, idle):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("0.0.0.0", port))
    s.settimeout(60)
    seen = set()
    received = 0
    print("ready", file=sys.stderr, flush=True)
    while True:
        try:
            d = s.recv(2048)
        except socket.timeout:
            break
        s.settimeout(idle)
        if len(d) < 4:
            continue
        received += 1
        seen.add(struct.unpack_from("!I", d)[0])
    print(json.dumps({"received": received, "unique": len(seen), "duplicates": received - len(seen)}))


def send(addr, port, count, pps):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    pad = bytes(60)
    start = time.monotonic()
    sent = 0
    for i in range(count):
        if pps > 0:
            ahead = start + i / pps - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        try:
            s.sendto(struct.pack("!I", i) + pad, (addr, port))
            sent += 1
        except OSError:
            time.sleep(0.001)  # ENOBUFS under load: a broadcast not sent is not a broadcast lost
    print(sent)


if __name__ == "__main__":
    if sys.argv[1] == "recv":
        recv(int(sys.argv[2]), float(sys.argv[3]))
    else:
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
