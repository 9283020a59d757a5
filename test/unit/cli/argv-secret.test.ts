// The password leaves the process list: masking, and the real /proc/PID/cmdline of a child process.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { maskPasswordArgs } from '../../../src/cli/argv-secret.js';

test('--password VALUE and --password=VALUE are masked, other arguments kept, nothing after "--"', () => {
  assert.deepEqual(maskPasswordArgs(['launch', '--password', 's3cret', '--foreground']),
    ['launch', '--password', '<hidden>', '--foreground']);
  assert.deepEqual(maskPasswordArgs(['launch', '--password=s3cret']), ['launch', '--password=<hidden>']);
  assert.equal(maskPasswordArgs(['launch', '--password-file', '/f']), undefined);
  assert.equal(maskPasswordArgs(['launch', '--', '--password', 'x']), undefined);
});

test("a process that hid its password no longer shows it in /proc/PID/cmdline", async () => {
  const mod = fileURLToPath(new URL('../../../src/cli/argv-secret.ts', import.meta.url));
  const script = `import(${JSON.stringify(mod)}).then((m) => { m.hidePasswordFromProcessList(process.argv.slice(1));` +
    ` process.stdout.write('ready'); setTimeout(() => {}, 10000); });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', script, 'launch', '--password', 'VerySecret123', '--foreground'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
    });
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'latin1');
    assert.doesNotMatch(cmdline, /VerySecret123/);
    assert.match(cmdline, /^tsweave launch --password <hidden> --foreground\0/);
  } finally {
    child.kill('SIGKILL');
  }
});
