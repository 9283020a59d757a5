// IPAM wire and persisted encodings (msgpackr). Everything is an array with a version and a kind tag so
// hostile bytes can't smuggle object keys; every field is type- and range-checked before use, sizes are
// capped, and any violation is a ProtocolError (bad bytes) — never a RangeError or a crash.
//
// Gossip (channel 'ipam', full state or delta, also broadcast):
//   [1, 'g', rangeStart, rangeEnd, complete: 0|1, ring | null, paxos | null]
// Unicast:
//   [1, 'req',   id, rangeStart, rangeEnd, wantStart, wantEnd, exact: 0|1]     ask for space / one address
//   [1, 'grant', id, rangeStart, rangeEnd, ring]                                 full ring after the donation
//   [1, 'deny',  id, rangeStart, rangeEnd, reason, ring | null]                  no space; our current ring
//   [1, 'ring?', rangeStart, rangeEnd]                                           please send your full ring
//   [1, 'ring',  rangeStart, rangeEnd, ring]                                     our full ring (answer to 'ring?',
//                                                                                or to Paxos gossip once decided)
// ring  = [seeds[], peers[], tokens[], ownerIdx[], versions[], free[], removed[]]
//         removed = [[peer, by, tokens[], versions[]], ...]
// paxos = [[node, promiseRound, promiseProposer, acceptedRound, acceptedProposer, value[] | null], ...]
// Persisted state (the daemon stores these bytes as they are):
//   ['tsweave-ipam', 1, self, rangeStart, rangeEnd, ring | null, paxos | null,
//    claims = [[containerId, addr, prefix], ...], removedBy | null, nicknames = [[peer, nick], ...]]

import { Packr, Unpackr } from 'msgpackr';
import { ProtocolError } from '../core/errors.js';
import { isPeerName, type PeerName } from '../core/types.js';
import { checkMsgpackShape } from '../wire/msgpack-shape.js';
import {
  MAX_CLAIMS, MAX_CONTAINER_ID_CHARS, MAX_IPAM_MESSAGE_BYTES, MAX_PAXOS_NODES, MAX_REASON_CHARS,
  MAX_REMOVED_PEERS, MAX_RING_ENTRIES, MAX_SEEDS,
} from './constants.js';
import type { NodeClaims, PaxosState, ProposalId } from './paxos.js';
import type { RemovedPeer, RingData, RingEntry } from './ring.js';

const WIRE_VERSION = 1;
const PERSIST_MAGIC = 'tsweave-ipam';
const PERSIST_VERSION = 1;
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

// ---------------------------------------------------------------------------------------------
// Types of decoded messages.

export interface GossipMsg {
  kind: 'gossip';
  start: number;
  end: number;
  /** True when `ring` is a whole ring (not a delta). */
  complete: boolean;
  ring: RingData | undefined;
  paxos: PaxosState | undefined;
}

export interface SpaceRequestMsg {
  kind: 'req';
  id: number;
  start: number;
  end: number;
  wantStart: number;
  wantEnd: number;
  /** Exactly this one address (a claim), not "some space in this window". */
  exact: boolean;
}

export interface GrantMsg {
  kind: 'grant';
  id: number;
  start: number;
  end: number;
  ring: RingData;
}

export interface DenyMsg {
  kind: 'deny';
  id: number;
  start: number;
  end: number;
  reason: string;
  ring: RingData | undefined;
}

export interface RingRequestMsg {
  kind: 'ring?';
  start: number;
  end: number;
}

export interface RingMsg {
  kind: 'ring';
  start: number;
  end: number;
  ring: RingData;
}

export type UnicastMsg = SpaceRequestMsg | GrantMsg | DenyMsg | RingRequestMsg | RingMsg;

export interface PersistedClaim {
  containerId: string;
  addr: number;
  prefix: number;
}

export interface PersistedState {
  self: PeerName;
  start: number;
  end: number;
  ring: RingData | undefined;
  paxos: PaxosState | undefined;
  claims: PersistedClaim[];
  removedBy: PeerName | undefined;
  nicknames: Array<[PeerName, string]>;
}

// ---------------------------------------------------------------------------------------------
// Validation helpers: each throws ProtocolError naming the field.

function bad(what: string, rule: string): never {
  throw new ProtocolError(`bad IPAM message: ${what} ${rule}`);
}

function arr(v: unknown, what: string, max: number, exact?: number): unknown[] {
  if (!Array.isArray(v)) bad(what, 'must be an array');
  if (v.length > max) bad(what, `has ${v.length} items, more than the limit of ${max}`);
  if (exact !== undefined && v.length !== exact) bad(what, `must have ${exact} items, has ${v.length}`);
  return v;
}

