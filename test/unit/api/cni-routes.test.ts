// The CNI routes check every body field before the router acts: a hostile local client gets a 400 naming
// the field and the rule, and the backend is never called.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { cniRoutes, type CniBackend, type CniRequest } from '../../../src/api/cni-routes.js';

function setup() {
  const seen: Array<[string, CniRequest | Pick<CniRequest, 'containerId'>]> = [];
  const backend: CniBackend = {
    cniAdd: async (r) => (seen.push(['add', r]), { cidr: '10.32.0.2/12', gateway: '10.32.0.1', mac: 'aa' }),
    cniDel: async (r) => void seen.push(['del', r]),
    cniCheck: async (r) => void seen.push(['check', r]),
  };
  const routes = new Map(cniRoutes(backend).map((r) => [r.pattern, r]));
  const call = (path: string, body: unknown) =>
    routes.get(path)!.handler({ method: 'POST', path, params: {}, query: new URLSearchParams(), body });
  return { seen, routes, call };
}

const good = { containerId: 'abc', netns: '/run/netns/x', ifname: 'eth0', dnsName: 'web.default' };

test('unix socket only: no route is served over TCP', () => {
  for (const r of setup().routes.values()) assert.equal(r.tcp, undefined, r.pattern);
});

test('good bodies reach the backend; DEL needs no netns', async () => {
  const { seen, call } = setup();
  assert.deepEqual((await call('/cni/add', good)).body, { cidr: '10.32.0.2/12', gateway: '10.32.0.1', mac: 'aa' });
  assert.equal((await call('/cni/del', { containerId: 'abc', ifname: 'eth0', netns: '' })).status, 204);
  assert.equal((await call('/cni/check', { ...good, dnsName: undefined })).status, 204);
  assert.deepEqual(seen.map((s) => s[0]), ['add', 'del', 'check']);
  assert.deepEqual(seen[0]![1], good);
});

test('hostile bodies are refused with the field named, and nothing is called', async () => {
  const { seen, call } = setup();
  const bad: Array<[string, unknown]> = [
    ['/cni/add', null], ['/cni/add', []], ['/cni/add', { ...good, containerId: '../x' }], ['/cni/add', { ...good, containerId: 5 }],
    ['/cni/add', { ...good, containerId: 'a'.repeat(300) }], ['/cni/add', { ...good, netns: 'rel' }], ['/cni/add', { ...good, netns: '' }],
    ['/cni/add', { ...good, netns: '/a\0b' }], ['/cni/add', { ...good, ifname: 'a'.repeat(16) }], ['/cni/add', { ...good, ifname: 'e:1' }],
    ['/cni/add', { ...good, dnsName: 'UPPER' }], ['/cni/add', { ...good, dnsName: 'a_b' }], ['/cni/add', { ...good, dnsName: `${'a.'.repeat(110)}a` }],
    ['/cni/check', { ...good, netns: undefined }], ['/cni/del', { ifname: 'eth0' }],
  ];
  for (const [path, body] of bad) {
    await assert.rejects(Promise.resolve().then(() => call(path, body)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_CONFIG', `${path} ${JSON.stringify(body)?.slice(0, 60)}`);
      assert.match(err.message, /request field "\w+"/);
      return true;
    });
  }
  assert.deepEqual(seen, []);
});
