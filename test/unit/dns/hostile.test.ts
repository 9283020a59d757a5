// Hostile DNS input: the resolver and the upstream-reply checker must return a decision for any bytes and
// never throw (DESIGN.md §7 "bad input is normal").
import { test, vi } from 'vitest';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { silentLogger } from '../../../src/core/logger.js';
import { DnsService } from '../../../src/dns/service.js';
import { checkUpstreamReply, replyForClient } from '../../../src/dns/forward-policy.js';
import { parseQuery } from '../../../src/dns/message.js';
import { FakeClock } from '../../support/fake-clock.js';
import { seededRng } from '../../support/rng.js';
import { FakePeers, P1, checkDecision, decode, query } from './helpers.js';

function service() {
  const dns = new DnsService({ clock: new FakeClock(), rng: seededRng(3), logger: silentLogger(), peers: new FakePeers(P1) });
  for (let i = 0; i < 40; i++) dns.addEntry(`c${i}`, 'web.weave.local', `10.32.1.${i}`);
  return dns;
}

test('random bytes ×10000 (seeded) never throw, over UDP and TCP', () => {
  const dns = service();
  const rng = seededRng(2024);
  for (let i = 0; i < 10_000; i++) {
    const b = rng.bytes(rng.int(600));
    // Half of them look like queries with one question, so they get past the header checks.
    if (i % 2 && b.length >= 12) {
      b[2] = b[2]! & 0x07;
      b[4] = 0;
      b[5] = 1;
    }
    const transport = i % 3 ? 'udp' : 'tcp';
    checkDecision(dns.resolver.resolve(b, transport), b, `random #${i}`);
  }
  const s = dns.resolver.stats;
  assert.equal(s.queries, 10_000);
  assert.ok(s.formerr > 1000 && s.dropped > 1000, JSON.stringify(s));
});

test('every truncation and random mutations of valid queries never throw', () => {
  const dns = service();
  const rng = seededRng(5);
  const seeds = [
    query('web.weave.local'),
    query('web.weave.local', 'A', { udpSize: 1232 }),
    query('1.1.32.10.in-addr.arpa', 'PTR'),
    query('www.example.com', 'AAAA', { udpSize: 4096 }),
  ];
  for (const s of seeds) {
    for (let n = 0; n <= s.length; n++) checkDecision(dns.resolver.resolve(s.subarray(0, n), 'udp'), s, `prefix ${n}`);
  }
  for (let i = 0; i < 10_000; i++) {
    const b = Buffer.from(seeds[i % seeds.length]!);
    for (let k = 0; k < 1 + rng.int(3); k++) b[rng.int(b.length)] = rng.int(256);
    checkDecision(dns.resolver.resolve(b, 'udp'), b, `mutation #${i}`);
  }
});

function header(qd: number, an: number, ar: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(0xbeef, 0);
  b.writeUInt16BE(0x0100, 2);
  b.writeUInt16BE(qd, 4);
  b.writeUInt16BE(an, 6);
  b.writeUInt16BE(ar, 10);
  return b;
}

test('compression loops and pointer chains are FORMERR, not a hang or a crash', () => {
  const dns = service();
  const q = query('web.weave.local').subarray(12);
  // A record whose name points to itself.
  const self = Buffer.concat([header(1, 1, 0), q, Buffer.from([0xc0, 12 + q.length, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4])]);
  // Two names pointing at each other.
  const a = 12 + q.length;
  const mutual = Buffer.concat([header(1, 2, 0), q, Buffer.from([0xc0, a + 16, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4, 0xc0, a, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4])]);
  // 16 KB of pointers each pointing to the previous one (a long but finite chain), then a query.
  const chain: number[] = [];
  const base = 12 + q.length;
  chain.push(0);
  for (let off = base + 1; off < base + 16_000; off += 2) chain.push(0xc0 | ((off - 2) >> 8), (off - 2) & 0xff);
  const longChain = Buffer.concat([header(1, 1, 0), q, Buffer.from(chain), Buffer.from([0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4])]);
  // Forward pointer in the question name.
  const fwd = Buffer.concat([header(1, 0, 0), Buffer.from([0xc0, 14, 0, 1, 0, 1])]);
  // Counts far above what the bytes hold.
  const huge = Buffer.concat([header(1, 65535, 65535), q]);
  for (const [name, b] of Object.entries({ self, mutual, longChain, fwd, huge })) {
    const started = performance.now();
    const d = dns.resolver.resolve(b, 'udp');
    checkDecision(d, b, name);
    assert.ok(performance.now() - started < 500, `${name} took too long`);
    if (name !== 'longChain') assert.equal(d.kind === 'answer' ? decode(d.bytes).rcode : d.kind, 'FORMERR', name);
  }
});

