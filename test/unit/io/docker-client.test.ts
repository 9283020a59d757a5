// DockerClient against a fake Engine API served on a unix socket in a temp dir (no Docker needed).
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DockerClient, DockerUnavailableError, compareVersions, dockerSocketPath, parseEvent, type DockerEvent,
} from '../../../src/io/docker-client.js';

let dir: string;
let server: Server;
let socketPath: string;
const requests: string[] = [];
let apiVersion = '1.41';
let eventsRes: ServerResponse | undefined;

const WEB = {
  Id: 'f00dfeed'.repeat(8),
  Name: '/web',
  State: { Running: true, Pid: 4242, Status: 'running' },
  Config: { Hostname: 'web', Domainname: 'weave.local' },
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsw-docker-'));
  socketPath = join(dir, 'docker.sock');
  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const url = new URL(req.url!, 'http://docker');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/version') return json(200, { Version: '20.10.24', ApiVersion: apiVersion, MinAPIVersion: '1.12' });
    const m = /^\/v[\d.]+(\/.*)$/.exec(url.pathname);
    const path = m?.[1];
    if (path === '/containers/web/json' || path === `/containers/${WEB.Id.slice(0, 12)}/json`) return json(200, WEB);
    if (path === '/containers/ambiguous/json') return json(400, { message: 'multiple IDs found with provided prefix: ambiguous' });
    if (path === '/containers/json') return json(200, [{ Id: WEB.Id, Names: ['/web'], State: 'running' }]);
    if (path?.startsWith('/containers/') && path.endsWith('/json')) return json(404, { message: 'No such container' });
    if (path === '/events') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      eventsRes = res;
      return;
    }
    json(404, { message: 'page not found' });
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

test('DOCKER_HOST: unix sockets only, default /var/run/docker.sock', () => {
  assert.equal(dockerSocketPath({}), '/var/run/docker.sock');
  assert.equal(dockerSocketPath({ DOCKER_HOST: 'unix:///tmp/x/docker.sock' }), '/tmp/x/docker.sock');
  assert.throws(() => dockerSocketPath({ DOCKER_HOST: 'tcp://1.2.3.4:2375' }), {
    code: 'ERR_CONFIG',
    message: 'invalid DOCKER_HOST "tcp://1.2.3.4:2375": only unix sockets are supported, like unix:///var/run/docker.sock',
  });
});

test('negotiates the API version once and uses it in paths; capped at the client maximum', async () => {
  requests.length = 0;
  const c = new DockerClient({ socketPath });
  const info = await c.inspectContainer('web');
  assert.equal(info?.State.Pid, 4242);
  await c.inspectContainer('web');
  assert.deepEqual(requests, ['GET /version', 'GET /v1.41/containers/web/json', 'GET /v1.41/containers/web/json']);
  apiVersion = '1.99';
  try {
    assert.equal(await new DockerClient({ socketPath }).negotiatedVersion(), '1.43');
  } finally {
    apiVersion = '1.41';
  }
  apiVersion = '1.20';
  try {
    await assert.rejects(new DockerClient({ socketPath }).negotiatedVersion(), /Docker API version 1\.20 .* is too old: tsweave needs 1\.24 or newer/);
  } finally {
    apiVersion = '1.41';
  }
});

test('inspect: unknown → undefined; API errors carry Docker\'s message; list works', async () => {
  const c = new DockerClient({ socketPath });
  assert.equal(await c.inspectContainer('nosuch'), undefined);
  assert.equal((await c.inspectContainer(WEB.Id.slice(0, 12)))?.Id, WEB.Id);
  await assert.rejects(c.inspectContainer('ambiguous'), {
    code: 'ERR_HOST_NETWORK',
    message: 'Docker refused to inspect container "ambiguous": multiple IDs found with provided prefix: ambiguous',
  });
  assert.deepEqual((await c.listContainers()).map((x) => x.Names[0]), ['/web']);
});

test('absent socket: a clear error naming the socket and DOCKER_HOST', async () => {
  const missing = join(dir, 'nope', 'docker.sock');
  const err = await new DockerClient({ socketPath: missing }).inspectContainer('web').then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof DockerUnavailableError);
  assert.equal(
    err.message,
    `cannot talk to Docker at unix://${missing}: no such socket (is dockerd running? set DOCKER_HOST=unix:///path/to/docker.sock for another socket)`,
  );
});

test('a daemon that does not answer times out', async () => {
  const { createServer: createNetServer } = await import('node:net');
  const conns: import('node:net').Socket[] = [];
  const silent = createNetServer((sock) => conns.push(sock));
  const p = join(dir, 'silent.sock');
  await new Promise<void>((r) => silent.listen(p, r));
  try {
    await assert.rejects(new DockerClient({ socketPath: p, timeoutMs: 100 }).version(), {
      message: `Docker at unix://${p} did not answer GET /version within 100 ms`,
    });
  } finally {
    for (const sock of conns) sock.destroy();
    silent.close();
  }
});

test('events stream: line-delimited JSON split across chunks; end of stream is reported once', async () => {
  const c = new DockerClient({ socketPath });
  const events: DockerEvent[] = [];
  const errors: Error[] = [];
  eventsRes = undefined;
  const stream = c.events((e) => events.push(e), (e) => errors.push(e));
  const current = () => eventsRes as ServerResponse | undefined;
  for (let i = 0; i < 200 && !current(); i++) await new Promise((r) => setTimeout(r, 5));
  const res = current();
  assert.ok(res, 'client subscribed');
  assert.match(requests.at(-1)!, /^GET \/v1\.41\/events\?filters=/);
  assert.deepEqual(JSON.parse(decodeURIComponent(requests.at(-1)!.split('filters=')[1]!)), {
    type: ['container'],
    event: ['die', 'destroy', 'start'],
  });
  const die = JSON.stringify({ status: 'die', id: WEB.Id, Type: 'container', Action: 'die', Actor: { ID: WEB.Id, Attributes: { name: 'web' } }, time: 1 });
  res.write(die.slice(0, 20));
  await new Promise((r) => setTimeout(r, 20));
  res.write(die.slice(20) + '\n' + JSON.stringify({ Type: 'network', Action: 'connect', Actor: { ID: 'x' } }) + '\nnot json\n');
  for (let i = 0; i < 200 && events.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(events, [{ action: 'die', id: WEB.Id, name: 'web', time: 1 }]);
  res.end();
  for (let i = 0; i < 200 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(errors.length, 1);
  assert.match(errors[0]!.message, /event stream .* ended/);
  stream.close();
});

test('parseEvent and compareVersions', () => {
  assert.deepEqual(parseEvent('{"status":"destroy","id":"abc"}'), { action: 'destroy', id: 'abc' });
  assert.equal(parseEvent('{"Type":"image","Action":"pull","Actor":{"ID":"x"}}'), undefined);
  assert.equal(parseEvent('garbage'), undefined);
  assert.equal(compareVersions('1.9', '1.41'), -1);
  assert.equal(compareVersions('1.41', '1.41'), 0);
  assert.equal(compareVersions('1.43', '1.41'), 1);
});
