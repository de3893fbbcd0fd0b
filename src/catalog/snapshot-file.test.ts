import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testCatalog } from '../sql/fixture.ts';
import { snapshotFrom } from './load.ts';
import { CATALOG_SNAPSHOT_FORMAT, contentsOf, parseCatalogFile } from './snapshot-file.ts';
import type { CatalogSnapshot } from './types.ts';

/** Everything a snapshot holds but its version and load time, as comparable data. */
function comparable(s: CatalogSnapshot) {
  const sortedMap = <V>(m: Map<unknown, V>) => [...m.entries()].map(([k, v]) => [String(k), v]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  const byOid = <T extends { oid: number }>(l: readonly T[]) => [...l].sort((a, b) => a.oid - b.oid);
  return JSON.parse(
    JSON.stringify({
      relations: sortedMap(s.relations),
      byOid: sortedMap(s.relationsByOid),
      schemas: [...s.schemas].sort(),
      functions: sortedMap(s.functions),
      planted: {
        functions: sortedMap(s.planted.functions),
        operators: sortedMap(s.planted.operators),
        castsByTypeName: [...s.planted.castsByTypeName.entries()].map(([k, v]) => [k, byOid(v)]).sort(),
        castsByColumnType: [...s.planted.castsByColumnType.entries()].map(([k, v]) => [k, byOid(v)]).sort(),
        castsFromParameters: byOid(s.planted.castsFromParameters),
        everywhere: byOid(s.planted.everywhere),
      },
      currentUser: s.currentUser,
      defaultSearchPath: s.defaultSearchPath,
    }),
  );
}

test('a snapshot written to a file and read back is the same catalog', () => {
  const original = testCatalog();
  const text = JSON.stringify({ format: CATALOG_SNAPSHOT_FORMAT, upstream: 'main', database: 'shop', catalog: contentsOf(original) });
  const file = parseCatalogFile(text);
  assert.ok(typeof file !== 'string', String(file));
  assert.equal(file.upstream, 'main');
  const back = snapshotFrom(file.catalog, 7);
  assert.equal(back.version, 7);
  assert.deepEqual(comparable(back), comparable(original));
  assert.ok(back.planted.operators.size > 0 && back.planted.castsByTypeName.size > 0, 'the fixture has planted operators and casts');
});

test('a file that is not a snapshot is refused with a sentence', () => {
  const cases: [string, RegExp][] = [
    ['not json', /not valid JSON/],
    ['{"format":"other","catalog":{}}', /not a catalog snapshot/],
    [JSON.stringify({ format: CATALOG_SNAPSHOT_FORMAT, catalog: { relations: 'x' } }), /^catalog\.relations: /],
    [JSON.stringify({ format: CATALOG_SNAPSHOT_FORMAT }), /^catalog: /],
  ];
  for (const [text, expected] of cases) {
    const r = parseCatalogFile(text);
    assert.equal(typeof r, 'string', text);
    assert.match(r as string, expected);
  }
});
