// The IPAM allocator: one per router, and the only IPAM object the daemon sees. A small coordinator: it holds
// the shared state (context.ts) and wires the parts that act on it, each testable alone:
//   claims.ts + persistence.ts  who holds which address; the state as bytes and back
//   pending.ts + requests.ts    requests waiting (timeout/abort, reason) and one attempt at answering them
//   donation.ts                 asking peers for space and giving it
//   bootstrap.ts                getting a ring: Paxos (consensus) or asking a peer (observer)
//   channel.ts                  the `ipam` gossip channel: range check, ring/Paxos merge, dispatch
//   departure.ts                rmpeer, leave, being removed
//   status.ts                   the status line and table
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

import { ConfigError, IpamConflictError } from '../core/errors.js';
import type { Gossip, Gossiper } from '../core/gossip.js';
import { type Cidr, type PeerName, formatCidr, formatIPv4, networkOf } from '../core/types.js';
import type { IpamStatus } from './status.js';
import { type AddrRange, reservedRole } from './addr-range.js';
import { Bootstrap } from './bootstrap.js';
import { IpamChannel } from './channel.js';
import { type Allocation, allocationOf } from './claims.js';
import { type AllocatorComponents, type AllocatorInit, type IpamMode, IpamContext } from './context.js';
import { type DepartureHooks, enterRemoved, leave, removedError, rmpeer } from './departure.js';
import { Donations } from './donation.js';
import { IpamError } from './errors.js';
import { PendingQueue, type WaitOptions } from './pending.js';
import { encodeState, restoreState } from './persistence.js';
import { allocationWindow, attempt, checkContainerId } from './requests.js';
import type { RingData } from './ring.js';
import { type StatusInputs, statusLine, statusReport } from './status.js';

export type { Allocation } from './claims.js';
export type { AllocatorComponents, AllocatorInit, IpamMode } from './context.js';
export type { WaitOptions } from './pending.js';
export {
  STATUS_READY, STATUS_IDLE, STATUS_PRIMING, STATUS_UNREACHABLE, STATUS_WAITING_GRANT, STATUS_WAITING_IPS, statusAwaitingConsensus,
} from './status.js';

export interface AllocateOptions extends WaitOptions {
  /** Subnet to allocate in (`net:CIDR`). @default the default subnet */
  subnet?: Cidr;
}

export class Allocator implements Gossiper {
  private readonly ctx: IpamContext;
  private readonly queue: PendingQueue;
  private readonly bootstrap: Bootstrap;
  private readonly donations: Donations;
  private readonly channel: IpamChannel;
  private readonly departure: DepartureHooks;
  private readonly statusInputs: StatusInputs;
  private started = false;
  private cancelTick: (() => void) | undefined;
  private unsubscribePeers: (() => void) | undefined;
  /** Told when an allocate/claim/prime leaves the queue, and how long it waited (metrics). */
  onRequestSettled: ((kind: 'allocate' | 'claim' | 'prime', ok: boolean, waitedMs: number) => void) | undefined;

  constructor(components: AllocatorComponents, init: AllocatorInit) {
    const ctx = (this.ctx = new IpamContext(components, init));
    this.bootstrap = new Bootstrap(ctx, { hasWaiting: () => this.queue.size > 0 });
    this.donations = new Donations(ctx, {
      mergeRing: (src, ring) => void this.channel.mergeRing(src, ring, true),
      retry: () => this.tryPending(),
      exactDenied: (addr, reason) =>
        this.queue.failAll(
          (p) => new IpamConflictError(`cannot claim ${formatCidr(p.subnet)} for ${p.containerId}: ${reason}`),
          (p) => p.kind === 'claim' && p.addr === addr,
        ),
    });
    this.queue = new PendingQueue(ctx.clock, ctx.timing.waitTimeoutMs, {
      attempt: (p) =>
        attempt(ctx, p, {
          finish: (q, r) => this.queue.finish(q, r),
          bootstrap: () => this.bootstrap.step(),
          requestSpace: (w, exact) => this.donations.request(w, exact),
          removedError: () => removedError(ctx),
        }),
      hint: (reason) => this.bootstrap.hint(reason),
      afterAttempts: (changed) => {
        if (changed || ctx.dirty) ctx.persist();
      },
      settled: (kind, ok, ms) => this.onRequestSettled?.(kind, ok, ms),
    });
    this.departure = {
      abortAll: (err) => {
        this.donations.cancelAll();
        this.queue.failAll(err);
        this.bootstrap.stop();
      },
      retry: () => this.tryPending(),
      statusLine: () => this.statusString(),
    };
    this.channel = new IpamChannel(ctx, this.bootstrap, this.donations, {
      retry: () => this.tryPending(),
      removed: (tomb) => enterRemoved(ctx, tomb, this.departure),
    });
    this.statusInputs = {
      bootstrapReason: () => this.bootstrap.reason(),
      waitingReason: () => this.queue.find((p) => p.kind !== 'prime')?.reason,
    };
    ctx.log.debug({ range: formatCidr(this.range), mode: init.mode.kind, quorum: this.quorum || undefined }, 'ipam allocator created');
  }

