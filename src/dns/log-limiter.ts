// Rate limit for log lines that hostile or broken input can trigger at packet rate (an unreachable upstream,
// a refused client): at most one line per key per interval, carrying how many were suppressed since. Pure:
// time comes from the caller.

export class LogLimiter {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    /** Most keys remembered; beyond that the table is cleared (a flood of distinct keys stays bounded). */
    private readonly maxKeys = 1024,
  ) {}

  /**
   * Whether to log `key` now. Returns undefined when suppressed, else how many lines for this key were
   * suppressed since the last one logged.
   */
  take(key: string, nowMs: number): number | undefined {
    const e = this.last.get(key);
    if (e && nowMs - e.at < this.intervalMs) {
      e.suppressed++;
      return undefined;
    }
    if (!e && this.last.size >= this.maxKeys) this.last.clear();
    this.last.set(key, { at: nowMs, suppressed: 0 });
    return e?.suppressed ?? 0;
  }
}
