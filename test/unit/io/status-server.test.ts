// The read-only status listener against a real socket: /metrics, the topology page and its files, the
// JSON it polls, and what it refuses (a foreign Host, a web page's Origin, any method that is not a read,
// paths outside the fixed file table).
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { silentLogger } from '../../../src/core/logger.js';
import { serveStatus, type StatusServer } from '../../../src/io/status-server.js';

let server: StatusServer;
let scrapes = 0;

beforeAll(async () => {
  server = await serveStatus({
    host: '127.0.0.1',
    port: 0,
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', text: `weave_max_ips ${++scrapes}\n` }),
    topology: async () => ({ self: { name: 'aa:00:00:00:00:01' }, peers: [] }),
  }, silentLogger());
});

afterAll(async () => {
  await server.close();
});

interface Answer { status: number; body: string; headers: http.IncomingHttpHeaders }

function get(path: string, headers: http.OutgoingHttpHeaders = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port: server.port, method, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    r.on('error', reject);
    r.end();
  });
}

test('/metrics answers the exposition, read at each scrape', async () => {
  const a = await get('/metrics');
  assert.equal(a.status, 200);
  assert.match(String(a.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const b = await get('/metrics');
  assert.notEqual(a.body, b.body);
  assert.match(b.body, /^weave_max_ips \d+\n$/);
});

test('the page, its script, its style and the graph library from node_modules; / and /ui redirect to /ui/', async () => {
  const page = await get('/ui/');
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-type']), /^text\/html/);
  assert.match(page.body, /<script src="\/ui\/vendor\/cytoscape\.min\.js"><\/script>/);
  assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
  assert.equal(page.headers['x-frame-options'], 'DENY');
  assert.equal((await get('/ui/topology.js')).status, 200);
  assert.equal((await get('/ui/style.css')).status, 200);
  const lib = await get('/ui/vendor/cytoscape.min.js');
  assert.equal(lib.status, 200);
  assert.ok(lib.body.length > 100_000, 'the real library');
  assert.equal((await get('/ui')).headers.location, '/ui/');
  assert.equal((await get('/')).headers.location, '/ui/');
  const json = await get('/ui/topology.json');
  assert.equal(json.status, 200);
  assert.deepEqual(JSON.parse(json.body), { self: { name: 'aa:00:00:00:00:01' }, peers: [] });
});

test('HEAD is a read without a body', async () => {
  const h = await get('/metrics', {}, 'HEAD');
  assert.equal(h.status, 200);
  assert.equal(h.body, '');
});

test('no file outside the fixed table: traversal and unknown paths are 404', async () => {
  for (const p of ['/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/vendor/../../package.json', '/package.json', '/ui/index.html.bak']) {
    assert.equal((await get(p)).status, 404, p);
  }
});

test('web pages get nothing: a foreign Host, an Origin or a cross-site fetch is 403; writes are 405', async () => {
  assert.equal((await get('/metrics', { host: 'evil.example:6782' })).status, 403, 'DNS rebinding');
  assert.equal((await get('/ui/topology.json', { origin: 'http://evil.example' })).status, 403);
  assert.equal((await get('/ui/topology.json', { 'sec-fetch-site': 'cross-site' })).status, 403);
  assert.equal((await get('/ui/topology.json', { 'sec-fetch-site': 'same-origin' })).status, 200, "the page's own polls");
  assert.equal((await get('/metrics', { host: '10.1.2.3:6782' })).status, 200, 'an IP literal (Prometheus on another host)');
  assert.equal((await get('/metrics', { host: 'localhost:6782' })).status, 200);
  for (const m of ['POST', 'PUT', 'DELETE']) assert.equal((await get('/metrics', {}, m)).status, 405, m);
});

test('a taken address is a clear error naming --metrics-addr', async () => {
  await assert.rejects(
    serveStatus({ host: '127.0.0.1', port: server.port, metrics: async () => ({ contentType: '', text: '' }), topology: async () => ({}) }, silentLogger()),
    /127\.0\.0\.1:\d+ is in use; choose another with --metrics-addr/,
  );
});
