/**
 * A client that reconnects with the same token (a connection per transaction) finds its scope
 * built and its statements decided by its earlier sessions. What it is allowed MUST still be what
 * the configuration in force says: after a reload that masks a column or takes a grant away, the
 * next session of the same token is refused what the new configuration refuses, even when a
 * session opened before the reload keeps deciding under its own, older masks (two guards: a
 * reload makes the verifier forget its tokens, so the next session has a new identity object,
 * and decisions are shared only under one masking configuration). Judged on the bytes
 * the client received (the clear value is absent), through a session pool of two server
 * connections (the older session holds one), with the simple and the extended protocol.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { configSchema } from '../../src/config/schema.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let t: TestGateway;
let raw: Record<string, any>;

const SECRET = '987-65-4321';
const READERS = { name: 'readers', match: { subjects: ['reconnecting-job'] }, allow: [{ tables: ['public.people', 'public.other'], operations: ['select'] }] };

before(async () => {
  t = await startTestGateway({
    config: (r) => {
      raw = r;
      r.upstreams.app.pool = { size: 2 };
      r.policies = [READERS];
    },
  });
  t.pg.psql(`create table people (id int primary key, ssn text); insert into people values (1, '${SECRET}'); create table other (id int); alter table people owner to gw_app; alter table other owner to gw_app;`, 'app');
  await t.gw.reloadCatalogs();
});
after(async () => {
  await t?.stop();
});

/** A connected pg client whose every received byte is kept. */
async function connect(token: string): Promise<{ c: pg.Client; received: () => string }> {
  const c = new pg.Client(t.client(token));
  await c.connect();
  const chunks: Buffer[] = [];
  (c as any).connection.stream.on('data', (b: Buffer) => chunks.push(b));
  return { c, received: () => Buffer.concat(chunks).toString('latin1') };
}

const WHOLE_ROW = 'select row_to_json(p) from people p';
/** A filter on the column: once it is masked with `filter: deny`, an oracle for its values. */
const FILTER = `select id from people where ssn = '${SECRET}'`;
const FILTER_PARAM = 'select id from people where ssn = $1';

/** Apply a changed configuration, and let the catalog reload it starts finish. */
async function reload(change: (r: Record<string, any>) => void): Promise<void> {
  const next = structuredClone(raw);
  change(next);
  t.gw.reload(configSchema.parse(next));
  raw = next;
  await t.gw.reloadCatalogs();
}

describe('a reconnecting token is decided under the configuration in force', () => {
  it('a column masked by a reload is refused to the next session of the same token, even while an older session still reads it', async () => {
    const token = await t.issuer.sign({ sub: 'reconnecting-job' });
    // Decided allowed (nothing is masked yet), twice: the second session reuses the decision.
    for (let i = 0; i < 2; i++) {
      const { c } = await connect(token);
      try {
        assert.match(JSON.stringify((await c.query(WHOLE_ROW)).rows), new RegExp(SECRET));
        assert.equal((await c.query(FILTER)).rows[0].id, 1);
        assert.equal((await c.query(FILTER_PARAM, [SECRET])).rows[0].id, 1);
      } finally {
        await c.end();
      }
    }
    const older = await connect(token);
    try {
      await reload((r) => (r.masking = { rules: [{ column: 'public.people.ssn', with: 'redact', filter: 'deny' }] }));
      // The older session decides again under the new policy version, with the masks it opened
      // with; whatever it is told, its decision MUST NOT reach the sessions opened after the reload.
      await older.c.query(WHOLE_ROW).catch(() => undefined);
      await older.c.query(FILTER).catch(() => undefined);
      await older.c.query(FILTER_PARAM, [SECRET]).catch(() => undefined);
      for (let i = 0; i < 2; i++) {
        const { c, received } = await connect(token);
        try {
          await assert.rejects(c.query(WHOLE_ROW), (e: any) => e.code === '42501', 'a whole row');
          await assert.rejects(c.query(FILTER), (e: any) => e.code === '42501' && /ssn/.test(e.message), 'a filter on it, simple protocol');
          await assert.rejects(c.query(`select id from people where ssn = '000-00-0000'`), (e: any) => e.code === '42501', 'the same filter with another value');
          await assert.rejects(c.query(FILTER_PARAM, [SECRET]), (e: any) => e.code === '42501' && /ssn/.test(e.message), 'a filter on it, extended protocol');
          assert.equal((await c.query('select ssn from people')).rows[0].ssn === SECRET, false, 'the column by name comes back masked');
          assert.ok(!received().includes(SECRET), 'the clear value never reached the new session');
        } finally {
          await c.end();
        }
      }
    } finally {
      await older.c.end();
      await reload((r) => delete r.masking);
    }
  });

  it('a grant taken away by a reload is refused to the next session of the same token', async () => {
    const token = await t.issuer.sign({ sub: 'reconnecting-job' });
    for (let i = 0; i < 2; i++) {
      const { c } = await connect(token);
      try {
        assert.equal((await c.query('select id, ssn from people')).rows[0].id, 1);
        assert.equal((await c.query('select id, ssn from people where id = $1', [1])).rows[0].ssn, SECRET);
      } finally {
        await c.end();
      }
    }
    await reload((r) => (r.policies = [{ ...READERS, allow: [{ tables: ['public.other'], operations: ['select'] }] }]));
    try {
      const { c, received } = await connect(token);
      try {
        await assert.rejects(c.query('select id, ssn from people'), (e: any) => e.code === '42501' && /people/.test(e.message));
        await assert.rejects(c.query('select id, ssn from people where id = $1', [1]), (e: any) => e.code === '42501');
        assert.equal((await c.query('select count(*)::int as n from other')).rows[0].n, 0, 'what is still granted runs');
        assert.ok(!received().includes(SECRET));
      } finally {
        await c.end();
      }
    } finally {
      await reload((r) => (r.policies = [READERS]));
    }
  });
});
