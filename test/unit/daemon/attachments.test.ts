// Attachments against a fake kernel and a real state directory: corrupt records (issue 10.4), attaches
// that fail part-way (10.2) and many at once (10.3), and the reconcile at start.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from '../../../src/core/logger.js';
import type { ContainerRef, HostNetwork, StateStore, VethSpec } from '../../../src/core/ports.js';
import { FileStateStore } from '../../../src/io/state-store.js';
import { Attachments, watchRefOf } from '../../../src/daemon/attachments.js';
import { ATTACHMENTS_STATE_KEY } from '../../../src/core/defaults.js';
import { tempDirs } from '../../support/temp-dir.js';

const tempDir = tempDirs('tsw-att-');

/** Containers' ethwe as a map netnsPath → addresses (absent: no ethwe). `failOn` makes one call fail. */
class FakeKernel implements HostNetwork {
  readonly ethwe = new Map<string, string[]>();
  failOn: string | undefined;
  private maybeFail(op: string): void {
    if (this.failOn === op) throw new Error(`${op} failed`);
  }
  async ensureBridge(): Promise<void> {}
  async deleteLink(): Promise<void> {}
  async linkExists(): Promise<boolean> {
    return true;
  }
  async ensureVeth(spec: VethSpec): Promise<void> {
    await Promise.resolve();
    this.maybeFail('ensureVeth');
    if (!this.ethwe.has(spec.netnsPath)) this.ethwe.set(spec.netnsPath, []);
  }
  async containerAddrs(netnsPath: string): Promise<string[]> {
    return [...(this.ethwe.get(netnsPath) ?? [])];
  }
  async containerMac(netnsPath: string): Promise<string | undefined> {
    return this.ethwe.has(netnsPath) ? '02:00:00:00:00:01' : undefined;
  }
  async addContainerAddr(netnsPath: string, _ifname: string, cidr: string): Promise<void> {
    await Promise.resolve();
    this.ethwe.get(netnsPath)!.push(cidr);
  }
  async delContainerAddr(netnsPath: string, _ifname: string, cidr: string): Promise<void> {
    const l = this.ethwe.get(netnsPath);
    if (l) this.ethwe.set(netnsPath, l.filter((c) => c !== cidr));
  }
  async finishAttach(): Promise<void> {
    await Promise.resolve();
    this.maybeFail('finishAttach');
  }
  async deleteContainerLink(netnsPath: string): Promise<void> {
    this.ethwe.delete(netnsPath);
  }
  // The router's own host links: not used by Attachments.
  async attachToBridge(): Promise<void> {}
  async replaceLinkAddr(): Promise<void> {}
  async linkAddress(): Promise<undefined> {
    return undefined;
  }
  async ipv4Routes(): Promise<[]> {
    return [];
  }
}

/** A FileStateStore whose writes can be made to fail like a full disk. */
class FullableStore extends FileStateStore {
  full = false;
  override async write(key: string, data: Uint8Array): Promise<void> {
    if (this.full) throw Object.assign(new Error(`cannot write state file ${join(this.dir, key)}: ENOSPC no space left on device`), { code: 'ENOSPC' });
    return super.write(key, data);
  }
}

const runtime = { resolve: async (t: string): Promise<ContainerRef> => ({ id: t, netnsPath: `/ns/${t}` }), isAlive: async () => true };

async function setup(dir?: string) {
  const dataDir = dir ?? (await tempDir());
  const store = new FullableStore(dataDir);
  const kernel = new FakeKernel();
  const make = (s: StateStore = store) => new Attachments({ logger: silentLogger(), dataDir, hostNet: kernel, runtime, store: s }, 1376);
  return { dataDir, store, kernel, make };
}

const ref = (id: string): ContainerRef => ({ id, netnsPath: `/ns/${id}` });
const recorded = async (dataDir: string) =>
  (JSON.parse(await readFile(join(dataDir, ATTACHMENTS_STATE_KEY), 'utf8')) as Array<{ containerId: string; cidrs: string[] }>)
    .map((a) => `${a.containerId}=${a.cidrs.join(',')}`)
    .sort();

