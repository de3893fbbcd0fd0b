/**
 * Policies compiled once per config load, and the scope of one identity on one database.
 *
 * Several matching policies combine:
 * - grants are the union of every matching policy's allow entries;
 * - denials are the union of every matching policy's deny entries, and a denial wins over any
 *   grant of any policy;
 * - limits combine to the most restrictive: the lowest statement_timeout and max_rows that any
 *   matching policy sets, read-only if any says so. Adding a policy can widen what an identity
 *   may touch but never loosen a limit another policy put on it;
 * - `role`: every matching policy that names one must name the same one. Two different roles
 *   cannot both be the session's role, and picking one would silently break the other policy's
 *   grants, so such an identity gets no scope (`describeNoScope` says why).
 * An identity no policy matches gets no scope at all: it MUST NOT connect (default deny).
 */
import type { TableOperation } from '../sql/types.ts';
import type { Identity } from '../identity/types.ts';
import type { SessionLimits } from './types.ts';
import { compilePattern, nameKey, matches, exactKey, type Glob, type NamePattern } from './pattern.ts';
import { TABLE_OPERATIONS, type PolicyConfig, type SessionPermission } from './schema.ts';

export interface TableGrant {
  policy: string;
  pattern: NamePattern;
  ops: ReadonlySet<TableOperation>;
  /** Read allowlist (select, references); undefined = every column. */
  columns?: readonly Glob[];
  /** Write allowlist (insert, update); undefined = every column. */
  writeColumns?: readonly Glob[];
}

export interface TableDenial {
  policy: string;
  pattern: NamePattern;
  ops: ReadonlySet<TableOperation>;
  /** True when the entry named no operations: DDL on the table is denied too. */
  ddl: boolean;
}

export interface ColumnDenial {
  policy: string;
  pattern: NamePattern;
  read: boolean;
  write: boolean;
}

export interface NameRule {
  policy: string;
  pattern: NamePattern;
}

export interface SchemaGrant {
  policy: string;
  schema: Glob;
}

/**
 * Rules indexed by exact name, wildcard rules kept in a list. A lookup costs one map probe plus
 * one test per wildcard rule.
 */
export class RuleIndex<R extends { pattern: NamePattern }> {
  private readonly exact = new Map<string, R[]>();
  private readonly wild: R[] = [];
  readonly all: readonly R[];

  constructor(rules: readonly R[]) {
    this.all = rules;
    for (const rule of rules) {
      const key = exactKey(rule.pattern);
      if (key === undefined) this.wild.push(rule);
      else {
        const list = this.exact.get(key);
        if (list) list.push(rule);
        else this.exact.set(key, [rule]);
      }
    }
  }

  /** Rules matching the name parts. */
  find(...names: string[]): R[] {
    const exact = this.exact.get(nameKey(...names)) ?? [];
    const wild = this.wild.filter((r) => matches(r.pattern, ...names));
    return exact.length === 0 ? wild : wild.length === 0 ? exact : [...exact, ...wild];
  }

  /** Rules whose pattern names exactly these parts (no wildcard). */
  findExact(...names: string[]): R[] {
    return this.exact.get(nameKey(...names)) ?? [];
  }

  /** Rules matching every part but the first, whatever it is: for names whose schema is unknown. */
  findAnySchema(...rest: string[]): R[] {
    return this.all.filter((r) => r.pattern.parts.length === rest.length + 1 && r.pattern.parts.slice(1).every((g, i) => g.test(rest[i])));
  }
}

interface CompiledMatch {
  subjects?: ReadonlySet<string>;
  groups?: ReadonlySet<string>;
  issuers?: ReadonlySet<string>;
}

