// Issue 4, end to end on the real kernel, through the real CLI: containers get addresses without anyone
// choosing them, never the same one twice, across consensus, subnets, restarts, rmpeer and reset.
//
//   underlay switch ns (br0 10.200.0.0/24)
//     ├── h1 10.200.0.1  router (targets h2 h3)  a1 (no address) · e1 ip:10.2.1.7/24 · b2 net:10.2.2.0/24
//     ├── h2 10.200.0.2  router (targets h1 h3)  a2 (no address) · b3 net:10.2.3.0/24 · e2 · d (netns deleted) · n2
//     ├── h3 10.200.0.3  router (targets h1 h2)  a3 (no address) · b2x net:10.2.2.0/24 · bb net:10.2.2.0/24 + net:10.2.3.0/24
//     │                                           later: SIGKILLed, rmpeer'd by h1, relaunched (refused), reset, relaunched · r3
//     └── h4 10.200.0.4  alone; a route 10.32.0.0/16 on the host → `launch` with the default range is fatal
//
// h1–h3 run --ipalloc-range 10.2.0.0/16 --ipalloc-default-subnet 10.2.1.0/24, consensus among the three
// launch peers (quorum 2). h1 launches alone first: its attach must fail after TSWEAVE_IPAM_WAIT_MS saying it
// awaits consensus, and `status` must show it. TSWEAVE_DEAD_CONTAINER_GRACE_MS=2000 on h1–h3.
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { requireRoot, sh, type Netns } from '../support/netns.js';
import { Cluster, waitFor, type Host } from '../support/cluster.js';

requireRoot('the IPAM real-kernel test');

const PW = randomBytes(12).toString('hex');
const c = new Cluster('ipam');
let h1: Host, h2: Host, h3: Host, h4: Host;
const ns: Record<string, Netns> = {};
/** Every address handed out so far, container → address (no prefix). */
const given = new Map<string, string>();

const IPAM_FLAGS = ['--ipalloc-range', '10.2.0.0/16', '--ipalloc-default-subnet', '10.2.1.0/24'];
const launchArgs = (h: Host, ...targets: Host[]) =>
  ['launch', '--password', PW, '--nickname', `h${h.n}`, ...IPAM_FLAGS, ...targets.map((t) => t.ip)];

/** `tsweave attach ARGS... CONTAINER` on `h`; records and returns the printed addresses. */
async function attach(h: Host, container: string, ...addrs: string[]): Promise<string[]> {
  const out = (await c.ok(h, 'attach', ...addrs, ns[container]!.name)).trim().split(' ');
  for (const [i, a] of out.entries()) given.set(i === 0 ? container : `${container}#${i}`, a);
  return out;
}

function assertAllDistinct(): void {
  const addrs = [...given.values()];
  assert.equal(new Set(addrs).size, addrs.length, `an address was given twice: ${JSON.stringify([...given])}`);
}

const pingOk = async (from: string, to: string) => (await c.run(ns[from]!, 'ping', '-c', '1', '-W', '2', to)).code === 0;

/** The rows of `status ipam`: name, nickname, IPs, percent, note. */
async function ipamRows(h: Host): Promise<Array<{ name: string; nick: string; ips: number; pct: string; note: string }>> {
  const out = await c.ok(h, 'status', 'ipam');
  return out.split('\n').filter(Boolean).map((l) => {
    const m = /^(([0-9a-f]{2}:){5}[0-9a-f]{2})\(([^)]*)\)\s+(\d+) IPs \((\d\d\.\d|100\.0)% of total\) ?(.*)$/.exec(l);
    assert.ok(m, `status ipam line not in Weave's format: ${JSON.stringify(l)}`);
    return { name: m[1]!, nick: m[3]!, ips: Number(m[4]), pct: m[5]!, note: m[6]! };
  });
}

const activeOf = async (h: Host): Promise<number> => {
  const note = (await ipamRows(h))[0]!.note;
  return Number(/^\((\d+) active\)$/.exec(note)![1]);
};

