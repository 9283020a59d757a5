// The router's log file: a pino destination that never blocks the JS thread and never throws (issue 10.2).
// pino hands each line to `write()`, which only queues it (bounded: past maxQueueBytes a line is dropped
// and counted); the queue is written in batches asynchronously. A failed write (ENOSPC, EIO, the file
// removed) drops that batch, counts it, closes the file and waits retryMs before trying again with a
// fresh open, so a full disk costs dropped lines, not a stalled router. The file is capped (issue 11.6):
// when a batch would take it past maxBytes it is renamed to FILE.1 (replacing the previous one) and a
// new FILE is started, so the log never takes more than about 2 × maxBytes.
import { open, rename, type FileHandle } from 'node:fs/promises';

/** tsweave.log is kept at most this large before it is rotated to tsweave.log.1. */
export const LOG_MAX_BYTES = 10 * 1024 * 1024;
/** Lines waiting to be written; beyond this they are dropped (and counted). */
export const LOG_MAX_QUEUE_BYTES = 1024 * 1024;
/** Wait after a failed write before the next attempt. */
export const LOG_RETRY_MS = 1_000;

export interface LogFileInit {
  /** @default LOG_MAX_BYTES */
  maxBytes?: number;
  /** @default LOG_MAX_QUEUE_BYTES */
  maxQueueBytes?: number;
  /** @default LOG_RETRY_MS */
  retryMs?: number;
  /** Mode of a created file. @default 0o600 */
  mode?: number;
}

export interface LogFileStats {
  /** Lines written. */
  written: number;
  /** Lines dropped: queue full, write failed, or written after close. */
  dropped: number;
  writeErrors: number;
  rotations: number;
  /** The last write error ("ENOSPC: no space left on device, write"), until a write succeeds again. */
  lastError?: string;
}

export class LogFile {
  private readonly maxBytes: number;
  private readonly maxQueueBytes: number;
  private readonly retryMs: number;
  private readonly mode: number;
  private queue: string[] = [];
  private queuedBytes = 0;
  private fh: FileHandle | undefined;
  private size = 0;
  private draining: Promise<void> | undefined;
  private closed = false;
  private readonly counters: LogFileStats = { written: 0, dropped: 0, writeErrors: 0, rotations: 0 };

  constructor(readonly path: string, init: LogFileInit = {}) {
    this.maxBytes = init.maxBytes ?? LOG_MAX_BYTES;
    this.maxQueueBytes = init.maxQueueBytes ?? LOG_MAX_QUEUE_BYTES;
    this.retryMs = init.retryMs ?? LOG_RETRY_MS;
    this.mode = init.mode ?? 0o600;
  }

  /** pino's DestinationStream: queue one line (pino's lines end in "\n"). Never blocks, never throws. */
  write(line: string): void {
    const n = Buffer.byteLength(line);
    if (this.closed || this.queuedBytes + n > this.maxQueueBytes) {
      this.counters.dropped++;
      return;
    }
    this.queue.push(line);
    this.queuedBytes += n;
    this.kick();
  }

  private kick(): void {
    this.draining ??= this.drain().finally(() => {
      this.draining = undefined;
      // A line queued between the loop's last check and here.
      if (this.queue.length && !this.closed) this.kick();
    });
  }

  stats(): LogFileStats {
    return { ...this.counters };
  }

  /** Resolves once everything queued so far was written or dropped. */
  async flushed(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /** Writes what is queued (waiting at most `timeoutMs`), then closes the file; later lines are dropped. */
  async close(timeoutMs = 2_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flushed(), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs).unref()))]);
    clearTimeout(timer);
    this.closed = true;
    this.counters.dropped += this.queue.length;
    this.queue = [];
    this.queuedBytes = 0;
    await this.closeFile();
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      const lines = this.queue;
      this.queue = [];
      this.queuedBytes = 0;
      const buf = Buffer.from(lines.join(''));
      try {
        let fh = await this.openFile();
        if (this.size > 0 && this.size + buf.length > this.maxBytes) fh = await this.rotate();
        await fh.writeFile(buf);
        this.size += buf.length;
        this.counters.written += lines.length;
        delete this.counters.lastError;
      } catch (err) {
        this.counters.dropped += lines.length;
        this.counters.writeErrors++;
        this.counters.lastError = (err as Error).message;
        await this.closeFile();
        // Back off; lines logged meanwhile wait in the (bounded) queue.
        await new Promise<void>((r) => setTimeout(r, this.retryMs).unref());
      }
    }
  }

  private async openFile(): Promise<FileHandle> {
    if (this.fh) return this.fh;
    const fh = await open(this.path, 'a', this.mode);
    try {
      this.size = (await fh.stat()).size;
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
    this.fh = fh;
    return fh;
  }

  /** FILE → FILE.1 (replacing it), then a new empty FILE. */
  private async rotate(): Promise<FileHandle> {
    await this.closeFile();
    await rename(this.path, `${this.path}.1`);
    this.counters.rotations++;
    return this.openFile();
  }

  private async closeFile(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
  }
}