  get self(): PeerName {
    return this.ctx.self;
  }
  get range(): Cidr {
    return this.ctx.range;
  }
  get universe(): AddrRange {
    return this.ctx.universe;
  }
  get defaultSubnet(): Cidr {
    return this.ctx.defaultSubnet;
  }
  get mode(): IpamMode {
    return this.ctx.mode;
  }
  get quorum(): number {
    return this.ctx.quorum;
  }

  setGossip(g: Gossip): void {
    this.ctx.gossipSender = g;
  }

  /** Arms the housekeeping timer and follows membership changes. Call restore() first if there is state. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.unsubscribePeers = this.ctx.peers.onPeersChanged(() => this.onPeersChanged());
    this.ctx.learnNicknames();
    this.armTick();
  }

  /** Cancels timers; waiting requests are rejected. */
  stop(): void {
    this.started = false;
    this.cancelTick?.();
    this.bootstrap.stop();
    this.unsubscribePeers?.();
    this.donations.cancelAll();
    this.queue.failAll((p) => new IpamError(`IP allocator stopped while ${p.reason}`));
  }

  /** The bytes to persist now (ring, Paxos acceptor state, claims). */
  persistedState(): Uint8Array {
    return encodeState(this.ctx);
  }

  /**
   * Loads persisted state; call once, before start() and before any allocation. Throws ConfigError when the
   * state belongs to another peer, range or seed list (the message says how to start fresh), ProtocolError
   * when the bytes are corrupt, IpamConflictError when they are inconsistent.
   */
  restore(bytes: Uint8Array): void {
    if (this.ctx.used || this.started) throw new Error('restore() must be called before start() and before any allocation');
    restoreState(this.ctx, bytes);
  }

  // ---------------------------------------------------------------------------------------------
  // Requests.

