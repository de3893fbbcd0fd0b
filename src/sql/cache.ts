/**
 * An LRU of analyses keyed by (catalog snapshot, search_path, exact text), so a statement the
 * gateway has seen is never parsed again. Entries are deep-frozen: callers share them across
 * sessions and MUST NOT mutate them (copy instead, as `{ ...a, unsupported }` does).
 *
 * The catalog may be given as the snapshot itself or as its `version`. With a snapshot the entry
 * also remembers which snapshot it was made for, so one cache can serve several upstreams; with a
 * bare version number the caller MUST keep one cache per upstream (versions of different
 * upstreams are not distinct).
 *
 * The cache is bounded by entries and by an estimate of the bytes they take (key text, statement
 * texts, and a fixed cost per analysed item), so that long statements cannot grow it without
 * bound: the least recently used entries go first, and an entry larger than a quarter of the
 * byte budget is not kept at all.
 *
 * With `literalKeys` (the default), `analyseCached` (cached-analysis.ts) also stores an analysis
 * under its text's literal key where literal-key.ts proves that no literal value changes it, and
 * finds texts that differ from it only in those literals there. Such keys hold a NUL, which no
 * statement text does, so the two kinds of key never meet.
 */
import type { CatalogSnapshot } from '../catalog/types.ts';
import type { StatementAnalysis } from './types.ts';

/**
 * A number that names one snapshot object for as long as the process runs (0: none). Caches
 * compare it instead of holding the snapshot: a snapshot is megabytes, and entries made for it
 * may outlive many reloads of the catalog.
 */
const SNAPSHOT_IDS = new WeakMap<CatalogSnapshot, number>();
let lastSnapshotId = 0;
export function snapshotId(s: CatalogSnapshot | undefined | null): number {
  if (!s) return 0;
  let id = SNAPSHOT_IDS.get(s);
  if (id === undefined) SNAPSHOT_IDS.set(s, (id = ++lastSnapshotId));
  return id;
}

interface Entry {
  /** `snapshotId` of the snapshot it was made for (0 when keyed by a bare version). */
  catalog: number;
  value: StatementAnalysis[];
  bytes: number;
  /** The `uses` count when it last moved to the recent end. */
  used: number;
}

/** Estimated bytes of one analysis: its text (UTF-16) and a fixed cost per node and per item. */
function weigh(a: StatementAnalysis): number {
  let n = 2 * a.text.length + 512;
  n += 128 * (a.tables.length + a.columnUses.length + a.functions.length + (a.flows?.length ?? 0) + a.ddl.length + a.settings.length + a.specials.length);
  if (a.inner) n += weigh(a.inner);
  return n;
}

type CatalogKey = CatalogSnapshot | number;

export class AnalysisCache {
  private readonly map = new Map<string, Entry>();
  private total = 0;
  private uses = 0;

  constructor(
    readonly max: number,
    readonly maxBytes = 64 * 1024 * 1024,
    /** Whether texts that differ only in literals the analysis does not read share an entry. */
    readonly literalKeys = true,
  ) {
    if (!(max >= 1)) throw new RangeError('AnalysisCache max must be at least 1');
    if (!(maxBytes >= 1024)) throw new RangeError('AnalysisCache maxBytes must be at least 1024');
  }

  /** Estimated bytes held. */
  get bytes(): number {
    return this.total;
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
    if (typeof catalog !== 'number' && e.catalog !== snapshotId(catalog)) return undefined;
    // Moved to the recent end only once it has aged by a quarter of the capacity: a hot entry is
    // not deleted and re-inserted at every hit, and none is evicted while recently used.
    if (++this.uses - e.used > this.max / 4) {
      e.used = this.uses;
      this.map.delete(k);
      this.map.set(k, e);
    }
    return e.value;
  }

  /**
   * Texts last found by their literal key (`analyseCached`), each with the analyses it was found
   * with: a text sent again is then found without scanning it. Kept apart from the entries, and
   * bounded to a quarter of their number, so that a stream of texts that differ only in their
   * literals (a new number in every statement) never evicts an entry.
   */
  private readonly aliases = new Map<string, { catalog: number; value: StatementAnalysis[] }>();

  /** The analyses a text was last found with by its literal key, if it is still remembered. */
  aliasOf(catalog: CatalogKey, searchPath: readonly string[], text: string): StatementAnalysis[] | undefined {
    const e = this.aliases.get(AnalysisCache.key(catalog, searchPath, text));
    if (!e || (typeof catalog !== 'number' && e.catalog !== snapshotId(catalog))) return undefined;
    return e.value;
  }

  /** Remembers that `text` was found by its literal key with `value` (see `aliasOf`). */
  alias(catalog: CatalogKey, searchPath: readonly string[], text: string, value: StatementAnalysis[]): void {
    const k = AnalysisCache.key(catalog, searchPath, text);
    if (this.aliases.has(k) || text.length > 1024) return;
    this.aliases.set(k, { catalog: typeof catalog === 'number' ? 0 : snapshotId(catalog), value });
    if (this.aliases.size > Math.max(1, this.max >> 2)) this.aliases.delete(this.aliases.keys().next().value as string);
  }

  /** Stores (and freezes) the analyses; returns them for `get(…) ?? set(…, analyse(…))`. */
  set(catalog: CatalogKey, searchPath: readonly string[], text: string, value: StatementAnalysis[]): StatementAnalysis[] {
    const k = AnalysisCache.key(catalog, searchPath, text);
    this.drop(k);
    let bytes = 2 * k.length + 64;
    for (const a of value) bytes += weigh(a);
    deepFreeze(value);
    if (bytes > this.maxBytes / 4) return value;
    this.map.set(k, { catalog: typeof catalog === 'number' ? 0 : snapshotId(catalog), value, bytes, used: ++this.uses });
    this.total += bytes;
    while (this.map.size > this.max || this.total > this.maxBytes) this.drop(this.map.keys().next().value as string);
    return value;
  }

  private drop(k: string): void {
    const e = this.map.get(k);
    if (!e) return;
    this.map.delete(k);
    this.total -= e.bytes;
  }

  clear(): void {
    this.map.clear();
    this.aliases.clear();
    this.total = 0;
  }
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}
