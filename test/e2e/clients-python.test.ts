/**
 * Real Python client libraries through the gateway: psycopg 3 (libpq, extended protocol, binary
 * formats, pipeline mode, server-side cursors, COPY), psycopg2 (libpq, simple protocol),
 * asyncpg (its own protocol implementation: binary formats, statement cache, type introspection
 * against pg_catalog, cancel) and psqlODBC, the ODBC driver BI tools use, through pyodbc
 * (savepoints around statements, server-side prepare, the catalog functions). Each probe in test/clients/python/ prints a transcript of what the
 * library saw, step by step; it is run directly against PostgreSQL and through the gateway under
 * a policy that grants everything, and the two transcripts must be identical except for the
 * documented differences below (README, "Differences from PostgreSQL"). A masked column is then
 * read with each library, in text and binary formats, and its clear values must appear nowhere
 * in what the library received.
 *
 * The libraries are Debian packages for the system Python (/usr/bin/python3); a library that is
 * not installed skips its tests, naming the package to install.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const PYTHON = '/usr/bin/python3';
const PROBES = join(import.meta.dirname, '../clients/python');

interface Library {
  name: string;
  module: string;
  debianPackage: string;
  probe: string;
  /** Steps every transcript must have reached (a probe that stops early compares nothing). */
  lastStep: string;
  /** What else must be installed (an ODBC driver). */
  also?: () => boolean;
}

const LIBRARIES: Library[] = [
  { name: 'psycopg 3', module: 'psycopg', debianPackage: 'python3-psycopg', probe: 'probe_psycopg.py', lastStep: 'closed' },
  { name: 'psycopg2', module: 'psycopg2', debianPackage: 'python3-psycopg2', probe: 'probe_psycopg2.py', lastStep: 'closed' },
  { name: 'asyncpg', module: 'asyncpg', debianPackage: 'python3-asyncpg', probe: 'probe_asyncpg.py', lastStep: 'closed' },
  {
    name: 'psqlODBC (pyodbc)',
    module: 'pyodbc',
    debianPackage: 'python3-pyodbc and odbc-postgresql',
    probe: 'probe_pyodbc.py',
    lastStep: 'closed',
    also: () => readdirSync('/usr/lib').some((d) => existsSync(join('/usr/lib', d, 'odbc', 'psqlodbcw.so'))),
  },
];

/**
 * Every difference between the two transcripts that is by design (README, "Differences from
 * PostgreSQL"), for one step of one library: the gateway's line is rewritten to the direct one
 * (`gateway` → `direct`). Each must occur where listed, so the list stays true.
 */
const DOCUMENTED: { what: string; library: string; step: string; gateway: RegExp; direct: string }[] = [
  {
    // SQL EXECUTE of a statement the connection does not have is answered by the gateway (it
    // never reaches the server) with PostgreSQL's SQLSTATE and its own message.
    what: 'EXECUTE of a deallocated statement: 26000 with the gateway\'s message',
    library: 'psycopg2',
    step: 'PREPARE / EXECUTE / DEALLOCATE',
    gateway: /pgwarden: prepared statement \\"([^"\\]+)\\" does not exist on this connection/,
    direct: 'prepared statement \\"$1\\" does not exist',
  },
  {
    // psycopg2 sends parameter values inside the statement text: 5 MB of bytea, passed twice, is a 20 MB Query
    // message, over limits.max_statement_size (1 MiB), refused before it is read; the session
    // goes on (the later steps compare equal).
    what: 'a 5 MB parameter inlined by psycopg2: 54000 over limits.max_statement_size',
    library: 'psycopg2',
    step: 'a 5 MB bytea parameter',
    gateway: /^\{"error": \{.*"message": "pgwarden: the statement \(a message of \d+ bytes\) exceeds the limit of 1048576 bytes \(limits\.max_statement_size\); it was not read".*"sqlstate": "54000"\}, "step": "a 5 MB bytea parameter"\}$/,
    direct: '{"result": [5120000, "dcf6a99f83b3a50b2ff3ecc6490d966f"], "step": "a 5 MB bytea parameter"}',
  },
];

/** A probe's run: its transcript lines, and how it ended. */
interface ProbeRun {
  lines: string[];
  code: number | null;
  timedOut: boolean;
  stderr: string;
}

/**
 * Run a probe with a deadline: a client that waits forever fails the test (the probe's stderr
 * names the step it was in) instead of hanging it.
 */
function runProbe(probe: string, dsn: string, mode: 'compat' | 'mask' | 'refusals', timeoutMs = 40_000): Promise<ProbeRun> {
  return new Promise((resolve) => {
    execFile(
      PYTHON,
      [join(PROBES, probe), dsn, mode],
      { cwd: PROBES, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONFAULTHANDLER: '1' } },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: unknown }) | null;
        resolve({
          lines: String(stdout).split('\n').filter((l) => l !== ''),
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          timedOut: e?.killed === true,
          stderr: String(stderr),
        });
      },
    );
  });
}

function describeRun(where: string, r: ProbeRun): string {
  const tail = r.stderr.trim().split('\n').slice(-12).join('\n');
  return `${where}: ${r.timedOut ? 'no end within the deadline (a hang)' : `exit ${r.code}`} after ${r.lines.length} steps; last: ${r.lines.at(-1) ?? '(none)'}\n${tail}`;
}

