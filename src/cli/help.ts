// Help text, generated from the same tables the parser uses (commands.ts COMMANDS, config.ts LAUNCH_FLAGS),
// so every flag listed is a flag that works and every default shown is the default applied.

import type { FlagSpec } from '../config/flags.js';
import { COMMANDS, type CommandSpec } from './commands.js';

const WIDTH = 100;

const WHERE = [
  ['PEER', 'IP_ADDRESS_OR_HOSTNAME[:PORT]  (port default 6783)'],
  ['PEER_ID', 'NICKNAME | PEER_NAME  (aa:bb:cc:dd:ee:ff)'],
  ['CIDR', 'IP_ADDRESS/PREFIX_LENGTH'],
  ['ADDR', '[ip:]CIDR | net:CIDR | net:default'],
  ['CONTAINER', 'Docker container name or ID | network namespace name | pid:N | netns:/path'],
  ['MODE', 'consensus[=COUNT] | seed=MAC,... | observer'],
] as const;

function flagSynopsis(f: FlagSpec): string {
  const name = f.short ?? f.flag;
  return f.value === undefined ? `[${name}]` : `[${name} ${f.value}]`;
}

/** The synopsis lines of one command (without "tsweave NAME"). */
export function commandSynopsis(spec: CommandSpec): string[] {
  if (spec.synopsis) return [...spec.synopsis];
  const parts = [...spec.flags.map(flagSynopsis), ...(spec.args ? [spec.args] : [])];
  return [parts.join(' ')];
}

/** Splits on spaces outside brackets, so "[--mtu N]" stays one unit. */
function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (ch === ' ' && depth === 0) {
      if (cur) out.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (cur) out.push(cur);
  return out;
}

/** Lays `tokens` out after `prefix`, wrapping at WIDTH; continuation lines are indented to the prefix. */
function wrapTokens(prefix: string, tokens: readonly string[]): string {
  const indent = ' '.repeat(prefix.length);
  const lines: string[] = [];
  let line = prefix;
  for (const t of tokens) {
    if (line.length > prefix.length && line.length + 1 + t.length > WIDTH) {
      lines.push(line);
      line = indent + t;
    } else {
      line += (line.length > prefix.length ? ' ' : '') + t;
    }
  }
  lines.push(line);
  return lines.join('\n');
}

/** A synopsis after a prefix; "[--mtu N]" never breaks. */
function wrap(prefix: string, synopsis: string): string {
  return wrapTokens(prefix, splitTopLevel(synopsis));
}

/** Prose after a prefix. */
function wrapWords(prefix: string, text: string): string {
  return wrapTokens(prefix, text.split(' '));
}

/** `tsweave --help`: every command with every flag, Weave's layout. */
export function formatUsage(): string {
  const out: string[] = ['Usage:'];
  for (const spec of COMMANDS) {
    const syn = commandSynopsis(spec);
    syn.forEach((s, i) => {
      const prefix = i === 0 ? `tsweave ${spec.name.padEnd(11)} ` : `${' '.repeat(20)}| `;
      out.push(s === '' ? prefix.trimEnd() : wrap(prefix, s));
    });
  }
  out.push('');
  WHERE.forEach(([k, v], i) => out.push(`${i === 0 ? 'where ' : '      '}${k.padEnd(9)} = ${v}`));
  out.push('');
  out.push("Run 'tsweave COMMAND --help' for what a command does and its defaults.");
  out.push('Exit codes: 0 ok, 1 failure (e.g. router not running), 2 usage or configuration error.');
  return out.join('\n') + '\n';
}

function flagRow(f: FlagSpec): [string, string] {
  const name = f.short ? `${f.short}, ${f.flag}` : f.flag;
  const left = f.value === undefined ? name : `${name} ${f.value}`;
  const notes: string[] = [];
  if (f.default !== undefined) notes.push(`default: ${f.default}`);
  if (f.env?.length) notes.push(`env: ${f.env.join(', ')}`);
  return [left, notes.length ? `${f.help} (${notes.join('; ')})` : f.help];
}

/** `tsweave COMMAND --help`: synopsis, what it does, every flag with its default and environment variables. */
export function formatCommandHelp(spec: CommandSpec): string {
  const out: string[] = [];
  commandSynopsis(spec).forEach((s, i) => {
    const prefix = i === 0 ? `Usage: tsweave ${spec.name} ` : `${' '.repeat(`Usage: tsweave ${spec.name}`.length - 1)}| `;
    out.push(s === '' ? prefix.trimEnd() : wrap(prefix, s));
  });
  out.push('');
  out.push(spec.summary.charAt(0).toUpperCase() + spec.summary.slice(1) + '.');
  if (spec.details) out.push(spec.details);
  const rows = [...spec.flags.map(flagRow), ['--help', 'show this help'] as [string, string]];
  const w = Math.max(...rows.map(([l]) => l.length));
  out.push('');
  out.push('Flags:');
  for (const [l, r] of rows) out.push(wrapWords(`  ${l.padEnd(w)}  `, r));
  const used = WHERE.filter(([k]) => commandSynopsis(spec).some((s) => new RegExp(`\\b${k}\\b`).test(s)) ||
    spec.flags.some((f) => f.value === k));
  if (used.length) {
    out.push('');
    used.forEach(([k, v], i) => out.push(`${i === 0 ? 'where ' : '      '}${k.padEnd(9)} = ${v}`));
  }
  return out.join('\n') + '\n';
}
