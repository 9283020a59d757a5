import { test } from 'vitest';
import assert from 'node:assert/strict';
import { CommandError, exec, findExecutable, firstLine, formatCommand } from '../../../src/io/exec.js';

test('exec returns stdout and stderr of a successful command', async () => {
  const r = await exec(process.execPath, ['-e', 'process.stdout.write("out"); process.stderr.write("err")']);
  assert.deepEqual(r, { stdout: 'out', stderr: 'err' });
});

test('a failing command names the command, the exit status and the first stderr line', async () => {
  const err = await exec('sh', ['-c', 'echo; echo "RTNETLINK answers: File exists" >&2; echo second >&2; exit 2']).then(
    () => assert.fail('should reject'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof CommandError);
  assert.equal(err.code, 'ERR_HOST_NETWORK');
  assert.equal(err.exitCode, 2);
  assert.equal(
    err.message,
    'command "sh -c "echo; echo \\"RTNETLINK answers: File exists\\" >&2; echo second >&2; exit 2"" failed (exit 2): RTNETLINK answers: File exists',
  );
  assert.match(err.stderr, /second/);
  assert.equal(err.fields?.stderr, 'RTNETLINK answers: File exists');
});

test('without stderr the message falls back to stdout, then to "no error output"', async () => {
  await assert.rejects(exec('sh', ['-c', 'echo only-stdout; exit 3']), { message: /failed \(exit 3\): only-stdout$/ });
  await assert.rejects(exec('false', []), { message: 'command "false" failed (exit 1): no error output' });
});

test('a missing command and a timeout have their own messages', async () => {
  await assert.rejects(exec('tsweave-no-such-command', ['x']), {
    code: 'ERR_HOST_NETWORK',
    message: 'command "tsweave-no-such-command" not found in PATH (is it installed?)',
  });
  await assert.rejects(exec('sleep', ['5'], { timeoutMs: 100 }), { message: 'command "sleep 5" timed out after 100 ms' });
});

test('helpers: firstLine, formatCommand, findExecutable', async () => {
  assert.equal(firstLine('\n  \n  first  \nsecond'), 'first');
  assert.equal(firstLine(''), '');
  assert.equal(formatCommand('ip', ['addr', 'add', '10.32.0.1/12']), 'ip addr add 10.32.0.1/12');
  assert.equal(formatCommand('sh', ['-c', 'a b', '']), 'sh -c "a b" ""');
  assert.ok(await findExecutable('sh'));
  assert.equal(await findExecutable('tsweave-no-such-command'), undefined);
  assert.equal(await findExecutable('/bin/sh'), '/bin/sh');
});
