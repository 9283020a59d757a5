// AEAD for control messages on the TCP connection (DESIGN.md §3), one sealer/opener per direction.
//
//   sealed body = ChaCha20-Poly1305(key of this direction, nonce, plaintext) = ciphertext ‖ 16-byte tag
//
//   nonce (12 bytes):  0      4                      12
//                      | 0x00000000 | counter u64 BE |
//
// The counter starts at 0 and goes up by one per message in this direction. Neither side sends the
// counter: the receiver keeps its own, so a dropped, reordered, replayed or injected message fails to
// open and the connection dies (TCP is ordered; any gap is an attack or a bug). The key is unique to
// (connection, plane, direction) (session-keys.ts), so a nonce never repeats under a key.
//
// The first message each side sends is a sealed heartbeat. It doubles as the password check: if it
// fails to open, the passwords differ (HandshakeError ERR_AUTH_FAILED); any later failure is tampering
// (ProtocolError). Nothing that fails to open is decrypted or passed on.

import { createCipheriv, createDecipheriv } from 'node:crypto';
import { HandshakeError, ProtocolError } from '../core/errors.js';

export const CONTROL_CIPHER = 'chacha20-poly1305';
export const CONTROL_KEY_BYTES = 32;
export const CONTROL_NONCE_BYTES = 12;
export const CONTROL_TAG_BYTES = 16;
export const AUTH_FAILED_MESSAGE = 'authentication failed (password mismatch?)';

/** Counters are JS numbers; past 2^53 they would stop being exact. Unreachable in practice. */
const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

function checkKey(key: Uint8Array): Buffer {
  if (key.length !== CONTROL_KEY_BYTES) throw new TypeError(`control key must be ${CONTROL_KEY_BYTES} bytes, got ${key.length}`);
  return Buffer.from(key);
}

/** One direction's key and message counter: what sealer and opener share. */
abstract class ControlDirection {
  protected readonly key: Buffer;
  private readonly nonce = Buffer.alloc(CONTROL_NONCE_BYTES);
  /** Messages done in this direction (= the counter of the next one). */
  protected counter = 0;

  constructor(key: Uint8Array) {
    this.key = checkKey(key);
  }

  /** Throws when the counter can no longer name a fresh nonce. */
  protected checkCounter(): void {
    if (this.counter >= MAX_COUNTER) throw new ProtocolError('control message counter exhausted; reconnect');
  }

  /** The nonce of message `n`: four zero bytes, then `n` as a u64 BE. */
  protected nonceFor(n: number): Buffer {
    this.nonce.writeUInt32BE(0, 0);
    this.nonce.writeUInt32BE(Math.floor(n / 0x1_0000_0000), 4);
    this.nonce.writeUInt32BE(n >>> 0, 8);
    return this.nonce;
  }
}

/** Seals our outgoing messages. */
export class ControlSealer extends ControlDirection {
  /** Messages sealed so far (= the counter of the next one). */
  get sent(): number {
    return this.counter;
  }

  seal(plaintext: Uint8Array): Buffer {
    this.checkCounter();
    const c = createCipheriv(CONTROL_CIPHER, this.key, this.nonceFor(this.counter++), { authTagLength: CONTROL_TAG_BYTES });
    const head = c.update(plaintext);
    const tail = c.final();
    return Buffer.concat([head, tail, c.getAuthTag()]);
  }
}

/** Opens the peer's messages, strictly in order. */
export class ControlOpener extends ControlDirection {
  /** Messages opened so far. */
  get received(): number {
    return this.counter;
  }

  /**
   * Returns the plaintext, or throws: HandshakeError ERR_AUTH_FAILED for the first message,
   * ProtocolError for any later one. A failed message does not advance the counter (the
   * connection is dead anyway).
   */
  open(body: Uint8Array): Buffer {
    const n = this.counter;
    const fail = (why: string, cause?: unknown): never => {
      if (n === 0) throw new HandshakeError('ERR_AUTH_FAILED', AUTH_FAILED_MESSAGE, { cause, fields: { why } });
      throw new ProtocolError(`control message #${n} failed authentication (${why})`, { cause });
    };
    this.checkCounter();
    if (body.length < CONTROL_TAG_BYTES) fail(`${body.length} bytes is shorter than the ${CONTROL_TAG_BYTES}-byte tag`);
    const ctLen = body.length - CONTROL_TAG_BYTES;
    let plain: Buffer;
    try {
      const d = createDecipheriv(CONTROL_CIPHER, this.key, this.nonceFor(n), { authTagLength: CONTROL_TAG_BYTES });
      d.setAuthTag(body.subarray(ctLen));
      const head = d.update(body.subarray(0, ctLen));
      const tail = d.final(); // throws on a bad tag; `head` is then discarded unread
      plain = tail.length === 0 ? head : Buffer.concat([head, tail]);
    } catch (err) {
      return fail('tampered, reordered, replayed or wrong key', err);
    }
    this.counter = n + 1;
    return plain;
  }
}
