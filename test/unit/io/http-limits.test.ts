// io/http-limits.ts on real loopback sockets: a client cannot hold more than the caps, a silent or slow
// connection is cut, and a request whose handler takes its time is not.
import { afterEach, test } from 'vitest';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createLogger, silentLogger } from '../../../src/core/logger.js';
import { createLimitedServer, type HttpLimits, type LimitedServer } from '../../../src/io/http-limits.js';

const servers: LimitedServer[] = [];
const sockets: Socket[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => { s.close(r); s.closeAllConnections(); })));
});

async function serve(limits: HttpLimits, delayMs = 0): Promise<{ server: LimitedServer; port: number }> {
  const server = createLimitedServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.end('ok'), delayMs));
  }, silentLogger(), limits);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Opens a connection; resolves once connected. `closedAt` is set when it closes. */
async function open(port: number, localAddress = '127.0.0.1'): Promise<Socket & { closedAt?: number }> {
  const s: Socket & { closedAt?: number } = connect({ port, host: '127.0.0.1', localAddress });
  sockets.push(s);
  s.on('error', () => undefined);
  s.on('close', () => (s.closedAt = Date.now()));
  await new Promise<void>((r) => s.once('connect', () => r()));
  return s;
}

const openCount = (server: LimitedServer) => new Promise<number>((r) => server.getConnections((_e, n) => r(n)));

test('connections beyond the listener\'s cap and the address\'s cap are closed at once and counted', async () => {
  const { server, port } = await serve({ maxConnections: 5, maxPerAddress: 100 });
  for (let i = 0; i < 20; i++) await open(port);
  await sleep(200);
  assert.ok((await openCount(server)) <= 5, `${await openCount(server)} open`);
  assert.ok(server.limitStats.refusedFull >= 15, JSON.stringify(server.limitStats));

  const b = await serve({ maxConnections: 50, maxPerAddress: 3 });
  for (let i = 0; i < 10; i++) await open(b.port);
  const other = await open(b.port, '127.0.0.2');
  await sleep(200);
  assert.equal(await openCount(b.server), 4, 'three from 127.0.0.1, one from 127.0.0.2');
  assert.equal(b.server.limitStats.refusedPerAddress, 7);
  assert.equal(other.closedAt, undefined, 'another address still gets in');
});

test('a silent connection is closed after the idle deadline; one with a slow handler is not', async () => {
  const { server, port } = await serve({ idleBeforeRequestMs: 300 }, 900);
  const t0 = Date.now();
  const silent = await open(port);
  const asking = await open(port);
  let answer = '';
  asking.on('data', (d: Buffer) => (answer += d.toString()));
  asking.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  await sleep(1200);
  assert.ok(silent.closedAt !== undefined && silent.closedAt - t0 < 800, `silent closed after ${silent.closedAt! - t0} ms`);
  assert.match(answer, /^HTTP\/1.1 200/, 'the slow handler answered on its connection');
  assert.equal(server.limitStats.idleClosed, 1);
});

test('headers trickled byte by byte are cut by the headers deadline', async () => {
  const { port } = await serve({ headersTimeoutMs: 500, requestTimeoutMs: 500, checkIntervalMs: 100, idleBeforeRequestMs: 10_000 });
  const t0 = Date.now();
  const slow = await open(port);
  const text = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n';
  for (let i = 0; i < 40 && slow.closedAt === undefined; i++) {
    slow.write(text[i % text.length]!);
    await sleep(50);
  }
  await sleep(300);
  assert.ok(slow.closedAt !== undefined && slow.closedAt - t0 < 1500, `closed after ${slow.closedAt === undefined ? 'never' : slow.closedAt - t0} ms`);
});

test('an error the listening server emits (accept failing with EMFILE) is logged, never thrown', async () => {
  const lines: string[] = [];
  const server = createLimitedServer(() => undefined, createLogger('info', { write: (l: string) => void lines.push(l) }));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  // What net.Server does when accept() fails: an 'error' event, which throws when nobody listens.
  for (let i = 0; i < 2; i++) server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' }));
  assert.equal(lines.filter((l) => l.includes('http listener error')).length, 2);
});
