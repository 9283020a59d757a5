// Issue 16 part 1, on the real kernel through the real CLI: the fast datapath (kernel VXLAN on UDP 6784)
// for connections that need no encryption.
//
//   underlay switch ns (br0 10.200.0.0/24)
//     h1 10.200.0.1, h2 10.200.0.2, h3 10.200.0.3: no password   c1/c2/c3 10.32.0.1-3/12
//     (second mesh) h5 10.200.0.5, h6 10.200.0.6, h9 10.200.0.9: one password, --trusted-subnets
//       10.200.0.4/30 (h5, h6 trust each other; h9 is outside)  c5/c6/c9 10.32.0.5,6,9/12
//
// Story: the unencrypted mesh confirms VXLAN on every pair → a big transfer c1 → c2 crosses as UDP 6784
// datagrams, not sleeve (6783) → broadcast and ARP reach every other container exactly once, unicast is
// never duplicated → UDP 6784 blocked on h2: h1–h2 fall back to the sleeve within the heartbeat timeout,
// status says why, traffic continues; unblocked: back to fastdp → the mixed mesh carries h5–h6 on fastdp
// and every pair with h9 on the encrypted sleeve.
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { requireRoot, type Netns } from '../support/netns.js';
import { Cluster, inNs, sleep, waitFor, type Host } from '../support/cluster.js';

requireRoot('the fast datapath test');

const PW = randomBytes(12).toString('hex');
const c = new Cluster('fdp');
const hosts = new Map<number, Host>();
const cts = new Map<number, Netns>();
const H = (n: number) => hosts.get(n)!;
const C = (n: number) => cts.get(n)!;
const cip = (n: number) => `10.32.0.${n}`;

/** The `status connections` line of host a for its connection to host b's address. */
async function connLine(a: number, b: number): Promise<string> {
  const out = await c.ok(H(a), 'status', 'connections');
  return out.split('\n').find((l) => l.includes(`10.200.0.${b}:`)) ?? '';
}

const onFastdp = async (a: number, b: number) => /established\s+(unencrypted\s+)?fastdp /.test(await connLine(a, b));

