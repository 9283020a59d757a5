// The IPAM allocator: one per router. It owns the ring, the local space, the containers' claims and the
// bootstrap (Paxos / seed / observer), and talks to other peers only through the `ipam` gossip channel.
// Pure: time, randomness, membership and persistence come in through components (DESIGN.md §2, §5).
//
// Life of an allocation request (allocate / claim / prime):
//   1. Try locally: a free address in an owned range of the wanted subnet → done.
//   2. No ring yet → bootstrap: consensus proposes via Paxos (status "awaiting consensus (quorum: Q, known: K)"),
//      seed mode never gets here, an observer asks peers for their ring ("priming").
//   3. Ring but no local space → ask a reachable peer with free space in that subnet (unicast 'req'); it gives
//      the upper half of its biggest free run there ('grant' with its ring), or says why not ('deny').
//      Owners all unreachable → "all IP ranges owned by unreachable peers - use 'rmpeer' if they are dead".
//   4. Every change to the ring, the claims or the Paxos state is handed to `onPersist` before anything that
//      depends on it is sent or resolved.
// Each waiting request carries the reason it waits; its timeout/abort error quotes that reason.

import type { Logger } from 'pino';
import { ConfigError, IpamConflictError, isTsweaveError } from '../core/errors.js';
import type { Gossip, Gossiper, PeerDirectory } from '../core/gossip.js';
import type { Clock, Rng } from '../core/ports.js';
import {
  type Cidr, type PeerName, cidrsOverlap, formatCidr, formatIPv4, isPeerName, networkOf, parsePeerName, peerLabel,
} from '../core/types.js';
import type { IpamStatus, IpamEntryStatus } from '../api/status-types.js';
import { type AddrRange, allocatableRange, cidrRange, formatRange, intersect, rangeSize, reservedRole } from './addr-range.js';
import {
  IPAM_ALLOCATE_TIMEOUT_MS, IPAM_DONOR_BACKOFF_MS, IPAM_PAXOS_RETRY_MS, IPAM_SPACE_REQUEST_TIMEOUT_MS, IPAM_TICK_MS,
  MAX_CONTAINER_ID_CHARS,
} from './constants.js';
import { IpamError, IpamMismatchError, isIpamMismatch } from './errors.js';
import {
  type DenyMsg, type GrantMsg, type PersistedClaim, type SpaceRequestMsg, type UnicastMsg,
  decodeGossip, decodePersisted, decodeUnicast, encodeGossip, encodePersisted, encodeUnicast,
} from './messages.js';
import { type NodeClaims, type PaxosState, Paxos, determineQuorum } from './paxos.js';
import { type RingData, type RingEntry, type RemovedPeer, Ring, formatPeerList } from './ring.js';
import { Space } from './space.js';

export type IpamMode =
  | { kind: 'consensus'; /** N from `consensus=N`; quorum is N/2+1. */ count?: number }
  | { kind: 'seed'; peers: readonly PeerName[] }
  | { kind: 'observer' };

export interface AllocatorComponents {
  clock: Clock;
  rng: Rng;
  logger: Logger;
  peers: PeerDirectory;
  /** The `ipam` channel's sender; may be set later with setGossip(). */
  gossip?: Gossip;
  /** Receives the full persisted state (bytes) after every change; the daemon writes it to its StateStore. */
  onPersist?: (bytes: Uint8Array) => void;
}

export interface AllocatorInit {
  /** --ipalloc-range. */
  range: Cidr;
  /** --ipalloc-default-subnet. @default range */
  defaultSubnet?: Cidr;
  /** --ipalloc-init. */
  mode: IpamMode;
  /** Peers at launch including this one (launch targets + 1); sets the quorum when mode.count is absent. @default 1 */
  initialPeerCount?: number;
  /** @default IPAM_TICK_MS */
  tickMs?: number;
  /** @default IPAM_SPACE_REQUEST_TIMEOUT_MS */
  spaceRequestTimeoutMs?: number;
  /** @default IPAM_PAXOS_RETRY_MS */
  paxosRetryMs?: number;
  /** Default wait for allocate/claim/prime. @default IPAM_ALLOCATE_TIMEOUT_MS */
  allocateTimeoutMs?: number;
  /** @default IPAM_DONOR_BACKOFF_MS */
  donorBackoffMs?: number;
}

export interface Allocation {
  addr: number;
  prefix: number;
  /** "10.32.0.1/12" */
  cidr: string;
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** @default AllocatorInit.allocateTimeoutMs */
  timeoutMs?: number;
}

export interface AllocateOptions extends WaitOptions {
  /** Subnet to allocate in (`net:CIDR`). @default the default subnet */
  subnet?: Cidr;
}

export const STATUS_READY = 'ready';
export const STATUS_IDLE = 'idle';
export const STATUS_PRIMING = 'priming';
export const STATUS_UNREACHABLE = "all IP ranges owned by unreachable peers - use 'rmpeer' if they are dead";
export const STATUS_WAITING_GRANT = 'waiting for IP range grant from peers';
export const STATUS_WAITING_IPS = 'waiting for IP(s) to become available';
export function statusAwaitingConsensus(quorum: number, known: number): string {
  return `awaiting consensus (quorum: ${quorum}, known: ${known})`;
}

interface Pending {
  kind: 'allocate' | 'claim' | 'prime';
  containerId: string;
  /** allocate: the subnet; claim: the claimed CIDR. */
  subnet: Cidr;
  window: AddrRange | undefined;
  addr: number;
  reason: string;
  resolve(v: Allocation | undefined): void;
  reject(err: Error): void;
}

interface Outstanding {
  id: number;
  donor: PeerName;
  key: string;
  exact: boolean;
  cancel(): void;
}

function allocationOf(addr: number, prefix: number): Allocation {
  return { addr, prefix, cidr: `${formatIPv4(addr)}/${prefix}` };
}

export class Allocator implements Gossiper {
  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly log: Logger;
  private readonly peers: PeerDirectory;
  private gossipSender: Gossip | undefined;
  private readonly onPersist: ((bytes: Uint8Array) => void) | undefined;

  readonly self: PeerName;
  readonly range: Cidr;
  readonly universe: AddrRange;
  readonly defaultSubnet: Cidr;
  readonly mode: IpamMode;
  readonly quorum: number;
  private readonly tickMs: number;
  private readonly requestTimeoutMs: number;
  private readonly paxosRetryMs: number;
  private readonly waitTimeoutMs: number;
  private readonly donorBackoffMs: number;

