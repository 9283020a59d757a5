// The weaveDNS entries CRDT, gossiped on the `dns` channel (DESIGN.md §6, WEAVE-FACTS.md §4).
//
// An entry is (origin peer, containerId, hostname, address) → (version, tombstone). Rules:
//   - Only the origin changes its entries: add (live, version+1) and remove (tombstone = wall ms, version+1).
//   - Merge keeps the higher version per key; on equal versions the larger tombstone wins (Weave).
//     That makes merge idempotent, commutative and associative: each key's state is a max in a total order.
//   - If gossip claims one of *our* entries with a newer version than we hold (a restart lost our state, or a
//     stale copy came back), we re-assert our view with a version above it and broadcast that.
//   - Tombstones are purged DNS_TOMBSTONE_LIFETIME_MS after they were set (wall clock of the origin; gossip
//     from a peer more than DNS_MAX_CLOCK_SKEW_MS off our clock is rejected, as Weave does).
//   - Entries of a peer that has been unreachable for DNS_DEPARTED_PEER_GRACE_MS are dropped; gossip about
//     entries of peers we cannot reach is ignored. When a peer (re)appears we broadcast our own entries so
//     it learns them at once.
// Versions are seeded from the wall clock (max(previous + 1, wallNow)) so an entry re-added after its
// tombstone expired here still beats a stale tombstone another peer kept.

import { ProtocolError } from '../core/errors.js';
import type { Gossip, Gossiper, PeerDirectory } from '../core/gossip.js';
import type { Logger } from '../core/logger.js';
import type { Clock } from '../core/ports.js';
import { formatIPv4, isPeerName, type PeerName } from '../core/types.js';
import {
  DNS_DEPARTED_PEER_GRACE_MS,
  DNS_GC_INTERVAL_MS,
  DNS_MAX_CLOCK_SKEW_MS,
  DNS_TOMBSTONE_LIFETIME_MS,
  MAX_CONTAINER_ID_CHARS,
  MAX_DNS_ENTRIES,
} from './constants.js';
import { decodeDnsGossip, encodeDnsGossip, type DnsEntry } from './entries-codec.js';
import { tryNormalizeName } from './names.js';

export type { DnsEntry } from './entries-codec.js';

export interface DnsEntriesComponents {
  clock: Clock;
  logger: Logger;
  peers: PeerDirectory;
}

export interface DnsEntriesInit {
  /** @default DNS_TOMBSTONE_LIFETIME_MS (30 min) */
  tombstoneLifetimeMs?: number;
  /** @default DNS_DEPARTED_PEER_GRACE_MS (5 s) */
  departedPeerGraceMs?: number;
  /** @default DNS_GC_INTERVAL_MS (5 s) */
  gcIntervalMs?: number;
  /** @default DNS_MAX_CLOCK_SKEW_MS (15 min) */
  maxClockSkewMs?: number;
}

/** Filter for removing local entries; omitted fields match anything. */
export interface EntryFilter {
  containerId?: string;
  hostname?: string;
  address?: number;
}

/** Read side used by the resolver. */
export interface DnsZone {
  /** Distinct addresses of live entries for a normalized FQDN, in a stable order (the resolver shuffles). */
  addressesOf(fqdn: string): readonly number[];
  /** Distinct hostnames of live entries with this address, sorted. */
  namesOf(address: number): readonly string[];
}

export const entryKey = (e: Pick<DnsEntry, 'origin' | 'containerId' | 'hostname' | 'address'>): string =>
  `${e.origin}|${e.containerId}|${e.hostname}|${e.address}`;

/** True if `a` should replace `b` (same key). */
export function supersedes(a: DnsEntry, b: DnsEntry): boolean {
  return a.version > b.version || (a.version === b.version && a.tombstone > b.tombstone);
}

interface Index {
  byName: Map<string, number[]>;
  byAddress: Map<number, string[]>;
}

export class DnsEntries implements Gossiper, DnsZone {
  private readonly entries = new Map<string, DnsEntry>();
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly peers: PeerDirectory;
  private readonly tombstoneLifetimeMs: number;
  private readonly departedPeerGraceMs: number;
  private readonly gcIntervalMs: number;
  private readonly maxClockSkewMs: number;
  /** origin → clock.now() when we first saw it unreachable. */
  private readonly unreachableSince = new Map<PeerName, number>();
  private knownReachable = new Set<PeerName>();
  private sender: Gossip | undefined;
  private index: Index | undefined;
  private cancelGc: (() => void) | undefined;
  private unsubscribePeers: (() => void) | undefined;
  private readonly changeListeners: Array<() => void> = [];

  readonly stats = { merges: 0, rejected: 0, reasserted: 0, purgedTombstones: 0, droppedDepartedPeer: 0, ignoredUnknownOrigin: 0 };

