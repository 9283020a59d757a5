// scripts/check-imports.mjs tells the truth: the repository passes, and a tree with each kind of
// violation (an upward import, a type-only one, a dynamic one, I/O in a pure core) fails naming each.
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const SCRIPT = join(process.cwd(), 'scripts', 'check-imports.mjs');
let tmp: string;

function check(root?: string) {
  const r = spawnSync(process.execPath, [SCRIPT, ...(root ? [root] : [])], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmp, 'tree-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, 'src', path)), { recursive: true });
    writeFileSync(join(root, 'src', path), text);
  }
  return root;
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tsweave-imports-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

test('the repository itself passes', () => {
  const r = check();
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /import direction: ok/);
});

test('a clean tree passes; allowed directions and the named exceptions are not reported', () => {
  const r = check(
    tree({
      'core/types.ts': 'export type X = 1;\n',
      'cli/run.ts': "import type { X } from '../core/types.js';\nimport { y } from '../config/launch.js';\n",
      'config/launch.ts': "import type { X } from '../core/types.js';\nexport const y = 1;\n",
      'io/dns-server.ts': "import { DNS } from '../dns/constants.js';\n",
      'entry/tsweave.ts': "const m = await import('../daemon/run.js');\n",
    }),
  );
  assert.equal(r.code, 0, r.out);
});

test('each kind of violation fails, one line each', () => {
  const r = check(
    tree({
      'cli/lifecycle.ts': "import { runDaemon } from '../daemon/run.js';\n",
      'cli/help.ts': "import type { FlagSpec } from '../daemon/config.js';\n",
      'cli/main.ts': "const m = await import('../daemon/run.js');\n",
      'io/udp.ts': "import {\n  a,\n  b,\n} from '../dataplane/packer.js';\n",
      'io/tcp.ts': "import { Router } from '../mesh/router.js';\n",
      'mesh/router.ts': "import { createSocket } from 'node:dgram';\n",
      'config/launch.ts': "import { readFileSync } from 'node:fs';\n",
      'api/routes.ts': "import { startHttpServer } from '../io/http-server.js';\n",
      'top.ts': 'export {};\n',
    }),
  );
  assert.equal(r.code, 1);
  const expected = [
    'src/cli/lifecycle.ts: cli/ may not import from daemon/ ("../daemon/run.js")',
    'src/cli/help.ts: cli/ may not import types from daemon/ ("../daemon/config.js")',
    'src/cli/main.ts: cli/ may not import from daemon/ ("../daemon/run.js")',
    'src/io/udp.ts: io/ may not import from dataplane/ ("../dataplane/packer.js")',
    'src/io/tcp.ts: io/ may not import from mesh/ ("../mesh/router.js")',
    'src/mesh/router.ts: pure module imports I/O module "node:dgram"',
    'src/config/launch.ts: pure module imports I/O module "node:fs"',
    // The exception for api/routes.ts covers the Route type only, not the server's code.
    'src/api/routes.ts: api/ may not import from io/ ("../io/http-server.js")',
    'src/top.ts: files belong in a layer folder',
  ];
  for (const line of expected) assert.ok(r.out.includes(line), `missing: ${line}\n${r.out}`);
  assert.equal(r.out.trim().split('\n').length, expected.length + 1, r.out);
});
