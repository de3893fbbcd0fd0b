/**
 * `pgwarden policy test`, `policy diff` and `catalog dump` as a user runs them in CI: the command
 * in a child process (exit code, what it prints where), or its function in this process where
 * only the report matters (a child costs seconds). Cases are decided by the gateway's own gate,
 * against a catalog snapshot file (the analyser's fixture catalog, written as `catalog dump`
 * writes it) and against a live catalog from a real PostgreSQL.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { seal } from '../../src/audit/chain.ts';
import { jsonLine } from '../../src/audit/index.ts';
import { contentsOf } from '../../src/catalog/index.ts';
import { CliError } from '../../src/cli/index.ts';
import { catalogFileText, policyDiffCommand, policyTestCommand } from '../../src/cli/policy.ts';
import { ConfigError } from '../../src/config/index.ts';
import { testCatalog } from '../../src/sql/fixture.ts';
import { pgwarden } from '../helpers/clients.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-policy-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const ISSUER = 'https://idp.example.com';

/** A command run in this process: its report, and the one-line failure the CLI would print. */
async function inProcess(run: (out: (text: string) => void) => Promise<void>): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  try {
    await run((t) => (stdout += t));
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    if (err instanceof ConfigError) return { code: 1, stdout, stderr: `${err.problems.join('\n')}\n` };
    if (err instanceof CliError) return { code: 1, stdout, stderr: `pgwarden: ${err.message}\n` };
    throw err;
  }
}

const policyTest = (tests: string, o: { config: string; catalog?: string[]; json?: boolean }) => inProcess((out) => policyTestCommand(tests, o, out));

/** A config over database shop; `upstream` is its url and password lines. */
function config(upstream: string[], extra: string[] = []): string {
  return [
    'upstreams:',
    '  shop:',
    ...upstream,
    'identity:',
    '  issuers:',
    `    - issuer: ${ISSUER}`,
    '      name: idp',
    '      audience: pgwarden',
    'policies:',
    '  - name: analysts',
    '    match: { groups: [analysts] }',
    '    allow:',
    '      - { tables: [public.orders, public.customers], operations: [select] }',
    '    limits: { read_only: true }',
    '  - name: migrations',
    '    match: { groups: [migrators] }',
    '    allow:',
    '      - { tables: [public.*], operations: all }',
    '      - { ddl: { schemas: [public] } }',
    'reviews:',
    '  store: memory',
    '  rules:',
    '    - name: migrator-destructive',
    '      when: [drop, truncate, delete_without_where]',
    '      match: { groups: [migrators] }',
    '      approvers: { groups: [dba] }',
    '    - name: blast-radius',
    '      when: [delete]',
    '      max_rows: 100',
    '      match: { groups: [migrators] }',
    '      approvers: { groups: [dba] }',
    'masking:',
    '  rules:',
    '    - { column: public.customers.email, with: email }',
    '    - { column: public.customers.ssn, with: redact, filter: deny }',
    ...extra,
    '',
  ].join('\n');
}

/** Cases that hold on the fixture catalog and on the live database alike. */
const PASSING = `
database: shop
search_path: public
identities:
  analyst: { subject: analyst, groups: [analysts] }
  migrator: { subject: migrator, groups: [migrators], issuer: idp }
cases:
  - name: analysts read orders
    identity: analyst
    sql: select id, status from orders
    expect: allow
    rule: analysts
  - name: analysts see emails masked and ssn redacted, by provenance not by name
    identity: analyst
    sql: select id, email as contact, ssn, name from customers
    expect: allow
    masks: { id: none, contact: email, ssn: redact, name: none }
  - name: masks by position
    identity: analyst
    sql: select lower(email), id from customers
    expect: allow
    masks: [redact, none]
  - name: analysts cannot write
    identity: analyst
    sql: update orders set status = 'x'
    expect: deny
    rule: limits:read-only
    message: the access is read-only
  - name: analysts cannot filter on ssn
    identity: analyst
    sql: select id from customers where ssn = '123'
    expect: deny
    rule: masking
  - name: a migrator's drop waits for review
    identity: migrator
    sql: drop table orders
    expect: review
    rule: migrator-destructive
  - name: a small delete needs no review
    identity: migrator
    sql: delete from orders where id = 1
    estimated_rows: 5
    expect: allow
  - name: a large delete does
    identity: migrator
    sql: delete from orders where status = 'old'
    estimated_rows: 500
    expect: review
    rule: blast-radius
  - name: strangers cannot connect
    identity: { subject: nobody, groups: [] }
    sql: select 1
    expect: deny
    rule: default-deny
`;

