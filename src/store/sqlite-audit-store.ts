/**
 * The embedded audit store: one SQLite file in WAL mode, the index of the audit journal (search,
 * console, replay). Every write runs on a writer thread, so inserts, their indexes and any fsync
 * never cost the gateway's event loop. With `sync: normal` a commit is in the WAL when it returns
 * (it survives kill -9); with `sync: full` it is also fsynced (synchronous=FULL). The audit log
 * opens it with `normal`: the journal is the durable copy, and the index catches up from it.
 * Reads use a second connection on this thread, which WAL lets run beside the writer.
 *
 * `openSqliteAuditStore(path, { readOnly: true })` opens an existing log for the CLI, without a
 * writer thread.
 */
import { existsSync, statSync } from 'node:fs';
import { ensurePrivateFile } from '../private-files.ts';
import { lockStoreFile, type FileLock, type LockHolder } from '../file-lock.ts';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { ChainAnchor, StoredRecord } from './record.ts';
import type { RecordType } from './record.ts';
import { StoreError, type AuditQuery, type AuditStore, type StoredConsoleSession, type StoredRevocation, type StoredRow } from './audit-store.ts';
import { SQLITE_INSERT, SQLITE_SCHEMA } from './sqlite-schema.ts';

export interface SqliteStoreOptions {
  /** Open an existing log for reading only (no writer thread; appends fail; no lock taken). */
  readOnly?: boolean;
  /**
   * Lock the file for this instance (see file-lock.ts): another live holder is refused with a
   * StoreLockedError naming it. The gateway always passes one.
   */
  lock?: LockHolder;
  /**
   * Cap the file at this many pages (SQLite's `max_page_count`, 4 KiB pages): a write past it
   * fails exactly as on a full disk.
   */
  maxPageCount?: number;
  /**
   * `normal` (default): a commit is written to the WAL before it resolves, so it survives a crash
   * of the gateway process (kill -9); the OS flushes it to disk soon after. `full`: every commit
   * is also fsynced, so it survives an OS crash or power loss, at the cost of one fsync each.
   */
  sync?: 'normal' | 'full';
  /**
   * Once the write-ahead log is larger than this, it is checkpointed in full and truncated
   * (default 16 MiB). Also SQLite's `journal_size_limit`.
   */
  walLimitBytes?: number;
}

/** Default bound of the write-ahead log (see SqliteStoreOptions.walLimitBytes). */
export const DEFAULT_WAL_LIMIT = 16 * 1024 * 1024;
/** Commits between two looks at the WAL's size on the commit path (the timer looks too). */
const WAL_CHECK_COMMITS = 32;
/** …or once this many bytes of records were committed (a large group commit), whichever first. */
const WAL_CHECK_BYTES = 128 * 1024;
/** How often the WAL's size is looked at; a passive checkpoint runs every fourth look. */
const WAL_CHECK_MS = 250;

interface DbRow {
  pos: number;
  id: string;
  instance: string;
  seq: number;
  at: number;
  type: RecordType;
  session_id: string | null;
  subject: string | null;
  verdict: string | null;
  tables: string | null;
  text: string | null;
  ref: string | null;
  body: string;
  prev_hash: string;
  hash: string;
}

