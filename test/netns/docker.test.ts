// Docker container resolution and death watching against a real, private dockerd
// (test/support/docker.ts: own socket and directories, no iptables, no docker0).
//
//   dockerd (unix:///tmp/tsw-dk-XXXXXX/docker.sock)
//     ├─ tsw-dk-<id>-web    --net=none --hostname web --domainname weave.local   (resolve, attach, ping)
//     ├─ tsw-dk-<id>-plain  --net=none --hostname plain                         (hostname without domain)
//     └─ tsw-dk-<id>-stop   stopped                                              ("is not running")
//   netns tsw-dk-<id>-h: bridge weave 10.32.0.254/12 ── vethwepl<web> ── web:ethwe 10.32.0.10/12
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { DeathWatch, type DeathReason } from '../../src/containers/death-watch.js';
import type { ContainerRef } from '../../src/core/ports.js';
import { DockerClient, dockerSocketPath } from '../../src/io/docker-client.js';
import { HostContainerRuntime, netnsIdentity, type ResolvedContainer } from '../../src/io/container-runtime.js';
import { IprouteHostNetwork, hostVethName } from '../../src/io/host-network.js';
import { containerPid, ensureDockerInstalled, importBusyboxImage, startDockerd, TEST_IMAGE, type TestDockerd } from '../support/docker.js';
import { NetnsLab, requireRoot, randomId } from '../support/netns.js';

