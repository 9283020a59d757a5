import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { ProtocolError } from '../../../src/core/errors.js';
import type { PeerName } from '../../../src/core/types.js';
import { decodeHello, encodeHello, HELLO_MAX_BYTES, sessionLanesOf, type Hello } from '../../../src/wire/hello.js';

const pack = (v: unknown): Buffer => new Packr({ useRecords: false }).pack(v);

const plain: Hello = {
  name: 'aa:bb:cc:dd:ee:ff' as PeerName,
  nickname: 'host1',
  uid: '18446744073709551615',
  connId: 4294967295,
  encrypted: false,
  listenPort: 6783,
  sessionIndex: 0,
};
const enc: Hello = { ...plain, nickname: 'hôst-2 (lab)', uid: '1', connId: 0, encrypted: true, publicKey: new Uint8Array(32).fill(9), sessionIndex: 77 };

function roundTrip(h: Hello): void {
  const frame = encodeHello(h);
  assert.equal(frame.readUInt32BE(0), frame.length - 4);
  const back = decodeHello(frame.subarray(4));
  assert.deepEqual({ ...back, publicKey: back.publicKey && Array.from(back.publicKey) }, { ...h, publicKey: h.publicKey && Array.from(h.publicKey) });
  assert.ok(encodeHello(back).equals(frame), 'same bytes again');
}

function rejects(obj: unknown, message: RegExp): void {
  assert.throws(
    () => decodeHello(pack(obj)),
    (e: unknown) => {
      assert.ok(e instanceof ProtocolError, String(e));
      assert.equal(e.code, 'ERR_PROTOCOL');
      assert.match(e.message, message);
      return true;
    },
  );
}

test('hello: round trip, plain and encrypted', () => {
  roundTrip(plain);
  roundTrip(enc);
  // Unknown keys are ignored (later versions may add some).
  const withExtra = decodeHello(pack({ ...plain, future: [1, 2, 3] }));
  assert.equal(withExtra.name, plain.name);
});

test('hello: the optional trusted flag (--trusted-subnets) round-trips, is written only when true, and is validated', () => {
  roundTrip({ ...enc, trusted: true });
  assert.equal(decodeHello(encodeHello({ ...plain, trusted: true }).subarray(4)).trusted, true);
  // false is the same as absent: the bytes do not change, so older peers see the same hello.
  assert.deepEqual(encodeHello({ ...plain, trusted: false }), encodeHello(plain));
  assert.equal(decodeHello(encodeHello(plain).subarray(4)).trusted, undefined);
  rejects({ ...plain, trusted: 'yes' }, /^invalid hello: trusted "yes" must be a boolean when present/);
});

test('hello: the optional csumPartial flag round-trips, is written only when true, and is validated', () => {
  roundTrip({ ...enc, csumPartial: true });
  roundTrip({ ...plain, trusted: true, sessionLanes: 4, csumPartial: true });
  assert.equal(decodeHello(encodeHello({ ...plain, csumPartial: true }).subarray(4)).csumPartial, true);
  // false is the same as absent: the bytes do not change, so an older peer sees the hello it knows.
  assert.deepEqual(encodeHello({ ...plain, csumPartial: false }), encodeHello(plain));
  assert.ok(!encodeHello({ ...plain, csumPartial: true }).equals(encodeHello(plain)), 'true is on the wire');
  assert.equal(decodeHello(encodeHello(plain).subarray(4)).csumPartial, undefined);
  assert.equal(decodeHello(pack({ ...plain, csumPartial: false })).csumPartial, false);
  rejects({ ...plain, csumPartial: 1 }, /^invalid hello: csumPartial 1 must be a boolean when present/);
  rejects({ ...plain, csumPartial: 'true' }, /^invalid hello: csumPartial "true" must be a boolean when present/);
  rejects({ ...plain, csumPartial: null }, /^invalid hello: csumPartial \(nil\) must be a boolean when present/);
});

test('hello: sessionLanes (receive lanes) round-trips, is written only when > 1, and is capped when used', () => {
  roundTrip({ ...enc, sessionLanes: 4 });
  assert.equal(decodeHello(encodeHello({ ...plain, sessionLanes: 2 }).subarray(4)).sessionLanes, 2);
  // 1 (and absent) is one index, as a peer of an older version: the bytes do not change.
  assert.deepEqual(encodeHello({ ...plain, sessionLanes: 1 }), encodeHello(plain));
  assert.equal(decodeHello(encodeHello(plain).subarray(4)).sessionLanes, undefined);
  assert.equal(sessionLanesOf(plain), 1);
  // Hostile or odd values from a peer decode (any u32, for later versions) but are used as 1..16.
  assert.equal(sessionLanesOf(decodeHello(pack({ ...plain, sessionLanes: 0 }))), 1);
  assert.equal(sessionLanesOf(decodeHello(pack({ ...plain, sessionLanes: 16 }))), 16);
  assert.equal(sessionLanesOf(decodeHello(pack({ ...plain, sessionLanes: 17 }))), 16);
  assert.equal(sessionLanesOf(decodeHello(pack({ ...plain, sessionLanes: 0xffffffff }))), 16);
  rejects({ ...plain, sessionLanes: -1 }, /^invalid hello: sessionLanes -1 must be an integer 0..4294967295 when present/);
  rejects({ ...plain, sessionLanes: 2 ** 32 }, /sessionLanes 4294967296 must be/);
  rejects({ ...plain, sessionLanes: 1.5 }, /sessionLanes 1.5 must be/);
  rejects({ ...plain, sessionLanes: '4' }, /sessionLanes "4" must be/);
  rejects({ ...plain, sessionLanes: null }, /sessionLanes/);
});

