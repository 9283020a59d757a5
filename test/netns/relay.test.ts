// Issue 16: native relays and broadcast, on the real kernel through the real CLI. Three encrypted hosts,
// h1 and h2 unable to reach each other on the underlay (isolated switch ports), so c1 ↔ c2 goes through h3:
//
//   underlay switch ── h1 (isolated) ── c1 10.32.0.1
//                   ├─ h2 (isolated) ── c2 10.32.0.2
//                   └─ h3            ── c3 10.32.0.3
//
// 1. Traffic c1 ↔ c2 is carried by the native threads end to end: h1 and h2 send it to h3's session
//    (route through the relay), h3's ingress lanes re-seal it for the other side themselves (relayFrames
//    rises by about one per frame) while the JS hand-off (ingressFramesSlow) and the JS forwarder's
//    framesRelayed stay flat; 2 × 128 MiB at once, SHA-256 compared at both ends.
// 2. Broadcast (ping -b) and ARP through the relay: every container answers each request exactly once;
//    h3 delivered the broadcasts from h1 natively and forwarded a copy to h2 (its child in h1's tree),
//    and h2, a leaf, delivered them natively too. h1 and h2 sent their own containers' broadcasts
//    (the pings, the ARP requests) natively along their own trees.
// 3. A burst of numbered UDP broadcasts from c1 (scripts/bench/bcast.py): c2 and c3 each get every one
//    exactly once; h1's egress lanes sent them to h3 themselves (egressBroadcastFrames) while its JS
//    (egress hand-off, forwarder floods) saw a handful.
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireRoot, type Netns } from '../support/netns.js';
import { Cluster, inNs, routerStats, waitFor, type Host } from '../support/cluster.js';

requireRoot('the native relay test');

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const STREAM = join(ROOT, 'scripts', 'bench', 'stream.py');
const BCAST = join(ROOT, 'scripts', 'bench', 'bcast.py');
const PW = randomBytes(12).toString('hex');
const MIB = 1024 * 1024;
const c = new Cluster('relay');
const h: Host[] = [];
const ct: Netns[] = [];
const ip = (n: number) => `10.32.0.${n}`;

type Stats = { forward: Record<string, number>; fastPath: Record<string, number> };
const stats = (n: number): Promise<Stats> => routerStats<Stats>(h[n]!);
const delta = (a: Record<string, number>, b: Record<string, number>, k: string) => (b[k] ?? 0) - (a[k] ?? 0);

async function transfer(from: number, to: number, port: number, bytes: number, seed: number) {
  const recv = inNs(ct[to]!.name, ['python3', STREAM, 'recv', ip(to), String(port)]);
  await new Promise((r) => setTimeout(r, 500));
  const send = inNs(ct[from]!.name, ['python3', STREAM, 'send', ip(to), String(port), String(bytes), String(seed)]);
  const [got, sent] = await Promise.all([recv, send]);
  return { got, sent };
}

/** ping; the (source, icmp_seq) of every reply line, DUP!s included. */
async function pingReplies(from: number, to: string, ...extra: string[]) {
  const r = await c.run(ct[from]!, 'ping', ...extra, to);
  const replies = [...r.stdout.matchAll(/bytes from ([\d.]+): icmp_seq=(\d+)/g)].map((m) => `${m[1]}#${m[2]}`);
  return { code: r.code, out: r.stdout + r.stderr, replies };
}

beforeAll(async () => {
  await c.init();
  for (const n of [1, 2, 3]) h[n] = await c.addHost(n);
  for (const n of [1, 2, 3]) ct[n] = await c.addContainer(`c${n}`);
  await c.isolateSwitchPort(h[1]!);
  await c.isolateSwitchPort(h[2]!);
  assert.notEqual((await c.run(h[1]!.ns, 'ping', '-c', '1', '-W', '1', h[2]!.ip)).code, 0, 'h1 must not reach h2');
  const launch = (n: number, ...targets: string[]) =>
    c.ok(h[n]!, 'launch', '--password', PW, '--nickname', `h${n}`, '--ipalloc-range', '', ...targets);
  await launch(3);
  await launch(1, h[3]!.ip);
  await launch(2, h[3]!.ip);
  for (const n of [1, 2, 3]) {
    await c.ok(h[n]!, 'attach', `${ip(n)}/12`, ct[n]!.name);
    await c.run(ct[n]!, 'sysctl', '-qw', 'net.ipv4.icmp_echo_ignore_broadcasts=0');
  }
  await waitFor('h3 established with h1 and h2', async () => {
    const s = await c.ok(h[3]!, 'status', 'connections');
    return (s.match(/ established /g) ?? []).length === 2;
  }, 30_000);
  await waitFor('c1 reaches c2 through h3', async () => (await c.run(ct[1]!, 'ping', '-c', '1', '-W', '1', ip(2))).code === 0, 30_000);
});

