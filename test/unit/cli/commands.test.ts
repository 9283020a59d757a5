// argv → Command for every verb: what is accepted, and the exact message for what is not.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { parseCommand, type Command } from '../../../src/cli/commands.js';

const deps = { hostname: 'host1', readFile: (): string => { throw new Error('no files here'); } };
const parse = (line: string): Command => parseCommand(line === '' ? [] : line.split(' '), {}, deps);
const ok = (line: string, expected: Command) => assert.deepEqual(parse(line), expected, line);
const bad = (line: string, message: string) =>
  assert.throws(() => parse(line), (err: Error & { code?: string }) => {
    assert.equal(err.message, message, line);
    assert.equal(err.code, 'ERR_CONFIG', line);
    return true;
  });

test('help and version forms', () => {
  ok('', { kind: 'help' });
  ok('--help', { kind: 'help' });
  ok('-h', { kind: 'help' });
  ok('help', { kind: 'help' });
  ok('help attach', { kind: 'help', command: 'attach' });
  ok('attach --help', { kind: 'help', command: 'attach' });
  ok('launch --mtu=1 --help', { kind: 'help', command: 'launch' });
  ok('status -h', { kind: 'help', command: 'status' });
  ok('version', { kind: 'version' });
  ok('--version', { kind: 'version' });
  bad('help nope', `unknown command "nope"; see 'tsweave --help'`);
  bad('help a b', 'help takes at most one COMMAND (got 2)');
  bad('bogus', `unknown command "bogus"; see 'tsweave --help'`);
  bad('atach web', `unknown command "atach" (did you mean attach?); see 'tsweave --help'`);
  bad('version extra', 'version takes no arguments (got "extra")');
});

test('launch goes through the launch config parser', () => {
  const c = parse('launch --password pw host2');
  assert.equal(c.kind, 'launch');
  assert.equal(c.kind === 'launch' && c.config.password, 'pw');
  bad('launch --pasword x', 'unknown flag "--pasword" for launch (did you mean --password?)');
  bad('launch --mtu 99', 'invalid --mtu "99": must be a whole number 576..65435');
});

test('connect and forget', () => {
  ok('connect host2 10.0.0.3:7000', { kind: 'connect', peers: ['host2', '10.0.0.3:7000'], replace: false });
  ok('connect --replace host2', { kind: 'connect', peers: ['host2'], replace: true });
  ok('connect --replace', { kind: 'connect', peers: [], replace: true });
  bad('connect', 'connect needs at least one PEER (or --replace to forget all)');
  bad('connect host2:0', 'invalid peer "host2:0": port must be a number 1..65535');
  bad('connect --replace=yes h', '--replace takes no value (got "--replace=yes")');
  bad('connect --force h', 'unknown flag "--force" for connect');
  ok('forget host2', { kind: 'forget', peers: ['host2'] });
  bad('forget', 'forget needs at least one PEER');
  bad('forget a:b:c', 'invalid peer "a:b:c": port must be a number 1..65535');
});

test('attach: addresses then one container', () => {
  ok('attach web', { kind: 'attach', container: 'web', addrs: [], withoutDns: false });
  ok('attach 10.32.0.9/12 mynetns', { kind: 'attach', container: 'mynetns', addrs: ['10.32.0.9/12'], withoutDns: false });
  ok('attach ip:10.2.1.1/24 net:10.2.2.0/24 net:default --without-dns pid:42',
    { kind: 'attach', container: 'pid:42', addrs: ['ip:10.2.1.1/24', 'net:10.2.2.0/24', 'net:default'], withoutDns: true });
  ok('attach --hostname web.weave.local netns:/run/netns/x',
    { kind: 'attach', container: 'netns:/run/netns/x', addrs: [], withoutDns: false, hostname: 'web.weave.local' });
  ok('attach --egress web', { kind: 'attach', container: 'web', addrs: [], withoutDns: false, egress: true });
  bad('attach', 'attach needs a CONTAINER');
  bad('attach 10.32.0.9/12', 'attach needs a CONTAINER after the addresses');
  bad('attach web 10.32.0.9/12', 'attach needs a CONTAINER after the addresses');
  bad('attach web db', 'invalid address "web": must be [ip:]CIDR, net:CIDR or net:default (only one CONTAINER, and it comes last)');
  bad('attach 10.32.0.9/33 web', 'invalid address "10.32.0.9/33": prefix length must be 0..32');
  bad('attach ip:10.32.0.9 web', 'invalid address "ip:10.32.0.9": must be [ip:]CIDR, net:CIDR or net:default');
  bad('attach net:10.2.1.5/24 web', 'invalid address "net:10.2.1.5/24": host bits are set (did you mean net:10.2.1.0/24?)');
  bad('attach 10.2.1.0/24 web', 'invalid address "10.2.1.0/24": is the network or broadcast address of its subnet; pick a host address');
  bad('attach 10.2.1.255/24 web', 'invalid address "10.2.1.255/24": is the network or broadcast address of its subnet; pick a host address');
  bad('attach 300.1.1.1/8 web', 'invalid address "300.1.1.1/8": each of the 4 parts must be a number 0..255');
  bad('attach pid:x', 'invalid container "pid:x": pid:N needs a process id');
  bad('attach netns:run/x', 'invalid container "netns:run/x": netns: needs an absolute path');
  bad('attach we$b', 'invalid container "we$b": must be a Docker container name or ID, a network namespace name, pid:N or netns:/path');
  bad('attach --without-dns --hostname a.weave.local web', '--without-dns and --hostname are mutually exclusive');
  bad('attach --hostname bad_name! web',
    'invalid --hostname "bad_name!": must be a domain name like weave.local. (labels of letters, digits and "-")');
  bad('attach --with-dns web', 'unknown flag "--with-dns" for attach (did you mean --without-dns?)');
});

