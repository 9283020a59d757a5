import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { silentLogger } from '../../../src/core/logger.js';
import { MAX_PLUGIN_BODY_BYTES, servePlugin, type PluginServer } from '../../../src/io/docker-plugin-server.js';
import { callPlugin, forwarder } from '../../../src/io/plugin-keeper.js';

let dir: string;
let server: PluginServer;
const seen: Array<[string, unknown]> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsw-plugin-'));
  // A stale socket file (a router that did not stop cleanly) is replaced.
  await writeFile(join(dir, 'p.sock'), '');
  server = await servePlugin(join(dir, 'p.sock'), async (path, body) => {
    seen.push([path, body]);
    return { ok: true, body: { Echo: path } };
  }, silentLogger());
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

function raw(method: string, body: string | Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: server.path, method, path: '/NetworkDriver.Join' });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.end(body);
  });
}

test('a JSON call reaches the handler; the answer is Docker\'s content type', async () => {
  const r = await callPlugin(server.path, '/Plugin.Activate', {});
  assert.deepEqual(r, { ok: true, body: { Echo: '/Plugin.Activate' } });
});

test('not JSON, too large, or not POST: an Err answer, the handler never runs, the server stays up', async () => {
  const before = seen.length;
  const bad = await raw('POST', '{nope');
  assert.equal(bad.status, 500);
  assert.match(bad.body, /not JSON/);
  const big = await raw('POST', Buffer.alloc(MAX_PLUGIN_BODY_BYTES + 10, 0x20)).catch((e: Error) => ({ status: -1, body: e.message }));
  assert.ok(big.status === 500 || big.status === -1, `oversized body got ${big.status}`);
  const get = await raw('GET', '');
  assert.match(get.body, /POST/);
  assert.equal(seen.length, before);
  assert.equal((await callPlugin(server.path, '/Plugin.Activate', {})).ok, true);
  assert.ok(server.stats.badBodies >= 1);
});

test('the keeper answers at once that tsweave is not running when no router is behind it', async () => {
  const r = await forwarder(join(dir, 'no-router.sock'), '/run/docker/plugins/weavemesh.sock')('/IpamDriver.RequestAddress', {});
  assert.equal(r.ok, false);
  assert.match((r.body as { Err: string }).Err, /tsweave is not running/);
  const through = await forwarder(server.path, 'x')('/NetworkDriver.Join', { EndpointID: 'ab' });
  assert.deepEqual(through, { ok: true, body: { Echo: '/NetworkDriver.Join' } });
});
