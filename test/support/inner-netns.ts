// Runs a test file a second time inside a network namespace made for it (a process cannot move its own
// sockets into a namespace): the outer run (host namespace) creates `tsw-<label>-<pid>-<rand>` with lo
// up, runs `ip netns exec NS node --import tsx FILE` with ENV_NAME=NS, asserts the inner run passed,
// and deletes the namespace even on failure. The inner run creates its TAP devices and sockets there.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

export function runInsideNetns(fileUrl: string, envName: string, label: string, timeoutMs = 120_000): void {
  const ns = `tsw-${label}-${process.pid}-${randomBytes(3).toString('hex')}`;
  describe(`${label} inside netns ${ns}`, () => {
    before(() => {
      execFileSync('ip', ['netns', 'add', ns]);
      execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    });
    after(() => {
      const del = spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8' });
      const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
      if (left.split('\n').some((l) => l.split(' ')[0] === ns)) throw new Error(`cannot delete netns ${ns}: ${del.stderr}`);
    });

    it('passes every test run inside the namespace', () => {
      const env: NodeJS.ProcessEnv = { ...process.env, [envName]: ns };
      delete env.NODE_TEST_CONTEXT; // the inner file is its own test run, not a child of ours
      const res = spawnSync(
        'ip',
        ['netns', 'exec', ns, process.execPath, '--import', 'tsx', '--test-reporter=spec', fileURLToPath(fileUrl)],
        { env, encoding: 'utf8', timeout: timeoutMs },
      );
      const output = `${res.stdout ?? ''}${res.stderr ?? ''}`;
      process.stderr.write(output.replace(/^/gm, `  [${ns}] `) + '\n');
      assert.equal(res.error, undefined, `spawn failed: ${String(res.error)}`);
      assert.equal(res.status, 0, `inner tests failed (exit ${res.status}, signal ${res.signal}):\n${output}`);
      assert.match(output, /^\S* ?fail 0$/m);
      assert.doesNotMatch(output, /^\S* ?pass 0$/m);
    });
  });
}
