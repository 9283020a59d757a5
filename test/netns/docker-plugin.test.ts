// Issue 13: the Docker network plugin, with a real dockerd per simulated host. Each dockerd has its own
// mount namespace where the host's plugin directory is /run/docker/plugins (plugins are found there by
// every dockerd on a machine, TEST-ENV §6); the router serves weavemesh.sock in that directory.
//
//   underlay ── h1 (router + dockerd) ── web (--net=weave, web.weave.local), a1 (app1 10.40.1.0/24)
//            └─ h2 (router + dockerd) ── client (--net=weave), a2 (app1), fixed (--ip)
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireRoot } from '../support/netns.js';
import { ensureDockerInstalled, importBusyboxImage, startDockerd, TEST_IMAGE, type TestDockerd } from '../support/docker.js';
import { Cluster, waitFor, type Host } from '../support/cluster.js';
import type { Netns } from '../support/netns.js';

requireRoot('the Docker plugin test');

const PW = randomBytes(12).toString('hex');
const c = new Cluster('dpl');
let h1: Host, h2: Host;
const dk = new Map<Host, TestDockerd>();
const dnsArgs = new Map<Host, string[]>();
const RANGE = ['--ipalloc-range', '10.32.0.0/12', '--ipalloc-default-subnet', '10.32.0.0/16'];
/** A machine on the underlay that is not a tsweave host and has no route to the overlay (egress target). */
let out: Netns;
const OUT_IP = '10.200.0.99';

