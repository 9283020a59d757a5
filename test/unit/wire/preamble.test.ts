import { test } from 'vitest';
import assert from 'node:assert/strict';
import { PROTOCOL_MAX_VERSION, PROTOCOL_MIN_VERSION } from '../../../src/core/defaults.js';
import { HandshakeError, ProtocolError } from '../../../src/core/errors.js';
import { couldBePreamble, decodePreamble, encodePreamble, negotiateVersion, OUR_VERSION_RANGE, PREAMBLE_BYTES } from '../../../src/wire/preamble.js';

test('preamble: layout is "tsweave" 0x00 min max', () => {
  const b = encodePreamble();
  assert.equal(b.length, PREAMBLE_BYTES);
  assert.equal(PREAMBLE_BYTES, 10);
  assert.equal(b.toString('hex'), Buffer.concat([Buffer.from('tsweave\0'), Buffer.from([PROTOCOL_MIN_VERSION, PROTOCOL_MAX_VERSION])]).toString('hex'));
  assert.deepEqual(decodePreamble(b), OUR_VERSION_RANGE);
  assert.deepEqual(decodePreamble(encodePreamble({ minVersion: 2, maxVersion: 200 })), { minVersion: 2, maxVersion: 200 });
});

test('preamble: hostile input', () => {
  const bad = (buf: Uint8Array, message: RegExp): void =>
    assert.throws(() => decodePreamble(buf), (e: unknown) => e instanceof ProtocolError && e.code === 'ERR_PROTOCOL' && message.test(e.message));
  bad(Buffer.from('weave\x01\x02xyz'), /^not a tsweave peer \(bad magic\)$/);
  bad(Buffer.from('GET / HTTP'), /bad magic/);
  bad(Buffer.from('tsweave!\x01\x01'), /bad magic/); // terminator byte is part of the magic
  bad(Buffer.from('tsweave\0\x01'), /9 bytes, expected 10/);
  bad(Buffer.from('tsweave\0\x00\x01'), /version range \[0,1\] must satisfy 1 ≤ min ≤ max/);
  bad(Buffer.from('tsweave\0\x03\x02'), /version range \[3,2\]/);
  assert.throws(() => encodePreamble({ minVersion: 2, maxVersion: 1 }), RangeError);
  assert.throws(() => encodePreamble({ minVersion: 1, maxVersion: 256 }), RangeError);
});

test('version negotiation: highest common, or both ranges named', () => {
  assert.equal(negotiateVersion({ minVersion: 1, maxVersion: 3 }, { minVersion: 2, maxVersion: 5 }), 3);
  assert.equal(negotiateVersion({ minVersion: 1, maxVersion: 1 }, { minVersion: 1, maxVersion: 9 }), 1);
  assert.throws(
    () => negotiateVersion({ minVersion: 1, maxVersion: 2 }, { minVersion: 3, maxVersion: 4 }),
    (e: unknown) =>
      e instanceof HandshakeError &&
      e.code === 'ERR_PROTOCOL_VERSION' &&
      e.message === 'remote version range [3,4] is incompatible with ours [1,2]',
  );
});

test('preamble: couldBePreamble rejects on the first wrong byte', () => {
  assert.equal(couldBePreamble(Buffer.from('')), true);
  assert.equal(couldBePreamble(Buffer.from('tsw')), true);
  assert.equal(couldBePreamble(Buffer.from('tsweave\0\x01\x01')), true);
  assert.equal(couldBePreamble(Buffer.from('w')), false);
  assert.equal(couldBePreamble(Buffer.from('tsweave!')), false);
});
