// An in-memory StateStore: what a router keeps in its data dir, as a Map. Keys are checked like the real
// FileStateStore's so a bad key fails here too.
import type { StateStore } from '../../src/core/ports.js';
import { checkStateKey } from '../../src/io/state-store.js';

export class MemoryStateStore implements StateStore {
  readonly files = new Map<string, Uint8Array>();
  writes = 0;
  private asides = 0;

  async read(key: string): Promise<Uint8Array | undefined> {
    checkStateKey(key);
    const v = this.files.get(key);
    return v && new Uint8Array(v);
  }

  async write(key: string, data: Uint8Array): Promise<void> {
    checkStateKey(key);
    this.writes++;
    this.files.set(key, new Uint8Array(data));
  }

  async remove(key: string): Promise<void> {
    checkStateKey(key);
    this.files.delete(key);
  }

  async setAside(key: string): Promise<string> {
    checkStateKey(key);
    const aside = `${key}.corrupt-${this.asides++}`;
    const v = this.files.get(key);
    if (v) this.files.set(aside, v);
    this.files.delete(key);
    return aside;
  }

  /** A kept file as text (JSON state, the peer name). */
  text(key: string): string | undefined {
    const v = this.files.get(key);
    return v && Buffer.from(v).toString('utf8');
  }
}
