// The allocator's state as bytes and back: what is persisted (ring, Paxos acceptor state while there is no
// ring, claims, the rmpeer tombstone on us, nicknames) and the checks that refuse state from another peer,
// range or seed list, or state that contradicts itself, before any of it is used.
import { ConfigError, IpamConflictError } from '../core/errors.js';
import { formatCidr, formatIPv4 } from '../core/types.js';
import { formatRange } from './addr-range.js';
import { allocationOf } from './claims.js';
import type { IpamContext } from './context.js';
import { type PersistedClaim, decodePersisted, encodePersisted } from './messages.js';
import { Ring, formatPeerList } from './ring.js';
import { Space } from './space.js';

const RESET_HINT = "run 'tsweave reset' (or remove the IPAM state from the data dir) to start this peer afresh";

/** The bytes to persist now. */
export function encodeState(ctx: IpamContext): Uint8Array {
  const claims: PersistedClaim[] = [];
  for (const { containerId, addrs } of ctx.claims.containers()) {
    for (const a of addrs) claims.push({ containerId, addr: a.addr, prefix: a.prefix });
  }
  return encodePersisted({
    self: ctx.self,
    start: ctx.universe.start,
    end: ctx.universe.end,
    ring: ctx.ring.isEmpty ? undefined : ctx.ring.toData(),
    paxos: ctx.ring.isEmpty && ctx.paxos?.isParticipating ? ctx.paxos.state() : undefined,
    claims,
    removedBy: ctx.removedBy,
    nicknames: [...ctx.nicknames],
  });
}

/**
 * Loads persisted state into `ctx`. Throws ConfigError when the state belongs to another peer, range or seed
 * list (the message says how to start fresh), ProtocolError when the bytes are corrupt, IpamConflictError
 * when they are inconsistent.
 */
export function restoreState(ctx: IpamContext, bytes: Uint8Array): void {
  const s = decodePersisted(bytes);
  if (s.self !== ctx.self) {
    throw new ConfigError(`the persisted IPAM state belongs to peer ${s.self}, but this router is ${ctx.self}: ${RESET_HINT}`);
  }
  if (s.start !== ctx.universe.start || s.end !== ctx.universe.end) {
    const was = formatRange({ start: s.start, end: s.end });
    throw new ConfigError(
      `the persisted IPAM state was created with --ipalloc-range ${was}, but this router was launched with ` +
        `${formatCidr(ctx.range)}: launch with the old range, or ${RESET_HINT}`,
    );
  }
  if (s.ring && ctx.mode.kind === 'seed' && formatPeerList(s.ring.seeds) !== formatPeerList(ctx.ring.seeds)) {
    throw new ConfigError(
      `the persisted IPAM state was seeded by ${formatPeerList(s.ring.seeds)}, but this router was launched with ` +
        `--ipalloc-init seed=${ctx.ring.seeds.join(',')}: every peer must keep the same seed list; ${RESET_HINT}`,
    );
  }
  ctx.ring = s.ring ? Ring.fromData(s.ring, ctx.self) : new Ring(ctx.universe, ctx.self);
  ctx.forgetRingGossip();
  if (ctx.ring.isEmpty && ctx.mode.kind === 'seed') ctx.ring.claimForPeers(ctx.mode.peers);
  if (s.paxos && ctx.paxos && ctx.ring.isEmpty) ctx.paxos.merge(s.paxos);
  ctx.space = new Space();
  ctx.space.setOwned(ctx.ring.rangesOf(ctx.self));
  ctx.claims.clear();
  for (const c of s.claims) {
    if (ctx.ring.contains(c.addr)) {
      const owner = ctx.ring.owner(c.addr);
      if (owner !== ctx.self || !ctx.space.take(c.addr)) {
        throw new IpamConflictError(
          `the persisted IPAM state is inconsistent: ${formatIPv4(c.addr)} is claimed by container ${c.containerId} ` +
            `but owned by ${owner ?? 'nobody'} (or claimed twice); ${RESET_HINT}`,
        );
      }
    }
    ctx.claims.record(c.containerId, allocationOf(c.addr, c.prefix));
  }
  ctx.removedBy = s.removedBy;
  for (const [p, n] of s.nicknames) ctx.nicknames.set(p, n);
  ctx.log.info({ ranges: ctx.space.ownedRanges().length, claims: s.claims.length }, 'ipam initialised with persisted data');
}
