/**
 * One SIEM exporter: delivers this instance's chain from the audit store to a receiver, at least
 * once, in seq order, with the head checkpoints after the records they cover.
 *
 * Data flow: the writer announces commits (`write`, only the highest seq is kept) and checkpoints
 * (`checkpoint`, kept in the cursor file until delivered); the store is also polled, so a writer
 * that does not announce is followed too. The loop reads from the store after the last seq sent
 * (`AuditStore.readAfter`), builds a batch (records, with the checkpoints they reach, within
 * `max_records` and `max_bytes`), and sends it; up to the transport's window of batches are on
 * their way at once. Acknowledgements are taken in order: each moves the durable cursor (written
 * to its file before the next is taken). A failure takes the read position back to the cursor, and
 * the loop waits (exponential, capped, jittered) before it sends again from there. So a record is
 * never skipped, and a record sent twice carries the same id both times.
 *
 * Records the store no longer holds when the exporter gets to them (deleted by retention before
 * they could be exported, or missing for longer than GAP_GRACE_MS) are reported to the receiver as
 * a `gap` item and in the log, never silently passed over.
 */
import type { Logger } from '../../log.ts';
import type { AuditStore } from '../../store/audit-store.ts';
import type { StoredRecord } from '../chain.ts';
import type { Checkpoint } from '../checkpoint.ts';
import type { RecordSink } from '../sinks.ts';
import { retryDelay } from './backoff.ts';
import { readCursor, writeCursor, type CursorState } from './cursor.ts';
import { checkpointItem, gapItem, itemSeq, recordItem, type ExportItem } from './messages.ts';
import type { Transport } from './transport.ts';

export interface ExporterOptions {
  name: string;
  batch: { max_records: number; max_bytes: number; interval: number };
  retry: { initial: number; max: number };
  poll: number;
  shutdown_grace: number;
  from: 'oldest' | 'now';
}

export interface ExporterDeps {
  store: AuditStore;
  instance: string;
  logger: Logger;
  cursorPath: string;
  transport: Transport;
  random?: () => number;
}

/** For metrics and the admin: how far behind an exporter is and how it fares. */
export interface ExporterStatus {
  name: string;
  kind: 'syslog' | 'http';
  target: string;
  instance: string;
  /** Last seq the receiver acknowledged (the durable cursor). */
  cursor: number;
  /** Last seq known to be in the store. */
  head: number;
  /** Records behind: head − cursor. */
  lag: number;
  /** Checkpoints waiting to be delivered. */
  pendingCheckpoints: number;
  /** Items (records, checkpoints, gaps) acknowledged since the gateway started. */
  delivered: number;
  /** Failed deliveries (batches) since the gateway started. */
  failures: number;
  /** Records reported to the receiver as a gap (not in the store when their turn came). */
  skipped: number;
  /** The last delivery failed and no batch has been acknowledged since. */
  failing: boolean;
  lastError?: string;
  /** Epoch ms of the last acknowledged batch. */
  lastDeliveryAt?: number;
}

/** How long a gap no retention explains may stay before it is reported as missing records. */
export const GAP_GRACE_MS = 30_000;
/** Most checkpoints kept while the receiver is away; the oldest go first (the newest covers more). */
const MAX_PENDING_CHECKPOINTS = 10_000;

interface InFlight {
  done: Promise<Error | null>;
  lastSeq: number;
  checkpoints: Checkpoint[];
  items: number;
  /** Records reported as a gap in it. */
  skipped: number;
}

export class Exporter implements RecordSink {
  readonly #o: ExporterOptions;
  readonly #d: ExporterDeps;
  readonly #log: Logger;
  /** Other instances' cursors found in the file, kept as they are. */
  #others: CursorState['instances'] = {};
  #acked = 0;
  #sent = 0;
  #head = 0;
  #pending: Checkpoint[] = [];
  readonly #sentCheckpoints = new Set<Checkpoint>();
  readonly #inflight: InFlight[] = [];
  readonly #encoded = new WeakMap<ExportItem, Buffer>();
  /** When the oldest unsent record was announced (the batch interval counts from it). */
  #dueAt: number | null = null;
  #gapSeen: { after: number; since: number } | null = null;
  #attempt = 0;
  #delivered = 0;
  #failures = 0;
  #skipped = 0;
  #lastError: string | undefined;
  #lastDeliveryAt: number | undefined;
  #started = false;
  #draining = false;
  #stopped = false;
  #loop: Promise<void> | null = null;
  #wake: (() => void) | null = null;

