// Issue 4, Docker: a container attached without an address that exits has its address freed after the
// grace period (TSWEAVE_DEAD_CONTAINER_GRACE_MS, 4 s here; Weave's 30 s by default) — not before — and
// the next container can get that address again.
//
//   underlay ── h1 (router + dockerd, consensus of one)
//                 ├── job  (Docker, --net=none, `sleep`, killed)     attached without an address
//                 └── next (Docker, --net=none)                        attached after job's address was freed
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

test('a Docker container that exits has its address freed after the grace period, then reused', async () => {
  await dockerd!.docker('run', '-d', '--name', 'job', '--net=none', TEST_IMAGE, 'sleep', '100000');
  const addr = (await c.ok(h1, 'attach', 'job')).trim();
  assert.match(addr, /^10\.32\.0\.\d+$/);
  assert.equal(await active(), 1);
  const inside = await dockerd!.docker('exec', 'job', 'ip', '-o', '-4', 'addr', 'show', 'ethwe');
  assert.match(inside.stdout, new RegExp(`inet ${addr.replace(/\./g, '\\.')}/12 `));

  await dockerd!.docker('kill', 'job');
  const died = Date.now();
  // Within the grace period the address is still held (a restarting container would keep it).
  await sleep(1_000);
  assert.equal(await active(), 1, 'released before the grace period ended');
  await waitFor('the dead container\'s address to be released', async () => (await active()) === 0, 20_000, 250);
  const took = Date.now() - died;
  assert.ok(took >= GRACE_MS - 250, `released after ${took} ms, before the ${GRACE_MS} ms grace`);
  assert.doesNotMatch(await c.ok(h1, 'ps'), new RegExp(`${addr.replace(/\./g, '\\.')}/12`));

  // The freed address is the lowest free one again: the next container gets it.
  await dockerd!.docker('run', '-d', '--name', 'next', '--net=none', TEST_IMAGE, 'sleep', '100000');
  assert.equal((await c.ok(h1, 'attach', 'next')).trim(), addr);
  assert.equal(await active(), 1);
});
