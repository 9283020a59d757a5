// `npm run soak`: three real routers (network namespaces, real CLI) with containers, while faults are
// injected in a loop — SIGKILL and relaunch, an underlay partition, a full data dir, DNS queries whose
// upstream has no route, and (when dockerd is installed) Docker container restarts. At the end it checks
// the promises a host's network depends on and prints a summary table:
//   - no address is held by two containers (read from the kernel, every container's `ethwe`);
//   - no claim is lost (every address a container holds is in its host's `tsweave ps`);
//   - every router answered its API throughout (a prober inside each host polls GET /status; the worst
//     latency and any gap are reported);
//   - ping between containers on different hosts recovered after each fault (time to recover).
// Root only; not part of `npm test`. SOAK_SECONDS (default 240) bounds the fault loop; SOAK_SEED picks
// the fault order. Exit 0 when every check holds, 1 otherwise.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Cluster, sleep, waitFor, type Host } from '../test/support/cluster.js';
import { findExecutable } from '../src/io/exec.js';
import { requireRoot, sh, type Netns } from '../test/support/netns.js';
import { startDockerd, importBusyboxImage, type TestDockerd } from '../test/support/docker.js';
import { seededRng } from '../test/support/rng.js';

requireRoot('the soak test');

const SECONDS = Number(process.env.SOAK_SECONDS ?? 240);
const SEED = Number(process.env.SOAK_SEED ?? 1);
const PW = randomBytes(12).toString('hex');
const CONTAINERS_PER_HOST = 2;
const DATA_DIR_SIZE = '4m';
const RECOVERY_LIMIT_MS = 60_000;

const c = new Cluster('soak');
const hosts: Host[] = [];
const containers: Array<{ host: Host; ns: Netns; name: string }> = [];
/** Every namespace an attach was tried on, failed ones too: what they hold counts for "no address twice". */
const tried: Netns[] = [];
const probes: ChildProcess[] = [];
const apiSamples = new Map<number, { n: number; fail: number; worstMs: number; gapMs: number; last: number }>();
const faults: Array<{ kind: string; host: string; recoveredMs: number | undefined; note: string }> = [];
let dockerd: TestDockerd | undefined;
let dockerContainer: string | undefined;

const launchArgs = (h: Host): string[] => ['launch', '--password', PW, '--nickname', `h${h.n}`, ...(h.n === 1 ? [] : [hosts[0]!.ip])];

/** A prober inside the host's namespace: GET /status every 250 ms, one JSON line per answer. */
function startProbe(h: Host): void {
  const code = `
    const http = require('node:http');
    const tick = () => {
      const t0 = Date.now();
      const req = http.get({ host: '127.0.0.1', port: 6784, path: '/status', timeout: 10000 }, (res) => {
        res.resume(); res.on('end', () => console.log(JSON.stringify({ ok: res.statusCode === 200, ms: Date.now() - t0 })));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => console.log(JSON.stringify({ ok: false, ms: Date.now() - t0 })));
    };
    setInterval(tick, 250);`;
  const p = spawn('ip', ['netns', 'exec', h.ns.name, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'ignore'] });
  probes.push(p);
  const s = { n: 0, fail: 0, worstMs: 0, gapMs: 0, last: Date.now() };
  apiSamples.set(h.n, s);
  let buf = '';
  p.stdout!.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const r = JSON.parse(line) as { ok: boolean; ms: number };
        s.n++;
        if (!r.ok) s.fail++;
        else {
          s.worstMs = Math.max(s.worstMs, r.ms);
          s.gapMs = Math.max(s.gapMs, Date.now() - s.last);
          s.last = Date.now();
        }
      } catch {
        // a partial line: the next chunk completes it
      }
    }
  });
}

/** While a router is down on purpose, its prober's failures are expected: restart the gap clock. */
function excuse(h: Host): { resume: () => void } {
  const s = apiSamples.get(h.n)!;
  const failsBefore = s.fail;
  return {
    resume: () => {
      s.fail = failsBefore;
      s.last = Date.now();
    },
  };
}

async function ethweAddrs(ns: Netns): Promise<string[]> {
  const r = await sh('ip', '-n', ns.name, '-4', '-o', 'addr', 'show', 'dev', 'ethwe').catch(() => ({ stdout: '' }));
  return [...r.stdout.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]!);
}

/** Time until every container pings one container on each other host again (undefined: never). */
async function pingRecovery(): Promise<number | undefined> {
  const t0 = Date.now();
  const pairs: Array<[Netns, string]> = [];
  for (const a of containers) {
    for (const b of containers) {
      if (a.host === b.host || !(await ethweAddrs(b.ns))[0]) continue;
      pairs.push([a.ns, (await ethweAddrs(b.ns))[0]!]);
    }
  }
  try {
    await waitFor('ping between every pair of containers', async () => {
      const results = await Promise.all(pairs.map(([ns, ip]) => c.run(ns, 'ping', '-c', '1', '-W', '1', ip)));
      return results.every((r) => r.code === 0);
    }, RECOVERY_LIMIT_MS, 250);
    return Date.now() - t0;
  } catch {
    return undefined;
  }
}

