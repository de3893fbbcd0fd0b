/**
 * `pgwarden demo`: everything a newcomer needs in one process.
 *
 * Flow: check the two ports → an upstream (`--upstream URL`, else a cluster of the demo's own from
 * this machine's PostgreSQL binaries in DATA_DIR/postgres, else PGlite in this process) → the
 * gateway role and the `shop` sample database, seeded once → the development issuer (its key in
 * DATA_DIR, so tokens survive restarts) → DATA_DIR/pgwarden.yaml written, loaded with the ordinary
 * loader and served with `startGateway` → DATA_DIR/demo.json for `pgwarden token` / `revoke` → the
 * ready text with paste-able psql lines.
 *
 * Human-readable progress and the ready text go to `out` (stdout); the gateway's JSON logs go to
 * the logger. `close()` stops the gateway, then the upstream the demo started.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfigFile } from '../config/index.ts';
import { DevIssuer } from '../identity/index.ts';
import type { Logger } from '../log.ts';
import { startGateway } from '../main.ts';
import { bannerText } from './banner.ts';
import { ADMIN_IDENTITY, AUDIENCE, CONSOLE_SECRET_FILE, IDENTITIES, KEY_FILE, PASSWORD_FILE, configText, writeDemoInfo, type UpstreamKind } from './demo-files.ts';
import { findServerBinaries, startLocalCluster } from './local-cluster.ts';
import { startPglite } from './pglite-upstream.ts';
import { assertPortFree, freePort, portError } from './ports.ts';
import { DATABASE, GATEWAY_ROLE, ensureShop } from './seed.ts';
import { openSql } from './sql-session.ts';

export { CUSTOMERS, ORDERS } from './seed.ts';
export { PGLITE_LIMITS } from './pglite-upstream.ts';

export interface DemoOptions {
  /** The gateway's PostgreSQL port (0: any free one). */
  port: number;
  /** The gateway's HTTP port (0: any free one). */
  httpPort: number;
  dataDir: string;
  /** An operator's URL of an existing server to use instead of an embedded one. */
  upstream?: string;
  logger: Logger;
  /** Without `upstream`: PostgreSQL binaries when found, else PGlite (`auto`), or force one. */
  embedded?: 'auto' | 'postgres' | 'pglite';
  /** Where progress and the ready text go (default: stdout). */
  out?: NodeJS.WritableStream;
}

export interface Demo {
  postgres: { host: string; port: number };
  http: { host: string; port: number };
  upstream: { kind: UpstreamKind; version: string };
  close(): Promise<void>;
}

interface Upstream {
  kind: UpstreamKind;
  host: string;
  port: number;
  operatorUrl: string;
  /** Whether the server has roles and databases (PGlite: one of each, no authentication). */
  roles: boolean;
  tlsMode: 'disable' | 'require' | 'verify-ca' | 'verify-full';
  where?: string;
  /** Why this kind was chosen, when it is worth saying. */
  note?: string;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

export async function runDemo(o: DemoOptions): Promise<Demo> {
  const out = o.out ?? process.stdout;
  const say = (line: string) => out.write(`pgwarden demo: ${line}\n`);
  const dataDir = resolve(o.dataDir);
  const port = o.port || (await freePort(HOST));
  const httpPort = o.httpPort || (await freePort(HOST));
  await assertPortFree(HOST, port, '--port');
  await assertPortFree(HOST, httpPort, '--http-port');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });

  // Until the demo is up, an interrupt undoes what was started (the caller's handlers come later).
  const undo: (() => Promise<void>)[] = [];
  const unwind = async () => {
    for (const step of undo.reverse()) await step().catch(() => undefined);
    undo.length = 0;
  };
  const onInterrupt = () => void unwind().finally(() => process.exit(130));
  process.once('SIGINT', onInterrupt);
  process.once('SIGTERM', onInterrupt);
  try {
    const started = Date.now();
    const upstream = await startUpstream(o, dataDir, say);
    undo.push(upstream.stop);
    const version = await serverVersion(upstream.operatorUrl);
    const gatewayPassword = upstream.roles ? await secretFile(join(dataDir, PASSWORD_FILE)) : undefined;
    const { seeded } = await ensureShop({ operatorUrl: upstream.operatorUrl, gatewayPassword, roles: upstream.roles, say });
    if (!seeded) say(`reusing the existing ${DATABASE} database (not seeded again)`);

    const issuer = `http://${HOST}:${httpPort}/dev`;
    const devIssuer = await DevIssuer.open(join(dataDir, KEY_FILE), issuer);
    // The key of the `hash` masker (deterministic, so joins on hashed values still match).
    await secretFile(join(dataDir, 'mask-key'));
    await secretFile(join(dataDir, CONSOLE_SECRET_FILE));
    const configPath = join(dataDir, 'pgwarden.yaml');
    const gatewayUrl = `postgres://${GATEWAY_ROLE}@${hostForUrl(upstream.host)}:${upstream.port}/${DATABASE}`;
    await writeFile(configPath, configText({ dataDir, port, httpPort, issuer, kind: upstream.kind, upstreamUrl: gatewayUrl, tlsMode: upstream.tlsMode }));
    const config = await loadConfigFile(configPath);
    let gw;
    try {
      gw = await startGateway(config, { logger: o.logger, configPath, devIssuer });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { port?: number };
      if (e.code === 'EADDRINUSE' || e.code === 'EACCES') throw portError(e, HOST, e.port ?? port, e.port === httpPort ? '--http-port' : '--port');
      throw err;
    }
    const gateway = gw;
    undo.push(() => gateway.close(1000));

    await writeDemoInfo(dataDir, {
      dataDir,
      database: DATABASE,
      postgres: gateway.postgres,
      http: gateway.http,
      upstream: { kind: upstream.kind, version, host: upstream.host, port: upstream.port },
      // The operator's URL of the demo's database (the cluster's maintenance database is only
      // for creating it): `psql "$(jq -r .upstreamUrl demo.json)"` opens shop directly.
      upstreamUrl: inDatabase(upstream.operatorUrl, DATABASE),
      devIssuer: { issuer, keyFile: KEY_FILE, audience: AUDIENCE },
      adminIdentity: ADMIN_IDENTITY,
      identities: IDENTITIES,
    });
    say(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    out.write(
      bannerText({
        dataDir: o.dataDir,
        postgres: gateway.postgres,
        http: gateway.http,
        issuer,
        database: DATABASE,
        upstream: { kind: upstream.kind, version, host: upstream.host, port: upstream.port, where: upstream.where, note: upstream.note },
        gatewayRole: upstream.roles ? GATEWAY_ROLE : undefined,
      }),
    );

    undo.length = 0;
    let closing: Promise<void> | undefined;
    return {
      postgres: gateway.postgres,
      http: gateway.http,
      upstream: { kind: upstream.kind, version },
      close: () =>
        (closing ??= (async () => {
          say('stopping the gateway');
          await gateway.close(1000);
          if (upstream.kind !== 'external') say(`stopping ${upstream.kind === 'pglite' ? 'PGlite' : 'PostgreSQL'}`);
          await upstream.stop();
          say('stopped');
        })()),
    };
  } catch (err) {
    await unwind();
    throw err;
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
  }
}

