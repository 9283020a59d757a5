// The CNI plugin driven exactly as a runtime drives it (issue 14): the installed `tsweave-net` executable
// run with CNI_* in the environment and the network configuration on stdin, in the host's namespace where
// the router runs. Two routers (h1, h2); a CNI container on h1 reaches a `tsweave attach`ed one on h2.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { Cluster, inNs, waitFor, type Host } from '../support/cluster.js';
import { requireRoot, type Netns } from '../support/netns.js';

requireRoot('the CNI plugin test');

interface Run { code: number | null; stdout: string }

/** Runs the installed plugin in `ns` with `env` and `stdin`, as libcni does. */
function plugin(bin: string, ns: string, env: Record<string, string>, stdin: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, bin], { env: { PATH: process.env.PATH!, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
    child.stdin.end(stdin);
  });
}

const conf = (version = '1.0.0', extra: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: version, name: 'tsweave', type: 'tsweave-net', ...extra });

describe('tsweave-net CNI plugin (raw invocation)', () => {
  const cluster = new Cluster('cni');
  let h1: Host;
  let h2: Host;
  let h3: Netns;
  let c1: Netns;
  let c2: Netns;
  let tmp: string;
  let bin: string;
  let c2ip: string;
  /** A machine on the underlay that is not a tsweave host and has no route to the overlay (egress target). */
  let out: Netns;
  const OUT_IP = '10.200.0.99';
  const env = (cmd: string, c: Netns | undefined, id: string, extra: Record<string, string> = {}) => ({
    CNI_COMMAND: cmd, CNI_CONTAINERID: id, CNI_NETNS: c?.path ?? '', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', ...extra,
  });

  beforeAll(async () => {
    await cluster.init();
    [h1, h2] = await Promise.all([cluster.addHost(1), cluster.addHost(2)]);
    h3 = await cluster.lab.addNetns('h3'); // no router here
    [c1, c2, out] = await Promise.all([cluster.addContainer('c1'), cluster.addContainer('c2'), cluster.addContainer('out')]);
    await cluster.underlay.connect(out, 'eth0', `${OUT_IP}/24`);
    await cluster.ok(h1, 'launch', '--nickname', 'h1');
    await cluster.ok(h2, 'launch', '--nickname', 'h2', h1.ip);
    await waitFor('h1 and h2 established', async () => / established /.test(await cluster.ok(h1, 'status', 'connections')));
    c2ip = (await cluster.ok(h2, 'attach', c2.name)).trim().split('/')[0]!;
    tmp = await mkdtemp('/tmp/tsw-cni-');
    bin = join(tmp, 'bin', 'tsweave-net');
  }, 120_000);

  afterAll(async () => {
    await cluster.cleanup();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  test('setup-cni installs the shim and the conflist; a second run changes nothing', async () => {
    const args = ['setup-cni', '--bin-dir', join(tmp, 'bin'), '--bin-dir', join(tmp, 'lib'), '--conf-dir', join(tmp, 'net.d')];
    const first = await cluster.ok(h1, ...args);
    assert.match(first, /installed .*\/bin\/tsweave-net/);
    const second = await cluster.ok(h1, ...args);
    assert.doesNotMatch(second, /installed/);
    assert.equal((second.match(/unchanged/g) ?? []).length, 3);
    const list = JSON.parse(await readFile(join(tmp, 'net.d', '10-tsweave.conflist'), 'utf8')) as { name: string; plugins: Array<{ type: string }> };
    assert.equal(list.name, 'tsweave');
    assert.deepEqual(list.plugins.map((p) => p.type), ['tsweave-net', 'portmap']);
  });

  test('VERSION answers without a router', async () => {
    const r = await plugin(bin, h3.name, { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
    assert.equal(r.code, 0);
    const v = JSON.parse(r.stdout) as { supportedVersions: string[] };
    assert.ok(v.supportedVersions.includes('1.0.0') && v.supportedVersions.includes('0.3.1'));
  });

  test('ADD gives an address, MTU, default route and DNS; the pod is in weaveDNS; c1 pings across hosts; CHECK; DEL releases', async () => {
    const id = 'c0ffee01';
    const add = await plugin(bin, h1.ns.name, env('ADD', c1, id, { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web' }), conf());
    assert.equal(add.code, 0, add.stdout);
    const res = JSON.parse(add.stdout) as {
      cniVersion: string; interfaces: Array<{ name: string; mac: string; sandbox: string }>;
      ips: Array<Record<string, unknown>>; routes: Array<{ dst: string; gw: string }>; dns: { nameservers: string[]; search: string[] };
    };
    // The CNI 1.0.0 result shape.
    assert.equal(res.cniVersion, '1.0.0');
    assert.deepEqual(res.interfaces.map((i) => [i.name, i.sandbox]), [['eth0', c1.path]]);
    assert.match(res.interfaces[0]!.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    assert.equal(res.ips.length, 1);
    const ip = res.ips[0]!;
    assert.match(String(ip.address), /^10\.(3[2-9]|4[0-7])\.\d+\.\d+\/12$/);
    assert.equal(ip.interface, 0);
    assert.equal(ip.version, undefined, '1.0.0 results carry no "version"');
    assert.deepEqual(res.routes, [{ dst: '0.0.0.0/0', gw: ip.gateway }]);
    assert.deepEqual(res.dns.search, ['weave.local']);
    assert.equal(res.dns.nameservers.length, 1);
    const addr = String(ip.address).split('/')[0]!;

    // In the container: the address on eth0, the overlay MTU, the default route via the gateway.
    const link = JSON.parse((await cluster.run(c1, 'ip', '-j', 'addr', 'show', 'dev', 'eth0')).stdout) as Array<{ mtu: number; addr_info: Array<{ local: string }> }>;
    assert.equal(link[0]!.mtu, 1376);
    assert.ok(link[0]!.addr_info.some((a) => a.local === addr));
    assert.match((await cluster.run(c1, 'ip', 'route', 'show', 'default')).stdout, new RegExp(`default via ${String(ip.gateway).replace(/\./g, '\\.')} dev eth0`));
    // The gateway answers (it is h1's own address on the weave bridge).
    assert.equal((await cluster.run(c1, 'ping', '-c', '1', '-W', '2', String(ip.gateway))).code, 0);

    // ps lists it; weaveDNS on the other host resolves the pod's name.
    assert.match(await cluster.ok(h1, 'ps'), new RegExp(`cni:${id}.*${addr.replace(/\./g, '\\.')}`));
    await waitFor('web.default.weave.local on h2', async () => (await cluster.ok(h2, 'dns-lookup', 'web.default.weave.local')).includes(addr));

    // Across hosts to the attached container.
    await waitFor('c1 reaches c2', async () => (await cluster.run(c1, 'ping', '-c', '1', '-W', '1', c2ip)).code === 0, 30_000);
    // Egress (issue 15): `out` has no route to the overlay, so an answer means h1 masqueraded c1's address.
    await waitFor('c1 reaches a machine outside the overlay', async () => (await cluster.run(c1, 'ping', '-c', '1', '-W', '1', OUT_IP)).code === 0, 20_000);
    assert.match((await cluster.run(h1.ns, 'iptables-save', '-t', 'nat')).stdout, new RegExp(`-A TSWEAVE-NAT -s ${addr.replace(/\./g, '\\.')}/32 ! -o weave -j MASQUERADE`));

    // CHECK passes; with the address gone it fails with the plugin's code.
    const check = await plugin(bin, h1.ns.name, env('CHECK', c1, id), conf());
    assert.deepEqual([check.code, check.stdout], [0, '']);
    await cluster.run(c1, 'ip', 'addr', 'del', String(ip.address), 'dev', 'eth0');
    const bad = await plugin(bin, h1.ns.name, env('CHECK', c1, id), conf());
    assert.equal(bad.code, 1);
    assert.equal((JSON.parse(bad.stdout) as { code: number }).code, 101);

    // DEL releases: interface, record, address, name. Repeated, and with an empty CNI_NETNS, it succeeds.
    const del = await plugin(bin, h1.ns.name, env('DEL', c1, id), conf());
    assert.deepEqual([del.code, del.stdout], [0, '']);
    assert.notEqual((await cluster.run(c1, 'ip', 'link', 'show', 'eth0')).code, 0);
    assert.doesNotMatch(await cluster.ok(h1, 'ps'), new RegExp(`cni:${id}`));
    assert.equal((await cluster.ok(h1, 'dns-lookup', 'web.default.weave.local')).trim(), '');
    for (const e of [env('DEL', c1, id), env('DEL', undefined, id), env('DEL', undefined, 'never-added')]) {
      const again = await plugin(bin, h1.ns.name, e, conf());
      assert.deepEqual([again.code, again.stdout], [0, '']);
    }
    // The address is free again: the next ADD gets the same one (IPAM gives the lowest free address).
    const re = await plugin(bin, h1.ns.name, env('ADD', c1, 'c0ffee02'), conf());
    assert.equal(re.code, 0, re.stdout);
    assert.equal((JSON.parse(re.stdout) as { ips: Array<{ address: string }> }).ips[0]!.address, ip.address);
    assert.equal((await plugin(bin, h1.ns.name, env('DEL', c1, 'c0ffee02'), conf())).code, 0);
  }, 90_000);

  test('older cniVersions get their result format', async () => {
    const r031 = await plugin(bin, h1.ns.name, env('ADD', c1, 'old031'), conf('0.3.1'));
    assert.equal(r031.code, 0, r031.stdout);
    const j031 = JSON.parse(r031.stdout) as { cniVersion: string; ips: Array<{ version: string }> };
    assert.deepEqual([j031.cniVersion, j031.ips[0]!.version], ['0.3.1', '4']);
    assert.equal((await plugin(bin, h1.ns.name, env('DEL', c1, 'old031'), conf('0.3.1'))).code, 0);
    const r020 = await plugin(bin, h1.ns.name, env('ADD', c1, 'old020'), conf('0.2.0'));
    assert.equal(r020.code, 0, r020.stdout);
    assert.match((JSON.parse(r020.stdout) as { ip4: { ip: string } }).ip4.ip, /^10\./);
    assert.equal((await plugin(bin, h1.ns.name, env('DEL', c1, 'old020'), conf('0.2.0'))).code, 0);
  }, 60_000);

  test('a router restart: the container keeps working, its record and claim come back, DEL still releases', async () => {
    const id = 'restart01';
    const add = await plugin(bin, h1.ns.name, env('ADD', c1, id), conf());
    assert.equal(add.code, 0, add.stdout);
    const cidr = (JSON.parse(add.stdout) as { ips: Array<{ address: string }> }).ips[0]!.address;
    await cluster.killRouter(h1);
    await cluster.ok(h1, 'launch', '--nickname', 'h1');
    await waitFor('h1 and h2 established again', async () => / established /.test(await cluster.ok(h1, 'status', 'connections')));
    await waitFor('c1 reaches c2 after the restart', async () => (await cluster.run(c1, 'ping', '-c', '1', '-W', '1', c2ip)).code === 0, 30_000);
    assert.match(await cluster.ok(h1, 'ps'), new RegExp(`cni:${id} .*${cidr}`));
    assert.equal((await plugin(bin, h1.ns.name, env('CHECK', c1, id), conf())).code, 0);
    const del = await plugin(bin, h1.ns.name, env('DEL', undefined, id), conf());
    assert.deepEqual([del.code, del.stdout], [0, '']);
    assert.notEqual((await cluster.run(c1, 'ip', 'link', 'show', 'eth0')).code, 0);
    const lookup = await inNs(h1.ns.name, [process.execPath, '-e', `fetch('http://127.0.0.1:6784/ip/cni:${id}').then(r => process.stdout.write(String(r.status)))`]);
    assert.equal(lookup, '404');
  }, 120_000);

  test('ADD latency, median of 20 ADD/DEL pairs (printed, not asserted)', async () => {
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      const r = await plugin(bin, h1.ns.name, env('ADD', c1, `lat${i}`), conf());
      times.push(performance.now() - t0);
      assert.equal(r.code, 0, r.stdout);
      assert.equal((await plugin(bin, h1.ns.name, env('DEL', c1, `lat${i}`), conf())).code, 0);
    }
    times.sort((a, b) => a - b);
    console.log(`CNI ADD latency: median ${times[10]!.toFixed(0)} ms, min ${times[0]!.toFixed(0)} ms, max ${times[19]!.toFixed(0)} ms (20 runs)`);
  }, 120_000);

  test('errors: codes per the spec, JSON on stdout, exit 1', async () => {
    const cases: Array<[string, Record<string, string>, string, string, number]> = [
      ['router not running', env('ADD', c1, 'x1'), h3.name, conf(), 11],
      ['stdin not JSON', env('ADD', c1, 'x1'), h1.ns.name, '{nope', 6],
      ['no network name', env('ADD', c1, 'x1'), h1.ns.name, JSON.stringify({ cniVersion: '1.0.0', type: 'tsweave-net' }), 7],
      ['unknown cniVersion', env('ADD', c1, 'x1'), h1.ns.name, conf('9.9.9'), 1],
      ['no CNI_NETNS on ADD', env('ADD', undefined, 'x1'), h1.ns.name, conf(), 4],
      ['bad CNI_IFNAME', env('ADD', c1, 'x1', { CNI_IFNAME: 'a/b' }), h1.ns.name, conf(), 4],
      ['netns that does not exist', { ...env('ADD', c1, 'x1'), CNI_NETNS: '/run/netns/tsw-none-at-all' }, h1.ns.name, conf(), 3],
    ];
    for (const [what, e, ns, stdin, code] of cases) {
      const r = await plugin(bin, ns, e, stdin);
      assert.equal(r.code, 1, what);
      const err = JSON.parse(r.stdout) as { code: number; msg: string; cniVersion: string };
      assert.equal(err.code, code, `${what}: ${err.msg}`);
      assert.ok(err.msg.length > 0 && err.msg.length <= 512, what);
    }
    // Nothing was left behind by the failed ADDs.
    assert.doesNotMatch(await cluster.ok(h1, 'ps'), /cni:x1/);
  }, 60_000);
});
