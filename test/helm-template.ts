/**
 * Renders the templates of a Helm chart without the helm binary, for the manifest tests: a
 * Go text/template interpreter (actions, pipelines, variables, `if`/`else if`/`else`,
 * `range`, `with`, `define`/`include`/`template`, `{{-`/`-}}` trimming, comments) with Helm's
 * objects (`.Values`, `.Release`, `.Chart`, `.Files.Get`) and the sprig functions the chart
 * calls.
 *
 * What it does not know (a function, a construct) is an error, never a blank, so a chart
 * change that needs more fails a test instead of rendering wrong. Numbers follow Helm: values
 * are float64, printed like Go's `%v` (`1e+06` from a million up, which is why the chart
 * pipes big numbers through `int64`); template literals and `int`/`int64`/`len` results are
 * integers, and `eq` between the two kinds fails as it does in Go.
 *
 * @example
 * ```ts
 * const out = renderChart('deploy/helm/faultline', { values: { tls: { enabled: true } } });
 * out.get('controller-deployment.yaml'); // the rendered manifest text
 * ```
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

interface YamlModule {
  parse(text: string): unknown;
  stringify(value: unknown, options: { sortMapEntries: boolean; lineWidth: number }): string;
}
// `yaml` is a dependency of @faultline/spec: load it from there, as the tests do.
const yaml = createRequire(new URL('../packages/spec/package.json', import.meta.url))('yaml') as YamlModule;

/** An integer of the template language (a literal, or what `int64` returns), apart from float64 values. */
class GoInt {
  constructor(readonly n: number) {}
}

export interface RenderChartOptions {
  /** Release name; default `faultline`. */
  releaseName?: string;
  /** Release namespace; default `faultline`. */
  namespace?: string;
  /** Merged over values.yaml, as `-f` / `--set` would (maps merge, lists and scalars replace, null deletes). */
  values?: Record<string, unknown>;
}

type Arg =
  | { k: 'dot'; chain: string[] }
  | { k: 'var'; name: string; chain: string[] }
  | { k: 'fn'; name: string }
  | { k: 'lit'; v: unknown }
  | { k: 'pipe'; pipe: Pipe; chain: string[] };
interface Pipe {
  decl: string[];
  assign: boolean;
  cmds: Arg[][];
}
type TemplateNode =
  | { t: 'text'; s: string }
  | { t: 'action'; pipe: Pipe }
  | { t: 'if' | 'with'; pipe: Pipe; body: TemplateNode[]; else: TemplateNode[] }
  | { t: 'range'; pipe: Pipe; body: TemplateNode[]; else: TemplateNode[] }
  | { t: 'template'; name: string; pipe: Pipe | undefined };

type Token =
  | { k: 'field'; chain: string[]; attached: boolean }
  | { k: 'var'; name: string; chain: string[] }
  | { k: 'ident'; name: string }
  | { k: 'lit'; v: unknown }
  | { k: '(' | ')' | '|' | ':=' | '=' | ',' };

/** One `{{ ... }}` of the source: its tokens, or a comment. */
interface Action {
  tokens: Token[];
  src: string;
}

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?/y;

/** Splits a template into text and actions, trimming around `{{-` and `-}}`. */
function lex(src: string, file: string): (string | Action)[] {
  const items: (string | Action)[] = [];
  let pos = 0;
  let trimNext = false;
  for (;;) {
    const open = src.indexOf('{{', pos);
    let text = src.slice(pos, open < 0 ? undefined : open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    if (open < 0) {
      items.push(text);
      return items;
    }
    let i = open + 2;
    if (src[i] === '-' && /[ \t\r\n]/.test(src[i + 1] ?? '')) {
      text = text.replace(/[ \t\r\n]+$/, '');
      i += 2;
    }
    items.push(text);
    while (/[ \t\r\n]/.test(src[i] ?? '')) i++;
    if (src.startsWith('/*', i)) {
      const close = src.indexOf('*/', i);
      if (close < 0) throw new Error(`${file}: unclosed comment`);
      const m = /^[ \t\r\n]*(-?)\}\}/.exec(src.slice(close + 2));
      if (!m) throw new Error(`${file}: comment not followed by }}`);
      trimNext = m[1] === '-';
      pos = close + 2 + m[0].length;
      continue;
    }
    const { tokens, end, trimRight } = lexAction(src, i, file);
    items.push({ tokens, src: src.slice(open, end) });
    trimNext = trimRight;
    pos = end;
  }
}

