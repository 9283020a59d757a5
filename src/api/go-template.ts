// Parses a Go text/template (the subset Weave's `report -f` users write: field paths, `.`, variables,
// `if`/`else if`/`range`/`with`/`else`/`end`, pipelines, function calls, string/number/bool literals,
// `{{-`/`-}}` trimming, comments) into a tree that go-template-exec.ts evaluates. Pure. Limits keep a
// hostile template small (length, nesting); errors name the template, the byte offset and the rule,
// in the spirit of Go's `template: NAME:LINE:COL: …`.

import { ConfigError } from '../core/errors.js';

export const MAX_TEMPLATE_CHARS = 16 * 1024;
/** Nested control blocks and parentheses: Go's parser has no limit, but recursion here must stay shallow. */
export const MAX_TEMPLATE_DEPTH = 64;

export type Arg =
  | { t: 'field'; base: 'dot' | string; path: string[]; pos: number } // base: 'dot' or a variable name ("$", "$x")
  | { t: 'lit'; value: string | number | boolean | null; pos: number }
  | { t: 'func'; name: string; pos: number }
  | { t: 'pipe'; pipe: Pipeline; path: string[]; pos: number };

export interface Command { args: Arg[]; pos: number }
export interface Pipeline { decl: string[]; commands: Command[]; pos: number }

export interface BlockNode { t: 'if' | 'with' | 'range'; pipe: Pipeline; body: Node[]; else: Node[] | undefined; pos: number }
export type Node = { t: 'text'; text: string; pos: number } | { t: 'action'; pipe: Pipeline; pos: number } | BlockNode;

export interface Template { name: string; source: string; nodes: Node[] }

/** A bad template: one line naming the template, the position (line:col) and what is wrong. */
export class TemplateError extends ConfigError {}

export function templateError(tmpl: { name: string; source: string }, pos: number, msg: string): TemplateError {
  const before = tmpl.source.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  return new TemplateError(`template ${tmpl.name}:${line}:${col}: ${msg}`);
}

export function parseTemplate(name: string, source: string): Template {
  const tmpl = { name, source };
  if (source.length > MAX_TEMPLATE_CHARS) {
    throw templateError(tmpl, 0, `template is ${source.length} characters, over the limit of ${MAX_TEMPLATE_CHARS}`);
  }
  const p = new Parser(tmpl);
  const nodes = p.list(0, []);
  return { name, source, nodes };
}

type Tok =
  | { k: 'field'; path: string[]; pos: number } // ".A.B" or "." (path [])
  | { k: 'var'; name: string; path: string[]; pos: number }
  | { k: 'ident'; name: string; pos: number }
  | { k: 'str' | 'num' | 'bool' | 'nil'; value: string | number | boolean | null; pos: number }
  | { k: '|' | '(' | ')' | ':=' | ','; pos: number }
  | { k: 'rfield'; path: string[]; pos: number }; // ".B" right after ")": a field of the parenthesised value

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue']);

class Parser {
  private i = 0;
  private varsInScope: string[][] = [['$']];

  constructor(private readonly tmpl: { name: string; source: string }) {}

  private fail(pos: number, msg: string): never {
    throw templateError(this.tmpl, pos, msg);
  }

