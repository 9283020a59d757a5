// The 'nat' gossip channel's messages (NAT traversal, DESIGN.md §3): an introducer's hint, and the
// bytes of a handshake stream tunnelled between two peers through that introducer. Payloads are msgpack
// arrays; decoding is strict and throws a ProtocolError (the router counts and drops it as hostile).
//
//   hint   [1, peer, addr, port, yourAddr, yourPort, listenPort]
//          "peer's UDP endpoint, as I (the sender) see it on my own authenticated session, is addr:port;
//           yours is yourAddr:yourPort; peer listens on listenPort" (ports differ: its NAT rewrites ports)
//   data   [2, introducer, stream, bytes]   bytes of tunnelled stream `stream`, relayed by `introducer`
//   close  [3, introducer, stream]          the sender closed that stream
//
//   peer/introducer  canonical peer name;  addr  dotted IPv4;  port  1..65535;  stream  u32;
//   bytes  bin, at most NAT_TUNNEL_CHUNK_BYTES

import { ProtocolError } from '../core/errors.js';
import { formatIPv4, isPeerName, tryParseIPv4, type PeerName } from '../core/types.js';
import { packValue, unpackStrict } from '../wire/control-codec.js';

/** Largest chunk of tunnelled stream bytes in one message (well under MAX_CONTROL_MSG_BYTES). */
export const NAT_TUNNEL_CHUNK_BYTES = 16 * 1024;

export interface Endpoint {
  /** IPv4 as u32. */
  addr: number;
  port: number;
}

export type NatMessage =
  | { t: 'hint'; peer: PeerName; endpoint: Endpoint; yours: Endpoint; listenPort: number }
  | { t: 'data'; introducer: PeerName; stream: number; bytes: Uint8Array }
  | { t: 'close'; introducer: PeerName; stream: number };

export function encodeNatMessage(m: NatMessage): Uint8Array {
  switch (m.t) {
    case 'hint':
      return packValue([1, m.peer, formatIPv4(m.endpoint.addr), m.endpoint.port, formatIPv4(m.yours.addr), m.yours.port, m.listenPort]);
    case 'data':
      return packValue([2, m.introducer, m.stream, m.bytes]);
    case 'close':
      return packValue([3, m.introducer, m.stream]);
  }
}

export function decodeNatMessage(payload: Uint8Array): NatMessage {
  const v: unknown = unpackStrict(payload, 'nat message');
  if (!Array.isArray(v) || v.length === 0) throw bad('not a non-empty array');
  switch (v[0]) {
    case 1:
      if (v.length !== 7) throw bad('hint: wrong field count');
      return { t: 'hint', peer: name(v[1]), endpoint: { addr: ip(v[2]), port: port(v[3]) }, yours: { addr: ip(v[4]), port: port(v[5]) }, listenPort: port(v[6]) };
    case 2:
      if (v.length !== 4) throw bad('data: wrong field count');
      if (!(v[3] instanceof Uint8Array) || v[3].length === 0 || v[3].length > NAT_TUNNEL_CHUNK_BYTES) throw bad('data: bytes');
      return { t: 'data', introducer: name(v[1]), stream: u32(v[2]), bytes: v[3] };
    case 3:
      if (v.length !== 3) throw bad('close: wrong field count');
      return { t: 'close', introducer: name(v[1]), stream: u32(v[2]) };
    default:
      throw bad(`unknown type ${String(v[0])}`);
  }
}

function bad(what: string): ProtocolError {
  return new ProtocolError(`invalid nat message: ${what}`);
}

function name(x: unknown): PeerName {
  if (typeof x !== 'string' || !isPeerName(x)) throw bad('peer name');
  return x;
}

function ip(x: unknown): number {
  const n = typeof x === 'string' ? tryParseIPv4(x) : undefined;
  if (n === undefined) throw bad('address');
  return n;
}

function port(x: unknown): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > 65535) throw bad('port');
  return x;
}

function u32(x: unknown): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 0xffffffff) throw bad('stream');
  return x;
}
