// Resolver decisions, rule by rule (DESIGN.md §6). Queries are built with dns-packet like a client would.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { silentLogger } from '../../../src/core/logger.js';
import { DnsService } from '../../../src/dns/service.js';
import type { ResolverDecision } from '../../../src/dns/resolver.js';
import { FakeClock } from '../../support/fake-clock.js';
import { seededRng } from '../../support/rng.js';
import { FakePeers, P1, decode, query } from './helpers.js';

function setup(init: { ttlS?: number; domain?: string } = {}) {
  const dns = new DnsService({ clock: new FakeClock(), rng: seededRng(42), logger: silentLogger(), peers: new FakePeers(P1) }, init);
  dns.addEntry('c-web-1', 'web.weave.local', '10.32.0.1');
  dns.addEntry('c-web-2', 'web.weave.local.', '10.32.0.2');
  dns.addEntry('c-web-3', 'WEB', '10.32.0.3'); // single label goes in the domain
  dns.addEntry('c-db', 'db.weave.local', '10.32.0.9');
  return dns;
}

function answer(d: ResolverDecision) {
  assert.equal(d.kind, 'answer', `expected an answer, got ${JSON.stringify(d.kind === 'drop' ? d : d.kind)}`);
  return decode((d as { bytes: Uint8Array }).bytes);
}

const aData = (m: { answers: dnsPacket.Answer[] }) => m.answers.map((a) => (a as dnsPacket.StringAnswer).data);

test('A: every address of the name, authoritative, TTL 1, id and RD echoed, RA set', () => {
  const dns = setup();
  const m = answer(dns.resolver.resolve(query('web.weave.local', 'A', { id: 777 }), 'udp'));
  assert.equal(m.rcode, 'NOERROR');
  assert.equal(m.id, 777);
  assert.ok(m.aa && m.rd && m.ra && !m.tc);
  assert.deepEqual(aData(m).sort(), ['10.32.0.1', '10.32.0.2', '10.32.0.3']);
  for (const a of m.answers) {
    assert.equal(a.type, 'A');
    assert.equal((a as dnsPacket.StringAnswer).ttl, 1);
    assert.equal(a.name, 'web.weave.local');
  }
  assert.deepEqual(m.questions, [{ name: 'web.weave.local', type: 'A', class: 'IN' }]);
  assert.equal(m.additionals.length, 0, 'no OPT without EDNS in the query');
});

test('A: lookups are case-insensitive and echo the question as asked', () => {
  const dns = setup();
  const m = answer(dns.resolver.resolve(query('Db.WEAVE.local'), 'udp'));
  assert.deepEqual(aData(m), ['10.32.0.9']);
  assert.equal(m.questions[0]!.name, 'Db.WEAVE.local');
  assert.equal(m.answers[0]!.name, 'Db.WEAVE.local');
});

test('A: order is shuffled per answer, uniformly (seeded Rng, 6000 queries)', () => {
  const dns = setup();
  const firsts = new Map<string, number>();
  const orders = new Set<string>();
  const N = 6000;
  for (let i = 0; i < N; i++) {
    const data = aData(answer(dns.resolver.resolve(query('web.weave.local'), 'udp')));
    assert.equal(data.length, 3);
    firsts.set(data[0]!, (firsts.get(data[0]!) ?? 0) + 1);
    orders.add(data.join(','));
  }
  assert.equal(orders.size, 6, 'all 3! orders appear');
  for (const [addr, n] of firsts) assert.ok(Math.abs(n - N / 3) < N / 3 * 0.1, `${addr} first ${n} times of ${N}`);
});

test('TTL is configurable', () => {
  const dns = setup({ ttlS: 30 });
  const m = answer(dns.resolver.resolve(query('db.weave.local'), 'udp'));
  assert.equal((m.answers[0] as dnsPacket.StringAnswer).ttl, 30);
});

