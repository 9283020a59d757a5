import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Packr } from 'msgpackr';
import { MAX_CONTROL_MSG_BYTES } from '../../../src/core/defaults.js';
import { ProtocolError } from '../../../src/core/errors.js';
import type { PeerName } from '../../../src/core/types.js';
import { decodeControlMessage, encodeControlMessage, KIND_CODES, MAX_CLOSE_REASON_CHARS, unpackStrict } from '../../../src/wire/control-codec.js';
import type { ControlMessage, ControlMessageKind } from '../../../src/wire/control-messages.js';

const A = 'aa:bb:cc:dd:ee:01' as PeerName;
const B = 'aa:bb:cc:dd:ee:02' as PeerName;
const raw = new Packr({ useRecords: false });
const pack = (v: unknown): Buffer => raw.pack(v);

/** encode → decode → re-encode gives the same value and the same bytes; also decodes from a plain Uint8Array view at an offset. */
function roundTrip(msg: ControlMessage): void {
  const bytes = encodeControlMessage(msg);
  const back = decodeControlMessage(bytes);
  assert.deepEqual(normalise(back), normalise(msg));
  assert.ok(encodeControlMessage(back).equals(bytes), 're-encoding gives the same bytes');
  const padded = new Uint8Array(bytes.length + 10);
  padded.set(bytes, 10);
  assert.deepEqual(normalise(decodeControlMessage(padded.subarray(10))), normalise(msg));
}

/** Payloads compare by bytes whatever their class (Buffer vs Uint8Array); big ones by digest, to keep diffs small. */
function normalise(m: ControlMessage): unknown {
  if (m.kind === 'rekey') return { ...m, ...(m.pub ? { pub: Array.from(m.pub) } : {}) };
  if (!('payload' in m)) return m;
  const p = m.payload;
  return { ...m, payload: p.length > 4096 ? `${p.length} bytes sha256 ${createHash('sha256').update(p).digest('hex')}` : Array.from(p) };
}

function rejects(input: Uint8Array, message: RegExp): void {
  assert.throws(
    () => decodeControlMessage(input),
    (err: unknown) => {
      assert.ok(err instanceof ProtocolError, `expected ProtocolError, got ${String(err)}`);
      assert.equal(err.code, 'ERR_PROTOCOL');
      assert.match(err.message, message);
      return true;
    },
  );
}

const payload = Uint8Array.from([0, 1, 2, 250, 255]);
const everyKind: ControlMessage[] = [
  { kind: 'heartbeat' },
  { kind: 'gossip', channel: 'topology', payload },
  { kind: 'gossip', channel: 'ipam', payload: new Uint8Array(0) },
  { kind: 'gossip-unicast', channel: 'dns', src: A, dst: B, payload },
  { kind: 'gossip-broadcast', channel: 'ipam', src: B, payload },
  { kind: 'overlay', payload },
  { kind: 'frames', payload: new Uint8Array(1500).fill(7) },
  { kind: 'close', reason: 'shutting down' },
  { kind: 'close', reason: '' },
  { kind: 'close', reason: 'é'.repeat(MAX_CLOSE_REASON_CHARS) },
  { kind: 'rekey', op: 'init', gen: 1, pub: new Uint8Array(32).fill(7) },
  { kind: 'rekey', op: 'resp', gen: 2 ** 32, pub: new Uint8Array(32).fill(9) },
  { kind: 'rekey', op: 'installed', gen: 300 },
];

test('control codec: round trip for every message kind', () => {
  const kinds = new Set<ControlMessageKind>();
  for (const m of everyKind) {
    roundTrip(m);
    kinds.add(m.kind);
  }
  assert.deepEqual([...kinds].sort(), Object.keys(KIND_CODES).sort(), 'every kind is covered');
});

test('control codec: compact array form with the kind code first', () => {
  // (hex: msgpackr hangs a dataView property on its buffers, which deepEqual would compare)
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  assert.equal(hex(encodeControlMessage({ kind: 'heartbeat' })), '9100');
  assert.equal(hex(encodeControlMessage({ kind: 'close', reason: 'x' })), hex(pack([9, 'x'])));
  assert.equal(
    hex(encodeControlMessage({ kind: 'gossip-unicast', channel: 'dns', src: A, dst: B, payload })),
    hex(pack([5, 'dns', A, B, Buffer.from(payload)])),
  );
});

test('control codec: a large payload under the cap round-trips', () => {
  roundTrip({ kind: 'gossip', channel: 'topology', payload: new Uint8Array(MAX_CONTROL_MSG_BYTES - 64).fill(1) });
});