  /** Nodes up to a closing keyword (`end`/`else`) or the end of input; `stop` lists the keywords allowed. */
  list(depth: number, stop: string[]): Node[] & { closer?: { word: string; rest: Tok[]; pos: number } } {
    const out: Node[] & { closer?: { word: string; rest: Tok[]; pos: number } } = [];
    const src = this.tmpl.source;
    while (this.i < src.length) {
      const open = src.indexOf('{{', this.i);
      let text = src.slice(this.i, open < 0 ? src.length : open);
      if (open < 0) {
        this.i = src.length;
        if (text) out.push({ t: 'text', text, pos: this.i - text.length });
        break;
      }
      const trimLeft = src.startsWith('{{- ', open) || src.startsWith('{{-\t', open) || src.startsWith('{{-\n', open);
      if (trimLeft) text = text.replace(/[ \t\r\n]+$/, '');
      if (text) out.push({ t: 'text', text, pos: this.i });
      const start = open + (trimLeft ? 3 : 2);
      const { toks, end, trimRight, comment } = this.lexAction(start, open);
      this.i = end;
      if (trimRight) {
        const m = /^[ \t\r\n]*/.exec(src.slice(this.i))!;
        this.i += m[0].length;
      }
      if (comment) continue;
      if (toks.length === 0) this.fail(open, 'missing value for command');
      const first = toks[0]!;
      if (first.k === 'ident' && KEYWORDS.has(first.name)) {
        const word = first.name;
        if (word === 'end' || word === 'else') {
          if (!stop.includes(word)) this.fail(first.pos, `unexpected {{${word}}}`);
          out.closer = { word, rest: toks.slice(1), pos: first.pos };
          return out;
        }
        if (word === 'if' || word === 'with' || word === 'range') {
          out.push(this.block(word, toks.slice(1), first.pos, depth));
          continue;
        }
        this.fail(first.pos, `{{${word}}} is not supported here`);
      }
      out.push({ t: 'action', pipe: this.pipeline(toks, open, true), pos: open });
    }
    if (stop.length) this.fail(src.length, `unexpected EOF: a block is not closed with {{end}}`);
    return out;
  }

  private block(word: 'if' | 'with' | 'range', toks: Tok[], pos: number, depth: number): Node {
    if (depth + 1 > MAX_TEMPLATE_DEPTH) this.fail(pos, `blocks nested deeper than ${MAX_TEMPLATE_DEPTH}`);
    if (toks.length === 0) this.fail(pos, `missing value for ${word}`);
    this.varsInScope.push([]);
    const pipe = this.pipeline(toks, pos, true, word === 'range' ? 2 : 1);
    const body = this.list(depth + 1, ['end', 'else']);
    this.varsInScope.pop();
    let elseNodes: Node[] | undefined;
    const c = body.closer!;
    if (c.word === 'else') {
      if (c.rest.length > 0) {
        // `{{else if …}}` / `{{else with …}}`: a nested block that shares this block's {{end}}.
        const kw = c.rest[0]!;
        if (kw.k !== 'ident' || (kw.name !== 'if' && kw.name !== 'with') || (word !== kw.name && word !== 'if')) {
          this.fail(c.pos, `unexpected tokens after {{else}}`);
        }
        elseNodes = [this.block(kw.name as 'if' | 'with', c.rest.slice(1), kw.pos, depth + 1)];
        return { t: word, pipe, body: [...body], else: elseNodes, pos };
      }
      const rest = this.list(depth + 1, ['end']);
      if (rest.closer!.rest.length) this.fail(rest.closer!.pos, 'unexpected tokens after {{end}}');
      elseNodes = [...rest];
    } else if (c.rest.length) {
      this.fail(c.pos, 'unexpected tokens after {{end}}');
    }
    return { t: word, pipe, body: [...body], else: elseNodes, pos };
  }

  /** A pipeline with an optional declaration `$x :=` (range allows `$i, $e :=`). */
  private pipeline(toks: Tok[], pos: number, allowDecl: boolean, maxDecl = 1): Pipeline {
    let decl: string[] = [];
    const assign = toks.findIndex((t) => t.k === ':=');
    if (assign >= 0) {
      const lhs = toks.slice(0, assign);
      const names = lhs.filter((_, j) => j % 2 === 0);
      const ok = allowDecl && names.length >= 1 && names.length <= maxDecl &&
        lhs.every((t, j) => (j % 2 === 0 ? t.k === 'var' && t.path.length === 0 && t.name !== '$' : t.k === ','));
      if (!ok) this.fail(toks[assign]!.pos, `bad variable declaration`);
      decl = names.map((t) => (t as { name: string }).name);
      toks = toks.slice(assign + 1);
    }
    const p = this.commands(toks, pos, 0);
    this.varsInScope[this.varsInScope.length - 1]!.push(...decl);
    p.decl = decl;
    return p;
  }

