/**
 * An LRU of analyses keyed by (catalog snapshot, search_path, exact text), so a statement the
 * gateway has seen is never parsed again. Entries are deep-frozen: callers share them across
 * sessions and MUST NOT mutate them (copy instead, as `{ ...a, unsupported }` does).
 *
 * The catalog may be given as the snapshot itself or as its `version`. With a snapshot the entry
 * also remembers which snapshot it was made for, so one cache can serve several upstreams; with a
 * bare version number the caller MUST keep one cache per upstream (versions of different
 * upstreams are not distinct).
 */
import type { CatalogSnapshot } from '../catalog/types.ts';
import type { StatementAnalysis } from './types.ts';

interface Entry {
  catalog: CatalogSnapshot | undefined;
  value: StatementAnalysis[];
}

type CatalogKey = CatalogSnapshot | number;

export class AnalysisCache {
  private readonly map = new Map<string, Entry>();

  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError('AnalysisCache max must be at least 1');
  }

  get size(): number {
    return this.map.size;
  }

  private static key(catalog: CatalogKey, searchPath: readonly string[], text: string): string {
    const version = typeof catalog === 'number' ? catalog : catalog.version;
    return `${version}\u0000${searchPath.join('\u0001')}\u0000${text}`;
  }

  /** The cached analyses, or undefined (a hit becomes the most recently used entry). */
  get(catalog: CatalogKey, searchPath: readonly string[], text: string): StatementAnalysis[] | undefined {
    const k = AnalysisCache.key(catalog, searchPath, text);
    const e = this.map.get(k);
    if (!e) return undefined;
    if (typeof catalog !== 'number' && e.catalog !== catalog) return undefined;
    this.map.delete(k);
    this.map.set(k, e);
    return e.value;
  }

  /** Stores (and freezes) the analyses; returns them for `get(…) ?? set(…, analyse(…))`. */
  set(catalog: CatalogKey, searchPath: readonly string[], text: string, value: StatementAnalysis[]): StatementAnalysis[] {
    const k = AnalysisCache.key(catalog, searchPath, text);
    this.map.delete(k);
    this.map.set(k, { catalog: typeof catalog === 'number' ? undefined : catalog, value: deepFreeze(value) });
    while (this.map.size > this.max) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
    }
    return value;
  }

  clear(): void {
    this.map.clear();
  }
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}