function lexAction(
  src: string,
  start: number,
  file: string,
): { tokens: Token[]; end: number; trimRight: boolean } {
  const tokens: Token[] = [];
  let i = start;
  const chainAt = (): string[] => {
    const chain: string[] = [];
    while (src[i] === '.') {
      IDENT.lastIndex = i + 1;
      const m = IDENT.exec(src);
      if (!m) break;
      chain.push(m[0]);
      i = IDENT.lastIndex;
    }
    return chain;
  };
  for (;;) {
    const c = src[i];
    if (c === undefined) throw new Error(`${file}: unclosed action at ${src.slice(start, start + 40)}`);
    const before = src[i - 1] ?? '';
    if (/[ \t\r\n]/.test(c)) {
      if (src.startsWith('-}}', i + 1)) return { tokens, end: i + 4, trimRight: true };
      i++;
      continue;
    }
    if (src.startsWith('}}', i)) return { tokens, end: i + 2, trimRight: false };
    if (c === '(' || c === ')' || c === '|' || c === ',') {
      tokens.push({ k: c });
      i++;
    } else if (src.startsWith(':=', i)) {
      tokens.push({ k: ':=' });
      i += 2;
    } else if (c === '=') {
      tokens.push({ k: '=' });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let s = '';
      while (src[j] !== '"') {
        if (src[j] === undefined) throw new Error(`${file}: unclosed string`);
        if (src[j] === '\\') {
          const e = src[j + 1] ?? '';
          s += ({ n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' } as Record<string, string>)[e] ?? e;
          j += 2;
        } else s += src[j++];
      }
      tokens.push({ k: 'lit', v: s });
      i = j + 1;
    } else if (c === '`') {
      const j = src.indexOf('`', i + 1);
      tokens.push({ k: 'lit', v: src.slice(i + 1, j) });
      i = j + 1;
    } else if (c === '.') {
      const attached = before === ')';
      const chain = chainAt();
      if (chain.length === 0) i++;
      tokens.push({ k: 'field', chain, attached });
    } else if (c === '$') {
      IDENT.lastIndex = i + 1;
      const m = IDENT.exec(src);
      const name = m ? m[0] : '';
      i = m ? IDENT.lastIndex : i + 1;
      tokens.push({ k: 'var', name: `$${name}`, chain: chainAt() });
    } else if (/[-0-9]/.test(c)) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(src);
      if (!m) throw new Error(`${file}: bad number at ${src.slice(i, i + 20)}`);
      const isInt = /^-?[0-9]+$/.test(m[0]);
      tokens.push({ k: 'lit', v: isInt ? new GoInt(Number(m[0])) : Number(m[0]) });
      i = NUMBER.lastIndex;
    } else {
      IDENT.lastIndex = i;
      const m = IDENT.exec(src);
      if (!m) throw new Error(`${file}: unexpected ${JSON.stringify(c)} in ${src.slice(start - 2, i + 10)}`);
      i = IDENT.lastIndex;
      if (m[0] === 'true' || m[0] === 'false') tokens.push({ k: 'lit', v: m[0] === 'true' });
      else if (m[0] === 'nil') tokens.push({ k: 'lit', v: null });
      else tokens.push({ k: 'ident', name: m[0] });
    }
  }
}

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block']);

/** Parses one file into its nodes; its `define`s go into `defines`. */
function parse(src: string, file: string, defines: Map<string, TemplateNode[]>): TemplateNode[] {
  const items = lex(src, file);
  let at = 0;

  const parsePipe = (tokens: Token[], from: number, src: string): Pipe => {
    let i = from;
    const decl: string[] = [];
    let assign = false;
    // `$x :=`, `$i, $v :=` or `$x =`
    let j = i;
    const names: string[] = [];
    while (tokens[j]?.k === 'var' && (tokens[j] as { chain: string[] }).chain.length === 0) {
      names.push((tokens[j] as { name: string }).name);
      j++;
      if (tokens[j]?.k === ',') j++;
      else break;
    }
    const op = tokens[j]?.k;
    if (names.length > 0 && (op === ':=' || op === '=')) {
      decl.push(...names);
      assign = op === '=';
      i = j + 1;
    }
    const [pipe, end] = parseCommands(tokens, i, src);
    if (end !== tokens.length) throw new Error(`${file}: unexpected ${tokens[end]?.k} in ${src}`);
    return { decl, assign, cmds: pipe };
  };

  const parseCommands = (tokens: Token[], from: number, src: string): [Arg[][], number] => {
    const cmds: Arg[][] = [];
    let cmd: Arg[] = [];
    let i = from;
    for (; i < tokens.length; i++) {
      const t = tokens[i] as Token;
      if (t.k === ')') break;
      if (t.k === '|') {
        cmds.push(cmd);
        cmd = [];
      } else if (t.k === '(') {
        const [inner, end] = parseCommands(tokens, i + 1, src);
        if (tokens[end]?.k !== ')') throw new Error(`${file}: unclosed ( in ${src}`);
        i = end;
        const next = tokens[i + 1];
        let chain: string[] = [];
        if (next?.k === 'field' && next.attached) {
          chain = next.chain;
          i++;
        }
        cmd.push({ k: 'pipe', pipe: { decl: [], assign: false, cmds: inner }, chain });
      } else if (t.k === 'field') cmd.push({ k: 'dot', chain: t.chain });
      else if (t.k === 'var') cmd.push({ k: 'var', name: t.name, chain: t.chain });
      else if (t.k === 'ident') {
        if (KEYWORDS.has(t.name)) throw new Error(`${file}: unexpected ${t.name} in ${src}`);
        cmd.push({ k: 'fn', name: t.name });
      } else if (t.k === 'lit') cmd.push({ k: 'lit', v: t.v });
      else throw new Error(`${file}: unexpected ${t.k} in ${src}`);
    }
    if (cmd.length === 0) throw new Error(`${file}: empty command in ${src}`);
    cmds.push(cmd);
    return [cmds, i];
  };

  /** Nodes up to an `else` or `end` (returned with the action that stopped the list). */
  const parseList = (inBlock: boolean): [TemplateNode[], Action | undefined] => {
    const nodes: TemplateNode[] = [];
    while (at < items.length) {
      const item = items[at++] as string | Action;
      if (typeof item === 'string') {
        if (item !== '') nodes.push({ t: 'text', s: item });
        continue;
      }
      const first = item.tokens[0];
      const word = first?.k === 'ident' && KEYWORDS.has(first.name) ? first.name : undefined;
      if (word === 'end' || word === 'else') {
        if (!inBlock) throw new Error(`${file}: unexpected {{ ${word} }}`);
        return [nodes, item];
      }
      if (word === 'if' || word === 'with' || word === 'range') nodes.push(parseBlock(word, item, 1));
      else if (word === 'define') {
        const name = item.tokens[1];
        if (name?.k !== 'lit' || typeof name.v !== 'string') throw new Error(`${file}: define needs a name`);
        const [body, stop] = parseList(true);
        if (!isEnd(stop)) throw new Error(`${file}: define "${name.v}" has an else`);
        defines.set(name.v, body);
      } else if (word === 'template') {
        const name = item.tokens[1];
        if (name?.k !== 'lit' || typeof name.v !== 'string')
          throw new Error(`${file}: template needs a name`);
        const pipe = item.tokens.length > 2 ? parsePipe(item.tokens, 2, item.src) : undefined;
        nodes.push({ t: 'template', name: name.v, pipe });
      } else if (word === 'block') throw new Error(`${file}: block is not supported`);
      else nodes.push({ t: 'action', pipe: parsePipe(item.tokens, 0, item.src) });
    }
    if (inBlock) throw new Error(`${file}: missing {{ end }}`);
    return [nodes, undefined];
  };

  const isEnd = (a: Action | undefined): boolean => a?.tokens.length === 1;

  const parseBlock = (kind: 'if' | 'with' | 'range', action: Action, from: number): TemplateNode => {
    const pipe = parsePipe(action.tokens, from, action.src);
    const [body, stop] = parseList(true);
    let elseNodes: TemplateNode[] = [];
    if (stop && (stop.tokens[0] as { name: string }).name === 'else') {
      const next = stop.tokens[1];
      if (next?.k === 'ident' && (next.name === 'if' || next.name === 'with')) {
        // `else if` / `else with`: a nested block that shares this block's {{ end }}.
        elseNodes = [parseBlock(next.name, stop, 2)];
      } else {
        const [rest, end] = parseList(true);
        if (!isEnd(end)) throw new Error(`${file}: two {{ else }} in one block`);
        elseNodes = rest;
      }
    }
    return { t: kind, pipe, body, else: elseNodes };
  };

  const [nodes] = parseList(false);
  return nodes;
}

/** Go's truth: false, 0, nil, and empty strings, lists and maps are false. */
function truth(v: unknown): boolean {
  if (v === null || v === undefined) return false;
  if (v instanceof GoInt) return v.n !== 0;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v !== '';
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** A float64 as Go's %v prints it: shortest digits, exponent form below 1e-4 and from 1e6. */
function goFloat(x: number): string {
  if (x === 0 || !Number.isFinite(x)) return String(x);
  const [mantissa, expText] = x.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 6)
    return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(x);
}

/** How Go's fmt prints a value with %v (and so how an action prints it). */
function goString(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (v instanceof GoInt) return String(v.n);
  if (typeof v === 'number') return goFloat(v);
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (typeof v === 'object')
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${goString((v as Record<string, unknown>)[k])}`)
      .join(' ')}]`;
  throw new Error(`cannot print ${typeof v}`);
}

const num = (v: unknown, what: string): number => {
  if (v instanceof GoInt) return v.n;
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  throw new Error(`${what}: not a number: ${goString(v)}`);
};

const str = (v: unknown, what: string): string => {
  if (typeof v !== 'string') throw new Error(`${what}: wants a string, got ${goString(v)} (${typeof v})`);
  return v;
};

/** Go's %q for the ASCII strings a chart quotes. */
const goQuote = (s: string): string => JSON.stringify(s);

function printf(format: string, args: unknown[]): string {
  let n = 0;
  return format.replace(/%([%vsdq])/g, (_m, verb: string) => {
    if (verb === '%') return '%';
    const a = args[n++];
    if (verb === 'v') return goString(a);
    if (verb === 's') {
      if (typeof a !== 'string') throw new Error(`printf %s of ${goString(a)}: Go prints %!s(...)`);
      return a;
    }
    if (verb === 'q') return goQuote(str(a, 'printf %q'));
    if (!(a instanceof GoInt)) throw new Error(`printf %d of ${goString(a)}: not an integer`);
    return String(a.n);
  });
}

/** Go's comparison of basic values: int against float64 is an error, as in templates. */
function goEqual(a: unknown, b: unknown): boolean {
  const kind = (v: unknown): string =>
    v instanceof GoInt ? 'int' : v === null || v === undefined ? 'nil' : typeof v;
  if (kind(a) !== kind(b) && kind(a) !== 'nil' && kind(b) !== 'nil')
    throw new Error(
      `incompatible types for comparison: ${goString(a)} (${kind(a)}) and ${goString(b)} (${kind(b)})`,
    );
  if (a instanceof GoInt && b instanceof GoInt) return a.n === b.n;
  return a === b;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof GoInt);
}

