// Evaluates a parsed Go text/template (go-template.ts) over JSON-shaped data with Go's semantics: field
// paths, variables, truthiness, range over lists and maps, the builtin functions and Weave's `json`.
// Pure and bounded: every node, iteration and call counts a step, and the output has a size cap, so a
// hostile template (deep nesting, ranges within ranges) stops with an error instead of running on.

import { goTypeName, isGoMap, sprint, sprintf, sprintValue } from './go-fmt.js';
import {
  type Arg, type BlockNode, type Command, type Node, type Pipeline, type Template, MAX_TEMPLATE_CHARS, parseTemplate, templateError,
} from './go-template.js';

/** The defaults bound what one request can cost the router (GET /report?format=): well under a second. */
export const MAX_TEMPLATE_OUTPUT = 1024 * 1024;
export const MAX_TEMPLATE_STEPS = 100_000;
/** The CLI evaluates in its own process, so it allows a big mesh's full dump, and still ends. */
export const CLI_TEMPLATE_LIMITS: Required<TemplateLimits> = { maxOutput: 256 * 1024 * 1024, maxSteps: 20_000_000 };

export interface TemplateLimits {
  maxOutput?: number;
  maxSteps?: number;
}

/** Parses and runs `source` over `data`; throws TemplateError (a ConfigError: exit 2) naming the position. */
export function renderTemplate(name: string, source: string, data: unknown, limits: TemplateLimits = {}): string {
  return executeTemplate(parseTemplate(name, source), data, limits);
}

export function executeTemplate(tmpl: Template, data: unknown, limits: TemplateLimits = {}): string {
  const ex = new Exec(tmpl, data, limits.maxOutput ?? MAX_TEMPLATE_OUTPUT, limits.maxSteps ?? MAX_TEMPLATE_STEPS);
  ex.nodes(tmpl.nodes, data);
  return ex.out;
}

/** Go's truth: false, 0, nil, and empty strings, lists and maps are false; structs are true. */
export function truthy(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (isGoMap(v)) return Object.keys(v).length > 0;
  return true;
}

class Exec {
  out = '';
  private steps = 0;
  private readonly vars: { name: string; value: unknown }[];

  constructor(
    private readonly tmpl: Template, root: unknown, private readonly maxOutput: number, private readonly maxSteps: number,
  ) {
    this.vars = [{ name: '$', value: root }];
  }

  private fail(pos: number, msg: string): never {
    const src = this.tmpl.source;
    // Go names the action; for text, the few characters where it stopped.
    const inAction = src.lastIndexOf('{{', pos) > src.lastIndexOf('}}', pos - 1);
    const at = inAction ? src.slice(pos, pos + 40).split('}}')[0]!.replace(/^\{\{-?\s*/, '') : src.slice(pos, pos + 12).split('{{')[0]!;
    throw templateError(this.tmpl, pos, `executing at <${at}>: ${msg}`);
  }

  private step(pos: number): void {
    if (++this.steps > this.maxSteps) this.fail(pos, `stopped after ${this.maxSteps} steps (the template does too much work)`);
  }

  private emit(s: string, pos: number): void {
    if (this.out.length + s.length > this.maxOutput) this.fail(pos, `output is over the limit of ${this.maxOutput} bytes`);
    this.out += s;
  }

  nodes(list: Node[], dot: unknown): void {
    for (const n of list) this.node(n, dot);
  }

  private node(n: Node, dot: unknown): void {
    if (n.t === 'text') { this.step(n.pos); this.emit(n.text, n.pos); return; }
    this.step(n.pos);
    const mark = this.vars.length;
    try {
      if (n.t === 'action') {
        const v = this.pipeline(n.pipe, dot);
        if (n.pipe.decl.length === 0) this.emit(sprintValue(v), n.pos);
        return;
      }
      const v = this.pipeline(n.pipe, dot, n.t === 'range');
      if (n.t === 'if' || n.t === 'with') {
        if (truthy(v)) this.nodes(n.body, n.t === 'with' ? v : dot);
        else if (n.else) this.nodes(n.else, dot);
        return;
      }
      this.range(n, v, dot);
    } finally {
      // Variables declared in a block's pipeline or body end with it; a plain action's stay (Go's scoping).
      if (n.t !== 'action') this.vars.length = mark;
    }
  }

  private range(n: BlockNode, v: unknown, dot: unknown): void {
    let items: [unknown, unknown][];
    if (v === undefined || v === null) items = [];
    else if (Array.isArray(v)) items = v.map((x, i) => [i, x]);
    else if (isGoMap(v)) items = Object.keys(v).sort().map((k) => [k, v[k]]);
    else this.fail(n.pos, `range can't iterate over ${sprintValue(v)}`);
    if (items.length === 0) { if (n.else) this.nodes(n.else, dot); return; }
    const base = this.vars.length;
    for (const [k, x] of items) {
      this.step(n.pos);
      this.vars.length = base;
      const d = n.pipe.decl;
      if (d.length === 1) this.vars.push({ name: d[0]!, value: x });
      if (d.length === 2) this.vars.push({ name: d[0]!, value: k }, { name: d[1]!, value: x });
      this.nodes(n.body, x);
    }
  }

  /** Runs a pipeline; declared variables are bound (range binds its own per element, so skips that). */
  private pipeline(p: Pipeline, dot: unknown, isRange = false): unknown {
    let v: unknown;
    let piped = false;
    for (const c of p.commands) {
      v = this.command(c, dot, piped ? [v] : []);
      piped = true;
    }
    if (!isRange) for (const name of p.decl) this.vars.push({ name, value: v });
    return v;
  }

  private command(c: Command, dot: unknown, piped: unknown[]): unknown {
    this.step(c.pos);
    const [head, ...rest] = c.args;
    if (head!.t !== 'func') return this.arg(head!, dot);
    const args = [...rest.map((a) => this.arg(a, dot)), ...piped];
    return this.call(head!.name, args, head!.pos);
  }

  private arg(a: Arg, dot: unknown): unknown {
    switch (a.t) {
      case 'lit': return a.value;
      case 'func': return this.call(a.name, [], a.pos);
      case 'pipe': return this.path(this.pipeline(a.pipe, dot), a.path, a.pos, '(…)');
      case 'field': {
        const base = a.base === 'dot' ? dot : this.variable(a.base, a.pos);
        return this.path(base, a.path, a.pos, a.base === 'dot' ? '' : a.base);
      }
    }
  }

  private variable(name: string, pos: number): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.name === name) return this.vars[i]!.value;
    return this.fail(pos, `undefined variable: ${name}`);
  }