async function startUpstream(o: DemoOptions, dataDir: string, say: (line: string) => void): Promise<Upstream> {
  if (o.upstream) {
    let u: URL;
    try {
      u = new URL(o.upstream);
    } catch {
      throw new Error('--upstream: not a URL; expected postgres://user:password@host:port/database');
    }
    if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new Error('--upstream: expected a postgres:// URL');
    const sslmode = u.searchParams.get('sslmode');
    const tlsMode = sslmode === 'require' || sslmode === 'verify-ca' || sslmode === 'verify-full' ? sslmode : 'disable';
    say(`using the PostgreSQL server at ${u.host} (--upstream)`);
    return { kind: 'external', host: u.hostname.replace(/^\[|\]$/g, '') || HOST, port: Number(u.port || 5432), operatorUrl: o.upstream, roles: true, tlsMode, stop: async () => undefined };
  }
  const embedded = o.embedded ?? 'auto';
  const bin = embedded === 'pglite' ? undefined : findServerBinaries();
  if (embedded === 'postgres' && !bin) throw new Error('no PostgreSQL server binaries found: install postgresql or set PG_BIN to the folder with initdb');
  if (bin) {
    say(`using the PostgreSQL server binaries in ${bin}`);
    const cluster = await startLocalCluster({ bin, dataDir, say });
    say(`PostgreSQL ${cluster.version} ${cluster.created ? 'created and ' : ''}started on ${HOST}:${cluster.port}`);
    return { kind: 'postgres', host: HOST, port: cluster.port, operatorUrl: cluster.operatorUrl, roles: true, tlsMode: 'disable', where: join(dataDir, 'postgres'), stop: cluster.stop };
  }
  const note =
    embedded === 'pglite'
      ? 'PGlite was asked for.'
      : 'No PostgreSQL server binaries were found (install postgresql, or set PG_BIN to the folder with initdb), so the upstream is PGlite.';
  const pglite = await startPglite({ dataDir, say });
  say(`PGlite started on ${HOST}:${pglite.port}`);
  return { kind: 'pglite', host: HOST, port: pglite.port, operatorUrl: pglite.operatorUrl, roles: false, tlsMode: 'disable', where: join(dataDir, 'pglite'), note, stop: pglite.stop };
}

async function serverVersion(url: string): Promise<string> {
  const sql = await openSql(url);
  try {
    const [[version]] = await sql.query("select current_setting('server_version')");
    return (version ?? '').split(' ')[0];
  } finally {
    await sql.close();
  }
}

/** A random secret kept in `path` (owner-only), made on first use and reused afterwards. */
async function secretFile(path: string): Promise<string> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    if (text) return text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secret = randomBytes(24).toString('base64url');
  await writeFile(path, `${secret}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
  return secret;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** `url` with its database replaced by `database` (user, password, host and options kept). */
export function inDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}