  constructor(components: DnsEntriesComponents, init: DnsEntriesInit = {}) {
    this.clock = components.clock;
    this.log = components.logger.child({ component: 'dns-entries' });
    this.peers = components.peers;
    this.tombstoneLifetimeMs = init.tombstoneLifetimeMs ?? DNS_TOMBSTONE_LIFETIME_MS;
    this.departedPeerGraceMs = init.departedPeerGraceMs ?? DNS_DEPARTED_PEER_GRACE_MS;
    this.gcIntervalMs = init.gcIntervalMs ?? DNS_GC_INTERVAL_MS;
    this.maxClockSkewMs = init.maxClockSkewMs ?? DNS_MAX_CLOCK_SKEW_MS;
  }

  get localName(): PeerName {
    return this.peers.localName;
  }

  /** Hands us the mesh's sender; local changes are broadcast from then on. */
  attachGossip(gossip: Gossip): void {
    this.sender = gossip;
  }

  /** Starts the sweep timer and peer-change tracking. Idempotent. */
  start(): void {
    if (this.cancelGc) return;
    this.knownReachable = new Set(this.peers.reachablePeers());
    this.unsubscribePeers = this.peers.onPeersChanged(() => this.onPeersChanged());
    const tick = (): void => {
      this.gc();
      this.cancelGc = this.clock.setTimer(this.gcIntervalMs, tick);
    };
    this.cancelGc = this.clock.setTimer(this.gcIntervalMs, tick);
  }

  stop(): void {
    this.cancelGc?.();
    this.cancelGc = undefined;
    this.unsubscribePeers?.();
    this.unsubscribePeers = undefined;
  }

  /** Called after any change of the visible (live) entries. */
  onChange(cb: () => void): void {
    this.changeListeners.push(cb);
  }

  // ---------------------------------------------------------------------------------------------
  // Local changes (only ever to entries whose origin is us).

  /**
   * Adds a live entry of ours; returns the broadcast delta, or undefined if it was already live.
   * Arguments must be normalized already (the service validates user input).
   */
  add(containerId: string, hostname: string, address: number): Uint8Array | undefined {
    if (containerId.length === 0 || containerId.length > MAX_CONTAINER_ID_CHARS) {
      throw new RangeError(`containerId must have 1..${MAX_CONTAINER_ID_CHARS} characters`);
    }
    if (tryNormalizeName(hostname) !== hostname) throw new RangeError(`hostname "${hostname}" is not normalized`);
    if (!Number.isInteger(address) || address < 0 || address > 0xffffffff) throw new RangeError(`address ${address} is not a u32`);
    const key = entryKey({ origin: this.localName, containerId, hostname, address });
    const old = this.entries.get(key);
    if (old && old.tombstone === 0) return undefined;
    if (!old && this.entries.size >= MAX_DNS_ENTRIES) throw new RangeError(`too many DNS entries (limit ${MAX_DNS_ENTRIES})`);
    const e: DnsEntry = { origin: this.localName, containerId, hostname, address, version: this.nextVersion(old), tombstone: 0 };
    this.set(key, e);
    this.log.debug({ hostname, address: formatIPv4(address), containerId }, 'dns entry added');
    return this.broadcast([e]);
  }

  /** Our live entries matching the filter. */
  ownLive(filter: EntryFilter): DnsEntry[] {
    const out: DnsEntry[] = [];
    for (const e of this.entries.values()) {
      if (e.origin !== this.localName || e.tombstone !== 0) continue;
      if (filter.containerId !== undefined && e.containerId !== filter.containerId) continue;
      if (filter.hostname !== undefined && e.hostname !== filter.hostname) continue;
      if (filter.address !== undefined && e.address !== filter.address) continue;
      out.push(e);
    }
    return out;
  }

  /** Tombstones our live entries matching the filter; returns how many were removed. */
  tombstone(filter: EntryFilter): number {
    const changed: DnsEntry[] = [];
    const now = this.clock.wallNow();
    for (const e of this.ownLive(filter)) {
      const t: DnsEntry = { ...e, version: this.nextVersion(e), tombstone: Math.max(1, now) };
      this.set(entryKey(e), t);
      changed.push(t);
    }
    if (changed.length) {
      this.log.debug({ count: changed.length, filter }, 'dns entries tombstoned');
      this.broadcast(changed);
    }
    return changed.length;
  }

  private nextVersion(old: DnsEntry | undefined): number {
    return Math.max(old ? old.version + 1 : 1, Math.floor(this.clock.wallNow()));
  }

  private broadcast(changed: DnsEntry[]): Uint8Array {
    const delta = encodeDnsGossip({ sentAt: this.clock.wallNow(), entries: changed });
    this.sender?.gossipBroadcast(delta);
    return delta;
  }