  private ring: Ring;
  private readonly paxos: Paxos | undefined;
  private space = new Space();
  private readonly claims = new Map<string, Allocation[]>();
  private readonly byAddr = new Map<number, string>();
  private pending: Pending[] = [];
  private readonly outstanding = new Map<string, Outstanding>();
  private readonly outstandingById = new Map<number, Outstanding>();
  /** Donors not to ask again until `until`; `denied` when they said they had nothing (vs. no answer). */
  private readonly donorBackoff = new Map<PeerName, { until: number; denied: boolean }>();
  private readonly nicknames = new Map<PeerName, string>();
  private removedBy: PeerName | undefined;
  /** Set by leave(): the ranges were given away; every request is refused. */
  private leaving = false;
  private lastConflict: Error | undefined;
  private nextRequestId = 1;
  private used = false;
  private started = false;
  private cancelTick: (() => void) | undefined;
  private cancelPaxosRetry: (() => void) | undefined;
  private unsubscribePeers: (() => void) | undefined;
  private lastRingAsk = -Infinity;
  /** Set while a public operation runs, so persistence happens once at its end. */
  private dirty = false;
  /** Our last full-state gossip and the ring change it encodes: identical incoming gossip is skipped undecoded. */
  private fullGossip: { changes: number; bytes: Uint8Array } | undefined;

  constructor(components: AllocatorComponents, init: AllocatorInit) {
    this.clock = components.clock;
    this.rng = components.rng;
    this.peers = components.peers;
    this.gossipSender = components.gossip;
    this.onPersist = components.onPersist;
    this.self = components.peers.localName;
    this.log = components.logger.child({ component: 'ipam' });

    this.range = networkOf(init.range);
    this.universe = cidrRange(init.range);
    this.defaultSubnet = networkOf(init.defaultSubnet ?? init.range);
    if (!cidrsOverlap(this.defaultSubnet, this.range)) {
      throw new ConfigError(
        `invalid --ipalloc-default-subnet "${formatCidr(this.defaultSubnet)}": must overlap --ipalloc-range ${formatCidr(this.range)}`,
      );
    }
    this.mode = init.mode;
    this.quorum = init.mode.kind === 'consensus' ? determineQuorum(init.mode.count, init.initialPeerCount ?? 1) : 0;
    this.tickMs = init.tickMs ?? IPAM_TICK_MS;
    this.requestTimeoutMs = init.spaceRequestTimeoutMs ?? IPAM_SPACE_REQUEST_TIMEOUT_MS;
    this.paxosRetryMs = init.paxosRetryMs ?? IPAM_PAXOS_RETRY_MS;
    this.waitTimeoutMs = init.allocateTimeoutMs ?? IPAM_ALLOCATE_TIMEOUT_MS;
    this.donorBackoffMs = init.donorBackoffMs ?? IPAM_DONOR_BACKOFF_MS;

    this.ring = new Ring(this.universe, this.self);
    this.paxos = init.mode.kind === 'consensus' ? new Paxos(this.self, this.quorum) : undefined;
    if (init.mode.kind === 'seed') {
      if (init.mode.peers.length === 0) throw new ConfigError('invalid --ipalloc-init "seed=": needs at least one peer name');
      for (const p of init.mode.peers) {
        if (!isPeerName(p)) throw new ConfigError(`invalid --ipalloc-init seed peer "${p}": must be a peer name like aa:bb:cc:dd:ee:ff`);
      }
      this.ring.claimForPeers(init.mode.peers);
      this.space.setOwned(this.ring.rangesOf(this.self));
    }
    this.log.debug(
      { range: formatCidr(this.range), mode: init.mode.kind, quorum: this.quorum || undefined },
      'ipam allocator created',
    );
  }

  setGossip(g: Gossip): void {
    this.gossipSender = g;
  }

  /** Arms the housekeeping timer and follows membership changes. Call restore() first if there is state. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.unsubscribePeers = this.peers.onPeersChanged(() => this.onPeersChanged());
    this.learnNicknames();
    this.armTick();
  }

  /** Cancels timers; waiting requests are rejected. */
  stop(): void {
    this.started = false;
    this.cancelTick?.();
    this.cancelPaxosRetry?.();
    this.unsubscribePeers?.();
    for (const o of [...this.outstanding.values()]) this.clearOutstanding(o);
    for (const p of [...this.pending]) this.finish(p, new IpamError(`IP allocator stopped while ${p.reason}`));
  }

  // ---------------------------------------------------------------------------------------------
  // Persistence.

  /** The bytes to persist now (ring, Paxos acceptor state, claims). */
  persistedState(): Uint8Array {
    const claims: PersistedClaim[] = [];
    for (const [containerId, list] of this.claims) for (const a of list) claims.push({ containerId, addr: a.addr, prefix: a.prefix });
    return encodePersisted({
      self: this.self,
      start: this.universe.start,
      end: this.universe.end,
      ring: this.ring.isEmpty ? undefined : this.ring.toData(),
      paxos: this.ring.isEmpty && this.paxos?.isParticipating ? this.paxos.state() : undefined,
      claims,
      removedBy: this.removedBy,
      nicknames: [...this.nicknames],
    });
  }

  /**
   * Loads persisted state; call once, before start() and before any allocation. Throws ConfigError when the
   * state belongs to another peer, range or seed list (the message says how to start fresh), ProtocolError
   * when the bytes are corrupt, IpamConflictError when they are inconsistent.
   */
  restore(bytes: Uint8Array): void {
    if (this.used || this.started) throw new Error('restore() must be called before start() and before any allocation');
    const s = decodePersisted(bytes);
    const reset = "run 'tsweave reset' (or remove the IPAM state from the data dir) to start this peer afresh";
    if (s.self !== this.self) {
      throw new ConfigError(`the persisted IPAM state belongs to peer ${s.self}, but this router is ${this.self}: ${reset}`);
    }
    if (s.start !== this.universe.start || s.end !== this.universe.end) {
      const was = formatRange({ start: s.start, end: s.end });
      throw new ConfigError(
        `the persisted IPAM state was created with --ipalloc-range ${was}, but this router was launched with ` +
          `${formatCidr(this.range)}: launch with the old range, or ${reset}`,
      );
    }
    if (s.ring && this.mode.kind === 'seed' && formatPeerList(s.ring.seeds) !== formatPeerList(this.ring.seeds)) {
      throw new ConfigError(
        `the persisted IPAM state was seeded by ${formatPeerList(s.ring.seeds)}, but this router was launched with ` +
          `--ipalloc-init seed=${this.ring.seeds.join(',')}: every peer must keep the same seed list; ${reset}`,
      );
    }
    this.ring = s.ring ? Ring.fromData(s.ring, this.self) : new Ring(this.universe, this.self);
    this.fullGossip = undefined;
    if (this.ring.isEmpty && this.mode.kind === 'seed') this.ring.claimForPeers(this.mode.peers);
    if (s.paxos && this.paxos && this.ring.isEmpty) this.paxos.merge(s.paxos);
    this.space = new Space();
    this.space.setOwned(this.ring.rangesOf(this.self));
    this.claims.clear();
    this.byAddr.clear();
    for (const c of s.claims) {
      if (this.ring.contains(c.addr)) {
        const owner = this.ring.owner(c.addr);
        if (owner !== this.self || !this.space.take(c.addr)) {
          throw new IpamConflictError(
            `the persisted IPAM state is inconsistent: ${formatIPv4(c.addr)} is claimed by container ${c.containerId} ` +
              `but owned by ${owner ?? 'nobody'} (or claimed twice); ${reset}`,
          );
        }
      }
      this.record(c.containerId, allocationOf(c.addr, c.prefix));
    }
    this.removedBy = s.removedBy;
    for (const [p, n] of s.nicknames) this.nicknames.set(p, n);
    this.log.info({ ranges: this.space.ownedRanges().length, claims: s.claims.length }, 'ipam initialised with persisted data');
  }

