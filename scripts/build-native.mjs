// Builds the N-API addon in native/ with node-gyp. Runs from `npm install` (package.json "install").
// Node's headers: Debian's nodejs ships them in /usr/include/node, so point node-gyp there when present
// instead of letting it try to download them (this machine kind has no internet beyond the registries).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = ['rebuild', '-C', join(root, 'native')];
if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
const gyp = process.env.npm_config_node_gyp;
const cmd = gyp ? process.execPath : 'node-gyp';
const res = spawnSync(cmd, gyp ? [gyp, ...args] : args, { stdio: 'inherit' });
if (res.error) {
  console.error(`tsweave: cannot run node-gyp (${res.error.message}); needs python3, make and a C compiler`);
  process.exit(1);
}
process.exit(res.status ?? 1);
