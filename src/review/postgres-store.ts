/**
 * Reviews in a PostgreSQL database shared by several gateway instances (`reviews.store:
 * postgres://…`). The table is created and upgraded by the gateway (`migrate`, version kept in
 * `pgwarden_schema`). Every state change is one guarded UPDATE (`WHERE status = 'pending'`, or
 * `'approved'` for consume) that returns the row it changed, so across instances an approval is
 * decided once and consumed once. A change that ends a pending review also sends
 * `NOTIFY pgwarden_reviews, '<id>'` in the same transaction: each instance LISTENs and tells its
 * waiters (`watch`); the review service also polls its waiters' reviews every second, for
 * notifications lost while a listening connection was down.
 */
import { PgConnection, PgListener, literal, migrate } from '../store/index.ts';
import { targetFromUrl, type UpstreamTarget } from '../upstream/index.ts';
import { fromRow, type Binding, type ReviewStore, type Row, type StoredReview } from './sqlite-store.ts';
import type { Review, ReviewDecision, ReviewStatus } from './types.ts';

const T = 'pgwarden_reviews';
export const REVIEWS_CHANNEL = 'pgwarden_reviews';

/** migrations[i]: version i → i + 1. Append only. */
const MIGRATIONS = [
  `CREATE TABLE IF NOT EXISTS ${T} (
  id text PRIMARY KEY,
  status text NOT NULL,
  rule text NOT NULL,
  mode text NOT NULL,
  issuer text NOT NULL,
  subject text NOT NULL,
  groups text NOT NULL,
  database text NOT NULL,
  text text NOT NULL,
  bytes_sha256 text NOT NULL,
  params_sha256 text NOT NULL,
  resolution_sha256 text NOT NULL DEFAULT '',
  analysis text NOT NULL,
  session_id text,
  approvers text NOT NULL,
  window_ms bigint NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  approvals text NOT NULL DEFAULT '[]',
  rejection text,
  approved_at bigint,
  approved_until bigint,
  consumed_at bigint,
  expired_at bigint,
  abandoned_at bigint
);
CREATE INDEX IF NOT EXISTS ${T}_binding ON ${T} (bytes_sha256, subject, status);
CREATE INDEX IF NOT EXISTS ${T}_status ON ${T} (status, created_at)`,
] as const;

const COLUMNS = [
  'id', 'status', 'rule', 'mode', 'issuer', 'subject', 'groups', 'database', 'text', 'bytes_sha256', 'params_sha256', 'resolution_sha256', 'analysis',
  'session_id', 'approvers', 'window_ms', 'created_at', 'expires_at', 'approvals', 'rejection', 'approved_at', 'approved_until', 'consumed_at', 'expired_at',
  'abandoned_at',
] as const;
const NUMERIC = new Set(['window_ms', 'created_at', 'expires_at', 'approved_at', 'approved_until', 'consumed_at', 'expired_at', 'abandoned_at']);
const SELECT = `SELECT ${COLUMNS.join(', ')} FROM ${T}`;

function toStored(values: (string | null)[]): StoredReview {
  const row: Record<string, unknown> = {};
  COLUMNS.forEach((c, i) => (row[c] = NUMERIC.has(c) && values[i] !== null ? Number(values[i]) : values[i]));
  return fromRow(row as unknown as Row);
}

/** An UPDATE that, when it applies, tells every instance (in the same transaction). */
function notifying(update: string): string {
  return `WITH changed AS (${update} RETURNING id) SELECT id, pg_notify(${literal(REVIEWS_CHANNEL)}, id) FROM changed`;
}

export interface PostgresReviewStoreOptions {
  password?: string;
  tls?: UpstreamTarget['tls'];
  connectTimeoutMs?: number;
}

export async function openPostgresReviewStore(url: string, o: PostgresReviewStoreOptions = {}): Promise<PostgresReviewStore> {
  const target = targetFromUrl('review store', url, { password: o.password, tls: o.tls ?? { mode: 'disable' }, connectTimeoutMs: o.connectTimeoutMs ?? 10_000 });
  const conn = new PgConnection(target, 'reviews');
  try {
    await migrate(conn, 'reviews', MIGRATIONS);
  } catch (err) {
    await conn.close().catch(() => undefined);
    throw err;
  }
  return new PostgresReviewStore(target, conn);
}

export class PostgresReviewStore implements ReviewStore {
  readonly shared = true;
  readonly location: string;
  readonly #target: UpstreamTarget;
  readonly #conn: PgConnection;
  #listener: PgListener | null = null;

  constructor(target: UpstreamTarget, conn: PgConnection) {
    this.#target = target;
    this.#conn = conn;
    this.location = conn.location;
  }

