// resolv.conf parsing and change detection (io/, real temp files; no root needed).
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, rmdirSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/core/logger.js';
import { ResolvConfWatcher, formatUpstream, parseResolvConf, parseUpstream } from '../../../src/io/resolv-conf.js';

test('parseResolvConf: nameservers in order, comments and junk skipped', () => {
  const text = '# generated\nsearch example.com\nnameserver 10.0.0.2\n  nameserver   8.8.8.8  # google\nnameserver bogus\nnameserver fe80::1%eth0\nnameserver 10.0.0.2\n;nameserver 9.9.9.9\noptions ndots:2\n';
  assert.deepEqual(parseResolvConf(text).map(formatUpstream), ['10.0.0.2', '8.8.8.8', 'fe80::1']);
  assert.deepEqual(parseResolvConf(''), []);
});

test('parseUpstream: ip, ip:port, [v6]:port, with precise errors', () => {
  assert.deepEqual(parseUpstream('127.0.0.1:5353'), { host: '127.0.0.1', port: 5353 });
  assert.deepEqual(parseUpstream('8.8.8.8'), { host: '8.8.8.8', port: 53 });
  assert.deepEqual(parseUpstream('[::1]:5353'), { host: '::1', port: 5353 });
  assert.deepEqual(parseUpstream('::1'), { host: '::1', port: 53 });
  assert.throws(() => parseUpstream('dns.example:53'), { code: 'ERR_CONFIG', message: /invalid --dns-upstream "dns.example:53"/ });
  assert.throws(() => parseUpstream('1.2.3.4:0'), /port must be 1..65535/);
});

test('ResolvConfWatcher re-reads the file when it changes and excludes our own address', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsweave-resolv-'));
  try {
    const path = join(dir, 'resolv.conf');
    writeFileSync(path, 'nameserver 10.0.0.1\nnameserver 172.17.0.1\n');
    const w = new ResolvConfWatcher({ logger: silentLogger() }, { path, recheckMs: 60_000, exclude: (u) => u.host === '172.17.0.1' });
    await w.start();
    assert.deepEqual(w.current().map(formatUpstream), ['10.0.0.1']);
    writeFileSync(path, 'nameserver 10.0.0.3\nnameserver 10.0.0.4\n');
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    await w.check();
    assert.deepEqual(w.current().map(formatUpstream), ['10.0.0.3', '10.0.0.4']);
    rmSync(path);
    await w.check();
    assert.deepEqual(w.current(), [], 'missing file: no upstreams');
    w.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unreadable resolv.conf keeps the upstreams we had and is read again once fixed; a missing one means none', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsweave-resolv-'));
  try {
    const path = join(dir, 'resolv.conf');
    writeFileSync(path, 'nameserver 10.0.0.1\n');
    const w = new ResolvConfWatcher({ logger: silentLogger() }, { path, recheckMs: 60_000 });
    await w.check();
    assert.deepEqual(w.current().map(formatUpstream), ['10.0.0.1']);
    // There but unreadable (a directory: EISDIR): no throw, the servers stay.
    rmSync(path);
    mkdirSync(path);
    await w.check();
    await w.check();
    assert.deepEqual(w.current().map(formatUpstream), ['10.0.0.1']);
    rmdirSync(path);
    writeFileSync(path, 'nameserver 10.0.0.2\n');
    await w.check();
    assert.deepEqual(w.current().map(formatUpstream), ['10.0.0.2']);
    rmSync(path);
    await w.check();
    assert.deepEqual(w.current(), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
