/**
 * SQL for the demo's setup work (creating the role, the database and the sample data), through
 * the gateway's own upstream connector and simple-query client, so the demo needs no separate
 * driver and authenticates exactly as the gateway will (SCRAM, md5, cleartext, trust).
 */
import { ScramKeyCache, SimpleQuerySession, connectUpstream, targetFromUrl, type SqlSession } from '../upstream/index.ts';

export { ServerError, type SqlSession } from '../upstream/index.ts';

const TLS_MODES = new Set(['require', 'verify-ca', 'verify-full']);

/** Connect with a `postgres://user:password@host:port/db[?sslmode=…]` URL. */
export async function openSql(url: string, connectTimeoutMs = 10_000): Promise<SqlSession> {
  const sslmode = new URL(url).searchParams.get('sslmode') ?? 'disable';
  const mode = TLS_MODES.has(sslmode) ? (sslmode as 'require' | 'verify-ca' | 'verify-full') : 'disable';
  const target = targetFromUrl('demo', url, { tls: { mode }, connectTimeoutMs });
  let conn;
  try {
    conn = await connectUpstream(target, { application_name: 'pgwarden-demo' }, new ScramKeyCache());
  } catch (err) {
    // The connector keeps the server's words in `cause` (they never reach gateway clients); the
    // person running the demo needs them to fix the URL.
    const why = (err as { cause?: Error }).cause?.message;
    throw new Error(`cannot connect to ${target.host}:${target.port} as ${target.user}${why ? `: ${why}` : ''}`, { cause: err });
  }
  return new SimpleQuerySession(conn.socket);
}

/** A SQL string literal. */
export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
