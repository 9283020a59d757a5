// Fakes for testing the allocator's parts alone (test/unit/ipam/*): one IpamContext over a FakeClock, a
// seeded rng, a peer directory the test edits (who is reachable, nicknames) and a gossip sender that
// records what was sent, decoded, in order together with every persist.
import type { Gossip, PeerDirectory } from '../../src/core/gossip.js';
import { silentLogger } from '../../src/core/logger.js';
import { type PeerName, parseCidr, peerNameFromNumber } from '../../src/core/types.js';
import { type AllocatorInit, IpamContext, type IpamMode } from '../../src/ipam/context.js';
import { type GossipMsg, type UnicastMsg, decodeGossip, decodeUnicast } from '../../src/ipam/messages.js';
import { FakeClock } from './fake-clock.js';
import { seededRng } from './rng.js';

export const P = [1, 2, 3, 4].map((n) => peerNameFromNumber(0x0a0000000000 + n)) as [PeerName, PeerName, PeerName, PeerName];

export type Sent =
  | { kind: 'unicast'; dst: PeerName; msg: UnicastMsg }
  | { kind: 'broadcast'; msg: GossipMsg }
  | { kind: 'persist'; bytes: Uint8Array };

export class FakePeers implements PeerDirectory {
  readonly reachable = new Set<PeerName>();
  readonly nicks = new Map<PeerName, string>();
  private readonly listeners = new Set<() => void>();
  constructor(
    readonly localName: PeerName,
    readonly localNickname = 'host1',
  ) {
    this.reachable.add(localName);
  }
  reachablePeers(): PeerName[] {
    return [...this.reachable];
  }
  isReachable(p: PeerName): boolean {
    return this.reachable.has(p);
  }
  nicknameOf(p: PeerName): string | undefined {
    return this.nicks.get(p);
  }
  onPeersChanged(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }
}

export interface FakeContext {
  ctx: IpamContext;
  clock: FakeClock;
  peers: FakePeers;
  /** Everything sent or persisted, in order. */
  log: Sent[];
  unicasts(): Array<{ dst: PeerName; msg: UnicastMsg }>;
  broadcasts(): GossipMsg[];
  persists(): number;
}

/** A context for peer P[0] on 10.32.0.0/12 unless told otherwise; `reachable` are the other peers up. */
export function fakeContext(
  opts: { self?: PeerName; mode?: IpamMode; reachable?: PeerName[]; range?: string; init?: Partial<AllocatorInit> } = {},
): FakeContext {
  const clock = new FakeClock();
  const self = opts.self ?? P[0];
  const peers = new FakePeers(self);
  for (const p of opts.reachable ?? []) peers.reachable.add(p);
  const log: Sent[] = [];
  const gossip: Gossip = {
    gossipUnicast: (dst, data) => log.push({ kind: 'unicast', dst, msg: decodeUnicast(data) }),
    gossipBroadcast: (data) => log.push({ kind: 'broadcast', msg: decodeGossip(data) }),
    gossipToNeighbours: () => {},
  };
  const ctx = new IpamContext(
    { clock, rng: seededRng(5), logger: silentLogger(), peers, gossip, onPersist: (bytes) => log.push({ kind: 'persist', bytes }) },
    { range: parseCidr(opts.range ?? '10.32.0.0/12'), mode: opts.mode ?? { kind: 'seed', peers: [self] }, ...opts.init },
  );
  return {
    ctx, clock, peers, log,
    unicasts: () => log.flatMap((s) => (s.kind === 'unicast' ? [{ dst: s.dst, msg: s.msg }] : [])),
    broadcasts: () => log.flatMap((s) => (s.kind === 'broadcast' ? [s.msg] : [])),
    persists: () => log.filter((s) => s.kind === 'persist').length,
  };
}