  // ---------------------------------------------------------------------------------------------
  // Persistence of our own entries (data dir). Others' entries come back by gossip.

  /** Our own entries (live and tombstoned), encoded; for the data dir. */
  snapshotOwn(): Uint8Array {
    return encodeDnsGossip({ sentAt: this.clock.wallNow(), entries: this.all().filter((e) => e.origin === this.localName) });
  }

  /**
   * Loads our own entries saved by `snapshotOwn` (before start, or any time: newer local state wins).
   * Entries of other origins in the data are ignored. Throws ProtocolError if the data is corrupt.
   */
  restoreOwn(data: Uint8Array): number {
    const { entries } = decodeDnsGossip(data);
    let n = 0;
    for (const e of entries) {
      if (e.origin !== this.localName || this.isExpired(e)) continue;
      const key = entryKey(e);
      const old = this.entries.get(key);
      if (old && !supersedes(e, old)) continue;
      this.set(key, e);
      n++;
    }
    return n;
  }

  // ---------------------------------------------------------------------------------------------
  // Gossiper

  gossip(): Uint8Array | undefined {
    if (this.entries.size === 0) return undefined;
    return encodeDnsGossip({ sentAt: this.clock.wallNow(), entries: [...this.entries.values()] });
  }

  onGossip(src: PeerName, data: Uint8Array): Uint8Array | undefined {
    return this.mergeRemote(src, data);
  }

  onGossipBroadcast(src: PeerName, data: Uint8Array): Uint8Array | undefined {
    return this.mergeRemote(src, data);
  }

  onGossipUnicast(src: PeerName, data: Uint8Array): void {
    // Not used by this channel; tolerate (and merge) rather than fail, so a future sender stays compatible.
    this.mergeRemote(src, data);
  }

  /** Decodes, validates and merges gossip from `src`; returns the delta (encoded) or undefined. */
  mergeRemote(src: PeerName, data: Uint8Array): Uint8Array | undefined {
    let msg;
    try {
      msg = decodeDnsGossip(data);
      const skew = msg.sentAt - this.clock.wallNow();
      if (Math.abs(skew) > this.maxClockSkewMs) {
        throw new ProtocolError(
          `dns gossip from ${src} rejected: host clock skew of ${Math.round(skew / 1000)}s exceeds ${this.maxClockSkewMs / 1000}s limit`,
          { fields: { channel: 'dns', src } },
        );
      }
    } catch (err) {
      this.stats.rejected++;
      throw err;
    }
    const delta = this.mergeDelta(msg.entries);
    if (delta.length === 0) return undefined;
    return encodeDnsGossip({ sentAt: this.clock.wallNow(), entries: delta });
  }

  /**
   * Merges validated entries; returns those that changed our state. Our own entries are never taken from
   * others: a newer claim about one of ours is answered by re-asserting our view (broadcast separately).
   */
  mergeDelta(incoming: readonly DnsEntry[]): DnsEntry[] {
    this.stats.merges++;
    const delta: DnsEntry[] = [];
    const reasserted: DnsEntry[] = [];
    const local = this.localName;
    for (const e of incoming) {
      const key = entryKey(e);
      const old = this.entries.get(key);
      if (e.origin === local) {
        if (old && !supersedes(e, old)) continue;
        if (!old && e.tombstone !== 0) continue; // a tombstone of something we do not have: nothing to undo
        // Someone holds a newer (or unknown) version of our entry: our view wins, with a higher version.
        const mine: DnsEntry = old
          ? { ...old, version: Math.max(e.version + 1, this.nextVersion(old)) }
          : { ...e, version: Math.max(e.version + 1, this.nextVersion(undefined)), tombstone: Math.max(1, this.clock.wallNow()) };
        this.set(key, mine);
        reasserted.push(mine);
        continue;
      }
      if (old && !supersedes(e, old)) continue;
      if (!this.peers.isReachable(e.origin)) {
        this.stats.ignoredUnknownOrigin++;
        continue;
      }
      if (e.tombstone !== 0 && this.isExpired(e)) continue;
      if (!old && this.entries.size >= MAX_DNS_ENTRIES) {
        throw new ProtocolError(`dns gossip would exceed the limit of ${MAX_DNS_ENTRIES} entries`, { fields: { channel: 'dns' } });
      }
      this.set(key, e);
      delta.push(e);
    }
    if (reasserted.length) {
      this.stats.reasserted += reasserted.length;
      this.log.info({ count: reasserted.length }, 'dns entries of ours re-asserted over stale gossip');
      this.broadcast(reasserted);
    }
    return delta;
  }

  // ---------------------------------------------------------------------------------------------
  // Expiry and departed peers

  private isExpired(e: DnsEntry): boolean {
    return e.tombstone !== 0 && e.tombstone + this.tombstoneLifetimeMs <= this.clock.wallNow();
  }

