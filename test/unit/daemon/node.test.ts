// A whole router started on fakes (test/support/fake-node.ts): no root, no addon, no sockets. Drives
// the HTTP routes the CLI uses — attach → IPAM → DNS → status, dns-args, detach — and a container's
// death, and checks what reached the host network, the data dir and the status snapshot.
import { afterEach, beforeEach, test } from 'vitest';
import assert from 'node:assert/strict';
import { parseLaunchArgs, type LaunchConfig } from '../../../src/config/launch.js';
import { TsweaveNode } from '../../../src/daemon/node.js';
import type { HttpResponse, Route } from '../../../src/io/http-server.js';
import { fakeNodeWorld, type FakeNodeWorld } from '../../support/fake-node.js';
import { ATTACHMENTS_STATE_KEY, BRIDGE_NAME, CONTAINER_IFNAME, TAP_NAME } from '../../../src/core/defaults.js';

const launch = (argv: string[]): LaunchConfig => parseLaunchArgs(argv, {}, { hostname: 'host1', readFile: () => '' });

let world: FakeNodeWorld;
let node: TsweaveNode;

/** Runs `p` to completion, moving the fake clock on while it waits (IPAM consensus, timers). */
async function settle<T>(p: Promise<T>): Promise<T> {
  let done = false;
  let out: { v?: T; e?: unknown; failed?: boolean } = {};
  p.then(
    (v) => ((done = true), (out = { v })),
    (e: unknown) => ((done = true), (out = { e, failed: true })),
  );
  for (let i = 0; i < 2000 && !done; i++) {
    await new Promise((r) => setImmediate(r));
    world.clock.advance(50);
  }
  assert.ok(done, 'operation did not finish');
  if (out.failed) throw out.e;
  return out.v as T;
}

/** Calls the API route as the HTTP server would. */
function call(method: Route['method'], path: string, body: unknown = {}): Promise<HttpResponse> {
  const url = new URL(path, 'http://x');
  for (const r of world.routes()) {
    if (r.method !== method) continue;
    const re = new RegExp(`^${r.pattern.replace(/:[a-z]+/g, '([^/]+)')}$`);
    const m = re.exec(url.pathname);
    if (!m) continue;
    const names = [...r.pattern.matchAll(/:([a-z]+)/g)].map((x) => x[1]!);
    const params = Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
    return settle(Promise.resolve(r.handler({ method, path: url.pathname, params, query: url.searchParams, body })));
  }
  throw new Error(`no route ${method} ${path}`);
}

beforeEach(async () => {
  world = fakeNodeWorld();
  world.runtime.add({ id: 'c0ffee01', hostname: 'web.weave.local', netnsPath: '/proc/101/ns/net', pid: 101 }, 'web');
  node = new TsweaveNode(launch(['--name', '02:00:00:00:00:01', '--data-dir', '/nowhere']), world.adapters);
  await settle(node.start());
});

afterEach(async () => {
  await node.stop('test over');
});

test('start: bridge, TAP on it, listener, API, pid file and runtime record; the peer name is kept', () => {
  const bridge = world.hostNet.links.get(BRIDGE_NAME);
  assert.equal(bridge?.kind, 'bridge');
  assert.equal(bridge?.mtu, 1376);
  assert.equal(world.hostNet.links.get(TAP_NAME)?.master, BRIDGE_NAME);
  assert.ok(world.transport.listening);
  assert.ok(world.pid.written);
  assert.ok(world.pid.recorded, 'the runtime record names this data dir');
  assert.equal(world.store.text('peer-name'), '02:00:00:00:00:01');
  assert.equal(node.peerName, '02:00:00:00:00:01');
});

test('attach → IPAM address on ethwe → DNS name → status; detach undoes all three', async () => {
  const res = await call('POST', '/attach', { container: 'web', addrs: [] });
  const [cidr] = (res.body as { addrs: string[] }).addrs;
  assert.match(cidr!, /^10\.(3[2-9]|4[0-7])\.\d+\.\d+\/12$/);
  assert.deepEqual(world.hostNet.addrsIn('/proc/101/ns/net', CONTAINER_IFNAME), [cidr]);
  assert.ok(world.hostNet.containers.get('/proc/101/ns/net')?.get(CONTAINER_IFNAME)?.up);
  const ip = cidr!.split('/')[0]!;

  // IPAM owns it, DNS answers it, ps lists it, the record is in the data dir.
  assert.equal((await call('GET', '/ip/c0ffee01')).body, cidr);
  assert.deepEqual((await call('GET', '/dns-lookup?name=web.weave.local')).body, { addrs: [ip] });
  const ps = (await call('GET', '/ps')).body as Array<{ containerId: string; addrs: string[] }>;
  assert.deepEqual(ps.map((p) => [p.containerId, p.addrs]), [['weave:expose', []], ['c0ffee01', [cidr]]]);
  assert.match(world.store.text(ATTACHMENTS_STATE_KEY)!, /c0ffee01/);

  const status = node.api.status();
  assert.equal(status.router.name, '02:00:00:00:00:01');
  assert.ok(status.dns?.entries.some((e) => e.hostname === 'web.weave.local.' && e.address === ip));
  assert.equal(status.ipam?.status, 'ready');
  assert.equal(status.ipam?.range, '10.32.0.0/12');
  assert.match(String((await call('GET', '/status')).body), /Service: dns/);

  // detach: interface gone, address free, name gone.
  assert.deepEqual((await call('POST', '/detach', { container: 'web', addrs: [] })).body, { addrs: [cidr] });
  assert.equal(world.hostNet.containers.get('/proc/101/ns/net')?.get(CONTAINER_IFNAME), undefined);
  assert.equal((await call('GET', '/ip/c0ffee01')).status, 404);
  assert.deepEqual((await call('GET', '/dns-lookup?name=web.weave.local')).body, { addrs: [] });
});

