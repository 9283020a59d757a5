// Getting a ring when there is none: consensus mode runs Paxos with the other initial peers (propose, merge
// their claims, retry with jitter, create the ring on consensus); observer mode asks a peer for its ring
// ("priming"). Seed mode never gets here: its ring exists from the start (context.ts).
import type { PeerName } from '../core/types.js';
import type { IpamContext } from './context.js';
import { encodeGossip } from './messages.js';
import type { NodeClaims, Paxos, PaxosState } from './paxos.js';
import { STATUS_IDLE, STATUS_PRIMING, statusAwaitingConsensus } from './status.js';

export interface BootstrapHooks {
  /** True while requests wait: a failed proposal is retried only for them. */
  hasWaiting(): boolean;
}

export class Bootstrap {
  private cancelRetry: (() => void) | undefined;
  private lastRingAsk = -Infinity;

  constructor(
    private readonly ctx: IpamContext,
    private readonly hooks: BootstrapHooks,
  ) {}

  /** Starts or continues getting a ring; returns the reason we wait. */
  step(): string {
    const ctx = this.ctx;
    if (ctx.mode.kind === 'observer') {
      this.askForRing(undefined);
      return STATUS_PRIMING;
    }
    const paxos = ctx.paxos!;
    if (!this.cancelRetry) {
      // Someone else's proposal is under way: give it a chance before competing with a higher round.
      const promised = paxos.isParticipating ? paxos.ownClaims().get(ctx.self)!.promise.proposer : '';
      if (promised !== '' && promised !== ctx.self) this.armRetry();
      else this.propose();
    }
    return statusAwaitingConsensus(ctx.quorum, paxos.known);
  }

  /** Why there is no ring yet, for status. */
  reason(): string {
    if (this.ctx.mode.kind === 'observer') return STATUS_PRIMING;
    if (this.ctx.paxos?.isParticipating) return statusAwaitingConsensus(this.ctx.quorum, this.ctx.paxos.known);
    return STATUS_IDLE;
  }

  /** What the user can do about a wait that timed out (Weave's silent IPAM hangs, #1559). */
  hint(reason: string): string {
    if (reason.startsWith('awaiting consensus')) {
      return ` - consensus needs ${this.ctx.quorum} of the initial peers running and connected to each other ` +
        `(check 'tsweave status peers'; the count comes from the peers given to launch, or --ipalloc-init consensus=N)`;
    }
    if (reason === STATUS_PRIMING) return ' - an observer needs a connection to a peer that has joined the ring';
    return '';
  }

  /** Stops retrying: the ring arrived, or we were removed or are leaving. */
  stop(): void {
    this.cancelRetry?.();
  }

  /** Asks a peer (`preferred`, else a random reachable one, at most once per request timeout) for its ring. */
  askForRing(preferred: PeerName | undefined): void {
    const ctx = this.ctx;
    const now = ctx.clock.now();
    if (preferred === undefined && now - this.lastRingAsk < ctx.timing.requestTimeoutMs) return;
    const others = ctx.peers.reachablePeers().filter((p) => p !== ctx.self);
    const dst = preferred ?? others[ctx.rng.int(Math.max(1, others.length))];
    if (!dst) return;
    this.lastRingAsk = now;
    ctx.sendUnicast(dst, { kind: 'ring?', start: ctx.universe.start, end: ctx.universe.end });
  }

  /** Merges a peer's Paxos state; returns what was new (to gossip on), or undefined. */
  mergePaxos(incoming: PaxosState): Map<PeerName, NodeClaims> | undefined {
    const paxos = this.ctx.paxos!;
    const delta = paxos.merge(incoming) ?? new Map();
    if (delta.size > 0 && !paxos.isParticipating) paxos.join();
    const changed = paxos.think();
    if (changed) {
      for (const [k, v] of paxos.ownClaims()) delta.set(k, v);
      this.ctx.dirty = true;
      this.broadcastPaxos();
    }
    if (delta.size > 0) this.ctx.dirty = true;
    this.checkConsensus();
    return delta.size > 0 ? delta : undefined;
  }

  /** Our Paxos state as gossip while there is no ring (full state, or just `claims`). */
  paxosGossip(claims?: Map<PeerName, NodeClaims>): Uint8Array | undefined {
    const ctx = this.ctx;
    if (!ctx.paxos) return undefined;
    if (!claims && !ctx.paxos.isParticipating) return undefined;
    const paxos = claims ?? ctx.paxos.state();
    return encodeGossip({ start: ctx.universe.start, end: ctx.universe.end, complete: false, ring: undefined, paxos });
  }

  private propose(): void {
    const paxos: Paxos = this.ctx.paxos!;
    paxos.propose();
    paxos.think();
    this.ctx.dirty = true;
    this.ctx.log.debug({ quorum: this.ctx.quorum, known: paxos.known }, 'ipam paxos proposing');
    this.broadcastPaxos();
    this.checkConsensus();
    this.armRetry();
  }

  private armRetry(): void {
    const ctx = this.ctx;
    this.cancelRetry?.();
    if (!ctx.ring.isEmpty) return;
    const ms = ctx.timing.paxosRetryMs * (1 + ctx.rng.float());
    const cancel = ctx.clock.setTimer(ms, () => {
      if (this.cancelRetry !== cancel) return;
      this.cancelRetry = undefined;
      if (!ctx.ring.isEmpty || ctx.removedBy) return;
      if (this.hooks.hasWaiting()) {
        this.propose();
        ctx.persistIfDirty();
      }
    });
    this.cancelRetry = cancel;
  }

  private broadcastPaxos(): void {
    const ctx = this.ctx;
    if (!ctx.paxos) return;
    ctx.gossipSender?.gossipBroadcast(
      encodeGossip({ start: ctx.universe.start, end: ctx.universe.end, complete: false, ring: undefined, paxos: ctx.paxos.ownClaims() }),
    );
  }

  private checkConsensus(): void {
    const ctx = this.ctx;
    if (!ctx.paxos || !ctx.ring.isEmpty) return;
    const value = ctx.paxos.consensus();
    if (!value) return;
    ctx.ring.claimForPeers(value);
    ctx.afterOwnershipChange();
    this.cancelRetry?.();
    ctx.dirty = true;
    ctx.log.info({ peers: value.length, quorum: ctx.quorum }, 'ipam consensus reached; ring created');
    ctx.broadcastRing(ctx.ring.entries());
  }
}
