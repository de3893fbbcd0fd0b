/**
 * The audit log in a PostgreSQL database shared by several gateways. Each gateway appends to its
 * own chain (keyed by instance id) in one table, so any gateway — or `pgwarden audit` — can search
 * and verify them all. It talks to the database with the gateway's own upstream connector and
 * simple-query client: one connection, one query at a time, reconnecting after a failure.
 *
 * A batch is one multi-row INSERT: atomic, and durable when the server's synchronous_commit is on
 * (its default). Values are sent as escape-string literals (E'…'), which mean the same whatever
 * standard_conforming_strings is.
 */
import type { ChainAnchor, StoredRecord } from './record.ts';
import type { RecordType } from './record.ts';
import { targetFromUrl, type UpstreamTarget } from '../upstream/index.ts';
import { PgConnection, PgListener, migrate } from './pg-connection.ts';
import { StoreError, type StoredConsoleSession, type StoredRevocation, type AuditQuery, type AuditStore, type StoredRow } from './audit-store.ts';

export interface PostgresStoreOptions {
  password?: string;
  connectTimeoutMs?: number;
  tls?: UpstreamTarget['tls'];
}

const T = 'pgwarden_audit_records';
const A = 'pgwarden_audit_anchors';
const R = 'pgwarden_revocations';
const CS = 'pgwarden_console_sessions';
/** NOTIFY channel of revocation changes. */
export const REVOCATIONS_CHANNEL = 'pgwarden_revocations';
/** NOTIFY channel of CancelRequests for sessions of other instances. */
export const CANCELS_CHANNEL = 'pgwarden_cancels';
/** Serialises schema creation and retention between gateways sharing the database. */
const LOCK_KEY = 7_261_001;

const SCHEMA = `
SELECT pg_advisory_xact_lock(${LOCK_KEY});
CREATE TABLE IF NOT EXISTS ${T} (
  pos bigserial PRIMARY KEY,
  id text NOT NULL UNIQUE,
  instance text NOT NULL,
  seq bigint NOT NULL,
  at bigint NOT NULL,
  type text NOT NULL,
  session_id text,
  subject text,
  verdict text,
  tables text,
  text text,
  ref text,
  body text NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL,
  UNIQUE (instance, seq)
);
CREATE INDEX IF NOT EXISTS ${T}_at ON ${T} (at);
CREATE INDEX IF NOT EXISTS ${T}_session ON ${T} (session_id);
CREATE INDEX IF NOT EXISTS ${T}_subject ON ${T} (subject, at);
CREATE INDEX IF NOT EXISTS ${T}_ref ON ${T} (ref) WHERE ref IS NOT NULL;
CREATE TABLE IF NOT EXISTS ${A} (instance text PRIMARY KEY, seq bigint NOT NULL, hash text NOT NULL, at bigint NOT NULL);
CREATE TABLE IF NOT EXISTS ${R} (subject text NOT NULL, issuer text NOT NULL DEFAULT '', at text NOT NULL, PRIMARY KEY (subject, issuer));
CREATE TABLE IF NOT EXISTS ${CS} (id text PRIMARY KEY, subject text NOT NULL, issuer text NOT NULL, issuer_name text NOT NULL, body text NOT NULL, expires_at bigint NOT NULL);
`;

const COLUMNS = 'pos, id, instance, seq, at, type, session_id, subject, verdict, tables, text, ref, body, prev_hash, hash';

/** An escape-string literal: the same text under any standard_conforming_strings. */
export function literal(v: string | number | null): string {
  if (v === null) return 'NULL';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new StoreError('not a finite number', 'bad_value');
    return String(v);
  }
  // PostgreSQL text cannot hold NUL.
  return `E'${v.replaceAll('\\', '\\\\').replaceAll("'", "''").replaceAll('\0', '\uFFFD')}'`;
}

