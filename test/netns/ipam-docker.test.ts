// Issues 4 and 10.6, Docker: a container attached without an address that stops keeps it — also past the
// grace period (TSWEAVE_DEAD_CONTAINER_GRACE_MS, 4 s here), which is only for pid:/netns references —
// gets it back on `docker start`, and only `docker rm` frees it for the next container.
//
//   underlay ── h1 (router + dockerd, consensus of one)
//                 ├── job   (Docker, --net=none, `sleep`, killed, started, stopped, removed)
//                 ├── other (Docker, --net=none)   attached while job is stopped: another address
//                 └── next  (Docker, --net=none)   attached after job's removal: job's address
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { requireRoot } from '../support/netns.js';
import { ensureDockerInstalled, importBusyboxImage, startDockerd, TEST_IMAGE, type TestDockerd } from '../support/docker.js';
import { Cluster, sleep, waitFor, type Host } from '../support/cluster.js';

requireRoot('the IPAM Docker test');

const GRACE_MS = 4_000;
const c = new Cluster('ipdk');
let h1: Host;
let dockerd: TestDockerd | undefined;

async function active(): Promise<number> {
  const first = (await c.ok(h1, 'status', 'ipam')).split('\n')[0] ?? '';
  const m = /\((\d+) active\)$/.exec(first);
  assert.ok(m, `no local line in status ipam: ${JSON.stringify(first)}`);
  return Number(m[1]);
}

beforeAll(async () => {
  await ensureDockerInstalled();
  await c.init();
  h1 = await c.addHost(1);
  dockerd = await startDockerd({ netnsPath: h1.ns.path });
  c.lab.onCleanup(() => dockerd?.stop());
  await importBusyboxImage(dockerd);
  h1.env.DOCKER_HOST = dockerd.dockerHost;
  h1.env.TSWEAVE_DEAD_CONTAINER_GRACE_MS = String(GRACE_MS);
  await c.ok(h1, 'launch', '--nickname', 'h1');
});

afterAll(async () => {
  await c.cleanup();
});

test('a Docker container that stops keeps its address (past the grace period), gets it back on start; rm releases it', async () => {
  await dockerd!.docker('run', '-d', '--name', 'job', '--net=none', TEST_IMAGE, 'sleep', '100000');
  const addr = (await c.ok(h1, 'attach', 'job')).trim();
  assert.match(addr, /^10\.32\.0\.\d+$/);
  assert.equal(await active(), 1);
  const inside = await dockerd!.docker('exec', 'job', 'ip', '-o', '-4', 'addr', 'show', 'ethwe');
  assert.match(inside.stdout, new RegExp(`inet ${addr.replace(/\./g, '\\.')}/12 `));

  await dockerd!.docker('kill', 'job');
  // A stopped container keeps its address for as long as it exists (the grace period is for namespaces).
  await sleep(GRACE_MS + 2_000);
  assert.equal(await active(), 1, 'a stopped container lost its address');
  await dockerd!.docker('start', 'job');
  const back = await waitFor('ethwe back after docker start', async () => {
    const r = await dockerd!.docker('exec', 'job', 'ip', '-o', '-4', 'addr', 'show', 'ethwe').catch(() => undefined);
    return r?.stdout.includes('inet') ? r.stdout : undefined;
  }, 20_000, 250);
  assert.match(back, new RegExp(`inet ${addr.replace(/\./g, '\\.')}/12 `));
  assert.equal(await active(), 1);

  // Another container meanwhile gets another address, not the stopped one's.
  await dockerd!.docker('stop', '-t', '1', 'job');
  await dockerd!.docker('run', '-d', '--name', 'other', '--net=none', TEST_IMAGE, 'sleep', '100000');
  assert.notEqual((await c.ok(h1, 'attach', 'other')).trim(), addr);

  // Removal releases it: the next container gets it again.
  await dockerd!.docker('rm', 'job');
  await waitFor('the removed container\'s address to be released', async () => (await active()) === 1, 20_000, 250);
  await dockerd!.docker('run', '-d', '--name', 'next', '--net=none', TEST_IMAGE, 'sleep', '100000');
  assert.equal((await c.ok(h1, 'attach', 'next')).trim(), addr);
  assert.equal(await active(), 2);
});