export interface CompiledPolicy {
  readonly name: string;
  readonly match: CompiledMatch;
  readonly databases?: ReadonlySet<string>;
  readonly tableGrants: readonly TableGrant[];
  readonly tableDenials: readonly TableDenial[];
  readonly columnDenials: readonly ColumnDenial[];
  readonly functionGrants: readonly NameRule[];
  readonly functionDenials: readonly NameRule[];
  readonly ddlSchemas: readonly SchemaGrant[];
  readonly dcl: boolean;
  readonly doLanguages: readonly string[];
  readonly session: readonly SessionPermission[];
  readonly sessionDenials: readonly SessionPermission[];
  readonly limits: SessionLimits;
}

/** The result of `compilePolicies`: immutable, shared by every session of one config version. */
export interface CompiledPolicies {
  readonly policies: readonly CompiledPolicy[];
}

/** The combined, indexed rules of every policy that matched one identity on one database. */
export interface ScopeRules {
  readonly tableGrants: RuleIndex<TableGrant>;
  readonly tableDenials: RuleIndex<TableDenial>;
  readonly columnDenials: RuleIndex<ColumnDenial>;
  readonly functionGrants: RuleIndex<NameRule>;
  readonly functionDenials: RuleIndex<NameRule>;
  readonly ddlSchemas: readonly SchemaGrant[];
  /** Name of a policy granting DCL, if any. */
  readonly dcl?: string;
  /** Language → name of a policy allowing DO blocks in it. */
  readonly doLanguages: ReadonlyMap<string, string>;
  /** Session permission → policy that allowed it. */
  readonly session: ReadonlyMap<SessionPermission, string>;
  /** Session permission → policy that denied it. */
  readonly sessionDenials: ReadonlyMap<SessionPermission, string>;
}

export interface Scope {
  /** How messages name the identity: its subject. */
  identityLabel: string;
  /** Names of the matching policies, in config order. */
  policies: string[];
  limits: SessionLimits;
  rules: ScopeRules;
}

const ALL_OPS: ReadonlySet<TableOperation> = new Set(TABLE_OPERATIONS);

function opsOf(operations: PolicyConfig['allow'][number]['operations']): ReadonlySet<TableOperation> {
  if (operations === undefined || operations === 'all' || operations.includes('all')) return ALL_OPS;
  return new Set(operations as TableOperation[]);
}

function globOf(text: string): Glob {
  return compilePattern(text, 1).parts[0];
}

/** Compile validated policies (pre-compiling every pattern). Call once per config load. */
export function compilePolicies(policies: readonly PolicyConfig[]): CompiledPolicies {
  return { policies: policies.map(compileOne) };
}

function compileOne(p: PolicyConfig): CompiledPolicy {
  const name = p.name;
  const tableGrants: TableGrant[] = [];
  const functionGrants: NameRule[] = [];
  const ddlSchemas: SchemaGrant[] = [];
  const doLanguages: string[] = [];
  const session: SessionPermission[] = [];
  let dcl = false;
  for (const a of p.allow) {
    if (a.tables) {
      const ops = opsOf(a.operations);
      const columns = a.columns?.map(globOf);
      const writeColumns = a.write_columns?.map(globOf);
      for (const t of a.tables) tableGrants.push({ policy: name, pattern: compilePattern(t, 2), ops, columns, writeColumns });
    }
    for (const f of a.functions ?? []) functionGrants.push({ policy: name, pattern: compilePattern(f, 2) });
    for (const s of a.ddl?.schemas ?? []) ddlSchemas.push({ policy: name, schema: globOf(s) });
    if (a.dcl === true) dcl = true;
    for (const l of a.do_blocks ?? []) doLanguages.push(l.toLowerCase());
    session.push(...(a.session ?? []));
  }
  const tableDenials: TableDenial[] = [];
  const columnDenials: ColumnDenial[] = [];
  const functionDenials: NameRule[] = [];
  const sessionDenials: SessionPermission[] = [];
  for (const d of p.deny) {
    const ops = opsOf(d.operations);
    for (const t of d.tables ?? []) tableDenials.push({ policy: name, pattern: compilePattern(t, 2), ops, ddl: d.operations === undefined });
    for (const c of d.columns ?? []) columnDenials.push({ policy: name, pattern: compilePattern(c, 3), read: true, write: true });
    for (const c of d.read_columns ?? []) columnDenials.push({ policy: name, pattern: compilePattern(c, 3), read: true, write: false });
    for (const c of d.write_columns ?? []) columnDenials.push({ policy: name, pattern: compilePattern(c, 3), read: false, write: true });
    for (const f of d.functions ?? []) functionDenials.push({ policy: name, pattern: compilePattern(f, 2) });
    sessionDenials.push(...(d.session ?? []));
  }
  return {
    name,
    match: {
      subjects: p.match.subjects && new Set(p.match.subjects),
      groups: p.match.groups && new Set(p.match.groups),
      issuers: p.match.issuers && new Set(p.match.issuers),
    },
    databases: p.databases && new Set(p.databases),
    tableGrants,
    tableDenials,
    columnDenials,
    functionGrants,
    functionDenials,
    ddlSchemas,
    dcl,
    doLanguages,
    session,
    sessionDenials,
    limits: {
      readOnly: p.limits.read_only,
      ...(p.limits.statement_timeout !== undefined && { statementTimeoutMs: p.limits.statement_timeout }),
      ...(p.limits.max_rows !== undefined && { maxRows: p.limits.max_rows }),
      ...(p.role !== undefined && { role: p.role }),
    },
  };
}

