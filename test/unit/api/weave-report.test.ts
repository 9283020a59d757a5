// The Weave-shaped report: field names as Weave's (prog/weaver/http.go WeaveReport, mesh.Status, ipam.Status,
// nameserver.Status; WEAVE-FACTS §1.8), the values mapped from the snapshot, routes from the topology,
// and templates from Weave's documentation and scripts over it.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { H1, H2, H3, sampleStatus } from '../../support/status-sample.js';
import { asWeaveReport, weaveReport } from '../../../src/api/weave-report.js';
import { renderTemplate } from '../../../src/api/go-template-exec.js';

test('field names are Weave\'s, at every level', () => {
  const r = weaveReport(sampleStatus());
  const keys = (o: object) => Object.keys(o).sort();
  assert.deepEqual(keys(r), ['DNS', 'IPAM', 'Ready', 'Router', 'Version']);
  assert.deepEqual(keys(r.Router), ['BroadcastRoutes', 'Connections', 'Encryption', 'Name', 'NickName', 'PeerDiscovery',
    'Peers', 'Port', 'Protocol', 'ProtocolMaxVersion', 'ProtocolMinVersion', 'Targets', 'TerminationCount',
    'TrustedSubnets', 'UnicastRoutes']);
  assert.deepEqual(keys(r.Router.Peers[0]!), ['Connections', 'Name', 'NickName', 'UID']);
  assert.deepEqual(keys(r.Router.Peers[0]!.Connections[0]!), ['Address', 'Established', 'Name', 'NickName', 'Outbound']);
  assert.deepEqual(keys(r.Router.Connections[0]!), ['Address', 'Attrs', 'Info', 'Outbound', 'State']);
  assert.deepEqual(keys(r.Router.UnicastRoutes[0]!), ['Dest', 'Via']);
  assert.deepEqual(keys(r.Router.BroadcastRoutes[0]!), ['Source', 'Via']);
  // Status is tsweave's extra (the allocator's state line); the rest are Weave's.
  assert.deepEqual(keys(r.IPAM!), ['ActiveIPs', 'DefaultSubnet', 'Entries', 'PendingAllocates', 'PendingClaims', 'Range',
    'RangeNumIPs', 'Status']);
  assert.deepEqual(keys(r.IPAM!.Entries[0]!), ['IsKnownPeer', 'Nickname', 'Peer', 'Size', 'Token', 'Version']);
  assert.deepEqual(keys(r.DNS!), ['Address', 'Domain', 'Entries', 'TTL', 'Upstream']);
  assert.deepEqual(keys(r.DNS!.Entries[0]!), ['Address', 'ContainerID', 'Hostname', 'Origin', 'Tombstone', 'Version']);
});

test('values come from the snapshot; routes from the topology (both ends established)', () => {
  const r = weaveReport(sampleStatus());
  assert.equal(r.Router.Protocol, 'weave');
  assert.equal(r.Router.Name, H1);
  assert.equal(r.Router.TerminationCount, 3);
  assert.deepEqual(r.Router.Connections[0], {
    Address: '10.0.0.2:6783', Outbound: true, State: 'established',
    Info: `encrypted   sleeve ${H2}(h2) mtu=1376`, Attrs: { name: 'sleeve', mtu: 1376, encrypted: true, rekeys: 4 },
  });
  assert.deepEqual(r.Router.Connections[1], {
    Address: '10.0.0.7:6783', Outbound: true, State: 'failed', Info: 'connection refused, retry: never', Attrs: null,
  });
  assert.deepEqual(r.Router.UnicastRoutes, [
    { Dest: H1, Via: '00:00:00:00:00:00' }, { Dest: H2, Via: H2 }, { Dest: H3, Via: H2 },
  ]);
  assert.deepEqual(r.Router.BroadcastRoutes, [{ Source: H1, Via: [H2] }]);
  assert.equal(r.IPAM!.ActiveIPs, 2);
  assert.deepEqual(r.IPAM!.Entries[1], { Token: '10.40.0.0', Size: 524288, Peer: H2, Nickname: 'h2', IsKnownPeer: false, Version: 1 });
  assert.equal(r.DNS!.Entries[0]!.ContainerID, 'c1');

  // A link only one end reports established is not a route (Weave's symmetric routes).
  const s = sampleStatus();
  s.router.peers[2]!.connections = [];
  assert.deepEqual(weaveReport(s).Router.UnicastRoutes.map((u) => u.Dest), [H1, H2]);
  // No IPAM or DNS: null, so `{{.IPAM.Range}}` says "nil pointer" as Weave's does.
  delete s.ipam;
  delete s.dns;
  assert.equal(weaveReport(s).IPAM, null);
  assert.equal(weaveReport(s).DNS, null);
});

test('templates from Weave\'s docs and scripts', () => {
  const r = weaveReport(sampleStatus());
  const t = (tmpl: string) => renderTemplate('format', tmpl, r);
  assert.equal(t('{{.Router.Name}}'), H1);
  assert.equal(t('{{ .Router.NickName}}'), 'h1');
  assert.equal(t('{{.DNS.Domain}}'), 'weave.local.');
  assert.equal(t('{{ .Version }}'), '0.3.0');
  assert.equal(t('{{len .Router.Peers}}'), '3');
  assert.equal(t('{{.IPAM.Range}} {{.IPAM.DefaultSubnet}}'), '10.32.0.0/12 10.32.0.0/12');
  assert.equal(t('{{json .DNS}}'),
    `{"Domain":"weave.local.","Upstream":["8.8.8.8"],"Address":"172.17.0.1:53","TTL":1,"Entries":[{"Hostname":"web.weave.local.","Origin":"${H1}","ContainerID":"c1","Address":"10.32.0.1","Version":0,"Tombstone":0}]}`);
  // Weave's own `status connections` template over the report.
  assert.equal(
    t('{{range .Router.Connections}}{{if .Outbound}}->{{else}}<-{{end}} {{printf "%-21v" .Address}} {{printf "%-11v" .State}} {{.Info}}{{"\\n"}}{{end}}'),
    `-> 10.0.0.2:6783         established encrypted   sleeve ${H2}(h2) mtu=1376\n` +
    '-> 10.0.0.7:6783         failed      connection refused, retry: never\n');
  assert.equal(t('{{range .Router.Connections}}{{with .Attrs}}{{.name}} {{.rekeys}}{{end}}{{end}}'), 'sleeve 4');
  assert.equal(t('{{range .IPAM.Entries}}{{.Token}} {{.Size}} {{.Nickname}}{{"\\n"}}{{end}}'),
    '10.32.0.0 524288 h1\n10.40.0.0 524288 h2\n');
});

test('a report read back from JSON evaluates the same (Attrs stay a map)', () => {
  const back = asWeaveReport(JSON.parse(JSON.stringify(weaveReport(sampleStatus()))));
  assert.ok(back);
  assert.equal(renderTemplate('f', '{{(index .Router.Connections 0).Attrs.nope}}', back), '<no value>');
  assert.equal(renderTemplate('f', '{{(index .Router.Connections 0).Attrs}}', back), 'map[encrypted:true mtu:1376 name:sleeve rekeys:4]');
  assert.equal(asWeaveReport({ version: '1', router: {} }), undefined, 'the snapshot is not a report');
  assert.equal(asWeaveReport(null), undefined);
});
