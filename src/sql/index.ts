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
 * `SqlSyntaxError` as a refusal (42601). `AnalysisCache` memoises by (snapshot, search_path, text), and `analyseCached` also by the
 * text's literal key where no literal value can change the analysis (literal-key.ts).
 */
import type { CatalogSnapshot } from '../catalog/types.ts';
import { analyseParsed } from './cached-analysis.ts';
export { followTempRelations } from './temp-relations.ts';
import { parseStatements } from './parser.ts';
import type { StatementAnalysis } from './types.ts';

export { AnalysisCache, snapshotId } from './cache.ts';
export { analyseCached, type CachedAnalysis } from './cached-analysis.ts';
export { literalKey, literalsIrrelevant, type LiteralKey } from './literal-key.ts';
export { settingOnlyParams } from './param-uses.ts';
export { loadParser, parseAhead, type ParsedStatement } from './parser.ts';
export { effectiveSearchPath, listedSchemas, resolveRelation } from './resolve.ts';
export {
  type ColumnUse,
  KEY_CHECK,
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
  return analyseParsed(parseStatements(text, ctx.maxNodes), ctx.catalog, ctx.searchPath, ctx.tempRelations);
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