describe('on a catalog snapshot file', () => {
  let cfg: string;
  let snapshot: string;
  before(() => {
    cfg = file('fixture.yaml', config(['    url: postgres://gw_app@127.0.0.1:1/shop']));
    snapshot = file('fixture-snapshot.json', catalogFileText(contentsOf(testCatalog()), { upstream: 'shop', database: 'shop' }));
  });

  test('a passing file: one line per case, exit 0', async () => {
    const r = await pgwarden(['policy', 'test', '--config', cfg, '--catalog', snapshot, file('passing.yaml', PASSING)]);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0, r.stdout);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 10, r.stdout);
    assert.ok(lines.slice(0, 9).every((l) => l.startsWith('ok   ')), r.stdout);
    assert.equal(lines[9], '9 cases: 9 passed, 0 failed');
  });

  test('a case the gate decides otherwise, or masks otherwise, fails with a diff and exit 1', async () => {
    const tests = file(
      'failing.yaml',
      `database: shop
search_path: public
cases:
  - name: analysts may update orders
    identity: { subject: analyst, groups: [analysts] }
    sql: update orders set status = 'x'
    expect: allow
  - name: emails come back in clear
    identity: { subject: analyst, groups: [analysts] }
    sql: select id, email as contact from customers
    expect: allow
    masks: { contact: none }
  - name: analysts read orders
    identity: { subject: analyst, groups: [analysts] }
    sql: select id from orders
    expect: allow
  - name: ssn filtering is a policy denial
    identity: { subject: analyst, groups: [analysts] }
    sql: select id from customers where ssn = '1'
    expect: deny
    rule: analysts
  - name: a delete with no estimate
    identity: { subject: migrator, groups: [migrators] }
    sql: delete from orders where status = 'old'
    expect: allow
`,
    );
    const r = await pgwarden(['policy', 'test', '--config', cfg, '--catalog', snapshot, tests]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'pgwarden: 4 of 5 policy tests failed\n');
    const blocks = r.stdout.split(/\n(?=FAIL |ok   )/);
    assert.deepEqual(blocks[0].split('\n'), [
      `FAIL analysts may update orders (${tests}:4)`,
      '     identity: analyst (groups: analysts) on shop, search_path public',
      "     sql:      update orders set status = 'x'",
      '     expected: allow',
      '     got:      deny by rule limits:read-only: pgwarden: analyst may not update public.orders: the access is read-only',
      '     hint:     A policy matching this identity sets read_only: true.',
      '     - expected allow, got deny',
    ]);
    assert.deepEqual(blocks[1].split('\n'), [
      `FAIL emails come back in clear (${tests}:8)`,
      '     identity: analyst (groups: analysts) on shop, search_path public',
      '     sql:      select id, email as contact from customers',
      '     expected: allow',
      '     got:      allow (policies: analysts)',
      '     masks:    id: none, contact: email (public.customers.email)',
      '     - column contact: expected none, got email (public.customers.email)',
    ]);
    assert.equal(blocks[2], 'ok   analysts read orders');
    assert.match(blocks[3], /^FAIL ssn filtering is a policy denial \(.*:17\)\n/);
    assert.match(blocks[3], /\n {5}expected: deny by rule analysts\n {5}got: {6}deny by rule masking: pgwarden: analyst may not filter on masked column public\.customers\.ssn with =/);
    assert.match(blocks[3], /\n {5}- expected rule analysts, got masking/);
    assert.match(blocks[4], /^FAIL a delete with no estimate/);
    assert.match(blocks[4], /got: {6}review under rule blast-radius: pgwarden: this statement needs approval under rule "blast-radius" \(rows not estimated; the limit is 100\)/);
    assert.match(blocks[4], /note: review rule "blast-radius" has max_rows: without an estimate \(estimated_rows, or the planner's on a live upstream\)/);
    assert.match(r.stdout, /\n5 cases: 1 passed, 4 failed\n$/);
  });

  test('--json reports every case with what the gate decided', async () => {
    const r = await policyTest(file('passing-json.yaml', PASSING), { json: true, config: cfg, catalog: [snapshot] });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { passed: number; failed: number; cases: { name: string; got: { verdict: string; rule: string; masks?: { column: string; masker: string }[] } }[] };
    assert.deepEqual([out.passed, out.failed], [9, 0]);
    const masked = out.cases.find((c) => c.name.startsWith('analysts see emails'))!;
    assert.deepEqual(masked.got.masks, [
      { column: 'id', masker: 'none' },
      { column: 'contact', masker: 'email (public.customers.email)' },
      { column: 'ssn', masker: 'redact (public.customers.ssn)' },
      { column: 'name', masker: 'none' },
    ]);
  });

  test('a name the catalog does not have is allowed as the gateway would forward it, with a note saying so', async () => {
    const tests = file(
      'typo.yaml',
      'database: shop\nsearch_path: public\ncases:\n  - name: a typo\n    identity: { subject: migrator, groups: [migrators] }\n    sql: select id from ordres\n    expect: allow\n',
    );
    const r = await policyTest(tests, { config: cfg, catalog: [snapshot] });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'ok   a typo\n     note: public.ordres is not in the catalog: the server would answer that it does not exist\n1 case: 1 passed, 0 failed\n');
  });

  test('problems in the tests file name the line and the key, like config problems', async () => {
    const tests = file(
      'bad.yaml',
      `cases:
  - name: one
    identity: { subject: analyst, groups: [analysts] }
    sql: select 1
    expect: alow
  - name: two
    identity: { subject: analyst }
    sql: select 1
    expect: allow
    mask: { id: none }
`,
    );
    let r = await pgwarden(['policy', 'test', '--config', cfg, '--catalog', snapshot, tests]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.deepEqual(r.stderr.trimEnd().split('\n'), [`${tests}:5 cases[0].expect: expected one of "allow", "deny", "review"`, `${tests}:10 cases[1].mask: unknown key (did you mean "masks"?)`]);
    const unknown = file(
      'unknown.yaml',
      `identities:
  analyst: { subject: analyst, groups: [analysts] }
cases:
  - name: one
    identity: analist
    sql: select 1
    expect: allow
  - name: two
    identity: { subject: analyst, issuer: elsewhere }
    database: warehouse
    sql: select 1
    expect: allow
`,
    );
    r = await policyTest(unknown, { config: cfg, catalog: [snapshot] });
    assert.equal(r.code, 1);
    assert.deepEqual(r.stderr.trimEnd().split('\n'), [`${unknown}:5 cases[0].identity: no identity "analist" under identities`]);
    writeFileSync(unknown, 'cases:\n  - name: two\n    identity: { subject: analyst, issuer: elsewhere }\n    database: warehouse\n    sql: select 1\n    expect: allow\n');
    r = await policyTest(unknown, { config: cfg, catalog: [snapshot] });
    assert.deepEqual(r.stderr.trimEnd().split('\n'), [
      `${unknown}:3 cases[0].identity: issuer "elsewhere" is not in the config (known: idp)`,
      `${unknown}:4 cases[0].database: "warehouse" is not served by the config (known: shop)`,
    ]);
    r = await policyTest(file('p2.yaml', PASSING), { config: cfg, catalog: [file('not-a-snapshot.json', '{"format":"x"}')] });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not-a-snapshot\.json: not a catalog snapshot/);
  });

  test('policy diff shows the recorded statements a config change decides differently', async () => {
    const next = file(
      'next.yaml',
      config(['    url: postgres://gw_app@127.0.0.1:1/shop'], ['    - { column: public.customers.phone, with: partial, options: { keep_last: 2 } }'])
        .replace('      - { tables: [public.orders, public.customers], operations: [select] }', '      - { tables: [public.customers], operations: [select] }'),
    );
    // Statement records as the audit log exports them (session records are skipped), plus plain SQL.
    let prev = '0'.repeat(64);
    const record = (seq: number, type: 'statement' | 'session_start', data: Record<string, unknown>) => {
      const r = seal({ id: `i1:${seq}`, instance: 'i1', seq, at: 1_700_000_000_000 + seq, type, sessionId: 's1', data }, prev);
      prev = r.hash;
      return jsonLine(r);
    };
    const analyst = { issuer: ISSUER, subject: 'analyst', groups: ['analysts'] };
    const stmt = (seq: number, text: string) => record(seq, 'statement', { seq, kind: 'query', text, bytes: '', bytesSha256: '', decision: { verdict: 'allow' }, identity: analyst, database: 'shop' });
    const statements = file(
      'statements.jsonl',
      record(1, 'session_start', { identity: analyst, database: 'shop' }) +
        stmt(2, 'select id, status from orders') +
        stmt(3, 'select id, name from customers') +
        stmt(4, 'select id, phone from customers') +
        stmt(5, 'select id, status from orders') +
        'select count(*) from orders\n',
    );
    const r = await inProcess((out) => policyDiffCommand(cfg, next, { catalog: [snapshot], statements, identity: 'analyst,analysts', database: 'shop', searchPath: 'public' }, out));
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.deepEqual(r.stdout.trimEnd().split('\n'), [
      'changed: analyst (groups: analysts) on shop',
      '  sql: select id, status from orders',
      '  - allow (policies: analysts)',
      '  + deny by rule default-deny: pgwarden: analyst may not read public.orders',
      '  - masks: id: none, status: none',
      '  + masks: (no rows)',
      'changed: analyst (groups: analysts) on shop',
      '  sql: select id, phone from customers',
      '  - allow (policies: analysts)',
      '  + allow (policies: analysts)',
      '  - masks: id: none, phone: none',
      '  + masks: id: none, phone: partial (public.customers.phone)',
      'changed: analyst (groups: analysts) on shop',
      '  sql: select count(*) from orders',
      '  - allow (policies: analysts)',
      '  + deny by rule default-deny: pgwarden: analyst may not read public.orders',
      '  - masks: count: none',
      '  + masks: (no rows)',
      '4 distinct statements (of 5 recorded): 3 would be decided differently',
    ]);
    const strict = await pgwarden(['policy', 'diff', '--exit-code', '--catalog', snapshot, '--statements', statements, '--identity', 'analyst,analysts', '--search-path', 'public', cfg, next]);
    assert.equal(strict.code, 1);
    assert.equal(strict.stderr, 'pgwarden: 3 statements would be decided differently\n');
    const same = await inProcess((out) => policyDiffCommand(cfg, cfg, { exitCode: true, catalog: [snapshot], statements, identity: 'analyst,analysts', searchPath: 'public' }, out));
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /^4 distinct statements \(of 5 recorded\): 0 would be decided differently\n$/);
  });
});

