import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createHash, hkdfSync } from 'node:crypto';
import { HandshakeError } from '../../../src/core/errors.js';
import {
  deriveSessionKeys,
  generateEphemeralKeyPair,
  handshakeTranscript,
  SESSION_KDF_INFO,
  x25519SharedSecret,
} from '../../../src/crypto/session-keys.js';
import { seededRng } from '../../support/rng.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('x25519: both sides get the same shared secret', () => {
  const rng = seededRng(1);
  const a = generateEphemeralKeyPair(rng);
  const b = generateEphemeralKeyPair(rng);
  assert.equal(a.publicKey.length, 32);
  assert.notEqual(hex(a.publicKey), hex(b.publicKey));
  assert.equal(hex(x25519SharedSecret(a.privateKey, b.publicKey)), hex(x25519SharedSecret(b.privateKey, a.publicKey)));
});

test('x25519: RFC 7748 §6.1 test vector', () => {
  const alicePriv = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
  const bobPub = Buffer.from('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f', 'hex');
  const rng = { float: () => 0, int: () => 0, bytes: () => Uint8Array.from(alicePriv) };
  const alice = generateEphemeralKeyPair(rng);
  assert.equal(hex(alice.publicKey), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  assert.equal(hex(x25519SharedSecret(alice.privateKey, bobPub)), '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
});

test('x25519: low-order points and bad lengths are refused (HandshakeError)', () => {
  const a = generateEphemeralKeyPair(seededRng(2));
  const lowOrder = [
    Buffer.alloc(32),
    Buffer.from('0100000000000000000000000000000000000000000000000000000000000000', 'hex'),
    Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex'),
  ];
  for (const p of lowOrder) {
    assert.throws(() => x25519SharedSecret(a.privateKey, p), (e: unknown) => e instanceof HandshakeError && e.code === 'ERR_HANDSHAKE');
  }
  assert.throws(() => x25519SharedSecret(a.privateKey, Buffer.alloc(31, 1)), /must be 32 bytes, got 31/);
});

test('session keys: the KDF layout, and both roles get opposite send/recv', () => {
  const shared = Buffer.alloc(32, 3);
  const passwordKey = Buffer.alloc(32, 4);
  const transcript = handshakeTranscript(Buffer.from('initiator'), Buffer.from('responder'));
  assert.equal(hex(transcript), createHash('sha256').update('initiatorresponder').digest('hex'));
  const i = deriveSessionKeys({ shared, passwordKey, transcript, isInitiator: true });
  const r = deriveSessionKeys({ shared, passwordKey, transcript, isInitiator: false });
  const okm = Buffer.from(hkdfSync('sha256', Buffer.concat([shared, passwordKey]), transcript, SESSION_KDF_INFO, 136));
  assert.equal(SESSION_KDF_INFO, 'tsweave v1 session keys');
  assert.equal(hex(i.tcpSendKey), hex(okm.subarray(0, 32)));
  assert.equal(hex(i.tcpRecvKey), hex(okm.subarray(32, 64)));
  assert.equal(hex(i.udp.udpSendKey), hex(okm.subarray(64, 96)));
  assert.equal(hex(i.udp.udpRecvKey), hex(okm.subarray(96, 128)));
  assert.equal(hex(i.udp.udpSendSalt), hex(okm.subarray(128, 132)));
  assert.equal(hex(i.udp.udpRecvSalt), hex(okm.subarray(132, 136)));
  assert.equal(hex(i.tcpSendKey), hex(r.tcpRecvKey));
  assert.equal(hex(i.tcpRecvKey), hex(r.tcpSendKey));
  assert.equal(hex(i.udp.udpSendKey), hex(r.udp.udpRecvKey));
  assert.equal(hex(i.udp.udpRecvKey), hex(r.udp.udpSendKey));
  assert.equal(hex(i.udp.udpSendSalt), hex(r.udp.udpRecvSalt));
  assert.equal(hex(i.udp.udpRecvSalt), hex(r.udp.udpSendSalt));
  const all = [i.tcpSendKey, i.tcpRecvKey, i.udp.udpSendKey, i.udp.udpRecvKey].map(hex);
  assert.equal(new Set(all).size, 4, 'four distinct keys');
  // Any input change gives different keys.
  const other = deriveSessionKeys({ shared, passwordKey: Buffer.alloc(32, 5), transcript, isInitiator: true });
  assert.notEqual(hex(other.tcpSendKey), hex(i.tcpSendKey));
  const otherT = deriveSessionKeys({ shared, passwordKey, transcript: handshakeTranscript(Buffer.from('x'), Buffer.from('y')), isInitiator: true });
  assert.notEqual(hex(otherT.tcpSendKey), hex(i.tcpSendKey));
});
