// Issue 17, NAT traversal on the real kernel, through the real CLI:
//
//   "public" underlay (10.200.0.0/24)
//     ├── p      10.200.0.1   tsweave router (the introducer)
//     ├── nat-a  10.200.0.11  MASQUERADE            ── lan 192.168.1.0/24 ── a 192.168.1.2 ── ca 10.32.0.1
//     ├── nat-b  10.200.0.12  MASQUERADE            ── lan 192.168.2.0/24 ── b 192.168.2.2 ── cb 10.32.0.2
//     └── nat-c  10.200.0.13  MASQUERADE --random-fully (symmetric) ── 192.168.3.0/24 ── c ── cc 10.32.0.3
//
// Each NAT drops unsolicited packets to itself, like a home router (a packet that reaches the NAT's own
// stack would leave a conntrack entry that makes MASQUERADE pick another port for the real mapping).
// a, b and c are launched with p as their only peer. a–b gets punched; a–c and b–c stay relayed via p.
// "Through p or not" is measured with p's received bytes while the containers ping each other.
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { requireRoot, type Netns } from '../support/netns.js';
import { Cluster, waitFor, type Host } from '../support/cluster.js';

requireRoot('the NAT traversal test');

const PW = randomBytes(12).toString('hex');
const c = new Cluster('nat');
let p: Host, a: Host, b: Host, hc: Host;
let natA: Netns;
let ca: Netns, cb: Netns, cc: Netns;
let launchToPunchedMs = 0;

