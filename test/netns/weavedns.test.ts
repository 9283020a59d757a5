// Issue 5, weaveDNS end to end on the real kernel, through the real CLI, checked with real resolvers.
//
//   underlay switch ns (br0 10.200.0.0/24)
//     ├── h1 (router) ── web1   attach --hostname web.weave.local   (IPAM address)
//     ├── h2 (router) ── web2   attach --hostname web.weave.local   (IPAM address)
//     └── h3 (router) ── cl     attach (no name); /etc/netns/cl/resolv.conf → h3's DNS address
//                        h3's upstream: /etc/netns/h3/resolv.conf → dnsmasq on 127.0.0.1 (and 127.0.0.2)
//                        inside h3, answering *.example.test
//   └── ulc (10.200.0.50)  a machine on the hosts' own network, NOT on the overlay, that routes
//                          10.32.0.0/12 to h3: it must get no DNS answers (issue 11.3)
//
// No Docker here, so every router puts an IPAM-claimed address on its own `weave` bridge for DNS
// (`tsweave dns-args` claims it); the client resolves through its own host's. Everything the test starts
// (routers, dnsmasq, files under /etc/netns) is removed at the end.
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireRoot, killAndWait, type Netns } from '../support/netns.js';
import { Cluster, sleep, waitFor, type Host } from '../support/cluster.js';
import { findExecutable } from '../../src/io/exec.js';

requireRoot('the weaveDNS test');

const c = new Cluster('dns');
let h1: Host, h2: Host, h3: Host;
let web1: Netns, web2: Netns, cl: Netns, ulc: Netns;
/** Each host's DNS address, as dns-args printed it. */
const dnsAddr = new Map<number, string>();
let ip1 = '', ip2 = '';

/**
 * Random DNS messages from scapy (fuzz() fills every field it is not told, including counts and flags),
 * pure random datagrams, and TCP streams of junk with plausible and absurd length prefixes.
 */
const FUZZ_PY = String.raw`
import os, random, socket, sys
from scapy.all import DNS, DNSQR, DNSRR, fuzz, raw
server, n = sys.argv[1], int(sys.argv[2])
random.seed(5)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(0.02)
answered = 0
for i in range(n):
    if i % 3 == 0:   pkt = raw(fuzz(DNS(qd=DNSQR(qname="web.weave.local"))))
    elif i % 3 == 1: pkt = raw(fuzz(DNS(qd=DNSQR(), an=DNSRR())))
    else:            pkt = os.urandom(random.randint(0, 600))
    u.sendto(pkt, (server, 53))
    try:
        u.recv(65535); answered += 1
    except socket.timeout:
        pass
for i in range(20):
    t = socket.create_connection((server, 53), timeout=2)
    body = raw(fuzz(DNS(qd=DNSQR(qname="web.weave.local")))) if i % 2 else os.urandom(random.randint(1, 300))
    ln = len(body) if i % 4 < 2 else random.randint(0, 65535)
    try:
        t.sendall(ln.to_bytes(2, "big") + body); t.settimeout(0.05); t.recv(65535)
    except OSError:
        pass
    t.close()
print(f"sent {n} udp datagrams ({answered} got a reply) and 20 tcp streams of junk")
`;

async function netnsEtc(ns: Netns, resolvConf: string): Promise<string> {
  const dir = join('/etc/netns', ns.name);
  await mkdir(dir, { recursive: true });
  c.lab.onCleanup(() => rm(dir, { recursive: true, force: true }));
  // Written in place (same inode): `ip netns exec` bind-mounts this file, so a running router sees edits.
  await writeFile(join(dir, 'resolv.conf'), resolvConf);
  return join(dir, 'resolv.conf');
}

/** dig from the client container; returns stdout (never throws). */
async function dig(server: string, ...args: string[]): Promise<string> {
  const r = await c.run(cl, 'dig', `@${server}`, '+time=2', '+tries=1', ...args);
  return r.stdout;
}

const digShort = async (server: string, ...args: string[]): Promise<string[]> =>
  (await dig(server, '+short', ...args)).split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith(';'));

const status = (out: string): string | undefined => /status: ([A-Z]+)/.exec(out)?.[1];

interface DnsStats {
  server: Record<string, number>;
  upstream: Record<string, number>;
}

