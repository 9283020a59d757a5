// What the native fast path tests build and check on the wire, with the TypeScript reference
// (dataplane/packer.ts, the overlay's header, crypto/data-aead.ts nodeDataAead): DATA datagrams as the
// remote peer would send them, the fast path's datagrams opened back into frames, and Ethernet/IPv4/UDP
// frames carrying a sequence number. No native addon here (the outer, non-namespace run loads this too).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { nodeDataAead } from '../../src/crypto/data-aead.js';
import { Packer, forEachFrame } from '../../src/dataplane/packer.js';
import { ipv4ToU32 } from '../../src/io/udp.js';
import * as wire from '../../src/wire/data-packet.js';

type AeadHandle = ReturnType<typeof nodeDataAead.create>;

/** The peers and addresses the fast path tests play with. */
export const LOOPBACK = 0x7f000001;
export const LOCAL_PEER = 0x0a0000000001;
export const REMOTE_PEER = 0x0b0000000002;
export const TEST_MTU = 1376;
/** The MAC behind the remote peer (a permanent neighbour on the TAP). */
export const PEER_MAC = Buffer.from([2, 0, 0, 0, 0, 2]);
export const macNum = (b: Uint8Array): number => b.reduce((a, x) => a * 256 + x, 0);

/** Fresh session keys, and the remote's side of them: it seals with what we open with and vice versa. */
export function sessionKeys() {
  const keys = { sendKey: randomBytes(32), sendSalt: randomBytes(4), recvKey: randomBytes(32), recvSalt: randomBytes(4) };
  return {
    keys,
    remoteSeal: nodeDataAead.create(keys.recvKey, keys.recvSalt, true),
    remoteOpen: nodeDataAead.create(keys.sendKey, keys.sendSalt, false),
  };
}

/** The overlay's DATA header (overlay.ts writeHeader). */
export function writeHeader(buf: Buffer, off: number, type: number, receiverIdx: number, counter: number): void {
  buf[off + wire.OFF_TYPE] = type;
  buf[off + wire.OFF_KEYGEN] = 0;
  buf.writeUInt32BE(receiverIdx >>> 0, off + wire.OFF_RECEIVER_IDX);
  buf.writeUInt32BE(Math.floor(counter / 0x100000000), off + wire.OFF_COUNTER);
  buf.writeUInt32BE(counter >>> 0, off + wire.OFF_COUNTER + 4);
}

/**
 * The reference path's datagram for frames to one next hop: Packer, header, nodeDataAead seal.
 * partial[i]: set frame i's checksum-partial flag (bit 15 of its length; wire/data-packet.ts).
 */
export function referenceDatagram(
  maxDatagramBytes: number,
  seal: AeadHandle,
  receiverIdx: number,
  origin: number,
  dst: number,
  frames: Uint8Array | Uint8Array[],
  counter: number,
  gen = 0,
  partial: readonly boolean[] = [],
): Buffer {
  const p = new Packer({ maxDatagramBytes, capacity: 1 });
  let at = wire.DATA_HEADER_BYTES;
  for (const [i, f] of (Array.isArray(frames) ? frames : [frames]).entries()) {
    assert.ok(p.add(dst, origin, dst, f, 0, f.length));
    if (partial[i]) p.buf[at + 12] |= wire.FRAME_LEN_CSUM_PARTIAL >> 8;
    at += wire.FRAME_HEADER_BYTES + f.length;
  }
  assert.equal(p.count, 1, 'the frames fit one datagram');
  writeHeader(p.buf, p.offsets[0]!, wire.PACKET_TYPE_DATA, receiverIdx, counter);
  p.buf[p.offsets[0]! + wire.OFF_KEYGEN] = gen;
  nodeDataAead.sealBatch(seal, p.buf, p.offsets, p.lengths, 1);
  return Buffer.from(p.buf.subarray(p.offsets[0]!, p.offsets[0]! + p.lengths[0]!));
}

/**
 * Opens a datagram the fast path sent (as the remote) and returns its counter and frames. csumPartial:
 * read it as a csumPartial session does (flagged frames come back completed; `partial` says which were).
 */