describe('Docker client and container runtime against a real dockerd', () => {
  requireRoot('test/netns/docker.test.ts');
  const tag = `tsw-dk-${randomId()}`;
  const web = `${tag}-web`;
  const plain = `${tag}-plain`;
  const stopped = `${tag}-stop`;
  const lab = new NetnsLab('dk');
  let d: TestDockerd | undefined;
  let runtime: HostContainerRuntime;
  let client: DockerClient;
  const savedDockerHost = process.env.DOCKER_HOST;

  /** Waits for the first death report, failing after `ms`. */
  function nextDeath(watch: DeathWatch, ms: number): Promise<{ ref: ContainerRef; reason: DeathReason }> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no death reported within ${ms} ms`)), ms);
      watch.onDeath((ref, reason) => {
        clearTimeout(t);
        resolve({ ref, reason });
      });
    });
  }

  beforeAll(async () => {
    await ensureDockerInstalled();
    d = await startDockerd();
    await importBusyboxImage(d);
    await d.docker('run', '-d', '--name', web, '--net=none', '--hostname', 'web', '--domainname', 'weave.local', TEST_IMAGE, 'sleep', '100000');
    await d.docker('run', '-d', '--name', plain, '--net=none', '--hostname', 'plain', TEST_IMAGE, 'sleep', '100000');
    await d.docker('create', '--name', stopped, '--net=none', TEST_IMAGE, 'sleep', '100000');
    // The runtime finds Docker the way the daemon will: through DOCKER_HOST.
    process.env.DOCKER_HOST = d.dockerHost;
    runtime = new HostContainerRuntime({ logger: silentLogger() });
    client = new DockerClient();
  });

  afterAll(async () => {
    if (savedDockerHost === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = savedDockerHost;
    await lab.cleanup();
    await d?.stop();
  });

  test('DOCKER_HOST selects the socket; the API version is negotiated', async () => {
    assert.equal(dockerSocketPath(), d!.socketPath);
    assert.equal(client.socketPath, d!.socketPath);
    const v = await client.version();
    assert.match(v.ApiVersion, /^1\.\d+$/);
    assert.match(await client.negotiatedVersion(), /^1\.\d+$/);
  });

  test('resolve by name: id, pid, netns path and FQDN hostname', async () => {
    const ref = await runtime.resolve(web);
    const pid = await containerPid(d!, web);
    const fullId = (await d!.docker('inspect', '-f', '{{.Id}}', web)).stdout.trim();
    assert.equal(ref.kind, 'docker');
    assert.equal(ref.id, fullId);
    assert.equal(ref.name, web);
    assert.equal(ref.pid, pid);
    assert.equal(ref.netnsPath, `/proc/${pid}/ns/net`);
    assert.equal(ref.hostname, 'web.weave.local');
    assert.ok(ref.netnsId);
    assert.notEqual(await netnsIdentity(ref.netnsPath), await netnsIdentity('/proc/self/ns/net'));
    assert.equal(await runtime.isAlive(ref), true);
  });

  test('resolve by id prefix and full id gives the same container', async () => {
    const byName = await runtime.resolve(web);
    const byPrefix = await runtime.resolve(byName.id.slice(0, 12));
    const byId = await runtime.resolve(byName.id);
    assert.equal(byPrefix.id, byName.id);
    assert.equal(byId.netnsPath, byName.netnsPath);
  });

  test('hostname without a domain stays as it is', async () => {
    assert.equal((await runtime.resolve(plain)).hostname, 'plain');
  });

  test('listContainers sees the running containers', async () => {
    const names = (await client.listContainers()).flatMap((c) => c.Names);
    assert.ok(names.includes(`/${web}`) && names.includes(`/${plain}`));
    assert.ok(!names.includes(`/${stopped}`));
    assert.ok((await client.listContainers({ all: true })).some((c) => c.Names.includes(`/${stopped}`)));
  });

  test('unknown and stopped containers give precise errors', async () => {
    await assert.rejects(runtime.resolve(`${tag}-nosuch`), {
      code: 'ERR_CONTAINER_NOT_FOUND',
      message:
        `container "${tag}-nosuch" not found (not a Docker container, not a named network namespace in /run/netns, ` +
        'not pid:N or netns:/path)',
    });
    await assert.rejects(runtime.resolve(stopped), { code: 'ERR_CONTAINER_NOT_FOUND', message: `container ${stopped} is not running` });
  });

  test('attach the Docker container to a bridge in a host netns and ping it', async () => {
    const ref = await runtime.resolve(web);
    const host = await lab.addNetns('h');
    const net = new IprouteHostNetwork({ logger: silentLogger() }, { hostNetns: host.path });
    await net.ensureBridge('weave', 1376, '02:00:00:00:00:fe');
    await lab.ip(host, 'addr', 'add', '10.32.0.254/12', 'dev', 'weave');
    await net.ensureVeth({ netnsPath: ref.netnsPath, ifname: 'ethwe', hostName: hostVethName(ref.id), mtu: 1376 }, 'weave');
    await net.addContainerAddr(ref.netnsPath, 'ethwe', '10.32.0.10/12');
    await net.finishAttach(ref.netnsPath, 'ethwe', ['10.32.0.10/12']);
    const addrs = (await d!.docker('exec', web, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'ethwe')).stdout;
    assert.match(addrs, /inet 10\.32\.0\.10\/12/);
    await d!.docker('exec', web, 'ping', '-c', '1', '-W', '2', '10.32.0.254');
  });

  test('death watch: Docker "die" event reports the container', async () => {
    const ref = await runtime.resolve(plain);
    const watch = new DeathWatch({ runtime, clock: systemClock, logger: silentLogger(), events: runtime }, { checkIntervalMs: 60_000 });
    watch.watch(ref);
    watch.start();
    try {
      await new Promise((r) => setTimeout(r, 300)); // let the event stream subscribe
      const death = nextDeath(watch, 15_000);
      await d!.docker('kill', plain);
      const { ref: dead, reason } = await death;
      assert.equal(dead.id, ref.id);
      assert.equal(reason, 'event:die');
      assert.equal(watch.isWatching(ref.id), false);
      assert.equal(await runtime.isAlive(ref), false);
    } finally {
      watch.stop();
    }
  });

  test('death watch: periodic check catches a death without events', async () => {
    const ref: ResolvedContainer = await runtime.resolve(web);
    const watch = new DeathWatch({ runtime, clock: systemClock, logger: silentLogger() }, { checkIntervalMs: 200 });
    watch.watch(ref);
    watch.start();
    try {
      const death = nextDeath(watch, 15_000);
      await d!.docker('kill', web);
      const { ref: dead, reason } = await death;
      assert.equal(dead.id, ref.id);
      assert.equal(reason, 'check');
    } finally {
      watch.stop();
    }
  });
});