test('detach', () => {
  ok('detach web', { kind: 'detach', container: 'web', addrs: [] });
  ok('detach 10.32.0.9/12 net:default web', { kind: 'detach', container: 'web', addrs: ['10.32.0.9/12', 'net:default'] });
  bad('detach', 'detach needs a CONTAINER');
  bad('detach --without-dns web', 'unknown flag "--without-dns" for detach');
});

test('dns-add and dns-remove: both forms', () => {
  ok('dns-add web', { kind: 'dns-add', container: 'web', ips: [] });
  ok('dns-add 10.32.0.5 web -h web2.weave.local', { kind: 'dns-add', container: 'web', ips: ['10.32.0.5'], fqdn: 'web2.weave.local' });
  ok('dns-add 10.32.0.5 10.32.0.6 -h ext.weave.local', { kind: 'dns-add', ips: ['10.32.0.5', '10.32.0.6'], fqdn: 'ext.weave.local' });
  ok('dns-add --hostname=x.weave.local 1.2.3.4', { kind: 'dns-add', ips: ['1.2.3.4'], fqdn: 'x.weave.local' });
  ok('dns-remove 10.32.0.5 web', { kind: 'dns-remove', container: 'web', ips: ['10.32.0.5'] });
  ok('dns-remove 10.32.0.5 -h a.weave.local', { kind: 'dns-remove', ips: ['10.32.0.5'], fqdn: 'a.weave.local' });
  bad('dns-add', 'dns-add needs a CONTAINER, or IP... -h FQDN');
  bad('dns-add 10.32.0.5', 'dns-add without a CONTAINER needs -h FQDN');
  bad('dns-remove 10.32.0.5', 'dns-remove without a CONTAINER needs -h FQDN');
  bad('dns-add 10.32.0.256 web', 'invalid IP address "10.32.0.256": each of the 4 parts must be a number 0..255');
  bad('dns-add web 10.32.0.5', 'dns-add takes at most one CONTAINER, after the IPs (got "web" and "10.32.0.5")');
  bad('dns-add web -h', '-h needs a value (-h FQDN)');
  bad('dns-add web -h a..b', 'invalid -h "a..b": must be a domain name like weave.local. (labels of letters, digits and "-")');
});

test('dns-lookup, dns-args', () => {
  ok('dns-lookup web', { kind: 'dns-lookup', name: 'web' });
  ok('dns-lookup web.weave.local.', { kind: 'dns-lookup', name: 'web.weave.local.' });
  bad('dns-lookup', 'dns-lookup needs exactly one NAME (got 0)');
  bad('dns-lookup a b', 'dns-lookup needs exactly one NAME (got 2)');
  bad('dns-lookup a/b', 'invalid name "a/b": must be a domain name like weave.local. (labels of letters, digits and "-")');
  ok('dns-args', { kind: 'dns-args' });
  bad('dns-args x', 'dns-args takes no arguments (got "x")');
});

test('status and its sub-commands, report, ps', () => {
  ok('status', { kind: 'status' });
  for (const sub of ['targets', 'connections', 'peers', 'dns', 'ipam'] as const) ok(`status ${sub}`, { kind: 'status', sub });
  bad('status foo', 'invalid status sub-command "foo": must be one of targets, connections, peers, dns, ipam');
  bad('status peers dns', 'status takes at most one sub-command (got 2)');
  bad('status --verbose', 'unknown flag "--verbose" for status');
  ok('report', { kind: 'report' });
  ok('report -f {{.Router.Name}}', { kind: 'report', format: '{{.Router.Name}}' });
  ok('report --format={{.Version}}', { kind: 'report', format: '{{.Version}}' });
  bad('report -f', '-f needs a value (-f TEMPLATE)');
  bad('report x', 'report takes no arguments (got "x")');
  bad('report -x', 'unknown flag "-x" for report (did you mean -f?)');
  ok('ps', { kind: 'ps', containers: [] });
  ok('ps web db', { kind: 'ps', containers: ['web', 'db'] });
  bad('ps a,b', 'invalid container "a,b": must be a Docker container name or ID, a network namespace name, pid:N or netns:/path');
});

