// Wire form of topology updates (the 'topology' gossip channel payload), msgpack via msgpackr.
//
//   [FORMAT=1, [entry, ...]]
//   entry      = [name: bin(6), nickname: str, uid: str, version: uint, [conn, ...]]
//   conn       = [name: bin(6), address: str, flags: uint (bit0 outbound, bit1 established), listenPort: uint]
//
// Arrays, not maps: smaller, and there is no key to pollute. Every decoded value is checked for type,
// range and count before it becomes a PeerEntry; anything else is a ProtocolError (never a TypeError or
// RangeError from msgpackr or from our own code).

import { Packr, Unpackr } from 'msgpackr';
import { ProtocolError, errorMessage } from '../core/errors.js';
import { peerNameFromBytes, peerNameToBytes } from '../core/types.js';
import { checkMsgpackShape } from '../wire/msgpack-shape.js';
import { TOPOLOGY_LIMITS, validateEntry, type ConnectionSummary, type PeerEntry } from './topology.js';

export const TOPOLOGY_FORMAT = 1;

const FLAG_OUTBOUND = 1;
const FLAG_ESTABLISHED = 2;

// Encoding names is on the gossip hot path; names repeat, so keep their bytes (bounded).
const nameBytes = new Map<string, Uint8Array>();
function bytesOf(name: PeerEntry['name']): Uint8Array {
  let b = nameBytes.get(name);
  if (!b) {
    if (nameBytes.size >= 65_536) nameBytes.clear();
    b = peerNameToBytes(name);
    nameBytes.set(name, b);
  }
  return b;
}

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: 'number' });

export function encodeTopology(entries: readonly PeerEntry[]): Uint8Array {
  const wire = entries.map((e) => [
    bytesOf(e.name),
    e.nickname,
    e.uid,
    e.version,
    e.connections.map((c) => [
      bytesOf(c.name),
      c.address,
      (c.outbound ? FLAG_OUTBOUND : 0) | (c.established ? FLAG_ESTABLISHED : 0),
      c.listenPort,
    ]),
  ]);
  return packr.pack([TOPOLOGY_FORMAT, wire]);
}

export function decodeTopology(data: Uint8Array): PeerEntry[] {
  checkMsgpackShape(data, 'topology payload'); // a lying array count must not reach msgpackr
  let raw: unknown;
  try {
    raw = unpackr.unpack(data);
  } catch (err) {
    throw new ProtocolError(`topology: undecodable payload (${errorMessage(err)})`, { cause: err });
  }
  if (!Array.isArray(raw) || raw.length !== 2) throw new ProtocolError('topology: payload must be [format, entries]');
  if (raw[0] !== TOPOLOGY_FORMAT) {
    throw new ProtocolError(`topology: unknown format ${String(raw[0])}, this build speaks ${TOPOLOGY_FORMAT}`);
  }
  const list: unknown = raw[1];
  if (!Array.isArray(list)) throw new ProtocolError('topology: entries must be an array');
  if (list.length > TOPOLOGY_LIMITS.maxPeers) {
    throw new ProtocolError(`topology: ${list.length} peers in one update, limit ${TOPOLOGY_LIMITS.maxPeers}`);
  }
  const seen = new Set<string>();
  const out: PeerEntry[] = [];
  for (const item of list) {
    const e = decodeEntry(item);
    if (seen.has(e.name)) throw new ProtocolError(`topology: peer ${e.name} appears twice in one update`);
    seen.add(e.name);
    out.push(e);
  }
  return out;
}

function decodeEntry(item: unknown): PeerEntry {
  if (!Array.isArray(item) || item.length !== 5) throw new ProtocolError('topology: entry must be a 5-element array');
  const [nameB, nickname, uid, version, conns] = item as unknown[];
  const name = nameOf(nameB);
  if (typeof nickname !== 'string' || typeof uid !== 'string' || typeof version !== 'number') {
    throw new ProtocolError(`topology: peer ${name} has mistyped fields`);
  }
  if (!Array.isArray(conns)) throw new ProtocolError(`topology: peer ${name} connections must be an array`);
  if (conns.length > TOPOLOGY_LIMITS.maxConnectionsPerPeer) {
    throw new ProtocolError(`topology: peer ${name} lists ${conns.length} connections, limit ${TOPOLOGY_LIMITS.maxConnectionsPerPeer}`);
  }
  const connections: ConnectionSummary[] = conns.map((c: unknown) => {
    if (!Array.isArray(c) || c.length !== 4) throw new ProtocolError(`topology: peer ${name} connection must be a 4-element array`);
    const [cn, address, flags, listenPort] = c as unknown[];
    if (typeof address !== 'string' || typeof flags !== 'number' || typeof listenPort !== 'number') {
      throw new ProtocolError(`topology: peer ${name} connection has mistyped fields`);
    }
    if (!Number.isInteger(flags) || flags < 0 || flags > 3) throw new ProtocolError(`topology: peer ${name} connection flags ${flags} must be 0..3`);
    return {
      name: nameOf(cn),
      address,
      outbound: (flags & FLAG_OUTBOUND) !== 0,
      established: (flags & FLAG_ESTABLISHED) !== 0,
      listenPort,
    };
  });
  const entry: PeerEntry = { name, nickname, uid, version, connections };
  validateEntry(entry);
  return entry;
}

function nameOf(b: unknown) {
  if (!(b instanceof Uint8Array) || b.length !== 6) throw new ProtocolError('topology: peer name must be 6 bytes');
  return peerNameFromBytes(b);
}
