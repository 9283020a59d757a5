// Runs a test file a second time inside a network namespace made for it (a process cannot move its own
// sockets into a namespace): the outer run (host namespace) creates `tsw-<label>-<pid>-<rand>` with lo
// up, runs `ip netns exec NS vitest run FILE` with ENV_NAME=NS, asserts the inner run passed,
// and deletes the namespace even on failure. The inner run creates its TAP devices and sockets there.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const VITEST_BIN = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
const NETNS_CONFIG = join(ROOT, 'vitest.netns.config.ts');

export function runInsideNetns(fileUrl: string, envName: string, label: string, timeoutMs = 120_000): void {
  const ns = `tsw-${label}-${process.pid}-${randomBytes(3).toString('hex')}`;
  describe(`${label} inside netns ${ns}`, () => {
    beforeAll(() => {
      execFileSync('ip', ['netns', 'add', ns]);
      execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    });
    afterAll(() => {
      const del = spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8' });
      const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
      if (left.split('\n').some((l) => l.split(' ')[0] === ns)) throw new Error(`cannot delete netns ${ns}: ${del.stderr}`);
    });

    it('passes every test run inside the namespace', () => {
      const env: NodeJS.ProcessEnv = { ...process.env, [envName]: ns };
      // The inner file is its own vitest run (same config), not a worker of ours.
      for (const k of Object.keys(env)) if (k.startsWith('VITEST') || k === 'TEST') delete env[k];
      env.NO_COLOR = '1';
      const res = spawnSync(
        'ip',
        ['netns', 'exec', ns, process.execPath, VITEST_BIN, 'run', '--config', NETNS_CONFIG, fileURLToPath(fileUrl)],
        { env, encoding: 'utf8', timeout: timeoutMs, cwd: ROOT },
      );
      const output = `${res.stdout ?? ''}${res.stderr ?? ''}`;
      process.stderr.write(output.replace(/^/gm, `  [${ns}] `) + '\n');
      assert.equal(res.error, undefined, `spawn failed: ${String(res.error)}`);
      assert.equal(res.status, 0, `inner tests failed (exit ${res.status}, signal ${res.signal}):\n${output}`);
      assert.match(output, /Tests\s+\d+ passed/);
      assert.doesNotMatch(output, /\d+ (failed|skipped)/);
    });
  });
}

/**
 * The opening of a test file whose tests run inside a namespace of its own: it must run as root; the
 * outer run (no `envName` set) makes the namespace and re-runs the file there (runInsideNetns); the
 * inner run calls `inner(ns)`, which declares the tests.
 */
export async function splitNetnsRun(fileUrl: string, envName: string, label: string, inner: (ns: string) => Promise<void>): Promise<void> {
  if (process.getuid?.() !== 0) {
    const file = fileURLToPath(fileUrl).slice(ROOT.length + 1);
    throw new Error(`${file} must run as root: it creates a network namespace and a TAP device`);
  }
  const ns = process.env[envName];
  if (ns === undefined) runInsideNetns(fileUrl, envName, label);
  else await inner(ns);
}
