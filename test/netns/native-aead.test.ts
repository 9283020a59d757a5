// The native AEAD engine (N-API addon): the properties every engine must have, then checked against the
// node:crypto reference (byte-identical sealing, each opens the other's packets, same verdict on hostile
// packets). It loads the addon and FAILS if it cannot be loaded: CI always builds it (`npm install`).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'vitest';

import { nodeDataAead } from '../../src/crypto/data-aead.js';
import { loadNative, NATIVE_ABI_VERSION, nativeDataAead } from '../../src/io/native.js';
import { body, cloneSlab, engineSuite, KEY, makeSlab, open, SALT, seal, SIZES } from '../support/aead-suite.js';

engineSuite('native', () => nativeDataAead(loadNative()));

describe('native against the reference', () => {
  it('loads the addon (CI always builds it: a failure here means `npm install` did not)', () => {
    assert.equal(loadNative().abiVersion, NATIVE_ABI_VERSION);
  });

  it('seals byte-identically for the same keys and inputs', () => {
    const native = nativeDataAead(loadNative());
    for (let round = 0; round < 20; round++) {
      const key = randomBytes(32);
      const salt = randomBytes(4);
      const sizes = Array.from({ length: 1 + (round % 9) * 7 }, (_, i) => (round * 131 + i * 977) % 9000);
      const counter = BigInt.asUintN(64, BigInt('0x' + randomBytes(8).toString('hex')));
      const a = makeSlab(sizes, counter, round);
      const b = cloneSlab(a);
      seal(nodeDataAead, a, key, salt);
      seal(native, b, key, salt);
      assert.deepEqual(b.lengths, a.lengths);
      assert.ok(a.buf.equals(b.buf), `round ${round}: sealed slabs differ`);
    }
  });

  it('each opens the other’s packets', () => {
    const native = nativeDataAead(loadNative());
    for (const [sealer, opener] of [
      [nodeDataAead, native],
      [native, nodeDataAead],
    ] as const) {
      const s = makeSlab(SIZES, 1n << 40n);
      seal(sealer, s);
      assert.deepEqual([...open(opener, s)], SIZES.map(() => 1), `${sealer.name} → ${opener.name}`);
      s.plaintexts.forEach((p, i) => assert.deepEqual(body(s, i), p));
    }
  });

  it('agree on which hostile packets fail and leave identical bytes', () => {
    const native = nativeDataAead(loadNative());
    const s = makeSlab([0, 30, 30, 30, 200]);
    seal(nodeDataAead, s);
    s.buf[s.offsets[1]! + 2]! ^= 1;
    s.buf[s.offsets[2]! + s.lengths[2]! - 16]! ^= 1;
    s.lengths[3] = 29;
    const a = cloneSlab(s);
    const b = cloneSlab(s);
    const sa = open(nodeDataAead, a);
    const sb = open(native, b);
    assert.deepEqual([...sa], [1, 0, 0, 0, 1]);
    assert.deepEqual(sb, sa);
    assert.deepEqual(b.lengths, a.lengths);
    assert.ok(a.buf.equals(b.buf));
  });

  it('refuses a handle from the other engine or a non-handle', () => {
    const native = nativeDataAead(loadNative());
    const s = makeSlab([10]);
    const refHandle = nodeDataAead.create(KEY, SALT, true);
    assert.throws(() => native.sealBatch(refHandle, s.buf, s.offsets, s.lengths, 1), { name: 'TypeError', message: /handle/ });
    const natHandle = native.create(KEY, SALT, true);
    assert.throws(() => nodeDataAead.sealBatch(natHandle, s.buf, s.offsets, s.lengths, 1), {
      name: 'TypeError',
      message: /handle/,
    });
  });
});