function fromDb(r: DbRow): StoredRow {
  return {
    pos: r.pos,
    id: r.id,
    instance: r.instance,
    seq: r.seq,
    at: r.at,
    type: r.type,
    sessionId: r.session_id,
    subject: r.subject,
    verdict: r.verdict,
    tables: r.tables,
    text: r.text,
    ref: r.ref,
    body: r.body,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; code: string; message: string };

class WriterThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #next = 1;
  #dead: Error | null = null;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (m: Reply) => {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new StoreError(`the audit store could not write: ${m.message}`, m.code));
    });
    const die = (err: Error) => {
      this.#dead ??= err;
      for (const p of this.#pending.values()) p.reject(this.#dead);
      this.#pending.clear();
    };
    worker.on('error', (err) => die(new StoreError(`the audit writer failed: ${err.message}`, 'writer_failed', { cause: err })));
    worker.on('exit', () => die(new StoreError('the audit writer has stopped', 'writer_stopped')));
  }

  static start(path: string, maxPageCount: number | undefined, sync: 'normal' | 'full' = 'normal', walLimitBytes = DEFAULT_WAL_LIMIT): Promise<WriterThread> {
    const worker = new Worker(new URL('./sqlite-writer-worker.mjs', import.meta.url), {
      workerData: { path, schema: SQLITE_SCHEMA, insertSql: SQLITE_INSERT, maxPageCount, sync, walLimitBytes },
      // The writer needs no TypeScript loader; inheriting the parent's flags would load one.
      execArgv: [],
    });
    return new Promise((resolve, reject) => {
      worker.once('message', (m: { ready: boolean; code?: string; message?: string }) => {
        if (m.ready) resolve(new WriterThread(worker));
        else reject(new StoreError(`cannot open the audit log ${path}: ${m.message}`, m.code ?? 'open_failed'));
      });
      worker.once('error', (err) => reject(new StoreError(`cannot open the audit log ${path}: ${err.message}`, 'open_failed', { cause: err })));
    });
  }

  call(
    op: 'append' | 'deleteBefore' | 'checkpoint' | 'close' | 'putRevocation' | 'deleteRevocation' | 'putConsoleSession' | 'deleteConsoleSession' | 'deleteConsoleSessionsOf', payload: Record<string, unknown> = {}): Promise<unknown> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, op, ...payload });
    });
  }

  async stop(): Promise<void> {
    if (!this.#dead) await this.call('close').catch(() => undefined);
    await this.#worker.terminate();
  }
}

export async function openSqliteAuditStore(path: string, options: SqliteStoreOptions = {}): Promise<SqliteAuditStore> {
  if (options.readOnly) {
    if (!existsSync(path)) throw new StoreError(`no audit log at ${path}`, 'not_found');
    return new SqliteAuditStore(path, new Database(path, { fileMustExist: true }), null);
  }
  try {
    ensurePrivateFile(path);
  } catch (err) {
    throw new StoreError(`cannot create the directory of the audit log ${path}: ${(err as Error).message}`, 'open_failed', { cause: err });
  }
  // Before anything writes: a second instance on this file would break the first one's chain.
  const lock = options.lock ? lockStoreFile(path, options.lock) : null;
  let writer: WriterThread;
  try {
    // The writer creates the file and its tables before the reader opens it.
    writer = await WriterThread.start(path, options.maxPageCount, options.sync, options.walLimitBytes);
  } catch (err) {
    lock?.release();
    throw err;
  }
  const store = new SqliteAuditStore(path, new Database(path, { fileMustExist: true }), writer, lock);
  store.boundWal(options.walLimitBytes ?? DEFAULT_WAL_LIMIT);
  return store;
}

export class SqliteAuditStore implements AuditStore {
  readonly kind = 'sqlite' as const;
  readonly location: string;
  readonly #db: Database.Database;
  readonly #writer: WriterThread | null;
  #checkpoints: NodeJS.Timeout | null = null;
  /** A full checkpoint is running on the writer thread. */
  #truncating: Promise<unknown> | null = null;
  /** Largest WAL seen (bytes), for tests and metrics. */
  walPeak = 0;

  readonly #lock: FileLock | null;

  constructor(path: string, db: Database.Database, writer: WriterThread | null, lock: FileLock | null = null) {
    this.location = `sqlite:${path}`;
    this.#db = db;
    this.#writer = writer;
    this.#lock = lock;
    db.pragma('busy_timeout = 5000');
  }

  async head(instance: string): Promise<{ seq: number; hash: string } | null> {
    const last = this.#db.prepare('SELECT seq, hash FROM audit_records WHERE instance = ? ORDER BY seq DESC LIMIT 1').get(instance) as { seq: number; hash: string } | undefined;
    if (last) return last;
    const a = await this.anchor(instance);
    return a ? { seq: a.seq, hash: a.hash } : null;
  }

  #walLimit = DEFAULT_WAL_LIMIT;

  /**
   * Keep the write-ahead log bounded. Passive checkpoints (every second) copy the WAL into the
   * database without stopping writers, but under continuous writes the log is never fully copied
   * at a moment no writer holds it, so SQLite never starts it over and it grows without end. So
   * when it passes `limit`, a TRUNCATE checkpoint runs on the writer thread: it waits for the
   * writer and readers in the WAL, copies everything, and empties the file; appends queue behind it.
   */
  #commitsSinceCheck = 0;
  #bytesSinceCheck = 0;

