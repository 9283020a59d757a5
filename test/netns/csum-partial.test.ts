// Issue 16 (less CPU per byte): TCP checksums left partial through the encrypted tunnel (wire/hello.ts
// csumPartial, wire/data-packet.ts frame length bit 15), on the real kernel with two routers.
//
//   underlay ns ── h1 (router, pw) ── c1 10.32.0.1/12
//               └─ h2 (router, pw) ── c2 10.32.0.2/12
//
// 1. Both routers announce it: 256 MiB each way at once arrive intact (SHA-256 at both ends), both
//    routers sent and received checksum-partial frames, and the containers' TCP saw no checksum error.
// 2. h2 does not announce it (TSWEAVE_CSUM_PARTIAL=0, as a router of an older version): the same
//    traffic arrives intact with fully checksummed frames both ways (no partial frame anywhere).
// 3. h2 runs without the native fast path (TSWEAVE_FASTPATH=0): h1's egress threads still send it
//    partial frames, which h2's JS path completes (dataplane/packer.ts forEachFrame); data intact.
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireRoot, type Netns } from '../support/netns.js';
import { Cluster, fastPathStats, inNs, type Host } from '../support/cluster.js';

requireRoot('the checksum-partial test');

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PW = randomBytes(12).toString('hex');
const STREAM = join(ROOT, 'scripts', 'bench', 'stream.py');
const MIB = 1024 * 1024;

async function transfer(from: Netns, to: Netns, toIp: string, port: number, bytes: number, seed: number) {
  const recv = inNs(to.name, ['python3', STREAM, 'recv', toIp, String(port)]);
  await new Promise((r) => setTimeout(r, 500));
  const send = inNs(from.name, ['python3', STREAM, 'send', toIp, String(port), String(bytes), String(seed)]);
  const [got, sent] = await Promise.all([recv, send]);
  return { got, sent };
}

/** The container's TCP checksum errors so far (/proc/net/snmp Tcp InCsumErrors). */
async function tcpCsumErrors(ns: Netns): Promise<number> {
  const lines = (await inNs(ns.name, ['cat', '/proc/net/snmp'])).split('\n').filter((l) => l.startsWith('Tcp:'));
  const [names, values] = lines.map((l) => l.split(/\s+/));
  return Number(values![names!.indexOf('InCsumErrors')]);
}

async function bothWays(c1: Netns, c2: Netns, bytes: number, port: number): Promise<void> {
  const [a, b] = await Promise.all([transfer(c1, c2, '10.32.0.2', port, bytes, port), transfer(c2, c1, '10.32.0.1', port + 1, bytes, port + 1)]);
  assert.equal(a.got, a.sent, 'c1 → c2 stream differs');
  assert.equal(b.got, b.sent, 'c2 → c1 stream differs');
  assert.match(a.got, new RegExp(`^${bytes} [0-9a-f]{64}$`));
}

describe('both routers announce csumPartial', () => {
  const c = new Cluster('csum');
  let h1: Host, h2: Host, c1: Netns, c2: Netns;
  beforeAll(async () => {
    ({ h1, h2, c1, c2 } = await c.encryptedPair(PW));
  });
  afterAll(async () => {
    await c.cleanup();
  });

  test('256 MiB each way arrive intact; the TCP frames crossed with partial checksums both ways', { timeout: 300_000 }, async () => {
    const errs = [await tcpCsumErrors(c1), await tcpCsumErrors(c2)];
    await bothWays(c1, c2, 256 * MIB, 7201);
    assert.deepEqual([await tcpCsumErrors(c1), await tcpCsumErrors(c2)], errs, 'no TCP checksum errors in the containers');
    for (const h of [h1, h2]) {
      const f = await fastPathStats(h);
      const show = JSON.stringify(f);
      // 256 MiB in ~1.3 KB frames is ~200,000 frames each way: nearly all of them partial.
      assert.ok(f['egressCsumPartial']! > 150_000, `h${h.n}: few partial frames sent: ${show}`);
      assert.ok(f['ingressCsumPartial']! > 150_000, `h${h.n}: few partial frames received: ${show}`);
      assert.ok(f['tapGsoFrames']! > 100_000, `h${h.n}: partial frames were not coalesced: ${show}`);
      assert.equal(f['droppedBadFrame'], 0, show);
      assert.equal(f['tapBadOffload'], 0, show);
    }
  });
});

describe('h2 does not announce csumPartial (TSWEAVE_CSUM_PARTIAL=0, like an older router)', () => {
  const c = new Cluster('csumoff');
  let h1: Host, h2: Host, c1: Netns, c2: Netns;
  beforeAll(async () => {
    ({ h1, h2, c1, c2 } = await c.encryptedPair(PW, {}, { TSWEAVE_CSUM_PARTIAL: '0' }));
  });
  afterAll(async () => {
    await c.cleanup();
  });

  test('64 MiB each way arrive intact, with fully checksummed frames both ways', { timeout: 300_000 }, async () => {
    const errs = [await tcpCsumErrors(c1), await tcpCsumErrors(c2)];
    await bothWays(c1, c2, 64 * MIB, 7211);
    assert.deepEqual([await tcpCsumErrors(c1), await tcpCsumErrors(c2)], errs, 'no TCP checksum errors in the containers');
    for (const h of [h1, h2]) {
      const f = await fastPathStats(h);
      const show = JSON.stringify(f);
      assert.ok(f['egressFramesFast']! > 40_000, `h${h.n}: the fast path carried it: ${show}`);
      assert.equal(f['egressCsumPartial'], 0, `h${h.n}: ${show}`);
      assert.equal(f['ingressCsumPartial'], 0, `h${h.n}: ${show}`);
      assert.equal(f['droppedBadFrame'], 0, show);
    }
  });
});

describe('h2 on the JS path (TSWEAVE_FASTPATH=0) receives partial frames from h1\'s fast path', () => {
  const c = new Cluster('csumjs');
  let h1: Host, c1: Netns, c2: Netns;
  beforeAll(async () => {
    ({ h1, c1, c2 } = await c.encryptedPair(PW, {}, { TSWEAVE_FASTPATH: '0' }));
  });
  afterAll(async () => {
    await c.cleanup();
  });

  test('16 MiB each way arrive intact; h2\'s JS completed the checksums of what h1 sent partial', { timeout: 300_000 }, async () => {
    const errs = [await tcpCsumErrors(c1), await tcpCsumErrors(c2)];
    await bothWays(c1, c2, 16 * MIB, 7221);
    assert.deepEqual([await tcpCsumErrors(c1), await tcpCsumErrors(c2)], errs, 'no TCP checksum errors in the containers');
    const f = await fastPathStats(h1);
    assert.ok(f['egressCsumPartial']! > 5_000, `h1 sent partial frames: ${JSON.stringify(f)}`);
  });
});
