// Join-to-established time for real routers in network namespaces (issue 3's benchmark, the real half;
// scripts/bench-mesh.ts is the simulated half). Needs root. Run:
//   node --import tsx scripts/bench-mesh-real.ts [routers=16]
//
//   underlay switch ns (br0 10.200.0.0/24) ── h1 … hN, each a tsweave router (password set, IPAM off),
//   launched through the real CLI with ONE target: a random peer launched before it. Discovery does the rest.
//
// Two measurements:
//  1. sequential joins: routers join one at a time; for each, the time from the start of
//     `tsweave launch` until the new router is `established` with every existing peer AND its topology
//     shows every peer with all its connections established (it has the whole, agreed picture).
//  2. simultaneous join: every router stopped, then all N launched at once (each with one earlier
//     target); time until all N have the full picture (N·(N-1) established connection ends everywhere).
// Each router is watched by a small poller inside its namespace (GET /snapshot every 25 ms), so the CLI's
// start-up cost is not in the numbers except where it is part of the join (the launch itself).
// Wall-clock numbers on this machine; print the CPU count with them.

import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { Cluster, type Host } from '../test/support/cluster.js';
import { requireRoot } from '../test/support/netns.js';

const N = Number(process.argv[2] ?? 16);
const PW = 'bench-mesh-real-password';
const POLL_TIMEOUT_MS = 120_000;

// Runs inside a host namespace: waits until the router has `want` established connections and every
// one of `want + 1` peers shows `want` established connections; prints the wall time and exits.
const POLLER = `
const want = Number(process.argv[1]);
const deadline = Date.now() + ${POLL_TIMEOUT_MS};
(async () => {
  while (Date.now() < deadline) {
    try {
      const s = await (await fetch('http://127.0.0.1:6784/snapshot')).json();
      const own = s.router.connections.filter((c) => c.state === 'established').length;
      const peers = s.router.peers;
      if (own >= want && peers.length >= want + 1 &&
          peers.every((p) => p.connections.filter((c) => c.established).length >= want)) {
        process.stdout.write(JSON.stringify({ t: Date.now() }));
        process.exit(0);
      }
    } catch {}
    await new Promise((r) => setTimeout(r, 25));
  }
  process.exit(3);
})();
`;

/** Starts a poller in host h; resolves with the wall time it saw the full picture. */
function watch(h: Host, want: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', h.ns.name, process.execPath, '-e', POLLER, String(want)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      if (code === 0) resolve((JSON.parse(out) as { t: number }).t);
      else reject(new Error(`h${h.n}: no full mesh of ${want + 1} within ${POLL_TIMEOUT_MS} ms (poller exit ${code})`));
    });
  });
}

const launchArgs = (h: Host, target: Host | undefined) =>
  ['launch', '--password', PW, '--nickname', `h${h.n}`, '--ipalloc-range', '', ...(target ? [target.ip] : [])];

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return `min ${s[0]} ms, median ${q(0.5)} ms, p90 ${q(0.9)} ms, max ${s.at(-1)} ms`;
}

async function main(): Promise<void> {
  requireRoot('bench-mesh-real');
  if (!Number.isInteger(N) || N < 2 || N > 200) throw new Error(`routers must be 2..200, got ${process.argv[2]}`);
  const c = new Cluster('bmr');
  const cleanup = () => c.cleanup();
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    await c.init();
    const hosts: Host[] = [];
    for (let n = 1; n <= N; n++) hosts.push(await c.addHost(n));
    const targetOf = hosts.map((_, i) => (i === 0 ? undefined : hosts[Math.floor(Math.random() * i)]));
    console.log(`bench-mesh-real: ${N} routers in network namespaces, ${availableParallelism()} CPUs, password set, one target each`);

    // 1. Sequential joins.
    const launchMs: number[] = [];
    const joinMs: number[] = [];
    await c.ok(hosts[0]!, ...launchArgs(hosts[0]!, undefined));
    for (let i = 1; i < N; i++) {
      const h = hosts[i]!;
      const t0 = Date.now();
      await c.ok(h, ...launchArgs(h, targetOf[i]));
      const up = Date.now();
      const done = await watch(h, i);
      launchMs.push(up - t0);
      joinMs.push(done - t0);
      console.log(`  join of h${h.n} (target h${targetOf[i]!.n}) into a mesh of ${i}: launch ${up - t0} ms, established with all + agreed ${done - t0} ms (${done - up} ms after launch returned)`);
    }
    console.log(`sequential: launch ${stats(launchMs)}`);
    console.log(`sequential: join-to-established ${stats(joinMs)}`);

    // 2. Simultaneous join of all N.
    await Promise.all(hosts.map((h) => c.ok(h, 'stop')));
    const t0 = Date.now();
    await Promise.all(hosts.map((h, i) => c.ok(h, ...launchArgs(h, targetOf[i]))));
    const allUp = Date.now();
    const done = await Promise.all(hosts.map((h) => watch(h, N - 1)));
    const last = Math.max(...done);
    console.log(`simultaneous: ${N} launches returned after ${allUp - t0} ms; full mesh (${N * (N - 1)} established ends, agreed by all) ` +
      `${last - t0} ms after the first launch started (${last - allUp} ms after the last launch returned); ` +
      `per router ${stats(done.map((t) => t - t0))}`);
  } finally {
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
