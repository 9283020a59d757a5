// The hello: sent in plaintext right after the preamble, one frame (framing.ts), before any key exists.
//
//   u32 BE length (≤ HELLO_MAX_BYTES) ‖ msgpack map:
//
//   key           msgpack type  rule
//   name          str           canonical peer name "aa:bb:cc:dd:ee:ff"
//   nickname      str           1..255 characters, no control characters
//   uid           str           decimal u64, 1..2^64-1 (random per router start; 0 is reserved)
//   connId        uint          u32, random per connection
//   encrypted     bool          the sender has a password
//   publicKey     bin (32)      ephemeral X25519 public key; present iff encrypted
//   listenPort    uint          1..65535, TCP/UDP port the sender listens on (for discovery)
//   sessionIndex  uint          u32, the receiver index the sender wants in data-plane datagram
//                               headers addressed to it (data-packet.ts OFF_RECEIVER_IDX)
//   sessionLanes  uint          optional (absent = 1): u32, the sender receives on this many lanes and
//                               accepts every receiver index sessionIndex..sessionIndex+sessionLanes-1
//                               as this session's; a sender with several send lanes puts index
//                               sessionIndex + (lane % sessionLanes) in a lane's datagrams, so the
//                               receiver's kernel can steer them to its lanes (io/udp-steer). Used as
//                               min(max(1, n), MAX_SESSION_LANES): 0 means 1. Written only when > 1.
//   trusted       bool          optional (absent = false): the sender trusts the receiver's address
//                               (--trusted-subnets). Only when both ends send true is the data plane
//                               between them unencrypted; the control plane stays encrypted (Weave's
//                               "Trusted" connection feature). Written only when true.
//   csumPartial   bool          optional (absent = false): the sender accepts DATA frames whose IPv4 TCP
//                               checksum is left partial (data-packet.ts, frame length bit 15), and every
//                               frame it sends is shorter than 32768 bytes (its MTU allows no more). Only
//                               when both ends send true does bit 15 of a frame's length mean "checksum
//                               partial" on the session; then either end may send such frames to the
//                               other. Written only when true.
//
// Unknown keys are ignored (room for later versions); every known key is required unless stated and is
// validated for type, range and length. A failure is a ProtocolError naming the field. The exact bytes
// (length prefix included) go into the key-derivation transcript (session-keys.ts), so a hello altered
// in flight breaks authentication.

import { MAX_SESSION_LANES } from '../core/defaults.js';
import { ProtocolError } from '../core/errors.js';
import { isPeerName, type PeerName } from '../core/types.js';
import { packValue, typeName, unpackStrict } from './control-codec.js';
import { encodeFrame } from './framing.js';

export const HELLO_MAX_BYTES = 4096;
export const NICKNAME_MAX_CHARS = 255;
export const PUBLIC_KEY_BYTES = 32;
const U64_MAX = (1n << 64n) - 1n;
const UID_RE = /^[1-9][0-9]{0,19}$/;
// C0 and C1 control characters and DEL are not printable.
// eslint-disable-next-line no-control-regex
const NON_PRINTABLE_RE = /[\u0000-\u001f\u007f-\u009f]/;

export interface Hello {
  name: PeerName;
  nickname: string;
  /** Decimal string of a random non-zero u64. */
  uid: string;
  connId: number;
  encrypted: boolean;
  /** 32-byte X25519 public key; present iff `encrypted`. */
  publicKey?: Uint8Array;
  listenPort: number;
  sessionIndex: number;
  /** Receive lanes of the sender: it accepts sessionIndex..sessionIndex+sessionLanes-1. Absent = 1. */
  sessionLanes?: number;
  /** The sender trusts the receiver's address (--trusted-subnets). Absent = false. */
  trusted?: boolean;
  /** The sender accepts checksum-partial frames and sends frames < 32768 bytes only. Absent = false. */
  csumPartial?: boolean;
}

/** The hello as it goes on the wire: length prefix + msgpack body. Throws ProtocolError for an invalid field. */
export function encodeHello(hello: Hello): Buffer {
  validateHello(hello, 'invalid local hello');
  // Fixed key order, so the same hello always gives the same bytes.
  const map: Record<string, unknown> = {
    name: hello.name,
    nickname: hello.nickname,
    uid: hello.uid,
    connId: hello.connId,
    encrypted: hello.encrypted,
  };
  if (hello.encrypted) map['publicKey'] = Buffer.from(hello.publicKey!);
  map['listenPort'] = hello.listenPort;
  map['sessionIndex'] = hello.sessionIndex;
  if (hello.sessionLanes !== undefined && hello.sessionLanes > 1) map['sessionLanes'] = hello.sessionLanes;
  if (hello.trusted === true) map['trusted'] = true;
  if (hello.csumPartial === true) map['csumPartial'] = true;
  const body = packValue(map);
  if (body.length > HELLO_MAX_BYTES) {
    throw new ProtocolError(`invalid local hello: ${body.length} bytes exceeds the limit of ${HELLO_MAX_BYTES}`);
  }
  return encodeFrame(body);
}