/** The dns part of the router's /stats, read inside the host's namespace. */
async function dnsStats(h: Host): Promise<DnsStats> {
  const r = await c.run(h.ns, process.execPath, '-e',
    'fetch("http://127.0.0.1:6784/stats").then((r) => r.text()).then((t) => process.stdout.write(t))');
  return (JSON.parse(r.stdout) as { dns: DnsStats }).dns;
}

async function established(h: Host, peers: number): Promise<boolean> {
  const out = await c.ok(h, 'status', 'connections');
  return out.split('\n').filter((l) => / established /.test(l)).length >= peers;
}

function startDnsmasq(h: Host, listen: string, answer: string): void {
  const p = spawn('ip', ['netns', 'exec', h.ns.name, 'dnsmasq', '--keep-in-foreground', '--no-resolv', '--no-hosts',
    `--listen-address=${listen}`, '--bind-interfaces', '--port=53', '--pid-file=', '--user=root',
    `--address=/example.test/${answer}`], { stdio: 'ignore' });
  c.lab.onCleanup(() => killAndWait(p));
}

beforeAll(async () => {
  await c.init();
  [h1, h2, h3] = await Promise.all([1, 2, 3].map((n) => c.addHost(n)));
  [web1, web2, cl, ulc] = await Promise.all(['web1', 'web2', 'cl', 'ulc'].map((n) => c.addContainer(n)));
  await c.underlay.connect(ulc, 'eth0', '10.200.0.50/24');
  await c.lab.ip(ulc, 'route', 'add', '10.32.0.0/12', 'via', '10.200.0.3');
  // h3's host resolver: a local dnsmasq (loopback inside h3 only). Must exist before launch: the router
  // runs under `ip netns exec`, which bind-mounts it over /etc/resolv.conf.
  await netnsEtc(h3.ns, 'nameserver 127.0.0.1\n');
  startDnsmasq(h3, '127.0.0.1', '203.0.113.7');
  startDnsmasq(h3, '127.0.0.2', '203.0.113.8');
  const ipam = ['--ipalloc-init', 'consensus=3'];
  await c.ok(h1, 'launch', '--nickname', 'h1', ...ipam);
  await c.ok(h2, 'launch', '--nickname', 'h2', ...ipam, h1.ip);
  await c.ok(h3, 'launch', '--nickname', 'h3', ...ipam, h1.ip);
  await waitFor('all three routers connected', async () => (await established(h1, 2)) && (await established(h3, 1)));
  for (const h of [h1, h2, h3]) {
    const args = await c.ok(h, 'dns-args');
    const m = /^--dns=(10\.(?:3[2-9]|4[0-7])\.\d+\.\d+) --dns-search=weave\.local\.\n$/.exec(args);
    assert.ok(m, `dns-args on h${h.n} printed ${JSON.stringify(args)}`);
    dnsAddr.set(h.n, m[1]!);
  }
  ip1 = (await c.ok(h1, 'attach', '--hostname', 'web.weave.local', web1.name)).trim();
  ip2 = (await c.ok(h2, 'attach', '--hostname', 'web.weave.local', web2.name)).trim();
  await c.ok(h3, 'attach', cl.name);
  await netnsEtc(cl, `search weave.local\nnameserver ${dnsAddr.get(3)}\noptions timeout:1 attempts:2\n`);
});

afterAll(async () => {
  await c.cleanup();
});

