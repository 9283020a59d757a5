// The small flag engine (FlagSpec, parseFlags) and the value validators shared by `launch` and the CLI's
// other commands. Pure. Every bad input is a ConfigError naming the flag, the value and the rule.

import { ConfigError } from '../core/errors.js';
import { type Cidr, type HostPort, broadcastOf, formatCidr, networkOf, parseCidr, parseIPv4 } from '../core/types.js';

// ---------------------------------------------------------------------------------------------
// Flag engine.

/** One command-line flag: the single source for parsing and for help text. */
export interface FlagSpec {
  /** Long form with dashes, e.g. "--mtu". */
  readonly flag: string;
  /** Optional short alias, e.g. "-h". */
  readonly short?: string;
  /** Placeholder for the value ("N", "CIDR"); absent for a switch that takes no value. */
  readonly value?: string;
  /** The default as shown in help; absent when there is none. */
  readonly default?: string;
  readonly help: string;
  /** Environment variables consulted when the flag is absent, highest precedence first. */
  readonly env?: readonly string[];
  /** May be given more than once; values are collected in order. */
  readonly repeatable?: boolean;
}

export interface ParsedFlags {
  /** Flag (long form) → values in order; a switch has the value "". */
  readonly flags: Map<string, string[]>;
  readonly positionals: string[];
}

/**
 * Parses `argv` against `specs`. Accepts `--flag value`, `--flag=value`, `-s value`, flags and positionals in
 * any order, and `--` to end flags. `context` names the command in messages ("for launch").
 */
export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[], context: string): ParsedFlags {
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) {
    byName.set(s.flag, s);
    if (s.short) byName.set(s.short, s);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const spec = byName.get(name);
    if (!spec) throw unknownFlag(name, specs, context);
    let value: string;
    if (spec.value === undefined) {
      if (eq >= 0) throw new ConfigError(`${spec.flag} takes no value (got "${arg}")`);
      value = '';
    } else if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        throw new ConfigError(
          `${name} needs a value (${name} ${spec.value})` +
            (next === undefined ? '' : `; write ${name}=VALUE if the value starts with "--"`),
        );
      }
      value = next;
      i++;
    }
    const seen = flags.get(spec.flag);
    if (seen && !spec.repeatable) throw new ConfigError(`${spec.flag} may be given only once`);
    if (seen) seen.push(value);
    else flags.set(spec.flag, [value]);
  }
  return { flags, positionals };
}

function unknownFlag(name: string, specs: readonly FlagSpec[], context: string): ConfigError {
  const guess = suggest(name, specs.flatMap((s) => (s.short ? [s.flag, s.short] : [s.flag])));
  return new ConfigError(`unknown flag "${name}" for ${context}${guess ? ` (did you mean ${guess}?)` : ''}`);
}

/** The known word closest to `word` (edit distance ≤ 2, or a unique prefix), if any. */
export function suggest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(word, k);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  if (best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3))) return best;
  const prefixed = known.filter((k) => word.length >= 3 && k.startsWith(word));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The last value of a flag, or undefined when absent. */
export function flagValue(p: ParsedFlags, flag: string): string | undefined {
  const v = p.flags.get(flag);
  return v === undefined ? undefined : v[v.length - 1];
}

export function hasFlag(p: ParsedFlags, flag: string): boolean {
  return p.flags.has(flag);
}

// ---------------------------------------------------------------------------------------------
// Value validators shared by launch and the CLI commands. Each names the flag, the value and the rule.

export function parseWholeNumber(flag: string, text: string, min: number, max: number, note = ''): number {
  if (!/^\d{1,10}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new ConfigError(`invalid ${flag} "${text}": must be a whole number ${min}..${max}${note}`);
  }
  return Number(text);
}

/** Rewords a core parser's error so the message names `what` and the full text the user typed. */
export function reword<T>(what: string, text: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const rule = err.message.replace(/^invalid .*?": /, '');
    throw new ConfigError(`invalid ${what} "${text}": ${rule}`, { cause: err });
  }
}

/** A CIDR that must be a network address (no host bits), e.g. an allocation range or trusted subnet. */
export function parseNetworkCidr(what: string, text: string, maxPrefix = 32): Cidr {
  const c = reword(what, text, () => parseCidr(text.trim()));
  const net = networkOf(c);
  if (net.addr !== c.addr) {
    throw new ConfigError(`invalid ${what} "${text}": host bits are set (did you mean ${formatCidr(net)}?)`);
  }
  if (c.prefix > maxPrefix) {
    throw new ConfigError(`invalid ${what} "${text}": prefix length must be 0..${maxPrefix} to leave room for addresses`);
  }
  return c;
}

const DNS_LABEL_RE = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** A domain name, lowercased, with a trailing dot ("weave.local" → "weave.local."). */
export function parseDomainName(what: string, text: string): string {
  const s = text.trim().toLowerCase().replace(/\.$/, '');
  const labels = s.split('.');
  if (s === '' || s.length > 253 || !labels.every((l) => DNS_LABEL_RE.test(l))) {
    throw new ConfigError(
      `invalid ${what} "${text}": must be a domain name like weave.local. (labels of letters, digits and "-")`,
    );
  }
  return `${s}.`;
}

/** IPv4:port, e.g. the DNS listen address. */
export function parseIPv4HostPort(what: string, text: string): HostPort {
  const colon = text.lastIndexOf(':');
  if (colon < 0) throw new ConfigError(`invalid ${what} "${text}": must be ADDRESS:PORT like 172.17.0.1:53`);
  const host = text.slice(0, colon);
  reword(what, text, () => parseIPv4(host));
  const p = text.slice(colon + 1);
  if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) {
    throw new ConfigError(`invalid ${what} "${text}": port must be a number 1..65535`);
  }
  return { host, port: Number(p) };
}

/** True when `addr` is the network or broadcast address of `c` (unusable for a host when prefix < 31). */
export function isNetworkOrBroadcast(c: Cidr): boolean {
  return c.prefix < 31 && (networkOf(c).addr === c.addr || broadcastOf(c) === c.addr);
}