test('hello: every field is validated and named', () => {
  const { name: _n, ...noName } = plain;
  rejects(noName, /^invalid hello: name \(missing\) must be a canonical peer name/);
  rejects({ ...plain, name: '::1' }, /name "::1" must be a canonical peer name/);
  rejects({ ...plain, name: 5 }, /name 5 must be/);
  rejects({ ...plain, nickname: '' }, /nickname "" must be 1..255 printable characters/);
  rejects({ ...plain, nickname: 'x'.repeat(256) }, /nickname "x{64}…" must be 1..255/);
  rejects({ ...plain, nickname: 'a\nb' }, /nickname "a\\nb" must be 1..255 printable/);
  rejects({ ...plain, nickname: 'a\u0085' }, /nickname/);
  rejects({ ...plain, nickname: ['x'] }, /nickname \(array\)/);
  rejects({ ...plain, uid: '0' }, /uid "0" must be a decimal u64 in 1..18446744073709551615/);
  rejects({ ...plain, uid: '18446744073709551616' }, /uid "18446744073709551616"/);
  rejects({ ...plain, uid: '012' }, /uid "012"/);
  rejects({ ...plain, uid: 12 }, /uid 12 must be a decimal u64/);
  rejects({ ...plain, connId: -1 }, /connId -1 must be an integer 0..4294967295/);
  rejects({ ...plain, connId: 4294967296 }, /connId 4294967296/);
  rejects({ ...plain, connId: 1.5 }, /connId 1.5/);
  rejects({ ...plain, encrypted: 1 }, /encrypted 1 must be a boolean/);
  rejects({ ...plain, publicKey: Buffer.alloc(32) }, /publicKey \(32 bytes of binary\) must be absent when encrypted is false/);
  rejects({ ...plain, encrypted: true }, /publicKey \(missing\) must be 32 bytes of binary when encrypted is true/);
  rejects({ ...plain, encrypted: true, publicKey: Buffer.alloc(31) }, /publicKey \(31 bytes of binary\)/);
  rejects({ ...plain, encrypted: true, publicKey: 'k'.repeat(32) }, /publicKey "k+" must be 32 bytes/);
  rejects({ ...plain, listenPort: 0 }, /listenPort 0 must be an integer 1..65535/);
  rejects({ ...plain, listenPort: 65536 }, /listenPort 65536/);
  rejects({ ...plain, sessionIndex: 2 ** 32 }, /sessionIndex 4294967296 must be an integer 0..4294967295/);
  rejects({ ...plain, sessionIndex: '1' }, /sessionIndex "1"/);
});

test('hello: not a map, malformed, oversize, trailing bytes', () => {
  rejects([1, 2], /^invalid hello: expected a map, got array$/);
  rejects('hi', /expected a map, got string/);
  rejects(null, /expected a map, got nil/);
  const good = encodeHello(plain).subarray(4);
  for (let n = 0; n < good.length; n++) {
    assert.throws(() => decodeHello(good.subarray(0, n)), { code: 'ERR_PROTOCOL', message: /^invalid hello: (empty|malformed msgpack)/ });
  }
  assert.throws(() => decodeHello(Buffer.concat([good, Buffer.from([0])])), /invalid hello: 1 trailing bytes/);
  assert.throws(() => decodeHello(new Uint8Array(HELLO_MAX_BYTES + 1)), /invalid hello: 4097 bytes exceeds the limit of 4096/);
  // __proto__ in a hostile map does not reach the prototype.
  const h = decodeHello(pack({ ...plain, ['__proto__']: { encrypted: true } }));
  assert.equal(h.encrypted, false);
});

test('hello: encoding refuses invalid local values', () => {
  assert.throws(() => encodeHello({ ...plain, nickname: 'bad\tname' }), /^ProtocolError: invalid local hello: nickname/);
  assert.throws(() => encodeHello({ ...plain, listenPort: 70000 }), { code: 'ERR_PROTOCOL', message: /invalid local hello: listenPort 70000/ });
});
