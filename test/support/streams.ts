// Checked bulk transfers across an overlay (perf-lanes, perf-unified): N TCP streams of seeded
// pseudo-random bytes at once, SHA-256 compared at both ends (scripts/bench/stream.py), and the sender's
// TCP reorder counters over the transfer.
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inNs } from './cluster.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const STREAM_PY = join(ROOT, 'scripts', 'bench', 'stream.py');
export const UDPSEQ_PY = join(ROOT, 'scripts', 'bench', 'udpseq.py');

/** TCP counters of a namespace (nstat -a: absolute values, nothing kept between calls). */
export async function tcpCounters(ns: string): Promise<Record<string, number>> {
  const out = JSON.parse(await inNs(ns, ['nstat', '-a', '-z', '-j'])) as { kernel: Record<string, number> };
  return out.kernel;
}

/** Waits until something in ns listens on port (ss: TCP with -t, UDP with -u). */
export async function listening(ns: string, proto: '-t' | '-u', port: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if ((await inNs(ns, ['ss', '-Hln', proto, `sport = :${port}`])).length > 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${port} in ${ns}`);
}

/**
 * Reordered data shows at the sender as SACK holes filled later (TCPSACKReorder; Reno when SACK is off).
 * TCPTSReorder is reported, not asserted: it also counts a retransmission found spurious by timestamps,
 * which a delay spike on this shared 2-core box causes without any reordering.
 */
export const REORDER_KEYS = ['TcpExtTCPSACKReorder', 'TcpExtTCPRenoReorder'];

/**
 * `streams` TCP streams of `perStream` bytes from namespace `from` to `toIp` in namespace `to`, all at
 * once (ports basePort..); asserts every stream arrived intact and the sender saw no reordering.
 * Returns the sender's TCP counters over the transfer.
 */
export async function checkedStreams(from: string, to: string, toIp: string, streams: number, perStream: number, basePort: number): Promise<Record<string, number>> {
  const before = await tcpCounters(from);
  const runs = Array.from({ length: streams }, async (_, i) => {
    const port = basePort + i;
    const recv = inNs(to, ['python3', STREAM_PY, 'recv', toIp, String(port)]);
    await listening(to, '-t', port);
    const send = inNs(from, ['python3', STREAM_PY, 'send', toIp, String(port), String(perStream), String(i + 1)]);
    const [got, sent] = await Promise.all([recv, send]);
    return { got, sent };
  });
  for (const [i, r] of (await Promise.all(runs)).entries()) {
    assert.equal(r.got, r.sent, `stream ${i} differs`);
    assert.match(r.got, new RegExp(`^${perStream} [0-9a-f]{64}$`));
  }
  const after = await tcpCounters(from);
  const delta = Object.fromEntries(['TcpRetransSegs', 'TcpExtTCPTSReorder', ...REORDER_KEYS].map((k) => [k, (after[k] ?? 0) - (before[k] ?? 0)]));
  process.stderr.write(`  sender TCP counters over the transfer: ${JSON.stringify(delta)}\n`);
  for (const k of REORDER_KEYS) assert.equal(delta[k], 0, `the sender saw reordering (${k}): ${JSON.stringify(delta)}`);
  return delta;
}
