// io/vxlan.ts without the kernel: the commands setup and program run (a recording exec), and which bridge
// forwarding entries count as this host's containers.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { silentLogger } from '../../../src/core/logger.js';
import type { TapDevice } from '../../../src/core/ports.js';
import { IprouteVxlan, parseLocalMacs } from '../../../src/io/vxlan.js';

function recorder() {
  const calls: string[] = [];
  const exec = async (file: string, args: readonly string[]) => {
    // A batch file is read while the command "runs" (it is removed afterwards).
    const batch = args[0] === '-force' ? `\n${readFileSync(args[2]!, 'utf8')}` : '';
    calls.push(`${file} ${args.join(' ')}${batch}`);
    return { stdout: '', stderr: '' };
  };
  const tap = { name: 'vethwe-fdp', close: () => undefined } as unknown as TapDevice;
  const vx = new IprouteVxlan({ bridge: 'weave', sleeveTap: 'vethwe-tap', port: 6784, mtu: 1376, heartbeatMac: 0x0600000000aa, openTap: () => tap, logger: silentLogger(), exec });
  return { calls, vx };
}

test('setup: vxlan on the bridge without learning, TAP and vxlan isolated, heartbeats on their own bridge', async () => {
  const { calls, vx } = recorder();
  await vx.setup();
  const text = calls.join('\n');
  // The data device takes any frame the bridge has (the kernel answers DF frames too big for the underlay).
  assert.match(text, /ip link add vxlan-6784 mtu 65485 type vxlan id 6784 dstport 6784 nolearning/);
  assert.match(text, /ip link set dev vxlan-6784 master weave up/);
  assert.match(text, /bridge link set dev vxlan-6784 learning off isolated on/);
  assert.match(text, /bridge link set dev vethwe-tap isolated on/);
  assert.match(text, /ip link add vxlanhb-6784 mtu 1376 type vxlan id 6785 dstport 6784 nolearning/);
  assert.match(text, /ip link set dev vxlanhb-6784 master weave-fdp up/);
  assert.match(text, /ip link set dev vethwe-fdp mtu 1376 master weave-fdp up/);
  assert.match(text, /bridge fdb replace 06:00:00:00:00:aa dev vethwe-fdp master static sticky/);
  assert.ok(!/vxlan-6784 .*remote|group/.test(text), 'no default remote: unknown and broadcast frames are dropped');
});

test('program: sticky static bridge entry plus the vxlan destination, per device; removals first', async () => {
  const { calls, vx } = recorder();
  await vx.program(
    [{ device: 'data', mac: 0x02000000b001, underlay: 0x0ac80002 }, { device: 'heartbeat', mac: 0x0e0000000002, underlay: 0x0ac80002 }],
    [{ device: 'data', mac: 0x02000000c001, underlay: 0x0ac80003 }],
  );
  assert.equal(calls.length, 1);
  assert.equal(calls[0], [
    'bridge -force -batch ' + calls[0]!.split(' ')[3]!.split('\n')[0],
    'fdb del 02:00:00:00:c0:01 dev vxlan-6784 master',
    'fdb del 02:00:00:00:c0:01 dev vxlan-6784 self',
    'fdb replace 02:00:00:00:b0:01 dev vxlan-6784 master static sticky',
    'fdb replace 02:00:00:00:b0:01 dev vxlan-6784 self dst 10.200.0.2',
    'fdb replace 0e:00:00:00:00:02 dev vxlanhb-6784 master static sticky',
    'fdb replace 0e:00:00:00:00:02 dev vxlanhb-6784 self dst 10.200.0.2',
    '',
  ].join('\n'));
  await vx.program([], []);
  assert.equal(calls.length, 1, 'nothing to do runs nothing');
});

test('local MACs: dynamic entries on container ports only', () => {
  const json = JSON.stringify([
    { mac: '33:33:00:00:00:01', ifname: 'weave', flags: ['self'], state: 'permanent' },
    { mac: '02:00:00:00:b0:01', ifname: 'vxlan-6784', flags: ['sticky'], master: 'weave', state: 'static' },
    { mac: 'aa:bb:cc:00:00:01', ifname: 'vethwepl1234567', flags: [], master: 'weave', state: '' },
    { mac: 'aa:bb:cc:00:00:02', ifname: 'vethwepl7654321', master: 'weave' },
    { mac: 'aa:bb:cc:00:00:03', ifname: 'vethwe-tap', master: 'weave' },
    { mac: '7e:00:00:00:00:04', ifname: 'vethwepl1234567', master: 'weave', state: 'permanent' },
    { mac: '01:00:5e:00:00:01', ifname: 'vethwepl1234567', master: 'weave' },
    { mac: 'not a mac', ifname: 'vethwepl1234567', master: 'weave' },
  ]);
  assert.deepEqual(parseLocalMacs(json, ['vethwe-tap', 'vxlan-6784', 'weave']), [0xaabbcc000001, 0xaabbcc000002]);
  assert.deepEqual(parseLocalMacs('garbage', []), []);
  assert.deepEqual(parseLocalMacs('{"a":1}', []), []);
});
