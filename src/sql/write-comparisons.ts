/**
 * Writes that compare the written value with stored ones. A unique index or an exclusion
 * constraint makes an INSERT, UPDATE, MERGE or COPY FROM fail (23505, 23P01), do nothing (`ON
 * CONFLICT DO NOTHING`: `INSERT 0 0`) or update the matching row (`ON CONFLICT (ssn) DO UPDATE …
 * RETURNING id` names it) by whether another row holds an equal value; a foreign key makes it
 * fail (23503) by whether the referenced relation holds one. Each is an equality test of the
 * stored column against a value the client chose: `WHERE ssn = '…'` in another form. It is
 * recorded as such a filter (`KEY_CHECK`), so masking's filter modes decide it as they decide
 * `=`: allowed under `equality` and `allow`, refused under `deny`.
 *
 * What counts: every column of a unique index or exclusion constraint (key, expression and
 * predicate columns, from the catalog's `uniqueKeys`) of which the write sets one, and the
 * referenced columns of every foreign key of which the write sets a column. Pure.
 */
import type { CatalogRelation, CatalogSnapshot } from '../catalog/types.ts';
import { KEY_CHECK, type StatementAnalysis } from './types.ts';

export function recordWriteComparisons(a: StatementAnalysis, catalog: CatalogSnapshot): void {
  const seen = new Set(a.columnUses.map((u) => `${u.relation.schema}\u0000${u.relation.name}\u0000${u.column}\u0000${u.use}\u0000${u.operator ?? ''}`));
  const add = (rel: CatalogRelation, attnum: number) => {
    const column = rel.columns.find((c) => c.attnum === attnum)?.name;
    if (column === undefined) return;
    const key = `${rel.schema}\u0000${rel.name}\u0000${column}\u0000filter\u0000${KEY_CHECK}`;
    if (seen.has(key)) return;
    seen.add(key);
    a.columnUses.push({ relation: { schema: rel.schema, name: rel.name, resolved: true, oid: rel.oid, kind: rel.kind }, column, use: 'filter', operator: KEY_CHECK });
  };
  for (const t of a.tables) {
    if ((t.op !== 'insert' && t.op !== 'update') || t.relation.oid === undefined) continue;
    const rel = catalog.relationsByOid.get(t.relation.oid);
    if (!rel || (!rel.uniqueKeys && !rel.foreignKeys)) continue;
    const written = new Set(t.allColumns ? rel.columns.map((c) => c.attnum) : t.columns.flatMap((n) => rel.columns.filter((c) => c.name === n).map((c) => c.attnum)));
    for (const key of rel.uniqueKeys ?? []) if (key.some((n) => written.has(n))) for (const n of key) add(rel, n);
    for (const fk of rel.foreignKeys ?? []) {
      const ref = fk.columns.some((n) => written.has(n)) ? catalog.relationsByOid.get(fk.references) : undefined;
      if (ref) for (const n of fk.refColumns) add(ref, n);
    }
  }
}
