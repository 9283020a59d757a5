// plumbingRepairs / rememberPlumbing: what goes back after the bridge, the TAP or a container's veth was
// deleted, downed or taken off the bridge by hand, and what is left alone.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import type { LinkView, PortSettings } from '../../../src/core/ports.js';
import { plumbingRepairs, rememberPlumbing, type PlumbingMemory } from '../../../src/host/bridge-plumbing.js';

const tap: PortSettings = { hairpin: false, isolated: true };
const veth: PortSettings = { hairpin: true, isolated: false };
const healthy: LinkView[] = [
  { name: 'eth0', up: true, addrs: ['10.0.0.1/24'] },
  { name: 'weave', up: true, addrs: ['10.32.0.1/12'] },
  { name: 'vethwe-tap', master: 'weave', up: true, addrs: [], ...tap },
  { name: 'vethwepl1', master: 'weave', up: true, addrs: [], ...veth },
];
const none: PlumbingMemory = { addrs: [], ports: new Map() };
const learnt = rememberPlumbing(healthy, 'weave', none, new Map());

test('a healthy bridge needs nothing; its ports and addresses are learnt with their settings', () => {
  assert.deepEqual(plumbingRepairs(healthy, 'weave', learnt), []);
  assert.deepEqual(learnt.addrs, ['10.32.0.1/12']);
  assert.deepEqual([...learnt.ports], [['vethwe-tap', tap], ['vethwepl1', veth]]);
});

test('a deleted bridge comes back with its addresses, then its ports with their settings', () => {
  const links: LinkView[] = [healthy[0]!, { name: 'vethwe-tap', up: true, addrs: [] }, { name: 'vethwepl1', up: true, addrs: [] }];
  const memory = rememberPlumbing(links, 'weave', learnt, new Map());
  assert.deepEqual(memory.addrs, ['10.32.0.1/12'], 'the addresses are kept while the bridge is missing');
  assert.deepEqual(plumbingRepairs(links, 'weave', memory), [
    { kind: 'bridge-create' },
    { kind: 'bridge-addr', cidr: '10.32.0.1/12' },
    { kind: 'port', name: 'vethwe-tap', settings: tap, why: 'off the bridge' },
    { kind: 'port', name: 'vethwepl1', settings: veth, why: 'off the bridge' },
  ]);
});

test('a downed bridge or port is brought up; an address removed from a live bridge (hide) is not put back', () => {
  const links = healthy.map((l) => (l.name === 'weave' ? { ...l, up: false, addrs: [] } : l.name === 'vethwe-tap' ? { ...l, up: false } : l));
  assert.deepEqual(plumbingRepairs(links, 'weave', rememberPlumbing(links, 'weave', learnt, new Map())), [
    { kind: 'bridge-up' },
    { kind: 'port', name: 'vethwe-tap', settings: tap, why: 'down' },
  ]);
});

test('an expected port off the bridge (a relaunch after the bridge was deleted) goes back; gone or moved ports are left', () => {
  const links: LinkView[] = [
    ...healthy.slice(0, 3),
    { name: 'vethwepl2', up: true, addrs: [] },
    { name: 'vethwepl3', master: 'other', up: true, addrs: [] },
  ];
  const expected = new Map([['vethwepl2', veth], ['vethwepl3', veth], ['vethwepl9', veth]]);
  const memory = rememberPlumbing(links, 'weave', none, expected);
  assert.deepEqual(plumbingRepairs(links, 'weave', memory), [{ kind: 'port', name: 'vethwepl2', settings: veth, why: 'off the bridge' }]);
  assert.equal(memory.ports.has('vethwepl9'), false, 'a port that does not exist is forgotten');
  assert.equal(memory.ports.has('vethwepl1'), false);
});
