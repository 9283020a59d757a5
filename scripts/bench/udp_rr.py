#!/usr/bin/env python3
"""UDP request/response rate (like netperf UDP_RR): one outstanding 64-byte request at a time.

  udp_rr.py server ADDR PORT            echo every datagram back (runs until killed)
  udp_rr.py client ADDR PORT SECONDS    prints transactions/s (a lost datagram times out after 50 ms)
The same tool measures every overlay in scripts/bench.sh, so its own cost cancels out in the ratios.
"""
import socket
import sys
import time


def server(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        data, peer = s.recvfrom(2048)
        s.sendto(data, peer)


def client(addr, port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((addr, port))
    s.settimeout(0.05)
    payload = b"x" * 64
    # warm up (ARP, MAC learning) and wait for the server: until it has answered 20 times, 15 s at most
    # (a loaded machine may start the server late: its port answers "refused" until then)
    ok = 0
    give_up = time.monotonic() + 15
    while ok < 20 and time.monotonic() < give_up:
        try:
            s.send(payload)
            s.recv(2048)
            ok += 1
        except socket.timeout:
            pass
        except ConnectionRefusedError:
            time.sleep(0.05)
    if ok == 0:
        sys.exit("udp_rr: no answer from %s:%d in 15 s" % (addr, port))
    n = lost = 0
    end = time.monotonic() + seconds
    start = time.monotonic()
    while time.monotonic() < end:
        s.send(payload)
        try:
            s.recv(2048)
            n += 1
        except (socket.timeout, ConnectionRefusedError):
            lost += 1
    el = time.monotonic() - start
    print(f"{n / el:.0f} {lost}")


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(sys.argv[2], int(sys.argv[3]))
    else:
        client(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
