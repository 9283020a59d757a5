// The control API's unix socket: where it lives and who may open it. Node cannot ask a unix socket for its
// caller's credentials (no SO_PEERCRED), so the file system decides, as for docker.sock: the socket is
// mode 0660 owner root, group the admin's --api-group (0600 without one), in a directory 0750 root:group
// (0700). Whoever can open it may change the router; everyone else cannot even connect.
//
// Default path: /run/tsweave/netns-<inode of the network namespace>/api.sock. One router runs per network
// namespace (it holds 127.0.0.1:6784 there), so a CLI finds its router's socket exactly as it finds the
// TCP port: by running in the same namespace. --api-socket / TSWEAVE_API_SOCKET override it.

import { statSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, rmdir, unlink } from 'node:fs/promises';
import { connect, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { ConfigError, TsweaveError, errorMessage } from '../core/errors.js';
import { exec } from './exec.js';

export const API_SOCKET_ROOT = '/run/tsweave';
const DEFAULT_SOCKET_NAME = 'api.sock';

/** The directory the default socket lives in for the network namespace with inode `netnsInode`. */
export function defaultApiSocketDir(netnsInode: number | bigint): string {
  return join(API_SOCKET_ROOT, `netns-${netnsInode}`);
}

/** The default API socket of the router in this process's network namespace. */
export function defaultApiSocketPath(): string {
  return join(defaultApiSocketDir(statSync('/proc/self/ns/net').ino), DEFAULT_SOCKET_NAME);
}

/** `--api-group NAME|GID` → gid, through NSS (getent), so LDAP groups work too. */
export async function resolveGroup(group: string): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  const r = await exec('getent', ['group', group]).catch(() => undefined);
  const gid = Number(r?.stdout.split(':')[2]);
  if (!r || !Number.isInteger(gid)) throw new ConfigError(`invalid --api-group "${group}": no such group on this host`);
  return gid;
}

/** True when something accepts connections on the unix socket `path`. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Removes a socket a dead router left behind; refuses a live one or a path that is not a socket. */
async function clearStale(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) throw new TsweaveError('ERR_STATE', `API socket path ${path} exists and is not a socket`);
  if (await socketAnswers(path)) throw new TsweaveError('ERR_ALREADY_RUNNING', `API socket ${path} is in use by another router`);
  await unlink(path);
}

/** A root-owned directory of ours with `mode` and group `gid`; refuses a symlink or someone else's. */
async function ownDir(path: string, mode: number, gid: number): Promise<void> {
  await mkdir(path, { recursive: true, mode });
  const st = await lstat(path);
  if (!st.isDirectory() || st.uid !== 0) {
    throw new TsweaveError('ERR_STATE', `${path} must be a directory owned by root (is it a symlink or someone else's?)`);
  }
  await chown(path, 0, gid);
  await chmod(path, mode);
}

export interface ApiSocketOptions {
  readonly path: string;
  /** The group that may use the API besides root; undefined → root only. */
  readonly gid: number | undefined;
  /** True for the default path: the per-namespace directory is ours to create, lock and remove. */
  readonly ownsDir: boolean;
}

/**
 * Makes `server` listen on the socket with its permissions in place before the first connection: the
 * umask covers the instant between bind() and chmod(). Returns the clean-up for stop.
 */
export async function listenApiSocket(server: Server, o: ApiSocketOptions): Promise<() => Promise<void>> {
  const gid = o.gid ?? 0;
  if (o.ownsDir) {
    await ownDir(API_SOCKET_ROOT, 0o755, 0);
    await ownDir(dirname(o.path), o.gid === undefined ? 0o700 : 0o750, gid);
  }
  await clearStale(o.path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new TsweaveError('ERR_STATE', `cannot listen on API socket ${o.path}: ${errorMessage(err)}`)));
    const old = process.umask(0o177);
    try {
      server.listen(o.path, () => resolve());
    } finally {
      process.umask(old);
    }
  });
  // The router runs as root; a test server as another user keeps the socket its own (0600/0660 still hold).
  if (process.getuid?.() === 0) await chown(o.path, 0, gid);
  await chmod(o.path, o.gid === undefined ? 0o600 : 0o660);
  return async () => {
    await unlink(o.path).catch(() => undefined);
    if (o.ownsDir) await rmdir(dirname(o.path)).catch(() => undefined);
  };
}
