import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { parseCidr, parsePeerName } from '../../../src/core/types.js';
import { cidrRange } from '../../../src/ipam/addr-range.js';
import {
  decodeGossip, decodePersisted, decodeUnicast, encodeGossip, encodePersisted, encodeUnicast, type UnicastMsg,
} from '../../../src/ipam/messages.js';
import { Paxos } from '../../../src/ipam/paxos.js';
import { Ring } from '../../../src/ipam/ring.js';
import { MAX_IPAM_MESSAGE_BYTES } from '../../../src/ipam/constants.js';

const A = parsePeerName('::a');
const B = parsePeerName('::b');
const R = cidrRange(parseCidr('10.32.0.0/12'));
const packr = new Packr({ useRecords: false });

function ring(): Ring {
  const r = new Ring(R, A);
  r.claimForPeers([A, B]);
  r.grant({ start: R.start + 10, end: R.start + 20 }, B);
  r.takeOver(B);
  return r;
}

function protocolError(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ERR_PROTOCOL', `${err.name}: ${err.message}`);
    assert.match(err.message, re);
    return true;
  });
}

test('gossip round trip: ring and paxos', () => {
  const p = new Paxos(A, 2);
  p.propose();
  p.think();
  const data = ring().toData();
  const bytes = encodeGossip({ start: R.start, end: R.end, complete: true, ring: data, paxos: p.state() });
  const m = decodeGossip(bytes);
  assert.deepEqual(m.ring, data);
  assert.deepEqual([...m.paxos!], [...p.state()]);
  assert.equal(m.complete, true);
  // re-encoding gives the same bytes
  assert.deepEqual(encodeGossip({ start: m.start, end: m.end, complete: m.complete, ring: m.ring, paxos: m.paxos }), bytes);
});

test('unicast round trips', () => {
  const msgs: UnicastMsg[] = [
    { kind: 'req', id: 7, start: R.start, end: R.end, wantStart: R.start + 1, wantEnd: R.start + 100, exact: false },
    { kind: 'req', id: 8, start: R.start, end: R.end, wantStart: R.start + 5, wantEnd: R.start + 6, exact: true },
    { kind: 'grant', id: 7, start: R.start, end: R.end, ring: ring().toData() },
    { kind: 'deny', id: 7, start: R.start, end: R.end, reason: 'no free addresses', ring: undefined },
    { kind: 'ring?', start: R.start, end: R.end },
    { kind: 'ring', start: R.start, end: R.end, ring: ring().toData() },
  ];
  for (const m of msgs) assert.deepEqual(decodeUnicast(encodeUnicast(m)), m);
});

test('persisted state round trip', () => {
  const s = {
    self: A, start: R.start, end: R.end, ring: ring().toData(), paxos: undefined,
    claims: [{ containerId: 'c1', addr: R.start + 1, prefix: 12 }], removedBy: undefined, nicknames: [[B, 'host2']] as [typeof B, string][],
  };
  assert.deepEqual(decodePersisted(encodePersisted(s)), s);
});

