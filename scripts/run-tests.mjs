// Runs the node:test suites under the given test/ folders (default: unit and sim) with tsx for TypeScript.
// Usage: node scripts/run-tests.mjs [folder ...] [-- extra node --test args]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const folders = (dash >= 0 ? argv.slice(0, dash) : argv);
const extra = dash >= 0 ? argv.slice(dash + 1) : [];
const dirs = folders.length ? folders : ['unit', 'sim'];

function walk(dir) {
  const out = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (e.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = dirs.flatMap((d) => walk(join(root, 'test', d))).sort();
if (files.length === 0) {
  console.error(`no test files under ${dirs.map((d) => 'test/' + d).join(', ')}`);
  process.exit(1);
}
console.log(`running ${files.length} test files: ${files.map((f) => relative(root, f)).join(' ')}`);
const res = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...extra, ...files],
  { stdio: 'inherit', cwd: root },
);
process.exit(res.status ?? 1);
