// The IPAM ring's data (DESIGN.md §5, Weave ipam/ring): entries, tombstones, the form a ring or delta
// travels and is persisted in, and the pure rules on them: comparison, tombstone union, the lookup of
// the entry that holds an address, and the invariants every ring must keep (ring.ts explains the CRDT).

import { formatIPv4, isPeerName, type PeerName } from '../core/types.js';

export interface RingEntry {
  readonly token: number;
  readonly peer: PeerName;
  readonly version: number;
  /** Advisory count of free addresses in this entry's range, reported by the owner. */
  readonly free: number;
}

/** Tombstone left by `rmpeer`: which entries the removed peer owned, at which versions. */
export interface RemovedPeer {
  readonly peer: PeerName;
  /** The peer that ran rmpeer (the smallest name if several did). */
  readonly by: PeerName;
  readonly tokens: ReadonlyArray<readonly [token: number, version: number]>;
}

/** A ring or part of one (a delta), as it travels and is persisted. */
export interface RingData {
  readonly start: number;
  readonly end: number;
  /** Peers the ring was created for (consensus value or seed list), sorted. Empty while uninitialised. */
  readonly seeds: readonly PeerName[];
  /** Sorted by token. A delta holds only the entries that changed. */
  readonly entries: readonly RingEntry[];
  readonly removed: readonly RemovedPeer[];
}

export function formatPeerList(peers: readonly string[]): string {
  return `[${peers.join(' ')}]`;
}

export function sameEntry(a: RingEntry, b: RingEntry): boolean {
  return a.token === b.token && a.peer === b.peer && a.version === b.version && a.free === b.free;
}

export function sameRemoved(a: RemovedPeer, b: RemovedPeer): boolean {
  return (
    a.peer === b.peer &&
    a.by === b.by &&
    a.tokens.length === b.tokens.length &&
    a.tokens.every(([t, v], i) => b.tokens[i]![0] === t && b.tokens[i]![1] === v)
  );
}

/** Union of two tombstones for the same peer: per token the higher version, `by` the smaller name. */
export function mergeRemoved(a: RemovedPeer, b: RemovedPeer): RemovedPeer {
  const m = new Map<number, number>(a.tokens.map(([t, v]) => [t, v]));
  for (const [t, v] of b.tokens) m.set(t, Math.max(v, m.get(t) ?? -1));
  const tokens = [...m.entries()].sort((x, y) => x[0] - y[0]) as Array<[number, number]>;
  return { peer: a.peer, by: a.by < b.by ? a.by : b.by, tokens };
}

export function sameSeeds(a: readonly PeerName[], b: readonly PeerName[]): boolean {
  return a.length === b.length && a.every((p, i) => p === b[i]);
}

/** A ring's state as the Ring holds it (and as a merge proposes it before it is committed). */
export interface RingState {
  readonly start: number;
  readonly end: number;
  readonly seeds: readonly PeerName[];
  /** Sorted by token. */
  readonly list: readonly RingEntry[];
  readonly tombs: ReadonlyMap<PeerName, RemovedPeer>;
}

/** Index of the entry whose range contains addr (the last token <= addr), or -1. */
export function floorIndex(list: readonly RingEntry[], addr: number): number {
  let lo = 0;
  let hi = list.length - 1;
  let ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.token <= addr) {
      ans = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return ans;
}

/** Structural and ownership invariants; undefined when all hold. */
export function checkRingInvariants(r: RingState): Error | undefined {
  const { start, end, list } = r;
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end <= 2 ** 32 && start < end)) {
    return new Error(`bad range ${start}..${end}`);
  }
  if (list.length > 0) {
    if (list[0]!.token !== start) {
      return new Error(`first token ${formatIPv4(list[0]!.token)} is not the start of the range ${formatIPv4(start)}`);
    }
    if (r.seeds.length === 0) return new Error('initialised ring has no seeds');
  }
  const validNames = new Set<string>();
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!;
    if (i > 0 && list[i - 1]!.token >= e.token) {
      return new Error(`tokens out of order at ${formatIPv4(e.token)}`);
    }
    if (e.token < start || e.token >= end) return new Error(`token ${formatIPv4(e.token)} outside the range`);
    if (!validNames.has(e.peer)) {
      if (!isPeerName(e.peer)) return new Error(`entry ${formatIPv4(e.token)} has a bad owner "${e.peer}"`);
      validNames.add(e.peer);
    }
    if (!Number.isSafeInteger(e.version) || e.version < 0) return new Error(`entry ${formatIPv4(e.token)} has a bad version`);
    // Free counts are advisory and may lag behind a split of the range (the owner re-reports them), so
    // only their type is an invariant; readers clamp them to the range size.
    if (!Number.isInteger(e.free) || e.free < 0 || e.free > 2 ** 32) {
      return new Error(`entry ${formatIPv4(e.token)} has a bad free count ${e.free}`);
    }
  }
  for (const t of r.tombs.values()) {
    for (const [token, version] of t.tokens) {
      const i = floorIndex(list, token);
      const e = i >= 0 ? list[i] : undefined;
      if (e && e.token === token && e.peer === t.peer && e.version <= version) {
        return new Error(
          `range at ${formatIPv4(token)} is owned by ${t.peer}, which was removed by 'rmpeer' on ${t.by}`,
        );
      }
    }
  }
  return undefined;
}
