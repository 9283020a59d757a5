// IprouteHostNetwork with a recording fake `exec`: the exact commands, names and idempotent paths.
// (The real kernel behaviour is in test/netns/host-network.test.ts.)
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../src/core/logger.js';
import { CommandError, type ExecFn } from '../../../src/io/exec.js';
import { IprouteHostNetwork, containerTmpVethName, hostVethName, vethSuffix } from '../../../src/io/host-network.js';

/** A fake system: links per namespace ("" = host). Understands the few commands the adapter issues. */
function fakeSystem(links: Record<string, string[]> = {}) {
  const calls: string[] = [];
  const exec: ExecFn = async (file, args) => {
    calls.push([file, ...args].join(' '));
    let ns = '';
    let a = [...args];
    let f = file;
    if (f === 'nsenter') {
      ns = a[0]!.replace('--net=', '');
      f = a[1]!;
      a = a.slice(2);
    }
    if (f !== 'ip') return { stdout: '', stderr: '' };
    const have = (links[ns] ??= []);
    const fail = (msg: string) => {
      throw new CommandError(`command failed: ${msg}`, { command: [f, ...a].join(' '), exitCode: 1, stdout: '', stderr: msg + '\n' });
    };
    const s = a.join(' ');
    let m: RegExpExecArray | null;
    if ((m = /^-j -d link show dev (\S+)$/.exec(s))) {
      if (!have.includes(m[1]!)) fail(`Device "${m[1]}" does not exist.`);
      return { stdout: JSON.stringify([{ ifname: m[1], linkinfo: { info_kind: m[1] === 'weave' ? 'bridge' : 'veth' } }]), stderr: '' };
    }
    if ((m = /^link add name (\S+) type bridge$/.exec(s))) have.push(m[1]!);
    if ((m = /^link add (\S+) mtu \d+ type veth peer name (\S+) mtu \d+ netns (\S+)$/.exec(s))) {
      have.push(m[1]!);
      (links[''] ??= []).push(m[2]!);
    }
    if ((m = /^link set dev (\S+) name (\S+)$/.exec(s))) have[have.indexOf(m[1]!)] = m[2]!;
    if ((m = /^link del dev (\S+)$/.exec(s))) {
      if (!have.includes(m[1]!)) fail(`Cannot find device "${m[1]}"`);
      have.splice(have.indexOf(m[1]!), 1);
    }
    return { stdout: '', stderr: '' };
  };
  return { calls, exec, links };
}

test('veth names: deterministic, ≤ 15 characters, Weave prefixes', () => {
  const h = hostVethName('4f1c2d3e4f5a6b7c');
  assert.equal(h, hostVethName('4f1c2d3e4f5a6b7c'));
  assert.notEqual(h, hostVethName('4f1c2d3e4f5a6b7d'));
  assert.match(h, /^vethwepl[0-9a-z]{7}$/);
  assert.equal(containerTmpVethName(h), `vethwepg${vethSuffix('4f1c2d3e4f5a6b7c')}`);
  assert.ok(containerTmpVethName(h).length <= 15);
});

test('ensureVeth creates the pair inside the container, renames, attaches with hairpin', async () => {
  const sys = fakeSystem();
  const net = new IprouteHostNetwork({ logger: silentLogger(), exec: sys.exec }, { gratuitousArp: false });
  await net.ensureVeth({ netnsPath: '/proc/42/ns/net', ifname: 'ethwe', hostName: 'vethwepl1234567', mtu: 1376 }, 'weave');
  assert.deepEqual(sys.calls, [
    'nsenter --net=/proc/42/ns/net ip -j -d link show dev ethwe',
    'ip -j -d link show dev vethwepl1234567',
    'nsenter --net=/proc/42/ns/net ip -j -d link show dev vethwepg1234567',
    `nsenter --net=/proc/42/ns/net ip link add vethwepg1234567 mtu 1376 type veth peer name vethwepl1234567 mtu 1376 netns ${process.pid}`,
    'nsenter --net=/proc/42/ns/net ip link set dev vethwepg1234567 name ethwe',
    'ip link set dev vethwepl1234567 mtu 1376 master weave',
    'ip link set dev vethwepl1234567 type bridge_slave hairpin on',
    'ip link set dev vethwepl1234567 up',
  ]);
  // again: nothing is created, settings are re-applied
  sys.calls.length = 0;
  await net.ensureVeth({ netnsPath: '/proc/42/ns/net', ifname: 'ethwe', hostName: 'vethwepl1234567', mtu: 1376 }, 'weave');
  assert.ok(!sys.calls.some((c) => c.includes('link add')));
  assert.ok(sys.calls.includes('nsenter --net=/proc/42/ns/net ip link set dev ethwe mtu 1376'));
});

