import { test } from 'vitest';
import assert from 'node:assert/strict';
import { DockerPlugin, macOfAddress, type PluginFacade } from '../../../src/containers/docker-plugin.js';
import { formatCidr, parseCidr, type Cidr } from '../../../src/core/types.js';

function setup(ipamOn = true) {
  const calls: string[] = [];
  let n = 0;
  const f: PluginFacade = {
    ipam: () => (ipamOn ? { range: parseCidr('10.32.0.0/12'), defaultSubnet: parseCidr('10.32.0.0/16') } : undefined),
    newOwner: () => `weavemesh:${++n}`,
    allocate: async (owner: string, subnet: Cidr) => {
      calls.push(`allocate ${owner} ${formatCidr(subnet)}`);
      return `${formatCidr({ addr: subnet.addr + 5, prefix: subnet.prefix })}`;
    },
    claim: async (owner: string, cidr: Cidr) => {
      calls.push(`claim ${owner} ${formatCidr(cidr)}`);
    },
    release: async (addr: string) => {
      calls.push(`release ${addr}`);
    },
    createVeth: async (ep: string) => {
      calls.push(`veth ${ep}`);
      return `vethwg${ep.slice(0, 9)}`;
    },
    deleteVeth: async (ep: string) => {
      calls.push(`unveth ${ep}`);
    },
    egress: async (ep: string, cidr: Cidr) => {
      calls.push(`egress ${ep} ${formatCidr(cidr)}`);
      return ipamOn ? '10.32.0.1' : undefined;
    },
    endpointGone: (ep: string) => void calls.push(`gone ${ep}`),
  };
  return { p: new DockerPlugin(f), calls };
}

const EP = 'a'.repeat(64);

