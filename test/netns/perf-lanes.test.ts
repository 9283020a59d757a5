// Issue 16 (every core for encrypted traffic): the encrypted overlay with 4 fast-path lanes per router
// (TSWEAVE_DATAPLANE_THREADS=4: 4 TAP queues, 4 SO_REUSEPORT sockets, 8 I/O threads) carries 1 GiB in
// 4 TCP streams at once without corrupting a byte, and keeps every flow in order.
//
//   underlay ns (br0 10.200.0.0/24) ── h1 (router, pw, 4 lanes) ── c1 10.32.0.1/12
//                                   └─ h2 (router, pw, 4 lanes) ── c2 10.32.0.2/12
//
// 1. 4 × 256 MiB c1 → c2 at once, seeded pseudo-random bytes, SHA-256 compared at both ends
//    (scripts/bench/stream.py); the sender's TCP reorder counters (nstat) stay at 0.
// 2. 8 UDP flows of sequence-numbered datagrams c1 → c2 (scripts/bench/udpseq.py): none arrives after a
//    later one of its flow.
// 3. The routers ran 4 lanes, more than one carried the streams, nothing failed authentication or replay;
//    h2 received the streams on more than one ingress lane although they all come from one peer (one
//    address:port pair): h1's send lanes address h2's receiver indexes, one per lane (udp_steer.c).
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { requireRoot, type Netns } from '../support/netns.js';
import { Cluster, fastPathStats, inNs, type Host } from '../support/cluster.js';
import { checkedStreams, listening, UDPSEQ_PY } from '../support/streams.js';

requireRoot('the multi-lane data-path test');

const PW = randomBytes(12).toString('hex');
const LANES = 4;
const STREAMS = 4;
const PER_STREAM = 256 * 1024 * 1024;
const c = new Cluster('lanes');
let h1: Host, h2: Host;
let c1: Netns, c2: Netns;

beforeAll(async () => {
  ({ h1, h2, c1, c2 } = await c.encryptedPair(PW, { TSWEAVE_DATAPLANE_THREADS: String(LANES) }));
});

afterAll(async () => {
  await c.cleanup();
});

describe(`encrypted overlay, ${LANES} fast-path lanes per router`, () => {
  test(`${STREAMS} TCP streams, 1 GiB in all, arrive intact and in order`, { timeout: 600_000 }, async () => {
    await checkedStreams(c1.name, c2.name, '10.32.0.2', STREAMS, PER_STREAM, 7200);
  });

  test('sequence-numbered UDP flows arrive in order', { timeout: 120_000 }, async () => {
    const FLOWS = 8;
    const recv = inNs(c2.name, ['python3', UDPSEQ_PY, 'recv', '10.32.0.2', '7300', String(FLOWS), '2']);
    await listening(c2.name, '-u', 7300);
    await inNs(c1.name, ['python3', UDPSEQ_PY, 'send', '10.32.0.2', '7300', String(FLOWS), '20000']);
    const r = JSON.parse(await recv) as { received: number; reordered: number; flows: number[] };
    process.stderr.write(`  udp flows: ${JSON.stringify(r)}\n`);
    assert.equal(r.reordered, 0, `datagrams out of order within a flow: ${JSON.stringify(r)}`);
    assert.ok(r.received > 0.9 * FLOWS * 20000, `too many lost: ${JSON.stringify(r)}`);
  });

  test('the routers ran the lanes: several carried the streams; nothing forged or replayed', async () => {
    for (const h of [h1, h2]) {
      const f = await fastPathStats(h);
      const show = JSON.stringify(f);
      assert.equal(f['lanes'], LANES, `h${h.n}: ${show}`);
      assert.equal(f['droppedAuth'], 0, show);
      assert.equal(f['droppedReplay'], 0, show);
      assert.ok(f['egressFramesFast']! > 100 * f['egressFramesSlow']!, `h${h.n}: frames left the fast path: ${show}`);
    }
    const f1 = await fastPathStats(h1);
    const busy = Array.from({ length: LANES }, (_, i) => f1[`lane${i}EgressFrames`]!).filter((n) => n > 10_000);
    assert.ok(busy.length >= 2, `h1: the streams used ${busy.length} egress lane(s): ${JSON.stringify(f1)}`);
    const f2 = await fastPathStats(h2);
    const busyIn = Array.from({ length: LANES }, (_, i) => f2[`lane${i}IngressDatagrams`]!).filter((n) => n > 10_000);
    assert.ok(busyIn.length >= 2, `h2: one peer's streams reached ${busyIn.length} ingress lane(s): ${JSON.stringify(f2)}`);
  });
});
