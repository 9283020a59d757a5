// run(argv, deps) end to end against a fake router API: requests sent, output printed, exit codes.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { run, type CliDeps, type Lifecycle } from '../../../src/cli/run.js';
import { RouterNotRunningError, type HttpRequest, type HttpResponse } from '../../../src/cli/api-client.js';
import type { LaunchConfig } from '../../../src/config/launch.js';
import type { Status } from '../../../src/api/status-types.js';
import { VERSION } from '../../../src/core/defaults.js';

interface Harness {
  deps: CliDeps;
  out: () => string;
  err: () => string;
  requests: (HttpRequest & { addr: string })[];
  launched: LaunchConfig[];
}

type Routes = Record<string, HttpResponse | ((req: HttpRequest) => HttpResponse)>;

function harness(routes: Routes | 'down' = {}, opts: { root?: boolean; env?: Record<string, string>; lifecycle?: Partial<Lifecycle> } = {}): Harness {
  let out = '';
  let err = '';
  const requests: Harness['requests'] = [];
  const launched: LaunchConfig[] = [];
  const deps: CliDeps = {
    env: opts.env ?? {},
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    http: async (addr, req) => {
      requests.push({ ...req, addr: `${addr.host}:${addr.port}` });
      if (routes === 'down') throw new RouterNotRunningError(addr);
      const r = routes[`${req.method} ${req.path}`];
      if (r === undefined) return { status: 404, body: `404 page not found\n` };
      return typeof r === 'function' ? r(req) : r;
    },
    isRoot: () => opts.root ?? true,
    hostname: 'host1',
    readFile: () => 'filepw\n',
    lifecycle: {
      launch: async (cfg) => {
        launched.push(cfg);
        return 'aa:bb:cc:dd:ee:ff';
      },
      stop: async () => undefined,
      reset: async () => undefined,
      ...opts.lifecycle,
    },
  };
  return { deps, out: () => out, err: () => err, requests, launched };
}

const json = (v: unknown, status = 200): HttpResponse => ({ status, body: JSON.stringify(v) });

const STATUS: Status = {
  version: '0.1.0',
  router: {
    protocolMinVersion: 1, protocolMaxVersion: 1, name: 'aa:bb:cc:dd:ee:01', nickname: 'host1', port: 6783,
    encryption: true, peerDiscovery: true, trustedSubnets: [], targets: ['host2'], mtu: 1376,
    connections: [{ address: '10.0.0.2:6783', outbound: true, state: 'established', remoteName: 'aa:bb:cc:dd:ee:02',
      remoteNickname: 'host2', encrypted: true, path: 'udp', mtu: 1376 }],
    peers: [
      { name: 'aa:bb:cc:dd:ee:01', nickname: 'host1', uid: '1', connections: [
        { address: '10.0.0.2:6783', outbound: true, name: 'aa:bb:cc:dd:ee:02', nickname: 'host2', established: true }] },
      { name: 'aa:bb:cc:dd:ee:02', nickname: 'host2', uid: '2', connections: [
        { address: '10.0.0.1:41234', outbound: false, name: 'aa:bb:cc:dd:ee:01', nickname: 'host1', established: true }] },
    ],
  },
};

test('help goes to stdout with exit 0; no arguments prints usage to stderr with exit 2', async () => {
  let h = harness();
  assert.equal(await run(['--help'], h.deps), 0);
  assert.match(h.out(), /^Usage:\ntsweave launch/);
  assert.equal(h.err(), '');
  h = harness();
  assert.equal(await run(['help', 'attach'], h.deps), 0);
  assert.match(h.out(), /^Usage: tsweave attach \[--without-dns\] \[--hostname FQDN\] \[--egress\] \[ADDR\.\.\.\] CONTAINER\n/);
  h = harness();
  assert.equal(await run([], h.deps), 2);
  assert.match(h.err(), /^Usage:/);
  assert.equal(h.requests.length, 0);
});

test('usage errors: one line on stderr, exit 2, nothing sent', async () => {
  const cases: [string[], string][] = [
    [['bogus'], `tsweave: unknown command "bogus"; see 'tsweave --help'\n`],
    [['status', 'foo'], 'tsweave: invalid status sub-command "foo": must be one of targets, connections, peers, dns, ipam\n'],
    [['launch', '--mtu', '99'], 'tsweave: invalid --mtu "99": must be a whole number 576..65435\n'],
    [['attach'], 'tsweave: attach needs a CONTAINER\n'],
  ];
  for (const [argv, message] of cases) {
    const h = harness();
    assert.equal(await run(argv, h.deps), 2, argv.join(' '));
    assert.equal(h.err(), message);
    assert.equal(h.out(), '');
    assert.equal(h.requests.length, 0);
  }
});

