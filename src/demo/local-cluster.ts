/**
 * A PostgreSQL cluster of the demo's own, made from the server binaries installed on this machine:
 * `initdb` once into DATA_DIR/postgres, then started on a free loopback port on every run and
 * stopped on close. TCP only (no Unix socket), SCRAM-SHA-256 for every login.
 *
 * initdb and postgres refuse to run as root, so under root the cluster belongs to the `postgres`
 * OS user (PGWARDEN_DEMO_OS_USER to pick another): its directory is handed to that user and the
 * server runs as it.
 *
 * The server runs in its own process group, so a Ctrl-C in the terminal reaches the demo alone
 * and the demo stops the server after the gateway. If the demo dies without stopping it, the
 * next start finds the orphan through postmaster.pid and shuts it down first.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openSql } from './sql-session.ts';
import { freePort, waitUntil } from './ports.ts';

const execFileAsync = promisify(execFile);
const OPERATOR = 'postgres';

/** The directory with `initdb` and `postgres`: PG_BIN, else the newest packaged server. */
export function findServerBinaries(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.PG_BIN) return existsSync(join(env.PG_BIN, 'initdb')) ? env.PG_BIN : undefined;
  const debian = '/usr/lib/postgresql';
  const versions = existsSync(debian) ? readdirSync(debian).filter((v) => /^\d+(\.\d+)?$/.test(v)) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  const candidates = [...versions.map((v) => join(debian, v, 'bin')), '/usr/local/pgsql/bin'];
  return candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres')));
}

export interface LocalCluster {
  port: number;
  /** postgres://postgres:…@127.0.0.1:port/postgres — the cluster's superuser. */
  operatorUrl: string;
  /** Whether this run made the cluster (initdb) rather than reusing one. */
  created: boolean;
  version: string;
  stop(): Promise<void>;
}

interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

export interface LocalClusterOptions {
  bin: string;
  /** The demo's data directory; the cluster lives in its `postgres` folder. */
  dataDir: string;
  say(line: string): void;
}

