// podman 4 with its CNI backend as the runtime (TEST-ENV §2): `podman run --network tsweave -p 8080:80`
// — the port mapping (portmap, chained after tsweave-net) answers from the host, a container resolves
// another one's weave name, `podman rm` releases the address. podman runs inside the host namespace h1,
// so the plugin reaches h1's router. Everything of podman's is private to the test: its storage, its run
// dir, and a containers.conf (CONTAINERS_CONF) naming our plugin and network directories and the ulimits
// root may set here (TEST-ENV's rlimit gotcha).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { Cluster, inNs, waitFor, type Host } from '../support/cluster.js';
import { ensureDockerInstalled, importBusyboxImage, startDockerd, TEST_IMAGE } from '../support/docker.js';
import { requireRoot } from '../support/netns.js';
import { exec, findExecutable } from '../../src/io/exec.js';

requireRoot('the podman CNI test');

describe('podman --network tsweave', () => {
  const cluster = new Cluster('cnipod');
  let h1: Host;
  let tmp: string;
  const started: string[] = [];
  let podmanEnv: Record<string, string>;
  const podman = (...args: string[]) =>
    // nsenter --net, not `ip netns exec`: podman must mount its containers' namespaces under /run/netns in
    // the host's mount namespace, where the router (like a real one) sees them.
    exec('nsenter', [`--net=${h1.ns.path}`, 'podman', '--root', join(tmp, 'root'), '--runroot', join(tmp, 'runroot'), '--tmpdir', join(tmp, 'libpod'), ...args], {
      timeoutMs: 90_000, env: podmanEnv,
    });
  const ipamStatus = async (id: string) => inNs(h1.ns.name, [process.execPath, '-e',
    `fetch('http://127.0.0.1:6784/ip/${encodeURIComponent(id)}').then(r => process.stdout.write(String(r.status)))`]);

  beforeAll(async () => {
    if (!(await findExecutable('podman'))) {
      await exec('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', 'podman'],
        { timeoutMs: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    }
    await ensureDockerInstalled();
    tmp = await mkdtemp('/tmp/tsw-cnipod-');
    await mkdir(join(tmp, 'net.d'));
    await writeFile(join(tmp, 'containers.conf'), [
      '[containers]',
      'default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]',
      '[network]',
      'network_backend = "cni"',
      `cni_plugin_dirs = ["${join(tmp, 'bin')}", "/usr/lib/cni"]`,
      `network_config_dir = "${join(tmp, 'net.d')}"`,
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${join(tmp, 'events.log')}"`,
      '',
    ].join('\n'));
    podmanEnv = { ...process.env as Record<string, string>, CONTAINERS_CONF: join(tmp, 'containers.conf') };
    // The busybox image, through a private dockerd (docker save → podman load).
    const d = await startDockerd();
    try {
      await importBusyboxImage(d);
      await d.docker('save', '-o', join(tmp, 'bb.tar'), TEST_IMAGE);
    } finally {
      await d.stop();
    }
    await cluster.init();
    h1 = await cluster.addHost(1);
    await cluster.ok(h1, 'launch', '--nickname', 'h1');
    await cluster.ok(h1, 'setup-cni', '--bin-dir', join(tmp, 'bin'), '--conf-dir', join(tmp, 'net.d'));
    await podman('load', '-i', join(tmp, 'bb.tar'));
  }, 300_000);

  afterAll(async () => {
    if (tmp) {
      for (const name of started) await podman('rm', '-f', '-t', '0', name).catch(() => undefined);
      await podman('rmi', '-a', '-f').catch(() => undefined);
    }
    await cluster.cleanup();
    if (tmp) {
      await exec('umount', ['-R', join(tmp, 'root')]).catch(() => undefined);
      await exec('umount', ['-R', join(tmp, 'runroot')]).catch(() => undefined);
      await rm(tmp, { recursive: true, force: true });
    }
  }, 120_000);

  test('port mapping from the host, a weave name resolved from another container, rm releases the address', async () => {
    started.push('p1');
    const id = (await podman('run', '-d', '--name', 'p1', '--network', 'tsweave', '-p', '8080:80', `localhost/${TEST_IMAGE}`,
      'httpd', '-f', '-p', '80', '-h', '/var/www')).stdout.trim();
    const ip = (await podman('inspect', '-f', '{{.NetworkSettings.Networks.tsweave.IPAddress}}', 'p1')).stdout.trim();
    assert.match(ip, /^10\.(3[2-9]|4[0-7])\./);
    assert.match(await cluster.ok(h1, 'ps'), new RegExp(`cni:${id.slice(0, 12)} .*${ip.replace(/\./g, '\\.')}/`));
    // -p 8080:80 through portmap, from the host (h1's own address).
    // (node's fetch: busybox-static's wget crashes here.)
    const get = (url: string) => inNs(h1.ns.name, [process.execPath, '-e',
      `fetch('${url}', { signal: AbortSignal.timeout(2000) }).then(r => r.text()).then(t => process.stdout.write(t), () => {})`]);
    await waitFor(`http://${h1.ip}:8080 answers`, async () => /hello/.test(await get(`http://${h1.ip}:8080/`)), 30_000);
    // Another container resolves p1 by its weave name (podman sends K8S_POD_NAME=p1).
    started.push('p2');
    const looked = await podman('run', '--rm', '--name', 'p2', '--network', 'tsweave', `localhost/${TEST_IMAGE}`, 'nslookup', 'p1.weave.local');
    assert.match(looked.stdout, new RegExp(ip.replace(/\./g, '\\.')), looked.stdout);
    // rm calls DEL: the address goes back to IPAM.
    assert.equal(await ipamStatus(`cni:${id}`), '200');
    await podman('rm', '-f', '-t', '0', 'p1');
    assert.equal(await ipamStatus(`cni:${id}`), '404');
    assert.doesNotMatch(await cluster.ok(h1, 'ps'), new RegExp(`cni:${id.slice(0, 12)}`));
  }, 180_000);
});
