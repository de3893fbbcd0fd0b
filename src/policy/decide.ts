/**
 * `decide(scope, analyses)`: may this identity run this query string?
 *
 * All or nothing, first refusal wins: statements are decided in order and the first refused one
 * refuses the whole string. Each statement goes through, in order: unsupported (its own or any
 * contained statement's), specials (COPY, DO, LOAD, LISTEN/NOTIFY, LOCK, PREPARE, cursors …),
 * settings, read-only, tables and columns, functions, DDL, DCL, the command itself, and finally
 * the contained statement of PREPARE / DECLARE / EXPLAIN / CREATE TABLE AS, decided with the
 * same rules. Whatever the analysis leaves unclear is refused (fail closed), and a check that
 * throws becomes a refusal with rule 'internal': decide() never throws.
 *
 * EXECUTE, FETCH, CLOSE and DEALLOCATE are allowed here: the engine decides an EXECUTE against the
 * stored analysis of the prepared statement, and a cursor's query was decided at DECLARE.
 */
import type { DdlAction, DdlTarget, Special, StatementAnalysis } from '../sql/types.ts';
import { assertNever } from '../errors.ts';
import { isUntrustedLanguage, type SessionPermission } from './schema.ts';
import { sessionGrant, type Scope } from './compile.ts';
import { checkFunctions } from './functions.ts';
import { qualified } from './pattern.ts';
import type { DecideContext, Refusal } from './refusal.ts';
import { checkSetting } from './settings.ts';
import { checkTableAccess, deniedHint, operationVerb } from './tables.ts';
import type { Decision, FormerNames } from './types.ts';

/** Deeper nesting than this (EXPLAIN of PREPARE of …) is refused rather than followed. */
const MAX_NESTING = 8;

/**
 * `former` gives the names renamed relations and columns had: a denial (of a table or a column)
 * written for a former name still applies, and a column allowlist must allow every name the
 * column has had (a column renamed onto an allowed name stays refused).
 */
export function decide(scope: Scope, analyses: StatementAnalysis[], former?: FormerNames): Decision {
  const ctx: DecideContext = { scope, used: new Set(), ...(former && { former }) };
  for (let i = 0; i < analyses.length; i++) {
    let refusal: Refusal | undefined;
    try {
      refusal = checkStatement(ctx, analyses[i], 0);
    } catch {
      refusal = {
        what: `may not run ${commandOf(analyses[i])}: the gateway could not decide on it`,
        hint: 'The statement was refused because the policy check failed; the gateway log has the details.',
        rule: 'internal',
      };
    }
    if (refusal) {
      return { verdict: 'deny', message: `pgwarden: ${scope.identityLabel} ${refusal.what}`, hint: refusal.hint, rule: refusal.rule, statement: i };
    }
  }
  return { verdict: 'allow', policies: scope.policies.filter((p) => ctx.used.has(p)) };
}

function commandOf(a: StatementAnalysis | undefined): string {
  return typeof a?.command === 'string' && a.command !== '' ? a.command : 'the statement';
}

function checkStatement(ctx: DecideContext, a: StatementAnalysis, depth: number): Refusal | undefined {
  if (depth > MAX_NESTING) return unsupported(a, 'statements are nested too deeply');
  for (let cur: StatementAnalysis | undefined = a, d = depth; cur !== undefined && d <= MAX_NESTING; cur = cur.inner, d++) {
    if (cur.unsupported !== undefined) return unsupported(cur, cur.unsupported);
  }
  return (
    checkSpecials(ctx, a) ??
    checkSettings(ctx, a) ??
    checkReadOnly(ctx, a) ??
    checkTables(ctx, a) ??
    checkFunctions(ctx, a) ??
    checkDdl(ctx, a) ??
    checkDcl(ctx, a) ??
    checkCommand(a) ??
    (a.inner === undefined ? undefined : checkStatement(ctx, a.inner, depth + 1))
  );
}

function unsupported(a: StatementAnalysis, reason: string): Refusal {
  return {
    what: `may not run ${commandOf(a)}: ${reason}`,
    hint: 'The gateway refuses statements it cannot fully analyse; rewrite the statement in a simpler form.',
    rule: 'unsupported',
  };
}

function cannotSee(a: StatementAnalysis, what: string): Refusal {
  return { what: `may not run ${commandOf(a)}: the gateway cannot see ${what}`, hint: 'The gateway refuses what it cannot check.', rule: 'unsupported' };
}

