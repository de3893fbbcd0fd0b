/**
 * The PostgreSQL JDBC driver (pgJDBC) through the gateway: test/clients/jdbc/Probe.java does what
 * JDBC applications and tools do (prepared statements of many types across the server-prepare
 * switch, batches, generated keys, transactions and savepoints, fetch size, metadata, COPY,
 * LISTEN/NOTIFY, cancel and query timeout) and prints a transcript; the run through the gateway
 * must print what the run against PostgreSQL directly prints, but for the documented
 * differences named below; statements the policy refuses, sent every way pgJDBC sends one, are
 * refused and leave the connection usable. Over TLS (a gateway that requires it) statements,
 * cancel and query timeout work. A masked column read every way JDBC reads one never reaches the
 * driver in clear, in text or binary transfer: not in what the probe printed, not in any byte
 * the gateway sent it. Each probe run has a deadline, so a client left waiting fails the test.
 *
 * Needs `java` (11 or later; the single-file launcher compiles the probe) and pgJDBC's jar:
 * on Debian the packages default-jre-headless and libpostgresql-jdbc-java. Without them the
 * tests are skipped, saying so.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import { allowEverything, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const JAR = process.env.PGJDBC_JAR ?? '/usr/share/java/postgresql.jar';
const PROBE = join(import.meta.dirname, '../clients/jdbc/Probe.java');

function missingJava(): string | undefined {
  const java = spawnSync('java', ['-version'], { stdio: 'ignore' });
  if (java.error || java.status !== 0) return 'java is not installed (Debian: apt-get install default-jre-headless libpostgresql-jdbc-java)';
  if (!existsSync(JAR)) return `pgJDBC is not at ${JAR} (Debian: apt-get install libpostgresql-jdbc-java, or set PGJDBC_JAR)`;
  return undefined;
}
const skip = missingJava();

/** Deadline of one probe run: a client that waits forever fails the test instead of hanging it. */
const PROBE_TIMEOUT_MS = 45_000;

interface ProbeRun {
  code: number | null;
  lines: string[];
  stdout: string;
  stderr: string;
}

