// Data-plane rekeying KDF (DESIGN.md §3; the exchange is dataplane/rekey.ts). Every generation's keys
// come from a fresh X25519 exchange over the sealed control channel, mixed with a chain key carried
// from generation to generation:
//
//   chain_0       = HKDF-SHA256(ikm = lower ‖ higher of the two generation-0 data keys,
//                               salt = "", info = "tsweave v1 rekey chain", L = 32)
//   shared_n      = X25519(our ephemeral private, their ephemeral public)     all-zero rejected
//   okm           = HKDF-SHA256(ikm = shared_n, salt = chain_{n-1}, info = "tsweave v1 rekey", L = 136)
//   okm offset    0 chain_n (32) · 32 key lo→hi (32) · 64 key hi→lo (32) · 128 salt lo→hi (4) · 132 salt hi→lo (4)
//
// "lo" is the side whose ephemeral public key sorts lower (they differ unless an attacker replays ours,
// which is refused), so both sides map the keys to send/recv without knowing who dialled. A captured
// data key opens one generation only: the next one needs shared_n, whose private halves are dropped
// once the keys are derived. Every intermediate buffer is zeroed after use.

import { hkdfSync } from 'node:crypto';
import type { Rng } from '../core/ports.js';
import { generateEphemeralKeyPair, x25519SharedSecret, type EphemeralKeyPair } from './session-keys.js';

export const REKEY_CHAIN_INFO = 'tsweave v1 rekey chain';
export const REKEY_KDF_INFO = 'tsweave v1 rekey';
const KEY = 32;
const SALT = 4;

/** One generation's data keys, mapped to this side's send/recv. */
export interface GenerationKeys {
  sendKey: Buffer;
  recvKey: Buffer;
  sendSalt: Buffer;
  recvSalt: Buffer;
}

/** The crypto the rekey state machine needs (injected so it stays a pure core). */
export interface RekeyCrypto {
  /** chain_0 from the generation-0 keys. */
  initialChain(keys: { sendKey: Uint8Array; recvKey: Uint8Array }): Buffer;
  newEphemeral(): EphemeralKeyPair;
  /** Throws HandshakeError for a bad public key (wrong size, low order, equal to ours). */
  derive(chain: Uint8Array, mine: EphemeralKeyPair, theirPublic: Uint8Array): { chain: Buffer; keys: GenerationKeys };
}

export function nodeRekeyCrypto(rng: Rng): RekeyCrypto {
  return {
    initialChain(k) {
      const [lo, hi] = Buffer.compare(k.sendKey, k.recvKey) <= 0 ? [k.sendKey, k.recvKey] : [k.recvKey, k.sendKey];
      const ikm = Buffer.concat([lo, hi]);
      const chain = Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), REKEY_CHAIN_INFO, KEY));
      ikm.fill(0);
      return chain;
    },
    newEphemeral: () => generateEphemeralKeyPair(rng),
    derive(chain, mine, theirPublic) {
      const order = Buffer.compare(mine.publicKey, theirPublic);
      if (order === 0) throw new RangeError('rekey: the peer offered our own public key');
      const shared = x25519SharedSecret(mine.privateKey, theirPublic);
      const okm = Buffer.from(hkdfSync('sha256', shared, chain, REKEY_KDF_INFO, KEY * 4 + SALT * 2));
      shared.fill(0);
      const part = (off: number, len: number): Buffer => Buffer.from(okm.subarray(off, off + len));
      const next = part(0, KEY);
      const loHi = { key: part(KEY, KEY), salt: part(3 * KEY, SALT) };
      const hiLo = { key: part(2 * KEY, KEY), salt: part(3 * KEY + SALT, SALT) };
      okm.fill(0);
      const [send, recv] = order < 0 ? [loHi, hiLo] : [hiLo, loHi];
      return { chain: next, keys: { sendKey: send.key, recvKey: recv.key, sendSalt: send.salt, recvSalt: recv.salt } };
    },
  };
}

/** Zeroes every buffer of a generation's keys. */
export function wipeKeys(k: GenerationKeys | undefined): void {
  if (!k) return;
  k.sendKey.fill(0);
  k.recvKey.fill(0);
  k.sendSalt.fill(0);
  k.recvSalt.fill(0);
}
