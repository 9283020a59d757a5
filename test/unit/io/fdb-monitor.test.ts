// Which `bridge monitor fdb` lines wake the fast datapath (io/fdb-monitor.ts): a MAC learnt or forgotten on
// a container port of our bridge; never the router's own ports, permanent or static entries, other bridges.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { isContainerPortEvent } from '../../../src/io/fdb-monitor.js';

const own = ['vethwe-tap', 'vxlan-6784', 'weave'];

test('container-port learns and deletions count; the router\'s ports, permanent and static entries do not', () => {
  const yes = [
    '02:11:22:33:44:55 dev vethwepl1234 master weave ',
    'Deleted 02:11:22:33:44:55 dev vethwepl1234 master weave ',
    '02:11:22:33:44:55 dev vethwepl1234 vlan 1 master weave',
  ];
  const no = [
    '02:11:22:33:44:55 dev vethwe-tap master weave ',
    'f6:b3:d5:96:6a:1e dev vxlan-6784 sticky master weave static',
    'f6:b3:d5:96:6a:1e dev vxlan-6784 dst 10.200.0.1 self permanent',
    'Deleted 6a:2a:46:8a:85:7d dev weave master weave permanent',
    'ee:43:fa:b7:38:5c dev vethwepl1234 master weave permanent',
    '02:11:22:33:44:55 dev vethwe-fdp master weave-fdp ',
    '33:33:00:00:00:01 dev vethwepl1234 self permanent',
    '',
    'garbage',
    'dev',
  ];
  for (const l of yes) assert.equal(isContainerPortEvent(l, 'weave', own), true, l);
  for (const l of no) assert.equal(isContainerPortEvent(l, 'weave', own), false, l);
});