describe('weaveDNS across three hosts', () => {
  test('each router has its own DNS address on its weave bridge, from IPAM, and keeps it', async () => {
    const addrs = [...dnsAddr.values()];
    assert.equal(new Set(addrs).size, 3, `DNS addresses must differ per host: ${addrs.join(' ')}`);
    const br = await c.run(h1.ns, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'weave');
    assert.match(br.stdout, new RegExp(`inet ${dnsAddr.get(1)!.replace(/\./g, '\\.')}/12 `));
    assert.equal(await c.ok(h1, 'dns-args'), `--dns=${dnsAddr.get(1)} --dns-search=weave.local.\n`);
    // The claim shows in IPAM like any container's, so no container can be given that address.
    assert.match(await c.ok(h1, 'status', 'ipam'), /\(h1\)\s+\d+ IPs \(\d+\.\d% of total\) \(2 active\)/);
  });

  test('a name registered on h1 and h2 resolves from a container on h3 with dig, host, nslookup and getent', async () => {
    const s = dnsAddr.get(3)!;
    const want = [ip1, ip2].sort();
    await waitFor('both web addresses from h3', async () => JSON.stringify((await digShort(s, 'web.weave.local')).sort()) === JSON.stringify(want), 10_000);
    assert.deepEqual((await digShort(s, '+tcp', 'web.weave.local')).sort(), want, 'over TCP');
    assert.deepEqual((await digShort(s, 'web')).sort(), want, 'a single label is looked up in the domain');
    assert.deepEqual((await digShort(s, 'WEB.Weave.Local.')).sort(), want, 'case-insensitive');

    // `host` asks A, AAAA and MX: the A answers and no error for the other two (NODATA, not NXDOMAIN).
    const host = await c.run(cl, 'host', '-W', '2', 'web.weave.local', s);
    assert.equal(host.code, 0, host.stdout + host.stderr);
    for (const ip of want) assert.match(host.stdout, new RegExp(`web\\.weave\\.local has address ${ip.replace(/\./g, '\\.')}`));
    assert.doesNotMatch(host.stdout, /not found|NXDOMAIN|SERVFAIL/);

    const ns = await c.run(cl, 'nslookup', '-timeout=2', 'web.weave.local', s);
    assert.equal(ns.code, 0, ns.stdout + ns.stderr);
    for (const ip of want) assert.match(ns.stdout, new RegExp(`Address: ${ip.replace(/\./g, '\\.')}`));
    assert.doesNotMatch(ns.stdout, /can't find/);

    const busybox = await c.run(cl, 'busybox', 'nslookup', 'web.weave.local', s);
    assert.equal(busybox.code, 0, busybox.stdout + busybox.stderr);
    for (const ip of want) assert.match(busybox.stdout, new RegExp(ip.replace(/\./g, '\\.')));

    // glibc through /etc/netns/cl/resolv.conf (search weave.local): the short name works.
    const g = await c.run(cl, 'getent', 'hosts', 'web');
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stdout, /^10\.\S+\s+web\.weave\.local/);
    assert.ok(want.includes(g.stdout.split(/\s+/)[0]!));
    const all = await c.run(cl, 'getent', 'ahostsv4', 'web.weave.local');
    assert.deepEqual([...new Set(all.stdout.split('\n').filter((l) => l).map((l) => l.split(/\s+/)[0]!))].sort(), want);
  });

  test('the order of the addresses varies between answers (round robin)', async () => {
    const firsts = new Set<string>();
    for (let i = 0; i < 30 && firsts.size < 2; i++) firsts.add((await digShort(dnsAddr.get(3)!, 'web.weave.local'))[0]!);
    assert.equal(firsts.size, 2, `30 answers all started with ${[...firsts].join()}`);
  });

  test('PTR, NODATA for AAAA, NXDOMAIN for unknown names, authoritative answers with TTL 1', async () => {
    const s = dnsAddr.get(3)!;
    assert.deepEqual(await digShort(s, '-x', ip1), ['web.weave.local.']);
    const a = await dig(s, 'web.weave.local', 'A');
    assert.match(a, /flags: qr aa rd ra;/);
    assert.match(a, /^web\.weave\.local\.\s+1\s+IN\s+A\s+10\./m);
    const aaaa = await dig(s, 'web.weave.local', 'AAAA');
    assert.equal(status(aaaa), 'NOERROR');
    assert.match(aaaa, /ANSWER: 0,/);
    const nx = await dig(s, 'nosuch.weave.local');
    assert.equal(status(nx), 'NXDOMAIN');
    assert.match(nx, /flags: qr aa/);
  });

  test('status dns and the dns section of status, in Weave format', async () => {
    const lines = (await c.ok(h3, 'status', 'dns')).trimEnd().split('\n');
    assert.equal(lines.length, 2, lines.join('\n'));
    for (const l of lines) assert.match(l, /^web {10}10\.[0-9.]+ +.{12} ([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const st = await c.ok(h3, 'status');
    assert.match(st, /\n {8}Service: dns\n {9}Domain: weave\.local\.\n {7}Upstream: 127\.0\.0\.1\n {12}TTL: 1\n {8}Entries: 2\n/);
  });

  test('names outside the domain go to the host\'s upstream; resolv.conf edits are picked up; no upstream → SERVFAIL', async () => {
    const s = dnsAddr.get(3)!;
    assert.deepEqual(await digShort(s, 'www.example.test'), ['203.0.113.7']);
    const g = await c.run(cl, 'getent', 'ahostsv4', 'www.example.test');
    assert.match(g.stdout, /^203\.0\.113\.7\s/);
    await writeFile(join('/etc/netns', h3.ns.name, 'resolv.conf'), 'nameserver 127.0.0.2\n');
    await waitFor('the router to re-read resolv.conf', async () => (await digShort(s, 'www.example.test'))[0] === '203.0.113.8', 15_000, 500);
    assert.match(await c.ok(h3, 'status'), /Upstream: 127\.0\.0\.2\n/);
    await writeFile(join('/etc/netns', h3.ns.name, 'resolv.conf'), 'nameserver 127.0.0.9\n');
    await waitFor('SERVFAIL with no upstream answering', async () => status(await dig(s, 'www.example.test')) === 'SERVFAIL', 20_000, 500);
    await writeFile(join('/etc/netns', h3.ns.name, 'resolv.conf'), 'nameserver 127.0.0.1\n');
  });

  test('unreachable upstreams (no route, IPv6 without a route) → SERVFAIL and a counter; the router answers and forwards after', async () => {
    const s = dnsAddr.get(3)!;
    const conf = join('/etc/netns', h3.ns.name, 'resolv.conf');
    const pid = await c.routerPid(h3);
    await writeFile(conf, 'nameserver 192.0.2.53\nnameserver fd00::53\n');
    await waitFor('the router to re-read resolv.conf', async () => /Upstream: 192\.0\.2\.53, fd00::53\n/.test(await c.ok(h3, 'status')), 15_000, 500);
    for (const extra of [[], ['+tcp']]) assert.equal(status(await dig(s, ...extra, 'www.example.test')), 'SERVFAIL');
    assert.equal(await c.routerPid(h3), pid);
    assert.ok(pid !== undefined && (() => { try { process.kill(pid, 0); return true; } catch { return false; } })(), 'router h3 still running');
    assert.deepEqual((await digShort(s, 'web.weave.local')).length, 2, 'still answers its own names');
    const st = await dnsStats(h3);
    assert.ok(st.upstream.unreachable! >= 4, JSON.stringify(st.upstream));
    // The next upstream is tried.
    await writeFile(conf, 'nameserver 192.0.2.53\nnameserver 127.0.0.1\n');
    await waitFor('forwarding past the dead server', async () => (await digShort(s, 'www.example.test'))[0] === '203.0.113.7', 15_000, 500);
    await writeFile(conf, 'nameserver 127.0.0.1\n');
    await waitFor('back to the local upstream', async () => /Upstream: 127\.0\.0\.1\n/.test(await c.ok(h3, 'status')), 15_000, 500);
  });

  test('a machine on the underlay that routes the overlay to h3 gets no answers (counted); containers still do', async () => {
    const s = dnsAddr.get(3)!;
    // The path works: h3 answers ping on its DNS address from the underlay.
    assert.equal((await c.run(ulc, 'ping', '-c', '1', '-W', '2', s)).code, 0, 'ulc reaches h3\'s DNS address');
    const before = (await dnsStats(h3)).server.refused!;
    for (const q of [['web.weave.local'], ['-x', ip1], ['www.example.test'], ['+tcp', 'web.weave.local']]) {
      const r = await c.run(ulc, 'dig', `@${s}`, '+time=2', '+tries=1', ...q);
      assert.equal(status(r.stdout), undefined, `no answer for ${q.join(' ')}: ${r.stdout}`);
    }
    assert.ok((await dnsStats(h3)).server.refused! >= before + 4);
    assert.deepEqual((await digShort(s, 'web.weave.local')).sort(), [ip1, ip2].sort(), 'the container on the bridge is answered');
    assert.deepEqual((await digShort(s, '+tcp', 'web.weave.local')).sort(), [ip1, ip2].sort());
  });

  test('dns-add on h1 resolves on h3 within two seconds; dns-remove takes it away', async () => {
    const t0 = Date.now();
    await c.ok(h1, 'dns-add', '10.32.99.9', '10.32.99.10', '-h', 'ext.weave.local');
    await waitFor('ext on h3', async () => (await digShort(dnsAddr.get(3)!, 'ext.weave.local')).length === 2, 2_000, 50);
    console.log(`dns-add on h1 → answered on h3 after ${Date.now() - t0} ms (incl. CLI and dig)`);
    assert.equal((await c.ok(h3, 'dns-lookup', 'ext')).trim().split('\n').sort().join(' '), '10.32.99.10 10.32.99.9');
    await c.ok(h1, 'dns-remove', '10.32.99.9', '-h', 'ext.weave.local');
    await waitFor('one address left', async () => (await digShort(dnsAddr.get(3)!, 'ext.weave.local')).join() === '10.32.99.10', 2_000, 50);
    await c.ok(h1, 'dns-remove', '10.32.99.10', '-h', 'ext.weave.local');
    await waitFor('ext gone', async () => status(await dig(dnsAddr.get(3)!, 'ext.weave.local')) === 'NXDOMAIN', 2_000, 50);
  });

  test('random and malformed packets (scapy fuzz, TCP garbage) never stop the server', async () => {
    const py = '/usr/bin/python3';
    if (!(await findExecutable(py)) || (await c.run(cl, py, '-c', 'import scapy')).code !== 0) {
      assert.fail('python3-scapy is missing: run scripts/install-test-deps.sh');
    }
    const s = dnsAddr.get(3)!;
    const r = await c.run(cl, py, '-c', FUZZ_PY, s, '400');
    assert.equal(r.code, 0, r.stderr);
    console.log(r.stdout.trim());
    assert.deepEqual((await digShort(s, 'web.weave.local')).sort(), [ip1, ip2].sort());
    assert.deepEqual((await digShort(s, '+tcp', 'web.weave.local')).sort(), [ip1, ip2].sort());
    assert.ok(await c.routerPid(h3));
  });

  test('detach removes the name everywhere within seconds', async () => {
    await c.ok(h2, 'detach', web2.name);
    await waitFor('only web1 left on every host', async () => {
      for (const s of dnsAddr.values()) if ((await digShort(s, 'web.weave.local')).join() !== ip1) return false;
      return true;
    }, 5_000, 100);
    const t0 = Date.now();
    await c.ok(h1, 'detach', web1.name);
    // Every host's server, asked from the client on h3 (the others' across the overlay).
    await waitFor('NXDOMAIN on every host', async () => {
      for (const s of dnsAddr.values()) if (status(await dig(s, 'web.weave.local')) !== 'NXDOMAIN') return false;
      return true;
    }, 5_000, 100);
    console.log(`detach on h1 → NXDOMAIN on all three hosts after ${Date.now() - t0} ms`);
    assert.equal((await c.ok(h3, 'status', 'dns')).trim(), '');
  });

  test('a relaunched router listens on the DNS address it claimed before, at once; --dns-allow lets an underlay machine in', async () => {
    await c.ok(h1, 'stop');
    await c.ok(h1, 'launch', '--nickname', 'h1', '--ipalloc-init', 'consensus=3', '--dns-allow', '10.200.0.48/29', h2.ip);
    // Asked from h1 itself: the overlay to the client's host may still be reconnecting.
    const r = await c.run(h1.ns, 'dig', `@${dnsAddr.get(1)}`, '+time=2', '+tries=1', 'nosuch.weave.local');
    assert.equal(status(r.stdout), 'NXDOMAIN', r.stdout + r.stderr);
    assert.equal(await c.ok(h1, 'dns-args'), `--dns=${dnsAddr.get(1)} --dns-search=weave.local.\n`);
    await c.lab.ip(ulc, 'route', 'add', `${dnsAddr.get(1)}/32`, 'via', h1.ip);
    const u = await c.run(ulc, 'dig', `@${dnsAddr.get(1)}`, '+time=2', '+tries=1', 'nosuch.weave.local');
    assert.equal(status(u.stdout), 'NXDOMAIN', u.stdout + u.stderr);
  });

  test('a router that goes away takes its names with it', async () => {
    await c.ok(h2, 'dns-add', '10.32.77.7', '-h', 'leaving.weave.local');
    await waitFor('leaving on h3', async () => (await digShort(dnsAddr.get(3)!, 'leaving.weave.local')).length === 1, 5_000, 100);
    const t0 = Date.now();
    await c.killRouter(h2, 'SIGKILL');
    await waitFor('leaving gone on h3', async () => status(await dig(dnsAddr.get(3)!, 'leaving.weave.local')) === 'NXDOMAIN', 60_000, 500);
    console.log(`router h2 killed → its names gone on h3 after ${Date.now() - t0} ms`);
    await sleep(0);
  });
});