  async has(id: string): Promise<boolean> {
    return (await this.#conn.query(`SELECT 1 FROM ${T} WHERE id = ${literal(id)}`)).length > 0;
  }

  async insert(r: Review, windowMs: number): Promise<void> {
    const v = [
      r.id, 'pending', r.rule, r.mode, r.identity.issuer, r.identity.subject, JSON.stringify(r.identity.groups), r.database, r.text, r.bytesSha256, r.paramsSha256,
      r.resolutionSha256, JSON.stringify(r.analysis), r.sessionId ?? null, JSON.stringify(r.approvers), windowMs, Date.parse(r.createdAt), Date.parse(r.expiresAt), '[]',
    ];
    await this.#conn.query(`INSERT INTO ${T} (${COLUMNS.slice(0, 19).join(', ')}) VALUES (${v.map(literal).join(', ')})`);
  }

  async get(id: string): Promise<StoredReview | null> {
    const rows = await this.#conn.query(`${SELECT} WHERE id = ${literal(id)}`);
    return rows.length ? toStored(rows[0]) : null;
  }

  async list(q: { status?: ReviewStatus; limit: number }): Promise<StoredReview[]> {
    const where = q.status === undefined ? '' : `WHERE status = ${literal(q.status)}`;
    return (await this.#conn.query(`${SELECT} ${where} ORDER BY created_at DESC, id LIMIT ${literal(Math.floor(q.limit))}`)).map(toStored);
  }

  async live(): Promise<StoredReview[]> {
    return (await this.#conn.query(`${SELECT} WHERE status IN ('pending', 'approved')`)).map(toStored);
  }

  async findBound(b: Binding, status: ReviewStatus, mode?: 'wait' | 'defer'): Promise<StoredReview | null> {
    const rows = await this.#conn.query(
      `${SELECT} WHERE bytes_sha256 = ${literal(b.bytesSha256)} AND subject = ${literal(b.subject)} AND issuer = ${literal(b.issuer)} AND database = ${literal(b.database)}
         AND params_sha256 = ${literal(b.paramsSha256)} AND resolution_sha256 = ${literal(b.resolutionSha256)} AND status = ${literal(status)}
         ${mode ? `AND mode = ${literal(mode)}` : ''} ORDER BY created_at DESC LIMIT 1`,
    );
    return rows.length ? toStored(rows[0]) : null;
  }

  async addApproval(id: string, approvals: ReviewDecision[], approved: { at: number; until: number } | null): Promise<boolean> {
    const a = literal(JSON.stringify(approvals));
    // The approvals seen are the ones stored: an approval given meanwhile elsewhere is not lost.
    const seen = literal(JSON.stringify(approvals.slice(0, -1)));
    const rows = approved
      ? await this.#conn.query(
          notifying(`UPDATE ${T} SET approvals = ${a}, status = 'approved', approved_at = ${literal(approved.at)}, approved_until = ${literal(approved.until)} WHERE id = ${literal(id)} AND status = 'pending' AND approvals = ${seen}`),
        )
      : await this.#conn.query(`UPDATE ${T} SET approvals = ${a} WHERE id = ${literal(id)} AND status = 'pending' AND approvals = ${seen} RETURNING id`);
    return rows.length === 1;
  }

  async reject(id: string, rejection: ReviewDecision): Promise<boolean> {
    return (await this.#conn.query(notifying(`UPDATE ${T} SET status = 'rejected', rejection = ${literal(JSON.stringify(rejection))} WHERE id = ${literal(id)} AND status = 'pending'`))).length === 1;
  }

  /** approved → consumed, only while inside the window: one instance wins. */
  async consume(id: string, now: number): Promise<boolean> {
    const n = literal(now);
    return (await this.#conn.query(`UPDATE ${T} SET status = 'consumed', consumed_at = ${n} WHERE id = ${literal(id)} AND status = 'approved' AND approved_until > ${n} RETURNING id`)).length === 1;
  }

  async abandon(id: string, now: number): Promise<boolean> {
    return (await this.#conn.query(notifying(`UPDATE ${T} SET status = 'abandoned', abandoned_at = ${literal(now)} WHERE id = ${literal(id)} AND status = 'pending'`))).length === 1;
  }

  async expire(id: string, now: number): Promise<boolean> {
    const n = literal(now);
    return (
      (
        await this.#conn.query(
          notifying(`UPDATE ${T} SET status = 'expired', expired_at = ${n} WHERE id = ${literal(id)} AND ((status = 'pending' AND expires_at <= ${n}) OR (status = 'approved' AND approved_until <= ${n}))`),
        )
      ).length === 1
    );
  }

  watch(changed: (id: string) => void): void {
    this.#listener ??= new PgListener({
      target: this.#target,
      channels: [REVIEWS_CHANNEL],
      onNotify: (_channel, id) => changed(id),
    });
  }

  async check(): Promise<string | null> {
    try {
      await this.#conn.query('SELECT 1');
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  }

  async close(): Promise<void> {
    await this.#listener?.close();
    await this.#conn.close();
  }
}
