// Issue 2, end to end on the real kernel, through the real CLI:
//
//   underlay switch ns (br0 10.200.0.0/24) ── h1 (router, pw) ── c1 10.32.0.1/12
//                                          ├─ h2 (router, pw) ── c2 10.32.0.2/12
//                                          ├─ h3 (router, WRONG pw) ── c3 10.32.0.3/12
//                                          ├─ h4 (router, no pw) ── c4 10.32.0.4/12
//                                          └─ h5 (router, no pw) ── c5 10.32.0.5/12
//
// h1/h2 are one encrypted mesh; h3 tries to join it with the wrong password; h4/h5 are a separate
// unencrypted mesh (the control case for the capture test).
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { requireRoot, killAndWait, type Netns } from '../support/netns.js';
import { Cluster, sleep, waitFor, type Host } from '../support/cluster.js';

requireRoot('the two-host overlay test');

const PW = randomBytes(12).toString('hex');
const c = new Cluster('2h');
let h1: Host, h2: Host, h3: Host, h4: Host, h5: Host;
let c1: Netns, c2: Netns, c3: Netns, c4: Netns, c5: Netns;

async function established(h: Host, peers = 1): Promise<boolean> {
  const out = await c.ok(h, 'status', 'connections');
  return out.split('\n').filter((l) => / established /.test(l)).length >= peers;
}

const ping = (from: Netns, to: string, ...extra: string[]) => c.run(from, 'ping', '-c', '3', '-W', '2', ...extra, to);

beforeAll(async () => {
  await c.init();
  [h1, h2, h3, h4, h5] = await Promise.all([1, 2, 3, 4, 5].map((n) => c.addHost(n)));
  [c1, c2, c3, c4, c5] = await Promise.all(['c1', 'c2', 'c3', 'c4', 'c5'].map((n) => c.addContainer(n)));
  await c.ok(h1, 'launch', '--password', PW, '--nickname', 'h1');
  await c.ok(h2, 'launch', '--password', PW, '--nickname', 'h2', h1.ip);
  await c.ok(h1, 'attach', '10.32.0.1/12', c1.name);
  await c.ok(h2, 'attach', '10.32.0.2/12', c2.name);
  await waitFor('h1 and h2 established', async () => (await established(h1)) && (await established(h2)));
});

afterAll(async () => {
  await c.cleanup();
});

