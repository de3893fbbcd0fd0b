/**
 * A throwaway PostgreSQL cluster for tests and the bench: `initdb` in a temp dir, started on a
 * free port on 127.0.0.1 with SCRAM authentication, stopped and removed by `stop()`.
 *
 * initdb refuses to run as root, so when the test runs as root the cluster is created and run as
 * the `postgres` OS user (or the user in PGWARDEN_TEST_OS_USER).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';

export interface TestPostgres {
  host: string;
  port: number;
  /** The superuser the cluster was made with (password auth over TCP). */
  user: string;
  password: string;
  /** postgres://user:password@127.0.0.1:port/postgres */
  url(database?: string): string;
  /** Run SQL as the superuser with psql; returns stdout (unaligned, tuples only). */
  psql(sql: string, database?: string): string;
  dataDir: string;
  stop(): Promise<void>;
}

export function findPgBin(): string {
  const candidates = [process.env.PG_BIN, '/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin'];
  for (const c of candidates) if (c && existsSync(join(c, 'initdb'))) return c;
  throw new Error('PostgreSQL server binaries not found (set PG_BIN or install postgresql)');
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

function osUser(): OsUser | null {
  if (process.getuid?.() !== 0) return null;
  const name = process.env.PGWARDEN_TEST_OS_USER ?? 'postgres';
  const uid = Number(execFileSync('id', ['-u', name]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', name]).toString().trim());
  return { name, uid, gid };
}

export interface StartOptions {
  /** Extra postgresql.conf lines. */
  conf?: string[];
  /** Authentication method for TCP connections (default scram-sha-256). */
  auth?: 'scram-sha-256' | 'md5' | 'trust' | 'password';
  /** Extra pg_hba.conf lines, placed first. */
  hba?: string[];
  /** Keep the data directory on stop (debugging). */
  keep?: boolean;
}

export async function startPostgres(options: StartOptions = {}): Promise<TestPostgres> {
  const bin = findPgBin();
  const user = osUser();
  const root = mkdtempSync(join(tmpdir(), 'pgwarden-pg-'));
  const dataDir = join(root, 'data');
  const sockDir = join(root, 'sock');
  const pwFile = join(root, 'pw');
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  writeFileSync(pwFile, password + '\n');
  execFileSync('mkdir', ['-p', sockDir]);
  if (user) {
    chmodSync(root, 0o755);
    for (const p of [root, sockDir, pwFile]) chownSync(p, user.uid, user.gid);
  }
  const asUser = { uid: user?.uid, gid: user?.gid };
  const superuser = 'pgwarden_test';
  execFileSync(join(bin, 'initdb'), ['-D', dataDir, '-U', superuser, '--pwfile', pwFile, '-A', 'scram-sha-256', '--auth-local=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], {
    ...asUser,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const auth = options.auth ?? 'scram-sha-256';
  const hba = [...(options.hba ?? []), 'local all all trust', `host all all 127.0.0.1/32 ${auth}`, `host all all ::1/128 ${auth}`].join('\n') + '\n';
  writeFileSync(join(dataDir, 'pg_hba.conf'), hba);
  if (user) chownSync(join(dataDir, 'pg_hba.conf'), user.uid, user.gid);
  const port = await freePort();
  const conf = [
    `port = ${port}`,
    `listen_addresses = '127.0.0.1'`,
    `unix_socket_directories = '${sockDir}'`,
    'fsync = off',
    'synchronous_commit = off',
    'full_page_writes = off',
    'max_connections = 200',
    'shared_buffers = 64MB',
    `password_encryption = '${auth === 'md5' ? 'md5' : 'scram-sha-256'}'`,
    ...(options.conf ?? []),
  ];
  writeFileSync(join(dataDir, 'postgresql.auto.conf'), conf.join('\n') + '\n');
  if (user) chownSync(join(dataDir, 'postgresql.auto.conf'), user.uid, user.gid);

  const child: ChildProcess = spawn(join(bin, 'postgres'), ['-D', dataDir], { ...asUser, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
    if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
  });
  const psqlBin = join(bin, 'psql');
  const psql = (sql: string, database = 'postgres'): string =>
    execFileSync(psqlBin, ['-h', sockDir, '-p', String(port), '-U', superuser, '-d', database, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited during start: ${stderr}`);
    try {
      psql('select 1');
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`postgres did not start within 30 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  if (auth === 'md5') psql(`alter role ${superuser} password '${password}'`);
  let stopped = false;
  return {
    host: '127.0.0.1',
    port,
    user: superuser,
    password,
    dataDir,
    url: (database = 'postgres') => `postgres://${superuser}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    psql,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGINT'); // fast shutdown
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      if (!options.keep) rmSync(root, { recursive: true, force: true });
    },
  };
}