test('the call sequence Docker makes for docker run --net=weave', async () => {
  const { p, calls } = setup();
  assert.deepEqual((await p.handle('/Plugin.Activate', undefined)).body, { Implements: ['NetworkDriver', 'IpamDriver'] });
  const pool = await p.handle('/IpamDriver.RequestPool', { AddressSpace: 'weavelocal', Pool: '', Options: {}, V6: false });
  assert.deepEqual(pool.body, { PoolID: '10.32.0.0/16', Pool: '10.32.0.0/16', Data: {} });
  const gw = await p.handle('/IpamDriver.RequestAddress', { PoolID: '10.32.0.0/16', Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
  assert.deepEqual(gw.body, { Address: '10.32.0.1/16' });
  assert.deepEqual(calls, [], 'the gateway address is not claimed');
  const a = await p.handle('/IpamDriver.RequestAddress', { PoolID: '10.32.0.0/16', Address: '', Options: {} });
  assert.deepEqual(a.body, { Address: '10.32.0.5/16' });
  const ep = await p.handle('/NetworkDriver.CreateEndpoint', { NetworkID: 'n1', EndpointID: EP, Interface: { Address: '10.32.0.5/16', MacAddress: '' } });
  assert.deepEqual(ep.body, { Interface: { MacAddress: '02:57:0a:20:00:05' } });
  const join = await p.handle('/NetworkDriver.Join', { NetworkID: 'n1', EndpointID: EP, SandboxKey: '/var/run/docker/netns/x' });
  // Egress (issue 15): the default route goes via the router's bridge address in the container's subnet.
  assert.deepEqual(join.body, { InterfaceName: { SrcName: 'vethwgaaaaaaaaa', DstPrefix: 'ethwe' }, StaticRoutes: [], DisableGatewayService: true, Gateway: '10.32.0.1' });
  await p.handle('/NetworkDriver.DeleteEndpoint', { NetworkID: 'n1', EndpointID: EP });
  await p.handle('/IpamDriver.ReleaseAddress', { PoolID: '10.32.0.0/16', Address: '10.32.0.5' });
  assert.deepEqual(calls, [
    'allocate weavemesh:1 10.32.0.0/16', `veth ${EP}`, `egress ${EP} 10.32.0.5/16`, `gone ${EP}`, `unveth ${EP}`, 'release 10.32.0.5',
  ]);
});

test('--subnet and --ip: pools inside the range, addresses inside the pool are claimed', async () => {
  const { p, calls } = setup();
  assert.equal((await p.handle('/IpamDriver.RequestPool', { Pool: '10.40.1.0/24' })).ok, true);
  const out = await p.handle('/IpamDriver.RequestPool', { Pool: '192.168.0.0/24' });
  assert.match((out.body as { Err: string }).Err, /outside tsweave's --ipalloc-range 10\.32\.0\.0\/12/);
  assert.match(((await p.handle('/IpamDriver.RequestPool', { Pool: '10.40.1.7/24' })).body as { Err: string }).Err, /not a network address/);
  assert.match(((await p.handle('/IpamDriver.RequestPool', { Pool: '', V6: true })).body as { Err: string }).Err, /IPv6/);
  const ip = await p.handle('/IpamDriver.RequestAddress', { PoolID: '10.40.1.0/24', Address: '10.40.1.9' });
  assert.deepEqual(ip.body, { Address: '10.40.1.9/24' });
  const outside = await p.handle('/IpamDriver.RequestAddress', { PoolID: '10.40.1.0/24', Address: '10.40.2.9' });
  assert.equal(outside.ok, false);
  assert.deepEqual(calls, ['claim weavemesh:1 10.40.1.9/24']);
});

test('a network whose subnet is outside the range (left by a launch with another range): refused naming both and the fix', async () => {
  const { p, calls } = setup();
  for (const Address of ['', '10.64.0.9']) {
    const r = await p.handle('/IpamDriver.RequestAddress', { PoolID: '10.64.0.0/16', Address, Options: {} });
    assert.equal(r.ok, false);
    assert.match((r.body as { Err: string }).Err, /subnet 10\.64\.0\.0\/16 is outside tsweave's --ipalloc-range 10\.32\.0\.0\/12 .*docker network rm/);
  }
  // A pool wider than the range, starting inside it, is outside too.
  assert.equal((await p.handle('/IpamDriver.RequestAddress', { PoolID: '10.32.0.0/8', Address: '' })).ok, false);
  assert.deepEqual(calls, [], 'nothing allocated or claimed');
});

test('a weavemesh network with Docker\'s own IPAM (no --ipam-driver weavemesh) is refused at create, saying what to add', async () => {
  const { p } = setup();
  const r = await p.handle('/NetworkDriver.CreateNetwork', { NetworkID: 'n', IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '172.18.0.0/16', Gateway: '172.18.0.1/16' }] });
  assert.equal(r.ok, false);
  assert.equal((r.body as { Err: string }).Err, "tsweave: subnet 172.18.0.0/16 is outside tsweave's --ipalloc-range 10.32.0.0/12; a weavemesh network needs tsweave's addresses: add --ipam-driver weavemesh");
  assert.equal((await p.handle('/NetworkDriver.CreateNetwork', { NetworkID: 'n', IPv4Data: [{ AddressSpace: 'weavelocal', Pool: '10.40.1.0/24' }] })).ok, true);
  // With IPAM off the pools are not tsweave's to judge.
  assert.equal((await setup(false).p.handle('/NetworkDriver.CreateNetwork', { NetworkID: 'n', IPv4Data: [{ Pool: '172.18.0.0/16' }] })).ok, true);
});

test('hostile or broken bodies are refused with a reason, never thrown', async () => {
  const { p, calls } = setup();
  const bad: Array<[string, unknown]> = [
    ['/NetworkDriver.Join', null],
    ['/NetworkDriver.Join', []],
    ['/NetworkDriver.Join', 'x'],
    ['/NetworkDriver.Join', { EndpointID: '../../etc' , SandboxKey: '/x' }],
    ['/NetworkDriver.Join', { EndpointID: EP }],
    ['/NetworkDriver.Join', { EndpointID: 'a'.repeat(129), SandboxKey: '/x' }],
    ['/NetworkDriver.DeleteEndpoint', { EndpointID: 5 }],
    ['/IpamDriver.RequestAddress', { PoolID: 'nonsense' }],
    ['/IpamDriver.RequestAddress', { PoolID: '10.32.0.0/16', Address: '10.32.0.300' }],
    ['/IpamDriver.RequestAddress', { PoolID: '10.32.0.0/16', Options: 'x' }],
    ['/IpamDriver.ReleaseAddress', { Address: 'x'.repeat(100) }],
    ['/NetworkDriver.CreateNetwork', { NetworkID: 'n', IPv6Data: [{ Pool: 'fd00::/64' }] }],
    ['/NoSuch.Call', {}],
    ['/__proto__', {}],
    ['/constructor', {}],
  ];
  for (const [path, body] of bad) {
    const r = await p.handle(path, body);
    assert.equal(r.ok, false, `${path} ${JSON.stringify(body)} was accepted`);
    assert.match((r.body as { Err: string }).Err, /^tsweave: /);
  }
  assert.deepEqual(calls, []);
});

test('IPAM disabled: the IPAM driver says so', async () => {
  const { p } = setup(false);
  const r = await p.handle('/IpamDriver.RequestPool', { Pool: '' });
  assert.match((r.body as { Err: string }).Err, /IPAM is disabled/);
});

test('the MAC follows the address (stable across a restart)', () => {
  assert.equal(macOfAddress(parseCidr('10.32.7.7/16').addr), '02:57:0a:20:07:07');
});
