/**
 * Inheritance and partitions. Rules are written with a table's name, but a scan of a parent
 * (`SELECT ssn FROM people`) returns the rows of its children and partitions, and a child holds
 * rows that a scan of its parent returns: the same values under other names. So for masking, a
 * column stands for the column of the same name in every ancestor and descendant of its relation
 * (inherited columns and partitions' columns keep their parent's names), with their former names.
 * A rule on `public.customers.ssn` governs `public.customers_2024.ssn` and the `ssn` of a table
 * `customers` was made to inherit from.
 */
import type { FormerName, FormerNames } from './renames.ts';
import type { CatalogSnapshot } from './types.ts';

const cache = new WeakMap<CatalogSnapshot, { children: Map<number, number[]>; related: Map<number, number[]> }>();

/** Every ancestor and descendant of `oid` (transitively), itself excluded. */
export function relativesOf(s: CatalogSnapshot, oid: number): number[] {
  let c = cache.get(s);
  if (!c) {
    const children = new Map<number, number[]>();
    for (const r of s.relationsByOid.values()) {
      for (const p of r.parents ?? []) children.set(p, [...(children.get(p) ?? []), r.oid]);
    }
    cache.set(s, (c = { children, related: new Map() }));
  }
  const known = c.related.get(oid);
  if (known) return known;
  const seen = new Set<number>([oid]);
  const walk = (start: number, next: (o: number) => readonly number[]) => {
    const stack = [start];
    while (stack.length > 0) {
      for (const o of next(stack.pop()!)) {
        if (seen.has(o)) continue;
        seen.add(o);
        stack.push(o);
      }
    }
  };
  const kids = c.children;
  walk(oid, (o) => s.relationsByOid.get(o)?.parents ?? []);
  walk(oid, (o) => kids.get(o) ?? []);
  seen.delete(oid);
  const out = [...seen];
  c.related.set(oid, out);
  return out;
}

/**
 * `former`, extended with the names of the same column (or relation) in every ancestor and
 * descendant of the relation in the current snapshot, and their former names.
 */
export function withHierarchy(former: FormerNames, current: () => CatalogSnapshot | null): FormerNames {
  const relatives = (schema: string, table: string) => {
    const s = current();
    const rel = s?.relations.get(`${schema}.${table}`);
    if (!s || !rel || (rel.parents === undefined && rel.kind !== 'table' && rel.kind !== 'partitioned_table')) return [];
    return relativesOf(s, rel.oid).flatMap((o) => s.relationsByOid.get(o) ?? []);
  };
  return {
    column(schema, table, column) {
      const own = former.column(schema, table, column);
      const related = relatives(schema, table).filter((r) => r.columns.some((c) => c.name === column));
      if (related.length === 0) return own;
      const out: FormerName[] = [...own];
      for (const r of related) out.push([r.schema, r.name, column], ...former.column(r.schema, r.name, column));
      return out;
    },
    relation(schema, table) {
      const own = former.relation(schema, table);
      const related = relatives(schema, table);
      if (related.length === 0) return own;
      const out: FormerName[] = [...own];
      for (const r of related) out.push([r.schema, r.name], ...former.relation(r.schema, r.name));
      return out;
    },
  };
}
