// Go's fmt for the values a template sees (JSON-shaped data): how `{{.X}}` prints a value (fmt.Sprint),
// `printf` with Go's verbs, flags, width and precision, and Go's `%!verb(type=value)` marks for a wrong
// argument. Pure. Width and precision are capped so a template cannot ask for a gigabyte of padding.

import { ConfigError } from '../core/errors.js';

/** Marks an object as a Go map (printed `map[k:v]`, missing keys are zero values, ranged in key order). */
const GO_MAP = Symbol('go-map');
export const MAX_FMT_WIDTH = 1000;

export function goMap<T extends object>(o: T): T {
  Object.defineProperty(o, GO_MAP, { value: true, enumerable: false });
  return o;
}

export function isGoMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[GO_MAP] === true;
}

export function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (Array.isArray(v)) return '[]interface {}';
  return isGoMap(v) ? 'map[string]interface {}' : 'struct';
}

/** fmt.Sprint of one value (`%v`; `plus` is `%+v`: struct fields with their names). */
export function sprintValue(v: unknown, plus = false): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map((x) => sprintValue(x, plus)).join(' ')}]`;
  const o = v as Record<string, unknown>;
  if (isGoMap(o)) return `map[${Object.keys(o).sort().map((k) => `${k}:${sprintValue(o[k], plus)}`).join(' ')}]`;
  return `{${Object.entries(o).map(([k, x]) => (plus ? `${k}:` : '') + sprintValue(x, plus)).join(' ')}}`;
}

function formatNumber(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n);
  return String(n).replace(/e([+-])(\d)$/, 'e$10$2'); // Go writes a two-digit exponent: 1e+06
}

/** fmt.Sprint(a, b, …): a space between operands when neither is a string. */
export function sprint(args: unknown[]): string {
  let out = '';
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += sprintValue(a);
  });
  return out;
}

/** strconv.Quote: Go's double-quoted string with Go's escapes (printable Unicode stays as is). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    const esc: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\t': '\\t', '\r': '\\r',
      '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\v': '\\v' };
    if (esc[ch]) out += esc[ch];
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c >= 0x80 && c < 0xa0) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

interface Spec { minus: boolean; plus: boolean; zero: boolean; space: boolean; sharp: boolean; width?: number; prec?: number }

const bad = (verb: string, v: unknown): string =>
  v === null || v === undefined ? `%!${verb}(<nil>)` : `%!${verb}(${goTypeName(v)}=${sprintValue(v)})`;

function pad(s: string, spec: Spec, numeric: boolean): string {
  const w = spec.width ?? 0;
  if (s.length >= w) return s;
  if (spec.minus) return s + ' '.repeat(w - s.length);
  if (spec.zero && numeric) {
    const sign = /^[-+ ]/.test(s) ? s[0]! : '';
    return sign + '0'.repeat(w - s.length) + s.slice(sign.length);
  }
  return ' '.repeat(w - s.length) + s;
}

function formatOne(verb: string, v: unknown, spec: Spec): string {
  const sign = (n: number, s: string): string => (n >= 0 && spec.plus ? `+${s}` : n >= 0 && spec.space ? ` ${s}` : s);
  const truncate = (s: string): string => (spec.prec === undefined ? s : [...s].slice(0, spec.prec).join(''));
  switch (verb) {
    case 'v':
      if (typeof v === 'number') return pad(sign(v, formatNumber(v)), spec, true);
      if (typeof v === 'string' && spec.sharp) return pad(goQuote(v), spec, false);
      return pad(sprintValue(v, spec.plus), spec, false);
    case 's':
      if (typeof v === 'string') return pad(truncate(v), spec, false);
      if (Array.isArray(v) || (typeof v === 'object' && v !== null)) return pad(sprintValue(v), spec, false);
      return bad(verb, v);
    case 'q':
      if (typeof v === 'string') return pad(spec.sharp && !v.includes('`') ? `\`${v}\`` : goQuote(v), spec, false);
      if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0x10ffff) {
        return pad(`'${String.fromCodePoint(v)}'`, spec, false);
      }
      return bad(verb, v);
    case 'd': case 'x': case 'X': case 'o': case 'b': {
      if (typeof v === 'string' && (verb === 'x' || verb === 'X')) {
        const hex = [...new TextEncoder().encode(v)].map((b) => b.toString(16).padStart(2, '0')).join('');
        return pad(verb === 'X' ? hex.toUpperCase() : hex, spec, false);
      }
      if (typeof v !== 'number' || !Number.isInteger(v)) return bad(verb, v);
      const radix = { d: 10, x: 16, X: 16, o: 8, b: 2 }[verb];
      let s = Math.abs(v).toString(radix);
      if (verb === 'X') s = s.toUpperCase();
      if (spec.prec !== undefined) s = s.padStart(spec.prec, '0');
      if (spec.sharp && (verb === 'x' || verb === 'X')) s = `0${verb}${s}`;
      return pad(sign(v, v < 0 ? `-${s}` : s), spec, spec.prec === undefined);
    }
    case 'f': case 'F': case 'e': case 'g':
      if (typeof v !== 'number') return bad(verb, v);
      return pad(sign(v, verb === 'e' ? v.toExponential(spec.prec ?? 6).replace(/e([+-])(\d)$/, 'e$10$2')
        : verb === 'g' ? (spec.prec === undefined ? formatNumber(v) : String(Number(v.toPrecision(spec.prec))))
          : v.toFixed(spec.prec ?? 6)), spec, true);
    case 't':
      return typeof v === 'boolean' ? pad(String(v), spec, false) : bad(verb, v);
    case 'T':
      return pad(goTypeName(v), spec, false);
    default:
      return bad(verb, v);
  }
}

/** fmt.Sprintf with Go's verbs (%v %+v %s %q %d %x %o %b %f %e %g %t %T %%), flags, width, precision. */
export function sprintf(format: string, args: unknown[]): string {
  let out = '';
  let argi = 0;
  let i = 0;
  while (i < format.length) {
    const pct = format.indexOf('%', i);
    if (pct < 0) { out += format.slice(i); break; }
    out += format.slice(i, pct);
    i = pct + 1;
    const spec: Spec = { minus: false, plus: false, zero: false, space: false, sharp: false };
    for (; i < format.length; i++) {
      const f = format[i];
      if (f === '-') spec.minus = true;
      else if (f === '+') spec.plus = true;
      else if (f === '0') spec.zero = true;
      else if (f === ' ') spec.space = true;
      else if (f === '#') spec.sharp = true;
      else break;
    }
    const num = (): number | undefined => {
      const m = /^\d+/.exec(format.slice(i));
      if (!m) return undefined;
      i += m[0].length;
      const n = Number(m[0]);
      if (n > MAX_FMT_WIDTH) throw new ConfigError(`printf: width or precision ${n} is over the limit of ${MAX_FMT_WIDTH}`);
      return n;
    };
    spec.width = num();
    if (format[i] === '.') { i++; spec.prec = num() ?? 0; }
    const verb = format[i];
    if (verb === undefined) { out += '%!(NOVERB)'; break; }
    i += verb.length;
    if (verb === '%') { out += '%'; continue; }
    if (argi >= args.length) { out += `%!${verb}(MISSING)`; continue; }
    out += formatOne(verb, args[argi++], spec);
  }
  if (argi < args.length) {
    out += `%!(EXTRA ${args.slice(argi).map((a) => `${goTypeName(a)}=${sprintValue(a)}`).join(', ')})`;
  }
  return out;
}