test('expose, attach with egress (gateway = the exposed address, masqueraded), ps, hide; the firewall is installed', async () => {
  assert.deepEqual(world.filter.rules('filter', 'FORWARD'), ['-j TSWEAVE'], 'installed at start');
  const exposed = ((await call('POST', '/expose', { addrs: [] })).body as { addrs: string[] }).addrs;
  assert.equal(exposed.length, 1);
  assert.deepEqual(world.routing.bridge, exposed);
  assert.equal((await call('GET', '/ip/weave:expose')).body, exposed[0], 'claimed in IPAM as weave:expose');
  const res = await call('POST', '/attach', { container: 'web', addrs: [], egress: true });
  const [cidr] = (res.body as { addrs: string[] }).addrs;
  assert.equal(world.routing.gateways.get('/proc/101/ns/net'), exposed[0]!.split('/')[0]);
  assert.ok(world.filter.rules('nat', 'TSWEAVE-NAT')!.includes(`-s ${cidr!.split('/')[0]}/32 ! -o weave -j MASQUERADE`));
  const ps = (await call('GET', '/ps')).body as Array<{ containerId: string; mac: string; addrs: string[] }>;
  assert.deepEqual(ps[0], { containerId: 'weave:expose', mac: '02:00:00:00:00:01', addrs: exposed });
  assert.deepEqual((await call('POST', '/hide', { addrs: [] })).body, { addrs: exposed });
  assert.deepEqual(world.routing.bridge, []);
  assert.equal((await call('GET', '/ip/weave:expose')).status, 404, 'the claim is freed');
});

test('dns-args without docker0: an IPAM address on the weave bridge, and the DNS server on it', async () => {
  const res = (await call('GET', '/dns-args')).body as { address: string; domain: string };
  assert.equal(res.domain, 'weave.local.');
  const onBridge = world.hostNet.links.get(BRIDGE_NAME)!.addrs;
  assert.equal(onBridge.length, 1);
  assert.equal(onBridge[0]!.split('/')[0], res.address);
  assert.deepEqual(world.dnsServers, [{ address: `${res.address}:53`, running: true }]);
  assert.deepEqual((await call('GET', '/ip/weave:dns')).body, onBridge[0]);
});

test('a container that dies loses its name at once and its address after the grace period', async () => {
  const res = await call('POST', '/attach', { container: 'web', addrs: [] });
  const [cidr] = (res.body as { addrs: string[] }).addrs;
  world.runtime.kill('c0ffee01');
  await settle(Promise.resolve());
  assert.deepEqual(node.api.dnsLookup('web.weave.local'), []);
  assert.equal((await call('GET', '/ip/c0ffee01')).body, cidr, 'the address is kept during the grace period');
  world.clock.advance(30_000);
  await settle(new Promise((r) => setImmediate(r)));
  await settle(new Promise((r) => setImmediate(r)));
  assert.equal((await call('GET', '/ip/c0ffee01')).status, 404);
  assert.doesNotMatch(world.store.text(ATTACHMENTS_STATE_KEY)!, /c0ffee01/, 'the attachment record is forgotten');
});

test('stop: API closed, listener closed, pid file removed', async () => {
  await node.stop('bye');
  assert.ok(!world.transport.listening);
  assert.ok(!world.pid.written);
  assert.throws(() => world.routes(), /no API/);
});

test('the raw IPAM API waits for the start-time reconcile: an address found on a container is never handed out again', async () => {
  await node.stop('restart');
  // A container on the bridge that this router has no record of (e.g. its record was lost in a crash):
  // the scan finds it only after a while, and until then its address looks free.
  let release!: () => void;
  const scanned = new Promise<void>((r) => (release = r));
  world.adapters.scanAttached = async () => {
    await scanned;
    return [{ containerId: 'f00dcafe', netnsPath: '/proc/202/ns/net', mac: '02:00:00:00:00:09', cidrs: ['10.32.0.1/12'] }];
  };
  node = new TsweaveNode(launch(['--name', '02:00:00:00:00:01', '--data-dir', '/nowhere']), world.adapters);
  await settle(node.start());
  const post = world.routes().find((r) => r.method === 'POST' && r.pattern === '/ip/:id')!;
  let answer: unknown;
  const pending = Promise.resolve(post.handler({ method: 'POST', path: '/ip/raw1', params: { id: 'raw1' }, query: new URLSearchParams(), body: {} }))
    .then((r) => (answer = r.body));
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.equal(answer, undefined, 'no address is answered before the reconcile has claimed what containers hold');
  release();
  await settle(pending);
  assert.match(String(answer), /^10\.32\.0\.\d+\/12$/);
  assert.notEqual(answer, '10.32.0.1/12', 'the address the container holds is not given again');
});
