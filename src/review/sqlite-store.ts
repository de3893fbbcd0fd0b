/**
 * Reviews in SQLite: one row per review, written synchronously on the calling thread (reviews are
 * rare, so a plain connection is enough) in WAL mode with synchronous=FULL, so a review or an
 * approval is on disk before the call that made it returns — and survives a restart.
 *
 * Every state change is one UPDATE guarded by the state it expects (`WHERE status = 'pending'`),
 * so a decision can never be applied twice or on top of another one.
 */
import { ensurePrivateFile } from '../private-files.ts';
import { lockStoreFile, type FileLock, type LockHolder } from '../file-lock.ts';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Review, ReviewDecision, ReviewStatus } from './types.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS reviews (
  id TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  rule TEXT NOT NULL,
  mode TEXT NOT NULL,
  issuer TEXT NOT NULL,
  subject TEXT NOT NULL,
  groups TEXT NOT NULL,
  database TEXT NOT NULL,
  text TEXT NOT NULL,
  bytes_sha256 TEXT NOT NULL,
  params_sha256 TEXT NOT NULL,
  resolution_sha256 TEXT NOT NULL DEFAULT '',
  analysis TEXT NOT NULL,
  session_id TEXT,
  approvers TEXT NOT NULL,
  window_ms INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  approvals TEXT NOT NULL DEFAULT '[]',
  rejection TEXT,
  approved_at INTEGER,
  approved_until INTEGER,
  consumed_at INTEGER,
  expired_at INTEGER,
  abandoned_at INTEGER
);
CREATE INDEX IF NOT EXISTS reviews_binding ON reviews (bytes_sha256, subject, status);
CREATE INDEX IF NOT EXISTS reviews_status ON reviews (status, created_at);
`;

/** A stored review's columns (times in epoch ms), as both stores read them. */
export interface Row {
  id: string;
  status: ReviewStatus;
  rule: string;
  mode: 'wait' | 'defer';
  issuer: string;
  subject: string;
  groups: string;
  database: string;
  text: string;
  bytes_sha256: string;
  params_sha256: string;
  resolution_sha256: string;
  analysis: string;
  session_id: string | null;
  approvers: string;
  window_ms: number;
  created_at: number;
  expires_at: number;
  approvals: string;
  rejection: string | null;
  approved_at: number | null;
  approved_until: number | null;
  consumed_at: number | null;
  expired_at: number | null;
  abandoned_at: number | null;
}

/** A review as stored: times in epoch milliseconds, plus the approval window of its rule. */
export interface StoredReview {
  review: Review;
  windowMs: number;
  /** The time at which it must expire if nothing else happens (pending: expiresAt; approved: approvedUntil). */
  deadline: number | null;
}

export interface Binding {
  issuer: string;
  subject: string;
  database: string;
  bytesSha256: string;
  paramsSha256: string;
  /** What the names resolved to (see `ReviewRequest.resolutionSha256`). */
  resolutionSha256: string;
}

const iso = (ms: number | null): string | undefined => (ms === null ? undefined : new Date(ms).toISOString());

export function fromRow(r: Row): StoredReview {
  const review: Review = {
    id: r.id,
    status: r.status,
    rule: r.rule,
    mode: r.mode,
    identity: { issuer: r.issuer, subject: r.subject, groups: JSON.parse(r.groups) as string[] },
    database: r.database,
    text: r.text,
    bytesSha256: r.bytes_sha256,
    paramsSha256: r.params_sha256,
    resolutionSha256: r.resolution_sha256,
    analysis: JSON.parse(r.analysis) as Review['analysis'],
    ...(r.session_id === null ? {} : { sessionId: r.session_id }),
    approvers: JSON.parse(r.approvers) as Review['approvers'],
    createdAt: iso(r.created_at)!,
    expiresAt: iso(r.expires_at)!,
    approvals: JSON.parse(r.approvals) as ReviewDecision[],
  };
  if (r.rejection !== null) review.rejection = JSON.parse(r.rejection) as ReviewDecision;
  if (r.approved_at !== null) review.approvedAt = iso(r.approved_at);
  if (r.approved_until !== null) review.approvedUntil = iso(r.approved_until);
  if (r.consumed_at !== null) review.consumedAt = iso(r.consumed_at);
  if (r.expired_at !== null) review.expiredAt = iso(r.expired_at);
  if (r.abandoned_at !== null) review.abandonedAt = iso(r.abandoned_at);
  const deadline = r.status === 'pending' ? r.expires_at : r.status === 'approved' ? r.approved_until : null;
  return { review, windowMs: r.window_ms, deadline };
}

/**
 * What a review store does. Every state change is one guarded update that says whether it applied,
 * so a decision can never be applied twice or on top of another one, whichever process makes it.
 */
export interface ReviewStore {
  /** Shared with other instances: decisions made elsewhere arrive through `watch` (and a poll). */
  readonly shared: boolean;
  has(id: string): Promise<boolean>;
  insert(r: Review, windowMs: number): Promise<void>;
  get(id: string): Promise<StoredReview | null>;
  list(q: { status?: ReviewStatus; limit: number }): Promise<StoredReview[]>;
  live(): Promise<StoredReview[]>;
  findBound(b: Binding, status: ReviewStatus, mode?: 'wait' | 'defer'): Promise<StoredReview | null>;
  addApproval(id: string, approvals: ReviewDecision[], approved: { at: number; until: number } | null): Promise<boolean>;
  reject(id: string, rejection: ReviewDecision): Promise<boolean>;
  consume(id: string, now: number): Promise<boolean>;
  abandon(id: string, now: number): Promise<boolean>;
  expire(id: string, now: number): Promise<boolean>;
  /** Hear reviews that stopped being pending in another instance (shared stores). */
  watch?(changed: (id: string) => void): void;
  /** Can the store be reached now (readiness)? Resolves with the reason when not. */
  check?(): Promise<string | null>;
  close(): Promise<void>;
}

export class SqliteReviewStore implements ReviewStore {
  readonly shared = false;
  readonly #db: Database.Database;
  readonly #lock: FileLock | null;

  private constructor(db: Database.Database, lock: FileLock | null) {
    this.#db = db;
    this.#lock = lock;
  }

  /**
   * Open (creating it and its directory) the file at `path`, or `:memory:`; with `lock`, the file
   * is locked for this instance first (another live instance holding it is refused).
   */
  static open(path: string, lock?: LockHolder): SqliteReviewStore {
    if (path !== ':memory:') ensurePrivateFile(path);
    const held = lock && path !== ':memory:' ? lockStoreFile(path, lock) : null;
    let db: Database.Database;
    try {
      db = new Database(path);
    } catch (err) {
      held?.release();
      throw err;
    }
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('busy_timeout = 5000');
      db.exec(SCHEMA);
      // Stores made before reviews could be abandoned lack the column.
      const columns = db.prepare('PRAGMA table_info(reviews)').all() as { name: string }[];
      if (!columns.some((c) => c.name === 'abandoned_at')) db.exec('ALTER TABLE reviews ADD COLUMN abandoned_at INTEGER');
      // Stores made before approvals were bound to what names resolve to: their reviews keep an
      // empty resolution, which no statement has, so an approval made then is never used.
      if (!columns.some((c) => c.name === 'resolution_sha256')) db.exec("ALTER TABLE reviews ADD COLUMN resolution_sha256 TEXT NOT NULL DEFAULT ''");
    } catch (err) {
      db.close();
      held?.release();
      throw err;
    }
    return new SqliteReviewStore(db, held);
  }

  async has(id: string): Promise<boolean> {
    return this.#db.prepare('SELECT 1 FROM reviews WHERE id = ?').get(id) !== undefined;
  }

  async insert(r: Review, windowMs: number): Promise<void> {
    this.#db
      .prepare(
        `INSERT INTO reviews (id, status, rule, mode, issuer, subject, groups, database, text, bytes_sha256, params_sha256, resolution_sha256, analysis,
           session_id, approvers, window_ms, created_at, expires_at, approvals)
         VALUES (@id, 'pending', @rule, @mode, @issuer, @subject, @groups, @database, @text, @bytes, @params, @resolution, @analysis,
           @session, @approvers, @window, @created, @expires, '[]')`,
      )
      .run({
        id: r.id,
        rule: r.rule,
        mode: r.mode,
        issuer: r.identity.issuer,
        subject: r.identity.subject,
        groups: JSON.stringify(r.identity.groups),
        database: r.database,
        text: r.text,
        bytes: r.bytesSha256,
        params: r.paramsSha256,
        resolution: r.resolutionSha256,
        analysis: JSON.stringify(r.analysis),
        session: r.sessionId ?? null,
        approvers: JSON.stringify(r.approvers),
        window: windowMs,
        created: Date.parse(r.createdAt),
        expires: Date.parse(r.expiresAt),
      });
  }

  async get(id: string): Promise<StoredReview | null> {
    const row = this.#db.prepare('SELECT * FROM reviews WHERE id = ?').get(id) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  async list(q: { status?: ReviewStatus; limit: number }): Promise<StoredReview[]> {
    const rows = (
      q.status === undefined
        ? this.#db.prepare('SELECT * FROM reviews ORDER BY created_at DESC, id LIMIT ?').all(q.limit)
        : this.#db.prepare('SELECT * FROM reviews WHERE status = ? ORDER BY created_at DESC, id LIMIT ?').all(q.status, q.limit)
    ) as Row[];
    return rows.map(fromRow);
  }

  /** Reviews that can still change on their own (pending or approved), for timers. */
  async live(): Promise<StoredReview[]> {
    return (this.#db.prepare("SELECT * FROM reviews WHERE status IN ('pending', 'approved')").all() as Row[]).map(fromRow);
  }

  /** The newest review in `status` bound to exactly this statement. */
  async findBound(b: Binding, status: ReviewStatus, mode?: 'wait' | 'defer'): Promise<StoredReview | null> {
    const row = this.#db
      .prepare(
        `SELECT * FROM reviews WHERE bytes_sha256 = @bytes AND subject = @subject AND issuer = @issuer AND database = @database
           AND params_sha256 = @params AND resolution_sha256 = @resolution AND status = @status ${mode ? 'AND mode = @mode' : ''} ORDER BY created_at DESC LIMIT 1`,
      )
      .get({ bytes: b.bytesSha256, subject: b.subject, issuer: b.issuer, database: b.database, params: b.paramsSha256, resolution: b.resolutionSha256, status, ...(mode ? { mode } : {}) }) as
      | Row
      | undefined;
    return row ? fromRow(row) : null;
  }

  /** Record one more approval of a pending review; `approvedUntil` set when it is the last one needed. */
  async addApproval(id: string, approvals: ReviewDecision[], approved: { at: number; until: number } | null): Promise<boolean> {
    const res = approved
      ? this.#db
          .prepare("UPDATE reviews SET approvals = ?, status = 'approved', approved_at = ?, approved_until = ? WHERE id = ? AND status = 'pending'")
          .run(JSON.stringify(approvals), approved.at, approved.until, id)
      : this.#db.prepare("UPDATE reviews SET approvals = ? WHERE id = ? AND status = 'pending'").run(JSON.stringify(approvals), id);
    return res.changes === 1;
  }

  async reject(id: string, rejection: ReviewDecision): Promise<boolean> {
    return this.#db.prepare("UPDATE reviews SET status = 'rejected', rejection = ? WHERE id = ? AND status = 'pending'").run(JSON.stringify(rejection), id).changes === 1;
  }

  /** approved → consumed, only while inside the window. */
  async consume(id: string, now: number): Promise<boolean> {
    return (
      this.#db.prepare("UPDATE reviews SET status = 'consumed', consumed_at = ? WHERE id = ? AND status = 'approved' AND approved_until > ?").run(now, id, now)
        .changes === 1
    );
  }

  /** pending → abandoned (the client waiting for it went away). */
  async abandon(id: string, now: number): Promise<boolean> {
    return this.#db.prepare("UPDATE reviews SET status = 'abandoned', abandoned_at = ? WHERE id = ? AND status = 'pending'").run(now, id).changes === 1;
  }

  /** pending past expiresAt, or approved past approvedUntil → expired. */
  async expire(id: string, now: number): Promise<boolean> {
    return (
      this.#db
        .prepare(
          `UPDATE reviews SET status = 'expired', expired_at = ?
             WHERE id = ? AND ((status = 'pending' AND expires_at <= ?) OR (status = 'approved' AND approved_until <= ?))`,
        )
        .run(now, id, now, now).changes === 1
    );
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
    this.#lock?.release();
  }
}
