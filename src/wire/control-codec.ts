// Control message codec (msgpackr, compact array form). The plaintext of one control frame is one
// msgpack array whose first element is the kind code (codes follow mesh protocol.go's tags):
//
//   kind              code  array
//   heartbeat         0     [0]
//   gossip            4     [4, channel, payload]
//   gossip-unicast    5     [5, channel, src, dst, payload]
//   gossip-broadcast  6     [6, channel, src, payload]
//   overlay           7     [7, payload]
//   frames            8     [8, payload]
//   close             9     [9, reason]
//   rekey             10    [10, op, gen, pub]
//
//   channel  msgpack str, one of "topology" | "ipam" | "dns" | "nat" (NAT traversal, mesh/nat-messages.ts)
//   src/dst  msgpack str, canonical peer name "aa:bb:cc:dd:ee:ff"
//   payload  msgpack bin, at most MAX_CONTROL_MSG_BYTES
//   reason   msgpack str, at most MAX_CLOSE_REASON_CHARS characters
//   op       msgpack uint: 1 init, 2 resp, 3 installed
//   gen      msgpack uint, 1 ..= 2^32 (the key generation proposed or installed)
//   pub      msgpack bin: init/resp the 32-byte X25519 public key, installed empty
//
// The encoded message is at most MAX_CONTROL_MSG_BYTES. Decoding is strict: exact field count, exact
// types, nothing trailing. Every failure, including msgpackr's own, is a ProtocolError (ERR_PROTOCOL)
// that names the kind and field; nothing else escapes `decodeControlMessage`.

import { Packr, Unpackr } from 'msgpackr';
import { MAX_CONTROL_MSG_BYTES } from '../core/defaults.js';
import { ProtocolError, TsweaveError } from '../core/errors.js';
import type { GossipChannelName } from '../core/gossip.js';
import { isPeerName, type PeerName } from '../core/types.js';
import { REKEY_PUBLIC_KEY_BYTES, type ControlMessage, type ControlMessageKind, type RekeyOp } from './control-messages.js';
import { checkMsgpackShape } from './msgpack-shape.js';

export const MAX_CLOSE_REASON_CHARS = 1024;

export const KIND_CODES: Readonly<Record<ControlMessageKind, number>> = Object.freeze({
  heartbeat: 0,
  gossip: 4,
  'gossip-unicast': 5,
  'gossip-broadcast': 6,
  overlay: 7,
  frames: 8,
  close: 9,
  rekey: 10,
});

const REKEY_OPS: readonly RekeyOp[] = ['init', 'resp', 'installed'];
const MAX_REKEY_GEN = 2 ** 32;

const KIND_BY_CODE = new Map<number, ControlMessageKind>(
  Object.entries(KIND_CODES).map(([k, c]) => [c, k as ControlMessageKind]),
);

/** Number of array elements per kind, code included. */
const FIELD_COUNTS: Readonly<Record<ControlMessageKind, number>> = {
  heartbeat: 1,
  gossip: 3,
  'gossip-unicast': 5,
  'gossip-broadcast': 4,
  overlay: 2,
  frames: 2,
  close: 2,
  rekey: 4,
};

const CHANNELS: ReadonlySet<string> = new Set<GossipChannelName>(['topology', 'ipam', 'dns', 'nat']);

// Plain msgpack only: no records/structures, no structured clone; maps decode to plain objects.
const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, structuredClone: false, mapsAsObjects: true, int64AsType: 'number' });

/** msgpack-encodes a plain value (arrays, maps as objects, strings, numbers, booleans, Uint8Array). */
export function packValue(value: unknown): Buffer {
  return packr.pack(value);
}

/**
 * Decodes exactly one msgpack value filling the whole buffer. Any msgpackr failure (truncation, unknown
 * extension, stack overflow from nesting) or trailing bytes → ProtocolError "invalid WHAT: …".
 */