describe('on a live catalog', () => {
  let pg: TestPostgres;
  let cfg: string;
  before(async () => {
    pg = await startPostgres();
    pg.psql("create role gw_app login password 'gw-secret-1'");
    pg.psql('create database shop owner gw_app');
    pg.psql(
      `set role gw_app;
       create table customers (id int primary key, name text, email text, phone text, ssn text);
       create table orders (id int primary key, customer_id int, status text, total numeric);
       create table invoices (id int primary key, amount numeric);
       insert into orders select g, g, 'old', 1 from generate_series(1, 500) g;
       analyze orders;`,
      'shop',
    );
    cfg = file('live.yaml', config([`    url: postgres://gw_app@127.0.0.1:${pg.port}/shop`, '    password: gw-secret-1']));
  });
  after(async () => {
    await pg?.stop();
  });

  test('the same cases pass against the upstream catalog, loaded with the config credentials', async () => {
    const r = await policyTest(file('live-passing.yaml', PASSING), { config: cfg });
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /\n9 cases: 9 passed, 0 failed\n$/);
  });

  test('a table only the live database has is decided on it; catalog dump gives a snapshot that decides the same', async () => {
    const tests = file(
      'live-only.yaml',
      `database: shop
cases:
  - name: invoices are not granted to analysts
    identity: { subject: analyst, groups: [analysts] }
    sql: select amount from invoices
    expect: deny
    rule: default-deny
  - name: the migrator may read them
    identity: { subject: migrator, groups: [migrators] }
    sql: select id, amount from invoices
    expect: allow
    masks: { id: none, amount: none }
  - name: an analyst reading invoices is allowed (wrong)
    identity: { subject: analyst, groups: [analysts] }
    sql: select amount from invoices
    expect: allow
`,
    );
    const live = await policyTest(tests, { config: cfg });
    assert.equal(live.code, 1);
    assert.match(live.stdout, /^ok {3}invoices are not granted to analysts\nok {3}the migrator may read them\nFAIL an analyst reading invoices is allowed \(wrong\)/);
    assert.match(live.stdout, /got: {6}deny by rule default-deny: pgwarden: analyst may not read public\.invoices/);

    const dump = await pgwarden(['catalog', 'dump', '--config', cfg, '--database', 'shop']);
    assert.equal(dump.code, 0, dump.stderr);
    const parsed = JSON.parse(dump.stdout) as { format: string; upstream: string; database: string; catalog: { relations: { schema: string; name: string }[]; currentUser: string } };
    assert.deepEqual([parsed.format, parsed.upstream, parsed.database, parsed.catalog.currentUser], ['pgwarden-catalog-snapshot/1', 'shop', 'shop', 'gw_app']);
    assert.ok(parsed.catalog.relations.some((x) => x.schema === 'public' && x.name === 'invoices'));
    const fromFile = await policyTest(tests, { config: cfg, catalog: [file('live-dump.json', dump.stdout)] });
    assert.equal(fromFile.code, 1);
    assert.equal(fromFile.stdout, live.stdout);
  });

  test("review rules with max_rows are decided on the planner's estimate, as the gateway decides them", async () => {
    const tests = file(
      'live-estimates.yaml',
      `database: shop
identities:
  migrator: { subject: migrator, groups: [migrators] }
cases:
  - name: deleting every old order is held
    identity: migrator
    sql: delete from orders where status = 'old'
    expect: review
    rule: blast-radius
    message: rows estimated, over the limit of 100
  - name: deleting one order is not
    identity: migrator
    sql: delete from orders where id = 7
    expect: allow
  - name: the case's own estimate wins
    identity: migrator
    sql: delete from orders where status = 'old'
    estimated_rows: 3
    expect: allow
`,
    );
    const r = await policyTest(tests, { config: cfg });
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'ok   deleting every old order is held\nok   deleting one order is not\nok   the case\'s own estimate wins\n3 cases: 3 passed, 0 failed\n');
    assert.equal(pg.psql('select count(*) from orders', 'shop').trim(), '500', 'nothing was deleted');
  });

  test('an upstream that cannot be reached is one line, with the way out', async () => {
    const down = file('down.yaml', config(['    url: postgres://gw_app@127.0.0.1:1/shop', '    password: x']));
    const r = await policyTest(file('down-tests.yaml', PASSING), { config: down });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^pgwarden: cannot load the catalog of upstream "shop": .*\(or pass --catalog with a snapshot from pgwarden catalog dump\)\n$/);
  });
});
