/**
 * The catalog statements the tools send through the pipeline. They read pg_catalog only (granted
 * to every scope, like a driver's own catalog queries) and take names as bind parameters, never
 * spliced into the text — except the probe, whose identifiers are quoted.
 */
import { quoteIdent } from './scope-view.ts';

/** Most catalog rows a tool reads in one call. */
export const CATALOG_ROW_CAP = 5000;

/** Relations outside the system schemas; $1: one schema, or NULL for all. */
export const RELATIONS_SQL = `SELECT n.nspname AS schema, c.relname AS name,
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
    WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END AS kind,
  pg_catalog.obj_description(c.oid, 'pg_class') AS comment
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
  AND ($1::text IS NULL OR n.nspname = $1::text)
ORDER BY 1, 2`;

/** Columns of one relation; $1 schema, $2 relation name (as stored). */
export const COLUMNS_SQL = `SELECT a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
  NOT a.attnotnull AS nullable, pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS default,
  EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY (i.indkey)) AS primary_key,
  pg_catalog.col_description(a.attrelid, a.attnum) AS comment
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`;

/** A statement naming the relation and no column: the policy decides whether it may be read at all. */
export function probeSql(schema: string, table: string): string {
  return `SELECT 1 FROM ${quoteIdent(schema)}.${quoteIdent(table)} LIMIT 0`;
}
