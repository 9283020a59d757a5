// The real entry point in a child process: exit codes as a shell sees them.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

function tsweave(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/entry/tsweave.ts', ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, TSWEAVE_HTTP_ADDR: '127.0.0.1:1' }, // never talk to a real router
  });
}

test('tsweave --help exits 0 with the usage on stdout', () => {
  const r = tsweave('--help');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Usage:\ntsweave launch /);
  assert.equal(r.stderr, '');
});

test('tsweave bogus exits 2 with one line on stderr', () => {
  const r = tsweave('bogus');
  assert.equal(r.status, 2);
  assert.equal(r.stderr, `tsweave: unknown command "bogus"; see 'tsweave --help'\n`);
  assert.equal(r.stdout, '');
});

test('tsweave status with no router exits 1', () => {
  const r = tsweave('status');
  assert.equal(r.status, 1);
  assert.equal(r.stderr,
    `tsweave is not running (no router answers on 127.0.0.1:1); start it with 'tsweave launch'\n`);
});
