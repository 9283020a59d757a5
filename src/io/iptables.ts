// PacketFilter over the iptables commands (nft or legacy backend). A chain's whole content is set with one
// `iptables-restore --noflush` (declaring a user chain there creates it or empties it, both backends), so
// a packet never sees half a rule set; jumps from the built-in chains are checked with -C and inserted
// with -I; every table is read at once with iptables-save (the periodic check: one command). Every step is one command an operator can replay from the error message. `-w` waits for the
// xtables lock (legacy) instead of failing when Docker or firewalld holds it.
//
// Which backend: IPTABLES_BACKEND=nft|legacy (Weave's variable) when set; otherwise the one that already
// holds rules (Docker's FORWARD DROP lives in one of them, and an ACCEPT in the other would not help: a
// packet must pass both), the system's `iptables` when neither or both do.
import type { ChainRef, FilterRule, PacketFilter, RuleListing } from '../core/ports.js';
import { TsweaveError } from '../core/errors.js';
import { CommandError, exec as defaultExec, type ExecFn } from './exec.js';
import { parseIptablesSave } from './iptables-save.js';

export type IptablesBackend = 'nft' | 'legacy';

/** Seconds to wait for the xtables lock. */
const LOCK_WAIT_S = '5';
const CHAIN_RE = /^[A-Za-z0-9_.-]{1,28}$/;
const TABLES = new Set(['filter', 'nat', 'mangle', 'raw']);

function check(table: string, chain: string): void {
  if (!TABLES.has(table)) throw new TsweaveError('ERR_HOST_NETWORK', `invalid iptables table "${table}"`);
  if (!CHAIN_RE.test(chain)) throw new TsweaveError('ERR_HOST_NETWORK', `invalid iptables chain name "${chain}"`);
}

/**
 * True when an iptables failure means "no such rule / chain" rather than a real error: exit 1 "Bad rule" /
 * "No chain/target/match", or exit 2 for a jump to a chain that is gone (nft: "Chain 'X' does not exist",
 * legacy: "Couldn't load target `X'").
 */
function isMissing(err: unknown): boolean {
  return err instanceof CommandError && (err.exitCode === 1 || err.exitCode === 2) &&
    /Bad rule|does a matching rule exist|No chain\/target\/match|does not exist|Couldn't load target/i.test(err.stderr);
}

/** Lines a `*-save` listing has beyond an empty ruleset: rules, and built-in chains whose policy is not ACCEPT. */
export function countRules(saveOutput: string): number {
  let n = 0;
  for (const line of saveOutput.split('\n')) {
    if (line.startsWith('-A ')) n++;
    else if (/^:\S+ (DROP|REJECT)\b/.test(line)) n++;
  }
  return n;
}

/**
 * The backend to use: `asked` (IPTABLES_BACKEND, checked by config/settings.ts) when set, else the one
 * holding rules, else undefined (the system's default).
 */
export async function detectBackend(asked: IptablesBackend | undefined, run: ExecFn = defaultExec): Promise<IptablesBackend | undefined> {
  if (asked) return asked;
  const count = async (b: IptablesBackend) => countRules((await run(`iptables-${b}-save`, []).catch(() => ({ stdout: '' }))).stdout);
  const [nft, legacy] = await Promise.all([count('nft'), count('legacy')]);
  if (legacy > nft) return 'legacy';
  if (nft > legacy) return 'nft';
  return undefined;
}

export interface IptablesComponents {
  /** @default exec from ./exec.js */
  exec?: ExecFn;
}

export class IptablesPacketFilter implements PacketFilter {
  readonly backend: string;
  private readonly run: ExecFn;
  private readonly iptables: string;
  private readonly restore: string;
  private readonly save: string;

  /** `backend` undefined: the system's `iptables` (Debian: the nft one). */
  constructor(c: IptablesComponents = {}, backend?: IptablesBackend) {
    this.run = c.exec ?? defaultExec;
    const suffix = backend ? `-${backend}` : '';
    this.iptables = `iptables${suffix}`;
    this.restore = `iptables${suffix}-restore`;
    this.save = `iptables${suffix}-save`;
    this.backend = backend ?? 'system';
  }

  async setChains(table: string, chains: ReadonlyArray<{ chain: string; rules: readonly FilterRule[] }>): Promise<void> {
    const lines = [`*${table}`];
    for (const c of chains) {
      check(table, c.chain);
      lines.push(`:${c.chain} - [0:0]`);
    }
    for (const c of chains) for (const r of c.rules) lines.push(['-A', c.chain, ...r.map(quote)].join(' '));
    lines.push('COMMIT', '');
    await this.run(this.restore, ['-w', LOCK_WAIT_S, '--noflush'], { input: lines.join('\n') });
  }

  async listRules(only?: readonly ChainRef[]): Promise<RuleListing> {
    // No -t: every table in one command (`iptables -S` would take one per table). iptables-save takes no
    // lock (-w): it only reads, and nft reads are atomic; a legacy dump racing a writer is at worst an
    // inconsistent picture, which the caller's next check corrects.
    return parseIptablesSave((await this.run(this.save, [])).stdout, only);
  }

  async hasRule(table: string, chain: string, rule: FilterRule): Promise<boolean> {
    check(table, chain);
    try {
      await this.run(this.iptables, ['-w', LOCK_WAIT_S, '-t', table, '-C', chain, ...rule]);
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  async ensureFirst(table: string, chain: string, rule: FilterRule): Promise<void> {
    if (await this.hasRule(table, chain, rule)) return;
    await this.run(this.iptables, ['-w', LOCK_WAIT_S, '-t', table, '-I', chain, '1', ...rule]);
  }

  async deleteRule(table: string, chain: string, rule: FilterRule): Promise<void> {
    check(table, chain);
    // One copy per -D; a rule inserted twice (two routers, an old bug) goes too. Bounded, never a busy loop.
    for (let i = 0; i < 100; i++) {
      try {
        await this.run(this.iptables, ['-w', LOCK_WAIT_S, '-t', table, '-D', chain, ...rule]);
      } catch (err) {
        if (isMissing(err)) return;
        throw err;
      }
    }
  }

  async listChains(table: string, prefix: string): Promise<string[]> {
    check(table, 'x');
    const out = (await this.run(this.save, ['-t', table])).stdout;
    const chains: string[] = [];
    for (const line of out.split('\n')) {
      const m = /^:(\S+) - /.exec(line);
      if (m && m[1]!.startsWith(prefix)) chains.push(m[1]!);
    }
    return chains;
  }

  async deleteChains(table: string, chains: readonly string[]): Promise<void> {
    // All emptied first: one of them may jump to another, and a chain still referenced cannot go.
    for (const op of ['-F', '-X']) {
      for (const chain of chains) {
        check(table, chain);
        try {
          await this.run(this.iptables, ['-w', LOCK_WAIT_S, '-t', table, op, chain]);
        } catch (err) {
          if (!isMissing(err)) throw err;
        }
      }
    }
  }
}

/** An argument as iptables-restore reads it: quoted when it holds a space or a quote. */
function quote(arg: string): string {
  return /^[A-Za-z0-9_.,:/!+=-]+$/.test(arg) ? arg : `"${arg.replace(/(["\\])/g, '\\$1')}"`;
}