test('root is required for launch, attach, detach, stop, reset (not for help or dry-run)', async () => {
  for (const argv of [['launch'], ['attach', 'web'], ['detach', 'web'], ['stop'], ['reset', '--force']]) {
    const h = harness({}, { root: false });
    assert.equal(await run(argv, h.deps), 2, argv.join(' '));
    assert.equal(h.err(), 'tsweave: this command must be run as root\n');
    assert.equal(h.requests.length + h.launched.length, 0);
  }
  for (const argv of [['attach', '--help'], ['launch', '--dry-run'], ['status']]) {
    const h = harness({ 'GET /snapshot': json(STATUS) }, { root: false });
    assert.equal(await run(argv, h.deps), 0, argv.join(' '));
  }
});

test('router not running: the hint, exit 1; the address follows TSWEAVE_HTTP_ADDR', async () => {
  let h = harness('down');
  assert.equal(await run(['status'], h.deps), 1);
  assert.equal(h.err(), `tsweave is not running (no router answers on 127.0.0.1:6784); start it with 'tsweave launch'\n`);
  h = harness('down', { env: { TSWEAVE_HTTP_ADDR: '127.0.0.1:7784' } });
  assert.equal(await run(['connect', 'host2'], h.deps), 1);
  assert.equal(h.requests[0]!.addr, '127.0.0.1:7784');
  assert.match(h.err(), /no router answers on 127\.0\.0\.1:7784/);
  h = harness('down', { env: { TSWEAVE_HTTP_ADDR: 'nope' } });
  assert.equal(await run(['status'], h.deps), 2);
  assert.equal(h.err(), 'tsweave: invalid TSWEAVE_HTTP_ADDR "nope": must be HOST:PORT like 127.0.0.1:6784\n');
});

test('an HTTP error prints the body as the message, exit 1', async () => {
  const h = harness({ 'POST /attach': { status: 500, body: 'IPAM is disabled (launched with --ipalloc-range "")\n' } });
  assert.equal(await run(['attach', 'web'], h.deps), 1);
  assert.equal(h.err(), 'tsweave: IPAM is disabled (launched with --ipalloc-range "")\n');
  assert.equal(h.out(), '');
});

test('status pages are formatted client-side from GET /snapshot', async () => {
  let h = harness({ 'GET /snapshot': json(STATUS) });
  assert.equal(await run(['status'], h.deps), 0);
  assert.match(h.out(), /^\n {8}Version: 0\.1\.0\n\n {8}Service: router\n/);
  assert.match(h.out(), / TrustedSubnets: none\n\n$/, 'a blank line after, like weave');
  h = harness({ 'GET /snapshot': json(STATUS) });
  assert.equal(await run(['status', 'connections'], h.deps), 0);
  assert.equal(h.out(), '-> 10.0.0.2:6783         established encrypted   sleeve aa:bb:cc:dd:ee:02(host2) mtu=1376\n');
  h = harness({ 'GET /snapshot': json(STATUS) });
  assert.equal(await run(['status', 'targets'], h.deps), 0);
  assert.equal(h.out(), 'host2\n');
  h = harness({ 'GET /snapshot': json(STATUS) });
  assert.equal(await run(['status', 'peers'], h.deps), 0);
  assert.match(h.out(), /^aa:bb:cc:dd:ee:01\(host1\)\n {3}-> 10\.0\.0\.2:6783 /);
  h = harness({ 'GET /snapshot': json(STATUS) });
  assert.equal(await run(['status', 'ipam'], h.deps), 0);
  assert.equal(h.out(), '', 'no ipam section → nothing');
  h = harness({ 'GET /snapshot': json({ nope: 1 }) });
  assert.equal(await run(['status'], h.deps), 1);
  assert.match(h.err(), /answer to \/snapshot is not what this CLI expects/);
});