export function unpackStrict(buf: Uint8Array, what: string): unknown {
  if (buf.length === 0) throw new ProtocolError(`invalid ${what}: empty`);
  checkMsgpackShape(buf, what); // a lying array count must not reach msgpackr (msgpack-shape.ts)
  let value: unknown;
  let end = -1;
  try {
    // unpackMultiple with a callback tells us where the first value ends, without msgpackr building an
    // error message from (possibly megabytes of) decoded data when there are trailing bytes.
    unpackr.unpackMultiple(toBuffer(buf), (v: unknown, _start?: number, stop?: number) => {
      value = v;
      end = stop ?? -1;
      return false;
    });
  } catch (err) {
    throw new ProtocolError(`invalid ${what}: malformed msgpack (${shortMessage(err)})`, { cause: err });
  }
  if (end !== buf.length) {
    throw new ProtocolError(`invalid ${what}: ${buf.length - end} trailing bytes after the msgpack value`);
  }
  return value;
}

/** Encodes a message; throws ProtocolError if a field is invalid or the result exceeds the cap (a local bug). */
export function encodeControlMessage(msg: ControlMessage): Buffer {
  // Validate what we send with the same rules the peer will apply, so a local bug fails here, not there.
  const arr = toArray(msg);
  fromArray(arr, 'outgoing');
  const out = packr.pack(arr);
  if (out.length > MAX_CONTROL_MSG_BYTES) {
    throw new ProtocolError(
      `${msg.kind} message of ${out.length} bytes exceeds the control message limit of ${MAX_CONTROL_MSG_BYTES} bytes`,
    );
  }
  return out;
}

/**
 * Decodes and validates one control message. Throws only ProtocolError. Payloads may share memory with
 * `buf`; the caller owns `buf` (the frame decoder hands out a fresh copy per message).
 */
export function decodeControlMessage(buf: Uint8Array): ControlMessage {
  if (buf.length > MAX_CONTROL_MSG_BYTES) {
    throw new ProtocolError(`control message of ${buf.length} bytes exceeds the limit of ${MAX_CONTROL_MSG_BYTES} bytes`);
  }
  const value = unpackStrict(buf, 'control message');
  try {
    return fromArray(value, 'incoming');
  } catch (err) {
    if (err instanceof TsweaveError) throw err;
    throw new ProtocolError(`invalid control message: ${shortMessage(err)}`, { cause: err });
  }
}

function toArray(msg: ControlMessage): unknown[] {
  const code = KIND_CODES[msg.kind];
  switch (msg.kind) {
    case 'heartbeat':
      return [code];
    case 'gossip':
      return [code, msg.channel, msg.payload];
    case 'gossip-unicast':
      return [code, msg.channel, msg.src, msg.dst, msg.payload];
    case 'gossip-broadcast':
      return [code, msg.channel, msg.src, msg.payload];
    case 'overlay':
    case 'frames':
      return [code, msg.payload];
    case 'close':
      return [code, msg.reason];
    case 'rekey':
      return [code, REKEY_OPS.indexOf(msg.op) + 1, msg.gen, msg.pub ?? new Uint8Array(0)];
    default:
      throw new ProtocolError(`cannot encode control message of unknown kind ${JSON.stringify((msg as { kind: unknown }).kind)}`);
  }
}

