// Issue 3, end to end on the real kernel, through the real CLI: a five-host mesh with a blocked pair and a
// UDP-only block, built from single targets by peer discovery.
//
//   underlay switch ns (br0 10.200.0.0/24); h1's and h3's switch ports are `isolated`: h1 ↮ h3
//     h1 10.200.0.1  launch (no target)       ── c1 10.32.0.1/12
//     h2 10.200.0.2  launch h1                ── c2 10.32.0.2/12
//     h3 10.200.0.3  launch h2  (only!)       ── c3 10.32.0.3/12
//     h4 10.200.0.4  launch h1                ── c4 10.32.0.4/12
//     h5 10.200.0.5  launch h1                ── c5 10.32.0.5/12
//                    iptables in h5: UDP to/from h4 dropped (TCP open) → h4–h5 frames ride TCP
//
//   expected mesh:  h1 ─ h2 ─ h3          every pair connected except h1–h3 (blocked on the underlay),
//                   │ ╲  │ ╱  │           so c1 ↔ c3 goes through a relay (h2, h4 or h5)
//                   h4 ─ h5 ──┘
//
// Story: discovery builds the mesh → the blocked pair talks through a relay (unicast by shortest route,
// broadcast and multicast along the origin's tree, each exactly once) → the UDP-blocked pair is
// `established` over `tcp` and carries traffic → SIGKILL of h2 (the relay, and h3's only target): others
// mark it failed, routes move to the other relays within seconds → relaunch (new UID): back to
// established, re-learnt everywhere.
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { requireRoot, killAndWait, type Netns } from '../support/netns.js';
import { Cluster, sleep, waitFor, type Host } from '../support/cluster.js';

requireRoot('the five-host mesh test');

const PW = randomBytes(12).toString('hex');
const c = new Cluster('mesh');
let h: Host[] = [];
let ct: Netns[] = [];
const ip = (n: number) => `10.32.0.${n}`;

const launch = (n: number, ...targets: string[]) =>
  c.ok(h[n]!, 'launch', '--password', PW, '--nickname', `h${n}`, '--ipalloc-range', '', ...targets);

/** `status connections` lines of host n. */
async function connLines(n: number): Promise<string[]> {
  return (await c.ok(h[n]!, 'status', 'connections')).split('\n').filter((l) => l.trim() !== '');
}

/** The line for the connection to peer `hN` (by nickname), if any. */
async function connTo(n: number, peer: number): Promise<string | undefined> {
  return (await connLines(n)).find((l) => l.includes(`(h${peer})`));
}

/** Host n has established connections to exactly these peers (and no other established). */
async function establishedExactly(n: number, peers: number[]): Promise<boolean> {
  const lines = (await connLines(n)).filter((l) => / established /.test(l));
  const nicks = lines.map((l) => /\((h\d)\)/.exec(l)?.[1]).sort();
  return JSON.stringify(nicks) === JSON.stringify(peers.map((p) => `h${p}`).sort());
}

/**
 * Host n is established with exactly `peers`, and every other line of its `status connections` is about
 * the blocked peer `blocked`: its target (dialled, never answered) or, while a NAT-traversal introducer
 * tries the pair, a punch through the tunnel that stays pending until it times out (h1–h3 share no
 * underlay, so it never confirms). `status` counts the same lines.
 */
