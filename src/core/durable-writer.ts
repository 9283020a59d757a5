// One state file written from many concurrent changes, one write at a time, and a way to wait until a
// given change is on disk (issue 10.3). Every change bumps a generation; the writer snapshots the whole
// state, so one write covers every change made before it started, and changes during a write are written
// right after it. Concurrent writes of snapshots would let an older one be renamed over a newer one and
// lose records; here there is never more than one in flight.
//
// `durable(gen)` resolves once a write that started after change `gen` succeeded, and rejects with the
// write's error when the write that covered it failed (so an API call that needs its record on disk can
// fail and undo). A failed write is not retried on its own; the next change or `durable()` retries.

export class DurableWriter {
  private gen = 0;
  private written = 0;
  private failedGen = 0;
  private lastError: unknown;
  private running: Promise<void> | undefined;
  /** The write in flight (settles, never rejects): durable() wakes after each write, not the whole run. */
  private step: Promise<void> = Promise.resolve();

  /** `write` stores a snapshot of the current state (whole file, crash-safe). */
  constructor(private readonly write: () => Promise<void>) {}

  /** Marks a change; returns its generation for `durable()`. Starts a write when none is running. */
  changed(): number {
    this.gen++;
    this.kick();
    return this.gen;
  }

  /** Resolves when change `gen` (default: every change so far) is on disk; rejects when writing it failed. */
  async durable(gen = this.gen): Promise<void> {
    while (this.written < gen) {
      if (!this.running) {
        if (this.failedGen >= gen) throw this.lastError;
        this.kick();
      }
      await this.step;
    }
  }

  /** Like durable() but never rejects (shutdown, best-effort paths). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private kick(): void {
    this.running ??= this.loop().finally(() => {
      this.running = undefined;
    });
  }

  private async loop(): Promise<void> {
    while (this.written < this.gen) {
      const g = this.gen;
      const write = this.write();
      this.step = write.then(() => undefined, () => undefined);
      try {
        await write;
      } catch (err) {
        this.failedGen = g;
        this.lastError = err;
        return;
      }
      this.written = g;
    }
  }
}
