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
 *
 * A reload asked for while one is running gets the one after it: the running one may have read
 * the catalog before the caller's change committed. Loads after DDL are cheap: the connection is
 * kept open between loads (closed after `keepConnectionMs` idle), and the built-in objects are
 * read again only when their fingerprint changed (load.ts); the timer's reload reads everything.
 */
import type { Logger } from '../log.ts';
import { loadCatalog, type BuiltinCache, type CatalogQueryable } from './load.ts';
import { trackRenames } from './renames.ts';
import type { CatalogSnapshot } from './types.ts';

export interface CatalogServiceOptions {
  name: string;
  logger: Logger;
  /** Open a connection for loads; it is closed after `keepConnectionMs` without one. */
  connect: () => Promise<CatalogQueryable & { close(): Promise<void> }>;
  refreshIntervalMs: number;
  /** How long the connection stays open after a load (default 30 s; 0 closes it at once). */
  keepConnectionMs?: number;
}

type CatalogConnection = CatalogQueryable & { close(): Promise<void> };

export class CatalogService {
  private snapshot: CatalogSnapshot | null = null;
  private version = 0;
  private loading: Promise<CatalogSnapshot> | null = null;
  /** The load queued behind the running one (shared by every caller that asked meanwhile). */
  private queued: Promise<CatalogSnapshot> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private db: CatalogConnection | null = null;
  private dbIdle: NodeJS.Timeout | null = null;
  private readonly builtins: BuiltinCache = {};
  private stopped = false;
  private renew = false;
  private scheduled: Promise<CatalogSnapshot | null> | null = null;
  private lastStartedAt = 0;

  constructor(private readonly o: CatalogServiceOptions) {}

  /** Load the first snapshot; rejects when the upstream cannot be read. */
  start(): Promise<CatalogSnapshot> {
    this.timer = setInterval(() => void this.reload({ full: true }).catch(() => {}), this.o.refreshIntervalMs);
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

  /**
   * A load that starts now, or after the running one when one is running (requests made meanwhile
   * share it). `full` reads the built-in objects again whatever their fingerprint, on a new
   * connection: a new session's defaults (search_path stored by ALTER ROLE … SET) are read again.
   */
  reload(options: { full?: boolean } = {}): Promise<CatalogSnapshot> {
    if (options.full) {
      this.builtins.part = undefined;
      this.renew = true;
    }
    if (!this.loading) {
      this.loading = this.load().finally(() => {
        this.loading = null;
      });
      return this.loading;
    }
    this.queued ??= this.loading
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        return this.reload();
      });
    return this.queued;
  }

  private async load(): Promise<CatalogSnapshot> {
    const started = Date.now();
    this.lastStartedAt = started;
    if (this.renew) {
      this.renew = false;
      this.dropConnection();
    }
    if (this.dbIdle) clearTimeout(this.dbIdle);
    try {
      let s: CatalogSnapshot;
      const kept = this.db;
      try {
        this.db ??= await this.o.connect();
        s = await loadCatalog(this.db, ++this.version, this.builtins);
      } catch (err) {
        this.dropConnection();
        // A kept connection may have been closed by the server meanwhile: one more try on a new one.
        if (!kept) throw err;
        this.db = await this.o.connect();
        s = await loadCatalog(this.db, ++this.version, this.builtins);
      }
      // Rules are keyed by name: carry every name an object has had into the new snapshot.
      s.formerNames = trackRenames(this.snapshot, s);
      this.snapshot = s;
      this.o.logger.debug({ upstream: this.o.name, relations: s.relations.size, functions: s.functions.size, ms: Date.now() - started }, 'catalog loaded');
      return s;
    } catch (err) {
      this.dropConnection();
      this.o.logger.warn({ upstream: this.o.name, err: (err as Error).message }, 'catalog load failed; keeping the previous one');
      throw err;
    } finally {
      if (this.stopped) this.dropConnection();
      else if (this.db) {
        this.dbIdle = setTimeout(() => this.dropConnection(), this.o.keepConnectionMs ?? 30_000);
        this.dbIdle.unref();
      }
    }
  }

  private dropConnection(): void {
    if (this.dbIdle) clearTimeout(this.dbIdle);
    this.dbIdle = null;
    void this.db?.close().catch(() => {});
    this.db = null;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.stopped = true;
    this.dropConnection();
  }
}
