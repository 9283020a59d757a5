// Issues 11.2 and 11.5 on a real router through the real CLI:
//
//   h1 (router, launched with --password) — and, inside h1, callers of three kinds:
//   root through the CLI (the unix socket), uid 65534 without groups, uid 65534 in the --api-group.
//
// The password never shows in the router's /proc/PID/cmdline (foreground and detached); a web page's
// request changes nothing; uid 65534 reads the status but changes nothing over TCP or the unix socket;
// the --api-group lets a member change the router; root through the CLI can do everything.
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { requireRoot } from '../support/netns.js';
import { Cluster, TSWEAVE_BIN, waitFor, type Host, type RunResult } from '../support/cluster.js';

requireRoot('the API security test');

const PW = 'Sup3rSecretMeshPassword';
const GID = 54_321; // a group id no one on the test machine uses; --api-group takes a numeric gid as is
const NOBODY = ['--reuid=65534', '--regid=65534'];

const c = new Cluster('apisec');
let h1: Host;

beforeAll(async () => {
  await c.init();
  h1 = await c.addHost(1);
});

afterAll(async () => {
  await c.cleanup();
});

/** `tsweave ARGS` in h1 as uid 65534 with the given supplementary groups (setpriv). */
async function asNobody(groups: string, ...args: string[]): Promise<RunResult> {
  return c.run(h1.ns, 'setpriv', ...NOBODY, groups, 'env', `TSWEAVE_DATA_DIR=${h1.dataDir}`, process.execPath, TSWEAVE_BIN, ...args);
}

/** One raw HTTP request in h1 (as root unless `user` is given); prints "STATUS BODY" or "ERR CODE". */
async function raw(o: { socket?: string; method: string; path: string; headers?: Record<string, string>; body?: string }, user: string[] = []) {
  const script = `const http = require('node:http'); const o = ${JSON.stringify(o)};
    const r = http.request({ ...(o.socket ? { socketPath: o.socket } : { host: '127.0.0.1', port: 6784 }), method: o.method,
      path: o.path, agent: false, headers: { ...(o.body ? { 'content-length': Buffer.byteLength(o.body) } : {}), ...o.headers } },
      (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => process.stdout.write(res.statusCode + ' ' + b)); });
    r.on('error', (e) => process.stdout.write('ERR ' + e.code)); r.end(o.body);`;
  const argv = user.length ? ['setpriv', ...user, process.execPath] : [process.execPath];
  const r = await c.run(h1.ns, argv[0]!, ...argv.slice(1), '-e', script);
  return r.stdout;
}

