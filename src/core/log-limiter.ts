// Rate limiting of repeated log lines. A warning that can repeat (a refused inbound connection, a failing
// liveness check, a state write that keeps failing) goes through `LogLimiter.allow(key)`: the first line
// of a key in each window is logged, the rest are counted, and the next line that is let through carries
// how many were suppressed. The log then grows with the number of distinct problems, not with how often
// they recur (issue 11.6). Pure: time comes from the injected Clock.
import type { Clock } from './ports.js';

/** Default window: one line per key per minute. */
export const LOG_LIMIT_WINDOW_MS = 60_000;
/** Keys tracked at most; the oldest window is forgotten first (hostile input cannot grow the map). */
export const LOG_LIMIT_MAX_KEYS = 1_000;

/**
 * A log-limiter key for a message that quotes what a remote sent: quoted strings, peer names, bracketed
 * ranges and numbers become "#", so a stranger who varies a length, a name or a version in every
 * connection still lands on one key (one line a minute) instead of one line per connection.
 */
export function messageShape(text: string): string {
  return text
    .replace(/"(?:[^"\\]|\\.)*"/g, '#')
    .replace(/\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b/gi, '#')
    .replace(/\[[^\]]*\]/g, '#')
    .replace(/\d+/g, '#')
    .slice(0, 160);
}

interface KeyState {
  windowStart: number;
  suppressed: number;
}

export class LogLimiter {
  private readonly keys = new Map<string, KeyState>();
  /** Lines suppressed since start, all keys together (for /stats). */
  suppressedTotal = 0;

  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    private readonly windowMs = LOG_LIMIT_WINDOW_MS,
    private readonly maxKeys = LOG_LIMIT_MAX_KEYS,
  ) {}

  /**
   * Whether to log a line for `key` now. When it returns a number, log the line and add the number as
   * `suppressed` (lines dropped for this key since the last one logged; 0 the first time). When it
   * returns undefined, drop the line: it has been counted.
   */
  allow(key: string): number | undefined {
    const now = this.clock.now();
    const s = this.keys.get(key);
    if (s && now - s.windowStart < this.windowMs) {
      s.suppressed++;
      this.suppressedTotal++;
      return undefined;
    }
    const suppressed = s?.suppressed ?? 0;
    this.keys.delete(key); // re-insert: Map order is then oldest window first
    if (this.keys.size >= this.maxKeys) this.keys.delete(this.keys.keys().next().value!);
    this.keys.set(key, { windowStart: now, suppressed: 0 });
    return suppressed;
  }

  /** `fields` plus `suppressed` when lines were dropped, or undefined when this line must be dropped. */
  fields<T extends object>(key: string, fields: T): (T & { suppressed?: number }) | undefined {
    const n = this.allow(key);
    if (n === undefined) return undefined;
    return n > 0 ? { ...fields, suppressed: n } : fields;
  }
}
