import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { HandshakeError, ProtocolError } from '../../../src/core/errors.js';
import { AUTH_FAILED_MESSAGE, CONTROL_TAG_BYTES, ControlOpener, ControlSealer } from '../../../src/crypto/control-seal.js';

const key = Buffer.alloc(32, 1);

test('control seal: round trip in order; ciphertext = plaintext + 16-byte tag', () => {
  const s = new ControlSealer(key);
  const o = new ControlOpener(key);
  for (let i = 0; i < 5; i++) {
    const msg = Buffer.from(`message ${i}`);
    const sealed = s.seal(msg);
    assert.equal(sealed.length, msg.length + CONTROL_TAG_BYTES);
    assert.notEqual(sealed.subarray(0, msg.length).toString(), msg.toString());
    assert.equal(o.open(sealed).toString(), `message ${i}`);
  }
  assert.equal(s.sent, 5);
  assert.equal(o.received, 5);
  assert.equal(o.open(s.seal(new Uint8Array(0))).length, 0, 'empty plaintext');
});

test('control seal: the nonce is 4 zero bytes then the u64 BE counter', () => {
  // Message n is chacha20-poly1305 with nonce 00000000 ‖ n (u64 BE), computed independently here.
  const s = new ControlSealer(key);
  const a = s.seal(Buffer.from('x'));
  const b = s.seal(Buffer.from('x'));
  assert.notEqual(a.toString('hex'), b.toString('hex'));
  const reference = (n: number): string => {
    const nonce = Buffer.alloc(12);
    nonce.writeBigUInt64BE(BigInt(n), 4);
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    return Buffer.concat([c.update(Buffer.from('x')), c.final(), c.getAuthTag()]).toString('hex');
  };
  assert.equal(a.toString('hex'), reference(0));
  assert.equal(b.toString('hex'), reference(1));
  // Opening b first fails: the receiver's counter says 0.
  assert.throws(() => new ControlOpener(key).open(b), HandshakeError);
});

test('control seal: the first failure means a password mismatch (ERR_AUTH_FAILED)', () => {
  const s = new ControlSealer(Buffer.alloc(32, 2));
  const o = new ControlOpener(key);
  assert.throws(() => o.open(s.seal(Buffer.from('hi'))), (e: unknown) =>
    e instanceof HandshakeError && e.code === 'ERR_AUTH_FAILED' && e.message === AUTH_FAILED_MESSAGE);
  assert.equal(AUTH_FAILED_MESSAGE, 'authentication failed (password mismatch?)');
  assert.throws(() => new ControlOpener(key).open(Buffer.alloc(3)), { code: 'ERR_AUTH_FAILED' });
});

test('control seal: later failures are ProtocolErrors (tampered, replayed, reordered, truncated)', () => {
  const s = new ControlSealer(key);
  const o = new ControlOpener(key);
  const m0 = s.seal(Buffer.from('zero'));
  const m1 = s.seal(Buffer.from('one'));
  const m2 = s.seal(Buffer.from('two'));
  o.open(m0);
  const isProto = (e: unknown): boolean =>
    e instanceof ProtocolError && e.code === 'ERR_PROTOCOL' && /control message #1 failed authentication/.test(e.message);
  assert.throws(() => o.open(m0), isProto, 'replay');
  assert.throws(() => o.open(m2), isProto, 'reordered');
  const t = Buffer.from(m1);
  t[0]! ^= 1;
  assert.throws(() => o.open(t), isProto, 'tampered ciphertext');
  const t2 = Buffer.from(m1);
  t2[t2.length - 1]! ^= 0x80;
  assert.throws(() => o.open(t2), isProto, 'tampered tag');
  assert.throws(() => o.open(m1.subarray(0, 10)), /shorter than the 16-byte tag/);
  assert.equal(o.open(m1).toString(), 'one', 'failures do not advance the counter');
  assert.equal(o.open(m2).toString(), 'two');
});

test('control seal: keys must be 32 bytes', () => {
  assert.throws(() => new ControlSealer(Buffer.alloc(16)), /32 bytes/);
  assert.throws(() => new ControlOpener(Buffer.alloc(33)), /32 bytes/);
});
