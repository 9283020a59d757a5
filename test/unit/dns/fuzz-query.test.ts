// Fuzzing the decoders weaveDNS runs on network bytes, seeded so a failure replays (TSWEAVE_FUZZ_SEED,
// TSWEAVE_FUZZ_N to change them). hostile.test.ts covers plain random bytes and 1–3 byte mutations of four
// queries; this adds a mutation engine (bit flips, interesting values in the count and length fields,
// inserts, deletes, duplicated ranges, splices of two seeds) over a wider seed set, feeds each input through
// the whole path (parseQuery → Resolver → the forward policy as the forwarder would use it), and fuzzes the
// `dns` gossip decoder with byte mutations and with structural mutations of valid messages (a field swapped
// for a value of another type). Anything thrown other than the project's ProtocolError fails the test.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { ProtocolError } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/logger.js';
import { decodeDnsGossip, encodeDnsGossip, type DnsEntry } from '../../../src/dns/entries-codec.js';
import { checkUpstreamReply, replyForClient, servfail } from '../../../src/dns/forward-policy.js';
import { parseQuery } from '../../../src/dns/message.js';
import { DnsService } from '../../../src/dns/service.js';
import type { PeerName } from '../../../src/core/types.js';
import { FakeClock } from '../../support/fake-clock.js';
import { seededRng } from '../../support/rng.js';
import { FakePeers, P1, P2, checkDecision, query } from './helpers.js';

const SEED = Number(process.env.TSWEAVE_FUZZ_SEED ?? 20_261_130);
const N = Number(process.env.TSWEAVE_FUZZ_N ?? 20_000);
type Rng = ReturnType<typeof seededRng>;

const INTERESTING = [0, 1, 2, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xc0 | 0x0c, 0xfe, 0xff];
const INTERESTING16 = [0, 1, 2, 0x00ff, 0x0100, 0x7fff, 0x8000, 0xfffe, 0xffff];

/** One to four random mutations of `seed` (never the same array). */
function mutate(rng: Rng, seed: Uint8Array, other: Uint8Array): Uint8Array {

  let b: Uint8Array = Uint8Array.from(seed);
  for (let k = 1 + rng.int(4); k > 0; k--) {
    const at = b.length ? rng.int(b.length) : 0;
    switch (rng.int(9)) {
      case 0: // bit flip
        if (b.length) b[at] = b[at]! ^ (1 << rng.int(8));
        break;
      case 1: // interesting byte (label lengths, compression pointers)
        if (b.length) b[at] = INTERESTING[rng.int(INTERESTING.length)]!;
        break;
      case 2: // interesting u16 (counts, lengths, types), often on a header count
        if (b.length >= 2) {
          const pos = rng.int(2) ? 4 + 2 * rng.int(4) : rng.int(b.length - 1);
          const v = INTERESTING16[rng.int(INTERESTING16.length)]!;
          if (pos + 1 < b.length) (b[pos] = v >> 8), (b[pos + 1] = v & 0xff);
        }
        break;
      case 3: // insert random bytes
        b = concat(b.subarray(0, at), rng.bytes(1 + rng.int(16)), b.subarray(at));
        break;
      case 4: // delete a range
        b = concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(8))));
        break;
      case 5: // duplicate a range (repeated labels, records)
        b = concat(b.subarray(0, at), b.subarray(at, at + 1 + rng.int(24)), b.subarray(at));
        break;
      case 6: // truncate
        b = b.subarray(0, rng.int(b.length + 1));
        break;
      case 7: // splice with another seed
        b = concat(b.subarray(0, at), other.subarray(rng.int(other.length + 1)));
        break;
      default: // random byte
        if (b.length) b[at] = rng.int(256);
    }
  }
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Runs `fn`; a ProtocolError is the decoder saying no and is fine, anything else fails with the input. */
function onlyProtocolErrors(fn: () => unknown, input: Uint8Array, what: string): 'ok' | 'rejected' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof ProtocolError) return 'rejected';
    assert.fail(`${what}: threw ${(err as Error)?.name}: ${(err as Error)?.message}\ninput (hex): ${Buffer.from(input).toString('hex')}`);
  }
}

function service(): DnsService {
  const dns = new DnsService({ clock: new FakeClock(), rng: seededRng(SEED), logger: silentLogger(), peers: new FakePeers(P1, [P2]) });
  for (let i = 0; i < 6; i++) dns.addEntry(`c${i}`, 'web.weave.local', `10.32.1.${i}`);
  dns.addEntry('db', 'db.weave.local', '10.32.0.9');
  return dns;
}