test('a corrupt attachments.json is set aside (never overwritten) and load fails with one line naming it', async () => {
  const { dataDir, make } = await setup();
  await writeFile(join(dataDir, ATTACHMENTS_STATE_KEY), '[{"containerId": "abc", "cidrs": [');
  const err = (await make().load().then(() => undefined, (e: unknown) => e)) as Error;
  assert.ok(err, 'load must fail');
  assert.doesNotMatch(err.message, /\n/);
  assert.match(err.message, new RegExp(`^state file ${dataDir}/attachments\\.json is corrupt \\(.+\\); kept it as ${dataDir}/attachments\\.json\\.corrupt-\\d{8}T\\d{6}Z; launch again`));
  const files = await readdir(dataDir);
  const aside = files.find((f) => f.startsWith('attachments.json.corrupt-'))!;
  assert.equal(await readFile(join(dataDir, aside), 'utf8'), '[{"containerId": "abc", "cidrs": [');
  // The next start runs without it; the copy stays.
  const again = make();
  await again.load();
  await again.attach(ref('c1'), ['10.32.0.1/12']);
  assert.ok((await readdir(dataDir)).includes(aside));
});

test('a well-formed file of the wrong shape is corrupt too', async () => {
  const { dataDir, make } = await setup();
  await writeFile(join(dataDir, ATTACHMENTS_STATE_KEY), '[{"containerId": 5}]');
  await assert.rejects(make().load(), /attachments\.json is corrupt \(entry 0 lacks containerId, netnsPath or cidrs\)/);
});

test('20 concurrent attaches: every one is in the record on disk when it answers', async () => {
  const { dataDir, make } = await setup();
  const a = make();
  await a.load();
  const seen: string[][] = [];
  await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      await a.attach(ref(`c${i}`), [`10.32.0.${i + 1}/12`]);
      // What this attach answered is on disk now, whatever the others are doing.
      seen.push(await recorded(dataDir));
      assert.ok(seen.at(-1)!.includes(`c${i}=10.32.0.${i + 1}/12`), `c${i} missing from the record when its attach answered`);
    }),
  );
  await a.settled();
  assert.equal((await recorded(dataDir)).length, 20);
});

test('attach with a full disk fails with the reason and touches nothing in the container', async () => {
  const { store, kernel, make } = await setup();
  const a = make();
  await a.attach(ref('old'), ['10.32.0.9/12']);
  store.full = true;
  await assert.rejects(a.attach(ref('c1'), ['10.32.0.1/12']), /^TsweaveError: attach of c1 undone: cannot record the attachment: .*ENOSPC/);
  assert.equal(kernel.ethwe.has('/ns/c1'), false, 'no interface');
  assert.deepEqual(a.list().map((r) => r.containerId), ['old']);
  // Adding an address to an attached container: same.
  await assert.rejects(a.attach(ref('old'), ['10.32.0.10/12']), /ENOSPC/);
  assert.deepEqual(kernel.ethwe.get('/ns/old'), ['10.32.0.9/12']);
  assert.deepEqual(a.list()[0]!.cidrs, ['10.32.0.9/12']);
});

test('a kernel step that fails undoes the interface (new container) or the new addresses (attached one)', async () => {
  const { dataDir, kernel, make } = await setup();
  const a = make();
  await a.attach(ref('old'), ['10.32.0.9/12']);
  kernel.failOn = 'finishAttach';
  await assert.rejects(a.attach(ref('c1'), ['10.32.0.1/12']), /finishAttach failed/);
  assert.equal(kernel.ethwe.has('/ns/c1'), false);
  await assert.rejects(a.attach(ref('old'), ['10.32.0.10/12']), /finishAttach failed/);
  assert.deepEqual(kernel.ethwe.get('/ns/old'), ['10.32.0.9/12']);
  await a.settled();
  assert.deepEqual(await recorded(dataDir), ['old=10.32.0.9/12']);
});

