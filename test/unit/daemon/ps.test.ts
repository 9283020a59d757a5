// `ps` selection (issue 10.6): names and netns names resolve, unknown references fail, removed containers go.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { TsweaveError } from '../../../src/core/errors.js';
import type { ContainerRef, ContainerRuntime } from '../../../src/core/ports.js';
import type { Attachment } from '../../../src/daemon/attachments.js';
import { listForPs, withBridgeAddresses } from '../../../src/daemon/ps.js';
import { formatCidr, parseIPv4 } from '../../../src/core/types.js';

const att = (containerId: string): Attachment => ({ containerId, netnsPath: `/ns/${containerId}`, mac: '02:00:00:00:00:01', cidrs: ['10.32.0.1/12'] });
const a = att('abcdef0123456789'), b = att('fedcba9876543210'), gone = att('0000deadbeef');

const runtime: ContainerRuntime = {
  async resolve(ref: string): Promise<ContainerRef> {
    const byName: Record<string, Attachment> = { web: a, 'ns-b': b };
    const hit = byName[ref];
    if (!hit) throw new TsweaveError('ERR_CONTAINER_NOT_FOUND', `container "${ref}" not found`);
    return { id: hit.containerId, netnsPath: hit.netnsPath };
  },
  async isAlive(ref: ContainerRef): Promise<boolean> {
    return ref.id !== gone.containerId;
  },
};

test('without references: every attached container that still exists', async () => {
  assert.deepEqual(await listForPs([a, b, gone], runtime, []), [a, b]);
});

test('ID prefixes, Docker names and netns names all select', async () => {
  assert.deepEqual(await listForPs([a, b], runtime, ['abc']), [a]);
  assert.deepEqual(await listForPs([a, b], runtime, ['web']), [a]);
  assert.deepEqual(await listForPs([a, b], runtime, ['ns-b', 'web']), [a, b]);
});

test('an unknown reference is ERR_CONTAINER_NOT_FOUND naming it', async () => {
  await assert.rejects(listForPs([a], runtime, ['nope']), (e: TsweaveError) => e.code === 'ERR_CONTAINER_NOT_FOUND' && /nope/.test(e.message));
});

test('the weave:expose line also lists the addresses the router put on the bridge (DNS, egress gateway), once', () => {
  const expose = { containerId: 'weave:expose', netnsPath: '', mac: 'aa:bb:cc:dd:ee:ff', cidrs: ['10.32.0.3/12'] };
  const c = (a: string, prefix = 12) => ({ addr: parseIPv4(a), prefix });
  const inUse = [
    { containerId: 'weave:gateway', addrs: [c('10.32.0.2'), c('10.40.1.1', 24)] },
    { containerId: 'weave:dns', addrs: [c('10.32.0.1')] },
    { containerId: 'weave:expose', addrs: [c('10.32.0.3')] },
    { containerId: 'abc123', addrs: [c('10.32.0.9')] },
  ];
  const line = withBridgeAddresses(expose, inUse, ['weave:gateway', 'weave:dns'], formatCidr);
  assert.deepEqual(line.cidrs, ['10.32.0.3/12', '10.32.0.2/12', '10.40.1.1/24', '10.32.0.1/12']);
  assert.deepEqual(expose.cidrs, ['10.32.0.3/12'], 'the entry given is not changed');
});
