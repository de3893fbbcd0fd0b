/**
 * What an audit store does. Writes come from one writer per gateway instance (the audit sink's
 * group commit), so a store never sees two appends for the same chain at once; reads (search,
 * verify, replay) may run beside them.
 */
import type { ChainAnchor, StoredRecord } from './record.ts';
import type { RecordType, Verdict } from './record.ts';

export interface AuditQuery {
  /** Token subject, exactly. */
  identity?: string;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
  /** `schema.table`, or a bare table name in any schema. */
  table?: string;
  decision?: Verdict;
  /** Case-insensitive substring of the statement text. */
  text?: string;
  sessionId?: string;
  instance?: string;
  types?: RecordType[];
  /** Only records stored after this position (`tail -f`). */
  afterPos?: number;
  /** Most records returned (default 1000); with `newest`, the last ones, still oldest first. */
  limit?: number;
  newest?: boolean;
}

/** A stored record with its position in the store (insertion order, for tailing). */
export interface StoredRow extends StoredRecord {
  pos: number;
}

/** A revocation as stored: `issuer` absent means every issuer. */
export interface StoredRevocation {
  subject: string;
  issuer?: string;
  /** ISO 8601 time it was made. */
  at: string;
}

/**
 * A console sign-in as the server keeps it: the browser's cookie carries only its id, so signing
 * out or revoking the human ends it for every copy of the cookie. `id` is the SHA-256 of the
 * cookie's random session id (a reader of the store cannot use it as a cookie).
 */
export interface StoredConsoleSession {
  id: string;
  subject: string;
  /** Issuer URL. */
  issuer: string;
  /** The issuer's configured name (the URL when it has none). */
  issuerName: string;
  name?: string;
  groups: string[];
  csrf: string;
  /** Epoch ms. */
  createdAt: number;
  expiresAt: number;
}

export interface AuditStore {
  readonly kind: 'sqlite' | 'postgres' | 'memory';
  /** A readable location for messages (never a password). */
  readonly location: string;
  /** The last record of an instance's chain, or its anchor, or null for a new chain. */
  head(instance: string): Promise<{ seq: number; hash: string } | null>;
  /** Write records atomically and durably: all or none. */
  append(records: StoredRecord[]): Promise<void>;
  search(q: AuditQuery): Promise<StoredRow[]>;
  get(id: string): Promise<StoredRow | null>;
  /** statement_end records for these statement ids. */
  outcomes(ids: string[]): Promise<Map<string, StoredRow>>;
  instances(): Promise<string[]>;
  anchor(instance: string): Promise<ChainAnchor | null>;
  /** Every record of one instance in seq order, in pages (for verify). */
  scan(instance: string, pageSize?: number): AsyncIterable<StoredRecord[]>;
  /**
   * At most `limit` records of one instance with seq greater than `afterSeq`, in seq order (the
   * SIEM exporters read from their cursor with it). A gap in the seqs returned is a gap in the
   * store (retention, or records deleted by someone else), never a page boundary.
   */
  readAfter(instance: string, afterSeq: number, limit: number): Promise<StoredRecord[]>;
  /**
   * Delete every record written before `before` (epoch ms), per instance a prefix of its chain,
   * and move each chain's anchor to its last deleted record. Resolves with the number deleted.
   */
  deleteBefore(before: number): Promise<number>;
  /**
   * Revocations outlive the process (and, in a shared PostgreSQL store, are seen by every
   * instance): loaded before the listener opens, written before the admin API answers.
   */
  revocations(): Promise<StoredRevocation[]>;
  putRevocation(r: StoredRevocation): Promise<void>;
  deleteRevocation(subject: string, issuer?: string): Promise<void>;
  /**
   * A store shared by instances (PostgreSQL): `changed` is called when any of them changed the
   * revocations (and after the listening connection comes back); read `revocations()` then.
   */
  watchRevocations?(changed: () => void): { close(): Promise<void>; readonly up: boolean };
  /** Shared stores: deliver a CancelRequest no session here matched to the other instances. */
  deliverCancel?(pid: number, secret: Buffer): Promise<void>;
  /** Shared stores: CancelRequests other instances received (match them against this one's sessions). */
  watchCancels?(cancel: (pid: number, secret: Buffer) => void): { close(): Promise<void>; readonly up: boolean };
  /**
   * Console sessions: read on every console request, so a sign-out or revocation on any instance
   * sharing the store ends the session everywhere. Expired ones are removed when another is put.
   */
  consoleSession(id: string): Promise<StoredConsoleSession | null>;
  putConsoleSession(s: StoredConsoleSession): Promise<void>;
  deleteConsoleSession(id: string): Promise<void>;
  /** End every session of `subject` (of the issuer named by URL or configured name, or of any); resolves with how many. */
  deleteConsoleSessionsOf(subject: string, issuer?: string): Promise<number>;
  close(): Promise<void>;
}

/** Expected store failure (full disk, unreachable database): the message is safe to show. */
export class StoreError extends Error {
  constructor(
    message: string,
    readonly storeCode: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/** Does a stored record's table list name `table` (`public.orders`, or `orders` in any schema)? */
export function tableMatches(tables: string | null, table: string): boolean {
  if (!tables) return false;
  return table.includes('.') ? tables.includes(` ${table} `) : tables.includes(`.${table} `) || tables.includes(` ${table} `);
}
