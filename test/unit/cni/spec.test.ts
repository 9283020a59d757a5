// The CNI plugin's pure part and its run without a real router: hostile and oversized configurations and
// environments give the spec's error codes with bounded messages; results follow the runtime's version.
import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import {
  CniError, MAX_DETAILS_CHARS, MAX_MSG_CHARS, MAX_STDIN_BYTES, formatAddResult, formatError, parseCniArgs, parseEnv,
  parseNetConf, podDnsName,
} from '../../../src/cni/spec.js';
import { routerError, runPlugin, type RouterCall } from '../../../src/cni/plugin.js';
import { ApiError, RouterNotRunningError } from '../../../src/cli/api-client.js';
import { conflistText, shimText } from '../../../src/cni/setup.js';

const base = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc123', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0' };
const conf = (o: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: '1.0.0', name: 'tsweave', type: 'tsweave-net', ...o });

function codeOf(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CniError, String(err));
    assert.ok(err.message.length <= 600, 'messages stay short');
    return err.code;
  }
  assert.fail('expected a CniError');
}

describe('environment', () => {
  test('a good one parses; CNI_ARGS become a map', () => {
    const e = parseEnv({ ...base, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web;;K8S_POD_NAMESPACE=default' });
    assert.equal(e.command, 'ADD');
    assert.equal(e.args.get('K8S_POD_NAME'), 'web');
  });
  test('DEL may have an empty CNI_NETNS; ADD and CHECK may not', () => {
    assert.equal(parseEnv({ ...base, CNI_COMMAND: 'DEL', CNI_NETNS: '' }).netns, '');
    assert.equal(codeOf(() => parseEnv({ ...base, CNI_NETNS: '' })), 4);
    assert.equal(codeOf(() => parseEnv({ ...base, CNI_COMMAND: 'CHECK', CNI_NETNS: undefined })), 4);
  });
  test('hostile values are code 4', () => {
    for (const bad of [
      { CNI_COMMAND: 'RM' }, { CNI_COMMAND: undefined }, { CNI_CONTAINERID: '' }, { CNI_CONTAINERID: '-x' },
      { CNI_CONTAINERID: 'a/../../etc' }, { CNI_CONTAINERID: 'a'.repeat(253) }, { CNI_NETNS: 'relative/path' },
      { CNI_NETNS: '/a\0b' }, { CNI_NETNS: `/${'a'.repeat(5000)}` }, { CNI_IFNAME: '' }, { CNI_IFNAME: 'eth0:1' },
      { CNI_IFNAME: 'a'.repeat(16) }, { CNI_IFNAME: '..' }, { CNI_IFNAME: 'e th' }, { CNI_ARGS: 'novalue' },
      { CNI_ARGS: `K=${'v'.repeat(5000)}` },
    ]) {
      assert.equal(codeOf(() => parseEnv({ ...base, ...bad })), 4, JSON.stringify(bad).slice(0, 80));
    }
  });
  test('the longest container id accepted still fits IPAM and DNS ids with its "cni:" prefix', () => {
    assert.equal(parseEnv({ ...base, CNI_CONTAINERID: 'a'.repeat(252) }).containerId.length, 252);
  });
  test('CNI_ARGS with "=" in a value keeps it', () => {
    assert.equal(parseCniArgs('A=b=c').get('A'), 'b=c');
  });
});

describe('network configuration', () => {
  test('a good one parses, with an apiSocket', () => {
    const c = parseNetConf(conf({ apiSocket: '/run/x/api.sock', prevResult: { ips: [] }, runtimeConfig: {} }));
    assert.deepEqual(c, { cniVersion: '1.0.0', name: 'tsweave', type: 'tsweave-net', apiSocket: '/run/x/api.sock' });
  });
  test('bad JSON is 6; wrong shapes are 7; an unknown version is 1; an ipam section is 2', () => {
    assert.equal(codeOf(() => parseNetConf('{')), 6);
    assert.equal(codeOf(() => parseNetConf('')), 6);
    for (const bad of ['[]', 'null', '"x"', '{}', JSON.stringify({ cniVersion: 1 }), conf({ name: '' }), conf({ name: 'a b' }),
      conf({ name: 7 }), conf({ type: undefined }), conf({ apiSocket: 'relative' }), conf({ apiSocket: `/${'s'.repeat(200)}` }),
      conf({ apiSocket: 5 })]) {
      assert.equal(codeOf(() => parseNetConf(bad)), 7, bad.slice(0, 80));
    }
    assert.equal(codeOf(() => parseNetConf(conf({ cniVersion: '2.0.0' }))), 1);
    assert.equal(codeOf(() => parseNetConf(conf({ cniVersion: '1.0.0-rc1' }))), 1);
    assert.equal(codeOf(() => parseNetConf(conf({ ipam: { type: 'host-local' } }))), 2);
  });
  test('an oversized configuration is refused before parsing', () => {
    assert.equal(codeOf(() => parseNetConf(conf({ pad: 'x'.repeat(MAX_STDIN_BYTES) }))), 7);
  });
  test('deeply nested JSON is an error, not a crash', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const code = codeOf(() => parseNetConf(deep.slice(0, MAX_STDIN_BYTES)));
    assert.ok(code === 6 || code === 7);
  });
});

describe('pod DNS names', () => {
  test('POD.NAMESPACE, or POD alone; lower-cased; invalid names give none', () => {
    assert.equal(podDnsName(new Map([['K8S_POD_NAME', 'Web-1'], ['K8S_POD_NAMESPACE', 'default']])), 'web-1.default');
    assert.equal(podDnsName(new Map([['K8S_POD_NAME', 'p1']])), 'p1');
    assert.equal(podDnsName(new Map()), undefined);
    for (const bad of ['my_ctr', '-x', 'a..b', 'x'.repeat(64), `${'a.'.repeat(120)}a`, 'a\nb']) {
      assert.equal(podDnsName(new Map([['K8S_POD_NAME', bad]])), undefined, bad.slice(0, 40));
    }
  });
});

describe('results and errors', () => {
  const answer = { cidr: '10.32.0.5/12', gateway: '10.32.0.1', mac: '02:00:00:00:00:01', dns: { address: '10.32.0.1', domain: 'weave.local.' } };
  const env = { ifname: 'eth0', netns: '/run/netns/x' };
  test('1.0.0: interfaces, ips without version, default route, dns', () => {
    assert.deepEqual(formatAddResult('1.0.0', env, answer), {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/run/netns/x' }],
      ips: [{ address: '10.32.0.5/12', gateway: '10.32.0.1', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.32.0.1' }],
      dns: { nameservers: ['10.32.0.1'], search: ['weave.local'] },
    });
  });
  test('0.3.x/0.4.0 add version "4"; 0.1.0/0.2.0 use ip4', () => {
    for (const v of ['0.3.0', '0.3.1', '0.4.0'] as const) {
      assert.equal((formatAddResult(v, env, answer).ips as Array<{ version: string }>)[0]!.version, '4');
    }
    assert.deepEqual(formatAddResult('0.2.0', env, answer).ip4, { ip: '10.32.0.5/12', gateway: '10.32.0.1', routes: [{ dst: '0.0.0.0/0', gw: '10.32.0.1' }] });
  });
  test('errors are capped and answer in a known version', () => {
    const e = formatError(new CniError(7, 'm'.repeat(10_000), 'd'.repeat(10_000)), '0.4.0');
    assert.equal(e.cniVersion, '0.4.0');
    assert.ok(String(e.msg).length <= MAX_MSG_CHARS);
    assert.ok(String(e.details).length <= MAX_DETAILS_CHARS);
    assert.equal(formatError(new CniError(1, 'x'), '<script>').cniVersion, '1.0.0');
  });
});

describe('runPlugin with a fake router', () => {
  const calls: Array<[string, unknown]> = [];
  const ok = (answer: string): (() => RouterCall) => () => async (path, body) => {
    calls.push([path, body]);
    return answer;
  };
  test('ADD sends the pod name and formats the answer; DEL and CHECK print nothing', async () => {
    calls.length = 0;
    const add = await runPlugin({ ...base, CNI_ARGS: 'K8S_POD_NAME=web;K8S_POD_NAMESPACE=ns1' }, conf(), ok(JSON.stringify({ cidr: '10.32.0.9/12', gateway: '10.32.0.1', mac: 'aa' })));
    assert.equal(add.exitCode, 0);
    assert.deepEqual(calls[0], ['/cni/add', { containerId: 'abc123', netns: '/run/netns/x', ifname: 'eth0', dnsName: 'web.ns1' }]);
    assert.equal((JSON.parse(add.stdout) as { ips: Array<{ address: string }> }).ips[0]!.address, '10.32.0.9/12');
    assert.deepEqual(await runPlugin({ ...base, CNI_COMMAND: 'DEL', CNI_NETNS: '' }, conf(), ok('')), { stdout: '', exitCode: 0 });
    assert.deepEqual(await runPlugin({ ...base, CNI_COMMAND: 'CHECK' }, conf(), ok('')), { stdout: '', exitCode: 0 });
  });
  test('CHECK before 0.4.0 is refused with code 1', async () => {
    const r = await runPlugin({ ...base, CNI_COMMAND: 'CHECK' }, conf({ cniVersion: '0.3.1' }), ok(''));
    assert.deepEqual([r.exitCode, (JSON.parse(r.stdout) as { code: number }).code], [1, 1]);
  });
  test('VERSION needs neither a valid config nor a router', async () => {
    const r = await runPlugin({ CNI_COMMAND: 'VERSION' }, 'garbage', () => assert.fail('no router call'));
    assert.equal(r.exitCode, 0);
  });
  test('router failures map to spec codes; a non-JSON answer is an error, not a crash', async () => {
    const addr = { host: '127.0.0.1', port: 6784 };
    assert.equal(routerError(new RouterNotRunningError(addr), 'ADD').code, 11);
    assert.equal(routerError(new ApiError(400, 'bad'), 'ADD').code, 7);
    assert.equal(routerError(new ApiError(404, 'gone'), 'ADD').code, 3);
    assert.equal(routerError(new ApiError(503, 'ipam'), 'ADD').code, 11);
    assert.equal(routerError(new ApiError(500, 'x'), 'CHECK').code, 101);
    assert.equal(routerError(new Error('boom'), 'DEL').code, 5);
    const r = await runPlugin(base, conf(), ok('<html>'));
    assert.deepEqual([r.exitCode, (JSON.parse(r.stdout) as { code: number }).code], [1, 100]);
    const failing = await runPlugin(base, conf(), () => async () => { throw new RouterNotRunningError(addr); });
    assert.equal((JSON.parse(failing.stdout) as { code: number }).code, 11);
  });
});

describe('setup-cni files', () => {
  test('the shim quotes its paths; the conflist chains portmap', () => {
    assert.equal(shimText("/opt/it's/node", '/x/main.js'), "#!/bin/sh\n# tsweave CNI plugin, installed by 'tsweave setup-cni'\nexec '/opt/it'\\''s/node' '/x/main.js' \"$@\"\n");
    const list = JSON.parse(conflistText('/run/s.sock')) as { name: string; cniVersion: string; plugins: Array<Record<string, unknown>> };
    assert.equal(list.name, 'tsweave');
    assert.deepEqual(list.plugins[0], { type: 'tsweave-net', apiSocket: '/run/s.sock' });
    assert.deepEqual(list.plugins[1], { type: 'portmap', capabilities: { portMappings: true }, snat: true });
  });
});
