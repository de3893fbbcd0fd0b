/**
 * Names that follow objects. Rules are written with names (`public.customers.ssn`), but
 * PostgreSQL identifies a column by its relation's OID and attribute number: after `ALTER TABLE …
 * RENAME COLUMN ssn TO x`, `RENAME TO`, `SET SCHEMA` or `ALTER SCHEMA … RENAME`, the same values
 * live under another name. Every reload compares the new snapshot with the previous one by OID and
 * attnum and records each name a relation or column had before (its "former names"); the record
 * is carried into every later snapshot of the process for as long as the object exists, so a rule
 * written for any name the object has had in this process still governs it.
 *
 * The record lives in memory: a rename made directly on the database while no gateway process was
 * running is not seen (the startup check `unboundRules` warns about rules naming columns that do
 * not exist, which is what such a rename leaves behind).
 */
import type { CatalogRelation, CatalogSnapshot } from './types.ts';

/** A former name: [schema, relation] of a relation, [schema, relation, column] of a column. */
export type FormerName = readonly string[];

/** The key of a relation (attnum 0) or one of its columns in `CatalogSnapshot.formerNames`. */
export function objectKey(oid: number, attnum = 0): string {
  return `${oid}:${attnum}`;
}

function push(map: Map<string, FormerName[]>, key: string, name: FormerName): void {
  const list = map.get(key) ?? [];
  if (!list.some((n) => n.length === name.length && n.every((p, i) => p === name[i]))) list.push(name);
  map.set(key, list);
}

/**
 * The former names of `next`'s objects: those `prev` recorded (for objects that still exist) plus
 * every relation or column whose qualified name differs from `prev`'s for the same OID / attnum.
 */
export function trackRenames(prev: CatalogSnapshot | null, next: CatalogSnapshot): Map<string, FormerName[]> {
  const out = new Map<string, FormerName[]>();
  if (!prev) return out;
  const carried = prev.formerNames?.size ? prev.formerNames : undefined;
  for (const rel of next.relationsByOid.values()) {
    const before = prev.relationsByOid.get(rel.oid);
    // The same OID for a relation of another kind is a different object (OID reuse), not a rename.
    if (!before || before.kind !== rel.kind) continue;
    // The same object (a built-in relation kept from the last load): no new name, and nothing to
    // carry unless it had one before.
    if (before === rel && !carried) continue;
    const relKey = objectKey(rel.oid);
    for (const n of prev.formerNames?.get(relKey) ?? []) push(out, relKey, n);
    if (before.schema !== rel.schema || before.name !== rel.name) push(out, relKey, [before.schema, before.name]);
    const beforeCols = new Map(before.columns.map((c) => [c.attnum, c]));
    for (const col of rel.columns) {
      const old = beforeCols.get(col.attnum);
      if (!old) continue;
      const key = objectKey(rel.oid, col.attnum);
      for (const n of prev.formerNames?.get(key) ?? []) push(out, key, n);
      if (old.name !== col.name || before.schema !== rel.schema || before.name !== rel.name) push(out, key, [before.schema, before.name, old.name]);
    }
  }
  return out;
}

function relationOf(s: CatalogSnapshot, schema: string, table: string): CatalogRelation | undefined {
  return s.relations.get(`${schema}.${table}`);
}

/** Former names of the column the snapshot knows as schema.table.column (none: empty). */
export function formerColumnNames(s: CatalogSnapshot | null, schema: string, table: string, column: string): readonly FormerName[] {
  if (!s?.formerNames || s.formerNames.size === 0) return [];
  const rel = relationOf(s, schema, table);
  const col = rel?.columns.find((c) => c.name === column);
  return rel && col ? (s.formerNames.get(objectKey(rel.oid, col.attnum)) ?? []) : [];
}

/** Former names of the relation the snapshot knows as schema.table, and of any of its columns. */
export function formerRelationNames(s: CatalogSnapshot | null, schema: string, table: string): readonly FormerName[] {
  if (!s?.formerNames || s.formerNames.size === 0) return [];
  const rel = relationOf(s, schema, table);
  if (!rel) return [];
  const out: FormerName[] = [];
  for (const n of s.formerNames.get(objectKey(rel.oid)) ?? []) out.push(n);
  for (const c of rel.columns) for (const n of s.formerNames.get(objectKey(rel.oid, c.attnum)) ?? []) out.push([n[0], n[1]]);
  return out;
}

/** The former-name lookups of whatever snapshot is current (masking and policy take this shape). */
export interface FormerNames {
  column(schema: string, table: string, column: string): readonly FormerName[];
  relation(schema: string, table: string): readonly FormerName[];
}

export function formerNamesOf(current: () => CatalogSnapshot | null): FormerNames {
  return {
    column: (schema, table, column) => formerColumnNames(current(), schema, table, column),
    relation: (schema, table) => formerRelationNames(current(), schema, table),
  };
}