afterAll(async () => {
  await c.cleanup();
});

describe('three hosts, h1 and h2 only through h3', () => {
  test('relayed traffic is carried natively at every hop and arrives intact (SHA-256, both ways at once)', { timeout: 300_000 }, async () => {
    const before = await Promise.all([1, 2, 3].map(stats));
    const bytes = 128 * MIB;
    const [a, b] = await Promise.all([transfer(1, 2, 7201, bytes, 1), transfer(2, 1, 7202, bytes, 2)]);
    assert.equal(a.got, a.sent, 'c1 → c2 stream differs');
    assert.equal(b.got, b.sent, 'c2 → c1 stream differs');
    assert.match(a.got, new RegExp(`^${bytes} [0-9a-f]{64}$`));
    const after = await Promise.all([1, 2, 3].map(stats));
    const [b1, b2, b3] = before, [a1, a2, a3] = after;
    const f3 = (k: string) => delta(b3!.fastPath, a3!.fastPath, k);
    const show = JSON.stringify({ fast: a3!.fastPath, forward: a3!.forward });
    // Each direction carried ≥ bytes / 1500 full frames (plus the other direction's ACKs).
    const frames = (2 * bytes) / 1500;
    assert.ok(f3('relayFrames') >= frames, `h3 relayed ${f3('relayFrames')} frames natively, expected ≥ ${frames}: ${show}`);
    assert.ok(f3('relayDatagrams') > 0 && f3('relayDatagrams') <= f3('relayFrames'));
    // JS did not see them: the hand-off and the JS forwarder moved by a handful (the first frames, before
    // the routes were published or a MAC was learnt), not per frame.
    const js = f3('ingressFramesSlow') + delta(b3!.forward, a3!.forward, 'framesRelayed');
    assert.ok(js < f3('relayFrames') / 1000, `h3's JS path saw ${js} frames for ${f3('relayFrames')} relayed: ${show}`);
    assert.equal(f3('droppedAuth') + f3('droppedReplay'), 0, show);
    // Checksums left partial (csumPartial) only ever go to a frame's destination: the ends complete them
    // for the relay, so h3 receives none (a relay that passed them on would hand c2 a partial checksum
    // its router never agreed to) and the ends receive none from it.
    assert.equal(f3('ingressCsumPartial'), 0, show);
    for (const [x, y] of [[b1, a1], [b2, a2]] as const) assert.equal(delta(x!.fastPath, y!.fastPath, 'ingressCsumPartial'), 0);
    // The ends sent and received through the relay natively too.
    for (const [n, x, y] of [[1, b1, a1], [2, b2, a2]] as const) {
      const d = (k: string) => delta(x!.fastPath, y!.fastPath, k);
      assert.ok(d('egressFramesFast') >= bytes / 1500, `h${n} egress fast ${d('egressFramesFast')}: ${JSON.stringify(y)}`);
      assert.ok(d('egressFramesSlow') < d('egressFramesFast') / 1000, `h${n} egress slow ${d('egressFramesSlow')}`);
      assert.ok(d('ingressFramesSlow') < d('ingressFramesFast') / 1000, `h${n} ingress slow ${d('ingressFramesSlow')}`);
      assert.equal(d('droppedAuth') + d('droppedReplay'), 0, `h${n}: ${JSON.stringify(y!.fastPath)}`);
    }
  });

  test('broadcast and ARP through the relay: every container answers each request exactly once, natively forwarded', async () => {
    const before = await Promise.all([1, 2, 3].map(stats));
    const r = await pingReplies(1, '10.47.255.255', '-b', '-c', '4', '-i', '0.5', '-W', '2');
    for (const n of [2, 3]) {
      const fromN = r.replies.filter((x) => x.startsWith(`${ip(n)}#`));
      assert.ok(fromN.length >= 3, `c${n} answered ${fromN.length} of 4 broadcasts: ${r.out}`);
    }
    assert.equal(new Set(r.replies).size, r.replies.length, `some container got a broadcast twice: ${r.out}`);
    assert.doesNotMatch(r.out, /DUP!/);
    // ARP from the other end: c2 asks for c1 (h2 → h3 → h1), each request answered once.
    await c.run(ct[2]!, 'ip', 'neigh', 'flush', 'dev', 'ethwe');
    const arp = await c.run(ct[2]!, 'arping', '-c', '3', '-w', '5', '-I', 'ethwe', ip(1));
    assert.equal(arp.code, 0, arp.stdout + arp.stderr);
    const replies = arp.stdout.match(/reply from 10\.32\.0\.1/gi) ?? [];
    assert.equal(replies.length, 3, `ARP replies: ${arp.stdout}`);
    const after = await Promise.all([1, 2, 3].map(stats));
    const d = (n: number, k: string) => delta(before[n - 1]!.fastPath, after[n - 1]!.fastPath, k);
    const show = JSON.stringify(after.map((s) => s.fastPath));
    // h3: c1's 4 pings and c2's 3 ARP requests arrived as broadcasts; each went to the TAP and to the
    // other end (its child in the origin's tree).
    // ping may stop or lose one under load (c2 must answer 3 of 4), so count what provably crossed h3 as
    // a broadcast: every request c2 answered, and arping's first request (it broadcasts until the first
    // reply, then asks by unicast, which h3 relays as unicast: 5 < 6 seen in split and unified mode).
    const crossed = r.replies.filter((x) => x.startsWith(`${ip(2)}#`)).length + 1;
    assert.ok(d(3, 'broadcastFrames') >= crossed, `h3 broadcasts ${d(3, 'broadcastFrames')} < ${crossed}: ${show}`);
    assert.ok(d(3, 'broadcastCopies') >= crossed, `h3 copies ${d(3, 'broadcastCopies')} < ${crossed}: ${show}`);
    // The leaves delivered the other end's broadcasts natively (no children).
    assert.ok(d(2, 'broadcastFrames') >= 4, `h2 broadcasts ${d(2, 'broadcastFrames')}: ${show}`);
    assert.ok(d(1, 'broadcastFrames') >= 3, `h1 broadcasts ${d(1, 'broadcastFrames')}: ${show}`);
    assert.equal(d(2, 'broadcastCopies') + d(1, 'broadcastCopies'), 0, 'leaves forward nothing');
    // The origins sent their containers' broadcasts natively: c1's pings from h1, c2's ARP request from h2
    // (arping broadcasts until the first reply, then asks by unicast).
    assert.ok(d(1, 'egressBroadcastFrames') >= crossed - 1, `h1 native local broadcasts ${d(1, 'egressBroadcastFrames')}: ${show}`);
    assert.ok(d(2, 'egressBroadcastFrames') >= 1, `h2 native local broadcasts ${d(2, 'egressBroadcastFrames')}: ${show}`);
  });

  test('a burst of broadcasts from c1 reaches c2 and c3 exactly once each, sent by h1 natively', { timeout: 120_000 }, async () => {
    const COUNT = 3000;
    const before = await Promise.all([1, 2, 3].map(stats));
    const recv = [2, 3].map((n) => inNs(ct[n]!.name, ['python3', BCAST, 'recv', '7300', '3']));
    await new Promise((r) => setTimeout(r, 700));
    const sent = Number(await inNs(ct[1]!.name, ['python3', BCAST, 'send', '10.47.255.255', '7300', String(COUNT), '3000']));
    const got = (await Promise.all(recv)).map((t) => JSON.parse(t) as { received: number; unique: number; duplicates: number });
    const after = await Promise.all([1, 2, 3].map(stats));
    const show = JSON.stringify({ sent, got, h1: after[0]!.fastPath });
    for (const g of got) {
      assert.equal(g.duplicates, 0, `a broadcast arrived twice: ${show}`);
      assert.ok(g.unique >= sent * 0.9, `too few broadcasts arrived: ${show}`);
    }
    const d1 = (k: string) => delta(before[0]!.fastPath, after[0]!.fastPath, k);
    const js1 = d1('egressFramesSlow') + delta(before[0]!.forward, after[0]!.forward, 'framesFlooded');
    assert.ok(d1('egressBroadcastFrames') >= got[1]!.unique, `h1 sent ${d1('egressBroadcastFrames')} broadcasts natively: ${show}`);
    assert.ok(d1('egressBroadcastCopies') >= got[1]!.unique, `h1 copies ${d1('egressBroadcastCopies')}: ${show}`);
    assert.ok(js1 < sent / 50, `h1's JS path saw ${js1} frames for ${sent} broadcasts: ${show}`);
    // h3 forwarded them to h2 natively as before.
    assert.ok(delta(before[2]!.fastPath, after[2]!.fastPath, 'broadcastCopies') >= got[0]!.unique, show);
  });
});