  constructor(o: ExporterOptions, d: ExporterDeps) {
    this.#o = o;
    this.#d = d;
    this.#log = d.logger.child({ exporter: o.name, target: d.transport.target });
  }

  /** Load the cursor (or place a new one), then start delivering. */
  async start(): Promise<void> {
    const loaded = readCursor(this.#d.cursorPath);
    const { store, instance } = this.#d;
    const head = (await store.head(instance))?.seq ?? 0;
    this.#head = head;
    if (loaded.state) {
      const { [instance]: mine, ...others } = loaded.state.instances;
      this.#others = others;
      this.#pending = loaded.state.checkpoints.filter((c) => c.instance === instance);
      this.#acked = mine?.seq ?? (await this.#startSeq(head));
      if (this.#acked > head) {
        // Records that were exported are gone from the store (a new store, or its tail was cut):
        // the seqs after its head will be given to new records, which must not be passed over.
        this.#log.error({ cursor: this.#acked, head }, 'SIEM export cursor is past the end of the audit chain: the store lost exported records; exporting from its head');
        this.#acked = head;
        // Checkpoints of records the store no longer holds would vouch for other records.
        this.#pending = this.#pending.filter((c) => c.seq <= head);
      }
    } else {
      if (loaded.problem) this.#log.error({ problem: loaded.problem }, 'SIEM export cursor unreadable: exporting again from the oldest record (duplicates carry the same ids)');
      this.#acked = loaded.problem ? ((await store.anchor(instance))?.seq ?? 0) : await this.#startSeq(head);
      this.#save();
    }
    this.#sent = this.#acked;
    this.#started = true;
    if (this.#head > this.#acked || this.#pending.length) this.#dueAt = Date.now();
    this.#loop = this.#run().catch((err) => this.#log.error({ err: (err as Error).message }, 'SIEM exporter stopped'));
  }

  async #startSeq(head: number): Promise<number> {
    if (this.#o.from === 'now') return head;
    return (await this.#d.store.anchor(this.#d.instance))?.seq ?? 0;
  }

  /** A commit: only its highest seq matters (the records are read back from the store). */
  write(records: readonly StoredRecord[]): void {
    let max = 0;
    for (const r of records) if (r.instance === this.#d.instance && r.seq > max) max = r.seq;
    this.#announce(max);
  }

  checkpoint(c: Checkpoint): void {
    if (c.instance !== this.#d.instance || this.#stopped) return;
    this.#pending.push(c);
    if (this.#pending.length > MAX_PENDING_CHECKPOINTS) {
      const dropped = this.#pending.findIndex((p) => !this.#sentCheckpoints.has(p));
      if (dropped >= 0) this.#pending.splice(dropped, 1);
      this.#log.error('SIEM export: too many undelivered checkpoints; the oldest was dropped');
    }
    // Not in the store: it must outlive a restart on its own.
    if (this.#started) this.#save();
    this.#announce(c.seq);
  }

  #announce(seq: number): void {
    if (seq > this.#head) this.#head = seq;
    this.#dueAt ??= Date.now();
    this.#wake?.();
  }

  status(): ExporterStatus {
    const t = this.#d.transport;
    return {
      name: this.#o.name,
      kind: t.kind,
      target: t.target,
      instance: this.#d.instance,
      cursor: this.#acked,
      head: this.#head,
      lag: Math.max(0, this.#head - this.#acked),
      pendingCheckpoints: this.#pending.length,
      delivered: this.#delivered,
      failures: this.#failures,
      skipped: this.#skipped,
      failing: this.#attempt > 0,
      ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }),
      ...(this.#lastDeliveryAt === undefined ? {} : { lastDeliveryAt: this.#lastDeliveryAt }),
    };
  }

  /**
   * Deliver what is left for at most `shutdown_grace` (not while the receiver is failing), then
   * stop and save the cursor. Records not delivered by then go after the next start.
   */
  async close(): Promise<void> {
    if (this.#stopped) return;
    this.#draining = true;
    this.#wake?.();
    if (this.#loop) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.#loop, new Promise((r) => (timer = setTimeout(r, this.#o.shutdown_grace)))]);
      clearTimeout(timer);
    }
    this.#stopped = true;
    this.#d.transport.close();
    this.#wake?.();
    await this.#loop;
    if (this.#started) this.#save();
  }

  #save(): void {
    try {
      writeCursor(this.#d.cursorPath, { instances: { ...this.#others, [this.#d.instance]: { seq: this.#acked } }, checkpoints: this.#pending });
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'SIEM export cursor could not be saved: records may be sent again after a restart');
    }
  }

  /** Nothing to send now: every known record is sent, and every checkpoint they reach. */
  #caughtUp(): boolean {
    return this.#sent >= this.#head && this.#pending.every((c) => this.#sentCheckpoints.has(c) || c.seq > this.#head);
  }

  /** Wait at most `ms`, or until an announcement (a backoff: until shutdown begins). */
  #sleep(ms: number, wakeable = true): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, ms));
      this.#wake = () => {
        if (!wakeable && !this.#draining && !this.#stopped) return;
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => (this.#wake = null));
  }

  async #run(): Promise<void> {
    let lastPoll = Date.now();
    while (!this.#stopped) {
      if (this.#draining && this.#inflight.length === 0 && (this.#caughtUp() || this.#attempt > 0)) return;
      if (Date.now() - lastPoll >= this.#o.poll) {
        lastPoll = Date.now();
        try {
          const h = (await this.#d.store.head(this.#d.instance))?.seq ?? 0;
          if (h > this.#sent) this.#announce(h);
        } catch {
          // A store that cannot be read now is noticed by the next read.
        }
      }
      // Fill the window.
      if (this.#inflight.length < this.#d.transport.window && !this.#caughtUp()) {
        const full = this.#head - this.#sent >= this.#o.batch.max_records;
        const due = this.#dueAt === null || Date.now() >= this.#dueAt + this.#o.batch.interval;
        if (full || due || this.#draining) {
          let batch: ExportItem[];
          try {
            batch = await this.#nextBatch();
          } catch (err) {
            await this.#failed(new Error(`cannot read the audit store: ${(err as Error).message}`));
            continue;
          }
          if (this.#stopped) return;
          if (batch.length) {
            this.#dispatch(batch);
            continue;
          }
          // Nothing readable yet (announced but not visible, or a gap in its grace time).
          if (this.#inflight.length === 0) {
            await this.#sleep(Math.min(this.#o.poll, 250));
            continue;
          }
        } else if (this.#inflight.length === 0) {
          await this.#sleep((this.#dueAt as number) + this.#o.batch.interval - Date.now());
          continue;
        }
      }
      if (this.#inflight.length) {
        const first = this.#inflight[0];
        const err = await first.done;
        if (this.#stopped) return;
        if (err) await this.#failed(err);
        else this.#acknowledge(first);
        continue;
      }
      await this.#sleep(this.#o.poll - (Date.now() - lastPoll));
    }
  }

  #dispatch(batch: ExportItem[]): void {
    const t = this.#d.transport;
    const checkpoints: Checkpoint[] = [];
    let lastSeq = this.#sent;
    let skipped = 0;
    for (const item of batch) {
      if (item.kind === 'gap') skipped += item.gap.to - item.gap.from + 1;
      if (item.kind === 'checkpoint') {
        checkpoints.push(item.checkpoint);
        this.#sentCheckpoints.add(item.checkpoint);
      } else lastSeq = Math.max(lastSeq, itemSeq(item));
    }
    this.#sent = lastSeq;
    const done = t.send(batch.map((i) => this.#encoded.get(i) ?? t.encode(i))).then(
      () => null,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
    this.#inflight.push({ done, lastSeq, checkpoints, items: batch.length, skipped });
    if (this.#caughtUp()) this.#dueAt = null;
  }

  #acknowledge(b: InFlight): void {
    this.#inflight.shift();
    this.#acked = Math.max(this.#acked, b.lastSeq);
    if (b.checkpoints.length) {
      const gone = new Set(b.checkpoints);
      this.#pending = this.#pending.filter((c) => !gone.has(c));
      for (const c of b.checkpoints) this.#sentCheckpoints.delete(c);
    }
    this.#delivered += b.items;
    this.#skipped += b.skipped;
    this.#lastDeliveryAt = Date.now();
    if (this.#attempt > 0) this.#log.info({ cursor: this.#acked }, 'SIEM export delivering again');
    this.#attempt = 0;
    this.#save();
  }

  /** A batch failed: wait for the rest of the window, go back to the cursor, back off. */
  async #failed(err: Error): Promise<void> {
    const results = await Promise.all(this.#inflight.map((b) => b.done));
    // Batches acknowledged before the first failure still count (a failed store read comes with
    // batches that may all have gone through).
    for (const r of results) {
      if (r !== null) break;
      this.#acknowledge(this.#inflight[0]);
    }
    this.#inflight.length = 0;
    this.#sent = this.#acked;
    this.#sentCheckpoints.clear();
    this.#failures++;
    this.#attempt++;
    this.#lastError = err.message;
    if (this.#attempt === 1) this.#log.error({ err: err.message, cursor: this.#acked }, 'SIEM export failed: retrying from the cursor');
    if (this.#stopped || this.#draining) {
      // At shutdown a failing receiver is not waited for: the cursor is saved and the next start resumes.
      if (this.#draining) this.#stopped = true;
      return;
    }
    await this.#sleep(retryDelay(this.#attempt, this.#o.retry.initial, this.#o.retry.max, this.#d.random), false);
  }

  /** The next batch after the read position: records in seq order, checkpoints after the records they cover. */
  async #nextBatch(): Promise<ExportItem[]> {
    const { max_records: maxRecords, max_bytes: maxBytes } = this.#o.batch;
    const items: ExportItem[] = [];
    let expected = this.#sent + 1;
    const records = expected <= this.#head ? await this.#d.store.readAfter(this.#d.instance, this.#sent, maxRecords) : [];
    if (records.length && records[0].seq > expected) {
      const gap = await this.#gap(expected, records[0].seq - 1);
      if (!gap) return this.#checkpointsUpTo(this.#sent, [], maxRecords);
      items.push(gap);
      expected = records[0].seq;
    } else if (!records.length && expected <= this.#head) {
      // Nothing after the position although the chain is longer: deleted up to the anchor, or
      // not visible yet.
      const anchor = await this.#d.store.anchor(this.#d.instance);
      const gap = await this.#gap(expected, anchor && anchor.seq >= expected ? anchor.seq : this.#head);
      if (gap) items.push(gap);
    }
    this.#checkpointsUpTo(items.length ? itemSeq(items[items.length - 1]) : this.#sent, items, maxRecords);
    let bytes = 0;
    for (const r of records) {
      if (r.seq !== expected || items.length >= maxRecords) break;
      const item = recordItem(r);
      const encoded = this.#d.transport.encode(item);
      const size = encoded.length;
      if (items.length > 0 && bytes + size > maxBytes) break;
      // Encoded once: the batch is sent with these bytes.
      this.#encoded.set(item, encoded);
      bytes += size;
      items.push(item);
      expected++;
      this.#checkpointsUpTo(r.seq, items, maxRecords + 16);
    }
    if (records.length < maxRecords && expected - 1 > this.#head) this.#head = expected - 1;
    return items;
  }

  /** Append the checkpoints not sent yet whose seq is at most `seq`. */
  #checkpointsUpTo(seq: number, items: ExportItem[], max: number): ExportItem[] {
    for (const c of this.#pending) {
      if (items.length >= max) break;
      if (c.seq <= seq && !this.#sentCheckpoints.has(c) && !items.some((i) => i.kind === 'checkpoint' && i.checkpoint === c)) items.push(checkpointItem(c));
    }
    return items;
  }

  /**
   * Records `from`..`to` are not in the store. Deleted by retention (the chain's anchor is at or
   * past them): reported at once. Otherwise they may not be visible yet, so they are waited for
   * GAP_GRACE_MS before being reported as missing. Null: not reported yet.
   */
  async #gap(from: number, to: number): Promise<ExportItem | null> {
    const anchor = await this.#d.store.anchor(this.#d.instance);
    let reason: string;
    if (anchor && anchor.seq >= to) reason = 'deleted by retention before they were exported';
    else {
      const now = Date.now();
      if (!this.#gapSeen || this.#gapSeen.after !== from - 1) this.#gapSeen = { after: from - 1, since: now };
      if (now - this.#gapSeen.since < GAP_GRACE_MS) return null;
      reason = 'missing from the audit store';
    }
    this.#gapSeen = null;
    this.#log.error({ instance: this.#d.instance, from, to, reason }, 'SIEM export: audit records cannot be exported; a gap is reported to the receiver');
    return gapItem({ instance: this.#d.instance, from, to, reason, at: Date.now() });
  }
}
