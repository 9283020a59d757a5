// Issue 15 (host side), end to end on the real kernel through the real CLI: expose/hide, egress, and
// firewall rules that hold against Docker's FORWARD DROP and a flush.
//
//   underlay switch ns (br0 10.200.0.0/24)
//     ├── h1 10.200.0.1  router (iptables-nft, FORWARD policy DROP as Docker sets it)   c1 · c3 (--egress)
//     ├── h2 10.200.0.2  router (iptables-legacy: its FORWARD DROP is a legacy rule, so auto-detection must
//     │                  pick legacy)                                                   c2 (whoami server)
//     └── out 10.200.0.99  not a tsweave host: a whoami server (answers with the source address it sees)
//
// iptables runs only inside these namespaces.
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { requireRoot, killAndWait, type Netns } from '../support/netns.js';
import { Cluster, waitFor, type Host } from '../support/cluster.js';
import { FIREWALL_CHECK_MS } from '../../src/core/defaults.js';

requireRoot('the host access real-kernel test');

const c = new Cluster('hx');
let h1: Host, h2: Host;
let c1: Netns, c2: Netns, c3: Netns, c4: Netns, out: Netns;
const OUT_IP = '10.200.0.99';
const PORT = 7000;
let c2Addr = '';
/** How long the firewall may take to put its rules back: one check interval plus slack for a loaded box. */
const RESTORE_WITHIN_MS = FIREWALL_CHECK_MS + 8_000;

/** A TCP server in `ns` that answers every connection with the source address it sees, then closes. */
async function whoamiServer(ns: Netns): Promise<void> {
  const script = `require('net').createServer((s) => s.end(s.remoteAddress.replace('::ffff:', ''))).listen(${PORT}, () => console.log('ready'))`;
  const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  c.lab.onCleanup(() => killAndWait(child));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`whoami server exited ${code}`)));
  });
}

