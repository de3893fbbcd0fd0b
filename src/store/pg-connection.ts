/**
 * The gateway's own connections to a shared PostgreSQL store: `PgConnection` runs one simple
 * query at a time and reconnects after a lost connection; `PgListener` holds a LISTEN connection
 * and hands every notification on, reconnecting (with `resync` called, since notifications sent
 * while it was away are lost) until it is closed. `migrate` creates and upgrades a part's tables
 * under a version kept in `pgwarden_schema`.
 */
import { ScramKeyCache, SimpleQuerySession, connectUpstream, type UpstreamTarget } from '../upstream/index.ts';
import { StoreError } from './audit-store.ts';
import { literal } from './postgres-audit-store.ts';

/** Serialises schema creation and upgrades between gateways sharing the database. */
const MIGRATE_LOCK_KEY = 7_261_002;
const VERSIONS = 'pgwarden_schema';

export function storeLocation(target: UpstreamTarget): string {
  return `postgres://${target.user}@${target.host}:${target.port}/${target.database}`;
}

export class PgConnection {
  readonly location: string;
  readonly #target: UpstreamTarget;
  readonly #name: string;
  readonly #scram = new ScramKeyCache();
  #session: SimpleQuerySession | null = null;
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  /** `name`: what the store is, for messages and `application_name` (`pgwarden-<name>`). */
  constructor(target: UpstreamTarget, name: string) {
    this.#target = target;
    this.#name = name;
    this.location = storeLocation(target);
  }

  /** Run SQL (several statements make one implicit transaction); resolves with the last result's rows. */
  query(sql: string): Promise<(string | null)[][]> {
    const run = this.#chain.then(async () => {
      if (this.#closed) throw new StoreError(`the ${this.#name} store is closed`, 'closed');
      if (!this.#session || this.#session.broken) {
        try {
          const conn = await connectUpstream(this.#target, { application_name: `pgwarden-${this.#name}` }, this.#scram);
          this.#session = new SimpleQuerySession(conn.socket);
        } catch (err) {
          throw new StoreError(`cannot reach the ${this.#name} database ${this.location}: ${(err as Error).message}`, 'unavailable', { cause: err });
        }
      }
      const session = this.#session;
      try {
        return await session.query(sql);
      } catch (err) {
        // A server error leaves the connection usable; anything else (lost socket) does not.
        if ((err as Error).name !== 'ServerError') {
          this.#session = null;
          void session.close().catch(() => undefined);
        }
        throw new StoreError(`the ${this.#name} database failed: ${(err as Error).message}`, 'write_failed', { cause: err });
      }
    });
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    await this.#chain;
    this.#closed = true;
    const s = this.#session;
    this.#session = null;
    await s?.close();
  }
}

/**
 * Create or upgrade `part`'s tables: `migrations[i]` takes the schema from version i to i + 1. All
 * of it in one transaction under an advisory lock, so gateways starting together apply each once.
 * A database whose version is newer than this gateway knows is refused (an older gateway would
 * misread it).
 */
export async function migrate(conn: PgConnection, part: string, migrations: readonly string[]): Promise<number> {
  const rows = await conn.query(
    `BEGIN; SELECT pg_advisory_xact_lock(${MIGRATE_LOCK_KEY}); ` +
      `CREATE TABLE IF NOT EXISTS ${VERSIONS} (part text PRIMARY KEY, version integer NOT NULL, at bigint NOT NULL); ` +
      `SELECT version FROM ${VERSIONS} WHERE part = ${literal(part)}`,
  );
  try {
    const at = rows.length ? Number(rows[0][0]) : 0;
    if (at > migrations.length) {
      throw new StoreError(`the ${part} schema in ${conn.location} is version ${at}, newer than this gateway knows (${migrations.length}): upgrade this gateway`, 'schema_newer');
    }
    const steps = migrations.slice(at).join(';\n');
    await conn.query(
      `${steps}${steps ? ';' : ''} INSERT INTO ${VERSIONS} (part, version, at) VALUES (${literal(part)}, ${migrations.length}, ${Date.now()}) ` +
        `ON CONFLICT (part) DO UPDATE SET version = excluded.version, at = excluded.at; COMMIT`,
    );
    return migrations.length;
  } catch (err) {
    await conn.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

export interface PgListenerOptions {
  target: UpstreamTarget;
  channels: string[];
  onNotify(channel: string, payload: string): void;
  /** Called after each (re)connection: what was sent while no one listened must be read again. */
  resync?(): void;
  /** Called when the connection is lost or cannot be made. */
  onDown?(err: Error): void;
  /** Delay before reconnecting (default 1 s). */
  retryMs?: number;
}

export class PgListener {
  readonly #o: PgListenerOptions;
  readonly #scram = new ScramKeyCache();
  #session: SimpleQuerySession | null = null;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #up = false;

  constructor(o: PgListenerOptions) {
    this.#o = o;
    void this.#connect();
  }

  /** Whether the LISTEN connection is up now. */
  get up(): boolean {
    return this.#up && this.#session !== null && !this.#session.broken;
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    try {
      const conn = await connectUpstream(this.#o.target, { application_name: 'pgwarden-listen' }, this.#scram);
      if (this.#closed) {
        conn.socket.destroy();
        return;
      }
      const session = new SimpleQuerySession(conn.socket, (channel, payload) => this.#o.onNotify(channel, payload));
      conn.socket.once('close', () => this.#lost(new Error('the store closed the listening connection')));
      this.#session = session;
      await session.query(this.#o.channels.map((c) => `LISTEN ${c}`).join('; '));
      this.#up = true;
      this.#o.resync?.();
    } catch (err) {
      this.#lost(err as Error);
    }
  }

  #lost(err: Error): void {
    this.#up = false;
    const s = this.#session;
    this.#session = null;
    void s?.close().catch(() => undefined);
    if (this.#closed || this.#timer) return;
    this.#o.onDown?.(err);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#connect();
    }, this.#o.retryMs ?? 1000);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const s = this.#session;
    this.#session = null;
    await s?.close().catch(() => undefined);
  }
}
