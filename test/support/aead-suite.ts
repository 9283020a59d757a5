// What every data-plane AEAD engine must do (round trip, an independent GCM, hostile packets, bad
// arguments), as a suite to run per engine, and the slab helpers the cross-engine tests share. The unit
// suite runs it on the node:crypto reference; test/netns/native-aead.test.ts on the native addon.
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, it } from 'vitest';

import { dataNonce, nodeDataAead, type DataAeadEngine } from '../../src/crypto/data-aead.js';
import { AEAD_TAG_BYTES, DATA_HEADER_BYTES, PACKET_TYPE_DATA } from '../../src/wire/data-packet.js';

export const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
export const SALT = Buffer.from('a0a1a2a3', 'hex');

export interface Slab {
  buf: Buffer;
  offsets: Int32Array;
  lengths: Int32Array;
  count: number;
  plaintexts: Buffer[];
}

/** Packets of the given body sizes, each with room for the tag, at odd offsets in one slab. */
export function makeSlab(bodySizes: number[], counterBase = 1n, seed = 7): Slab {
  const stride = Math.max(...bodySizes) + DATA_HEADER_BYTES + AEAD_TAG_BYTES + 5;
  const buf = Buffer.alloc(3 + stride * bodySizes.length, 0xee);
  const offsets = new Int32Array(bodySizes.length);
  const lengths = new Int32Array(bodySizes.length);
  const plaintexts: Buffer[] = [];
  bodySizes.forEach((n, i) => {
    const off = 3 + i * stride;
    buf[off] = PACKET_TYPE_DATA;
    buf[off + 1] = 1;
    buf.writeUInt32BE(0x01020304 + i, off + 2);
    buf.writeBigUInt64BE(counterBase + BigInt(i), off + 6);
    for (let j = 0; j < n; j++) buf[off + DATA_HEADER_BYTES + j] = (seed + i * 31 + j * 7) & 255;
    plaintexts.push(Buffer.from(buf.subarray(off + DATA_HEADER_BYTES, off + DATA_HEADER_BYTES + n)));
    offsets[i] = off;
    lengths[i] = DATA_HEADER_BYTES + n;
  });
  return { buf, offsets, lengths, count: bodySizes.length, plaintexts };
}

export function seal(engine: DataAeadEngine, s: Slab, key = KEY, salt = SALT): void {
  const h = engine.create(key, salt, true);
  engine.sealBatch(h, s.buf, s.offsets, s.lengths, s.count);
  engine.destroy(h);
}

export function open(engine: DataAeadEngine, s: Slab, key = KEY, salt = SALT): Uint8Array {
  const h = engine.create(key, salt, false);
  const status = new Uint8Array(s.count);
  const n = engine.openBatch(h, s.buf, s.offsets, s.lengths, s.count, status);
  assert.equal(n, status.reduce((a, b) => a + b, 0));
  engine.destroy(h);
  return status;
}

export function body(s: Slab, i: number): Buffer {
  const off = s.offsets[i]!;
  return s.buf.subarray(off + DATA_HEADER_BYTES, off + s.lengths[i]!);
}

export function cloneSlab(s: Slab): Slab {
  return { ...s, buf: Buffer.from(s.buf), offsets: s.offsets.slice(), lengths: s.lengths.slice() };
}

export const SIZES = [0, 1, 15, 16, 17, 64, 1376 + 14, 1400, 8000];

