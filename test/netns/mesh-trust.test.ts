// Issue 3: --trusted-subnets (data plane unencrypted only between peers that trust each other's address)
// and path MTU (an oversize frame is never dropped silently), on the real kernel through the CLI.
//
//   underlay switch ns (br0 10.200.0.0/24)
//     h1 10.200.0.1  --password --trusted-subnets 10.200.0.0/24        ── c1 10.32.0.1/12 (ethwe MTU raised to 1500)
//     h2 10.200.0.2  --password --trusted-subnets 10.200.0.1/32  h1    ── c2 10.32.0.2/12
//     h3 10.200.0.3  --password                                  h1 h2 ── c3 10.32.0.3/12
//
//   h1–h2 trust each other → unencrypted data plane (control plane still sealed)
//   h1–h3: h1 trusts h3, h3 trusts nobody → encrypted; h2–h3: h2 does not trust h3 → encrypted
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { requireRoot, killAndWait, type Netns } from '../support/netns.js';
import { Cluster, sleep, waitFor, type Host } from '../support/cluster.js';

requireRoot('the trusted-subnets and PMTU test');

const PW = randomBytes(12).toString('hex');
const c = new Cluster('mtr');
const h: Host[] = [];
const ct: Netns[] = [];
const ip = (n: number) => `10.32.0.${n}`;

async function connTo(n: number, peer: number): Promise<string | undefined> {
  return (await c.ok(h[n]!, 'status', 'connections')).split('\n').find((l) => l.includes(`(h${peer})`));
}

async function stats(n: number): Promise<{ overlay: Record<string, number> }> {
  const r = await c.run(h[n]!.ns, process.execPath, '-e',
    'fetch("http://127.0.0.1:6784/stats").then((r) => r.text()).then((t) => process.stdout.write(t))');
  return JSON.parse(r.stdout) as { overlay: Record<string, number> };
}

/** Captures UDP 6783 (sleeve) and 6784 (fast datapath) on the underlay switch while `from` pings `to` with a payload pattern. */
async function capturePing(from: Netns, to: string, pattern: string, tag: string): Promise<Buffer> {
  const file = join('/tmp', `${c.lab.prefix}-${tag}.pcap`);
  c.lab.onCleanup(() => rm(file, { force: true }));
  const dump = spawn('ip', ['netns', 'exec', c.underlay.ns.name, 'tcpdump', '-i', 'br0', '-U', '-w', file, 'udp', 'port', '6783', 'or', 'udp', 'port', '6784'], { stdio: 'ignore' });
  try {
    await sleep(800);
    const r = await c.run(from, 'ping', '-c', '3', '-i', '0.3', '-W', '2', '-p', pattern, to);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await sleep(300);
  } finally {
    await killAndWait(dump);
  }
  return readFile(file);
}

beforeAll(async () => {
  await c.init();
  for (const n of [1, 2, 3]) {
    h[n] = await c.addHost(n);
    ct[n] = await c.addContainer(`c${n}`);
  }
  const common = ['--password', PW, '--ipalloc-range', ''];
  await c.ok(h[1]!, 'launch', ...common, '--nickname', 'h1', '--trusted-subnets', '10.200.0.0/24');
  await c.ok(h[2]!, 'launch', ...common, '--nickname', 'h2', '--trusted-subnets', '10.200.0.1/32', h[1]!.ip);
  await c.ok(h[3]!, 'launch', ...common, '--nickname', 'h3', h[1]!.ip, h[2]!.ip);
  for (const n of [1, 2, 3]) await c.ok(h[n]!, 'attach', `${ip(n)}/12`, ct[n]!.name);
  await waitFor('all three pairs established', async () => {
    const lines = await Promise.all([[1, 2], [1, 3], [2, 3], [2, 1], [3, 1], [3, 2]].map(([a, b]) => connTo(a!, b!)));
    return lines.every((l) => l !== undefined && / established /.test(l));
  }, 30_000);
});

afterAll(async () => {
  await c.cleanup();
});