test('control codec: hostile input gives ProtocolError ERR_PROTOCOL with a specific message', () => {
  const good = encodeControlMessage({ kind: 'gossip-unicast', channel: 'dns', src: A, dst: B, payload });
  // Truncated at every length.
  for (let n = 0; n < good.length; n++) rejects(good.subarray(0, n), n === 0 ? /empty/ : /malformed msgpack/);
  // Trailing bytes.
  rejects(Buffer.concat([good, Buffer.from([0xc0])]), /1 trailing bytes/);
  // Not an array / empty / unknown kind.
  rejects(pack({ kind: 'heartbeat' }), /expected an array, got map/);
  rejects(pack('heartbeat'), /expected an array, got string/);
  rejects(pack([]), /empty array/);
  rejects(pack([42]), /unknown kind 42/);
  rejects(pack([1]), /unknown kind 1/);
  rejects(pack(['heartbeat']), /unknown kind string/);
  rejects(pack([-1]), /unknown kind -1/);
  // Wrong field counts.
  rejects(pack([0, 1]), /\(heartbeat\): has 1 fields, expected 0/);
  rejects(pack([4, 'dns']), /\(gossip\): has 1 fields, expected 2/);
  rejects(pack([9, 'a', 'b']), /\(close\): has 2 fields, expected 1/);
  // Wrong types.
  rejects(pack([4, 7, payload]), /\(gossip\): channel must be a string, got number/);
  rejects(pack([4, 'dns', 'abc']), /\(gossip\): payload must be binary, got string/);
  rejects(pack([4, 'dns', [1, 2]]), /payload must be binary, got array/);
  rejects(pack([4, 'dns', null]), /payload must be binary, got nil/);
  rejects(pack([7, { a: 1 }]), /\(overlay\): payload must be binary, got map/);
  rejects(pack([9, 5]), /\(close\): reason must be a string, got number/);
  rejects(pack([6, 'dns', 123, payload]), /src must be a peer name string, got number/);
  // Unknown channel.
  rejects(pack([4, 'IPallocation', payload]), /unknown channel "IPallocation"; must be topology, ipam or dns/);
  // Bad peer names: not canonical, shorthand, upper case.
  rejects(pack([5, 'dns', A, '::1', payload]), /dst "::1" is not a canonical peer name/);
  rejects(pack([5, 'dns', 'AA:BB:CC:DD:EE:01', B, payload]), /src "AA:BB:CC:DD:EE:01" is not a canonical peer name/);
  rejects(pack([6, 'topology', 'aa:bb:cc:dd:ee', payload]), /src "aa:bb:cc:dd:ee" is not a canonical/);
  // Oversize reason, oversize message.
  rejects(pack([9, 'x'.repeat(MAX_CLOSE_REASON_CHARS + 1)]), /reason of 1025 characters exceeds 1024/);
  rejects(new Uint8Array(MAX_CONTROL_MSG_BYTES + 1), /exceeds the limit of 10485760 bytes/);
  // Unknown msgpack extension, deep nesting (stack overflow inside msgpackr) stay ProtocolErrors.
  rejects(Buffer.from([0xd4, 0x05, 0x00]), /malformed msgpack \(Unknown extension/);
  rejects(Buffer.alloc(100_000, 0x91), /malformed msgpack/);
  // A msgpack timestamp where a payload belongs.
  rejects(Buffer.concat([Buffer.from([0x92, 0x07]), Buffer.from([0xd6, 0xff, 0, 0, 0, 1])]), /payload must be binary, got Date/);
});

test('control codec: random bytes never throw anything but ProtocolError', () => {
  let seed = 1;
  const next = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  for (let i = 0; i < 3000; i++) {
    const len = 1 + (next() % 40);
    const b = new Uint8Array(len);
    for (let j = 0; j < len; j++) b[j] = next();
    if (i % 2 === 0) b[0] = 0x90 + (next() % 6); // often an array header, to get past the first check
    try {
      decodeControlMessage(b);
    } catch (err) {
      assert.ok(err instanceof ProtocolError, `input ${Buffer.from(b).toString('hex')}: ${String(err)}`);
    }
  }
});

test('control codec: encoding validates too (a local bug fails here, not at the peer)', () => {
  assert.throws(() => encodeControlMessage({ kind: 'gossip', channel: 'nope' as 'dns', payload }), {
    code: 'ERR_PROTOCOL',
    message: /invalid outgoing control message \(gossip\): unknown channel "nope"/,
  });
  assert.throws(() => encodeControlMessage({ kind: 'gossip-broadcast', channel: 'dns', src: '1:2' as PeerName, payload }), {
    code: 'ERR_PROTOCOL',
  });
  assert.throws(() => encodeControlMessage({ kind: 'bogus' } as unknown as ControlMessage), /unknown kind "bogus"/);
  assert.throws(() => encodeControlMessage({ kind: 'frames', payload: new Uint8Array(MAX_CONTROL_MSG_BYTES) }), {
    code: 'ERR_PROTOCOL',
    message: /frames message of \d+ bytes exceeds the control message limit/,
  });
});

test('unpackStrict: one value exactly', () => {
  assert.deepEqual(unpackStrict(pack({ a: 1 }), 'thing'), { a: 1 });
  assert.throws(() => unpackStrict(Buffer.concat([pack(1), pack(2)]), 'thing'), /invalid thing: 1 trailing bytes/);
});
