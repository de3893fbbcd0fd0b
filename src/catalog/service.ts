/**
 * The gateway's view of one upstream's schema, kept fresh: loaded at start, reloaded on a timer
 * and soon after DDL passes through. Readers get the current immutable snapshot; a statement that
 * follows DDL in the same session waits for the reload (`fresh()`), so `CREATE TABLE t; INSERT
 * INTO t …` is analysed against a catalog that knows `t`.
 *
 * Each new snapshot carries the former names of renamed objects (renames.ts), so rules written
 * with an object's old name keep governing it.
 *
 * A failed reload keeps the previous snapshot and is retried on the next trigger; it never makes
 * the gateway forget what it knew.
 */
import type { Logger } from '../log.ts';
import { loadCatalog, type CatalogQueryable } from './load.ts';
import { trackRenames } from './renames.ts';
import type { CatalogSnapshot } from './types.ts';

export interface CatalogServiceOptions {
  name: string;
  logger: Logger;
  /** Open a connection for one load; it is closed afterwards. */
  connect: () => Promise<CatalogQueryable & { close(): Promise<void> }>;
  refreshIntervalMs: number;
}

export class CatalogService {
  private snapshot: CatalogSnapshot | null = null;
  private version = 0;
  private loading: Promise<CatalogSnapshot> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private scheduled: Promise<CatalogSnapshot | null> | null = null;
  private lastStartedAt = 0;

  constructor(private readonly o: CatalogServiceOptions) {}

  /** Load the first snapshot; rejects when the upstream cannot be read. */
  start(): Promise<CatalogSnapshot> {
    this.timer = setInterval(() => void this.reload().catch(() => {}), this.o.refreshIntervalMs);
    this.timer.unref();
    return this.reload();
  }

  /** The current snapshot (null before the first load succeeded). */
  current(): CatalogSnapshot | null {
    return this.snapshot;
  }

  /** The snapshot once any reload in progress has finished. */
  async fresh(): Promise<CatalogSnapshot | null> {
    if (this.loading) {
      try {
        await this.loading;
      } catch {
        // keep the previous snapshot
      }
    }
    return this.snapshot;
  }

  get reloading(): boolean {
    return this.loading !== null;
  }

  /**
   * A snapshot loaded after this call was made: for a name the catalog does not know, which may
   * have been created since. Requests are batched into one reload, started at most every
   * `minGapMs`, so a client asking for unknown names again and again cannot cause a reload storm.
   */
  refreshAfterNow(minGapMs = 250): Promise<CatalogSnapshot | null> {
    if (this.scheduled) return this.scheduled;
    const scheduled = (async () => {
      // Yield first, so that `this.scheduled` is set below before it is cleared here: without
      // this, an idle catalog would clear the marker synchronously, the assignment below would
      // then leave a settled promise in it, and no on-demand reload would ever start again.
      await null;
      if (this.loading) await this.loading.catch(() => {});
      const wait = this.lastStartedAt + minGapMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      // From here on, new requests need a later load than this one.
      this.scheduled = null;
      return this.reload().catch(() => this.snapshot);
    })();
    this.scheduled = scheduled;
    return scheduled;
  }

  /** Reload now (coalesced: a reload requested during a load runs once more afterwards). */
  reload(): Promise<CatalogSnapshot> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = this.load().finally(() => {
      this.loading = null;
      if (this.again) {
        this.again = false;
        void this.reload().catch(() => {});
      }
    });
    return this.loading;
  }

  private async load(): Promise<CatalogSnapshot> {
    const started = Date.now();
    this.lastStartedAt = started;
    let db: Awaited<ReturnType<CatalogServiceOptions['connect']>> | null = null;
    try {
      db = await this.o.connect();
      const s = await loadCatalog(db, ++this.version);
      // Rules are keyed by name: carry every name an object has had into the new snapshot.
      s.formerNames = trackRenames(this.snapshot, s);
      this.snapshot = s;
      this.o.logger.debug({ upstream: this.o.name, relations: s.relations.size, functions: s.functions.size, ms: Date.now() - started }, 'catalog loaded');
      return s;
    } catch (err) {
      this.o.logger.warn({ upstream: this.o.name, err: (err as Error).message }, 'catalog load failed; keeping the previous one');
      throw err;
    } finally {
      await db?.close().catch(() => {});
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
