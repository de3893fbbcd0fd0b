/**
 * Which user code may change search_path, or the names of prepared statements and cursors, when
 * it runs: read from its body, never assumed harmless when the body cannot be read.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { testCatalog } from '../sql/fixture.ts';
import { callMayChangeNames, callMayChangePath } from './path-code.ts';
import type { CatalogFunction, CatalogSnapshot } from './types.ts';

let oid = 90000;
/** The fixture catalog with these user functions in schema `code`. */
function withFunctions(fns: Partial<CatalogFunction>[]): CatalogSnapshot {
  const base = testCatalog();
  const functions = new Map(base.functions);
  for (const f of fns) {
    const full: CatalogFunction = { oid: oid++, schema: 'code', name: 'f', kind: 'f', volatility: 'v', securityDefiner: false, language: 'sql', argTypes: [], origin: 'user', argDefaults: 0, variadic: false, ...f };
    functions.set(`code.${full.name}`, [...(functions.get(`code.${full.name}`) ?? []), full]);
  }
  return { ...base, functions };
}

describe('code that may change prepared statement and cursor names', () => {
  const cases: [string, Partial<CatalogFunction>, boolean, boolean][] = [
    // [what, function, statements (S), portals (P)]
    ['a SQL function that prepares', { language: 'sql', source: 'DEALLOCATE ALL; PREPARE x AS SELECT 1; SELECT true' }, true, true],
    ['a SQL function that declares a cursor', { language: 'sql', source: 'DECLARE c CURSOR FOR SELECT 1; SELECT 1' }, false, true],
    ['a SQL function that only reads', { language: 'sql', source: 'SELECT count(*) FROM orders' }, false, false],
    ['PL/pgSQL with dynamic SQL', { language: 'plpgsql', source: "BEGIN EXECUTE 'PREPARE x AS SELECT 1'; RETURN 1; END" }, true, true],
    ['PL/pgSQL opening a cursor', { language: 'plpgsql', source: 'DECLARE c refcursor; BEGIN OPEN c FOR SELECT 1; RETURN 1; END' }, false, true],
    ['PL/pgSQL with only a DECLARE section', { language: 'plpgsql', source: 'DECLARE n int; BEGIN SELECT count(*) INTO n FROM orders; RETURN n; END' }, false, false],
    ['a body that cannot be read (C)', { language: 'c' }, true, true],
    ['an internal range constructor made by CREATE TYPE', { language: 'internal', source: 'range_constructor2' }, false, false],
    ['another internal function (query_to_xml runs a query)', { language: 'internal', source: 'query_to_xml' }, true, true],
  ];
  for (const [what, f, statements, portals] of cases) {
    test(what, () => {
      const snap = withFunctions([{ ...f, name: 'f' }]);
      assert.equal(callMayChangeNames(snap, 'code', 'f', 'S'), statements, 'statements');
      assert.equal(callMayChangeNames(snap, 'code', 'f', 'P'), portals, 'portals');
    });
  }
  test('a function that calls one that prepares may prepare too', () => {
    const snap = withFunctions([
      { name: 'inner_one', language: 'sql', source: 'PREPARE x AS SELECT 1; SELECT 1' },
      { name: 'outer_one', language: 'sql', source: 'SELECT code.inner_one()' },
    ]);
    assert.equal(callMayChangeNames(snap, 'code', 'outer_one', 'S'), true);
  });
  test('the internal range constructor does not change search_path either; another internal function may', () => {
    assert.equal(callMayChangePath(withFunctions([{ name: 'r', language: 'internal', source: 'range_constructor3' }]), 'code', 'r'), false);
    assert.equal(callMayChangePath(withFunctions([{ name: 'q', language: 'internal', source: 'set_config_by_name' }]), 'code', 'q'), true);
  });
});
