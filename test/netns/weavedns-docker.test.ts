// Issue 5, weaveDNS with Docker as the client: a real dockerd inside host h2 (no docker0, as our test
// dockerds run), containers started with the flags `tsweave dns-args` prints.
//
//   underlay ── h1 (router) ── web    netns, attach --hostname web.weave.local, busybox httpd :80
//            └─ h2 (router + dockerd)
//                 ├── client  docker --net=none --hostname client.weave.local $(tsweave dns-args), attached
//                 │           → its own resolver (busybox) asks h2's weaveDNS directly
//                 └── emb     docker on a user-defined network `tswnet` with $(tsweave dns-args):
//                             resolv.conf says 127.0.0.11 — Docker's embedded DNS, which forwards to us
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { requireRoot, killAndWait, type Netns } from '../support/netns.js';
import { ensureDockerInstalled, importBusyboxImage, startDockerd, TEST_IMAGE, type TestDockerd } from '../support/docker.js';
import { Cluster, waitFor, type Host } from '../support/cluster.js';

requireRoot('the weaveDNS Docker test');

const c = new Cluster('dnsdk');
let h1: Host, h2: Host, web: Netns;
let dockerd: TestDockerd | undefined;
let dnsArgs: string[] = [];
let webIp = '';

beforeAll(async () => {
  await ensureDockerInstalled();
  await c.init();
  [h1, h2] = await Promise.all([c.addHost(1), c.addHost(2)]);
  web = await c.addContainer('web');
  dockerd = await startDockerd({ netnsPath: h2.ns.path });
  c.lab.onCleanup(() => dockerd?.stop());
  await importBusyboxImage(dockerd);
  h2.env.DOCKER_HOST = dockerd.dockerHost;
  await c.ok(h1, 'launch', '--nickname', 'h1', '--ipalloc-init', 'consensus=2');
  await c.ok(h2, 'launch', '--nickname', 'h2', '--ipalloc-init', 'consensus=2', h1.ip);
  webIp = (await c.ok(h1, 'attach', '--hostname', 'web.weave.local', web.name)).trim();
  const www = await mkdtemp('/tmp/tsw-dnsdk-www-');
  c.lab.onCleanup(() => rm(www, { recursive: true, force: true }));
  await writeFile(`${www}/index.html`, 'hello from web\n');
  const httpd = spawn('ip', ['netns', 'exec', web.name, 'busybox', 'httpd', '-f', '-p', '80', '-h', www], { stdio: 'ignore' });
  c.lab.onCleanup(() => killAndWait(httpd));
  const out = await c.ok(h2, 'dns-args');
  assert.match(out, /^--dns=10\.\d+\.\d+\.\d+ --dns-search=weave\.local\.\n$/);
  dnsArgs = out.trim().split(' ');
});

afterAll(async () => {
  await c.cleanup();
});

const docker = async (...args: string[]) => dockerd!.docker(...args);

test('a Docker container run with dns-args resolves a container on another host by name and fetches its page', async () => {
  await docker('run', '-d', '--name', 'client', '--net=none', '--hostname', 'client.weave.local', ...dnsArgs, TEST_IMAGE, 'sleep', '100000');
  const ip = (await c.ok(h2, 'attach', 'client')).trim();
  const resolv = (await docker('exec', 'client', 'cat', '/etc/resolv.conf')).stdout;
  assert.match(resolv, new RegExp(`nameserver ${dnsArgs[0]!.slice('--dns='.length).replace(/\./g, '\\.')}`));
  assert.match(resolv, /search weave\.local/);
  const ns = await waitFor('busybox nslookup in the container', async () => {
    const r = await docker('exec', 'client', 'nslookup', 'web.weave.local').catch(() => undefined);
    return r && r.stdout.includes(webIp) ? r : undefined;
  }, 15_000, 500);
  assert.match(ns.stdout, new RegExp(`Address: ${webIp.replace(/\./g, '\\.')}`));
  // The short name, through the search domain and the libc resolver, in a TCP client (this image's busybox
  // wget crashes inside containers even for literal addresses, so the request is made with nc).
  const page = await docker('exec', 'client', 'sh', '-c', "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 5 web 80");
  assert.match(page.stdout, /^HTTP\/1\.[01] 200 OK/);
  assert.match(page.stdout, /\r\n\r\nhello from web\n$/);
  const ping = await docker('exec', 'client', 'ping', '-c', '1', '-W', '2', 'web');
  assert.match(ping.stdout, new RegExp(`PING web \\(${webIp.replace(/\./g, '\\.')}\\)`));
  // attach registered the Docker hostname (it is in the domain); h1 resolves it.
  assert.deepEqual((await c.ok(h1, 'dns-lookup', 'client')).trim(), ip);
});

test("Docker's embedded DNS (127.0.0.11 on a user-defined network) forwards to weaveDNS", async () => {
  await docker('network', 'create', '--subnet', '172.29.0.0/24', 'tswnet');
  await docker('run', '-d', '--name', 'emb', '--net=tswnet', ...dnsArgs, TEST_IMAGE, 'sleep', '100000');
  const resolv = (await docker('exec', 'emb', 'cat', '/etc/resolv.conf')).stdout;
  assert.match(resolv, /nameserver 127\.0\.0\.11/);
  const r = await waitFor('nslookup through the embedded DNS', async () => {
    const x = await docker('exec', 'emb', 'nslookup', 'web.weave.local').catch(() => undefined);
    return x && x.stdout.includes(webIp) ? x : undefined;
  }, 15_000, 500);
  assert.match(r.stdout, /Server:\s+127\.0\.0\.11/);
});

test("a Docker container's name disappears on the other host shortly after the container dies", async () => {
  await docker('rm', '-f', 'client');
  const t0 = Date.now();
  await waitFor('client.weave.local gone on h1', async () => (await c.ok(h1, 'dns-lookup', 'client')).trim() === '', 15_000, 200);
  console.log(`docker rm -f → name gone on the other host after ${Date.now() - t0} ms`);
});
