// Issue 11.4: data-plane keys rotate. Two hosts with the encrypted overlay and the fast path, routers
// started with TSWEAVE_REKEY_INTERVAL_S=2:
//
//   underlay ns (10.200.0.0/24) ── h1 (router, pw) ── c1 10.32.0.1/12
//                                └─ h2 (router, pw) ── c2 10.32.0.2/12
//
// An iperf3 TCP run of IPERF_SECONDS goes through without an error while the keys rotate underneath
// it; the routers count the rotations (/stats, `tsweave report`); captures on the underlay (UDP 6783)
// taken during the run show the header's key generation byte changing; nothing was dropped for a bad
// tag (a datagram sealed with a key its receiver no longer or not yet had).
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { requireRoot, type Netns } from '../support/netns.js';
import { Cluster, inNs, routerStats, sleep, type Host } from '../support/cluster.js';

requireRoot('the rekey test');

const PW = randomBytes(12).toString('hex');
const IPERF_SECONDS = 60;
const c = new Cluster('rekey');
let h1: Host, h2: Host;
let c1: Netns, c2: Netns;

type Stats = {
  overlay: Record<string, number>;
  fastPath: Record<string, number>;
  sessions: Record<string, { rekeys: number; keyGeneration: number }>;
};
const stats = (h: Host): Promise<Stats> => routerStats<Stats>(h);
const rekeysOf = (s: Stats): number => Object.values(s.sessions).reduce((n, x) => n + x.rekeys, 0);

/** The key generation bytes of the overlay datagrams in a pcap (Ethernet, IPv4 without options, UDP). */
function keyGenBytes(pcap: Buffer): number[] {
  const out: number[] = [];
  for (let off = 24; off + 16 <= pcap.length; ) {
    const caplen = pcap.readUInt32LE(off + 8);
    const pkt = pcap.subarray(off + 16, off + 16 + caplen);
    off += 16 + caplen;
    if (pkt.length >= 14 + 20 + 8 + 14 && pkt[14] === 0x45 && pkt[23] === 17) out.push(pkt[14 + 20 + 8 + 1]!);
  }
  return out;
}

beforeAll(async () => {
  ({ h1, h2, c1, c2 } = await c.encryptedPair(PW, { TSWEAVE_REKEY_INTERVAL_S: '2' }));
});

afterAll(async () => {
  await c.cleanup();
});

describe('key rotation under load', () => {
  test(`a ${IPERF_SECONDS} s iperf3 TCP run survives rekeying every 2 s; the generation byte changes on the wire`, { timeout: 300_000 }, async () => {
    const before = await Promise.all([stats(h1), stats(h2)]);
    const server = inNs(c2.name, ['iperf3', '-s', '-1', '-B', '10.32.0.2'], (IPERF_SECONDS + 60) * 1000);
    await sleep(500);
    const client = inNs(c1.name, ['iperf3', '-c', '10.32.0.2', '-t', String(IPERF_SECONDS), '-J'], (IPERF_SECONDS + 60) * 1000);
    // Short captures spread over the run (a whole run's capture would be gigabytes).
    const gens: number[][] = [];
    for (let i = 0; i < Math.floor(IPERF_SECONDS / 3) - 1; i++) {
      const pcap = `/tmp/${c.lab.prefix}-rk${i}.pcap`;
      await inNs(h1.ns.name, ['timeout', '5', 'tcpdump', '-q', '-U', '-s', '64', '-i', 'eth0', '-c', '20', '-w', pcap, 'udp port 6783'], 10_000).catch(() => '');
      gens.push(keyGenBytes(await readFile(pcap).catch(() => Buffer.alloc(0))));
      await rm(pcap, { force: true });
      await sleep(2000);
    }
    const out = await client;
    await server.catch(() => '');
    const res = JSON.parse(out) as { error?: string; end: { sum_received: { bytes: number; bits_per_second: number }; sum_sent: { retransmits?: number } } };
    assert.equal(res.error, undefined, `iperf3: ${res.error}`);
    assert.ok(res.end.sum_received.bytes > 0);
    const after = await Promise.all([stats(h1), stats(h2)]);
    const rekeys = after.map((s, i) => rekeysOf(s) - rekeysOf(before[i]!));
    const distinct = [...new Set(gens.flat())];
    console.log(
      `rekey: iperf3 ${(res.end.sum_received.bits_per_second / 1e6).toFixed(0)} Mbit/s, ${res.end.sum_sent.retransmits ?? '?'} retransmits; ` +
        `rekeys h1 ${rekeys[0]} h2 ${rekeys[1]}; generation bytes seen per capture ${JSON.stringify(gens.map((g) => [...new Set(g)]))}`,
    );
    for (const [i, n] of rekeys.entries()) assert.ok(n >= IPERF_SECONDS / 2 / 3, `h${i + 1} rekeyed ${n} times in ${IPERF_SECONDS} s`);
    assert.ok(distinct.length >= 5, `the key generation byte changes on the wire: ${JSON.stringify(distinct)}`);
    for (const [i, s] of after.entries()) {
      assert.equal((s.fastPath['droppedAuth'] ?? 0) - (before[i]!.fastPath['droppedAuth'] ?? 0), 0, `h${i + 1}: fast path dropped datagrams for a bad tag`);
      assert.equal(s.overlay['droppedAuth']! - before[i]!.overlay['droppedAuth']!, 0, `h${i + 1}: overlay dropped datagrams for a bad tag`);
    }
    // `tsweave report` shows the count per connection.
    const report = JSON.parse(await c.ok(h1, 'report')) as { Router: { Connections: Array<{ State: string; Attrs: { rekeys?: number } | null }> } };
    const conn = report.Router.Connections.find((x) => x.State === 'established');
    assert.ok(conn && (conn.Attrs?.rekeys ?? 0) >= rekeys[0]!, `report: ${JSON.stringify(report.Router.Connections)}`);
  });
});
