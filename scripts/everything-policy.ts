/**
 * The policy other projects' test suites run under through the gateway (scripts/peer-suite.ts,
 * scripts/regress-diff.ts).
 */
import { DANGEROUS_FUNCTIONS, PROTECTED_CATALOG_RELATIONS } from '../src/policy/builtins.ts';
import { allowEverything } from '../test/helpers/gateway.ts';
import type { TestPostgres } from '../test/helpers/postgres.ts';

/**
 * Everything, as far as a policy can grant it: every table, function, DDL, DCL and session
 * permission, and the system catalog relations and functions a wildcard does not reach (suites
 * read pg_stat_activity and call pg_terminate_backend to end their own backends), named exactly.
 */
export function everythingPolicy(issuer: string, pg: TestPostgres): Record<string, unknown> {
  const policy = allowEverything([issuer]) as { allow: unknown[] };
  const protectedRelations = [...PROTECTED_CATALOG_RELATIONS, 'pg_catalog.pg_locks', 'pg_catalog.pg_prepared_xacts', 'pg_catalog.pg_sequences'];
  // A dangerous family given as a pattern (pg_catalog.lo_*) is lifted only by exact names: every
  // function of the cluster's pg_catalog that the pattern names.
  const functions = DANGEROUS_FUNCTIONS.filter((f) => !f.includes('*'));
  for (const f of DANGEROUS_FUNCTIONS) {
    const m = /^pg_catalog\.([a-z0-9_]*)\*$/.exec(f);
    if (!m) continue;
    const like = m[1].replace(/_/g, '\\_');
    const names = pg.psql(`select distinct proname from pg_proc where pronamespace = 'pg_catalog'::regnamespace and proname like '${like}%'`).trim().split('\n').filter(Boolean);
    functions.push(...names.map((n) => `pg_catalog.${n}`));
  }
  return { ...policy, allow: [...policy.allow, { tables: protectedRelations, operations: ['select'] }, { functions }] };
}