function uint(v: unknown, what: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) bad(what, `must be an integer 0..${max}`);
  return v;
}

function str(v: unknown, what: string, max: number): string {
  if (typeof v !== 'string') bad(what, 'must be a string');
  if (v.length > max) bad(what, `is longer than ${max} characters`);
  return v;
}

function peer(v: unknown, what: string): PeerName {
  if (typeof v !== 'string' || !isPeerName(v)) bad(what, 'must be a peer name like aa:bb:cc:dd:ee:ff');
  return v as PeerName;
}

function flag(v: unknown, what: string): boolean {
  if (v !== 0 && v !== 1) bad(what, 'must be 0 or 1');
  return v === 1;
}

function addrBound(v: unknown, what: string): number {
  return uint(v, what, 2 ** 32);
}

function sortedPeers(v: unknown, what: string, max: number): PeerName[] {
  const out = arr(v, what, max).map((p, i) => peer(p, `${what}[${i}]`));
  for (let i = 1; i < out.length; i++) if (out[i - 1]! >= out[i]!) bad(what, 'must be sorted and without duplicates');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Ring.

function ringToWire(r: RingData): unknown[] {
  const peers: PeerName[] = [];
  const index = new Map<PeerName, number>();
  const owners: number[] = [];
  for (const e of r.entries) {
    let k = index.get(e.peer);
    if (k === undefined) {
      k = peers.length;
      peers.push(e.peer);
      index.set(e.peer, k);
    }
    owners.push(k);
  }
  return [
    r.seeds,
    peers,
    r.entries.map((e) => e.token),
    owners,
    r.entries.map((e) => e.version),
    r.entries.map((e) => e.free),
    r.removed.map((t) => [t.peer, t.by, t.tokens.map(([tok]) => tok), t.tokens.map(([, v]) => v)]),
  ];
}

function ringFromWire(v: unknown, start: number, end: number): RingData {
  const w = arr(v, 'ring', 7, 7);
  const seeds = sortedPeers(w[0], 'ring seeds', MAX_SEEDS);
  const peers = arr(w[1], 'ring peers', MAX_RING_ENTRIES).map((p, i) => peer(p, `ring peers[${i}]`));
  const tokens = arr(w[2], 'ring tokens', MAX_RING_ENTRIES);
  const n = tokens.length;
  const owners = arr(w[3], 'ring owners', MAX_RING_ENTRIES, n);
  const versions = arr(w[4], 'ring versions', MAX_RING_ENTRIES, n);
  const free = arr(w[5], 'ring free counts', MAX_RING_ENTRIES, n);
  const entries: RingEntry[] = [];
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const token = uint(tokens[i], `ring token ${i}`, 2 ** 32 - 1);
    if (token < start || token >= end) bad(`ring token ${i}`, 'is outside the allocation range');
    if (token <= prev) bad('ring tokens', 'must be strictly increasing');
    prev = token;
    const owner = uint(owners[i], `ring owner ${i}`, peers.length - 1);
    entries.push({
      token,
      peer: peers[owner]!,
      version: uint(versions[i], `ring version ${i}`, Number.MAX_SAFE_INTEGER),
      free: uint(free[i], `ring free count ${i}`, 2 ** 32),
    });
  }
  const removed: RemovedPeer[] = arr(w[6], 'ring removed peers', MAX_REMOVED_PEERS).map((t, i) => {
    const r = arr(t, `ring removed peer ${i}`, 4, 4);
    const toks = arr(r[2], `ring removed peer ${i} tokens`, MAX_RING_ENTRIES);
    const vers = arr(r[3], `ring removed peer ${i} versions`, MAX_RING_ENTRIES, toks.length);
    return {
      peer: peer(r[0], `ring removed peer ${i}`),
      by: peer(r[1], `ring removed peer ${i} remover`),
      tokens: toks.map((tok, k) => [
        addrBound(tok, `ring removed peer ${i} token ${k}`),
        uint(vers[k], `ring removed peer ${i} version ${k}`, Number.MAX_SAFE_INTEGER),
      ] as const),
    };
  });
  return { start, end, seeds, entries, removed };
}

// ---------------------------------------------------------------------------------------------
// Paxos.

function pid(round: unknown, proposer: unknown, what: string): ProposalId {
  const r = uint(round, `${what} round`, Number.MAX_SAFE_INTEGER);
  if (proposer === '') {
    if (r !== 0) bad(what, 'has a round but no proposer');
    return { round: 0, proposer: '' };
  }
  return { round: r, proposer: peer(proposer, `${what} proposer`) };
}