test('with hostNetns, host commands run there and the host end is sent there', async () => {
  const sys = fakeSystem();
  const net = new IprouteHostNetwork({ logger: silentLogger(), exec: sys.exec }, { hostNetns: '/run/netns/h', gratuitousArp: false });
  await net.ensureBridge('weave', 1376, '02:AA:BB:CC:DD:EE');
  assert.deepEqual(sys.calls, [
    'nsenter --net=/run/netns/h ip -j -d link show dev weave',
    'nsenter --net=/run/netns/h ip link add name weave type bridge',
    'nsenter --net=/run/netns/h ip link set dev weave mtu 1376 address 02:aa:bb:cc:dd:ee up',
  ]);
  sys.calls.length = 0;
  await net.ensureVeth({ netnsPath: '/run/netns/c', ifname: 'ethwe', hostName: 'vethwepl0000001', mtu: 1376 }, 'weave');
  assert.ok(sys.calls.some((c) => c.endsWith('netns /run/netns/h')));
});

test('ethwe without our host end is refused with what to do', async () => {
  const sys = fakeSystem({ '/proc/42/ns/net': ['ethwe'] });
  const net = new IprouteHostNetwork({ logger: silentLogger(), exec: sys.exec });
  await assert.rejects(
    net.ensureVeth({ netnsPath: '/proc/42/ns/net', ifname: 'ethwe', hostName: 'vethwepl1234567', mtu: 1376 }, 'weave'),
    {
      code: 'ERR_HOST_NETWORK',
      message:
        'container /proc/42/ns/net already has an interface "ethwe" whose peer is not "vethwepl1234567" on this host; ' +
        'detach it first (or delete it: nsenter --net=/proc/42/ns/net ip link del ethwe)',
    },
  );
});

test('bad interface names are refused before any command runs', async () => {
  const sys = fakeSystem();
  const net = new IprouteHostNetwork({ logger: silentLogger(), exec: sys.exec });
  await assert.rejects(net.ensureBridge('weave; rm -rf /', 1376, '02:00:00:00:00:01'), {
    message: 'invalid bridge name "weave; rm -rf /": must be 1..15 of A-Z a-z 0-9 _ . -',
  });
  await assert.rejects(net.linkExists('a-name-that-is-too-long'), { code: 'ERR_HOST_NETWORK' });
  assert.deepEqual(sys.calls, []);
});

test('the router\'s own host plumbing: TAP onto the bridge, DNS address, docker0 address, routes', async () => {
  const calls: string[] = [];
  const outputs: Record<string, string> = {
    '-j -4 addr show dev docker0': JSON.stringify([{ ifname: 'docker0', addr_info: [{ family: 'inet', local: '172.17.0.1', prefixlen: 16 }] }]),
    '-j -4 route show': JSON.stringify([{ dst: 'default', dev: 'eth0' }, { dst: '10.32.0.0/12', dev: 'weave' }]),
  };
  const exec: ExecFn = async (file, args) => {
    calls.push([file, ...args].join(' '));
    const out = outputs[args.join(' ')];
    if (out === undefined && args[0] === '-j') {
      throw new CommandError('command failed', { command: args.join(' '), exitCode: 1, stdout: '', stderr: 'Device "x" does not exist.\n' });
    }
    return { stdout: out ?? '', stderr: '' };
  };
  const net = new IprouteHostNetwork({ logger: silentLogger(), exec });
  await net.attachToBridge('vethwe-tap', 'weave', 1376);
  await net.replaceLinkAddr('weave', '10.32.0.5/12');
  assert.equal(await net.linkAddress('docker0'), '172.17.0.1');
  assert.equal(await net.linkAddress('nosuch0'), undefined);
  assert.deepEqual(await net.ipv4Routes(), [{ dst: 'default', dev: 'eth0' }, { dst: '10.32.0.0/12', dev: 'weave' }]);
  assert.deepEqual(calls.slice(0, 2), ['ip link set dev vethwe-tap mtu 1376 master weave up', 'ip addr replace 10.32.0.5/12 dev weave']);
  await assert.rejects(net.replaceLinkAddr('weave', '10.32.0.300/12'), /invalid address/);
  await assert.rejects(net.attachToBridge('bad name', 'weave', 1376), /invalid link name/);
});
