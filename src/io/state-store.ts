// StateStore over a directory: one file per key, replaced atomically.
// A write is: temp file in the same directory (".KEY.tmp-PID-RANDOM", never a valid key) → write →
// fsync → rename over KEY → fsync the directory. A crash leaves either the old or the new content,
// plus at worst a temp file that reads ignore and `removeTempFiles()` deletes.
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { TsweaveError } from '../core/errors.js';
import type { StateStore } from '../core/ports.js';

/** Keys: 1..128 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit (so no "..", no "/"). */
export const STATE_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const TEMP_RE = /^\..+\.tmp-\d+-[0-9a-f]+$/;

export function checkStateKey(key: string): void {
  if (!STATE_KEY_RE.test(key)) {
    throw new TsweaveError(
      'ERR_STATE',
      `invalid state key "${key}": must be 1..128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit`,
    );
  }
}

function ioError(verb: string, path: string, err: unknown): TsweaveError {
  const e = err as NodeJS.ErrnoException;
  const message = e.message ?? String(err);
  // Node's messages already start with the code ("ENOSPC: no space left on device, write").
  const code = e.code && !message.startsWith(e.code) ? `${e.code} ` : '';
  return new TsweaveError('ERR_STATE', `cannot ${verb} state file ${path}: ${code}${message}`, {
    cause: err,
    fields: { path, errno: e.code },
  });
}

export interface FileStateStoreInit {
  /** Mode for a directory this store creates. @default 0o700 */
  dirMode?: number;
  /** Mode of state files. @default 0o600 */
  fileMode?: number;
}

export class FileStateStore implements StateStore {
  private readonly dirMode: number;
  private readonly fileMode: number;
  private dirReady: Promise<void> | undefined;

  constructor(readonly dir: string, init: FileStateStoreInit = {}) {
    this.dirMode = init.dirMode ?? 0o700;
    this.fileMode = init.fileMode ?? 0o600;
  }

  async read(key: string): Promise<Uint8Array | undefined> {
    checkStateKey(key);
    const path = join(this.dir, key);
    try {
      return new Uint8Array(await readFile(path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw ioError('read', path, err);
    }
  }

  async write(key: string, data: Uint8Array): Promise<void> {
    checkStateKey(key);
    await this.ensureDir();
    const path = join(this.dir, key);
    const tmp = join(this.dir, `.${key}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      const fh = await open(tmp, 'wx', this.fileMode);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw ioError('write', path, err);
    }
    await this.syncDir();
  }

  async remove(key: string): Promise<void> {
    checkStateKey(key);
    const path = join(this.dir, key);
    try {
      await unlink(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw ioError('remove', path, err);
    }
    await this.syncDir();
  }

  /**
   * Keeps a bad file for the user instead of letting the next write replace it: KEY is renamed to
   * KEY.corrupt-YYYYMMDDTHHMMSSZ (a numbered suffix if that exists already). Returns the new path.
   */
  async setAside(key: string): Promise<string> {
    checkStateKey(key);
    const path = join(this.dir, key);
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    for (let n = 0; ; n++) {
      const aside = `${path}.corrupt-${stamp}${n ? `-${n}` : ''}`;
      try {
        // link + unlink rather than rename: link fails when `aside` exists, so an older copy is never replaced.
        await link(path, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw ioError('set aside', path, err);
      }
      await this.remove(key);
      return aside;
    }
  }

  /** Keys currently stored (temp files excluded), sorted. */
  async keys(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((n) => STATE_KEY_RE.test(n)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw ioError('list', this.dir, err);
    }
  }

  /** Deletes temp files left by a crash mid-write. Call once at startup, before any write. Returns their names. */
  async removeTempFiles(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw ioError('list', this.dir, err);
    }
    const temps = names.filter((n) => TEMP_RE.test(n));
    for (const n of temps) await unlink(join(this.dir, n)).catch(() => undefined);
    return temps;
  }

  private ensureDir(): Promise<void> {
    this.dirReady ??= mkdir(this.dir, { recursive: true, mode: this.dirMode }).then(
      () => undefined,
      (err) => {
        this.dirReady = undefined;
        throw ioError('create directory for', this.dir, err);
      },
    );
    return this.dirReady;
  }

  /** fsync the directory so the rename/unlink itself survives a crash. */
  private async syncDir(): Promise<void> {
    let fh;
    try {
      fh = await open(this.dir, 'r');
      await fh.sync();
    } catch (err) {
      throw ioError('sync directory of', this.dir, err);
    } finally {
      await fh?.close();
    }
  }
}
