/**
 * The fallback upstream when this machine has no PostgreSQL server binaries: PGlite (PostgreSQL
 * compiled to WebAssembly, in this process) kept in DATA_DIR/pglite and served over the wire
 * protocol on a free loopback port, so the gateway talks to it like to any server.
 *
 * It is a demo stand-in, not a database server: see `PGLITE_LIMITS`.
 */
import { join } from 'node:path';

export const PGLITE_LIMITS = [
  'one backend shared by every connection: statements run one at a time, a session with an open',
  '  transaction makes the others wait, and session state (SET, prepared statements) is shared',
  'no roles and no authentication: every connection is the superuser, whatever it sends',
  'one database: every database name reaches the same one',
  'no fsync: a crash can lose the latest writes',
];

export interface PgliteUpstream {
  port: number;
  /** A URL for setup work (user and database are ignored by PGlite). */
  operatorUrl: string;
  version: string;
  stop(): Promise<void>;
}

export async function startPglite(o: { dataDir: string; say(line: string): void }): Promise<PgliteUpstream> {
  // Imported here: the WebAssembly build is large and only this path needs it.
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const dir = join(o.dataDir, 'pglite');
  o.say(`starting PGlite (embedded PostgreSQL in WebAssembly) in ${dir}`);
  const db = await PGlite.create(dir);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 32 });
  try {
    await server.start();
  } catch (err) {
    await db.close();
    throw err;
  }
  const port = Number(server.getServerConn().split(':').pop());
  const [{ server_version: version }] = (await db.query<{ server_version: string }>('show server_version')).rows;
  let stopped: Promise<void> | undefined;
  return {
    port,
    operatorUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    version,
    stop: () =>
      (stopped ??= (async () => {
        await server.stop();
        await db.close();
      })()),
  };
}
