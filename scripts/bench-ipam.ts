// IPAM benchmarks (run: node --import tsx scripts/bench-ipam.ts).
//   1. Allocations per second on one allocator (seed mode, one peer owns the whole /12): the synchronous fast
//      path, the async API, and the async API with persistence on every change (bytes encoded as the daemon
//      would write them).
//   2. A fresh 3-peer mesh in consensus mode: simulated time and messages until the first address, over
//      many seeds and two latency profiles (the IPAM sim in test/support/ipam-sim.ts).
import { performance } from 'node:perf_hooks';
import { silentLogger } from '../src/core/logger.js';
import { parseCidr, type PeerName } from '../src/core/types.js';
import { Allocator } from '../src/ipam/allocator.js';
import { FakeClock } from '../test/support/fake-clock.js';
import { seededRng } from '../test/support/rng.js';
import { IpamSim, runUntilSettled } from '../test/support/ipam-sim.js';

const RANGE = parseCidr('10.32.0.0/12');
const SELF = IpamSim.peerName(0);

function single(onPersist?: (b: Uint8Array) => void): Allocator {
  const a = new Allocator(
    {
      clock: new FakeClock(), rng: seededRng(1), logger: silentLogger(),
      peers: {
        localName: SELF, localNickname: 'bench', reachablePeers: () => [SELF], isReachable: () => true,
        nicknameOf: () => 'bench', onPeersChanged: () => () => {},
      },
      onPersist,
    },
    { range: RANGE, mode: { kind: 'seed', peers: [SELF as PeerName] } },
  );
  a.start();
  return a;
}

function rate(n: number, ms: number): string {
  return `${Math.round((n / ms) * 1000).toLocaleString('en-US')}/s`;
}

async function allocatorBench(): Promise<void> {
  const N = 100_000;
  {
    const a = single();
    const t0 = performance.now();
    for (let i = 0; i < N; i++) a.tryAllocate(`c${i}`);
    const t1 = performance.now();
    for (let i = 0; i < N; i++) a.free(`c${i}`);
    const t2 = performance.now();
    console.log(`tryAllocate (sync), ${N} containers:          ${rate(N, t1 - t0)} allocations, ${rate(N, t2 - t1)} frees`);
  }
  {
    const a = single();
    const t0 = performance.now();
    for (let i = 0; i < N; i++) await a.allocate(`c${i}`);
    const t1 = performance.now();
    console.log(`allocate() (async), ${N} containers:         ${rate(N, t1 - t0)}`);
  }
  for (const held of [0, 1_000, 10_000]) {
    let bytes = 0;
    const a = single((b) => (bytes = b.length));
    for (let i = 0; i < held; i++) a.tryAllocate(`h${i}`);
    const M = 2_000;
    const t0 = performance.now();
    for (let i = 0; i < M; i++) await a.allocate(`c${i}`);
    const t1 = performance.now();
    console.log(`allocate() + persist, ${String(held).padStart(6)} already held: ${rate(M, t1 - t0)} (state ${bytes} bytes)`);
  }
}

async function consensusBench(): Promise<void> {
  for (const [label, latency] of [['LAN 0.2-1 ms', [0.2, 1]], ['WAN 20-80 ms', [20, 80]]] as const) {
    const times: number[] = [];
    const msgs: number[] = [];
    const bytes: number[] = [];
    for (let seed = 1; seed <= 50; seed++) {
      const sim = new IpamSim({ range: RANGE, seed, latencyMs: [latency[0], latency[1]], gossipIntervalMs: 0 });
      const peers = [0, 1, 2].map(IpamSim.peerName);
      for (const p of peers) sim.add(p, { mode: { kind: 'consensus' }, initialPeerCount: 3 });
      const r = await runUntilSettled(sim, sim.alloc(peers[0]!).allocate('first'), 60_000, 0.1);
      if (!r.ok) throw r.error;
      times.push(r.ms);
      msgs.push(sim.stats.sent);
      bytes.push(sim.stats.bytes);
    }
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const max = (xs: number[]): number => Math.max(...xs);
    console.log(
      `fresh 3-peer consensus (${label}), 50 seeds: first address after median ${med(times).toFixed(1)} ms ` +
        `(max ${max(times).toFixed(1)}) simulated, ${med(msgs)} messages (max ${max(msgs)}), ${med(bytes)} bytes`,
    );
  }
}

console.log(`node ${process.version}`);
await allocatorBench();
await consensusBench();