async function setup(): Promise<void> {
  await c.init();
  for (const n of [1, 2, 3]) {
    const h = await c.addHost(n);
    // The data dir on a small tmpfs of its own, so "disk full" is a real ENOSPC.
    await mkdir(h.dataDir, { recursive: true });
    await sh('mount', '-t', 'tmpfs', '-o', `size=${DATA_DIR_SIZE}`, 'tmpfs', h.dataDir);
    c.lab.onCleanup(() => sh('umount', '-l', h.dataDir).catch(() => undefined));
    h.env.TSWEAVE_DEAD_CONTAINER_GRACE_MS = '2000';
    hosts.push(h);
  }
  // h1's router talks to a private dockerd in h1's namespace (its DOCKER_HOST is read at launch).
  if (await findExecutable('dockerd')) {
    dockerd = await startDockerd({ netnsPath: hosts[0]!.ns.path });
    c.lab.onCleanup(() => dockerd?.stop());
    hosts[0]!.env.DOCKER_HOST = dockerd.dockerHost;
  }
  for (const h of hosts) await c.ok(h, ...launchArgs(h));
  for (const h of hosts) {
    for (let i = 0; i < CONTAINERS_PER_HOST; i++) {
      const ns = await c.addContainer(`c${h.n}${i}`);
      await waitFor(`attach on h${h.n}`, async () => (await c.tsweave(h, 'attach', ns.name)).code === 0, 60_000, 500);
      containers.push({ host: h, ns, name: ns.name });
    }
    startProbe(h);
  }
  if (dockerd) {
    const image = await importBusyboxImage(dockerd);
    dockerContainer = (await dockerd.docker('run', '-d', '--net=none', '--name', 'soak-web', image, 'sleep', '100000')).stdout.trim();
    await c.ok(hosts[0]!, 'attach', 'soak-web');
  }
}

type Fault = (h: Host) => Promise<string>;

const FAULTS: Record<string, Fault> = {
  async 'sigkill+relaunch'(h) {
    const ex = excuse(h);
    await c.killRouter(h, 'SIGKILL');
    const r = await c.tsweave(h, ...launchArgs(h));
    ex.resume();
    return r.code === 0 ? 'relaunched' : `relaunch failed: ${r.stderr.trim()}`;
  },
  async partition(h) {
    // Cut the host's underlay port on the switch for 8 s.
    const port = `p${h.n - 1}`;
    await sh('ip', '-n', c.underlay.ns.name, 'link', 'set', port, 'down');
    await sleep(8_000);
    await sh('ip', '-n', c.underlay.ns.name, 'link', 'set', port, 'up');
    return 'underlay port down 8 s';
  },
  async 'full data dir'(h) {
    const fill = join(h.dataDir, 'fill');
    await sh('sh', '-c', `dd if=/dev/zero of=${fill} bs=64k 2>/dev/null; true`);
    const ns = await c.addContainer(`f${h.n}${randomBytes(2).toString('hex')}`);
    tried.push(ns);
    const r = await c.tsweave(h, 'attach', ns.name);
    const held = await ethweAddrs(ns);
    await rm(fill, { force: true });
    if (r.code === 0) containers.push({ host: h, ns, name: ns.name });
    // All-or-nothing: a failed attach leaves no address in the container.
    if (r.code !== 0 && held.length > 0) return `FAILED attach left ${held.join(',')} in ${ns.name}`;
    return r.code === 0 ? 'attach succeeded on a full disk' : `attach refused: ${r.stderr.trim().slice(0, 80)}`;
  },
  async 'dns to dead upstream'(h) {
    // The router's resolv.conf names upstreams with no route (IPv4 and IPv6); containers ask for outside names.
    const etc = `/etc/netns/${h.ns.name}`;
    await mkdir(etc, { recursive: true });
    c.lab.onCleanup(() => rm(etc, { recursive: true, force: true }));
    await writeFile(join(etc, 'resolv.conf'), 'nameserver 10.255.255.1\nnameserver fd00::53\n');
    const dnsArgs = (await c.tsweave(h, 'dns-args')).stdout;
    const server = /--dns=(\S+)/.exec(dnsArgs)?.[1];
    if (!server) return 'no DNS address';
    const mine = containers.filter((x) => x.host === h);
    for (let i = 0; i < 20; i++) await c.run(mine[i % mine.length]!.ns, 'dig', '+tries=1', '+time=1', `@${server}`, `x${i}.example.org`);
    const alive = (await c.tsweave(h, 'status')).code === 0;
    return alive ? '20 outside queries, router alive' : 'ROUTER DOWN after outside queries';
  },
  async 'docker restart'(h) {
    if (!dockerd || h.n !== 1 || !dockerContainer) return 'skipped (no dockerd on this host)';
    const before = await dockerd.docker('inspect', '-f', '{{.State.Pid}}', dockerContainer);
    await dockerd.docker('restart', '-t', '1', dockerContainer);
    const pid = (await dockerd.docker('inspect', '-f', '{{.State.Pid}}', dockerContainer)).stdout.trim();
    const back = await waitFor('ethwe back after docker restart', async () => {
      const r = await sh('nsenter', `--net=/proc/${pid}/ns/net`, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'ethwe').catch(() => undefined);
      return r?.stdout.includes('inet') ? r.stdout : undefined;
    }, 20_000, 250).catch(() => undefined);
    return back ? `re-attached (pid ${before.stdout.trim()} → ${pid})` : 'NOT re-attached within 20 s';
  },
};