function runProbe(mode: 'full' | 'keys' | 'masked' | 'tls', port: number, user: string, password: string): Promise<ProbeRun> {
  return new Promise((resolve, reject) => {
    const url = `jdbc:postgresql://127.0.0.1:${port}/app`;
    // UTC: the driver sends the JVM's time zone at startup, and java.sql.Timestamp prints in it.
    const child = spawn('java', ['-Duser.timezone=UTC', '-XX:TieredStopAtLevel=1', '-cp', JAR, PROBE, mode, url, user], {
      env: { ...process.env, PROBE_PASSWORD: password },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the JDBC probe (${mode}, port ${port}) did not finish in ${PROBE_TIMEOUT_MS} ms; it hung after:\n${stdout.split('\n').slice(-4).join('\n')}\n${stderr}`));
    }, PROBE_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, lines: stdout.split('\n').filter((l) => l !== '') });
    });
  });
}

/**
 * A TCP relay in front of the gateway that keeps every byte the gateway sent to the driver
 * (cancel requests go through it too, on their own connections).
 */
async function recordingRelay(port: number): Promise<{ port: number; received(): Buffer; close(): Promise<void> }> {
  const chunks: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    upstream.on('data', (d: Buffer) => chunks.push(Buffer.from(d)));
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => Buffer.concat(chunks),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * Lines that differ between a direct and a gateway run by design (README, "Differences from
 * PostgreSQL"), with what each side prints.
 */
const DOCUMENTED: Record<string, { direct: string; gateway: string; why: string }> = {
  'documented: DatabaseMetaData.getUserName': {
    direct: 'gw_app',
    gateway: 'agent',
    why: 'the startup user name is the token subject or an identity.user_names entry, not a role',
  },
  'documented: getBackendPID = pg_backend_pid()': {
    direct: 'true',
    gateway: 'false',
    why: "BackendKeyData carries the gateway's own pid and secret, never the backend's",
  },
};

/**
 * pgJDBC's foreign-key metadata calls read `pg_catalog.pg_settings` (`SELECT setting FROM
 * pg_catalog.pg_settings WHERE name='max_index_keys'`): a read pinned to a setting current_setting
 * may read, which the gateway allows, so they answer as directly (and are compared as any line).
 */
const READS_PG_SETTINGS = ['md imported keys', 'md exported keys', 'md cross reference'];

/**
 * Checks the lines that differ by design and returns the others. Steps named `refusal: …` send
 * what the gateway refuses: a statement reading pg_settings (42501), or large objects, which
 * pgJDBC reads and writes with FunctionCall (fastpath) messages (0A000); PostgreSQL runs them.
 * The lines after each must match: the connection goes on as after any error.
 */
function documented(lines: string[], side: 'direct' | 'gateway'): string[] {
  const rest: string[] = [];
  for (const line of lines) {
    const [step, result] = line.split(' -> ', 2);
    const doc = DOCUMENTED[step];
    if (doc) assert.equal(result, doc[side], `${step} (${doc.why})`);
    else if (step.startsWith('refusal: ')) {
      if (side === 'gateway') assert.match(result, /^(ERROR |BatchUpdateException )?(42501|0A000)|\b42501\b/, `${step}: refused by the gateway`);
      else assert.doesNotMatch(result, /pgwarden/, step);
    } else rest.push(line);
  }
  return rest;
}

function differences(direct: string[], gateway: string[]): string {
  const out: string[] = [];
  for (let i = 0; i < Math.max(direct.length, gateway.length); i++) {
    if (direct[i] !== gateway[i]) out.push(`direct:  ${direct[i]}\ngateway: ${gateway[i]}`);
  }
  return out.join('\n\n');
}

const SSNS = Array.from({ length: 12 }, (_, i) => `123-45-${String(i + 1).padStart(4, '0')}`);
const PINS = Array.from({ length: 12 }, (_, i) => 987651 + i);
const CODES = Array.from({ length: 12 }, (_, i) => Buffer.from(`SECRET-${String(i + 1).padStart(4, '0')}`));

/** Every form a masked value can take in what the driver reads or prints. */
function secretForms(): { what: string; bytes: Buffer }[] {
  const forms: { what: string; bytes: Buffer }[] = [];
  for (const s of SSNS) forms.push({ what: `ssn ${s}`, bytes: Buffer.from(s) });
  for (const p of PINS) {
    const bin = Buffer.alloc(4);
    bin.writeInt32BE(p);
    forms.push({ what: `pin ${p} (text)`, bytes: Buffer.from(String(p)) }, { what: `pin ${p} (binary int4)`, bytes: bin });
  }
  for (const c of CODES) {
    forms.push({ what: `code ${c} (binary)`, bytes: c }, { what: `code ${c} (hex)`, bytes: Buffer.from(c.toString('hex')) });
    // As the probe prints a byte[]: [83, 69, 67, …].
    forms.push({ what: `code ${c} (printed)`, bytes: Buffer.from(`[${[...c].join(', ')}]`) });
  }
  return forms;
}

describe('pgJDBC through the gateway', { skip }, () => {
  let t: TestGateway;

  before(async () => {
    t = await startTestGateway({
      config: (raw) => {
        raw.policies = [allowEverything(raw.identity.issuers.map((i: { issuer: string }) => i.issuer))];
        raw.masking = {
          hash_key: 'test-mask-key-0123456789abcdef',
          rules: [
            { column: 'public.customers.ssn', with: 'redact', except: { groups: ['unmasked'] } },
            { column: 'public.customers.pin', with: 'fake', except: { groups: ['unmasked'] } },
            { column: 'public.customers.code', with: 'redact', except: { groups: ['unmasked'] } },
          ],
        };
        // The documented way to read every setting from pg_settings: an allow entry naming it exactly.
        raw.policies.push({ name: 'settings', match: { groups: ['settings-readers'] }, allow: [{ tables: ['pg_catalog.pg_settings'], operations: ['select'] }] });
      },
    });
    t.pg.psql(
      `create table customers (id int primary key, name text, ssn text, pin int, code bytea);
       insert into customers select g, 'name ' || g, '123-45-' || lpad(g::text, 4, '0'), 987650 + g, convert_to('SECRET-' || lpad(g::text, 4, '0'), 'UTF8') from generate_series(1, 12) g;
       alter table customers owner to gw_app;
       create table jp_items (id serial primary key, name text);
       create table jp_child (id int primary key, item_id int references jp_items (id) on delete cascade);
       alter table jp_items owner to gw_app; alter table jp_child owner to gw_app;`,
      'app',
    );
  });
  after(async () => {
    await t?.stop();
  });

  it('prints the same transcript directly and through the gateway', async () => {
    const direct = await runProbe('full', t.pg.port, 'gw_app', t.upstreamPassword);
    assert.equal(direct.code, 0, direct.stderr);
    const token = await t.issuer.sign({ sub: 'jdbc', groups: ['unmasked'] });
    const gateway = await runProbe('full', t.port, 'agent', token);
    assert.equal(gateway.code, 0, gateway.stderr);
    // JDBC_PROBE_OUT=dir keeps both transcripts for reading.
    if (process.env.JDBC_PROBE_OUT) {
      writeFileSync(join(process.env.JDBC_PROBE_OUT, 'direct.txt'), direct.stdout + direct.stderr);
      writeFileSync(join(process.env.JDBC_PROBE_OUT, 'gateway.txt'), gateway.stdout + gateway.stderr);
    }
    assert.equal(direct.lines.at(-1), 'done', direct.stdout + direct.stderr);
    const d = documented(direct.lines, 'direct');
    const g = documented(gateway.lines, 'gateway');
    assert.ok(d.length > 150, `the probe ran its steps (${d.length} lines)`);
    assert.ok(!d.some((l) => / -> EXCEPTION /.test(l)), `the probe itself failed directly:\n${d.filter((l) => / -> EXCEPTION /.test(l)).join('\n')}`);
    assert.equal(differences(d, g), '', 'the gateway run differs from the direct run');
    assert.equal(g.length, d.length);
    // The foreign-key metadata answered, through the gateway too (compared above).
    for (const step of READS_PG_SETTINGS) assert.ok(g.some((l) => l.startsWith(`${step} -> 1 rows: `)), step);
  });

  it("pgJDBC's foreign-key metadata answers as directly, with and without a policy naming pg_catalog.pg_settings", async () => {
    const direct = await runProbe('keys', t.pg.port, 'gw_app', t.upstreamPassword);
    assert.equal(direct.lines.length, 4, direct.stdout + direct.stderr);
    assert.match(direct.lines[0], /^md imported keys -> 1 rows: jp_items,id,jp_child,item_id/);
    for (const groups of [['unmasked'], ['unmasked', 'settings-readers']]) {
      const token = await t.issuer.sign({ sub: `jdbc-keys-${groups.length}`, groups });
      const gateway = await runProbe('keys', t.port, 'agent', token);
      assert.equal(gateway.code, 0, gateway.stderr);
      assert.deepEqual(gateway.lines, direct.lines, groups.join(','));
    }
  });

  it('over TLS, statements, cancel and query timeout work as directly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgwarden-jdbc-tls-'));
    let tls: TestGateway | undefined;
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
      tls = await startTestGateway({
        pg: t.pg,
        issuer: t.issuer,
        config: (raw) => {
          raw.listen.tls = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
          // A plaintext sign-in is refused: every statement of the run went over TLS.
          raw.listen.require_tls = true;
        },
      });
      const run = await runProbe('tls', tls.port, 'agent', await t.issuer.sign({ sub: 'jdbc-tls', groups: ['unmasked'] }));
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(run.lines, [
        'tls connect -> 1 rows: String:over tls',
        'tls prepared loop -> 42',
        "cancel pg_sleep -> ERROR 57014 ERROR: canceling statement due to user request (quick) then 1 rows: String:usable",
        "cancel prepared in transaction -> ERROR 57014 ERROR: canceling statement due to user request then 25P02 then 1 rows: String:usable",
        "query timeout -> ERROR 57014 ERROR: canceling statement due to user request (quick) then 1 rows: String:usable",
        "query timeout not reached -> 1 rows: String:fast then 1 rows: String:usable",
        "cancel idle statement -> 1 rows: String:usable",
        'done',
      ]);
    } finally {
      await tls?.gw.close(0);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a masked column never reaches pgJDBC in clear, in text or binary transfer', async () => {
    const direct = await runProbe('masked', t.pg.port, 'gw_app', t.upstreamPassword);
    assert.equal(direct.code, 0, direct.stderr);
    // The probe reads the clear values when nothing masks them: the check below is not vacuous.
    const forms = secretForms();
    const printed = (out: string) => forms.filter((f) => !f.what.includes('(binary') && !f.what.includes('(hex)') && out.includes(f.bytes.toString()));
    for (const kind of ['ssn', 'pin', 'code']) assert.ok(printed(direct.stdout).some((f) => f.what.startsWith(kind)), `the direct run read the clear ${kind}`);

    const relay = await recordingRelay(t.port);
    try {
      const token = await t.issuer.sign({ sub: 'jdbc-masked', groups: ['masked'] });
      const gateway = await runProbe('masked', relay.port, 'agent', token);
      if (process.env.JDBC_PROBE_OUT) writeFileSync(join(process.env.JDBC_PROBE_OUT, 'masked-gateway.txt'), gateway.stdout + gateway.stderr);
      assert.equal(gateway.code, 0, gateway.stderr);
      assert.equal(gateway.lines.at(-1), 'done', gateway.stdout + gateway.stderr);
      const received = relay.received();
      assert.deepEqual(printed(gateway.stdout).map((f) => f.what), [], `the probe read a clear value:\n${gateway.stdout}`);
      for (const f of forms) assert.ok(!received.includes(f.bytes), `the gateway sent ${f.what} in clear`);
      // Every way of reading ran and returned rows (masked), rather than all failing.
      let fakes: string | undefined;
      for (const mode of ['default', 'prepareThreshold=-1', 'binaryTransfer=false', 'prepareThreshold=1', 'preferQueryMode=simple']) {
        // The `fake` int reads as the same made-up number on every execution, in text format and
        // in binary once the driver switches (after 5 by default, at once with -1 and 1), as an
        // Integer and as a primitive int (not NULL); the same in every mode.
        const typed = gateway.lines.find((l) => l.startsWith(`${mode}: typed columns -> `)) ?? '';
        const reads = /-> ((?:\d+ \d+ null;){14})$/.exec(typed)?.[1].split(';').filter(Boolean);
        assert.ok(reads, `${mode}: the fake int is a number in every execution: ${typed}`);
        for (const [i, r] of reads.entries()) {
          const [object, primitive] = r.split(' ');
          assert.equal(primitive, object, `${mode}: getInt reads what getObject reads`);
          assert.equal(r, reads[i % 2], `${mode}: execution ${Math.floor(i / 2) + 1} reads the fakes of the first`);
        }
        fakes ??= reads.slice(0, 2).join(';');
        assert.equal(reads.slice(0, 2).join(';'), fakes, `${mode}: the same fakes as in the default mode`);
        const line = gateway.lines.find((l) => l.startsWith(`${mode}: statement -> `));
        assert.match(line ?? '', /-> 12 rows: (Integer:\d+,String:name \d+,String:\*\*\*\*;?){12}$/, `${mode}: the masked rows were read`);
        const loop = gateway.lines.find((l) => l.startsWith(`${mode}: prepared loop -> `));
        assert.match(loop ?? '', /-> (\*\*\*\* \*\*\*\* \*\*\*\* true;){21}$/, `${mode}: read across the server-prepare switch`);
      }
    } finally {
      await relay.close();
    }
  });
});