function fromRow(r: (string | null)[]): StoredRow {
  return {
    pos: Number(r[0]),
    id: r[1] as string,
    instance: r[2] as string,
    seq: Number(r[3]),
    at: Number(r[4]),
    type: r[5] as RecordType,
    sessionId: r[6],
    subject: r[7],
    verdict: r[8],
    tables: r[9],
    text: r[10],
    ref: r[11],
    body: r[12] as string,
    prevHash: r[13] as string,
    hash: r[14] as string,
  };
}

export async function openPostgresAuditStore(url: string, options: PostgresStoreOptions = {}): Promise<PostgresAuditStore> {
  const target = targetFromUrl('audit store', url, { password: options.password, tls: options.tls ?? { mode: 'disable' }, connectTimeoutMs: options.connectTimeoutMs ?? 10_000 });
  // Created and upgraded under a version in pgwarden_schema (version 1: the tables as they were
  // before it was kept, so a store made earlier is taken as it is).
  const conn = new PgConnection(target, 'audit');
  try {
    await migrate(conn, 'audit', [SCHEMA]);
  } catch (err) {
    await conn.close().catch(() => undefined);
    throw err;
  }
  return new PostgresAuditStore(target, conn);
}

export class PostgresAuditStore implements AuditStore {
  readonly kind = 'postgres' as const;
  readonly location: string;
  readonly #target: UpstreamTarget;
  /** One connection, one query at a time, reconnecting once lost. */
  readonly #conn: PgConnection;

  constructor(target: UpstreamTarget, conn = new PgConnection(target, 'audit')) {
    this.#target = target;
    this.#conn = conn;
    this.location = conn.location;
  }

  /** Run SQL (several statements make one implicit transaction); one at a time, reconnecting once lost. */
  query(sql: string): Promise<(string | null)[][]> {
    return this.#conn.query(sql);
  }

  async head(instance: string): Promise<{ seq: number; hash: string } | null> {
    const rows = await this.query(`SELECT seq, hash FROM ${T} WHERE instance = ${literal(instance)} ORDER BY seq DESC LIMIT 1`);
    if (rows.length) return { seq: Number(rows[0][0]), hash: rows[0][1] as string };
    const a = await this.anchor(instance);
    return a ? { seq: a.seq, hash: a.hash } : null;
  }

  async append(records: StoredRecord[]): Promise<void> {
    if (records.length === 0) return;
    const values = records
      .map((r) =>
        `(${[r.id, r.instance, r.seq, r.at, r.type, r.sessionId, r.subject, r.verdict, r.tables, r.text, r.ref, r.body, r.prevHash, r.hash].map(literal).join(', ')})`,
      )
      .join(',\n');
    await this.query(`INSERT INTO ${T} (id, instance, seq, at, type, session_id, subject, verdict, tables, text, ref, body, prev_hash, hash) VALUES ${values}`);
  }

  async search(q: AuditQuery): Promise<StoredRow[]> {
    const where: string[] = [];
    if (q.identity !== undefined) where.push(`subject = ${literal(q.identity)}`);
    if (q.since !== undefined) where.push(`at >= ${literal(q.since)}`);
    if (q.until !== undefined) where.push(`at < ${literal(q.until)}`);
    if (q.table !== undefined) {
      const t = q.table;
      where.push(t.includes('.') ? `strpos(tables, ${literal(` ${t} `)}) > 0` : `(strpos(tables, ${literal(`.${t} `)}) > 0 OR strpos(tables, ${literal(` ${t} `)}) > 0)`);
    }
    if (q.decision !== undefined) where.push(`verdict = ${literal(q.decision)}`);
    if (q.text !== undefined) where.push(`strpos(lower(text), ${literal(q.text.toLowerCase())}) > 0`);
    if (q.sessionId !== undefined) where.push(`session_id = ${literal(q.sessionId)}`);
    if (q.instance !== undefined) where.push(`instance = ${literal(q.instance)}`);
    if (q.types !== undefined) where.push(`type IN (${q.types.map(literal).join(', ')})`);
    if (q.afterPos !== undefined) where.push(`pos > ${literal(q.afterPos)}`);
    const limit = Math.max(0, Math.floor(q.limit ?? 1000));
    const rows = await this.query(`SELECT ${COLUMNS} FROM ${T} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY pos ${q.newest ? 'DESC' : 'ASC'} LIMIT ${limit}`);
    const out = rows.map(fromRow);
    return q.newest ? out.reverse() : out;
  }

