/**
 * Runs another project's own integration test suite against PostgreSQL directly and through the
 * gateway, and prints the results test by test, side by side.
 *
 *   scripts/peer-suite.sh <checkout> <suite> [--runs direct,gateway,guarded] [--json out.json]
 *
 * PEER_ONLY=<text> runs only the pg test files whose path contains it (pgx, lib-pq: the tests that regexp matches); PEER_VERBOSE=1 prints
 * each file's output; PEER_KEEP=1 keeps each run's directory (config, gateway log); PEER_POOL=session
 * or transaction runs the gateway with a pool of 10 server connections per upstream in that mode.
 *
 * suite: `postgres.js` (a checkout of porsager/postgres), `pg` (a checkout of
 * brianc/node-postgres with packages/pg's dependencies installed), or `pg-cursor`,
 * `pg-query-stream`, `pg-pool` (that checkout's other packages, run with its mocha), or `pgx`,
 * `lib-pq` (Go: the source directories Debian's golang-github-jackc-pgx-v4-dev and
 * golang-github-lib-pq-dev install under /usr/share/gocode). Each run gets a throwaway
 * cluster (initdb on a free port, as the postgres OS user when root) set up the way the suite's
 * own CI sets up its server (roles, databases, pg_hba), so no assertion is changed:
 *
 * - direct:  the suite against the cluster, with the passwords its CI uses;
 * - gateway: through `bin/pgwarden.mjs start`, a policy that grants everything, the password a
 *            token of an issuer served by this script;
 * - guarded: the same, plus the audit log in SQLite, masking rules on a column the suite never
 *            touches and review rules that match none of its statements.
 *
 * Where a suite runs `psql`, `createdb` or `dropdb` to set up its server, those run directly on
 * the cluster as its superuser (wrappers first in PATH), in every run: they are the suite's
 * server administration, not the client under test. postgres.js's tests/bootstrap.js runs once
 * before the gateway starts (it drops and makes the database the gateway routes to); in the
 * suite's copy it is left with only its `exec` helper, and its runner (tests/test.js, which stops
 * at the first failure) is replaced by one that runs every test and prints one line per test.
 *
 * Not part of `npm test`: the checkouts and their dependencies are downloads.
 */
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, readFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findPgBin, freePort, startPostgres, type TestPostgres } from '../test/helpers/postgres.ts';
import { startTestIssuer, type TestIssuer } from '../test/helpers/issuer.ts';
import { everythingPolicy } from './everything-policy.ts';

type Outcome = 'pass' | 'fail' | 'skip';
type Results = Map<string, { outcome: Outcome; detail: string }>;
type RunName = 'direct' | 'gateway' | 'guarded';

interface Target {
  host: string;
  port: number;
  /** The password the suite's client sends: the role's password direct, a token through the gateway. */
  password: string | undefined;
  /** A directory with psql/createdb/dropdb wrappers that reach the cluster as its superuser. */
  adminBin: string;
}

