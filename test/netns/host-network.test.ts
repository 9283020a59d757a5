// HostNetwork (iproute2) against the real kernel, entirely inside namespaces this test creates:
//
//   netns H ("host")                       netns C1                netns C2
//   ┌──────────────────────────────┐      ┌────────────────────┐  ┌────────────────────┐
//   │ bridge weave (mtu 1376)      │      │ ethwe 10.32.0.1/12 │  │ ethwe 10.32.0.2/12 │
//   │  ├─ vethwepl<c1> ────────────┼──────┤ 224.0.0.0/4 route  │  │ 224.0.0.0/4 route  │
//   │  └─ vethwepl<c2> ────────────┼──────┼────────────────────┼──┤                    │
//   └──────────────────────────────┘      └────────────────────┘  └────────────────────┘
//   + an anonymous netns of an `unshare --net` process (pid:N) and one bind-mounted at a file (netns:/path)
//
// The adapter runs in this process with `hostNetns` = H, so bridge and host-side veths live in H and
// the test process's own namespace is never modified.
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/core/logger.js';
import { findExecutable } from '../../src/io/exec.js';
import { IprouteHostNetwork, hostVethName } from '../../src/io/host-network.js';
import { HostContainerRuntime, netnsIdentity } from '../../src/io/container-runtime.js';
import { NetnsLab, requireRoot, sh, type Netns } from '../support/netns.js';

const MTU = 1376;
const BRIDGE = 'weave';
const BRIDGE_MAC = '02:aa:bb:cc:dd:01';

interface LinkJson {
  ifname: string;
  mtu: number;
  address: string;
  flags: string[];
  operstate: string;
  master?: string;
  linkinfo?: { info_kind?: string; info_slave_kind?: string; info_slave_data?: { hairpin?: boolean } };
}

