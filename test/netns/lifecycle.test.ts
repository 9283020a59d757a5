// Issue 2, the router's life cycle on one host through the real CLI:
//
//   underlay ── h1 (router) ── c1 10.32.0.1/12
//
// launch → launch again refused → stop (the container keeps its interface) → CLI says not running →
// launch again (same peer name, from the data dir) → the bridge deleted, the TAP downed by hand, put back
// (daemon/plumbing-keeper.ts) → the TAP deleted: the router stops with the reason → reset (bridge and
// state gone).
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireRoot, type Netns } from '../support/netns.js';
import { Cluster, waitFor, type Host } from '../support/cluster.js';

requireRoot('the router life-cycle test');

const c = new Cluster('lc');
let h1: Host, c1: Netns;
let name = '';

beforeAll(async () => {
  await c.init();
  h1 = await c.addHost(1);
  c1 = await c.addContainer('c1');
});

afterAll(async () => {
  await c.cleanup();
});

test('launch prints the peer name and writes a pid file and a log', async () => {
  name = (await c.ok(h1, 'launch', '--nickname', 'h1')).trim();
  assert.match(name, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  assert.ok(existsSync(join(h1.dataDir, 'tsweave.pid')));
  assert.ok(existsSync(join(h1.dataDir, 'tsweave.log')));
  const bridge = await c.run(h1.ns, 'ip', '-o', 'link', 'show', 'weave');
  assert.match(bridge.stdout, /mtu 1376/);
  const tap = await c.run(h1.ns, 'ip', '-o', 'link', 'show', 'vethwe-tap');
  assert.match(tap.stdout, /master weave/);
});

test('a second launch in the same namespace is refused with exit code 1', async () => {
  const r = await c.tsweave(h1, 'launch', '--nickname', 'h1');
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim(), 'tsweave is already running');
});

test('version names the CLI and the running router', async () => {
  const out = await c.ok(h1, 'version');
  assert.match(out, /^tsweave \d+\.\d+\.\d+\ntsweave router \d+\.\d+\.\d+\n$/);
});

test('bad input to the running router is a usage error naming the value', async () => {
  const r = await c.tsweave(h1, 'attach', '10.32.0.1/40', c1.name);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /10\.32\.0\.1\/40/);
});

test('stop ends the router; the container keeps its interface; commands say it is not running', async () => {
  await c.ok(h1, 'attach', '10.32.0.1/12', c1.name);
  await c.ok(h1, 'stop');
  assert.equal(await c.routerPid(h1), undefined, 'pid file removed');
  const addr = await c.run(c1, 'ip', '-o', '-4', 'addr', 'show', 'ethwe');
  assert.match(addr.stdout, /10\.32\.0\.1\/12/);
  const r = await c.tsweave(h1, 'status');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^tsweave is not running/);
});

test('launch again keeps the peer name kept in the data dir', async () => {
  const again = (await c.ok(h1, 'launch', '--nickname', 'h1')).trim();
  assert.equal(again, name);
  const ps = await c.ok(h1, 'ps');
  assert.match(ps, /10\.32\.0\.1\/12/);
});

test('the bridge deleted, the TAP downed, a veth taken off by hand: the router puts them back, addresses included', async () => {
  const exposed = (await c.ok(h1, 'expose')).trim().replace(/\/\d+$/, '');
  const reach = async () => (await c.run(c1, 'ping', '-c', '1', '-W', '1', exposed)).code === 0;
  await waitFor('c1 to reach the exposed host address', reach, 10_000);
  await c.run(h1.ns, 'ip', 'link', 'del', 'weave');
  await waitFor('c1 to reach the host again after the bridge was deleted', reach, 15_000);
  assert.match((await c.run(h1.ns, 'ip', '-o', 'link', 'show', 'vethwe-tap')).stdout, /master weave/);
  await c.run(h1.ns, 'ip', 'link', 'set', 'vethwe-tap', 'down');
  await waitFor('the TAP to be up again', async () => /[<,]UP[,>]/.test((await c.run(h1.ns, 'ip', '-o', 'link', 'show', 'vethwe-tap')).stdout), 15_000);
  // Deleted while the router is down: the relaunch puts c1's veth back on the new bridge.
  await c.ok(h1, 'stop');
  await c.run(h1.ns, 'ip', 'link', 'del', 'weave');
  await c.ok(h1, 'launch', '--nickname', 'h1');
  assert.match((await c.run(h1.ns, 'ip', '-o', 'link', 'show', 'type', 'veth')).stdout, /vethwepl\S* .*master weave/);
}, 90_000);

test('the TAP deleted by hand: the router stops at once with the reason (a supervisor relaunches it whole)', async () => {
  await c.run(h1.ns, 'ip', 'link', 'del', 'vethwe-tap');
  await waitFor('the router to stop', async () => (await c.tsweave(h1, 'status')).code === 1, 15_000);
  assert.match(await readFile(join(h1.dataDir, 'tsweave.log'), 'utf8'), /TAP vethwe-tap was deleted/);
  await c.ok(h1, 'launch', '--nickname', 'h1');
}, 60_000);

test('reset stops the router and removes the bridge and the state', async () => {
  await c.ok(h1, 'reset');
  const bridge = await c.run(h1.ns, 'ip', 'link', 'show', 'weave');
  assert.notEqual(bridge.code, 0, 'bridge still there');
  assert.ok(!existsSync(join(h1.dataDir, 'peer-name')));
  const fresh = (await c.ok(h1, 'launch', '--nickname', 'h1')).trim();
  assert.notEqual(fresh, name, 'a reset router starts with a new identity');
});
