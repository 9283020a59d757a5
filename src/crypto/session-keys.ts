// Per-connection session keys (DESIGN.md §3). Every encrypted connection uses fresh ephemeral X25519 keys,
// so keys differ per connection even with one password, and the password key makes them unguessable
// to anyone who does not know the password.
//
//   shared     = X25519(our ephemeral private, their ephemeral public)          32 bytes, all-zero rejected
//   transcript = SHA-256(initiator preamble‖hello bytes ‖ responder preamble‖hello bytes)
//                (exactly the bytes on the wire, hello length prefix included)
//   okm        = HKDF-SHA256(ikm  = shared ‖ passwordKey,
//                            salt = transcript,
//                            info = "tsweave v1 session keys", L = 136)
//
//   okm offset  size  use
//   0           32    TCP control key,   initiator → responder   (ChaCha20-Poly1305, control-seal.ts)
//   32          32    TCP control key,   responder → initiator
//   64          32    UDP data key,      initiator → responder   (AES-256-GCM, data plane)
//   96          32    UDP data key,      responder → initiator
//   128         4     UDP nonce salt,    initiator → responder
//   132         4     UDP nonce salt,    responder → initiator
//
// The initiator is the side that dialled (outbound). Each side maps the keys to send/recv by its role, so
// A.send = B.recv in both planes. Because every (plane, direction) has its own key, a TCP nonce and a UDP
// nonce, or the two directions' nonces, never meet under one key even though each counter starts at 0/1.
// Binding the transcript into the salt means a man in the middle who alters any hello field (name,
// public key, session index…) derives different keys and fails the first authenticated message.

import { createHash, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, type KeyObject } from 'node:crypto';
import { HandshakeError } from '../core/errors.js';
import type { Rng } from '../core/ports.js';

export const X25519_KEY_BYTES = 32;
export const SESSION_KDF_INFO = 'tsweave v1 session keys';
export const SESSION_KEY_BYTES = 32;
export const UDP_SALT_BYTES = 4;
export const SESSION_OKM_BYTES = 4 * SESSION_KEY_BYTES + 2 * UDP_SALT_BYTES;

// DER prefixes that wrap a raw 32-byte X25519 key (RFC 8410): PKCS#8 private, SubjectPublicKeyInfo public.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** The data-plane keys of one connection, already mapped to this side's send/recv. */
export interface UdpSessionKeys {
  udpSendKey: Buffer;
  udpRecvKey: Buffer;
  udpSendSalt: Buffer;
  udpRecvSalt: Buffer;
}

export interface SessionKeys {
  tcpSendKey: Buffer;
  tcpRecvKey: Buffer;
  udp: UdpSessionKeys;
}

export interface EphemeralKeyPair {
  privateKey: KeyObject;
  /** Raw 32-byte public key, as sent in the hello. */
  publicKey: Buffer;
}

/** A fresh X25519 key pair; the private scalar comes from `rng` (crypto-strong in production). */
export function generateEphemeralKeyPair(rng: Rng): EphemeralKeyPair {
  const raw = rng.bytes(X25519_KEY_BYTES);
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_X25519_PREFIX, raw]),
    format: 'der',
    type: 'pkcs8',
  });
  raw.fill(0);
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return { privateKey, publicKey: Buffer.from(spki.subarray(SPKI_X25519_PREFIX.length)) };
}

/**
 * X25519(our private, their raw public). Throws HandshakeError (ERR_HANDSHAKE) for a key of the wrong
 * size or a low-order point (an all-zero shared secret would make the keys depend on the password only).
 */
export function x25519SharedSecret(privateKey: KeyObject, remotePublic: Uint8Array): Buffer {
  if (remotePublic.length !== X25519_KEY_BYTES) {
    throw new HandshakeError('ERR_HANDSHAKE', `remote public key must be ${X25519_KEY_BYTES} bytes, got ${remotePublic.length}`);
  }
  let shared: Buffer;
  try {
    const publicKey = createPublicKey({
      key: Buffer.concat([SPKI_X25519_PREFIX, remotePublic]),
      format: 'der',
      type: 'spki',
    });
    shared = diffieHellman({ privateKey, publicKey });
  } catch (err) {
    // OpenSSL refuses low-order points itself ("failed during derivation").
    throw new HandshakeError('ERR_HANDSHAKE', 'remote public key is invalid (low-order point)', { cause: err });
  }
  if (shared.every((b) => b === 0)) {
    throw new HandshakeError('ERR_HANDSHAKE', 'remote public key is invalid (all-zero shared secret)');
  }
  return shared;
}

/** SHA-256 over both sides' preamble+hello bytes, initiator's first. */
export function handshakeTranscript(initiatorBytes: Uint8Array, responderBytes: Uint8Array): Buffer {
  return createHash('sha256').update(initiatorBytes).update(responderBytes).digest();
}

/** Runs the KDF in the header and maps the results to this side's send/recv by role. */
export function deriveSessionKeys(opts: {
  shared: Uint8Array;
  passwordKey: Uint8Array;
  transcript: Uint8Array;
  isInitiator: boolean;
}): SessionKeys {
  const ikm = Buffer.concat([opts.shared, opts.passwordKey]);
  const okm = Buffer.from(hkdfSync('sha256', ikm, opts.transcript, SESSION_KDF_INFO, SESSION_OKM_BYTES));
  ikm.fill(0);
  const part = (off: number, len: number): Buffer => Buffer.from(okm.subarray(off, off + len));
  const tcpIR = part(0, 32);
  const tcpRI = part(32, 32);
  const udpIR = part(64, 32);
  const udpRI = part(96, 32);
  const saltIR = part(128, 4);
  const saltRI = part(132, 4);
  okm.fill(0);
  return opts.isInitiator
    ? { tcpSendKey: tcpIR, tcpRecvKey: tcpRI, udp: { udpSendKey: udpIR, udpRecvKey: udpRI, udpSendSalt: saltIR, udpRecvSalt: saltRI } }
    : { tcpSendKey: tcpRI, tcpRecvKey: tcpIR, udp: { udpSendKey: udpRI, udpRecvKey: udpIR, udpSendSalt: saltRI, udpRecvSalt: saltIR } };
}