function routerSocket(pid: number): string {
  const ino = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/net`))![1];
  return `/run/tsweave/netns-${ino}/api.sock`;
}

async function targets(): Promise<string> {
  return c.ok(h1, 'status', 'targets');
}

test('launch --foreground --password: the running router\'s command line does not hold the password', async () => {
  const child = spawn('ip', ['netns', 'exec', h1.ns.name, process.execPath, TSWEAVE_BIN, 'launch', '--foreground',
    '--password', PW, '--nickname', 'h1'], { env: c.envFor(h1), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await waitFor('the foreground router to answer', async () => (await c.tsweave(h1, 'status')).code === 0, 60_000);
    // `ip netns exec` execs the command: the child's pid is the router's.
    assert.equal(await c.routerPid(h1), child.pid);
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'latin1');
    assert.doesNotMatch(cmdline, new RegExp(PW));
    assert.match(cmdline, /--password <hidden>/);
    assert.doesNotMatch(readFileSync(`/proc/${child.pid}/environ`, 'latin1'), new RegExp(PW));
    assert.match(stderr, /warning: --password can be read by every user in the process list/);
    await c.ok(h1, 'stop');
    await exited;
  } finally {
    child.kill('SIGKILL');
  }
}, 120_000);

test('launch --password (detached): the daemon\'s command line and environment do not hold it', async () => {
  await c.ok(h1, 'launch', '--password', PW, '--nickname', 'h1');
  const pid = (await c.routerPid(h1))!;
  assert.doesNotMatch(readFileSync(`/proc/${pid}/cmdline`, 'latin1'), new RegExp(PW));
  assert.doesNotMatch(readFileSync(`/proc/${pid}/environ`, 'latin1'), new RegExp(PW));
}, 120_000);

test('the API socket is root-only (0600 in a 0700 directory) without --api-group', async () => {
  const sock = routerSocket((await c.routerPid(h1))!);
  const st = statSync(sock);
  assert.ok(st.isSocket());
  assert.deepEqual([st.mode & 0o777, st.uid, st.gid], [0o600, 0, 0]);
  const dir = statSync(sock.replace(/\/api\.sock$/, ''));
  assert.deepEqual([dir.mode & 0o777, dir.uid], [0o700, 0]);
});

test('a web page can neither change nor read the router', async () => {
  const stop = await raw({ method: 'POST', path: '/stop', headers: { origin: 'http://evil.example', 'content-type': 'text/plain' }, body: 'x' });
  assert.match(stop, /^403 /);
  const plain = await raw({ method: 'POST', path: '/stop', headers: { 'content-type': 'text/plain' }, body: 'x' });
  assert.match(plain, /^415 /);
  const rebind = await raw({ method: 'GET', path: '/report', headers: { host: 'rebind.evil.example:6784' } });
  assert.match(rebind, /^403 /);
  assert.doesNotMatch(rebind, /h1/);
  assert.equal((await c.tsweave(h1, 'status')).code, 0, 'the router still runs');
});

test('uid 65534 reads the status but changes nothing, over TCP or the unix socket', async () => {
  const sock = routerSocket((await c.routerPid(h1))!);
  const status = await asNobody('--clear-groups', 'status');
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /Name: .*\(h1\)/);

  const connect = await asNobody('--clear-groups', 'connect', '10.9.9.9');
  assert.notEqual(connect.code, 0);
  assert.match(connect.stderr, /permission denied on the router's API socket/);
  for (const args of [['rmpeer', 'h9'], ['dns-add', '10.32.0.9', '-h', 'x.weave.local']]) {
    assert.notEqual((await asNobody('--clear-groups', ...args)).code, 0, args.join(' '));
  }
  const nobody = [...NOBODY, '--clear-groups'];
  assert.equal(await raw({ socket: sock, method: 'GET', path: '/report' }, nobody), 'ERR EACCES');
  for (const [method, path] of [['POST', '/stop'], ['POST', '/ip/intruder'], ['PUT', '/ip/intruder/10.32.0.9/12'], ['DELETE', '/peer']]) {
    assert.match(await raw({ method: method!, path: path! }, nobody), /^403 /, `${method} ${path}`);
  }
  assert.doesNotMatch(await targets(), /10\.9\.9\.9/);
  const ps = await c.ok(h1, 'report');
  assert.doesNotMatch(ps, /intruder/);
  assert.equal((await c.tsweave(h1, 'status')).code, 0, 'the router still runs');
});

test('root through the CLI changes the router; root scripts keep Weave\'s IPAM routes on TCP', async () => {
  await c.ok(h1, 'connect', '10.9.9.9');
  assert.match(await targets(), /10\.9\.9\.9/);
  await c.ok(h1, 'forget', '10.9.9.9');
  assert.doesNotMatch(await targets(), /10\.9\.9\.9/);
  // As root, POST /ip over TCP passes the access check (the allocation itself may wait for the ring).
  assert.doesNotMatch(await raw({ method: 'POST', path: '/ip/rootscript?timeout=1' }), /^403 /);
  // The other changing routes are not on TCP, even for root: the CLI uses the socket.
  assert.match(await raw({ method: 'POST', path: '/connect', headers: { 'content-type': 'application/json' }, body: '{"peers":["10.9.9.8"]}' }),
    /^403 .*unix socket/);
}, 60_000);

test('--api-group: its members change the router through the socket (0660 in a 0750 directory), others still cannot', async () => {
  await c.ok(h1, 'stop');
  await c.ok(h1, 'launch', '--nickname', 'h1', '--api-group', String(GID));
  const sock = routerSocket((await c.routerPid(h1))!);
  const st = statSync(sock);
  assert.deepEqual([st.mode & 0o777, st.uid, st.gid], [0o660, 0, GID]);
  const dir = statSync(sock.replace(/\/api\.sock$/, ''));
  assert.deepEqual([dir.mode & 0o777, dir.gid], [0o750, GID]);

  const member = await asNobody(`--groups=${GID}`, 'connect', '10.9.9.7');
  assert.equal(member.code, 0, member.stderr);
  assert.match(await targets(), /10\.9\.9\.7/);
  const outsider = await asNobody('--clear-groups', 'connect', '10.9.9.6');
  assert.notEqual(outsider.code, 0);
  assert.doesNotMatch(await targets(), /10\.9\.9\.6/);
  await c.ok(h1, 'stop');
}, 120_000);