  /**
   * An address for `containerId` in the subnet (default subnet if none). Returns the container's existing
   * address in that subnet if it has one. Waits for consensus or a donation when needed; rejects with
   * IpamError on timeout/abort (the message says what it was waiting for), ConfigError for a bad subnet.
   */
  async allocate(containerId: string, opts: AllocateOptions = {}): Promise<Allocation> {
    checkContainerId(containerId);
    const subnet = networkOf(opts.subnet ?? this.defaultSubnet);
    const window = allocationWindow(this.ctx, subnet);
    // Fast path: space of our own (or an existing address) needs no waiting machinery.
    if (!this.ctx.ring.isEmpty && !this.ctx.removedBy && !this.queue.find((p) => p.containerId === containerId)) {
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
    checkContainerId(containerId);
    const s = networkOf(subnet);
    const window = allocationWindow(this.ctx, s);
    this.ctx.used = true;
    const existing = this.ctx.claims.findIn(containerId, s);
    if (existing) return existing;
    if (this.ctx.removedBy) return undefined;
    const addr = this.ctx.space.allocate(window);
    if (addr === undefined) return undefined;
    const a = allocationOf(addr, s.prefix);
    this.ctx.claims.record(containerId, a);
    this.ctx.persist();
    return a;
  }

  /**
   * Claims a specific address (`ip:CIDR`) for `containerId`, e.g. re-claiming addresses found on containers
   * after a restart. An address owned by another peer is requested from it; an address outside the allocation
   * range is recorded without coordination (the user manages it). Rejects with IpamConflictError when the
   * address is in use by another container or its owner refuses or is unreachable.
   */
  async claim(containerId: string, cidr: Cidr, opts: WaitOptions = {}): Promise<void> {
    checkContainerId(containerId);
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
    const freed = this.ctx.claims.remove(containerId, addr);
    for (const a of freed) this.ctx.space.release(a.addr);
    if (addr === undefined) {
      this.queue.failAll(
        new IpamError(`request for ${containerId} cancelled: the container's addresses were freed`),
        (q) => q.containerId === containerId && q.kind !== 'prime',
      );
    }
    if (freed.length > 0) {
      this.ctx.persist();
      this.ctx.log.debug({ container: containerId, addrs: freed.map((a) => a.cidr) }, 'ipam freed');
      this.tryPending();
    }
    return freed;
  }

  private wait(spec: Parameters<PendingQueue['wait']>[0], opts: WaitOptions, what: string): Promise<Allocation | undefined> {
    this.ctx.used = true;
    return this.queue.wait(spec, opts, what);
  }

  private tryPending(): void {
    this.queue.tryAll();
  }

  // ---------------------------------------------------------------------------------------------
  // Views.

  /** Requests waiting, by kind (Weave's weave_ipam_pending_allocates / _claims). */
  pendingCounts(): { allocate: number; claim: number } {
    return { allocate: this.queue.count('allocate'), claim: this.queue.count('claim') };
  }

  lookup(containerId: string): Allocation[] {
    return this.ctx.claims.lookup(containerId);
  }

  /** Every container with addresses, and the addresses. */
  containersInUse(): Array<{ containerId: string; addrs: Allocation[] }> {
    return this.ctx.claims.containers();
  }

  /** Ranges this peer owns. */
  owned(): AddrRange[] {
    return this.ctx.space.ownedRanges();
  }

  /** A copy of the ring as data (tests, /report). */
  ringData(): RingData {
    return this.ctx.ring.toData();
  }

  get isRemoved(): boolean {
    return this.ctx.removedBy !== undefined;
  }

  /** The last conflicting update that was rejected, if any (for logs/status). */
  lastError(): Error | undefined {
    return this.ctx.lastConflict;
  }

  status(): IpamStatus {
    return statusReport(this.ctx, this.statusInputs);
  }

  statusString(): string {
    return statusLine(this.ctx, this.statusInputs);
  }

  checkInvariants(): Error | undefined {
    const { ring, space, claims, removedBy } = this.ctx;
    const r = ring.checkInvariants();
    if (r) return r;
    const s = space.checkInvariants();
    if (s) return s;
    if (!removedBy) {
      const mine = ring.rangesOf(this.self);
      const owned = space.ownedRanges();
      if (JSON.stringify(mine) !== JSON.stringify(owned)) return new Error('space is out of step with the ring');
    }
    for (const [addr, c] of claims.addrs()) {
      if (ring.contains(addr) && !removedBy && !space.isUsed(addr)) {
        return new Error(`${formatIPv4(addr)} claimed by ${c} but not marked used`);
      }
    }
    return undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Membership: see departure.ts.

  /** Takes over the space of a dead peer (name or nickname); returns the number of addresses taken. */
  rmpeer(nameOrNickname: string): number {
    return rmpeer(this.ctx, nameOrNickname, this.departure);
  }

  /** Leaving the cluster ('tsweave reset'): gives every range of ours to one reachable peer. */
  leave(): { heir: PeerName | undefined; ips: number } {
    return leave(this.ctx, this.departure);
  }

  // ---------------------------------------------------------------------------------------------
  // Gossiper: see channel.ts.

  gossip(): Uint8Array | undefined {
    return this.channel.gossip();
  }

  onGossip(src: PeerName, data: Uint8Array): Uint8Array | undefined {
    return this.channel.onGossip(src, data);
  }

  onGossipBroadcast(src: PeerName, data: Uint8Array): Uint8Array | undefined {
    return this.channel.onGossip(src, data);
  }

  onGossipUnicast(src: PeerName, data: Uint8Array): void {
    this.channel.onGossipUnicast(src, data);
  }

  // ---------------------------------------------------------------------------------------------
  // Housekeeping.

  private armTick(): void {
    this.cancelTick = this.ctx.clock.setTimer(this.ctx.timing.tickMs, () => {
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
    const ctx = this.ctx;
    if (ctx.removedBy) return;
    if (!ctx.ring.isEmpty) {
      const changed = ctx.ring.reportFree((r) => ctx.space.numFree(r), true);
      if (changed.length > 0) {
        ctx.persist();
        ctx.broadcastRing(changed);
      }
    }
    this.tryPending();
  }

  private onPeersChanged(): void {
    this.ctx.learnNicknames();
    this.donations.dropUnreachable();
    this.tryPending();
  }
}