function empty(v: unknown): boolean {
  return !truth(v);
}

function indent(n: number, s: string): string {
  const pad = ' '.repeat(n);
  return pad + s.replaceAll('\n', `\n${pad}`);
}

/** Plain data for toYaml: GoInts become numbers. */
function plain(v: unknown): unknown {
  if (v instanceof GoInt) return v.n;
  if (Array.isArray(v)) return v.map(plain);
  if (isMap(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/** Values merged as Helm merges them: maps recursively, anything else replaced, null deletes. */
export function mergeValues(base: unknown, over: unknown): unknown {
  if (!isMap(base) || !isMap(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else out[k] = mergeValues(out[k], v);
  }
  return out;
}

class Scope {
  private readonly frames: Map<string, unknown>[] = [new Map()];
  constructor(root: unknown) {
    this.set('$', root);
  }
  push(): void {
    this.frames.push(new Map());
  }
  pop(): void {
    this.frames.pop();
  }
  set(name: string, v: unknown): void {
    (this.frames.at(-1) as Map<string, unknown>).set(name, v);
  }
  assign(name: string, v: unknown): void {
    for (let i = this.frames.length - 1; i >= 0; i--) {
      const f = this.frames[i] as Map<string, unknown>;
      if (f.has(name)) {
        f.set(name, v);
        return;
      }
    }
    throw new Error(`undefined variable ${name}`);
  }
  get(name: string): unknown {
    for (let i = this.frames.length - 1; i >= 0; i--) {
      const f = this.frames[i] as Map<string, unknown>;
      if (f.has(name)) return f.get(name);
    }
    throw new Error(`undefined variable ${name}`);
  }
}

class Renderer {
  readonly defines = new Map<string, TemplateNode[]>();
  private readonly funcs: Record<string, (...args: unknown[]) => unknown>;

  constructor() {
    this.funcs = {
      include: (name, data) => this.execDefine(str(name, 'include'), data),
      required: (msg, v) => {
        if (v === null || v === undefined || v === '') throw new Error(`required: ${str(msg, 'required')}`);
        return v;
      },
      fail: (msg) => {
        throw new Error(`fail: ${str(msg, 'fail')}`);
      },
      default: (d, ...given) => (given.length === 0 || empty(given[0]) ? d : given[0]),
      empty: (v) => empty(v),
      ternary: (vt, vf, cond) => (truth(cond) ? vt : vf),
      quote: (...args) =>
        args
          .filter((a) => a !== null && a !== undefined)
          .map((a) => goQuote(goString(a)))
          .join(' '),
      squote: (...args) =>
        args
          .filter((a) => a !== null && a !== undefined)
          .map((a) => `'${goString(a)}'`)
          .join(' '),
      printf: (format, ...args) => printf(str(format, 'printf'), args),
      // Go's Sprint: a space between two operands when neither is a string.
      print: (...args) =>
        args
          .map(
            (a, i) =>
              (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string' ? ' ' : '') + goString(a),
          )
          .join(''),
      toString: (v: unknown) => goString(v),
      int: (v) => new GoInt(Math.trunc(num(v, 'int'))),
      int64: (v) => new GoInt(Math.trunc(num(v, 'int64'))),
      len: (v) => {
        if (typeof v === 'string' || Array.isArray(v)) return new GoInt(v.length);
        if (isMap(v)) return new GoInt(Object.keys(v).length);
        throw new Error(`len of ${goString(v)}`);
      },
      trunc: (n, s) => {
        const k = num(n, 'trunc');
        const t = str(s, 'trunc');
        return k < 0 ? t.slice(Math.max(0, t.length + k)) : t.slice(0, k);
      },
      trimSuffix: (suffix, s) => {
        const t = str(s, 'trimSuffix');
        const x = str(suffix, 'trimSuffix');
        return x !== '' && t.endsWith(x) ? t.slice(0, -x.length) : t;
      },
      trimPrefix: (prefix, s) => {
        const t = str(s, 'trimPrefix');
        return t.startsWith(str(prefix, 'trimPrefix')) ? t.slice((prefix as string).length) : t;
      },
      trim: (s) => str(s, 'trim').trim(),
      upper: (s) => str(s, 'upper').toUpperCase(),
      lower: (s) => str(s, 'lower').toLowerCase(),
      contains: (sub, s) => str(s, 'contains').includes(str(sub, 'contains')),
      hasPrefix: (p, s) => str(s, 'hasPrefix').startsWith(str(p, 'hasPrefix')),
      hasSuffix: (p, s) => str(s, 'hasSuffix').endsWith(str(p, 'hasSuffix')),
      replace: (from, to, s) => str(s, 'replace').replaceAll(str(from, 'replace'), str(to, 'replace')),
      join: (sep, list) => {
        if (!Array.isArray(list)) throw new Error(`join of ${goString(list)}`);
        return list.map(goString).join(str(sep, 'join'));
      },
      list: (...items) => items,
      append: (list, v) => {
        if (!Array.isArray(list)) throw new Error(`append to ${goString(list)}`);
        return [...(list as unknown[]), v];
      },
      dict: (...kv) => {
        const out: Record<string, unknown> = {};
        for (let i = 0; i < kv.length; i += 2) out[goString(kv[i])] = kv[i + 1];
        return out;
      },
      hasKey: (m, k) => isMap(m) && Object.hasOwn(m, str(k, 'hasKey')),
      index: (v, ...keys) => {
        let cur = v;
        for (const k of keys) {
          if (isMap(cur)) cur = cur[goString(k)];
          else if (Array.isArray(cur)) cur = cur[num(k, 'index')];
          else throw new Error(`index of ${goString(cur)}`);
        }
        return cur;
      },
      toYaml: (v) =>
        v === undefined || v === null
          ? 'null'
          : yaml.stringify(plain(v), { sortMapEntries: true, lineWidth: 0 }).replace(/\n$/, ''),
      toJson: (v) => JSON.stringify(plain(v) ?? null),
      indent: (n, s) => indent(num(n, 'indent'), str(s, 'indent')),
      nindent: (n, s) => `\n${indent(num(n, 'nindent'), str(s, 'nindent'))}`,
      eq: (a, ...bs) => bs.some((b) => goEqual(a, b)),
      ne: (a, b) => !goEqual(a, b),
      lt: (a, b) => num(a, 'lt') < num(b, 'lt'),
      le: (a, b) => num(a, 'le') <= num(b, 'le'),
      gt: (a, b) => num(a, 'gt') > num(b, 'gt'),
      ge: (a, b) => num(a, 'ge') >= num(b, 'ge'),
      and: (...args) => args.find((a) => !truth(a)) ?? args.at(-1),
      or: (...args) => args.find((a) => truth(a)) ?? args.at(-1),
      not: (a) => !truth(a),
    };
  }

  execDefine(name: string, data: unknown): string {
    const body = this.defines.get(name);
    if (!body) throw new Error(`no template "${name}"`);
    return this.exec(body, data, new Scope(data));
  }

  exec(nodes: TemplateNode[], dot: unknown, scope: Scope): string {
    let out = '';
    for (const node of nodes) {
      switch (node.t) {
        case 'text':
          out += node.s;
          break;
        case 'action': {
          const v = this.pipe(node.pipe, dot, scope);
          if (node.pipe.decl.length === 0) out += goString(v);
          break;
        }
        case 'template':
          out += this.execDefine(node.name, node.pipe ? this.pipe(node.pipe, dot, scope) : undefined);
          break;
        case 'if':
        case 'with': {
          scope.push();
          const v = this.pipe(node.pipe, dot, scope);
          const branch = truth(v) ? node.body : node.else;
          out += this.exec(branch, node.t === 'with' && truth(v) ? v : dot, scope);
          scope.pop();
          break;
        }
        case 'range': {
          scope.push();
          const { decl } = node.pipe;
          const v = this.pipe({ ...node.pipe, decl: [] }, dot, scope);
          const entries: [unknown, unknown][] = Array.isArray(v)
            ? v.map((x, i) => [new GoInt(i), x])
            : isMap(v)
              ? Object.keys(v)
                  .sort()
                  .map((k) => [k, v[k]])
              : v === null || v === undefined
                ? []
                : (() => {
                    throw new Error(`range over ${goString(v)}`);
                  })();
          if (entries.length === 0) out += this.exec(node.else, dot, scope);
          for (const [k, x] of entries) {
            scope.push();
            if (decl.length === 1) scope.set(decl[0] as string, x);
            if (decl.length === 2) {
              scope.set(decl[0] as string, k);
              scope.set(decl[1] as string, x);
            }
            out += this.exec(node.body, x, scope);
            scope.pop();
          }
          scope.pop();
          break;
        }
      }
    }
    return out;
  }

  private pipe(pipe: Pipe, dot: unknown, scope: Scope): unknown {
    let value: unknown;
    let piped = false;
    for (const cmd of pipe.cmds) {
      value = this.command(cmd, dot, scope, piped ? [value] : []);
      piped = true;
    }
    for (const name of pipe.decl) {
      if (pipe.assign) scope.assign(name, value);
      else scope.set(name, value);
    }
    return value;
  }

  private command(cmd: Arg[], dot: unknown, scope: Scope, piped: unknown[]): unknown {
    const [first, ...rest] = cmd as [Arg, ...Arg[]];
    const args = (): unknown[] => [...rest.map((a) => this.arg(a, dot, scope)), ...piped];
    if (first.k === 'fn') {
      const fn = this.funcs[first.name];
      if (!fn) throw new Error(`function "${first.name}" not defined`);
      return fn(...args());
    }
    const v = this.arg(first, dot, scope);
    if (typeof v === 'function') return (v as (...a: unknown[]) => unknown)(...args());
    if (rest.length > 0 || piped.length > 0) throw new Error(`can't give arguments to a non-function`);
    return v;
  }

  private arg(a: Arg, dot: unknown, scope: Scope): unknown {
    switch (a.k) {
      case 'lit':
        return a.v;
      case 'dot':
        return field(dot, a.chain);
      case 'var':
        return field(scope.get(a.name), a.chain);
      case 'pipe':
        return field(this.pipe(a.pipe, dot, scope), a.chain);
      case 'fn': {
        const fn = this.funcs[a.name];
        if (!fn) throw new Error(`function "${a.name}" not defined`);
        return fn();
      }
    }
  }
}

function field(base: unknown, chain: string[]): unknown {
  let cur = base;
  for (const name of chain) {
    if (cur === null || cur === undefined) throw new Error(`nil pointer evaluating interface {}.${name}`);
    if (!isMap(cur)) throw new Error(`can't evaluate field ${name} in ${goString(cur)}`);
    cur = cur[name];
  }
  return cur;
}

/**
 * Renders every template of the chart but the `_*.tpl` helpers (NOTES.txt too) and returns its text by
 * file name. Throws what `helm template` would fail on: `required`, `fail`, an undefined
 * function or variable, a field of nil.
 */
export function renderChart(chartDir: string, options: RenderChartOptions = {}): Map<string, string> {
  const chart = yaml.parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  const defaults = yaml.parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
  const values = mergeValues(defaults, options.values ?? {});
  const capitalized = Object.fromEntries(
    Object.entries(chart).map(([k, v]) => [k.charAt(0).toUpperCase() + k.slice(1), v]),
  );
  const root = {
    Values: values,
    Release: {
      Name: options.releaseName ?? 'faultline',
      Namespace: options.namespace ?? 'faultline',
      Service: 'Helm',
      IsInstall: true,
      IsUpgrade: false,
      Revision: new GoInt(1),
    },
    Chart: capitalized,
    Files: { Get: (path: unknown) => readFileSync(join(chartDir, str(path, '.Files.Get')), 'utf8') },
    Capabilities: { KubeVersion: { Version: 'v1.30.0' } },
  };
  const renderer = new Renderer();
  const dir = join(chartDir, 'templates');
  const files = readdirSync(dir)
    .filter((f) => /\.(yaml|yml|tpl|txt)$/.test(f))
    .sort();
  const parsed = files.map(
    (f) => [f, parse(readFileSync(join(dir, f), 'utf8'), f, renderer.defines)] as const,
  );
  const out = new Map<string, string>();
  for (const [f, nodes] of parsed) {
    if (f.startsWith('_')) continue;
    try {
      out.set(f, renderer.exec(nodes, root, new Scope(root)));
    } catch (err) {
      throw new Error(`${f}: ${(err as Error).message}`, { cause: err });
    }
  }
  return out;
}
