// The per-network-namespace runtime record: /run/tsweave/netns-<inode>.json says which data dir (and pid)
// the router of this network namespace was launched with. The router writes it once it is up; `stop`,
// `reset` and the other verbs read it, so they find the router whatever --data-dir it was launched with.
// It outlives `stop` (so `reset` after a stop still cleans the right data dir); `reset` deletes it.
// /run is a tmpfs: a reboot forgets it, as it forgets the router.

import { statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';


export interface RuntimeRecord {
  readonly dataDir: string;
  readonly pid: number;
  /** "host:port" of the HTTP API. */
  readonly api: string;
  /** The Docker plugin's socket, held by the keeper process (io/plugin-keeper.ts); `reset` removes it. */
  readonly pluginSocket?: string;
}

/** This process's network namespace, as the inode of /proc/self/ns/net (what `ip netns identify` compares). */
export function netnsKey(): string {
  return `netns-${statSync('/proc/self/ns/net').ino}`;
}

/** `runDir`: where the records live (TSWEAVE_RUN_DIR, config/settings.ts runDirFromEnv; systemd's RuntimeDirectory=tsweave makes it). */
export function recordPath(runDir: string): string {
  return join(runDir, `${netnsKey()}.json`);
}

/** The record for this network namespace, or undefined when there is none or it is unreadable. */
export async function readRuntimeRecord(runDir: string): Promise<RuntimeRecord | undefined> {
  let data: Partial<RuntimeRecord>;
  try {
    data = JSON.parse(await readFile(recordPath(runDir), 'utf8')) as Partial<RuntimeRecord>;
  } catch {
    return undefined;
  }
  if (typeof data?.dataDir !== 'string' || data.dataDir === '' || !Number.isInteger(data.pid) || typeof data.api !== 'string') {
    return undefined;
  }
  const plugin = typeof data.pluginSocket === 'string' && data.pluginSocket.startsWith('/') ? { pluginSocket: data.pluginSocket } : {};
  return { dataDir: data.dataDir, pid: data.pid!, api: data.api, ...plugin };
}

/** Written atomically (rename), readable only by root. */
export async function writeRuntimeRecord(runDir: string, rec: RuntimeRecord): Promise<void> {
  const path = recordPath(runDir);
  await mkdir(join(path, '..'), { recursive: true, mode: 0o755 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify({ ...rec, dataDir: resolve(rec.dataDir) })}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

export async function removeRuntimeRecord(runDir: string): Promise<void> {
  await rm(recordPath(runDir), { force: true });
}
