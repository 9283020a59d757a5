// Enforces the dependency direction of docs/DESIGN.md §2: the pure cores never touch I/O modules, and no
// folder imports from one it may not (type-only imports included: a type import is still a dependency
// on the other layer's vocabulary). The few exceptions are listed below, each with its reason, and in
// docs/DESIGN.md. Exits 1 listing every violation.
//
//   node scripts/check-imports.mjs [ROOT]     ROOT defaults to the repository (its src/ is checked)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const IO_MODULES = /^(node:)?(net|dgram|fs|fs\/promises|child_process|http|https)$/;
/** Folders that never import an I/O module (their I/O is injected through core/ports.ts). */
export const PURE = ['mesh', 'ipam', 'dns', 'dataplane', 'wire', 'crypto', 'core', 'containers', 'config', 'host'];
/** Which src/ folders each folder may import from (downward only, DESIGN.md §2). */
export const ALLOWED = {
  core: ['core'],
  wire: ['core', 'wire'],
  crypto: ['core', 'wire', 'crypto'],
  mesh: ['core', 'wire', 'crypto', 'mesh'],
  ipam: ['core', 'wire', 'crypto', 'ipam'],
  dns: ['core', 'wire', 'crypto', 'dns'],
  dataplane: ['core', 'wire', 'crypto', 'dataplane'],
  containers: ['core', 'containers'],
  host: ['core', 'host'],
  io: ['core', 'wire', 'crypto', 'io'],
  config: ['core', 'config'],
  api: ['core', 'api', 'mesh', 'ipam', 'dns', 'dataplane', 'containers', 'wire'],
  daemon: ['core', 'config', 'wire', 'crypto', 'mesh', 'ipam', 'dns', 'dataplane', 'containers', 'io', 'api', 'host', 'daemon'],
  cli: ['core', 'config', 'api', 'cli', 'io', 'cni', 'host'],
  cni: ['core', 'io', 'cli', 'cni'],
  entry: ['core', 'config', 'cli', 'daemon', 'io', 'entry'],
};
/**
 * Named exceptions (file → target, relative to src/), each with the reason. `typeOnly`: only `import type`.
 * A target ending in "/" covers the folder.
 */
export const EXCEPTIONS = [
  { file: 'io/dns-server.ts', target: 'dns/', why: 'the DNS sockets speak the DNS wire format and forwarding policy of dns/ (to become an injected port)' },
  { file: 'io/dns-upstream.ts', target: 'dns/', why: 'the DNS sockets speak the DNS wire format and forwarding policy of dns/ (to become an injected port)' },
  { file: 'io/dns-tcp.ts', target: 'dns/', why: 'the DNS sockets speak the DNS wire format and admission policy of dns/ (to become an injected port)' },
  { file: 'api/routes.ts', target: 'io/http-server.ts', typeOnly: true, why: 'routes are plain data in the HTTP server\'s Route shape' },
  { file: 'api/cni-routes.ts', target: 'io/http-server.ts', typeOnly: true, why: 'routes are plain data in the HTTP server\'s Route shape' },
];

function walk(dir) {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function excepted(file, target, typeOnly) {
  return EXCEPTIONS.some(
    (e) => e.file === file && (e.target.endsWith('/') ? target.startsWith(e.target) : target === e.target) && (typeOnly || !e.typeOnly),
  );
}

/**
 * The rule for one import: `file` and the resolved `target` relative to src/ ("io/udp.ts", "dns/message.ts"),
 * or the bare module specifier for a package. Returns the problem, or undefined when allowed.
 */
export function importProblem(file, spec, target, typeOnly) {
  const folder = file.split('/')[0];
  if (PURE.includes(folder) && IO_MODULES.test(spec)) return `pure module imports I/O module "${spec}"`;
  if (target === undefined) return undefined;
  const to = target.split('/')[0];
  const allowed = ALLOWED[folder];
  if (!allowed) return `${folder}/ is not a known layer (add it to ALLOWED in scripts/check-imports.mjs and to docs/DESIGN.md)`;
  if (allowed.includes(to) || excepted(file, target, typeOnly)) return undefined;
  return `${folder}/ may not import${typeOnly ? ' types' : ''} from ${to}/ ("${spec}")`;
}

/** Every violation under ROOT/src, as "src/file.ts: problem" lines. */
export function findViolations(root) {
  const src = join(root, 'src');
  const problems = [];
  for (const path of walk(src)) {
    const file = relative(src, path);
    if (!file.includes('/')) {
      problems.push(`src/${file}: files belong in a layer folder`);
      continue;
    }
    const text = readFileSync(path, 'utf8');
    for (const m of text.matchAll(/^\s*(import|export)(\s+type)?[^'"]*from\s+['"]([^'"]+)['"]/gm)) {
      const spec = m[3];
      const target = spec.startsWith('.') ? relative(src, join(dirname(path), spec)).replace(/\.js$/, '.ts') : undefined;
      const problem = importProblem(file, spec, target, m[2] !== undefined);
      if (problem) problems.push(`src/${file}: ${problem}`);
    }
    // import('…') at run time is a dependency too.
    for (const m of text.matchAll(/\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g)) {
      const target = relative(src, join(dirname(path), m[1])).replace(/\.js$/, '.ts');
      const problem = importProblem(file, m[1], target, false);
      if (problem) problems.push(`src/${file}: ${problem}`);
    }
  }
  return problems;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = process.argv[2] ? resolve(process.argv[2]) : join(dirname(fileURLToPath(import.meta.url)), '..');
  const problems = findViolations(root);
  if (problems.length) {
    console.error(`import direction violations (docs/DESIGN.md §2):\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log('import direction: ok');
}
