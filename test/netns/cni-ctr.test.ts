// containerd's own client as the CNI runtime (TEST-ENV §2: `ctr run --cni`, libcni/go-cni): on two
// simulated hosts (ctr run inside each host's namespace, so the plugin reaches that host's router), the
// containers ping each other across hosts and reach a container attached with `tsweave attach`; `--rm`
// calls DEL and the address is released. ctr reads the fixed /etc/cni/net.d and /opt/cni/bin: the test
// installs there with `tsweave setup-cni` and puts back whatever was there before.
import { copyFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { Cluster, inNs, waitFor, type Host } from '../support/cluster.js';
import { ensureDockerInstalled, importBusyboxImage, startDockerd, TEST_IMAGE, type TestDockerd } from '../support/docker.js';
import { requireRoot, sh, type Netns } from '../support/netns.js';
import { exec } from '../../src/io/exec.js';

requireRoot('the ctr CNI test');

const INSTALLED = ['/opt/cni/bin/tsweave-net', '/etc/cni/net.d/10-tsweave.conflist'];
const CTR_NS = 'tsweave-cni';

describe('ctr run --cni on two hosts', () => {
  const cluster = new Cluster('cnictr');
  let d: TestDockerd | undefined;
  let h1: Host;
  let h2: Host;
  let c3: Netns;
  let c3ip: string;
  let backup: string;
  const saved: string[] = [];
  const createdDirs: string[] = [];
  const ctr = (host: Host, ...args: string[]) =>
    exec('ip', ['netns', 'exec', host.ns.name, 'ctr', '-a', join(d!.dir, 'exec', 'containerd', 'containerd.sock'), '-n', CTR_NS, ...args], { timeoutMs: 60_000 });
  const image = `docker.io/${TEST_IMAGE}:latest`;
  const taskPid = async (host: Host, name: string) => {
    const line = (await ctr(host, 'task', 'ls')).stdout.split('\n').find((l) => l.startsWith(`${name} `));
    return Number(line?.trim().split(/\s+/)[1]);
  };
  const ipOf = async (host: Host, id: string) => {
    const line = (await cluster.ok(host, 'ps')).split('\n').find((l) => l.startsWith(`cni:${id}`)) ?? '';
    return /(\d+\.\d+\.\d+\.\d+)\/\d+/.exec(line)?.[1];
  };

  beforeAll(async () => {
    await ensureDockerInstalled();
    backup = await mkdtemp('/tmp/tsw-cni-backup-');
    for (const dir of ['/opt/cni', '/opt/cni/bin', '/etc/cni', '/etc/cni/net.d']) {
      if (!(await stat(dir).catch(() => undefined))) createdDirs.push(dir);
    }
    for (const f of INSTALLED) {
      if (await stat(f).catch(() => undefined)) {
        await copyFile(f, join(backup, f.replace(/\//g, '_')));
        saved.push(f);
      }
    }
    d = await startDockerd();
    await importBusyboxImage(d);
    const tar = join(d.dir, 'bb.tar');
    await d.docker('save', '-o', tar, TEST_IMAGE);
    await cluster.init();
    [h1, h2] = await Promise.all([cluster.addHost(1), cluster.addHost(2)]);
    await ctr(h1, 'images', 'import', tar);
    c3 = await cluster.addContainer('c3');
    await cluster.ok(h1, 'launch', '--nickname', 'h1');
    await cluster.ok(h2, 'launch', '--nickname', 'h2', h1.ip);
    await waitFor('h1 and h2 established', async () => / established /.test(await cluster.ok(h1, 'status', 'connections')));
    c3ip = (await cluster.ok(h2, 'attach', c3.name)).trim().split('/')[0]!;
    await cluster.ok(h1, 'setup-cni', '--bin-dir', '/opt/cni/bin');
  }, 180_000);

  afterAll(async () => {
    if (d) {
      for (const h of [h1, h2]) {
        for (const name of ['ctr1', 'ctr2']) {
          await ctr(h, 'task', 'kill', '-s', 'KILL', name).catch(() => undefined);
          await ctr(h, 'task', 'rm', '-f', name).catch(() => undefined);
          await ctr(h, 'container', 'rm', name).catch(() => undefined);
        }
      }
      await ctr(h1, 'images', 'rm', image).catch(() => undefined);
      await d.stop();
    }
    await cluster.cleanup();
    for (const f of INSTALLED) await rm(f, { force: true });
    for (const f of saved) await copyFile(join(backup, f.replace(/\//g, '_')), f);
    await rm(backup, { recursive: true, force: true });
    for (const n of ['ctr1', 'ctr2', 'ctr3']) await rm(`/var/lib/cni/results/tsweave-${CTR_NS}-${n}-eth0`, { force: true });
    // The directories setup-cni had to create go too (rmdir: only when empty).
    for (const dir of createdDirs.reverse()) await sh('rmdir', dir).catch(() => undefined);
  }, 120_000);

  test('containers on two hosts ping each other and an attached container; --rm releases the address', async () => {
    await ctr(h1, 'run', '-d', '--cni', image, 'ctr1', 'sleep', '100000');
    await ctr(h2, 'run', '-d', '--cni', image, 'ctr2', 'sleep', '100000');
    const ip1 = await waitFor('ctr1 in ps', () => ipOf(h1, `${CTR_NS}-ctr1`));
    const ip2 = await waitFor('ctr2 in ps', () => ipOf(h2, `${CTR_NS}-ctr2`));
    assert.notEqual(ip1, ip2);
    const pid1 = await taskPid(h1, 'ctr1');
    assert.ok(pid1 > 0);
    const ping = async (to: string) => (await exec('nsenter', [`--net=/proc/${pid1}/ns/net`, 'ping', '-c', '1', '-W', '1', to]).then(() => true, () => false));
    await waitFor('ctr1 reaches ctr2 on h2', () => ping(ip2), 30_000);
    await waitFor('ctr1 reaches the attached c3 on h2', () => ping(c3ip), 30_000);

    // --rm: ctr calls DEL (with an empty CNI_NETNS) when the task exits.
    const out = (await ctr(h1, 'run', '--rm', '--cni', image, 'ctr3', 'ip', '-4', 'addr', 'show', 'eth0')).stdout;
    const ip3 = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(out)?.[1];
    assert.ok(ip3, out);
    assert.equal(await ipOf(h1, `${CTR_NS}-ctr3`), undefined);
    const lookup = await inNs(h1.ns.name, [process.execPath, '-e',
      `fetch('http://127.0.0.1:6784/ip/cni:${CTR_NS}-ctr3').then(r => process.stdout.write(String(r.status)))`]);
    assert.equal(lookup, '404');
    // The conflist is the one setup-cni wrote.
    assert.equal((JSON.parse(await readFile('/etc/cni/net.d/10-tsweave.conflist', 'utf8')) as { name: string }).name, 'tsweave');
  }, 120_000);
});