test('connect, forget: JSON bodies as the API expects', async () => {
  const h = harness({ 'POST /connect': { status: 204, body: '' }, 'POST /forget': { status: 204, body: '' } });
  assert.equal(await run(['connect', '--replace', 'host2', 'host3:7000'], h.deps), 0);
  assert.equal(await run(['forget', 'host3:7000'], h.deps), 0);
  assert.deepEqual(h.requests.map(({ method, path, body }) => ({ method, path, body })), [
    { method: 'POST', path: '/connect', body: { peers: ['host2', 'host3:7000'], replace: true } },
    { method: 'POST', path: '/forget', body: { peers: ['host3:7000'] } },
  ]);
  assert.equal(h.out(), '');
});

test('attach and detach print the addresses without prefix', async () => {
  const h = harness({
    'POST /attach': json({ addrs: ['10.32.0.1/12', '10.2.1.1/24'] }),
    'POST /detach': json({ addrs: ['10.32.0.1/12'] }),
  });
  assert.equal(await run(['attach', '--hostname', 'web.weave.local', 'net:default', 'ip:10.2.1.1/24', 'web'], h.deps), 0);
  assert.equal(await run(['detach', '10.32.0.1/12', 'web'], h.deps), 0);
  assert.equal(h.out(), '10.32.0.1 10.2.1.1\n10.32.0.1\n');
  assert.deepEqual(h.requests[0]!.body, {
    container: 'web', addrs: ['net:default', 'ip:10.2.1.1/24'], withoutDns: false, hostname: 'web.weave.local' });
  assert.deepEqual(h.requests[1]!.body, { container: 'web', addrs: ['10.32.0.1/12'] });
  const h2 = harness({ 'POST /attach': json({ addrs: ['10.32.0.1/12'] }) });
  await run(['attach', '--without-dns', 'web'], h2.deps);
  assert.deepEqual(h2.requests[0]!.body, { container: 'web', addrs: [], withoutDns: true });
});

test('ps prints id (docker ids cut to 12), mac and CIDRs', async () => {
  const long = 'caa1d4ee2570' + 'a'.repeat(52);
  const h = harness({
    'GET /ps': json([
      { containerId: 'weave:expose', mac: '7a:c4:8b:a1:e6:ad', addrs: ['10.2.5.2/24'] },
      { containerId: 'b07565b06c53', mac: 'ae:e3:07:9c:8c:d4', addrs: [] },
      { containerId: long, mac: 'ba:8c:b9:dc:e1:c9', addrs: ['10.2.1.1/24', '10.2.2.1/24'] },
    ]),
    'GET /ps?container=web&container=pid%3A4': json([]),
  });
  assert.equal(await run(['ps'], h.deps), 0);
  assert.equal(h.out(), [
    'weave:expose 7a:c4:8b:a1:e6:ad 10.2.5.2/24',
    'b07565b06c53 ae:e3:07:9c:8c:d4',
    'caa1d4ee2570 ba:8c:b9:dc:e1:c9 10.2.1.1/24 10.2.2.1/24',
    '',
  ].join('\n'));
  assert.equal(await run(['ps', 'web', 'pid:4'], h.deps), 0);
});

test('dns commands', async () => {
  const h = harness({
    'PUT /dns': { status: 204, body: '' },
    'DELETE /dns': { status: 204, body: '' },
    'GET /dns-lookup?name=web': json({ addrs: ['10.32.0.1', '10.32.0.2'] }),
    'GET /dns-args': json({ address: '172.17.0.1', domain: 'weave.local.' }),
  });
  assert.equal(await run(['dns-add', '10.32.0.5', 'web', '-h', 'x.weave.local'], h.deps), 0);
  assert.equal(await run(['dns-remove', '10.32.0.5', '-h', 'x.weave.local'], h.deps), 0);
  assert.deepEqual(h.requests.map(({ method, path, body }) => ({ method, path, body })), [
    { method: 'PUT', path: '/dns', body: { container: 'web', ips: ['10.32.0.5'], fqdn: 'x.weave.local' } },
    { method: 'DELETE', path: '/dns', body: { ips: ['10.32.0.5'], fqdn: 'x.weave.local' } },
  ]);
  assert.equal(await run(['dns-lookup', 'web'], h.deps), 0);
  assert.equal(await run(['dns-args'], h.deps), 0);
  assert.equal(h.out(), '10.32.0.1\n10.32.0.2\n--dns=172.17.0.1 --dns-search=weave.local.\n');
});

