// The IPAM ring CRDT (DESIGN.md §5, Weave ipam/ring).
//
// The allocation range [start, end) is cut by tokens. Entry i owns [token_i, token_{i+1}) (the last one up to
// `end`); once the ring is initialised the first token is always `start`, so ranges never wrap.
//
//   start                                                                          end
//     |--- A v3 free 10 ---|--- B v0 free 64 ---|--------- A v1 free 0 ---------|
//     t0                   t1                   t2
//
// Rules that make merging safe (each peer only ever writes its own tokens):
//   - Tokens are never deleted. Only the owner of a range changes it: it inserts tokens inside its own range
//     (donation), reassigns one of its entries to another peer (donation of a whole range), or updates its
//     advisory free count. Each change bumps that entry's version. Exception: `rmpeer` takes over a dead
//     peer's entries and records a tombstone (RemovedPeer) so that peer can never reclaim them.
//   - Merge is a per-token union keeping the higher version. Equal versions must be identical.
//   - A merge that would take a range away from us, or insert a token inside a range we own, is a conflict:
//     the whole update is rejected (IpamConflictError naming both sides) and our ring is unchanged.
// With those rules merge is commutative, associative and idempotent, and returns only what was new.//
// The data and its invariants are in ring-data.ts, the merge in ring-merge.ts; this class holds one
// peer's ring and makes the local changes (claim, grant, transfer, take over, free counts).

import { IpamConflictError } from '../core/errors.js';
import type { PeerName } from '../core/types.js';
import { type AddrRange, formatRange, intersect } from './addr-range.js';
import { checkRingInvariants, floorIndex, mergeRemoved, sameEntry, sameRemoved, sameSeeds } from './ring-data.js';
import type { RemovedPeer, RingData, RingEntry, RingState } from './ring-data.js';
import { mergeRing } from './ring-merge.js';

// Re-exported: the IPAM modules and the tests import these from here.
export { formatPeerList } from './ring-data.js';
export type { RemovedPeer, RingData, RingEntry } from './ring-data.js';

export class Ring {
  readonly start: number;
  readonly end: number;
  readonly self: PeerName;
  private seedList: PeerName[] = [];
  private list: RingEntry[] = [];
  private tombs = new Map<PeerName, RemovedPeer>();
  /** Bumped by every change, so encodings of the ring can be cached. */
  private changes = 0;

  constructor(range: AddrRange, self: PeerName) {
    this.start = range.start;
    this.end = range.end;
    this.self = self;
  }

  /** Builds a ring from complete data (e.g. persisted); throws IpamConflictError if it breaks an invariant. */
  static fromData(data: RingData, self: PeerName): Ring {
    const r = new Ring({ start: data.start, end: data.end }, self);
    r.seedList = [...data.seeds];
    r.list = [...data.entries];
    for (const t of data.removed) r.tombs.set(t.peer, t);
    const err = r.checkInvariants();
    if (err) throw new IpamConflictError(`invalid IP allocation ring: ${err.message}`, { cause: err });
    return r;
  }

  toData(): RingData {
    return {
      start: this.start,
      end: this.end,
      seeds: [...this.seedList],
      entries: [...this.list],
      removed: [...this.tombs.values()].sort((a, b) => (a.peer < b.peer ? -1 : 1)),
    };
  }

  get changeCount(): number {
    return this.changes;
  }

  get isEmpty(): boolean {
    return this.list.length === 0;
  }

  get seeds(): readonly PeerName[] {
    return this.seedList;
  }

  get size(): number {
    return this.end - this.start;
  }

  entries(): readonly RingEntry[] {
    return this.list;
  }

  removedPeers(): readonly RemovedPeer[] {
    return [...this.tombs.values()];
  }

  removedRecord(peer: PeerName): RemovedPeer | undefined {
    return this.tombs.get(peer);
  }

  private entryEnd(i: number): number {
    return i + 1 < this.list.length ? this.list[i + 1]!.token : this.end;
  }

  entryRange(i: number): AddrRange {
    return { start: this.list[i]!.token, end: this.entryEnd(i) };
  }
  /** Index of the entry whose range contains addr (the last token <= addr), or -1. */
  private floorIndex(addr: number): number {
    return floorIndex(this.list, addr);
  }

  contains(addr: number): boolean {
    return addr >= this.start && addr < this.end;
  }

  owner(addr: number): PeerName | undefined {
    if (!this.contains(addr)) return undefined;
    const i = this.floorIndex(addr);
    return i < 0 ? undefined : this.list[i]!.peer;
  }