  private onPeersChanged(): void {
    const now = new Set(this.peers.reachablePeers());
    let appeared = false;
    for (const p of now) if (!this.knownReachable.has(p) && p !== this.localName) appeared = true;
    this.knownReachable = now;
    this.gc();
    if (appeared) {
      const mine = [...this.entries.values()].filter((e) => e.origin === this.localName);
      if (mine.length) this.broadcast(mine);
    }
  }

  /** Purges expired tombstones and the entries of peers unreachable for longer than the grace period. */
  gc(): void {
    const now = this.clock.now();
    const origins = new Set<PeerName>();
    for (const e of this.entries.values()) origins.add(e.origin);
    for (const o of this.unreachableSince.keys()) if (!origins.has(o)) this.unreachableSince.delete(o);
    const departed = new Set<PeerName>();
    for (const o of origins) {
      if (o === this.localName || this.peers.isReachable(o)) {
        this.unreachableSince.delete(o);
        continue;
      }
      const since = this.unreachableSince.get(o);
      if (since === undefined) this.unreachableSince.set(o, now);
      else if (now - since >= this.departedPeerGraceMs) departed.add(o);
    }
    let changed = false;
    for (const [key, e] of this.entries) {
      if (departed.has(e.origin)) {
        this.entries.delete(key);
        this.stats.droppedDepartedPeer++;
        changed = true;
      } else if (this.isExpired(e)) {
        this.entries.delete(key);
        this.stats.purgedTombstones++;
        changed = true;
      }
    }
    for (const o of departed) {
      this.unreachableSince.delete(o);
      this.log.info({ peer: o }, 'dns entries of departed peer dropped');
    }
    if (changed) this.changed();
  }

  // ---------------------------------------------------------------------------------------------
  // Read side

  private set(key: string, e: DnsEntry): void {
    this.entries.set(key, e);
    this.changed();
  }

  private changed(): void {
    this.index = undefined;
    for (const cb of this.changeListeners) cb();
  }

  private getIndex(): Index {
    if (this.index) return this.index;
    const byName = new Map<string, number[]>();
    const byAddress = new Map<number, string[]>();
    const live = [...this.entries.values()].filter((e) => e.tombstone === 0).sort(compareEntries);
    for (const e of live) {
      const addrs = byName.get(e.hostname);
      if (!addrs) byName.set(e.hostname, [e.address]);
      else if (!addrs.includes(e.address)) addrs.push(e.address);
      const names = byAddress.get(e.address);
      if (!names) byAddress.set(e.address, [e.hostname]);
      else if (!names.includes(e.hostname)) names.push(e.hostname);
    }
    this.index = { byName, byAddress };
    return this.index;
  }

  addressesOf(fqdn: string): readonly number[] {
    return this.getIndex().byName.get(fqdn) ?? EMPTY;
  }

  namesOf(address: number): readonly string[] {
    return this.getIndex().byAddress.get(address) ?? EMPTY_NAMES;
  }

  /** All entries (live and tombstoned), sorted by (hostname, origin, container, address). */
  all(): DnsEntry[] {
    return [...this.entries.values()].sort(compareEntries);
  }

  live(): DnsEntry[] {
    return this.all().filter((e) => e.tombstone === 0);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Structural checks; tests call this after every merge. */
  checkInvariants(): Error | undefined {
    for (const [key, e] of this.entries) {
      if (key !== entryKey(e)) return new Error(`dns entry stored under key "${key}" but its key is "${entryKey(e)}"`);
      if (!isPeerName(e.origin)) return new Error(`dns entry ${key}: bad origin`);
      if (tryNormalizeName(e.hostname) !== e.hostname) return new Error(`dns entry ${key}: hostname not normalized`);
      if (!Number.isInteger(e.address) || e.address < 0 || e.address > 0xffffffff) return new Error(`dns entry ${key}: bad address`);
      if (!Number.isSafeInteger(e.version) || e.version < 1) return new Error(`dns entry ${key}: bad version ${e.version}`);
      if (!Number.isSafeInteger(e.tombstone) || e.tombstone < 0) return new Error(`dns entry ${key}: bad tombstone ${e.tombstone}`);
    }
    if (this.entries.size > MAX_DNS_ENTRIES) return new Error(`dns entries: ${this.entries.size} exceed ${MAX_DNS_ENTRIES}`);
    return undefined;
  }
}

const EMPTY: readonly number[] = Object.freeze([]);
const EMPTY_NAMES: readonly string[] = Object.freeze([]);

export function compareEntries(a: DnsEntry, b: DnsEntry): number {
  return (
    cmp(a.hostname, b.hostname) || cmp(a.origin, b.origin) || cmp(a.containerId, b.containerId) || a.address - b.address
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