/** What the whoami server at `ip` says our address is, from `ns`; undefined when it cannot be reached. */
async function whoami(ns: Netns, ip: string): Promise<string | undefined> {
  const script = `const s = require('net').connect({ host: '${ip}', port: ${PORT}, timeout: 3000 }); let t = '';
    s.on('data', (d) => (t += d)); s.on('end', () => { console.log(t); process.exit(0); });
    s.on('timeout', () => process.exit(3)); s.on('error', () => process.exit(4));`;
  const r = await c.run(ns, process.execPath, '-e', script);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

const ping = async (ns: Netns, to: string) => (await c.run(ns, 'ping', '-c', '1', '-W', '2', to)).code === 0;
const iptables = (h: Host, bin: string, ...args: string[]) => c.run(h.ns, bin, '-w', '5', ...args);

async function established(h: Host): Promise<boolean> {
  return / established /.test(await c.ok(h, 'status', 'connections'));
}

/** The first address tsweave printed (expose / attach print addresses without prefix). */
const first = (text: string) => text.trim().split(' ')[0]!;

beforeAll(async () => {
  await c.init();
  [h1, h2] = await Promise.all([1, 2].map((n) => c.addHost(n)));
  [c1, c2, c3, c4, out] = await Promise.all(['c1', 'c2', 'c3', 'c4', 'out'].map((n) => c.addContainer(n)));
  await c.underlay.connect(out, 'eth0', `${OUT_IP}/24`);
  // Docker with iptables on: FORWARD policy DROP (h1 through the nft backend, h2 through the legacy one).
  assert.equal((await iptables(h1, 'iptables-nft', '-P', 'FORWARD', 'DROP')).code, 0);
  assert.equal((await iptables(h2, 'iptables-legacy', '-P', 'FORWARD', 'DROP')).code, 0);
  await c.ok(h1, 'launch', '--nickname', 'h1', h2.ip);
  await c.ok(h2, 'launch', '--nickname', 'h2', h1.ip);
  await waitFor('h1 and h2 established', () => established(h1), 30_000);
  await c.ok(h1, 'attach', '10.32.0.11/12', c1.name);
  c2Addr = first(await c.ok(h2, 'attach', c2.name));
  await whoamiServer(c2);
  await whoamiServer(out);
}, 180_000);

afterAll(() => c.cleanup());

describe('firewall chains', () => {
  test("Docker's FORWARD DROP does not cut overlay traffic (nft on h1, legacy detected on h2)", async () => {
    await waitFor('c1 reaches c2 across the hosts', () => ping(c1, c2Addr), 30_000);
    assert.equal((await iptables(h1, 'iptables-nft', '-C', 'FORWARD', '-j', 'TSWEAVE')).code, 0, 'h1 has its jump in the nft tables');
    assert.equal((await iptables(h2, 'iptables-legacy', '-C', 'FORWARD', '-j', 'TSWEAVE')).code, 0, 'h2 has its jump in the legacy tables');
    assert.doesNotMatch((await c.run(h2.ns, 'iptables-nft-save')).stdout, /TSWEAVE/, 'h2 left the nft tables alone');
  });
});

describe('expose', () => {
  let exposed = '';

  test('expose prints an address from IPAM that the host then uses to reach containers on other hosts', async () => {
    const r = await c.tsweave(h1, 'expose', 'web');
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'tsweave: invalid address "web": must be [ip:]CIDR, net:CIDR or net:default\n');
    exposed = first(await c.ok(h1, 'expose'));
    assert.match(exposed, /^10\.(3[2-9]|4[0-7])\.\d+\.\d+$/);
    assert.equal(first(await c.ok(h1, 'expose')), exposed, 'exposing again gives the same address');
    assert.match((await c.run(h1.ns, 'ip', '-4', 'addr', 'show', 'dev', 'weave')).stdout, new RegExp(`inet ${exposed.replace(/\./g, '\\.')}/12 `));
    await waitFor('h1 (the host) reaches c2 on h2', () => ping(h1.ns, c2Addr), 20_000);
    assert.ok(await ping(c2, exposed), 'c2 reaches the host h1');
    assert.equal(await whoami(h1.ns, c2Addr), exposed, 'the host talks to c2 from its exposed address');
    const ps = (await c.ok(h1, 'ps')).split('\n');
    assert.match(ps[0]!, new RegExp(`^weave:expose ([0-9a-f]{2}:){5}[0-9a-f]{2} ${exposed.replace(/\./g, '\\.')}/12$`));
  });

  test('a machine that is not a tsweave host routes to the exposed subnet through h1', async () => {
    assert.equal((await c.run(out, 'ip', 'route', 'add', '10.32.0.0/12', 'via', h1.ip)).code, 0);
    assert.ok(await waitFor('out reaches c2 through h1', () => ping(out, c2Addr), 20_000));
  });

  test('egress: a container attached with --egress reaches the outside masqueraded; overlay traffic is not', async () => {
    assert.equal(await whoami(c1, OUT_IP), undefined, 'c1 (no egress) has no way out');
    const c3Addr = first(await c.ok(h1, 'attach', '--egress', c3.name));
    assert.match((await c.run(c3, 'ip', 'route', 'show', 'default')).stdout, new RegExp(`default via ${exposed.replace(/\./g, '\\.')} dev ethwe`));
    assert.equal(await whoami(c3, OUT_IP), h1.ip, 'the outside sees h1, not the container');
    assert.equal(await whoami(c3, c2Addr), c3Addr, 'c2 sees c3 itself: overlay traffic is not masqueraded');
    assert.equal(await whoami(c1, c2Addr), '10.32.0.11');
  });

  test('egress on a host that is not exposed exposes it first (IPAM) and masquerades there (legacy backend)', async () => {
    assert.match((await c.ok(h2, 'ps')).split('\n')[0]!, /^weave:expose \S+$/, 'h2 starts unexposed');
    await c.ok(h2, 'attach', '--egress', c4.name);
    const h2Exposed = /^weave:expose \S+ (\S+)\/12$/.exec((await c.ok(h2, 'ps')).split('\n')[0]!)?.[1];
    assert.ok(h2Exposed, 'h2 got an exposed address');
    assert.match((await c.run(c4, 'ip', 'route', 'show', 'default')).stdout, new RegExp(`default via ${h2Exposed.replace(/\./g, '\\.')} dev ethwe`));
    assert.equal(await whoami(c4, OUT_IP), h2.ip);
    assert.match((await c.run(h2.ns, 'iptables-legacy-save', '-t', 'nat')).stdout, /-A TSWEAVE-NAT -s 10\.\d+\.\d+\.\d+\/32 ! -o weave -j MASQUERADE/);
  });

  test('a flushed iptables is put back within the check interval', async () => {
    for (const table of ['filter', 'nat']) assert.equal((await iptables(h1, 'iptables-nft', '-t', table, '-F')).code, 0);
    assert.notEqual((await iptables(h1, 'iptables-nft', '-C', 'FORWARD', '-j', 'TSWEAVE')).code, 0);
    await waitFor('the rules are back', async () =>
      (await iptables(h1, 'iptables-nft', '-C', 'FORWARD', '-j', 'TSWEAVE')).code === 0 &&
      (await iptables(h1, 'iptables-nft', '-t', 'nat', '-C', 'POSTROUTING', '-j', 'TSWEAVE-NAT')).code === 0, RESTORE_WITHIN_MS, 250);
    assert.ok(await waitFor('c1 reaches c2 again', () => ping(c1, c2Addr), 10_000));
    assert.equal(await whoami(c3, OUT_IP), h1.ip, 'egress is masqueraded again');
  });

  test('legacy backend: a flush of filter, then a deleted jump alone, are each put back within one check interval', async () => {
    const has = async (...rule: string[]) => (await iptables(h2, 'iptables-legacy', ...rule)).code === 0;
    assert.ok(await has('-C', 'INPUT', '-j', 'TSWEAVE-INPUT'), 'installed');
    assert.ok(await has('-F'));
    let t0 = Date.now();
    await waitFor('h2 filter rules back', async () => (await has('-C', 'FORWARD', '-j', 'TSWEAVE')) && (await has('-C', 'TSWEAVE', '-j', 'TSWEAVE-CANARY')), RESTORE_WITHIN_MS, 250);
    const afterFlush = Date.now() - t0;
    // Only the INPUT jump: every chain and canary stays, so only a check that looks at the jumps sees it.
    assert.ok(await has('-D', 'INPUT', '-j', 'TSWEAVE-INPUT'));
    assert.ok(!(await has('-C', 'INPUT', '-j', 'TSWEAVE-INPUT')));
    t0 = Date.now();
    await waitFor('h2 INPUT jump back', () => has('-C', 'INPUT', '-j', 'TSWEAVE-INPUT'), RESTORE_WITHIN_MS, 250);
    const afterDelete = Date.now() - t0;
    assert.ok(await has('-t', 'nat', '-C', 'POSTROUTING', '-j', 'TSWEAVE-NAT'), 'nat untouched');
    assert.ok(await waitFor('c2 reaches c1 again', () => ping(c2, '10.32.0.11'), 10_000));
    console.log(`legacy: restored ${afterFlush} ms after the flush, ${afterDelete} ms after the deleted jump (check every ${FIREWALL_CHECK_MS} ms)`);
  });

  test('the exposed address survives a router restart (put back on the bridge at start)', async () => {
    await c.ok(h1, 'stop');
    assert.equal((await c.run(h1.ns, 'ip', 'addr', 'flush', 'dev', 'weave')).code, 0);
    await c.ok(h1, 'launch', '--nickname', 'h1', h2.ip);
    assert.match((await c.run(h1.ns, 'ip', '-4', 'addr', 'show', 'dev', 'weave')).stdout, new RegExp(`inet ${exposed.replace(/\./g, '\\.')}/12 `));
    assert.match((await c.ok(h1, 'ps')).split('\n')[0]!, new RegExp(` ${exposed.replace(/\./g, '\\.')}/12$`));
    await waitFor('h1 reaches c2 after the restart', () => ping(h1.ns, c2Addr), 30_000);
  });

  test('hide removes the address and the expose rules', async () => {
    const r = await c.tsweave(h1, 'hide', '10.99.0.1/24');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^tsweave: the host does not have 10\.99\.0\.1\/24 exposed \(exposed: 10\.\d+\.\d+\.\d+\/12\)\n$/);
    assert.equal((await c.ok(h1, 'hide')).trim(), exposed);
    assert.doesNotMatch((await c.run(h1.ns, 'ip', '-4', 'addr', 'show', 'dev', 'weave')).stdout, /inet /);
    assert.match((await c.ok(h1, 'ps')).split('\n')[0]!, /^weave:expose \S+$/);
    assert.equal(await ping(h1.ns, c2Addr), false, 'the host no longer reaches c2');
    assert.doesNotMatch((await c.run(h1.ns, 'iptables-nft-save', '-t', 'filter')).stdout, /-A TSWEAVE-EXPOSE/);
  });
});

describe('reset', () => {
  test('reset removes the chains and the jumps (both backends)', async () => {
    await c.ok(h1, 'reset');
    await c.ok(h2, 'reset');
    assert.doesNotMatch((await c.run(h1.ns, 'iptables-nft-save')).stdout, /TSWEAVE/);
    assert.doesNotMatch((await c.run(h2.ns, 'iptables-legacy-save')).stdout, /TSWEAVE/);
    assert.match((await c.run(h1.ns, 'iptables-nft-save')).stdout, /:FORWARD DROP/, "reset leaves others' settings alone");
  });
});