  private commands(toks: Tok[], pos: number, depth: number): Pipeline {
    if (depth > MAX_TEMPLATE_DEPTH) this.fail(pos, `parentheses nested deeper than ${MAX_TEMPLATE_DEPTH}`);
    const commands: Command[] = [];
    let cur: Arg[] = [];
    let cmdPos = toks[0]?.pos ?? pos;
    for (let j = 0; j < toks.length; j++) {
      const t = toks[j]!;
      if (t.k === '|') {
        if (cur.length === 0) this.fail(t.pos, 'missing command before "|"');
        commands.push({ args: cur, pos: cmdPos });
        cur = [];
        cmdPos = toks[j + 1]?.pos ?? t.pos;
        continue;
      }
      if (t.k === '(') {
        let level = 1;
        let k = j + 1;
        for (; k < toks.length && level > 0; k++) {
          if (toks[k]!.k === '(') level++;
          else if (toks[k]!.k === ')') level--;
        }
        if (level > 0) this.fail(t.pos, 'unclosed left paren');
        const inner = toks.slice(j + 1, k - 1);
        if (inner.length === 0) this.fail(t.pos, 'missing value in parentheses');
        const after = toks[k];
        const path = after?.k === 'rfield' ? after.path : [];
        cur.push({ t: 'pipe', pipe: this.commands(inner, t.pos, depth + 1), path, pos: t.pos });
        j = after?.k === 'rfield' ? k : k - 1;
        continue;
      }
      cur.push(this.arg(t));
    }
    if (cur.length === 0) this.fail(toks[toks.length - 1]?.pos ?? pos, 'missing command after "|"');
    commands.push({ args: cur, pos: cmdPos });
    for (const [n, c] of commands.entries()) {
      if (c.args.length > 1 && c.args[0]!.t !== 'func') {
        this.fail(c.args[1]!.pos, `can't give argument to non-function ${describe(this.tmpl.source, c.args[0]!)}`);
      }
      if (n > 0 && c.args[0]!.t !== 'func') this.fail(c.pos, 'non-function in a pipeline after "|"');
    }
    return { decl: [], commands, pos };
  }

  private arg(t: Tok): Arg {
    switch (t.k) {
      case 'field': return { t: 'field', base: 'dot', path: t.path, pos: t.pos };
      case 'var':
        if (!this.varsInScope.some((s) => s.includes(t.name))) this.fail(t.pos, `undefined variable "${t.name}"`);
        return { t: 'field', base: t.name, path: t.path, pos: t.pos };
      case 'ident':
        if (KEYWORDS.has(t.name)) this.fail(t.pos, `unexpected keyword "${t.name}" in command`);
        if (!FUNC_NAMES.has(t.name)) this.fail(t.pos, `function "${t.name}" not defined`);
        return { t: 'func', name: t.name, pos: t.pos };
      case 'str': case 'num': case 'bool': case 'nil':
        return { t: 'lit', value: t.value, pos: t.pos };
      default:
        this.fail(t.pos, `unexpected "${t.k === 'rfield' ? '.' + t.path.join('.') : t.k}" in command`);
    }
  }

