// Data-plane AEAD: AES-256-GCM over whole datagrams, sealed and opened IN PLACE, in batches.
//
// This file holds the contract (`DataAeadEngine`) and its reference implementation over node:crypto
// (`nodeDataAead`). The fast implementation is the native addon (io/native.ts `nativeDataAead`,
// native/src/aead.c); tests check both give byte-identical output and open each other's packets.
// The reference is the fallback when the addon is unavailable (about 5 µs/packet against 0.5 µs:
// node:crypto has no reusable GCM context, so every packet pays for a new Cipheriv).
//
// Packet i of a batch is buf[offsets[i], offsets[i] + lengths[i]) (wire/data-packet.ts):
//
//   0    14  header  type(1) keyGen(1) receiverIdx(4, BE) counter(8, BE)  — the AAD, left in clear
//   14   n   body    plaintext → ciphertext (same length, in place)
//   14+n 16  tag     written by seal at offsets[i] + lengths[i]; the caller leaves 16 bytes of room
//
//   nonce (12) = salt (4, per key and direction, from the KDF) || header[6..14] (the u64 BE counter)
//
// The nonce comes from the header it authenticates, so a receiver needs no side channel, and a
// flipped header bit fails the tag. Nonce uniqueness (a counter never reused under one key) is the
// sender's job (dataplane session), not this module's.
//
// seal: every packet checked first (lengths[i] >= 14 and offsets[i] + lengths[i] + 16 <= buf.length,
//       else RangeError and nothing is modified); then sealed, lengths[i] += 16.
// open: bounds checked first (RangeError, nothing modified). Per packet: status[i] = 1 and
//       lengths[i] -= 16 on success; status[i] = 0 otherwise (shorter than 30 bytes, bad tag, wrong key,
//       altered header), with lengths[i] unchanged and — when the packet was long enough to try —
//       buf[off + 14, off + len) zeroed so unauthenticated bytes never linger. Never throws per packet.
//       Returns the number opened.
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';

import { AEAD_KEY_BYTES, AEAD_SALT_BYTES, AEAD_TAG_BYTES, DATA_HEADER_BYTES, OFF_COUNTER } from '../wire/data-packet.js';

/** Nonce bytes: salt || counter. */
export const AEAD_NONCE_BYTES = 12;
/** Shortest packet open() will try: header + empty body + tag. */
export const MIN_SEALED_BYTES = DATA_HEADER_BYTES + AEAD_TAG_BYTES;
/** Largest batch one call accepts (native/src/common.h TSW_MAX_BATCH). */
export const MAX_AEAD_BATCH = 1024;

declare const aeadHandleBrand: unique symbol;
/** One key in one direction (seal or open). Opaque; made by the engine that uses it. */
export interface AeadHandle {
  readonly [aeadHandleBrand]: true;
}

/** Seals packets [0, count) of buf in place (the rules at the top of this file). H: the engine's key handle. */
export type SealBatch<H> = (h: H, buf: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number) => void;
/** Opens packets [0, count) of buf in place, status[i] = 1 or 0; returns the number opened. */
export type OpenBatch<H> = (h: H, buf: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number, status: Uint8Array) => number;

/** Batched in-place AES-256-GCM over the packet layout above. Native and reference share it. */
export interface DataAeadEngine {
  readonly name: 'native' | 'node:crypto';
  /** key: 32 bytes, salt: 4 bytes. A handle seals or opens, never both. */
  create(key: Uint8Array, salt: Uint8Array, forSeal: boolean): AeadHandle;
  sealBatch: SealBatch<AeadHandle>;
  openBatch: OpenBatch<AeadHandle>;
  /** Releases the key material now; later use throws (code ERR_INVALID_STATE). */
  destroy(h: AeadHandle): void;
}

// ---------------------------------------------------------------------------------------------
// Reference implementation (node:crypto).

class NodeAeadHandle {
  key: KeyObject | undefined;
  readonly salt: Buffer;
  readonly forSeal: boolean;
  /** Reused nonce scratch (the nonce is copied by createCipheriv). */
  readonly nonce = Buffer.alloc(AEAD_NONCE_BYTES);
  constructor(key: KeyObject, salt: Uint8Array, forSeal: boolean) {
    this.key = key;
    this.salt = Buffer.from(salt);
    this.forSeal = forSeal;
    this.salt.copy(this.nonce, 0);
  }
}

function codedError<E extends Error>(err: E, code: string): E {
  (err as E & { code: string }).code = code;
  return err;
}

function typeError(msg: string): TypeError {
  return codedError(new TypeError(msg), 'ERR_INVALID_ARG_TYPE');
}

function rangeError(msg: string): RangeError {
  return codedError(new RangeError(msg), 'ERR_OUT_OF_RANGE');
}

function checkBytes(v: unknown, name: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw typeError(`${name} must be a Buffer or Uint8Array`);
  return v;
}

function checkCount(count: unknown): number {
  if (typeof count !== 'number' || !Number.isInteger(count)) throw typeError('count must be an integer');
  if (count < 0 || count > MAX_AEAD_BATCH) throw rangeError(`count must be in 0..${MAX_AEAD_BATCH}, got ${count}`);
  return count;
}