interface Suite {
  /** pg_hba.conf lines placed before the defaults. */
  hba: string[];
  /** postgresql.conf lines the suite's CI sets. */
  conf?: string[];
  /** Roles and databases the suite's CI creates, made as the cluster's superuser. */
  setup(pg: TestPostgres): void;
  /**
   * The suite's own server setup, run before the gateway starts (the gateway loads each routed
   * database's catalog when it starts, so the databases must exist by then).
   */
  bootstrap?(checkout: string, adminBin: string): Promise<void>;
  /** The password the suite signs in with directly (none: trust). */
  directPassword?: string;
  /** What the gateway signs in to upstream as: the same role the suite uses directly. */
  upstreams(pg: TestPostgres): Record<string, { url: string; password?: string; databases: string[] }>;
  /** The token subject (the name the suite connects as). */
  subject: string;
  /**
   * Other startup user names the suite connects as (its clients made without options take
   * PGUSER): accepted by the gateway through `identity.user_names`, as a deployment would.
   */
  userNames?: string[];
  run(checkout: string, target: Target, log: (s: string) => void): Promise<Results>;
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function sockDir(pg: TestPostgres): string {
  return join(dirname(pg.dataDir), 'sock');
}

/** psql, createdb and dropdb that go to the cluster's socket as its superuser, whatever the environment says. */
function adminWrappers(pg: TestPostgres, dir: string): void {
  mkdirSync(dir, { recursive: true });
  const bin = findPgBin();
  const common = `-h '${sockDir(pg)}' -p ${pg.port} -U ${pg.user}`;
  const scripts: Record<string, string> = {
    psql: `exec '${bin}/psql' ${common} -d postgres -X "$@"`,
    createdb: `exec '${bin}/createdb' ${common} "$@"`,
    dropdb: `exec '${bin}/dropdb' ${common} "$@"`,
  };
  for (const [name, body] of Object.entries(scripts)) {
    writeFileSync(join(dir, name), `#!/bin/sh\nunset PGPASSWORD PGUSER PGDATABASE PGHOST PGPORT\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  }
}

function runProcess(
  cmd: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, options.timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr, timedOut });
    });
  });
}

function suiteEnv(target: Target, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${target.adminBin}:${process.env.PATH}`, PGHOST: target.host, PGPORT: String(target.port), ...extra };
  delete env.PGPASSWORD;
  if (target.password !== undefined) env.PGPASSWORD = target.password;
  delete env.NODE_OPTIONS;
  return env;
}

/**
 * postgres.js: tests/index.js with its own runner replaced by one that goes on after a failure
 * (the original stops at the first) and prints one line per test. The suite runs in a copy of
 * the checkout; the checkout is not changed.
 */
const POSTGRES_JS_RUNNER = `
import util from 'util'
const tests = []
let only = false
let ignored = 0
export const nt = () => ignored++
export const ot = (...rest) => (only = true, test(true, ...rest))
export const t = (...rest) => test(false, ...rest)
t.timeout = 5
// The suite's own runner stops at the first failure, so its tests assume every earlier test
// cleaned up after itself. This runner goes on after a failure: a failed test's tables (its
// cleanup never ran) are dropped, as the superuser, before the next test, so that one failure
// does not fail every later test that creates the same table.
import { spawnSync } from 'child_process'
const tablesNow = () => spawnSync('psql', ['-d', 'postgres_js_test', '-Atc', "select format('%I.%I', schemaname, tablename) from pg_tables where schemaname = 'public'"], { encoding: 'utf8' }).stdout.split('\\n').filter(Boolean)
const tablesAtStart = new Set(tablesNow())
function dropLeftovers() {
  const left = tablesNow().filter((t) => !tablesAtStart.has(t))
  if (left.length > 0) spawnSync('psql', ['-d', 'postgres_js_test', '-c', 'drop table if exists ' + left.join(', ') + ' cascade'], { encoding: 'utf8' })
}
// A test's stray promise (a notify it does not await, then sql.end()) must not end the run.
process.on('unhandledRejection', (e) => process.stderr.write('unhandled rejection, ignored by the runner: ' + (e && e.message || e) + '\\n'))
let chain = Promise.resolve()
let pending = 0
function test(o, name, options, fn) {
  if (typeof options !== 'object') { fn = options; options = {} }
  const line = new Error().stack.split('\\n')[3].match(':([0-9]+):')[1]
  pending++
  const entry = { name, line, o }
  tests.push(entry)
  chain = chain.then(async () => {
    await 1
    if (only && !entry.o) return report(entry, 'skip', 'not run: another test is marked only')
    let timer
    try {
      const x = await Promise.race([
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('Timed out')), (options.timeout || t.timeout) * 1000) }),
        fn()
      ])
      if (!Array.isArray(x)) throw new Error('Test should return result array')
      const [expected, got] = await Promise.all(x)
      if (expected !== got) throw new Error(util.inspect(expected) + ' != ' + util.inspect(got))
      report(entry, 'pass', '')
    } catch (err) {
      report(entry, 'fail', err instanceof Error ? (err.code ? err.code + ' ' : '') + err.message : util.inspect(err))
      dropLeftovers()
    } finally {
      clearTimeout(timer)
    }
  })
}
function report(entry, outcome, detail) {
  process.stdout.write('PEER-RESULT\\t' + entry.name.replace(/\\s+/g, ' ') + ' (line ' + entry.line + ')\\t' + outcome + '\\t' + String(detail).replace(/\\s+/g, ' ').slice(0, 300) + '\\n')
  if (--pending === 0) setTimeout(() => process.exit(0), 200)
}
`;

/** tests/bootstrap.js without its top-level setup (already run by `bootstrap`): only its `exec` helper. */
const POSTGRES_JS_BOOTSTRAP = `
import { spawnSync } from 'child_process'
export function exec(cmd, args) {
  const { stderr } = spawnSync(cmd, args, { stdio: 'pipe', encoding: 'utf8' })
  if (stderr && !stderr.includes('already exists') && !stderr.includes('does not exist') && !stderr.includes('WARNING:'))
    throw stderr
}
`;

const postgresJs: Suite = {
  // The suite's tests/pg_hba.conf, for TCP on loopback, and the settings its CI workflow makes
  // (SSL aside: the cluster has no certificate, so the SSL tests fail in every run).
  hba: [
    'host all postgres 127.0.0.1/32 trust',
    'host replication postgres 127.0.0.1/32 trust',
    'host all postgres_js_test 127.0.0.1/32 trust',
    'host all postgres_js_test_md5 127.0.0.1/32 md5',
    'host all postgres_js_test_scram 127.0.0.1/32 scram-sha-256',
  ],
  conf: ['wal_level = logical', 'max_prepared_transactions = 100'],
  setup(pg) {
    // tests/bootstrap.js (run by the suite itself) makes its roles and database; its CI runs it
    // with PGUSER=postgres, a superuser.
    pg.psql('create role postgres superuser login');
  },
  async bootstrap(checkout, adminBin) {
    // tests/bootstrap.js as the suite ships it: roles, the database, password encryption.
    const r = await runProcess(process.execPath, ['tests/bootstrap.js'], { cwd: checkout, env: { ...process.env, PATH: `${adminBin}:${process.env.PATH}` }, timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`tests/bootstrap.js failed: ${r.stderr}`);
  },
  upstreams: (pg) => ({
    pgjs: { url: `postgres://postgres_js_test@127.0.0.1:${pg.port}/postgres_js_test`, databases: ['postgres_js_test'] },
    postgres: { url: `postgres://postgres@127.0.0.1:${pg.port}/postgres`, databases: ['postgres'] },
  }),
  subject: 'postgres_js_test',
  // The suite's CI sets PGUSER=postgres, which its clients made with no options connect as.
  userNames: ['postgres'],
  async run(checkout, target, log) {
    const work = mkdtempSync(join(tmpdir(), 'pgwarden-peer-pgjs-'));
    try {
      cpSync(checkout, work, { recursive: true, filter: (src) => !src.includes(`${join(checkout, 'node_modules')}`) });
      writeFileSync(join(work, 'tests', 'test.js'), POSTGRES_JS_RUNNER);
      writeFileSync(join(work, 'tests', 'bootstrap.js'), POSTGRES_JS_BOOTSTRAP);
      const env = suiteEnv(target, { PGUSER: 'postgres' });
      const r = await runProcess(process.execPath, ['tests/index.js'], { cwd: work, env, timeoutMs: 15 * 60_000 });
      const results: Results = new Map();
      for (const line of r.stdout.split('\n')) {
        const m = /^PEER-RESULT\t(.*)\t(pass|fail|skip)\t(.*)$/.exec(line);
        if (m) results.set(m[1], { outcome: m[2] as Outcome, detail: m[3] });
      }
      if (r.code !== 0 || r.timedOut) {
        log(`postgres.js suite exited with ${r.timedOut ? 'a timeout' : `code ${r.code}`}: ${r.stderr.slice(-2000)}`);
        results.set('(the suite process)', { outcome: 'fail', detail: r.timedOut ? 'timed out' : `exit code ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' ')}` });
      }
      return results;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
};

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('-tests.js')) out.push(p);
  }
  return out;
}

/**
 * The server of a suite whose CI signs in to one database as the superuser `postgres` (password
 * `postgres`); `more` adds what else its CI sets up. The gateway signs in upstream as that role.
 */
function superuserServer(database: string, more?: (pg: TestPostgres) => void): Pick<Suite, 'hba' | 'setup' | 'upstreams' | 'directPassword' | 'subject'> {
  return {
    hba: [],
    setup(pg) {
      pg.psql(`create role postgres superuser login password 'postgres'`);
      pg.psql(`create database ${database} owner postgres`);
      more?.(pg);
    },
    upstreams: (pg) => ({ [database]: { url: `postgres://postgres@127.0.0.1:${pg.port}/${database}`, password: 'postgres', databases: [database] } }),
    directPassword: 'postgres',
    subject: 'postgres',
  };
}

/**
 * node-postgres: every packages/pg/test/integration/**\/*-tests.js, one process each (as its
 * Makefile's test-integration does), with the environment of its CI (PGUSER postgres, password
 * postgres, database ci_db_test, no SSL). Its runner prints "  <name> ✔" or "FAILED!" per test
 * and exits at the first failure, so a failed file has no results for the tests after it.
 */
const nodePostgres: Suite = {
  ...superuserServer('ci_db_test'),
  async run(checkout, target) {
    const pkg = join(checkout, 'packages', 'pg');
    const env = suiteEnv(target, { PGUSER: 'postgres', PGDATABASE: 'ci_db_test', PGTESTNOSSL: 'true' });
    const results: Results = new Map();
    for (const file of findTests(join(pkg, 'test', 'integration'))) {
      const rel = relative(join(pkg, 'test', 'integration'), file);
      if (process.env.PEER_ONLY && !rel.includes(process.env.PEER_ONLY)) continue;
      const r = await runProcess(process.execPath, [file], { cwd: pkg, env, timeoutMs: 60_000 });
      if (process.env.PEER_VERBOSE) process.stderr.write(`--- ${rel} (exit ${r.code})\n${r.stdout}\n${r.stderr}\n`);
      let current: string | null = null;
      const text = r.stdout;
      // Each test writes "  <name> " and then its verdict on the same line.
      for (const m of text.matchAll(/^ {2}(\S.*?) Message: (.*)$/gm)) results.set(`${rel} › ${m[1]}`, { outcome: 'fail', detail: m[2].slice(0, 300) });
      for (const m of text.matchAll(/^ {2}(\S.*?) (✔|FAILED!|\? - SKIPPED)?$/gm)) {
        const name = `${rel} › ${m[1]}`;
        if (m[2] === '✔') results.set(name, { outcome: 'pass', detail: '' });
        else if (m[2] === 'FAILED!') {
          const after = text.slice((m.index ?? 0) + m[0].length).trim().split('\n')[0] ?? '';
          results.set(name, { outcome: 'fail', detail: after.slice(0, 300) });
        } else if (m[2]) results.set(name, { outcome: 'skip', detail: '' });
        else current = name;
      }
      if (current && !results.has(current)) results.set(current, { outcome: 'fail', detail: `did not finish: ${(r.stdout.split('\n').slice(-3).join(' ') + ' ' + r.stderr.slice(-300)).replace(/\s+/g, ' ').trim()}` });
      const fileOk = r.code === 0 && !r.timedOut;
      results.set(`${rel} (exit)`, {
        outcome: fileOk ? 'pass' : 'fail',
        detail: fileOk ? '' : `${r.timedOut ? 'timed out' : `exit code ${r.code}`}: ${(r.stdout.slice(-400) + ' ' + r.stderr.slice(-400)).replace(/\s+/g, ' ').trim()}`.slice(0, 400),
      });
    }
    return results;
  },
};

/**
 * node-postgres's other packages (pg-cursor, pg-query-stream, pg-pool): each package's mocha
 * tests, with the server and environment of the pg suite above, read from mocha's JSON report
 * (one process per package; `--bail` from a package's own options is not passed, so every test runs).
 */
function nodePostgresPackage(name: string, spec: string[], extraArgs: string[] = []): Suite {
  return {
    ...nodePostgres,
    async run(checkout, target) {
      const pkg = join(checkout, 'packages', name);
      const env = suiteEnv(target, { PGUSER: 'postgres', PGDATABASE: 'ci_db_test', PGTESTNOSSL: 'true' });
      const report = join(mkdtempSync(join(tmpdir(), 'pgw-mocha-')), 'report.json');
      const mocha = join(checkout, 'node_modules', '.bin', 'mocha');
      const r = await runProcess(mocha, [...extraArgs, '--no-config', '--timeout', '10000', '--exit', '--reporter', 'json', '--reporter-option', `output=${report}`, ...spec], { cwd: pkg, env, timeoutMs: 300_000 });
      if (process.env.PEER_VERBOSE) process.stderr.write(`--- ${name} (exit ${r.code})\n${r.stdout}\n${r.stderr}\n`);
      const results: Results = new Map();
      type MochaTest = { fullTitle: string; file?: string; err?: { message?: string } };
      let parsed: { passes: MochaTest[]; failures: MochaTest[]; pending: MochaTest[] } | null = null;
      try {
        parsed = JSON.parse(readFileSync(report, 'utf8'));
      } catch {
        results.set(`${name} (report)`, { outcome: 'fail', detail: `no mocha report (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${(r.stdout.slice(-300) + ' ' + r.stderr.slice(-300)).replace(/\s+/g, ' ').trim()}` });
        return results;
      } finally {
        rmSync(dirname(report), { recursive: true, force: true });
      }
      const key = (t: MochaTest) => `${name}/${t.file ? relative(pkg, t.file) : '?'} › ${t.fullTitle}`;
      for (const t of parsed!.passes) results.set(key(t), { outcome: 'pass', detail: '' });
      for (const t of parsed!.pending) results.set(key(t), { outcome: 'skip', detail: '' });
      for (const t of parsed!.failures) results.set(key(t), { outcome: 'fail', detail: (t.err?.message ?? '').slice(0, 300) });
      return results;
    },
  };
}

/**
 * Go packages' tests, built with `go test -c` from a source tree in GOPATH layout (Debian's
 * golang-*-dev packages install them, with their dependencies, under /usr/share/gocode) and run
 * with `-test.v`: a result per test and subtest, and one for each binary's exit status.
 * `packages` are [short name, import path, directory to run in]; PEER_ONLY is `-test.run`.
 */
async function goTests(gopath: string, packages: [string, string, string][], env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<Results> {
  const bin = join(tmpdir(), 'pgwarden-peer-go');
  mkdirSync(bin, { recursive: true });
  const goEnv = { ...process.env, GO111MODULE: 'off', GOPATH: gopath, GOCACHE: join(bin, 'cache'), GOFLAGS: '' };
  const results: Results = new Map();
  for (const [name, pkg, cwd] of packages) {
    // Built every run, from the checkout as it is: Go's build cache (GOCACHE) makes a rebuild
    // of unchanged sources take seconds.
    const exe = join(bin, `${name}.test`);
    log(`building ${pkg}'s tests`);
    const built = await runProcess('go', ['test', '-c', '-o', exe, pkg], { cwd, env: goEnv, timeoutMs: 600_000 });
    if (built.code !== 0) throw new Error(`go test -c ${pkg} failed: ${built.stderr.slice(-1000)}`);
    const only = process.env.PEER_ONLY ? ['-test.run', process.env.PEER_ONLY] : [];
    const r = await runProcess(exe, ['-test.v', '-test.timeout', '15m', '-test.count', '1', ...only], { cwd, env, timeoutMs: 1_000_000 });
    if (process.env.PEER_VERBOSE) process.stderr.write(`--- ${name} (exit ${r.code})\n${r.stdout}\n${r.stderr}\n`);
    // A test's messages are the indented lines after `=== RUN|CONT <name>` (parallel tests
    // interleave); its verdict is its `--- PASS|FAIL|SKIP: <name>` line.
    const messages = new Map<string, string>();
    let current = '';
    for (const line of r.stdout.split('\n')) {
      const head = /^=== (?:RUN|CONT|PAUSE|NAME)\s+(\S+)/.exec(line);
      if (head) current = head[1];
      else if (/^\s{4,}\S/.test(line) && !/^\s*--- /.test(line)) messages.set(current, `${messages.get(current) ?? ''}${line.trim()} `);
      const m = /^\s*--- (PASS|FAIL|SKIP): (\S+)/.exec(line);
      if (!m) continue;
      const detail = m[1] === 'FAIL' ? (messages.get(m[2]) ?? '').slice(0, 300) : '';
      results.set(`${name} › ${m[2]}`, { outcome: m[1] === 'PASS' ? 'pass' : m[1] === 'FAIL' ? 'fail' : 'skip', detail });
    }
    // A panic or timeout ends the binary without verdicts for the rest.
    const ok = r.code === 0 && !r.timedOut;
    results.set(`${name} (exit)`, { outcome: ok ? 'pass' : 'fail', detail: ok ? '' : `${r.timedOut ? 'timed out' : `exit ${r.code}`}: ${r.stdout.slice(-600).replace(/\s+/g, ' ')}` });
  }
  return results;
}

/**
 * pgx (Go, its own protocol code): the tests of github.com/jackc/pgx/v4 and its pgxpool, from
 * Debian's golang-github-jackc-pgx-v4-dev (give the v4 directory), with the server its CI sets
 * up: a database pgx_test with hstore and the domain uint64, the tests reading PGX_TEST_DATABASE.
 */
const pgx: Suite = {
  ...superuserServer('pgx_test', (pg) => pg.psql('create extension hstore; create domain uint64 as numeric(20,0)', 'pgx_test')),
  run(checkout, target, log) {
    const url = `host=${target.host} port=${target.port} user=postgres dbname=pgx_test${target.password ? ` password=${target.password}` : ''}`;
    const packages: [string, string, string][] = [
      ['pgx', 'github.com/jackc/pgx/v4', checkout],
      ['pgxpool', 'github.com/jackc/pgx/v4/pgxpool', join(checkout, 'pgxpool')],
    ];
    return goTests(resolve(checkout, '..', '..', '..', '..', '..'), packages, { ...suiteEnv(target, {}), PGX_TEST_DATABASE: url }, log);
  },
};

/**
 * lib/pq (Go's database/sql driver, its own protocol code): the tests of github.com/lib/pq from
 * Debian's golang-github-lib-pq-dev (give its directory), with the environment its CI uses: a
 * database pqgotest, PGUSER and PGSSLMODE=disable (the SSL tests skip without their certificates).
 */
const libPq: Suite = {
  ...superuserServer('pqgotest', (pg) => pg.psql('create extension hstore', 'pqgotest')),
  run(checkout, target, log) {
    const env = suiteEnv(target, { PGUSER: 'postgres', PGDATABASE: 'pqgotest', PGSSLMODE: 'disable' });
    return goTests(resolve(checkout, '..', '..', '..', '..'), [['pq', 'github.com/lib/pq', checkout]], env, log);
  },
};

/**
 * psycopg 3 (Python, on libpq, with its own pipeline, COPY, server-side cursor and prepared
 * statement code): the test files of a psycopg checkout (give its root; check out the tag of the
 * psycopg installed, e.g. 3.1.7 for Debian's python3-psycopg), each file one pytest process of
 * the system Python (Debian's python3-pytest and python3-pytest-asyncio), with the DSN its CI
 * passes in PSYCOPG_TEST_DSN, against the installed psycopg. The typing, DNS and Windows files
 * need other packages or systems and are left out, as are the pool's and CockroachDB's.
 */
const psycopg: Suite = {
  ...superuserServer('psycopg_test', (pg) => pg.psql('create extension hstore', 'psycopg_test')),
  async run(checkout, target, log) {
    const dsn = `host=${target.host} port=${target.port} user=postgres dbname=psycopg_test${target.password ? ` password=${target.password}` : ''}`;
    const env = suiteEnv(target, { PSYCOPG_TEST_DSN: dsn, PSYCOPG_IMPL: 'python', PYTHONDONTWRITEBYTECODE: '1' });
    const results: Results = new Map();
    const leftOut = /(test_typing|test_dns[a-z_]*|test_windows)\.py$/;
    const files = [...readdirSync(join(checkout, 'tests')).map((f) => `tests/${f}`), ...readdirSync(join(checkout, 'tests', 'types')).map((f) => `tests/types/${f}`)]
      .filter((f) => /\/test_[^/]*\.py$/.test(f) && !leftOut.test(f))
      .sort();
    for (const rel of files) {
      if (process.env.PEER_ONLY && !rel.includes(process.env.PEER_ONLY)) continue;
      log(`pytest ${rel}`);
      const r = await runProcess('/usr/bin/python3', ['-m', 'pytest', rel, '-v', '-o', `cache_dir=${join(tmpdir(), 'pgwarden-peer-pytest')}`, '--tb=line', '--no-header'], { cwd: checkout, env, timeoutMs: 300_000 });
      if (process.env.PEER_VERBOSE) process.stderr.write(`--- ${rel} (exit ${r.code})\n${r.stdout}\n${r.stderr}\n`);
      // "tests/x.py::test_name[param] PASSED  [ 10%]"; a failure's line is in the short summary
      // ("FAILED tests/x.py::test_name - <message>").
      const failures = new Map<string, string>();
      for (const m of r.stdout.matchAll(/^(?:FAILED|ERROR) (\S+) - (.*)$/gm)) failures.set(m[1], m[2]);
      for (const m of r.stdout.matchAll(/^(\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b/gm)) {
        const outcome: Outcome = m[2] === 'PASSED' || m[2] === 'XFAIL' ? 'pass' : m[2] === 'SKIPPED' ? 'skip' : 'fail';
        results.set(m[1], { outcome, detail: outcome === 'fail' ? (failures.get(m[1]) ?? m[2]).slice(0, 300) : '' });
      }
      // Exit 0 (all passed) or 1 (some failed) are verdicts; anything else (a hang, a crash, a
      // collection error) is the file's own failure.
      const fileOk = (r.code === 0 || r.code === 1 || r.code === 5) && !r.timedOut;
      results.set(`${rel} (exit)`, {
        outcome: fileOk ? 'pass' : 'fail',
        detail: fileOk ? '' : `${r.timedOut ? 'timed out' : `exit code ${r.code}`}: ${(r.stdout.slice(-400) + ' ' + r.stderr.slice(-400)).replace(/\s+/g, ' ').trim()}`.slice(0, 400),
      });
    }
    return results;
  },
};

const suites: Record<string, Suite> = {
  psycopg,
  pgx,
  'lib-pq': libPq,
  'postgres.js': postgresJs,
  pg: nodePostgres,
  'pg-cursor': nodePostgresPackage('pg-cursor', ['test/']),
  'pg-query-stream': nodePostgresPackage('pg-query-stream', ['test/**/*.ts'], ['-r', 'ts-node/register']),
  'pg-pool': nodePostgresPackage('pg-pool', ['test/']),
};

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolvePromise, reject) => {
    const attempt = () => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolvePromise();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

async function startGatewayProcess(dir: string, config: Record<string, unknown>): Promise<{ port: number; stop(): Promise<void>; logFile: string }> {
  const port = await freePort();
  const http = await freePort();
  const full = { ...config, listen: { postgres: `127.0.0.1:${port}`, http: `127.0.0.1:${http}` } };
  const file = join(dir, 'pgwarden.yaml');
  writeFileSync(file, JSON.stringify(full, null, 2)); // YAML is a superset of JSON
  const logFile = join(dir, 'gateway.log');
  const { openSync } = await import('node:fs');
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [join(root, 'bin', 'pgwarden.mjs'), 'start', '--config', file], { stdio: ['ignore', fd, fd] });
  const exited = new Promise((r) => child.once('exit', r));
  await Promise.race([waitForPort(port, 30_000), exited.then(() => Promise.reject(new Error(`the gateway exited at start: ${readFileSync(logFile, 'utf8').slice(-2000)}`)))]);
  return {
    port,
    logFile,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

async function oneRun(run: RunName, suite: Suite, checkout: string, log: (s: string) => void): Promise<Results> {
  const dir = mkdtempSync(join(tmpdir(), `pgwarden-peer-${run}-`));
  chmodSync(dir, 0o755);
  const pg = await startPostgres({ hba: suite.hba, conf: suite.conf });
  let issuer: TestIssuer | undefined;
  let gateway: Awaited<ReturnType<typeof startGatewayProcess>> | undefined;
  try {
    suite.setup(pg);
    // Masking and review rules for the guarded run name this table, which no suite touches;
    // template1 carries it into any database the suite creates.
    for (const db of ['template1', 'postgres']) pg.psql('create schema pgwarden_peer; create table pgwarden_peer.secrets(id int, email text)', db);
    adminWrappers(pg, join(dir, 'bin'));
    const target: Target = { host: '127.0.0.1', port: pg.port, password: undefined, adminBin: join(dir, 'bin') };
    await suite.bootstrap?.(checkout, target.adminBin);
    if (run !== 'direct') {
      issuer = await startTestIssuer();
      const config: Record<string, unknown> = {
        upstreams: suite.upstreams(pg),
        identity: { issuers: [{ issuer: issuer.issuer, audience: issuer.audience }], ...(suite.userNames ? { user_names: ['agent', ...suite.userNames] } : {}) },
        policies: [everythingPolicy(issuer.issuer, pg)],
        limits: { max_connections_per_identity: 500, max_connections_per_source: 500 },
        log: { level: 'info' },
        audit: { store: 'memory' },
      };
      if (run === 'guarded') {
        config.audit = { store: 'sqlite:./audit.db', capture_results: 'masked' };
        config.masking = { rules: [{ column: 'pgwarden_peer.secrets.email', with: 'email' }, { column: 'pgwarden_peer.*.id', with: 'hash' }], hash_key: 'peer-suite-mask-key-0123456789abcdef' };
        config.reviews = {
          store: 'sqlite:./reviews.db',
          rules: [
            { name: 'peer-drop', when: ['destructive', 'alter', 'grant', 'revoke'], tables: ['pgwarden_peer.*'], approvers: { groups: ['dba'] }, mode: 'wait', timeout: '1m' },
            { name: 'peer-delete', when: ['delete', 'update'], tables: ['pgwarden_peer.secrets'], approvers: { groups: ['dba'] } },
          ],
        };
      }
      // PEER_POOL=session|transaction: the upstreams pool their server connections.
      const mode = process.env.PEER_POOL;
      if (mode) {
        const ups = config.upstreams as Record<string, Record<string, unknown>>;
        for (const u of Object.values(ups)) u.pool = { mode, size: 10 };
      }
      gateway = await startGatewayProcess(dir, config);
      target.port = gateway.port;
      target.password = await issuer.sign({ sub: suite.subject, exp: Math.floor(Date.now() / 1000) + 4 * 3600 });
    } else target.password = suite.directPassword;
    log(`${run}: running (postgres on ${pg.port}${gateway ? `, gateway on ${gateway.port}, log ${gateway.logFile}` : ''})`);
    const started = Date.now();
    const results = await suite.run(checkout, target, log);
    log(`${run}: ${results.size} results in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return results;
  } finally {
    await gateway?.stop();
    await issuer?.stop();
    await pg.stop();
    if (!process.env.PEER_KEEP) rmSync(dir, { recursive: true, force: true });
  }
}

function table(runs: RunName[], all: Map<RunName, Results>): string {
  const names = new Set<string>();
  for (const r of all.values()) for (const k of r.keys()) names.add(k);
  const lines = [`| test | ${runs.join(' | ')} |`, `|---|${runs.map(() => '---').join('|')}|`];
  const mark = (o: Outcome | undefined) => (o === 'pass' ? 'pass' : o === 'fail' ? '**fail**' : o === 'skip' ? 'skip' : '—');
  for (const n of names) lines.push(`| ${n.replace(/\|/g, '\\|')} | ${runs.map((r) => mark(all.get(r)?.get(n)?.outcome)).join(' | ')} |`);
  return lines.join('\n');
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const positional = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
  const opt = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const [checkoutArg, suiteName] = positional;
  if (!checkoutArg || !suiteName || !suites[suiteName]) {
    process.stderr.write(`usage: scripts/peer-suite.sh <checkout> <${Object.keys(suites).join('|')}> [--runs direct,gateway,guarded] [--json out.json]\n`);
    return 2;
  }
  const checkout = resolve(checkoutArg);
  if (!existsSync(checkout)) throw new Error(`no checkout at ${checkout}`);
  const runs = (opt('runs') ?? 'direct,gateway,guarded').split(',') as RunName[];
  const log = (s: string) => process.stderr.write(`peer-suite: ${s}\n`);
  const all = new Map<RunName, Results>();
  for (const run of runs) all.set(run, await oneRun(run, suites[suiteName], checkout, log));

  process.stdout.write(`\n## ${suiteName}: results by test\n\n${table(runs, all)}\n`);
  const counts = runs.map((r) => {
    const v = [...(all.get(r)?.values() ?? [])];
    return `${r}: ${v.filter((x) => x.outcome === 'pass').length} passed, ${v.filter((x) => x.outcome === 'fail').length} failed, ${v.filter((x) => x.outcome === 'skip').length} skipped`;
  });
  process.stdout.write(`\n${counts.join('\n')}\n`);
  const direct = all.get('direct');
  let regressions = 0;
  process.stdout.write('\n## Differences from the direct run\n\n');
  for (const run of runs) {
    if (run === 'direct' || !direct) continue;
    for (const [name, d] of direct) {
      const g = all.get(run)?.get(name);
      if (d.outcome === g?.outcome) continue;
      if (d.outcome === 'pass') regressions++;
      process.stdout.write(`- ${run}: ${name}: direct ${d.outcome}, ${run} ${g?.outcome ?? 'not run'}${g?.detail ? ` — ${g.detail}` : ''}${d.detail ? ` (direct: ${d.detail})` : ''}\n`);
    }
    for (const [name, g] of all.get(run) ?? []) if (!direct.has(name)) process.stdout.write(`- ${run}: ${name}: not in the direct run, ${run} ${g.outcome} ${g.detail}\n`);
  }
  const jsonOut = opt('json');
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(Object.fromEntries([...all].map(([k, v]) => [k, Object.fromEntries(v)])), null, 1));
  process.stdout.write(`\n${regressions} test(s) pass direct and fail through the gateway\n`);
  return regressions === 0 ? 0 : 1;
}

process.exitCode = await main();