/** A host behind its own NAT: nat namespace on the underlay, the host on a private LAN behind it. */
async function natHost(n: number, publicIp: string, lan: number, symmetric: boolean): Promise<{ host: Host; nat: Netns }> {
  const nat = await c.lab.addNetns(`nat${n}`);
  await c.underlay.connect(nat, 'eth0', `${publicIp}/24`);
  const ns = await c.lab.addNetns(`h${n}`);
  await c.lab.addVeth(nat, 'lan', ns, 'eth0');
  await c.lab.ip(nat, 'addr', 'add', `192.168.${lan}.1/24`, 'dev', 'lan');
  await c.lab.ip(ns, 'addr', 'add', `192.168.${lan}.2/24`, 'dev', 'eth0');
  await c.lab.ip(ns, 'route', 'add', 'default', 'via', `192.168.${lan}.1`);
  await c.lab.exec(nat, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  await c.lab.exec(nat, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'eth0', '-j', 'MASQUERADE', ...(symmetric ? ['--random-fully'] : []));
  await c.lab.exec(nat, 'iptables', '-A', 'INPUT', '-i', 'eth0', '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'DROP');
  const tmp = await mkdtemp('/tmp/tsw-nat-');
  const host: Host = { n, ns, ip: `192.168.${lan}.2`, dataDir: join(tmp, `h${n}`), env: {} };
  c.lab.onCleanup(() => c.killRouter(host));
  return { host, nat };
}

async function connections(h: Host): Promise<string> {
  return c.ok(h, 'status', 'connections');
}

/** The line of `status connections` about the peer with this nickname. */
async function lineAbout(h: Host, nick: string): Promise<string | undefined> {
  return (await connections(h)).split('\n').find((l) => l.includes(`(${nick})`));
}

async function pRxBytes(): Promise<number> {
  const r = await c.run(p.ns, 'cat', '/sys/class/net/eth0/statistics/rx_bytes');
  return Number(r.stdout.trim());
}

/** Bytes p received while `from` pings `to` 400 times with 1000-byte payloads (~800 KB if relayed). */
async function bytesAtPDuringPings(from: Netns, to: string): Promise<number> {
  const before = await pRxBytes();
  const r = await c.run(from, 'ping', '-q', '-c', '400', '-i', '0.005', '-s', '1000', '-W', '1', to);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, / 0% packet loss|, [0-2]% packet loss/);
  return (await pRxBytes()) - before;
}

beforeAll(async () => {
  await c.init();
  p = await c.addHost(1);
  [{ host: a, nat: natA }, { host: b }, { host: hc }] = await Promise.all([
    natHost(11, '10.200.0.11', 1, false),
    natHost(12, '10.200.0.12', 2, false),
    natHost(13, '10.200.0.13', 3, true),
  ]);
  [ca, cb, cc] = await Promise.all(['ca', 'cb', 'cc'].map((n) => c.addContainer(n)));
  await c.ok(p, 'launch', '--password', PW, '--nickname', 'p');
  const t0 = Date.now();
  await Promise.all([
    c.ok(a, 'launch', '--password', PW, '--nickname', 'a', p.ip),
    c.ok(b, 'launch', '--password', PW, '--nickname', 'b', p.ip),
    c.ok(hc, 'launch', '--password', PW, '--nickname', 'c', p.ip),
  ]);
  await waitFor('a to show b punched', async () => / established .*\(b\).* punched via /.test((await lineAbout(a, 'b')) ?? ''), 60_000);
  launchToPunchedMs = Date.now() - t0;
  console.log(`nat-traversal: launch to punched a-b path: ${launchToPunchedMs} ms`);
  console.log(`nat-traversal: a's status connections:\n${await connections(a)}`);
  await c.ok(a, 'attach', '10.32.0.1/12', ca.name);
  await c.ok(b, 'attach', '10.32.0.2/12', cb.name);
  await c.ok(hc, 'attach', '10.32.0.3/12', cc.name);
}, 180_000);

afterAll(async () => {
  await c.cleanup();
});

describe('two hosts behind NATs, launched with a public peer only', () => {
  test('a and b get a punched, encrypted, direct UDP path; their containers talk without p', async () => {
    const line = (await lineAbout(a, 'b'))!;
    assert.match(line, /established encrypted\s+sleeve .*\(b\) .*punched via ([0-9a-f:]{17})\(p\)/);
    assert.match((await lineAbout(b, 'a')) ?? '', /established encrypted\s+sleeve .*\(a\) .*punched via .*\(p\)/);
    await waitFor('ca reaches cb', async () => (await c.run(ca, 'ping', '-c', '1', '-W', '1', '10.32.0.2')).code === 0, 30_000);
    const atP = await bytesAtPDuringPings(ca, '10.32.0.2');
    // Relayed, p would receive every request and reply (~850 KB); direct, only heartbeats and gossip.
    assert.ok(atP < 80_000, `p received ${atP} bytes during a–b traffic`);
  });

  test('behind a symmetric NAT (--random-fully), c stays relayed via p and status says why', async () => {
    await waitFor('a to give up punching c', async () => /\(c\) punching failed: .*relayed via .*\(p\)/.test(await connections(a)), 60_000);
    const conns = await connections(a);
    console.log(`nat-traversal: a's status connections with c behind a symmetric NAT:\n${conns}`);
    assert.match(conns, /\(c\) punching failed: .*(NAT rewrites|symmetric NAT)/);
    assert.doesNotMatch(conns, / established .*\(c\)/);
    await waitFor('ca reaches cc', async () => (await c.run(ca, 'ping', '-c', '1', '-W', '1', '10.32.0.3')).code === 0, 30_000);
    const atP = await bytesAtPDuringPings(ca, '10.32.0.3');
    assert.ok(atP > 500_000, `p received only ${atP} bytes during a–c traffic: not relayed?`);
  });

  test("after a's NAT loses its mappings (conntrack -F), the direct path comes back within the heartbeat timeout", async () => {
    const r = await c.run(natA, 'conntrack', '-F');
    assert.equal(r.code, 0, r.stderr);
    // b's side speaks first: its packets hit a's NAT with no mapping and are dropped until a's next
    // keep-alive (every 10 s) opens it again, well within the 60 s heartbeat timeout.
    const t0 = Date.now();
    await waitFor('cb to reach ca again', async () => (await c.run(cb, 'ping', '-c', '1', '-W', '1', '10.32.0.1')).code === 0, 60_000, 0);
    console.log(`nat-traversal: b -> a traffic back ${Date.now() - t0} ms after the flush`);
    assert.match((await lineAbout(a, 'b')) ?? '', / established .* punched via /);
    const atP = await bytesAtPDuringPings(cb, '10.32.0.1');
    assert.ok(atP < 80_000, `p received ${atP} bytes during b–a traffic after the flush`);
  });

  // Measurement (issue 17's closing note): relaunches a and b once, or TSWEAVE_NAT_RUNS times (10 for a median).
  test('relaunched behind their NATs, a and b punch again; time from launch to a punched path', async () => {
    const fromCmd: number[] = [];
    const fromUp: number[] = [];
    const runs = Math.max(1, Number(process.env.TSWEAVE_NAT_RUNS ?? 1) || 1);
    for (let i = 0; i < runs; i++) {
      await Promise.all([c.ok(a, 'stop'), c.ok(b, 'stop')]);
      await waitFor('p to drop a and b', async () => !/\((a|b)\)/.test(await connections(p)), 30_000);
      const t0 = Date.now();
      await Promise.all([c.ok(a, 'launch', '--password', PW, '--nickname', 'a', p.ip), c.ok(b, 'launch', '--password', PW, '--nickname', 'b', p.ip)]);
      const up = Date.now();
      await waitFor('a to show b punched', async () => / established .*\(b\).* punched via /.test((await lineAbout(a, 'b')) ?? ''), 60_000, 100);
      fromCmd.push(Date.now() - t0);
      fromUp.push(Date.now() - up);
    }
    const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    console.log(`nat-traversal: launch command to punched, ms: ${fromCmd.join(' ')} (median ${median(fromCmd)}); ` +
      `routers up to punched: ${fromUp.join(' ')} (median ${median(fromUp)})`);
  }, 900_000);
});