function installed(module: string): boolean {
  try {
    execFileSync(PYTHON, ['-c', `import ${module}`], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

const SSNS = Array.from({ length: 6 }, (_, i) => `123-45-${String(i + 1).padStart(4, '0')}`);

let t: TestGateway;
const available = new Map(LIBRARIES.map((l) => [l.module, installed(l.module) && (l.also?.() ?? true)]));

before(async () => {
  if (![...available.values()].some(Boolean)) return;
  t = await startTestGateway({
    config: (raw) => {
      // The policy that grants everything (the default) for every identity; the masking rule
      // applies only to the `masked` group, so the comparisons run unmasked.
      raw.masking = {
        hash_key: 'test-mask-key-0123456789abcdef',
        rules: [{ column: 'public.customers.ssn', with: 'redact', only: { groups: ['masked'] } }],
      };
    },
  });
  t.pg.psql(
    `create table customers (id int primary key, name text, ssn text);
     insert into customers select g, 'name ' || g, '123-45-' || lpad(g::text, 4, '0') from generate_series(1, 6) g;
     alter table customers owner to gw_app;`,
    'app',
  );
});

after(async () => {
  await t?.stop();
});

for (const lib of LIBRARIES) {
  describe(`${lib.name} through the gateway`, () => {
    const skip = available.get(lib.module) ? false : `${PYTHON} has no module ${lib.module}: install the Debian package ${lib.debianPackage}`;

    it('gives the same transcript as PostgreSQL directly', { skip }, async () => {
      const direct = await runProbe(lib.probe, t.directUrl(), 'compat');
      assert.ok(direct.code === 0 && direct.lines.at(-1)?.includes(`"step": "${lib.lastStep}"`), describeRun('directly', direct));
      const token = await t.issuer.sign({ sub: 'agent', groups: ['compat'] });
      const via = await runProbe(lib.probe, t.url(token), 'compat');
      assert.ok(via.code === 0 && !via.timedOut, describeRun('through the gateway', via));
      // Set the documented differences aside, and check each is still where it is documented.
      const mine = DOCUMENTED.filter((d) => d.library === lib.module);
      const seen = new Set<string>();
      const gatewayLines = via.lines.map((line) =>
        mine.reduce((l, d) => {
          if (!l.endsWith(`"step": ${JSON.stringify(d.step)}}`)) return l;
          const out = l.replace(d.gateway, d.direct);
          if (out !== l) seen.add(d.what);
          return out;
        }, line),
      );
      for (let i = 0; i < Math.max(direct.lines.length, gatewayLines.length); i++) {
        assert.equal(gatewayLines[i], direct.lines[i], `step ${i + 1} differs (the direct transcript is expected)`);
      }
      assert.deepEqual([...seen], mine.map((d) => d.what), 'each documented difference occurs');
    });

    it('gets a refusal wherever the library sends the statement, and the connection goes on', { skip }, async () => {
      // A statement every identity is refused (pg_stat_activity), sent as a query, with
      // parameters, prepared, in a transaction, a server-side cursor, a pipeline, executemany,
      // COPY: each is answered, and the statement after it works.
      const via = await runProbe(lib.probe, t.url(await t.issuer.sign({ sub: 'agent', groups: ['compat'] })), 'refusals');
      assert.ok(via.code === 0 && !via.timedOut, describeRun('through the gateway', via));
      const steps = via.lines.map((l) => JSON.parse(l) as { step: string; result?: unknown; error?: { sqlstate?: string; message: string } });
      const refused = steps.filter((s) => s.step.startsWith('refused: '));
      assert.ok(refused.length >= 6, `${refused.length} refusals`);
      for (const s of refused) {
        assert.equal(s.error?.sqlstate, '42501', `${s.step}: ${JSON.stringify(s)}`);
        assert.match(s.error?.message ?? '', /^pgwarden: agent may not read pg_catalog\.pg_stat_activity/);
        const next = steps.find((x) => x.step === s.step.replace('refused: ', 'after: '));
        assert.ok(next && 'result' in next, `after ${s.step}: ${JSON.stringify(next)}`);
      }
    });

    it('sends no clear value of a masked column, in text or binary format', { skip }, async () => {
      // The probe prints every value the library received; directly they are the clear values.
      const direct = await runProbe(lib.probe, t.directUrl(), 'mask');
      assert.equal(direct.code, 0, describeRun('directly', direct));
      assert.ok(SSNS.every((s) => direct.lines.join('\n').includes(s)), 'directly, the probe shows the clear values');
      const via = await runProbe(lib.probe, t.url(await t.issuer.sign({ sub: 'agent', groups: ['masked'] })), 'mask');
      assert.equal(via.code, 0, describeRun('through the gateway', via));
      assert.equal(via.lines.length, direct.lines.length);
      for (const line of via.lines) {
        assert.ok(!('error' in JSON.parse(line)), `a step failed: ${line}`);
        for (const s of SSNS) assert.ok(!line.includes(s), `a clear value (${s}) reached ${lib.name}: ${line}`);
      }
      // The unmasked columns are the same as directly.
      assert.ok(via.lines.join('\n').includes('name 6'));
    });
  });
}
