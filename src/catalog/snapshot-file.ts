/**
 * A catalog snapshot as a file: what `pgwarden catalog dump` writes and `pgwarden policy test
 * --catalog` reads, so policy tests run in CI without a database. The file holds the snapshot's
 * contents as plain JSON (relations with their columns and types, functions, the operators and
 * casts of user code, schemas, the upstream role and its default search_path); reading it builds
 * the snapshot with the same `snapshotFrom` a live load uses.
 *
 * {"format": "pgwarden-catalog-snapshot/1", "upstream": "main", "database": "shop",
 *  "dumpedAt": "…", "catalog": {relations, functions, operators, casts, schemas, currentUser, defaultSearchPath}}
 */
import { z } from 'zod';
import type { CatalogContents } from './load.ts';
import type { CatalogCast, CatalogOperator, CatalogSnapshot } from './types.ts';

export const CATALOG_SNAPSHOT_FORMAT = 'pgwarden-catalog-snapshot/1';

const name = z.string();
const oid = z.number().int().nonnegative();
const typeSet = z.object({ oids: z.array(oid), names: z.array(z.object({ schema: name, name })) });
const codeRef = z.object({ oid, schema: name, name });

const contentsSchema = z.object({
  relations: z.array(
    z.object({
      oid,
      schema: name,
      name,
      kind: z.enum(['table', 'partitioned_table', 'view', 'materialized_view', 'foreign_table', 'sequence', 'composite_type', 'other']),
      columns: z.array(z.object({ name, attnum: z.number().int(), typeOid: oid, typeName: z.string(), notNull: z.boolean().optional() })),
      viewDependencies: z.array(z.object({ schema: name, name })).optional(),
      viewDefinition: z.string().optional(),
      hasRules: z.boolean().optional(),
      parents: z.array(oid).optional(),
      uniqueKeys: z.array(z.array(z.number().int())).optional(),
      foreignKeys: z.array(z.object({ columns: z.array(z.number().int()), references: oid, refColumns: z.array(z.number().int()) })).optional(),
    }),
  ),
  functions: z.array(
    z.object({
      oid,
      schema: name,
      name,
      kind: z.enum(['f', 'p', 'a', 'w']),
      volatility: z.enum(['i', 's', 'v']),
      securityDefiner: z.boolean(),
      language: z.string(),
      argTypes: z.array(oid),
      origin: z.enum(['builtin', 'extension', 'user']),
      argDefaults: z.number().int().nonnegative(),
      variadic: z.boolean(),
      source: z.string().optional(),
    }),
  ),
  operators: z.array(z.object({ oid, schema: name, name, left: oid, right: oid, fn: codeRef })),
  casts: z.array(
    z.object({ oid, source: oid, target: oid, context: z.enum(['e', 'a', 'i']), fn: codeRef, sourceTypes: typeSet, targetTypes: typeSet, betweenBuiltins: z.boolean(), domainCheck: z.literal(true).optional() }),
  ),
  schemas: z.array(name),
  currentUser: z.string(),
  defaultSearchPath: z.array(name),
  searchPathSetting: z.string().optional(),
  attachedCode: z.array(z.tuple([oid, z.array(oid)])).optional(),
});

const fileSchema = z.object({
  format: z.literal(CATALOG_SNAPSHOT_FORMAT),
  upstream: z.string().optional(),
  database: z.string().optional(),
  dumpedAt: z.string().optional(),
  catalog: contentsSchema,
});

export interface CatalogFile {
  format: typeof CATALOG_SNAPSHOT_FORMAT;
  /** The upstream it was loaded from and the client database name used to pick it. */
  upstream?: string;
  database?: string;
  dumpedAt?: string;
  catalog: CatalogContents;
}

/** The file's text, or a sentence saying what is wrong with it (never a stack). */
export function parseCatalogFile(text: string): CatalogFile | string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return 'not valid JSON (make it with: pgwarden catalog dump --config FILE > snapshot.json)';
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length === 0 ? 'top level' : issue.path.join('.');
    if (issue.path[0] === 'format') return `not a catalog snapshot (format must be "${CATALOG_SNAPSHOT_FORMAT}"; make it with: pgwarden catalog dump)`;
    return `${where}: ${issue.message}`;
  }
  return parsed.data as CatalogFile;
}

/**
 * The contents of a snapshot made in memory (a test fixture): the inverse of `snapshotFrom`.
 * Operators and casts are read back from the planted-code index, where every one of them is.
 */
export function contentsOf(s: CatalogSnapshot): CatalogContents {
  const operators = new Set<CatalogOperator>();
  for (const list of s.planted.operators.values()) for (const o of list) operators.add(o);
  const casts = new Set<CatalogCast>();
  for (const list of s.planted.castsByTypeName.values()) for (const c of list) casts.add(c);
  for (const list of s.planted.castsByColumnType.values()) for (const c of list) casts.add(c);
  for (const c of [...s.planted.castsFromParameters, ...s.planted.everywhere]) casts.add(c);
  return {
    relations: [...s.relations.values()],
    functions: [...s.functions.values()].flat(),
    operators: [...operators].sort((a, b) => a.oid - b.oid),
    casts: [...casts].sort((a, b) => a.oid - b.oid),
    schemas: [...s.schemas],
    currentUser: s.currentUser,
    defaultSearchPath: [...s.defaultSearchPath],
    ...(s.searchPathSetting !== undefined && { searchPathSetting: s.searchPathSetting }),
    ...(s.attachedCode !== undefined && { attachedCode: [...s.attachedCode] }),
  };
}
