// The firewall rules (pure) and the Firewall that keeps them: installed at start, replaced when the inputs
// change, put back after a flush at the next check, failures counted and never thrown, reset removing all.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../src/core/logger.js';
import { LogLimiter } from '../../../src/core/log-limiter.js';
import { parseCidr, parseIPv4 } from '../../../src/core/types.js';
import { Firewall } from '../../../src/daemon/firewall.js';
import { firewallRules, removeFirewall, type FirewallInputs } from '../../../src/host/firewall-rules.js';
import { FakeClock } from '../../support/fake-clock.js';
import { FakePacketFilter } from '../../support/fake-packet-filter.js';

const inputs = (over: Partial<FirewallInputs> = {}): FirewallInputs => ({
  bridge: 'weave',
  overlay: [parseCidr('10.32.0.0/12'), parseCidr('10.32.0.5/12'), parseCidr('10.2.1.7/24')],
  exposed: [parseCidr('10.32.0.1/12')],
  egress: [parseIPv4('10.32.0.5')],
  ...over,
});

const chain = (t: string, name: string, i = inputs()) =>
  firewallRules(i).find((x) => x.table === t)!.chains.find((c) => c.chain === name)!.rules.map((r) => r.join(' '));

test('nat: overlay destinations return before any egress masquerade; exposed subnets masquerade only from outside', () => {
  assert.deepEqual(chain('nat', 'TSWEAVE-NAT'), [
    '-d 10.2.1.0/24 -j TSWEAVE-NAT-EXPOSE',
    '-d 10.32.0.0/12 -j TSWEAVE-NAT-EXPOSE',
    '-d 10.2.1.0/24 -j RETURN',
    '-d 10.32.0.0/12 -j RETURN',
    '-s 10.32.0.5/32 ! -o weave -j MASQUERADE',
    '-j TSWEAVE-CANARY',
  ]);
  assert.deepEqual(chain('nat', 'TSWEAVE-NAT-EXPOSE'), [
    '-s 10.2.1.0/24 -j RETURN',
    '-s 10.32.0.0/12 -j RETURN',
    '-o weave -d 10.32.0.0/12 -j MASQUERADE',
  ]);
  assert.deepEqual(chain('filter', 'TSWEAVE-EXPOSE'), ['-d 10.32.0.0/12 -j ACCEPT']);
  assert.ok(chain('filter', 'TSWEAVE').includes('-i weave -o weave -m physdev --physdev-is-bridged -j ACCEPT'), 'bridged traffic accepted (FORWARD DROP)');
  const routed = chain('filter', 'TSWEAVE').indexOf('-i weave -o weave -j DROP');
  assert.ok(routed > chain('filter', 'TSWEAVE').indexOf('-i weave -o weave -m physdev --physdev-is-bridged -j ACCEPT'), 'routed weave → weave (between subnets) dropped, after the bridged accept');
  // Nothing egress, nothing exposed: no MASQUERADE at all.
  const none = inputs({ exposed: [], egress: [] });
  assert.equal([...chain('nat', 'TSWEAVE-NAT', none), ...chain('nat', 'TSWEAVE-NAT-EXPOSE', none)].some((r) => r.includes('MASQUERADE')), false);
});

function setup(i = inputs()) {
  const clock = new FakeClock();
  const filter = new FakePacketFilter();
  let current = i;
  const fw = new Firewall({ filter, clock, logger: silentLogger(), limiter: new LogLimiter(clock), inputs: () => current }, 5_000);
  return { clock, filter, fw, set: (n: FirewallInputs) => (current = n) };
}

/** Lets the check started by a timer run to its end. */
const settle = () => new Promise((r) => setTimeout(r, 10));

test('start installs chains and jumps; a flush is put back at the next check; no change means no writes', async () => {
  const { clock, filter, fw } = setup();
  await fw.start();
  assert.deepEqual(filter.rules('filter', 'FORWARD'), ['-j TSWEAVE']);
  assert.deepEqual(filter.rules('nat', 'POSTROUTING'), ['-j TSWEAVE-NAT']);
  const writes = filter.writes;
  clock.advance(5_000);
  await settle();
  assert.equal(filter.writes, writes, 'an intact rule set is left alone');
  filter.flush('filter');
  filter.flush('nat');
  clock.advance(5_000);
  await settle();
  assert.deepEqual(filter.rules('filter', 'FORWARD'), ['-j TSWEAVE']);
  assert.deepEqual(filter.rules('nat', 'TSWEAVE-NAT'), chain('nat', 'TSWEAVE-NAT'));
  assert.equal(fw.stats.restored, 1);
  fw.stop();
});

