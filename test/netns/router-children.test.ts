// The router's long-lived children die with it (io/router-bound.ts): a SIGKILLed router (OOM killer,
// kill -9, a native crash) must not leave `bridge monitor fdb` behind, which would otherwise live until the
// next forwarding-table event and then be joined by the relaunched router's own. Real kernel:
//   - the real CLI, one unencrypted host (the fast datapath, hence the monitor, is on), its router killed
//     with SIGKILL. (Its TAP going away deletes forwarding entries, an event that alone would end an
//     unbound monitor too: this one shows the whole router, not the binding);
//   - the FdbMonitor alone in a process of its own, in a namespace where no forwarding entry changes: the
//     process SIGKILLed, the monitor must still go (without the binding it stays).
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireRoot } from '../support/netns.js';
import { Cluster, waitFor, type Host } from '../support/cluster.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

requireRoot('the router children real-kernel test');

const c = new Cluster('rk');
let h1: Host;

/** PIDs of `pid`'s children (every thread's). */
async function children(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => []);
  const lists = await Promise.all(tasks.map((t) => readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '')));
  return lists.flatMap((l) => l.trim().split(/\s+/).filter(Boolean).map(Number));
}

const cmdline = async (pid: number) => (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ').trim();

/** Alive and not a zombie (a dead child waits for its new parent to reap it). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

beforeAll(async () => {
  await c.init();
  h1 = await c.addHost(1);
  await c.ok(h1, 'launch', '--nickname', 'h1', '--ipalloc-range', '');
}, 120_000);

afterAll(() => c.cleanup());

/** SIGKILLs `parent` once its `bridge monitor fdb` child runs; resolves when that child is gone (2 s at most). */
async function killAndWatchMonitor(parent: number): Promise<void> {
  const monitor = await waitFor('bridge monitor fdb running', async () => {
    for (const p of await children(parent)) if (/\bbridge monitor fdb$/.test(await cmdline(p))) return p;
    return undefined;
  }, 20_000);
  process.kill(parent, 'SIGKILL');
  await waitFor('parent gone', async () => !(await alive(parent)), 10_000, 20);
  const t0 = Date.now();
  await waitFor(`bridge monitor (pid ${monitor}) gone`, async () => !(await alive(monitor)), 2_000, 20).catch(async (err: unknown) => {
    try {
      process.kill(monitor, 'SIGKILL'); // leave nothing behind: the test made it
    } catch { /* gone */ }
    throw err;
  });
  console.log(`bridge monitor gone ${Date.now() - t0} ms after its parent`);
}

test('SIGKILL of the router: its `bridge monitor fdb` is gone within 2 s', async () => {
  const router = (await c.routerPid(h1))!;
  assert.ok(router, 'router pid');
  await killAndWatchMonitor(router);
});

test('SIGKILL of a process running FdbMonitor where no forwarding entry changes: the monitor is gone within 2 s', async () => {
  const ns = await c.lab.addNetns('quiet');
  await c.lab.ip(ns, 'link', 'add', 'br-q', 'type', 'bridge');
  const script = `import(${JSON.stringify(join(ROOT, 'dist', 'src', 'io', 'fdb-monitor.js'))}).then((m) => {
    new m.FdbMonitor({ bridge: 'br-q', ownPorts: [], onEvent: () => {}, logger: { warn() {}, info() {}, debug() {}, error() {} } }).start();
    setInterval(() => {}, 60_000);
  })`;
  const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '-e', script], { stdio: 'ignore' });
  c.lab.onCleanup(() => { try { child.kill('SIGKILL'); } catch { /* gone */ } });
  await killAndWatchMonitor(child.pid!);
});