function requireSession(ctx: DecideContext, permission: SessionPermission, what: string): Refusal | undefined {
  const g = sessionGrant(ctx.scope, permission);
  if (g.granted) {
    if (g.policy !== undefined) ctx.used.add(g.policy);
    return undefined;
  }
  if (g.deniedBy !== undefined) return { what, hint: `Policy "${g.deniedBy}" denies session permission ${permission}.`, rule: g.deniedBy };
  if (g.maxRows === true) {
    return {
      what,
      hint: `Results are limited to ${ctx.scope.limits.maxRows} rows per statement and COPY output is not counted in rows; an allow entry with session: [${permission}] lifts this.`,
      rule: 'limits:max-rows',
    };
  }
  return { what, hint: `It needs an allow entry with session: [${permission}].`, rule: 'default-deny' };
}

function checkSpecials(ctx: DecideContext, a: StatementAnalysis): Refusal | undefined {
  for (const special of a.specials) {
    const refusal = checkSpecial(ctx, a, special);
    if (refusal) return refusal;
  }
  return undefined;
}

function checkSpecial(ctx: DecideContext, a: StatementAnalysis, special: Special): Refusal | undefined {
  switch (special) {
    case 'copy_program':
      return { what: 'may not run COPY … PROGRAM', hint: 'It runs a shell command on the database server; the gateway never allows it.', rule: 'builtin:copy-server' };
    case 'copy_file':
      return {
        what: 'may not COPY to or from a file on the database server',
        hint: 'Server files are outside any grant; use COPY … TO STDOUT or FROM STDIN.',
        rule: 'builtin:copy-server',
      };
    case 'load':
      return { what: 'may not LOAD a library', hint: 'It loads code into the database server; the gateway never allows it.', rule: 'builtin:load' };
    case 'do_block':
      return checkDoBlock(ctx, a);
    case 'listen':
      return requireSession(ctx, 'listen', 'may not LISTEN');
    case 'notify':
      return requireSession(ctx, 'notify', 'may not NOTIFY');
    case 'lock':
      return requireSession(ctx, 'lock', 'may not LOCK tables');
    case 'prepare':
      return requireSession(ctx, 'prepare', 'may not PREPARE statements') ?? (a.inner === undefined ? cannotSee(a, 'the prepared statement') : undefined);
    case 'declare_cursor':
      return requireSession(ctx, 'cursors', 'may not declare cursors') ?? (a.inner === undefined ? cannotSee(a, "the cursor's query") : undefined);
    case 'explain_analyze':
      return a.inner === undefined ? cannotSee(a, 'the explained statement') : undefined;
    case 'copy_to_stdout':
      return requireSession(ctx, 'copy_to_stdout', 'may not COPY to STDOUT');
    case 'copy_from_stdin':
      return (
        requireSession(ctx, 'copy_from_stdin', 'may not COPY FROM STDIN') ??
        (a.tables.some((t) => t.op === 'insert') ? undefined : cannotSee(a, 'the table COPY writes to'))
      );
    case 'select_into':
      return a.ddl.length > 0 || a.tables.some((t) => t.op === 'insert') ? undefined : cannotSee(a, 'the table it creates');
    case 'execute':
    case 'deallocate':
    case 'fetch':
    case 'delete_without_where':
    case 'update_without_where':
    case 'security_definer_call':
    case 'cte_write':
      // Decided elsewhere: by the engine (EXECUTE), by reviews (no WHERE), by the function and
      // table checks (security definer, data-modifying CTEs).
      return undefined;
    default:
      return assertNever(special, 'special');
  }
}

function checkDoBlock(ctx: DecideContext, a: StatementAnalysis): Refusal | undefined {
  const language = a.doLanguage?.toLowerCase();
  if (language === undefined || language === '') return cannotSee(a, 'the language of the DO block');
  const what = `may not run a DO block in language ${language}`;
  if (isUntrustedLanguage(language)) {
    return { what, hint: 'Untrusted languages run code as the database server\'s operating-system user; the gateway never allows them.', rule: 'builtin:untrusted-language' };
  }
  const policy = ctx.scope.rules.doLanguages.get(language);
  if (policy === undefined) {
    return { what, hint: `A DO block runs code the gateway cannot analyse; it needs an allow entry with do_blocks: [${language}].`, rule: 'default-deny' };
  }
  ctx.used.add(policy);
  return undefined;
}

function checkSettings(ctx: DecideContext, a: StatementAnalysis): Refusal | undefined {
  if (/^discard all\b/i.test(a.command) && !a.settings.some((s) => s.action === 'reset_all')) {
    return checkSetting(ctx.scope, { name: null, value: null, action: 'reset_all' }, ctx.used);
  }
  if (a.node === 'VariableSetStmt' && a.settings.length === 0) return cannotSee(a, 'which setting it changes');
  for (const s of a.settings) {
    const refusal = checkSetting(ctx.scope, s, ctx.used);
    if (refusal) return refusal;
  }
  return undefined;
}