const docker = (h: Host, ...args: string[]) => dk.get(h)!.docker(...args);
/** The container's address on a network, from Docker. */
async function ipOf(h: Host, name: string, net = 'weave'): Promise<string> {
  return (await docker(h, 'inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, name)).stdout.trim();
}
async function pings(h: Host, from: string, to: string, count = 1): Promise<boolean> {
  return docker(h, 'exec', from, 'ping', '-c', String(count), '-W', '1', to).then(() => true, () => false);
}
async function runOn(h: Host, name: string, ...args: string[]): Promise<void> {
  await docker(h, 'run', '-d', '--name', name, ...args);
}

beforeAll(async () => {
  await ensureDockerInstalled();
  await c.init();
  [h1, h2] = await Promise.all([c.addHost(1), c.addHost(2)]);
  out = await c.addContainer('out');
  await c.underlay.connect(out, 'eth0', `${OUT_IP}/24`);
  for (const h of [h1, h2]) {
    const d = await startDockerd({ netnsPath: h.ns.path, pluginDir: c.pluginDir(h) });
    c.lab.onCleanup(() => d.stop());
    dk.set(h, d);
    await importBusyboxImage(d);
    h.env.DOCKER_HOST = d.dockerHost;
  }
  await c.ok(h1, 'launch', '--password', PW, '--nickname', 'h1', ...RANGE);
  await c.ok(h2, 'launch', '--password', PW, '--nickname', 'h2', ...RANGE, h1.ip);
  for (const h of [h1, h2]) {
    await waitFor(`network weave on h${h.n}`, async () => (await docker(h, 'network', 'ls', '--format', '{{.Name}} {{.Driver}}')).stdout.includes('weave weavemesh'), 20_000, 200);
    const a = (await c.ok(h, 'dns-args')).trim().split(/\s+/);
    dnsArgs.set(h, a);
  }
}, 180_000);

afterAll(async () => {
  await c.cleanup();
});

test('docker run --net=weave on two hosts: addresses from tsweave, ping, TCP and DNS across', async () => {
  await runOn(h1, 'web', '--net=weave', '--hostname', 'web.weave.local', ...dnsArgs.get(h1)!, TEST_IMAGE, 'httpd', '-f', '-p', '80', '-h', '/var/www');
  const started = Date.now();
  await runOn(h2, 'client', '--net=weave', ...dnsArgs.get(h2)!, TEST_IMAGE, 'sleep', '100000');
  const webIp = await ipOf(h1, 'web');
  const clientIp = await ipOf(h2, 'client');
  assert.match(webIp, /^10\.32\.\d+\.\d+$/);
  assert.match(clientIp, /^10\.32\.\d+\.\d+$/);
  assert.notEqual(webIp, clientIp);
  const iface = await docker(h2, 'exec', 'client', 'ip', '-o', '-4', 'addr', 'show', 'ethwe0');
  assert.match(iface.stdout, new RegExp(`inet ${clientIp.replace(/\./g, '\\.')}/16 `));
  await waitFor('ping across hosts', () => pings(h2, 'client', webIp), 30_000, 200);
  console.log(`docker run --net=weave → first ping across hosts: ${Date.now() - started} ms`);
  const page = await waitFor('wget by name across hosts', async () => {
    const r = await docker(h2, 'exec', 'client', 'wget', '-q', '-O', '-', 'http://web.weave.local/').catch(() => undefined);
    return r?.stdout;
  }, 20_000, 500);
  assert.equal(page.trim(), 'hello');
  // Egress (issue 15): a default route via h2's bridge address; `out` has no route to the overlay, so an
  // answer means h2 masqueraded the container's address.
  assert.match((await docker(h2, 'exec', 'client', 'ip', 'route', 'show', 'default')).stdout, /^default via 10\.32\.\d+\.\d+ dev ethwe0/);
  await waitFor('client reaches a machine outside the overlay', () => pings(h2, 'client', OUT_IP), 20_000, 500);
  // tsweave ps lists plugin containers, and the gateway address on the bridge in its weave:expose line (as
  // Weave's ps listed the bridge's addresses): the host is on the weave network through it.
  const id = (await docker(h2, 'inspect', '-f', '{{.Id}}', 'client')).stdout.trim();
  const ps = await c.ok(h2, 'ps');
  assert.match(ps, new RegExp(`${id.slice(0, 12)}.*${clientIp.replace(/\./g, '\\.')}/16`));
  const gw = /^default via (\S+)/.exec((await docker(h2, 'exec', 'client', 'ip', 'route', 'show', 'default')).stdout)![1]!;
  assert.match(ps.split('\n')[0]!, new RegExp(`^weave:expose \\S+ .*\\b${gw.replace(/\./g, '\\.')}/16\\b`));
});

test('a weavemesh network with its own subnet is isolated from the default one; --ip claims an address', async () => {
  for (const h of [h1, h2]) {
    await docker(h, 'network', 'create', '-d', 'weavemesh', '--ipam-driver', 'weavemesh', '--subnet', '10.40.1.0/24', 'app1');
  }
  // Without --ipam-driver, Docker's own IPAM would give every host the same 172.x pool: refused at create.
  const noIpam = await docker(h1, 'network', 'create', '-d', 'weavemesh', 'noipam').then(() => 'created', (e: { stderr?: string }) => e.stderr ?? '');
  assert.match(noIpam, /outside tsweave's --ipalloc-range 10\.32\.0\.0\/12; a weavemesh network needs tsweave's addresses: add --ipam-driver weavemesh/);
  await runOn(h1, 'a1', '--net=app1', TEST_IMAGE, 'sleep', '100000');
  await runOn(h2, 'a2', '--net=app1', TEST_IMAGE, 'sleep', '100000');
  const a1 = await ipOf(h1, 'a1', 'app1');
  assert.match(a1, /^10\.40\.1\.\d+$/);
  await waitFor('ping inside app1 across hosts', () => pings(h2, 'a2', a1), 30_000, 200);
  assert.equal(await pings(h2, 'client', a1, 2), false, 'the default network reached app1');
  assert.equal(await pings(h2, 'a2', await ipOf(h1, 'web'), 2), false, 'app1 reached the default network');

  await runOn(h2, 'fixed', '--net=weave', '--ip', '10.32.7.7', TEST_IMAGE, 'sleep', '100000');
  assert.equal(await ipOf(h2, 'fixed'), '10.32.7.7');
  // The claim is the mesh's: the other host cannot take the same address.
  const dup = await docker(h1, 'run', '-d', '--name', 'dup', '--net=weave', '--ip', '10.32.7.7', TEST_IMAGE, 'sleep', '1').then(() => 'started', (e: Error) => e.message);
  assert.notEqual(dup, 'started');
});

test('docker restart keeps the address and DNS name; docker rm releases it', async () => {
  const before = await ipOf(h1, 'web');
  await docker(h1, 'restart', '-t', '1', 'web');
  assert.equal(await ipOf(h1, 'web'), before);
  await waitFor('ping after restart', () => pings(h2, 'client', before), 30_000, 200);
  // Its name is back too (removed when it died, registered again when it started).
  const page = await waitFor('wget by name after restart', async () => {
    const r = await docker(h2, 'exec', 'client', 'wget', '-q', '-O', '-', 'http://web.weave.local/').catch(() => undefined);
    return r?.stdout;
  }, 20_000, 500);
  assert.equal(page.trim(), 'hello');
  await docker(h2, 'stop', '-t', '1', 'fixed');
  await docker(h2, 'start', 'fixed');
  assert.equal(await ipOf(h2, 'fixed'), '10.32.7.7');
  await docker(h2, 'rm', '-f', 'fixed');
  await runOn(h2, 'fixed2', '--net=weave', '--ip', '10.32.7.7', TEST_IMAGE, 'sleep', '100000');
  assert.equal(await ipOf(h2, 'fixed2'), '10.32.7.7');
  // disconnect releases too; connect gets an address again.
  await runOn(h2, 'spare', '--net=weave', TEST_IMAGE, 'sleep', '100000');
  const spare = await ipOf(h2, 'spare');
  await docker(h2, 'network', 'disconnect', 'weave', 'spare');
  await runOn(h2, 'taker', '--net=weave', '--ip', spare, TEST_IMAGE, 'sleep', '100000');
  assert.equal(await ipOf(h2, 'taker'), spare);
  await docker(h2, 'network', 'connect', 'weave', 'spare');
  const again = await ipOf(h2, 'spare');
  assert.match(again, /^10\.32\.\d+\.\d+$/);
  assert.notEqual(again, spare);
});

test('router down: docker run --net=weave fails at once saying tsweave is not running; works again after launch', async () => {
  await runOn(h2, 'named', '--net=weave', TEST_IMAGE, 'sleep', '100000');
  await waitFor('named.weave.local on h1', async () => (await c.ok(h1, 'dns-lookup', 'named.weave.local')).trim() !== '', 20_000, 200);
  await c.ok(h2, 'stop');
  // Stopped while its router is down: no event reaches the router, yet its name must go (its address is free).
  await docker(h2, 'stop', '-t', '1', 'named');
  const t0 = Date.now();
  const r = await docker(h2, 'run', '-d', '--name', 'down', '--net=weave', TEST_IMAGE, 'sleep', '100000').then(() => 'started', (e: { stderr?: string }) => e.stderr ?? '');
  const took = Date.now() - t0;
  assert.match(r, /tsweave is not running/);
  console.log(`router down: docker run --net=weave failed after ${took} ms: ${r.split('\n').find((l) => /tsweave/.test(l))}`);
  // dockerd's own retry of an unreachable plugin is 15–30 s; this must be far from that.
  assert.ok(took < 10_000, `docker run took ${took} ms to fail`);
  await docker(h2, 'rm', '-f', 'down').catch(() => undefined);
  await c.ok(h2, 'launch', '--password', PW, '--nickname', 'h2', ...RANGE, h1.ip);
  await waitFor('the stopped container\'s name gone on h1', async () => (await c.ok(h1, 'dns-lookup', 'named.weave.local')).trim() === '', 20_000, 200);
  await runOn(h2, 'back', '--net=weave', TEST_IMAGE, 'sleep', '100000');
  await waitFor('ping across hosts after relaunch', async () => pings(h2, 'back', await ipOf(h1, 'web')), 30_000, 200);
  // The plugin's containers kept their addresses through the router's absence, and their way out: the
  // relaunched router masquerades them again (no Join replays for containers already running).
  assert.equal(await ipOf(h2, 'fixed2'), '10.32.7.7');
  await waitFor('client reaches outside the overlay after the router restart', () => pings(h2, 'client', OUT_IP), 20_000, 500);
  assert.match(await c.ok(h2, 'ps'), /10\.32\.7\.7\/16/);
});

test('a dockerd restart: a --restart=always container comes back on weave, reachable across hosts, its DNS name follows it', async () => {
  await runOn(h1, 'keep', '--net=weave', '--restart=always', '--hostname', 'keep.weave.local', TEST_IMAGE, 'sleep', '100000');
  const before = await ipOf(h1, 'keep');
  await waitFor('keep.weave.local on h2', async () => (await c.ok(h2, 'dns-lookup', 'keep.weave.local')).includes(before), 20_000, 200);
  await dk.get(h1)!.restart();
  await waitFor('keep running again', async () => (await docker(h1, 'inspect', '-f', '{{.State.Running}}', 'keep')).stdout.trim() === 'true', 60_000, 500);
  // Docker asks the IPAM driver for any address after its own restart (it does not ask for the old one, as
  // with its bridge driver), so the address may change; what must hold: reachable, named, never shared.
  const ip = await ipOf(h1, 'keep');
  assert.match(ip, /^10\.32\.\d+\.\d+$/);
  console.log(`dockerd restart: keep ${before} → ${ip}`);
  await waitFor('client on h2 pings keep again', () => pings(h2, 'client', ip), 30_000, 300);
  await waitFor('keep.weave.local resolves to its address', async () => (await c.ok(h2, 'dns-lookup', 'keep.weave.local')).trim() === ip, 30_000, 300);
  const running = (await docker(h1, 'ps', '-q')).stdout.split('\n').filter((x) => x !== '');
  const addrs = await Promise.all(running.map(async (id) => (await docker(h1, 'inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', id)).stdout.trim()));
  const all = addrs.join(' ').split(' ').filter((x) => x !== '');
  assert.equal(new Set(all).size, all.length, `no address held twice on h1: ${all.join(' ')}`);
});

test('reset removes the plugin socket, and its keeper process exits', async () => {
  const socket = join(c.pluginDir(h2), 'weavemesh.sock');
  /** Processes whose command line names this host's plugin socket (the keeper). */
  const keepers = async () => {
    const out: number[] = [];
    for (const pid of await readdir('/proc').then((l) => l.filter((p) => /^\d+$/.test(p)))) {
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmd.startsWith('tsweave-plugin-keeper') && cmd.includes(socket)) out.push(Number(pid));
    }
    return out;
  };
  assert.ok(existsSync(socket), 'the plugin socket is there while the router runs');
  assert.equal((await keepers()).length, 1, 'one keeper holds it');
  // With containers on it, `weave` stays (Docker would refuse) and reset says so; without, it goes.
  const busy = await c.tsweave(h2, 'reset');
  assert.equal(busy.code, 0);
  assert.match(busy.stderr, /the Docker network "weave" stays: \d+ container\(s\) on it\. .*launch, docker rm them, then reset again/);
  assert.ok(!existsSync(socket), 'reset removed the socket');
  await waitFor('the keeper exited', async () => (await keepers()).length === 0, 15_000, 200);
  // As the message says (alone now: reset forgot the peers).
  await c.ok(h2, 'launch', '--nickname', 'h2', ...RANGE);
  const ids = (await docker(h2, 'ps', '-aq')).stdout.split('\n').filter((x) => x !== '');
  if (ids.length) await docker(h2, 'rm', '-f', ...ids);
  assert.equal(await subnetOfWeave(h2), '10.32.0.0/16');
  await c.ok(h2, 'reset');
  assert.equal(await subnetOfWeave(h2), undefined, 'reset removed the Docker network "weave"');
  const apiDir = `/run/tsweave/netns-${statSync(h2.ns.path).ino}`;
  assert.ok(!existsSync(apiDir), `reset left the API socket directory ${apiDir}`);
  assert.match((await docker(h2, 'network', 'ls', '--format', '{{.Name}}')).stdout, /^app1$/m, 'a network the user made stays');
});

/** The subnet of h's Docker network `weave`, undefined when there is none. */
async function subnetOfWeave(h: Host): Promise<string | undefined> {
  const r = await docker(h, 'network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', 'weave').catch(() => undefined);
  return r?.stdout.trim();
}

test('a launch with another range replaces a "weave" network left with the old subnet; docker run --net=weave works', async () => {
  // Left behind by a stop (reset would have removed it); nothing on it.
  await c.ok(h2, 'launch', '--nickname', 'h2', ...RANGE);
  await waitFor('network weave with the first subnet', async () => (await subnetOfWeave(h2)) === '10.32.0.0/16', 20_000, 200);
  await c.ok(h2, 'stop');
  await c.ok(h2, 'launch', '--nickname', 'h2', '--ipalloc-range', '10.64.0.0/16');
  await waitFor('network weave with the new subnet', async () => (await subnetOfWeave(h2)) === '10.64.0.0/16', 20_000, 200);
  await runOn(h2, 'newrange', '--net=weave', TEST_IMAGE, 'sleep', '100000');
  assert.match(await ipOf(h2, 'newrange'), /^10\.64\.\d+\.\d+$/);
});
