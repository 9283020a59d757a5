#!/usr/bin/env python3
"""Sequence-numbered UDP flows for the multi-lane order test (test/netns/perf-lanes.test.ts).

  udpseq.py recv ADDR PORT FLOWS SECONDS   count per flow until SECONDS pass with nothing new (after the
                                           first datagram; up to 60 s for that one); print JSON
                                           {"received": n, "reordered": n, "flows": [per-flow counts]}
  udpseq.py send ADDR PORT FLOWS COUNT     COUNT datagrams on each of FLOWS flows (one socket, so one
                                           source port, per flow), interleaved; payload: flow, seq (u32 BE)

"reordered" counts datagrams whose sequence number is below one already seen on their flow: losses
(gaps) are not reordering and are allowed, a lower number after a higher one is.
"""
import json
import socket
import struct
import sys
import time


def recv(addr, port, flows, idle):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((addr, port))
    s.settimeout(60)
    top = [-1] * flows
    got = [0] * flows
    reordered = 0
    print("ready", file=sys.stderr, flush=True)
    while True:
        try:
            d = s.recv(2048)
        except socket.timeout:
            break
        s.settimeout(idle)
        flow, seq = struct.unpack_from("!II", d)
        if flow >= flows:
            continue
        got[flow] += 1
        if seq < top[flow]:
            reordered += 1
        else:
            top[flow] = seq
    print(json.dumps({"received": sum(got), "reordered": reordered, "flows": got}))


def send(addr, port, flows, count):
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(flows)]
    pad = bytes(1000)
    for seq in range(count):
        for flow, s in enumerate(socks):
            s.sendto(struct.pack("!II", flow, seq) + pad, (addr, port))
        if seq % 32 == 31:
            time.sleep(0.001)  # paced: losses from full queues would only hide reordering


if __name__ == "__main__":
    mode, addr, port, flows, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    if mode == "recv":
        recv(addr, port, flows, float(n))
    else:
        send(addr, port, flows, int(n))
