// Issue 10.5, restart and resume on real kernels, through the real CLI:
//
//   underlay ── h1 (router) ── h2 (launched with h1) ── h3 (launched with h1)
//
// h2's router dies (SIGKILL, as a crash) and is relaunched WITHOUT peer arguments: it dials the targets
// and peers it kept in its data dir, so its connections come back established (before the fix it stayed
// alone: h1 and h3 had forgotten it). `forget` on h2 survives a stop/launch: the target stays gone.
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { requireRoot } from '../support/netns.js';
import { Cluster, waitFor, type Host } from '../support/cluster.js';

requireRoot('the resume test');

const c = new Cluster('rs');
let h1: Host, h2: Host, h3: Host;

/** Nicknames of the peers `h` has an established connection with. */
async function establishedWith(h: Host): Promise<string[]> {
  const out = await c.ok(h, 'status', 'connections');
  return out.split('\n').filter((l) => / established /.test(l)).map((l) => /\((\w+)\)/.exec(l)?.[1] ?? '?').sort();
}

beforeAll(async () => {
  await c.init();
  [h1, h2, h3] = [await c.addHost(1), await c.addHost(2), await c.addHost(3)];
  await c.ok(h1, 'launch', '--nickname', 'h1', '--ipalloc-range', '');
  await c.ok(h2, 'launch', '--nickname', 'h2', '--ipalloc-range', '', h1.ip);
  await c.ok(h3, 'launch', '--nickname', 'h3', '--ipalloc-range', '', h1.ip);
  await waitFor('h2 connected to h1 and h3', async () => (await establishedWith(h2)).join() === 'h1,h3', 60_000);
}, 120_000);

afterAll(async () => {
  await c.cleanup();
});

test('a crashed router relaunched without peer arguments reconnects to the peers of its last run', async () => {
  await c.killRouter(h2, 'SIGKILL');
  await waitFor('h1 to drop h2', async () => !(await establishedWith(h1)).includes('h2'), 90_000);
  await c.ok(h2, 'launch', '--nickname', 'h2', '--ipalloc-range', '');
  await waitFor('h2 connected to h1 and h3 again', async () => (await establishedWith(h2)).join() === 'h1,h3', 60_000);
  assert.deepEqual((await c.ok(h2, 'status', 'targets')).split('\n').filter(Boolean).sort(), [`${h1.ip}:6783`, `${h3.ip}:6783`]);
}, 180_000);

test('forget removes a target durably: after a stop and a launch only the other target is dialled', async () => {
  await c.ok(h2, 'forget', h1.ip);
  await c.ok(h2, 'stop');
  await c.ok(h2, 'launch', '--nickname', 'h2', '--ipalloc-range', '');
  assert.equal(await c.ok(h2, 'status', 'targets'), `${h3.ip}:6783\n`);
}, 120_000);