  private path(v: unknown, path: string[], pos: number, prefix: string): unknown {
    let walked = prefix;
    for (const key of path) {
      walked += `.${key}`;
      if (v === null || v === undefined) this.fail(pos, `nil pointer evaluating ${walked}`);
      if (isGoMap(v)) { v = v[key]; continue; }
      if (typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, key)) {
        const has = typeof v === 'object' && !Array.isArray(v) ? ` (${walked.slice(0, -key.length - 1) || '.'} has ${Object.keys(v).join(', ')})` : '';
        this.fail(pos, `can't evaluate field ${key} in type ${goTypeName(v)}${has}`);
      }
      v = (v as Record<string, unknown>)[key];
    }
    return v;
  }

  private call(name: string, args: unknown[], pos: number): unknown {
    this.step(pos);
    const want = (n: number, exact = true): void => {
      if (exact ? args.length !== n : args.length < n) {
        this.fail(pos, `wrong number of args for ${name}: want ${exact ? '' : 'at least '}${n} got ${args.length}`);
      }
    };
    const err = (msg: string): never => this.fail(pos, `error calling ${name}: ${msg}`);
    switch (name) {
      case 'and': want(1, false); return args.find((a) => !truthy(a)) ?? args[args.length - 1];
      case 'or': want(1, false); return args.find((a) => truthy(a)) ?? args[args.length - 1];
      case 'not': want(1); return !truthy(args[0]);
      case 'len': {
        want(1);
        const v = args[0];
        if (typeof v === 'string') return new TextEncoder().encode(v).length; // Go counts bytes
        if (Array.isArray(v)) return v.length;
        if (isGoMap(v)) return Object.keys(v).length;
        return err(`len of ${v === null || v === undefined ? 'nil pointer' : `type ${goTypeName(v)}`}`);
      }
      case 'index': {
        want(1, false);
        let v = args[0];
        for (const k of args.slice(1)) {
          if (Array.isArray(v)) {
            if (typeof k !== 'number' || !Number.isInteger(k)) err(`cannot index slice with ${goTypeName(k)}`);
            if ((k as number) < 0 || (k as number) >= v.length) err(`index out of range: ${sprintValue(k)}`);
            v = v[k as number];
          } else if (isGoMap(v)) {
            if (typeof k !== 'string') err(`value has type ${goTypeName(k)}; should be string`);
            v = v[k as string];
          } else {
            err(`can't index item of type ${goTypeName(v)}`);
          }
        }
        return v;
      }
      case 'print': return sprint(args);
      case 'println': return `${args.map((a) => sprintValue(a)).join(' ')}\n`;
      case 'printf': {
        want(1, false);
        if (typeof args[0] !== 'string') err(`format is ${goTypeName(args[0])}, not string`);
        try {
          return sprintf(args[0] as string, args.slice(1));
        } catch (e) {
          return err((e as Error).message.replace(/^printf: /, ''));
        }
      }
      case 'json': want(1); return goJson(args[0]);
      case 'eq': case 'ne': {
        want(2, name === 'ne');
        const [a, ...bs] = args;
        const eq = bs.some((b) => this.compare(a, b, pos, name) === 0);
        return name === 'eq' ? eq : !eq;
      }
      default: { // lt le gt ge
        want(2);
        const c = this.compare(args[0], args[1], pos, name, true);
        return { lt: c < 0, le: c <= 0, gt: c > 0, ge: c >= 0 }[name as 'lt'];
      }
    }
  }

  /** Go's comparison of basic values: same kind only (numbers, strings; booleans and nil for eq/ne). */
  private compare(a: unknown, b: unknown, pos: number, fn: string, ordered = false): number {
    const basic = (v: unknown) => v === null || v === undefined || ['string', 'number', 'boolean'].includes(typeof v);
    if (!basic(a) || !basic(b)) this.fail(pos, `error calling ${fn}: non-comparable type ${goTypeName(basic(a) ? b : a)}`);
    const kind = (v: unknown) => (v === undefined ? 'object' : typeof v);
    if (kind(a) !== kind(b)) this.fail(pos, `error calling ${fn}: incompatible types for comparison`);
    if (ordered && (typeof a === 'boolean' || a === null || a === undefined)) {
      this.fail(pos, `error calling ${fn}: invalid type for comparison`);
    }
    if (a === b || ((a === null || a === undefined) && (b === null || b === undefined))) return 0;
    return (a as number | string) < (b as number | string) ? -1 : 1;
  }
}

/** Go's json.Marshal: compact, with <, > and & escaped as Go does. */
export function goJson(v: unknown): string {
  return (JSON.stringify(v) ?? 'null').replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export { MAX_TEMPLATE_CHARS };