  /** Ranges owned by `peer`, adjacent ones joined. */
  rangesOf(peer: PeerName = this.self): AddrRange[] {
    const out: { start: number; end: number }[] = [];
    for (let i = 0; i < this.list.length; i++) {
      if (this.list[i]!.peer !== peer) continue;
      const r = this.entryRange(i);
      const last = out[out.length - 1];
      if (last && last.end === r.start) last.end = r.end;
      else out.push({ start: r.start, end: r.end });
    }
    return out;
  }

  /** Number of addresses each owner holds. */
  ownership(): Map<PeerName, number> {
    const m = new Map<PeerName, number>();
    for (let i = 0; i < this.list.length; i++) {
      const e = this.list[i]!;
      m.set(e.peer, (m.get(e.peer) ?? 0) + this.entryEnd(i) - e.token);
    }
    return m;
  }

  /** Other peers with (advisory) free space inside `window`, weighted by how much. */
  donorsFor(window: AddrRange): Map<PeerName, number> {
    const m = new Map<PeerName, number>();
    for (let i = 0; i < this.list.length; i++) {
      const e = this.list[i]!;
      if (e.peer === this.self || e.free <= 0) continue;
      const ov = intersect(this.entryRange(i), window);
      if (!ov) continue;
      m.set(e.peer, (m.get(e.peer) ?? 0) + Math.min(e.free, ov.end - ov.start));
    }
    return m;
  }

  // ---------------------------------------------------------------------------------------------
  // Local changes (we are the owner). Each returns the entries it changed, i.e. the delta to gossip.

  /**
   * Initialises an empty ring by splitting the range equally between `peers` (deterministic: every peer
   * that does this with the same list gets the same ring, so no communication is needed).
   */
  claimForPeers(peers: readonly PeerName[]): RingEntry[] {
    if (!this.isEmpty) throw new Error('ring already initialised');
    const sorted = [...new Set(peers)].sort();
    if (sorted.length === 0) throw new Error('cannot seed a ring with no peers');
    const n = Math.min(sorted.length, this.size);
    for (let i = 0; i < n; i++) {
      const token = this.start + Math.floor((i * this.size) / n);
      const next = this.start + Math.floor(((i + 1) * this.size) / n);
      this.list.push({ token, peer: sorted[i]!, version: 0, free: next - token });
    }
    this.seedList = sorted;
    this.changes++;
    return [...this.list];
  }

  /** Gives [r.start, r.end), which must lie inside one of our entries, to `to`. */
  grant(r: AddrRange, to: PeerName): RingEntry[] {
    const i = this.floorIndex(r.start);
    if (i < 0) throw new Error(`grant ${formatRange(r)}: not in the ring`);
    const e = this.list[i]!;
    const end = this.entryEnd(i);
    if (e.peer !== this.self || r.end > end || r.start >= r.end) {
      throw new Error(`grant ${formatRange(r)}: not inside one range of ours`);
    }
    const changed: RingEntry[] = [];
    this.changes++;
    if (r.start === e.token) {
      const given: RingEntry = { token: e.token, peer: to, version: e.version + 1, free: r.end - r.start };
      this.list[i] = given;
      changed.push(given);
    } else {
      const given: RingEntry = { token: r.start, peer: to, version: 0, free: r.end - r.start };
      this.list.splice(i + 1, 0, given);
      changed.push(given);
    }
    if (r.end < end) {
      const kept: RingEntry = { token: r.end, peer: this.self, version: 0, free: end - r.end };
      const at = this.floorIndex(r.start) + 1;
      this.list.splice(at, 0, kept);
      changed.push(kept);
    }
    return changed;
  }

  /**
   * Leaving (Weave's DELETE /peer on `reset`): gives every entry of ours to `heir`, each with a higher
   * version, as a donation of whole ranges would. Returns the number of addresses given and the entries.
   */
  transferAll(heir: PeerName): { ips: number; changed: RingEntry[] } {
    if (heir === this.self) throw new Error('transferAll: the heir must be another peer');
    let ips = 0;
    const changed: RingEntry[] = [];
    for (let i = 0; i < this.list.length; i++) {
      const e = this.list[i]!;
      if (e.peer !== this.self) continue;
      const size = this.entryEnd(i) - e.token;
      ips += size;
      const given: RingEntry = { token: e.token, peer: heir, version: e.version + 1, free: size };
      this.list[i] = given;
      changed.push(given);
    }
    if (changed.length > 0) this.changes++;
    return { ips, changed };
  }