describe('--trusted-subnets', () => {
  test('status shows unencrypted only for the mutually trusted pair', async () => {
    assert.match(await c.ok(h[1]!, 'status'), /TrustedSubnets: 10\.200\.0\.0\/24\n/);
    assert.match(await c.ok(h[1]!, 'status'), /Encryption: enabled/);
    assert.match((await connTo(1, 2))!, /established unencrypted (sleeve|fastdp) /);
    assert.match((await connTo(2, 1))!, /established unencrypted (sleeve|fastdp) /);
    assert.match((await connTo(1, 3))!, /established encrypted\s+sleeve /, 'h1 trusts h3, h3 does not trust h1');
    assert.match((await connTo(3, 1))!, /established encrypted\s+sleeve /);
    assert.match((await connTo(2, 3))!, /established encrypted\s+sleeve /, 'h2 trusts only h1');
  });

  test('a capture on the underlay shows the payload only between the trusted pair', async () => {
    const pattern = 'c0ffee5eed0a0b0c';
    const needle = Buffer.from(pattern, 'hex');
    const trusted = await capturePing(ct[1]!, ip(2), pattern, 'h1h2');
    assert.equal(trusted.includes(needle), true, 'h1–h2 data plane should be plaintext');
    const encrypted13 = await capturePing(ct[1]!, ip(3), pattern, 'h1h3');
    assert.ok(encrypted13.length > 200, 'the capture holds the overlay traffic');
    assert.equal(encrypted13.includes(needle), false, 'pattern found on h1–h3');
    const encrypted23 = await capturePing(ct[2]!, ip(3), pattern, 'h2h3');
    assert.equal(encrypted23.includes(needle), false, 'pattern found on h2–h3');
  });

  test('the control plane stays encrypted between trusted peers', async () => {
    // Topology gossip carries every peer's UID; on the TCP connection between the trusted pair h3's UID
    // (19-20 random digits, in plaintext only in h3's own hellos) must never appear in clear.
    const file = join('/tmp', `${c.lab.prefix}-tcp.pcap`);
    c.lab.onCleanup(() => rm(file, { force: true }));
    const dump = spawn('ip', ['netns', 'exec', c.underlay.ns.name, 'tcpdump', '-i', 'br0', '-U', '-w', file,
      'tcp', 'port', '6783', 'and', 'host', h[1]!.ip, 'and', 'host', h[2]!.ip], { stdio: 'ignore' });
    try {
      await sleep(800);
      // A new connection's handshake plus full gossip: reconnect h2 → h1 by restarting h2's router.
      await c.ok(h[2]!, 'stop');
      await c.ok(h[2]!, 'launch', '--password', PW, '--ipalloc-range', '', '--nickname', 'h2', '--trusted-subnets', '10.200.0.1/32', h[1]!.ip);
      await waitFor('h2–h1 back', async () => / established unencrypted/.test((await connTo(2, 1)) ?? ''), 20_000);
      await sleep(1500);
    } finally {
      await killAndWait(dump);
    }
    const bytes = await readFile(file);
    assert.ok(bytes.length > 500, 'captured the control connection');
    const report = JSON.parse(await c.ok(h[1]!, 'report')) as { Router: { Peers: { NickName: string; UID: string }[] } };
    const uid3 = report.Router.Peers.find((p) => p.NickName === 'h3')!.UID;
    assert.match(uid3, /^\d{6,}$/);
    // h2 learnt h3 again over this very connection (h3's entry is in h1's full gossip to the new h2).
    assert.match(await c.ok(h[2]!, 'status', 'peers'), /\(h3\)/);
    assert.equal(bytes.includes(Buffer.from(uid3)), false, 'topology gossip in plaintext');
  });
});

describe('path MTU: an oversize frame is never dropped silently', () => {
  test('c1 with ethwe MTU 1500 > overlay 1376: DF gets "frag needed (mtu 1376)", non-DF is fragmented', async () => {
    // Raise the MTU along c1's path to the router: ethwe, its host-side veth and the TAP.
    await c.lab.ip(ct[1]!, 'link', 'set', 'dev', 'ethwe', 'mtu', '1500');
    const ports = await c.lab.ip(h[1]!.ns, '-o', 'link', 'show', 'master', 'weave');
    for (const m of ports.stdout.matchAll(/^\d+: ([^@:]+)/gm)) await c.lab.ip(h[1]!.ns, 'link', 'set', 'dev', m[1]!, 'mtu', '1500');

    // DF clear: the router fragments the 1500-byte packet and both pieces cross (encrypted, h1–h3).
    const before = (await stats(1)).overlay;
    const nodf = await c.run(ct[1]!, 'ping', '-M', 'dont', '-s', '1472', '-c', '2', '-W', '2', ip(3));
    assert.equal(nodf.code, 0, nodf.stdout + nodf.stderr);
    const mid = (await stats(1)).overlay;
    assert.ok(mid['framesFragmented']! > before['framesFragmented']!, 'the router fragmented');

    // DF set: ICMP "fragmentation needed" comes back with the overlay MTU.
    const df = await c.run(ct[1]!, 'ping', '-M', 'do', '-s', '1472', '-c', '2', '-W', '2', ip(3));
    assert.notEqual(df.code, 0);
    assert.match(df.stdout + df.stderr, /mtu ?= ?1376/, df.stdout + df.stderr);
    assert.ok((await stats(1)).overlay['icmpTooBigSent']! > mid['icmpTooBigSent']!, 'counted');
    const route = await c.run(ct[1]!, 'ip', 'route', 'get', ip(3));
    assert.match(route.stdout, /mtu 1376/, 'the sender learnt the path MTU');

    // And so the same big ping now works: the sender's kernel fragments to fit.
    const again = await c.run(ct[1]!, 'ping', '-s', '1472', '-c', '2', '-W', '2', ip(3));
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.equal((await stats(1)).overlay['droppedTooBig'], 0, 'nothing was dropped silently');
  });
});
