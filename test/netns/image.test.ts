// The router image (issue 13): built with a real `docker build` from the top-level Dockerfile, run as a
// container with --net=host on one simulated host, talking to a router launched from the CLI (dist/) on
// the other. Also: `docker logs` is pino JSON, a killed router comes back (--restart=always) with its peer
// name, and `docker stop` stops it cleanly (SIGTERM, exit 0, "router stopped", API socket gone).
//
//   underlay 10.200.0.0/24
//     ├── h1 (netns): private dockerd; container `router` (tsweave/tsweave:0.1.0, --net=host = h1)
//     │                └─ container `web` (busybox, --net=none) attached 10.32.0.1/12 by `docker exec router tsweave attach`
//     └── h2 (netns): router from bin/tsweave (dist/), dials h1; netns c2 attached 10.32.0.2/12
//
// The base images come from scripts/build-base-image.sh (mmdebstrap; its tarballs are cached across runs,
// so only the first run on a machine spends a few minutes there).
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exec } from '../../src/io/exec.js';
import { Cluster, waitFor, type Host } from '../support/cluster.js';
import { ensureDockerInstalled, importBusyboxImage, startDockerd, TEST_IMAGE, type TestDockerd } from '../support/docker.js';
import { requireRoot, randomId, type Netns } from '../support/netns.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const IMAGE = 'tsweave/tsweave:0.1.0';
const PASSWORD = 'image-test-password';
const BUILD_TIMEOUT_MS = 900_000;
const PEER_NAME = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;
const CAP_SYS_RESOURCE = 24;

/**
 * `--privileged`, as the README says, where root has every capability. On this machine kind root lacks
 * CAP_SYS_RESOURCE, and runc then fails a privileged container ("unable to apply caps"): the README's
 * fallback gives the same rights without that one capability.
 */