/** Mirrors native/src/common.c tsw_check_batch. */
function checkBatch(
  buf: Uint8Array,
  offsets: Int32Array,
  lengths: Int32Array,
  count: number,
  minLen: number,
  extra: number,
): void {
  if (!(offsets instanceof Int32Array)) throw typeError('offsets must be an Int32Array');
  if (!(lengths instanceof Int32Array)) throw typeError('lengths must be an Int32Array');
  if (count > offsets.length || count > lengths.length) {
    throw rangeError(`count ${count} exceeds offsets (${offsets.length}) or lengths (${lengths.length})`);
  }
  for (let i = 0; i < count; i++) {
    const o = offsets[i]!;
    const l = lengths[i]!;
    if (l < minLen) throw rangeError(`packet ${i} length ${l} is below the minimum ${minLen}`);
    if (o < 0 || o + l + extra > buf.length) {
      throw rangeError(
        `packet ${i} (offset ${o}, length ${l}${extra ? ' + tag' : ''}) does not fit buf of ${buf.length} bytes`,
      );
    }
  }
}

function handleOf(h: AeadHandle, wantSeal: boolean): NodeAeadHandle & { key: KeyObject } {
  if (!(h instanceof NodeAeadHandle)) throw typeError('handle must be a handle returned by nodeDataAead.create');
  if (!h.key) throw codedError(new Error('handle was destroyed'), 'ERR_INVALID_STATE');
  if (h.forSeal !== wantSeal) {
    throw typeError(`handle was created for ${h.forSeal ? 'seal' : 'open'}, not ${wantSeal ? 'seal' : 'open'}`);
  }
  return h as NodeAeadHandle & { key: KeyObject };
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** The reference engine: node:crypto, one Cipheriv per packet. */
export const nodeDataAead: DataAeadEngine = {
  name: 'node:crypto',

  create(key, salt, forSeal) {
    checkBytes(key, 'key');
    checkBytes(salt, 'salt');
    if (typeof forSeal !== 'boolean') throw typeError('forSeal must be a boolean');
    if (key.length !== AEAD_KEY_BYTES) throw rangeError(`key must be ${AEAD_KEY_BYTES} bytes, got ${key.length}`);
    if (salt.length !== AEAD_SALT_BYTES) throw rangeError(`salt must be ${AEAD_SALT_BYTES} bytes, got ${salt.length}`);
    return new NodeAeadHandle(createSecretKey(Buffer.from(key)), salt, forSeal) as unknown as AeadHandle;
  },

  sealBatch(h, buf, offsets, lengths, count) {
    const a = handleOf(h, true);
    checkBytes(buf, 'buf');
    checkCount(count);
    checkBatch(buf, offsets, lengths, count, DATA_HEADER_BYTES, AEAD_TAG_BYTES);
    const b = asBuffer(buf);
    for (let i = 0; i < count; i++) {
      const off = offsets[i]!;
      const len = lengths[i]!;
      b.copy(a.nonce, AEAD_SALT_BYTES, off + OFF_COUNTER, off + DATA_HEADER_BYTES);
      const c = createCipheriv('aes-256-gcm', a.key, a.nonce, { authTagLength: AEAD_TAG_BYTES });
      c.setAAD(b.subarray(off, off + DATA_HEADER_BYTES));
      const ct = c.update(b.subarray(off + DATA_HEADER_BYTES, off + len));
      const fin = c.final();
      ct.copy(b, off + DATA_HEADER_BYTES);
      fin.copy(b, off + DATA_HEADER_BYTES + ct.length);
      c.getAuthTag().copy(b, off + len);
      lengths[i] = len + AEAD_TAG_BYTES;
    }
  },

  openBatch(h, buf, offsets, lengths, count, status) {
    const a = handleOf(h, false);
    checkBytes(buf, 'buf');
    checkCount(count);
    checkBytes(status, 'status');
    checkBatch(buf, offsets, lengths, count, 0, 0);
    if (count > status.length) throw rangeError(`count ${count} exceeds status (${status.length})`);
    const b = asBuffer(buf);
    let opened = 0;
    for (let i = 0; i < count; i++) {
      status[i] = 0;
      const off = offsets[i]!;
      const len = lengths[i]!;
      if (len < MIN_SEALED_BYTES) continue;
      const bodyEnd = off + len - AEAD_TAG_BYTES;
      b.copy(a.nonce, AEAD_SALT_BYTES, off + OFF_COUNTER, off + DATA_HEADER_BYTES);
      try {
        const d = createDecipheriv('aes-256-gcm', a.key, a.nonce, { authTagLength: AEAD_TAG_BYTES });
        d.setAAD(b.subarray(off, off + DATA_HEADER_BYTES));
        d.setAuthTag(b.subarray(bodyEnd, off + len));
        const pt = d.update(b.subarray(off + DATA_HEADER_BYTES, bodyEnd));
        const fin = d.final(); // throws on a bad tag; nothing was written to buf yet
        pt.copy(b, off + DATA_HEADER_BYTES);
        fin.copy(b, off + DATA_HEADER_BYTES + pt.length);
      } catch {
        b.fill(0, off + DATA_HEADER_BYTES, off + len);
        continue;
      }
      status[i] = 1;
      lengths[i] = len - AEAD_TAG_BYTES;
      opened++;
    }
    return opened;
  },

  destroy(h) {
    if (!(h instanceof NodeAeadHandle)) throw typeError('handle must be a handle returned by nodeDataAead.create');
    h.key = undefined;
  },
};

/** The 12-byte nonce for a packet header (for tests and docs; the engines build it internally). */
export function dataNonce(salt: Uint8Array, header: Uint8Array): Uint8Array {
  const n = new Uint8Array(AEAD_NONCE_BYTES);
  n.set(salt.subarray(0, AEAD_SALT_BYTES), 0);
  n.set(header.subarray(OFF_COUNTER, DATA_HEADER_BYTES), AEAD_SALT_BYTES);
  return n;
}