/** The properties every engine must have; run for the reference and the native engine. */
export function engineSuite(name: string, engine: () => DataAeadEngine): void {
  describe(`${name} engine`, () => {
    it('seals in place and opens back to the plaintext', () => {
      const e = engine();
      const s = makeSlab(SIZES);
      const before = Buffer.from(s.buf);
      seal(e, s);
      s.plaintexts.forEach((p, i) => {
        assert.equal(s.lengths[i], DATA_HEADER_BYTES + p.length + AEAD_TAG_BYTES);
        const off = s.offsets[i]!;
        assert.deepEqual(s.buf.subarray(off, off + DATA_HEADER_BYTES), before.subarray(off, off + DATA_HEADER_BYTES));
        if (p.length >= 16) assert.notDeepEqual(body(s, i).subarray(0, p.length), p);
      });
      const status = open(e, s);
      assert.deepEqual([...status], SIZES.map(() => 1));
      s.plaintexts.forEach((p, i) => assert.deepEqual(body(s, i), p));
    });

    it('matches an independent one-shot AES-256-GCM with nonce = salt || counter and AAD = header', () => {
      const e = engine();
      const s = makeSlab([100]);
      const off = s.offsets[0]!;
      const header = Buffer.from(s.buf.subarray(off, off + DATA_HEADER_BYTES));
      const nonce = dataNonce(SALT, header);
      assert.deepEqual(Buffer.from(nonce), Buffer.concat([SALT, header.subarray(6, 14)]));
      const c = createCipheriv('aes-256-gcm', KEY, nonce);
      c.setAAD(header);
      const expected = Buffer.concat([c.update(s.plaintexts[0]!), c.final(), c.getAuthTag()]);
      seal(e, s);
      assert.deepEqual(s.buf.subarray(off + DATA_HEADER_BYTES, off + s.lengths[0]!), expected);
    });

    it('leaves bytes outside the packets alone', () => {
      const e = engine();
      const s = makeSlab([10, 20]);
      const lastEnd = s.offsets[1]! + s.lengths[1]! + AEAD_TAG_BYTES;
      seal(e, s);
      assert.deepEqual([...s.buf.subarray(0, 3)], [0xee, 0xee, 0xee]);
      assert.ok(s.buf.subarray(lastEnd).every((b) => b === 0xee));
    });

    it('rejects hostile packets without throwing, and still opens the good ones in the batch', () => {
      const e = engine();
      const s = makeSlab([40, 40, 40, 40, 40, 40, 40]);
      seal(e, s);
      const o = s.offsets;
      s.lengths[0] = DATA_HEADER_BYTES + AEAD_TAG_BYTES - 1; // short: 29 bytes
      s.lengths[1] = 5; // shorter than a header
      s.buf[o[2]! + s.lengths[2]! - 1]! ^= 0x01; // forged tag
      s.buf[o[3]! + 9]! ^= 0x80; // flipped header (counter) byte
      s.buf[o[4]! + 1]! ^= 0x01; // flipped keyGen byte
      s.buf[o[5]! + DATA_HEADER_BYTES + 3]! ^= 0x10; // flipped ciphertext byte
      const lengthsBefore = s.lengths.slice();
      const status = open(e, s);
      assert.deepEqual([...status], [0, 0, 0, 0, 0, 0, 1]);
      assert.deepEqual([...s.lengths.subarray(0, 6)], [...lengthsBefore.subarray(0, 6)], 'failed lengths unchanged');
      assert.deepEqual(body(s, 6), s.plaintexts[6]);
      for (const i of [2, 3, 4, 5]) {
        assert.ok(body(s, i).every((b) => b === 0), `packet ${i}: body and tag zeroed after a failed open`);
      }
    });

    it('rejects packets sealed under another key or salt', () => {
      const e = engine();
      const s = makeSlab([64, 64]);
      seal(e, s, randomBytes(32));
      assert.deepEqual([...open(e, s)], [0, 0]);
      const t = makeSlab([64]);
      seal(e, t, KEY, Buffer.from('a0a1a2a4', 'hex'));
      assert.deepEqual([...open(e, t)], [0]);
    });

    it('an empty batch is a no-op', () => {
      const e = engine();
      const s = makeSlab([10]);
      const before = Buffer.from(s.buf);
      const h = e.create(KEY, SALT, true);
      e.sealBatch(h, s.buf, s.offsets, s.lengths, 0);
      assert.deepEqual(s.buf, before);
    });

    it('refuses bad arguments with a TypeError/RangeError naming them, before modifying anything', () => {
      const e = engine();
      assert.throws(() => e.create(KEY.subarray(0, 16), SALT, true), { name: 'RangeError', message: /key must be 32 bytes/ });
      assert.throws(() => e.create(KEY, Buffer.alloc(12), true), { name: 'RangeError', message: /salt must be 4 bytes/ });
      assert.throws(() => e.create('k' as unknown as Uint8Array, SALT, true), { name: 'TypeError', message: /key/ });
      assert.throws(() => e.create(KEY, SALT, 1 as unknown as boolean), { name: 'TypeError', message: /forSeal/ });
      const sealer = e.create(KEY, SALT, true);
      const opener = e.create(KEY, SALT, false);
      const s = makeSlab([10, 10]);
      const before = Buffer.from(s.buf);
      // No room for the last packet's tag: the whole batch is refused, nothing sealed.
      const tight = Buffer.from(s.buf.subarray(0, s.offsets[1]! + s.lengths[1]! + 15));
      const tightBefore = Buffer.from(tight);
      assert.throws(() => e.sealBatch(sealer, tight, s.offsets, s.lengths, 2), {
        name: 'RangeError',
        message: /packet 1 .*does not fit/,
      });
      assert.deepEqual(tight, tightBefore);
      s.lengths[1] = 13;
      assert.throws(() => e.sealBatch(sealer, s.buf, s.offsets, s.lengths, 2), {
        name: 'RangeError',
        message: /packet 1 length 13/,
      });
      assert.deepEqual(s.buf, before);
      assert.throws(() => e.sealBatch(sealer, s.buf, s.offsets, s.lengths, 3), { name: 'RangeError', message: /count/ });
      assert.throws(() => e.sealBatch(sealer, s.buf, [0] as unknown as Int32Array, s.lengths, 1), {
        name: 'TypeError',
        message: /offsets/,
      });
      assert.throws(() => e.sealBatch(opener, s.buf, s.offsets, s.lengths, 1), {
        name: 'TypeError',
        message: /created for open/,
      });
      assert.throws(() => e.openBatch(sealer, s.buf, s.offsets, s.lengths, 1, new Uint8Array(1)), {
        name: 'TypeError',
        message: /created for seal/,
      });
      assert.throws(() => e.openBatch(opener, s.buf, s.offsets, s.lengths, 2, new Uint8Array(1)), {
        name: 'RangeError',
        message: /status/,
      });
      e.destroy(sealer);
      assert.throws(() => e.sealBatch(sealer, s.buf, s.offsets, s.lengths, 1), { code: 'ERR_INVALID_STATE' });
    });
  });
}

