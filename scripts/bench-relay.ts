// Relayed vs direct encrypted throughput, two builds side by side in one run (issue 16): per build a
// cluster of three encrypted hosts where h1 and h2 cannot reach each other (test/netns/relay.test.ts's
// layout), iperf3 c1 → c2 (through h3) and c1 → c3 (direct), runs interleaved across the builds; reports
// the median Gbit/s and h3's router CPU-seconds per GB relayed (/proc/PID/stat, the whole process).
//
//   node --import tsx scripts/bench-relay.ts REF_ROOT [RUNS=3] [SECONDS=10]
//     REF_ROOT: a built checkout (dist/ and native/build) to compare this one with
// Root; uses the test support (namespaces, the real CLI); cleans up everything it made.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster, inNs, waitFor, type Host } from '../test/support/cluster.js';
import { killAndWait, requireRoot, type Netns } from '../test/support/netns.js';

requireRoot('the relay benchmark');
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const [refRoot, runsArg, secondsArg] = process.argv.slice(2);
if (!refRoot) {
  console.error('usage: bench-relay.ts REF_ROOT [RUNS] [SECONDS]');
  process.exit(2);
}
const RUNS = Number(runsArg ?? 3), SECONDS = Number(secondsArg ?? 10);
const HZ = 100;
const ip = (n: number) => `10.32.0.${n}`;

interface Lab { name: string; c: Cluster; h: Host[]; ct: Netns[]; servers: ChildProcess[] }

async function setUp(name: string, bin: string): Promise<Lab> {
  const c = new Cluster(`rb${name}`, bin);
  const lab: Lab = { name, c, h: [], ct: [], servers: [] };
  await c.init();
  for (const n of [1, 2, 3]) lab.h[n] = await c.addHost(n);
  for (const n of [1, 2, 3]) lab.ct[n] = await c.addContainer(`c${n}`);
  await c.isolateSwitchPort(lab.h[1]!);
  await c.isolateSwitchPort(lab.h[2]!);
  const pw = 'bench-relay-password';
  const launch = (n: number, ...t: string[]) => c.ok(lab.h[n]!, 'launch', '--password', pw, '--nickname', `h${n}`, '--ipalloc-range', '', ...t);
  await launch(3);
  await launch(1, lab.h[3]!.ip);
  await launch(2, lab.h[3]!.ip);
  for (const n of [1, 2, 3]) await c.ok(lab.h[n]!, 'attach', `${ip(n)}/12`, lab.ct[n]!.name);
  for (const n of [2, 3]) {
    await waitFor(`${name}: c1 reaches c${n}`, async () => (await c.run(lab.ct[1]!, 'ping', '-c', '1', '-W', '1', ip(n))).code === 0, 60_000);
    lab.servers.push(spawn('ip', ['netns', 'exec', lab.ct[n]!.name, 'iperf3', '-s', '-B', ip(n), '-p', '5201'], { stdio: 'ignore' }));
  }
  await new Promise((r) => setTimeout(r, 1000));
  return lab;
}

async function cpuTicks(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
}

async function run(lab: Lab, to: number): Promise<{ gbps: number; cpuH3PerGb: number; cpuH1PerGb: number }> {
  const [p1, p3] = [await lab.c.routerPid(lab.h[1]!), await lab.c.routerPid(lab.h[3]!)];
  const t1 = await cpuTicks(p1!), t3 = await cpuTicks(p3!);
  const out = await inNs(lab.ct[1]!.name, ['iperf3', '-c', ip(to), '-p', '5201', '-t', String(SECONDS), '-J'], (SECONDS + 60) * 1000);
  const u1 = await cpuTicks(p1!), u3 = await cpuTicks(p3!);
  const end = (JSON.parse(out) as { end: { sum_received: { bytes: number; bits_per_second: number } } }).end.sum_received;
  const gb = end.bytes / 1e9;
  return { gbps: end.bits_per_second / 1e9, cpuH3PerGb: (u3 - t3) / HZ / gb, cpuH1PerGb: (u1 - t1) / HZ / gb };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const labs: Lab[] = [];
try {
  labs.push(await setUp('ref', join(refRoot, 'bin', 'tsweave')));
  labs.push(await setUp('new', join(ROOT, 'bin', 'tsweave')));
  const res = new Map<string, Array<{ gbps: number; cpuH3PerGb: number; cpuH1PerGb: number }>>();
  const load0 = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  for (let r = 0; r < RUNS; r++) {
    for (const lab of r % 2 ? [...labs].reverse() : labs) {
      for (const [path, to] of [['relayed', 2], ['direct', 3]] as const) {
        const x = await run(lab, to);
        const k = `${lab.name} ${path}`;
        res.set(k, [...(res.get(k) ?? []), x]);
        console.log(`run ${r + 1} ${k}: ${x.gbps.toFixed(2)} Gbit/s, h3 ${x.cpuH3PerGb.toFixed(2)} CPU-s/GB, h1 ${x.cpuH1PerGb.toFixed(2)} CPU-s/GB`);
      }
    }
  }
  const load1 = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  console.log(`\n${RUNS} × ${SECONDS} s, medians; load average ${load0} → ${load1}`);
  console.log('| build | path | Gbit/s | relayed/direct | h3 CPU-s/GB | h1 CPU-s/GB |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const lab of labs) {
    const direct = median(res.get(`${lab.name} direct`)!.map((x) => x.gbps));
    for (const path of ['relayed', 'direct']) {
      const xs = res.get(`${lab.name} ${path}`)!;
      const g = median(xs.map((x) => x.gbps));
      console.log(`| ${lab.name} | ${path} | ${g.toFixed(2)} | ${path === 'relayed' ? `${((100 * g) / direct).toFixed(0)} %` : ''} | ${median(xs.map((x) => x.cpuH3PerGb)).toFixed(2)} | ${median(xs.map((x) => x.cpuH1PerGb)).toFixed(2)} |`);
    }
  }
} finally {
  for (const lab of labs) {
    await Promise.all(lab.servers.map((s) => killAndWait(s)));
    await lab.c.cleanup();
  }
}
