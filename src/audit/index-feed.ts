/**
 * The index feed: what the journal holds, copied into the store that search, the console and
 * replay read (SQLite, PostgreSQL or memory), off the statement's path.
 *
 * Records written to the journal are handed over here and appended to the store in batches
 * (one append at a time, gathered for FEED_DELAY_MS, so that a busy gateway sends its writer
 * thread a few large messages a second rather than one per statement). The SQLite store runs its
 * appends on its writer thread, so the inserts and their five indexes never cost the event loop.
 * Nobody waits for the index: when the store cannot take records (full, unreachable), the feed
 * drops what it holds in memory and, every second, catches up by reading the journal from the
 * store's last seq. The same catch-up runs at open, so after a crash or restart the index gets
 * whatever the journal holds beyond it.
 */
import type { Logger } from '../log.ts';
import type { AuditStore } from '../store/audit-store.ts';
import type { StoredRecord } from '../store/record.ts';
import type { Journal } from './journal.ts';

/** Most records held in memory for the index before the feed falls back to reading the journal. */
const MAX_QUEUE = 50_000;
/** Most records in one store append. */
const MAX_BATCH = 5000;
const RETRY_MS = 1000;
/** Retries back off to this: each catch-up attempt reads journal segments. */
const MAX_RETRY_MS = 30_000;
/**
 * How long records gather before they go to the index (a message to the writer thread costs ~20 µs
 * whatever its size). At rest, FEED_DELAY_MS. When the last append was busy (BUSY_BATCH records or
 * more), BUSY_FEED_DELAY_MS: each SQLite commit writes every b-tree page it touched whatever the
 * number of rows on it, so fewer, larger commits cost the writer thread (which shares the cores
 * with the event loop) much less per record.
 */
const FEED_DELAY_MS = 10;
const BUSY_FEED_DELAY_MS = 100;
const BUSY_BATCH = 50;

export class IndexFeed {
  readonly #store: AuditStore;
  readonly #journal: Journal;
  readonly #instance: string;
  readonly #logger: Logger;
  #queue: StoredRecord[] = [];
  #running: Promise<void> | null = null;
  /** The journal holds records the queue does not: the next run reads them from the journal. */
  #behind = true;
  #failure: string | null = null;
  #failures = 0;
  #retry: NodeJS.Timeout | null = null;
  #soon: NodeJS.Timeout | null = null;
  #closed = false;
  /** The highest seq known to be in the index. */
  indexed = 0;
  /** Store appends done (tests, metrics). */
  appends = 0;
  /** Records in the last append: how busy the gateway is. */
  #lastBatch = 0;

  constructor(store: AuditStore, journal: Journal, instance: string, logger: Logger) {
    this.#store = store;
    this.#journal = journal;
    this.#instance = instance;
    this.#logger = logger;
  }

  /** Bring the index up to the journal now; rejects when the store cannot take records. */
  async catchUp(): Promise<void> {
    await this.#kick();
    if (this.#failure) throw new Error(this.#failure);
  }

  /** Records just written to the journal. */
  push(records: StoredRecord[]): void {
    if (this.#closed) return;
    if (!this.#behind) {
      for (const r of records) this.#queue.push(r);
      if (this.#queue.length > MAX_QUEUE) {
        this.#queue = [];
        this.#behind = true;
      }
    }
    if (!this.#running && !this.#retry) this.#later();
  }

  #later(): void {
    if (this.#soon) return;
    if (this.#behind || this.#queue.length >= MAX_BATCH) {
      void this.#kick();
      return;
    }
    this.#soon = setTimeout(
      () => {
        this.#soon = null;
        void this.#kick();
      },
      this.#lastBatch >= BUSY_BATCH ? BUSY_FEED_DELAY_MS : FEED_DELAY_MS,
    );
    this.#soon.unref();
  }

  /** Wait until the index holds everything the journal did when called (or the store fails). */
  async flush(): Promise<void> {
    const want = this.#journal.head()?.seq ?? 0;
    for (let i = 0; i < 1000 && this.indexed < want; i++) {
      if (this.#running) await this.#running;
      else if (this.#failure && this.#retry) return;
      else await this.#kick();
      if (this.#failure) return;
    }
  }

  /** Whether the index is keeping up, and why not. */
  status(): { current: boolean; lag: number; reason?: string } {
    const lag = Math.max(0, (this.#journal.head()?.seq ?? 0) - this.indexed);
    return this.#failure ? { current: false, lag, reason: `the audit index cannot write: ${this.#failure}` } : { current: lag === 0, lag };
  }

  close(): void {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    if (this.#soon) clearTimeout(this.#soon);
    this.#retry = null;
    this.#soon = null;
  }

  #kick(): Promise<void> {
    if (this.#running) return this.#running;
    if (this.#soon) {
      clearTimeout(this.#soon);
      this.#soon = null;
    }
    if (this.#retry) {
      clearTimeout(this.#retry);
      this.#retry = null;
    }
    const run = this.#run().finally(() => {
      this.#running = null;
      if (this.#closed) return;
      if (this.#failure) {
        this.#retry = setTimeout(
          () => {
            this.#retry = null;
            void this.#kick();
          },
          Math.min(MAX_RETRY_MS, RETRY_MS * 2 ** Math.min(this.#failures - 1, 5)),
        );
        this.#retry.unref();
      } else if (this.#queue.length || this.#behind) this.#later();
    });
    this.#running = run;
    return run;
  }

  async #run(): Promise<void> {
    try {
      if (this.#behind) await this.#fromJournal();
      while (this.#queue.length) {
        const batch = this.#queue.length > MAX_BATCH ? this.#queue.splice(0, MAX_BATCH) : this.#queue.splice(0);
        const fresh = batch[0].seq > this.indexed ? batch : batch.filter((r) => r.seq > this.indexed);
        if (fresh.length) await this.#append(fresh);
      }
      if (this.#failure) this.#logger.info({ store: this.#store.location }, 'audit index writing again: it has caught up with the journal');
      this.#failure = null;
      this.#failures = 0;
    } catch (err) {
      this.#failures++;
      if (!this.#failure) this.#logger.error({ store: this.#store.location, err: (err as Error).message }, 'audit index write failed: the journal keeps the records and the index catches up when the store is back');
      this.#failure = err instanceof Error ? err.message : String(err);
      this.#queue = [];
      this.#behind = true;
    }
  }

  /** Append to the index what the journal holds beyond the index's last record. */
  async #fromJournal(): Promise<void> {
    // The store may have committed a batch before failing to say so: continue from what it holds.
    this.indexed = (await this.#store.head(this.#instance))?.seq ?? 0;
    for (;;) {
      const from = this.indexed;
      for await (const page of this.#journal.read(this.indexed)) {
        const fresh = page.filter((r) => r.seq > this.indexed);
        for (let i = 0; i < fresh.length; i += MAX_BATCH) await this.#append(fresh.slice(i, i + MAX_BATCH));
      }
      // Everything the journal held when this pass read it is in. If nothing was written since,
      // the feed follows the journal from memory again (pushes queue from this same turn on).
      const head = this.#journal.head()?.seq ?? 0;
      if (head <= this.indexed) {
        this.#queue = [];
        this.#behind = false;
        return;
      }
      if (this.indexed === from) throw new Error(`the audit journal cannot be read beyond seq ${from} (its head is ${head}): run pgwarden audit verify`);
    }
  }

  async #append(records: StoredRecord[]): Promise<void> {
    await this.#store.append(records);
    this.appends++;
    this.#lastBatch = records.length;
    this.indexed = records[records.length - 1].seq;
  }
}