/** Lines tcpdump prints for packets matching `filter` on `dev` in namespace ns while `during` runs. */
async function capture(ns: string, dev: string, filter: string, during: () => Promise<unknown>, seconds = 4): Promise<string[]> {
  const child = spawn('ip', ['netns', 'exec', ns, 'timeout', String(seconds), 'tcpdump', '-l', '-n', '-i', dev, filter], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const done = new Promise<void>((r) => child.on('close', () => r()));
  await sleep(700);
  await during();
  await done;
  return out.split('\n').filter((l) => / IP | ARP/.test(l));
}

/** Captured datagrams to ip:port of the size a 1000-byte ping makes (not heartbeats; tcpdump decodes UDP 6784 as BFD, "length: N"). */
function bigTo(lines: string[], ip: string, port: number): number {
  return lines.filter((l) => {
    const n = Number(/length:? (\d+)/.exec(l)?.[1] ?? 0);
    return l.includes(` > ${ip}.${port}:`) && n >= 1000 && n < 1300;
  }).length;
}

beforeAll(async () => {
  await c.init();
  for (const n of [1, 2, 3, 5, 6, 9]) hosts.set(n, await c.addHost(n));
  for (const n of [1, 2, 3, 5, 6, 9]) cts.set(n, await c.addContainer(`c${n}`));
  await c.ok(H(1), 'launch', '--nickname', 'h1', '--ipalloc-range', '');
  await c.ok(H(2), 'launch', '--nickname', 'h2', '--ipalloc-range', '', H(1).ip);
  await c.ok(H(3), 'launch', '--nickname', 'h3', '--ipalloc-range', '', H(1).ip);
  const trusted = ['--password', PW, '--trusted-subnets', '10.200.0.4/30', '--ipalloc-range', ''];
  await c.ok(H(5), 'launch', '--nickname', 'h5', ...trusted);
  await c.ok(H(6), 'launch', '--nickname', 'h6', ...trusted, H(5).ip);
  await c.ok(H(9), 'launch', '--nickname', 'h9', ...trusted, H(5).ip);
  for (const n of [1, 2, 3, 5, 6, 9]) await c.ok(H(n), 'attach', `${cip(n)}/12`, C(n).name);
}, 300_000);

afterAll(async () => {
  await c.cleanup();
});

describe('fast datapath, no password', () => {
  test('every pair confirms its VXLAN path; status connections shows fastdp', async () => {
    for (const [a, b] of [[1, 2], [2, 1], [1, 3], [3, 1], [2, 3], [3, 2]] as const) {
      await waitFor(`h${a}–h${b} on fastdp`, () => onFastdp(a, b), 30_000);
    }
  });

  test('a big transfer c1 → c2 crosses as VXLAN (UDP 6784) datagrams, not sleeve', async () => {
    await waitFor('c1 reaches c2', async () => (await c.run(C(1), 'ping', '-c', '1', '-W', '1', cip(2))).code === 0, 30_000);
    const server = inNs(C(2).name, ['iperf3', '-s', '-1', '-B', cip(2)], 60_000);
    await sleep(500);
    const lines = await capture(H(1).ns.name, 'eth0', 'udp and dst host 10.200.0.2', async () => {
      const out = await inNs(C(1).name, ['iperf3', '-c', cip(2), '-t', '2', '-J'], 60_000);
      const res = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
      console.log(`fastdp: iperf3 c1 → c2 ${(res.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gbit/s`);
    });
    await server;
    const vxlan = lines.filter((l) => / > 10\.200\.0\.2\.6784:/.test(l)).length;
    const sleeve = lines.filter((l) => / > 10\.200\.0\.2\.6783:/.test(l)).length;
    assert.ok(vxlan > 1000, `expected the transfer over UDP 6784, saw ${vxlan} VXLAN and ${sleeve} sleeve datagrams`);
    // Heartbeats and the odd flood still use the sleeve; the transfer must not.
    assert.ok(sleeve < vxlan / 50, `too many sleeve datagrams: ${sleeve} (VXLAN ${vxlan})`);
  });

  test('unicast is never duplicated; broadcast and ARP reach every other container exactly once', async () => {
    const ping = await c.run(C(1), 'ping', '-c', '5', '-i', '0.2', cip(2));
    assert.equal(ping.code, 0, ping.stderr);
    assert.doesNotMatch(ping.stdout, /DUP!/);
    // Broadcast pings and 3 ARP requests from c1: c2 and c3 each see each one once.
    for (const n of [2, 3]) {
      const lines = await capture(C(n).name, 'ethwe', 'icmp or arp', async () => {
        await c.run(C(1), 'ping', '-b', '-c', '5', '-i', '0.2', '-w', '2', '10.47.255.255');
        await c.run(C(1), 'arping', '-c', '3', '-w', '3', '-I', 'ethwe', '10.32.0.77');
      }, 9);
      // ping -b sends until its deadline (nobody answers a broadcast ping): each sequence number once, none missing.
      const seqs = lines.filter((l) => /10\.32\.0\.1 > 10\.47\.255\.255: ICMP echo request/.test(l)).map((l) => Number(/seq (\d+)/.exec(l)?.[1]));
      const bcast = new Set(seqs).size;
      assert.ok(bcast >= 5 && seqs.length === bcast && Math.max(...seqs) === bcast, `c${n} saw broadcast pings ${seqs.join(',')}:\n${lines.join('\n')}`);
      const arp = lines.filter((l) => /ARP, Request who-has 10\.32\.0\.77/.test(l)).length;
      assert.equal(arp, 3, `c${n} saw ${arp} ARP requests:\n${lines.join('\n')}`);
    }
    // The sleeve carried c1's broadcasts into h2's bridge through the TAP: its static entry for c1's MAC
    // must not have moved there (sticky), so unicast still leaves over VXLAN both ways.
    const lines = await capture(H(2).ns.name, 'eth0', 'udp', () => c.run(C(1), 'ping', '-c', '10', '-i', '0.1', '-s', '1000', cip(2)));
    assert.ok(bigTo(lines, '10.200.0.1', 6784) >= 10, `c2 → c1 replies over VXLAN: ${bigTo(lines, '10.200.0.1', 6784)}`);
    assert.equal(bigTo(lines, '10.200.0.1', 6783), 0);
  });

  test('a new container\'s unicast leaves the sleeve within a round trip of its first frame, and its entries go when it does', async () => {
    // Fresh pairs without IPv6, so the bridges learn their MACs only from the pings' ARP: the MACs must
    // reach the peer at once, not at the next heartbeat (up to a second later, every ping on the sleeve
    // meanwhile). Three pairs, so a beat that happens to fall right after the first frame cannot pass it.
    await waitFor('h1–h2 on fastdp', async () => (await onFastdp(1, 2)) && (await onFastdp(2, 1)), 30_000);
    for (const [a, b] of [[11, 12], [13, 14], [15, 16]] as const) {
      const ca = await c.addContainer(`c${a}`);
      const cb = await c.addContainer(`c${b}`);
      for (const ct of [ca, cb]) {
        const r = await c.run(ct, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
        assert.equal(r.code, 0, r.stderr);
      }
      // The sleeve's TAP on h1 sees a ping that crosses the sleeve either way (h1 → h2 and back). c${a}
      // pings at once after its attach (whose gratuitous ARP is its first frame).
      const lines = await capture(H(1).ns.name, 'vethwe-tap', `icmp and host ${cip(a)}`, async () => {
        await c.ok(H(2), 'attach', `${cip(b)}/12`, cb.name);
        await c.ok(H(1), 'attach', `${cip(a)}/12`, ca.name);
        await c.run(ca, 'ping', '-c', '20', '-i', '0.1', cip(b));
      }, 7);
      const seqs = lines.map((l) => Number(/seq (\d+)/.exec(l)?.[1] ?? 0));
      assert.ok(seqs.every((n) => n <= 3), `c${a} → c${b}: pings after the third still crossed the sleeve: seq ${seqs.join(',')}`);
      // The mechanism: h2's bridge sends c${a}'s MAC to the vxlan port (static), not to the TAP.
      const mac = /link\/ether ([0-9a-f:]{17})/.exec((await c.run(ca, 'ip', 'link', 'show', 'ethwe')).stdout)![1]!;
      const fdb = (await c.run(H(2).ns, 'bridge', 'fdb', 'show', 'br', 'weave')).stdout.split('\n').filter((l) => l.startsWith(mac));
      assert.ok(fdb.some((l) => / dev vxlan-6784 .*static/.test(l)), `h2 fdb for ${mac}:\n${fdb.join('\n')}`);
      assert.ok(!fdb.some((l) => / dev vethwe-tap /.test(l)), `h2 fdb for ${mac}:\n${fdb.join('\n')}`);
      // The container leaves h1: h2 unprograms its MAC as soon as h1 stops listing it (not 30 s later).
      await c.run(ca, 'ip', 'link', 'del', 'ethwe');
      const t0 = Date.now();
      await waitFor(`h2 forgets ${mac}`, async () => !(await c.run(H(2).ns, 'bridge', 'fdb', 'show', 'dev', 'vxlan-6784')).stdout.includes(mac), 10_000);
      console.log(`fastdp: c${a} → c${b} on the sleeve for seq ${seqs.join(',') || 'none'}; its MAC left h2 after ${Date.now() - t0} ms`);
    }
  });

  test('a container MTU raised above the overlay\'s: the kernel answers DF frames too big for the underlay with "frag needed", smaller ones cross', async () => {
    // c21 (h1) and c22 (h2) raise their MTU to 1500 (ethwe and its host-side veth), the overlay's is 1376,
    // the underlay's 1500: VXLAN carries up to 1450-byte packets. The bridge must not drop the frame at the
    // vxlan port silently (it did: the port had the overlay MTU); the kernel's vxlan answers what the
    // underlay cannot carry.
    await waitFor('h1–h2 on fastdp', async () => (await onFastdp(1, 2)) && (await onFastdp(2, 1)), 30_000);
    const pair = [[1, 21], [2, 22]] as const;
    const cs = new Map<number, Netns>();
    for (const [h, n] of pair) {
      const ct = await c.addContainer(`c${n}`);
      cs.set(n, ct);
      await c.ok(H(h), 'attach', `${cip(n)}/12`, ct.name);
      await c.lab.ip(ct, 'link', 'set', 'dev', 'ethwe', 'mtu', '1500');
      const peer = /ethwe@if(\d+)/.exec((await c.lab.ip(ct, '-o', 'link', 'show', 'ethwe')).stdout)![1]!;
      const host = new RegExp(`^${peer}: ([^@:]+)`, 'm').exec((await c.lab.ip(H(h).ns, '-o', 'link', 'show')).stdout)![1]!;
      await c.lab.ip(H(h).ns, 'link', 'set', 'dev', host, 'mtu', '1500');
    }
    const c21 = cs.get(21)!;
    await waitFor('c21 reaches c22 over fastdp', async () => (await c.run(c21, 'ping', '-c', '1', '-W', '1', cip(22))).code === 0, 30_000);
    // No DF, 1500 bytes: VXLAN carries it in IP fragments.
    const nodf = await c.run(c21, 'ping', '-M', 'dont', '-s', '1472', '-c', '2', '-W', '2', cip(22));
    assert.equal(nodf.code, 0, nodf.stdout + nodf.stderr);
    // DF, 1500 bytes: "fragmentation needed" with the underlay's MTU less VXLAN's 50 bytes (it was
    // dropped without a word: the bridge's vxlan port had the overlay MTU).
    const df = await c.run(c21, 'ping', '-M', 'do', '-s', '1472', '-c', '2', '-W', '2', cip(22));
    assert.notEqual(df.code, 0);
    assert.match(df.stdout + df.stderr, /mtu ?= ?1450/, df.stdout + df.stderr);
    assert.match((await c.run(c21, 'ip', 'route', 'get', cip(22))).stdout, /mtu 1450/, 'c21 learnt the path MTU');
    // DF within the underlay's limit, though above the overlay MTU: crosses (both ends take 1500).
    const fits = await c.run(c21, 'ping', '-M', 'do', '-s', '1400', '-c', '2', '-W', '2', cip(22));
    assert.equal(fits.code, 0, fits.stdout + fits.stderr);
  });

  test('UDP 6784 blocked on h2: h1–h2 fall back to the sleeve with the reason, traffic continues; unblocked: fastdp again', async () => {
    const rule = ['INPUT', '-p', 'udp', '--dport', '6784', '-j', 'DROP'];
    await inNs(H(2).ns.name, ['iptables', '-A', ...rule]);
    try {
      const t0 = Date.now();
      await waitFor('h1–h2 on the sleeve', async () => /established\s+sleeve .*\(fastdp: no VXLAN heartbeat reply/.test(await connLine(1, 2)), 20_000);
      console.log(`fastdp: fell back after ${Date.now() - t0} ms`);
      await waitFor('h2–h1 on the sleeve', async () => /established\s+sleeve .*\(fastdp: no VXLAN heartbeat reply/.test(await connLine(2, 1)), 20_000);
      // Traffic continues (over the sleeve), and h1–h3 stays on fastdp.
      const ping = await c.run(C(1), 'ping', '-c', '5', '-i', '0.2', '-W', '2', cip(2));
      assert.equal(ping.code, 0, ping.stdout + ping.stderr);
      assert.doesNotMatch(ping.stdout, /DUP!/);
      const tcp = await inNs(C(2).name, ['sh', '-c', `iperf3 -s -1 -B ${cip(2)} >/dev/null & sleep 0.5; ip netns exec ${C(1).name} iperf3 -c ${cip(2)} -t 1 -J`], 60_000).catch((e: Error) => e.message);
      assert.match(tcp, /"bits_per_second"/);
      assert.ok(await onFastdp(1, 3), await connLine(1, 3));
    } finally {
      await inNs(H(2).ns.name, ['iptables', '-D', ...rule]);
    }
    await waitFor('h1–h2 back on fastdp', () => onFastdp(1, 2), 30_000);
  });
});

describe('mixed mesh: one trusted pair, the rest encrypted', () => {
  test('h5–h6 ride fastdp; every pair with h9 stays on the encrypted sleeve', async () => {
    await waitFor('h5–h6 on fastdp', async () => (await onFastdp(5, 6)) && (await onFastdp(6, 5)), 30_000);
    for (const [a, b] of [[5, 9], [9, 5], [6, 9], [9, 6]] as const) {
      await waitFor(`h${a}–h${b} established`, async () => / established /.test(await connLine(a, b)), 30_000);
      assert.match(await connLine(a, b), /established encrypted\s+sleeve /);
    }
    await waitFor('c5 reaches c6 and c9', async () =>
      (await c.run(C(5), 'ping', '-c', '1', '-W', '1', cip(6))).code === 0 && (await c.run(C(5), 'ping', '-c', '1', '-W', '1', cip(9))).code === 0, 30_000);
    // c5 → c6 crosses as VXLAN, c5 → c9 as sleeve datagrams.
    const lines = await capture(H(5).ns.name, 'eth0', 'udp', async () => {
      await c.run(C(5), 'ping', '-c', '20', '-i', '0.05', '-s', '1000', cip(6));
      await c.run(C(5), 'ping', '-c', '20', '-i', '0.05', '-s', '1000', cip(9));
    });
    const to = (ip: string, port: number) => bigTo(lines, ip, port);
    assert.ok(to('10.200.0.6', 6784) >= 20, `c5 → c6 over VXLAN: ${to('10.200.0.6', 6784)}\n${lines.slice(0, 20).join('\n')}`);
    assert.ok(to('10.200.0.9', 6783) >= 20, `c5 → c9 over the sleeve: ${to('10.200.0.9', 6783)}`);
    assert.equal(to('10.200.0.9', 6784), 0);
  });

  test('with a password, h5 takes VXLAN (UDP 6784) only from the trusted subnet: h9\'s datagrams are dropped', async () => {
    const drops = async () => {
      const out = (await c.run(H(5).ns, 'iptables', '-w', '5', '-L', 'TSWEAVE-INPUT', '-v', '-x', '-n')).stdout;
      const line = out.split('\n').find((l) => /DROP .*udp dpt:6784/.test(l));
      assert.ok(line, `no DROP rule for 6784 in TSWEAVE-INPUT:\n${out}`);
      return Number(line.trim().split(/\s+/)[0]);
    };
    const before = await drops();
    // 10 VXLAN-looking datagrams (flags 0x08, a VNI, an Ethernet frame) from h9, outside --trusted-subnets.
    const script = `const s = require('dgram').createSocket('udp4'); const b = Buffer.alloc(80); b[0] = 8;
      let n = 0; const go = () => s.send(b, 6784, '${H(5).ip}', () => (++n < 10 ? go() : s.close())); go();`;
    assert.equal((await c.run(H(9).ns, process.execPath, '-e', script)).code, 0);
    assert.ok((await drops()) >= before + 10, 'the stranger\'s datagrams hit the DROP rule');
  });
});

describe('reset', () => {
  test('tsweave reset removes the fast datapath devices a crashed router left', async () => {
    const links = async () => (await c.lab.ip(H(3).ns, '-o', 'link', 'show')).stdout;
    // A router that stops removes them itself; one killed leaves them (and its entries keep working).
    await c.killRouter(H(3));
    assert.match(await links(), /vxlan-6784.*master weave/);
    assert.match(await links(), /vxlanhb-6784/);
    await c.ok(H(3), 'reset', '--force');
    const after = await links();
    assert.doesNotMatch(after, /vxlan-6784|vxlanhb-6784|weave-fdp/);
  });
});