test(`fuzz: ${N} mutated DNS queries through parseQuery, the resolver and the forward policy`, () => {
  const rng = seededRng(SEED);
  const dns = service();
  const seeds: Uint8Array[] = [
    query('web.weave.local'),
    query('web', 'A', { udpSize: 1232 }),
    query('db.weave.local', 'AAAA'),
    query('9.0.32.10.in-addr.arpa', 'PTR'),
    query('www.example.com', 'A', { udpSize: 4096 }),
    query('nope.weave.local', 'ANY' as 'A', { rd: false }),
    query('web.weave.local', 'A', { udpSize: 512, ednsVersion: 1 }),
    query('x.weave.local', 'TXT', { klass: 'CH' }),
    query(`${'a'.repeat(63)}.${'b'.repeat(63)}.weave.local`),
  ];
  const counts = { answer: 0, forward: 0, drop: 0, upstreamAccepted: 0 };
  // Reported, not asserted (a loaded box makes timings noisy): the input that cost the resolver most.
  const slowest = { ms: 0, hex: '' };
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const b = mutate(rng, seeds[i % seeds.length]!, seeds[rng.int(seeds.length)]!);
    const what = `query #${i}`;
    const transport = i % 4 === 0 ? 'tcp' : 'udp';
    const p = onlyProtocolErrors(() => parseQuery(b), b, `${what} parseQuery`);
    assert.equal(p, 'ok', 'parseQuery never throws');
    const started = performance.now();
    const d = dns.resolver.resolve(b, transport);
    const took = performance.now() - started;
    if (took > slowest.ms) Object.assign(slowest, { ms: took, hex: Buffer.from(b).toString('hex') });
    checkDecision(d, b, what);
    counts[d.kind]++;
    if (d.kind === 'forward') {
      // What the forwarder does with it: the upstream copy and reply checks, the client's reply, SERVFAIL.
      const reply = Uint8Array.from(b);
      reply[2] = reply[2]! | 0x80;
      const check = checkUpstreamReply(mutate(rng, reply, b), 0x1234, d.query);
      assert.equal(typeof check.ok, 'boolean', what);
      if (checkUpstreamReply(reply, (reply[0]! << 8) | reply[1]!, d.query).ok) counts.upstreamAccepted++;
      const forClient = replyForClient(reply, d.query, d.maxReplyBytes);
      assert.ok(forClient.length <= Math.max(d.maxReplyBytes, 12 + d.query.question.length), what);
      assert.ok(servfail(d.query).length >= 12, what);
    }
  }
  const rate = Math.round(N / ((performance.now() - t0) / 1000));
  console.log(`dns query fuzz: ${N} inputs, ${rate} inputs/s, ${JSON.stringify(counts)}, seed ${SEED}; ` +
    `slowest ${slowest.ms.toFixed(2)} ms: ${slowest.hex}`);
  // The mutations must reach every outcome, or the fuzzer is only exercising the header checks.
  assert.ok(counts.answer > N / 10 && counts.forward > N / 20 && counts.drop > N / 100, JSON.stringify(counts));
});

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

/** A value of a random type, biased to the edges the validator must refuse. */
function oddValue(rng: Rng): unknown {
  const pick = [
    () => -1, () => 2 ** 53, () => 2 ** 32, () => 1.5, () => Number.NaN, () => Infinity, () => 0,
    () => '', () => 'x'.repeat(300), () => 'WEB.Weave.Local.', () => 'web..weave.local.', () => 'aa:bb:cc:dd:ee:f',
    () => null, () => true, () => [], () => [1, 2, 3], () => ({ a: 1 }), () => rng.bytes(rng.int(8)),
    () => BigInt('18446744073709551615'), () => '\u0000', () => new Array(7).fill(0),
  ];
  return pick[rng.int(pick.length)]!();
}

test(`fuzz: ${N} mutated dns gossip messages through the decoder and the entries merge`, () => {
  const rng = seededRng(SEED + 1);
  const clock = new FakeClock();
  const dns = new DnsService({ clock, rng: seededRng(2), logger: silentLogger(), peers: new FakePeers(P1, [P2]) });
  const entries = (n: number): DnsEntry[] =>
    Array.from({ length: n }, (_, i) => ({
      origin: (i % 2 ? P2 : ('00:00:00:00:00:0' + (3 + (i % 5))) as PeerName),
      containerId: `c${i}`,
      hostname: `h${i % 3}.weave.local.`,
      address: 0x0a200000 + i,
      version: 1 + (i % 4),
      tombstone: i % 5 === 0 ? clock.wallNow() : 0,
    }));
  const seeds = [0, 1, 3, 8].map((n) => encodeDnsGossip({ sentAt: clock.wallNow(), entries: entries(n) }));
  const counts = { accepted: 0, rejected: 0 };
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    let b: Uint8Array;
    if (i % 2) {
      b = mutate(rng, seeds[i % seeds.length]!, seeds[rng.int(seeds.length)]!);
    } else {
      // Structural: a valid message with one field (top level, an entry, or an entry's field) replaced.
      const msg = packr.unpack(seeds[1 + rng.int(seeds.length - 1)]!) as unknown[];
      const rows = msg[2] as unknown[][];
      const where = rng.int(4);
      if (where === 0) msg[rng.int(4)] = oddValue(rng);
      else if (where === 1) rows[rng.int(rows.length)] = oddValue(rng) as unknown[];
      else rows[rng.int(rows.length)]![rng.int(7)] = oddValue(rng);
      try {
        b = packr.pack(msg);
      } catch {
        continue; // not encodable (a BigInt past 64 bits): nothing a peer could send
      }
    }
    const what = `gossip #${i}`;
    onlyProtocolErrors(() => decodeDnsGossip(b), b, `${what} decodeDnsGossip`);
    // Through the channel owner as the mesh delivers it: merge, delta and state must stay usable.
    counts[onlyProtocolErrors(() => dns.gossiper.onGossip(P2, b), b, `${what} onGossip`) === 'ok' ? 'accepted' : 'rejected']++;
    onlyProtocolErrors(() => dns.gossiper.onGossipBroadcast(P2, b), b, `${what} onGossipBroadcast`);
  }
  const rate = Math.round(N / ((performance.now() - t0) / 1000));
  console.log(`dns gossip fuzz: ${N} inputs, ${rate} inputs/s, ${JSON.stringify(counts)}, seed ${SEED + 1}`);
  assert.ok(counts.accepted > N / 50 && counts.rejected > N / 4, JSON.stringify(counts));
  // The state is still consistent after all that: full gossip encodes and decodes.
  const full = dns.gossiper.gossip();
  if (full) assert.ok(decodeDnsGossip(full).entries.length >= 0);
  assert.deepEqual(dns.lookup('web'), []);
});
