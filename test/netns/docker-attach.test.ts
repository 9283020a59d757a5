// Issue 2, Docker: a real dockerd inside host h2's namespace, a container started with --net=none and
// attached by its name, reaching a namespace "container" on the other host through the encrypted overlay.
//
//   underlay ── h1 (router) ── c1 10.32.0.1/12 (netns)
//            └─ h2 (router + dockerd) ── web 10.32.0.9/12 (Docker, --net=none)
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { requireRoot, type Netns } from '../support/netns.js';
import { ensureDockerInstalled, importBusyboxImage, startDockerd, TEST_IMAGE, type TestDockerd } from '../support/docker.js';
import { Cluster, waitFor, type Host } from '../support/cluster.js';

requireRoot('the Docker attach test');

const PW = randomBytes(12).toString('hex');
const c = new Cluster('dk');
let h1: Host, h2: Host, c1: Netns;
let dockerd: TestDockerd | undefined;

beforeAll(async () => {
  await ensureDockerInstalled();
  await c.init();
  [h1, h2] = await Promise.all([c.addHost(1), c.addHost(2)]);
  c1 = await c.addContainer('c1');
  dockerd = await startDockerd({ netnsPath: h2.ns.path });
  c.lab.onCleanup(() => dockerd?.stop());
  await importBusyboxImage(dockerd);
  h2.env.DOCKER_HOST = dockerd.dockerHost;
  await c.ok(h1, 'launch', '--password', PW, '--nickname', 'h1');
  await c.ok(h2, 'launch', '--password', PW, '--nickname', 'h2', h1.ip);
  await c.ok(h1, 'attach', '10.32.0.1/12', c1.name);
});

afterAll(async () => {
  await c.cleanup();
});

/** Waits until the Docker container `web` pings c1 on the other host. */
async function webPingsC1(what: string): Promise<void> {
  const ping = await waitFor(what, async () => {
    try {
      return await dockerd!.docker('exec', 'web', 'ping', '-c', '2', '-W', '2', '10.32.0.1');
    } catch {
      return undefined;
    }
  }, 20_000, 500);
  assert.match(ping.stdout, /2 packets received/);
}

test('a --net=none Docker container attached by name reaches a container on the other host', async () => {
  await dockerd!.docker('run', '-d', '--name', 'web', '--net=none', TEST_IMAGE, 'httpd', '-f', '-p', '80', '-h', '/var/www');
  const out = await c.ok(h2, 'attach', '10.32.0.9/12', 'web');
  assert.equal(out.trim(), '10.32.0.9');
  await waitFor('overlay established', async () => / established /.test(await c.ok(h1, 'status', 'connections')));
  await webPingsC1('docker exec ping across hosts');
  // And the other way: the netns container fetches the page the Docker container serves.
  const page = await c.run(c1, 'busybox', 'wget', '-q', '-O', '-', 'http://10.32.0.9/');
  assert.equal(page.code, 0, page.stderr);
  assert.equal(page.stdout.trim(), 'hello');
  const ps = await c.ok(h2, 'ps');
  assert.match(ps, /10\.32\.0\.9\/12/);
});

test('docker restart: ethwe comes back in the new namespace with the same address, ping works; rm releases it', async () => {
  const pidBefore = (await dockerd!.docker('inspect', '-f', '{{.State.Pid}}', 'web')).stdout.trim();
  await dockerd!.docker('restart', '-t', '1', 'web');
  const pid = (await dockerd!.docker('inspect', '-f', '{{.State.Pid}}', 'web')).stdout.trim();
  assert.notEqual(pid, pidBefore, 'docker restart gave the same process');
  const addr = await waitFor('ethwe back after docker restart', async () => {
    const r = await dockerd!.docker('exec', 'web', 'ip', '-o', '-4', 'addr', 'show', 'ethwe').catch(() => undefined);
    return r?.stdout.includes('inet') ? r.stdout : undefined;
  }, 20_000, 250);
  assert.match(addr, /inet 10\.32\.0\.9\/12 /);
  await webPingsC1('ping across hosts after the restart');
  assert.match(await c.ok(h2, 'ps', 'web'), /10\.32\.0\.9\/12/);

  // Removed: the claim goes, so another container may take the address.
  await dockerd!.docker('rm', '-f', 'web');
  await dockerd!.docker('run', '-d', '--name', 'web2', '--net=none', TEST_IMAGE, 'sleep', '100000');
  const again = await waitFor('the address free again after docker rm', async () => {
    const r = await c.tsweave(h2, 'attach', '10.32.0.9/12', 'web2');
    return r.code === 0 ? r.stdout : undefined;
  }, 20_000, 500);
  assert.equal(again.trim(), '10.32.0.9');
});

test('restarted while the router was down (a reboot: Docker first): ethwe is back with its address after launch', async () => {
  // web2 holds 10.32.0.9 from the test above.
  await c.ok(h2, 'stop');
  await dockerd!.docker('restart', '-t', '1', 'web2');
  const missing = await dockerd!.docker('exec', 'web2', 'ip', '-o', '-4', 'addr', 'show', 'ethwe').then(() => 'there', () => 'missing');
  assert.equal(missing, 'missing', 'a new namespace has no ethwe');
  await c.ok(h2, 'launch', '--password', PW, '--nickname', 'h2');
  const addr = await waitFor('ethwe back after the router is launched again', async () => {
    const r = await dockerd!.docker('exec', 'web2', 'ip', '-o', '-4', 'addr', 'show', 'ethwe').catch(() => undefined);
    return r?.stdout.includes('inet') ? r.stdout : undefined;
  }, 20_000, 250);
  assert.match(addr, /inet 10\.32\.0\.9\/12 /);
  await waitFor('web2 pings c1 across hosts', async () =>
    dockerd!.docker('exec', 'web2', 'ping', '-c', '1', '-W', '1', '10.32.0.1').then(() => true, () => false), 20_000, 500);
});

test('attach names an unknown container precisely', async () => {
  const r = await c.tsweave(h2, 'attach', '10.32.0.10/12', 'no-such-container');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /container "no-such-container" not found/);
});
