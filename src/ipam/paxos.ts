// Single-decree Paxos over gossip, to agree once on which peers the IP allocation ring is seeded with
// (WEAVE-FACTS.md §8.1, Weave ipam/paxos). Every participant is proposer, acceptor and learner at once.
//
// The shared state is a map node → claims {promise, accepted, value}; each node only changes its own claims,
// and merging keeps, per node and per field, the higher proposal. Gossiping that map carries every Paxos
// message at once:
//   - prepare(p)          = a node setting its own promise to a fresh p = (round, itself)
//   - promise(p, acc)     = an acceptor setting its promise to p; its accepted/value ride along
//   - accept-request(p,v) = the proposer setting its own accepted to p with value v
//   - accepted(p, v)      = an acceptor copying (p, v)
// Consensus: a quorum of nodes have accepted the same proposal. The value is the sorted list of peers the
// proposer had heard from when a quorum promised (unless an earlier accepted value must be kept), so the
// ring is then split among at least `quorum` peers. A minority can never gather a quorum of promises, so it
// never decides. Acceptor state must survive restarts (it is persisted with the IPAM state).

import type { PeerName } from '../core/types.js';

export interface ProposalId {
  readonly round: number;
  /** '' for "none" (round 0). */
  readonly proposer: PeerName | '';
}

export interface NodeClaims {
  readonly promise: ProposalId;
  readonly accepted: ProposalId;
  /** The value of `accepted`, if any. */
  readonly value: readonly PeerName[] | undefined;
}

export type PaxosState = ReadonlyMap<PeerName, NodeClaims>;

export const NO_PROPOSAL: ProposalId = { round: 0, proposer: '' };
const EMPTY_CLAIMS: NodeClaims = { promise: NO_PROPOSAL, accepted: NO_PROPOSAL, value: undefined };

export function compareProposals(a: ProposalId, b: ProposalId): number {
  if (a.round !== b.round) return a.round < b.round ? -1 : 1;
  if (a.proposer === b.proposer) return 0;
  return a.proposer < b.proposer ? -1 : 1;
}

function sameClaims(a: NodeClaims, b: NodeClaims): boolean {
  return compareProposals(a.promise, b.promise) === 0 && compareProposals(a.accepted, b.accepted) === 0;
}

export class Paxos {
  readonly self: PeerName;
  readonly quorum: number;
  private readonly knows = new Map<PeerName, NodeClaims>();

  constructor(self: PeerName, quorum: number) {
    if (!Number.isInteger(quorum) || quorum < 1) throw new Error(`paxos quorum must be a positive integer, got ${quorum}`);
    this.self = self;
    this.quorum = quorum;
  }

  /** True once this node takes part (proposed, or answered someone's proposal). */
  get isParticipating(): boolean {
    return this.knows.has(this.self);
  }

  /** Nodes heard from (self included once participating). */
  get known(): number {
    return this.knows.size;
  }

  state(): PaxosState {
    return this.knows;
  }

  /** Joins as an acceptor without proposing (so our claims exist and are gossiped). */
  join(): void {
    if (!this.knows.has(this.self)) this.knows.set(this.self, EMPTY_CLAIMS);
  }

  /** Starts (or restarts) a proposal with a round above any seen. Call think() afterwards. */
  propose(): void {
    this.join();
    let round = 0;
    for (const c of this.knows.values()) round = Math.max(round, c.promise.round, c.accepted.round);
    const me = this.knows.get(this.self)!;
    this.knows.set(this.self, { ...me, promise: { round: round + 1, proposer: this.self } });
  }

  /** Merges claims from a peer. Returns the claims that were new to us (the delta), or undefined. */
  merge(incoming: PaxosState): Map<PeerName, NodeClaims> | undefined {
    const delta = new Map<PeerName, NodeClaims>();
    for (const [node, theirs] of incoming) {
      const ours = this.knows.get(node);
      if (!ours) {
        this.knows.set(node, theirs);
        delta.set(node, theirs);
        continue;
      }
      let next = ours;
      if (compareProposals(theirs.promise, ours.promise) > 0) next = { ...next, promise: theirs.promise };
      if (compareProposals(theirs.accepted, ours.accepted) > 0) next = { ...next, accepted: theirs.accepted, value: theirs.value };
      if (!sameClaims(next, ours)) {
        this.knows.set(node, next);
        delta.set(node, next);
      }
    }
    return delta.size > 0 ? delta : undefined;
  }

  /**
   * Runs our acceptor and proposer steps against what we know. Returns true if our own claims changed
   * (they must then be gossiped). No-op until we participate.
   */
  think(): boolean {
    const start = this.knows.get(this.self);
    if (!start) return false;
    let me = start;
    // Acceptor: promise to the highest proposal anyone has made.
    for (const c of this.knows.values()) {
      if (compareProposals(c.promise, me.promise) > 0) me = { ...me, promise: c.promise };
    }
    // Acceptor: accept the proposal we promised to, once its proposer asks (its own accepted = that proposal).
    for (const c of this.knows.values()) {
      if (c.value && compareProposals(c.accepted, me.promise) >= 0 && compareProposals(c.accepted, me.accepted) > 0) {
        me = { ...me, promise: c.accepted, accepted: c.accepted, value: c.value };
      }
    }
    // Proposer: our proposal is the highest; once a quorum promised it, ask them to accept a value.
    if (me.promise.proposer === this.self && compareProposals(me.accepted, me.promise) < 0) {
      const promisers = [...this.knows.entries()].filter(
        ([node, c]) => compareProposals(node === this.self ? me.promise : c.promise, me.promise) === 0,
      );
      if (promisers.length >= this.quorum) {
        let best: NodeClaims | undefined;
        for (const [node, c] of promisers) {
          const claims = node === this.self ? me : c;
          if (claims.value && (!best || compareProposals(claims.accepted, best.accepted) > 0)) best = claims;
        }
        const value = best?.value ?? [...this.knows.keys()].sort();
        me = { ...me, accepted: me.promise, value };
      }
    }
    if (sameClaims(me, start)) return false;
    this.knows.set(this.self, me);
    return true;
  }

  /** The decided value, once a quorum of nodes accepted the same proposal. */
  consensus(): readonly PeerName[] | undefined {
    const counts = new Map<string, number>();
    for (const c of this.knows.values()) {
      if (!c.value || c.accepted.round === 0) continue;
      const key = `${c.accepted.round}/${c.accepted.proposer}`;
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      if (n >= this.quorum) return c.value;
    }
    return undefined;
  }

  /** Our own claims only, for gossip after think() changed them. */
  ownClaims(): Map<PeerName, NodeClaims> {
    const me = this.knows.get(this.self);
    return me ? new Map([[this.self, me]]) : new Map();
  }
}

/** Weave's determineQuorum: N/2+1 for `consensus=N`, else a majority of (initial targets + this peer). */
export function determineQuorum(count: number | undefined, initialPeerCount: number): number {
  const n = count !== undefined && count > 0 ? count : Math.max(1, initialPeerCount);
  return Math.floor(n / 2) + 1;
}