/**
 * Whether a policy's `match` covers the identity: the issuer must be listed (by URL or configured
 * name) when `issuers` is given; and the subject or one of the groups must be listed when
 * `subjects` or `groups` is given. Comparisons are exact: these are the IdP's strings.
 */
export function policyMatches(policy: CompiledPolicy, identity: Identity): boolean {
  const { subjects, groups, issuers } = policy.match;
  if (issuers && !issuers.has(identity.issuer) && !issuers.has(identity.issuerName)) return false;
  if (!subjects && !groups) return issuers !== undefined;
  if (subjects?.has(identity.subject)) return true;
  return groups !== undefined && identity.groups.some((g) => groups.has(g));
}

function matchingPolicies(compiled: CompiledPolicies, identity: Identity, database: string): CompiledPolicy[] {
  return compiled.policies.filter((p) => (p.databases === undefined || p.databases.has(database)) && policyMatches(p, identity));
}

function distinctRoles(policies: readonly CompiledPolicy[]): string[] {
  return [...new Set(policies.flatMap((p) => (p.limits.role === undefined ? [] : [p.limits.role])))];
}

/**
 * Scopes already built, per compiled policy set (a reload compiles a new one) and identity
 * object. The token verifier hands every session of one token the same identity object, so a
 * client that reconnects finds its scope built; both keys are held weakly.
 */
const built = new WeakMap<CompiledPolicies, WeakMap<Identity, Map<string, Scope | null>>>();

/**
 * The scope of `identity` on client database `database`, or null when no policy matches it (or
 * the matching policies name different upstream roles). Null MUST refuse the connection.
 * Built once per compiled policies, identity object and database: a scope MUST NOT be mutated.
 */
export function scopeFor(compiled: CompiledPolicies, identity: Identity, database: string): Scope | null {
  let byIdentity = built.get(compiled);
  if (!byIdentity) built.set(compiled, (byIdentity = new WeakMap()));
  let byDatabase = byIdentity.get(identity);
  if (!byDatabase) byIdentity.set(identity, (byDatabase = new Map()));
  let scope = byDatabase.get(database);
  if (scope === undefined) byDatabase.set(database, (scope = buildScope(compiled, identity, database)));
  return scope;
}

