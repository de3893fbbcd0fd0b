/**
 * Builders for hand-made analyses and identities in the policy tests: each returns exactly the
 * shape the analyser produces, with only the parts a case cares about filled in.
 */
import type { FunctionCall, SettingChange, Special, StatementAnalysis, StatementClass, TableAccess, TableOperation, DdlTarget } from '../sql/types.ts';
import type { Identity } from '../identity/types.ts';
import { compilePolicies, scopeFor, type Scope } from './compile.ts';
import { policySchema, type PolicyInput } from './schema.ts';

export function stmt(command: string, cls: StatementClass, parts: Partial<StatementAnalysis> = {}): StatementAnalysis {
  return { text: command, node: 'Stmt', command, class: cls, tables: [], columnUses: [], functions: [], ddl: [], settings: [], specials: [], ...parts };
}

/** A table access; `rel` is `schema.name` or a bare name for an unresolved, unqualified relation. */
export function access(op: TableOperation, rel: string, columns: string[] = [], opts: { allColumns?: boolean; resolved?: boolean } = {}): TableAccess {
  const dot = rel.indexOf('.');
  const schema = dot < 0 ? '' : rel.slice(0, dot);
  const name = dot < 0 ? rel : rel.slice(dot + 1);
  return {
    op,
    relation: { schema, name, resolved: opts.resolved ?? dot >= 0 },
    columns,
    ...(opts.allColumns !== undefined && { allColumns: opts.allColumns }),
  };
}

export function select(rel: string, columns: string[] = [], parts: Partial<StatementAnalysis> = {}): StatementAnalysis {
  return stmt('select', 'read', { tables: [access('select', rel, columns)], ...parts });
}

export function write(op: 'insert' | 'update' | 'delete' | 'truncate', rel: string, columns: string[] = [], parts: Partial<StatementAnalysis> = {}): StatementAnalysis {
  return stmt(op, 'write', { tables: [access(op, rel, columns)], ...parts });
}

/** A function call; `qname` is `schema.name` or a bare name for an unresolved, unqualified one. */
export function fn(qname: string, constArgs?: (string | null)[]): FunctionCall {
  const dot = qname.indexOf('.');
  return {
    schema: dot < 0 ? '' : qname.slice(0, dot),
    name: dot < 0 ? qname : qname.slice(dot + 1),
    resolved: dot >= 0,
    ...(constArgs !== undefined && { constArgs }),
  };
}

export function call(...functions: FunctionCall[]): StatementAnalysis {
  return stmt('select', 'read', { functions });
}

export function setting(name: string | null, value: string | null, action: SettingChange['action'] = 'set'): StatementAnalysis {
  const cls: StatementClass = action === 'set_transaction' ? 'transaction' : 'session';
  return stmt(action === 'reset' || action === 'reset_all' ? 'reset' : 'set', cls, { node: 'VariableSetStmt', settings: [{ name, value, action }] });
}

export function special(command: string, cls: StatementClass, specials: Special[], parts: Partial<StatementAnalysis> = {}): StatementAnalysis {
  return stmt(command, cls, { specials, ...parts });
}

export function ddl(action: DdlTarget['action'], objectType: string, schema?: string, name?: string, parts: Partial<StatementAnalysis> = {}): StatementAnalysis {
  return stmt(`${action} ${objectType}`, 'ddl', { ddl: [{ action, objectType, ...(schema !== undefined && { schema }), ...(name !== undefined && { name }) }], ...parts });
}

export function identity(subject: string, groups: string[] = [], issuerName = 'corp'): Identity {
  return { issuer: `https://idp.example.com/${issuerName}`, issuerName, subject, groups, claims: {}, expiresAt: Date.now() + 3_600_000 };
}

export function scopeOf(policies: PolicyInput[], who: Identity, database = 'shop'): Scope | null {
  return scopeFor(compilePolicies(policies.map((p) => policySchema.parse(p))), who, database);
}