async function finalChecks(): Promise<string[]> {
  const problems: string[] = [];
  const holder = new Map<string, string>();
  for (const ns of [...containers.map((x) => x.ns), ...tried.filter((t) => !containers.some((x) => x.ns === t))]) {
    for (const a of await ethweAddrs(ns)) {
      if (holder.has(a)) problems.push(`address ${a} held by ${holder.get(a)} and ${ns.name}`);
      holder.set(a, ns.name);
    }
  }
  for (const h of hosts) {
    const ps = (await c.tsweave(h, 'ps')).stdout;
    for (const x of containers.filter((y) => y.host === h)) {
      for (const a of await ethweAddrs(x.ns)) if (!ps.includes(a)) problems.push(`h${h.n}: ${x.name} holds ${a} but ps does not list it (claim lost)`);
    }
  }
  for (const [n, s] of apiSamples) {
    if (s.fail > 0) problems.push(`h${n}: ${s.fail} API probes failed outside excused windows`);
    if (s.gapMs > 15_000) problems.push(`h${n}: API did not answer for ${s.gapMs} ms`);
  }
  for (const f of faults) {
    if (f.recoveredMs === undefined) problems.push(`ping did not recover after ${f.kind} on ${f.host}`);
    if (/FAILED|DOWN|NOT /.test(f.note)) problems.push(`${f.kind} on ${f.host}: ${f.note}`);
  }
  return problems;
}

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(w[i]!)).join('  ')).join('\n');
}

async function main(): Promise<number> {
  const rng = seededRng(SEED);
  const t0 = Date.now();
  await setup();
  console.log(`soak: 3 hosts, ${containers.length} containers${dockerd ? ' + 1 Docker container' : ''}; faults for ${SECONDS} s (seed ${SEED})`);
  const kinds = Object.keys(FAULTS);
  let i = 0;
  while (Date.now() - t0 < SECONDS * 1000) {
    const kind = kinds[i++ % kinds.length]!;
    const h = kind === 'docker restart' ? hosts[0]! : hosts[rng.int(hosts.length)]!;
    const note = await FAULTS[kind]!(h);
    const recoveredMs = await pingRecovery();
    faults.push({ kind, host: `h${h.n}`, recoveredMs, note });
    console.log(`  ${kind.padEnd(22)} h${h.n}  ping back in ${recoveredMs ?? 'never'} ms  ${note}`);
  }
  const problems = await finalChecks();
  console.log('\nfaults');
  console.log(table([
    ['fault', 'count', 'recovered', 'median ms', 'max ms'],
    ...kinds.map((k) => {
      const fs = faults.filter((f) => f.kind === k);
      const ms = fs.map((f) => f.recoveredMs).filter((v): v is number => v !== undefined).sort((a, b) => a - b);
      return [k, String(fs.length), `${ms.length}/${fs.length}`, String(ms[Math.floor(ms.length / 2)] ?? '-'), String(ms.at(-1) ?? '-')];
    }),
  ]));
  console.log('\nAPI (GET /status every 250 ms from inside each host)');
  console.log(table([
    ['host', 'probes', 'failed', 'worst ms', 'longest gap ms'],
    ...[...apiSamples].map(([n, s]) => [`h${n}`, String(s.n), String(s.fail), String(s.worstMs), String(s.gapMs)]),
  ]));
  const addrs = (await Promise.all(containers.map((x) => ethweAddrs(x.ns)))).flat();
  console.log(`\naddresses held: ${addrs.length}, distinct: ${new Set(addrs).size}`);
  console.log(problems.length === 0 ? 'soak: every check held' : `soak: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  return problems.length === 0 ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error('soak: aborted:', err);
} finally {
  for (const p of probes) p.kill('SIGKILL');
  await c.cleanup();
}
process.exit(code);