test('refresh applies changed inputs; failures are counted, not thrown, and retried', async () => {
  const { clock, filter, fw, set } = setup();
  filter.failWith = 'iptables: command not found';
  await fw.start(); // must not reject
  assert.equal(fw.stats.failures, 1);
  filter.failWith = undefined;
  clock.advance(5_000);
  await settle();
  assert.deepEqual(filter.rules('filter', 'FORWARD'), ['-j TSWEAVE'], 'the next check installs them');
  set(inputs({ egress: [] }));
  await fw.refresh();
  assert.equal(filter.rules('nat', 'TSWEAVE-NAT')!.some((r) => r.includes('MASQUERADE')), false);
  fw.stop();
});

test('removeFirewall takes out the jumps and every TSWEAVE chain, and nothing else', async () => {
  const { filter, fw } = setup();
  await fw.start();
  fw.stop();
  await filter.ensureFirst('filter', 'FORWARD', ['-j', 'DOCKER-USER']);
  await removeFirewall(filter);
  assert.deepEqual(filter.rules('filter', 'FORWARD'), ['-j DOCKER-USER']);
  assert.deepEqual(filter.rules('nat', 'POSTROUTING'), []);
  assert.deepEqual(await filter.listChains('filter', 'TSWEAVE'), []);
  assert.deepEqual(await filter.listChains('nat', 'TSWEAVE'), []);
});

test('with a password, the VXLAN port takes UDP only from the trusted subnets (INPUT), and nothing is guarded otherwise', () => {
  const guarded = inputs({ vxlanGuard: { port: 6784, allowed: [parseCidr('10.200.0.4/30')] } });
  assert.deepEqual(chain('filter', 'TSWEAVE-INPUT', guarded), [
    '-p udp --dport 6784 -s 10.200.0.4/30 -j RETURN',
    '-p udp --dport 6784 -j DROP',
    '-j TSWEAVE-CANARY',
  ]);
  assert.deepEqual(chain('filter', 'TSWEAVE-INPUT'), ['-j TSWEAVE-CANARY'], 'no guard: the chain only holds the canary');
  const filter = firewallRules(guarded).find((t) => t.table === 'filter')!;
  assert.ok(filter.jumps.some((j) => j.from === 'INPUT' && j.rule.join(' ') === '-j TSWEAVE-INPUT'));
});

test('a check is one listing, no per-rule -C; a deleted jump alone is put back', async () => {
  const { clock, filter, fw } = setup();
  await fw.start();
  filter.reads = { list: 0, has: 0 };
  clock.advance(5_000);
  await settle();
  assert.deepEqual(filter.reads, { list: 1, has: 0 }, 'an intact check reads every table once and asks nothing else');
  await filter.deleteRule('filter', 'INPUT', ['-j', 'TSWEAVE-INPUT']);
  clock.advance(5_000);
  await settle();
  assert.deepEqual(filter.rules('filter', 'INPUT'), ['-j TSWEAVE-INPUT'], 'the INPUT jump is back');
  assert.equal(fw.stats.restored, 1);
  await filter.deleteRule('nat', 'POSTROUTING', ['-j', 'TSWEAVE-NAT']);
  clock.advance(5_000);
  await settle();
  assert.deepEqual(filter.rules('nat', 'POSTROUTING'), ['-j TSWEAVE-NAT'], 'the POSTROUTING jump is back');
  assert.equal(fw.stats.restored, 2);
  fw.stop();
});

test('a rule iptables lists in a form we do not recognise is checked with -C; a flush is still put back', async () => {
  const { clock, filter, fw } = setup();
  // An iptables that appends something to every jump: no listed rule is recognisably ours.
  filter.listedAs = (r) => (r.startsWith('-j ') ? `${r} -m unknown` : r);
  await fw.start();
  filter.reads = { list: 0, has: 0 };
  clock.advance(5_000);
  await settle();
  assert.equal(fw.stats.restored, 0, 'not mistaken for a flush (no restore loop)');
  assert.equal(filter.reads.has, 5, 'each unrecognised rule asked with -C');
  filter.flush('filter');
  clock.advance(5_000);
  await settle();
  assert.equal(fw.stats.restored, 1);
  assert.deepEqual(filter.rules('filter', 'FORWARD'), ['-j TSWEAVE']);
  fw.stop();
});

test('listing failures fall back to -C, never to a restore loop or a throw', async () => {
  const { clock, filter, fw } = setup();
  await fw.start();
  filter.listFailsWith = 'iptables-save: not found';
  filter.reads = { list: 0, has: 0 };
  clock.advance(5_000);
  await settle();
  assert.equal(fw.stats.restored, 0);
  assert.equal(fw.stats.failures, 0);
  assert.ok(filter.reads.has > 0, 'asked rule by rule');
  filter.flush('nat');
  clock.advance(5_000);
  await settle();
  assert.equal(fw.stats.restored, 1, 'a flush is still found and undone');
  assert.deepEqual(filter.rules('nat', 'POSTROUTING'), ['-j TSWEAVE-NAT']);
  fw.stop();
});