  async get(id: string): Promise<StoredRow | null> {
    const rows = await this.query(`SELECT ${COLUMNS} FROM ${T} WHERE id = ${literal(id)}`);
    return rows.length ? fromRow(rows[0]) : null;
  }

  async outcomes(ids: string[]): Promise<Map<string, StoredRow>> {
    const out = new Map<string, StoredRow>();
    if (ids.length === 0) return out;
    const rows = await this.query(`SELECT ${COLUMNS} FROM ${T} WHERE type = 'statement_end' AND ref IN (${ids.map(literal).join(', ')})`);
    for (const r of rows.map(fromRow)) if (r.ref) out.set(r.ref, r);
    return out;
  }

  async instances(): Promise<string[]> {
    const rows = await this.query(`SELECT DISTINCT instance FROM ${T} UNION SELECT instance FROM ${A} ORDER BY 1`);
    return rows.map((r) => r[0] as string);
  }

  async anchor(instance: string): Promise<ChainAnchor | null> {
    const rows = await this.query(`SELECT seq, hash, at FROM ${A} WHERE instance = ${literal(instance)}`);
    return rows.length ? { seq: Number(rows[0][0]), hash: rows[0][1] as string, at: Number(rows[0][2]) } : null;
  }

  async *scan(instance: string, pageSize = 5000): AsyncIterable<StoredRecord[]> {
    let after = -1;
    for (;;) {
      const page = (await this.query(`SELECT ${COLUMNS} FROM ${T} WHERE instance = ${literal(instance)} AND seq > ${after} ORDER BY seq LIMIT ${pageSize}`)).map(fromRow);
      if (page.length === 0) return;
      yield page;
      after = page[page.length - 1].seq;
    }
  }

  async readAfter(instance: string, afterSeq: number, limit: number): Promise<StoredRecord[]> {
    const rows = await this.query(`SELECT ${COLUMNS} FROM ${T} WHERE instance = ${literal(instance)} AND seq > ${literal(afterSeq)} ORDER BY seq LIMIT ${literal(Math.max(0, Math.floor(limit)))}`);
    return rows.map(fromRow);
  }

  async revocations(): Promise<StoredRevocation[]> {
    const rows = await this.query(`SELECT subject, issuer, at FROM ${R} ORDER BY at, subject`);
    return rows.map((r) => (r[1] === '' ? { subject: r[0] as string, at: r[2] as string } : { subject: r[0] as string, issuer: r[1] as string, at: r[2] as string }));
  }

  // Each change tells every instance sharing the store (NOTIFY, in the same transaction).
  async putRevocation(r: StoredRevocation): Promise<void> {
    await this.query(
      `INSERT INTO ${R} (subject, issuer, at) VALUES (${literal(r.subject)}, ${literal(r.issuer ?? '')}, ${literal(r.at)}) ON CONFLICT (subject, issuer) DO NOTHING; ` +
        `SELECT pg_notify(${literal(REVOCATIONS_CHANNEL)}, 'revoke')`,
    );
  }

  async deleteRevocation(subject: string, issuer?: string): Promise<void> {
    await this.query(`DELETE FROM ${R} WHERE subject = ${literal(subject)} AND issuer = ${literal(issuer ?? '')}; SELECT pg_notify(${literal(REVOCATIONS_CHANNEL)}, 'unrevoke')`);
  }

