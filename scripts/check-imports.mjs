// Enforces the dependency direction of DESIGN.md §2: the pure cores never touch I/O modules, and lower
// layers never import upper ones. Exits 1 listing every violation.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const IO_MODULES = /^(node:)?(net|dgram|fs|fs\/promises|child_process|http|https)$/;
const PURE = ['mesh', 'ipam', 'dns', 'dataplane', 'wire', 'crypto', 'core', 'containers'];
// Which src/ folders each folder may import from.
const ALLOWED = {
  core: ['core'],
  wire: ['core', 'wire'],
  crypto: ['core', 'wire', 'crypto'],
  mesh: ['core', 'wire', 'crypto', 'mesh'],
  ipam: ['core', 'wire', 'crypto', 'ipam'],
  dns: ['core', 'wire', 'crypto', 'dns'],
  dataplane: ['core', 'wire', 'crypto', 'dataplane'],
  containers: ['core', 'containers'],
  io: ['core', 'wire', 'crypto', 'io', 'dataplane', 'dns', 'containers'],
  api: ['core', 'api', 'mesh', 'ipam', 'dns', 'dataplane', 'containers', 'wire'],
  daemon: ['core', 'wire', 'crypto', 'mesh', 'ipam', 'dns', 'dataplane', 'containers', 'io', 'api', 'daemon'],
  cli: ['core', 'api', 'daemon', 'cli', 'io', 'cni'],
  cni: ['core', 'io', 'cli', 'cni'],
};

function walk(dir) {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const problems = [];
for (const file of walk(join(root, 'src'))) {
  const folder = relative(join(root, 'src'), file).split('/')[0];
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/^\s*(import|export)(\s+type)?[^'"]*from\s+['"]([^'"]+)['"]/gm)) {
    const typeOnly = m[2] !== undefined;
    const spec = m[3];
    if (PURE.includes(folder) && IO_MODULES.test(spec)) {
      problems.push(`${relative(root, file)}: pure module imports I/O module "${spec}"`);
    }
    // Type-only imports vanish at run time; shared vocabulary (e.g. the status snapshot types) may cross.
    if (spec.startsWith('.') && !typeOnly) {
      const target = relative(join(root, 'src'), join(dirname(file), spec)).split('/')[0];
      const allowed = ALLOWED[folder];
      if (allowed && !allowed.includes(target)) {
        problems.push(`${relative(root, file)}: ${folder}/ may not import from ${target}/ ("${spec}")`);
      }
    }
  }
}
if (problems.length) {
  console.error(`import direction violations (DESIGN.md §2):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('import direction: ok');
