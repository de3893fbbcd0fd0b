/**
 * A statement held for review (wait mode) is listed among its session's statements while it
 * waits: the audit log has a `statement` record with decision `review` and the review's id, so
 * the console's session page and `pgwarden audit search` show it before anyone decides — and
 * nothing of it reaches the server. Once decided, a second record with the same review id says
 * what happened (allow and its outcome, or deny).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { waitFor } from '../helpers/wait.ts';
import { pgwarden } from '../helpers/clients.ts';
import { sessionStatements } from '../../src/console/sessions-query.ts';
import { openAuditStore } from '../../src/store/index.ts';

let t: TestGateway;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-held-listed-'));
  t = await startTestGateway({
    config: (raw) => {
      raw.audit = { store: `sqlite:${join(dir, 'audit.db')}` };
      raw.policies = [{ name: 'migrations', match: { groups: ['migrators'] }, allow: [{ tables: ['public.*'], operations: 'all' }, { ddl: { schemas: ['public'] } }] }];
      raw.reviews = {
        store: `sqlite:${join(dir, 'reviews.db')}`,
        rules: [{ name: 'drops-wait', when: ['drop'], match: { groups: ['migrators'] }, approvers: { groups: ['dba'] }, mode: 'wait', timeout: '20s' }],
      };
    },
  });
  // The CLI finds the audit store through the config file in its data directory.
  writeFileSync(join(dir, 'pgwarden.yaml'), ['upstreams:', '  app:', '    url: postgres://x@db/app', 'identity:', '  issuers:', '    - issuer: https://idp.example.com', '      audience: pgwarden', 'audit:', '  store: sqlite:./audit.db', ''].join('\n'));
  t.pg.psql('create table held_victim (id int); create table held_other (id int); grant all on held_victim, held_other to gw_app', 'app');
});
after(async () => {
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const tableExists = (name: string) => t.pg.psql(`select count(*) from pg_tables where tablename = '${name}'`, 'app').trim() === '1';

async function search(...args: string[]): Promise<any[]> {
  const r = await pgwarden(['audit', 'search', '--data-dir', dir, '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

async function api(path: string, token: string, body?: unknown): Promise<number> {
  const res = await fetch(`http://${t.config.listen.http}/api/reviews${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

async function migrator(sub: string): Promise<pg.Client & { notices: string[] }> {
  const c = new pg.Client(t.client(await t.issuer.sign({ sub, groups: ['migrators'] }))) as pg.Client & { notices: string[] };
  c.notices = [];
  c.on('notice', (n) => c.notices.push(n.message ?? ''));
  c.on('error', () => {});
  await c.connect();
  return c;
}

async function heldId(c: { notices: string[] }): Promise<string> {
  const notice = await waitFor('the review notice', () => c.notices.find((n) => /held for review/.test(n)));
  return /review (r-[a-z0-9]+)/.exec(notice)![1];
}

describe('a statement held for review', () => {
  for (const [protocol, run] of [
    ['simple Query', (c: pg.Client, sql: string) => c.query(sql)],
    ['extended protocol', (c: pg.Client, sql: string) => c.query({ text: sql, values: [] })],
  ] as const) {
    it(`is listed and found by search while it waits (${protocol}), then gets its outcome`, async () => {
      const table = protocol === 'simple Query' ? 'held_victim' : 'held_other';
      const c = await migrator(`held-${table}`);
      const running = run(c, `drop table ${table}`).then(
        () => 'ran',
        (e) => `error ${e.code}`,
      );
      const id = await heldId(c);
      // While it waits: found by text, with its review and verdict, in its session…
      const found = await waitFor('the held record', async () => (await search('--text', `drop table ${table}`)).find((r) => r.type === 'statement'));
      assert.equal(found.data.decision.verdict, 'review');
      assert.equal(found.data.decision.reviewId, id);
      assert.equal(found.data.decision.rule, 'drops-wait');
      assert.equal(found.data.identity.subject, `held-${table}`);
      assert.deepEqual(await search('--decision', 'review', '--identity', `held-${table}`).then((rs) => rs.map((r) => r.id)), [found.id]);
      // …on the console's session page (its query), and nothing reached the server.
      const store = await openAuditStore(`sqlite:${join(dir, 'audit.db')}`, { readOnly: true });
      try {
        const page = await sessionStatements(store, found.sessionId, { size: 50 });
        const listed = page.statements.map((s) => (s.record.data as any).decision);
        assert.deepEqual(listed.map((d: any) => [d.verdict, d.reviewId]), [['review', id]]);
      } finally {
        await store.close();
      }
      assert.ok(tableExists(table), 'the held DROP ran before approval');

      assert.equal(await api(`/${id}/approve`, await t.issuer.sign({ sub: 'dana', groups: ['dba'] }), { comment: 'ok' }), 200);
      assert.equal(await running, 'ran');
      assert.ok(!tableExists(table));
      const after = await waitFor('the decided record', async () => {
        const rs = (await search('--text', `drop table ${table}`)).filter((r) => r.type === 'statement');
        return rs.length === 2 ? rs : undefined;
      });
      assert.deepEqual(after.map((r) => [r.data.decision.verdict, r.data.decision.reviewId]).sort(), [['allow', id], ['review', id]]);
      await c.end();
    });
  }
});
