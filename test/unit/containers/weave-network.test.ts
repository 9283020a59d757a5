import { test } from 'vitest';
import assert from 'node:assert/strict';
import { weaveNetworkAction } from '../../../src/containers/weave-network.js';

test('the network "weave" with this launch\'s subnet is kept', () => {
  assert.deepEqual(weaveNetworkAction({ driver: 'weavemesh', subnets: ['10.32.0.0/12'], containers: 3 }, '10.32.0.0/12'), { kind: 'keep' });
  assert.deepEqual(weaveNetworkAction({ driver: 'weavemesh', subnets: [], containers: 0 }, undefined), { kind: 'keep' });
});

test('left with another subnet and empty: replaced', () => {
  assert.deepEqual(weaveNetworkAction({ driver: 'weavemesh', subnets: ['10.32.0.0/12'], containers: 0 }, '10.64.0.0/16'), { kind: 'replace', from: '10.32.0.0/12' });
  assert.deepEqual(weaveNetworkAction({ driver: 'weavemesh', subnets: ['10.32.0.0/12'], containers: 0 }, undefined), { kind: 'replace', from: '10.32.0.0/12' });
  assert.deepEqual(weaveNetworkAction({ driver: 'weavemesh', subnets: [], containers: 0 }, '10.32.0.0/12'), { kind: 'replace', from: 'none' });
});

test('with containers on it, or another driver\'s: left alone, with a warning naming the values and what to do', () => {
  const busy = weaveNetworkAction({ driver: 'weavemesh', subnets: ['10.32.0.0/12'], containers: 2 }, '10.64.0.0/16');
  assert.equal(busy.kind, 'warn');
  assert.match((busy as { message: string }).message, /subnet 10\.32\.0\.0\/12, not this router's default subnet 10\.64\.0\.0\/16; its 2 container.*docker network rm weave/);
  const foreign = weaveNetworkAction({ driver: 'bridge', subnets: ['172.20.0.0/16'], containers: 0 }, '10.32.0.0/12');
  assert.equal(foreign.kind, 'warn');
  assert.match((foreign as { message: string }).message, /driver "bridge", not weavemesh/);
});