async function assertOnlyBlockedPeerMissing(n: number, peers: number[], blocked: number, minAttempts: number): Promise<void> {
  const lines = await connLines(n);
  assert.ok(await establishedExactly(n, peers), `h${n} established with exactly ${peers.map((p) => `h${p}`).join(' ')}:\n${lines.join('\n')}`);
  const others = lines.filter((l) => !/ established /.test(l));
  assert.ok(others.length >= minAttempts, `h${n} shows no attempt at h${blocked}:\n${lines.join('\n')}`);
  for (const l of others) {
    // A failed punch has a line of its own: the peer's endpoint, failed, and the peer's name.
    const target = /^\S+ \S+\s+(connecting|retrying|failed)\b/.test(l) &&
      (l.startsWith(`-> ${h[blocked]!.ip}:6783 `) || l.includes(`(h${blocked})`));
    // Only a link tunnelled through an introducer can reach the blocked peer at all (it says "punching
    // via" while the punch is under way; none of its heartbeats arrive, so it never gets established).
    const punch = /^\S+ \S+\s+pending\b/.test(l) && l.includes(`(h${blocked})`);
    assert.ok(target || punch, `h${n}: a line that is neither an established peer nor about h${blocked}: ${l}\n${lines.join('\n')}`);
  }
  const m = /Connections: (\d+) \((\d+) established/.exec(await c.ok(h[n]!, 'status'));
  assert.ok(m, 'status has a Connections line');
  assert.equal(Number(m[2]), peers.length);
  assert.ok(Math.abs(Number(m[1]) - lines.length) <= 1, `status counts ${m[1]} connections, status connections listed ${lines.length}`);
}

async function report(n: number): Promise<{ Router: { Peers: { Name: string; NickName: string; UID: string }[] } }> {
  return JSON.parse(await c.ok(h[n]!, 'report')) as { Router: { Peers: { Name: string; NickName: string; UID: string }[] } };
}

/** The router's /stats (overlay and forwarding counters), read inside the host's namespace. */
async function stats(n: number): Promise<{ overlay: Record<string, number>; forward: Record<string, number>; fastPath?: Record<string, number> }> {
  const r = await c.run(h[n]!.ns, process.execPath, '-e',
    'fetch("http://127.0.0.1:6784/stats").then((r) => r.text()).then((t) => process.stdout.write(t))');
  return JSON.parse(r.stdout) as { overlay: Record<string, number>; forward: Record<string, number>; fastPath?: Record<string, number> };
}

/** ping; returns the (source, icmp_seq) pairs of every reply line, DUP!s included. */
async function pingReplies(from: Netns, to: string, ...extra: string[]): Promise<{ code: number; out: string; replies: string[] }> {
  const r = await c.run(from, 'ping', ...extra, to);
  const replies = [...r.stdout.matchAll(/bytes from ([\d.]+): icmp_seq=(\d+)/g)].map((m) => `${m[1]}#${m[2]}`);
  return { code: r.code, out: r.stdout + r.stderr, replies };
}

beforeAll(async () => {
  await c.init();
  for (const n of [1, 2, 3, 4, 5]) h[n] = await c.addHost(n); // in order: switch ports p0..p4
  for (const n of [1, 2, 3, 4, 5]) ct[n] = await c.addContainer(`c${n}`);
  // The blocked pair, on the underlay itself.
  await c.isolateSwitchPort(h[1]!);
  await c.isolateSwitchPort(h[3]!);
  // The UDP-only block: inside h5, every UDP datagram from or to h4 is dropped; TCP passes.
  await c.run(h[5]!.ns, 'iptables', '-A', 'INPUT', '-p', 'udp', '-s', h[4]!.ip, '-j', 'DROP');
  await c.run(h[5]!.ns, 'iptables', '-A', 'OUTPUT', '-p', 'udp', '-d', h[4]!.ip, '-j', 'DROP');
  const blocked = await c.run(h[1]!.ns, 'ping', '-c', '1', '-W', '1', h[3]!.ip);
  assert.notEqual(blocked.code, 0, 'h1 must not reach h3 on the underlay');
  assert.equal((await c.run(h[1]!.ns, 'ping', '-c', '1', '-W', '2', h[2]!.ip)).code, 0, 'h1 reaches h2');

  await launch(1);
  await launch(2, h[1]!.ip);
  await launch(3, h[2]!.ip);
  await launch(4, h[1]!.ip);
  await launch(5, h[1]!.ip);
  for (const n of [1, 2, 3, 4, 5]) {
    await c.ok(h[n]!, 'attach', `${ip(n)}/12`, ct[n]!.name);
    await c.run(ct[n]!, 'sysctl', '-qw', 'net.ipv4.icmp_echo_ignore_broadcasts=0');
  }
});

afterAll(async () => {
  await c.cleanup();
});

describe('five hosts: discovery, a blocked pair, a UDP-only block, a dead router', () => {
  test('peer discovery: h3, given only h2, ends up connected to every peer it can reach', async () => {
    const t0 = Date.now();
    await waitFor('the full mesh minus h1–h3', async () =>
      (await establishedExactly(1, [2, 4, 5])) && (await establishedExactly(2, [1, 3, 4, 5])) &&
      (await establishedExactly(3, [2, 4, 5])) && (await establishedExactly(4, [1, 2, 3, 5])) &&
      (await establishedExactly(5, [1, 2, 3, 4])), 45_000, 500);
    console.log(`mesh of 5 (one blocked pair, one UDP-blocked pair) established in ${Date.now() - t0} ms after the last attach`);
    assert.deepEqual((await c.ok(h[3]!, 'status', 'targets')).trim(), `${h[2]!.ip}:6783`, 'h3 was only ever told about h2');
    // Every router's view converges: 5 peers, 9 connections seen from both ends (h1–h3 missing).
    const status = await waitFor('h3 to see all 18 connection ends established', async () => {
      const s = await c.ok(h[3]!, 'status');
      return /Peers: 5 \(with 18 established connections\)/.test(s) && s;
    }, 15_000);
    assert.match(status, /PeerDiscovery: enabled/);
    assert.match(status, /Targets: 1\n/);
    // h1 learnt h3 from gossip, tried, and cannot get through the underlay: never established.
    const toH3 = await waitFor('h1 to show its attempts at h3', async () =>
      (await connLines(1)).find((l) => l.startsWith(`-> ${h[3]!.ip}:6783`)), 30_000);
    assert.match(toH3, /^-> 10\.200\.0\.3:6783\s+(connecting|retrying|failed)/);
    await assertOnlyBlockedPeerMissing(1, [2, 4, 5], 3, 1);
  });

  test('the blocked pair talks through a relay: unicast, ARP, each frame delivered exactly once', async () => {
    const a = await pingReplies(ct[1]!, ip(3), '-c', '5', '-i', '0.3', '-W', '2');
    assert.equal(a.code, 0, a.out);
    assert.equal(new Set(a.replies).size, a.replies.length, `a duplicate reply: ${a.out}`);
    assert.doesNotMatch(a.out, /DUP!/);
    const b = await pingReplies(ct[3]!, ip(1), '-c', '3', '-i', '0.3', '-W', '2');
    assert.equal(b.code, 0, b.out);
    const arp = await c.run(ct[3]!, 'arping', '-c', '2', '-w', '4', '-I', 'ethwe', ip(1));
    assert.equal(arp.code, 0, arp.stdout + arp.stderr);
    assert.match(arp.stdout, /reply from 10\.32\.0\.1/i);
    // Someone relayed: one of h2, h4, h5 forwarded frames it neither sent nor received (its JS forwarder
    // or, the usual case, its fast path's threads).
    const relayed = await Promise.all([2, 4, 5].map(async (n) => {
      const s = await stats(n);
      return (s.forward['framesRelayed'] ?? 0) + (s.fastPath?.['relayFrames'] ?? 0);
    }));
    assert.ok(relayed.some((r) => r > 0), `relayed counts ${relayed}`);
  });

  test('broadcast (ping -b) reaches every other container exactly once per request', async () => {
    const r = await pingReplies(ct[1]!, '10.47.255.255', '-b', '-c', '3', '-i', '0.5', '-W', '2');
    for (const n of [2, 3, 4, 5]) {
      const fromN = r.replies.filter((x) => x.startsWith(`${ip(n)}#`));
      assert.ok(fromN.length >= 2, `c${n} answered ${fromN.length} of 3 broadcasts: ${r.out}`);
    }
    assert.equal(new Set(r.replies).size, r.replies.length, `some container got a broadcast twice: ${r.out}`);
  });

  test('multicast (socat ip-add-membership) reaches every member on every host exactly once', async () => {
    const group = '239.1.1.2';
    const receivers: { n: number; child: ChildProcess; out: string }[] = [];
    for (const n of [2, 3, 4, 5]) {
      const child = spawn('ip', ['netns', 'exec', ct[n]!.name, 'timeout', '10', 'socat', '-u',
        `UDP4-RECV:5000,reuseaddr,ip-add-membership=${group}:ethwe`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'ignore'] });
      const rec = { n, child, out: '' };
      child.stdout!.on('data', (d: Buffer) => (rec.out += d.toString()));
      receivers.push(rec);
    }
    try {
      await sleep(1500); // the IGMP joins cross the overlay
      for (const i of [1, 2, 3]) {
        const send = spawn('ip', ['netns', 'exec', ct[1]!.name, 'socat', '-u', 'STDIN',
          `UDP4-DATAGRAM:${group}:5000,ip-multicast-if=${ip(1)}`], { stdio: ['pipe', 'ignore', 'ignore'] });
        send.stdin!.end(`mc-${i}\n`);
        await new Promise((r) => send.once('exit', r));
        await sleep(200);
      }
      await waitFor('every member to get all three', async () => receivers.every((r) => /mc-3/.test(r.out)), 6_000);
    } finally {
      await Promise.all(receivers.map((r) => killAndWait(r.child)));
    }
    for (const r of receivers) {
      const got = r.out.split('\n').filter(Boolean);
      assert.deepEqual(got, ['mc-1', 'mc-2', 'mc-3'], `c${r.n} got ${JSON.stringify(got)}`);
    }
  });

  test('UDP blocked but TCP open (h4–h5): established over tcp, not pending forever, and traffic flows', async () => {
    const line = await connTo(5, 4);
    assert.ok(line, 'h5 has a connection to h4');
    assert.match(line, /\s+established encrypted\s+tcp\s+([0-9a-f:]{17})\(h4\) mtu=1376$/);
    assert.match((await connTo(4, 5))!, /established encrypted\s+tcp\s+/);
    assert.match((await connTo(5, 1))!, /established encrypted\s+sleeve /, 'the other connections use UDP');
    const before5 = (await stats(5)).overlay['framesOverTcp'] ?? 0;
    const before4 = (await stats(4)).overlay['framesOverTcp'] ?? 0;
    const r = await pingReplies(ct[4]!, ip(5), '-c', '3', '-i', '0.3', '-W', '2');
    assert.equal(r.code, 0, r.out);
    assert.ok(((await stats(4)).overlay['framesOverTcp'] ?? 0) > before4, 'h4 sent frames over TCP');
    assert.ok(((await stats(5)).overlay['framesOverTcp'] ?? 0) > before5, 'h5 sent frames over TCP');

    // UDP gets through again: heartbeats (still sent while on TCP) are answered and frames move back to UDP.
    await c.run(h[5]!.ns, 'iptables', '-D', 'INPUT', '-p', 'udp', '-s', h[4]!.ip, '-j', 'DROP');
    await c.run(h[5]!.ns, 'iptables', '-D', 'OUTPUT', '-p', 'udp', '-d', h[4]!.ip, '-j', 'DROP');
    await waitFor('h4–h5 back on UDP (sleeve)', async () =>
      /established encrypted\s+sleeve /.test((await connTo(5, 4)) ?? '') && /established encrypted\s+sleeve /.test((await connTo(4, 5)) ?? ''), 10_000);
    const tcpBefore = (await stats(4)).overlay['framesOverTcp'] ?? 0;
    const again = await pingReplies(ct[4]!, ip(5), '-c', '2', '-i', '0.3', '-W', '2');
    assert.equal(again.code, 0, again.out);
    assert.equal((await stats(4)).overlay['framesOverTcp'] ?? 0, tcpBefore, 'no more frames over TCP');
  });

  test('SIGKILL of h2: others mark it failed, routes move within seconds; relaunch (new UID) re-establishes', async () => {
    const uidBefore = (await report(1)).Router.Peers.find((p) => p.NickName === 'h2')?.UID;
    assert.ok(uidBefore);
    await c.killRouter(h[2]!, 'SIGKILL');
    const t0 = Date.now();
    // h3 had h2 as its only target: it shows the failure and the next retry (or a retry in progress).
    const line = await waitFor('h3 to mark h2 failed', async () =>
      (await connLines(3)).find((l) => l.startsWith(`-> ${h[2]!.ip}:6783`) && /\s(failed|retrying)\s/.test(l)), 15_000);
    assert.match(line, /^-> 10\.200\.0\.2:6783\s+(failed\s+.+, retry: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d|retrying\s+.+)/);
    // c1 ↔ c3 still talk: through h4 or h5 now.
    await waitFor('c1 to reach c3 without h2', async () => (await c.run(ct[1]!, 'ping', '-c', '1', '-W', '1', ip(3))).code === 0, 15_000, 100);
    console.log(`c1 → c3 restored through another relay ${Date.now() - t0} ms after SIGKILL of h2`);
    // h2 is forgotten once unreachable.
    await waitFor('h1 to drop h2 from its peers', async () => !(await report(1)).Router.Peers.some((p) => p.NickName === 'h2'), 20_000);

    // Broadcasts all through h2's return: every peer's tree changes as h2's connections come up one by one
    // and the news spreads by gossip, so relays briefly disagree about who forwards to whom (issue 10.8).
    // Each container must still answer each broadcast at most once.
    const storm = spawn('ip', ['netns', 'exec', ct[1]!.name, 'ping', '-b', '-i', '0.1', '-W', '1', '10.47.255.255'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let stormOut = '';
    storm.stdout!.on('data', (d: Buffer) => (stormOut += d.toString()));
    await launch(2, h[1]!.ip);
    const t1 = Date.now();
    await waitFor('h2 back to established with everyone', async () =>
      (await establishedExactly(2, [1, 3, 4, 5])) && (await establishedExactly(3, [2, 4, 5])), 45_000, 300);
    console.log(`h2 re-established with all four peers ${Date.now() - t1} ms after relaunch`);
    await sleep(2_000);
    await killAndWait(storm);
    const answers = [...stormOut.matchAll(/bytes from ([\d.]+): icmp_seq=(\d+)/g)].map((m) => `${m[1]}#${m[2]}`);
    const dupStats = await Promise.all([1, 2, 3, 4, 5].map(async (n) => (await stats(n)).forward['droppedDuplicate'] ?? 0));
    console.log(`broadcasts during h2's return: ${answers.length} answers; duplicates dropped by h1..h5: ${dupStats.join(' ')}`);
    assert.ok(answers.some((a) => a.startsWith(`${ip(2)}#`)), `c2 answered no broadcast after h2 came back: ${stormOut.slice(-500)}`);
    assert.equal(new Set(answers).size, answers.length, `a container answered one broadcast twice while trees changed: ${stormOut}`);
    const uidAfter = (await report(1)).Router.Peers.find((p) => p.NickName === 'h2')?.UID;
    assert.ok(uidAfter && uidAfter !== uidBefore, 'the relaunched h2 was re-learnt with its new UID');
    await assertOnlyBlockedPeerMissing(3, [2, 4, 5], 1, 0); // h3's discovered target for h1 may be idle
    const r = await pingReplies(ct[2]!, ip(3), '-c', '2', '-W', '2');
    assert.equal(r.code, 0, r.out);
  });
});
