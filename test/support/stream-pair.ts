// An in-memory, cross-wired pair of ByteStreams (the fake of a TCP connection, core/ports.ts).
//
// - Delivery is asynchronous (setImmediate), in order, like a socket: a write never calls the peer's
//   callbacks re-entrantly. `await pair.flush()` runs deliveries until nothing is in flight.
// - With `rng`, every write is cut into random chunks of 1..maxChunk bytes (seeded, reproducible), to
//   exercise incremental decoders.
// - `tamper` rewrites outgoing bytes; `inject` delivers bytes as if the peer had sent them; `fail`
//   simulates an I/O error.
// - `close()` flushes what was written, then the peer sees its close; both ends' onClose fire once.
import type { ByteStream, Rng } from '../../src/core/ports.js';

export interface StreamPairOptions {
  /** Cut writes into random chunks using this seeded Rng. */
  rng?: Rng;
  /** Largest chunk when `rng` is set. @default 7 */
  maxChunk?: number;
}

type Inbound = { kind: 'data'; bytes: Uint8Array } | { kind: 'close'; err?: Error };

export class TestStream implements ByteStream {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  /** The other end; set by createStreamPair. */
  peer!: TestStream;
  /** Rewrites each outgoing write (one call per write); return the bytes to send. */
  tamper: ((data: Uint8Array, streamOffset: number) => Uint8Array) | undefined;
  /** Bytes written so far (before tampering). */
  bytesWritten = 0;
  /** Everything written, in order (copies). */
  readonly writes: Uint8Array[] = [];
  private dataCb: ((chunk: Uint8Array) => void) | undefined;
  private closeCb: ((err?: Error) => void) | undefined;
  private readonly inbound: Inbound[] = [];
  private isClosed = false;
  private closeReported = false;
  private closeError: Error | undefined;

  constructor(
    private readonly pair: StreamPair,
    local: string,
    remote: string,
    remotePort: number,
  ) {
    this.localAddress = local;
    this.remoteAddress = remote;
    this.remotePort = remotePort;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  write(data: Uint8Array): void {
    if (this.isClosed) return;
    const copy = Uint8Array.from(data);
    this.writes.push(copy);
    const offset = this.bytesWritten;
    this.bytesWritten += copy.length;
    const out = this.tamper ? this.tamper(Uint8Array.from(copy), offset) : copy;
    this.peer.enqueueData(out);
  }

  onData(cb: (chunk: Uint8Array) => void): void {
    this.dataCb = cb;
    this.pair.schedule();
  }

  onClose(cb: (err?: Error) => void): void {
    this.closeCb = cb;
    this.pair.schedule();
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.inbound.length = 0;
    this.inbound.push({ kind: 'close' });
    this.peer.inbound.push({ kind: 'close' });
    this.pair.schedule();
  }

  /** Delivers bytes to this stream as if the peer had written them. */
  inject(bytes: Uint8Array): void {
    this.enqueueData(Uint8Array.from(bytes));
  }

  /** Simulates an I/O error: this end closes with `err`, the peer sees a plain close. */
  fail(err: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.inbound.length = 0;
    this.inbound.push({ kind: 'close', err });
    this.peer.inbound.push({ kind: 'close' });
    this.pair.schedule();
  }

  /** The error this stream's onClose was called with (after it was called). */
  get closedWith(): Error | undefined {
    return this.closeError;
  }

  get closeFired(): boolean {
    return this.closeReported;
  }

  /** @internal */
  enqueueData(bytes: Uint8Array): void {
    if (this.isClosed) return;
    const { rng, maxChunk } = this.pair.options;
    if (rng) {
      for (let off = 0; off < bytes.length; ) {
        const n = Math.min(bytes.length - off, 1 + rng.int(maxChunk));
        this.inbound.push({ kind: 'data', bytes: bytes.subarray(off, off + n) });
        off += n;
      }
    } else if (bytes.length > 0) {
      this.inbound.push({ kind: 'data', bytes });
    }
    this.pair.schedule();
  }

  /** @internal Delivers what is queued; returns true if anything happened. */
  pump(): boolean {
    let did = false;
    while (this.inbound.length > 0 && !this.closeReported) {
      const head = this.inbound[0]!;
      if (head.kind === 'data') {
        if (!this.dataCb || this.isClosed) {
          if (this.isClosed) this.inbound.shift(); // a closed stream delivers no more data
          else return did;
          continue;
        }
        this.inbound.shift();
        did = true;
        this.dataCb(head.bytes);
      } else {
        if (!this.closeCb) return did;
        this.inbound.shift();
        this.isClosed = true;
        this.closeReported = true;
        this.closeError = head.err;
        did = true;
        this.closeCb(head.err);
      }
    }
    if (this.closeReported) this.inbound.length = 0;
    return did;
  }

  /** @internal */
  hasPending(): boolean {
    if (this.closeReported) return false;
    const head = this.inbound[0];
    if (!head) return false;
    return head.kind === 'data' ? this.dataCb !== undefined || this.isClosed : this.closeCb !== undefined;
  }
}

export class StreamPair {
  readonly a: TestStream;
  readonly b: TestStream;
  readonly options: { rng: Rng | undefined; maxChunk: number };
  private scheduled = false;

  constructor(opts: StreamPairOptions = {}) {
    this.options = { rng: opts.rng, maxChunk: opts.maxChunk ?? 7 };
    this.a = new TestStream(this, '10.0.0.1', '10.0.0.2', 6783);
    this.b = new TestStream(this, '10.0.0.2', '10.0.0.1', 40001);
    this.a.peer = this.b;
    this.b.peer = this.a;
  }

  /** @internal */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      // Alternate so neither side starves; callbacks may queue more (picked up in the next round).
      for (let i = 0; i < 1000 && (this.a.pump() || this.b.pump()); i++);
      if (this.a.hasPending() || this.b.hasPending()) this.schedule();
    });
  }

  /** Resolves once nothing is in flight (deliveries triggered by deliveries included). */
  async flush(maxRounds = 10_000): Promise<void> {
    for (let i = 0; i < maxRounds; i++) {
      await new Promise<void>((r) => setImmediate(r));
      if (!this.scheduled && !this.a.hasPending() && !this.b.hasPending()) return;
    }
    throw new Error(`stream pair still busy after ${maxRounds} rounds`);
  }
}

export function createStreamPair(opts: StreamPairOptions = {}): StreamPair {
  return new StreamPair(opts);
}
