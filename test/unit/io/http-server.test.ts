// The API's two doors against real sockets: what a web page, a foreign Host, a non-root TCP caller and a
// socket caller can do, and hostile paths (prototype keys, bad %-escapes, absolute-form targets).
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { connect } from 'node:net';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, silentLogger } from '../../../src/core/logger.js';
import { type ApiServer, serveApi } from '../../../src/io/http-server.js';
import { apiRoutes, type ApiBackend } from '../../../src/api/routes.js';
import type { Status } from '../../../src/api/status-types.js';

const calls: string[] = [];
const status = { version: '0.1.0', router: { targets: ['10.0.0.9:6783'], connections: [], peers: [] } } as unknown as Status;
const backend = {
  status: () => status,
  connect: (peers: string[]) => void calls.push(`connect ${peers.join(',')}`),
  stop: async () => void calls.push('stop'),
  ipamAllocator: () => ({ allocate: async (id: string) => (calls.push(`allocate ${id}`), { cidr: '10.32.0.1/12' }) }),
} as unknown as ApiBackend;

let dir: string;
let server: ApiServer;
let socketPath: string;
let callerUid: number | undefined = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsw-http-'));
  socketPath = join(dir, 'api.sock');
  server = await serveApi(apiRoutes(backend), {
    host: '127.0.0.1', port: 0, socket: { path: socketPath, gid: undefined, ownsDir: false },
    peerUid: async () => callerUid,
  }, silentLogger());
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

interface Answer { status: number; body: string }

function request(o: { method: string; path: string; headers?: http.OutgoingHttpHeaders; body?: string; unix?: boolean }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const r = http.request({
      ...(o.unix ? { socketPath } : { host: '127.0.0.1', port: server.port }),
      method: o.method, path: o.path, agent: false,
      headers: { ...(o.body === undefined ? {} : { 'content-length': Buffer.byteLength(o.body) }), ...o.headers },
    }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    r.on('error', reject);
    r.end(o.body);
  });
}

test('a cross-origin POST /stop as text/plain (what a web page can send) changes nothing', async () => {
  calls.length = 0;
  for (const unix of [false, true]) {
    const page = await request({ method: 'POST', path: '/stop', unix,
      headers: { origin: 'http://evil.example', 'content-type': 'text/plain' }, body: 'x' });
    assert.equal(page.status, 403);
    const noOrigin = await request({ method: 'POST', path: '/stop', unix, headers: { 'content-type': 'text/plain' }, body: 'x' });
    assert.equal(noOrigin.status, 415);
    const form = await request({ method: 'POST', path: '/connect', unix,
      headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'peers=1.2.3.4' });
    assert.equal(form.status, 415);
  }
  const untyped = await request({ method: 'POST', path: '/connect', unix: true, body: '{"peers":["1.2.3.4"]}' });
  assert.equal(untyped.status, 415, 'a body without a Content-Type');
  assert.deepEqual(calls, []);
});

test('a foreign Host (DNS rebinding) gets 403 and no data; loopback names are served', async () => {
  const r = await request({ method: 'GET', path: '/report', headers: { host: 'rebind.evil.example:6784' } });
  assert.equal(r.status, 403);
  assert.doesNotMatch(r.body, /10\.0\.0\.9/);
  const cross = await request({ method: 'GET', path: '/report', headers: { 'sec-fetch-site': 'cross-site' } });
  assert.equal(cross.status, 403);
  for (const host of ['127.0.0.1:6784', 'localhost', 'LOCALHOST:1', '[::1]:6784']) {
    const ok = await request({ method: 'GET', path: '/report', headers: { host } });
    assert.equal(ok.status, 200, host);
    assert.match(ok.body, /10\.0\.0\.9/);
  }
});

