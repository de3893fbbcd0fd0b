/**
 * `pgwarden explain` against a real upstream: it loads the catalog with the held credentials and
 * prints the analysis and the decision with its rule, as text and as JSON.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, freePort, type TestPostgres } from '../helpers/postgres.ts';
import { run } from '../helpers/clients.ts';

const BIN = join(import.meta.dirname, '../../bin/pgwarden.mjs');
let pg: TestPostgres;
let dir: string;
let config: string;

before(async () => {
  pg = await startPostgres();
  pg.psql("create role gw_app login password 'held-secret'");
  pg.psql('create database shop owner gw_app');
  pg.psql('create table customers (id int, name text, ssn text); alter table customers owner to gw_app', 'shop');
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-explain-'));
  config = join(dir, 'pgwarden.yaml');
  writeFileSync(join(dir, 'pw'), 'held-secret\n');
  writeFileSync(
    config,
    [
      'listen:',
      `  postgres: 127.0.0.1:${await freePort()}`,
      `  http: 127.0.0.1:${await freePort()}`,
      'upstreams:',
      '  shop:',
      `    url: postgres://gw_app@127.0.0.1:${pg.port}/shop`,
      '    password: ${file:pw}',
      'identity:',
      '  issuers:',
      '    - { issuer: https://idp.example.com, audience: pgwarden }',
      'policies:',
      '  - name: analysts',
      '    match: { groups: [analysts] }',
      '    allow:',
      '      - { tables: [public.customers], operations: [select] }',
      '    deny:',
      '      - { columns: [public.customers.ssn] }',
      'masking:',
      '  rules:',
      '    - { column: public.customers.name, with: partial, options: { keep_first: 1 } }',
      '',
    ].join('\n'),
  );
});
after(async () => {
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('pgwarden explain', () => {
  it('explains an allowed statement', async () => {
    const r = await run(process.execPath, [BIN, 'explain', '--config', config, '--identity', 'analyst,analysts', '--sql', 'select name from customers']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /public\.customers/);
    assert.match(r.stdout, /allow/i);
  });

  it('explains a refusal with the rule behind it, as JSON too', async () => {
    const text = await run(process.execPath, [BIN, 'explain', '--config', config, '--identity', 'analyst,analysts', '--sql', 'select * from customers']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /may not read column public\.customers\.ssn/);
    assert.match(text.stdout, /analysts/);
    const json = await run(process.execPath, [BIN, 'explain', '--config', config, '--identity', 'analyst,analysts', '--sql', 'select * from customers', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const out = JSON.parse(json.stdout);
    assert.equal(out.decision.verdict, 'deny');
    assert.equal(out.decision.rule, 'analysts');
    assert.deepEqual(out.analyses[0].tables[0].columns.sort(), ['id', 'name', 'ssn']);
  });

  it('shows the mask plan of a query', async () => {
    const r = await run(process.execPath, [BIN, 'explain', '--config', config, '--identity', 'analyst,analysts', '--sql', 'select id, upper(name) as n from customers']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /mask plan of statement 1: n → /);
  });

  it('says when no policy matches the identity, and reports syntax errors', async () => {
    const none = await run(process.execPath, [BIN, 'explain', '--config', config, '--identity', 'stranger', '--sql', 'select 1']);
    assert.match(none.stdout, /no policy grants stranger/);
    const bad = await run(process.execPath, [BIN, 'explain', '--config', config, '--identity', 'analyst,analysts', '--sql', 'selec 1']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /syntax error/);
  });
});
