// deploy/kubernetes/tsweave.yaml checked offline (kubectl cannot validate without a server here, TEST-ENV
// §6): the objects parse, and the DaemonSet has what a node's pod network needs — host network and PID,
// privileged, the CNI install as an init step writing where the node's runtime looks, the data dir and the
// API socket directory on the host, the password from the Secret and the peers from the ConfigMap.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { parseCommand } from '../../../src/cli/commands.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const text = readFileSync(join(import.meta.dirname, '..', '..', '..', 'deploy', 'kubernetes', 'tsweave.yaml'), 'utf8');
const docs = parseAllDocuments(text);
const objs = docs.map((d) => d.toJS() as Obj);
const find = (kind: string) => {
  const o = objs.find((x) => x.kind === kind);
  assert.ok(o, `a ${kind}`);
  return o;
};

test('every document parses and is a namespaced kube-system object with apiVersion, kind and name', () => {
  for (const d of docs) assert.deepEqual(d.errors, []);
  assert.deepEqual(objs.map((o) => o.kind).sort(), ['ConfigMap', 'DaemonSet', 'ServiceAccount']);
  for (const o of objs) {
    assert.equal(typeof o.apiVersion, 'string');
    assert.match(o.metadata.name, /^[a-z0-9-]+$/);
    assert.equal(o.metadata.namespace, 'kube-system');
  }
});

test('the DaemonSet: host network and PID, privileged, node-critical, on every node', () => {
  const ds = find('DaemonSet');
  assert.equal(ds.apiVersion, 'apps/v1');
  const spec = ds.spec.template.spec;
  assert.deepEqual(ds.spec.selector.matchLabels, ds.spec.template.metadata.labels);
  assert.equal(spec.hostNetwork, true);
  assert.equal(spec.hostPID, true);
  assert.equal(spec.serviceAccountName, find('ServiceAccount').metadata.name);
  assert.equal(spec.priorityClassName, 'system-node-critical');
  assert.ok(spec.tolerations.some((t: Obj) => t.operator === 'Exists' && t.effect === undefined));
  for (const c of [...spec.initContainers, ...spec.containers]) assert.equal(c.securityContext.privileged, true, c.name);
});

test('the init step runs setup-cni into the node\'s CNI directories, with a runtime dir at the same path on the node', () => {
  const spec = find('DaemonSet').spec.template.spec;
  const volumes = new Map<string, Obj>(spec.volumes.map((v: Obj) => [v.name, v]));
  const init = spec.initContainers[0];
  assert.deepEqual(init.command.slice(0, 2), ['tsweave', 'setup-cni']);
  // The command is one the CLI accepts.
  const cmd = parseCommand(init.command.slice(1), {}, { env: {}, readFile: () => '' } as never);
  assert.equal(cmd.kind, 'setup-cni');
  const mountOf = (path: string) => init.volumeMounts.find((m: Obj) => m.mountPath === path);
  const hostPathOf = (path: string) => volumes.get(mountOf(path)?.name)?.hostPath?.path;
  if (cmd.kind !== 'setup-cni') return;
  assert.deepEqual(cmd.binDirs.map(hostPathOf), ['/opt/cni/bin']);
  assert.equal(hostPathOf(cmd.confDir), '/etc/cni/net.d');
  assert.equal(hostPathOf(cmd.runtimeDir!), cmd.runtimeDir, 'the shim names the runtime dir: the same path on the node');
});

test('the router: data dir and API socket dir on the host, password from the Secret, peers from the ConfigMap', () => {
  const spec = find('DaemonSet').spec.template.spec;
  const volumes = new Map<string, Obj>(spec.volumes.map((v: Obj) => [v.name, v]));
  const router = spec.containers[0];
  const script = router.command.join(' ');
  assert.match(script, /tsweave launch --foreground/);
  const mounted = (path: string) => volumes.get(router.volumeMounts.find((m: Obj) => m.mountPath === path)?.name);
  assert.equal(mounted('/var/lib/tsweave')?.hostPath.path, '/var/lib/tsweave');
  assert.match(script, /--data-dir \/var\/lib\/tsweave/);
  assert.equal(mounted('/run/tsweave')?.hostPath.path, '/run/tsweave');
  assert.equal(mounted('/run/netns')?.hostPath.path, '/run/netns');
  const pw = /--password-file (\S+)/.exec(script)?.[1];
  assert.ok(pw);
  const pwVol = mounted(pw.slice(0, pw.lastIndexOf('/')));
  assert.equal(pwVol?.secret?.secretName, 'tsweave-password');
  const peers = /\$\(cat (\S+)\)/.exec(script)?.[1];
  assert.ok(peers);
  const peersVol = mounted(peers.slice(0, peers.lastIndexOf('/')));
  const cm = find('ConfigMap');
  assert.equal(peersVol?.configMap?.name, cm.metadata.name);
  assert.equal(typeof cm.data[peers.slice(peers.lastIndexOf('/') + 1)], 'string');
  assert.equal(router.image, spec.initContainers[0].image);
});
