// The node:http transport against a real loopback server: what goes on the wire, errors, and no router.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiClient, ApiError, RouterNotRunningError, nodeHttpTransport, resolveApiAddress,
} from '../../../src/cli/api-client.js';

async function withServer(
  handler: http.RequestListener,
  fn: (port: number) => Promise<void>,
): Promise<void> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn((server.address() as AddressInfo).port);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
}

test('JSON request bodies and answers', async () => {
  const seen: { method?: string; url?: string; type?: string; body: string }[] = [];
  await withServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, type: req.headers['content-type'], body });
      if (req.url === '/attach') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ addrs: ['10.32.0.1/12'] }));
      } else {
        res.writeHead(500).end('container web not found\n');
      }
    });
  }, async (port) => {
    const api = new ApiClient(nodeHttpTransport, { host: '127.0.0.1', port });
    assert.deepEqual(await api.json('POST', '/attach', { container: 'web' }), { addrs: ['10.32.0.1/12'] });
    await assert.rejects(api.text('GET', '/ps'), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 500);
      assert.equal(err.message, 'container web not found');
      return true;
    });
  });
  assert.deepEqual(seen, [
    { method: 'POST', url: '/attach', type: 'application/json', body: '{"container":"web"}' },
    { method: 'GET', url: '/ps', type: undefined, body: '' },
  ]);
});

test('an error answer without a body still says what failed', async () => {
  await withServer((_req, res) => res.writeHead(503).end(), async (port) => {
    const api = new ApiClient(nodeHttpTransport, { host: '127.0.0.1', port });
    await assert.rejects(api.text('GET', '/report'), { message: 'the router answered GET /report with HTTP 503' });
  });
});

test('nothing listening → RouterNotRunningError naming the address', async () => {
  let port = 0;
  await withServer((_q, r) => r.end(), async (p) => { port = p; }); // a port that was free a moment ago
  const api = new ApiClient(nodeHttpTransport, { host: '127.0.0.1', port });
  await assert.rejects(api.text('GET', '/report'), (err: unknown) => {
    assert.ok(err instanceof RouterNotRunningError);
    assert.equal(err.code, 'ERR_NOT_RUNNING');
    assert.equal(err.message,
      `tsweave is not running (no router answers on 127.0.0.1:${port}); start it with 'tsweave launch'`);
    return true;
  });
});

test('API address: default, TSWEAVE_HTTP_ADDR, and a bad value', () => {
  const sock = () => '/run/tsweave/netns-1/api.sock';
  assert.deepEqual(resolveApiAddress({}, sock), { host: '127.0.0.1', port: 6784, socketPath: '/run/tsweave/netns-1/api.sock' });
  assert.match(resolveApiAddress({}).socketPath!, /^\/run\/tsweave\/netns-\d+\/api\.sock$/);
  // An explicit TCP address means TCP only, unless a socket is named too.
  assert.deepEqual(resolveApiAddress({ TSWEAVE_HTTP_ADDR: '127.0.0.2:7000' }, sock), { host: '127.0.0.2', port: 7000 });
  assert.deepEqual(resolveApiAddress({ TSWEAVE_HTTP_ADDR: '127.0.0.2:7000', TSWEAVE_API_SOCKET: '/x.sock' }, sock),
    { host: '127.0.0.2', port: 7000, socketPath: '/x.sock' });
  assert.throws(() => resolveApiAddress({ TSWEAVE_API_SOCKET: 'x.sock' }), /invalid TSWEAVE_API_SOCKET "x.sock": must be an absolute path/);
  assert.throws(() => resolveApiAddress({ TSWEAVE_HTTP_ADDR: '127.0.0.1:0' }),
    { code: 'ERR_CONFIG', message: 'invalid TSWEAVE_HTTP_ADDR "127.0.0.1:0": must be HOST:PORT like 127.0.0.1:6784' });
  assert.throws(() => resolveApiAddress({ TSWEAVE_HTTP_ADDR: ':6784' }), /must be HOST:PORT/);
});

test('the unix socket is used first; without one the request goes over TCP', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tsw-api-'));
  const socketPath = join(dir, 'api.sock');
  const onSocket = http.createServer((req, res) => res.end(`socket ${req.method} ${req.url}`));
  await new Promise<void>((r) => onSocket.listen(socketPath, r));
  try {
    await withServer((req, res) => res.end(`tcp ${req.method} ${req.url}`), async (port) => {
      const api = new ApiClient(nodeHttpTransport, { host: '127.0.0.1', port, socketPath });
      assert.equal(await api.text('POST', '/stop'), 'socket POST /stop');
      await new Promise<void>((r) => onSocket.close(() => r()));
      assert.equal(await api.text('GET', '/report'), 'tcp GET /report');
    });
  } finally {
    onSocket.close();
    await rm(dir, { recursive: true, force: true });
  }
});