function fromArray(value: unknown, dir: 'incoming' | 'outgoing'): ControlMessage {
  const pre = dir === 'incoming' ? 'invalid control message' : 'invalid outgoing control message';
  if (!Array.isArray(value)) throw new ProtocolError(`${pre}: expected an array, got ${typeName(value)}`);
  if (value.length === 0) throw new ProtocolError(`${pre}: empty array (no kind)`);
  const code = value[0];
  const kind = typeof code === 'number' ? KIND_BY_CODE.get(code) : undefined;
  if (kind === undefined) {
    throw new ProtocolError(`${pre}: unknown kind ${typeof code === 'number' ? code : typeName(code)}`);
  }
  const p = `${pre} (${kind})`;
  const expected = FIELD_COUNTS[kind];
  if (value.length !== expected) {
    throw new ProtocolError(`${p}: has ${value.length - 1} fields, expected ${expected - 1}`);
  }
  switch (kind) {
    case 'heartbeat':
      return { kind };
    case 'gossip':
      return { kind, channel: channel(value[1], p), payload: payload(value[2], p) };
    case 'gossip-unicast':
      return {
        kind,
        channel: channel(value[1], p),
        src: peer(value[2], 'src', p),
        dst: peer(value[3], 'dst', p),
        payload: payload(value[4], p),
      };
    case 'gossip-broadcast':
      return { kind, channel: channel(value[1], p), src: peer(value[2], 'src', p), payload: payload(value[3], p) };
    case 'overlay':
    case 'frames':
      return { kind, payload: payload(value[1], p) };
    case 'close': {
      const reason = value[1];
      if (typeof reason !== 'string') throw new ProtocolError(`${p}: reason must be a string, got ${typeName(reason)}`);
      if (reason.length > MAX_CLOSE_REASON_CHARS) {
        throw new ProtocolError(`${p}: reason of ${reason.length} characters exceeds ${MAX_CLOSE_REASON_CHARS}`);
      }
      return { kind, reason };
    }
    case 'rekey':
      return rekey(value, p);
  }
}

function rekey(value: unknown[], p: string): ControlMessage {
  const [, opCode, gen, pub] = value;
  const op = typeof opCode === 'number' && Number.isInteger(opCode) ? REKEY_OPS[opCode - 1] : undefined;
  if (op === undefined) throw new ProtocolError(`${p}: op must be 1 (init), 2 (resp) or 3 (installed), got ${typeof opCode === 'number' ? opCode : typeName(opCode)}`);
  if (typeof gen !== 'number' || !Number.isInteger(gen) || gen < 1 || gen > MAX_REKEY_GEN) {
    throw new ProtocolError(`${p}: gen must be an integer 1..${MAX_REKEY_GEN}, got ${typeof gen === 'number' ? gen : typeName(gen)}`);
  }
  if (!(pub instanceof Uint8Array)) throw new ProtocolError(`${p}: pub must be binary, got ${typeName(pub)}`);
  const want = op === 'installed' ? 0 : REKEY_PUBLIC_KEY_BYTES;
  if (pub.length !== want) throw new ProtocolError(`${p}: pub of ${op} must be ${want} bytes, got ${pub.length}`);
  return op === 'installed' ? { kind: 'rekey', op, gen } : { kind: 'rekey', op, gen, pub };
}

function channel(v: unknown, p: string): GossipChannelName {
  if (typeof v !== 'string') throw new ProtocolError(`${p}: channel must be a string, got ${typeName(v)}`);
  if (!CHANNELS.has(v)) {
    throw new ProtocolError(`${p}: unknown channel ${JSON.stringify(v.slice(0, 64))}; must be topology, ipam or dns`);
  }
  return v as GossipChannelName;
}

function peer(v: unknown, field: string, p: string): PeerName {
  if (typeof v !== 'string') throw new ProtocolError(`${p}: ${field} must be a peer name string, got ${typeName(v)}`);
  if (!isPeerName(v)) {
    throw new ProtocolError(`${p}: ${field} ${JSON.stringify(v.slice(0, 64))} is not a canonical peer name (aa:bb:cc:dd:ee:ff)`);
  }
  return v;
}

function payload(v: unknown, p: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new ProtocolError(`${p}: payload must be binary, got ${typeName(v)}`);
  if (v.length > MAX_CONTROL_MSG_BYTES) {
    throw new ProtocolError(`${p}: payload of ${v.length} bytes exceeds ${MAX_CONTROL_MSG_BYTES}`);
  }
  return v;
}

/** A short type description for error messages (never the value itself). */
export function typeName(v: unknown): string {
  if (v === null) return 'nil';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Uint8Array) return 'binary';
  if (typeof v === 'object') return (v as object).constructor === Object ? 'map' : `${(v as object).constructor?.name ?? 'object'}`;
  return typeof v;
}

function toBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function shortMessage(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.length > 120 ? `${m.slice(0, 120)}…` : m;
}
