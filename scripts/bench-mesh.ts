// Mesh convergence benchmark on the in-process simulation (test/support/sim-network.ts).
// Run: node --import tsx scripts/bench-mesh.ts [peers ...]   (default 10 50 200)
//
// For each size: N routers join through one random earlier peer each (discovery fills in the rest,
// at most 5 dialled per peer, conn limit 30), latency 1..8 ms. Reports
//  - join: simulated time until every peer holds the same topology as every owner's entry, delivery
//    rounds, control messages, gossip bytes per peer (sealed-size estimate) until quiet;
//  - steady: gossip bytes per peer per 30 s periodic-gossip interval once converged;
//  - heal: simulated time and bytes per peer to re-converge after a half/half partition heals.
// Wall time is printed for orientation only (it depends on the machine); the simulated numbers are
// deterministic for a seed.

import { GOSSIP_INTERVAL_MS } from '../src/core/defaults.js';
import { SimNetwork } from '../test/support/sim-network.js';

function agreed(net: SimNetwork): boolean {
  const alive = net.alivePeers();
  const owners = new Map(alive.map((p) => [p.name, p.router.topology.self]));
  for (const p of alive) {
    const entries = p.router.topology.entries();
    if (entries.length !== alive.length) return false;
    for (const e of entries) {
      const o = owners.get(e.name);
      if (!o || o.version !== e.version || o.uid !== e.uid) return false;
    }
  }
  return true;
}

interface Row {
  peers: number;
  joinSimMs: number;
  joinRounds: number;
  joinMessages: number;
  joinKBPerPeer: number;
  steadyKBPerPeer: number;
  healSimMs: number;
  healKBPerPeer: number;
  meanDegree: number;
  wallS: number;
}

async function run(n: number, seed = 1): Promise<Row> {
  const wall0 = performance.now();
  const net = new SimNetwork({ seed, connLimit: 30, discoveryLimit: 5, latencyMs: [1, 8] });
  for (let i = 0; i < n; i++) net.addPeer({ targets: i === 0 ? [] : [net.peers[net.rng.int(i)]!.address] });
  const t0 = net.clock.now();
  const first = await net.flush({ until: () => agreed(net) && net.alivePeers().every((p) => p.maker.dialsInFlight === 0), checkEveryMs: 100 });
  const joinSimMs = Math.round(net.clock.now() - t0);
  const rest = await net.flush(); // discovery may keep adding connections after the first agreement
  if (!agreed(net)) throw new Error(`${n} peers did not converge`);
  const joinBytes = net.stats.bytes;
  const joinMessages = net.stats.messages;

  const b1 = net.stats.bytes;
  await net.flush({ maxMs: GOSSIP_INTERVAL_MS, quietMs: GOSSIP_INTERVAL_MS });
  const steadyBytes = net.stats.bytes - b1;

  const alive = net.alivePeers();
  net.partition(alive.filter((_, i) => i % 2 === 0), alive.filter((_, i) => i % 2 === 1));
  await net.flush({ maxMs: 60_000 });
  net.heal();
  const b2 = net.stats.bytes;
  const t2 = net.clock.now();
  await net.flush({ until: () => agreed(net), checkEveryMs: 100, maxMs: 15 * 60_000 });
  if (!agreed(net)) throw new Error(`${n} peers did not re-converge after the partition healed`);
  const healSimMs = Math.round(net.clock.now() - t2);
  const healBytes = net.stats.bytes - b2;

  const degrees = net.alivePeers().map((p) => p.router.connectionCount);
  return {
    peers: n,
    joinSimMs,
    joinRounds: first.rounds + rest.rounds,
    joinMessages,
    joinKBPerPeer: joinBytes / n / 1000,
    steadyKBPerPeer: steadyBytes / n / 1000,
    healSimMs,
    healKBPerPeer: healBytes / n / 1000,
    meanDegree: degrees.reduce((a, b) => a + b, 0) / n,
    wallS: (performance.now() - wall0) / 1000,
  };
}

const sizes = process.argv.slice(2).map(Number).filter((x) => x > 0);
const rows: Row[] = [];
for (const n of sizes.length ? sizes : [10, 50, 200]) rows.push(await run(n));

const header = ['peers', 'mean deg', 'join sim ms', 'join rounds', 'join msgs', 'join kB/peer', 'steady kB/peer/30s', 'heal sim ms', 'heal kB/peer', 'wall s'];
const table = rows.map((r) => [
  r.peers, r.meanDegree.toFixed(1), r.joinSimMs, r.joinRounds, r.joinMessages, r.joinKBPerPeer.toFixed(0),
  r.steadyKBPerPeer.toFixed(1), r.healSimMs, r.healKBPerPeer.toFixed(0), r.wallS.toFixed(1),
].map(String));
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
console.log(line(header));
for (const row of table) console.log(line(row));
