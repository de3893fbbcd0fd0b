/**
 * The policy tests file of `pgwarden policy test`, and how a case's expectation is compared with
 * what the gateway would do:
 *
 * ```yaml
 * database: shop                 # default for the cases (else the config's first routed database)
 * search_path: public            # optional default; else the upstream role's
 * identities:                    # optional: names cases can use
 *   analyst: { subject: analyst, groups: [analysts] }      # issuer: a URL or configured name (default: the first)
 * cases:
 *   - name: analysts read orders
 *     identity: analyst          # or { subject, groups, issuer }
 *     sql: select id, total from orders
 *     expect: allow              # allow | deny | review
 *     masks: { email: email, ssn: redact, id: none }    # optional, by output column (or a list, by position)
 *   - name: nobody drops orders unreviewed
 *     identity: { subject: migrator, groups: [migrations] }
 *     sql: drop table orders
 *     expect: review
 *     rule: destructive          # optional: the rule that must decide it
 * ```
 */
import { z } from 'zod';
import { parseYamlFile, type Problem } from '../config/index.ts';
import type { ColumnMask, Outcome } from './policy-eval.ts';

const identitySchema = z.strictObject({
  subject: z.string().min(1),
  groups: z.array(z.string().min(1)).default([]),
  /** An issuer URL or configured name (default: the config's first issuer). */
  issuer: z.string().min(1).optional(),
});

export type TestIdentity = z.output<typeof identitySchema>;

const caseSchema = z.strictObject({
  name: z.string().min(1),
  identity: z.union([z.string().min(1), identitySchema]),
  database: z.string().min(1).optional(),
  search_path: z.string().optional(),
  sql: z.string().min(1),
  expect: z.enum(['allow', 'deny', 'review']),
  /** deny: the rule that refuses; review: the review rule; allow: one of the policies that allow. */
  rule: z.string().min(1).optional(),
  /** Text the refusal's message must contain. */
  message: z.string().min(1).optional(),
  /** Output column → masker kind (`redact`, `email`, …, or `none`); a list goes by position. */
  masks: z.union([z.record(z.string(), z.string().min(1)), z.array(z.string().min(1))]).optional(),
  /** The rows it would affect, for review rules with `max_rows`. */
  estimated_rows: z.number().int().nonnegative().optional(),
});

export type TestCase = z.output<typeof caseSchema>;

export const testsFileSchema = z.strictObject({
  database: z.string().min(1).optional(),
  search_path: z.string().optional(),
  identities: z.record(z.string(), identitySchema).default({}),
  cases: z.array(caseSchema).min(1),
});

export type TestsFile = z.output<typeof testsFileSchema>;

export interface LoadedTests {
  file: string;
  tests: TestsFile;
  /** The line each case starts on. */
  lines: number[];
  /** The line of a case's key, for problems found when running it (an unknown issuer or database). */
  lineOf(index: number, key: string): number;
}

/** Parse a tests file; throws `ConfigError` naming line and key (as config problems do). */
export function parseTests(text: string, file: string): LoadedTests {
  const parsed = parseYamlFile(text, file, testsFileSchema, (t) => {
    const problems: Problem[] = [];
    const names = new Map<string, number>();
    t.cases.forEach((c, i) => {
      if (typeof c.identity === 'string' && !(c.identity in t.identities)) {
        problems.push({ path: ['cases', i, 'identity'], message: `no identity "${c.identity}" under identities` });
      }
      const seen = names.get(c.name);
      if (seen !== undefined) problems.push({ path: ['cases', i, 'name'], message: `the same name as case ${seen + 1}` });
      else names.set(c.name, i);
      if (c.expect !== 'allow' && c.masks !== undefined) problems.push({ path: ['cases', i, 'masks'], message: 'masks can only be expected of an allowed statement' });
    });
    return problems;
  });
  return {
    file,
    tests: parsed.data,
    lines: parsed.data.cases.map((_, i) => parsed.lineOf(['cases', i])),
    lineOf: (i, key) => parsed.lineOf(['cases', i, key]),
  };
}

/** A masker label (`email (public.customers.email)`) read as its kind, the word a test names. */
function maskerKind(label: string): string {
  return label.split(' ')[0];
}

/** What differs between the expectation and the outcome; empty when the case passes. */
export function differences(c: TestCase, o: Outcome): string[] {
  const out: string[] = [];
  if (o.verdict !== c.expect) out.push(`expected ${c.expect}, got ${o.verdict}`);
  else {
    if (c.rule !== undefined) {
      const rules = o.verdict === 'allow' ? o.rule.split(', ') : [o.rule];
      if (!rules.includes(c.rule)) out.push(`expected rule ${c.rule}, got ${o.rule || '(none)'}`);
    }
    if (c.message !== undefined && !(o.message ?? '').includes(c.message)) out.push(`expected the message to contain "${c.message}"`);
  }
  if (c.masks !== undefined && o.verdict === 'allow') out.push(...maskDifferences(c.masks, o));
  return out;
}

function maskDifferences(expected: Record<string, string> | string[], o: Outcome): string[] {
  if (o.maskRefusal) return [`expected masks, but masking refuses the result: ${o.maskRefusal}`];
  const got: ColumnMask[] = o.masks ?? [];
  if (got.length === 0) return ['expected masks, but the statement returns no rows'];
  const out: string[] = [];
  const same = (want: string, label: string) => want === label || want === maskerKind(label);
  if (Array.isArray(expected)) {
    if (expected.length !== got.length) out.push(`expected masks of ${expected.length} columns, got ${got.length} (${got.map((g) => g.column).join(', ')})`);
    expected.forEach((want, i) => {
      const g = got[i];
      if (g && !same(want, g.masker)) out.push(`column ${i + 1} (${g.column}): expected ${want}, got ${g.masker}`);
    });
    return out;
  }
  for (const [column, want] of Object.entries(expected)) {
    const matching = got.filter((g) => g.column === column);
    if (matching.length === 0) out.push(`column ${column}: not in the result (columns: ${got.map((g) => g.column).join(', ')})`);
    for (const g of matching) if (!same(want, g.masker)) out.push(`column ${column}: expected ${want}, got ${g.masker}`);
  }
  return out;
}

/** One line saying what the gateway would do. */
export function describeOutcome(o: Outcome): string {
  switch (o.verdict) {
    case 'allow':
      return `allow (policies: ${o.rule || 'none'})`;
    case 'deny':
      return `deny by rule ${o.rule}: ${o.message ?? ''}`;
    case 'review':
      return `review under rule ${o.rule}: ${o.message ?? ''}`;
  }
}

/** The masks of an allowed statement, for the report (`email → email (public.customers.email)`). */
export function describeMasks(o: Outcome): string | undefined {
  if (o.maskRefusal) return `refused by masking: ${o.maskRefusal}`;
  if (!o.masks) return undefined;
  return o.masks.map((m) => `${m.column}: ${m.masker}`).join(', ');
}
