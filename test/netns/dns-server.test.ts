// weaveDNS server against real clients (dig, host, nslookup) and a real upstream (dnsmasq), all inside a
// network namespace of our own. Needs root (ip netns). Topology, all on the namespace's loopback:
//
//   netns tsw-dns-<pid>-<rand>
//   ┌──────────────────────────────────────────────────────────────────────────────────────────┐
//   │ dig/host/nslookup ──▶ 127.0.0.1:53  tsweave DnsServer ──forward──▶ 127.0.0.1:5353 dnsmasq │
//   │                                                                    (example.test → 203.0.113.7)
//   │ dig ───────────────▶ 127.0.0.2:53  tsweave DnsServer ──forward──▶ 127.0.0.1:5354 silent  │
//   │ dig ───────────────▶ 127.0.0.3:53  DnsServer ──▶ 10.1.2.3 (no route), fd00::1 (no IPv6),  │
//   │                                                   127.0.0.1:5399 (closed port)             │
//   │ dig ───────────────▶ 127.0.0.4:53  DnsServer ──▶ the same two unreachable, then dnsmasq    │
//   └──────────────────────────────────────────────────────────────────────────────────────────┘
// The namespace has IPv6 switched off and no route but loopback (an isolated, IPv4-only host).
//
// The same file is the server's entry point: run with TSWEAVE_DNS_TEST_ENTRY=1 (inside the netns) it starts
// the two servers, prints READY and serves until killed.

import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = fileURLToPath(import.meta.url);
const root = join(dirname(here), '..', '..');

if (process.env.TSWEAVE_DNS_TEST_ENTRY === '1') {
  await serve();
} else {
  // vitest is loaded only on the test side: the server entry runs under plain node, where importing it throws.
  suite(await import('vitest'));
}

// ---------------------------------------------------------------------------------------------------------
// Server side (runs inside the netns).