describe('two hosts, one encrypted overlay', () => {
  test('launch printed a peer name and status shows the encrypted, established connection', async () => {
    const status = await c.ok(h1, 'status');
    assert.match(status, /Encryption: enabled/);
    assert.match(status, /Name: ([0-9a-f]{2}:){5}[0-9a-f]{2}\(h1\)/);
    assert.match(status, /Connections: 1 \(1 established\)/);
    const conns = await c.ok(h2, 'status', 'connections');
    assert.match(conns, /^-> 10\.200\.0\.1:6783\s+established encrypted\s+sleeve ([0-9a-f:]{17})\(h1\)/m);
    // h2's own entry reaches h1 by topology gossip, batched for up to a second.
    await waitFor('h1 to learn that h2 sees the connection established', async () =>
      /\(h2\)\n\s+-> 10\.200\.0\.1:6783\s+\S+\(h1\)\s+established/.test(await c.ok(h1, 'status', 'peers')));
    const targets = await c.ok(h2, 'status', 'targets');
    assert.equal(targets.trim(), '10.200.0.1:6783');
  });

  test('containers ping each other both ways', async () => {
    const a = await ping(c1, '10.32.0.2');
    assert.equal(a.code, 0, a.stdout + a.stderr);
    const b = await ping(c2, '10.32.0.1');
    assert.equal(b.code, 0, b.stdout + b.stderr);
  });

  test('attach set up ethwe with the bridge MTU, the address and the multicast route', async () => {
    const link = await c.run(c1, 'ip', '-o', 'link', 'show', 'ethwe');
    assert.match(link.stdout, /mtu 1376/);
    const addr = await c.run(c1, 'ip', '-o', '-4', 'addr', 'show', 'ethwe');
    assert.match(addr.stdout, /10\.32\.0\.1\/12/);
    const route = await c.run(c1, 'ip', 'route', 'show', '224.0.0.0/4');
    assert.match(route.stdout, /224\.0\.0\.0\/4 dev ethwe/);
    // Attaching again with the same address is a no-op.
    assert.equal((await c.ok(h1, 'attach', '10.32.0.1/12', c1.name)).trim(), '10.32.0.1');
    const again = await c.run(c1, 'ip', '-o', '-4', 'addr', 'show', 'ethwe');
    assert.equal(again.stdout.trim().split('\n').length, 1);
  });

  test('arping gets a reply across the overlay', async () => {
    const r = await c.run(c1, 'arping', '-c', '2', '-w', '4', '-I', 'ethwe', '10.32.0.2');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /reply from 10\.32\.0\.2/i);
  });

  test('an iperf3 run completes', async () => {
    const server = spawn('ip', ['netns', 'exec', c2.name, 'iperf3', '-s', '-1', '-B', '10.32.0.2'], { stdio: 'ignore' });
    try {
      await sleep(500);
      const r = await c.run(c1, 'iperf3', '-c', '10.32.0.2', '-t', '2', '-J');
      assert.equal(r.code, 0, r.stderr);
      const res = JSON.parse(r.stdout) as { end: { sum_received: { bytes: number; bits_per_second: number } } };
      assert.ok(res.end.sum_received.bytes > 0);
      console.log(`iperf3 over the encrypted overlay: ${(res.end.sum_received.bits_per_second / 1e6).toFixed(0)} Mbit/s`);
    } finally {
      await killAndWait(server);
    }
  });

  test('an underlay MTU lowered mid-stream: TCP keeps flowing (fragmented) and the log names the --mtu that fits', async () => {
    const server = spawn('ip', ['netns', 'exec', c2.name, 'iperf3', '-s', '-1', '-B', '10.32.0.2'], { stdio: 'ignore' });
    try {
      await sleep(500);
      await c.run(h1.ns, 'ip', 'link', 'set', 'eth0', 'mtu', '1200');
      // Full-size datagrams no longer fit: the kernel refuses their GSO runs (EMSGSIZE); sent one by one
      // they leave fragmented. Before, every full-size datagram was lost and the stream carried nothing.
      const run = await c.run(c1, 'timeout', '10', 'iperf3', '-c', '10.32.0.2', '-t', '2', '-J');
      assert.equal(run.code, 0, run.stderr);
      const received = (JSON.parse(run.stdout) as { end: { sum_received: { bytes: number } } }).end.sum_received.bytes;
      assert.ok(received > 20e6, `only ${received} bytes crossed after the underlay MTU dropped`);
      await waitFor('the underlay MTU named in the log', async () =>
        (await readFile(join(h1.dataDir, 'tsweave.log'), 'utf8')).includes(`the underlay MTU to ${h2.ip} is 1200`), 10_000);
    } finally {
      await c.run(h1.ns, 'ip', 'link', 'set', 'eth0', 'mtu', '1500');
      await killAndWait(server);
    }
    assert.equal((await ping(c1, '10.32.0.2', '-s', '1300')).code, 0);
  });

  test('a capture on the underlay never contains a ping payload pattern when a password is set', async () => {
    const pattern = 'deadbeefcafe0a0b';
    const bytes = await capturePing(c1, '10.32.0.2', pattern, 'h1h2');
    assert.ok(bytes.length > 200, 'the capture holds the overlay traffic');
    assert.equal(bytes.includes(Buffer.from(pattern, 'hex')), false, 'pattern found on the wire');
  });

  test('without a password the same capture does contain the pattern', async () => {
    await c.ok(h4, 'launch', '--nickname', 'h4');
    await c.ok(h5, 'launch', '--nickname', 'h5', h4.ip);
    await c.ok(h4, 'attach', '10.32.0.4/12', c4.name);
    await c.ok(h5, 'attach', '10.32.0.5/12', c5.name);
    await waitFor('h4 and h5 established', () => established(h4));
    assert.match(await c.ok(h4, 'status'), /Encryption: disabled/);
    const pattern = 'deadbeefcafe0a0b';
    const bytes = await capturePing(c4, '10.32.0.5', pattern, 'h4h5');
    assert.equal(bytes.includes(Buffer.from(pattern, 'hex')), true, 'pattern not found in plaintext overlay');
  });

  test('a host with the wrong password never gets traffic through and shows why', async () => {
    // No IPAM on h3: it could never reach consensus with a mesh it cannot join.
    await c.ok(h3, 'launch', '--password', 'not-the-password', '--nickname', 'h3', '--ipalloc-range', '', h1.ip);
    await c.ok(h3, 'attach', '10.32.0.3/12', c3.name);
    const line = await waitFor('authentication failure in status connections', async () => {
      const out = await c.ok(h3, 'status', 'connections');
      return out.split('\n').find((l) => l.includes('authentication failed (password mismatch?)'));
    });
    assert.match(line, /^-> 10\.200\.0\.1:6783\s+(retrying|failed)\s+authentication failed \(password mismatch\?\)/);
    const r = await c.run(c3, 'ping', '-c', '2', '-W', '1', '10.32.0.1');
    assert.notEqual(r.code, 0, 'the wrong-password host reached a container');
    assert.doesNotMatch(await c.ok(h1, 'status', 'peers'), /\(h3\)/);
  });

  test('SIGKILL of a router and a new launch restore connectivity without touching the containers', async () => {
    await c.killRouter(h2, 'SIGKILL');
    const down = await c.run(c1, 'ping', '-c', '1', '-W', '1', '10.32.0.2');
    assert.notEqual(down.code, 0);
    // The container keeps its interface and address while its router is gone.
    assert.match((await c.run(c2, 'ip', '-o', '-4', 'addr', 'show', 'ethwe')).stdout, /10\.32\.0\.2\/12/);
    await c.ok(h2, 'launch', '--password', PW, '--nickname', 'h2', h1.ip);
    await waitFor('h2 re-established', () => established(h2));
    await waitFor('ping after relaunch', async () => (await c.run(c1, 'ping', '-c', '1', '-W', '1', '10.32.0.2')).code === 0, 20_000);
  });
});

/** Captures UDP 6783 (sleeve) and 6784 (fast datapath) on the underlay switch while `from` pings `to` with a payload pattern. */
async function capturePing(from: Netns, to: string, pattern: string, tag: string): Promise<Buffer> {
  const file = join('/tmp', `${c.lab.prefix}-${tag}.pcap`);
  const dump = spawn('ip', ['netns', 'exec', c.underlay.ns.name, 'tcpdump', '-i', 'br0', '-U', '-w', file, 'udp', 'port', '6783', 'or', 'udp', 'port', '6784'], { stdio: 'ignore' });
  c.lab.onCleanup(() => rm(file, { force: true }));
  try {
    await sleep(800);
    const r = await ping(from, to, '-p', pattern);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await sleep(300);
  } finally {
    await killAndWait(dump);
  }
  return readFile(file);
}
