// Help is generated from the parser's own tables: every flag that parses is listed, with its default.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { COMMANDS, parseCommand } from '../../../src/cli/commands.js';
import { formatCommandHelp, formatUsage } from '../../../src/cli/help.js';
import { LAUNCH_FLAGS } from '../../../src/config/launch.js';
import { weaveOnlyCommand, weaveOnlyFlag } from '../../../src/cli/weave-compat.js';

test('tsweave --help lists every command with every flag', () => {
  const usage = formatUsage();
  for (const spec of COMMANDS) {
    const section = usage.split('\ntsweave ').find((s) => s.split(/[ \n]/)[0] === spec.name);
    assert.ok(section, `command ${spec.name} missing from usage`);
    for (const f of spec.flags) assert.ok(section.includes(f.short ?? f.flag), `${spec.name} ${f.flag}`);
  }
  for (const f of LAUNCH_FLAGS) assert.ok(usage.includes(`[${f.flag}`), f.flag);
  assert.ok(usage.split('\n').every((l) => l.length <= 100), 'fits 100 columns');
});

test('COMMAND --help lists every flag with its default and environment variables', () => {
  for (const spec of COMMANDS) {
    const text = formatCommandHelp(spec);
    assert.match(text, new RegExp(`^Usage: tsweave ${spec.name}`));
    for (const f of spec.flags) {
      assert.ok(text.includes(f.value ? `${f.flag} ${f.value}` : f.flag), `${spec.name} ${f.flag}`);
      if (f.default !== undefined) assert.ok(text.replace(/\s+/g, ' ').includes(`default: ${f.default}`), `${f.flag} default`);
      for (const e of f.env ?? []) assert.ok(text.includes(e), `${f.flag} env ${e}`);
    }
    assert.ok(text.split('\n').every((l) => l.length <= 100), `${spec.name} help fits 100 columns`);
  }
  const launch = formatCommandHelp(COMMANDS.find((c) => c.name === 'launch')!);
  assert.match(launch, /--mtu N +overlay MTU, 576\.\.65435 \(default: 1376\)/);
  assert.match(launch, /--password PW .*\(env:\s+TSWEAVE_PASSWORD, WEAVE_PASSWORD\)/s);
});

test('every flag in the help is accepted by the parser', () => {
  const deps = { hostname: 'h', readFile: () => 'pw' };
  const sample: Record<string, string> = {
    PW: 'pw', FILE: '/f', MAC: '::1', NAME: 'n', N: '1400', DIR: '/d', 'CIDR,...': '10.0.0.0/8', CIDR: '10.32.0.0/12',
    MODE: 'observer', DOMAIN: 'weave.local', 'ADDR:PORT': '127.0.0.1:53', LEVEL: 'info', FQDN: 'a.weave.local',
    PATH: '/run/t/api.sock', GROUP: 'tsweave',
  };
  const container: Record<string, string[]> = { attach: ['web'], 'dns-add': ['web'], 'dns-remove': ['web'] };
  for (const spec of COMMANDS) {
    for (const f of spec.flags) {
      if (spec.name === 'launch' && ['--password-file', '--no-dns'].includes(f.flag)) continue; // exclusive with others below
      const argv = [spec.name, f.flag, ...(f.value ? [sample[f.value] ?? 'x'] : []), ...(container[spec.name] ?? [])];
      if (spec.name === 'connect' || spec.name === 'launch') argv.push('host2');
      assert.doesNotThrow(() => parseCommand(argv, {}, deps), argv.join(' '));
    }
  }
  assert.doesNotThrow(() => parseCommand(['launch', '--password-file', '/f'], {}, deps));
  assert.doesNotThrow(() => parseCommand(['launch', '--no-dns'], {}, deps));
});

test('status --help says what each page shows', () => {
  const text = formatCommandHelp(COMMANDS.find((c) => c.name === 'status')!);
  for (const page of ['targets', 'connections', 'peers', 'dns', 'ipam']) assert.match(text, new RegExp(`${page}: `), page);
});

test('no Weave-only hint shadows a real command or flag', () => {
  for (const spec of COMMANDS) {
    assert.equal(weaveOnlyCommand(spec.name), undefined, spec.name);
    for (const f of spec.flags) {
      for (const name of [f.flag, f.short].filter((n): n is string => n !== undefined)) {
        assert.equal(weaveOnlyFlag(spec.name, [name, 'x']), undefined, `${spec.name} ${name}`);
      }
    }
  }
});
