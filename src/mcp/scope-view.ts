/**
 * What an identity's scope covers, as the catalog tools show it: which databases it may use, which
 * relations and columns the policy lets it read, and which columns come back masked.
 *
 * The catalog queries themselves run through the session pipeline (decided, audited). The
 * pipeline grants reads of pg_catalog and information_schema to everyone (drivers need them), so
 * their rows name relations outside the scope; each row is kept only when the policy's own
 * `decide` allows `SELECT <column> FROM <relation>` for this identity — the decision a statement
 * naming that relation would get. Nothing here grants anything: it only hides what the policy
 * would refuse.
 */
import type { CatalogSnapshot } from '../catalog/index.ts';
import type { Identity } from '../identity/index.ts';
import type { CompiledMasking } from '../masking/index.ts';
import { maskingFor } from '../masking/index.ts';
import { decide, scopeFor, type CompiledPolicies, type Scope } from '../policy/index.ts';
import { analyse } from '../sql/index.ts';

export interface ScopeViewDeps {
  policies(): CompiledPolicies;
  masking(): CompiledMasking;
  /** The client-facing database names the gateway routes. */
  databases(): string[];
  /** The catalog snapshot behind a client database (null: not loaded, or not routed). */
  catalog(database: string): CatalogSnapshot | null;
}

export interface DatabaseScope {
  database: string;
  policies: string[];
  readOnly: boolean;
  maxRows?: number;
}

export type ReadDecision = { allowed: true } | { allowed: false; message: string; hint?: string };

export interface ScopeView {
  /** The databases `identity` has a scope on. */
  databases(identity: Identity): DatabaseScope[];
  scope(identity: Identity, database: string): Scope | null;
  /** The policy's decision on `SELECT <column | 1> FROM schema.table` for `identity`. */
  mayRead(identity: Identity, database: string, schema: string, table: string, column?: string): ReadDecision;
  /** The masker a column comes back through for `identity` (e.g. `email`), or undefined. */
  masker(identity: Identity, schema: string, table: string, column: string): string | undefined;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function createScopeView(deps: ScopeViewDeps): ScopeView {
  const scope = (identity: Identity, database: string) => scopeFor(deps.policies(), identity, database);
  return {
    scope,
    databases(identity) {
      const out: DatabaseScope[] = [];
      for (const database of deps.databases()) {
        const s = scope(identity, database);
        if (!s) continue;
        out.push({ database, policies: s.policies, readOnly: s.limits.readOnly, ...(s.limits.maxRows !== undefined && { maxRows: s.limits.maxRows }) });
      }
      return out;
    },
    mayRead(identity, database, schema, table, column) {
      const s = scope(identity, database);
      if (!s) return { allowed: false, message: `pgwarden: no policy grants ${identity.subject} access to database ${database}` };
      const catalog = deps.catalog(database);
      if (!catalog) return { allowed: false, message: 'pgwarden: the catalog of the database could not be loaded', hint: 'Try again shortly.' };
      const text = `SELECT ${column === undefined ? '1' : quoteIdent(column)} FROM ${quoteIdent(schema)}.${quoteIdent(table)}`;
      try {
        const d = decide(s, analyse(text, { catalog, searchPath: catalog.defaultSearchPath }));
        return d.verdict === 'allow' ? { allowed: true } : { allowed: false, message: d.message, hint: d.hint };
      } catch {
        // Fail closed: a name the analyser cannot take is not shown.
        return { allowed: false, message: `pgwarden: ${identity.subject} may not read ${schema}.${table}` };
      }
    },
    masker(identity, schema, table, column) {
      const rule = maskingFor(deps.masking(), identity).ruleFor(schema, table, column);
      return rule?.spec.kind;
    },
  };
}