async function serve(): Promise<void> {
  const { createSocket } = await import('node:dgram');
  const { createServer } = await import('node:net');
  const { systemClock, systemRng } = await import('../../src/core/clock.js');
  const { createLogger } = await import('../../src/core/logger.js');
  const { DnsService } = await import('../../src/dns/service.js');
  const { DnsServer } = await import('../../src/io/dns-server.js');
  type PeerName = import('../../src/core/types.js').PeerName;

  const self = '00:00:00:00:00:01' as PeerName;
  const peers = {
    localName: self,
    localNickname: 'netns',
    reachablePeers: () => [self],
    isReachable: (p: PeerName) => p === self,
    nicknameOf: () => 'netns',
    onPeersChanged: () => () => {},
  };
  const logger = createLogger(process.env.TSWEAVE_DNS_TEST_LOG ?? 'warn', undefined);
  const dns = new DnsService({ clock: systemClock, rng: systemRng, logger, peers });
  dns.addEntry('web-1', 'web.weave.local', '10.32.0.1');
  dns.addEntry('web-2', 'web.weave.local', '10.32.0.2');
  dns.addEntry('web-3', 'web.weave.local', '10.32.0.3');
  dns.addEntry('web-4', 'web.weave.local', '10.32.0.4');
  dns.addEntry('db', 'db.weave.local', '10.32.0.9');
  for (let i = 0; i < 60; i++) dns.addEntry(`many-${i}`, 'many.weave.local', `10.33.0.${i + 1}`);

  // An "upstream" that accepts queries and never answers.
  const silentUdp = createSocket('udp4');
  await new Promise<void>((r) => silentUdp.bind(5354, '127.0.0.1', r));
  const silentTcp = createServer(() => {});
  await new Promise<void>((r) => silentTcp.listen(5354, '127.0.0.1', r));

  const main = new DnsServer({ handler: dns.resolver, logger, rng: systemRng }, { listenAddress: '127.0.0.1', port: 53, upstreams: ['127.0.0.1:5353'], upstreamTimeoutMs: 2000, tcpIdleTimeoutMs: 3000 });
  const dead = new DnsServer({ handler: dns.resolver, logger, rng: systemRng }, { listenAddress: '127.0.0.2', port: 53, upstreams: ['127.0.0.1:5354'], upstreamTimeoutMs: 1000 });
  const unreachable = new DnsServer({ handler: dns.resolver, logger, rng: systemRng }, { listenAddress: '127.0.0.3', port: 53, upstreams: ['10.1.2.3', '[fd00::1]', '127.0.0.1:5399'], upstreamTimeoutMs: 10_000 });
  const fallback = new DnsServer({ handler: dns.resolver, logger, rng: systemRng }, { listenAddress: '127.0.0.4', port: 53, upstreams: ['10.1.2.3', '[fd00::1]', '127.0.0.1:5353'], upstreamTimeoutMs: 10_000 });
  await main.start();
  await dead.start();
  await unreachable.start();
  await fallback.start();
  // A second server on a taken port must fail with a precise message.
  const clash = new DnsServer({ handler: dns.resolver, logger, rng: systemRng }, { listenAddress: '127.0.0.1', port: 53, upstreams: [] });
  try {
    await clash.start();
    console.log('BINDERR none');
  } catch (err) {
    console.log(`BINDERR ${(err as { code?: string }).code} ${(err as Error).message}`);
  }
  console.log(`STATUS ${JSON.stringify(dns.status(main.info()))}`);
  console.log('READY');
  const stop = async (): Promise<void> => {
    await main.stop();
    await dead.stop();
    await unreachable.stop();
    await fallback.stop();
    silentUdp.close();
    silentTcp.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  // Report liveness and counters on demand (the test asks after the garbage burst).
  process.stdin.on('data', () => console.log(`STATS ${JSON.stringify({
    server: main.stats, resolver: dns.resolver.stats,
    unreachable: unreachable.forwarderStats, fallback: fallback.forwarderStats,
  })}`));
}

// ---------------------------------------------------------------------------------------------------------
// Test side (runs in the root namespace, drives everything through `ip netns exec`).

function suite({ afterAll, beforeAll, test }: typeof import('vitest')): void {
  const ns = `tsw-dns-${process.pid}-${randomBytes(3).toString('hex')}`;
  let server: ChildProcess | undefined;
  let upstream: ChildProcess | undefined;
  let serverOut = '';
  let nsCreated = false;

  function run(cmd: string, args: string[], timeoutMs = 15_000): Promise<{ code: number; out: string }> {
    return new Promise((resolve) => {
      execFile('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, out: stdout + stderr });
      });
    });
  }
  const dig = (...args: string[]) => run('dig', ['+time=3', '+tries=1', ...args]);

  function waitFor(pattern: RegExp, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const t0 = Date.now();
      const iv = setInterval(() => {
        if (pattern.test(serverOut)) {
          clearInterval(iv);
          resolve();
        } else if (Date.now() - t0 > timeoutMs || server?.exitCode != null) {
          clearInterval(iv);
          reject(new Error(`server did not print ${pattern} within ${timeoutMs} ms; output:\n${serverOut}`));
        }
      }, 50);
    });
  }

  beforeAll(async () => {
    if (process.getuid?.() !== 0) {
      throw new Error('test/netns/dns-server.test.ts needs root (it creates a network namespace with `ip netns add`); run it as root, e.g. via `npm run test:netns`');
    }
    for (const bin of ['dig', 'host', 'nslookup', 'dnsmasq']) {
      if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) {
        throw new Error(`${bin} not found; install: apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends bind9-dnsutils dnsmasq-base`);
      }
    }
    const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
    if (add.status !== 0) throw new Error(`ip netns add ${ns} failed: ${add.stderr}`);
    nsCreated = true;
    spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    // IPv4 only: an IPv6 nameserver cannot be reached at all.
    for (const k of ['all', 'default', 'lo']) spawnSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);

    upstream = spawn('ip', ['netns', 'exec', ns, 'dnsmasq', '--keep-in-foreground', '--no-resolv', '--no-hosts', '--listen-address=127.0.0.1',
      '--bind-interfaces', '--port=5353', '--address=/example.test/203.0.113.7', '--pid-file=', '--log-facility=-', '--user=root'], { stdio: 'ignore' });

    server = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', here], {
      cwd: root,
      env: { ...process.env, TSWEAVE_DNS_TEST_ENTRY: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    server.stdout!.on('data', (d: Buffer) => (serverOut += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (serverOut += d.toString()));
    await waitFor(/READY/, 20_000);
    // dnsmasq answers once it is up.
    for (let i = 0; i < 50; i++) {
      if ((await run('dig', ['+time=1', '+tries=1', '+short', '-p', '5353', '@127.0.0.1', 'www.example.test'])).out.includes('203.0.113.7')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(() => {
    server?.kill('SIGTERM');
    upstream?.kill('SIGTERM');
    // Anything left in the namespace dies with it.
    if (nsCreated) {
      spawnSync('sh', ['-c', `ip netns pids ${ns} | xargs -r kill -9`]);
      const del = spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8' });
      if (del.status !== 0) console.error(`cleanup: ip netns del ${ns}: ${del.stderr}`);
    }
  });

  test('a second server on the same port fails with a precise message', () => {
    assert.match(serverOut, /BINDERR ERR_DNS port 53 on 127\.0\.0\.1 is in use; is another DNS server running\?/);
  });

  test('status dns snapshot lists the entries and the upstream', () => {
    const line = serverOut.split('\n').find((l) => l.startsWith('STATUS '))!;
    const s = JSON.parse(line.slice(7));
    assert.equal(s.domain, 'weave.local.');
    assert.equal(s.address, '127.0.0.1:53');
    assert.deepEqual(s.upstream, ['127.0.0.1:5353']);
    assert.equal(s.entries.length, 65);
    assert.deepEqual(s.entries[0], { hostname: 'db.weave.local.', address: '10.32.0.9', containerId: 'db', origin: '00:00:00:00:00:01' });
  });

  test('dig A over UDP and TCP returns every address, authoritative, TTL 1', async () => {
    for (const extra of [[], ['+tcp']]) {
      const r = await dig(...extra, '@127.0.0.1', 'web.weave.local');
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /status: NOERROR/);
      assert.match(r.out, /flags: qr aa rd ra;/);
      const addrs = [...r.out.matchAll(/^web\.weave\.local\.\s+1\s+IN\s+A\s+(\S+)$/gm)].map((m) => m[1]).sort();
      assert.deepEqual(addrs, ['10.32.0.1', '10.32.0.2', '10.32.0.3', '10.32.0.4'], r.out);
    }
  });

  test('round-robin: the order varies across queries', async () => {
    const orders = new Set<string>();
    for (let i = 0; i < 12; i++) orders.add((await dig('+short', '@127.0.0.1', 'web.weave.local')).out.trim().replace(/\n/g, ','));
    assert.ok(orders.size >= 3, `only ${orders.size} distinct orders: ${[...orders].join(' | ')}`);
  });

  test('PTR for a known address', async () => {
    const r = await dig('+short', '@127.0.0.1', '-x', '10.32.0.9');
    assert.equal(r.out.trim(), 'db.weave.local.');
  });

  test('AAAA of a known name → NOERROR with no answer; host and nslookup succeed', async () => {
    const r = await dig('@127.0.0.1', 'web.weave.local', 'AAAA');
    assert.match(r.out, /status: NOERROR/);
    assert.match(r.out, /ANSWER: 0,/);
    const h = await run('host', ['-W', '3', 'db.weave.local', '127.0.0.1']);
    assert.equal(h.code, 0, h.out);
    assert.match(h.out, /db\.weave\.local has address 10\.32\.0\.9/);
    assert.doesNotMatch(h.out, /NXDOMAIN|not found|SERVFAIL/);
    const n = await run('nslookup', ['-timeout=3', 'db.weave.local', '127.0.0.1']);
    assert.equal(n.code, 0, n.out);
    assert.match(n.out, /Address: 10\.32\.0\.9/);
    assert.doesNotMatch(n.out, /can't find/);
  });

  test('unknown name in the domain → NXDOMAIN (authoritative)', async () => {
    const r = await dig('@127.0.0.1', 'nope.weave.local');
    assert.match(r.out, /status: NXDOMAIN/);
    assert.match(r.out, /flags: qr aa rd ra;/);
    const h = await run('host', ['-W', '3', 'nope.weave.local', '127.0.0.1']);
    assert.notEqual(h.code, 0);
    assert.match(h.out, /NXDOMAIN/);
  });

  test('other names are forwarded to the upstream (dnsmasq), over UDP and TCP', async () => {
    assert.equal((await dig('+short', '@127.0.0.1', 'www.example.test')).out.trim(), '203.0.113.7');
    assert.equal((await dig('+tcp', '+short', '@127.0.0.1', 'api.example.test')).out.trim(), '203.0.113.7');
    const n = await dig('@127.0.0.1', 'www.nowhere.invalid');
    assert.match(n.out, /status: (NXDOMAIN|REFUSED|SERVFAIL)/, 'dnsmasq without resolv answers for itself');
  });

  test('a TCP client that half-closes after its query still gets the forwarded answer', async () => {
    // www.example.test A, sent framed, then shutdown(SHUT_WR) as some stub resolvers do.
    const script = `
      const q = Buffer.from('abcd0100000100000000000003777777076578616d706c65047465737400' + '00010001', 'hex');
      const f = Buffer.alloc(2 + q.length); f.writeUInt16BE(q.length, 0); q.copy(f, 2);
      const c = require('node:net').connect(53, '127.0.0.1', () => { c.write(f); c.end(); });
      let got = Buffer.alloc(0);
      c.on('data', (d) => (got = Buffer.concat([got, d])));
      c.on('error', (e) => console.log('error', e.code));
      c.on('close', () => console.log('reply', got.length > 2 ? got.subarray(2).toString('hex') : 'none'));`;
    const r = await run(process.execPath, ['-e', script]);
    assert.match(r.out, /^reply abcd8/m, r.out);
    assert.match(r.out, /cb007107/, 'the answer carries 203.0.113.7: ' + r.out);
  });

  test('an upstream that never answers → SERVFAIL after the timeout', async () => {
    const t0 = Date.now();
    const r = await dig('+time=5', '@127.0.0.2', 'www.example.test');
    assert.match(r.out, /status: SERVFAIL/, r.out);
    assert.ok(Date.now() - t0 >= 900, 'waited for the upstream timeout');
  });

  test('many addresses: TC over UDP without EDNS, and dig retries over TCP for the full answer', async () => {
    const t = await dig('+ignore', '+noedns', '@127.0.0.1', 'many.weave.local');
    assert.match(t.out, /flags: qr aa tc rd ra;/, t.out);
    const full = await dig('+noedns', '@127.0.0.1', 'many.weave.local');
    assert.match(full.out, /Truncated, retrying in TCP mode/);
    assert.match(full.out, /ANSWER: 60,/);
    const edns = await dig('+bufsize=1232', '@127.0.0.1', 'many.weave.local');
    assert.match(edns.out, /ANSWER: 60,/);
    assert.doesNotMatch(edns.out, /Truncated/);
  });

  /** The server's counters, asked for on stdin. */
  async function stats(): Promise<Record<string, Record<string, number>>> {
    const before = serverOut.length;
    server!.stdin!.write('stats\n');
    await waitFor(/STATS /, 5000);
    for (let i = 0; i < 50 && !/STATS .*\n/.test(serverOut.slice(before)); i++) await new Promise((r) => setTimeout(r, 100));
    const line = serverOut.slice(before).split('\n').find((l) => l.startsWith('STATS '));
    assert.ok(line, serverOut.slice(before));
    return JSON.parse(line.slice(6));
  }

  test('unreachable upstreams (no route, IPv6 on an IPv4-only host, closed port) → SERVFAIL at once, counted; the server lives on', async () => {
    // dig gives up after 3 s and the upstream timeout is 10 s: a SERVFAIL means every server failed at once.
    for (const extra of [[], ['+tcp']]) {
      const r = await dig(...extra, '@127.0.0.3', 'www.example.test');
      assert.match(r.out, /status: SERVFAIL/, r.out);
    }
    assert.equal(server!.exitCode, null, `server exited:\n${serverOut}`);
    // The next upstream is tried: the two unreachable ones are skipped and dnsmasq answers.
    assert.equal((await dig('+short', '@127.0.0.4', 'www.example.test')).out.trim(), '203.0.113.7');
    assert.equal((await dig('+tcp', '+short', '@127.0.0.4', 'api.example.test')).out.trim(), '203.0.113.7');
    // A burst does not take it down either, and it still answers its own names afterwards.
    await Promise.all(Array.from({ length: 30 }, (_, i) => dig('@127.0.0.3', `n${i}.example.test`)));
    assert.equal((await dig('+short', '@127.0.0.3', 'db.weave.local')).out.trim(), '10.32.0.9');
    const s = await stats();
    assert.ok(s.unreachable!.unreachable! >= 4 + 60, JSON.stringify(s.unreachable));
    assert.ok(s.unreachable!.errors! >= 2, 'the closed port counts as an error: ' + JSON.stringify(s.unreachable));
    assert.ok(s.fallback!.unreachable! >= 4, JSON.stringify(s.fallback));
    // Rate-limited: one warning per upstream, not one per query.
    const warnings = serverOut.split('\n').filter((l) => l.includes('dns upstream unreachable'));
    assert.ok(warnings.length >= 2 && warnings.length <= 4, warnings.join('\n'));
  });

  test('one client holding many slow TCP connections cannot starve the others (per-client cap, eviction, idle timeout)', async () => {
    // A hog (127.0.0.9) opens 200 connections and trickles a byte of a never-finished frame every 300 ms
    // (slowloris); then ten more clients open 16 idle ones each (160 > the 128 in total).
    const script = `
      const net = require('node:net');
      const conns = [];
      function open(src, trickle) {
        return new Promise((res) => {
          const c = net.connect({ host: '127.0.0.1', port: 53, localAddress: src }, () => {
            if (trickle) {
              c.write(Buffer.from([0, 100]));
              const iv = setInterval(() => c.writable && c.write(Buffer.from([0x41])), 300);
              c.on('close', () => clearInterval(iv));
            }
            res();
          });
          c.on('error', () => {}); c.on('close', res);
          conns.push(c);
        });
      }
      const alive = () => conns.filter((c) => !c.destroyed).length;
      (async () => {
        await Promise.all(Array.from({ length: 200 }, () => open('127.0.0.9', true)));
        for (let k = 20; k < 30; k++) await Promise.all(Array.from({ length: 16 }, () => open('127.0.0.' + k, false)));
        console.log('READY ' + alive());
        const t0 = Date.now();
        while (alive() > 0 && Date.now() - t0 < 15000) await new Promise((r) => setTimeout(r, 100));
        console.log('AFTER ' + alive() + ' ' + (Date.now() - t0));
        for (const c of conns) c.destroy();
      })();`;
    const hog = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    hog.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    hog.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => hog.once('exit', () => r()));
    try {
      for (let i = 0; i < 300 && !/READY/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(out, /READY \d+/, out);
      // Another client's TCP query is answered while the hog holds what it can.
      const r = await dig('+tcp', '+short', '-b', '127.0.0.50', '@127.0.0.1', 'db.weave.local');
      assert.equal(r.out.trim(), '10.32.0.9', r.out);
      await exited;
    } finally {
      hog.kill('SIGKILL');
    }
    // Trickled bytes do not keep a connection open: the idle timer (3 s here) closed every one of them.
    assert.match(out, /AFTER 0 /, out);
    const st = await stats();
    assert.ok(st.server!.tcpRejected! >= 200 - 16, JSON.stringify(st.server));
    assert.ok(st.server!.tcpEvicted! >= 1, JSON.stringify(st.server));
    assert.ok(st.server!.tcpIdleClosed! >= 100, JSON.stringify(st.server));
    // And TCP still works for everyone afterwards.
    assert.equal((await dig('+tcp', '+short', '-b', '127.0.0.9', '@127.0.0.1', 'db.weave.local')).out.trim(), '10.32.0.9');
  });

  test('a burst of random garbage (UDP and TCP) does not stop the server', async () => {
    const script = `
      const dgram = require('node:dgram'); const net = require('node:net'); const crypto = require('node:crypto');
      const s = dgram.createSocket('udp4'); let n = 0;
      const q = Buffer.from('12340100000100000000000003776562057765617665056c6f63616c0000010001', 'hex');
      function burst() {
        for (let i = 0; i < 200; i++, n++) {
          let b = crypto.randomBytes(crypto.randomInt(0, 700));
          if (n % 3 === 0) { b = Buffer.from(q); for (let k = 0; k < 3; k++) b[crypto.randomInt(b.length)] = crypto.randomInt(256); }
          s.send(b, 53, '127.0.0.1');
        }
        if (n < 3000) setImmediate(burst); else tcp();
      }
      function tcp() {
        let left = 20;
        for (let i = 0; i < 20; i++) {
          const c = net.connect(53, '127.0.0.1', () => { c.write(crypto.randomBytes(crypto.randomInt(1, 5000))); setTimeout(() => c.destroy(), 50); });
          c.on('error', () => {}); c.on('close', () => { if (--left === 0) { s.close(); console.log('sent', n); } });
        }
      }
      burst();`;
    const g = await run(process.execPath, ['-e', script], 30_000);
    assert.match(g.out, /sent 3000/, g.out);
    assert.equal(server!.exitCode, null, 'server process still running');
    const r = await dig('+short', '@127.0.0.1', 'db.weave.local');
    assert.equal(r.out.trim(), '10.32.0.9');
    const tcp = await dig('+tcp', '+short', '@127.0.0.1', 'db.weave.local');
    assert.equal(tcp.out.trim(), '10.32.0.9');
    const st = await stats();
    // The kernel may drop some of a 3000-packet burst before we read it; most must have reached the resolver.
    assert.ok(st.server!.udpQueries! >= 1000, JSON.stringify(st));
    assert.ok(st.resolver!.formerr! + st.resolver!.dropped! > 100, JSON.stringify(st));
  });
}
