// Broadcast load, two builds side by side in one run (issue 16, native broadcast): per build two encrypted
// hosts, c1 sends COUNT numbered UDP broadcasts at RATE per second (scripts/bench/bcast.py) and c2 counts
// them; runs interleaved across the builds. Reports, per build, the median CPU-seconds per 100,000
// broadcasts of h1's router: its JS thread (/proc/PID/task/PID/stat) and the whole process, with what c2
// received (every one, none twice).
//
//   node --import tsx scripts/bench-broadcast.ts REF_ROOT [RUNS=3] [COUNT=100000] [RATE=20000]
//     REF_ROOT: a built checkout (dist/ and native/build) to compare this one with
// Root; uses the test support (namespaces, the real CLI); cleans up everything it made.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster, inNs, waitFor, type Host } from '../test/support/cluster.js';
import { requireRoot, type Netns } from '../test/support/netns.js';

requireRoot('the broadcast benchmark');
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BCAST = join(ROOT, 'scripts', 'bench', 'bcast.py');
const [refRoot, runsArg, countArg, rateArg] = process.argv.slice(2);
if (!refRoot) {
  console.error('usage: bench-broadcast.ts REF_ROOT [RUNS] [COUNT] [RATE]');
  process.exit(2);
}
const RUNS = Number(runsArg ?? 3), COUNT = Number(countArg ?? 100_000), RATE = Number(rateArg ?? 20_000);
const HZ = 100;
const ip = (n: number) => `10.32.0.${n}`;

interface Lab { name: string; c: Cluster; h: Host[]; ct: Netns[] }

async function setUp(name: string, bin: string): Promise<Lab> {
  const c = new Cluster(`bb${name}`, bin);
  const lab: Lab = { name, c, h: [], ct: [] };
  await c.init();
  for (const n of [1, 2]) lab.h[n] = await c.addHost(n);
  for (const n of [1, 2]) lab.ct[n] = await c.addContainer(`c${n}`);
  const pw = 'bench-broadcast-password';
  await c.ok(lab.h[2]!, 'launch', '--password', pw, '--nickname', 'h2', '--ipalloc-range', '');
  await c.ok(lab.h[1]!, 'launch', '--password', pw, '--nickname', 'h1', '--ipalloc-range', '', lab.h[2]!.ip);
  for (const n of [1, 2]) await c.ok(lab.h[n]!, 'attach', `${ip(n)}/12`, lab.ct[n]!.name);
  await waitFor(`${name}: c1 reaches c2`, async () => (await c.run(lab.ct[1]!, 'ping', '-c', '1', '-W', '1', ip(2))).code === 0, 60_000);
  return lab;
}

/** utime + stime of a process (task = its main thread, the JS thread) in ticks. */
async function ticks(path: string): Promise<number> {
  const s = await readFile(path, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

interface Result { jsPer100k: number; procPer100k: number; sent: number; unique: number; duplicates: number }

async function run(lab: Lab): Promise<Result> {
  const pid = (await lab.c.routerPid(lab.h[1]!))!;
  const recv = inNs(lab.ct[2]!.name, ['python3', BCAST, 'recv', '7400', '2']);
  await new Promise((r) => setTimeout(r, 700));
  const [j0, p0] = [await ticks(`/proc/${pid}/task/${pid}/stat`), await ticks(`/proc/${pid}/stat`)];
  const sent = Number(await inNs(lab.ct[1]!.name, ['python3', BCAST, 'send', '10.47.255.255', '7400', String(COUNT), String(RATE)]));
  await new Promise((r) => setTimeout(r, 300));
  const [j1, p1] = [await ticks(`/proc/${pid}/task/${pid}/stat`), await ticks(`/proc/${pid}/stat`)];
  const got = JSON.parse(await recv) as { unique: number; duplicates: number };
  const per = (t: number) => (t / HZ) * (100_000 / sent);
  return { jsPer100k: per(j1 - j0), procPer100k: per(p1 - p0), sent, unique: got.unique, duplicates: got.duplicates };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const labs: Lab[] = [];
try {
  labs.push(await setUp('ref', join(refRoot, 'bin', 'tsweave')));
  labs.push(await setUp('new', join(ROOT, 'bin', 'tsweave')));
  const res = new Map<string, Result[]>();
  const load0 = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  for (let r = 0; r < RUNS; r++) {
    for (const lab of r % 2 ? [...labs].reverse() : labs) {
      const x = await run(lab);
      res.set(lab.name, [...(res.get(lab.name) ?? []), x]);
      console.log(`run ${r + 1} ${lab.name}: JS thread ${x.jsPer100k.toFixed(2)} CPU-s, process ${x.procPer100k.toFixed(2)} CPU-s per 100k; c2 got ${x.unique}/${x.sent}, ${x.duplicates} twice`);
    }
  }
  const load1 = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  console.log(`\n${RUNS} × ${COUNT} broadcasts at ${RATE}/s, medians; load average ${load0} → ${load1}`);
  console.log('| build | h1 JS thread CPU-s / 100k | h1 process CPU-s / 100k | c2 received (min) | duplicates |');
  console.log('|---|---:|---:|---:|---:|');
  for (const lab of labs) {
    const xs = res.get(lab.name)!;
    console.log(`| ${lab.name} | ${median(xs.map((x) => x.jsPer100k)).toFixed(2)} | ${median(xs.map((x) => x.procPer100k)).toFixed(2)} | ${Math.min(...xs.map((x) => x.unique / x.sent)).toFixed(3)} | ${xs.reduce((a, x) => a + x.duplicates, 0)} |`);
  }
} finally {
  for (const lab of labs) await lab.c.cleanup();
}
