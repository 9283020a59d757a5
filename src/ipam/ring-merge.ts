// Merging a ring or delta received from a peer into ours (DESIGN.md §5, Weave ipam/ring Merge): a
// per-token union keeping the higher version, and the union of tombstones. The result is only a
// proposal: anything that would take a range from us, insert a token inside one of ours, disagree at
// equal versions, or break the ring's invariants throws IpamConflictError (or IpamMismatchError for a
// different range or seed list) and the caller's ring stays as it was.

import { IpamConflictError } from '../core/errors.js';
import { formatIPv4, type PeerName } from '../core/types.js';
import { formatRange } from './addr-range.js';
import { IpamMismatchError } from './errors.js';
import { checkRingInvariants, formatPeerList, mergeRemoved, sameEntry, sameRemoved, sameSeeds } from './ring-data.js';
import type { RemovedPeer, RingData, RingEntry, RingState } from './ring-data.js';

/** The merged ring (to commit) and what was new in it (to gossip on). */
export interface RingMerge {
  state: RingState & { list: RingEntry[]; seeds: PeerName[]; tombs: Map<PeerName, RemovedPeer> };
  changed: RingEntry[];
  changedTombs: RemovedPeer[];
}

/**
 * Merges `incoming` into `ours` (the ring of `self`). Returns undefined when nothing is new.
 * Throws IpamConflictError / IpamMismatchError when the data conflicts with ours.
 */
export function mergeRing(ours: RingState, self: PeerName, incoming: RingData): RingMerge | undefined {
  const isEmpty = ours.list.length === 0;
  if (incoming.start !== ours.start || incoming.end !== ours.end) {
    const [mine, theirs] = [formatRange(ours), formatRange({ start: incoming.start, end: incoming.end })];
    throw new IpamMismatchError('range', mine, theirs, `Incompatible IP allocation ranges (received: ${theirs}, ours: ${mine})`, {
      fields: { self },
    });
  }
  if (incoming.entries.length === 0 && incoming.removed.length === 0) return undefined;
  if (incoming.entries.length > 0) {
    if (incoming.seeds.length === 0) {
      throw new IpamConflictError('Received IP allocation ring entries without the peers it was seeded by');
    }
    if (!isEmpty && !sameSeeds(incoming.seeds, ours.seeds)) {
      const [mine, theirs] = [formatPeerList(ours.seeds), formatPeerList(incoming.seeds)];
      throw new IpamMismatchError('seeds', mine, theirs, `IP allocation was seeded by different peers (received: ${theirs}, ours: ${mine})`, {
        fields: { self },
      });
    }
  }

  const mine = ours.list;
  const theirs = incoming.entries;
  const result: RingEntry[] = [];
  const changed: RingEntry[] = [];
  let i = 0;
  let j = 0;
  // The entry of ours whose range the current incoming token falls in.
  let ourFloor: RingEntry | undefined;
  while (i < mine.length || j < theirs.length) {
    const m = mine[i];
    const t = theirs[j];
    if (m && (!t || m.token < t.token)) {
      result.push(m);
      ourFloor = m;
      i++;
    } else if (t && (!m || t.token < m.token)) {
      if (ourFloor && ourFloor.peer === self && t.peer !== self) {
        throw new IpamConflictError(
          `Peer ${t.peer} says it owns the IP range from ${formatIPv4(t.token)}, which I think I own ` +
            `(I am ${self}; my range starts at ${formatIPv4(ourFloor.token)})`,
          { fields: { self, peer: t.peer, token: formatIPv4(t.token) } },
        );
      }
      result.push(t);
      changed.push(t);
      j++;
    } else if (m && t) {
      ourFloor = m;
      if (t.version < m.version || (t.version === m.version && sameEntry(t, m))) {
        result.push(m);
      } else if (t.version === m.version) {
        const rmHint = ours.tombs.size > 0 || incoming.removed.length > 0 ? " (was 'rmpeer' run on more than one peer?)" : '';
        throw new IpamConflictError(
          `Inconsistent entries for ${formatIPv4(m.token)}: owned by ${m.peer} (version ${m.version}, free ${m.free}) ` +
            `but incoming message says ${t.peer} (version ${t.version}, free ${t.free})${rmHint}`,
          { fields: { self, token: formatIPv4(m.token) } },
        );
      } else {
        if (m.peer === self && t.peer !== self) {
          throw new IpamConflictError(
            `Received update for IP range I own at ${formatIPv4(m.token)}: peer ${t.peer} says it owns it now ` +
              `(version ${t.version}, ours ${m.version}; I am ${self})`,
            { fields: { self, peer: t.peer, token: formatIPv4(m.token) } },
          );
        }
        result.push(t);
        changed.push(t);
      }
      i++;
      j++;
    }
  }

  const tombs = new Map(ours.tombs);
  const changedTombs: RemovedPeer[] = [];
  for (const r of incoming.removed) {
    const old = tombs.get(r.peer);
    const merged = old ? mergeRemoved(old, r) : r;
    if (!old || !sameRemoved(old, merged)) {
      tombs.set(r.peer, merged);
      changedTombs.push(merged);
    }
  }
  if (changed.length === 0 && changedTombs.length === 0) return undefined;

  // Check the would-be ring before committing to it.
  const state = {
    start: ours.start,
    end: ours.end,
    list: result,
    seeds: isEmpty && theirs.length > 0 ? [...incoming.seeds] : [...ours.seeds],
    tombs,
  };
  const err = checkRingInvariants(state);
  if (err) {
    throw new IpamConflictError(`Received IP allocation data breaks the ring: ${err.message}`, { cause: err });
  }
  return { state, changed, changedTombs };
}