test('TCP serves reads to anyone, Weave IPAM changes to root only, everything else not at all', async () => {
  calls.length = 0;
  callerUid = 65534;
  assert.equal((await request({ method: 'GET', path: '/status/targets' })).status, 200);
  const alloc = await request({ method: 'POST', path: '/ip/c1' });
  assert.equal(alloc.status, 403);
  assert.match(alloc.body, /only to root \(caller uid 65534\)/);
  callerUid = undefined; // the connection is not in /proc/net/tcp: refused
  assert.equal((await request({ method: 'POST', path: '/ip/c1' })).status, 403);
  callerUid = 0;
  const rootAlloc = await request({ method: 'POST', path: '/ip/c1' });
  assert.deepEqual(rootAlloc, { status: 200, body: '10.32.0.1/12' });
  for (const [method, path] of [['POST', '/stop'], ['POST', '/connect'], ['PUT', '/dns'], ['DELETE', '/peer']]) {
    const r = await request({ method: method!, path: path!, headers: { 'content-type': 'application/json' }, body: '{"peers":["1.2.3.4"]}' });
    assert.equal(r.status, 403, `${method} ${path}: ${r.body}`);
    assert.match(r.body, /only on the router's unix socket/);
  }
  assert.deepEqual(calls, ['allocate c1']);
});

test('the unix socket (mode 0600 without a group) serves the changing routes', async () => {
  assert.equal((await stat(socketPath)).mode & 0o777, 0o600);
  calls.length = 0;
  const r = await request({ method: 'POST', path: '/connect', unix: true,
    headers: { 'content-type': 'application/json; charset=utf-8' }, body: '{"peers":["1.2.3.4"]}' });
  assert.equal(r.status, 204);
  assert.deepEqual(calls, ['connect 1.2.3.4']);
});

test('status pages are looked up as own keys: constructor and __proto__ are 400, not the report or a 500', async () => {
  for (const page of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    const r = await request({ method: 'GET', path: `/status/${page}` });
    assert.equal(r.status, 400, page);
    assert.match(r.body, new RegExp(`invalid status page "${page}"`));
  }
  assert.deepEqual(await request({ method: 'GET', path: '/status/targets' }), { status: 200, body: '10.0.0.9:6783\n' });
});

test('a malformed %-escape is a 400', async () => {
  const r = await request({ method: 'GET', path: '/ip/%E0%A4%A' });
  assert.equal(r.status, 400);
  assert.match(r.body, /malformed %-escape/);
});

test('an absolute-form request target is a 400 and the server keeps serving', async () => {
  const raw = await new Promise<string>((resolve, reject) => {
    const s = connect(server.port, '127.0.0.1');
    let out = '';
    s.on('data', (c) => (out += c));
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.end('GET http://[ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  });
  assert.match(raw, /^HTTP\/1\.1 400/);
  assert.equal((await request({ method: 'GET', path: '/version' })).status, 200);
});

test('refusals a web page or a local user can cause at will are logged once per kind, not once per request', async () => {
  const lines: string[] = [];
  const d = await mkdtemp(join(tmpdir(), 'tsw-http-log-'));
  const s = await serveApi(apiRoutes(backend), {
    host: '127.0.0.1', port: 0, socket: { path: join(d, 'api.sock'), gid: undefined, ownsDir: false }, peerUid: async () => 1000,
  }, createLogger('info', { write: (l: string) => void lines.push(l) }));
  try {
    for (let i = 0; i < 50; i++) {
      const r = await new Promise<number>((resolve, reject) => {
        const q = http.request({ host: '127.0.0.1', port: s.port, path: '/status', agent: false, headers: { origin: `http://evil${i}.example` } },
          (res) => { res.resume(); resolve(res.statusCode ?? 0); });
        q.on('error', reject);
        q.end();
      });
      assert.equal(r, 403);
    }
  } finally {
    await s.close();
    await rm(d, { recursive: true, force: true });
  }
  const refused = lines.filter((l) => l.includes('api request refused'));
  assert.equal(refused.length, 1, refused.join(''));
});