describe('host network (iproute2) in network namespaces', () => {
  requireRoot('test/netns/host-network.test.ts');
  const lab = new NetnsLab('hn');
  let host: Netns;
  let c1: Netns;
  let c2: Netns;
  let net: IprouteHostNetwork;
  const runtime = new HostContainerRuntime({ logger: silentLogger(), docker: null });

  async function hostLinks(): Promise<LinkJson[]> {
    return JSON.parse((await lab.ip(host, '-j', '-d', 'link', 'show')).stdout) as LinkJson[];
  }
  async function linkIn(nsPath: string, name: string): Promise<LinkJson | undefined> {
    try {
      const { stdout } = await sh('nsenter', `--net=${nsPath}`, 'ip', '-j', '-d', 'link', 'show', 'dev', name);
      return (JSON.parse(stdout) as LinkJson[])[0];
    } catch {
      return undefined;
    }
  }
  async function routesIn(nsPath: string): Promise<string> {
    return (await sh('nsenter', `--net=${nsPath}`, 'ip', 'route', 'show', 'table', 'main')).stdout;
  }
  async function attach(nsPath: string, id: string, cidr: string): Promise<void> {
    await net.ensureVeth({ netnsPath: nsPath, ifname: 'ethwe', hostName: hostVethName(id), mtu: MTU }, BRIDGE);
    await net.addContainerAddr(nsPath, 'ethwe', cidr);
    await net.finishAttach(nsPath, 'ethwe', await net.containerAddrs(nsPath, 'ethwe'));
  }
  async function ping(from: string, to: string): Promise<void> {
    const cmd = (await findExecutable('ping')) ? ['ping'] : ['busybox', 'ping'];
    await sh('nsenter', `--net=${from}`, ...cmd, '-c', '1', '-W', '2', to);
  }

  beforeAll(async () => {
    host = await lab.addNetns('h');
    c1 = await lab.addNetns('c1');
    c2 = await lab.addNetns('c2');
    net = new IprouteHostNetwork({ logger: silentLogger() }, { hostNetns: host.path });
  });
  afterAll(() => lab.cleanup());

  test('ensureBridge creates the bridge with MTU, MAC and up; idempotent', async () => {
    assert.equal(await net.linkExists(BRIDGE), false);
    await net.ensureBridge(BRIDGE, MTU, BRIDGE_MAC);
    await net.ensureBridge(BRIDGE, MTU, BRIDGE_MAC);
    assert.equal(await net.linkExists(BRIDGE), true);
    const br = (await hostLinks()).find((l) => l.ifname === BRIDGE)!;
    assert.equal(br.linkinfo?.info_kind, 'bridge');
    assert.equal(br.mtu, MTU);
    assert.equal(br.address, BRIDGE_MAC);
    assert.ok(br.flags.includes('UP'));
  });

  test('ensureBridge refuses a link of the wrong kind with a clear message', async () => {
    await lab.ip(host, 'link', 'add', 'notabridge', 'type', 'veth', 'peer', 'name', 'notabridge-p');
    await assert.rejects(net.ensureBridge('notabridge', MTU, BRIDGE_MAC), {
      code: 'ERR_HOST_NETWORK',
      message: /link "notabridge" exists but is a veth; remove it \(ip link del notabridge\)/,
    });
    await net.deleteLink('notabridge');
    await net.deleteLink('notabridge'); // missing: no error
    assert.equal(await net.linkExists('notabridge'), false);
  });

  test('attach two named namespaces: ethwe with MTU, addresses, multicast route; they ping each other', async () => {
    await attach(c1.path, 'c1', '10.32.0.1/12');
    await attach(c2.path, 'c2', '10.32.0.2/12');

    for (const [ns, cidr, id] of [[c1, '10.32.0.1/12', 'c1'], [c2, '10.32.0.2/12', 'c2']] as const) {
      const ethwe = await linkIn(ns.path, 'ethwe');
      assert.ok(ethwe, `ethwe in ${ns.name}`);
      assert.equal(ethwe.mtu, MTU);
      assert.ok(ethwe.flags.includes('UP'));
      assert.deepEqual(await net.containerAddrs(ns.path, 'ethwe'), [cidr]);
      assert.match(await routesIn(ns.path), /^224\.0\.0\.0\/4 dev ethwe/m);
      const hostEnd = (await hostLinks()).find((l) => l.ifname === hostVethName(id));
      assert.ok(hostEnd, `host end ${hostVethName(id)} in host netns`);
      assert.equal(hostEnd.master, BRIDGE);
      assert.equal(hostEnd.mtu, MTU);
      assert.equal(hostEnd.linkinfo?.info_slave_data?.hairpin, true);
      assert.ok(hostEnd.flags.includes('UP'));
    }
    // nothing of ours leaked into the test process's own namespace
    assert.equal((await sh('ip', '-o', 'link', 'show')).stdout.includes(hostVethName('c1')), false);

    await ping(c1.path, '10.32.0.2');
    await ping(c2.path, '10.32.0.1');
  });

  test('re-attach is idempotent', async () => {
    await attach(c1.path, 'c1', '10.32.0.1/12');
    await attach(c1.path, 'c1', '10.32.0.1/12');
    assert.deepEqual(await net.containerAddrs(c1.path, 'ethwe'), ['10.32.0.1/12']);
    const links = (JSON.parse((await lab.ip(c1, '-j', 'link', 'show')).stdout) as LinkJson[]).map((l) => l.ifname).sort();
    assert.deepEqual(links, ['ethwe', 'lo']);
    assert.equal((await hostLinks()).filter((l) => l.ifname.startsWith('vethwepl')).length, 2);
    await ping(c1.path, '10.32.0.2');
  });

  test('a second address, then detach removes address and link (host end too)', async () => {
    await net.addContainerAddr(c2.path, 'ethwe', '10.40.0.2/12');
    assert.deepEqual((await net.containerAddrs(c2.path, 'ethwe')).sort(), ['10.32.0.2/12', '10.40.0.2/12']);
    await net.delContainerAddr(c2.path, 'ethwe', '10.40.0.2/12');
    await net.delContainerAddr(c2.path, 'ethwe', '10.40.0.2/12'); // already gone: fine
    assert.deepEqual(await net.containerAddrs(c2.path, 'ethwe'), ['10.32.0.2/12']);

    await net.deleteContainerLink(c2.path, 'ethwe');
    await net.deleteContainerLink(c2.path, 'ethwe'); // already gone: fine
    assert.equal(await linkIn(c2.path, 'ethwe'), undefined);
    assert.deepEqual(await net.containerAddrs(c2.path, 'ethwe'), []);
    assert.equal(await net.linkExists(hostVethName('c2')), false);
    await net.delContainerAddr(c2.path, 'ethwe', '10.32.0.2/12'); // no interface: fine
  });

  test('stale host end from an interrupted attach is replaced', async () => {
    const stale = hostVethName('c2');
    await lab.ip(host, 'link', 'add', stale, 'type', 'veth', 'peer', 'name', 'tswstale0');
    await attach(c2.path, 'c2', '10.32.0.2/12');
    const hostEnd = (await hostLinks()).find((l) => l.ifname === stale)!;
    assert.equal(hostEnd.linkinfo?.info_kind, 'veth');
    await ping(c2.path, '10.32.0.1');
  });

  test('pid:N form: a process in an anonymous netns', async () => {
    const { pid } = await lab.spawnInNewNetns();
    const ref = await runtime.resolve(`pid:${pid}`);
    assert.equal(ref.netnsPath, `/proc/${pid}/ns/net`);
    assert.equal(ref.id, `pid:${pid}`);
    // Safety: never operate on our own namespace by mistake.
    assert.notEqual(await netnsIdentity(ref.netnsPath), await netnsIdentity('/proc/self/ns/net'));
    await attach(ref.netnsPath, ref.id, '10.32.0.3/12');
    await ping(ref.netnsPath, '10.32.0.1');
    assert.equal(await runtime.isAlive(ref), true);
    await net.deleteContainerLink(ref.netnsPath, 'ethwe');
    assert.equal(await net.linkExists(hostVethName(ref.id)), false);
  });

  test('netns:/path form: a namespace bind-mounted on a plain file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsw-hn-'));
    lab.onCleanup(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'nsfile');
    await writeFile(file, '');
    const { pid } = await lab.spawnInNewNetns();
    await sh('mount', '--bind', `/proc/${pid}/ns/net`, file);
    lab.onCleanup(() => sh('umount', file));

    const ref = await runtime.resolve(`netns:${file}`);
    assert.equal(ref.netnsPath, file);
    await attach(file, ref.id, '10.32.0.4/12');
    await ping(file, '10.32.0.1');
    await net.deleteContainerLink(file, 'ethwe');

    // a plain file is not a namespace
    await writeFile(join(dir, 'plain'), '');
    await assert.rejects(runtime.resolve(`netns:${join(dir, 'plain')}`), {
      code: 'ERR_CONTAINER_NOT_FOUND',
      message: `container "netns:${join(dir, 'plain')}" not found: ${join(dir, 'plain')} is not a network namespace file`,
    });
  });

  test('named netns resolves through /run/netns; isAlive turns false when it is deleted', async () => {
    const extra = await lab.addNetns('gone');
    const ref = await runtime.resolve(extra.name);
    assert.deepEqual(
      { id: ref.id, netnsPath: ref.netnsPath, kind: ref.kind },
      { id: `netns:${extra.name}`, netnsPath: extra.path, kind: 'netns' },
    );
    assert.equal(await runtime.isAlive(ref), true);
    await sh('ip', 'netns', 'del', extra.name);
    assert.equal(await runtime.isAlive(ref), false);
    await sh('ip', 'netns', 'add', extra.name); // same name, new namespace: still not the same container
    assert.equal(await runtime.isAlive(ref), false);
  });

  test('a vanished namespace gives ERR_CONTAINER_NOT_FOUND, not a raw nsenter error', async () => {
    await assert.rejects(net.addContainerAddr('/run/netns/tsw-hn-does-not-exist', 'ethwe', '10.32.0.9/12'), {
      code: 'ERR_CONTAINER_NOT_FOUND',
      message: 'network namespace /run/netns/tsw-hn-does-not-exist does not exist (container gone?)',
    });
  });
});
