// Peers leaving the ring: rmpeer (we take over a dead peer's space and tombstone it), leave (we hand all our
// space to one reachable peer on 'tsweave reset'), and being removed ourselves (a tombstone for us arrived:
// from then on every request is refused with the reason and the way out).
import { ConfigError, IpamConflictError } from '../core/errors.js';
import { type PeerName, parsePeerName } from '../core/types.js';
import { type IpamContext, mergeChanged } from './context.js';
import { IpamError } from './errors.js';
import type { RemovedPeer } from './ring.js';

export interface DepartureHooks {
  /** Cancels everything in flight (donation requests, Paxos retries) and rejects every waiting request with `err`. */
  abortAll(err: Error): void;
  /** Waiting requests should be tried again (we own more now). */
  retry(): void;
  /** The one-line status, for errors that say why nothing can be done yet. */
  statusLine(): string;
}

/**
 * Takes over the space of a dead peer (name or nickname) and returns the number of addresses taken.
 * Refuses ourselves, reachable peers and unknown names. The removed peer is tombstoned in the ring: if it
 * comes back with its old state it is refused; with fresh state it joins as a new peer.
 */
export function rmpeer(ctx: IpamContext, nameOrNickname: string, hooks: DepartureHooks): number {
  if (ctx.removedBy) throw removedError(ctx);
  if (ctx.ring.isEmpty) {
    throw new IpamError(`cannot rmpeer ${nameOrNickname}: IP allocation is not initialised yet (${hooks.statusLine()})`);
  }
  const target = resolvePeer(ctx, nameOrNickname);
  if (target === ctx.self) {
    throw new ConfigError(`cannot rmpeer ${nameOrNickname}: that is this peer; use 'tsweave reset' to leave the cluster`);
  }
  if (ctx.peers.isReachable(target)) {
    throw new ConfigError(
      `cannot rmpeer ${ctx.label(target)}: it is reachable, and rmpeer is only for dead peers; stop it first (or run 'tsweave reset' on it)`,
    );
  }
  const { ips, changed, removed } = ctx.ring.takeOver(target);
  ctx.afterOwnershipChange();
  const freeChanged = ctx.ring.reportFree((r) => ctx.space.numFree(r));
  ctx.persist();
  ctx.broadcastRing(mergeChanged(changed, freeChanged), [removed]);
  ctx.log.info({ peer: ctx.label(target), ips }, 'ipam took over the space of a removed peer');
  hooks.retry();
  return ips;
}

/**
 * Leaving the cluster (Weave's `DELETE /peer`, sent by `reset`): hands every range of ours to one reachable
 * peer (an owner of space if any is reachable), forgets our claims and refuses further requests. Returns
 * the heir and the number of addresses given; no heir when no peer is reachable (then the space stays
 * ours until someone runs rmpeer) or when we own nothing.
 */
export function leave(ctx: IpamContext, hooks: DepartureHooks): { heir: PeerName | undefined; ips: number } {
  if (ctx.leaving) return { heir: undefined, ips: 0 };
  ctx.leaving = true;
  hooks.abortAll(new IpamError(`peer ${ctx.label(ctx.self)} is leaving the cluster ('tsweave reset')`));
  if (ctx.removedBy || ctx.ring.isEmpty || ctx.space.numOwned === 0) return { heir: undefined, ips: 0 };
  const reachable = ctx.peers.reachablePeers().filter((p) => p !== ctx.self && !ctx.ring.removedRecord(p));
  if (reachable.length === 0) {
    ctx.log.warn('ipam leaving with no reachable peer: our ranges stay ours until a peer runs rmpeer on us');
    return { heir: undefined, ips: 0 };
  }
  const owners = reachable.filter((p) => ctx.ring.ownership().has(p)).sort();
  const heir = owners[0] ?? [...reachable].sort()[0]!;
  const { ips, changed } = ctx.ring.transferAll(heir);
  ctx.claims.clear();
  ctx.afterOwnershipChange();
  ctx.persist();
  ctx.broadcastRing(changed);
  ctx.log.info({ heir: ctx.label(heir), ips }, 'ipam gave all its ranges away on leaving');
  return { heir, ips };
}

/** A tombstone for us arrived: some peer ran rmpeer on us while we were away. */
export function enterRemoved(ctx: IpamContext, tomb: RemovedPeer, hooks: DepartureHooks): void {
  ctx.removedBy = tomb.by;
  ctx.dirty = true;
  const err = removedError(ctx);
  ctx.lastConflict = err;
  ctx.log.error({ err, by: tomb.by }, 'ipam this peer was removed by rmpeer while it was away');
  hooks.abortAll(err);
}

export function removedError(ctx: IpamContext): IpamConflictError {
  return new IpamConflictError(
    `this peer (${ctx.label(ctx.self)}) was removed from the IP allocation ring by 'rmpeer' on ${ctx.label(ctx.removedBy!)} ` +
      `while it was away, and its address ranges now belong to other peers; run 'tsweave reset' on this host ` +
      `(containers keep addresses that may now be reused elsewhere) and launch it again`,
    { fields: { by: ctx.removedBy } },
  );
}

/** A peer name, or the nickname of exactly one peer we know (owning space, or seen before). */
function resolvePeer(ctx: IpamContext, nameOrNickname: string): PeerName {
  const byNick = new Set<PeerName>();
  const known = new Set<PeerName>([...ctx.ring.ownership().keys(), ...ctx.nicknames.keys()]);
  for (const p of known) if (ctx.nicknameOf(p) === nameOrNickname) byNick.add(p);
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