beforeAll(async () => {
  await c.init();
  [h1, h2, h3, h4] = await Promise.all([1, 2, 3, 4].map((n) => c.addHost(n)));
  for (const h of [h1, h2, h3]) h.env.TSWEAVE_DEAD_CONTAINER_GRACE_MS = '2000';
  h1.env.TSWEAVE_IPAM_WAIT_MS = '3000';
  for (const name of ['a1', 'a2', 'a3', 'e1', 'e2', 'b2', 'b3', 'b2x', 'bb', 'n2', 'r3']) ns[name] = await c.addContainer(name);
});

afterAll(async () => {
  await c.cleanup();
});

describe('IPAM across three hosts', () => {
  test('a consensus launch with its peers missing says so, and an attach fails after its timeout saying why', async () => {
    await c.ok(h1, ...launchArgs(h1, h2, h3));
    const t0 = Date.now();
    const r = await c.tsweave(h1, 'attach', ns.a1!.name);
    const waited = Date.now() - t0;
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /timed out after 3s while awaiting consensus \(quorum: 2, known: 1\)/);
    assert.match(r.stderr, /consensus needs 2 of the initial peers running and connected/);
    assert.ok(waited >= 2_900 && waited < 15_000, `attach waited ${waited} ms`);
    const status = await c.ok(h1, 'status');
    assert.match(status, /\n {8}Service: ipam\n {9}Status: awaiting consensus \(quorum: 2, known: 1\)\n {10}Range: 10\.2\.0\.0\/16\n {2}DefaultSubnet: 10\.2\.1\.0\/24\n/);
    // Nothing attached, nothing owned: Weave prints no ranges.
    assert.equal(await c.ok(h1, 'status', 'ipam'), '');
    assert.doesNotMatch((await c.run(ns.a1!, 'ip', '-o', 'link')).stdout, /ethwe/, 'a failed attach leaves no interface');
  });

  test('once the peers are up, containers attached without addresses on each host get distinct ones and ping each other', async () => {
    await c.ok(h2, ...launchArgs(h2, h1, h3));
    await c.ok(h3, ...launchArgs(h3, h1, h2));
    const t0 = Date.now();
    const [a3] = await attach(h3, 'a3');
    console.log(`time from the third launch to its first address (consensus over a real mesh): ${Date.now() - t0} ms`);
    const [a2] = await attach(h2, 'a2');
    const [a1] = await attach(h1, 'a1');
    for (const a of [a1, a2, a3]) assert.match(a!, /^10\.2\.1\.\d+$/);
    assertAllDistinct();
    const inside = await c.run(ns.a1!, 'ip', '-o', '-4', 'addr', 'show', 'ethwe');
    assert.match(inside.stdout, new RegExp(`inet ${a1!.replace(/\./g, '\\.')}/24 `));
    const all: Array<[string, string]> = [['a1', a1!], ['a2', a2!], ['a3', a3!]];
    for (const [from] of all) {
      for (const [to, addr] of all) {
        if (from === to) continue;
        await waitFor(`${from} pings ${to} (${addr})`, () => pingOk(from, addr), 20_000, 300);
      }
    }
  });

  test("status and status ipam look like Weave's", async () => {
    const status = await c.ok(h1, 'status');
    assert.match(status, /\n {8}Service: ipam\n {9}Status: ready\n {10}Range: 10\.2\.0\.0\/16\n {2}DefaultSubnet: 10\.2\.1\.0\/24\n/);
    const rows = await waitFor('every peer in the ring as h1 sees it', async () => {
      const r = await ipamRows(h1);
      return r.reduce((s, x) => s + x.ips, 0) === 65_536 ? r : undefined;
    });
    assert.equal(rows[0]!.nick, 'h1', 'the local peer comes first');
    assert.equal(rows[0]!.note, '(1 active)');
    for (const r of rows.slice(1)) assert.equal(r.note, '', `${r.nick} is reachable`);
    for (const r of rows) assert.equal(r.pct, ((r.ips * 100) / 65_536).toFixed(1).padStart(4, '0'));
  });

  test('an explicit ip: address is claimed so no one else gets it; several addresses at once', async () => {
    assert.deepEqual(await attach(h1, 'e1', 'ip:10.2.1.7/24'), ['10.2.1.7']);
    const r = await c.tsweave(h2, 'attach', 'ip:10.2.1.7/24', ns.e2!.name);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /10\.2\.1\.7.*in use by container .*e1/);
    const [x, y] = await attach(h3, 'bb', 'net:10.2.2.0/24', 'net:10.2.3.0/24');
    assert.match(x!, /^10\.2\.2\.\d+$/);
    assert.match(y!, /^10\.2\.3\.\d+$/);
    const fresh = await attach(h2, 'e2');
    assert.notEqual(fresh[0], '10.2.1.7');
    assertAllDistinct();
  });

  test('subnets isolate: 10.2.2.0/24 and 10.2.3.0/24 on one mesh cannot reach each other', async () => {
    const [b2] = await attach(h1, 'b2', 'net:10.2.2.0/24');
    const [b3] = await attach(h2, 'b3', 'net:10.2.3.0/24');
    const [b2x] = await attach(h3, 'b2x', 'net:10.2.2.0/24');
    assertAllDistinct();
    await waitFor('same subnet across hosts (b2 → b2x)', () => pingOk('b2', b2x!), 20_000, 300);
    await waitFor('a container in both subnets reaches 10.2.3.0/24', () => pingOk('bb', b3!), 20_000, 300);
    await waitFor('a container in both subnets reaches 10.2.2.0/24', () => pingOk('bb', b2!), 20_000, 300);
    const cross = await c.run(ns.b2!, 'ping', '-c', '2', '-W', '1', b3!);
    assert.notEqual(cross.code, 0, 'b2 (10.2.2.0/24) reached b3 (10.2.3.0/24)');
    assert.notEqual((await c.run(ns.a1!, 'ping', '-c', '1', '-W', '1', b2!)).code, 0, 'the default subnet reached 10.2.2.0/24');
  });

  test("a deleted network namespace has its address released after the grace period", async () => {
    const name = `${c.lab.prefix}-d`;
    await sh('ip', 'netns', 'add', name);
    c.lab.onCleanup(() => sh('ip', 'netns', 'del', name).catch(() => undefined));
    const before = await activeOf(h2);
    const addr = (await c.ok(h2, 'attach', name)).trim();
    assert.equal(await activeOf(h2), before + 1);
    assert.match(await c.ok(h2, 'ps'), new RegExp(`${addr.replace(/\./g, '\\.')}/24`));
    await sh('ip', 'netns', 'del', name);
    // Death check every 5 s, then the 2 s grace.
    await waitFor('the dead namespace\'s address to be released', async () => (await activeOf(h2)) === before, 20_000, 500);
    assert.doesNotMatch(await c.ok(h2, 'ps'), new RegExp(`${addr.replace(/\./g, '\\.')}/24`));
  });

  test('SIGKILL and relaunch: the same containers keep the same addresses and new ones do not collide', async () => {
    const active = await activeOf(h2);
    const ps = await c.ok(h2, 'ps');
    await c.killRouter(h2, 'SIGKILL');
    await c.ok(h2, ...launchArgs(h2, h1, h3));
    assert.equal(await c.ok(h2, 'ps'), ps, 'ps after the restart');
    assert.equal(await activeOf(h2), active, 'the restarted router still counts its containers');
    // Attaching again without an address gives the address it already has.
    assert.equal((await c.ok(h2, 'attach', ns.a2!.name)).trim(), given.get('a2'));
    const [n2] = await attach(h2, 'n2');
    assertAllDistinct();
    await waitFor('a1 reaches the new container on the restarted host', () => pingOk('a1', n2!), 20_000, 300);
    await waitFor('a1 reaches a2 again', () => pingOk('a1', given.get('a2')!), 20_000, 300);
  });

  test('rmpeer of a SIGKILLed peer by nickname takes its space over', async () => {
    const owned = (await ipamRows(h1)).find((r) => r.nick === 'h3')?.ips ?? 0;
    assert.ok(owned > 0, 'h3 owned space before it died');
    await c.killRouter(h3, 'SIGKILL');
    await waitFor('h1 to see h3 unreachable', async () => (await ipamRows(h1)).some((r) => r.nick === 'h3' && r.note === '- unreachable!'), 30_000, 500);
    const out = await c.ok(h1, 'rmpeer', 'h3');
    assert.equal(out, `${owned} IPs taken over from h3\n`);
    const rows = await ipamRows(h1);
    assert.equal(rows.some((r) => r.nick === 'h3'), false, 'h3 still owns space');
    assert.equal(rows.reduce((s, r) => s + r.ips, 0), 65_536);
  });

  test('the removed peer relaunched with its old data dir is refused clearly and never becomes a second owner', async () => {
    await c.ok(h3, ...launchArgs(h3, h1, h2));
    const removed = /removed from the IP allocation ring by 'rmpeer' on \S+\(h1\) - reset this peer \('tsweave reset'\) and launch it again/;
    await waitFor('h3 status to say it was removed', async () => removed.test(await c.ok(h3, 'status')), 30_000, 500);
    const r = await c.tsweave(h3, 'attach', ns.r3!.name);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /was removed from the IP allocation ring by 'rmpeer' on \S+\(h1\).*run 'tsweave reset' on this host/);
    // h1 and h2 keep one owner per range: h3 does not reappear.
    for (const h of [h1, h2]) {
      const rows = await ipamRows(h);
      assert.equal(rows.some((x) => x.nick === 'h3'), false, `h${h.n} shows h3 owning space again`);
      assert.equal(rows.reduce((s, x) => s + x.ips, 0), 65_536);
    }
  });

  test('reset then launch rejoins as a new peer that gets space and addresses again', async () => {
    const oldName = (await c.ok(h3, 'status')).match(/Name: (\S+)\(h3\)/)![1];
    await c.ok(h3, 'reset');
    const newName = (await c.ok(h3, ...launchArgs(h3, h1, h2))).trim();
    assert.notEqual(newName, oldName);
    const [r3] = await attach(h3, 'r3');
    assert.match(r3!, /^10\.2\.1\.\d+$/);
    assertAllDistinct();
    await waitFor('a1 reaches the container of the rejoined peer', () => pingOk('a1', r3!), 20_000, 300);
    assert.match(await c.ok(h3, 'status'), /Status: ready/);
    const rows = await waitFor('h1 to see the new h3 owning space', async () => {
      const x = await ipamRows(h1);
      return x.some((y) => y.name === newName) ? x : undefined;
    });
    assert.equal(rows.reduce((s, x) => s + x.ips, 0), 65_536);
  });

  test("reset hands the peer's ranges to another peer first (Weave's DELETE /peer): nothing is left to rmpeer", async () => {
    const name = (await c.ok(h3, 'status')).match(/Name: (\S+)\(h3\)/)![1];
    await c.ok(h3, 'reset');
    assert.equal(await c.routerPid(h3), undefined, 'reset removed the pid file');
    const rows = await waitFor('h1 to see h3\'s ranges handed over', async () => {
      const x = await ipamRows(h1);
      return x.some((y) => y.name === name) ? undefined : x;
    }, 10_000, 300);
    assert.equal(rows.some((r) => r.note === '- unreachable!'), false, 'space left with an unreachable owner');
    assert.equal(rows.reduce((s, x) => s + x.ips, 0), 65_536);
  });

  test('the default range overlapping a host route is fatal at launch and leaves nothing running', async () => {
    await c.lab.ip(h4.ns, 'route', 'add', '10.32.0.0/16', 'dev', 'eth0');
    const r = await c.tsweave(h4, 'launch', '--nickname', 'h4');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /default --ipalloc-range 10\.32\.0\.0\/12 overlaps with the existing route 10\.32\.0\.0\/16 on this host; pick another range with --ipalloc-range and set it on all hosts/);
    const pid = await c.routerPid(h4);
    if (pid !== undefined) assert.throws(() => process.kill(pid, 0), 'the router process is still alive');
    assert.equal((await c.tsweave(h4, 'status')).code, 1);
    assert.notEqual((await c.run(h4.ns, 'ip', 'link', 'show', 'weave')).code, 0, 'the bridge was left behind');
  });
});
