// HostAccess (expose/hide/egress) against fake routing and iptables and a real state directory: all or
// nothing, kept across a restart, hide's errors, egress's gateway and its undo.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from '../../../src/core/logger.js';
import { LogLimiter } from '../../../src/core/log-limiter.js';
import { TsweaveError } from '../../../src/core/errors.js';
import { FileStateStore } from '../../../src/io/state-store.js';
import type { Attachment } from '../../../src/daemon/attachments.js';
import { EXPOSE_STATE_KEY } from '../../../src/core/defaults.js';
import { HostAccess } from '../../../src/daemon/host-access.js';
import { FakeClock } from '../../support/fake-clock.js';
import { FakeHostRouting, FakePacketFilter } from '../../support/fake-packet-filter.js';
import { tempDirs } from '../../support/temp-dir.js';

const tempDir = tempDirs('tsw-host-');

async function setup(dir?: string, routing = new FakeHostRouting(), attached: Attachment[] = []) {
  const dataDir = dir ?? (await tempDir());
  const clock = new FakeClock();
  const filter = new FakePacketFilter();
  const host = new HostAccess({
    logger: silentLogger(), clock, limiter: new LogLimiter(clock), store: new FileStateStore(dataDir), dataDir,
    routing, filter, ipam: undefined, attached: () => attached, bridgeMac: '7a:00:00:00:00:01',
  }, 'weave');
  await host.start();
  return { dataDir, routing, filter, host, attached };
}

test('expose puts the addresses on the bridge, records them and opens the firewall; a restart puts them back', async () => {
  const s = await setup();
  assert.deepEqual(await s.host.expose(['10.2.1.1/24', 'ip:10.2.2.1/24']), ['10.2.1.1/24', '10.2.2.1/24']);
  assert.deepEqual(s.routing.bridge, ['10.2.1.1/24', '10.2.2.1/24']);
  assert.equal(s.routing.forwarding, true);
  assert.deepEqual(s.filter.rules('filter', 'TSWEAVE-EXPOSE'), ['-d 10.2.1.0/24 -j ACCEPT', '-d 10.2.2.0/24 -j ACCEPT']);
  assert.deepEqual(s.host.psEntry(), { containerId: 'weave:expose', netnsPath: '', mac: '7a:00:00:00:00:01', cidrs: ['10.2.1.1/24', '10.2.2.1/24'] });
  s.host.stop();
  const again = await setup(s.dataDir); // a fresh bridge, as after `ip addr flush` or a reboot
  assert.deepEqual(again.routing.bridge, ['10.2.1.1/24', '10.2.2.1/24']);
  assert.deepEqual(again.host.list(), ['10.2.1.1/24', '10.2.2.1/24']);
  again.host.stop();
});

test('expose is all or nothing: a kernel failure leaves no record and no address', async () => {
  const routing = new FakeHostRouting();
  const s = await setup(undefined, routing);
  await s.host.expose(['10.2.1.1/24']);
  routing.failing.add('enableForwarding');
  await assert.rejects(s.host.expose(['10.2.3.1/24']), /enableForwarding failed/);
  assert.deepEqual(routing.bridge, ['10.2.1.1/24'], 'the new address was taken off again');
  assert.deepEqual(s.host.list(), ['10.2.1.1/24']);
  routing.failing.clear();
  await s.host.hide([]); // waits for the lock, so the background record write is done
  await s.host.expose(['10.2.1.1/24']);
  assert.deepEqual(JSON.parse(await readFile(join(s.dataDir, EXPOSE_STATE_KEY), 'utf8')), ['10.2.1.1/24']);
  await assert.rejects(s.host.expose([]), /^ConfigError: expose needs ADDRESS\/PREFIX: IPAM is disabled/);
  s.host.stop();
});

test('hide: an address not exposed is a usage error naming it; net:CIDR hides what is in the subnet', async () => {
  const s = await setup();
  await s.host.expose(['10.2.1.1/24', '10.2.2.1/24']);
  await assert.rejects(s.host.hide(['10.9.9.9/24']), (err: unknown) =>
    err instanceof TsweaveError && err.code === 'ERR_USAGE' && err.message === 'the host does not have 10.9.9.9/24 exposed (exposed: 10.2.1.1/24, 10.2.2.1/24)');
  assert.deepEqual(await s.host.hide(['net:10.2.2.0/24']), ['10.2.2.1/24']);
  assert.deepEqual(s.routing.bridge, ['10.2.1.1/24']);
  assert.deepEqual(s.filter.rules('filter', 'TSWEAVE-EXPOSE'), ['-d 10.2.1.0/24 -j ACCEPT']);
  assert.deepEqual(await s.host.hide([]), ['10.2.1.1/24']);
  assert.deepEqual(s.routing.bridge, []);
  s.host.stop();
});

test('egress: the gateway is the exposed address in the subnet; without one (and no IPAM) a precise error; a failed route undoes the attach', async () => {
  const attached: Attachment[] = [];
  const s = await setup(undefined, new FakeHostRouting(), attached);
  const rec: Attachment = { containerId: 'netns:c1', netnsPath: '/run/netns/c1', mac: '', cidrs: ['10.2.1.5/24'], egress: true };
  const attach = async () => {
    attached.push(rec);
    return rec;
  };
  const undone: string[] = [];
  const undo = async (r: Attachment) => undone.push(r.containerId);
  await assert.rejects(s.host.attachWithEgress({ container: 'c1', addrs: ['10.2.1.5/24'], egress: true }, attach, undo),
    /^ConfigError: egress for a container in 10\.2\.1\.0\/24 needs this host to have an address there, and IPAM cannot give one \(IPAM is disabled\); run 'tsweave expose ADDRESS\/24'/);
  assert.equal(attached.length, 0, 'nothing attached');
  await s.host.expose(['10.2.1.1/24']);
  await s.host.attachWithEgress({ container: 'c1', addrs: ['10.2.1.5/24'], egress: true }, attach, undo);
  assert.equal(s.routing.gateways.get('/run/netns/c1'), '10.2.1.1');
  assert.ok(s.filter.rules('nat', 'TSWEAVE-NAT')!.includes('-s 10.2.1.5/32 ! -o weave -j MASQUERADE'));
  s.routing.failing.add('setContainerGateway');
  await assert.rejects(s.host.attachWithEgress({ container: 'c1', addrs: ['10.2.1.5/24'], egress: true }, attach, undo), /^TsweaveError: attach of c1 undone: cannot route it via 10\.2\.1\.1/);
  assert.deepEqual(undone, ['netns:c1']);
  s.host.stop();
});
