// Keeps, in the data dir, what this router was connecting to: its direct targets (launch peers and
// `connect`, minus `forget`) and the listen addresses of the peers it was connected to. A router
// relaunched without peer arguments dials both again (Weave's --resume), so a restarted router does not
// stay alone: the others forgot it when it went away. `forget` removes an address from both lists, so a
// forgotten target stays forgotten across restarts. `reset` deletes the file.

import type { Logger } from '../core/logger.js';
import type { StateStore } from '../core/ports.js';
import { errorMessage } from '../core/errors.js';
import { formatHostPort, parseHostPort } from '../core/types.js';
import { PEERS_STATE_KEY } from '../core/defaults.js';

/** Peers remembered at most (the oldest seen go first): enough to find the mesh again, bounded on disk. */
export const MAX_REMEMBERED_PEERS = 64;

interface Remembered {
  targets: string[];
  peers: string[];
}

export interface PeerMemoryDeps {
  readonly store: StateStore;
  readonly logger: Logger;
}

export class PeerMemory {
  private targets: string[] = [];
  private peers: string[] = [];
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;

  constructor(private readonly deps: PeerMemoryDeps, private readonly port: number) {}

  /** Reads the file; a missing or damaged one (or damaged entries) is logged and means "nothing kept". */
  async load(): Promise<void> {
    let bytes: Uint8Array | undefined;
    try {
      bytes = await this.deps.store.read(PEERS_STATE_KEY);
    } catch (err) {
      this.deps.logger.warn({ err: errorMessage(err) }, 'cannot read the remembered peers; starting without them');
      return;
    }
    if (!bytes) return;
    let data: Partial<Remembered>;
    try {
      data = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<Remembered>;
    } catch {
      // Not fatal (peers are learnt again, `connect` adds targets), but kept aside: the next write would
      // replace the only copy of the targets the user gave.
      const kept = await this.deps.store.setAside(PEERS_STATE_KEY).catch((err: unknown) => `not kept: ${errorMessage(err)}`);
      this.deps.logger.warn({ key: PEERS_STATE_KEY, kept }, 'remembered peers file is not JSON; starting without it (a copy is kept)');
      return;
    }
    this.targets = this.clean(data?.targets);
    this.peers = this.clean(data?.peers).slice(-MAX_REMEMBERED_PEERS);
  }

  /**
   * What to dial at start: the launch peers when given (they become the kept targets), else every kept
   * target and peer address.
   */
  initialTargets(launchPeers: readonly string[]): string[] {
    if (launchPeers.length > 0) return launchPeers.flatMap((p) => this.norm(p) ?? []);
    const all = [...this.targets];
    for (const p of this.peers) if (!all.includes(p)) all.push(p);
    if (all.length) this.deps.logger.info({ targets: all }, 'resuming connections to the peers of the last run');
    return all;
  }

  /** The connection maker's direct targets changed (launch, connect, forget). */
  targetsChanged(targets: readonly string[]): void {
    this.targets = this.clean(targets);
    this.save();
  }

  /** A peer connected; `address` is where it listens ("ip:port"). */
  peerSeen(address: string): void {
    const a = this.norm(address);
    if (a === undefined) return;
    const i = this.peers.indexOf(a);
    if (i === this.peers.length - 1 && i >= 0) return; // already the newest: nothing to write
    if (i >= 0) this.peers.splice(i, 1);
    this.peers.push(a);
    if (this.peers.length > MAX_REMEMBERED_PEERS) this.peers.shift();
    this.save();
  }

  /** `forget`: these addresses are neither targets nor remembered peers any more. */
  forget(addresses: readonly string[]): void {
    const gone = new Set(addresses.map((a) => this.norm(a)));
    this.targets = this.targets.filter((a) => !gone.has(a));
    this.peers = this.peers.filter((a) => !gone.has(a));
    this.save();
  }

  /** Resolves once everything recorded so far is on disk. */
  flushed(): Promise<void> {
    return this.writing;
  }

  snapshot(): Readonly<Remembered> {
    return { targets: [...this.targets], peers: [...this.peers] };
  }

  /** Coalesces: one write in flight, at most one more queued, always with the latest lists. */
  private save(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.writing = this.writing.then(async () => {
      this.dirty = false;
      const text = JSON.stringify({ targets: this.targets, peers: this.peers });
      try {
        await this.deps.store.write(PEERS_STATE_KEY, Buffer.from(text, 'utf8'));
      } catch (err) {
        this.deps.logger.warn({ err: errorMessage(err) }, 'cannot save the remembered peers');
      }
    });
  }

  private clean(list: unknown): string[] {
    if (!Array.isArray(list)) return [];
    const out: string[] = [];
    for (const x of list) {
      const a = typeof x === 'string' ? this.norm(x) : undefined;
      if (a !== undefined && !out.includes(a)) out.push(a);
    }
    return out;
  }

  /** "host[:port]" → "host:port", or undefined when it is not a valid address. */
  private norm(text: string): string | undefined {
    try {
      return formatHostPort(parseHostPort(text, this.port, 'peer'));
    } catch {
      return undefined;
    }
  }
}
