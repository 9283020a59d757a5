// Keeps tsweave's iptables rules (firewall-rules.ts) in place: installs them at start, replaces them when
// what they depend on changes (exposed subnets, egress containers), and checks every few seconds that a
// flush (`iptables -F`, a firewall reload) has not removed them, putting them back if so — Weave's
// canary, here a rule in our main chain of each table plus the jump to it. Never throws: a failure is
// logged (rate-limited) and retried at the next check. One apply at a time; every command is
// asynchronous, so the event loop is never held.
import { errorMessage } from '../core/errors.js';
import type { LogLimiter } from '../core/log-limiter.js';
import type { Logger } from '../core/logger.js';
import type { Clock, PacketFilter } from '../core/ports.js';
import { firewallRules, type FirewallInputs, type TableRules } from '../host/firewall-rules.js';

/** How often the rules are checked (Weave: 10 s). */
export const FIREWALL_CHECK_MS = 5_000;

export interface FirewallComponents {
  filter: PacketFilter;
  clock: Clock;
  logger: Logger;
  limiter: LogLimiter;
  /** What the rules must say now. */
  inputs: () => FirewallInputs;
}

export interface FirewallStats {
  applies: number;
  restored: number;
  failures: number;
}

export class Firewall {
  private readonly log: Logger;
  /** JSON of the rules last applied successfully; a different one means apply. */
  private applied: string | undefined;
  private queue: Promise<void> = Promise.resolve();
  private cancelTimer: (() => void) | undefined;
  private stopped = false;
  readonly stats: FirewallStats = { applies: 0, restored: 0, failures: 0 };

  constructor(
    private readonly c: FirewallComponents,
    private readonly checkMs = FIREWALL_CHECK_MS,
  ) {
    this.log = c.logger.child({ component: 'firewall', backend: c.filter.backend });
  }

  /** Installs the rules (waits for that; a failure is logged) and starts the periodic check. */
  async start(): Promise<void> {
    await this.refresh();
    this.schedule();
  }

  /** Stops checking. The rules stay: containers keep working while the router is down (as with Weave). */
  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
  }

  /** Applies the rules if what they depend on changed since the last apply. Never rejects. */
  refresh(): Promise<void> {
    return this.enqueue(async () => {
      const tables = firewallRules(this.c.inputs());
      if (JSON.stringify(tables) !== this.applied) await this.apply(tables, false);
    });
  }

  /** True when the rules for the current inputs are in place (the last apply succeeded and nothing changed). */
  isApplied(): boolean {
    return this.applied === JSON.stringify(firewallRules(this.c.inputs()));
  }

  /** One check: put everything back when a canary or a jump is missing, else apply changes. */
  check(): Promise<void> {
    return this.enqueue(async () => {
      const tables = firewallRules(this.c.inputs());
      if (this.applied !== undefined && !(await this.intact(tables))) {
        this.log.warn('tsweave iptables rules missing (tables flushed?); putting them back');
        await this.apply(tables, true);
        return;
      }
      if (JSON.stringify(tables) !== this.applied) await this.apply(tables, false);
    });
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.queue.then(step).catch((err: unknown) => this.failed(err));
    this.queue = run;
    return run;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.cancelTimer = this.c.clock.setTimer(this.checkMs, () => {
      void this.check().finally(() => this.schedule());
    });
  }

  private async intact(tables: TableRules[]): Promise<boolean> {
    for (const t of tables) {
      if (!(await this.c.filter.hasRule(t.table, t.canary.chain, t.canary.rule))) return false;
      for (const j of t.jumps) if (!(await this.c.filter.hasRule(t.table, j.from, j.rule))) return false;
    }
    return true;
  }

  private async apply(tables: TableRules[], restoring: boolean): Promise<void> {
    this.applied = undefined; // a failure half-way must lead to a full apply next time
    for (const t of tables) {
      await this.c.filter.setChains(t.table, t.chains);
      for (const j of t.jumps) await this.c.filter.ensureFirst(t.table, j.from, j.rule);
    }
    this.applied = JSON.stringify(tables);
    this.stats.applies++;
    if (restoring) {
      this.stats.restored++;
      this.log.info('tsweave iptables rules restored');
    } else this.log.debug('tsweave iptables rules applied');
  }

  private failed(err: unknown): void {
    this.stats.failures++;
    const f = this.c.limiter.fields('firewall', { err: errorMessage(err) });
    if (f) this.log.error(f, 'applying tsweave iptables rules failed; retrying at the next check');
  }
}
