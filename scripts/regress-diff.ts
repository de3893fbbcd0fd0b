/**
 * Runs PostgreSQL's own regression scripts with psql against PostgreSQL directly and through the
 * gateway, in schedule order, and compares the two outputs file by file.
 *
 *   node --import tsx scripts/regress-diff.ts <postgres source>/src/test/regress [test …]
 *       [--out DIR] [--timeout SECONDS] [--pool session|transaction]
 *
 * Each side gets its own throwaway cluster with a database `regression` set up as pg_regress sets
 * it up (lc_messages C, PGTZ, PGDATESTYLE, …), a superuser role the gateway signs in as, and
 * test_setup.sql run directly (its COPY from server files is refused through the gateway). The
 * gateway runs in this process under the policy of scripts/peer-suite.ts (everything a policy can
 * grant), with its audit log in SQLite (`--pool`: behind a pool of 4 server connections in that
 * mode). Functions from regress.so are not loaded on either side.
 *
 * The regression scripts check the server's own behaviour, and expected outputs differ between
 * server versions: this script compares the two sides of the same server, never the expected
 * files. Each file's diff (direct → gateway) goes to DIR/<test>.diff, and the summary prints every
 * file that differs and the gateway's refusals by kind, so that a difference that is not a
 * refusal (rows, errors, hangs) stands out.
 *
 * Not part of `npm test`: the regression scripts come from PostgreSQL's source tree.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { configSchema } from '../src/config/schema.ts';
import { createLogger } from '../src/log.ts';
import { startGateway } from '../src/main.ts';
import { findPgBin, freePort, startPostgres, type TestPostgres } from '../test/helpers/postgres.ts';
import { startTestIssuer } from '../test/helpers/issuer.ts';
import { everythingPolicy } from './everything-policy.ts';

interface Run {
  status: number | null;
  output: string;
  ms: number;
}

/** psql with stdout and stderr in one stream, in the order psql wrote them. */
function psql(args: string[], env: NodeJS.ProcessEnv, timeoutS: number): Promise<Run> {
  const started = Date.now();
  return new Promise((done) => {
    const child = spawn('sh', ['-c', `exec timeout ${timeoutS} "$0" "$@" 2>&1`, join(findPgBin(), 'psql'), ...args], { env });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.on('close', (status) => done({ status, output, ms: Date.now() - started }));
  });
}

/** The settings pg_regress gives the database it tests in. */
const DATABASE_SETTINGS = ['lc_messages', 'lc_monetary', 'lc_numeric', 'lc_time'].map((s) => `alter database regression set ${s} to 'C'`).concat(["alter database regression set bytea_output to 'hex'", "alter database regression set timezone_abbreviations to 'Default'"]);

function prepare(pg: TestPostgres, password: string): void {
  pg.psql(`create role regress_gw superuser login password '${password}'`);
  pg.psql('create database regression owner regress_gw');
  for (const s of DATABASE_SETTINGS) pg.psql(s);
}

