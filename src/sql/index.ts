/**
 * SQL analysis: text in, `StatementAnalysis[]` out, one per statement, with nothing but the
 * catalog snapshot and the session's search_path as inputs (pure; the only importer of
 * libpg-query).
 *
 *   text ──parseStatements──► statement nodes (+ own text, by UTF-8 byte offsets)
 *        ──analyseNode──► QueryWalker (SELECT/DML, scopes, columns) · DdlWalker · session handlers
 *        ──► StatementAnalysis (class, tables × ops × columns, column uses, functions, DDL targets,
 *            settings, specials, `unsupported` when anything was not understood)
 *
 * Callers MUST refuse a statement whose analysis has `unsupported` set, and MUST treat a
 * `SqlSyntaxError` as a refusal (42601). `AnalysisCache` memoises by (snapshot, search_path, text).
 */
import type { CatalogSnapshot } from '../catalog/types.ts';
import { parseStatements } from './parser.ts';
import { effectiveSearchPath } from './resolve.ts';
import { analyseNode } from './statements.ts';
import type { StatementAnalysis } from './types.ts';

export { AnalysisCache } from './cache.ts';
export { loadParser, parseAhead, type ParsedStatement } from './parser.ts';
export { effectiveSearchPath, resolveRelation } from './resolve.ts';
export {
  type ColumnUse,
  type DdlAction,
  type DdlTarget,
  type FlowSink,
  type FunctionCall,
  type RelationName,
  type SettingChange,
  type Special,
  type StatementAnalysis,
  type StatementClass,
  SqlSyntaxError,
  SqlParserFailure,
  SqlTooManyNodes,
  type TableAccess,
  type TableOperation,
  type ValueFlow,
  type SourceColumn,
  type OutputColumn,
} from './types.ts';

export interface AnalyseContext {
  catalog: CatalogSnapshot;
  /** The session's search_path as it has it, e.g. ['"$user"', 'public'], or resolved names. */
  searchPath: string[];
  /** Most parse-tree nodes a text parsed off the event loop may have (`SqlTooManyNodes`). */
  maxNodes?: number;
  /**
   * Names of the temporary relations the session has created (its `pg_temp`), which an
   * unqualified name means before any schema of the path. A temporary relation created or dropped
   * by a statement of `text` counts for the statements after it.
   */
  tempRelations?: ReadonlySet<string>;
}

/**
 * Analyses every statement of `text`. Throws `SqlSyntaxError` on a parse error (and an Error if
 * `loadParser()` was not awaited); never throws otherwise: whatever it cannot understand sets
 * `unsupported` on that statement.
 */
export function analyse(text: string, ctx: AnalyseContext): StatementAnalysis[] {
  const stmts = parseStatements(text, ctx.maxNodes);
  if (stmts.length === 0) return [];
  const path = effectiveSearchPath(ctx.catalog, ctx.searchPath);
  const pathListsCatalog = ctx.searchPath.some((s) => s.replace(/"/g, '').trim() === 'pg_catalog');
  const temp = new Set(ctx.tempRelations ?? []);
  const env = { catalog: ctx.catalog, path, pathListsCatalog, tempRelations: temp };
  return stmts.map((s) => {
    const a = analyseNode(s.stmt, s.text, env);
    followTempRelations(temp, a);
    return a;
  });
}

/**
 * The temporary relations a statement creates or drops, applied to `temp` (names): CREATE TEMP
 * TABLE / VIEW / SEQUENCE, CREATE TABLE pg_temp.x, CREATE TEMP TABLE … AS, SELECT … INTO TEMP add
 * one; DROP of a name in pg_temp, DISCARD TEMP and DISCARD ALL remove them. A name added for a
 * statement that then fails is harmless: it is decided as pg_temp's (the server then finds no such
 * table), and refused where a permanent relation has the name too.
 */
const TEMP_RELATION_TYPES = new Set(['table', 'view', 'sequence']);

export function followTempRelations(temp: Set<string>, a: StatementAnalysis): void {
  if (a.command === 'discard all' || a.command === 'discard temp') temp.clear();
  for (const d of a.ddl) {
    if (d.schema !== 'pg_temp' || d.name === undefined || !TEMP_RELATION_TYPES.has(d.objectType)) continue;
    if (d.action === 'create') temp.add(d.name);
    else if (d.action === 'drop') temp.delete(d.name);
  }
  if (a.inner) followTempRelations(temp, a.inner);
}

/** The statements of `text` as their own trimmed texts (throws `SqlSyntaxError`). */
export function splitStatements(text: string): string[] {
  return parseStatements(text).map((s) => s.text);
}

/**
 * Whether `text` is exactly one statement of node type `type` (e.g. 'PrepareStmt'), and, for an
 * EXPLAIN, one that only plans (no ANALYZE): the check the gateway makes before it sends text
 * of its own making upstream. False on a syntax error.
 */
export function isSingleStatement(text: string, type: 'ExplainStmt' | 'PrepareStmt'): boolean {
  let stmts;
  try {
    stmts = parseStatements(text);
  } catch {
    return false;
  }
  if (stmts.length !== 1 || stmts[0].stmt[type] === undefined) return false;
  if (type !== 'ExplainStmt') return true;
  const options = (stmts[0].stmt.ExplainStmt.options ?? []) as { DefElem?: { defname?: string } }[];
  return options.every((o) => o.DefElem?.defname === 'format');
}
