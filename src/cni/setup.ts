// `tsweave setup-cni`: installs the CNI plugin where runtimes look for it and the network configuration
// that names it. Idempotent: a file whose content is already right is not touched (so running it twice
// changes nothing, and a plugin being executed is never replaced under a runtime).
//
//   <bin dir>/tsweave-net          a shell shim: exec NODE .../dist/src/cni/main.js (for each --bin-dir;
//                                  default /opt/cni/bin and Debian's /usr/lib/cni)
//   <conf dir>/10-tsweave.conflist network "tsweave": tsweave-net, then portmap for port mappings
//                                  (named 10-… so it sorts before podman's 87-podman-bridge.conflist)
//
// --runtime-dir DIR copies node and this package into DIR first and points the shim there: for a host that
// has no node of its own (the Kubernetes init container, whose image is not the host's file system).

import { copyFile, cp, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PLUGIN_NAME = 'tsweave-net';
export const NETWORK_NAME = 'tsweave';
export const CONFLIST_NAME = '10-tsweave.conflist';
export const DEFAULT_BIN_DIRS = ['/opt/cni/bin', '/usr/lib/cni'] as const;
export const DEFAULT_CONF_DIR = '/etc/cni/net.d';

export interface SetupCniOptions {
  binDirs: readonly string[];
  confDir: string;
  /** Written into the conflist for the plugin (default: the router of the runtime's namespace). */
  apiSocket?: string;
  runtimeDir?: string;
}

/** The package root (…/dist/src/cni → three levels up from this file's directory). */
function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The executable runtimes run: node with the plugin's entry point, arguments passed through. */
export function shimText(node: string, entry: string): string {
  return `#!/bin/sh\n# tsweave CNI plugin, installed by 'tsweave setup-cni'\nexec ${shQuote(node)} ${shQuote(entry)} "$@"\n`;
}

/** The network configuration list (CNI 1.0.0). */
export function conflistText(apiSocket?: string): string {
  const plugin: Record<string, unknown> = { type: PLUGIN_NAME };
  if (apiSocket) plugin.apiSocket = apiSocket;
  const doc = {
    cniVersion: '1.0.0',
    name: NETWORK_NAME,
    plugins: [plugin, { type: 'portmap', capabilities: { portMappings: true }, snat: true }],
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** Writes `text` unless the file already holds exactly it (atomic: temp file + rename). */
async function writeIfChanged(path: string, text: string, mode: number): Promise<boolean> {
  const old = await readFile(path, 'utf8').catch(() => undefined);
  if (old === text) return false;
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, path);
  return true;
}

/** Copies a file unless an identical one is there (atomic, so a running copy is never overwritten in place). */
async function copyIfChanged(from: string, to: string): Promise<boolean> {
  const [a, b] = await Promise.all([readFile(from), readFile(to).catch(() => undefined)]);
  if (b && a.equals(b)) return false;
  await mkdir(dirname(to), { recursive: true });
  const tmp = `${to}.${process.pid}.tmp`;
  await copyFile(from, tmp);
  await rename(tmp, to);
  return true;
}

/** Installs; returns one line per file saying what happened. */
export async function setupCni(o: SetupCniOptions): Promise<string[]> {
  const lines: string[] = [];
  let node = process.execPath;
  let root = packageRoot();
  if (o.runtimeDir) {
    const dir = resolve(o.runtimeDir);
    const nodeTo = join(dir, 'node');
    lines.push(`${(await copyIfChanged(node, nodeTo)) ? 'installed' : 'unchanged'} ${nodeTo}`);
    const libTo = join(dir, 'lib');
    for (const part of ['package.json', 'dist', 'node_modules']) {
      const from = join(root, part);
      if (!(await stat(from).catch(() => undefined))) continue;
      await cp(from, join(libTo, part), { recursive: true, force: true, dereference: false });
    }
    lines.push(`copied ${root} to ${libTo}`);
    node = nodeTo;
    root = libTo;
  }
  const shim = shimText(node, join(root, 'dist', 'src', 'cni', 'main.js'));
  for (const dir of o.binDirs) {
    const path = join(dir, PLUGIN_NAME);
    lines.push(`${(await writeIfChanged(path, shim, 0o755)) ? 'installed' : 'unchanged'} ${path}`);
  }
  const conf = join(o.confDir, CONFLIST_NAME);
  lines.push(`${(await writeIfChanged(conf, conflistText(o.apiSocket), 0o644)) ? 'installed' : 'unchanged'} ${conf}`);
  return lines;
}
