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
  const env = { catalog: ctx.catalog, path, pathListsCatalog };
  return stmts.map((s) => analyseNode(s.stmt, s.text, env));
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