test('reconcile after a crash: records follow the kernel (write-ahead leftovers dropped, gone interfaces forgotten)', async () => {
  const { dataDir, kernel, make } = await setup();
  await writeFile(
    join(dataDir, ATTACHMENTS_STATE_KEY),
    JSON.stringify([
      // Record written, then the crash before the kernel was touched.
      { containerId: 'c1', netnsPath: '/ns/c1', mac: '', cidrs: ['10.32.0.1/12'] },
      // Record and kernel agree.
      { containerId: 'c2', netnsPath: '/ns/c2', mac: '02:00:00:00:00:01', cidrs: ['10.32.0.2/12'] },
      // Second address recorded, crash before it was added.
      { containerId: 'c3', netnsPath: '/ns/c3', mac: '', cidrs: ['10.32.0.3/12', '10.32.0.4/12'] },
      // Interface made, crash before its first address.
      { containerId: 'c4', netnsPath: '/ns/c4', mac: '', cidrs: ['10.32.0.5/12'] },
    ]),
  );
  kernel.ethwe.set('/ns/c2', ['10.32.0.2/12']);
  kernel.ethwe.set('/ns/c3', ['10.32.0.3/12']);
  kernel.ethwe.set('/ns/c4', []);
  const a = make();
  await a.load();
  const released: string[] = [];
  const list = await a.reconcile((id, cidrs) => released.push(`${id}=${cidrs.join(',')}`));
  assert.deepEqual(list.map((r) => `${r.containerId}=${r.cidrs.join(',')}`).sort(), ['c2=10.32.0.2/12', 'c3=10.32.0.3/12']);
  assert.deepEqual(await recorded(dataDir), ['c2=10.32.0.2/12', 'c3=10.32.0.3/12']);
  // The claims of what the containers do not hold go (else held by nobody for good); so does c4's empty interface.
  assert.deepEqual(released.sort(), ['c1=10.32.0.1/12', 'c3=10.32.0.4/12', 'c4=10.32.0.5/12']);
  assert.equal(kernel.ethwe.has('/ns/c4'), false);
});

test('another interface name and a default route (CNI ADD): used for every step, kept in the record, used after a reload', async () => {
  const { dataDir, kernel, make } = await setup();
  const calls: string[] = [];
  const k = kernel as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  for (const op of ['ensureVeth', 'addContainerAddr', 'finishAttach', 'containerAddrs', 'deleteContainerLink'] as const) {
    const orig = k[op]!.bind(kernel);
    k[op] = async (...a: unknown[]) => {
      const ifname = op === 'ensureVeth' ? (a[0] as VethSpec).ifname : a[1];
      calls.push(`${op}:${String(ifname)}${op === 'finishAttach' ? `:${String(a[3])}` : ''}`);
      return orig(...a);
    };
  }
  const a = make();
  const rec = await a.attach(ref('cni:x'), ['10.32.0.9/12'], undefined, { ifname: 'eth0', gateway: '10.32.0.1' });
  assert.equal(rec.ifname, 'eth0');
  assert.ok(calls.includes('ensureVeth:eth0') && calls.includes('addContainerAddr:eth0') && calls.includes('finishAttach:eth0:10.32.0.1'), calls.join(' '));
  assert.ok(!calls.some((c) => c.includes('ethwe')), calls.join(' '));
  // One interface per container: the same container under another name is refused.
  await assert.rejects(a.attach(ref('cni:x'), ['10.32.0.9/12'], undefined, { ifname: 'net1' }), /already attached as eth0/);
  await a.settled();
  const b = make();
  await b.load();
  assert.equal(b.list()[0]!.ifname, 'eth0');
  calls.length = 0;
  await b.reconcile();
  assert.deepEqual(calls, ['containerAddrs:eth0']);
  await b.detach('cni:x', []);
  assert.ok(calls.includes('deleteContainerLink:eth0'), calls.join(' '));
  assert.deepEqual(await recorded(dataDir), []);
});

test('a recorded attachment is watched with the PID of the namespace it was attached in (restarts while the router was down)', () => {
  const id = 'a'.repeat(64);
  assert.deepEqual(watchRefOf({ containerId: id, netnsPath: '/proc/2849/ns/net' }), { id, netnsPath: '/proc/2849/ns/net', pid: 2849 });
  assert.deepEqual(watchRefOf({ containerId: id, netnsPath: '/host/proc/7/ns/net' }), { id, netnsPath: '/host/proc/7/ns/net', pid: 7 });
  assert.deepEqual(watchRefOf({ containerId: 'netns:web', netnsPath: '/run/netns/web' }), { id: 'netns:web', netnsPath: '/run/netns/web' });
});
