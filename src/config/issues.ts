/**
 * Turning zod issues into problems an operator can act on: one short sentence per issue, at the
 * path it is about. Messages describe types and expectations only — never the value found, which
 * may be a secret that came from `${env:…}` or `${file:…}`.
 */
import type { z } from 'zod';
import type { KeyPath } from './yaml-nodes.ts';

export interface Problem {
  path: KeyPath;
  message: string;
}

type Issue = z.core.$ZodIssue;

/**
 * `valueAt(path)` reads the interpolated data (for the kind of value found and whether it is
 * present); `schema` is used to suggest the intended key for an unknown one.
 */
export function describeIssues(issues: readonly Issue[], valueAt: (path: KeyPath) => unknown, schema: z.ZodType): Problem[] {
  const out: Problem[] = [];
  for (const issue of issues) describe(issue, [], out, valueAt, schema);
  return out;
}

function describe(issue: Issue, base: KeyPath, out: Problem[], valueAt: (path: KeyPath) => unknown, schema: z.ZodType): void {
  const path = [...base, ...issue.path];
  const actual = valueAt(path);
  const push = (message: string, at: KeyPath = path): void => {
    out.push({ path: at, message });
  };
  switch (issue.code) {
    case 'invalid_type':
      if (path.length === 0 && actual == null) return push('the file is empty: expected a mapping with at least upstreams and identity');
      push(actual == null ? 'required' : `expected ${kindName(issue.expected)}, got ${kindOf(actual)}`);
      return;
    case 'unrecognized_keys':
      for (const key of issue.keys) {
        const near = closest(key, knownKeys(schema, path));
        push(near ? `unknown key (did you mean "${near}"?)` : 'unknown key', [...path, key]);
      }
      return;
    case 'invalid_union': {
      if (actual == null) return push('required');
      // Prefer the branch that got furthest: one whose problem is not just the wrong type, and
      // first one whose own keys are all there (`{ http: … }` is about the http branch, not about
      // a missing `jsonl`).
      const furthest = (errs: Issue[]) => errs.length > 0 && errs.every((e) => e.code !== 'invalid_type' || e.path.length > 0);
      const keysPresent = (errs: Issue[]) => errs.every((e) => e.code !== 'invalid_type' || e.path.length !== 1 || valueAt([...path, ...e.path]) != null);
      const branch = issue.errors.find((errs) => furthest(errs) && keysPresent(errs)) ?? issue.errors.find(furthest);
      if (branch) {
        for (const e of branch) describe(e, path, out, valueAt, schema);
        return;
      }
      const expected = issue.errors.flat().filter((e) => e.code === 'invalid_type').map((e) => kindName((e as { expected: string }).expected));
      push(expected.length > 0 ? `expected ${[...new Set(expected)].join(' or ')}, got ${kindOf(actual)}` : 'invalid value');
      return;
    }
    case 'invalid_format':
      if (!issue.message.startsWith('Invalid')) return push(`expected ${issue.message}`);
      if (issue.format === 'url') return push('expected a URL');
      if (issue.format === 'regex' && issue.pattern) return push(`must match ${issue.pattern}`);
      return push(`expected ${issue.format}`);
    case 'invalid_value':
      return push(`expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`);
    case 'too_small':
      return push(bound('at least', issue.origin, Number(issue.minimum), issue.inclusive));
    case 'too_big':
      return push(bound('at most', issue.origin, Number(issue.maximum), issue.inclusive));
    case 'invalid_key': {
      const inner = issue.issues[0];
      const why = inner?.code === 'invalid_format' && inner.format === 'regex' && inner.pattern ? `must match ${inner.pattern}` : inner?.message ?? 'invalid';
      return push(`invalid name: ${why}`);
    }
    case 'not_multiple_of':
      return push(`must be a multiple of ${issue.divisor}`);
    default:
      return push(issue.message);
  }
}

function bound(word: 'at least' | 'at most', origin: string, n: number, inclusive: boolean | undefined): string {
  if (origin === 'array' || origin === 'set') return `must have ${word} ${n} item${n === 1 ? '' : 's'}`;
  if (origin === 'string') return n === 1 && word === 'at least' ? 'must not be empty' : `must be ${word} ${n} characters`;
  if (origin === 'number' || origin === 'int' || origin === 'bigint') {
    const op = word === 'at least' ? (inclusive === false ? '>' : '>=') : inclusive === false ? '<' : '<=';
    return `must be ${op} ${n}`;
  }
  return `must be ${word} ${n}`;
}

function kindName(expected: string): string {
  if (expected === 'object' || expected === 'record') return 'a mapping';
  if (expected === 'array') return 'a list';
  if (expected === 'int') return 'an integer';
  return `a ${expected}`;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  return `a ${typeof value}`;
}

/** The keys an object schema accepts at `path`, looking through defaults, optionals, pipes, records and arrays. */
function knownKeys(schema: z.ZodType, path: KeyPath): string[] {
  let node: unknown = schema;
  const unwrap = () => {
    for (;;) {
      const def = defOf(node);
      if (!def) return;
      if (def.type === 'default' || def.type === 'optional' || def.type === 'nullable' || def.type === 'prefault') node = def.innerType;
      else if (def.type === 'pipe') node = def.in;
      else return;
    }
  };
  for (const seg of path) {
    unwrap();
    let def = defOf(node);
    if (!def) return [];
    if (def.type === 'union') {
      // The branch that has this key (`sinks[0].http.…` is in the `{ http }` branch).
      node = (def.options as unknown[]).find((o) => {
        const shape = defOf(o)?.shape as Record<string, unknown> | undefined;
        return shape !== undefined && String(seg) in shape;
      });
      def = defOf(node);
      if (!def) return [];
    }
    if (def.type === 'object') node = (def.shape as Record<string, unknown>)[String(seg)];
    else if (def.type === 'record') node = def.valueType;
    else if (def.type === 'array') node = def.element;
    else return [];
  }
  unwrap();
  const def = defOf(node);
  return def?.type === 'object' ? Object.keys(def.shape as Record<string, unknown>) : [];
}

function defOf(node: unknown): Record<string, unknown> & { type: string } | undefined {
  return (node as { _zod?: { def?: Record<string, unknown> & { type: string } } } | undefined)?._zod?.def;
}

/** A known key close enough to be a typo or a different spelling (camelCase for snake_case). */
function closest(key: string, known: string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    if (norm(candidate) === norm(key)) return candidate;
    const d = distance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(key.length / 4)) ? best : undefined;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}