  /**
   * A CancelRequest whose key matched no session of this instance: told to every instance sharing
   * the store, where the owner matches the secret against its own sessions.
   */
  async deliverCancel(pid: number, secret: Buffer): Promise<void> {
    await this.query(`SELECT pg_notify(${literal(CANCELS_CHANNEL)}, ${literal(`${pid}:${secret.toString('hex')}`)})`);
  }

  watchCancels(cancel: (pid: number, secret: Buffer) => void): { close(): Promise<void>; readonly up: boolean } {
    return new PgListener({
      target: this.#target,
      channels: [CANCELS_CHANNEL],
      onNotify: (_channel, payload) => {
        const m = /^(-?\d+):([0-9a-f]{8})$/.exec(payload);
        if (m) cancel(Number(m[1]), Buffer.from(m[2], 'hex'));
      },
    });
  }

  /** Hear revocations made by other instances (`changed` is called; read `revocations()` then). */
  watchRevocations(changed: () => void): { close(): Promise<void>; readonly up: boolean } {
    return new PgListener({ target: this.#target, channels: [REVOCATIONS_CHANNEL], onNotify: () => changed(), resync: changed });
  }

  async consoleSession(id: string): Promise<StoredConsoleSession | null> {
    const rows = await this.query(`SELECT body FROM ${CS} WHERE id = ${literal(id)}`);
    return rows.length ? (JSON.parse(rows[0][0] as string) as StoredConsoleSession) : null;
  }

  async putConsoleSession(s: StoredConsoleSession): Promise<void> {
    await this.query(
      `DELETE FROM ${CS} WHERE expires_at <= ${literal(Date.now())}; ` +
        `INSERT INTO ${CS} (id, subject, issuer, issuer_name, body, expires_at) VALUES (${literal(s.id)}, ${literal(s.subject)}, ${literal(s.issuer)}, ${literal(s.issuerName)}, ${literal(JSON.stringify(s))}, ${literal(s.expiresAt)}) ` +
        `ON CONFLICT (id) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at`,
    );
  }

  async deleteConsoleSession(id: string): Promise<void> {
    await this.query(`DELETE FROM ${CS} WHERE id = ${literal(id)}`);
  }

  async deleteConsoleSessionsOf(subject: string, issuer?: string): Promise<number> {
    const which = issuer === undefined ? '' : ` AND (issuer = ${literal(issuer)} OR issuer_name = ${literal(issuer)})`;
    return (await this.query(`DELETE FROM ${CS} WHERE subject = ${literal(subject)}${which} RETURNING 1`)).length;
  }

  async deleteBefore(before: number): Promise<number> {
    const b = literal(before);
    // Per instance, only a prefix of the chain: up to the record before the first one to keep.
    const rows = await this.query(`
SELECT pg_advisory_xact_lock(${LOCK_KEY});
WITH kept AS (SELECT instance, min(seq) AS seq FROM ${T} WHERE at >= ${b} GROUP BY instance),
cut AS (
  SELECT r.instance, max(r.seq) AS seq FROM ${T} r LEFT JOIN kept k ON k.instance = r.instance
  WHERE r.at < ${b} AND (k.seq IS NULL OR r.seq < k.seq) GROUP BY r.instance
),
anchored AS (
  INSERT INTO ${A} (instance, seq, hash, at)
  SELECT r.instance, r.seq, r.hash, r.at FROM ${T} r JOIN cut c ON c.instance = r.instance AND c.seq = r.seq
  ON CONFLICT (instance) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at
  RETURNING instance
),
deleted AS (DELETE FROM ${T} r USING cut c WHERE r.instance = c.instance AND r.seq <= c.seq RETURNING 1)
SELECT (SELECT count(*) FROM deleted), (SELECT count(*) FROM anchored);`);
    return Number(rows[0]?.[0] ?? 0);
  }

  close(): Promise<void> {
    return this.#conn.close();
  }
}