  private persist(): void {
    this.dirty = false;
    this.onPersist?.(this.persistedState());
  }

  private persistIfDirty(): void {
    if (this.dirty) this.persist();
  }

  // ---------------------------------------------------------------------------------------------
  // Public operations.

  /**
   * An address for `containerId` in the subnet (default subnet if none). Returns the container's existing
   * address in that subnet if it has one. Waits for consensus or a donation when needed; rejects with
   * IpamError on timeout/abort (the message says what it was waiting for), ConfigError for a bad subnet.
   */
  async allocate(containerId: string, opts: AllocateOptions = {}): Promise<Allocation> {
    this.checkContainerId(containerId);
    const subnet = networkOf(opts.subnet ?? this.defaultSubnet);
    const window = this.allocationWindow(subnet);
    // Fast path: space of our own (or an existing address) needs no waiting machinery.
    if (!this.ring.isEmpty && !this.removedBy && !this.pending.some((p) => p.containerId === containerId)) {
      const now = this.tryAllocate(containerId, subnet);
      if (now) return now;
    }
    const a = await this.wait(
      { kind: 'allocate', containerId, subnet, window, addr: 0 },
      opts,
      `allocating an address in ${formatCidr(subnet)} for ${containerId}`,
    );
    return a!;
  }

  /** Allocation without waiting: an address from our own space now, or undefined. */
  tryAllocate(containerId: string, subnet: Cidr = this.defaultSubnet): Allocation | undefined {
    this.checkContainerId(containerId);
    const s = networkOf(subnet);
    const window = this.allocationWindow(s);
    this.used = true;
    const existing = this.findIn(containerId, s);
    if (existing) return existing;
    if (this.removedBy) return undefined;
    const addr = this.space.allocate(window);
    if (addr === undefined) return undefined;
    const a = allocationOf(addr, s.prefix);
    this.record(containerId, a);
    this.persist();
    return a;
  }

  /**
   * Claims a specific address (`ip:CIDR`) for `containerId`, e.g. re-claiming addresses found on containers
   * after a restart. An address owned by another peer is requested from it; an address outside the allocation
   * range is recorded without coordination (the user manages it). Rejects with IpamConflictError when the
   * address is in use by another container or its owner refuses or is unreachable.
   */
  async claim(containerId: string, cidr: Cidr, opts: WaitOptions = {}): Promise<void> {
    this.checkContainerId(containerId);
    const role = reservedRole(cidr, cidr.addr);
    if (role) {
      throw new ConfigError(
        `invalid address "${formatCidr(cidr)}": ${formatIPv4(cidr.addr)} is the ${role} address of ${formatCidr(networkOf(cidr))}`,
      );
    }
    await this.wait(
      { kind: 'claim', containerId, subnet: cidr, window: undefined, addr: cidr.addr },
      opts,
      `claiming ${formatCidr(cidr)} for ${containerId}`,
    );
  }

  /** Resolves once this peer has a ring (Weave `prime` / GET /ring), bootstrapping if needed. */
  async prime(opts: WaitOptions = {}): Promise<void> {
    await this.wait({ kind: 'prime', containerId: '', subnet: this.range, window: undefined, addr: 0 }, opts, 'priming');
  }

  /** Frees the container's addresses (all, or just `addr`); cancels its waiting requests. Returns what was freed. */
  free(containerId: string, addr?: number): Allocation[] {
    const list = this.claims.get(containerId) ?? [];
    const freed = list.filter((a) => addr === undefined || a.addr === addr);
    for (const a of freed) {
      this.byAddr.delete(a.addr);
      this.space.release(a.addr);
    }
    const left = list.filter((a) => !freed.includes(a));
    if (left.length > 0) this.claims.set(containerId, left);
    else this.claims.delete(containerId);
    if (addr === undefined) {
      for (const p of this.pending.filter((q) => q.containerId === containerId && q.kind !== 'prime')) {
        this.finish(p, new IpamError(`request for ${containerId} cancelled: the container's addresses were freed`));
      }
    }
    if (freed.length > 0) {
      this.persist();
      this.log.debug({ container: containerId, addrs: freed.map((a) => a.cidr) }, 'ipam freed');
      this.tryPending();
    }
    return freed;
  }

  lookup(containerId: string): Allocation[] {
    return [...(this.claims.get(containerId) ?? [])];
  }

  /** Every container with addresses, and the addresses. */
  containersInUse(): Array<{ containerId: string; addrs: Allocation[] }> {
    return [...this.claims].map(([containerId, addrs]) => ({ containerId, addrs: [...addrs] }));
  }

  /** Ranges this peer owns. */
  owned(): AddrRange[] {
    return this.space.ownedRanges();
  }

  /** A copy of the ring as data (tests, /report). */
  ringData(): RingData {
    return this.ring.toData();
  }

  get isRemoved(): boolean {
    return this.removedBy !== undefined;
  }

  /** The last conflicting update that was rejected, if any (for logs/status). */
  lastError(): Error | undefined {
    return this.lastConflict;
  }

