/**
 * Review rules, compiled and matched. Pure: config and analyses in, a rule (or null) out.
 *
 * A rule applies to a statement when the identity matches the rule's `match` (every identity when
 * absent), one of its `when` triggers fires on one of the statement's analyses, and — when the
 * rule names `tables` — that analysis touches one of them. The first such rule, in config order,
 * wins. A statement string with several statements is reviewed as a whole when any one of them
 * matches (the engine forwards the string as one unit).
 *
 * A rule with `max_rows` holds a statement only when, besides, the rows it would affect exceed the
 * limit. The count comes from the caller (`rowsOf`, an estimate made before the statement runs);
 * without one, or when the statement could not be estimated, the rule holds (fail closed).
 *
 * Triggers match by effect: `drop` is every removal (DROP of any object and the DROP forms of
 * ALTER), `delete_without_where` a DELETE whose WHERE can reach every row (see
 * sql/unbounded.ts), MERGE counts as the DELETE / UPDATE / INSERT its actions perform.
 *
 * Matching leans towards review when in doubt: `vacuum_full` is read from the statement text (the
 * analysis does not carry VACUUM's options), a DROP SCHEMA touches every table of that schema,
 * and a database-wide maintenance command (VACUUM FULL without tables) touches every table.
 */
import type { Identity } from '../identity/types.ts';
import { compilePattern, matches, type NamePattern } from '../policy/pattern.ts';
import type { StatementAnalysis } from '../sql/types.ts';
import type { ReviewRuleConfig, ReviewTrigger, ReviewsConfig } from './schema.ts';
import type { ReviewAnalysis, ReviewApprovers, ReviewMode } from './types.ts';

export interface CompiledReviewRule {
  name: string;
  mode: ReviewMode;
  timeoutMs: number;
  windowMs: number;
  approvers: ReviewApprovers;
  readonly when: ReadonlySet<ReviewTrigger>;
  readonly tables?: readonly NamePattern[];
  /** Hold only statements affecting more rows than this (see `rowsOf`). */
  readonly maxRows?: number;
  readonly match?: { subjects?: ReadonlySet<string>; groups?: ReadonlySet<string>; issuers?: ReadonlySet<string> };
}

export interface CompiledReviews {
  rules: readonly CompiledReviewRule[];
}

export function compileReviews(cfg: Pick<ReviewsConfig, 'rules'> | undefined): CompiledReviews {
  return { rules: (cfg?.rules ?? []).map(compileRule) };
}

function compileRule(r: ReviewRuleConfig): CompiledReviewRule {
  const set = (v?: string[]) => (v === undefined ? undefined : new Set(v));
  return {
    name: r.name,
    mode: r.mode,
    timeoutMs: r.timeout,
    windowMs: r.window,
    approvers: {
      groups: [...r.approvers.groups],
      subjects: [...r.approvers.subjects],
      ...(r.approvers.issuers ? { issuers: [...r.approvers.issuers] } : {}),
      count: r.approvers.count,
    },
    when: new Set(r.when),
    tables: r.tables?.map((t) => compilePattern(t, 2)),
    ...(r.max_rows !== undefined ? { maxRows: r.max_rows } : {}),
    match: r.match ? { subjects: set(r.match.subjects), groups: set(r.match.groups), issuers: set(r.match.issuers) } : undefined,
  };
}

/**
 * The rows one analysis would affect, as estimated before it runs; null when it could not be
 * estimated (counts as over every limit).
 */
export type RowsOf = (a: StatementAnalysis) => number | null;

/**
 * The first rule that holds `analyses` from `identity` for review, or null. Without `rowsOf`, a
 * rule with `max_rows` holds whenever its triggers fire (what may need review, before estimating).
 */
export function reviewRuleFor(compiled: CompiledReviews, identity: Identity, analyses: readonly StatementAnalysis[], rowsOf?: RowsOf): CompiledReviewRule | null {
  for (const rule of compiled.rules) {
    if (!identityMatches(rule, identity)) continue;
    for (const a of analyses) if (ruleHolds(rule, a, rowsOf)) return rule;
  }
  return null;
}

/** The analyses whose affected rows a rule with `max_rows` needs (to be estimated before deciding). */
export function rowsNeeded(compiled: CompiledReviews, identity: Identity, analyses: readonly StatementAnalysis[]): StatementAnalysis[] {
  const out = new Set<StatementAnalysis>();
  for (const rule of compiled.rules) {
    if (rule.maxRows === undefined || !identityMatches(rule, identity)) continue;
    for (const a of analyses.flatMap(considered)) if (fires(rule, a)) out.add(a);
  }
  return [...out];
}

