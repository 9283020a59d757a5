#!/usr/bin/env python3
"""Checksummed TCP stream for the integrity test (test/netns/perf-integrity.test.ts).

  stream.py recv ADDR PORT               accept one connection, read to EOF, print "BYTES SHA256"
  stream.py send ADDR PORT BYTES SEED    send BYTES pseudo-random bytes (seeded), print "BYTES SHA256"
"""
import hashlib
import random
import socket
import sys

CHUNK = 1 << 20


def recv(addr, port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(1)
    c, _ = s.accept()
    h = hashlib.sha256()
    n = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while True:
        k = c.recv_into(buf)
        if k == 0:
            break
        h.update(view[:k])
        n += k
    print(n, h.hexdigest(), flush=True)


def send(addr, port, total, seed):
    rng = random.Random(seed)
    s = socket.create_connection((addr, port), timeout=60)
    h = hashlib.sha256()
    n = 0
    while n < total:
        k = min(CHUNK, total - n)
        data = rng.randbytes(k)
        h.update(data)
        s.sendall(data)
        n += k
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()
    print(n, h.hexdigest(), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "recv":
        recv(sys.argv[2], int(sys.argv[3]))
    else:
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
