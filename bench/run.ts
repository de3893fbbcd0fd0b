/**
 * `npm run bench`: pgbench against a direct connection and through pgwarden (and PgBouncer, when
 * installed, as the reference the gateway aims to match), interleaved in one run on one machine,
 * printing TPS, latency and the ratio to direct for each workload.
 *
 * Options: --seconds N (per run, default 5), --rounds N (default 2), --scale N (default 10),
 * --only name,name (workloads; `masked` for the streaming scans, `idle` for the idle clients),
 * --mask-rows N (default 100000), --idle-clients N (default 1000),
 * --no-pgbouncer, --tracing (also a gateway with tracing on), --profile (CPU profile of the gateway during its pgwarden runs: the functions
 * with the most self time, in µs per transaction; and the engine's own clock of its pipeline
 * stages, in µs per statement: analyse, decide, audit, relay, mask), --workers N (also run `pgwarden start` with N
 * worker processes; default: what `workers: auto` gives on this machine, and no extra run when
 * that is 1). Each row also gives the gateway's CPU time per pgwarden transaction (this
 * process's user + system time), which a busy machine does not skew.
 *
 * pgwarden runs twice: with the audit log in SQLite (durable, group-committed: the default) and
 * with it in memory, so the cost of the durable write-ahead log shows.
 *
 * Idle clients: N clients (pgbench, another process) sign in through a gateway of their own with
 * a valid token and then sit idle; the row gives this process's RSS before they connect and once
 * they all are, and the growth per client, and how many server connections they hold. Both run in this process
 * with one worker; with several workers the gateway is `pgwarden start` in a child process (the
 * workers are processes of their own), with the same config and its audit log in SQLite.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, chownSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveWorkers } from '../src/cluster/index.ts';
import { Writable } from 'node:stream';
import { Session as InspectorSession } from 'node:inspector/promises';
import { configSchema } from '../src/config/schema.ts';
import { createLogger } from '../src/log.ts';
import { startGateway } from '../src/main.ts';
import { CLOCK_BUCKETS, StageClock, type ClockBucket } from '../src/engine/index.ts';
import { findPgBin, freePort, startPostgres } from '../test/helpers/postgres.ts';
import { startTestIssuer } from '../test/helpers/issuer.ts';

interface Workload {
  name: string;
  args: string[];
}

const argv = process.argv.slice(2);
function opt(name: string, dflt: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1] : dflt;
}
const seconds = Number(opt('seconds', '5'));
const rounds = Number(opt('rounds', '2'));
const scale = Number(opt('scale', '10'));
const only = opt('only', '').split(',').filter(Boolean);
const withBouncer = !argv.includes('--no-pgbouncer');
const profiling = argv.includes('--profile');
// --tracing: also run a gateway that traces every statement to an OTLP/HTTP receiver in this
// process (which discards what it gets), to show what tracing costs when on (off, nothing of it runs).
const tracing = argv.includes('--tracing');
const MASK_ROWS = Number(opt('mask-rows', '100000'));
const IDLE_CLIENTS = Number(opt('idle-clients', '1000'));
const idleScenario = only.length === 0 || only.some((o) => 'idle clients'.includes(o));
// Default: what `workers: auto` gives on this machine, to compare with one worker in one run.
const workers = argv.includes('--workers') ? Number(opt('workers', '1')) : resolveWorkers('auto', availableParallelism());
if (!Number.isInteger(workers) || workers < 1) throw new Error(`--workers: a number of workers, not ${opt('workers', '')}`);
const BIN = fileURLToPath(new URL('../bin/pgwarden.mjs', import.meta.url));

const WORKLOADS: Workload[] = [
  { name: 'select-only simple, 1 client', args: ['-S', '-M', 'simple', '-c', '1', '-j', '1'] },
  { name: 'select-only simple, 8 clients', args: ['-S', '-M', 'simple', '-c', '8', '-j', '2'] },
  { name: 'select-only extended, 1 client', args: ['-S', '-M', 'extended', '-c', '1', '-j', '1'] },
  { name: 'select-only extended, 8 clients', args: ['-S', '-M', 'extended', '-c', '8', '-j', '2'] },
  { name: 'select-only prepared, 8 clients', args: ['-S', '-M', 'prepared', '-c', '8', '-j', '2'] },
  { name: 'tpcb-like (pgbench default script), 8 clients', args: ['-c', '8', '-j', '2'] },
  { name: 'connect per transaction (-C), 4 clients', args: ['-S', '-C', '-c', '4', '-j', '2'] },
].filter((w) => only.length === 0 || only.some((o) => w.name.includes(o)));

const progress = (s: string) => process.stderr.write(`${s}\n`);

function pgbench(args: string[], env: Record<string, string>): Promise<{ tps: number; latencyMs: number; failed: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(findPgBin(), 'pgbench'), args, { env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`pgbench exited ${code}: ${err.slice(-2000)}`));
      const tps = /tps = ([\d.]+)/.exec(out);
      const lat = /latency average = ([\d.]+) ms/.exec(out);
      const failed = /number of failed transactions: (\d+)/.exec(out);
      if (!tps) return reject(new Error(`no tps in pgbench output:\n${out}`));
      resolve({ tps: Number(tps[1]), latencyMs: lat ? Number(lat[1]) : NaN, failed: failed?.[1] ?? '?' });
    });
  });
}

async function startPgBouncer(upstreamPort: number, password: string): Promise<{ port: number; stop(): void } | null> {
  let bin: string;
  try {
    bin = execFileSync('sh', ['-c', 'command -v pgbouncer || ls /usr/sbin/pgbouncer'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
  if (!bin) return null;
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-bench-pgbouncer-'));
  const port = await freePort();
  writeFileSync(join(dir, 'users.txt'), `"gw_app" "${password}"\n`);
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `app = host=127.0.0.1 port=${upstreamPort} dbname=app user=gw_app`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      `unix_socket_dir = ${dir}`,
      'auth_type = plain',
      `auth_file = ${join(dir, 'users.txt')}`,
      'pool_mode = session',
      'max_client_conn = 200',
      'default_pool_size = 20',
      'ignore_startup_parameters = extra_float_digits',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
    ].join('\n') + '\n',
  );
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chmodSync(dir, 0o755);
    for (const f of ['', 'users.txt', 'pgbouncer.ini']) chownSync(join(dir, f), uid, gid);
  }
  const child = spawn(bin, [join(dir, 'pgbouncer.ini')], {
    stdio: 'ignore',
    ...(asRoot ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) } : {}),
  });
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync(join(findPgBin(), 'psql'), ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'gw_app', '-c', 'select 1', 'app'], { env: { ...process.env, PGPASSWORD: password }, stdio: 'ignore' });
      return {
        port,
        stop() {
          child.kill('SIGINT');
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill('SIGKILL');
  progress('PgBouncer did not start; running without it');
  return null;
}

interface Target {
  name: string;
  port: number;
  user: string;
  password: string;
}

async function main(): Promise<void> {
  progress(`starting a throwaway PostgreSQL (scale ${scale})…`);
  // In session pooling every idle client holds a server connection: room for all of them.
  const pg = await startPostgres({ conf: ['max_connections = 300'] });
  const password = `bench-${Math.random().toString(36).slice(2)}`;
  pg.psql(`create role gw_app login password '${password}'`);
  pg.psql('create database app owner gw_app');
  const issuer = await startTestIssuer();
  const work = mkdtempSync(join(tmpdir(), 'pgwarden-bench-'));
  const rawConfig = async (audit: Record<string, unknown>) => ({
      listen: { postgres: '127.0.0.1:0', http: `127.0.0.1:${await freePort()}` },
      // Pooled like PgBouncer (session mode, 20 server connections), so -C reuses connections.
      upstreams: { app: { url: `postgres://gw_app@127.0.0.1:${pg.port}/app`, password, pool: { size: 20 } } },
      identity: { issuers: [{ issuer: issuer.issuer, audience: issuer.audience }] },
      log: { level: 'warn' },
      // Every check on: the bench identities get exactly what the workloads need, so each
      // statement is analysed and decided like any agent's.
      policies: [
        {
          name: 'bench',
          match: { subjects: ['bench', 'bench-clear'] },
          allow: [
            { tables: ['public.pgbench_*', 'public.people'], operations: ['select', 'insert', 'update', 'delete', 'truncate'] },
            { ddl: { schemas: ['public'] } },
          ],
        },
      ],
      masking: {
        rules: [
          { column: 'public.people.email', with: 'email', except: { subjects: ['bench-clear'] } },
          { column: 'public.people.ssn', with: 'redact', except: { subjects: ['bench-clear'] } },
        ],
      },
      audit,
    });
  const gatewayConfig = async (audit: Record<string, unknown>) => configSchema.parse(await rawConfig(audit));
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  // Only the profiled gateway measures its stages (the clock costs a little per statement).
  const gw = await startGateway(await gatewayConfig({ store: `sqlite:${join(work, 'audit.db')}` }), { logger: createLogger('warn', sink), stageClock: profiling ? stages.clock : undefined });
  const gwNoAudit = await startGateway(await gatewayConfig({ store: 'memory' }), { logger: createLogger('warn', sink) });
  const exp = Math.floor(Date.now() / 1000) + 24 * 3600;
  const token = await issuer.sign({ sub: 'bench', exp });
  const clearToken = await issuer.sign({ sub: 'bench-clear', exp });
  const bouncer = withBouncer ? await startPgBouncer(pg.port, password) : null;

  const targets: Target[] = [
    { name: 'direct', port: pg.port, user: 'gw_app', password },
    { name: 'pgwarden', port: gw.postgres.port, user: 'bench', password: token },
    { name: 'pgwarden (audit in memory)', port: gwNoAudit.postgres.port, user: 'bench', password: token },
  ];
  let otlp: import('node:http').Server | null = null;
  let gwTraced: Awaited<ReturnType<typeof startGateway>> | null = null;
  if (tracing) {
    const http = await import('node:http');
    otlp = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    });
    await new Promise<void>((r) => otlp!.listen(0, '127.0.0.1', () => r()));
    const traced = await rawConfig({ store: `sqlite:${join(work, 'audit-traced.db')}` });
    gwTraced = await startGateway(configSchema.parse({ ...traced, tracing: { otlp_endpoint: `http://127.0.0.1:${(otlp.address() as { port: number }).port}/v1/traces` } }), { logger: createLogger('warn', sink) });
    targets.splice(2, 0, { name: 'pgwarden (tracing on)', port: gwTraced.postgres.port, user: 'bench', password: token });
  }
  const spawned = workers > 1 ? await startWorkers(await rawConfig({ store: `sqlite:${join(work, 'audit-workers.db')}` }), workers, work) : null;
  if (spawned) targets.splice(2, 0, { name: `pgwarden, ${workers} workers`, port: spawned.port, user: 'bench', password: token });
  if (bouncer) targets.push({ name: 'pgbouncer', port: bouncer.port, user: 'gw_app', password });

  progress('pgbench -i through pgwarden…');
  // Asynchronously: the gateway runs in this process and must keep serving meanwhile.
  await new Promise<void>((resolve, reject) => {
    const child = spawn(join(findPgBin(), 'pgbench'), ['-i', '-q', '-s', String(scale), '-h', '127.0.0.1', '-p', String(gw.postgres.port), '-U', 'bench', 'app'], {
      env: { ...process.env, PGPASSWORD: token },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pgbench -i failed: ${err.slice(-2000)}`))));
  });
  pg.psql(
    `create table people (id int primary key, name text, email text, ssn text, score int);
     insert into people select g, 'person ' || g, 'person' || g || '@example.com', lpad(g::text, 9, '0'), g % 100 from generate_series(1, ${MASK_ROWS}) g;
     alter table people owner to gw_app; analyze people;`,
    'app',
  );
  const scanScript = join(work, 'scan.sql');
  writeFileSync(scanScript, 'select * from people;\n');

  const results = new Map<string, Map<string, { tps: number[]; lat: number[]; cpuUs: number[] }>>();
  const run = async (name: string, args: string[], list: Target[]) => {
    const byTarget = new Map<string, { tps: number[]; lat: number[]; cpuUs: number[] }>();
    results.set(name, byTarget);
    for (let r = 0; r < rounds; r++) {
      // Interleave the targets within each round so drift affects them alike.
      const order = r % 2 === 0 ? list : [...list].reverse();
      for (const t of order) {
        progress(`  ${name} · ${t.name} · round ${r + 1}/${rounds}`);
        const profile = profiling && t.name === 'pgwarden';
        if (profile) {
          await profiler.start();
          stages.start();
        }
        // The gateway runs in this process: its CPU time (user + system) per transaction does not
        // depend on how busy the machine is, unlike TPS and the profiler's wall-clock samples.
        const cpu = process.cpuUsage();
        const res = await pgbench([...args, '-T', String(seconds), '-n', '-h', '127.0.0.1', '-p', String(t.port), '-U', t.user, 'app'], { PGPASSWORD: t.password });
        const used = process.cpuUsage(cpu);
        if (profile) {
          stages.stop(name);
          await profiler.stop(name, res.tps * seconds);
        }
        const e = byTarget.get(t.name) ?? { tps: [], lat: [], cpuUs: [] };
        e.tps.push(res.tps);
        e.lat.push(res.latencyMs);
        e.cpuUs.push((used.user + used.system) / Math.max(1, res.tps * seconds));
        byTarget.set(t.name, e);
      }
    }
  };
  /**
   * Many clients over few server connections: 500 clients through a gateway whose pool lends its
   * 20 connections per transaction, against 20 clients straight to the database (the most the
   * pool has). pgbench fails the run if any client gets an error.
   */
  const poolOf20 = async (raw: Record<string, any>) => {
    const name = 'select-only extended, 500 clients over a 20-connection transaction pool (direct: 20 clients)';
    raw.upstreams.app.pool = { mode: 'transaction', size: 20, max_clients: 600, max_client_wait: '30s' };
    raw.limits = { ...(raw.limits ?? {}), max_connections_per_identity: 600, max_connections_per_source: 600 };
    const txGw = await startGateway(configSchema.parse(raw), { logger: createLogger('warn', sink) });
    const byTarget = new Map<string, { tps: number[]; lat: number[]; cpuUs: number[] }>();
    results.set(name, byTarget);
    try {
      for (let r = 0; r < rounds; r++) {
        const runs: [string, number, string, string, number][] = [
          ['direct', pg.port, 'gw_app', password, 20],
          ['pgwarden', txGw.postgres.port, 'bench', token, 500],
        ];
        for (const [target, port, user, pass, clients] of r % 2 === 0 ? runs : runs.reverse()) {
          progress(`  ${name} · ${target} (${clients} clients) · round ${r + 1}/${rounds}`);
          const profile = profiling && target === 'pgwarden';
          if (profile) await profiler.start();
          const cpu = process.cpuUsage();
          const res = await pgbench(['-S', '-M', 'extended', '-c', String(clients), '-j', '2', '-T', String(seconds), '-n', '-h', '127.0.0.1', '-p', String(port), '-U', user, 'app'], { PGPASSWORD: pass });
          const used = process.cpuUsage(cpu);
          if (profile) await profiler.stop(name, res.tps * seconds);
          const e = byTarget.get(target) ?? { tps: [], lat: [], cpuUs: [] };
          e.tps.push(res.tps);
          e.lat.push(res.latencyMs);
          e.cpuUs.push((used.user + used.system) / Math.max(1, res.tps * seconds));
          byTarget.set(target, e);
        }
      }
    } finally {
      await txGw.close(0);
    }
  };
  let peakMasked = 0;
  let peakClear = 0;
  let idle: IdleFigures | null = null;
  try {
    for (const w of WORKLOADS) await run(w.name, w.args, targets);
    if (only.length === 0 || only.some((o) => 'masked'.includes(o))) {
      // Streaming a large result: masked cells rewritten row by row vs forwarded untouched.
      const scan = ['-f', scanScript, '-c', '1', '-j', '1'];
      const sample = (set: (rss: number) => void) => {
        const timer = setInterval(() => set(process.memoryUsage().rss), 50);
        return () => clearInterval(timer);
      };
      const before = process.memoryUsage().rss;
      let stop = sample((rss) => (peakClear = Math.max(peakClear, rss - before)));
      await run(`scan of ${MASK_ROWS} rows, unmasked`, scan, [targets[0], { ...targets[1], name: 'pgwarden', user: 'bench-clear', password: clearToken }]);
      stop();
      stop = sample((rss) => (peakMasked = Math.max(peakMasked, rss - before)));
      await run(`scan of ${MASK_ROWS} rows, email and ssn masked`, scan, [targets[0], targets[1]]);
      stop();
    }
    if (only.length === 0 || only.includes('pool500')) await poolOf20(await rawConfig({ store: `sqlite:${join(work, 'audit-tx.db')}` }));
    if (idleScenario) {
      // `pgwarden start` in a process of its own (so its RSS is its alone), pooled per
      // transaction: an idle client holds no server connection.
      const raw: Record<string, any> = await rawConfig({ store: `sqlite:${join(work, 'audit-idle.db')}` });
      const n = IDLE_CLIENTS;
      raw.upstreams.app.pool = { mode: 'transaction', size: 20, max_clients: n + 100 };
      raw.limits = { max_connections: n + 100, max_connections_per_source: n + 100, max_connections_per_identity: n + 100 };
      progress(`  ${n} idle clients · pgwarden start (transaction pooling)`);
      idle = await idleClients(raw, n, token, work);
    }
  } finally {
    bouncer?.stop();
    await spawned?.stop();
    await gw.close(0);
    await gwNoAudit.close(0);
    await gwTraced?.close(0);
    otlp?.close();
    await issuer.stop();
    await pg.stop();
    rmSync(work, { recursive: true, force: true });
  }

  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  const lines: string[] = [];
  lines.push(`pgbench, ${seconds}s × ${rounds} rounds per target, scale ${scale}, targets interleaved`);
  const names = targets.map((t) => t.name);
  const head = ['workload', ...names.map((n) => `${n} tps`), ...names.filter((n) => n !== 'direct').map((n) => `${n}/direct`), 'pgwarden lat ms', 'direct lat ms', 'gateway CPU µs/tx'];
  lines.push(`| ${head.join(' | ')} |`);
  lines.push(`|${head.map(() => '---').join('|')}|`);
  for (const [name, byTarget] of results) {
    const tps = (n: string) => (byTarget.has(n) ? mean(byTarget.get(n)!.tps) : NaN);
    const lat = (n: string) => (byTarget.has(n) ? mean(byTarget.get(n)!.lat) : NaN);
    const d = tps('direct');
    const fmt = (v: number, digits: number) => (Number.isNaN(v) ? '–' : v.toFixed(digits));
    const cpu = byTarget.has('pgwarden') ? mean(byTarget.get('pgwarden')!.cpuUs) : NaN;
    const row = [name, ...names.map((n) => fmt(tps(n), 0)), ...names.filter((n) => n !== 'direct').map((n) => fmt(tps(n) / d, 2)), fmt(lat('pgwarden'), 3), fmt(lat('direct'), 3), fmt(cpu, 0)];
    lines.push(`| ${row.join(' | ')} |`);
  }
  if (peakMasked || peakClear) {
    lines.push('');
    lines.push(`streaming ${MASK_ROWS}-row results: peak RSS growth of the gateway process ${(peakClear / 1048576).toFixed(0)} MiB unmasked, ${(peakMasked / 1048576).toFixed(0)} MiB masked`);
  }
  if (idle) {
    const mib = (b: number) => (b / 1048576).toFixed(0);
    lines.push('');
    lines.push(
      `${idle.clients} idle clients through pgwarden start (transaction pooling: ${idle.serverConnections} server connections open): gateway RSS ${mib(idle.before)} MiB before, ${mib(idle.after)} MiB with them connected, ${((idle.after - idle.before) / idle.clients / 1024).toFixed(0)} KiB per idle client`,
    );
  }
  if (profiling) lines.push('', ...stages.report(), '', ...profiler.report());
  process.stdout.write(lines.join('\n') + '\n');
}

