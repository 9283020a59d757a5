// Checksum-partial frames on the JS path (wire/data-packet.ts frame length bit 15): forEachFrame decodes
// the flag only on a csumPartial session, completes the checksum in place and clears the flag, and
// treats a flagged frame that cannot be a partial IPv4 TCP frame as malformed.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { forEachFrame } from '../../../src/dataplane/packer.js';
import { completeTcp4Partial } from '../../../src/dataplane/tcp-csum.js';
import { FRAME_HEADER_BYTES, FRAME_LEN_CSUM_PARTIAL } from '../../../src/wire/data-packet.js';
import { tcpChecksumsOk, tcpFrame, udpFrame } from '../../support/fastpath-wire.js';

const A = Buffer.from([2, 0, 0, 0, 0, 1]);
const B = Buffer.from([2, 0, 0, 0, 0, 2]);
const pay = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255));
const tcp = (csum: 'full' | 'partial' | 'bad', n = 1000, seed = 1): Buffer =>
  tcpFrame(B, A, '10.32.0.1', '10.32.0.2', 40000, 5201, { seq: 123456 + seed, ack: 99, payload: pay(n, seed), csum });

/** A DATA body of frames from origin 1 to destination 2; partial[i] sets bit 15 of frame i's length. */
function body(frames: Buffer[], partial: boolean[]): Buffer {
  const parts: Buffer[] = [];
  frames.forEach((f, i) => {
    const h = Buffer.alloc(FRAME_HEADER_BYTES);
    h.writeUIntBE(1, 0, 6);
    h.writeUIntBE(2, 6, 6);
    h.writeUInt16BE(f.length | (partial[i] ? FRAME_LEN_CSUM_PARTIAL : 0), 12);
    parts.push(h, f);
  });
  return Buffer.concat(parts);
}

function walk(b: Buffer, csumPartial: boolean): { ok: boolean; frames: Buffer[] } {
  const frames: Buffer[] = [];
  const ok = forEachFrame(b, 0, b.length, (o, d, fo, fl) => {
    assert.deepEqual([o, d], [1, 2]);
    frames.push(Buffer.from(b.subarray(fo, fo + fl)));
  }, csumPartial);
  return { ok, frames };
}

test('completeTcp4Partial turns a pseudo-header-only checksum into the full one (odd lengths too)', () => {
  for (const n of [0, 1, 2, 999, 1322]) {
    const f = tcp('partial', n, n);
    assert.equal(tcpChecksumsOk(f), false, 'partial is not yet valid');
    assert.ok(completeTcp4Partial(f, 0, f.length));
    assert.ok(tcpChecksumsOk(f), `completed, ${n} bytes`);
    assert.deepEqual(f, tcp('full', n, n));
  }
});

test('completeTcp4Partial refuses what no correct sender flags: not IPv4 TCP, headers outside, length mismatch, fragments', () => {
  const bad: Buffer[] = [];
  bad.push(udpFrame(B, A, '10.32.0.1', '10.32.0.2', 9, 100, 1)); // UDP
  bad.push(tcp('partial').subarray(0, 14 + 20 + 10)); // TCP header cut short
  const long = tcp('partial', 100);
  long.writeUInt16BE(long.readUInt16BE(16) + 4, 16); // IP says more than the frame holds
  bad.push(long);
  const thl = tcp('partial', 8);
  thl[46] = 0xf0; // a 60-byte TCP header in 28 bytes
  bad.push(thl);
  const frag = tcp('partial', 100);
  frag.writeUInt16BE(0x2000, 20); // more fragments
  bad.push(frag);
  const v6 = tcp('partial', 100);
  v6.writeUInt16BE(0x86dd, 12);
  bad.push(v6);
  const ihl = tcp('partial', 100);
  ihl[14] = 0x44; // IHL 16 bytes
  bad.push(ihl);
  for (const [i, f] of bad.entries()) {
    const copy = Buffer.from(f);
    assert.equal(completeTcp4Partial(f, 0, f.length), false, `bad frame ${i}`);
    assert.deepEqual(f, copy, 'left alone');
    // ... and a body carrying it flagged is malformed on a csumPartial session
    assert.equal(walk(body([tcp('full'), f], [false, true]), true).ok, false, `bad frame ${i} in a body`);
  }
});

test('forEachFrame: on a csumPartial session bit 15 flags a partial frame, completed before delivery and unflagged', () => {
  const frames = [tcp('partial', 1000, 1), tcp('full', 500, 2), tcp('partial', 7, 3), udpFrame(B, A, '10.32.0.1', '10.32.0.2', 9, 40, 4)];
  const b = body(frames, [true, false, true, false]);
  const r = walk(b, true);
  assert.equal(r.ok, true);
  assert.equal(r.frames.length, 4);
  assert.deepEqual(r.frames[0], tcp('full', 1000, 1));
  assert.deepEqual(r.frames[1], tcp('full', 500, 2));
  assert.deepEqual(r.frames[2], tcp('full', 7, 3));
  assert.deepEqual(r.frames[3], frames[3]);
  // The flag is gone from the body, so whatever passes the frame on (a relay) sends it unflagged.
  assert.equal(b.readUInt16BE(12) & FRAME_LEN_CSUM_PARTIAL, 0);
  assert.equal(walk(b, false).ok, true, 'the body is now valid in either reading');
});

test('forEachFrame: an unflagged frame with a bad checksum is never repaired; without csumPartial bit 15 is length', () => {
  const badSum = tcp('bad', 300);
  const r = walk(body([badSum], [false]), true);
  assert.ok(r.ok);
  assert.deepEqual(r.frames[0], badSum, 'delivered as it came: the container drops it');
  assert.equal(tcpChecksumsOk(r.frames[0]!), false);
  // An old-style session: the flag bit is part of the length, so this body lies about its length.
  assert.equal(walk(body([tcp('partial')], [true]), false).ok, false);
});