test('PTR for a known address; unknown addresses are forwarded', () => {
  const dns = setup();
  const m = answer(dns.resolver.resolve(query('9.0.32.10.in-addr.arpa', 'PTR'), 'udp'));
  assert.equal(m.rcode, 'NOERROR');
  assert.ok(m.aa);
  assert.deepEqual(m.answers.map((a) => [a.type, (a as dnsPacket.StringAnswer).data]), [['PTR', 'db.weave.local']]);
  assert.equal(dns.resolver.resolve(query('99.0.32.10.in-addr.arpa', 'PTR'), 'udp').kind, 'forward');
  assert.equal(dns.resolver.resolve(query('0.32.10.in-addr.arpa', 'PTR'), 'udp').kind, 'forward');
});

test('a known name with another type → NOERROR and no records (NODATA), so host/nslookup work', () => {
  const dns = setup();
  for (const type of ['AAAA', 'MX', 'TXT', 'SRV'] as const) {
    const m = answer(dns.resolver.resolve(query('web.weave.local', type), 'udp'));
    assert.equal(m.rcode, 'NOERROR', type);
    assert.ok(m.aa, type);
    assert.equal(m.answers.length, 0, type);
  }
  const any = answer(dns.resolver.resolve(query('db.weave.local', 'ANY' as dnsPacket.RecordType), 'udp'));
  assert.deepEqual(aData(any), ['10.32.0.9']);
});

test('unknown name in the domain → authoritative NXDOMAIN; the apex itself → NOERROR', () => {
  const dns = setup();
  for (const type of ['A', 'AAAA'] as const) {
    const m = answer(dns.resolver.resolve(query('nope.weave.local', type), 'udp'));
    assert.equal(m.rcode, 'NXDOMAIN');
    assert.ok(m.aa);
  }
  const apex = answer(dns.resolver.resolve(query('weave.local', 'SOA'), 'udp'));
  assert.equal(apex.rcode, 'NOERROR');
  // A removed entry stops resolving at once.
  dns.removeContainer('c-db');
  assert.equal(answer(dns.resolver.resolve(query('db.weave.local'), 'udp')).rcode, 'NXDOMAIN');
});

test('single-label names resolve in the domain; unknown single labels are forwarded', () => {
  const dns = setup();
  const m = answer(dns.resolver.resolve(query('db'), 'udp'));
  assert.deepEqual(aData(m), ['10.32.0.9']);
  assert.equal(m.answers[0]!.name, 'db');
  assert.equal(answer(dns.resolver.resolve(query('db', 'AAAA'), 'udp')).answers.length, 0);
  assert.equal(dns.resolver.resolve(query('localhost'), 'udp').kind, 'forward');
});

test('everything else is forwarded, with the client limit for the reply', () => {
  const dns = setup();
  const d = dns.resolver.resolve(query('www.example.com', 'A', { udpSize: 1232 }), 'udp');
  assert.equal(d.kind, 'forward');
  if (d.kind === 'forward') {
    assert.equal(d.query.name, 'www.example.com.');
    assert.equal(d.maxReplyBytes, 1232);
  }
  const t = dns.resolver.resolve(query('weave.local.example.com'), 'tcp');
  assert.equal(t.kind, 'forward');
  if (t.kind === 'forward') assert.equal(t.maxReplyBytes, 65535);
  assert.equal(dns.resolver.resolve(query('.', 'NS'), 'udp').kind, 'forward');
  assert.equal(dns.resolver.resolve(query('notweave.local'), 'udp').kind, 'forward', 'suffix match is per label');
});

test('a non-default domain', () => {
  const dns = new DnsService({ clock: new FakeClock(), rng: seededRng(1), logger: silentLogger(), peers: new FakePeers(P1) }, { domain: 'Corp.Example' });
  assert.equal(dns.domain, 'corp.example.');
  dns.addEntry('c', 'svc', '10.0.0.1');
  assert.deepEqual(aData(answer(dns.resolver.resolve(query('svc.corp.example'), 'udp'))), ['10.0.0.1']);
  assert.equal(dns.resolver.resolve(query('svc.weave.local'), 'udp').kind, 'forward');
});

function many(n: number) {
  const dns = setup();
  for (let i = 0; i < n; i++) dns.addEntry(`c${i}`, 'many.weave.local', `10.40.${i >> 8}.${i & 255}`);
  return dns;
}