test('record counts the bytes cannot hold are FORMERR before the decoder allocates for them', () => {
  // A 33-byte query claiming 65535 answers, authorities or additionals used to go through dns-packet, which
  // allocated and walked per counted record: ~10-80 ms of the router's only thread per 33-byte datagram.
  const spy = vi.spyOn(dnsPacket, 'decode');
  try {
    for (const at of [6, 8, 10]) {
      const b = Buffer.from(query('web.weave.local'));
      b.writeUInt16BE(0xffff, at);
      const r = parseQuery(b);
      assert.equal(r.kind, 'error');
      if (r.kind === 'error') assert.match(r.reason, /^65535 records counted, more than 33 bytes can hold$/);
    }
    assert.equal(spy.mock.calls.length, 0, 'the decoder never saw them');
    // An honest query with an OPT record still decodes.
    assert.equal(parseQuery(query('web.weave.local', 'A', { udpSize: 1232 })).kind, 'ok');
    assert.equal(spy.mock.calls.length, 1);
  } finally {
    spy.mockRestore();
  }
});

test('parseQuery never throws on label edge cases', () => {
  const label63 = 'a'.repeat(63);
  const long = [label63, label63, label63, 'b'.repeat(61)].join('.');
  const r = parseQuery(query(long));
  assert.equal(r.kind, 'ok');
  const bad = Buffer.concat([header(1, 0, 0), Buffer.from([64]), Buffer.alloc(64, 0x61), Buffer.from([0, 0, 1, 0, 1])]);
  assert.notEqual(parseQuery(bad).kind, 'ok');
});

test('upstream reply checks: id, QR, question must match; hostile replies never throw', () => {
  const parsed = parseQuery(query('www.Example.com', 'A', { id: 1 }));
  assert.equal(parsed.kind, 'ok');
  if (parsed.kind !== 'ok') return;
  const q = parsed.query;
  const reply = Buffer.from(query('WWW.example.COM', 'A', { id: 4242 }));
  reply[2] = reply[2]! | 0x80;
  assert.deepEqual(checkUpstreamReply(reply, 4242, q), { ok: true }, 'case-insensitive question match');
  assert.equal(checkUpstreamReply(reply, 4243, q).ok, false);
  const notResp = Buffer.from(reply);
  notResp[2] = notResp[2]! & 0x7f;
  assert.equal(checkUpstreamReply(notResp, 4242, q).ok, false);
  assert.equal(checkUpstreamReply(Buffer.from(query('www.example.org', 'A', { id: 4242 })).fill(0x80, 2, 3), 4242, q).ok, false);
  const rng = seededRng(8);
  for (let i = 0; i < 5000; i++) {
    const b = Buffer.from(reply);
    for (let k = 0; k < 1 + rng.int(3); k++) b[rng.int(b.length)] = rng.int(256);
    const r = checkUpstreamReply(b.subarray(0, rng.int(b.length + 1)), 4242, q);
    assert.equal(typeof r.ok, 'boolean');
  }
  // A reply too big for the client is cut to header + question with TC and the client's id.
  const client = replyForClient(Buffer.concat([reply, Buffer.alloc(600)]), q, 512);
  const m = decode(client);
  assert.ok(m.tc);
  assert.equal(m.id, 1);
  assert.equal(m.answers.length, 0);
  assert.equal(decode(replyForClient(reply, q, 512)).id, 1);
});