/** Decodes and validates a hello body (the bytes after the length prefix). Throws only ProtocolError. */
export function decodeHello(body: Uint8Array): Hello {
  if (body.length > HELLO_MAX_BYTES) {
    throw new ProtocolError(`invalid hello: ${body.length} bytes exceeds the limit of ${HELLO_MAX_BYTES}`);
  }
  const value = unpackStrict(body, 'hello');
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array ||
      Object.getPrototypeOf(value) !== Object.prototype) {
    throw new ProtocolError(`invalid hello: expected a map, got ${typeName(value)}`);
  }
  const obj = value as Record<string, unknown>;
  const get = (k: string): unknown => (Object.hasOwn(obj, k) ? obj[k] : undefined);
  const hello: Hello = {
    name: get('name') as PeerName,
    nickname: get('nickname') as string,
    uid: get('uid') as string,
    connId: get('connId') as number,
    encrypted: get('encrypted') as boolean,
    listenPort: get('listenPort') as number,
    sessionIndex: get('sessionIndex') as number,
  };
  const pk = get('publicKey');
  if (pk !== undefined) hello.publicKey = pk as Uint8Array;
  const lanes = get('sessionLanes');
  if (lanes !== undefined) hello.sessionLanes = lanes as number;
  const trusted = get('trusted');
  if (trusted !== undefined) hello.trusted = trusted as boolean;
  const csumPartial = get('csumPartial');
  if (csumPartial !== undefined) hello.csumPartial = csumPartial as boolean;
  validateHello(hello, 'invalid hello');
  if (hello.publicKey) hello.publicKey = Buffer.from(hello.publicKey);
  return hello;
}

/** Throws ProtocolError "PREFIX: FIELD …" for the first invalid field. */
export function validateHello(h: Hello, prefix = 'invalid hello'): void {
  const bad = (field: string, rule: string, v: unknown): never => {
    throw new ProtocolError(`${prefix}: ${field} ${describe(v)} ${rule}`, { fields: { field } });
  };
  if (typeof h.name !== 'string' || !isPeerName(h.name)) bad('name', 'must be a canonical peer name (aa:bb:cc:dd:ee:ff)', h.name);
  if (typeof h.nickname !== 'string' || h.nickname.length < 1 || h.nickname.length > NICKNAME_MAX_CHARS ||
      NON_PRINTABLE_RE.test(h.nickname)) {
    bad('nickname', `must be 1..${NICKNAME_MAX_CHARS} printable characters`, h.nickname);
  }
  if (typeof h.uid !== 'string' || !UID_RE.test(h.uid) || BigInt(h.uid) > U64_MAX) {
    bad('uid', 'must be a decimal u64 in 1..18446744073709551615', h.uid);
  }
  if (!isUint(h.connId, 0xffffffff)) bad('connId', 'must be an integer 0..4294967295', h.connId);
  if (typeof h.encrypted !== 'boolean') bad('encrypted', 'must be a boolean', h.encrypted);
  if (h.encrypted) {
    if (!(h.publicKey instanceof Uint8Array) || h.publicKey.length !== PUBLIC_KEY_BYTES) {
      bad('publicKey', `must be ${PUBLIC_KEY_BYTES} bytes of binary when encrypted is true`, h.publicKey);
    }
  } else if (h.publicKey !== undefined) {
    bad('publicKey', 'must be absent when encrypted is false', h.publicKey);
  }
  if (!isUint(h.listenPort, 65535) || h.listenPort < 1) bad('listenPort', 'must be an integer 1..65535', h.listenPort);
  if (!isUint(h.sessionIndex, 0xffffffff)) bad('sessionIndex', 'must be an integer 0..4294967295', h.sessionIndex);
  if (h.sessionLanes !== undefined && !isUint(h.sessionLanes, 0xffffffff)) {
    bad('sessionLanes', 'must be an integer 0..4294967295 when present', h.sessionLanes);
  }
  if (h.trusted !== undefined && typeof h.trusted !== 'boolean') bad('trusted', 'must be a boolean when present', h.trusted);
  if (h.csumPartial !== undefined && typeof h.csumPartial !== 'boolean') {
    bad('csumPartial', 'must be a boolean when present', h.csumPartial);
  }
}

/**
 * The receive lanes a hello announces, as the other end uses them: absent or 0 → 1 (one index, as a
 * peer without lanes), more than MAX_SESSION_LANES → MAX_SESSION_LANES (a sender never has more lanes
 * than that, so the extra indexes would never be used).
 */
export function sessionLanesOf(h: Hello): number {
  return Math.min(Math.max(1, h.sessionLanes ?? 1), MAX_SESSION_LANES);
}

function isUint(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}

/** The offending value, short and safe to log. */
function describe(v: unknown): string {
  if (v === undefined) return '(missing)';
  if (typeof v === 'string') return JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v instanceof Uint8Array) return `(${v.length} bytes of binary)`;
  return `(${typeName(v)})`;
}
