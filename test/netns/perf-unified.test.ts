// The unified thread mode (TSWEAVE_DATAPLANE_THREAD_MODE=unified, native/src/fastpath_unified.c): one
// I/O thread per fast-path lane waits on both its TAP queue and its UDP socket and does both directions.
// With 2 lanes per router it carries 1 GiB in 4 TCP streams at once (data one way, ACKs the other, on
// the same threads) without corrupting a byte or reordering a flow, and the routers really ran one
// thread per lane.
//
//   underlay ns (br0 10.200.0.0/24) ── h1 (router, pw, 2 unified lanes) ── c1 10.32.0.1/12
//                                   └─ h2 (router, pw, 2 unified lanes) ── c2 10.32.0.2/12
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { requireRoot, type Netns } from '../support/netns.js';
import { Cluster, fastPathStats, type Host } from '../support/cluster.js';
import { checkedStreams } from '../support/streams.js';

requireRoot('the unified-lane data-path test');

const PW = randomBytes(12).toString('hex');
const LANES = 2;
const STREAMS = 4;
const PER_STREAM = 256 * 1024 * 1024;
const c = new Cluster('unif');
let h1: Host, h2: Host;
let c1: Netns, c2: Netns;

/** The names of a process's threads (/proc/PID/task/TID/comm). */
async function threadNames(pid: number): Promise<string[]> {
  const tids = await readdir(`/proc/${pid}/task`);
  const names = await Promise.all(tids.map((t) => readFile(`/proc/${pid}/task/${t}/comm`, 'utf8').catch(() => '')));
  return names.map((n) => n.trim()).filter((n) => n !== '');
}

beforeAll(async () => {
  ({ h1, h2, c1, c2 } = await c.encryptedPair(PW, { TSWEAVE_DATAPLANE_THREADS: String(LANES), TSWEAVE_DATAPLANE_THREAD_MODE: 'unified' }));
});

afterAll(async () => {
  await c.cleanup();
});

describe(`encrypted overlay, ${LANES} unified fast-path lanes per router`, () => {
  test('each router runs one I/O thread per lane, none per direction', async () => {
    for (const h of [h1, h2]) {
      const pid = await c.routerPid(h);
      assert.ok(pid, `h${h.n}: no router pid`);
      const names = await threadNames(pid);
      const lanes = names.filter((n) => /^tsw-lane-\d+$/.test(n)).sort();
      assert.deepEqual(lanes, Array.from({ length: LANES }, (_, i) => `tsw-lane-${i}`), `h${h.n} threads: ${names.join(',')}`);
      assert.equal(names.filter((n) => /^tsw-(egress|ingres)-/.test(n)).length, 0, `h${h.n} threads: ${names.join(',')}`);
      const f = await fastPathStats(h);
      assert.equal(f['lanes'], LANES, JSON.stringify(f));
      assert.equal(f['threads'], LANES, JSON.stringify(f));
    }
  });

  test(`${STREAMS} TCP streams, 1 GiB in all, arrive intact and in order`, { timeout: 600_000 }, async () => {
    await checkedStreams(c1.name, c2.name, '10.32.0.2', STREAMS, PER_STREAM, 7400);
  });

  test('the lanes carried the streams on the fast path; nothing forged or replayed', async () => {
    for (const h of [h1, h2]) {
      const f = await fastPathStats(h);
      const show = JSON.stringify(f);
      assert.equal(f['droppedAuth'], 0, show);
      assert.equal(f['droppedReplay'], 0, show);
      assert.equal(f['tapReadErrors'], 0, show);
      assert.ok(f['egressFramesFast']! > 100 * f['egressFramesSlow']!, `h${h.n}: frames left the fast path: ${show}`);
    }
    const f1 = await fastPathStats(h1);
    const f2 = await fastPathStats(h2);
    assert.ok(f1['egressFramesFast']! > 500_000, `h1 sent too little on the fast path: ${JSON.stringify(f1)}`);
    assert.ok(f2['ingressDatagrams']! > 10_000 && f2['tapWritten']! > 500_000, `h2 received too little natively: ${JSON.stringify(f2)}`);
  });
});