test('hostile gossip: garbage, truncation, trailing bytes, wrong shapes and types', () => {
  const good = encodeGossip({ start: R.start, end: R.end, complete: true, ring: ring().toData(), paxos: undefined });
  protocolError(() => decodeGossip(new Uint8Array()), /empty/);
  protocolError(() => decodeGossip(Uint8Array.from([0xc1])), /bad IPAM message/);
  protocolError(() => decodeGossip(good.subarray(0, good.length - 3)), /not valid msgpack/);
  protocolError(() => decodeGossip(Buffer.concat([good, Buffer.from([0])])), /not valid msgpack/);
  protocolError(() => decodeGossip(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])), /not valid msgpack/);
  protocolError(() => decodeGossip(packr.pack({ a: 1 })), /IPAM message must be an array/);
  protocolError(() => decodeGossip(packr.pack([2, 'g'])), /version must be 1/);
  protocolError(() => decodeGossip(packr.pack([1, 'x', 0, 1, 0, null, null])), /gossip kind must be "g"/);
  protocolError(() => decodeGossip(packr.pack([1, 'g', 5, 5, 0, null, null])), /range must not be empty/);
  protocolError(() => decodeGossip(packr.pack([1, 'g', -1, 5, 0, null, null])), /range start must be an integer/);
  protocolError(() => decodeGossip(packr.pack([1, 'g', 0, 10, 2, null, null])), /complete flag must be 0 or 1/);
  protocolError(() => decodeGossip(packr.pack([1, 'g', 0, 10, 0, 'ring', null])), /ring must be an array/);
  const seeds = [A];
  const ringWire = (tokens: unknown[], owners: unknown[], versions: unknown[], free: unknown[], peers: unknown[] = [A]) =>
    [seeds, peers, tokens, owners, versions, free, []];
  protocolError(() => decodeGossip(packr.pack([1, 'g', 0, 10, 1, ringWire([0, 20], [0, 0], [0, 0], [1, 1]), null])), /outside the allocation range/);
  protocolError(() => decodeGossip(packr.pack([1, 'g', 0, 10, 1, ringWire([5, 2], [0, 0], [0, 0], [1, 1]), null])), /strictly increasing/);
  protocolError(() => decodeGossip(packr.pack([1, 'g', 0, 10, 1, ringWire([0], [3], [0], [1]), null])), /ring owner 0 must be an integer 0..0/);
  protocolError(() => decodeGossip(packr.pack([1, 'g', 0, 10, 1, ringWire([0], [0], [0.5], [1]), null])), /ring version 0 must be an integer/);
  protocolError(() => decodeGossip(packr.pack([1, 'g', 0, 10, 1, ringWire([0], [0, 0], [0], [1]), null])), /ring owners must have 1 items/);
  protocolError(() => decodeGossip(packr.pack([1, 'g', 0, 10, 1, ringWire([0], [0], [0], [1], ['nope']), null])), /must be a peer name/);
  protocolError(() => decodeGossip(packr.pack([1, 'g', 0, 10, 1, [[B, A], [A], [0], [0], [0], [1], []], null])), /seeds must be sorted/);
  protocolError(() => decodeGossip(packr.pack([1, 'g', 0, 10, 0, null, [[A, 1, '', 0, '', null]]])), /has a round but no proposer/);
  protocolError(() => decodeGossip(packr.pack([1, 'g', 0, 10, 0, null, [[A, 1, A, 1, A, null]]])), /value exactly when it accepted/);
  protocolError(() => decodeGossip(packr.pack([1, 'g', 0, 10, 0, null, [[A, 0, '', 0, '', null], [A, 0, '', 0, '', null]]])), /lists node .* twice/);
  protocolError(() => decodeGossip(packr.pack([1, 'g', 0, 10, 0, null, [[A, { __proto__: 1 }, '', 0, '', null]]])), /promise round must be an integer/);
});

test('hostile input: size caps before decoding, counts above limits', () => {
  protocolError(() => decodeGossip(new Uint8Array(MAX_IPAM_MESSAGE_BYTES + 1)), /more than the limit/);
  const many = new Array(200_001).fill(0);
  protocolError(() => decodeGossip(packr.pack([1, 'g', 0, 10, 1, [[A], [A], many, [], [], [], []], null])), /more than the limit of 200000/);
});

test('hostile unicast: requests outside the range, bad exact requests, unknown kinds', () => {
  protocolError(() => decodeUnicast(packr.pack([1, 'req', 1, 0, 100, 50, 200, 0])), /wanted range must be a non-empty part/);
  protocolError(() => decodeUnicast(packr.pack([1, 'req', 1, 0, 100, 50, 60, 1])), /one address for an exact request/);
  protocolError(() => decodeUnicast(packr.pack([1, 'nuke', 1])), /kind is unknown/);
  protocolError(() => decodeUnicast(packr.pack([1, 'deny', 1, 0, 100, 'x'.repeat(2000), null])), /deny reason is longer/);
  protocolError(() => decodeUnicast(packr.pack([1, 'grant', 1, 0, 100])), /must have 6 fields/);
});

test('hostile persisted state', () => {
  protocolError(() => decodePersisted(packr.pack(['something-else', 1])), /is not tsweave IPAM state/);
  protocolError(() => decodePersisted(packr.pack(['tsweave-ipam', 1, A, 0, 10, null, null, [['', 1, 12]], null, []])), /container must not be empty/);
  protocolError(() => decodePersisted(packr.pack(['tsweave-ipam', 1, A, 0, 10, null, null, [['c', 1, 40]], null, []])), /prefix must be an integer 0..32/);
});

test('random byte flips never crash the decoders (only ProtocolError)', () => {
  const good = encodeGossip({ start: R.start, end: R.end, complete: true, ring: ring().toData(), paxos: undefined });
  let seed = 42;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  for (let i = 0; i < 3000; i++) {
    const b = Uint8Array.from(good);
    for (let k = 0; k < 1 + rnd(4); k++) b[rnd(b.length)] = rnd(256);
    try {
      decodeGossip(b);
    } catch (err) {
      assert.equal((err as { code?: string }).code, 'ERR_PROTOCOL', (err as Error).message);
    }
  }
});
