/**
 * Loading a catalog snapshot from the upstream's system catalogs. Three queries, each returning
 * one JSON document, so the load costs three round trips whatever the size of the schema.
 */
import type { CatalogFunction, CatalogRelation, CatalogSnapshot, RelationKind } from './types.ts';

/** The little of a SQL connection the loader needs (simple Query, text results). */
export interface CatalogQueryable {
  query(text: string): Promise<(string | null)[][]>;
}

const RELKIND: Record<string, RelationKind> = {
  r: 'table',
  p: 'partitioned_table',
  v: 'view',
  m: 'materialized_view',
  f: 'foreign_table',
  S: 'sequence',
  c: 'composite_type',
};

export const RELATIONS_SQL = `
select coalesce(json_agg(json_build_array(c.oid, n.nspname, c.relname, c.relkind, c.relhasrules, cols.list, deps.list)), '[]')
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
left join lateral (
  select json_agg(json_build_array(a.attname, a.attnum, a.atttypid, format_type(a.atttypid, a.atttypmod), a.attnotnull) order by a.attnum) as list
  from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
) cols on true
left join lateral (
  select json_agg(distinct jsonb_build_array(rn.nspname, rc.relname)) as list
  from pg_rewrite r
  join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid and d.refclassid = 'pg_class'::regclass
  join pg_class rc on rc.oid = d.refobjid and rc.oid <> c.oid
  join pg_namespace rn on rn.oid = rc.relnamespace
  where r.ev_class = c.oid and c.relkind in ('v', 'm')
) deps on true
where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S', 'c') and n.nspname not like 'pg_toast%' and n.nspname not like 'pg_temp_%'`;

export const FUNCTIONS_SQL = `
select coalesce(json_agg(json_build_array(p.oid, n.nspname, p.proname, p.prokind, p.provolatile, p.prosecdef, l.lanname, p.proargtypes::oid[])), '[]')
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_language l on l.oid = p.prolang`;

export const SESSION_SQL = `
select current_user, to_json(current_schemas(false))::text,
  (select coalesce(json_agg(nspname), '[]') from pg_namespace where nspname not like 'pg_toast%' and nspname not like 'pg_temp_%')::text`;

type RelationRow = [number, string, string, string, boolean, [string, number, number, string, boolean?][] | null, [string, string][] | null];
type FunctionRow = [number, string, string, string, string, boolean, string, number[] | null];

export async function loadCatalog(db: CatalogQueryable, version: number): Promise<CatalogSnapshot> {
  const [[rel]] = await db.query(RELATIONS_SQL);
  const [[fn]] = await db.query(FUNCTIONS_SQL);
  const [[user, path, schemas]] = await db.query(SESSION_SQL);
  const relations = new Map<string, CatalogRelation>();
  const relationsByOid = new Map<number, CatalogRelation>();
  for (const [oid, schema, name, kind, hasRules, cols, deps] of JSON.parse(rel ?? '[]') as RelationRow[]) {
    const r: CatalogRelation = {
      oid: Number(oid),
      schema,
      name,
      kind: RELKIND[kind] ?? 'other',
      columns: (cols ?? []).map(([colName, attnum, typeOid, typeName, notNull]) => ({ name: colName, attnum, typeOid: Number(typeOid), typeName, ...(notNull ? { notNull: true } : {}) })),
      hasRules: hasRules && kind !== 'v' && kind !== 'm' ? true : undefined,
    };
    if (deps?.length) r.viewDependencies = deps.map(([s, n]) => ({ schema: s, name: n }));
    relations.set(`${schema}.${name}`, r);
    relationsByOid.set(r.oid, r);
  }
  const functions = new Map<string, CatalogFunction[]>();
  for (const [oid, schema, name, kind, volatility, secdef, language, args] of JSON.parse(fn ?? '[]') as FunctionRow[]) {
    const key = `${schema}.${name}`;
    const list = functions.get(key) ?? [];
    list.push({
      oid: Number(oid),
      schema,
      name,
      kind: kind as CatalogFunction['kind'],
      volatility: volatility as CatalogFunction['volatility'],
      securityDefiner: secdef,
      language,
      argTypes: (args ?? []).map(Number),
    });
    functions.set(key, list);
  }
  return {
    version,
    relations,
    relationsByOid,
    schemas: new Set(JSON.parse(schemas ?? '[]') as string[]),
    functions,
    currentUser: user ?? '',
    defaultSearchPath: JSON.parse(path ?? '[]') as string[],
    loadedAt: Date.now(),
  };
}
