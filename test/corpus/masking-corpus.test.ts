/**
 * The permanent masking-flow corpus: statements run through the session's real policy gate with
 * masking's decision wired in as the gateway wires it (`statementRefusal` for every analysis),
 * against the fixture catalog and the scope corpus' policies, each with the verdict it must get.
 * End-to-end attacks with effect checks are in test/e2e/masking-flows.test.ts.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { PolicyGate } from '../../src/engine/index.ts';
import { compileMasking, maskingFor, maskingSchema, statementRefusal } from '../../src/masking/index.ts';
import { AnalysisCache, loadParser } from '../../src/sql/index.ts';
import { maskingFlowFamilies } from './cases-masking-flows.ts';
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
  for (const f of ['ascii', 'sqrt', 'ln', 'chr', 'to_number', 'regexp_matches', 'unnest', 'string_to_array', 'reverse', 'md5', 'left', 'right', 'substring', 'regexp_substr']) add(f);
  for (const f of ['min', 'percentile_disc', 'array_agg']) add(f, 'a');
  for (const f of ['lag', 'first_value']) add(f, 'w');
  return { ...c, functions };
}
const catalog = catalogWithBuiltins();

const catalogService = () => fixedCatalog(catalog);

function run(c: Case): { verdict: 'allow' | 'deny'; message: string } {
  const masks = maskingFor(MASKING, IDENTITIES[c.who]);
  const gate = new PolicyGate({
    identity: IDENTITIES[c.who],
    database: DATABASE,
    policies: () => ({ version: 1, compiled }),
    catalog: catalogService(),
    cache: new AnalysisCache(64),
    startupSearchPath: c.searchPath ?? 'public',
    maskingRefusal: (analyses) => {
      for (const a of analyses) {
        const r = statementRefusal(masks, a);
        if (r) return { message: r };
      }
      return null;
    },
  });
  const v = query(gate, c.sql);
  return v.ok === true ? { verdict: 'allow', message: '' } : { verdict: 'deny', message: v.error.message };
}

const cases = maskingFlowFamilies.flatMap((f) => f.cases);

before(async () => {
  await loadParser();
});

describe('masking flow corpus', () => {
  test('both verdicts are represented and names are unique', () => {
    const allowed = cases.filter((c) => c.expect === 'allow').length;
    assert.ok(allowed >= 15 && cases.length - allowed >= 60, `${allowed} allowed of ${cases.length}`);
    assert.equal(new Set(cases.map((c) => c.name)).size, cases.length, 'duplicate case name');
  });
  for (const f of maskingFlowFamilies) {
    describe(f.family, () => {
      for (const c of f.cases) {
        test(c.name, () => {
          const o = run(c);
          const why = `${c.who}: ${c.sql}\n  got: ${o.verdict} ${o.message}`;
          if (c.expect === 'allow') return assert.equal(o.verdict, 'allow', why);
          assert.equal(o.verdict, 'deny', why);
          assert.match(o.message, c.expect, why);
          assert.match(o.message, /^pgwarden: /, why);
        });
      }
    });
  }
});
