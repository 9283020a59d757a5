// Issue 6: the fast data path (TAP offload: TSO superframes segmented natively, same-flow frames coalesced
// into GSO writes; UDP GSO on send, GRO on receive; batched native AES-256-GCM) moves real traffic
// without corrupting it, and drops hostile datagrams that reach it.
//
//   underlay ns (br0 10.200.0.0/24) ── h1 (router, pw) ── c1 10.32.0.1/12
//                                   └─ h2 (router, pw) ── c2 10.32.0.2/12
//
// 1. 1 GiB each way at once, c1 → c2 and c2 → c1, seeded pseudo-random bytes, SHA-256 compared at both
//    ends (scripts/bench/stream.py): each router segments and coalesces while it also carries ACKs.
// 2. The routers' counters show the fast path was really taken (superframes, GRO writes).
// 3. Random datagrams, runts, captured datagrams replayed verbatim and bit-flipped — one by one and as
//    UDP GSO bursts that cross the GRO split path — are counted and dropped; traffic keeps flowing.
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireRoot, type Netns } from '../support/netns.js';
import { Cluster, inNs, routerStats, type Host } from '../support/cluster.js';

requireRoot('the data-path integrity test');

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PW = randomBytes(12).toString('hex');
const STREAM = join(ROOT, 'scripts', 'bench', 'stream.py');
const HOSTILE = join(ROOT, 'scripts', 'bench', 'hostile.py');
const GIB = 1024 * 1024 * 1024;
const c = new Cluster('perf');
let h1: Host, h2: Host;
let c1: Netns, c2: Netns;

type Stats = {
  overlay: Record<string, number>;
  tap: { offload: boolean; groWrites: number; groFrames: number; reader?: { superframes: number; segments: number; badOffload: number } };
  udp: { impl: string; received: number; sent: number };
  /** The native I/O threads (io/fastpath.ts): they read the TAP and the socket, so their counters count. */
  fastPath: Record<string, number>;
};
const stats = (h: Host): Promise<Stats> => routerStats<Stats>(h);

async function transfer(from: Netns, to: Netns, toIp: string, port: number, bytes: number, seed: number) {
  const recv = inNs(to.name, ['python3', STREAM, 'recv', toIp, String(port)]);
  await new Promise((r) => setTimeout(r, 500));
  const send = inNs(from.name, ['python3', STREAM, 'send', toIp, String(port), String(bytes), String(seed)]);
  const [got, sent] = await Promise.all([recv, send]);
  return { got, sent };
}

beforeAll(async () => {
  ({ h1, h2, c1, c2 } = await c.encryptedPair(PW));
});

afterAll(async () => {
  await c.cleanup();
});

describe('encrypted overlay, fast path', () => {
  test('1 GiB each way at once arrives intact (SHA-256 at both ends)', { timeout: 600_000 }, async () => {
    const [a, b] = await Promise.all([
      transfer(c1, c2, '10.32.0.2', 7101, GIB, 1),
      transfer(c2, c1, '10.32.0.1', 7102, GIB, 2),
    ]);
    assert.equal(a.got, a.sent, 'c1 → c2 stream differs');
    assert.equal(b.got, b.sent, 'c2 → c1 stream differs');
    assert.match(a.got, new RegExp(`^${GIB} [0-9a-f]{64}$`));
  });

  test('the routers took the fast path: I/O threads, TAP offload, superframes, GRO writes, native UDP', async () => {
    for (const h of [h1, h2]) {
      const s = await stats(h);
      const f = s.fastPath;
      const show = JSON.stringify(f);
      assert.equal(s.udp.impl, 'native');
      assert.equal(s.tap.offload, true, `h${h.n}: tap offload is off`);
      assert.ok(f['tapSuperframes']! > 1000, `h${h.n}: few superframes: ${show}`);
      assert.ok(f['tapGsoFrames']! > 100_000, `h${h.n}: few coalesced frames: ${show}`);
      assert.ok(f['egressFramesFast']! > 100 * f['egressFramesSlow']!, `h${h.n}: frames left the fast path: ${show}`);
      assert.ok(f['ingressFramesFast']! > 100 * f['ingressFramesSlow']!, `h${h.n}: frames left the fast path: ${show}`);
      assert.equal(f['tapBadOffload'], 0);
      assert.equal(f['droppedAuth'], 0);
      assert.equal(f['droppedReplay'], 0);
    }
  });

  test('hostile datagrams are counted and dropped, one by one and as GSO bursts; traffic keeps flowing', async () => {
    const pcap = join('/tmp', `${c.lab.prefix}-cap.pcap`);
    c.lab.onCleanup(() => inNs(h1.ns.name, ['rm', '-f', pcap]).catch(() => undefined));
    const cap = inNs(h1.ns.name, ['timeout', '20', 'tcpdump', '-U', '-i', 'eth0', '-c', '20', '-w', pcap, 'udp and dst host 10.200.0.2 and dst port 6783'], 30_000);
    await new Promise((r) => setTimeout(r, 1000));
    await c.run(c1, 'ping', '-c', '25', '-i', '0.05', '10.32.0.2');
    await cap;
    const before = (await stats(h2)).fastPath;
    const sent = await inNs(h1.ns.name, ['python3', HOSTILE, '10.200.0.2', '6783', pcap]);
    await new Promise((r) => setTimeout(r, 500));
    const after = (await stats(h2)).fastPath;
    const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
    // 64 random datagrams: unknown receiver index (or, 1 in 2^32, a failed tag); 4 runts.
    assert.equal(delta('droppedShort'), 4, `runts: ${sent}`);
    assert.ok(delta('droppedUnknownSession') >= 64, `random: ${sent} ${JSON.stringify(after)}`);
    assert.ok(delta('droppedReplay') >= 20, `replays: ${sent} ${JSON.stringify(after)}`);
    assert.equal(delta('droppedAuth'), 20, `bit flips: ${sent}`);
    // And the overlay still carries traffic.
    const r = await transfer(c1, c2, '10.32.0.2', 7103, 64 * 1024 * 1024, 3);
    assert.equal(r.got, r.sent);
  });
});