function privilegeFlags(): string[] {
  const bounding = BigInt('0x' + (/^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'));
  if ((bounding >> BigInt(CAP_SYS_RESOURCE)) & 1n) return ['--privileged'];
  return ['--cap-add', 'ALL', '--cap-drop', 'SYS_RESOURCE', '--security-opt', 'seccomp=unconfined',
    '--security-opt', 'systempaths=unconfined', '--device', '/dev/net/tun'];
}

describe('the tsweave image runs the router as a container and meshes with a CLI router', () => {
  requireRoot('test/netns/image.test.ts');
  const cluster = new Cluster('img');
  const router = `tsw-img-${randomId()}-router`;
  const web = `tsw-img-${randomId()}-web`;
  let d: TestDockerd | undefined;
  let h1: Host;
  let h2: Host;
  let c2: Netns;
  let socketDir = '';
  let peerName = '';

  const docker = (...args: string[]) => d!.docker(...args);
  const inRouter = async (...args: string[]) => (await docker('exec', router, 'tsweave', ...args)).stdout;
  const logLines = async () => {
    const r = await docker('logs', router);
    return (r.stdout + r.stderr).split('\n').filter((l) => l.trim() !== '');
  };
  const established = async () =>
    / established /.test(await inRouter('status', 'connections').catch(() => '')) &&
    / established /.test(await cluster.ok(h2, 'status', 'connections').catch(() => ''));
  const pingsAcross = async () =>
    (await cluster.run(c2, 'ping', '-c', '1', '-W', '1', '10.32.0.1')).code === 0 &&
    (await docker('exec', web, 'ping', '-c', '1', '-W', '1', '10.32.0.2').then(() => true, () => false));

  beforeAll(async () => {
    await ensureDockerInstalled();
    await cluster.init();
    [h1, h2] = await Promise.all([cluster.addHost(1), cluster.addHost(2)]);
    c2 = await cluster.addContainer('c2');
    d = await startDockerd({ netnsPath: h1.ns.path });
    // The router in the container uses the host's /run (-v /run:/run): its API socket directory is named
    // after h1's network namespace inode.
    socketDir = `/run/tsweave/netns-${statSync(h1.ns.path).ino}`;
    const env = { ...process.env, DOCKER_HOST: d.dockerHost, DOCKER_BUILDKIT: '0' };
    await exec('bash', [join(ROOT, 'scripts/build-base-image.sh')], { env, timeoutMs: BUILD_TIMEOUT_MS });
    await exec('docker', ['build', '-t', IMAGE, ROOT], { env, timeoutMs: BUILD_TIMEOUT_MS });
    await importBusyboxImage(d);
  }, 2 * BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await d?.stop();
    await cluster.cleanup();
    if (socketDir) await rm(socketDir, { recursive: true, force: true });
    if (socketDir) await rm(`${socketDir}.json`, { force: true });
  });

  test('the image has the tools and no compiler', async () => {
    const r = await docker('run', '--rm', '--net=none', '--entrypoint', 'sh', IMAGE, '-c',
      'for c in node ip iptables nsenter tsweave gcc cc make python3 npm; do if command -v $c >/dev/null; then echo $c; fi; done');
    assert.deepEqual(r.stdout.trim().split('\n'), ['node', 'ip', 'iptables', 'nsenter', 'tsweave']);
  });

  test('docker run … launch: the router runs in the foreground and meshes with the CLI router on h2', async () => {
    // Its own data dir, not h1.dataDir: the cluster kills routers by the pid file there, and this
    // router's pid file would outlive the container that `docker rm -f` removes at cleanup.
    const dataDir = join(h1.dataDir, '..', 'h1-image-data');
    const pwFile = join(h1.dataDir, '..', 'h1-password');
    await writeFile(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
    await docker('run', '-d', '--name', web, '--net=none', TEST_IMAGE, 'sleep', '100000');
    // The README's command, plus the private dockerd's socket so `attach web` can ask it about `web`.
    await docker('run', '-d', '--name', router, '--restart=always',
      '--net=host', '--pid=host', ...privilegeFlags(),
      '-v', `${dataDir}:/var/lib/tsweave`, '-v', '/run:/run', '-v', `${pwFile}:/etc/tsweave/password:ro`,
      '-v', `${d!.socketPath}:${d!.socketPath}`, '-e', `DOCKER_HOST=${d!.dockerHost}`,
      // --no-plugin: the Docker plugin (tested in docker-plugin.test.ts) would serve in the host's shared /run.
      IMAGE, 'launch', '--password-file', '/etc/tsweave/password', '--nickname', 'h1', '--no-plugin');
    await waitFor('the containerised router to answer', async () => (await inRouter('status')).length > 0, 60_000, 500);
    peerName = (await logLines()).find((l) => PEER_NAME.test(l)) ?? '';
    assert.match(peerName, PEER_NAME, 'launch prints the peer name to the container log');
    assert.ok(existsSync(`${socketDir}/api.sock`), 'API socket in the host /run');

    await cluster.ok(h2, 'launch', '--password', PASSWORD, '--nickname', 'h2', h1.ip);
    await inRouter('attach', '10.32.0.1/12', web);
    await cluster.ok(h2, 'attach', '10.32.0.2/12', c2.name);
    await waitFor('h1 and h2 established', established, 30_000);
    await waitFor('web and c2 reach each other', pingsAcross, 30_000);
    // The CLI on h1 itself (not only `docker exec`) talks to the containerised router through /run.
    assert.match(await cluster.ok(h1, 'status', 'connections'), / established /);
  });

  test('docker logs: pino JSON lines (and the peer name launch prints)', async () => {
    const lines = await logLines();
    const json = lines.filter((l) => !PEER_NAME.test(l)).map((l) => JSON.parse(l) as { level?: unknown; time?: unknown; msg?: unknown });
    assert.ok(json.length >= 3, `log lines: ${lines.length}`);
    for (const j of json) assert.ok(typeof j.level === 'number' && typeof j.time === 'number', JSON.stringify(j));
    assert.ok(!lines.some((l) => l.includes(PASSWORD)), 'the password is never logged');
  });

  test('--restart=always: a killed router comes back with its peer name and reconnects', async () => {
    const pid = Number((await docker('inspect', '-f', '{{.State.Pid}}', router)).stdout.trim());
    assert.ok(Number.isInteger(pid) && pid > 1, `router pid ${pid}`);   // never kill(0): our own group
    process.kill(pid, 'SIGKILL');   // not `docker kill`: Docker does not restart a container it was told to stop
    await waitFor('the router container restarted', async () =>
      (await docker('inspect', '-f', '{{.RestartCount}} {{.State.Running}}', router)).stdout.trim() === '1 true', 60_000, 500);
    await waitFor('the restarted router answers', async () => (await inRouter('status')).length > 0, 60_000, 500);
    const names = (await logLines()).filter((l) => PEER_NAME.test(l));
    assert.deepEqual(names, [peerName, peerName], 'same peer name after the restart (kept in /var/lib/tsweave)');
    await waitFor('h1 and h2 established again', established, 60_000);
    await waitFor('web and c2 reach each other again', pingsAcross, 30_000);
  });

  test('docker stop: SIGTERM stops the router cleanly', async () => {
    await docker('stop', '-t', '30', router);
    const state = (await docker('inspect', '-f', '{{.State.Running}} {{.State.ExitCode}}', router)).stdout.trim();
    assert.equal(state, 'false 0', 'exit 0 (a SIGKILL after the grace period would be 137)');
    const last = (await logLines()).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string });
    assert.ok(last.some((j) => j.msg === 'router stopped'), 'the router logged that it stopped');
    assert.ok(!existsSync(`${socketDir}/api.sock`), 'the API socket is removed');
    const r = await cluster.tsweave(h1, 'status');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not running/);
  });
});