interface IdleFigures {
  clients: number;
  /** The gateway process's RSS once it listens, and with every client connected. */
  before: number;
  after: number;
  /** The gateway's pooled server connections meanwhile (its /metrics). */
  serverConnections: number;
}

/**
 * `n` clients sign in through a `pgwarden start` process with this config (pgbench in another
 * process, each client running a script that only sleeps) and stay idle. The gateway's RSS
 * (/proc/<pid>/status) is read once it listens and once every client has a session
 * (`pgwarden_connections_open{state="active"}` on its /metrics).
 */
async function idleClients(raw: Record<string, any>, n: number, token: string, work: string): Promise<IdleFigures> {
  const port = await freePort();
  const config = { ...raw, listen: { ...raw.listen, postgres: `127.0.0.1:${port}` }, log: { level: 'warn' } };
  const file = join(work, 'pgwarden-idle.yaml');
  writeFileSync(file, JSON.stringify(config));
  const gw = spawn(process.execPath, [BIN, 'start', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  const gwExited = new Promise<void>((resolve) => gw.on('close', () => resolve()));
  let gwErr = '';
  gw.stderr!.on('data', (d) => (gwErr += d));
  const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${gw.pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
  const active = async () => {
    const body = await fetch(`http://${raw.listen.http}/metrics`).then((r) => r.text(), () => '');
    return Number(/^pgwarden_connections_open\{state="active"\} (\d+)/m.exec(body)?.[1] ?? 0);
  };
  try {
    const started = Date.now() + 30_000;
    while (!(await fetch(`http://${raw.listen.http}/readyz`).then((r) => r.ok, () => false))) {
      if (Date.now() > started) throw new Error(`pgwarden start did not become ready: ${gwErr.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const before = rss();
    const script = join(work, 'idle.sql');
    writeFileSync(script, '\\sleep 600 s\n');
    const child = spawn(join(findPgBin(), 'pgbench'), ['-n', '-c', String(n), '-j', '4', '-T', '600', '-f', script, '-h', '127.0.0.1', '-p', String(port), '-U', 'bench', 'app'], {
      env: { ...process.env, PGPASSWORD: token },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    let gone = false;
    void exited.then(() => (gone = true));
    try {
      const deadline = Date.now() + 180_000;
      while ((await active()) < n) {
        if (gone) throw new Error(`pgbench with ${n} idle clients exited: ${err.slice(-2000)}`);
        if (Date.now() > deadline) throw new Error(`only ${await active()} of ${n} idle clients connected within 180 s`);
        await new Promise((r) => setTimeout(r, 200));
      }
      // Let the last handshakes' garbage and the audit's batches settle, then measure.
      await new Promise((r) => setTimeout(r, 2000));
      const after = rss();
      // Its own pool's connections (the bench's other gateways use the same role).
      const body = await fetch(`http://${raw.listen.http}/metrics`).then((r) => r.text());
      const serverConnections = [...body.matchAll(/^pgwarden_pool_connections\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
      return { clients: n, before, after, serverConnections };
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  } finally {
    gw.kill('SIGTERM');
    await gwExited;
  }
}

/**
 * The engine's own clock of its pipeline stages (src/engine/pipeline.ts), over the profiled
 * pgwarden runs of each workload: µs of event-loop time per statement (each Query and each
 * Execute) in each bucket. Time spent off the event loop (the audit store's writer thread, the
 * parse worker) and waits (the durable audit write before forwarding) are not in it.
 */
const stages = (() => {
  const clock = new StageClock();
  const byWorkload = new Map<string, { statements: number; us: Record<ClockBucket, number> }>();
  return {
    clock,
    start() {
      clock.reset();
    },
    stop(workload: string) {
      const { statements, us } = clock.perStatement();
      const e = byWorkload.get(workload) ?? { statements: 0, us: { analyse: 0, decide: 0, audit: 0, relay: 0, mask: 0 } };
      for (const b of CLOCK_BUCKETS) e.us[b] += us[b] * statements;
      e.statements += statements;
      byWorkload.set(workload, e);
    },
    report(): string[] {
      const head = ['workload', ...CLOCK_BUCKETS.map((b) => `${b} µs`), 'total µs', 'statements'];
      const out = ['pipeline stages (engine clock), µs of gateway event-loop time per statement:', `| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
      for (const [workload, e] of byWorkload) {
        const per = CLOCK_BUCKETS.map((b) => (e.statements > 0 ? e.us[b] / e.statements : 0));
        out.push(`| ${[workload, ...per.map((v) => v.toFixed(1)), per.reduce((a, b) => a + b, 0).toFixed(1), String(e.statements)].join(' | ')} |`);
      }
      return out;
    },
  };
})();

/** `pgwarden start` with `workers: n` on free ports; resolves once every worker listens. */
async function startWorkers(raw: Record<string, any>, n: number, work: string): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const config = { ...raw, workers: n, listen: { ...raw.listen, postgres: `127.0.0.1:${port}` }, log: { level: 'info' } };
  const file = join(work, 'pgwarden-workers.yaml');
  writeFileSync(file, JSON.stringify(config));
  const child = spawn(process.execPath, [BIN, 'start', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      err += d;
      if (/pgwarden listening/.test(err)) resolve();
    });
    void exited.then(() => reject(new Error(`pgwarden start with ${n} workers exited: ${err.slice(-2000)}`)));
  });
  child.stderr!.removeAllListeners('data');
  child.stderr!.resume();
  return {
    port,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/**
 * The gateway runs in this process: the inspector's sampling profiler sees its event loop (and
 * pgbench, PostgreSQL and PgBouncer are other processes, so they do not show). Self time per
 * function, summed over the pgwarden runs of each workload, divided by its transactions.
 */
const profiler = (() => {
  const session = new InspectorSession();
  let connected = false;
  const byWorkload = new Map<string, { transactions: number; self: Map<string, number>; totalUs: number }>();
  return {
    async start() {
      if (!connected) {
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: 100 });
        connected = true;
      }
      await session.post('Profiler.start');
    },
    async stop(workload: string, transactions: number) {
      const { profile } = (await session.post('Profiler.stop')) as { profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] } };
      const frame = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
      const e = byWorkload.get(workload) ?? { transactions: 0, self: new Map<string, number>(), totalUs: 0 };
      e.transactions += transactions;
      profile.samples.forEach((id, i) => {
        const f = frame.get(id);
        const dt = profile.timeDeltas[i] ?? 0;
        const where = f ? `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(src|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '?';
        e.self.set(where, (e.self.get(where) ?? 0) + dt);
        e.totalUs += dt;
      });
      byWorkload.set(workload, e);
    },
    report(): string[] {
      const out: string[] = [];
      for (const [workload, e] of byWorkload) {
        const idle = [...e.self].filter(([k]) => k.startsWith('(idle)')).reduce((n, [, v]) => n + v, 0);
        out.push(`profile: ${workload} — ${((e.totalUs - idle) / e.transactions).toFixed(1)} µs of gateway CPU per transaction (idle excluded), top self time:`);
        const top = [...e.self].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, 15);
        for (const [where, us] of top) out.push(`  ${(us / e.transactions).toFixed(2).padStart(7)} µs  ${where}`);
      }
      return out;
    },
  };
})();

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
