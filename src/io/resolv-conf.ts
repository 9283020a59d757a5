// Upstream DNS servers from resolv.conf (default /etc/resolv.conf), re-read when the file changes: its
// mtime/size/inode are polled every DNS_RESOLV_CONF_RECHECK_MS (Weave re-reads at most every 5 s). A file
// that is missing means no upstreams (SERVFAIL); one that is there but cannot be read keeps the last ones.

import { promises as fsp } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { DNS_RESOLV_CONF_RECHECK_MS } from '../core/defaults.js';
import { LogLimiter } from '../core/log-limiter.js';

export const DEFAULT_RESOLV_CONF = '/etc/resolv.conf';

export interface Upstream {
  host: string;
  port: number;
}

export function formatUpstream(u: Upstream): string {
  const h = isIP(u.host) === 6 ? `[${u.host}]` : u.host;
  return u.port === 53 ? u.host : `${h}:${u.port}`;
}

/** Nameserver addresses from resolv.conf text, in order (invalid lines are skipped, as glibc does). */
export function parseResolvConf(text: string): Upstream[] {
  const out: Upstream[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/[#;].*$/, '').trim();
    const m = /^nameserver\s+(\S+)$/.exec(line);
    if (!m) continue;
    const host = m[1]!.replace(/%.*$/, ''); // drop an IPv6 zone id
    if (isIP(host) === 0) continue;
    if (!out.some((u) => u.host === host)) out.push({ host, port: 53 });
  }
  return out;
}

/** Parses "1.2.3.4", "1.2.3.4:5353", "::1" or "[::1]:5353". Throws ConfigError naming the value. */
export function parseUpstream(text: string, what = '--dns-upstream'): Upstream {
  const s = text.trim();
  let host = s;
  let port = 53;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) {
    host = v6[1]!;
    if (v6[2] !== undefined) port = Number(v6[2]);
  } else if (isIP(s) === 0 && s.includes(':') && s.indexOf(':') === s.lastIndexOf(':')) {
    host = s.slice(0, s.indexOf(':'));
    port = Number(s.slice(s.indexOf(':') + 1));
  }
  if (isIP(host) === 0) throw new ConfigError(`invalid ${what} "${text}": must be an IP address, optionally with :port`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`invalid ${what} "${text}": port must be 1..65535`);
  return { host, port };
}

export interface ResolvConfWatcherInit {
  /** @default /etc/resolv.conf */
  path?: string;
  /** @default DNS_RESOLV_CONF_RECHECK_MS (5 s) */
  recheckMs?: number;
  /** Upstreams to leave out (our own listen address, so we never forward to ourselves). */
  exclude?: (u: Upstream) => boolean;
}

export class ResolvConfWatcher {
  readonly path: string;
  private readonly recheckMs: number;
  private readonly exclude: (u: Upstream) => boolean;
  private readonly log: Logger;
  private upstreams: Upstream[] = [];
  private stamp = '';
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  /** One "cannot read" line per 5 minutes while the file stays unreadable. */
  private readonly readErrors = new LogLimiter({ now: Date.now }, 5 * 60_000);

  constructor(components: { logger: Logger }, init: ResolvConfWatcherInit = {}) {
    this.path = init.path ?? DEFAULT_RESOLV_CONF;
    this.recheckMs = init.recheckMs ?? DNS_RESOLV_CONF_RECHECK_MS;
    this.exclude = init.exclude ?? (() => false);
    this.log = components.logger.child({ component: 'resolv-conf', path: this.path });
  }

  current(): Upstream[] {
    return this.upstreams;
  }

  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check(), this.recheckMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Re-reads the file if its mtime, size or inode changed. Never throws. */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      let stamp: string;
      try {
        const st = await fsp.stat(this.path);
        stamp = `${st.mtimeMs}/${st.size}/${st.ino}`;
      } catch (err) {
        stamp = `missing:${(err as NodeJS.ErrnoException).code ?? ''}`;
      }
      if (stamp === this.stamp) return;
      this.stamp = stamp;
      let text = '';
      try {
        text = await fsp.readFile(this.path, 'utf8');
      } catch (err) {
        if (!stamp.startsWith('missing:')) {
          // There but unreadable (EACCES, EISDIR, EIO): keep the servers we have and read again at the next
          // check: a fix (chmod) need not change the mtime we watch.
          this.stamp = '';
          if (this.readErrors.allow('read') !== undefined) {
            this.log.warn({ err, upstream: this.upstreams.map(formatUpstream) }, 'cannot read resolv.conf; keeping the upstream DNS servers we had');
          }
          return;
        }
        this.log.warn({ err }, 'cannot read resolv.conf; no upstream DNS servers');
      }
      const next = parseResolvConf(text).filter((u) => !this.exclude(u));
      const changed = next.map(formatUpstream).join(',') !== this.upstreams.map(formatUpstream).join(',');
      this.upstreams = next;
      if (changed) this.log.info({ upstream: next.map(formatUpstream) }, 'dns upstream servers updated');
    } finally {
      this.checking = false;
    }
  }
}