  /** rmpeer: takes over every entry of `dead` and records the tombstone. Returns the number of addresses. */
  takeOver(dead: PeerName): { ips: number; changed: RingEntry[]; removed: RemovedPeer } {
    let ips = 0;
    const changed: RingEntry[] = [];
    const tokens: Array<[number, number]> = [];
    for (let i = 0; i < this.list.length; i++) {
      const e = this.list[i]!;
      if (e.peer !== dead) continue;
      const size = this.entryEnd(i) - e.token;
      ips += size;
      tokens.push([e.token, e.version]);
      const taken: RingEntry = { token: e.token, peer: this.self, version: e.version + 1, free: size };
      this.list[i] = taken;
      changed.push(taken);
    }
    const fresh: RemovedPeer = { peer: dead, by: this.self, tokens };
    const old = this.tombs.get(dead);
    const removed = old ? mergeRemoved(old, fresh) : fresh;
    this.tombs.set(dead, removed);
    this.changes++;
    return { ips, changed, removed };
  }

  /**
   * Updates the advisory free counts of our entries; returns the entries that changed. With
   * `significantOnly`, a count is only updated when it crosses zero or changes by at least half, which
   * keeps routine allocations from churning versions (and gossip) while donors stay well chosen.
   */
  reportFree(freeIn: (r: AddrRange) => number, significantOnly = false): RingEntry[] {
    const changed: RingEntry[] = [];
    for (let i = 0; i < this.list.length; i++) {
      const e = this.list[i]!;
      if (e.peer !== this.self) continue;
      const free = freeIn(this.entryRange(i));
      const significant = (free === 0) !== (e.free === 0) || free * 2 <= e.free || free >= e.free * 2;
      if (free !== e.free && (!significantOnly || significant)) {
        const u: RingEntry = { ...e, free, version: e.version + 1 };
        this.list[i] = u;
        changed.push(u);
      }
    }
    if (changed.length > 0) this.changes++;
    return changed;
  }

  /**
   * A delta holding `changed` entries (and optionally tombstones), for gossip. It also carries the entry
   * after each changed one, because a range ends where the next token starts: a peer that learned "t is
   * yours now" without the token after t would believe it owns everything up to the next token it happens
   * to know. With successors included, every peer's view of its own ranges is exact (it only ever gains a
   * range through a message that also says where that range ends).
   */
  delta(changed: readonly RingEntry[], removed: readonly RemovedPeer[] = []): RingData {
    const byToken = new Map<number, RingEntry>();
    for (const e of changed) {
      byToken.set(e.token, e);
      const i = this.floorIndex(e.token);
      const next = this.list[i + 1];
      if (next && !byToken.has(next.token)) byToken.set(next.token, next);
    }
    for (const e of changed) byToken.set(e.token, e);
    return {
      start: this.start,
      end: this.end,
      seeds: [...this.seedList],
      entries: [...byToken.values()].sort((a, b) => a.token - b.token),
      removed: [...removed],
    };
  }

  /**
   * True if `tomb` (a tombstone naming us) covers entries we still believe we own: we were removed with
   * `rmpeer` while down and came back with old state.
   */
  ownsTokensRemovedBy(tomb: RemovedPeer): boolean {
    const removedAt = new Map(tomb.tokens.map(([t, v]) => [t, v]));
    return this.list.some((e) => e.peer === this.self && (removedAt.get(e.token) ?? -1) >= e.version);
  }

  // ---------------------------------------------------------------------------------------------
  // Merge of remote data.

  /**
   * Merges a ring or delta received from a peer. Returns what was new to us (a delta), or undefined.
   * Throws IpamConflictError, leaving this ring unchanged, if the data conflicts with ours.
   */
  merge(incoming: RingData): RingData | undefined {
    const m = mergeRing(this.state(), this.self, incoming);
    if (!m) return undefined;
    this.list = m.state.list;
    this.seedList = m.state.seeds;
    this.tombs = m.state.tombs;
    this.changes++;
    return this.delta(m.changed, m.changedTombs);
  }

  /** Structural and ownership invariants; undefined when all hold. Tests call this after every merge. */
  checkInvariants(): Error | undefined {
    return checkRingInvariants(this.state());
  }

  private state(): RingState {
    return { start: this.start, end: this.end, seeds: this.seedList, list: this.list, tombs: this.tombs };
  }

  equals(other: Ring): boolean {
    const a = this.toData();
    const b = other.toData();
    return (
      a.start === b.start &&
      a.end === b.end &&
      sameSeeds(a.seeds, b.seeds) &&
      a.entries.length === b.entries.length &&
      a.entries.every((e, i) => sameEntry(e, b.entries[i]!)) &&
      a.removed.length === b.removed.length &&
      a.removed.every((r, i) => sameRemoved(r, b.removed[i]!))
    );
  }
}