function paxosToWire(s: PaxosState): unknown[] {
  return [...s].map(([node, c]) => [
    node, c.promise.round, c.promise.proposer, c.accepted.round, c.accepted.proposer, c.value ? [...c.value] : null,
  ]);
}

function paxosFromWire(v: unknown): PaxosState {
  const out = new Map<PeerName, NodeClaims>();
  arr(v, 'paxos', MAX_PAXOS_NODES).forEach((item, i) => {
    const c = arr(item, `paxos node ${i}`, 6, 6);
    const node = peer(c[0], `paxos node ${i}`);
    if (out.has(node)) bad('paxos', `lists node ${node} twice`);
    const accepted = pid(c[3], c[4], `paxos node ${i} accepted`);
    const value = c[5] === null ? undefined : sortedPeers(c[5], `paxos node ${i} value`, MAX_SEEDS);
    if ((value === undefined) !== (accepted.round === 0)) bad(`paxos node ${i}`, 'must have a value exactly when it accepted');
    if (value !== undefined && value.length === 0) bad(`paxos node ${i} value`, 'must not be empty');
    out.set(node, { promise: pid(c[1], c[2], `paxos node ${i} promise`), accepted, value });
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Top level.

function unpackCapped(data: Uint8Array, what: string, max: number): unknown {
  if (data.length > max) throw new ProtocolError(`bad ${what}: ${data.length} bytes is more than the limit of ${max}`);
  if (data.length === 0) throw new ProtocolError(`bad ${what}: empty`);
  try {
    checkMsgpackShape(data, what); // a lying array count must not reach msgpackr (wire/msgpack-shape.ts)
    return unpackr.unpack(Buffer.from(data.buffer, data.byteOffset, data.length));
  } catch (err) {
    throw new ProtocolError(`bad ${what}: not valid msgpack (${(err as Error).message.slice(0, 80)})`, { cause: err });
  }
}

function pack(v: unknown): Uint8Array {
  return packr.pack(v);
}

export function encodeGossip(m: Omit<GossipMsg, 'kind'>): Uint8Array {
  return pack([
    WIRE_VERSION, 'g', m.start, m.end, m.complete ? 1 : 0,
    m.ring ? ringToWire(m.ring) : null,
    m.paxos ? paxosToWire(m.paxos) : null,
  ]);
}

export function encodeUnicast(m: UnicastMsg): Uint8Array {
  switch (m.kind) {
    case 'req':
      return pack([WIRE_VERSION, 'req', m.id, m.start, m.end, m.wantStart, m.wantEnd, m.exact ? 1 : 0]);
    case 'grant':
      return pack([WIRE_VERSION, 'grant', m.id, m.start, m.end, ringToWire(m.ring)]);
    case 'deny':
      return pack([WIRE_VERSION, 'deny', m.id, m.start, m.end, m.reason, m.ring ? ringToWire(m.ring) : null]);
    case 'ring?':
      return pack([WIRE_VERSION, 'ring?', m.start, m.end]);
    case 'ring':
      return pack([WIRE_VERSION, 'ring', m.start, m.end, ringToWire(m.ring)]);
  }
}

/**
 * A received value for an error message, short and never throwing: JSON.stringify throws on the BigInt
 * msgpackr makes of a u64/i64 (found by test/fuzz) and would spell out a huge array in full.
 */
function shown(v: unknown): string {
  if (typeof v === 'bigint') return `${v}`.slice(0, 20);
  if (typeof v === 'string') return JSON.stringify(v.slice(0, 18));
  if (v === null || typeof v === 'number' || typeof v === 'boolean' || v === undefined) return String(v);
  return Array.isArray(v) ? 'an array' : `a ${typeof v}`;
}

function header(data: Uint8Array): unknown[] {
  const v = unpackCapped(data, 'IPAM message', MAX_IPAM_MESSAGE_BYTES);
  const a = arr(v, 'IPAM message', 16);
  if (a[0] !== WIRE_VERSION) bad('IPAM message version', `must be ${WIRE_VERSION}, got ${shown(a[0])}`);
  return a;
}

function rangeOf(a: unknown[], i: number): { start: number; end: number } {
  const start = uint(a[i], 'range start', 2 ** 32 - 1);
  const end = addrBound(a[i + 1], 'range end');
  if (end <= start) bad('range', 'must not be empty');
  return { start, end };
}

export function decodeGossip(data: Uint8Array): GossipMsg {
  const a = header(data);
  if (a[1] !== 'g') bad('IPAM gossip kind', `must be "g", got ${shown(a[1])}`);
  if (a.length !== 7) bad('IPAM gossip', `must have 7 fields, has ${a.length}`);
  const { start, end } = rangeOf(a, 2);
  return {
    kind: 'gossip',
    start,
    end,
    complete: flag(a[4], 'complete flag'),
    ring: a[5] === null ? undefined : ringFromWire(a[5], start, end),
    paxos: a[6] === null ? undefined : paxosFromWire(a[6]),
  };
}

export function decodeUnicast(data: Uint8Array): UnicastMsg {
  const a = header(data);
  const fields = (n: number): void => {
    if (a.length !== n) bad(`IPAM ${String(a[1])} message`, `must have ${n} fields, has ${a.length}`);
  };
  switch (a[1]) {
    case 'req': {
      fields(8);
      const { start, end } = rangeOf(a, 3);
      const wantStart = uint(a[5], 'wanted start', 2 ** 32 - 1);
      const wantEnd = addrBound(a[6], 'wanted end');
      if (wantEnd <= wantStart || wantStart < start || wantEnd > end) bad('wanted range', 'must be a non-empty part of the allocation range');
      const exact = flag(a[7], 'exact flag');
      if (exact && wantEnd !== wantStart + 1) bad('wanted range', 'must be one address for an exact request');
      return { kind: 'req', id: uint(a[2], 'request id', 2 ** 32), start, end, wantStart, wantEnd, exact };
    }
    case 'grant': {
      fields(6);
      const { start, end } = rangeOf(a, 3);
      return { kind: 'grant', id: uint(a[2], 'request id', 2 ** 32), start, end, ring: ringFromWire(a[5], start, end) };
    }
    case 'deny': {
      fields(7);
      const { start, end } = rangeOf(a, 3);
      return {
        kind: 'deny',
        id: uint(a[2], 'request id', 2 ** 32),
        start,
        end,
        reason: str(a[5], 'deny reason', MAX_REASON_CHARS),
        ring: a[6] === null ? undefined : ringFromWire(a[6], start, end),
      };
    }
    case 'ring?': {
      fields(4);
      return { kind: 'ring?', ...rangeOf(a, 2) };
    }
    case 'ring': {
      fields(5);
      const { start, end } = rangeOf(a, 2);
      return { kind: 'ring', start, end, ring: ringFromWire(a[4], start, end) };
    }
    default:
      return bad('IPAM message kind', `is unknown: ${shown(a[1])}`);
  }
}

export function encodePersisted(s: PersistedState): Uint8Array {
  return pack([
    PERSIST_MAGIC, PERSIST_VERSION, s.self, s.start, s.end,
    s.ring ? ringToWire(s.ring) : null,
    s.paxos ? paxosToWire(s.paxos) : null,
    s.claims.map((c) => [c.containerId, c.addr, c.prefix]),
    s.removedBy ?? null,
    s.nicknames,
  ]);
}

export function decodePersisted(data: Uint8Array): PersistedState {
  const v = unpackCapped(data, 'persisted IPAM state', MAX_IPAM_MESSAGE_BYTES * 8);
  const a = arr(v, 'persisted IPAM state', 16);
  if (a[0] !== PERSIST_MAGIC) bad('persisted IPAM state', 'is not tsweave IPAM state');
  if (a[1] !== PERSIST_VERSION) bad('persisted IPAM state version', `must be ${PERSIST_VERSION}`);
  if (a.length !== 10) bad('persisted IPAM state', `must have 10 fields, has ${a.length}`);
  const { start, end } = rangeOf(a, 3);
  const claims = arr(a[7], 'persisted claims', MAX_CLAIMS).map((c, i) => {
    const x = arr(c, `persisted claim ${i}`, 3, 3);
    const containerId = str(x[0], `persisted claim ${i} container`, MAX_CONTAINER_ID_CHARS);
    if (containerId === '') bad(`persisted claim ${i} container`, 'must not be empty');
    return { containerId, addr: uint(x[1], `persisted claim ${i} address`, 2 ** 32 - 1), prefix: uint(x[2], `persisted claim ${i} prefix`, 32) };
  });
  const nicknames = arr(a[9], 'persisted nicknames', MAX_PAXOS_NODES * 4).map((n, i) => {
    const x = arr(n, `persisted nickname ${i}`, 2, 2);
    return [peer(x[0], `persisted nickname ${i} peer`), str(x[1], `persisted nickname ${i}`, 255)] as [PeerName, string];
  });
  return {
    self: peer(a[2], 'persisted peer name'),
    start,
    end,
    ring: a[5] === null ? undefined : ringFromWire(a[5], start, end),
    paxos: a[6] === null ? undefined : paxosFromWire(a[6]),
    claims,
    removedBy: a[8] === null ? undefined : peer(a[8], 'persisted removed-by'),
    nicknames,
  };
}