  /**
   * Takes over the space of a dead peer (name or nickname) and returns the number of addresses taken.
   * Refuses ourselves, reachable peers and unknown names. The removed peer is tombstoned in the ring: if it
   * comes back with its old state it is refused; with fresh state it joins as a new peer.
   */
  rmpeer(nameOrNickname: string): number {
    if (this.removedBy) throw this.removedError();
    if (this.ring.isEmpty) {
      throw new IpamError(`cannot rmpeer ${nameOrNickname}: IP allocation is not initialised yet (${this.statusString()})`);
    }
    const target = this.resolvePeer(nameOrNickname);
    if (target === this.self) {
      throw new ConfigError(`cannot rmpeer ${nameOrNickname}: that is this peer; use 'tsweave reset' to leave the cluster`);
    }
    if (this.peers.isReachable(target)) {
      throw new ConfigError(
        `cannot rmpeer ${this.label(target)}: it is reachable, and rmpeer is only for dead peers; stop it first (or run 'tsweave reset' on it)`,
      );
    }
    const { ips, changed, removed } = this.ring.takeOver(target);
    this.afterOwnershipChange();
    const freeChanged = this.ring.reportFree((r) => this.space.numFree(r));
    this.persist();
    this.broadcastRing(mergeChanged(changed, freeChanged), [removed]);
    this.log.info({ peer: this.label(target), ips }, 'ipam took over the space of a removed peer');
    this.tryPending();
    return ips;
  }

  /**
   * Leaving the cluster (Weave's `DELETE /peer`, sent by `reset`): hands every range of ours to one reachable
   * peer (an owner of space if any is reachable), forgets our claims and refuses further requests. Returns
   * the heir and the number of addresses given; no heir when no peer is reachable (then the space stays
   * ours until someone runs rmpeer) or when we own nothing.
   */
  leave(): { heir: PeerName | undefined; ips: number } {
    if (this.leaving) return { heir: undefined, ips: 0 };
    this.leaving = true;
    const err = new IpamError(`peer ${this.label(this.self)} is leaving the cluster ('tsweave reset')`);
    for (const o of [...this.outstanding.values()]) this.clearOutstanding(o);
    for (const p of [...this.pending]) this.finish(p, err);
    this.cancelPaxosRetry?.();
    if (this.removedBy || this.ring.isEmpty || this.space.numOwned === 0) return { heir: undefined, ips: 0 };
    const reachable = this.peers.reachablePeers().filter((p) => p !== this.self && !this.ring.removedRecord(p));
    if (reachable.length === 0) {
      this.log.warn('ipam leaving with no reachable peer: our ranges stay ours until a peer runs rmpeer on us');
      return { heir: undefined, ips: 0 };
    }
    const owners = reachable.filter((p) => this.ring.ownership().has(p)).sort();
    const heir = owners[0] ?? [...reachable].sort()[0]!;
    const { ips, changed } = this.ring.transferAll(heir);
    this.claims.clear();
    this.byAddr.clear();
    this.afterOwnershipChange();
    this.persist();
    this.broadcastRing(changed);
    this.log.info({ heir: this.label(heir), ips }, 'ipam gave all its ranges away on leaving');
    return { heir, ips };
  }

