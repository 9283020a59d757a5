// Idle router cost, two builds side by side in one run (issue 16, "less CPU per byte": the overlay's
// CPU-s/GB counts the whole router process, so its background work counts too). Per build an encrypted
// pair (test/support/cluster.ts encryptedPair: h1, h2, one container each), nothing sent; both pairs idle at
// the same time and are measured over the same windows, so the machine's load falls on both alike.
// Per window and router: CPU of the main (JavaScript) thread, of the other threads, and of reaped children
// (/proc/PID/stat cutime+cstime: the commands it forks); then, in a window of its own (strace slows what it
// traces), the commands each router starts (execve under `strace -f`).
//
//   node --import tsx scripts/bench-idle.ts REF_ROOT [WINDOWS=3] [SECONDS=60]
//     REF_ROOT: a built checkout (dist/ and native/build) to compare this one with
// Root; uses the test support (namespaces, the real CLI); cleans up everything it made.
import { spawn } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster, sleep, type Host } from '../test/support/cluster.js';
import { requireRoot } from '../test/support/netns.js';

requireRoot('the idle benchmark');
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const [refRoot, windowsArg, secondsArg] = process.argv.slice(2);
if (!refRoot) {
  console.error('usage: bench-idle.ts REF_ROOT [WINDOWS] [SECONDS]');
  process.exit(2);
}
const WINDOWS = Number(windowsArg ?? 3), SECONDS = Number(secondsArg ?? 60);
const HZ = 100;

interface Ticks { main: number; threads: number; children: number }

/** utime+stime (and cutime+cstime) from a /proc stat line; the command name may hold spaces and parens. */
function statFields(text: string): number[] {
  return text.slice(text.lastIndexOf(')') + 2).split(' ').map(Number);
}

async function ticks(pid: number): Promise<Ticks> {
  const f = statFields(await readFile(`/proc/${pid}/stat`, 'utf8'));
  // Fields from state (3) on: utime 14, stime 15, cutime 16, cstime 17 → indexes 11..14.
  const total = f[11]! + f[12]!, children = f[13]! + f[14]!;
  const m = statFields(await readFile(`/proc/${pid}/task/${pid}/stat`, 'utf8'));
  const main = m[11]! + m[12]!;
  return { main, threads: total - main, children };
}

async function threadNames(pid: number): Promise<string[]> {
  const tids = await readdir(`/proc/${pid}/task`);
  return Promise.all(tids.map(async (t) => (await readFile(`/proc/${pid}/task/${t}/comm`, 'utf8')).trim()));
}

/** Commands `pid` and its descendants exec during `seconds` (strace -f, execve only). */
function execs(pid: number, seconds: number): Promise<string[]> {
  return new Promise((resolve) => {
    const child = spawn('strace', ['-f', '-qq', '-e', 'trace=execve', '-e', 'signal=none', '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const t = setTimeout(() => child.kill('SIGINT'), seconds * 1000);
    child.on('close', () => {
      clearTimeout(t);
      resolve(err.split('\n').filter((l) => /execve\(/.test(l) && !/= -1 /.test(l)).map((l) => /execve\("([^"]+)", \[([^\]]*)\]/.exec(l)?.[2] ?? l));
    });
  });
}

interface Lab { name: string; c: Cluster; h: Host[]; pids: number[] }

async function setUp(name: string, bin: string): Promise<Lab> {
  const c = new Cluster(`id${name}`, bin);
  const { h1, h2 } = await c.encryptedPair('bench-idle-password');
  const pids = [await c.routerPid(h1), await c.routerPid(h2)].map((p) => p ?? 0);
  return { name, c, h: [h1, h2], pids };
}

const labs: Lab[] = [];
try {
  labs.push(await setUp('r', join(refRoot, 'bin', 'tsweave')));
  labs.push(await setUp('n', join(ROOT, 'bin', 'tsweave')));
  for (const l of labs) console.log(`${l.name === 'r' ? 'ref' : 'new'} threads: ${(await threadNames(l.pids[0]!)).join(', ')}`);
  await sleep(10_000); // let the launches' own work settle
  const rows: Record<string, Ticks[]> = { ref: [], new: [] };
  for (let w = 0; w < WINDOWS; w++) {
    const before = await Promise.all(labs.flatMap((l) => l.pids.map(ticks)));
    await sleep(SECONDS * 1000);
    const after = await Promise.all(labs.flatMap((l) => l.pids.map(ticks)));
    const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
    labs.forEach((l, li) => {
      for (let hi = 0; hi < 2; hi++) {
        const i = li * 2 + hi, a = after[i]!, b = before[i]!;
        const d: Ticks = { main: a.main - b.main, threads: a.threads - b.threads, children: a.children - b.children };
        rows[l.name === 'r' ? 'ref' : 'new']!.push(d);
        const pct = (t: number) => ((t / HZ / SECONDS) * 100).toFixed(2);
        console.log(`window ${w + 1} ${l.name === 'r' ? 'ref' : 'new'} h${hi + 1}: main ${pct(d.main)}%  other threads ${pct(d.threads)}%  children ${pct(d.children)}%  (CPU % of one core; load ${load})`);
      }
    });
  }
  for (const [k, v] of Object.entries(rows)) {
    const sum = (f: (t: Ticks) => number) => v.reduce((s, t) => s + f(t), 0) / HZ / (v.length * SECONDS) * 100;
    console.log(`${k} mean per router: main ${sum((t) => t.main).toFixed(2)}%  other threads ${sum((t) => t.threads).toFixed(2)}%  children ${sum((t) => t.children).toFixed(2)}%  total ${sum((t) => t.main + t.threads + t.children).toFixed(2)}%`);
  }
  const traced = await Promise.all(labs.map((l) => execs(l.pids[0]!, SECONDS)));
  labs.forEach((l, i) => {
    const cmds = traced[i]!;
    const byCmd = new Map<string, number>();
    for (const c of cmds) byCmd.set(c, (byCmd.get(c) ?? 0) + 1);
    console.log(`${l.name === 'r' ? 'ref' : 'new'} h1 commands in ${SECONDS} s: ${cmds.length} (${(cmds.length * 60 / SECONDS).toFixed(1)}/min)`);
    for (const [c, n] of [...byCmd].sort((a, b) => b[1] - a[1])) console.log(`  ${n}× ${c}`);
  });
} finally {
  for (const l of labs.reverse()) await l.c.cleanup();
}