test('prime waits on GET /ring; a router that gives up says why (exit 1)', async () => {
  let h = harness({ 'GET /ring': { status: 204, body: '' } });
  assert.equal(await run(['prime'], h.deps), 0);
  assert.deepEqual(h.requests.map((r) => `${r.method} ${r.path}`), ['GET /ring']);
  assert.equal(h.out(), '');
  h = harness({ 'GET /ring': { status: 503, body: 'awaiting consensus (quorum: 2, known: 1)\n' } });
  assert.equal(await run(['prime'], h.deps), 1);
  assert.match(h.err(), /awaiting consensus \(quorum: 2, known: 1\)/);
});

test('rmpeer prints what each removal took over', async () => {
  const h = harness({
    'DELETE /peer/host3': { status: 200, body: '349525 IPs taken over from host3\n' },
    'DELETE /peer/aa%3Abb%3Acc%3Add%3Aee%3Aff': { status: 200, body: '0 IPs taken over from aa:bb:cc:dd:ee:ff' },
  });
  assert.equal(await run(['rmpeer', 'host3', 'aa:bb:cc:dd:ee:ff'], h.deps), 0);
  assert.equal(h.out(), '349525 IPs taken over from host3\n0 IPs taken over from aa:bb:cc:dd:ee:ff\n');
});

test('version: ours, and the router\'s when one answers', async () => {
  let h = harness({ 'GET /version': json({ version: '0.0.9' }) });
  assert.equal(await run(['version'], h.deps), 0);
  assert.equal(h.out(), `tsweave ${VERSION}\ntsweave router 0.0.9\n`);
  h = harness('down');
  assert.equal(await run(['version'], h.deps), 0);
  assert.equal(h.out(), `tsweave ${VERSION}\n`);
});

test('launch, stop, reset call the lifecycle; dry-run only prints', async () => {
  let h = harness();
  assert.equal(await run(['launch', 'host2'], h.deps), 0);
  assert.equal(h.launched.length, 1);
  assert.equal(h.launched[0]!.peers[0]!.host, 'host2');
  assert.equal(h.out(), 'aa:bb:cc:dd:ee:ff\n');
  h = harness({}, { env: { TSWEAVE_PASSWORD: 'hunter2' } });
  assert.equal(await run(['launch', '--dry-run'], h.deps), 0);
  assert.equal(h.launched.length, 0);
  assert.match(h.out(), /^--password +<redacted> \(from TSWEAVE_PASSWORD\)$/m);
  assert.ok(!h.out().includes('hunter2'));
  let forced: boolean | undefined;
  h = harness({}, { lifecycle: { reset: async (f) => { forced = f; } } });
  assert.equal(await run(['reset', '--force'], h.deps), 0);
  assert.equal(forced, true);
  h = harness({}, { lifecycle: { stop: async () => { throw new Error('tsweave is not running'); } } });
  assert.equal(await run(['stop'], h.deps), 1);
  assert.equal(h.err(), 'tsweave is not running\n');
});

test('expose and hide print the addresses as Weave does; a bad address is exit 2; a bug says internal error', async () => {
  let h = harness({
    'POST /expose': json({ addrs: ['10.32.0.1/12', '10.2.1.1/24'] }),
    'POST /hide': json({ addrs: ['10.2.1.1/24'] }),
  });
  assert.equal(await run(['expose', 'net:default', '10.2.1.1/24'], h.deps), 0);
  assert.equal(await run(['hide', '10.2.1.1/24'], h.deps), 0);
  assert.equal(h.out(), '10.32.0.1 10.2.1.1\n10.2.1.1\n');
  h = harness();
  assert.equal(await run(['expose', '10.2.1.300/24'], h.deps), 2);
  assert.equal(h.err().split('\n').length, 2);
  h = harness({}, { lifecycle: { stop: async () => { throw new TypeError('x is undefined'); } } });
  assert.equal(await run(['stop'], h.deps), 1);
  assert.equal(h.err(), 'tsweave: internal error: x is undefined\n');
});

test('launch --password warns that the process list shows it; the file and the environment do not', async () => {
  const h = harness({});
  assert.equal(await run(['launch', '--password', 'pw', '--dry-run'], h.deps), 0);
  assert.match(h.err(), /^tsweave: warning: --password can be read by every user in the process list .*--password-file FILE or the TSWEAVE_PASSWORD/);
  const quiet = harness({}, { env: { TSWEAVE_PASSWORD: 'pw' } });
  assert.equal(await run(['launch', '--dry-run'], quiet.deps), 0);
  assert.equal(quiet.err(), '');
});