function identityMatches(rule: CompiledReviewRule, identity: Identity): boolean {
  const m = rule.match;
  if (m === undefined) return true;
  if (m.issuers && !m.issuers.has(identity.issuer) && !m.issuers.has(identity.issuerName)) return false;
  if (!m.subjects && !m.groups) return true;
  if (m.subjects?.has(identity.subject)) return true;
  return m.groups !== undefined && identity.groups.some((g) => m.groups!.has(g));
}

/**
 * The analyses a rule looks at: the statement itself, and the statement inside it when that one
 * runs (EXPLAIN ANALYZE executes it) or is what a later EXECUTE runs (PREPARE).
 */
function considered(a: StatementAnalysis): StatementAnalysis[] {
  if (a.inner && (a.specials.includes('explain_analyze') || a.specials.includes('prepare'))) return [a, ...considered(a.inner)];
  return [a];
}

function ruleHolds(rule: CompiledReviewRule, statement: StatementAnalysis, rowsOf: RowsOf | undefined): boolean {
  for (const a of considered(statement)) {
    if (!fires(rule, a)) continue;
    if (rule.maxRows === undefined || rowsOf === undefined) return true;
    const rows = rowsOf(a);
    if (rows === null || rows > rule.maxRows) return true;
  }
  return false;
}

/** One of the rule's triggers fires on `a`, and `a` touches the rule's tables (if it names any). */
function fires(rule: CompiledReviewRule, a: StatementAnalysis): boolean {
  for (const t of rule.when) if (triggers(t, a)) return rule.tables === undefined || touchesAny(a, rule.tables);
  return false;
}

/** Whether trigger `t` fires on analysis `a`. */
export function triggers(t: ReviewTrigger, a: StatementAnalysis): boolean {
  switch (t) {
    case 'drop':
      return a.command.startsWith('drop ') || a.ddl.some((d) => d.action === 'drop') || (a.removes?.length ?? 0) > 0;
    case 'rewrite':
      return (a.rewrites?.length ?? 0) > 0 || triggers('vacuum_full', a);
    case 'destructive':
      return triggers('drop', a) || triggers('rewrite', a) || triggers('truncate', a) || a.specials.includes('delete_without_where') || a.specials.includes('update_without_where');
    case 'alter':
      return a.command.startsWith('alter ');
    case 'create':
      return a.command.startsWith('create ');
    case 'truncate':
      return a.command === 'truncate' || a.tables.some((x) => x.op === 'truncate');
    case 'grant':
    case 'revoke':
      return a.command === t;
    case 'vacuum_full':
      return a.command === 'vacuum' && hasFullOption(a.text);
    case 'insert':
    case 'update':
    case 'delete':
      return a.tables.some((x) => x.op === t);
    case 'merge':
      return a.command === 'merge';
    case 'ddl':
    case 'dcl':
    case 'write':
      return a.class === t;
    case 'delete_without_where':
    case 'update_without_where':
    case 'copy_program':
    case 'copy_file':
    case 'copy_from_stdin':
    case 'do_block':
    case 'lock':
    case 'cte_write':
    case 'select_into':
      return a.specials.includes(t);
    default:
      return assertNever(t);
  }
}

/**
 * VACUUM FULL or VACUUM (FULL …): the word FULL outside double quotes. FULL is a reserved word, so
 * unquoted it can only be the option; a table named "full" is quoted and does not count. Erring
 * this way (e.g. `VACUUM (FULL false)` still counts) asks for a review rather than skipping one.
 */
function hasFullOption(text: string): boolean {
  const unquoted = text.replace(/"(?:[^"]|"")*"/g, '""').replace(/--[^\n]*/g, ' ');
  return /\bfull\b/i.test(unquoted);
}

function touchesAny(a: StatementAnalysis, patterns: readonly NamePattern[]): boolean {
  for (const d of a.ddl) {
    // Everything in the database, or everything in a schema, is touched by these.
    if (d.objectType === 'database' && d.action !== 'create') return true;
    if (d.objectType === 'schema' && d.name !== undefined && (d.action === 'drop' || d.action === 'alter' || d.action === 'rename')) {
      const schema = d.name;
      if (patterns.some((p) => p.parts[0].test(schema))) return true;
    }
  }
  return relationNames(a).some(([schema, name]) => patterns.some((p) => matches(p, schema, name)));
}