test('TC: without EDNS the answer fits 512 bytes, keeps what fits and sets TC; TCP gets everything', () => {
  const dns = many(60);
  const d = dns.resolver.resolve(query('many.weave.local'), 'udp');
  assert.equal(d.kind, 'answer');
  if (d.kind !== 'answer') return;
  assert.ok(d.bytes.length <= 512, `${d.bytes.length} bytes`);
  assert.ok(d.truncated);
  const m = decode(d.bytes);
  assert.ok(m.tc);
  assert.ok(m.answers.length > 20 && m.answers.length < 60, `${m.answers.length} answers in 512 bytes`);
  const t = answer(dns.resolver.resolve(query('many.weave.local'), 'tcp'));
  assert.ok(!t.tc);
  assert.equal(t.answers.length, 60);
});

test('TC: the client EDNS0 buffer size is honoured and OPT is echoed', () => {
  const dns = many(60);
  const big = dns.resolver.resolve(query('many.weave.local', 'A', { udpSize: 1232 }), 'udp');
  assert.ok(big.kind === 'answer' && !big.truncated);
  const mb = decode((big as { bytes: Uint8Array }).bytes);
  assert.equal(mb.answers.length, 60);
  assert.equal(mb.additionals.length, 1);
  assert.equal(mb.additionals[0]!.type, 'OPT');
  const small = dns.resolver.resolve(query('many.weave.local', 'A', { udpSize: 600 }), 'udp');
  assert.ok(small.kind === 'answer' && small.truncated && small.bytes.length <= 600);
  const ms = decode((small as { bytes: Uint8Array }).bytes);
  assert.ok(ms.tc && ms.answers.length < 60 && ms.additionals[0]?.type === 'OPT');
  // A size below 512 means 512 (RFC 6891 §6.2.5).
  const tiny = dns.resolver.resolve(query('many.weave.local', 'A', { udpSize: 100 }), 'udp');
  assert.ok(tiny.kind === 'answer' && tiny.bytes.length > 400 && tiny.bytes.length <= 512);
});

test('EDNS version other than 0 → BADVERS', () => {
  const dns = setup();
  const d = dns.resolver.resolve(query('web.weave.local', 'A', { udpSize: 1232, ednsVersion: 1 }), 'udp');
  assert.equal(d.kind, 'answer');
  const m = decode((d as { bytes: Uint8Array }).bytes);
  assert.equal(m.answers.length, 0);
  assert.equal((m.additionals[0] as dnsPacket.OptAnswer).extendedRcode, 1, 'BADVERS = 16: upper bits 1 in OPT');
});

function header(id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(flags, 2);
  b.writeUInt16BE(qd, 4);
  b.writeUInt16BE(an, 6);
  b.writeUInt16BE(ns, 8);
  b.writeUInt16BE(ar, 10);
  return b;
}

test('FORMERR for QDCOUNT ≠ 1 and undecodable queries; NOTIMP for other opcodes; drop for junk', () => {
  const dns = setup();
  const r = (b: Uint8Array) => dns.resolver.resolve(b, 'udp');
  const q = query('web.weave.local');
  const rc = (d: ResolverDecision) => (d.kind === 'answer' ? decode(d.bytes).rcode : d.kind);

  assert.equal(rc(r(header(5, 0x0100, 0))), 'FORMERR');
  const two = dnsPacket.encode({ type: 'query', id: 6, questions: [{ type: 'A', name: 'a.weave.local' }, { type: 'A', name: 'b.weave.local' }] });
  const d2 = r(two);
  assert.equal(rc(d2), 'FORMERR');
  assert.equal(decode((d2 as { bytes: Uint8Array }).bytes).id, 6);
  assert.equal(rc(r(q.subarray(0, q.length - 3))), 'FORMERR', 'truncated question');
  assert.equal(rc(r(Buffer.concat([header(7, 0, 1), Buffer.from([5, 0x61])]))), 'FORMERR');
  assert.equal(rc(r(Buffer.concat([q.subarray(0, 10), Buffer.from([0, 1]), q.subarray(12)]))), 'FORMERR', 'ARCOUNT 1 with nothing there');

  for (const opcode of [1, 2, 4, 5]) {
    const b = Buffer.from(q);
    b.writeUInt16BE((opcode << 11) | 0x0100, 2);
    const d = r(b);
    assert.equal(rc(d), 'NOTIMP', `opcode ${opcode}`);
    const flags = Buffer.from((d as { bytes: Uint8Array }).bytes).readUInt16BE(2);
    assert.equal((flags >> 11) & 0xf, opcode, 'opcode echoed');
  }

  assert.equal(r(Buffer.alloc(0)).kind, 'drop');
  assert.equal(r(Buffer.alloc(11)).kind, 'drop');
  const resp = Buffer.from(q);
  resp[2] = resp[2]! | 0x80;
  assert.equal(r(resp).kind, 'drop', 'responses are never answered (no loops)');
  assert.ok(dns.resolver.stats.formerr >= 4);
});

