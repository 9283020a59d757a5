import { test } from 'vitest';
import assert from 'node:assert/strict';
import { parseFlags, suggest } from '../../../src/config/flags.js';
import { LAUNCH_FLAGS, formatLaunchConfig, launchConfigForLog, parseLaunchArgs, type LaunchDeps } from '../../../src/config/launch.js';
import { ENV_SETTINGS, effectiveDataplaneThreads } from '../../../src/config/settings.js';
import { formatCidr, formatHostPort } from '../../../src/core/types.js';

const files: Record<string, string> = {
  '/etc/pw': 's3cret\n',
  '/etc/pw-crlf': 's3cret\r\n',
  '/etc/empty': '\n',
};
const deps: LaunchDeps = {
  hostname: 'host1',
  readFile: (path) => {
    const t = files[path];
    if (t === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    return t;
  },
};
const parse = (argv: string[], env: Record<string, string> = {}) => parseLaunchArgs(argv, env, deps);
const fails = (argv: string[], message: string, env: Record<string, string> = {}) =>
  assert.throws(() => parse(argv, env), (err: Error & { code?: string }) => {
    assert.equal(err.message, message);
    assert.equal(err.code, 'ERR_CONFIG');
    return true;
  });

test('defaults', () => {
  const c = parse([]);
  assert.equal(c.password, undefined);
  assert.equal(c.passwordSource, undefined);
  assert.equal(c.name, undefined);
  assert.equal(c.nickname, 'host1');
  assert.equal(c.port, 6783);
  assert.equal(c.mtu, 1376);
  assert.equal(c.dataDir, '/var/lib/tsweave');
  assert.equal(c.foreground, false);
  assert.equal(c.discovery, true);
  assert.equal(c.connLimit, 200);
  assert.deepEqual(c.trustedSubnets, []);
  assert.equal(formatCidr(c.ipam!.range), '10.32.0.0/12');
  assert.equal(formatCidr(c.ipam!.defaultSubnet), '10.32.0.0/12');
  assert.deepEqual(c.ipam!.init, { mode: 'consensus' });
  assert.deepEqual(c.dns, { domain: 'weave.local.', listenAddress: undefined, ttlS: 1, allow: [] });
  assert.equal(c.logLevel, 'info');
  assert.equal(c.dryRun, false);
  assert.deepEqual(c.peers, []);
});

test('every flag in both forms, peers with and without port', () => {
  const c = parse([
    '--name', '::1', '--nickname=box', '--port', '7000', '--mtu=8916', '--data-dir', '/tmp/tw', '--foreground',
    '--no-discovery', '--conn-limit=0', '--trusted-subnets', '10.0.0.0/8, 192.168.0.0/16', '--ipalloc-range',
    '10.2.0.0/16', '--ipalloc-default-subnet=10.2.1.0/24', '--ipalloc-init', 'consensus=3', '--dns-domain', 'Corp.Local',
    '--dns-listen-address', '172.17.0.1:53', '--dns-ttl', '30', '--log-level', 'debug', '--dry-run',
    'host2', '10.0.0.3:6000',
  ]);
  assert.equal(c.name, '00:00:00:00:00:01');
  assert.equal(c.nickname, 'box');
  assert.equal(c.port, 7000);
  assert.equal(c.mtu, 8916);
  assert.equal(c.dataDir, '/tmp/tw');
  assert.equal(c.foreground, true);
  assert.equal(c.discovery, false);
  assert.equal(c.connLimit, 0);
  assert.deepEqual(c.trustedSubnets.map(formatCidr), ['10.0.0.0/8', '192.168.0.0/16']);
  assert.equal(formatCidr(c.ipam!.range), '10.2.0.0/16');
  assert.equal(formatCidr(c.ipam!.defaultSubnet), '10.2.1.0/24');
  assert.deepEqual(c.ipam!.init, { mode: 'consensus', count: 3 });
  assert.deepEqual(c.dns, { domain: 'corp.local.', listenAddress: { host: '172.17.0.1', port: 53 }, ttlS: 30, allow: [] });
  assert.equal(c.logLevel, 'debug');
  assert.equal(c.dryRun, true);
  assert.deepEqual(c.peers.map(formatHostPort), ['host2:7000', '10.0.0.3:6000'], 'a peer without a port uses --port');
});

test('ipalloc-init modes, IPAM off, DNS off, Weave spelling of log levels', () => {
  assert.deepEqual(parse(['--ipalloc-init', 'observer']).ipam!.init, { mode: 'observer' });
  assert.deepEqual(parse(['--ipalloc-init=seed=::1,aa:bb:cc:dd:ee:ff']).ipam!.init,
    { mode: 'seed', peers: ['00:00:00:00:00:01', 'aa:bb:cc:dd:ee:ff'] });
  assert.equal(parse(['--ipalloc-range', '']).ipam, undefined);
  assert.equal(parse(['--ipalloc-range=']).ipam, undefined);
  assert.equal(parse(['--no-dns']).dns, undefined);
  assert.equal(parse(['--log-level=warning']).logLevel, 'warn');
  assert.equal(parse(['--', 'host9']).peers.length, 1, '"--" ends the flags');
  fails(['--', '--weird'], 'invalid peer "--weird": must be an IPv4 address or host name, optionally with :port');
});

test('password: flag, file, env, precedence', () => {
  assert.equal(parse(['--password', 'pw']).password, 'pw');
  assert.equal(parse(['--password=a=b']).password, 'a=b');
  assert.equal(parse([], { WEAVE_PASSWORD: 'w' }).password, 'w');
  assert.equal(parse([], { WEAVE_PASSWORD: 'w' }).passwordSource, 'WEAVE_PASSWORD');
  assert.equal(parse([], { WEAVE_PASSWORD: 'w', TSWEAVE_PASSWORD: 't' }).password, 't');
  assert.equal(parse([], { WEAVE_PASSWORD: 'w', TSWEAVE_PASSWORD: 't' }).passwordSource, 'TSWEAVE_PASSWORD');
  assert.equal(parse(['--password', 'f'], { TSWEAVE_PASSWORD: 't' }).password, 'f', 'flag wins');
  assert.equal(parse(['--password-file', '/etc/pw'], { TSWEAVE_PASSWORD: 't' }).password, 's3cret');
  assert.equal(parse(['--password-file', '/etc/pw-crlf']).password, 's3cret');
  assert.equal(parse(['--password-file', '/etc/pw']).passwordSource, '--password-file');
  assert.equal(parse([], { TSWEAVE_PASSWORD: '' }).password, undefined, 'an empty variable counts as unset');
});

test('password errors never echo a password', () => {
  fails(['--password', 'x', '--password-file', '/etc/pw'], '--password-file and --password are mutually exclusive');
  fails(['--password', ''], 'invalid --password "": must not be empty');
  fails(['--password-file', '/etc/empty'], 'invalid --password-file "/etc/empty": the file holds no password');
  fails(['--password-file', '/nope'],
    `cannot read --password-file "/nope": ENOENT: no such file or directory, open '/nope'`);
  fails(['--password'], '--password needs a value (--password PW)');
  fails(['--password', 'a', '--password', 'b'], '--password may be given only once');
});

test('data dir: flag, then TSWEAVE_DATA_DIR, then default', () => {
  assert.equal(parse([], { TSWEAVE_DATA_DIR: '/srv/tw' }).dataDir, '/srv/tw');
  assert.equal(parse(['--data-dir', '/a'], { TSWEAVE_DATA_DIR: '/srv/tw' }).dataDir, '/a');
  fails(['--data-dir='], 'invalid --data-dir "": must be a directory path');
});

test('numbers name the flag, the value and the range', () => {
  fails(['--mtu', '99'], 'invalid --mtu "99": must be a whole number 576..65435');
  fails(['--mtu=65436'], 'invalid --mtu "65436": must be a whole number 576..65435');
  fails(['--mtu', '1400.5'], 'invalid --mtu "1400.5": must be a whole number 576..65435');
  fails(['--mtu', '-5'], 'invalid --mtu "-5": must be a whole number 576..65435');
  fails(['--port', '0'], 'invalid --port "0": must be a whole number 1..65535');
  fails(['--port', 'http'], 'invalid --port "http": must be a whole number 1..65535');
  fails(['--conn-limit', '-1'], 'invalid --conn-limit "-1": must be a whole number 0..1000000 (0 = unlimited)');
  fails(['--dns-ttl', 'x'], 'invalid --dns-ttl "x": must be a whole number 0..2147483647');
});

test('names, addresses and ranges', () => {
  fails(['--name', 'aa:bb'], 'invalid --name "aa:bb": must be 6 hex bytes like aa:bb:cc:dd:ee:ff (or ::1 shorthand)');
  fails(['--nickname', 'my host'], 'invalid --nickname "my host": must be 1..255 characters without spaces or parentheses');
  assert.throws(() => parseLaunchArgs([], {}, { ...deps, hostname: '' }), /it defaults to the host name; pass --nickname/);
  fails(['--ipalloc-range', '10.32.0.0/33'], 'invalid --ipalloc-range "10.32.0.0/33": prefix length must be 0..32');
  fails(['--ipalloc-range', '10.32.0.1/12'], 'invalid --ipalloc-range "10.32.0.1/12": host bits are set (did you mean 10.32.0.0/12?)');
  fails(['--ipalloc-range', '10.32.0.0/31'],
    'invalid --ipalloc-range "10.32.0.0/31": prefix length must be 0..30 to leave room for addresses');
  fails(['--ipalloc-range', 'ten'], 'invalid --ipalloc-range "ten": must be ADDRESS/PREFIX like 10.32.0.0/12');
  fails(['--ipalloc-default-subnet', '10.0.0.0/24'],
    'invalid --ipalloc-default-subnet "10.0.0.0/24": must lie within --ipalloc-range 10.32.0.0/12');
  fails(['--ipalloc-default-subnet', '10.0.0.0/8'],
    'invalid --ipalloc-default-subnet "10.0.0.0/8": must lie within --ipalloc-range 10.32.0.0/12');
  fails(['--ipalloc-range=', '--ipalloc-default-subnet', '10.32.0.0/24'],
    '--ipalloc-default-subnet needs IPAM, but --ipalloc-range "" disables it');
  fails(['--ipalloc-range=', '--ipalloc-init', 'observer'], '--ipalloc-init needs IPAM, but --ipalloc-range "" disables it');
  fails(['--ipalloc-init', 'quorum'],
    'invalid --ipalloc-init "quorum": must be consensus, consensus=COUNT, seed=MAC,... or observer');
  fails(['--ipalloc-init', 'consensus=0'], 'invalid --ipalloc-init "consensus=0": COUNT must be a whole number >= 1');
  fails(['--ipalloc-init', 'seed='], 'invalid --ipalloc-init "seed=": seed= needs at least one peer name');
  fails(['--ipalloc-init', 'seed=::1,zz'],
    'invalid --ipalloc-init seed "zz": must be 6 hex bytes like aa:bb:cc:dd:ee:ff (or ::1 shorthand)');
  fails(['--ipalloc-init', 'seed=::1,0:0:0:0:0:1'], 'invalid --ipalloc-init "seed=::1,0:0:0:0:0:1": peer 00:00:00:00:00:01 is listed twice');
  fails(['--trusted-subnets', '10.0.0.0/8,bad'],
    'invalid --trusted-subnets entry "bad": must be ADDRESS/PREFIX like 10.32.0.0/12');
  fails(['--dns-domain', 'bad domain'],
    'invalid --dns-domain "bad domain": must be a domain name like weave.local. (labels of letters, digits and "-")');
  fails(['--dns-listen-address', '172.17.0.1'], 'invalid --dns-listen-address "172.17.0.1": must be ADDRESS:PORT like 172.17.0.1:53');
  fails(['--dns-listen-address', '1.2.3:53'],
    'invalid --dns-listen-address "1.2.3:53": must be a dotted IPv4 address like 10.32.0.1');
  fails(['--dns-listen-address', '1.2.3.4:0'], 'invalid --dns-listen-address "1.2.3.4:0": port must be a number 1..65535');
  fails(['--no-dns', '--dns-ttl', '5'], '--no-dns and --dns-ttl are mutually exclusive');
  fails(['--dns-allow', '10.200.0.0/24,10.1.2.3/8'], 'invalid --dns-allow entry "10.1.2.3/8": host bits are set (did you mean 10.0.0.0/8?)');
  fails(['--dns-allow', 'everyone'], 'invalid --dns-allow entry "everyone": must be ADDRESS/PREFIX like 10.32.0.0/12');
  fails(['--no-dns', '--dns-allow', '10.0.0.0/8'], '--no-dns and --dns-allow are mutually exclusive');
  fails(['--log-level', 'loud'], 'invalid --log-level "loud": must be one of debug, info, warn, error (or warning)');
  fails(['host1:99999'], 'invalid peer "host1:99999": port must be a number 1..65535');
  fails(['bad_host!'], 'invalid peer "bad_host!": must be an IPv4 address or host name, optionally with :port');
});

test('unknown and malformed flags', () => {
  fails(['--pasword', 'x'], 'unknown flag "--pasword" for launch (did you mean --password?)');
  fails(['--ipalloc-rang=10.0.0.0/8'], 'unknown flag "--ipalloc-rang" for launch (did you mean --ipalloc-range?)');
  fails(['--frobnicate'], 'unknown flag "--frobnicate" for launch');
  fails(['-x'], 'unknown flag "-x" for launch');
  fails(['--foreground=yes'], '--foreground takes no value (got "--foreground=yes")');
  fails(['--nickname', '--foreground'],
    '--nickname needs a value (--nickname NAME); write --nickname=VALUE if the value starts with "--"');
  assert.equal(parse(['--nickname=--odd']).nickname, '--odd');
});

test('TSWEAVE_FOREGROUND=1 (set in the image) runs launch in the foreground; 0 or empty does not', () => {
  assert.equal(parse([], { TSWEAVE_FOREGROUND: '1' }).foreground, true);
  assert.equal(parse([], { TSWEAVE_FOREGROUND: '0' }).foreground, false);
  assert.equal(parse([], { TSWEAVE_FOREGROUND: '' }).foreground, false);
  assert.equal(parse(['--foreground'], { TSWEAVE_FOREGROUND: '0' }).foreground, true);
  fails([], 'invalid TSWEAVE_FOREGROUND "yes": must be 1 or 0', { TSWEAVE_FOREGROUND: 'yes' });
});

test('dry-run text: every flag, password redacted', () => {
  const c = parse(['--password', 'topsecret', 'host2'], {});
  const text = formatLaunchConfig(c);
  assert.ok(!text.includes('topsecret'));
  for (const f of LAUNCH_FLAGS) assert.match(text, new RegExp(`^${f.flag} `, 'm'), f.flag);
  assert.match(text, /^--password +<redacted> \(from --password\)$/m);
  assert.match(text, /^peers +host2:6783$/m);
  assert.match(formatLaunchConfig(parse([])), /^--password +none \(unencrypted\)$/m);
  assert.match(formatLaunchConfig(parse(['--ipalloc-range=', '--no-dns'])), /^--ipalloc-range +"" \(IPAM disabled\)$/m);
  assert.match(formatLaunchConfig(parse(['--dns-allow', '10.200.0.0/24, 10.9.0.0/16'])), /^--dns-allow +10\.200\.0\.0\/24,10\.9\.0\.0\/16$/m);
  assert.match(formatLaunchConfig(parse([])), /^--dns-allow +none$/m);
});

test('environment knobs are read once, into the launch config, and checked', () => {
  const d = parse([]).settings;
  assert.deepEqual(d, {
    fastPath: true, dataplaneThreads: undefined, dataplaneThreadMode: 'split', udpGro: true, csumPartial: true, tapOffload: true, deadContainerGraceMs: 30_000, ipamWaitMs: 30_000,
    rekeyIntervalMs: 120_000, runDir: '/run/tsweave',
  });
  const c = parse([], {
    TSWEAVE_FASTPATH: '0', TSWEAVE_DATAPLANE_THREADS: '3', TSWEAVE_DATAPLANE_THREAD_MODE: 'unified', TSWEAVE_UDP_GRO: '0', TSWEAVE_CSUM_PARTIAL: '0', TSWEAVE_TAP_OFFLOAD: '1',
    TSWEAVE_DEAD_CONTAINER_GRACE_MS: '2000', TSWEAVE_IPAM_WAIT_MS: '', TSWEAVE_REKEY_INTERVAL_S: '3', TSWEAVE_RUN_DIR: '/tmp/run',
    IPTABLES_BACKEND: 'legacy',
  }).settings;
  assert.deepEqual(c, {
    fastPath: false, dataplaneThreads: 3, dataplaneThreadMode: 'unified', udpGro: false, csumPartial: false, tapOffload: true, deadContainerGraceMs: 2000, ipamWaitMs: 30_000,
    rekeyIntervalMs: 3000, runDir: '/tmp/run', iptablesBackend: 'legacy',
  });
  assert.equal(parse([], { TSWEAVE_DATAPLANE_THREADS: 'auto' }).settings.dataplaneThreads, undefined);
  fails([], 'invalid TSWEAVE_DATAPLANE_THREAD_MODE "both": must be split or unified', { TSWEAVE_DATAPLANE_THREAD_MODE: 'both' });
  for (const bad of ['0', '17', 'two', '-1']) {
    fails([], `invalid TSWEAVE_DATAPLANE_THREADS "${bad}": must be "auto" or a whole number 1..16`, { TSWEAVE_DATAPLANE_THREADS: bad });
  }
  // auto: one lane per core, at most 4; a setting wins over the cores
  const auto = parse([]).settings;
  assert.deepEqual([1, 2, 4, 64].map((cores) => effectiveDataplaneThreads(auto, cores)), [1, 2, 4, 4]);
  assert.equal(effectiveDataplaneThreads(c, 64), 3);
  assert.equal(effectiveDataplaneThreads(c, 1), 3);
  fails([], 'invalid TSWEAVE_DEAD_CONTAINER_GRACE_MS "2s": must be a whole number of milliseconds 0..3600000', {
    TSWEAVE_DEAD_CONTAINER_GRACE_MS: '2s',
  });
  fails([], 'invalid TSWEAVE_IPAM_WAIT_MS "9999999": must be a whole number of milliseconds 0..3600000', {
    TSWEAVE_IPAM_WAIT_MS: '9999999',
  });
  fails([], 'invalid TSWEAVE_REKEY_INTERVAL_S "0": must be a whole number of seconds 1..86400', { TSWEAVE_REKEY_INTERVAL_S: '0' });
  fails([], 'invalid TSWEAVE_RUN_DIR "run": must be an absolute path', { TSWEAVE_RUN_DIR: 'run' });
  fails([], 'invalid IPTABLES_BACKEND "nftables": must be nft or legacy', { IPTABLES_BACKEND: 'nftables' });
});

test('dry-run text and the start log show the environment settings; never the password', () => {
  const c = parse(['--password', 'pw-xyzzy', '--dns-allow', '10.9.0.0/16'], { TSWEAVE_FASTPATH: '0', TSWEAVE_IPAM_WAIT_MS: '3000', TSWEAVE_REKEY_INTERVAL_S: '5' });
  const text = formatLaunchConfig(c);
  assert.match(text, /\nenvironment:\n/);
  for (const e of ENV_SETTINGS) assert.match(text, new RegExp(`^${e.env} +\\S`, 'm'));
  assert.match(text, /^TSWEAVE_FASTPATH +off \(=0\)$/m);
  assert.match(text, /^TSWEAVE_IPAM_WAIT_MS +3000 ms$/m);
  assert.match(text, /^TSWEAVE_DEAD_CONTAINER_GRACE_MS +30000 ms$/m);
  assert.match(text, /^TSWEAVE_REKEY_INTERVAL_S +5 s$/m);
  const logged = JSON.stringify(launchConfigForLog(c));
  assert.ok(!text.includes('pw-xyzzy') && !logged.includes('pw-xyzzy'));
  assert.match(logged, /"password":"<redacted> \(from --password\)"/);
  assert.match(logged, /"settings":\{"fastPath":false,.*"ipamWaitMs":3000,"rekeyIntervalMs":5000,/);
  assert.match(logged, /"range":"10\.32\.0\.0\/12"/);
  assert.match(logged, /"allow":\["10\.9\.0\.0\/16"\]/);
});

test('flag engine: suggestions and repeatable flags', () => {
  assert.equal(suggest('--pasword', ['--password', '--port']), '--password');
  assert.equal(suggest('--dns-dom', ['--dns-domain', '--dns-ttl']), '--dns-domain');
  assert.equal(suggest('--zzzzzz', ['--password']), undefined);
  const p = parseFlags(['-a', '1', 'x', '--all=2', '--', '-a'], [{ flag: '--all', short: '-a', value: 'N', help: '', repeatable: true }], 'test');
  assert.deepEqual(p.flags.get('--all'), ['1', '2']);
  assert.deepEqual(p.positionals, ['x', '-a']);
});

test('--metrics-addr: default, an address, "" turns it off, and TSWEAVE_METRICS_ADDR', () => {
  assert.equal(parse([]).metricsAddr, undefined, 'default: 127.0.0.1:6782 (observability.ts)');
  assert.deepEqual(parse(['--metrics-addr', '0.0.0.0:9102']).metricsAddr, { host: '0.0.0.0', port: 9102 });
  assert.equal(parse(['--metrics-addr=']).metricsAddr, null);
  assert.deepEqual(parse([], { TSWEAVE_METRICS_ADDR: '127.0.0.1:7000' }).metricsAddr, { host: '127.0.0.1', port: 7000 });
  assert.equal(parse(['--metrics-addr', ''], { TSWEAVE_METRICS_ADDR: '127.0.0.1:7000' }).metricsAddr, null, 'the flag wins');
  fails(['--metrics-addr', 'localhost:6782'], 'invalid --metrics-addr "localhost:6782": must be a dotted IPv4 address like 10.32.0.1');
  fails(['--metrics-addr', '127.0.0.1'], 'invalid --metrics-addr "127.0.0.1": must be ADDRESS:PORT like 172.17.0.1:53');
  assert.match(formatLaunchConfig(parse(['--metrics-addr='])), /--metrics-addr +"" \(off\)/);
  assert.match(formatLaunchConfig(parse([])), /--metrics-addr +127\.0\.0\.1:6782/);
});

test('the fast datapath is on by default; --no-fastdp turns it off and --dry-run shows it', () => {
  assert.equal(parse([]).fastdp, true);
  const off = parse(['--no-fastdp']);
  assert.equal(off.fastdp, false);
  assert.match(formatLaunchConfig(off), /--no-fastdp\s+true/);
});
