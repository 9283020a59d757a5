// The state every part of the allocator shares: the ring, our space, the claims, the Paxos acceptor, the
// removed/leaving flags, and the few helpers they all use (peer labels, sending, persisting, re-deriving our
// space from the ring). Parts (claims, donation, bootstrap, pending, channel, departure, status) hold only
// their own transient bookkeeping and act on this; allocator.ts wires them. Pure (DESIGN.md §2, §5).
import type { Logger } from 'pino';
import { ConfigError } from '../core/errors.js';
import type { Gossip, PeerDirectory } from '../core/gossip.js';
import type { Clock, Rng } from '../core/ports.js';
import { type Cidr, type PeerName, cidrsOverlap, formatCidr, formatIPv4, isPeerName, networkOf, peerLabel } from '../core/types.js';
import { type AddrRange, cidrRange, intersect } from './addr-range.js';
import { Claims } from './claims.js';
import {
  IPAM_ALLOCATE_TIMEOUT_MS, IPAM_DONOR_BACKOFF_MS, IPAM_PAXOS_RETRY_MS, IPAM_SPACE_REQUEST_TIMEOUT_MS, IPAM_TICK_MS,
} from './constants.js';
import { type UnicastMsg, encodeGossip, encodeUnicast } from './messages.js';
import { Paxos, determineQuorum } from './paxos.js';
import { encodeState } from './persistence.js';
import { type RemovedPeer, type RingEntry, Ring } from './ring.js';
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

export class IpamContext {
  readonly clock: Clock;
  readonly rng: Rng;
  readonly log: Logger;
  readonly peers: PeerDirectory;
  gossipSender: Gossip | undefined;
  private readonly onPersist: ((bytes: Uint8Array) => void) | undefined;

  readonly self: PeerName;
  readonly range: Cidr;
  readonly universe: AddrRange;
  readonly defaultSubnet: Cidr;
  readonly mode: IpamMode;
  readonly quorum: number;
  readonly timing: { tickMs: number; requestTimeoutMs: number; paxosRetryMs: number; waitTimeoutMs: number; donorBackoffMs: number };

  ring: Ring;
  readonly paxos: Paxos | undefined;
  space = new Space();
  readonly claims = new Claims();
  readonly nicknames = new Map<PeerName, string>();
  /** Set when a peer ran rmpeer on us while we were away: we refuse everything. */
  removedBy: PeerName | undefined;
  /** Set by leave(): the ranges were given away; every request is refused. */
  leaving = false;
  lastConflict: Error | undefined;
  /** Set by the first allocation: restore() is refused from then on. */
  used = false;
  /** Set while a public operation runs, so persistence happens once at its end. */
  dirty = false;
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
    this.timing = {
      tickMs: init.tickMs ?? IPAM_TICK_MS,
      requestTimeoutMs: init.spaceRequestTimeoutMs ?? IPAM_SPACE_REQUEST_TIMEOUT_MS,
      paxosRetryMs: init.paxosRetryMs ?? IPAM_PAXOS_RETRY_MS,
      waitTimeoutMs: init.allocateTimeoutMs ?? IPAM_ALLOCATE_TIMEOUT_MS,
      donorBackoffMs: init.donorBackoffMs ?? IPAM_DONOR_BACKOFF_MS,
    };

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
  }

  // Persistence.

  persist(): void {
    this.dirty = false;
    this.onPersist?.(encodeState(this));
  }

  persistIfDirty(): void {
    if (this.dirty) this.persist();
  }

  // Peers.

  nicknameOf(p: PeerName): string {
    if (p === this.self) return this.peers.localNickname;
    return this.peers.nicknameOf(p) ?? this.nicknames.get(p) ?? '';
  }

  label(p: PeerName): string {
    const n = this.nicknameOf(p);
    return n ? peerLabel(p, n) : p;
  }

  /** Remembers the nicknames of reachable peers, so status can name them after they go away. */
  learnNicknames(): void {
    for (const p of this.peers.reachablePeers()) {
      const n = this.peers.nicknameOf(p);
      if (n !== undefined && this.nicknames.get(p) !== n) this.nicknames.set(p, n);
    }
  }

  /** True if no reachable peer (nor we) owns space in `window`, and some unreachable peer does. */
  ownersAllUnreachable(window: AddrRange): boolean {
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

  // Ownership.

  /** Re-derives our space from the ring after any change of ownership; logs addresses in use we no longer own. */
  afterOwnershipChange(): void {
    const orphans = this.space.setOwned(this.ring.rangesOf(this.self));
    for (const a of orphans) {
      if (this.ring.contains(a)) {
        this.log.error(
          { addr: formatIPv4(a), container: this.claims.holder(a), owner: this.ring.owner(a) },
          'ipam address in use here is no longer in a range this peer owns',
        );
      }
    }
  }

  // Sending.

  sendUnicast(dst: PeerName, m: UnicastMsg): void {
    this.gossipSender?.gossipUnicast(dst, encodeUnicast(m));
  }

  sendRing(dst: PeerName): void {
    this.sendUnicast(dst, { kind: 'ring', start: this.universe.start, end: this.universe.end, ring: this.ring.toData() });
  }

  /**
   * Tells every peer about a change by broadcasting the whole ring, as Weave does. Never a part of it: a
   * range ends where the next token starts, so a peer that learns an entry without the token after it would
   * take its own range (or a dead peer's, on rmpeer) to extend to the next token it happens to know, and a
   * complete ring gossiped on from such a peer would spread that gap. Whole rings are snapshots, so whoever
   * knows an entry also knows where its range ends. Unchanged whole rings are skipped undecoded (channel.ts).
   */
  broadcastRing(changed: readonly RingEntry[], removed: readonly RemovedPeer[] = []): void {
    if (changed.length === 0 && removed.length === 0) return;
    this.gossipSender?.gossipBroadcast(this.fullRingGossip());
  }

  /** Our whole ring as gossip, encoded once per ring change. */
  fullRingGossip(): Uint8Array {
    if (this.fullGossip?.changes !== this.ring.changeCount) {
      const ring = this.ring.toData();
      this.fullGossip = {
        changes: this.ring.changeCount,
        bytes: encodeGossip({ start: this.universe.start, end: this.universe.end, complete: true, ring, paxos: undefined }),
      };
    }
    return this.fullGossip.bytes;
  }

  /** The bytes of fullRingGossip() if they are still current, without encoding anything. */
  cachedRingGossip(): Uint8Array | undefined {
    return this.fullGossip?.changes === this.ring.changeCount ? this.fullGossip.bytes : undefined;
  }

  /** The ring object was replaced (restore): its change count starts again, so the cache must go. */
  forgetRingGossip(): void {
    this.fullGossip = undefined;
  }
}

/** Merges two lists of changed entries, the later winning per token. */
export function mergeChanged(a: readonly RingEntry[], b: readonly RingEntry[]): RingEntry[] {
  const m = new Map<number, RingEntry>();
  for (const e of a) m.set(e.token, e);
  for (const e of b) m.set(e.token, e);
  return [...m.values()];
}
