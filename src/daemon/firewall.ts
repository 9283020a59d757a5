// Keeps tsweave's iptables rules (firewall-rules.ts) in place: installs them at start, replaces them when
// what they depend on changes (exposed subnets, egress containers), and checks every FIREWALL_CHECK_MS
// that a flush (`iptables -F`, a firewall reload) has not removed them, putting them back if so — Weave's
// canary, here a rule in our main chain of each table plus the jumps to our chains. Never throws: a
// failure is logged (rate-limited) and retried at the next check. One apply at a time; every command is
// asynchronous, so the event loop is never held.
//
// A check is one command (the PacketFilter's listRules, iptables-save), not one `iptables -C` per rule: the
// check runs forever on an idle router, and each command is a fork of the router plus an iptables start.
// iptables lists a rule in its own form, so right after an apply the listing is read once and the listed
// text of each checked rule is learnt (host/rule-match.ts finds it); a check then looks for exactly that
// text. A rule whose listed form could not be found (an iptables form rule-match.ts does not know, or a
// flush racing the apply), or a check whose listing fails, asks iptables with -C as before.
import { FIREWALL_CHECK_MS } from '../core/defaults.js';
import { errorMessage } from '../core/errors.js';
import type { LogLimiter } from '../core/log-limiter.js';
import type { Logger } from '../core/logger.js';
import type { ChainRef, Clock, FilterRule, PacketFilter, RuleListing } from '../core/ports.js';
import { Repeater } from '../core/repeater.js';
import { firewallRules, type FirewallInputs, type TableRules } from '../host/firewall-rules.js';
import { sameRule } from '../host/rule-match.js';

/** A rule whose presence a check looks for: the canaries and the jumps into our chains. */
interface Checked extends ChainRef {
  rule: FilterRule;
}

function checkedRules(tables: readonly TableRules[]): Checked[] {
  return tables.flatMap((t) => [
    { table: t.table, chain: t.canary.chain, rule: t.canary.rule },
    ...t.jumps.map((j) => ({ table: t.table, chain: j.from, rule: j.rule })),
  ]);
}

const keyOf = (c: Checked): string => JSON.stringify([c.table, c.chain, c.rule]);
const textOf = (rule: FilterRule): string => JSON.stringify(rule);

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
  /** Per checked rule (keyOf): its text as listed after the last apply (textOf); absent: ask with -C. */
  private listed = new Map<string, string>();
  private queue: Promise<void> = Promise.resolve();
  private readonly repeater: Repeater;
  readonly stats: FirewallStats = { applies: 0, restored: 0, failures: 0 };

  constructor(
    private readonly c: FirewallComponents,
    checkMs = FIREWALL_CHECK_MS,
  ) {
    this.log = c.logger.child({ component: 'firewall', backend: c.filter.backend });
    this.repeater = new Repeater(c.clock, checkMs, () => this.check());
  }

  /** Installs the rules (waits for that; a failure is logged) and starts the periodic check. */
  async start(): Promise<void> {
    await this.refresh();
    this.repeater.start();
  }

  /** Stops checking. The rules stay: containers keep working while the router is down (as with Weave). */
  stop(): void {
    this.repeater.stop();
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

  private async intact(tables: TableRules[]): Promise<boolean> {
    const checks = checkedRules(tables);
    const listing = checks.some((c) => this.listed.has(keyOf(c))) ? await this.listing(checks) : undefined;
    for (const c of checks) {
      const text = this.listed.get(keyOf(c));
      const present = listing && text !== undefined
        ? (listing.get(c.table)?.get(c.chain) ?? []).some((r) => textOf(r) === text)
        : await this.c.filter.hasRule(c.table, c.chain, c.rule);
      if (!present) return false;
    }
    return true;
  }

  /** Every table's rules; undefined when they cannot be listed (logged, rate-limited: the check falls back to -C). */
  private async listing(checks: readonly Checked[]): Promise<RuleListing | undefined> {
    try {
      return await this.c.filter.listRules(checks);
    } catch (err) {
      const f = this.c.limiter.fields('firewall-list', { err: errorMessage(err) });
      if (f) this.log.warn(f, 'listing the iptables rules failed; checking rule by rule');
      return undefined;
    }
  }

  /** Learns how iptables lists each checked rule (right after an apply, so they are all there). */
  private async learn(tables: TableRules[]): Promise<void> {
    this.listed = new Map();
    const checks = checkedRules(tables);
    const listing = await this.listing(checks);
    if (!listing) return;
    for (const c of checks) {
      const found = listing.get(c.table)?.get(c.chain)?.find((r) => sameRule(c.rule, r));
      if (found) this.listed.set(keyOf(c), textOf(found));
      else this.log.debug({ table: c.table, chain: c.chain, rule: c.rule.join(' ') }, 'rule not found in the listing; checking it with -C');
    }
  }

  private async apply(tables: TableRules[], restoring: boolean): Promise<void> {
    this.applied = undefined; // a failure half-way must lead to a full apply next time
    for (const t of tables) {
      await this.c.filter.setChains(t.table, t.chains);
      for (const j of t.jumps) await this.c.filter.ensureFirst(t.table, j.from, j.rule);
    }
    await this.learn(tables);
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