test('rmpeer, stop, reset, expose, hide', () => {
  ok('rmpeer host3 aa:bb:cc:dd:ee:ff', { kind: 'rmpeer', peers: ['host3', 'aa:bb:cc:dd:ee:ff'] });
  bad('rmpeer', 'rmpeer needs at least one PEER_ID');
  ok('stop', { kind: 'stop' });
  bad('stop now', 'stop takes no arguments (got "now")');
  ok('reset', { kind: 'reset', force: false });
  ok('reset --force', { kind: 'reset', force: true });
  bad('reset --forse', 'unknown flag "--forse" for reset (did you mean --force?)');
  ok('expose', { kind: 'expose', addrs: [] });
  ok('expose 10.2.1.1/24 net:10.2.2.0/24 ip:10.2.3.1/24 net:default', { kind: 'expose', addrs: ['10.2.1.1/24', 'net:10.2.2.0/24', 'ip:10.2.3.1/24', 'net:default'] });
  ok('hide 10.2.1.1/24', { kind: 'hide', addrs: ['10.2.1.1/24'] });
  ok('hide', { kind: 'hide', addrs: [] });
  bad('expose web', 'invalid address "web": must be [ip:]CIDR, net:CIDR or net:default');
  bad('expose 10.2.1.0/24', 'invalid address "10.2.1.0/24": is the network or broadcast address of its subnet; pick a host address');
  bad('hide net:10.2.1.1/24', 'invalid address "net:10.2.1.1/24": host bits are set (did you mean net:10.2.1.0/24?)');
  bad('expose --without-masquerade', "expose --without-masquerade is Weave's, not tsweave's: exposed subnets are always masqueraded for traffic from outside the weave network");
  bad('expose --with-masquerade', 'unknown flag "--with-masquerade" for expose');
});

test('every verb accepts --data-dir; stop and reset carry it, the others ignore it (issue 10.6)', () => {
  ok('stop --data-dir /d', { kind: 'stop', dataDir: '/d' });
  ok('stop', { kind: 'stop' });
  ok('reset --force --data-dir=/d', { kind: 'reset', force: true, dataDir: '/d' });
  ok('status --data-dir /d peers', { kind: 'status', sub: 'peers' });
  ok('ps --data-dir=/d c1', { kind: 'ps', containers: ['c1'] });
  ok('forget --data-dir /d 10.0.0.1', { kind: 'forget', peers: ['10.0.0.1'] });
  bad('status --data-dir', '--data-dir needs a DIR');
  bad('reset --data-dir=', 'invalid --data-dir "": must be a directory path');
});

test('help --help shows the help of help', () => {
  ok('help --help', { kind: 'help', command: 'help' });
  ok('help -h', { kind: 'help', command: 'help' });
});

test('prime: Weave\'s wait for the IPAM ring', () => {
  ok('prime', { kind: 'prime' });
  bad('prime now', 'prime takes no arguments (got "now")');
});

test('Weave verbs and flags tsweave lacks: one line naming them and what to do instead', () => {
  bad('env', `"env" is a Weave command that tsweave does not have: tsweave has no Docker API proxy: use docker run --net=weave (the network plugin) or 'tsweave attach CONTAINER'`);
  bad('config', `"config" is a Weave command that tsweave does not have: tsweave has no Docker API proxy: use docker run --net=weave (the network plugin) or 'tsweave attach CONTAINER'`);
  bad('setup', `"setup" is a Weave command that tsweave does not have: there is nothing to set up: 'npm install' built tsweave and there are no images to pull ('tsweave setup-cni' installs the CNI plugin)`);
  bad('launch --resume', "launch --resume is Weave's, not tsweave's: a launch without PEER arguments dials the peers of the last run, as --resume did");
  bad('launch --plugin=false host2', "launch --plugin is Weave's, not tsweave's: the Docker plugin is on by default; --no-plugin turns it off");
  bad('launch --no-restart', "launch --no-restart is Weave's, not tsweave's: tsweave launch never restarts the router by itself (run it under systemd or docker --restart for that)");
  assert.throws(() => parse('launch --proxy=false'), /launch --proxy is Weave's, not tsweave's: tsweave has no Docker API proxy/);
  assert.throws(() => parse('attach --rewrite-hosts web'), /attach --rewrite-hosts is Weave's, not tsweave's: tsweave does not edit/);
  assert.throws(() => parse('attach --no-multicast-route web'), /attach --no-multicast-route is Weave's/);
  assert.throws(() => parse('expose --without-masquerade'), /expose --without-masquerade is Weave's/);
  // Weave's `expose -h FQDN` names the exposed address; here it printed expose's help and exited 0.
  bad('expose -h host1.weave.local', "expose -h is Weave's, not tsweave's: expose does not name the host; after it, 'tsweave dns-add IP -h FQDN' gives the printed address a name");
  bad('expose net:10.2.0.0/16 -h h1.weave.local', "expose -h is Weave's, not tsweave's: expose does not name the host; after it, 'tsweave dns-add IP -h FQDN' gives the printed address a name");
  ok('expose -h', { kind: 'help', command: 'expose' });
  // dns-add's own -h stays the hostname.
  ok('dns-add 10.32.0.9 -h x.weave.local', { kind: 'dns-add', ips: ['10.32.0.9'], fqdn: 'x.weave.local' });
});
