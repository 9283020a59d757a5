import { test } from 'vitest';
import assert from 'node:assert/strict';
import { ProtocolError } from '../../../src/core/errors.js';
import { encodeFrame, FrameDecoder } from '../../../src/wire/framing.js';
import { seededRng } from '../../support/rng.js';

const hex = (b: Uint8Array | undefined): string | undefined => (b ? Buffer.from(b).toString('hex') : undefined);

test('framing: u32 BE length then body', () => {
  assert.equal(hex(encodeFrame(Buffer.from('abc'))), '00000003616263');
  assert.equal(hex(encodeFrame(new Uint8Array(0))), '00000000');
});

test('framing: any chunking yields the same frames (1 byte at a time, many per chunk)', () => {
  const rng = seededRng(7);
  const bodies = Array.from({ length: 50 }, (_, i) => rng.bytes(i === 3 ? 0 : rng.int(i === 10 ? 20_000 : 300)));
  const stream = Buffer.concat([Buffer.from('PREAMBLE!!'), ...bodies.map(encodeFrame)]);
  for (const maxChunk of [1, 2, 5, 64, 5000, stream.length]) {
    const d = new FrameDecoder(100_000);
    const got: Uint8Array[] = [];
    let pre: Buffer | undefined;
    for (let off = 0; off < stream.length; ) {
      const n = Math.min(stream.length - off, 1 + rng.int(maxChunk));
      d.push(stream.subarray(off, off + n));
      off += n;
      if (!pre) pre = d.takeBytes(10);
      if (!pre) continue;
      for (let f = d.nextFrame(); f; f = d.nextFrame()) got.push(f);
    }
    assert.equal(pre?.toString(), 'PREAMBLE!!');
    assert.equal(got.length, bodies.length, `maxChunk ${maxChunk}`);
    got.forEach((g, i) => assert.equal(hex(g), hex(bodies[i]), `frame ${i}, maxChunk ${maxChunk}`));
    assert.equal(d.buffered, 0);
  }
});

test('framing: frames are copies, safe to keep after more data arrives', () => {
  const d = new FrameDecoder(100);
  const chunk = Buffer.concat([encodeFrame(Buffer.from('one')), encodeFrame(Buffer.from('two'))]);
  d.push(chunk);
  const one = d.nextFrame()!;
  chunk.fill(0);
  d.push(encodeFrame(Buffer.from('three')));
  assert.equal(one.toString(), 'one');
  assert.equal(d.nextFrame()!.toString(), 'two');
  assert.equal(d.nextFrame()!.toString(), 'three');
  assert.equal(d.nextFrame(), undefined);
});

test('framing: an oversize length is rejected as soon as the 4 length bytes are in, before the body', () => {
  const d = new FrameDecoder(4096, 'hello');
  d.push(Buffer.from([0x00, 0x00]));
  assert.equal(d.nextFrame(), undefined);
  d.push(Buffer.from([0x10, 0x01])); // 4097
  assert.throws(() => d.nextFrame(), (e: unknown) =>
    e instanceof ProtocolError && e.code === 'ERR_PROTOCOL' && e.message === 'hello length 4097 exceeds the limit of 4096 bytes');
  const d2 = new FrameDecoder(10);
  d2.push(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  assert.throws(() => d2.nextFrame(), /frame length 4294967295 exceeds the limit of 10 bytes/);
  assert.equal(d2.buffered, 4, 'nothing but the length was buffered');
});

test('framing: the cap can change between frames; pending state is described for truncation errors', () => {
  const d = new FrameDecoder(5);
  d.push(encodeFrame(Buffer.from('12345')));
  assert.equal(d.nextFrame()!.toString(), '12345');
  d.maxBodyBytes = 3;
  d.push(encodeFrame(Buffer.from('1234')));
  assert.throws(() => d.nextFrame(), /length 4 exceeds the limit of 3/);
  const e = new FrameDecoder(100);
  e.push(Buffer.from([0, 0]));
  assert.equal(e.describePending(), '2 of 4 length bytes');
  e.push(Buffer.from([0, 9, 1, 2]));
  assert.equal(e.describePending(), '2 of 9 body bytes');
});
