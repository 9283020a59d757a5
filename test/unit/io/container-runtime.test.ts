// HostContainerRuntime with a fake Docker API; namespaces are this process's own (/proc/<pid>/ns/net),
// so no root is needed.
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/core/logger.js';
import { DockerUnavailableError, type DockerContainerInfo, type DockerEvent } from '../../../src/io/docker-client.js';
import { HostContainerRuntime, kindOfId, netnsIdentity, type DockerApi, type ResolvedContainer } from '../../../src/io/container-runtime.js';

const ID = 'c0ffee'.repeat(10) + 'abcd';

class FakeDocker implements DockerApi {
  containers = new Map<string, DockerContainerInfo>();
  unavailable = false;
  lookups: string[] = [];
  async inspectContainer(ref: string): Promise<DockerContainerInfo | undefined> {
    this.lookups.push(ref);
    if (this.unavailable) throw new DockerUnavailableError('cannot talk to Docker at unix:///var/run/docker.sock: no such socket');
    for (const c of this.containers.values()) if (c.Name === `/${ref}` || c.Id.startsWith(ref)) return c;
    return undefined;
  }
  events(_onEvent: (ev: DockerEvent) => void, _onError: (err: Error) => void) {
    return { close() {} };
  }
}

let netnsDir: string;
let docker: FakeDocker;
let runtime: HostContainerRuntime;

beforeAll(async () => {
  netnsDir = await mkdtemp(join(tmpdir(), 'tsw-netns-'));
  await writeFile(join(netnsDir, 'notmounted'), ''); // a leftover file in /run/netns: not a namespace
});
afterAll(() => rm(netnsDir, { recursive: true, force: true }));

function fresh() {
  docker = new FakeDocker();
  docker.containers.set('web', {
    Id: ID,
    Name: '/web',
    State: { Running: true, Pid: process.pid },
    Config: { Hostname: 'web', Domainname: 'weave.local' },
  });
  docker.containers.set('stopped', { Id: 'dead'.repeat(16), Name: '/stopped', State: { Running: false, Pid: 0 }, Config: { Hostname: 's', Domainname: '' } });
  runtime = new HostContainerRuntime({ logger: silentLogger(), docker }, { netnsDir });
}

test('pid:N resolves to /proc/N/ns/net; a missing process is not found', async () => {
  fresh();
  const ref = await runtime.resolve(`pid:${process.pid}`);
  assert.equal(ref.netnsPath, `/proc/${process.pid}/ns/net`);
  assert.equal(ref.id, `pid:${process.pid}`);
  assert.equal(ref.pid, process.pid);
  assert.equal(ref.netnsId, await netnsIdentity('/proc/self/ns/net'));
  assert.equal(await runtime.isAlive(ref), true);
  await assert.rejects(runtime.resolve('pid:4194304'), {
    code: 'ERR_CONTAINER_NOT_FOUND',
    message: 'container "pid:4194304" not found: no process with pid 4194304',
  });
  const recreated: ResolvedContainer = { ...ref, netnsId: '0:0' };
  assert.equal(await runtime.isAlive(recreated), false, 'a different namespace is a different container');
});

test('netns:/path must exist and be a namespace file', async () => {
  fresh();
  const ok = await runtime.resolve(`netns:/proc/${process.pid}/ns/net`);
  assert.equal(ok.kind, 'path');
  await assert.rejects(runtime.resolve(`netns:${netnsDir}/missing`), {
    message: `container "netns:${netnsDir}/missing" not found: ${netnsDir}/missing does not exist`,
  });
  await assert.rejects(runtime.resolve(`netns:${netnsDir}/notmounted`), {
    message: `container "netns:${netnsDir}/notmounted" not found: ${netnsDir}/notmounted is not a network namespace file`,
  });
});

test('Docker: name or id prefix → pid namespace and FQDN; a plain file in /run/netns does not shadow it', async () => {
  fresh();
  const ref = await runtime.resolve('web');
  assert.deepEqual(
    { kind: ref.kind, id: ref.id, name: ref.name, pid: ref.pid, hostname: ref.hostname, netnsPath: ref.netnsPath },
    { kind: 'docker', id: ID, name: 'web', pid: process.pid, hostname: 'web.weave.local', netnsPath: `/proc/${process.pid}/ns/net` },
  );
  assert.equal((await runtime.resolve(ID.slice(0, 12))).id, ID);
  assert.equal(await runtime.isAlive(ref), true);
  docker.containers.set('notmounted', { ...docker.containers.get('web')!, Name: '/notmounted' });
  assert.equal((await runtime.resolve('notmounted')).kind, 'docker');
});

test('Docker: stopped, unknown, restarted, unavailable', async () => {
  fresh();
  const ref = await runtime.resolve('web');
  await assert.rejects(runtime.resolve('stopped'), { code: 'ERR_CONTAINER_NOT_FOUND', message: 'container stopped is not running' });
  await assert.rejects(runtime.resolve('nosuch'), {
    code: 'ERR_CONTAINER_NOT_FOUND',
    message: 'container "nosuch" not found (not a Docker container, not a named network namespace in /run/netns, not pid:N or netns:/path)',
  });
  docker.containers.get('web')!.State.Pid = process.pid + 1_000_000; // restarted: new process
  assert.equal(await runtime.isAlive(ref), false);
  docker.containers.get('web')!.State.Running = false;
  assert.equal(await runtime.isAlive(ref), false);
  docker.unavailable = true;
  assert.equal(await runtime.isAlive(ref), true, 'never declare death on a guess');
  await assert.rejects(runtime.resolve('web'), {
    code: 'ERR_CONTAINER_NOT_FOUND',
    message: /netns:\/path\); cannot talk to Docker at unix:\/\/\/var\/run\/docker\.sock: no such socket$/,
  });
});

test('without Docker, names that are not namespaces are simply not found', async () => {
  const r = new HostContainerRuntime({ logger: silentLogger(), docker: null }, { netnsDir });
  await assert.rejects(r.resolve('web'), { code: 'ERR_CONTAINER_NOT_FOUND' });
  assert.equal(await r.isAlive({ id: ID, netnsPath: '/nonexistent' }), true);
});

test('kindOfId', () => {
  assert.equal(kindOfId('pid:1'), 'pid');
  assert.equal(kindOfId('netns:/x/y'), 'path');
  assert.equal(kindOfId('netns:web'), 'netns');
  assert.equal(kindOfId(ID), 'docker');
});

test('a CNI container (cni:ID, as reloaded from the record) is alive while its namespace exists, whatever Docker says', async () => {
  fresh();
  assert.equal(kindOfId('cni:abc'), 'cni');
  // Docker knows no container "cni:abc": asked, it would say dead and the addresses would be released.
  assert.equal(await runtime.isAlive({ id: 'cni:abc', netnsPath: `/proc/${process.pid}/ns/net` }), true);
  assert.equal(await runtime.isAlive({ id: 'cni:abc', netnsPath: '/nonexistent/ns/net' }), false);
  assert.deepEqual(docker.lookups, []);
});
