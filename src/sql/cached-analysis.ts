/**
 * Analysis through the shared `AnalysisCache`: the exact text first, then (when the cache keys
 * by literals) the text's literal key, then a fresh analysis, stored under the exact text and,
 * when `literalsIrrelevant` proves it, under the literal key too (see literal-key.ts).
 *
 *   text ─exact hit─► analyses
 *        ─alias (a text found by literal key before)─► those analyses (`byLiteralKey`)
 *        ─literalKey (scanner)─ hit ─► analyses of another text of the same key (`byLiteralKey`)
 *        ─miss─► parse ─► analyse ─► store exact (+ literal key if every literal is proven irrelevant)
 */
import type { CatalogSnapshot } from '../catalog/types.ts';
import type { AnalysisCache } from './cache.ts';
import { literalKey, literalsIrrelevant, type LiteralKey } from './literal-key.ts';
import { parseStatements, type ParsedStatement } from './parser.ts';
import { effectiveSearchPath } from './resolve.ts';
import { analyseNode } from './statements.ts';
import { followTempRelations } from './temp-relations.ts';
import type { StatementAnalysis } from './types.ts';

/**
 * Analyses parsed statements (see `analyse` in index.ts). `tempRelations`: the session's
 * temporary relations; those the statements create or drop count for the statements after them.
 */
export function analyseParsed(stmts: readonly ParsedStatement[], catalog: CatalogSnapshot, searchPath: string[], tempRelations?: ReadonlySet<string>): StatementAnalysis[] {
  if (stmts.length === 0) return [];
  const path = effectiveSearchPath(catalog, searchPath);
  const pathListsCatalog = searchPath.some((s) => s.replace(/"/g, '').trim() === 'pg_catalog');
  const temp = new Set(tempRelations ?? []);
  const env = { catalog, path, pathListsCatalog, tempRelations: temp };
  return stmts.map((s) => {
    const a = analyseNode(s.stmt, s.text, env);
    followTempRelations(temp, a);
    return a;
  });
}

export interface CachedAnalysisOptions {
  /** The search_path part of the cache key when it is not `searchPath` itself (e.g. with temporary relations). */
  keyPath?: string[];
  /** Most parse-tree nodes (`SqlTooManyNodes`). */
  maxNodes?: number;
  tempRelations?: ReadonlySet<string>;
}

export interface CachedAnalysis {
  analyses: StatementAnalysis[];
  /**
   * Found by the literal key: the analyses (and their `text`) are another text's whose literals
   * differ only where the analysis does not read them. The caller MUST take the text itself from
   * what it was given, and analyse exactly (`exact`) where the text itself is read (reviews).
   */
  byLiteralKey: boolean;
}

/**
 * The analyses of `text` under `searchPath` on `catalog`, from the cache when it has them.
 * Throws `SqlSyntaxError` / `SqlParserFailure` as `analyse` does. `exact`: do not look up by
 * literal key (the result is this very text's analysis).
 */
export function analyseCached(cache: AnalysisCache, catalog: CatalogSnapshot, searchPath: string[], text: string, exact = false, o: CachedAnalysisOptions = {}): CachedAnalysis {
  const keyPath = o.keyPath ?? searchPath;
  const hit = cache.get(catalog, keyPath, text);
  if (hit) return { analyses: hit, byLiteralKey: false };
  let key: LiteralKey | null = null;
  if (cache.literalKeys && !exact) {
    const again = cache.aliasOf(catalog, keyPath, text);
    if (again) return { analyses: again, byLiteralKey: true };
    key = literalKey(text);
    const shared = key && cache.get(catalog, keyPath, key.key);
    if (shared) {
      cache.alias(catalog, keyPath, text, shared);
      return { analyses: shared, byLiteralKey: true };
    }
  }
  const stmts = parseStatements(text, o.maxNodes);
  const analyses = cache.set(catalog, keyPath, text, analyseParsed(stmts, catalog, searchPath, o.tempRelations));
  if (key && literalsIrrelevant(stmts.map((s) => s.stmt), key)) cache.set(catalog, keyPath, key.key, analyses);
  return { analyses, byLiteralKey: false };
}