  /** Tokens of one action from `start` to its `}}`. */
  private lexAction(start: number, open: number): { toks: Tok[]; end: number; trimRight: boolean; comment: boolean } {
    const src = this.tmpl.source;
    let i = start;
    const skipSpace = () => { while (i < src.length && ' \t\r\n'.includes(src[i]!)) i++; };
    skipSpace();
    if (src.startsWith('/*', i)) {
      const close = src.indexOf('*/', i + 2);
      if (close < 0) this.fail(i, 'unclosed comment');
      i = close + 2;
      skipSpace();
      const trimRight = src.startsWith('-}}', i);
      if (!trimRight && !src.startsWith('}}', i)) this.fail(i, 'comment ends before closing delimiter');
      return { toks: [], end: i + (trimRight ? 3 : 2), trimRight, comment: true };
    }
    const toks: Tok[] = [];
    for (;;) {
      skipSpace();
      if (i >= src.length) this.fail(open, 'unclosed action');
      const pos = i;
      const c = src[i]!;
      if (src.startsWith('}}', i)) return { toks, end: i + 2, trimRight: false, comment: false };
      if (src.startsWith('-}}', i) && ' \t\r\n'.includes(src[i - 1]!)) {
        return { toks, end: i + 3, trimRight: true, comment: false };
      }
      if (c === '|' || c === '(' || c === ')' || c === ',') { toks.push({ k: c, pos }); i++; continue; }
      if (src.startsWith(':=', i)) { toks.push({ k: ':=', pos }); i += 2; continue; }
      if (c === '"' || c === '`') {
        const { value, end } = this.lexString(i);
        toks.push({ k: 'str', value, pos });
        i = end;
        continue;
      }
      if (c === '.' || c === '$') {
        const m = /^(\$[A-Za-z0-9_]*)?((?:\.[A-Za-z_][A-Za-z0-9_]*)*)(\.?)/.exec(src.slice(i))!;
        const path = m[2] ? m[2].slice(1).split('.') : [];
        const prev = toks[toks.length - 1];
        if (m[1]) toks.push({ k: 'var', name: m[1], path, pos });
        else if (prev?.k === ')' && path.length && src[i - 1] === ')') toks.push({ k: 'rfield', path, pos });
        else if (m[0] === '.' || path.length) toks.push({ k: 'field', path, pos });
        else this.fail(pos, `bad character "${c}"`);
        if (m[3] && (m[2] || m[1])) this.fail(pos + m[0].length - 1, 'unexpected "." after term');
        i += m[0].length || 1;
        continue;
      }
      const num = /^[-+]?(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)/.exec(src.slice(i));
      if (num && /[-+\d.]/.test(c)) {
        toks.push({ k: 'num', value: Number(num[0]), pos });
        i += num[0].length;
        continue;
      }
      const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
      if (id) {
        const w = id[0];
        if (w === 'true' || w === 'false') toks.push({ k: 'bool', value: w === 'true', pos });
        else if (w === 'nil') toks.push({ k: 'nil', value: null, pos });
        else toks.push({ k: 'ident', name: w, pos });
        i += w.length;
        continue;
      }
      this.fail(pos, `unexpected character ${JSON.stringify(c)} in action`);
    }
  }

  /** A Go interpreted ("…" with escapes) or raw (`…`) string literal. */
  private lexString(i: number): { value: string; end: number } {
    const src = this.tmpl.source;
    if (src[i] === '`') {
      const close = src.indexOf('`', i + 1);
      if (close < 0) this.fail(i, 'unterminated raw quoted string');
      return { value: src.slice(i + 1, close), end: close + 1 };
    }
    let out = '';
    let j = i + 1;
    for (;;) {
      const ch = src[j];
      if (ch === undefined || ch === '\n') this.fail(i, 'unterminated quoted string');
      if (ch === '"') return { value: out, end: j + 1 };
      if (ch !== '\\') { out += ch; j++; continue; }
      const e = src[j + 1];
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', a: '\x07', b: '\b', f: '\f', v: '\v' };
      if (e !== undefined && e in simple) { out += simple[e]; j += 2; continue; }
      const hex = e === 'x' ? /^[0-9a-fA-F]{2}/ : e === 'u' ? /^[0-9a-fA-F]{4}/ : undefined;
      const m = hex?.exec(src.slice(j + 2));
      if (m) { out += String.fromCodePoint(parseInt(m[0], 16)); j += 2 + m[0].length; continue; }
      this.fail(j, `invalid escape sequence "\\${e ?? ''}" in string`);
    }
  }
}

function describe(source: string, a: Arg): string {
  if (a.t !== 'field') return JSON.stringify(source.slice(a.pos, a.pos + 12));
  return JSON.stringify(a.base === 'dot' ? `.${a.path.join('.')}` : [a.base, ...a.path].join('.'));
}

/** The functions a template may call (go-template-exec.ts implements them): Go's builtins plus Weave's `json`. */
export const FUNC_NAMES = new Set([
  'and', 'or', 'not', 'len', 'index', 'print', 'printf', 'println', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'json',
]);