test('names that cannot be hostnames never match but are still answered sensibly', () => {
  const dns = setup();
  // "w.eb" as one label (a dot byte inside a label), in our domain → NXDOMAIN, not web.
  const q = Buffer.concat([header(9, 0x0100, 1), Buffer.from([4]), Buffer.from('w.eb'), Buffer.from([5]), Buffer.from('weave'), Buffer.from([5]), Buffer.from('local'), Buffer.from([0, 0, 1, 0, 1])]);
  const d = dns.resolver.resolve(q, 'udp');
  assert.equal(d.kind, 'answer');
  assert.equal(decode((d as { bytes: Uint8Array }).bytes).rcode, 'NXDOMAIN');
  // A compression pointer in the question name → FORMERR.
  const p = Buffer.concat([header(10, 0x0100, 1), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
  const dp = dns.resolver.resolve(p, 'udp');
  assert.ok(dp.kind === 'drop' || (dp.kind === 'answer' && decode(dp.bytes).rcode === 'FORMERR'));
});

test('service: lookup, isInDomain, status', () => {
  const dns = setup();
  assert.deepEqual(dns.lookup('web').sort(), ['10.32.0.1', '10.32.0.2', '10.32.0.3']);
  assert.deepEqual(dns.lookup('DB.weave.local.'), ['10.32.0.9']);
  assert.deepEqual(dns.lookup('nope'), []);
  assert.ok(dns.isInDomain('x.Weave.Local'));
  assert.ok(dns.isInDomain('weave.local.'));
  assert.ok(!dns.isInDomain('example.com'));
  assert.ok(!dns.isInDomain('xweave.local'));
  assert.equal(dns.removeEntries({ containerId: 'c-web-1', address: '10.32.0.1' }), 1);
  assert.equal(dns.removeEntries({ containerId: 'c-web-1' }), 0);
  const s = dns.status({ address: '172.17.0.1:53', upstream: ['8.8.8.8'] });
  assert.deepEqual(s, {
    domain: 'weave.local.',
    upstream: ['8.8.8.8'],
    address: '172.17.0.1:53',
    ttl: 1,
    entries: [
      { hostname: 'db.weave.local.', address: '10.32.0.9', containerId: 'c-db', origin: P1 },
      { hostname: 'web.weave.local.', address: '10.32.0.2', containerId: 'c-web-2', origin: P1 },
      { hostname: 'web.weave.local.', address: '10.32.0.3', containerId: 'c-web-3', origin: P1 },
    ],
  });
  assert.throws(() => dns.addEntry('c', 'bad name!', '10.0.0.1'), { code: 'ERR_CONFIG', message: /invalid hostname "bad name!"/ });
  assert.throws(() => dns.addEntry('c', 'ok', '10.0.0.256'), { code: 'ERR_CONFIG', message: /0..255/ });
  assert.throws(() => dns.addEntry('', 'ok', '10.0.0.1'), { code: 'ERR_CONFIG', message: /invalid container id/ });
  assert.throws(() => new DnsService({ clock: new FakeClock(), rng: seededRng(1), logger: silentLogger(), peers: new FakePeers(P1) }, { domain: 'bad..domain' }), /invalid --dns-domain/);
  assert.equal(dns.addEntry('c-db', 'db.weave.local', '10.32.0.9'), false, 'already live');
});