export function openDatagram(
  open: AeadHandle,
  d: Buffer,
  origin: number,
  dst: number,
  csumPartial = false,
): { counter: number; frames: Buffer[]; partial: boolean[] } {
  const opened = Buffer.from(d);
  const lens = new Int32Array([opened.length]);
  assert.equal(nodeDataAead.openBatch(open, opened, new Int32Array([0]), lens, 1, new Uint8Array(1)), 1, 'datagram opens');
  const frames: Buffer[] = [];
  const partial: boolean[] = [];
  // Which frames came flagged (forEachFrame clears the flags as it completes them).
  for (let p = wire.DATA_HEADER_BYTES; p + wire.FRAME_HEADER_BYTES <= lens[0]!;) {
    const raw = opened.readUInt16BE(p + 12);
    const flag = csumPartial && (raw & wire.FRAME_LEN_CSUM_PARTIAL) !== 0;
    partial.push(flag);
    p += wire.FRAME_HEADER_BYTES + (flag ? raw & ~wire.FRAME_LEN_CSUM_PARTIAL : raw);
  }
  const ok = forEachFrame(opened, wire.DATA_HEADER_BYTES, lens[0]! - wire.DATA_HEADER_BYTES, (o, t, fo, fl) => {
    assert.equal(o, origin);
    assert.equal(t, dst);
    frames.push(Buffer.from(opened.subarray(fo, fo + fl)));
  }, csumPartial);
  assert.ok(ok && frames.length > 0, 'well-formed frames');
  const counter = opened.readUInt32BE(wire.OFF_COUNTER) * 0x100000000 + opened.readUInt32BE(wire.OFF_COUNTER + 4);
  return { counter, frames, partial };
}

/** Ethernet + IPv4 + UDP frame (UDP checksum 0 = none) carrying u32 seq then a pattern. */
export function udpFrame(dstMac: Buffer, srcMac: Buffer, src: string, dst: string, port: number, len: number, seq: number, srcPort = 5555): Buffer {
  const f = Buffer.alloc(14 + 20 + 8 + len);
  dstMac.copy(f, 0);
  srcMac.copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(20 + 8 + len, 16);
  f[22] = 64;
  f[23] = 17;
  f.writeUInt32BE(ipv4ToU32(src), 26);
  f.writeUInt32BE(ipv4ToU32(dst), 30);
  let sum = 0;
  for (let j = 14; j < 34; j += 2) sum += f.readUInt16BE(j);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  f.writeUInt16BE(~sum & 0xffff, 24);
  f.writeUInt16BE(srcPort, 34);
  f.writeUInt16BE(port, 36);
  f.writeUInt16BE(8 + len, 38);
  f.writeUInt32BE(seq, 42);
  for (let j = 4; j < len; j++) f[42 + j] = (seq * 7 + j) & 255;
  return f;
}

export async function until(cond: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Sum of 16-bit big-endian words of b[off, off+len), folded (RFC 1071; the test's own, not the router's). */
function onesSum(b: Uint8Array, off: number, len: number, sum = 0): number {
  for (let j = 0; j < len; j += 2) sum += (b[off + j]! << 8) | (j + 1 < len ? b[off + j + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The TCP pseudo-header sum of an IPv4 TCP frame (folded, not inverted): what a partial checksum holds. */
export function tcpPseudoSum(f: Buffer): number {
  const ihl = (f[14]! & 15) * 4;
  return onesSum(f, 26, 8, 6 + (f.readUInt16BE(16) - ihl));
}

/** Whether an IPv4 TCP frame's IP and TCP checksums are both right. */
export function tcpChecksumsOk(f: Buffer): boolean {
  const ihl = (f[14]! & 15) * 4;
  return onesSum(f, 14, ihl) === 0xffff && onesSum(f, 14 + ihl, f.length - 14 - ihl, tcpPseudoSum(f)) === 0xffff;
}

export interface TcpFrameOpts {
  seq: number;
  ack?: number;
  /** TCP flags byte. @default 0x10 (ACK) */
  flags?: number;
  payload?: Uint8Array;
  /** full: a correct checksum; partial: the pseudo-header sum only (as NEEDS_CSUM leaves it); bad: wrong. */
  csum: 'full' | 'partial' | 'bad';
}

/** Ethernet + IPv4 (DF) + TCP (20-byte header) frame. */
export function tcpFrame(dstMac: Buffer, srcMac: Buffer, src: string, dst: string, sport: number, dport: number, o: TcpFrameOpts): Buffer {
  const pay = o.payload ?? new Uint8Array(0);
  const f = Buffer.alloc(14 + 20 + 20 + pay.length);
  dstMac.copy(f, 0);
  srcMac.copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(40 + pay.length, 16);
  f.writeUInt16BE(0x4000, 20);
  f[22] = 64;
  f[23] = 6;
  f.writeUInt32BE(ipv4ToU32(src), 26);
  f.writeUInt32BE(ipv4ToU32(dst), 30);
  f.writeUInt16BE(~onesSum(f, 14, 20) & 0xffff, 24);
  f.writeUInt16BE(sport, 34);
  f.writeUInt16BE(dport, 36);
  f.writeUInt32BE(o.seq >>> 0, 38);
  f.writeUInt32BE((o.ack ?? 0) >>> 0, 42);
  f[46] = 0x50;
  f[47] = o.flags ?? 0x10;
  f.writeUInt16BE(65535, 48);
  f.set(pay, 54);
  const ps = tcpPseudoSum(f);
  const full = ~onesSum(f, 34, 20 + pay.length, ps) & 0xffff;
  f.writeUInt16BE(o.csum === 'partial' ? ps : o.csum === 'full' ? full : full ^ 0x5a5a, 50);
  return f;
}