  checkInvariants(): Error | undefined {
    const r = this.ring.checkInvariants();
    if (r) return r;
    const s = this.space.checkInvariants();
    if (s) return s;
    if (!this.removedBy) {
      const mine = this.ring.rangesOf(this.self);
      const owned = this.space.ownedRanges();
      if (JSON.stringify(mine) !== JSON.stringify(owned)) return new Error('space is out of step with the ring');
    }
    for (const [addr, c] of this.byAddr) {
      if (this.ring.contains(addr) && !this.removedBy && !this.space.isUsed(addr)) {
        return new Error(`${formatIPv4(addr)} claimed by ${c} but not marked used`);
      }
    }
    return undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Status.

  status(): IpamStatus {
    const ownership = this.ring.ownership();
    const entries: IpamEntryStatus[] = [];
    if (!this.ring.isEmpty) {
      entries.push({
        name: this.self,
        nickname: this.peers.localNickname,
        ips: ownership.get(this.self) ?? 0,
        active: this.activeCount(),
        reachable: true,
      });
      const others = [...ownership.keys()].filter((p) => p !== this.self).sort();
      for (const p of others) {
        entries.push({ name: p, nickname: this.nicknameOf(p), ips: ownership.get(p)!, reachable: this.peers.isReachable(p) });
      }
    }
    return {
      status: this.statusString(),
      range: formatCidr(this.range),
      defaultSubnet: formatCidr(this.defaultSubnet),
      rangeNumIPs: rangeSize(this.universe),
      entries,
    };
  }

  private activeCount(): number {
    let n = 0;
    for (const a of this.byAddr.keys()) if (this.ring.contains(a)) n++;
    return n;
  }

  statusString(): string {
    if (this.removedBy) {
      return `removed from the IP allocation ring by 'rmpeer' on ${this.label(this.removedBy)} - reset this peer ('tsweave reset') and launch it again`;
    }
    if (this.leaving) return "left the cluster ('tsweave reset'): its ranges were given to other peers";
    if (this.ring.isEmpty) return this.bootstrapReason();
    const waiting = this.pending.find((p) => p.kind !== 'prime');
    if (waiting) return waiting.reason;
    if (this.space.numOwned === 0 && this.ownersAllUnreachable(this.universe)) return STATUS_UNREACHABLE;
    return STATUS_READY;
  }

  private bootstrapReason(): string {
    if (this.mode.kind === 'observer') return STATUS_PRIMING;
    if (this.paxos?.isParticipating) return statusAwaitingConsensus(this.quorum, this.paxos.known);
    return STATUS_IDLE;
  }

  // ---------------------------------------------------------------------------------------------
  // Gossiper.

  gossip(): Uint8Array | undefined {
    if (this.removedBy) return undefined;
    if (!this.ring.isEmpty) return this.fullRingGossip();
    if (this.paxos?.isParticipating) {
      return encodeGossip({ start: this.universe.start, end: this.universe.end, complete: false, ring: undefined, paxos: this.paxos.state() });
    }
    return undefined;
  }

  private fullRingGossip(): Uint8Array {
    if (this.fullGossip?.changes !== this.ring.changeCount) {
      this.fullGossip = { changes: this.ring.changeCount, bytes: this.encodeRing(this.ring.toData(), true) };
    }
    return this.fullGossip.bytes;
  }

  onGossip(src: PeerName, data: Uint8Array): Uint8Array | undefined {
    // Steady state: a neighbour's full ring is byte-for-byte ours. Nothing to learn, nothing to decode.
    const cached = this.fullGossip?.changes === this.ring.changeCount ? this.fullGossip.bytes : undefined;
    if (cached && !this.removedBy && data.length === cached.length && Buffer.compare(data, cached) === 0) return undefined;
    const m = decodeGossip(data);
    this.checkRange(m.start, m.end, src);
    if (this.removedBy) return undefined;
    let ringDelta: RingData | undefined;
    let paxosDelta: Map<PeerName, NodeClaims> | undefined;
    try {
      if (m.ring) ringDelta = this.mergeRing(src, m.ring, m.complete);
      if (m.paxos) {
        if (!this.ring.isEmpty) {
          // The sender still runs Paxos but a ring exists: tell it directly.
          this.sendRing(src);
        } else if (this.paxos) {
          paxosDelta = this.mergePaxos(m.paxos);
        }
      }
    } finally {
      this.persistIfDirty();
    }
    this.tryPending();
    // What was new to us is re-gossiped as our whole ring (see broadcastRing for why never as a part).
    if (ringDelta) return this.fullRingGossip();
    if (paxosDelta && this.ring.isEmpty) {
      return encodeGossip({ start: this.universe.start, end: this.universe.end, complete: false, ring: undefined, paxos: paxosDelta });
    }
    return undefined;
  }

  onGossipBroadcast(src: PeerName, data: Uint8Array): Uint8Array | undefined {
    return this.onGossip(src, data);
  }

  onGossipUnicast(src: PeerName, data: Uint8Array): void {
    const m = decodeUnicast(data);
    this.checkRange(m.start, m.end, src);
    try {
      this.handleUnicast(src, m);
    } finally {
      this.persistIfDirty();
    }
    this.tryPending();
  }

  private handleUnicast(src: PeerName, m: UnicastMsg): void {
    if (this.removedBy) {
      if (m.kind === 'req') this.deny(src, m, `peer ${this.self} was removed from the ring by 'rmpeer' and gives no space`, false);
      return;
    }
    switch (m.kind) {
      case 'req':
        this.handleSpaceRequest(src, m);
        return;
      case 'grant':
        this.handleGrant(src, m);
        return;
      case 'deny':
        this.handleDeny(src, m);
        return;
      case 'ring?':
        if (!this.ring.isEmpty) this.sendRing(src);
        return;
      case 'ring':
        this.mergeRing(src, m.ring, true);
        return;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Merging.

  private checkRange(start: number, end: number, src: PeerName): void {
    if (start !== this.universe.start || end !== this.universe.end) {
      const [ours, theirs] = [formatRange(this.universe), formatRange({ start, end })];
      const err = new IpamMismatchError(
        'range', ours, theirs,
        `Incompatible IP allocation ranges (received: ${theirs} from ${this.label(src)}, ours: ${ours}): ` +
          `every peer must use the same --ipalloc-range`,
        { fields: { peer: src } },
      );
      this.lastConflict = err;
      this.log.error({ err, peer: src }, 'ipam update rejected');
      throw err;
    }
  }

  /** Merges ring data; returns the delta. Throws IpamConflictError (logged) and leaves our ring as it was. */
  private mergeRing(src: PeerName, incoming: RingData, complete: boolean): RingData | undefined {
    if (!complete) {
      // We never send parts of rings (see broadcastRing); ask for the whole thing instead of guessing.
      if (incoming.entries.length > 0) this.askForRing(src);
      return undefined;
    }
    const tomb = incoming.removed.find((t) => t.peer === this.self);
    if (tomb && this.ring.ownsTokensRemovedBy(tomb)) {
      this.enterRemoved(tomb);
      return undefined;
    }
    const wasEmpty = this.ring.isEmpty;
    let delta: RingData | undefined;
    try {
      delta = this.ring.merge(incoming);
    } catch (err) {
      if (isTsweaveError(err) && err.code === 'ERR_IPAM_CONFLICT') {
        const hint = isIpamMismatch(err, 'seeds')
          ? "; if this peer's data dir holds IPAM state from another cluster, run 'tsweave reset' on it and launch it again"
          : '';
        const message = `${err.message} (from ${this.label(src)})${hint}`;
        const opts = { cause: err, fields: { peer: src } };
        const e = isIpamMismatch(err)
          ? new IpamMismatchError(err.mismatch, err.ours, err.theirs, message, opts)
          : new IpamConflictError(message, opts);
        this.lastConflict = e;
        this.log.error({ err: e, peer: src }, 'ipam update rejected');
        throw e;
      }
      throw err;
    }
    if (!delta) return undefined;
    this.dirty = true;
    this.afterOwnershipChange();
    if (wasEmpty) {
      this.cancelPaxosRetry?.();
      this.log.info({ seeds: this.ring.seeds.length, from: src }, 'ipam ring received');
    }
    return delta;
  }

  private mergePaxos(incoming: PaxosState): Map<PeerName, NodeClaims> | undefined {
    const paxos = this.paxos!;
    const delta = paxos.merge(incoming) ?? new Map();
    if (delta.size > 0 && !paxos.isParticipating) paxos.join();
    const changed = paxos.think();
    if (changed) {
      for (const [k, v] of paxos.ownClaims()) delta.set(k, v);
      this.dirty = true;
      this.broadcastPaxos();
    }
    if (delta.size > 0) this.dirty = true;
    this.checkConsensus();
    return delta.size > 0 ? delta : undefined;
  }

  private checkConsensus(): void {
    if (!this.paxos || !this.ring.isEmpty) return;
    const value = this.paxos.consensus();
    if (!value) return;
    this.ring.claimForPeers(value);
    this.afterOwnershipChange();
    this.cancelPaxosRetry?.();
    this.dirty = true;
    this.log.info({ peers: value.length, quorum: this.quorum }, 'ipam consensus reached; ring created');
    this.broadcastRing(this.ring.entries());
  }

  private afterOwnershipChange(): void {
    const orphans = this.space.setOwned(this.ring.rangesOf(this.self));
    for (const a of orphans) {
      if (this.ring.contains(a)) {
        this.log.error(
          { addr: formatIPv4(a), container: this.byAddr.get(a), owner: this.ring.owner(a) },
          'ipam address in use here is no longer in a range this peer owns',
        );
      }
    }
  }

  private enterRemoved(tomb: RemovedPeer): void {
    this.removedBy = tomb.by;
    this.dirty = true;
    const err = this.removedError();
    this.lastConflict = err;
    this.log.error({ err, by: tomb.by }, 'ipam this peer was removed by rmpeer while it was away');
    for (const o of [...this.outstanding.values()]) this.clearOutstanding(o);
    for (const p of [...this.pending]) this.finish(p, err);
    this.cancelPaxosRetry?.();
  }

  private removedError(): IpamConflictError {
    return new IpamConflictError(
      `this peer (${this.label(this.self)}) was removed from the IP allocation ring by 'rmpeer' on ${this.label(this.removedBy!)} ` +
        `while it was away, and its address ranges now belong to other peers; run 'tsweave reset' on this host ` +
        `(containers keep addresses that may now be reused elsewhere) and launch it again`,
      { fields: { by: this.removedBy } },
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Donations.

  private handleSpaceRequest(src: PeerName, m: SpaceRequestMsg): void {
    if (this.ring.isEmpty) {
      this.deny(src, m, `the IP allocation ring is not initialised on ${this.label(this.self)} yet`, false);
      return;
    }
    let give: AddrRange | undefined;
    if (m.exact) {
      const a = m.wantStart;
      const owner = this.ring.owner(a);
      if (owner !== this.self) {
        this.deny(src, m, `${formatIPv4(a)} is not owned by ${this.label(this.self)} (owner: ${owner ? this.label(owner) : 'nobody'})`, true);
        return;
      }
      if (!this.space.isFree(a)) {
        const c = this.byAddr.get(a);
        this.deny(src, m, `${formatIPv4(a)} is in use${c ? ` by container ${c}` : ''} on ${this.label(this.self)}`, true);
        return;
      }
      give = { start: a, end: a + 1 };
    } else {
      const run = this.space.biggestFreeIn({ start: m.wantStart, end: m.wantEnd });
      if (!run) {
        const changed = this.ring.reportFree((r) => this.space.numFree(r));
        if (changed.length > 0) this.dirty = true;
        this.deny(src, m, `no free addresses in ${formatRange({ start: m.wantStart, end: m.wantEnd })} on ${this.label(this.self)}`, true);
        return;
      }
      const start = run.start + Math.floor(rangeSize(run) / 2);
      const entryEnd = this.ownEntryEnd(start);
      give = { start, end: Math.min(run.end, entryEnd) };
    }
    const changed = this.ring.grant(give, src);
    this.afterOwnershipChange();
    const freeChanged = this.ring.reportFree((r) => this.space.numFree(r));
    this.persist(); // before the grant leaves: a crash must not let us hand the same range out again
    this.sendUnicast(src, { kind: 'grant', id: m.id, start: this.universe.start, end: this.universe.end, ring: this.ring.toData() });
    this.broadcastRing(mergeChanged(changed, freeChanged));
    this.log.info({ peer: this.label(src), range: formatRange(give) }, 'ipam range donated');
  }

  private ownEntryEnd(addr: number): number {
    const entries = this.ring.entries();
    let lo = 0;
    let hi = entries.length - 1;
    let i = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (entries[mid]!.token <= addr) {
        i = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return this.ring.entryRange(i).end;
  }

  private deny(src: PeerName, m: SpaceRequestMsg, reason: string, withRing: boolean): void {
    this.log.debug({ peer: src, reason }, 'ipam space request denied');
    const msg: DenyMsg = {
      kind: 'deny', id: m.id, start: this.universe.start, end: this.universe.end, reason,
      ring: withRing && !this.ring.isEmpty ? this.ring.toData() : undefined,
    };
    this.sendUnicast(src, msg);
  }

  private handleGrant(src: PeerName, m: GrantMsg): void {
    const o = this.outstandingById.get(m.id);
    if (o && o.donor === src) this.clearOutstanding(o);
    this.mergeRing(src, m.ring, true);
  }

  private handleDeny(src: PeerName, m: DenyMsg): void {
    const o = this.outstandingById.get(m.id);
    if (m.ring) this.mergeRing(src, m.ring, true);
    if (!o || o.donor !== src) return;
    this.clearOutstanding(o);
    if (o.exact) {
      const addr = Number(o.key.split(':')[1]);
      for (const p of this.pending.filter((q) => q.kind === 'claim' && q.addr === addr)) {
        this.finish(p, new IpamConflictError(`cannot claim ${formatCidr(p.subnet)} for ${p.containerId}: ${m.reason}`));
      }
    } else {
      this.donorBackoff.set(src, { until: this.clock.now() + this.donorBackoffMs, denied: true });
    }
  }

  /** Asks a donor for space in `window` (or for one exact address). Returns the reason we now wait. */
  private requestSpace(window: AddrRange, exact: boolean): string {
    const key = exact ? `x:${window.start}` : `w:${window.start}-${window.end}`;
    if (this.outstanding.has(key)) return STATUS_WAITING_GRANT;
    let donor: PeerName | undefined;
    if (exact) {
      donor = this.ring.owner(window.start);
    } else {
      const now = this.clock.now();
      const reachable = [...this.ring.donorsFor(window)].filter(([p]) => this.peers.isReachable(p) && !this.ring.removedRecord(p));
      const candidates = reachable.filter(([p]) => (this.donorBackoff.get(p)?.until ?? 0) <= now);
      if (candidates.length === 0) {
        // Everyone we could ask said no recently: the subnet is full as far as we can tell.
        if (reachable.length > 0) return reachable.every(([p]) => this.donorBackoff.get(p)!.denied) ? STATUS_WAITING_IPS : STATUS_WAITING_GRANT;
        if (this.ownersAllUnreachable(window)) return STATUS_UNREACHABLE;
        return STATUS_WAITING_IPS;
      }
      const total = candidates.reduce((s, [, w]) => s + w, 0);
      let pick = this.rng.float() * total;
      for (const [p, w] of candidates) {
        donor = p;
        pick -= w;
        if (pick < 0) break;
      }
    }
    if (!donor) return STATUS_WAITING_IPS;
    const id = this.nextRequestId++;
    const o: Outstanding = { id, donor, key, exact, cancel: () => {} };
    o.cancel = this.clock.setTimer(this.requestTimeoutMs, () => {
      if (this.outstandingById.get(id) !== o) return;
      this.clearOutstanding(o);
      this.donorBackoff.set(o.donor, { until: this.clock.now() + this.donorBackoffMs, denied: false });
      this.log.debug({ peer: o.donor }, 'ipam space request timed out');
      this.tryPending();
    });
    this.outstanding.set(key, o);
    this.outstandingById.set(id, o);
    this.log.debug({ peer: donor, range: formatRange(window), exact }, 'ipam asking for space');
    this.sendUnicast(donor, {
      kind: 'req', id, start: this.universe.start, end: this.universe.end, wantStart: window.start, wantEnd: window.end, exact,
    });
    return STATUS_WAITING_GRANT;
  }

  private clearOutstanding(o: Outstanding): void {
    o.cancel();
    this.outstanding.delete(o.key);
    this.outstandingById.delete(o.id);
  }

  /** True if no reachable peer (nor we) owns space in `window`, and some unreachable peer does. */
  private ownersAllUnreachable(window: AddrRange): boolean {
    let unreachable = false;
    const entries = this.ring.entries();
    for (let i = 0; i < entries.length; i++) {
      if (!intersect(this.ring.entryRange(i), window)) continue;
      const p = entries[i]!.peer;
      if (p === this.self || this.peers.isReachable(p)) return false;
      unreachable = true;
    }
    return unreachable;
  }

  // ---------------------------------------------------------------------------------------------
  // Waiting requests.

  private wait(spec: Omit<Pending, 'reason' | 'resolve' | 'reject'>, opts: WaitOptions, what: string): Promise<Allocation | undefined> {
    this.used = true;
    return new Promise<Allocation | undefined>((resolve, reject) => {
      if (opts.signal?.aborted) {
        reject(new IpamError(`${what}: cancelled before it started`));
        return;
      }
      let cancelTimer = (): void => {};
      const onAbort = (): void => this.finish(p, new IpamError(`${what}: cancelled while ${p.reason}`));
      const cleanup = (): void => {
        cancelTimer();
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const p: Pending = {
        ...spec,
        reason: 'starting',
        resolve: (v) => {
          cleanup();
          resolve(v);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
      };
      const timeoutMs = opts.timeoutMs ?? this.waitTimeoutMs;
      if (Number.isFinite(timeoutMs)) {
        cancelTimer = this.clock.setTimer(timeoutMs, () =>
          this.finish(p, new IpamError(`${what}: timed out after ${timeoutMs / 1000}s while ${p.reason}${this.hintFor(p.reason)}`)),
        );
      }
      opts.signal?.addEventListener('abort', onAbort);
      this.pending.push(p);
      this.tryPending();
    });
  }

  /** What the user can do about a wait that timed out (Weave's silent IPAM hangs, #1559). */
  private hintFor(reason: string): string {
    if (reason.startsWith('awaiting consensus')) {
      return ` - consensus needs ${this.quorum} of the initial peers running and connected to each other ` +
        `(check 'tsweave status peers'; the count comes from the peers given to launch, or --ipalloc-init consensus=N)`;
    }
    if (reason === STATUS_PRIMING) return ' - an observer needs a connection to a peer that has joined the ring';
    return '';
  }

  private finish(p: Pending, result: Error | Allocation | undefined): void {
    const i = this.pending.indexOf(p);
    if (i < 0) return;
    this.pending.splice(i, 1);
    if (result instanceof Error) p.reject(result);
    else p.resolve(result);
  }

  private tryPending(): void {
    if (this.pending.length === 0) return;
    let changed = false;
    for (const p of [...this.pending]) {
      if (!this.pending.includes(p)) continue;
      try {
        const r = this.attempt(p);
        if (r === 'done') changed = true;
      } catch (err) {
        this.finish(p, err as Error);
      }
    }
    if (changed || this.dirty) this.persist();
  }


  private attempt(p: Pending): 'done' | 'wait' {
    if (this.removedBy) {
      this.finish(p, this.removedError());
      return 'wait';
    }
    if (this.leaving) {
      this.finish(p, new IpamError(`peer ${this.label(this.self)} has left the cluster ('tsweave reset'); launch it again`));
      return 'wait';
    }
    if (p.kind === 'prime') {
      if (this.ring.isEmpty) p.reason = this.bootstrap();
      if (!this.ring.isEmpty) this.finish(p, undefined);
      return 'wait';
    }
    if (p.kind === 'allocate') {
      const existing = this.findIn(p.containerId, p.subnet);
      if (existing) {
        this.finish(p, existing);
        return 'wait';
      }
      if (this.ring.isEmpty) {
        p.reason = this.bootstrap();
        if (this.ring.isEmpty) return 'wait';
      }
      const addr = this.space.allocate(p.window!);
      if (addr !== undefined) {
        const a = allocationOf(addr, p.subnet.prefix);
        this.record(p.containerId, a);
        this.dirty = true;
        this.log.debug({ container: p.containerId, addr: a.cidr }, 'ipam allocated');
        this.finish(p, a);
        return 'done';
      }
      p.reason = this.requestSpace(p.window!, false);
      return 'wait';
    }
    // claim
    const addr = p.addr;
    const holder = this.byAddr.get(addr);
    if (holder === p.containerId) {
      const mine = this.claims.get(holder)!.find((a) => a.addr === addr)!;
      this.finish(p, mine);
      return 'wait';
    }
    if (holder !== undefined) {
      this.finish(p, new IpamConflictError(`address ${formatCidr(p.subnet)} is already owned by ${holder}`));
      return 'wait';
    }
    if (!this.ring.contains(addr)) {
      this.log.info({ container: p.containerId, addr: formatCidr(p.subnet) }, 'ipam claim outside the allocation range; not coordinated');
      const a = allocationOf(addr, p.subnet.prefix);
      this.record(p.containerId, a);
      this.dirty = true;
      this.finish(p, a);
      return 'done';
    }
    if (this.ring.isEmpty) {
      p.reason = this.bootstrap();
      if (this.ring.isEmpty) return 'wait';
    }
    const owner = this.ring.owner(addr)!;
    if (owner === this.self) {
      if (!this.space.take(addr)) throw new IpamConflictError(`address ${formatCidr(p.subnet)} is not free on ${this.label(this.self)}`);
      const a = allocationOf(addr, p.subnet.prefix);
      this.record(p.containerId, a);
      this.dirty = true;
      this.log.debug({ container: p.containerId, addr: a.cidr }, 'ipam claimed');
      this.finish(p, a);
      return 'done';
    }
    if (!this.peers.isReachable(owner)) {
      throw new IpamConflictError(
        `cannot claim ${formatCidr(p.subnet)} for ${p.containerId}: it is in a range owned by ${this.label(owner)}, ` +
          `which is unreachable; claim it where that peer can be reached, or use 'rmpeer' if it is dead`,
      );
    }
    p.reason = `${STATUS_WAITING_GRANT} (asking ${this.label(owner)} for ${formatIPv4(addr)})`;
    this.requestSpace({ start: addr, end: addr + 1 }, true);
    return 'wait';
  }

  /** Starts or continues getting a ring; returns the reason we wait. */
  private bootstrap(): string {
    if (this.mode.kind === 'observer') {
      this.askForRing(undefined);
      return STATUS_PRIMING;
    }
    const paxos = this.paxos!;
    if (!this.cancelPaxosRetry) {
      // Someone else's proposal is under way: give it a chance before competing with a higher round.
      const other = paxos.isParticipating && paxos.ownClaims().get(this.self)!.promise.proposer !== '' &&
        paxos.ownClaims().get(this.self)!.promise.proposer !== this.self;
      if (other) this.armPaxosRetry();
      else this.propose();
    }
    return statusAwaitingConsensus(this.quorum, paxos.known);
  }

  private propose(): void {
    const paxos = this.paxos!;
    paxos.propose();
    paxos.think();
    this.dirty = true;
    this.log.debug({ quorum: this.quorum, known: paxos.known }, 'ipam paxos proposing');
    this.broadcastPaxos();
    this.checkConsensus();
    this.armPaxosRetry();
  }

  private armPaxosRetry(): void {
    this.cancelPaxosRetry?.();
    if (!this.ring.isEmpty) return;
    const ms = this.paxosRetryMs * (1 + this.rng.float());
    const cancel = this.clock.setTimer(ms, () => {
      if (this.cancelPaxosRetry !== cancel) return;
      this.cancelPaxosRetry = undefined;
      if (!this.ring.isEmpty || this.removedBy) return;
      if (this.pending.length > 0) {
        this.propose();
        this.persistIfDirty();
      }
    });
    this.cancelPaxosRetry = cancel;
  }

  private askForRing(preferred: PeerName | undefined): void {
    const now = this.clock.now();
    if (preferred === undefined && now - this.lastRingAsk < this.requestTimeoutMs) return;
    const others = this.peers.reachablePeers().filter((p) => p !== this.self);
    const dst = preferred ?? others[this.rng.int(Math.max(1, others.length))];
    if (!dst) return;
    this.lastRingAsk = now;
    this.sendUnicast(dst, { kind: 'ring?', start: this.universe.start, end: this.universe.end });
  }

  // ---------------------------------------------------------------------------------------------
  // Housekeeping.

  private armTick(): void {
    this.cancelTick = this.clock.setTimer(this.tickMs, () => {
      if (!this.started) return;
      this.tick();
      this.armTick();
    });
  }

  /**
   * Periodic: refresh our advisory free counts in the ring when they changed significantly (crossed zero or
   * by half; broadcast), and retry waiting requests. The counts only guide the choice of donor; a donor
   * with less than advertised reports its exact counts in its denial.
   */
  tick(): void {
    if (this.removedBy) return;
    if (!this.ring.isEmpty) {
      const changed = this.ring.reportFree((r) => this.space.numFree(r), true);
      if (changed.length > 0) {
        this.persist();
        this.broadcastRing(changed);
      }
    }
    this.tryPending();
  }

  private onPeersChanged(): void {
    this.learnNicknames();
    for (const o of [...this.outstanding.values()]) {
      if (!this.peers.isReachable(o.donor)) this.clearOutstanding(o);
    }
    this.tryPending();
  }

  private learnNicknames(): void {
    for (const p of this.peers.reachablePeers()) {
      const n = this.peers.nicknameOf(p);
      if (n !== undefined && this.nicknames.get(p) !== n) this.nicknames.set(p, n);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers.

  private allocationWindow(subnet: Cidr): AddrRange {
    if (!cidrsOverlap(subnet, this.range)) {
      throw new ConfigError(`invalid subnet "${formatCidr(subnet)}": outside the allocation range ${formatCidr(this.range)}`);
    }
    const w = intersect(allocatableRange(subnet), this.universe);
    if (!w) throw new ConfigError(`invalid subnet "${formatCidr(subnet)}": has no allocatable addresses inside ${formatCidr(this.range)}`);
    return w;
  }

  private checkContainerId(id: string): void {
    if (typeof id !== 'string' || id === '' || id.length > MAX_CONTAINER_ID_CHARS) {
      throw new ConfigError(`invalid container id "${String(id).slice(0, 40)}": must be 1..${MAX_CONTAINER_ID_CHARS} characters`);
    }
  }

  private findIn(containerId: string, subnet: Cidr): Allocation | undefined {
    const r = cidrRange(subnet);
    return this.claims.get(containerId)?.find((a) => a.prefix === subnet.prefix && a.addr >= r.start && a.addr < r.end);
  }

  private record(containerId: string, a: Allocation): void {
    const list = this.claims.get(containerId);
    if (list) list.push(a);
    else this.claims.set(containerId, [a]);
    this.byAddr.set(a.addr, containerId);
  }

  private resolvePeer(nameOrNickname: string): PeerName {
    const byNick = new Set<PeerName>();
    const known = new Set<PeerName>([...this.ring.ownership().keys(), ...this.nicknames.keys()]);
    for (const p of known) if (this.nicknameOf(p) === nameOrNickname) byNick.add(p);
    if (byNick.size > 1) {
      throw new ConfigError(`ambiguous peer "${nameOrNickname}": nickname of ${[...byNick].join(', ')}; use the peer name`);
    }
    if (byNick.size === 1) return [...byNick][0]!;
    try {
      return parsePeerName(nameOrNickname, 'peer');
    } catch {
      throw new ConfigError(`unknown peer "${nameOrNickname}": not a peer name or the nickname of a peer owning IP space`);
    }
  }

  private nicknameOf(p: PeerName): string {
    if (p === this.self) return this.peers.localNickname;
    return this.peers.nicknameOf(p) ?? this.nicknames.get(p) ?? '';
  }

  private label(p: PeerName): string {
    const n = this.nicknameOf(p);
    return n ? peerLabel(p, n) : p;
  }

  private encodeRing(ring: RingData, complete: boolean): Uint8Array {
    return encodeGossip({ start: this.universe.start, end: this.universe.end, complete, ring, paxos: undefined });
  }

  /**
   * Tells every peer about a change by broadcasting the whole ring, as Weave does. Never a part of it: a
   * range ends where the next token starts, so a peer that learns an entry without the token after it would
   * take its own range (or a dead peer's, on rmpeer) to extend to the next token it happens to know, and a
   * complete ring gossiped on from such a peer would spread that gap. Whole rings are snapshots, so whoever
   * knows an entry also knows where its range ends. Unchanged whole rings are skipped undecoded (onGossip).
   */
  private broadcastRing(changed: readonly RingEntry[], removed: readonly RemovedPeer[] = []): void {
    if (changed.length === 0 && removed.length === 0) return;
    this.gossipSender?.gossipBroadcast(this.fullRingGossip());
  }

  private broadcastPaxos(): void {
    if (!this.paxos) return;
    this.gossipSender?.gossipBroadcast(
      encodeGossip({ start: this.universe.start, end: this.universe.end, complete: false, ring: undefined, paxos: this.paxos.ownClaims() }),
    );
  }

  private sendRing(dst: PeerName): void {
    this.sendUnicast(dst, { kind: 'ring', start: this.universe.start, end: this.universe.end, ring: this.ring.toData() });
  }

  private sendUnicast(dst: PeerName, m: UnicastMsg): void {
    this.gossipSender?.gossipUnicast(dst, encodeUnicast(m));
  }
}

function mergeChanged(a: readonly RingEntry[], b: readonly RingEntry[]): RingEntry[] {
  const m = new Map<number, RingEntry>();
  for (const e of a) m.set(e.token, e);
  for (const e of b) m.set(e.token, e);
  return [...m.values()];
}