/** Every relation the analysis names: accessed tables, DDL targets and the tables they belong to. */
function relationNames(a: StatementAnalysis): [string, string][] {
  const out: [string, string][] = [];
  for (const t of a.tables) out.push([t.relation.schema, t.relation.name]);
  for (const d of a.ddl) {
    if (d.schema !== undefined && d.name !== undefined) out.push([d.schema, d.name]);
    if (d.on) out.push([d.on.schema, d.on.name]);
  }
  return out;
}

/**
 * What approvers see of a statement string's analyses: the commands, class and tables touched
 * (schema-qualified as resolved with `searchPath`), and that path.
 */
export function reviewAnalysis(analyses: readonly StatementAnalysis[], searchPath?: readonly string[], text?: string): ReviewAnalysis {
  const all = analyses.flatMap(considered);
  const tables = [...new Set(all.flatMap((a) => relationNames(a).map(([s, n]) => `${s}.${n}`)))];
  const commands = [...new Set(analyses.map((a) => a.command))];
  const classes = [...new Set(analyses.map((a) => a.class))];
  const runs = text === undefined ? [] : runTexts(analyses, text);
  return { command: commands.join('; '), class: classes.join('; '), tables, ...(searchPath ? { searchPath: [...searchPath] } : {}), ...(runs.length > 0 ? { runs } : {}) };
}

/**
 * The texts of the statements it runs that are not part of its own text `text`: what an
 * `EXECUTE name` was expanded to (engine/gate.ts `resolveNames`), the prepared statement's text.
 */
function runTexts(analyses: readonly StatementAnalysis[], text: string): string[] {
  const out: string[] = [];
  for (const a of analyses) if (a.text && !text.includes(a.text) && !out.includes(a.text)) out.push(a.text);
  return out;
}

/**
 * What an approval is bound to besides the text: every object the statement's names resolved to
 * (tables with their pg_class OID, or marked unresolved; DDL targets and the relations they
 * belong to; functions as resolved) and the search_path they were resolved with. Anything that
 * makes the same text mean other objects changes this list, and so does the text of every
 * statement it runs (what an `EXECUTE name` runs is the prepared statement, whose text the
 * approval must hold: `EXECUTE d` approved as an UPDATE must not run d prepared again as a
 * DELETE of the same table). Sorted, so it does not depend on the order the analysis lists them in.
 */
export function resolvedObjects(analyses: readonly StatementAnalysis[], searchPath: readonly string[]): { searchPath: string[]; objects: string[] } {
  const out = new Set<string>();
  const walk = (a: StatementAnalysis) => {
    out.add(`statement ${a.command} ${JSON.stringify(a.text)}`);
    for (const t of a.tables) out.add(`relation ${JSON.stringify([t.relation.schema, t.relation.name])} ${t.relation.resolved ? `oid ${t.relation.oid ?? '?'}` : 'unresolved'} ${t.op}`);
    for (const d of a.ddl) {
      out.add(`${d.action} ${d.objectType} ${JSON.stringify([d.schema ?? null, d.name ?? null])}`);
      if (d.on) out.add(`on ${JSON.stringify([d.on.schema, d.on.name])}`);
    }
    for (const f of a.functions) out.add(`function ${JSON.stringify([f.schema, f.name])} ${f.resolved ? 'resolved' : 'unresolved'}`);
    if (a.inner) walk(a.inner);
  };
  for (const a of analyses) walk(a);
  return { searchPath: [...searchPath], objects: [...out].sort() };
}

/** Whether `identity` is one of `approvers` (group, subject, and issuer when named). */
export function isApprover(approvers: ReviewApprovers, identity: Pick<Identity, 'issuer' | 'issuerName' | 'subject' | 'groups'>): boolean {
  if (approvers.issuers && !approvers.issuers.includes(identity.issuer) && !approvers.issuers.includes(identity.issuerName)) return false;
  return approvers.subjects.includes(identity.subject) || identity.groups.some((g) => approvers.groups.includes(g));
}

/** Whether `identity` may approve requests of at least one rule (e.g. to be let into the reviews API). */
export function isApproverOfAny(compiled: CompiledReviews, identity: Identity): boolean {
  return compiled.rules.some((r) => isApprover(r.approvers, identity));
}

function assertNever(x: never): never {
  throw new Error(`unhandled review trigger: ${String(x)}`);
}