function buildScope(compiled: CompiledPolicies, identity: Identity, database: string): Scope | null {
  const matched = matchingPolicies(compiled, identity, database);
  if (matched.length === 0) return null;
  const roles = distinctRoles(matched);
  if (roles.length > 1) return null;
  const min = (values: (number | undefined)[]) => {
    const defined = values.filter((v): v is number => v !== undefined);
    return defined.length === 0 ? undefined : Math.min(...defined);
  };
  const statementTimeoutMs = min(matched.map((p) => p.limits.statementTimeoutMs));
  const maxRows = min(matched.map((p) => p.limits.maxRows));
  const limits: SessionLimits = {
    readOnly: matched.some((p) => p.limits.readOnly),
    ...(statementTimeoutMs !== undefined && { statementTimeoutMs }),
    ...(maxRows !== undefined && { maxRows }),
    ...(roles.length === 1 && { role: roles[0] }),
  };
  const firstPolicy = <K>(pairs: [K, string][]): Map<K, string> => {
    const map = new Map<K, string>();
    for (const [k, policy] of pairs) if (!map.has(k)) map.set(k, policy);
    return map;
  };
  const dclPolicy = matched.find((p) => p.dcl)?.name;
  const rules: ScopeRules = {
    tableGrants: new RuleIndex(matched.flatMap((p) => p.tableGrants)),
    tableDenials: new RuleIndex(matched.flatMap((p) => p.tableDenials)),
    columnDenials: new RuleIndex(matched.flatMap((p) => p.columnDenials)),
    functionGrants: new RuleIndex(matched.flatMap((p) => p.functionGrants)),
    functionDenials: new RuleIndex(matched.flatMap((p) => p.functionDenials)),
    ddlSchemas: matched.flatMap((p) => p.ddlSchemas),
    ...(dclPolicy !== undefined && { dcl: dclPolicy }),
    doLanguages: firstPolicy(matched.flatMap((p) => p.doLanguages.map((l): [string, string] => [l, p.name]))),
    session: firstPolicy(matched.flatMap((p) => p.session.map((s): [SessionPermission, string] => [s, p.name]))),
    sessionDenials: firstPolicy(matched.flatMap((p) => p.sessionDenials.map((s): [SessionPermission, string] => [s, p.name]))),
  };
  return { identityLabel: identity.subject, policies: matched.map((p) => p.name), limits, rules };
}

/** Why `scopeFor` returned null, in a sentence for the client's FATAL message. */
export function describeNoScope(compiled: CompiledPolicies, identity: Identity, database: string): string {
  const matched = matchingPolicies(compiled, identity, database);
  if (matched.length === 0) return `pgwarden: no policy grants ${identity.subject} access to database ${database}`;
  const roles = distinctRoles(matched);
  if (roles.length > 1) {
    return `pgwarden: policies ${matched.map((p) => p.name).join(', ')} map ${identity.subject} to different upstream roles (${roles.join(', ')}) on database ${database}`;
  }
  return `pgwarden: ${identity.subject} has a scope on database ${database}`;
}

/**
 * Session permissions every scope has unless a deny entry takes them away. copy_to_stdout is a
 * default only without a max_rows limit: COPY output is not made of result rows, so a scope with
 * a row limit needs it granted explicitly.
 */
export const DEFAULT_SESSION_PERMISSIONS: readonly SessionPermission[] = ['prepare', 'cursors', 'copy_to_stdout', 'copy_from_stdin'];

export type SessionGrant =
  | { granted: true; /** The policy that allowed it explicitly, if any. */ policy?: string }
  | { granted: false; /** The policy whose deny entry took it away. */ deniedBy?: string; /** True when only the max_rows limit stands in the way. */ maxRows?: boolean };

/** Whether the scope has a session permission: a denial wins, then an allow entry, then the defaults. */
export function sessionGrant(scope: Scope, permission: SessionPermission): SessionGrant {
  const deniedBy = scope.rules.sessionDenials.get(permission);
  if (deniedBy !== undefined) return { granted: false, deniedBy };
  const policy = scope.rules.session.get(permission);
  if (policy !== undefined) return { granted: true, policy };
  if (!DEFAULT_SESSION_PERMISSIONS.includes(permission)) return { granted: false };
  if (permission === 'copy_to_stdout' && scope.limits.maxRows !== undefined) return { granted: false, maxRows: true };
  return { granted: true };
}