function checkReadOnly(ctx: DecideContext, a: StatementAnalysis): Refusal | undefined {
  if (!ctx.scope.limits.readOnly) return undefined;
  const refuse = (what: string): Refusal => ({ what: `may not ${what}: the access is read-only`, hint: 'A policy matching this identity sets read_only: true.', rule: 'limits:read-only' });
  const write = a.tables.find((t) => t.op !== 'select' && t.op !== 'references');
  if (write) return refuse(`${operationVerb(write.op)} ${qualified(write.relation.schema, write.relation.name)}`);
  if (a.class === 'write' || a.class === 'ddl' || a.class === 'dcl') return refuse(`run ${commandOf(a)}`);
  if (a.specials.some((s) => s === 'cte_write' || s === 'select_into' || s === 'copy_from_stdin')) return refuse(`run ${commandOf(a)}`);
  return undefined;
}

function checkTables(ctx: DecideContext, a: StatementAnalysis): Refusal | undefined {
  for (const access of a.tables) {
    const refusal = checkTableAccess(ctx, access);
    if (refusal) return refusal;
  }
  return undefined;
}

/**
 * Object types that belong to the whole database (or cluster), not to a schema: no `ddl` schema
 * grant covers them. Extensions run install scripts with elevated rights; languages, event
 * triggers, servers and the rest change what every session can do.
 */
const DATABASE_WIDE = new Set(
  ['extension', 'language', 'event_trigger', 'database', 'tablespace', 'role', 'server', 'foreign_server', 'foreign_data_wrapper', 'user_mapping', 'publication', 'subscription', 'cast', 'access_method', 'transform', 'parameter'].flatMap(
    (t) => [t, t.replace(/_/g, ' ')],
  ),
);

function ddlVerb(action: DdlAction): string {
  switch (action) {
    case 'create':
      return 'create';
    case 'alter':
      return 'alter';
    case 'drop':
      return 'drop';
    case 'comment':
      return 'comment on';
    case 'rename':
      return 'rename';
    case 'maintenance':
      return 'run maintenance on';
    case 'refresh':
      return 'refresh';
    case 'security_label':
      return 'set a security label on';
    case 'other':
      return 'change';
    default:
      return assertNever(action, 'DDL action');
  }
}

function checkDdl(ctx: DecideContext, a: StatementAnalysis): Refusal | undefined {
  if (a.class === 'dcl') return undefined;
  if (a.class === 'ddl' && a.ddl.length === 0) return cannotSee(a, 'which objects it changes');
  for (const target of a.ddl) {
    const refusal = checkDdlTarget(ctx, target);
    if (refusal) return refusal;
  }
  return undefined;
}

/**
 * One DDL target: a denial of the object (or, for a schema, of any table in it) wins, then a ddl
 * grant of its schema is needed. An object attached to a relation (index, trigger, rule, policy,
 * statistics, column, constraint) changes that relation too, so the relation's denials and its
 * schema's ddl grant apply as well: an index on a denied table is DDL on the denied table.
 */