export async function startLocalCluster(o: LocalClusterOptions): Promise<LocalCluster> {
  const pgdata = join(o.dataDir, 'postgres');
  const passwordFile = join(o.dataDir, 'operator-password');
  const logFile = join(o.dataDir, 'postgres.log');
  const user = serverUser(o.dataDir);
  const asUser = user ? { uid: user.uid, gid: user.gid } : {};

  let created = false;
  if (!existsSync(join(pgdata, 'PG_VERSION')) || !existsSync(passwordFile)) {
    await initCluster(o, pgdata, passwordFile, user);
    created = true;
  }
  const password = readFileSync(passwordFile, 'utf8').trim();
  const version = readFileSync(join(pgdata, 'PG_VERSION'), 'utf8').trim();
  await stopOrphan(pgdata);

  const port = await freePort();
  const log = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(join(o.bin, 'postgres'), ['-D', pgdata, '-p', String(port)], {
      ...asUser,
      detached: true,
      stdio: ['ignore', log, log],
    });
  } finally {
    closeSync(log);
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', () => undefined);
  const operatorUrl = `postgres://${OPERATOR}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  try {
    await waitUntil('PostgreSQL to accept connections', 60_000, async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`PostgreSQL exited during start; see ${logFile}:\n${tail(logFile)}`);
      try {
        const sql = await openSql(operatorUrl, 2000);
        await sql.close();
        return true;
      } catch (err) {
        // 57P03: the server is starting up; refused: not listening yet.
        if (/password authentication failed/.test((err as Error).message)) throw err;
        return false;
      }
    });
  } catch (err) {
    await stopChild(child, exited);
    throw err;
  }

  let stopped: Promise<void> | undefined;
  return {
    port,
    operatorUrl,
    created,
    version,
    stop: () => (stopped ??= stopChild(child, exited)),
  };
}

async function initCluster(o: LocalClusterOptions, pgdata: string, passwordFile: string, user: OsUser | null): Promise<void> {
  // A directory without PG_VERSION is what a failed initdb leaves behind: start over.
  rmSync(pgdata, { recursive: true, force: true });
  mkdirSync(pgdata, { mode: 0o700 });
  if (user) chownSync(pgdata, user.uid, user.gid);
  const password = randomBytes(18).toString('base64url');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  o.say(`initialising a PostgreSQL cluster in ${pgdata} (first run only)`);
  // initdb reads the password from a file its user can open; it lives only while initdb runs.
  const pwfile = join(o.dataDir, '.initdb-password');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (user) chownSync(pwfile, user.uid, user.gid);
  const args = ['-D', pgdata, '-U', OPERATOR, `--pwfile=${pwfile}`, '-A', 'scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-instructions'];
  try {
    await execFileAsync(join(o.bin, 'initdb'), args, { ...(user ? { uid: user.uid, gid: user.gid } : {}), encoding: 'utf8' });
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
    throw new Error(`initdb failed in ${pgdata}${stderr ? `:\n${stderr}` : ''}`);
  } finally {
    rmSync(pwfile, { force: true });
  }
  // Only TCP on loopback, and only with a password; the port is given on each start.
  const conf = ['', '# pgwarden demo', "listen_addresses = '127.0.0.1'", "unix_socket_directories = ''", "password_encryption = 'scram-sha-256'", ''];
  writeFileSync(join(pgdata, 'postgresql.conf'), readFileSync(join(pgdata, 'postgresql.conf'), 'utf8') + conf.join('\n'));
  writeFileSync(join(pgdata, 'pg_hba.conf'), ['# pgwarden demo: password (SCRAM) logins over loopback TCP only', 'host all all 127.0.0.1/32 scram-sha-256', 'host all all ::1/128 scram-sha-256', ''].join('\n'));
  if (user) for (const f of ['postgresql.conf', 'pg_hba.conf']) chownSync(join(pgdata, f), user.uid, user.gid);
}

/** The OS user the server runs as: null when not root (it runs as us). */
function serverUser(dataDir: string): OsUser | null {
  if (process.getuid?.() !== 0) return null;
  const name = process.env.PGWARDEN_DEMO_OS_USER ?? 'postgres';
  const id = (flag: string) => spawnSync('id', [flag, name], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(`running as root, and PostgreSQL refuses to run as root: create a "${name}" OS user, run the demo as another user, or pass --upstream URL`);
  }
  const user = { name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  // The server's user must reach its directory inside ours: let others traverse (not list) it.
  const mode = statSync(dataDir).mode & 0o777;
  if ((mode & 0o001) === 0) chmodSync(dataDir, mode | 0o001);
  const reach = spawnSync('test', ['-x', dataDir], { uid: user.uid, gid: user.gid });
  if (reach.status !== 0) {
    throw new Error(`the ${name} OS user cannot reach ${dataDir} (a parent directory is closed to it): choose a --data-dir it can reach, e.g. /tmp/pgwarden-data`);
  }
  return user;
}

/**
 * A server still running on this data directory from a demo that died without stopping it: shut
 * it down. One whose parent is another live demo is that demo's, and this start must not steal it.
 */
async function stopOrphan(pgdata: string): Promise<void> {
  const pidFile = join(pgdata, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return; // stale: postgres replaces it
  const cmdline = procText(`/proc/${pid}/cmdline`).replace(/\0/g, ' ');
  if (!/postgres/.test(cmdline)) {
    // The number now belongs to an unrelated process; the file is stale.
    rmSync(pidFile, { force: true });
    return;
  }
  const ppid = Number(/^\d+ \(.*\) \S (\d+)/.exec(procText(`/proc/${pid}/stat`))?.[1] ?? 0);
  const parent = ppid > 1 ? procText(`/proc/${ppid}/cmdline`).replace(/\0/g, ' ') : '';
  if (/pgwarden/.test(parent) && /\bdemo\b/.test(parent)) {
    throw new Error(`another pgwarden demo (pid ${ppid}) is running on this data directory: stop it first, or pass another --data-dir`);
  }
  process.kill(pid, 'SIGINT');
  await waitUntil('the previous PostgreSQL server to stop', 30_000, () => !alive(pid));
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGINT'); // fast shutdown: roll back open transactions, checkpoint, exit
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 20_000).unref());
  if ((await Promise.race([exited, timer])) === 'timeout') {
    child.kill('SIGQUIT'); // immediate shutdown; recovery runs on the next start
    await exited;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function procText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function tail(file: string, lines = 15): string {
  return procText(file).trimEnd().split('\n').slice(-lines).join('\n');
}