/** `ERROR:  pgwarden: <who> may not …` lines of a gateway output, with names and numbers folded. */
function refusalKinds(output: string): string[] {
  const out: string[] = [];
  for (const m of output.matchAll(/ERROR: {2}pgwarden: (?:regress )?(.*)/g)) {
    out.push(
      m[1]
        .replace(/"[^"]*"/g, '"…"')
        .replace(/\b(pg_temp|public|[a-z_0-9]+)\.[a-z_0-9]+\b/g, (x) => (x.startsWith('pg_catalog.') ? x : '<name>'))
        .replace(/ (function|table|type|domain|schema|database|server|index|view|extension|language|access method|operator class|publication|cast) [a-z_0-9]+/g, ' $1 <name>')
        .slice(0, 120),
    );
  }
  return out;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const positional = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
  const [dirArg, ...only] = positional;
  if (!dirArg || !existsSync(join(dirArg, 'parallel_schedule'))) {
    process.stderr.write('usage: regress-diff.ts <postgres source>/src/test/regress [test …] [--out DIR] [--timeout SECONDS] [--pool session|transaction]\n');
    return 2;
  }
  const src = resolve(dirArg);
  const out = resolve(opt('out') ?? mkdtempSync(join(tmpdir(), 'regress-diff-')));
  const timeoutS = Number(opt('timeout') ?? 120);
  const pool = opt('pool');
  if (pool !== undefined && pool !== 'session' && pool !== 'transaction') {
    process.stderr.write('--pool: session or transaction\n');
    return 2;
  }
  // results/ is where the scripts' client-side \copy writes, as under pg_regress.
  for (const dir of ['direct', 'gateway', 'results']) mkdirSync(join(out, dir), { recursive: true });
  const schedule = readFileSync(join(src, 'parallel_schedule'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('test:'))
    .flatMap((l) => l.slice(5).trim().split(/\s+/))
    .filter((t) => t !== 'test_setup');
  const tests = only.length > 0 ? only : schedule;
  const log = (s: string) => process.stderr.write(`regress-diff: ${s}\n`);

  const password = `regress-${Math.random().toString(36).slice(2)}`;
  const direct = await startPostgres();
  const upstream = await startPostgres();
  const issuer = await startTestIssuer();
  const dataDir = mkdtempSync(join(tmpdir(), 'regress-diff-data-'));
  let gateway: Awaited<ReturnType<typeof startGateway>> | undefined;
  try {
    for (const pg of [direct, upstream]) prepare(pg, password);
    const config = configSchema.parse({
      listen: { postgres: '127.0.0.1:0', http: `127.0.0.1:${await freePort()}` },
      upstreams: { regression: { url: `postgres://regress_gw@127.0.0.1:${upstream.port}/regression`, password, databases: ['regression'], ...(pool ? { pool: { mode: pool, size: 4 } } : {}) } },
      identity: { issuers: [{ issuer: issuer.issuer, audience: issuer.audience }] },
      policies: [everythingPolicy(issuer.issuer, upstream)],
      audit: { store: `sqlite:${join(dataDir, 'audit.db')}` },
      log: { level: 'warn' },
    });
    gateway = await startGateway(config, { logger: createLogger('warn') });
    // The token lasts the whole run: psql signs in once per file.
    const token = await issuer.sign({ sub: 'regress', exp: Math.floor(Date.now() / 1000) + 24 * 3600 });
    const env = { ...process.env, PG_ABS_SRCDIR: src, PG_ABS_BUILDDIR: out, PG_LIBDIR: join(out, 'no-lib'), PG_DLSUFFIX: '.so', PGTZ: 'America/Los_Angeles', PGDATESTYLE: 'Postgres, MDY', PGAPPNAME: 'pg_regress' };
    const sides = {
      direct: { port: direct.port, user: 'regress_gw', password },
      gateway: { port: gateway.postgres.port, user: 'agent', password: token },
    };
    const connect = (side: keyof typeof sides) => ['-X', '-q', '-h', '127.0.0.1', '-p', String(sides[side].port), '-U', sides[side].user, '-d', 'regression'];
    // test_setup loads its data with COPY from server files: both databases get it directly.
    for (const pg of [direct, upstream]) {
      const r = await psql(['-X', '-q', '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'regress_gw', '-d', 'regression', '-f', join(src, 'sql', 'test_setup.sql')], { ...env, PGPASSWORD: password }, timeoutS);
      if (r.status !== 0) log(`test_setup.sql exited with ${r.status} on port ${pg.port}`);
    }
    const differing: string[] = [];
    const kinds = new Map<string, number>();
    let same = 0;
    for (const [i, name] of tests.entries()) {
      const file = join(src, 'sql', `${name}.sql`);
      if (!existsSync(file)) {
        log(`${name}: no such file, skipped`);
        continue;
      }
      const runs: Record<string, Run> = {};
      for (const side of ['direct', 'gateway'] as const) {
        runs[side] = await psql([...connect(side), '-a', '-f', file], { ...env, PGPASSWORD: sides[side].password }, timeoutS);
        writeFileSync(join(out, side, `${name}.out`), runs[side].output);
      }
      const diff = await new Promise<string>((done) => {
        const d = spawn('diff', ['-u', join(out, 'direct', `${name}.out`), join(out, 'gateway', `${name}.out`)]);
        let text = '';
        d.stdout.on('data', (x) => (text += x));
        d.on('close', () => done(text));
      });
      writeFileSync(join(out, `${name}.diff`), diff);
      const changed = diff.split('\n').filter((l) => /^[-+](?![-+]{2} )/.test(l)).length;
      const timedOut = (['direct', 'gateway'] as const).filter((s) => runs[s].status === 124);
      for (const k of refusalKinds(runs.gateway.output)) kinds.set(k, (kinds.get(k) ?? 0) + 1);
      const line = `${name}: ${changed === 0 ? 'same' : `${changed} lines differ`} (direct ${runs.direct.ms} ms, gateway ${runs.gateway.ms} ms)${timedOut.length ? `, timed out: ${timedOut.join(', ')}` : ''}`;
      log(`[${i + 1}/${tests.length}] ${line}`);
      if (changed === 0) same++;
      else differing.push(line);
    }
    const summary = [
      `# PostgreSQL regression scripts, direct and through the gateway`,
      '',
      `${same} of ${same + differing.length} files give the same output. Differing (see ${out}/<test>.diff):`,
      '',
      ...differing.map((d) => `- ${d}`),
      '',
      '## The gateway\'s refusals, by kind',
      '',
      ...[...kinds].sort((a, b) => b[1] - a[1]).map(([k, n]) => `- ${n} × ${k}`),
    ].join('\n');
    writeFileSync(join(out, 'summary.md'), `${summary}\n`);
    process.stdout.write(`${summary}\n`);
    return 0;
  } finally {
    await gateway?.close(0);
    await issuer.stop();
    await direct.stop();
    await upstream.stop();
  }
}

process.exitCode = await main();