  boundWal(limit: number): void {
    this.#walLimit = limit;
    const writer = this.#writer;
    if (!writer) return;
    let ticks = 0;
    this.#checkpoints = setInterval(() => {
      if (!this.#checkWal() && ++ticks % 4 === 0) void writer.call('checkpoint', { mode: 'PASSIVE' }).catch(() => {});
    }, WAL_CHECK_MS);
    this.#checkpoints.unref();
  }

  /** Start a TRUNCATE checkpoint if the WAL is over its bound; true if one is running. */
  #checkWal(): boolean {
    if (this.#truncating) return true;
    const writer = this.#writer;
    if (!writer) return false;
    const size = statSync(this.#walPath, { throwIfNoEntry: false })?.size ?? 0;
    if (size > this.walPeak) this.walPeak = size;
    if (size <= this.#walLimit) return false;
    this.#truncating = writer
      .call('checkpoint', { mode: 'TRUNCATE' })
      .catch(() => {})
      .finally(() => (this.#truncating = null));
    return true;
  }

  get #walPath(): string {
    return `${this.location.slice('sqlite:'.length)}-wal`;
  }

  async append(records: StoredRecord[]): Promise<void> {
    if (!this.#writer) throw new StoreError('the audit log is open read-only', 'read_only');
    const rows = records.map((r) => [r.id, r.instance, r.seq, r.at, r.type, r.sessionId, r.subject, r.verdict, r.tables, r.text, r.ref, r.body, r.prevHash, r.hash]);
    await this.#writer.call('append', { rows });
    this.#checkWalSoon(records);
  }

  /**
   * A commit adds pages to the WAL (about 16 KiB for a small one, more for a large group commit):
   * the size is looked at every WAL_CHECK_COMMITS commits or WAL_CHECK_BYTES of records, and by
   * the timer, not after every commit, so the stat call stays off the per-statement path.
   */
  #checkWalSoon(records: StoredRecord[]): void {
    for (const r of records) this.#bytesSinceCheck += r.body.length;
    if (++this.#commitsSinceCheck < WAL_CHECK_COMMITS && this.#bytesSinceCheck < WAL_CHECK_BYTES) return;
    this.#commitsSinceCheck = 0;
    this.#bytesSinceCheck = 0;
    this.#checkWal();
  }

  async search(q: AuditQuery): Promise<StoredRow[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (sql: string, ...values: unknown[]) => {
      where.push(sql);
      args.push(...values);
    };
    if (q.identity !== undefined) add('subject = ?', q.identity);
    if (q.since !== undefined) add('at >= ?', q.since);
    if (q.until !== undefined) add('at < ?', q.until);
    if (q.table !== undefined) {
      if (q.table.includes('.')) add("tables LIKE ? ESCAPE '\\'", `% ${likeEscape(q.table)} %`);
      else add("(tables LIKE ? ESCAPE '\\' OR tables LIKE ? ESCAPE '\\')", `%.${likeEscape(q.table)} %`, `% ${likeEscape(q.table)} %`);
    }
    if (q.decision !== undefined) add('verdict = ?', q.decision);
    // instr(lower()) rather than LIKE: no escaping, and the same meaning as in the other stores.
    if (q.text !== undefined) add('instr(lower(text), ?) > 0', q.text.toLowerCase());
    if (q.sessionId !== undefined) add('session_id = ?', q.sessionId);
    if (q.instance !== undefined) add('instance = ?', q.instance);
    if (q.types !== undefined) add(`type IN (${q.types.map(() => '?').join(', ')})`, ...q.types);
    if (q.afterPos !== undefined) add('pos > ?', q.afterPos);
    const limit = q.limit ?? 1000;
    const sql = `SELECT * FROM audit_records ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY pos ${q.newest ? 'DESC' : 'ASC'} LIMIT ?`;
    const rows = (this.#db.prepare(sql).all(...args, limit) as DbRow[]).map(fromDb);
    return q.newest ? rows.reverse() : rows;
  }

  async get(id: string): Promise<StoredRow | null> {
    const r = this.#db.prepare('SELECT * FROM audit_records WHERE id = ?').get(id) as DbRow | undefined;
    return r ? fromDb(r) : null;
  }

  async outcomes(ids: string[]): Promise<Map<string, StoredRow>> {
    const out = new Map<string, StoredRow>();
    const stmt = this.#db.prepare("SELECT * FROM audit_records WHERE ref = ? AND type = 'statement_end'");
    for (const id of ids) {
      const r = stmt.get(id) as DbRow | undefined;
      if (r) out.set(id, fromDb(r));
    }
    return out;
  }

  async instances(): Promise<string[]> {
    const rows = this.#db.prepare('SELECT instance FROM audit_records UNION SELECT instance FROM audit_anchors ORDER BY 1').all() as { instance: string }[];
    return rows.map((r) => r.instance);
  }

  async anchor(instance: string): Promise<ChainAnchor | null> {
    return (this.#db.prepare('SELECT seq, hash, at FROM audit_anchors WHERE instance = ?').get(instance) as ChainAnchor | undefined) ?? null;
  }

  async *scan(instance: string, pageSize = 5000): AsyncIterable<StoredRecord[]> {
    const stmt = this.#db.prepare('SELECT * FROM audit_records WHERE instance = ? AND seq > ? ORDER BY seq LIMIT ?');
    let after = -1;
    for (;;) {
      const page = (stmt.all(instance, after, pageSize) as DbRow[]).map(fromDb);
      if (page.length === 0) return;
      yield page;
      after = page[page.length - 1].seq;
    }
  }

  async readAfter(instance: string, afterSeq: number, limit: number): Promise<StoredRecord[]> {
    // The (instance, seq) index serves this as a range scan.
    return (this.#db.prepare('SELECT * FROM audit_records WHERE instance = ? AND seq > ? ORDER BY seq LIMIT ?').all(instance, afterSeq, limit) as DbRow[]).map(fromDb);
  }

  async revocations(): Promise<StoredRevocation[]> {
    const rows = this.#db.prepare('SELECT subject, issuer, at FROM revocations ORDER BY at, subject').all() as { subject: string; issuer: string; at: string }[];
    return rows.map((r) => (r.issuer === '' ? { subject: r.subject, at: r.at } : { subject: r.subject, issuer: r.issuer, at: r.at }));
  }

  async putRevocation(r: StoredRevocation): Promise<void> {
    if (!this.#writer) throw new StoreError('the audit log is open read-only', 'read_only');
    await this.#writer.call('putRevocation', { subject: r.subject, issuer: r.issuer ?? '', at: r.at });
  }

  async deleteRevocation(subject: string, issuer?: string): Promise<void> {
    if (!this.#writer) throw new StoreError('the audit log is open read-only', 'read_only');
    await this.#writer.call('deleteRevocation', { subject, issuer: issuer ?? '' });
  }

  async consoleSession(id: string): Promise<StoredConsoleSession | null> {
    const row = this.#db.prepare('SELECT body FROM console_sessions WHERE id = ?').get(id) as { body: string } | undefined;
    return row ? (JSON.parse(row.body) as StoredConsoleSession) : null;
  }

  async putConsoleSession(s: StoredConsoleSession): Promise<void> {
    if (!this.#writer) throw new StoreError('the audit log is open read-only', 'read_only');
    await this.#writer.call('putConsoleSession', { row: [s.id, s.subject, s.issuer, s.issuerName, JSON.stringify(s), s.expiresAt] });
  }

  async deleteConsoleSession(id: string): Promise<void> {
    if (!this.#writer) throw new StoreError('the audit log is open read-only', 'read_only');
    await this.#writer.call('deleteConsoleSession', { sid: id });
  }

  async deleteConsoleSessionsOf(subject: string, issuer?: string): Promise<number> {
    if (!this.#writer) throw new StoreError('the audit log is open read-only', 'read_only');
    return (await this.#writer.call('deleteConsoleSessionsOf', { subject, issuer: issuer ?? null })) as number;
  }

  async deleteBefore(before: number): Promise<number> {
    if (!this.#writer) throw new StoreError('the audit log is open read-only', 'read_only');
    return (await this.#writer.call('deleteBefore', { before })) as number;
  }

  async close(): Promise<void> {
    if (this.#checkpoints) clearInterval(this.#checkpoints);
    await this.#writer?.stop();
    if (this.#db.open) this.#db.close();
    this.#lock?.release();
  }
}

function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}