function checkDdlTarget(ctx: DecideContext, d: DdlTarget): Refusal | undefined {
  const { rules } = ctx.scope;
  const isSchema = d.objectType === 'schema';
  const schema = isSchema ? (d.name ?? d.schema) : d.schema;
  const on = d.on !== undefined && d.on.schema !== '' ? d.on : undefined;
  const own = d.name === undefined && on ? '' : qualified(d.schema, d.name);
  const target = isSchema
    ? qualified(schema)
    : d.objectType === 'column' && on
      ? qualified(on.schema, on.name, d.name)
      : [own, on ? `on ${qualified(on.schema, on.name)}` : ''].filter((x) => x !== '').join(' ');
  const what = `may not ${ddlVerb(d.action)} ${d.objectType.replace(/_/g, ' ')}${target === '' ? '' : ` ${target}`}`;
  if (d.language !== undefined && (d.language === '' || isUntrustedLanguage(d.language))) {
    return {
      what: `${what} in language ${d.language === '' ? '(unreadable)' : d.language}`,
      hint: 'Functions in untrusted languages run code as the database server\'s operating-system user (or wrap internal functions under new names); the gateway never allows creating them.',
      rule: 'builtin:untrusted-language',
    };
  }
  if (d.objectType === 'conversion' && d.action !== 'drop') {
    return {
      what,
      hint: 'An encoding conversion decides how the server reads the bytes clients send; one made by a client could make it read another statement than the one the gateway decided.',
      rule: 'builtin:conversion',
    };
  }
  if (DATABASE_WIDE.has(d.objectType)) {
    return { what, hint: 'Objects of the whole database (extensions, languages, roles, servers …) are outside any ddl schema grant.', rule: 'builtin:database-objects' };
  }
  if ((schema === undefined || schema === '') && d.candidates !== undefined && d.name !== undefined) return checkUnqualifiedTarget(ctx, d, d.name, d.candidates, what);
  if (schema === undefined || schema === '') return { what, hint: 'The gateway cannot tell which schema it is in, so no ddl grant can cover it.', rule: 'default-deny' };
  const denial = isSchema
    ? rules.tableDenials.all.find((t) => t.ddl && t.pattern.parts[0].test(schema))
    : d.name === undefined
      ? undefined
      : rules.tableDenials.find(schema, d.name).find((t) => t.ddl);
  if (denial) return { what, hint: deniedHint(denial.policy), rule: denial.policy };
  const onDenial = on === undefined ? undefined : rules.tableDenials.find(on.schema, on.name).find((t) => t.ddl);
  if (onDenial) return { what, hint: deniedHint(onDenial.policy), rule: onDenial.policy };
  for (const s of on === undefined || on.schema === schema ? [schema] : [schema, on.schema]) {
    const grant = rules.ddlSchemas.find((g) => g.schema.test(s));
    if (grant === undefined) return { what, hint: `No policy for this identity grants ddl in schema ${qualified(s)}.`, rule: 'default-deny' };
    ctx.used.add(grant.policy);
  }
  return undefined;
}

/**
 * An unqualified name the catalog snapshot does not list (a type, a domain, an operator class, …):
 * the server takes the first schema of the search path that has such an object, so the statement
 * is decided as if on each of them: no denial may name it in any, and a ddl grant must cover all.
 */
function checkUnqualifiedTarget(ctx: DecideContext, d: DdlTarget, name: string, candidates: readonly string[], what: string): Refusal | undefined {
  const { rules } = ctx.scope;
  const used: string[] = [];
  for (const s of candidates) {
    const denial = rules.tableDenials.find(s, name).find((t) => t.ddl);
    if (denial) return { what, hint: deniedHint(denial.policy), rule: denial.policy };
    const grant = rules.ddlSchemas.find((g) => g.schema.test(s));
    if (grant === undefined) {
      return {
        what,
        hint: `The name is not qualified and the gateway does not know which schema of the search path (${candidates.map((c) => qualified(c)).join(', ')}) has this ${d.objectType}; no policy for this identity grants ddl in schema ${qualified(s)}. Qualify the name.`,
        rule: 'default-deny',
      };
    }
    used.push(grant.policy);
  }
  for (const p of used) ctx.used.add(p);
  return undefined;
}

function checkDcl(ctx: DecideContext, a: StatementAnalysis): Refusal | undefined {
  if (a.class !== 'dcl') return undefined;
  const policy = ctx.scope.rules.dcl;
  if (policy === undefined) return { what: `may not run ${commandOf(a)}`, hint: 'GRANT, REVOKE and role changes need an allow entry with dcl: true.', rule: 'default-deny' };
  ctx.used.add(policy);
  return undefined;
}

/** Utility statements the policy knows how to decide: by their specials or their function. */
const UTILITY_SPECIALS: ReadonlySet<Special> = new Set(['do_block', 'lock', 'load', 'listen', 'notify', 'copy_program', 'copy_file', 'copy_to_stdout', 'copy_from_stdin']);
const TWO_PHASE = /^(prepare transaction|commit prepared|rollback prepared)\b/i;

function checkCommand(a: StatementAnalysis): Refusal | undefined {
  switch (a.class) {
    case 'transaction':
      if (TWO_PHASE.test(a.command)) {
        return {
          what: `may not run ${a.command}`,
          hint: 'A prepared transaction outlives the session and holds its locks until someone finishes it; the gateway does not allow two-phase commit.',
          rule: 'builtin:two-phase-commit',
        };
      }
      return undefined;
    case 'utility':
      if (a.node === 'CallStmt' || a.command === 'call') return a.functions.length > 0 ? undefined : cannotSee(a, 'the procedure it calls');
      if (a.specials.some((s) => UTILITY_SPECIALS.has(s))) return undefined;
      return { what: `may not run ${commandOf(a)}`, hint: 'The gateway allows only the utility statements it can check (CALL, DO, LOCK, COPY, LISTEN, NOTIFY).', rule: 'default-deny' };
    case 'read':
    case 'write':
    case 'ddl':
    case 'dcl':
    case 'session':
      return undefined;
    default:
      return assertNever(a.class, 'statement class');
  }
}
