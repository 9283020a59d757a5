// Issue 10.6, commands that must find their router and their object, on a real kernel:
//
//   underlay ── h1 (router launched with --data-dir D, while TSWEAVE_DATA_DIR names another dir E)
//                └── c1 (a namespace attached with 10.32.0.1/12)
//
// detach net:CIDR removes the container's addresses in that subnet (it said "IPAM is disabled");
// stop/reset act on D, found through the per-netns runtime record (they used E); reset removes the
// host veths it made, the bridge, every state file in D and the record. Issue 10.7: a launch that fails
// (port taken, bad data dir) prints one readable line, not the router's JSON log.
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { killAndWait, requireRoot, type Netns } from '../support/netns.js';
import { Cluster, waitFor, type Host } from '../support/cluster.js';

requireRoot('the data-dir record test');

const c = new Cluster('dd');
let h1: Host, c1: Netns;
let tmp = '', dataDir = '', decoy = '', runDir = '';

beforeAll(async () => {
  await c.init();
  tmp = await mkdtemp(join(tmpdir(), 'tsw-dd-'));
  [dataDir, decoy, runDir] = [join(tmp, 'D'), join(tmp, 'E'), join(tmp, 'run')];
  h1 = await c.addHost(1);
  h1.dataDir = dataDir; // where the cluster finds the pid to kill on cleanup
  h1.env = { TSWEAVE_DATA_DIR: decoy, TSWEAVE_RUN_DIR: runDir };
  c1 = await c.addContainer('c1');
  await c.ok(h1, 'launch', '--nickname', 'h1', '--data-dir', dataDir);
}, 90_000);

afterAll(async () => {
  await c.cleanup();
  await rm(tmp, { recursive: true, force: true });
});

test('the router registers its data dir for this network namespace', async () => {
  const files = readdirSync(runDir);
  assert.equal(files.length, 1);
  assert.match(files[0]!, /^netns-\d+\.json$/);
});

test('detach net:CIDR removes the addresses in that subnet', async () => {
  assert.equal((await c.ok(h1, 'attach', '10.32.0.1/12', c1.name)).trim(), '10.32.0.1');
  const r = await c.tsweave(h1, 'detach', 'net:10.32.0.0/12', c1.name);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout.trim(), '10.32.0.1');
  assert.equal((await c.run(c1, 'ip', '-o', '-4', 'addr', 'show')).stdout.includes('10.32.0.1'), false);
});

test('ps matches a netns name, fails in one line for an unknown container, and drops removed ones', async () => {
  await c.ok(h1, 'attach', '10.32.0.3/12', c1.name);
  const c2 = await c.addContainer('c2');
  await c.ok(h1, 'attach', '10.32.0.4/12', c2.name);
  assert.match(await c.ok(h1, 'ps', c1.name), /^\S+ [0-9a-f:]{17} 10\.32\.0\.3\/12\n$/);
  const unknown = await c.tsweave(h1, 'ps', 'no-such-container-xyz');
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stderr.trim().split('\n').length, 1);
  assert.match(unknown.stderr, /no-such-container-xyz/);
  await c.run(h1.ns, 'ip', 'netns', 'del', c2.name);
  const all = await c.ok(h1, 'ps');
  assert.match(all, /10\.32\.0\.3\/12/);
  assert.doesNotMatch(all, /10\.32\.0\.4/);
  await c.ok(h1, 'detach', c1.name);
}, 60_000);

test('reset finds the data dir without --data-dir and removes veths, bridge, state and record', async () => {
  await c.ok(h1, 'attach', '10.32.0.2/12', c1.name);
  assert.match((await c.run(h1.ns, 'ip', '-o', 'link', 'show', 'type', 'veth')).stdout, /vethwepl/);
  assert.ok(existsSync(join(dataDir, 'peer-name')));
  await c.ok(h1, 'reset');
  assert.deepEqual(readdirSync(dataDir).filter((f) => !f.startsWith('.')), []);
  assert.doesNotMatch((await c.run(h1.ns, 'ip', '-o', 'link', 'show', 'type', 'veth')).stdout, /vethwepl/);
  assert.notEqual((await c.run(h1.ns, 'ip', 'link', 'show', 'weave')).code, 0);
  assert.deepEqual(readdirSync(runDir), []);
  assert.equal((await c.run(c1, 'ip', 'link', 'show', 'ethwe')).code, 1);
}, 60_000);

test('stop and reset accept --data-dir; stop with nothing running says so', async () => {
  await c.ok(h1, 'launch', '--nickname', 'h1', '--data-dir', dataDir);
  await c.ok(h1, 'stop', '--data-dir', dataDir);
  const again = await c.tsweave(h1, 'stop', '--data-dir', dataDir);
  assert.equal(again.code, 0);
  assert.equal(again.stderr.trim(), 'tsweave is not running');
  await c.ok(h1, 'reset', '--data-dir', dataDir);
  assert.equal(existsSync(join(dataDir, 'peer-name')), false);
}, 90_000);

test('a launch whose port is taken prints the reason in one line and where the log is (issue 10.7)', async () => {
  const holder = spawn('ip', ['netns', 'exec', h1.ns.name, 'python3', '-c',
    'import socket,time\ns=socket.socket()\ns.bind(("0.0.0.0",6783))\ns.listen()\nprint("up",flush=True)\ntime.sleep(120)'],
  { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    let out = '';
    holder.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor('the port holder', async () => out.includes('up'), 10_000, 50);
    const r = await c.tsweave(h1, 'launch', '--nickname', 'h1', '--data-dir', dataDir);
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^tsweave: router failed to start: port 6783 is in use.* \(log: .*\/D\/tsweave\.log\)$/);
    assert.doesNotMatch(r.stderr, /[{}]|"level"|    at /);
  } finally {
    await killAndWait(holder);
  }
}, 60_000);

test('a data dir that cannot be one is a usage error naming it (issue 10.7)', async () => {
  const r = await c.tsweave(h1, 'launch', '--data-dir', join(dataDir, 'tsweave.log', 'x'));
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `tsweave: invalid --data-dir "${join(dataDir, 'tsweave.log', 'x')}": a part of the path is not a directory\n`);
});
