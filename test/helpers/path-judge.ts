/**
 * For search_path tests: a pg client that keeps every byte the gateway sent it, and a judge that
 * asks the server for the session's search_path and checks the gateway decided a read of an
 * unqualified table under that same path.
 */
import assert from 'node:assert/strict';
import pg from 'pg';

export interface WatchedClient {
  c: pg.Client;
  /** Everything the client received so far, as latin1 text. */
  seen(): string;
}

/** Connect with `config` and keep what arrives; the client is added to `open` (to end in `after`). */
export async function watchedClient(config: pg.ClientConfig, open: pg.Client[]): Promise<WatchedClient> {
  const c = new pg.Client(config);
  await c.connect();
  open.push(c);
  const chunks: Buffer[] = [];
  (c as any).connection.stream.on('data', (d: Buffer) => chunks.push(Buffer.from(d)));
  return { c, seen: () => Buffer.concat(chunks).toString('latin1') };
}

export interface PathCase {
  /** The read, e.g. `select tag from items`. */
  query: string;
  /** The one server search_path under which the read is allowed, and the rows it then gives. */
  allowedUnder: string;
  rows: unknown[];
  /** A value that must never reach the client. */
  secret: string;
}

/**
 * The server's search_path on this session; the read must be allowed exactly when it is
 * `allowedUnder` (and refused with 42501 otherwise), and the secret never seen. Returns the path.
 */
export async function judgePath(s: WatchedClient, k: PathCase, what: string): Promise<string> {
  const server = (await s.c.query('show search_path')).rows[0].search_path as string;
  try {
    const r = await s.c.query(k.query);
    assert.equal(server, k.allowedUnder, `${what}: the gateway allowed "${k.query}" while the server's search_path is ${server}`);
    assert.deepEqual(r.rows, k.rows, what);
  } catch (err: any) {
    if (err.code === undefined || err instanceof assert.AssertionError) throw err;
    assert.equal(err.code, '42501', `${what}: ${err.message}`);
    assert.notEqual(server, k.allowedUnder, `${what}: refused although the server's search_path is ${server}: ${err.message}`);
  }
  assert.ok(!s.seen().includes(k.secret), `${what}: the secret reached the client`);
  return server;
}
