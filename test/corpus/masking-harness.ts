/**
 * The masking-flow corpus' gate: the session's real policy gate with masking's decision wired in
 * as the gateway wires it (`statementRefusal` for every analysis), the fixture catalog with the
 * built-ins the cases call, and the scope corpus' policies.
 */
import { PolicyGate } from '../../src/engine/index.ts';
import { compileMasking, maskingFor, maskingSchema, statementRefusal } from '../../src/masking/index.ts';
import { AnalysisCache } from '../../src/sql/index.ts';
import type { CatalogFunction, CatalogSnapshot } from '../../src/catalog/types.ts';
import { testCatalog } from '../../src/sql/fixture.ts';
import { fixedCatalog, query, type Case } from './harness.ts';
import { compiledPolicies, DATABASE, IDENTITIES } from './policies.ts';

const MASKING = compileMasking(
  maskingSchema.parse({
    rules: [
      { column: 'public.customers.email', with: 'email' },
      { column: 'public.customers.phone', with: 'partial', options: { keep_last: 2 } },
      { column: 'public.customers.name', with: 'redact', allow_flows: ['order', 'aggregate'] },
      { column: 'sales.orders.amount', with: 'redact', filter: 'deny' },
      { column: 'public.orders.status', with: 'redact', filter: 'allow', only: { groups: ['analysts'] } },
    ],
  }) as never,
);
const compiled = compiledPolicies();

/**
 * The fixture catalog with the built-ins these cases call, so that the policy's function check
 * (unknown functions are refused) does not answer before masking does.
 */
function catalogWithBuiltins(): CatalogSnapshot {
  const c = testCatalog();
  const functions = new Map(c.functions);
  let oid = 90_000;
  const add = (name: string, kind: CatalogFunction['kind'] = 'f') =>
    functions.set(`pg_catalog.${name}`, [{ oid: oid++, schema: 'pg_catalog', name, kind, volatility: 'i', securityDefiner: false, language: 'internal', argTypes: [], origin: 'builtin', argDefaults: 0, variadic: false }]);
  for (const f of ['ascii', 'sqrt', 'ln', 'chr', 'to_number', 'regexp_matches', 'unnest', 'string_to_array', 'reverse', 'md5', 'left', 'right', 'substring', 'regexp_substr', 'tsvector_update_trigger']) add(f);
  for (const f of ['min', 'percentile_disc', 'array_agg']) add(f, 'a');
  for (const f of ['lag', 'first_value']) add(f, 'w');
  return { ...c, functions };
}
const catalog = catalogWithBuiltins();

const catalogService = () => fixedCatalog(catalog);

/** Runs a case on a fresh gate (`cache`: the analysis cache it shares, a new one by default). */
export function run(c: Case, cache: AnalysisCache = new AnalysisCache(64)): { verdict: 'allow' | 'deny'; message: string; results: string } {
  const masks = maskingFor(MASKING, IDENTITIES[c.who]);
  const gate = new PolicyGate({
    identity: IDENTITIES[c.who],
    database: DATABASE,
    policies: () => ({ version: 1, compiled }),
    catalog: catalogService(),
    cache,
    startupSearchPath: c.searchPath ?? 'public',
    maskingRefusal: (analyses) => {
      for (const a of analyses) {
        const r = statementRefusal(masks, a);
        if (r) return { message: r };
      }
      return null;
    },
  });
  for (const text of c.before ?? []) {
    const b = query(gate, text);
    if (b.ok !== true) throw new Error(`setup statement refused: ${text}\n  ${b.error.message}`);
  }
  const v = query(gate, c.sql);
  return v.ok === true ? { verdict: 'allow', message: '', results: JSON.stringify(v.results ?? []) } : { verdict: 'deny', message: v.error.message, results: '' };
}
