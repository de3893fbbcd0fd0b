/**
 * Name resolution against a catalog snapshot, the way PostgreSQL resolves names: an explicit
 * schema is used as written; an unqualified name is looked up in `pg_catalog` first (unless the
 * search_path names pg_catalog explicitly, in which case its position counts), then along the
 * search_path. `"$user"` means the gateway's own role. Names are compared exactly: the parser has
 * already folded unquoted identifiers and decoded quoted and U&"…" ones.
 *
 * Temporary schemas are not in the snapshot (it is loaded by a session of its own): the session's
 * temporary tables are followed by the gate and resolved by the collector (`Collector.relation`),
 * which refuses a name a temporary table shares with a permanent one on the path.
 */
import type { CatalogFunction, CatalogRelation, CatalogSnapshot } from '../catalog/types.ts';

/**
 * The schemas an unqualified name is looked up in, in order: search_path entries unquoted (an
 * unquoted entry is folded to lower case unless the catalog has it as written), `"$user"` replaced
 * by the current user, pg_temp dropped, pg_catalog first unless listed.
 */
export function effectiveSearchPath(catalog: CatalogSnapshot, searchPath: readonly string[]): string[] {
  const out = pathSchemas(catalog, searchPath);
  if (!out.includes('pg_catalog')) out.unshift('pg_catalog');
  return out;
}

/** The schemas a search_path lists, as `current_schemas(false)` shows them: existing ones, "$user" expanded. */
export function listedSchemas(catalog: CatalogSnapshot, searchPath: readonly string[]): string[] {
  return pathSchemas(catalog, searchPath).filter((s) => catalog.schemas.size === 0 || catalog.schemas.has(s));
}

function pathSchemas(catalog: CatalogSnapshot, searchPath: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of searchPath) {
    let s = raw.trim();
    if (s.length === 0) continue;
    if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) s = s.slice(1, -1).replace(/""/g, '"');
    else if (!catalog.schemas.has(s)) s = s.toLowerCase();
    if (s === '$user') s = catalog.currentUser;
    if (s === 'pg_temp' || s.startsWith('pg_temp_')) continue;
    if (!out.includes(s)) out.push(s);
  }
  return out;
}

/**
 * The schema a CREATE without a schema puts its object in: the first search_path schema that
 * exists (pg_catalog only when it was listed explicitly), or undefined when there is none.
 */
export function creationSchema(catalog: CatalogSnapshot, path: readonly string[], explicitCatalog: boolean): string | undefined {
  for (const s of path) {
    if (s === 'pg_catalog' && !explicitCatalog) continue;
    if (catalog.schemas.size === 0 || catalog.schemas.has(s)) return s;
  }
  return undefined;
}

/**
 * Resolves a relation name. `searchPath` is as the session has it (see `effectiveSearchPath`).
 * Returns undefined when no schema in the path (or the explicit schema) has the relation.
 */
export function resolveRelation(
  catalog: CatalogSnapshot,
  schema: string | undefined,
  name: string,
  searchPath: readonly string[],
): CatalogRelation | undefined {
  if (schema !== undefined) return catalog.relations.get(`${schema}.${name}`);
  return lookupRelation(catalog, name, effectiveSearchPath(catalog, searchPath));
}

/** `resolveRelation` for an already effective path (the analyser computes it once per statement). */
export function lookupRelation(catalog: CatalogSnapshot, name: string, path: readonly string[]): CatalogRelation | undefined {
  for (const s of path) {
    const r = catalog.relations.get(`${s}.${name}`);
    if (r) return r;
  }
  return undefined;
}

/**
 * Resolves a function name to the overloads of the first schema that has it. Overloads are not
 * told apart by argument types (the analyser does not type expressions), so a caller that needs a
 * property (SECURITY DEFINER) must treat "any overload has it" as "the call has it".
 */
export function lookupFunction(
  catalog: CatalogSnapshot,
  schema: string | undefined,
  name: string,
  path: readonly string[],
): { schema: string; overloads: CatalogFunction[] } | undefined {
  if (schema !== undefined) {
    const o = catalog.functions.get(`${schema}.${name}`);
    return o && o.length > 0 ? { schema, overloads: o } : undefined;
  }
  for (const s of path) {
    const o = catalog.functions.get(`${s}.${name}`);
    if (o && o.length > 0) return { schema: s, overloads: o };
  }
  return undefined;
}
