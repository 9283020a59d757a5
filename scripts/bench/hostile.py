#!/usr/bin/env python3
"""Hostile datagrams at a tsweave data-plane port (test/netns/perf-integrity.test.ts).

  hostile.py ADDR PORT PCAP
Sends, each both one by one and as one UDP GSO burst (so they also cross the receiver's GRO split path):
random datagrams, runts, and the encrypted datagrams captured in PCAP (a tcpdump of the real overlay)
replayed verbatim and with one body bit flipped. Prints what it sent.
"""
import os
import socket
import struct
import sys

UDP_SEGMENT = 103


def captured(path):
    out = []
    with open(path, "rb") as f:
        data = f.read()
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        pkt = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        ihl = (pkt[14] & 15) * 4
        out.append(pkt[14 + ihl + 8 :])
    return out


def burst(s, dst, dgrams):
    """All of the same length: one sendmsg with UDP_SEGMENT."""
    if len(dgrams) < 2:
        for d in dgrams:
            s.sendto(d, dst)
        return
    seg = len(dgrams[0])
    s.sendmsg([b"".join(dgrams)], [(socket.SOL_UDP, UDP_SEGMENT, struct.pack("H", seg))], 0, dst)


def main():
    addr, port, pcap = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    dst = (addr, port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = {}
    rnd = [os.urandom(1434) for _ in range(32)]
    for d in rnd:
        s.sendto(d, dst)
    burst(s, dst, rnd)
    sent["random"] = 64
    runts = [os.urandom(n) for n in (0, 1, 5, 13)]
    for d in runts:
        s.sendto(d, dst)
    sent["runt"] = len(runts)
    caps = captured(pcap)
    for d in caps:
        s.sendto(d, dst)
    same = [d for d in caps if len(d) == len(caps[0])]
    burst(s, dst, same)
    sent["replayed"] = len(caps) + len(same)
    flipped = []
    for d in caps:
        b = bytearray(d)
        b[len(b) // 2] ^= 0x01
        flipped.append(bytes(b))
    for d in flipped:
        s.sendto(d, dst)
    sent["flipped"] = len(flipped)
    print(sent)


if __name__ == "__main__":
    main()
