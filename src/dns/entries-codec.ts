// Wire format of the `dns` gossip channel (msgpackr, plain arrays, no records extension):
//
//   [ FORMAT_VERSION=1, senderWallMs, [ entry, ... ] ]
//   entry = [ origin "aa:bb:cc:dd:ee:ff", containerId, hostname "web.weave.local.", address u32,
//             version (safe int ≥ 1), tombstone (wall ms, 0 = live) ]
//
// Everything from a peer is hostile until proven otherwise: the payload is size-capped before decoding and
// every field is checked; any violation is a ProtocolError naming the entry index and the rule.

import { Packr } from 'msgpackr';
import { ProtocolError } from '../core/errors.js';
import { isPeerName, type PeerName } from '../core/types.js';
import { MAX_CONTAINER_ID_CHARS, MAX_DNS_ENTRIES, MAX_DNS_GOSSIP_BYTES } from './constants.js';
import { tryNormalizeName } from './names.js';
import { checkMsgpackShape } from '../wire/msgpack-shape.js';

export const DNS_GOSSIP_FORMAT_VERSION = 1;

export interface DnsEntry {
  readonly origin: PeerName;
  readonly containerId: string;
  /** Normalized FQDN: lowercase, trailing dot. */
  readonly hostname: string;
  /** IPv4 as u32. */
  readonly address: number;
  /** Set by the origin only; merge keeps the higher. */
  readonly version: number;
  /** Wall-clock ms when tombstoned by the origin; 0 while live. */
  readonly tombstone: number;
}

export interface DnsGossipMessage {
  /** Sender's wall clock (ms), for the clock-skew check. */
  sentAt: number;
  entries: DnsEntry[];
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

export function encodeDnsGossip(msg: DnsGossipMessage): Uint8Array {
  const rows = msg.entries.map((e) => [e.origin, e.containerId, e.hostname, e.address, e.version, e.tombstone]);
  return packr.pack([DNS_GOSSIP_FORMAT_VERSION, msg.sentAt, rows]);
}

function bad(rule: string, fields?: Record<string, unknown>): ProtocolError {
  return new ProtocolError(`invalid dns gossip: ${rule}`, { fields: { channel: 'dns', ...fields } });
}

const isSafeUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Decodes and validates a dns gossip payload. Throws ProtocolError (never anything else). */
export function decodeDnsGossip(data: Uint8Array): DnsGossipMessage {
  if (!(data instanceof Uint8Array)) throw bad('payload is not bytes');
  if (data.length > MAX_DNS_GOSSIP_BYTES) {
    throw bad(`payload of ${data.length} bytes exceeds the ${MAX_DNS_GOSSIP_BYTES}-byte limit`);
  }
  checkMsgpackShape(data, 'dns gossip'); // a lying array count must not reach msgpackr
  let raw: unknown;
  try {
    raw = packr.unpack(data);
  } catch (err) {
    throw new ProtocolError('invalid dns gossip: not valid msgpack', { cause: err, fields: { channel: 'dns' } });
  }
  if (!Array.isArray(raw) || raw.length !== 3) throw bad('top level must be [version, sentAt, entries]');
  const [version, sentAt, rows] = raw as unknown[];
  if (version !== DNS_GOSSIP_FORMAT_VERSION) {
    throw bad(`format version ${String(version)} not supported (this build speaks ${DNS_GOSSIP_FORMAT_VERSION})`);
  }
  if (!isSafeUint(sentAt)) throw bad('sentAt must be a non-negative integer');
  if (!Array.isArray(rows)) throw bad('entries must be an array');
  if (rows.length > MAX_DNS_ENTRIES) throw bad(`${rows.length} entries exceed the limit of ${MAX_DNS_ENTRIES}`);
  const entries: DnsEntry[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) entries[i] = decodeEntry(rows[i], i);
  return { sentAt, entries };
}

function decodeEntry(row: unknown, i: number): DnsEntry {
  if (!Array.isArray(row) || row.length !== 6) throw bad(`entry ${i} must be an array of 6 fields`);
  const [origin, containerId, hostname, address, version, tombstone] = row as unknown[];
  if (typeof origin !== 'string' || !isPeerName(origin)) throw bad(`entry ${i}: origin must be a peer name like aa:bb:cc:dd:ee:ff`);
  if (typeof containerId !== 'string' || containerId.length === 0 || containerId.length > MAX_CONTAINER_ID_CHARS) {
    throw bad(`entry ${i}: containerId must be a string of 1..${MAX_CONTAINER_ID_CHARS} characters`);
  }
  if (typeof hostname !== 'string' || tryNormalizeName(hostname) !== hostname) {
    throw bad(`entry ${i}: hostname must be a lowercase FQDN with a trailing dot`, { index: i });
  }
  if (!isSafeUint(address) || address > 0xffffffff) throw bad(`entry ${i}: address must be an IPv4 address as u32`);
  if (!isSafeUint(version) || version < 1) throw bad(`entry ${i}: version must be an integer ≥ 1`);
  if (!isSafeUint(tombstone)) throw bad(`entry ${i}: tombstone must be a non-negative integer`);
  return { origin, containerId, hostname, address, version, tombstone };
}
